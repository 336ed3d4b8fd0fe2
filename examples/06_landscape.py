"""Example 6: a loss-landscape picture. A minimum of a 2-unit student is split
(split_neuron) into a critical point of the 3-unit student: a symmetry-induced
saddle. Gradient flow from next to the saddle runs to a minimum of the 3-unit net.
On the plane through that minimum (0, 0), the saddle (1, 0) and a second split
point (1, 1) (same neuron, other gamma: the line of critical points) we show the
plain loss and the loss minimised over the orthogonal complement, with the flow's
trajectory drawn on it. Writes ex6_plane_loss.png and ex6_plane_minloss.png."""
import os

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402
import mlpflow.plot as mp       # noqa: E402

X = np.random.default_rng(6).standard_normal((200, 2))
teacher = mf.TeacherNet(layers=[(3, "softplus", True), (1, "identity", False)], din=2,
                        params=1.5 * np.random.default_rng(1).standard_normal(12))
net2 = mf.Net(layers=[(2, "softplus", True), (1, "identity", False)], input=X, target=teacher(X))
r2 = mf.train(net2, mf.random_params(net2, seed=1), maxT=1e3, maxtime_ode=20, maxtime_optim=20)
print("2-unit minimum: loss %.6e gnorm %.1e, smallest Hessian eigenvalue %.2e"
      % (r2["loss"], r2["gnorm"], mf.hessian_spectrum(net2, r2["x"], vectors=False)[0][0]))

net3, xs = mf.split_neuron(net2, r2["x"], 0, 0.5)        # the saddle
_, xs2 = mf.split_neuron(net2, r2["x"], 0, 1.5)          # another point of its line
ev, V = mf.hessian_spectrum(net3, xs)
print("split point: loss %.6e gnorm %.1e, Hessian eigenvalues %.2e ... %.2e"
      % (mf.loss(net3, xs), np.abs(mf.gradient(net3, xs)).max(), ev[0], ev[-1]))

# Leave the saddle along its most negative curvature direction. Escaping takes flow
# time ~ 1/|lambda_min| ~ 1e5..1e7: a stiff problem, BDF is the fast method here.
flow = mf.train(net3, xs + 1e-2 * V[:, 0], alg="bdf", maxT=1e7, maxtime_ode=20,
                maxtime_optim=20)
xmin = flow["x"]
print("flow from the saddle: at t = %.3g loss %.6e; after %s: loss %.6e gnorm %.1e (%s)"
      % (flow["ode_time_run"], flow["ode_loss"], flow["optim_solver"], flow["loss"],
         flow["gnorm"], flow["optim_stopped_by"]))

plane = mf.LinearSubspace(xmin, xs - xmin, xs2 - xs)
k = 2 if a.quick else 16                      # grid points per unit
a1s = np.arange(-k // 4, 5 * k // 4 + 1) / k
a2s = np.arange(-3 * k // 4, 5 * k // 4 + 1) / k
# Where the complement has no minimum (flat channels) Newton would run to its time
# limit: bound the work per grid point.
budget = dict(maxiterations_optim=100, maxtime_optim=0.5)
plain = np.array([[mf.loss(net3, plane.point(net3, u, v)) for v in a2s] for u in a1s])
# Each grid point minimises from its own plane point (cold start). minloss_grid would
# warm-start from the neighbour instead, which follows one valley across the plane.
minl = np.array([[plane.minloss(net3, u, v, **budget)[0] for v in a2s] for u in a1s])
traj = plane.coordinates(flow["trajectory"]["x"])
pts = {"minimum": (0, 0), "saddle": (1, 0), "split gamma 1.5": (1, 1)}
mp.landscape(a1s, a2s, plain, os.path.join(a.out, "ex6_plane_loss.png"), trajectory=traj,
             points=pts, title="loss on the plane")
mp.landscape(a1s, a2s, minl, os.path.join(a.out, "ex6_plane_minloss.png"), trajectory=traj,
             points=pts, title="loss minimised over the complement")
L0, _ = plane.minloss(net3, 0.0, 0.0, **budget)
Ls, _ = plane.minloss(net3, 1.0, 0.0, **budget)
print("subspace-minimised loss: at the minimum %.6e (its loss %.6e), at the saddle %.6e"
      % (L0, flow["loss"], Ls))
print("finding: split saddle has %d negative Hessian eigenvalue(s) (min %.2e); minimum loss "
      "%.3e < saddle loss %.3e; subspace minloss at the minimum equals its loss: %s"
      % (int((ev < -1e-12).sum()), ev[0], flow["loss"], mf.loss(net3, xs),
         bool(abs(L0 - flow["loss"]) <= 1e-12 + 1e-9 * flow["loss"])))

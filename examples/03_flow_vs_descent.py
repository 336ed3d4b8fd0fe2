"""Example 3: gradient flow (adaptive ODE solver) vs gradient descent (full batch and
minibatches of 100) vs Adam, from the same start. For each descent trajectory the
distance of every point to the closest point of the flow's trajectory. Writes
ex3_distances.png and ex3_loss_curves.png."""
import os

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402
import mlpflow.plot as mp       # noqa: E402

N = 400 if a.quick else 2000
T = 20.0 if a.quick else 200.0
lr = 0.01
X = np.random.default_rng(3).standard_normal((N, 2))
teacher = mf.TeacherNet(layers=[(3, "softplus", True), (1, "identity", False)], din=2, seed=5)
net = mf.Net(layers=[(4, "softplus", True), (1, "identity", False)], input=X, target=teacher(X))
x0 = mf.random_params(net, seed=1)
steps = int(round(T / lr))
common = dict(optim_solver="none", n_samples_trajectory=200)
flow = mf.train(net, x0, maxT=T, reltol=1e-10, abstol=1e-10, **dict(common, n_samples_trajectory=2000))
runs = {
    "gd": mf.train(net, x0, alg="gd", lr=lr, maxiterations_ode=steps, **common),
    "gd batch 100": mf.train(net, x0, alg="gd", lr=lr, batchsize=100, shuffle=1, seed=7,
                             maxiterations_ode=steps, **common),
    "adam": mf.train(net, x0, alg="adam", lr=lr, maxiterations_ode=steps, **common),
}
print("flow (%s): t = %g, loss %.4e, %d steps" % (flow["alg"], flow["ode_time_run"],
                                                   flow["ode_loss"], flow["ode_iterations"]))
dists, labels, summary = [], [], {}
for name, r in runs.items():
    d = mf.trajectory_distance(r, flow)
    dists.append(d)
    labels.append(name)
    summary[name] = d["distances"].max()
    print("%-13s loss %.4e, max distance to the flow %.3e, final distance %.3e"
          % (name, r["ode_loss"], d["distances"].max(), d["distances"][-1]))
mp.trajectory_distances(dists, os.path.join(a.out, "ex3_distances.png"), labels=labels)
mp.loss_curve([flow] + list(runs.values()), os.path.join(a.out, "ex3_loss_curves.png"),
              labels=["flow"] + labels)
order = sorted(summary, key=summary.get)
print("finding: max distance to the flow: " +
      ", ".join("%s %.2e" % (k, summary[k]) for k in order) +
      "; full-batch gd follows the flow most closely: %s" % (order[0] == "gd"))

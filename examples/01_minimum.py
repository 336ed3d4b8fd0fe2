"""Example 1: random data, 5 softplus units with biases. Train to a minimum and show
that it is one: the gradient vanishes to machine precision and every Hessian
eigenvalue is positive. Writes ex1_loss_curve.png and ex1_spectrum.png.

The data are random Gaussian inputs with targets from a random 5-unit softplus
network plus noise (with purely random targets softplus nets mostly drift into flat
channels to infinity instead of reaching a minimum at finite parameters)."""
import os

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402
import mlpflow.plot as mp       # noqa: E402

N = 100 if a.quick else 500
rng = np.random.default_rng(1)
X = rng.standard_normal((N, 2))
source = mf.TeacherNet(layers=[(5, "softplus", True), (1, "identity", False)], din=2,
                       params=rng.standard_normal(20))
Y = source(X) + 0.1 * rng.standard_normal((N, 1))
net = mf.Net(layers=[(5, "softplus", True), (1, "identity", False)], input=X, target=Y)
x0 = mf.random_params(net, seed=1)
res = mf.train(net, x0, maxT=1e3, maxtime_ode=20, maxtime_optim=20)
g = mf.gradient(net, res["x"])
ev, _ = mf.hessian_spectrum(net, res["x"])
print("P = %d parameters, N = %d samples, flow: %s (%s), minimiser: %s (%s)"
      % (net.nparams, N, res["alg"], res["ode_stopped_by"], res["optim_solver"],
         res["optim_stopped_by"]))
print("loss %.12g -> %.12g in %.2f s" % (res["loss_curve"][0], res["loss"], res["total_time"]))
print("gradient at the end:", np.array2string(g, precision=2))
print("Hessian eigenvalues: min %.3e, max %.3e" % (ev[0], ev[-1]))
mp.loss_curve(res, os.path.join(a.out, "ex1_loss_curve.png"))
mp.hessian_spectrum(ev, os.path.join(a.out, "ex1_spectrum.png"))
print("finding: minimum with gnorm %.1e, all Hessian eigenvalues positive: %s"
      % (np.abs(g).max(), bool(ev[0] > 0)))

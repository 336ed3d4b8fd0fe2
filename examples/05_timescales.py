"""Example 5: per-parameter time scales. Gradient flow dx/dt = -tauinv * grad L with
tauinv = 1 for every parameter, and with biases 100x faster than the weights, from
the same start: the fast biases lead the flow to a different solution. Writes
ex5_loss_curves.png."""
import os

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402
import mlpflow.plot as mp       # noqa: E402

N = 300
X = np.random.default_rng(5).standard_normal((N, 2))
teacher = mf.TeacherNet(layers=[(4, "softplus", True), (1, "identity", True)], din=2,
                        params=1.5 * np.random.default_rng(0).standard_normal(17))
net = mf.Net(layers=[(2, "softplus", True), (1, "identity", True)], input=X, target=teacher(X))
x0 = mf.random_params(net, seed=1)

# tauinv per parameter: 100 for the biases (last column of each layer), 1 for weights
d = mf.params_dict(net, np.ones(net.nparams))
for w in d.values():
    w[:, -1] = 100.0
tauinv = mf.params(d)
opts = dict(maxT=1e3 if a.quick else 1e4, maxtime_ode=30, maxtime_optim=30)
slow = mf.train(net, x0, **opts)
fast = mf.train(net, x0, tauinv=tauinv, **opts)
for name, r in (("tauinv = 1", slow), ("fast biases", fast)):
    print("%-12s loss %.10e gnorm %.1e (%s, %s)" % (name, r["loss"], r["gnorm"],
                                                 r["ode_stopped_by"], r["optim_stopped_by"]))
    for k, w in mf.params_dict(net, r["x"]).items():
        print("   %s = %s" % (k, np.array2string(w, precision=4).replace("\n", "\n        ")))
mp.loss_curve([slow, fast], os.path.join(a.out, "ex5_loss_curves.png"),
              labels=["tauinv = 1", "biases x100"])
dist = np.linalg.norm(slow["x"] - fast["x"])
print("finding: the two solutions differ: distance %.3f, losses %.6e vs %.6e, both critical "
      "points: %s" % (dist, slow["loss"], fast["loss"],
                      bool(max(slow["gnorm"], fast["gnorm"]) < 1e-10)))

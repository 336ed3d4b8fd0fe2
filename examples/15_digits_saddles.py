"""Example 15: permutation saddles on a real image task without the dense Hessian. A
network with two hidden layers of 256 tanh units and 10 outputs (P = 85002) is trained
on the 8 x 8 handwritten digits (1797 images, 10 classes; exported from Debian's
python3-sklearn by scripts/export_digits.py) by the Newton-Krylov minimiser. The loss is
the mean squared error to one-hot targets (linear output): the network can separate the
digits, and softmax cross-entropy then has no minimum at finite weights (its infimum 0
is at infinity), so neither minima nor permutation critical points exist for it;
--crossentropy trains a softmax output with cross-entropy to gnorm 1e-8 instead and
looks at the spectrum there. Then, at the trained point the 10 smallest and 10 largest Hessian
eigenvalues come from Lanczos on Hessian-vector products and the spectral density from
stochastic Lanczos quadrature. Then two units of the first hidden layer are collided
(equal incoming and outgoing weights, from the midpoint of x and its permutation), the
loss is minimised in that tied subspace and the point classified (index = number of
negative eigenvalues, found by Lanczos above a few thousand parameters).
--quick: 8 + 8 units on 200 images. Writes ex15_digits_density.png."""
import os
import sys
import tempfile
import time

import numpy as np

from _common import REPO, args

crossentropy = "--crossentropy" in sys.argv
if crossentropy:
    sys.argv.remove("--crossentropy")
a = args(__doc__)
import mlpflow as mf            # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
try:
    import export_digits        # noqa: E402
    X, y = (np.load(p) for p in export_digits.export(tempfile.mkdtemp(prefix="mlpf_digits_")))
except ImportError:
    sys.exit("example 15 needs scikit-learn's digits: apt-get install python3-sklearn")

t_start = time.time()
width, n = (8, 200) if a.quick else (256, len(y))
X, y = X[:n], y[:n]
if crossentropy:
    net = mf.Net([(width, "tanh", True), (width, "tanh", True), (10, "softmax", True)], X, y,
                 loss="crossentropy")
else:
    net = mf.Net([(width, "tanh", True), (width, "tanh", True), (10, "identity", True)], X,
                 np.eye(10)[y.astype(int)])
x0 = mf.random_params(net, seed=1)
print("digits: %d images, P = %d" % (n, net.nparams))

t0 = time.time()
res = mf.train(net, x0, alg="none", optim_solver="newtonkrylov",
               min_gnorm=1e-8 if crossentropy else 1e-10, maxtime_optim=10 if a.quick else 3600)
x = res["x"]
print("newtonkrylov: loss %.3e, gnorm %.2e (%s) in %.1f s"
      % (res["loss"], res["gnorm"], res["optim_stopped_by"], time.time() - t0))

t0 = time.time()
info = {}
small, _ = mf.hessian_spectrum(net, x, k=10, which="smallest", vectors=False, info=info)
large, _ = mf.hessian_spectrum(net, x, k=10, which="largest", vectors=False)
print("10 smallest eigenvalues: %s" % np.array2string(small, precision=3))
print("10 largest eigenvalues:  %s" % np.array2string(large, precision=3))
print("eigenvalues: %.1f s, %d Hessian-vector products for the smallest"
      % (time.time() - t0, info["nhvp"]))
trace, dtrace = mf.hessian_trace(net, x, nprobes=20 if a.quick else 50, seed=2)
grid, dens, derr = mf.hessian_density(net, x, nprobes=4 if a.quick else 10,
                                      steps=40 if a.quick else 90, return_error=True)
print("trace %.4g +- %.2g (Hutchinson)" % (trace, dtrace))
mf.plot_density(grid, dens, os.path.join(a.out, "ex15_digits_density.png"), error=derr,
                title="digits, P = %d: Hessian density at the trained point" % net.nparams)

# Collide units i and j of the first hidden layer (Brea et al. 2019): tie their incoming
# weights and their outgoing weights, start from the midpoint of x and its permutation,
# and minimise within that tied subspace (Newton-Krylov again: the subspace objective has
# Hessian-vector products too). A critical point there is one of the full loss
# (symmetric criticality); mf.classify counts its negative eigenvalues (Lanczos above a
# few thousand parameters).
i, j = 0, 1
units, cols = net.layer_shape(0)
u2, c2 = net.layer_shape(1)
groups = np.arange(net.nparams)
groups[j * cols:(j + 1) * cols] = groups[i * cols:(i + 1) * cols]
for o in range(u2):
    groups[units * cols + o * c2 + j] = groups[units * cols + o * c2 + i]
sub = mf.AffineSubspace(net, origin=x, groups=groups)
t0 = time.time()
r = mf.train(sub, sub.project(x), alg="none", optim_solver="newtonkrylov", min_gnorm=1e-10,
             maxtime_optim=8 if a.quick else 3600)
xs = sub.point(r["x"])
c = mf.classify(net, xs, channels=False)
print("permutation point of units %d, %d: tied minimisation to loss %.4e, full gnorm %.1e "
      "(%s, %.1f s)" % (i, j, c["loss"], c["gnorm"], r["optim_stopped_by"], time.time() - t0))
print("  kind %s, index %d, n_zero %d" % (c["kind"], c["index"], c["n_zero"]))
print("finding: P = %d, smallest eigenvalue %.3e, largest %.3e at the trained point "
      "(loss %.4e); the collided units give a %s of index %d at loss %.4e (%.0f s total)"
      % (net.nparams, small[0], large[-1], res["loss"], c["kind"], c["index"], c["loss"],
         time.time() - t_start))

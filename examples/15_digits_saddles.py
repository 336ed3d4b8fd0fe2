"""Example 15: permutation saddles on a real image task without the dense Hessian. A
network with two hidden layers of 256 tanh units and a softmax output (P = 85002) is
trained with cross-entropy on the 8 x 8 handwritten digits (1797 images, 10 classes;
exported from Debian's python3-sklearn by scripts/export_digits.py) by the Newton-Krylov
minimiser. The net separates the digits, so plain cross-entropy has no minimum at finite
weights (its infimum 0 is at infinity): the loss is cross-entropy plus lam/2 |x|^2
(mf.L2Net, --lam, default 1e-2), which makes it coercive, so a true minimum exists.
Why 1e-2: any lam > 0 gives a minimum, but the smallest Hessian eigenvalue there is about
lam minus the cross-entropy's negative curvature, and Newton-Krylov's CG needs
~ sqrt(|H| / lambda_min) products per step: at the 24 + 24 net on 500 images lam = 1e-3
left lambda_min = 2e-5 (|H| = 1); at full size lam = 1e-3 was still at gnorm 4e-5 after
12 min. 1e-2 is strong regularisation (at the minimum the penalty, 0.355, is larger than
the cross-entropy, 0.147; 98 % training accuracy), chosen so the run fits in minutes.
At the trained point the 10 smallest and 10 largest Hessian eigenvalues come from
Lanczos on Hessian-vector products (each within its printed residual of an eigenvalue)
and the spectral density from stochastic Lanczos quadrature. Then two units of the first
hidden layer are collided (equal incoming and outgoing weights, from the midpoint of x
and its permutation), the loss is minimised in that tied subspace and the point
classified (index = number of negative eigenvalues, found by Lanczos above a few
thousand parameters). --quick: 8 + 8 units on 200 images. Writes ex15_digits_density.png.

Full-size run (30 Nov 2026, one thread, CPU seconds on the loaded 2-core machine; wall
times were 1-3x larger). Training: 97 Newton-Krylov iterations to gnorm 8.8e-6 in 305 s
(the 900 s wall cap), continued with --start: 12 more to gnorm 6.9e-10 in 140 s; loss
0.5017525 (cross-entropy 0.1472, training accuracy 98.05 %). Then, from that minimum
(--start ex15_digits_x.npy, re-run 18:20 UTC with top-eigenvector locking, 273 s CPU in all):
  10 smallest: 8.1566e-6 8.1591e-6 1.2461e-5 1.4870e-5 1.5308e-5 1.5400e-5 2.2755e-5
    2.3921e-5 2.6209e-5 3.0113e-5, converged: residuals <= 5.2e-7 |H| (|H| = 4.191) in
    749 Hessian-vector products with 80 top eigenvectors locked out, 58.4 s (before
    locking: 1558 products, 147 s; bench/README "The 10 smallest eigenvalues");
  10 largest: 0.436 0.480 0.574 0.977 1.88 2.35 2.74 3.45 3.52 4.19 (30 HVPs, 1.9 s);
  trace 889.1 +- 1.6 (50 probes), SLQ density 10 x 90 steps (with the trace: 60 s);
  permutation point of hidden units 0, 1 of layer 1: Newton-Krylov from the collided
    midpoint to gnorm 1.4e-13 in 101 s, asymmetry exactly 0, loss 0.5017513 (below the
    trained minimum's 0.5017525); 10 smallest 1.05e-5 .. 3.84e-5, converged, residuals
    <= 7.8e-7 |H| = 3.3e-6 (674 HVPs, 50 s): no negative eigenvalue found, index >= 0
    (a Krylov method can miss an eigenvalue its start vector hardly sees: this is a
    search, not a proof of a minimum)."""
import os
import sys
import tempfile
import time

import numpy as np

from _common import REPO, args

def flag(name, default, kind=float):
    """--name VALUE taken out of argv (the shared parser knows --out and --quick only)."""
    if name not in sys.argv:
        return default
    k = sys.argv.index(name)
    value = kind(sys.argv[k + 1])
    del sys.argv[k:k + 2]
    return value


lam = flag("--lam", 1e-2)
start = flag("--start", None, str)          # continue from a saved point (ex15_digits_x.npy)
train_time = flag("--train-time", 900.0)    # wall-clock safety net of each minimisation
max_hvp = flag("--max-hvp", 3000, int)      # budget of the 10 smallest (749 used at full size)
a = args(__doc__)
import mlpflow as mf            # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
try:
    import export_digits        # noqa: E402
    X, y = (np.load(p) for p in export_digits.export(tempfile.mkdtemp(prefix="mlpf_digits_")))
except ImportError:
    sys.exit("example 15 needs scikit-learn's digits: apt-get install python3-sklearn")


def clock():
    return time.time(), time.process_time()


def since(t):
    return "%.1f s wall, %.1f s CPU" % (time.time() - t[0], time.process_time() - t[1])


t_start = clock()
width, n = (8, 200) if a.quick else (256, len(y))
X, y = X[:n], y[:n]
net = mf.Net([(width, "tanh", True), (width, "tanh", True), (10, "softmax", True)], X, y,
             loss="crossentropy")
reg = mf.L2Net(net, lam)
x0 = np.load(start) if start else mf.random_params(net, seed=1)
print("digits: %d images, P = %d, cross-entropy + %g/2 |x|^2" % (n, net.nparams, lam))

t0 = clock()
res = mf.train(reg, x0, alg="none", optim_solver="newtonkrylov", min_gnorm=1e-9,
               maxtime_optim=10 if a.quick else train_time)
x = res["x"]
acc = float(np.mean(net(x).argmax(1) == y))
print("newtonkrylov: loss %.6e (cross-entropy %.4e, training accuracy %.4f), gnorm %.2e (%s, "
      "%d iterations) in %s" % (res["loss"], mf.loss(net, x), acc, res["gnorm"],
                                res["optim_stopped_by"], res["optim_iterations"], since(t0)))
np.save(os.path.join(a.out, "ex15_digits_x.npy"), x)



def smallest(model, point, label):
    """The 10 smallest eigenvalues to |H y - theta y| <= 1e-6 |H| within max_hvp products;
    unconverged, the estimates are still upper bounds (interlacing) within their residuals."""
    t0, info = clock(), {}
    try:
        ev, _ = mf.hessian_spectrum(model, point, k=10, which="smallest", tol=1e-6,
                                    vectors=False, info=info, max_hvp=max_hvp)
        state = "converged"
    except mf.Error:
        ev, state = info["values"], "NOT converged in %d products" % max_hvp
    print("10 smallest eigenvalues%s: %s" % (label, np.array2string(ev, precision=4)))
    print("  %s: residuals / |H| <= %.1e (|H| = %.4g); %d Hessian-vector products (%d top "
          "eigenvectors locked out), %s" % (state, info["residuals"].max() / info["hnorm"],
                                            info["hnorm"], info["nhvp"], info["ndeflated"],
                                            since(t0)))
    return ev, info


small, _ = smallest(reg, x, "")
t0, info = clock(), {}
large, _ = mf.hessian_spectrum(reg, x, k=10, which="largest", tol=1e-6, vectors=False,
                               info=info)
print("10 largest eigenvalues:  %s" % np.array2string(large, precision=4))
print("  %d Hessian-vector products, %s" % (info["nhvp"], since(t0)))
t0 = clock()
trace, dtrace = mf.hessian_trace(reg, x, nprobes=20 if a.quick else 50, seed=2)
grid, dens, derr = mf.hessian_density(reg, x, nprobes=4 if a.quick else 10,
                                      steps=40 if a.quick else 90, return_error=True)
print("trace %.4g +- %.2g (Hutchinson); density by SLQ, %s" % (trace, dtrace, since(t0)))
mf.plot_density(grid, dens, os.path.join(a.out, "ex15_digits_density.png"), error=derr,
                title="digits, P = %d: Hessian density at the trained point" % net.nparams)

# Collide units i and j of the first hidden layer (Brea et al. 2019): start from the
# midpoint of x and its permutation (equal incoming and equal outgoing weights) and
# minimise. The loss is symmetric under the swap, so its gradient and the Krylov space of
# Newton-Krylov's CG stay in the collided set up to rounding: the minimiser finds a
# critical point there (symmetric criticality) unless rounding lets it escape along an
# antisymmetric direction of negative curvature (the asymmetry printed says which). A tied
# AffineSubspace would enforce it exactly but builds a dense P x (P - d) basis (58 GB here).
i, j = 0, 1
units, cols = net.layer_shape(0)
u2, c2 = net.layer_shape(1)
perm = np.arange(net.nparams)
perm[i * cols:(i + 1) * cols], perm[j * cols:(j + 1) * cols] = \
    np.arange(j * cols, (j + 1) * cols), np.arange(i * cols, (i + 1) * cols)
for o in range(u2):
    perm[units * cols + o * c2 + i], perm[units * cols + o * c2 + j] = \
        units * cols + o * c2 + j, units * cols + o * c2 + i
t0 = clock()
r = mf.train(reg, 0.5 * (x + x[perm]), alg="none", optim_solver="newtonkrylov",
             min_gnorm=1e-13 if a.quick else 1e-9, maxtime_optim=8 if a.quick else train_time)
xs = r["x"]
print("permutation point of units %d, %d: minimised to loss %.6e, gnorm %.1e (%s, %s); "
      "asymmetry max|x - perm(x)| = %.1e"
      % (i, j, r["loss"], r["gnorm"], r["optim_stopped_by"], since(t0),
         np.abs(xs - xs[perm]).max()))
if net.nparams <= 20000:
    t0 = clock()
    c = mf.classify(reg, xs, channels=False)
    kind, index, closs = c["kind"], "%d" % c["index"], c["loss"]
    print("  full gnorm %.1e (classify's critical threshold %.1e): kind %s, index %d, n_zero %d, "
          "smallest eigenvalues %s (classify: %s)"
          % (c["gnorm"], c["gnorm_tol"], c["kind"], c["index"], c["n_zero"],
             np.array2string(c["eigenvalues"][:4], precision=3), since(t0)))
else:
    # classify's zero band needs the bottom of the spectrum to 1e-10 |H|: too many products
    # at this size. The bounded Lanczos gives a lower bound on the index: a negative Ritz
    # value theta_i >= lambda_i proves lambda_i < 0.
    ev_s, info_s = smallest(reg, xs, " at the permutation point")
    closs, nneg = mf.loss(reg, xs), int(np.sum(ev_s < -info_s["residuals"]))
    kind = "saddle" if nneg else "point with no negative eigenvalue found"
    index = ">= %d" % nneg
    print("  full gnorm %.1e: %s, index %s" % (np.abs(mf.gradient(reg, xs)).max(), kind, index))
print("finding: P = %d, smallest eigenvalue %.3e, largest %.3e at the trained point "
      "(loss %.6e); the collided units give a %s of index %s at loss %.6e (%s total)"
      % (net.nparams, small[0], large[-1], res["loss"], kind, index, closs, since(t_start)))

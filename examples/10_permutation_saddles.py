"""Example 10: permutation saddles (Brea et al. 2019). Take a zero-loss minimum of a
tanh network of width k (the teacher itself, and a minimum of a width k+1 student),
collide every pair of hidden units i, j (equal incoming and outgoing weights) with
mf.permutation_point, which minimises the loss within that tied subspace, and
classify the result with mf.classify: kind, index, number of zero Hessian
eigenvalues (at least n_out = 1 where the point is critical: the split direction of
the collided unit's outgoing weight). Some of these points are first-order saddles
(index 1), not all. Some tied minimisations end far out (outgoing weights in the
thousands, a unit saturated by its bias acting as a linear unit): critical points at
the end of a channel rather than near the start; the table shows max |a|. Writes ex10_permutation_points.png."""
import os
import time

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402

t_start = time.time()
rng = np.random.default_rng(3)
X = rng.standard_normal((60, 2))
K = 3
teacher = mf.TeacherNet([(K, "tanh", True), (1, "identity", True)], din=2, seed=4)
Y = teacher(X)

cases = [("width %d (the teacher)" % K,
          mf.Net([(K, "tanh", True), (1, "identity", True)], X, Y), teacher.params)]
wide = mf.Net([(K + 1, "tanh", True), (1, "identity", True)], X, Y)
for seed in (1,) if a.quick else (1, 2, 3):
    r = mf.train(wide, mf.random_params(wide, seed=seed), maxT=1e4, optim_solver="newtontr",
                 min_gnorm=1e-14)
    cases.append(("width %d (seed %d, loss %.0e)" % (K + 1, seed, r["loss"]), wide, r["x"]))

rows = []
print("%-28s %6s %12s %9s %13s %6s %7s %9s" % ("network", "pair", "loss", "gnorm", "kind",
                                                "index", "n_zero", "max |a|"))
for name, net, x0 in cases:
    k = net.layer_shape(0)[0]
    for i in range(k):
        for j in range(i + 1, k):
            p = mf.permutation_point(net, x0, i, j)
            c = p["classification"]
            amax = np.abs(mf.params_dict(net, p["x"])["w2"][0, :k]).max()
            rows.append((name, i, j, p["loss"], p["gnorm"], c["kind"], c["index"], c["n_zero"],
                         amax))
            print("%-28s %3d,%2d %12.4e %9.1e %13s %6d %7d %9.2e" % rows[-1])

crit = [r for r in rows if r[5] in ("minimum", "saddle")]
first = [r for r in crit if r[5] == "saddle" and r[6] == 1]
nz_ok = all(r[7] >= 1 for r in crit)
import matplotlib.pyplot as plt  # noqa: E402
fig, ax = plt.subplots(figsize=(6, 3.5))
for kind, mk in (("minimum", "o"), ("saddle", "s"), ("not_critical", "x"), ("channel", "^")):
    sel = [r for r in rows if r[5] == kind]
    if sel:
        ax.scatter([max(r[3], 1e-34) for r in sel], [r[6] for r in sel], marker=mk, label=kind)
ax.set_xscale("log")
ax.set_xlabel("loss at the permutation point")
ax.set_ylabel("index")
ax.legend(fontsize=7)
ax.set_title("collided pairs of tanh units (teacher width %d)" % K)
fig.savefig(os.path.join(a.out, "ex10_permutation_points.png"), dpi=110, bbox_inches="tight")
print("finding: %d pairs, %d critical (%d minima, %d saddles, %d first-order), every critical "
      "one with >= 1 zero eigenvalue: %s; not critical: %d; far out (max |a| > 100, channel-like) "
      "%d; total %.1f s"
      % (len(rows), len(crit), sum(r[5] == "minimum" for r in crit),
         sum(r[5] == "saddle" for r in crit), len(first), nz_ok, len(rows) - len(crit),
         sum(r[8] > 100 for r in rows), time.time() - t_start))

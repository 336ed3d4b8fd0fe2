"""Example 9: symmetry-induced critical points (Simsek et al. 2021). A strict minimum
of a 2-unit tanh network (data from a 3-unit teacher, so its loss is > 0) is embedded
into wider networks with mf.symmetry_induced: every unit copied at least once, the
copies splitting the outgoing weight (lam, 1 - lam). The number of embeddings is
compared with the closed-form counts G(r, m) = r! S(m, r) (replication only) and
T(r, m) = sum_j C(m, j) r! S(m - j, r) (with zero-output units), and along the line
lam in [-1, 2] of each split every point is classified with mf.classify: critical
(gnorm <= 1e-12), one zero eigenvalue (the line itself), and the index predicted by
the theory: the number of negative eigenvalues of lam (1 - lam) a_u B_u with
B_u = (1/N) sum_n e_n tanh''(w_u.x_n) x_n x_n^T (e the residual); it changes where
lam crosses 0 and 1. Writes ex9_index_along_lambda.png."""
import os
import time

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402

t_start = time.time()
rng = np.random.default_rng(3)
X = rng.standard_normal((60, 2))
teacher = mf.TeacherNet([(3, "tanh", True), (1, "identity", True)], din=2, seed=4)
net = mf.Net([(2, "tanh", True), (1, "identity", True)], X, teacher(X))

best = None
for seed in range(1, 4 if a.quick else 11):
    r = mf.train(net, mf.random_params(net, seed=seed), maxT=1e4, optim_solver="newtontr",
                 min_gnorm=1e-14)
    c = mf.classify(net, r["x"])
    if c["kind"] == "minimum" and c["strict"] and (best is None or r["loss"] < best[0]["loss"]):
        best = (r, c)
r, c = best
xmin = r["x"]
print("2-unit minimum: loss %.6e, gnorm %.1e, %s (strict %s), smallest eigenvalue %.2e"
      % (r["loss"], c["gnorm"], c["kind"], c["strict"], c["eigenvalues"][0]))

print("\ncounts of embeddings of a width-2 point into width m (enumerated vs formula):")
print("%3s %12s %8s %12s %8s" % ("m", "replication", "G(2,m)", "with zeros", "T(2,m)"))
count_ok = True
for m in range(2, 5 if a.quick else 6):
    n_g = len(mf.symmetry_induced(net, xmin, m))
    n_t = len(mf.symmetry_induced(net, xmin, m, zero_units=True))
    count_ok &= n_g == mf.count_G(2, m) and n_t == mf.count_T(2, m)
    print("%3d %12d %8d %12d %8d" % (m, n_g, mf.count_G(2, m), n_t, mf.count_T(2, m)))

d = mf.params_dict(net, xmin)
Xt = np.hstack([X, np.ones((len(X), 1))])
e = net(xmin, X)[:, 0] - teacher(X)[:, 0]


def theory_index(u, lam):
    t = np.tanh(Xt @ d["w1"][u])
    B = (Xt * (e * -2 * t * (1 - t ** 2))[:, None]).T @ Xt / len(X)
    return int((np.linalg.eigvalsh(lam * (1 - lam) * d["w2"][0, u] * B) < 0).sum())


lams = np.linspace(-1, 2, 13 if a.quick else 61)
lams = lams[(np.abs(lams) > 1e-9) & (np.abs(lams - 1) > 1e-9)]   # lam = 0, 1: a zero unit
rows, agree, max_g = {}, 0, 0.0
print("\nindex along the line (split unit u into units u and 2):")
for u in range(2):
    idx, th = [], []
    for lam in lams:
        p = [q for q in mf.symmetry_induced(net, xmin, 3, lam=lam)
             if list(q["assign"]) == ([0, 1, 0] if u == 0 else [0, 1, 1])][0]
        cl = mf.classify(p["net"], p["x"])
        max_g = max(max_g, cl["gnorm"])
        idx.append(cl["index"] if cl["kind"] in ("minimum", "saddle") else -1)
        th.append(theory_index(u, lam))
        agree += idx[-1] == th[-1] and cl["n_zero"] == 1
    rows[u] = (idx, th)
    print("  unit %d: lam %s\n          index %s\n         theory %s"
          % (u, " ".join("%5.2f" % v for v in lams), " ".join("%5d" % v for v in idx),
             " ".join("%5d" % v for v in th)))

import matplotlib.pyplot as plt  # noqa: E402
fig, ax = plt.subplots(figsize=(6, 3.5))
for u, (idx, th) in rows.items():
    ax.plot(lams, idx, "o", label="unit %d: classify" % u)
    ax.plot(lams, th, "-", label="unit %d: theory" % u)
ax.axvline(0, color="grey", lw=0.5)
ax.axvline(1, color="grey", lw=0.5)
ax.set_xlabel("lambda (output split lambda, 1 - lambda)")
ax.set_ylabel("Hessian index")
ax.legend(fontsize=7)
ax.set_title("symmetry-induced line of a 2-unit minimum in width 3")
fig.savefig(os.path.join(a.out, "ex9_index_along_lambda.png"), dpi=110, bbox_inches="tight")

total = 2 * len(lams)
print("finding: counts match G and T: %s; %d/%d points along the lines have the theory's "
      "index and one zero eigenvalue; max gnorm %.1e; total %.1f s"
      % (count_ok, agree, total, max_g, time.time() - t_start))

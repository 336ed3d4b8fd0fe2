"""Example 11: copy or average beyond k = 4 (Simsek et al. 2023). Teachers with k
orthonormal incoming vectors (the identity, Din = k) and unit outgoing weights, erf
(sigmoid2) units and relu units, on exact infinite Gaussian data (NetI); students
with n < k units trained by gradient flow + Newton from Glorot starts.

For every block-size pattern (integer partition of k into n parts) mf.copy_average
builds the copy-average configuration (unit b ~ the sum of its block's teacher
vectors, free scalars optimised in the subspace fixed by permutations inside the
blocks) and reports its loss and full gradient norm. Each trained end point is then
labelled by its loss (equal to a copy-average loss to 1e-9 relative: "CA" with that
pattern; patterns with fewer than n blocks are copy-average points of narrower
students, embedded by duplicating units), else by mf.match_teacher ("approx-copy": every student unit matched to a
distinct teacher unit with cosine > 0.9), else "other". Writes
ex11_copy_average.png (end losses against the copy-average levels)."""
import os
import time

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402

t_start = time.time()
if a.quick:
    SETTINGS = [("sigmoid2", 4, (2, 3)), ("sigmoid2", 5, (3,)), ("relu", 4, (2,))]
    SEEDS = range(1, 5)
else:
    SETTINGS = [("sigmoid2", 4, (2, 3)), ("sigmoid2", 5, (2, 3, 4)), ("sigmoid2", 6, (3, 4, 5)),
                ("relu", 4, (2, 3)), ("relu", 5, (3, 4))]
    SEEDS = range(1, 31)
OPTS = dict(maxT=1e3, optim_solver="newtontr", min_gnorm=1e-13, maxtime_ode=5.0,
            maxtime_optim=5.0)


def patterns(k, n, largest=None):
    """Integer partitions of k into n positive parts, descending."""
    largest = k if largest is None else largest
    if n == 1:
        return [(k,)] if 1 <= k <= largest else []
    return [(p,) + rest for p in range(min(k - n + 1, largest), 0, -1)
            for rest in patterns(k - p, n - 1, p)]


def blocks(sizes):
    out, start = [], 0
    for s in sorted(sizes):
        out.append(list(range(start, start + s)))
        start += s
    return out


summary, levels_all, ends_all = [], [], []
print("%-9s %2s %2s %-14s %14s %9s" % ("act", "k", "n", "CA pattern", "CA loss", "gnorm"))
for act, k, ns in SETTINGS:
    teacher = mf.TeacherNet([(k, act, False), (1, "identity", False)], din=k,
                            params={"w1": np.eye(k), "w2": np.ones((1, k))})
    for n in ns:
        levels = {}
        for sizes in [q for m in range(n, 0, -1) for q in patterns(k, m)]:
            ca = mf.copy_average(teacher, len(sizes), partition=blocks(sizes))
            levels[sizes] = (ca["loss"], ca["gnorm"])
            print("%-9s %2d %2d %-14s %14.10f %9.1e" % (act, k, n, sizes, ca["loss"], ca["gnorm"]))
        net = mf.NetI(teacher, [(n, act, False), (1, "identity", False)])
        counts = {}
        for seed in SEEDS:
            r = mf.train(net, mf.random_params(net, seed=seed), **OPTS)
            label = None
            for sizes, (L, _) in levels.items():
                if abs(r["loss"] - L) <= 1e-9 * L:
                    label = "CA%s" % (sizes,)
            if label is None:
                m = mf.match_teacher(net, r["x"], teacher)
                label = "approx-copy" if np.all(m["cosine"] > 0.9) else "other"
            counts[label] = counts.get(label, 0) + 1
            ends_all.append((act, k, n, r["loss"], label))
        best = min(levels, key=lambda s: levels[s][0])
        summary.append((act, k, n, counts, best, levels[best][0]))
        levels_all.append((act, k, n, levels))
        print("   %d runs: %s  (best CA pattern %s)" % (len(SEEDS), ", ".join(
            "%s %d" % kv for kv in sorted(counts.items())), best))

import matplotlib.pyplot as plt  # noqa: E402
fig, ax = plt.subplots(figsize=(7, 3.8))
for xi, (act, k, n, levels) in enumerate(levels_all):
    for sizes, (L, _) in levels.items():
        ax.hlines(L, xi - 0.35, xi + 0.35, color="grey", lw=1)
    ends = [e for e in ends_all if e[:3] == (act, k, n)]
    ax.scatter(xi + np.linspace(-0.25, 0.25, len(ends)), [e[3] for e in ends], s=10,
               c=["C0" if e[4].startswith("CA") else "C3" if e[4] == "approx-copy" else "C7"
                  for e in ends])
ax.set_xticks(range(len(levels_all)))
ax.set_xticklabels(["%s\nk=%d n=%d" % (act[:4], k, n) for act, k, n, _ in levels_all], fontsize=7)
ax.set_yscale("log")
ax.set_ylabel("loss (lines: copy-average levels)")
ax.set_title("where gradient flow ends (blue CA, red approx-copy, grey other)")
fig.savefig(os.path.join(a.out, "ex11_copy_average.png"), dpi=110, bbox_inches="tight")

def frac(act):
    rows = [s for s in summary if s[0] == act]
    tot = sum(sum(s[3].values()) for s in rows)
    ca = sum(v for s in rows for key, v in s[3].items() if key.startswith("CA"))
    ap = sum(s[3].get("approx-copy", 0) for s in rows)
    return ca / tot, ap / tot


max_g = max(g for _, _, _, lv in levels_all for _, g in lv.values())
fe, fr = frac("sigmoid2"), frac("relu")
print("finding: erf runs ending at a copy-average point %.2f, approx-copy %.2f; relu CA %.2f, "
      "approx-copy %.2f; max copy-average gnorm %.1e; total %.1f s"
      % (fe[0], fe[1], fr[0], fr[1], max_g, time.time() - t_start))

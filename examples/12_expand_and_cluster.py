"""Example 12: expand-and-cluster (Martinelli et al.): recover a teacher from its
input-output data. A tanh teacher with 3 hidden units (Din = 2, biases) labels 200
Gaussian inputs; several over-parameterised students (6 units) are trained to zero
loss (gradient flow + Newton) from different seeds. mf.expand_and_cluster merges
duplicated units, drops cancelling pairs and negligible units in each student,
clusters the rest across students (cosine of incoming vectors, sign-aware for tanh)
and keeps clusters found in at least half of the students; mf.match_teacher then
compares the reconstructed network with the teacher (cosines and relative errors of
incoming and outgoing weights). Writes ex12_clusters.png (unit directions of all
students, coloured by cluster, teacher directions as lines)."""
import os
import time

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402

t_start = time.time()
rng = np.random.default_rng(12)
X = rng.standard_normal((200, 2))
teacher = mf.TeacherNet([(3, "tanh", True), (1, "identity", True)], din=2,
                        params={"w1": [[1.2, -0.4, 0.3], [0.2, 1.0, -0.5], [-0.8, -0.9, 0.1]],
                                "w2": [[1.0, -1.3, 0.8, 0.1]]})
net = mf.Net([(6, "tanh", True), (1, "identity", True)], X, teacher(X))
SEEDS = range(1, 5) if a.quick else range(1, 21)

xs, losses = [], []
for seed in SEEDS:
    r = mf.train(net, mf.random_params(net, seed=seed), maxT=1e4, optim_solver="newtontr",
                 maxtime_ode=10, maxtime_optim=10)
    xs.append(r["x"])
    losses.append(r["loss"])
print("%d students of width 6: losses %.1e .. %.1e" % (len(xs), min(losses), max(losses)))

res = mf.expand_and_cluster(net, np.stack(xs))
print("clusters (students containing them): %s; recovered (>= half): %d units"
      % ([c["count"] for c in res["clusters"]], len(res["units"])))
m = mf.match_teacher(res["net"], res["x"], teacher)
for i, j in enumerate(m["assign"]):
    print("  recovered unit %d -> teacher unit %s: cosine %.12f, err_in %.1e, err_out %.1e"
          % (i, j, m["cosine"][i], m["err_in"][i], m["err_out"][i]))
rec_loss = mf.loss(res["net"], res["x"])
fine = mf.train(res["net"], res["x"], alg="none", optim_solver="newtontr")
print("reconstructed network: loss %.2e on the data, %.2e after Newton from there"
      % (rec_loss, fine["loss"]))

import matplotlib.pyplot as plt  # noqa: E402
fig, ax = plt.subplots(figsize=(5, 5))
labels = res["labels"]
for s, x in enumerate(xs):
    W = mf.params_dict(net, x)["w1"]
    for u in range(W.shape[0]):
        w = W[u, :2] * np.sign(W[u, 0] or 1.0)          # tanh: w and -w are the same unit
        lab = labels[s, u]
        ax.scatter(w[0], w[1], s=14, color="C%d" % (lab % 10) if lab >= 0 else "lightgrey")
for w in mf.params_dict(teacher, teacher.params)["w1"]:
    w = w[:2] * np.sign(w[0])
    ax.plot([0, 1.3 * w[0]], [0, 1.3 * w[1]], "k-", lw=0.8)
ax.set_xlabel("w_1 (sign-normalised)")
ax.set_ylabel("w_2")
ax.set_title("student units by cluster (grey: merged / dropped); lines: teacher")
fig.savefig(os.path.join(a.out, "ex12_clusters.png"), dpi=110, bbox_inches="tight")

n_ok = int(np.sum(m["teacher_cosine"] > 1 - 1e-9)) if not m["teachers_missed"] else 0
print("finding: %d/3 teacher units recovered (cosine > 1 - 1e-9), min cosine %.12f, max "
      "err_in %.1e, max err_out %.1e, reconstructed loss %.1e, from %d students; total %.1f s"
      % (n_ok, np.nanmin(m["teacher_cosine"]), np.nanmax(m["err_in"]), np.nanmax(m["err_out"]),
         rec_loss, len(xs), time.time() - t_start))

"""Example 2: teacher-student. A student with as many tanh units as the teacher,
trained on the teacher's outputs, reproduces the teacher exactly up to a
permutation of the hidden neurons (and, tanh being odd, a sign flip of a neuron's
incoming and outgoing weights). Prints the matched weights; writes ex2_loss_curve.png."""
import os

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402
import mlpflow.plot as mp       # noqa: E402

N = 500 if a.quick else 1000
seeds = [2] if a.quick else [1, 2, 3, 4]
X = np.random.default_rng(1).standard_normal((N, 2))
layers = [(4, "tanh", False), (1, "identity", False)]
teacher = mf.TeacherNet(layers=layers, din=2, seed=11)
net = mf.Net(layers=layers, input=X, target=teacher(X))

best = None
for s in seeds:
    r = mf.train(net, mf.random_params(net, seed=s), maxT=100 if a.quick else 1e3,
                 maxtime_ode=20, maxtime_optim=20)
    print("start %d: loss %.3e gnorm %.1e (%s)" % (s, r["loss"], r["gnorm"], r["optim_stopped_by"]))
    if best is None or r["loss"] < best["loss"]:
        best = r
mp.loss_curve(best, os.path.join(a.out, "ex2_loss_curve.png"), title="teacher-student")

T = mf.params_dict(teacher, teacher.params)
S = mf.params_dict(net, best["x"])
k = T["w1"].shape[0]
cos = np.array([[mf.cosine_similarity(S["w1"][i], T["w1"][j]) for j in range(k)]
                for i in range(k)])
perm, sign = [], []
for i in range(k):
    j = max((j for j in range(k) if j not in perm), key=lambda j: abs(cos[i, j]))
    perm.append(j)
    sign.append(1.0 if cos[i, j] > 0 else -1.0)
print("student neuron -> teacher neuron (cosine of incoming weights):")
err = 0.0
for i, j in enumerate(perm):
    ws, wt = sign[i] * S["w1"][i], T["w1"][j]
    as_, at = sign[i] * S["w2"][0, i], T["w2"][0, j]
    err = max(err, np.abs(ws - wt).max(), abs(as_ - at))
    print("  %d -> %d  cos %+.15f  student w %s a %+.12f | teacher w %s a %+.12f"
          % (i, j, cos[i, j], np.array2string(ws, precision=12), as_,
             np.array2string(wt, precision=12), at))
print("finding: best loss %.2e; the student is the teacher up to permutation %s and signs %s;"
      " max weight difference %.1e" % (best["loss"], perm, [int(s) for s in sign], err))

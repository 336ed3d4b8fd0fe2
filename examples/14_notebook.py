"""Example 14: a notebook session (cells marked "# %%", run them one by one in
Jupyter / VS Code, or the whole file as a script). Trains a student on a
teacher's data from a few starts with a progress display, looks at the result,
saves and reloads it (the CLI's RUN.json + RUN.npz), classifies where it ended
(minimum, saddle or channel), evaluates the test loss on fresh data and plots
the loss curves and the Hessian spectrum side by side.
Writes ex14_run.json / .npz and ex14_overview.png."""
# %% setup: the data, a teacher and a student
import os

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402
import mlpflow.plot as mp       # noqa: E402

rng = np.random.default_rng(1)
X, X_test = rng.standard_normal((200, 2)), rng.standard_normal((1000, 2))
teacher = mf.TeacherNet(layers=[(3, "softplus", True), (1, "identity", False)], din=2, seed=7)
net = mf.Net(layers=[(4, "softplus", True), (1, "identity", False)], input=X,
             target=teacher(X))
net

# %% train from a few starts (a progress line appears when the session is interactive)
starts = np.stack([mf.random_params(net, seed=s) for s in range(2 if a.quick else 6)])
runs = mf.train_many(net, starts, threads=2, maxT=100 if a.quick else 1e4,
                     maxtime_ode=20, maxiterations_optim=2000 if a.quick else 100000)
best = min(runs, key=lambda r: r["loss"])
best                          # one screen: loss, gnorm, stop reasons, times

# %% save, reload: the run carries its network and data
path = best.save(os.path.join(a.out, "ex14_run"))
again = mf.load(path)
same = np.array_equal(again["x"], best["x"]) and again["loss"] == best["loss"]
print("reloaded %s.json/.npz: identical %s" % (path, same))

# %% what did the run find? minimum, saddle (index) or a channel to infinity
kind = mf.classify(again.network, again)
print("the best run ended at a %s (index %d, %d zero eigenvalues below %.1e, %d channels)"
      % (kind["kind"], kind["index"], kind["n_zero"], kind["zero_tol"], len(kind["channels"])))

# %% the test loss: the reloaded network evaluated on fresh data from the teacher
test_loss = mf.loss(again.network, again["x"], input=X_test, target=teacher(X_test))
print("train loss %.3e, test loss %.3e" % (again["loss"], test_loss))

# %% plots on one figure: the loss curves of every start and the spectrum at the best
import matplotlib.pyplot as plt  # noqa: E402

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
mp.loss_curve(runs, ax=ax1, title="loss of each start (flow phase)")
evals, _ = mf.hessian_spectrum(again.network, again["x"])
mp.hessian_spectrum(evals, ax=ax2, title="Hessian at the best run")
fig.savefig(os.path.join(a.out, "ex14_overview.png"), dpi=100, bbox_inches="tight")

# %% what we found
print("finding: best of %d starts loss %.3e gnorm %.1e, a %s, reloaded identical %s, "
      "test loss %.3e, smallest Hessian eigenvalue %.2e"
      % (len(runs), best["loss"], best["gnorm"], kind["kind"], same, test_loss, evals[0]))

"""Example 8: flat channels to infinity (Martinelli, Van Meegen, Simsek, Gerstner,
Brea 2025). A student with fewer units than its teacher often cannot reach a
minimum: gradient flow drives two of its units into a channel, where their input
vectors merge while their output weights grow to +inf and -inf and the loss keeps
decreasing, extremely slowly. At any finite time such a point looks like a flat
minimum (tiny gradient, near-zero Hessian eigenvalues); mlpflow.classify tells
them apart.

Setup: a tanh teacher with 3 units (biases, linear readout) on 200 standard
normal inputs in Din = 2; students with 2 tanh units; gradient flow to t = 1e4
then Newton trust region, from Glorot starts. Each end point is classified
(mf.classify; points that the minimiser left short of criticality go through
mf.find_critical_point first). For every channel:
  - the gated-linear-unit (GLU) limit c tanh(w.x) + (v.x) tanh'(w.x) of the pair
    and how well it fits the pair's output (glu_error, relative RMS);
  - the growth exponent of |a|(t) and the loss decrease rate over the last two
    decades of flow time (from the trajectory);
  - the loss at the end of the channel: mf.channel_limit replaces the pair by its
    GLU and Newton minimises that network.
The full run adds a softplus teacher (4 units) with a 3-unit student.
|a| in the table is at the end point, after Newton has run along the channel
until it stalls (the flow alone reaches |a| ~ 3-4 by t = 1e4, see the figure).

Writes ex8_channels.png (|a|(t) and the loss along the channel runs)."""
import os
import time

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402

SEEDS = range(1, 5) if a.quick else range(1, 41)
CASES = [("tanh", 3, 2)] if a.quick else [("tanh", 3, 2), ("softplus", 4, 3)]
X = np.random.default_rng(1).standard_normal((200, 2))


def end_point(net, x0):
    """Train, then classify; a point left short of criticality (and not a channel)
    is first taken to its nearby critical point."""
    r = mf.train(net, x0, maxT=1e4, maxtime_optim=5)
    c = mf.classify(net, r)
    if c["kind"] == "not_critical":
        cp = mf.find_critical_point(net, r)
        c, r["x"] = cp["classification"], cp["x"]
    return r, c


def out_weight_norm(net, traj_x, units):
    """|a|(t): the norm of the channel units' output weights along the trajectory."""
    off = net.layer_shape(0)[0] * net.layer_shape(0)[1]
    cols = net.layer_shape(1)[1]
    return np.sqrt(sum(traj_x[:, off + u::cols][:, 0] ** 2 for u in units))


def channel_end(net, x, ch):
    """Loss at the end of the channel: the GLU network minimised by Newton."""
    net2, x2 = mf.channel_limit(net, x, ch)
    r2 = mf.train(net2, x2, alg="none", optim_solver="newtontr", maxtime_optim=5)
    return r2["loss"], r2["gnorm"]


rows, curves, findings = [], [], []
t0 = time.time()
for act, k, n in CASES:
    teacher = mf.TeacherNet(layers=[(k, act, True), (1, "identity", False)], din=2, seed=3)
    net = mf.Net(layers=[(n, act, True), (1, "identity", False)], input=X, target=teacher(X))
    print("teacher %s k = %d, student n = %d, N = %d, Din = 2" % (act, k, n, X.shape[0]))
    print("%4s %12s %13s %9s %10s %10s %8s %8s %13s" % ("seed", "kind", "loss", "|a|", "glu_error",
          "amplif.", "growth", "L-rate", "end-of-channel"))
    kinds = []
    for seed in SEEDS:
        r, c = end_point(net, mf.random_params(net, seed=seed))
        kinds.append(c["kind"])
        line = "%4d %12s %13.6e" % (seed, c["kind"], c["loss"])
        for ch in c["channels"]:
            lend, gend = channel_end(net, r["x"], ch)
            amax = float(np.max(np.abs(ch["out_weights"])))
            rows.append((act, seed, ch["glu_error"], ch["growth_exponent"], ch["loss_rate"],
                         c["loss"], lend, amax))
            line += " %9.1f %10.2e %10.1f %8.3f %8.3f %13.6e" % (
                amax, ch["glu_error"], ch["amplification"], ch["growth_exponent"],
                ch["loss_rate"], lend)
            if len(curves) < 6:
                curves.append((r, out_weight_norm(net, r["trajectory"]["x"], ch["units"]),
                               "%s seed %d" % (act, seed)))
        print(line)
    nch = kinds.count("channel")
    sel = [row for row in rows if row[0] == act]
    findings.append("%s %d->%d: %d/%d seeds end in channels" % (act, k, n, nch, len(kinds)))
    if sel:
        g = np.array([row[2] for row in sel])
        gr = np.array([row[3] for row in sel])
        gap = np.array([row[5] - row[6] for row in sel])
        findings[-1] += (" (GLU fit error median %.1e, max %.1e; |a| ~ t^%.2f; the end of the "
                         "channel is %.1e lower in loss)" % (np.median(g), g.max(),
                                                              np.median(gr), np.median(gap)))
    others = {kd: kinds.count(kd) for kd in set(kinds) if kd != "channel"}
    findings[-1] += ", others %s" % others
    print()

import matplotlib.pyplot as plt  # noqa: E402
fig, ax = plt.subplots(1, 2, figsize=(10, 4))
for r, anorm, lab in curves:
    t = np.asarray(r["trajectory"]["t"])
    m = t > 0
    ax[0].loglog(t[m], anorm[m], label=lab)
    ax[1].loglog(t[m], np.asarray(r["loss_curve"])[m], label=lab)
ax[0].set_xlabel("time t"), ax[0].set_ylabel("|a| of the channel pair")
ax[1].set_xlabel("time t"), ax[1].set_ylabel("loss")
ax[0].set_title("output weights diverge"), ax[1].set_title("loss creeps down")
ax[0].legend(fontsize=7)
fig.savefig(os.path.join(a.out, "ex8_channels.png"), dpi=110, bbox_inches="tight")
print("%.1f s" % (time.time() - t0))
print("finding: " + "; ".join(findings))

"""Example 13: how often does training end in a flat channel to infinity, as a
function of the student's width? A sweep over student widths n and start seeds.

Teacher: 4 sigmoid units without biases in Din = 2, linear readout (Glorot, seed 2),
labelling 300 standard-normal inputs; students with n sigmoid units, gradient flow
to T = 1e4 then the default minimiser, limited by iterations (not wall time), so the
sweep is reproducible bit for bit. Every run is one row of an SQLite database
(out/ex13*.sqlite): running the script again resumes where it stopped.

Every end point is classified by the sweep itself (the analysis layer, as
`mlpflow classify` does; the `kind` column of the database):
  channel         two units whose input vectors merge while their output weights
                  diverge with opposite signs: the pair drifts to infinity and
                  computes a gated linear unit sigma(w.x) + (v.x) sigma'(w.x);
  minimum         a critical point without negative curvature; a global one when
                  its loss is at rounding level (<= 1e-20: the student reproduces
                  the teacher on the data), else a local one;
  saddle          a critical point with negative curvature (index in saddle_index);
  not_critical    the run stopped before reaching a critical point.

Prints the fraction of each outcome per width; writes ex13_channels.png (fraction
of channels over n), ex13_outcomes.png (phase diagram of global minima over n and
teacher seed) and ex13_sweep.json (every run's outcome)."""
import json
import os

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402

WIDTHS = [3, 4] if a.quick else [2, 3, 4, 5, 6, 7]
SEEDS = [1, 6] if a.quick else [1, 40]
TEACHERS = [2] if a.quick else [2, 3]
DIN = 2
SPEC = {
    "base": {"teacher": {"layers": [[4, "sigmoid", False], [1, "identity", False]],
                         "din": DIN, "seed": 2},
             "data": {"samples": 300, "seed": 1},
             "layers": [[4, "sigmoid", False], [1, "identity", False]],
             "train": {"maxT": 1e4, "maxiterations_ode": 20000, "maxiterations_optim": 15000,
                       "maxtime_ode": 600, "maxtime_optim": 600, "n_samples_trajectory": 20}},
    "axes": {"teacher.seed": TEACHERS, "layers.0.0": WIDTHS, "seed": {"range": SEEDS}},
}
OUTCOMES = ("global minimum", "local minimum", "saddle", "channel", "not_critical")


def outcome(row):
    """The recorded kind, with minima split by their loss into global and local."""
    if row["kind"] == "minimum":
        return "global minimum" if row["loss"] <= 1e-20 else "local minimum"
    return row["kind"]


db = os.path.join(a.out, "ex13_quick.sqlite" if a.quick else "ex13.sqlite")
df = mf.sweep(SPEC, db, quiet=False)
df["outcome"] = [outcome(r) for _, r in df.iterrows()]

print("student width n: fraction of runs per outcome (%d seeds per teacher, %d teacher(s))"
      % (SEEDS[1] - SEEDS[0] + 1, len(TEACHERS)))
print("%3s %6s " % ("n", "runs") + " ".join("%15s" % o for o in OUTCOMES))
for n, g in df.groupby("layers.0.0"):
    frac = [np.mean(g["outcome"] == o) for o in OUTCOMES]
    print("%3d %6d " % (n, len(g)) + " ".join("%15.2f" % f for f in frac))
ch = df.groupby("layers.0.0")["kind"].apply(lambda k: np.mean(k == "channel"))
print("finding: channels in %s of the runs at n = %s; %.2f of all runs end in one"
      % (", ".join("%.2f" % v for v in ch.values), ", ".join(str(n) for n in ch.index),
         np.mean(df["kind"] == "channel")))

mf.plot_outcomes(df, "layers.0.0", os.path.join(a.out, "ex13_channels.png"),
                 outcome="channel", title="runs ending in a channel to infinity")
mf.plot_outcomes(df, "layers.0.0", os.path.join(a.out, "ex13_outcomes.png"), y="teacher.seed",
                 outcome="minimum", title="runs ending at a minimum")
runs = [{"run_id": r.run_id, "n": int(r["layers.0.0"]), "seed": int(r.seed),
         "teacher_seed": int(r["teacher.seed"]), "loss": r.loss, "gnorm": r.gnorm,
         "kind": r.kind, "saddle_index": r.saddle_index, "n_channels": r.n_channels,
         "outcome": r.outcome} for _, r in df.iterrows()]
with open(os.path.join(a.out, "ex13_sweep.json"), "w") as f:
    json.dump({"database": db, "runs": runs}, f, indent=1)

"""Flow-accuracy benchmark (issue 3): the reference paper's claim that, at equal
wall time, adaptive ODE solvers follow gradient flow more closely than gradient
descent and Adam and reach lower loss.

Problem: the README teacher-student at N = 1000 (input 1000 x 2 standard normal,
teacher 4 sigmoid units without biases + linear readout, Glorot normal, numpy seed
--data-seed; student 5 sigmoid units, identity output, no biases, P = 15; MSE),
started from `mlpflow init --seed S`.

Reference: the gradient flow up to flow time T integrated with a tight tolerance
(verner8, reltol = abstol = 1e-12; if verner8 cannot reach T, dopri5 at 1e-12 is the
reference and the failure is reported), sampled at --ref-samples log-spaced times
and interpolated with a cubic spline in t. Its own error is estimated by the
distance to a second tight run (kencarp58 at 1e-12).

Methods (mlpflow train --optim_solver none, one thread), all to maxT = T:
- dopri5, kencarp58 at the default tolerances (1e-6);
- rk4 with fixed steps h (the default rk4_step 1e-2 needs T/h steps: see README),
  including the h whose T/h steps take the budget (the wall time of the slower
  adaptive run), calibrated from a timed run;
- gd with learning rates lr (flow time = lr * steps), capped at the budget,
  including the lr whose T/lr steps take the budget;
- adam (lr 1e-3 default and 1e-2) for the same wall-time budget (its "time" is not
  flow time, so it is compared by nearest-point distance).
Distances are Euclidean in parameter space: "max |x - x_ref(t)|" over the
method's trajectory samples at equal flow time, "at end" the same at the last
sample, "nearest" = max over the method's samples of the distance to the closest
point of the (densely sampled) reference curve.

Second table: lowest loss at equal wall time (--budget s each, maxT = inf) for
dopri5, kencarp58, rk4 h = 0.5, gd lr = 0.5, adam lr 1e-3 / 1e-2.

usage: /usr/bin/python3 bench/flow_accuracy.py [--quick] [--T 1000] [--seeds 3] [--budget 2]"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def make_problem(d, n, data_seed):
    """The reference README problem with n samples (written by train_compare.py)."""
    sys.path.insert(0, HERE)
    from train_compare import make_problem as write_problem
    return write_problem(d, data_seed, n)


def train(exe, spec, seed, run, opts, env):
    import numpy as np
    cmd = [exe, "train", "--spec", spec, "--seed", str(seed), "-o", run, "--quiet",
           "--threads", "1", "--optim_solver", "none"] + [str(o) for o in opts]
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    with open(run + ".json") as f:
        r = json.load(f)
    z = np.load(run + ".npz")
    r["t"] = z["trajectory_t"]
    r["X"] = z["trajectory_x"].reshape(len(r["t"]), -1)
    r["L"] = z["loss_curve"]
    return r


class Reference:
    def __init__(self, t, X):
        import numpy as np
        from scipy.interpolate import CubicSpline
        keep = np.concatenate([[True], np.diff(t) > 0])
        self.t, self.X = t[keep], X[keep]
        self.spline = CubicSpline(self.t, self.X, axis=0)
        # a denser polyline for nearest-point distances (8 pieces per sample interval)
        tt = np.unique(np.concatenate([self.t[:-1] + (self.t[1:] - self.t[:-1]) * k / 8
                                       for k in range(8)] + [self.t[-1:]]))
        self.dense = self.spline(tt)

    def at(self, t):
        import numpy as np
        return self.spline(np.clip(t, self.t[0], self.t[-1]))

    def compare(self, r):
        import numpy as np
        inside = r["t"] <= self.t[-1] * (1 + 1e-12)
        d = np.linalg.norm(r["X"][inside] - self.at(r["t"][inside]), axis=1)
        return float(d.max()), float(d[-1]), self.nearest(r["X"])

    def nearest(self, X):
        import numpy as np
        A, B = self.dense[:-1], self.dense[1:]
        AB = B - A
        nn = np.maximum((AB * AB).sum(1), 1e-300)
        out = 0.0
        for x in X:   # distance from x to the polyline through the dense samples
            u = np.clip(((x - A) * AB).sum(1) / nn, 0.0, 1.0)
            out = max(out, float(np.min(np.linalg.norm(A + u[:, None] * AB - x, axis=1))))
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlpflow", default=os.path.join(HERE, "..", "build", "mlpflow"))
    ap.add_argument("--quick", action="store_true", help="T = 100, fewer variants")
    ap.add_argument("--T", type=float, default=1000.0, help="flow time of the comparison")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--data-seed", type=int, default=1234)
    ap.add_argument("--budget", type=float, default=2.0,
                    help="wall seconds of the equal-time lowest-loss table")
    ap.add_argument("--ref-samples", type=int, default=3000)
    a = ap.parse_args()
    T = 100.0 if a.quick else a.T
    if a.quick:
        a.seeds = 1
    rk4_steps = [0.5] if a.quick else [0.1, 0.5]
    gd_lrs = [0.5] if a.quick else [0.1, 0.5]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}; one thread; "
          f"N = {a.samples}, P = 15, T = {T:g}")
    rows = []
    eq_rows = []
    notes = []
    wall_budget = 0.3 if a.quick else a.budget
    with tempfile.TemporaryDirectory(prefix="mlpf_flow_") as d:
        exe = os.path.join(d, "mlpflow")
        shutil.copy2(a.mlpflow, exe)
        spec = make_problem(d, a.samples, a.data_seed)
        R = lambda name: os.path.join(d, name)
        for s in range(a.first_seed, a.first_seed + a.seeds):
            tight = ["--reltol", "1e-12", "--abstol", "1e-12", "--maxT", T,
                     "--n_samples_trajectory", a.ref_samples]
            ref = train(exe, spec, s, R("ref"), ["--alg", "verner8"] + tight, env)
            refname = "verner8 1e-12"
            if ref["ode_stopped_by"] != "maxT":
                notes.append(f"seed {s}: verner8 at reltol = abstol = 1e-12 stopped by "
                             f"{ref['ode_stopped_by']} at flow time {ref['ode_time_run']:.4g} "
                             f"< T = {T:g} after {ref['ode_iterations']} steps, "
                             f"{ref['ode_wall_time']:.3g} s; reference = dopri5 at 1e-12")
                ref = train(exe, spec, s, R("ref"), ["--alg", "dopri5"] + tight, env)
                refname = "dopri5 1e-12"
            assert ref["ode_stopped_by"] == "maxT", ref["ode_stopped_by"]
            Rf = Reference(ref["t"], ref["X"])
            rows.append((s, f"reference ({refname})", ref["ode_wall_time"], ref["ode_iterations"],
                         ref["ode_time_run"], ref["loss"], (0.0, 0.0, 0.0), ref["ode_stopped_by"]))
            chk = train(exe, spec, s, R("chk"), ["--alg", "kencarp58"] + tight, env)
            rows.append((s, "check: kencarp58 1e-12", chk["ode_wall_time"], chk["ode_iterations"],
                         chk["ode_time_run"], chk["loss"], Rf.compare(chk), chk["ode_stopped_by"]))
            base = ["--maxT", T, "--n_samples_trajectory", 200]
            walls = []
            for alg in ("dopri5", "kencarp58"):
                r = train(exe, spec, s, R(alg), ["--alg", alg] + base, env)
                walls.append(r["ode_wall_time"])
                rows.append((s, f"{alg} (tol 1e-6)", r["ode_wall_time"], r["ode_iterations"],
                             r["ode_time_run"], r["loss"], Rf.compare(r), r["ode_stopped_by"]))
            budget = max(walls)
            # fixed-step methods at equal wall time: the step / learning rate whose
            # T / h steps fit in the budget, calibrated on a run with h = 0.5
            cal = train(exe, spec, s, R("cal"), ["--alg", "rk4", "--rk4_step", 0.5] + base, env)
            h_eq = T * (cal["ode_wall_time"] / cal["ode_iterations"]) / budget
            cal = train(exe, spec, s, R("cal"), ["--alg", "gd", "--lr", 0.5] + base, env)
            lr_eq = T * (cal["ode_wall_time"] / cal["ode_iterations"]) / budget
            for h in rk4_steps + [h_eq]:
                r = train(exe, spec, s, R("rk4"), ["--alg", "rk4", "--rk4_step", h] + base, env)
                rows.append((s, f"rk4 h = {h:g}", r["ode_wall_time"], r["ode_iterations"],
                             r["ode_time_run"], r["loss"], Rf.compare(r), r["ode_stopped_by"]))
            for lr in gd_lrs + [lr_eq]:
                r = train(exe, spec, s, R("gd"), ["--alg", "gd", "--lr", lr,
                                                  "--maxtime_ode", budget] + base, env)
                rows.append((s, f"gd lr = {lr:g} (budget {budget:.3g} s)", r["ode_wall_time"],
                             r["ode_iterations"], r["ode_time_run"], r["loss"], Rf.compare(r),
                             r["ode_stopped_by"]))
            for lr in (1e-3, 1e-2):
                r = train(exe, spec, s, R("adam"), ["--alg", "adam", "--lr", lr, "--maxT", "inf",
                                                    "--maxtime_ode", budget,
                                                    "--n_samples_trajectory", 200], env)
                rows.append((s, f"adam lr = {lr:g} (budget {budget:.3g} s)", r["ode_wall_time"],
                             r["ode_iterations"], float("nan"), r["loss"],
                             (float("nan"), float("nan"), Rf.nearest(r["X"])),
                             r["ode_stopped_by"]))
            # lowest loss at equal wall time: every method runs for --budget seconds
            # with no flow-time limit
            for name, opts in [("dopri5 (tol 1e-6)", ["--alg", "dopri5"]),
                               ("kencarp58 (tol 1e-6)", ["--alg", "kencarp58"]),
                               ("rk4 h = 0.5", ["--alg", "rk4", "--rk4_step", 0.5]),
                               ("gd lr = 0.5", ["--alg", "gd", "--lr", 0.5]),
                               ("adam lr = 0.001", ["--alg", "adam", "--lr", 1e-3]),
                               ("adam lr = 0.01", ["--alg", "adam", "--lr", 1e-2])]:
                r = train(exe, spec, s, R("eq"), opts + ["--maxT", "inf", "--maxtime_ode", wall_budget,
                                                        "--n_samples_trajectory", 20], env)
                eq_rows.append((s, name, r["ode_wall_time"], r["ode_iterations"],
                                r["ode_time_run"], r["loss"], r["gnorm"], r["ode_stopped_by"]))
            print(f"seed {s} done", file=sys.stderr, flush=True)

    print()
    print("| seed | method | wall s | steps | flow time reached | final loss | "
          "max dist at equal t | dist at end | max nearest-point dist | stopped by |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s, name, wall, steps, tr, loss, (dmax, dend, dnear), why in rows:
        f = lambda v: "-" if v != v else f"{v:.3g}"
        print(f"| {s} | {name} | {wall:.3g} | {steps} | {f(tr)} | {loss:.4g} | {f(dmax)} | "
              f"{f(dend)} | {f(dnear)} | {why} |")
    print()
    print(f"Equal wall time, no flow-time limit: each method runs {wall_budget:g} s (maxtime_ode) "
          "from the same start; adam's steps are not flow time.")
    print()
    print("| seed | method | wall s | steps | flow time reached | final loss | gnorm | stopped by |")
    print("|---|---|---|---|---|---|---|---|")
    for s, name, wall, steps, tr, loss, gn, why in eq_rows:
        tr = "-" if name.startswith("adam") else f"{tr:.3g}"
        print(f"| {s} | {name} | {wall:.3g} | {steps} | {tr} | {loss:.4g} | {gn:.2g} | {why} |")
    for n in notes:
        print(f"\nnote: {n}")


if __name__ == "__main__":
    main()

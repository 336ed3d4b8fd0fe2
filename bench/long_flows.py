"""Long-flow battery (issue 9): which gradient-flow method follows the flow to
t = 1e12 in channels, through saddles, into minima and across ReLU kinks --
accurately, monotonically and fast.

Problems (all through the Python package, one thread):
- channel: erf (sigmoid2) teacher of 5 units without biases, Din 2, exact
  Gaussian data (NetI), student of 5 units, maxT = 1e12. Many starts end in
  channels to infinity where the loss falls ever more slowly.
- softplus: teacher 4 softplus units with biases, student 5, N = 1000 samples,
  Din 2, maxT = 1e4 (the issue's non-monotone recorded loss case).
- saddle: erf teacher 4 units, Din 4, exact data, student 4 started at
  1e-3 x Glorot: the flow leaves the saddle at the origin slowly, maxT = 1e5.
- nearmin: softplus teacher 4 with biases, student 4, N = 1000, started at the
  teacher + 1e-2 noise: a stiff flow into a minimum, maxT = 1e6.
- relu: ReLU teacher of 1 unit w = (1, 0), a = 1; ReLU student of 2 units,
  the second with a = -1 and w = (0.1, 0.05) whose input weights go to ~1e-11
  and below (the kink at w = 0); N = 1000, maxT = 1e4. Crosses the kink.
- slide: ReLU teacher 3 / student 4 with biases, N = 200 Gaussian inputs: the
  flow slides along the hyperplane of one data point of student unit 3
  (Filippov sliding: the field points into the kink from both sides), where
  adaptive solvers chatter with collapsing steps; maxT = 1e4.
- cross: the same with N = 20 (seed 0 of the problem): pre-activations cross
  kinks on many samples, nothing slides; maxT = 1e4.
- die: exact Gaussian data, teacher -relu(x1), ReLU student of 1 unit with
  a = 1, w = (0.1, 0.05): the unit's weights go to 0 (the kink as a whole)
  and the solvers fail there; maxT = 1e4.
- readme: the README problem (sigmoid teacher 4, student 5, N = 10 000) with
  no options at all (maxT = inf, then the minimiser): the default path.

Each flow problem runs every candidate method at the default tolerances
(1e-6) with optim_solver = "none" and a wall-clock cap of --cap seconds (a
cap that decides shows as stop "maxtime"). The reference is bdf at
reltol = abstol = 1e-10 with 2000 trajectory samples, interpolated with a
cubic spline in log t; its own error is estimated by a second tight run
(--check-alg at 1e-10). Columns: steps, wall s, flow time reached, stop
reason, max distance (Euclidean, parameter space) to the reference over the
recorded samples, the distance at the last sample, the monotonicity of the
recorded loss (largest ratio L[i+1] / L[i], and the number of rises beyond
the loss's rounding, see rounding()), the number of recorded samples and,
for a "nonsmooth" stop, the units at the kink (ode_kinks).

usage: /usr/bin/python3 bench/long_flows.py [--quick] [--seeds 2] [--cap 10]
           [--methods kencarp58,bdf,...] [--problems channel,softplus,...]
"""
import argparse
import math
import os
import platform
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import mlpflow as mf  # noqa: E402

# every flow method of the registry
METHODS = [m[0] for m in mf.training.methods() if m[1] == "flow"]


# ---------------------------------------------------------------- problems

def channel(seed):
    t = mf.TeacherNet([(5, "sigmoid2", False), (1, "identity", False)], din=2, seed=100 + seed)
    net = mf.NetI(t, [(5, "sigmoid2", False), (1, "identity", False)])
    return net, mf.random_params(net, seed=seed), 1e12


def softplus(seed):
    t = mf.TeacherNet([(4, "softplus", True), (1, "identity", True)], din=2, seed=100 + seed)
    X = np.random.default_rng(seed).standard_normal((1000, 2))
    net = mf.Net([(5, "softplus", True), (1, "identity", True)], X, t(X))
    return net, mf.random_params(net, seed=seed), 1e4


def saddle(seed):
    t = mf.TeacherNet([(4, "sigmoid2", False), (1, "identity", False)], din=4, seed=100 + seed)
    net = mf.NetI(t, [(4, "sigmoid2", False), (1, "identity", False)])
    return net, 1e-3 * mf.random_params(net, seed=seed), 1e5


def nearmin(seed):
    t = mf.TeacherNet([(4, "softplus", True), (1, "identity", True)], din=2, seed=100 + seed)
    X = np.random.default_rng(seed).standard_normal((1000, 2))
    net = mf.Net([(4, "softplus", True), (1, "identity", True)], X, t(X))
    x0 = t.params + 1e-2 * np.random.default_rng(1000 + seed).standard_normal(t.params.size)
    return net, x0, 1e6


def relu(seed):
    t = mf.TeacherNet([(1, "relu", False), (1, "identity", False)], din=2,
                      params=np.array([1.0, 0.0, 1.0]))
    X = np.random.default_rng(seed).standard_normal((1000, 2))
    net = mf.Net([(2, "relu", False), (1, "identity", False)], X, t(X))
    return net, np.array([0.5, 0.0, 0.1, 0.05, 1.0, -1.0]), 1e4


def relu_net(n, seed):
    t = mf.TeacherNet([(3, "relu", True), (1, "identity", True)], din=2, seed=100 + seed)
    X = np.random.default_rng(seed).standard_normal((n, 2))
    net = mf.Net([(4, "relu", True), (1, "identity", True)], X, t(X))
    return net, mf.random_params(net, seed=seed), 1e4


def slide(seed):
    return relu_net(200, seed)


def cross(seed):
    return relu_net(20, seed)


def die(seed):
    t = mf.TeacherNet([(1, "relu", False), (1, "identity", False)], din=2,
                      params=np.array([1.0, 0.0, -1.0]))
    net = mf.NetI(t, [(1, "relu", False), (1, "identity", False)])
    return net, np.array([0.1, 0.05, 1.0]), 1e4


def readme_problem(seed):
    """The problem of bench/train_compare.py (data seed 1234), start mlpflow init --seed."""
    rng = np.random.default_rng(1234)
    X = rng.standard_normal((10000, 2))
    W1 = rng.normal(0.0, (2.0 / (2 + 4)) ** 0.5, (4, 2))
    a = rng.normal(0.0, (2.0 / (4 + 1)) ** 0.5, (1, 4))
    Y = (1.0 / (1.0 + np.exp(-X @ W1.T))) @ a.T
    net = mf.Net([(5, "sigmoid", False), (1, "identity", False)], X, Y)
    return net, mf.random_params(net, seed=seed), math.inf


PROBLEMS = {"channel": channel, "softplus": softplus, "saddle": saddle, "nearmin": nearmin,
            "relu": relu, "slide": slide, "cross": cross, "die": die}
# Tolerance of the reference run. In the channel the exact-data gradient carries
# rounding of ~1e-16 (a difference of O(1) terms), and h * 1e-16 must stay below
# the tolerance: at 1e-9 BDF needs ~3e5 steps (> 60 s) to reach 1e12, at 1e-8
# 1.7e4 steps (4 s).
REF_TOL = {"channel": 1e-8}


# ---------------------------------------------------------------- measuring

class Reference:
    """The flow at tolerance 1e-10, interpolated in log t."""

    def __init__(self, res):
        from scipy.interpolate import CubicSpline
        t, X = res["trajectory"]["t"], res["trajectory"]["x"]
        keep = t > 0
        keep[1:] &= np.diff(t) > 0
        self.t, self.X = t[keep], X[keep]
        self.x0 = X[0]
        self.spline = CubicSpline(np.log(self.t), self.X, axis=0)

    def at(self, t):
        if t == 0:
            return self.x0
        if t < self.t[0] or t > self.t[-1] * (1 + 1e-12):
            return None
        return self.spline(np.log(min(t, self.t[-1])))


def distances(res, ref):
    t, X = res["trajectory"]["t"], res["trajectory"]["x"]
    d = [np.linalg.norm(x - r) for ti, x in zip(t, X) if (r := ref.at(ti)) is not None]
    if not d:
        return math.nan, math.nan
    return max(d), d[-1]


def rounding(L, exact_data):
    """What a recorded loss may rise by through rounding alone: 1e-12 relative,
    plus the residuals' rounding (~1e-16 each, L = mean r^2 so dL ~ 2e-16 sqrt(L)),
    plus for exact Gaussian data the cancellation of its O(1) terms (~4e-16)."""
    return 1e-12 * np.abs(L) + 1e-15 * np.sqrt(np.abs(L)) + (4e-16 if exact_data else 0.0)


def monotonicity(res, exact_data):
    """Largest ratio L[i+1] / L[i] of the recorded loss, and the number of rises
    beyond rounding."""
    L = res["loss_curve"]
    if len(L) < 2:
        return 1.0, 0
    rises = L[1:] > L[:-1] + rounding(L[:-1], exact_data)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.max(np.where(L[:-1] > 0, L[1:] / L[:-1], 1.0))
    return max(ratio, 1.0), int(rises.sum())


def run(net, x0, **opts):
    t0 = time.perf_counter()
    r = mf.train(net, x0, **opts)
    r["wall"] = time.perf_counter() - t0
    return r


def fmt_row(cells):
    return "| " + " | ".join(cells) + " |"


def flow_table(problems, seeds, methods, cap, check_alg):
    print(fmt_row(["problem", "seed", "P", "method", "steps", "wall s", "t reached", "stop",
                   "max dist", "dist at end", "max rise", "rises", "samples", "kinks"]))
    print(fmt_row(["---"] * 14))
    for name in problems:
        for seed in range(seeds):
            net, x0, T = PROBLEMS[name](seed)
            exact = isinstance(net, mf.NetI)
            tol = REF_TOL.get(name, 1e-10)
            tight = dict(maxT=T, optim_solver="none", reltol=tol, abstol=tol,
                         n_samples_trajectory=2000, maxtime_ode=120)
            refres = run(net, x0, alg="bdf", **tight)
            ref = Reference(refres)
            chk = run(net, x0, alg=check_alg, **dict(tight, maxtime_ode=3 * cap)) if check_alg else None
            print(fmt_row([name, str(seed), str(net.nparams), "reference bdf %g" % tol,
                           str(refres["ode_iterations"]), "%.3g" % refres["wall"],
                           "%.3g" % refres["ode_time_run"], refres["ode_stopped_by"], "0", "0",
                           "%.4g" % monotonicity(refres, exact)[0],
                           str(monotonicity(refres, exact)[1]), str(len(refres["loss_curve"])),
                           refres["ode_kinks"]]))
            if chk:
                dchk = distances(chk, ref)
                print(fmt_row([name, str(seed), str(net.nparams), "check %s %g" % (check_alg, tol),
                               str(chk["ode_iterations"]), "%.3g" % chk["wall"],
                               "%.3g" % chk["ode_time_run"], chk["ode_stopped_by"],
                               "%.2g" % dchk[0], "%.2g" % dchk[1],
                               "%.4g" % monotonicity(chk, exact)[0],
                               str(monotonicity(chk, exact)[1]), str(len(chk["loss_curve"])),
                               chk["ode_kinks"]]))
            for alg in methods:
                try:
                    r = run(net, x0, alg=alg, maxT=T, optim_solver="none", maxtime_ode=cap)
                except mf.Error as e:
                    print(fmt_row([name, str(seed), str(net.nparams), alg] + ["-"] * 3 +
                                  ["error: %s" % str(e)[:60]] + ["-"] * 6))
                    continue
                d = distances(r, ref)
                m = monotonicity(r, exact)
                print(fmt_row([name, str(seed), str(net.nparams), alg, str(r["ode_iterations"]),
                               "%.3g" % r["wall"], "%.3g" % r["ode_time_run"],
                               r["ode_stopped_by"], "%.2g" % d[0], "%.2g" % d[1], "%.4g" % m[0],
                               str(m[1]), str(len(r["loss_curve"])), r["ode_kinks"]]), flush=True)


def default_path(seeds):
    print(fmt_row(["seed", "total s", "ode stop", "ode steps", "ode s", "flow time",
                   "optim stop", "loss", "gnorm", "target met"]))
    print(fmt_row(["---"] * 10))
    for seed in range(1, seeds + 1):
        net, x0, _ = readme_problem(seed)
        r = run(net, x0)
        ok = r["loss"] <= 1e-20 and r["gnorm"] <= 1e-12 and r["total_time"] <= 2
        print(fmt_row([str(seed), "%.3g" % r["total_time"], r["ode_stopped_by"],
                       str(r["ode_iterations"]), "%.3g" % r["ode_wall_time"],
                       "%.3g" % r["ode_time_run"], r["optim_stopped_by"], "%.3g" % r["loss"],
                       "%.2g" % r["gnorm"], "yes" if ok else "no"]), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, channel + softplus, cap 5 s")
    ap.add_argument("--no-check", action="store_true", help="skip the second tight run")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--cap", type=float, default=10.0, help="wall-clock cap per run, s")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--problems", default=",".join(PROBLEMS) + ",readme")
    ap.add_argument("--check-alg", default="kencarp58")
    a = ap.parse_args()
    problems = a.problems.split(",")
    if a.quick:
        a.seeds, a.cap, problems = 1, 5.0, ["channel", "softplus", "readme"]
    print("machine: %s, %d cores; OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s; mlpflow %s" % (
        platform.machine(), os.cpu_count(), os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        os.environ.get("OPENBLAS_L2_SIZE", "(unset)"), mf.__version__))
    flows = [p for p in problems if p in PROBLEMS]
    if flows:
        print("\n## Long flows (tolerances 1e-6, optim_solver none, cap %g s)\n" % a.cap)
        flow_table(flows, a.seeds, a.methods.split(","), a.cap, None if a.no_check else a.check_alg)
    if "readme" in problems:
        print("\n## Default path: README problem, no options (maxT = inf)\n")
        default_path(max(a.seeds, 3))


if __name__ == "__main__":
    main()

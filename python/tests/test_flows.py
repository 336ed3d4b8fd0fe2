"""Gradient flows you can trust (issue 9): recorded points lie on the flow and
the recorded loss never rises, for every flow method; a ReLU unit whose input weights
shrink to ~1e-10 (the kink at w = 0) does not stall the flow, one that slides on a
kink stops with "nonsmooth"; default runs are
bit-identical, single or many, on a loaded machine."""
import re
import subprocess
import sys

import numpy as np
import pytest

import mlpflow


def softplus_problem(n=300, seed=0):
    teacher = mlpflow.TeacherNet([(4, "softplus", True), (1, "identity", True)], din=2,
                                 seed=100 + seed)
    X = np.random.default_rng(seed).standard_normal((n, 2))
    net = mlpflow.Net([(5, "softplus", True), (1, "identity", True)], X, teacher(X))
    return net, mlpflow.random_params(net, seed=seed)


def relu_kink_problem():
    """Teacher relu(x1); the student's second unit (a = -1, w = (0.1, 0.05))
    cancels itself by shrinking w to ~1e-11: it crosses the kink of relu at 0."""
    teacher = mlpflow.TeacherNet([(1, "relu", False), (1, "identity", False)], din=2,
                                 params=np.array([1.0, 0.0, 1.0]))
    X = np.random.default_rng(0).standard_normal((1000, 2))
    net = mlpflow.Net([(2, "relu", False), (1, "identity", False)], X, teacher(X))
    return net, np.array([0.5, 0.0, 0.1, 0.05, 1.0, -1.0])


def rounding(L):
    """What a recorded loss may rise by through rounding: 1e-12 relative and the
    residuals' rounding (L = mean r^2, each r to ~1e-16, so dL ~ 2e-16 sqrt(L))."""
    return 1e-12 * np.abs(L) + 1e-15 * np.sqrt(np.abs(L))


def rises(res):
    L = res["loss_curve"]
    return np.flatnonzero(L[1:] > L[:-1] + rounding(L[:-1])) + 1


def reference(net, x0, T):
    """The flow at tolerance 1e-10, densely sampled."""
    return mlpflow.train(net, x0, alg="bdf", maxT=T, optim_solver="none", reltol=1e-10,
                         abstol=1e-10, n_samples_trajectory=3000)


def distance(res, ref):
    """Largest Euclidean distance of the recorded samples to the reference,
    interpolated linearly in log t (3000 samples: ratio 1.007 per sample)."""
    tr, Xr = ref["trajectory"]["t"], ref["trajectory"]["x"]
    keep = tr > 0
    lt = np.log(tr[keep])
    worst = 0.0
    for t, x in zip(res["trajectory"]["t"], res["trajectory"]["x"]):
        if t == 0:
            xr = Xr[0]
        else:
            xr = np.array([np.interp(np.log(t), lt, Xr[keep][:, j]) for j in range(Xr.shape[1])])
        worst = max(worst, np.linalg.norm(x - xr))
    return worst


FLOW_METHODS = [m[0] for m in mlpflow.training.methods() if m[1] == "flow"]
IMPLICIT = {"bdf", "kencarp58"}
# Distances measured at tolerance 1e-6 on the issue's problem (seed 0): bdf 2e-5
# and kencarp58 2e-5 to T = 1e4 (kencarp58 interpolating between its steps:
# 9e-4), dopri5 4e-6 and rk4 5e-9 to T = 30. verner8 is 7e-4 off at T = 30
# (its steps are accepted by an error estimate that misses the stiff part;
# it is documented as failing on stiff flows), hence its looser bound.
BOUNDS = {"verner8": 3e-3}


@pytest.fixture(scope="module")
def issue_flows():
    """The issue's problem (teacher 4, student 5 softplus with biases, N = 1000,
    Din 2): tight references to T = 1e4 (the implicit methods) and T = 30 (the
    explicit ones, which need 1e4-1e5 steps on this stiff flow to reach 1e4)."""
    net, x0 = softplus_problem(n=1000)
    return net, x0, {T: reference(net, x0, T) for T in (30.0, 1e4)}


@pytest.mark.parametrize("alg", FLOW_METHODS)
def test_recorded_points_are_on_the_flow(issue_flows, alg):
    """Every flow method records accepted solver states (step ends, at their
    true t): each sample is within a few tolerances of the tight reference at
    the same t, and the recorded loss never rises beyond its rounding (with
    kencarp58's interpolant it rose by up to 721x on this problem)."""
    net, x0, refs = issue_flows
    T = 1e4 if alg in IMPLICIT else 30.0
    res = mlpflow.train(net, x0, alg=alg, maxT=T, optim_solver="none")
    assert res["ode_stopped_by"] == "maxT" and res["alg"] == alg, (res["ode_stopped_by"], res["alg"])
    assert res["trajectory"]["t"][-1] == T and len(res["trajectory"]["t"]) >= 20
    d = distance(res, refs[T])
    assert d < BOUNDS.get(alg, 1e-4), "%s: %g from the tight reference" % (alg, d)
    bad = rises(res)
    L = res["loss_curve"]
    assert bad.size == 0, "%s: loss rises at %s: %s -> %s" % (alg, bad[:3], L[bad[:3] - 1], L[bad[:3]])


@pytest.mark.parametrize("alg", ["kencarp58", "bdf"])
def test_recorded_loss_never_rises(alg):
    """More starts of the issue's problem (9 of 10 rose with kencarp58's
    interpolant): the implicit methods' recorded losses are monotone to 1e4."""
    for seed in (1, 2):
        net, x0 = softplus_problem(n=1000, seed=seed)
        res = mlpflow.train(net, x0, alg=alg, maxT=1e4, optim_solver="none")
        bad = rises(res)
        L = res["loss_curve"]
        assert bad.size == 0, "%s seed %d: loss rises at %s: %s -> %s" % (
            alg, seed, bad[:3], L[bad[:3] - 1], L[bad[:3]])


def test_default_flow_is_monotone_to_1e4():
    """The issue's case at defaults: N = 1000, T = 1e4, no minimiser."""
    for seed in range(3):
        net, x0 = softplus_problem(n=1000, seed=seed)
        res = mlpflow.train(net, x0, maxT=1e4, optim_solver="none")
        assert res["alg"] == "bdf" and res["ode_stopped_by"] == "maxT"
        assert rises(res).size == 0, seed


def test_relu_kink():
    """BDF (the default) crosses the kink at w = 0 in a few hundred steps and
    stays on the flow: a unit that merely reaches the kink is no "nonsmooth"
    stop. Steps across the kink used to end above their starting loss (up to
    10x at losses of 1e-12 ... 1e-17: the flow is not differentiable at
    w = 0); the step guard takes them again with a bounded step, so the
    recorded loss is monotone and the flow goes on down to minloss (5e-33 at
    |w2| ~ 1e-7, w2 parallel to the teacher: a line of exact minima runs up
    to the kink)."""
    net, x0 = relu_kink_problem()
    T = 1e4
    res = mlpflow.train(net, x0, maxT=T, optim_solver="none")
    assert res["ode_stopped_by"] in ("maxT", "minloss"), res["ode_stopped_by"]
    assert rises(res).size == 0
    assert 0 < res["ode_retaken"] < res["ode_iterations"], res["ode_retaken"]
    assert res["ode_iterations"] < 2000, res["ode_iterations"]
    assert res["ode_kinks"] == ""
    w2 = np.linalg.norm(res["trajectory"]["x"][:, 2:4], axis=1)
    assert w2.min() < 1e-6, "the unit did not reach the kink: |w2| >= %g" % w2.min()
    d = distance(res, reference(net, x0, T))
    assert d < 1e-3, d


def sliding_problem(n=200, seed=0):
    """ReLU teacher 3 / student 4 with biases, N = 200 Gaussian inputs: the
    flow slides along the hyperplane of one data point of student unit 3
    (BDF ground through 160 000 steps in 5 s to t = 3.6e3 before)."""
    teacher = mlpflow.TeacherNet([(3, "relu", True), (1, "identity", True)], din=2,
                                 seed=100 + seed)
    X = np.random.default_rng(seed).standard_normal((n, 2))
    net = mlpflow.Net([(4, "relu", True), (1, "identity", True)], X, teacher(X))
    return net, mlpflow.random_params(net, seed=seed)


def preactivations(net, x):
    d = mlpflow.params_dict(net, x)
    return net.input @ d["w1"][:, :2].T + d["w1"][:, 2]


@pytest.mark.parametrize("alg", ["bdf", "kencarp58"])
def test_sliding_on_a_kink_stops_nonsmooth(alg):
    """The flow stops with "nonsmooth" within a few thousand steps, names the
    unit, and the point it keeps has a pre-activation of that unit at the
    kink (|u| ~ abstol); the minimiser is skipped, nothing is converged."""
    net, x0 = sliding_problem()
    res = mlpflow.train(net, x0, alg=alg, maxT=1e4, maxiterations_ode=50000)
    assert res["ode_stopped_by"] == "nonsmooth", (res["ode_stopped_by"], res["ode_iterations"])
    assert res["ode_iterations"] < 10000, res["ode_iterations"]
    m = re.match(r"w1\[(\d)\] \(\d+ flips\)", res["ode_kinks"])
    assert m, res["ode_kinks"]
    unit = int(m.group(1))  # 3 here; past a kink the flows part with the rounding
    assert alg != "bdf" or unit == 3, res["ode_kinks"]
    assert res["optim_stopped_by"] == "skipped" and not res["converged"]
    u = preactivations(net, res["x"])
    assert np.min(np.abs(u[:, unit])) < 1e-5, np.min(np.abs(u[:, unit]))
    assert "units at a kink: w1[%d]" % unit in repr(res)


def test_kink_crossings_and_smooth_flows_go_on():
    """ReLU flows that cross kinks (pre-activations change sign on many samples
    along the way) reach maxT; so does the same problem with softplus units,
    which has no kinks to watch."""
    for seed in (0, 1):  # seeds 2-5 of N = 20 slide (40 000-66 000 BDF steps in 3 s before)
        net, x0 = sliding_problem(n=20, seed=seed)
        res = mlpflow.train(net, x0, maxT=1e4, optim_solver="none")
        assert res["ode_stopped_by"] == "maxT" and res["ode_kinks"] == "", (seed, res["ode_kinks"])
        signs = np.sign(preactivations(net, res["init"])) != np.sign(preactivations(net, res["x"]))
        assert signs.sum() >= 5, "seed %d crossed only %d kinks" % (seed, signs.sum())
    teacher = mlpflow.TeacherNet([(3, "softplus", True), (1, "identity", True)], din=2, seed=100)
    X = np.random.default_rng(0).standard_normal((200, 2))
    net = mlpflow.Net([(4, "softplus", True), (1, "identity", True)], X, teacher(X))
    res = mlpflow.train(net, mlpflow.random_params(net, seed=0), maxT=1e4, optim_solver="none")
    assert res["ode_stopped_by"] == "maxT" and res["ode_kinks"] == ""


def same(a, b):
    return (np.array_equal(a["x"], b["x"]) and a["loss"] == b["loss"]
            and np.array_equal(a["trajectory"]["x"], b["trajectory"]["x"])
            and a["ode_stopped_by"] == b["ode_stopped_by"]
            and a["optim_iterations"] == b["optim_iterations"])


def test_bit_identical_at_defaults_under_load():
    """Default options stop on iteration counts and flow time only, so a
    loaded CPU cannot change the result: repeated runs and train_many on
    2 threads agree bit for bit while another process spins."""
    teacher = mlpflow.TeacherNet([(2, "softplus", True), (1, "identity", True)], din=2, seed=7)
    X = np.random.default_rng(0).standard_normal((100, 2))
    net = mlpflow.Net([(3, "softplus", True), (1, "identity", True)], X, teacher(X))
    starts = [mlpflow.random_params(net, seed=s) for s in (1, 3)]
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        first = [mlpflow.train(net, x0) for x0 in starts]
        again = [mlpflow.train(net, x0) for x0 in starts]
        many = mlpflow.train_many(net, np.stack(starts), threads=2)
    finally:
        hog.kill()
        hog.wait()
    for k in range(len(starts)):
        assert first[k]["converged"], first[k]["optim_stopped_by"]
        assert same(first[k], again[k]), k
        assert same(first[k], many[k]), k


def test_rounding_loss_is_no_minimum():
    """Exact Gaussian data, ReLU: the student's second unit cancels itself, the
    loss becomes a difference of O(1) terms and is computed as 0 or -2e-16
    while the gradient is still ~1e-10. That is rounding, not a loss below
    minloss: the flow goes on (it used to stop with "minloss" and
    converged = True at gnorm 6e-10) and convergence is judged by the gradient."""
    teacher = mlpflow.TeacherNet([(1, "relu", False), (1, "identity", False)], din=2,
                                 params=np.array([1.0, 0.0, 1.0]))
    net = mlpflow.NetI(teacher, [(2, "relu", False), (1, "identity", False)])
    res = mlpflow.train(net, np.array([0.5, 0.0, 0.1, 0.05, 1.0, -1.0]), alg="bdf", maxT=1e3,
                        optim_solver="none")
    assert res["loss_curve"].min() <= 0, "no rounding-level loss on this flow"
    assert res["ode_stopped_by"] == "maxT", (res["ode_stopped_by"], res["loss"], res["gnorm"])
    assert not res["converged"] and res["gnorm"] > 1e-13, (res["loss"], res["gnorm"])
    # a start whose flow does end on a rounding-level loss: converged only by the gradient
    res = mlpflow.train(net, np.array([0.5, 0.0, 0.1, 0.0, 1.0, -1.0]), alg="bdf", maxT=1e3,
                        optim_solver="none")
    assert not res["converged"] or res["gnorm"] <= 1.5e-13, (res["loss"], res["gnorm"])

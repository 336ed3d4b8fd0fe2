"""Train options through the library's one option table: integers too large for
their C field and NaN raise ValueError naming the option (never wrap), the docs
list exactly the registered methods, and train_many honours Ctrl-C."""
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import mlpflow
from mlpflow import training

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def net():
    X = np.random.default_rng(1).standard_normal((50, 2))
    teacher = mlpflow.TeacherNet(layers=[(2, "softplus", True), (1, "identity", False)], din=2,
                                 seed=3)
    return mlpflow.Net(layers=[(3, "softplus", True), (1, "identity", False)], input=X,
                       target=teacher(X))


@pytest.mark.parametrize("name, value, fragment", [
    ("maxiterations_ode", 2**63, "maxiterations_ode: 9223372036854775808 is out of range"),
    ("n_samples_trajectory", 2**40, "n_samples_trajectory: 1099511627776 is out of range"),
    ("seed", 2**64, "seed: 18446744073709551616 is out of range"),
    ("seed", -1, "seed: -1 is out of range"),
    ("batchsize", 2**64, "batchsize: 18446744073709551616 is out of range"),
    ("patience", 1.5, "patience: expected an integer"),
    ("minloss", math.nan, "nan is not a valid minloss"),
    ("maxT", math.nan, "nan is not a valid maxT"),
    ("minloss", math.inf, "minloss = inf is out of range"),
    ("beta2", 1.0, "beta2 = 1 is out of range"),
])
def test_bad_values_raise_naming_the_option(net, name, value, fragment):
    x0 = mlpflow.random_params(net, seed=2)
    with pytest.raises(ValueError, match=re.escape(fragment)):
        mlpflow.train(net, x0, **{name: value})


def test_integer_limits_take_inf_and_their_largest_value(net):
    x0 = mlpflow.random_params(net, seed=2)
    r = mlpflow.train(net, x0, maxiterations_ode=math.inf, patience=2**63 - 1, maxT=1,
                      seed=2**64 - 1, optim_solver="none")
    assert r["ode_stopped_by"] == "maxT"


def _doc_methods(doc):
    block = doc.split("Methods (")[1]
    return re.findall(r"^\s+([a-z0-9_]+) \((?:flow|descent|minimiser|none)\):", block, re.M)


def test_registry_is_the_only_list_of_methods():
    names = [m[0] for m in training.methods()]
    assert len(names) == len(set(names)) and "kencarp58" in names and "none" in names
    # train's docstring lists exactly the registered methods
    assert _doc_methods(mlpflow.train.__doc__) == names
    # and so does `mlpflow train --help`
    cli = os.environ.get("MLPFLOW", str(REPO / "build" / "mlpflow"))
    if not os.path.exists(cli):
        pytest.skip("no CLI binary")
    out = subprocess.run([cli, "train", "--help"], capture_output=True, text=True).stdout
    listed = re.findall(r"^  ([a-z0-9_]+) +(?:flow|descent|minimiser|none) ", out, re.M)
    assert listed == names
    # every option of the C table is documented in train's docstring
    for name, _, default, _, _ in training._TABLE:
        assert "    %s [" % name in mlpflow.train.__doc__, name


def test_unknown_method_message_lists_the_registry(net):
    x0 = mlpflow.random_params(net, seed=2)
    with pytest.raises(ValueError, match=r'unknown alg "euler" \(known: kencarp58, bdf'):
        mlpflow.train(net, x0, alg="euler")


def test_train_many_ctrl_c_returns_finished_and_best_points(tmp_path):
    """SIGINT to a subprocess running train_many: it returns every start's best
    point (stopped_by "interrupt"), with a warning, soon after the signal."""
    script = tmp_path / "many.py"
    script.write_text(textwrap.dedent("""
        import sys, time, warnings
        import numpy as np
        import mlpflow
        X = np.random.default_rng(1).standard_normal((2000, 2))
        t = mlpflow.TeacherNet(layers=[(2, "softplus", True), (1, "identity", False)],
                               din=2, seed=3)
        net = mlpflow.Net(layers=[(8, "softplus", True), (1, "identity", False)],
                          input=X, target=t(X))
        x0s = np.stack([mlpflow.random_params(net, seed=s) for s in range(4)])
        print("ready", flush=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            rs = mlpflow.train_many(net, x0s, threads=2, alg="gd", lr=1e-7,
                                    maxtime_ode=60, optim_solver="none")
        t1 = time.time()
        print("returned", t1, flush=True)
        print("warned", any("interrupted" in str(x.message) for x in w))
        for r in rs:
            print("run", r["ode_stopped_by"], r["loss"] <= mlpflow.loss(net, r["init"]),
                  r["ode_iterations"])
    """))
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                         env=env)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    t_sig = time.time()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    lines = out.splitlines()
    returned = float(lines[0].split()[1])
    assert returned - t_sig < 3, "train_many took %.1f s after Ctrl-C" % (returned - t_sig)
    assert lines[1] == "warned True"
    runs = [ln.split() for ln in lines[2:]]
    assert len(runs) == 4
    for _, why, better, _ in runs:
        assert why == "interrupt" and better == "True"

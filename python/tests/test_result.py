"""Result: a dict with a one-screen repr; res.save / mlpflow.load in the CLI's
RUN.json + RUN.npz format, bit for bit, self-describing (the network and its
data come back); the CLI reads the x of a Python-saved run."""
import json
import subprocess

import numpy as np
import pytest

import mlpflow
from conftest import cli_path

CLI = cli_path()


@pytest.fixture(scope="module")
def trained():
    X = np.random.default_rng(4).standard_normal((25, 2))
    t = mlpflow.TeacherNet([(2, "tanh", True), (1, "identity", False)], din=2, seed=2)
    net = mlpflow.Net([(3, "tanh", True), (1, "identity", False)], X, t(X),
                      weights=np.linspace(0.5, 1.5, 25), maxnorm=50.0)
    res = mlpflow.train(net, mlpflow.random_params(net, seed=1), maxT=50,
                        maxiterations_optim=200, progress=False)
    return net, res


def assert_bit_equal(a, b, where=""):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict)), where
    if isinstance(a, dict):
        assert set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            assert_bit_equal(a[k], b[k], where + "." + k)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes(), (where, a, b)
    else:
        assert a == b, (where, a, b)


def test_result_is_a_dict_with_a_short_repr(trained):
    _, res = trained
    assert isinstance(res, dict) and isinstance(res, mlpflow.Result)
    text = repr(res)
    assert len(text.splitlines()) <= 8 and len(text) < 1000
    for word in ("loss", "gnorm", res["ode_stopped_by"], res["optim_stopped_by"], "flow phase"):
        assert word in text
    assert res["options"]["maxT"] == 50 and res["net"]["type"] == "Net"
    assert res.network is trained[0]


def test_save_load_round_trip_is_bit_identical(trained, tmp_path):
    net, res = trained
    stem = res.save(tmp_path / "sub" / "R.npz")
    assert stem == str(tmp_path / "sub" / "R")
    back = mlpflow.load(tmp_path / "sub" / "R")
    assert isinstance(back, mlpflow.Result)
    assert_bit_equal(dict(res), dict(back))
    # self-describing: the network and its data are rebuilt, the loss is the same bits
    assert back.network is not net
    assert np.array_equal(back.network.weights, net.weights) and back.network.maxnorm == 50.0
    assert mlpflow.loss(back.network, back["x"]) == mlpflow.loss(net, res["x"])
    # saving the loaded result again writes the same files
    back.save(tmp_path / "again")
    for ext in (".json", ".npz"):
        a = (tmp_path / "sub" / ("R" + ext)).read_bytes()
        b = (tmp_path / ("again" + ext)).read_bytes()
        assert a == b.replace(b'"again.npz"', b'"R.npz"'), ext


def test_saved_json_has_the_cli_fields_in_order(trained, tmp_path):
    _, res = trained
    res.save(tmp_path / "R")
    meta = json.loads((tmp_path / "R.json").read_text())
    keys = list(meta)
    assert keys[:18] == ["version", "nparams", "loss", "ode_loss", "gnorm", "gnorm_regularized",
                         "converged", "ode_stopped_by", "optim_stopped_by", "alg", "optim_solver",
                         "ode_iterations", "optim_iterations", "ode_time_run", "optim_time_run",
                         "ode_wall_time", "total_time", "ntrajectory"]
    assert meta["options"]["maxnorm"] == 50 and meta["npz"]["file"] == "R.npz"
    with np.load(tmp_path / "R.npz") as z:
        assert {"x", "init", "ode_x", "trajectory_t", "trajectory_x", "loss_curve",
                "net_input", "net_target", "net_weights"} == set(z.files)


def test_train_many_results_save_and_label(trained, tmp_path):
    net, _ = trained
    x0s = np.stack([mlpflow.random_params(net, seed=s) for s in (1, 2)])
    runs = mlpflow.train_many(net, x0s, threads=2, maxT=5, maxiterations_optim=5,
                              progress=False)
    assert [r["start"] for r in runs] == [0, 1]
    runs[1].save(tmp_path / "m")
    assert mlpflow.load(tmp_path / "m")["start"] == 1
    assert mlpflow.plot.run_labels(runs) == ["start 0", "start 1"]


@pytest.mark.skipif(CLI is None, reason="the mlpflow CLI is not built")
def test_cli_reads_a_python_run_and_python_reads_a_cli_run(trained, tmp_path):
    net, res = trained
    res.save(tmp_path / "R")
    np.save(tmp_path / "X.npy", net.input)
    np.save(tmp_path / "Y.npy", net.target)
    np.save(tmp_path / "W.npy", net.weights)
    spec = {"layers": res["net"]["layers"], "input": "X.npy", "target": "Y.npy",
            "weights": "W.npy", "train": {"maxT": 3, "maxiterations_optim": 3}}
    (tmp_path / "S.json").write_text(json.dumps(spec))

    def cli(*args):
        p = subprocess.run([CLI] + list(args), cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout
    for params in ("R.npz", "R.json"):
        assert json.loads(cli("loss", "--spec", "S.json", "--params", params))["loss"] == \
            mlpflow.loss(net, res["x"])
    # RUN.npz:KEY takes another array of the run
    assert json.loads(cli("loss", "--spec", "S.json", "--params", "R.npz:init"))["loss"] == \
        mlpflow.loss(net, res["init"])
    bad = subprocess.run([CLI, "loss", "--spec", "S.json", "--params", "R.npz:trajectory_x"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "trajectory_x has" in bad.stderr
    for cmd in ("gradient", "hessian", "spectrum"):
        cli(cmd, "--spec", "S.json", "--params", "R.npz", "-o", cmd + ".npy")
    assert np.array_equal(np.load(tmp_path / "gradient.npy"), mlpflow.gradient(net, res["x"]))
    cli("predict", "--spec", "S.json", "--params", "R.npz", "--input", "X.npy", "-o", "P.npy")
    assert np.allclose(np.load(tmp_path / "P.npy"), net(res["x"]), rtol=0, atol=1e-14)
    cli("train", "--spec", "S.json", "--quiet", "-o", "C")
    run = mlpflow.load(tmp_path / "C")
    assert isinstance(run, mlpflow.Result) and run.network is None and run["spec"] == "S.json"
    assert run["trajectory"]["x"].shape == (run["loss_curve"].size, net.nparams)
    assert isinstance(run["ode_time_run"], float)
    assert mlpflow.loss(net, run["x"]) == run["loss"]
    assert "spec S.json" in repr(run)


def test_result_pickles_with_its_network_and_shows_a_classification(trained):
    import pickle
    net, res = trained
    back = pickle.loads(pickle.dumps(res))
    assert_bit_equal(dict(res), dict(back))
    assert mlpflow.loss(back.network, back["x"]) == mlpflow.loss(net, res["x"])
    labelled = mlpflow.Result(res, classification={"kind": "global minimum"})
    assert "classification {'kind': 'global minimum'}" in repr(labelled)


def test_every_objective_type_saves_and_reloads_its_network(tmp_path):
    t = mlpflow.TeacherNet([(2, "sigmoid2", False), (1, "identity", False)], din=2, seed=1)
    X = np.random.default_rng(0).standard_normal((20, 2))
    plain = mlpflow.Net([(2, "tanh", True), (1, "identity", False)], X, t(X))
    nets = {"neti": mlpflow.NetI(t, [(3, "sigmoid2", False), (1, "identity", False)]),
            "gh": mlpflow.gauss_hermite_net(t, [(2, "tanh", True), (1, "identity", False)],
                                            order=6),
            "sub": mlpflow.LinearSubspace(mlpflow.random_params(plain),
                                          np.ones(plain.nparams)).objective(plain, 0.2)}
    for name, net in nets.items():
        res = mlpflow.train(net, np.full(net.nparams, 0.1), maxT=10, maxiterations_optim=10,
                            progress=False)
        back = mlpflow.load(res.save(tmp_path / name))
        assert type(back.network) is type(net), name
        assert back.network.describe() == net.describe(), name
        assert mlpflow.loss(back.network, back["x"]) == mlpflow.loss(net, res["x"]), name

"""The Python package and the mlpflow CLI give the same numbers on the same inputs."""
import json
import subprocess

import numpy as np
import pytest

import mlpflow
from conftest import cli_path

CLI = cli_path()
pytestmark = pytest.mark.skipif(CLI is None, reason="the mlpflow CLI is not built")


@pytest.fixture
def problem(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((37, 2))
    Y = np.tanh(X[:, :1] - X[:, 1:])
    W = rng.uniform(0.5, 1.5, 37)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    np.save(tmp_path / "W.npy", W)
    layers = [(4, "softplus", True), (1, "identity", False)]
    spec = {"layers": [list(L) for L in layers], "input": "X.npy", "target": "Y.npy",
            "weights": "W.npy", "loss": "mse"}
    (tmp_path / "S.json").write_text(json.dumps(spec))
    net = mlpflow.Net(layers=layers, input=X, target=Y, weights=W)
    x = mlpflow.random_params(net, seed=9) + 0.05
    np.save(tmp_path / "P.npy", x)
    return tmp_path, net, x


def run(*args):
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_loss_gradient_hessian_spectrum_predict_init(problem):
    d, net, x = problem
    S, P = d / "S.json", d / "P.npy"
    out = json.loads(run("loss", "--spec", S, "--params", P))
    assert out["loss"] == pytest.approx(mlpflow.loss(net, x), rel=1e-15)
    run("gradient", "--spec", S, "--params", P, "-o", d / "G.npy")
    np.testing.assert_allclose(np.load(d / "G.npy"), mlpflow.gradient(net, x), rtol=1e-13,
                               atol=1e-15)
    run("hessian", "--spec", S, "--params", P, "-o", d / "H.npy")
    np.testing.assert_allclose(np.load(d / "H.npy"), mlpflow.hessian(net, x), rtol=1e-12,
                               atol=1e-14)
    run("spectrum", "--spec", S, "--params", P, "-o", d / "E.npy")
    np.testing.assert_allclose(np.load(d / "E.npy"), mlpflow.hessian_spectrum(net, x)[0],
                               rtol=1e-10, atol=1e-12)
    run("predict", "--spec", S, "--params", P, "--input", d / "X.npy", "-o", d / "Yp.npy")
    np.testing.assert_allclose(np.load(d / "Yp.npy"), mlpflow.predict(net, x, net.input),
                               rtol=1e-15)
    run("init", "--spec", S, "--seed", 7, "-o", d / "I.npy")
    np.testing.assert_array_equal(np.load(d / "I.npy").reshape(-1),
                                  mlpflow.random_params(net, seed=7))


def test_train_same_result(problem):
    from pathlib import Path
    if Path(CLI).resolve().parent != Path(mlpflow.lib_path).resolve().parent:
        pytest.skip("the CLI is not from the library's build (training code may differ)")
    d, net, x = problem
    opts = dict(maxT=100, maxiterations_optim=20, optim_solver="newtontr")
    args = []
    for k, v in opts.items():
        args += ["--" + k, v]
    run("train", "--spec", d / "S.json", "--init", d / "P.npy", "-o", d / "RUN", "--quiet", *args)
    z = np.load(d / "RUN.npz")
    r = mlpflow.train(net, x, **opts)
    np.testing.assert_allclose(z["ode_x"], r["ode_x"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(z["x"], r["x"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(z["trajectory_t"], r["trajectory"]["t"])
    meta = json.loads((d / "RUN.json").read_text())
    assert meta["ode_stopped_by"] == r["ode_stopped_by"]
    assert meta["optim_iterations"] == r["optim_iterations"]


@pytest.mark.parametrize("data", [{"gaussian": "exact"}, {"gaussian": "gauss-hermite", "order": 30}])
def test_gaussian_objectives_match_cli(tmp_path, data):
    tl = [(3, "softplus", True), (1, "identity", False)]
    sl = [(2, "softplus", True), (1, "identity", False)]
    teacher = mlpflow.TeacherNet(layers=tl, din=2, seed=4)
    if data["gaussian"] == "exact":
        net = mlpflow.NetI(teacher, sl)
    else:
        net = mlpflow.gauss_hermite_net(teacher, sl, order=30)
    spec = {"layers": [list(L) for L in sl], "teacher": {"layers": [list(L) for L in tl],
                                                          "din": 2, "seed": 4}, "data": data}
    (tmp_path / "S.json").write_text(json.dumps(spec))
    x = mlpflow.random_params(net, seed=2)
    np.save(tmp_path / "P.npy", x)
    out = json.loads(run("loss", "--spec", tmp_path / "S.json", "--params", tmp_path / "P.npy"))
    assert out["loss"] == pytest.approx(mlpflow.loss(net, x), rel=1e-14)
    run("gradient", "--spec", tmp_path / "S.json", "--params", tmp_path / "P.npy", "-o",
        tmp_path / "G.npy")
    np.testing.assert_allclose(np.load(tmp_path / "G.npy"), mlpflow.gradient(net, x),
                               rtol=1e-12, atol=1e-15)

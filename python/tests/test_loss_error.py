"""The exact Gaussian objective's loss error bound in a training result: the
student that embeds its teacher (one teacher unit split into two with output
weights c + A and -A) has true loss 0, and the computed loss, pure rounding,
lies within the result's loss_error; finite data has no estimate (NaN)."""
import json
import math

import numpy as np

import mlpflow


def split_embedding(A):
    teacher = mlpflow.TeacherNet(layers=[(2, "sigmoid2", False), (1, "identity", False)], din=3,
                                 params=np.array([0.8, -0.3, 0.5, -0.2, 0.9, 0.4, 1.1, -0.7]))
    neti = mlpflow.NetI(teacher, [(3, "sigmoid2", False), (1, "identity", False)])
    w0, w1 = [0.8, -0.3, 0.5], [-0.2, 0.9, 0.4]
    return neti, np.array(w0 + w0 + w1 + [1.1 + A, -A, -0.7])


def test_result_loss_error_bounds_the_rounding(tmp_path):
    bounds = []
    for A in (1.0, 100.0, 1e4):
        neti, x = split_embedding(A)
        res = mlpflow.train(neti, x, alg="none", optim_solver="none")
        assert math.isfinite(res["loss_error"]) and abs(res["loss"]) <= res["loss_error"]
        bounds.append(res["loss_error"])
    assert bounds[0] < bounds[1] < bounds[2] < 1e-6   # grows like A^2 eps
    res.save(tmp_path / "R")
    assert json.loads((tmp_path / "R.json").read_text())["loss_error"] == res["loss_error"]
    assert mlpflow.load(tmp_path / "R")["loss_error"] == res["loss_error"]


def test_finite_data_has_no_loss_error():
    X = np.random.default_rng(1).standard_normal((20, 2))
    net = mlpflow.Net(layers=[(2, "tanh", True), (1, "identity", True)], input=X,
                      target=np.sin(X[:, :1]))
    res = mlpflow.train(net, mlpflow.random_params(net, seed=1), alg="none", optim_solver="none")
    assert math.isnan(res["loss_error"])

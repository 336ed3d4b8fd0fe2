"""Infinite Gaussian data: NetI (exact expectation) and gauss_hermite_net."""
import math

import numpy as np
import pytest

import mlpflow


def erf_committee_loss(Ws, a, Wt, b):
    """Saad & Solla: E[(sum a_i g(ws_i.x) - sum b_k g(wt_k.x))^2] for g = erf(./sqrt2)."""
    W = np.vstack([Ws, Wt])
    c = np.concatenate([a, -b])
    C = W @ W.T
    d = np.sqrt(1 + np.diag(C))
    K = 2 / math.pi * np.arcsin(C / np.outer(d, d))
    return c @ K @ c


def test_neti_erf_closed_form_vs_numpy():
    teacher = mlpflow.TeacherNet(layers=[(4, "sigmoid2", False), (1, "identity", False)], din=4,
                                 seed=1)
    neti = mlpflow.NetI(teacher, [(3, "sigmoid2", False), (1, "identity", False)])
    assert neti.nsamples == 0
    x = mlpflow.random_params(neti, seed=2)
    ds, dt = mlpflow.params_dict(neti, x), mlpflow.params_dict(teacher, teacher.params)
    ref = erf_committee_loss(ds["w1"], ds["w2"][0], dt["w1"], dt["w2"][0])
    assert mlpflow.loss(neti, x) == pytest.approx(ref, rel=1e-12)
    # gradient vs central differences of the exact loss
    g = mlpflow.gradient(neti, x)
    h = 1e-6
    for i in range(0, neti.nparams, 3):
        e = np.zeros(neti.nparams)
        e[i] = h
        fd = (mlpflow.loss(neti, x + e) - mlpflow.loss(neti, x - e)) / (2 * h)
        assert g[i] == pytest.approx(fd, abs=1e-7)


def test_neti_matches_gauss_hermite_and_samples():
    teacher = mlpflow.TeacherNet(layers=[(3, "softplus", True), (1, "identity", True)], din=2,
                                 seed=5)
    student = [(4, "softplus", True), (1, "identity", True)]
    neti = mlpflow.NetI(teacher, student)
    gh = mlpflow.gauss_hermite_net(teacher, student, order=40)
    assert gh.input.shape[1] == 2 and gh.weights is not None
    x = mlpflow.random_params(neti, seed=3)
    assert mlpflow.loss(gh, x) == pytest.approx(mlpflow.loss(neti, x), rel=1e-8)
    np.testing.assert_allclose(mlpflow.gradient(gh, x), mlpflow.gradient(neti, x), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(mlpflow.hessian(gh, x), mlpflow.hessian(neti, x), rtol=1e-5,
                               atol=1e-8)
    X = np.random.default_rng(0).standard_normal((200000, 2))
    mc = mlpflow.Net(layers=student, input=X, target=teacher(X))
    assert mlpflow.loss(mc, x) == pytest.approx(mlpflow.loss(neti, x), rel=2e-2)


def test_gaussian_errors():
    t3 = mlpflow.TeacherNet(layers=[(2, "softplus", True), (1, "identity", False)], din=3)
    with pytest.raises(mlpflow.Error):
        mlpflow.gauss_hermite_net(t3, [(2, "softplus", True), (1, "identity", False)])
    deep = [(2, "softplus", True), (2, "softplus", True), (1, "identity", False)]
    with pytest.raises(mlpflow.Error) as e:
        mlpflow.NetI(t3, deep)
    assert e.value.status_name in ("MLPF_EUNSUPPORTED", "MLPF_EINVAL")
    with pytest.raises(ValueError, match="teacher"):
        mlpflow.NetI("not a teacher", deep)

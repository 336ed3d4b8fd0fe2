"""Landscape utilities: trajectory distances, cosine similarity, subspaces, surgery."""
import numpy as np
import pytest

import mlpflow


@pytest.fixture(scope="module")
def minimum():
    X = np.random.default_rng(2).standard_normal((60, 2))
    teacher = mlpflow.TeacherNet(layers=[(3, "softplus", True), (1, "identity", False)], din=2,
                                 seed=4)
    net = mlpflow.Net(layers=[(2, "softplus", True), (1, "identity", False)], input=X,
                      target=teacher(X))
    r = mlpflow.train(net, mlpflow.random_params(net, seed=1), maxT=1e4, maxtime_optim=5)
    assert r["gnorm"] < 1e-12
    return net, r


def test_trajectory_distance_self_zero_and_matches(minimum):
    net, r = minimum
    d = mlpflow.trajectory_distance(r, r)
    assert np.all(d["distances"] == 0)
    np.testing.assert_array_equal(d["ref_times"], r["trajectory"]["t"])
    np.testing.assert_array_equal(d["match"], np.arange(r["trajectory"]["t"].size))
    A = np.array([[0.0, 0.0], [3.0, 4.0]])
    B = np.array([[0.0, 1.0], [3.0, 3.0], [10.0, 10.0]])
    d = mlpflow.trajectory_distance(A, B)
    np.testing.assert_allclose(d["distances"], [1.0, 1.0])
    np.testing.assert_array_equal(d["match"], [0, 1])
    assert d["times"] is None and d["ref_times"] is None
    with pytest.raises(ValueError, match="reference"):
        mlpflow.trajectory_distance(A, np.zeros((2, 3)))


def test_cosine_similarity():
    assert mlpflow.cosine_similarity([1, 0], [1, 1]) == pytest.approx(2 ** -0.5)
    assert mlpflow.cosine_similarity([1, 2, 3], [-2, -4, -6]) == pytest.approx(-1)
    assert mlpflow.cosine_similarity([0, 0], [1, 1]) == 0
    with pytest.raises(ValueError, match="b"):
        mlpflow.cosine_similarity([1, 2], [1, 2, 3])


def test_split_neuron_keeps_function_and_criticality(minimum):
    net, r = minimum
    X = net.input
    for gamma in (0.5, 0.2, 1.7):
        net3, x3 = mlpflow.split_neuron(net, r["x"], 1, gamma, 0)
        assert net3.nparams == net.nparams + 4 and net3.layers[0][0] == 3
        np.testing.assert_allclose(mlpflow.predict(net3, x3, X), mlpflow.predict(net, r["x"], X),
                                   atol=1e-13)
        assert mlpflow.loss(net3, x3) == pytest.approx(r["loss"], rel=1e-10, abs=1e-15)
        assert np.abs(mlpflow.gradient(net3, x3)).max() <= 1e-12
        W = mlpflow.params_dict(net3, x3)
        np.testing.assert_array_equal(W["w1"][0], W["w1"][2])   # copy inserted at 0
    with pytest.raises(mlpflow.Error):
        mlpflow.split_neuron(net, r["x"], 7, 0.5)


def test_grow_and_shrink(minimum):
    net, r = minimum
    X = net.input
    net4, x4 = mlpflow.grow_net(net, r["x"], extra=2, seed=3)
    assert net4.layers[0][0] == 4
    np.testing.assert_allclose(mlpflow.predict(net4, x4, X), mlpflow.predict(net, r["x"], X),
                               atol=1e-13)
    net2, x2 = mlpflow.shrink_net(net4, x4, [2, 3])
    np.testing.assert_allclose(x2, r["x"], atol=0)
    assert mlpflow.loss(net2, x2) == pytest.approx(r["loss"], rel=1e-12, abs=1e-16)
    t = mlpflow.TeacherNet(layers=[(3, "tanh", True), (1, "identity", False)], din=2, seed=1)
    t2, xt2 = mlpflow.shrink_net(t, t.params, 1)
    assert isinstance(t2, mlpflow.TeacherNet) and t2.layers[0][0] == 2


def test_subspace_minloss_at_minimum(minimum):
    net, r = minimum
    xmin = r["x"]
    rng = np.random.default_rng(0)
    v1, v2 = rng.standard_normal(net.nparams), rng.standard_normal(net.nparams)
    L, x = mlpflow.subspace_minloss(net, xmin, v1, v2, 0.0, 0.0)
    assert L == pytest.approx(r["loss"], abs=1e-14)
    plane = mlpflow.LinearSubspace(xmin, v1, v2)
    L2, _ = plane.minloss(net, 0.0, 0.0)
    assert L2 == pytest.approx(r["loss"], abs=1e-14)
    sub = plane.objective(net, 0.0, 0.0)
    assert sub.nparams == net.nparams - 2
    np.testing.assert_allclose(sub.point(), xmin, atol=1e-12)
    assert mlpflow.loss(sub, np.zeros(sub.nparams)) == pytest.approx(r["loss"], abs=1e-16)
    # away from the minimum the minimised loss is >= the minimum and <= the plain loss
    Lp = mlpflow.subspace_minloss(net, xmin, v1, v2, 0.3, -0.2)[0]
    xp = xmin + 0.3 * v1 - 0.2 * v2
    assert r["loss"] - 1e-14 <= Lp <= mlpflow.loss(net, xp) + 1e-12
    grid = plane.minloss_grid(net, np.array([-0.02, 0.0, 0.02]), np.array([0.0, 0.02]))
    assert grid.shape == (3, 2)
    assert grid[1, 0] == pytest.approx(r["loss"], abs=1e-12)
    assert np.all(grid >= r["loss"] - 1e-14)
    line = mlpflow.subspace_minloss_grid(net, xmin, v1, None, np.array([0.0, 0.1]))
    assert line.shape == (2, 1)
    # dependent directions span a line: the complement has P - 1 dimensions
    assert mlpflow.LinearSubspace(xmin, v1, 2 * v1).objective(net).nparams == net.nparams - 1
    with pytest.raises(mlpflow.Error, match="zero"):
        mlpflow.subspace_minloss(net, xmin, 0 * v1, v2, 0.0, 0.0)
    with pytest.raises(ValueError, match="v1"):
        mlpflow.subspace_minloss(net, xmin, v1[:3], v2, 0.0, 0.0)


def test_subspace_options(minimum):
    net, r = minimum
    rng = np.random.default_rng(1)
    v1, v2 = rng.standard_normal(net.nparams), rng.standard_normal(net.nparams)
    # no minimiser iterations: the loss at the plane point itself
    L, x = mlpflow.subspace_minloss(net, r["x"], v1, v2, 0.2, 0.1, maxiterations_optim=0)
    assert L == pytest.approx(mlpflow.loss(net, r["x"] + 0.2 * v1 + 0.1 * v2), rel=1e-12)
    # tauinv 0 on every complement coordinate freezes them as well
    L0, _ = mlpflow.subspace_minloss(net, r["x"], v1, v2, 0.2, 0.1,
                                     tauinv=np.zeros(net.nparams - 2))
    assert L0 == pytest.approx(L, rel=1e-12)
    L1, _ = mlpflow.subspace_minloss(net, r["x"], v1, v2, 0.2, 0.1, maxiterations_optim=50)
    assert L1 < L


def test_subspace_net_has_no_network(minimum):
    net, r = minimum
    sub = mlpflow.LinearSubspace(r["x"], np.ones(net.nparams)).objective(net, 0.1)
    z = np.zeros(sub.nparams)
    assert mlpflow.gradient(sub, z).shape == (sub.nparams,)
    for f in (lambda: mlpflow.random_params(sub), lambda: mlpflow.params_dict(sub, z),
              lambda: mlpflow.predict(sub, z, net.input), lambda: sub.layer_shape(0),
              lambda: mlpflow.split_neuron(sub, z, 0, 0.5)):
        with pytest.raises(ValueError, match="net"):
            f()
    with pytest.raises(ValueError, match="net"):
        mlpflow.loss("not a net", z)

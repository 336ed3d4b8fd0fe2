"""What did my run find: classify and channels from Python (numerics in C)."""
import numpy as np
import pytest

import mlpflow


@pytest.fixture(scope="module")
def tanh_run():
    """A 2-unit tanh student of a 3-unit teacher: gradient flow ends in a channel
    (the pair's output weights near +-700, input vectors merging)."""
    X = np.random.default_rng(1).standard_normal((200, 2))
    teacher = mlpflow.TeacherNet(layers=[(3, "tanh", True), (1, "identity", False)], din=2, seed=3)
    net = mlpflow.Net(layers=[(2, "tanh", True), (1, "identity", False)], input=X,
                      target=teacher(X))
    res = mlpflow.train(net, mlpflow.random_params(net, seed=2), maxT=1e4)
    return net, res


def test_classify_keys_and_channel(tanh_run):
    net, res = tanh_run
    c = mlpflow.classify(net, res)
    assert set(c) >= {"kind", "index", "n_zero", "n_positive", "strict", "zero_tol", "loss",
                      "gnorm", "eigenvalues", "channels"}
    assert c["kind"] == "channel" and c["index"] == 0
    assert c["n_zero"] + c["n_positive"] + c["index"] == net.nparams
    assert np.all(np.diff(c["eigenvalues"]) >= 0)
    ch, = c["channels"]
    assert ch["type"] == "pair" and ch["units"] == [0, 1] and ch["layer"] == 0
    assert ch["glu_error"] < 1e-4 and ch["amplification"] > 100
    # the GLU parameters follow from the pair as documented (v = (a_i - a_j)(w_i - w_j)/2,
    # up to the sign symmetry of tanh, which the returned cosine shows)
    W = mlpflow.params_dict(net, res["x"])["w1"]
    a = mlpflow.params_dict(net, res["x"])["w2"][0]
    s = np.sign(ch["cosine"])
    np.testing.assert_allclose(ch["w"], (W[0] + s * W[1]) / 2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ch["v"][0], (a[0] - s * a[1]) * (W[0] - s * W[1]) / 2,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ch["c"], [a[0] + s * a[1]], rtol=1e-10)
    # from a result: growth of |a| and loss decrease along the last decades of flow
    assert np.isfinite(ch["growth_exponent"]) and ch["growth_exponent"] > 0
    assert np.isfinite(ch["loss_rate"])
    # without channel detection the same point looks like a (flat) minimum
    c2 = mlpflow.classify(net, res["x"], channels=False)
    assert c2["kind"] in ("minimum", "not_critical") and c2["channels"] == []


def test_split_of_strict_minimum_counts_zeros():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 2))
    teacher = mlpflow.TeacherNet(layers=[(2, "softplus", True), (1, "identity", False)], din=2,
                                 params=[1.0, -0.7, 0.2, -0.4, 1.2, -0.3, 1.5, -0.8])
    net = mlpflow.Net(layers=[(2, "softplus", True), (1, "identity", False)], input=X,
                      target=teacher(X))
    res = mlpflow.train(net, teacher.params + 0.05 * rng.standard_normal(8), alg="none",
                        optim_solver="newtontr")
    c = mlpflow.classify(net, res)
    assert c["kind"] == "minimum" and c["strict"] and c["n_zero"] == 0
    net3, x3 = mlpflow.split_neuron(net, res["x"], 1, 0.25)
    c3 = mlpflow.classify(net3, x3)
    assert c3["kind"] == "minimum" and not c3["strict"] and c3["n_zero"] == 4
    ev = np.abs(c3["eigenvalues"])
    assert np.sort(ev)[4] > 1e3 * c3["zero_tol"]      # zeros far below the rest
    # tol overrides the derived threshold
    c4 = mlpflow.classify(net3, x3, tol=10.0)
    assert c4["zero_tol"] == 10.0 and c4["n_zero"] > 4


def test_not_critical_and_neti():
    teacher = mlpflow.TeacherNet(layers=[(2, "sigmoid2", False), (1, "identity", False)], din=3,
                                 seed=1)
    neti = mlpflow.NetI(teacher, [(2, "sigmoid2", False), (1, "identity", False)])
    c = mlpflow.classify(neti, mlpflow.random_params(neti, seed=5))
    assert c["kind"] == "not_critical" and c["gnorm"] > c["gnorm_tol"]
    c = mlpflow.classify(neti, teacher.params)
    assert c["kind"] == "minimum" and c["loss"] < 1e-28


def test_channels_constructed_pair_gaussian():
    teacher = mlpflow.TeacherNet(layers=[(1, "sigmoid2", False), (1, "identity", False)], din=2,
                                 seed=1)
    neti = mlpflow.NetI(teacher, [(2, "sigmoid2", False), (1, "identity", False)])
    w, v, s = np.array([0.6, -0.3]), np.array([0.4, 0.9]), 1e3
    x = np.concatenate([w + v / (2 * s), w - v / (2 * s), [0.1 + s, 0.1 - s]])
    ch, = mlpflow.channels(neti, x)
    np.testing.assert_allclose(ch["v"][0], v, rtol=1e-9)
    np.testing.assert_allclose(ch["c"], [0.2], rtol=1e-9)
    assert ch["glu_error"] < 1e-5 and np.isnan(ch["growth_exponent"])
    assert mlpflow.channels(neti, np.concatenate([w + v / 2, w - v / 2, [1.1, -0.9]])) == []


def test_find_critical_point_returns_to_a_saddle():
    """The averaging one-unit student of two orthonormal erf teachers, split in
    halves, is a first-order saddle; the search from 1e-6 away goes back to it."""
    teacher = mlpflow.TeacherNet(layers=[(2, "sigmoid2", False), (1, "identity", False)], din=2,
                                 params=[1, 0, 0, 1, 1, 1])
    n1 = mlpflow.NetI(teacher, [(1, "sigmoid2", False), (1, "identity", False)])
    cp1 = mlpflow.find_critical_point(n1, [0.3, 0.5, 1.5])
    assert cp1["gnorm"] <= 1e-14 and cp1["classification"]["kind"] == "minimum"
    n2, x2 = mlpflow.split_neuron(n1, cp1["x"], 0, 0.5)
    x0 = x2 + 1e-6 * np.random.default_rng(1).standard_normal(x2.size)
    cp = mlpflow.find_critical_point(n2, x0)
    assert cp["gnorm"] <= 1e-13 and abs(cp["loss"] - cp1["loss"]) < 1e-14
    c = cp["classification"]
    assert c["kind"] == "saddle" and c["index"] == 1 and c["n_zero"] >= 1
    # a minimiser from the same start leaves the saddle
    r = mlpflow.train(n2, x0, maxT=1e4)
    assert r["loss"] < cp["loss"] - 1e-3


@pytest.mark.parametrize("name", ["identity", "relu", "sigmoid", "tanh", "softplus", "gelu",
                                  "silu", "selu", "sigmoid2", "normal_cdf", "g", "square",
                                  "cube", "exp", ("poly", [0.3, -1.0, 0.5, 0.25, -0.1])])
def test_activation_derivatives_against_differences(name):
    """derivative k is the central difference of derivative k - 1 (k = 1, 2, 3)."""
    z = np.linspace(-2.3, 2.1, 9) + 0.05      # away from relu's / selu's kink at 0
    h = 1e-5
    for k in (1, 2, 3):
        fd = (mlpflow.activation(name, z + h, k - 1) - mlpflow.activation(name, z - h, k - 1)) / (2 * h)
        np.testing.assert_allclose(mlpflow.activation(name, z, k), fd, rtol=1e-6, atol=1e-7,
                                   err_msg="%s derivative %d" % (name, k))
    assert mlpflow.activation("tanh", 0.5) == pytest.approx(np.tanh(0.5), rel=1e-15)
    with pytest.raises(ValueError, match="derivative"):
        mlpflow.activation("tanh", z, 4)


def test_hidden_layers(tanh_run):
    net, res = tanh_run
    X = net.input[:7]
    layers = mlpflow.hidden(net, res["x"], X)
    d = mlpflow.params_dict(net, res["x"])
    z1 = X @ d["w1"][:, :2].T + d["w1"][:, 2]
    np.testing.assert_allclose(layers[0]["z"], z1, rtol=1e-13)
    np.testing.assert_allclose(layers[0]["a"], np.tanh(z1), rtol=1e-13)
    np.testing.assert_allclose(layers[1]["a"], mlpflow.predict(net, res["x"], X), rtol=1e-13)
    with pytest.raises(ValueError, match="columns"):
        mlpflow.hidden(net, res["x"], np.zeros((3, 5)))


def test_channel_limit_end_of_channel(tanh_run):
    """The channel's GLU limit computes what the pair computes (to O(1/a^2)), and
    minimising it gives the loss at the end of the channel, below the current one."""
    net, res = tanh_run
    ch, = mlpflow.channels(net, res)
    net2, x2 = mlpflow.channel_limit(net, res, ch)
    assert isinstance(net2, mlpflow.GLUNet) and net2.nparams == 3 + 1 + 3
    np.testing.assert_allclose(net2(x2, net.input), mlpflow.predict(net, res["x"], net.input),
                               rtol=0, atol=1e-5)
    l_now = mlpflow.loss(net, res["x"])
    assert abs(mlpflow.loss(net2, x2) - l_now) < 1e-6 * l_now
    end = mlpflow.train(net2, x2, alg="none", optim_solver="newtontr")
    assert end["gnorm"] < 1e-12 and end["loss"] <= l_now
    c = mlpflow.classify(net2, end)
    assert c["kind"] == "minimum" and c["channels"] == []
    with pytest.raises(ValueError, match="does not belong"):
        mlpflow.channel_limit(net, res["x"], dict(ch, units=[0, 5]))


def test_channel_limit_gaussian_input():
    """For infinite Gaussian data (NetI, Din <= 2) the GLU net is evaluated on
    Gauss-Hermite nodes; its loss at the limit point equals the exact loss of the
    pair up to the O(1/s^2) remainder of the pair's expansion."""
    teacher = mlpflow.TeacherNet(layers=[(2, "sigmoid2", False), (1, "identity", False)], din=2,
                                 params=[1.0, 0.2, -0.3, 0.9, 0.8, -0.6])
    neti = mlpflow.NetI(teacher, [(2, "sigmoid2", False), (1, "identity", False)])
    w, v = np.array([0.6, -0.3]), np.array([0.4, 0.9])
    gaps = []
    for s in (1e2, 1e3):
        x = np.concatenate([w + v / (2 * s), w - v / (2 * s), [0.1 + s, 0.1 - s]])
        ch, = mlpflow.channels(neti, x)
        net2, x2 = mlpflow.channel_limit(neti, x, ch)
        assert net2.input.shape[1] == 2 and net2.weights is not None
        gaps.append(abs(mlpflow.loss(net2, x2) - mlpflow.loss(neti, x)))
    assert gaps[1] < 0.03 * gaps[0] and gaps[1] < 2e-7, gaps      # 6.9e-6 -> 6.9e-8 measured

"""Net, parameters and exact loss / gradient / Hessian against an independent numpy
implementation (backpropagation plus finite differences for the Hessian)."""
import math

import numpy as np
import pytest

import mlpflow
from conftest import np_forward, np_loss_grad


def fd_hessian(f, x, h=1e-5):
    """Central differences of a gradient function."""
    P = x.size
    H = np.empty((P, P))
    for i in range(P):
        e = np.zeros(P)
        e[i] = h
        H[:, i] = (f(x + e) - f(x - e)) / (2 * h)
    return H


NETS = [
    ([(5, "softplus", True), (1, "identity", False)], 2, 1),
    ([(4, "sigmoid", False), (1, "identity", True)], 3, 1),
    ([(3, "tanh", True), (2, "sigmoid2", True), (2, "identity", True)], 2, 2),
    ([(4, ["softplus", "gelu", "silu", "g"], True), (1, "identity", False)], 2, 1),
    ([(3, "normal_cdf", True), (2, "cube", False)], 1, 2),
    ([(2, "square", True), (1, "exp", False)], 2, 1),
]


@pytest.mark.parametrize("layers,din,dout", NETS)
def test_loss_gradient_hessian_vs_numpy(layers, din, dout, rng):
    X = rng.standard_normal((23, din))
    Y = rng.standard_normal((23, dout))
    w = rng.uniform(0.5, 2.0, 23)
    for weights in (None, w):
        net = mlpflow.Net(layers=layers, input=X, target=Y, weights=weights)
        x = mlpflow.random_params(net, seed=3) + 0.1 * rng.standard_normal(net.nparams)
        L, g = np_loss_grad(layers, x, X, Y, weights)
        assert mlpflow.loss(net, x) == pytest.approx(L, rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(mlpflow.gradient(net, x), g, rtol=1e-10, atol=1e-12)
        H = mlpflow.hessian(net, x)
        np.testing.assert_allclose(H, H.T, atol=1e-12)
        Hfd = fd_hessian(lambda z: np_loss_grad(layers, z, X, Y, weights)[1], x)
        np.testing.assert_allclose(H, Hfd, rtol=1e-5, atol=1e-6 * max(1, np.abs(H).max()))
        np.testing.assert_allclose(mlpflow.predict(net, x, X), np_forward(layers, x, X)[0][-1],
                                   rtol=1e-13, atol=1e-14)


def test_poly_activation(rng):
    X = rng.standard_normal((17, 2))
    Y = rng.standard_normal((17, 1))
    layers = [(3, ("poly", [0.5, 1.0, -0.25, 0.1]), True), (1, "identity", False)]
    net = mlpflow.Net(layers=layers, input=X, target=Y)
    x = mlpflow.random_params(net, seed=2)
    W = x[:9].reshape(3, 3)
    u = X @ W[:, :2].T + W[:, 2]
    h = 0.5 + u - 0.25 * u ** 2 + 0.1 * u ** 3
    y = h @ x[9:12]
    assert mlpflow.loss(net, x) == pytest.approx(np.mean((y - Y[:, 0]) ** 2), rel=1e-12)


@pytest.mark.parametrize("N", list(range(1, 18)))
def test_loss_every_residue_of_N(N, rng):
    # the reference system's loss was wrong for N mod 8 in {3, 5, 6, 7}
    X = rng.standard_normal((N, 2))
    Y = rng.standard_normal((N, 1))
    layers = [(4, "softplus", True), (1, "identity", False)]
    net = mlpflow.Net(layers=layers, input=X, target=Y)
    x = mlpflow.random_params(net, seed=N)
    L, g = np_loss_grad(layers, x, X, Y)
    assert mlpflow.loss(net, x) == pytest.approx(L, rel=1e-13)
    np.testing.assert_allclose(mlpflow.gradient(net, x), g, rtol=1e-11, atol=1e-13)


def test_crossentropy_labels_and_onehot(rng):
    X = rng.standard_normal((30, 2))
    labels = rng.integers(0, 3, 30)
    onehot = np.eye(3)[labels]
    layers = [(4, "tanh", True), (3, "softmax", True)]
    a = mlpflow.Net(layers=layers, input=X, target=labels, loss="crossentropy")
    b = mlpflow.Net(layers=layers, input=X, target=onehot, loss="crossentropy")
    x = mlpflow.random_params(a, seed=5)
    W1 = x[:12].reshape(4, 3)
    W2 = x[12:].reshape(3, 5)
    h = np.tanh(X @ W1[:, :2].T + W1[:, 2])
    z = h @ W2[:, :4].T + W2[:, 4]
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    ref = -np.mean(logp[np.arange(30), labels])
    assert mlpflow.loss(a, x) == pytest.approx(ref, rel=1e-12)
    assert mlpflow.loss(b, x) == pytest.approx(ref, rel=1e-12)
    np.testing.assert_allclose(mlpflow.gradient(a, x), mlpflow.gradient(b, x), atol=1e-13)
    Y = mlpflow.predict(a, x, X)
    np.testing.assert_allclose(Y.sum(1), 1, atol=1e-14)


def test_hessian_spectrum_matches_numpy(small_net):
    x = mlpflow.random_params(small_net, seed=1)
    H = mlpflow.hessian(small_net, x)
    ev, V = mlpflow.hessian_spectrum(small_net, x)
    assert np.all(np.diff(ev) >= 0)
    np.testing.assert_allclose(ev, np.linalg.eigvalsh(H), atol=1e-10)
    np.testing.assert_allclose(H @ V, V * ev, atol=1e-9)
    ev2, V2 = mlpflow.hessian_spectrum(small_net, x, vectors=False)
    assert V2 is None and np.allclose(ev, ev2)


def test_params_dict_roundtrip(small_net):
    x = mlpflow.random_params(small_net, seed=4)
    d = mlpflow.params_dict(small_net, x)
    assert list(d) == ["w1", "w2"]
    assert d["w1"].shape == (3, 3) and d["w2"].shape == (1, 3)
    np.testing.assert_array_equal(d["w1"].reshape(-1), x[:9])
    np.testing.assert_array_equal(mlpflow.params(d), x)
    np.testing.assert_array_equal(mlpflow.params({"w2": d["w2"], "w1": d["w1"]}), x)
    d["w1"][0, 0] = 99.0           # copies: x is untouched
    assert x[0] != 99.0
    with pytest.raises(ValueError, match="w1"):
        mlpflow.params({"w2": d["w2"]})


def test_random_params_glorot_and_reproducible():
    X = np.zeros((2, 50))
    net = mlpflow.Net(layers=[(150, "tanh", True), (1, "identity", False)], input=X,
                      target=np.zeros(2))
    a = mlpflow.random_params(net, seed=7)
    np.testing.assert_array_equal(a, mlpflow.random_params(net, seed=7))
    assert not np.array_equal(a, mlpflow.random_params(net, seed=8))
    W = mlpflow.params_dict(net, a)["w1"]
    assert np.all(W[:, -1] == 0)                       # biases 0
    assert np.var(W[:, :-1]) == pytest.approx(2 / 200, rel=0.1)


def test_teacher_net():
    t = mlpflow.TeacherNet(layers=[(3, "sigmoid", False), (1, "identity", False)], din=2, seed=3)
    X = np.random.default_rng(0).standard_normal((11, 2))
    Y = t(X)
    assert Y.shape == (11, 1)
    np.testing.assert_allclose(Y, mlpflow.predict(t, t.params, X))
    t2 = mlpflow.TeacherNet(layers=t.layers, din=2, params=mlpflow.params_dict(t, t.params))
    np.testing.assert_array_equal(t2(X), Y)


def test_float32_and_fortran_input_not_modified(rng):
    X = np.asfortranarray(rng.standard_normal((25, 3)))
    Y = rng.standard_normal((25, 1)).astype(np.float32)
    X32 = X.astype(np.float32)
    Xc, Yc = X.copy(), Y.copy()
    layers = [(3, "softplus", True), (1, "identity", False)]
    a = mlpflow.Net(layers=layers, input=X, target=Y)
    b = mlpflow.Net(layers=layers, input=np.ascontiguousarray(X), target=Y.astype(np.float64))
    c = mlpflow.Net(layers=layers, input=X32, target=Y)
    x = mlpflow.random_params(a, seed=1)
    x32 = x.astype(np.float32)
    xs = np.repeat(x, 2)[::2]                          # non-contiguous view
    assert mlpflow.loss(a, x) == mlpflow.loss(b, x)
    assert mlpflow.loss(a, xs) == mlpflow.loss(b, x)
    np.testing.assert_allclose(mlpflow.loss(c, x32), mlpflow.loss(b, x32.astype(float)))
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(Y, Yc)
    assert X.flags.f_contiguous and Y.dtype == np.float32
    np.testing.assert_allclose(mlpflow.predict(a, x, X[::2]), mlpflow.predict(b, x, Xc[::2]))


def test_bad_shapes_raise_valueerror(small_net, rng):
    x = mlpflow.random_params(small_net)
    with pytest.raises(ValueError, match="x: expected 12 parameters"):
        mlpflow.loss(small_net, x[:-1])
    with pytest.raises(ValueError, match="target"):
        mlpflow.Net(layers=small_net.layers, input=small_net.input, target=np.zeros((39, 1)))
    with pytest.raises(ValueError, match="target"):
        mlpflow.Net(layers=small_net.layers, input=small_net.input, target=np.zeros((40, 2)))
    with pytest.raises(ValueError, match="input"):
        mlpflow.Net(layers=small_net.layers, input=np.zeros(40), target=np.zeros(40))
    with pytest.raises(ValueError, match="weights"):
        mlpflow.Net(layers=small_net.layers, input=small_net.input, target=small_net.target,
                    weights=np.ones(3))
    with pytest.raises(ValueError, match="X"):
        mlpflow.predict(small_net, x, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="layers"):
        mlpflow.Net(layers=[], input=small_net.input, target=small_net.target)
    with pytest.raises(ValueError, match=r"layers\[0\]"):
        mlpflow.Net(layers=[(0, "tanh", True), (1, "identity", False)], input=small_net.input,
                    target=small_net.target)
    with pytest.raises(ValueError, match="loss"):
        mlpflow.Net(layers=small_net.layers, input=small_net.input, target=small_net.target,
                    loss="l1")


def test_library_errors(small_net, rng):
    with pytest.raises(mlpflow.Error, match="sigmod") as e:
        mlpflow.Net(layers=[(3, "sigmod", True), (1, "identity", False)],
                    input=small_net.input, target=small_net.target)
    assert isinstance(e.value, ValueError) and e.value.status_name == "MLPF_EINVAL"
    with pytest.raises(mlpflow.Error, match="softmax"):
        mlpflow.Net(layers=[(3, "softmax", True), (1, "identity", False)],
                    input=small_net.input, target=small_net.target)
    x = mlpflow.random_params(small_net)
    x[2] = np.nan
    with pytest.raises(mlpflow.Error) as e:
        mlpflow.gradient(small_net, x)
    assert e.value.status_name == "MLPF_ENONFINITE"
    with pytest.raises(ValueError, match="activations"):
        mlpflow.Net(layers=[(3, ["tanh", "relu"], True), (1, "identity", False)],
                    input=small_net.input, target=small_net.target)


def test_activation_names_are_the_library_table(small_net):
    """activation_names() reads the C activation table: every scalar name builds a
    hidden layer, and the list ends with the vector-valued softmax."""
    names = mlpflow.activation_names()
    assert names[0] == "identity" and names[-1] == "softmax" and len(set(names)) == len(names)
    for name in names:
        if name in ("poly", "softmax"):
            continue
        net = mlpflow.Net(layers=[(2, name, True), (1, "identity", False)],
                          input=small_net.input, target=small_net.target)
        assert np.isfinite(mlpflow.loss(net, 0.1 * mlpflow.random_params(net, seed=1)))

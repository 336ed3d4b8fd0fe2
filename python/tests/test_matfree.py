"""Matrix-free tools from Python: mf.hvp against the dense Hessian and torch's
double-backward, Lanczos eigenpairs against numpy's eigh, the trace and the density,
and the error a too-large dense request gives."""
import numpy as np
import pytest

import mlpflow as mf


def _net(rng, layers, din, N=40, loss="mse", weights=True):
    X = rng.standard_normal((N, din))
    dout = layers[-1][0]
    if loss == "crossentropy":
        Y = rng.integers(0, dout, N).astype(float)
    else:
        Y = rng.standard_normal((N, dout))
    w = rng.uniform(0.5, 1.5, N) if weights else None
    return mf.Net(layers=layers, input=X, target=Y, weights=w, loss=loss)


ARCHS = [
    ([(5, "tanh", True), (4, "gelu", False), (2, "identity", True)], 3, "mse"),
    ([(6, "softplus", True), (3, "softmax", True)], 2, "crossentropy"),
    ([(4, ["silu", "sigmoid", "cube", "g"], True), (2, "sigmoid", True)], 2, "mse"),
]


@pytest.mark.parametrize("layers,din,loss", ARCHS)
def test_hvp_matches_dense_hessian(layers, din, loss):
    rng = np.random.default_rng(1)
    net = _net(rng, layers, din, loss=loss)
    x = 0.7 * rng.standard_normal(net.nparams)
    v = rng.standard_normal(net.nparams)
    ref = mf.hessian(net, x) @ v
    assert np.max(np.abs(mf.hvp(net, x, v) - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_hvp_matches_torch_double_backward():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    for trial in range(3):
        sizes = [int(s) for s in rng.integers(2, 7, size=3)]
        din, h1, h2 = sizes
        layers = [(h1, "tanh", True), (h2, "softplus", True), (2, "identity", True)]
        net = _net(rng, layers, din, N=25, weights=False)
        X, Y = net_data = (rng.standard_normal((25, din)), rng.standard_normal((25, 2)))
        net = mf.Net(layers=layers, input=X, target=Y)
        x = rng.standard_normal(net.nparams)
        v = rng.standard_normal(net.nparams)

        def loss_fn(p):
            a, off = torch.tensor(X), 0
            for li, (units, act, bias) in enumerate(layers):
                cols = a.shape[1] + 1
                W = p[off:off + units * cols].reshape(units, cols)
                off += units * cols
                a = a @ W[:, :-1].T + W[:, -1]
                a = {"tanh": torch.tanh, "softplus": torch.nn.functional.softplus,
                     "identity": lambda u: u}[act](a)
            return ((a - torch.tensor(Y)) ** 2).sum(dim=1).mean()

        p = torch.tensor(x, requires_grad=True)
        (g,) = torch.autograd.grad(loss_fn(p), p, create_graph=True)
        (hv_t,) = torch.autograd.grad(g @ torch.tensor(v), p)
        hv = mf.hvp(net, x, v)
        assert np.allclose(hv, hv_t.numpy(), rtol=1e-11, atol=1e-11 * np.abs(hv).max()), trial
        del net_data


@pytest.mark.parametrize("which", ["smallest", "largest"])
def test_spectrum_k_matches_eigh(which):
    rng = np.random.default_rng(3)
    net = _net(rng, [(25, "tanh", True), (3, "identity", True)], 8, N=60)
    x = 0.5 * rng.standard_normal(net.nparams)
    dense = np.linalg.eigvalsh(mf.hessian(net, x))
    info = {}
    ev, V = mf.hessian_spectrum(net, x, k=5, which=which, info=info)
    want = dense[:5] if which == "smallest" else dense[-5:]
    assert np.all(np.diff(ev) >= 0)
    assert np.allclose(ev, want, atol=1e-9 * info["hnorm"], rtol=0)
    assert info["nconv"] == 5 and info["nhvp"] > 0
    H = mf.hessian(net, x)
    assert np.allclose(H @ V, V * ev, atol=1e-7 * info["hnorm"])
    evd, _ = mf.hessian_spectrum(net, x, vectors=False)   # k=None: the dense path
    assert np.allclose(evd, dense)


def test_smallest_with_top_eigenvectors_locked_out():
    """deflate: converged top eigenvectors leave the Krylov space at restarts; the answer
    (dense eigh's 5 smallest, true residuals within the reported ones) does not change."""
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((80, 8)), rng.standard_normal((80, 3))
    net = mf.Net(layers=[(40, "tanh", True), (3, "identity", True)], input=X, target=Y)
    x = 0.5 * rng.standard_normal(net.nparams)
    H = mf.hessian(net, x)
    dense = np.linalg.eigvalsh(H)
    runs = {}
    for deflate in (-1, 20):
        info = {}
        ev, V = mf.hessian_spectrum(net, x, k=5, which="smallest", ncv=40, tol=1e-10,
                                    deflate=deflate, info=info)
        assert np.allclose(ev, dense[:5], atol=1e-9 * info["hnorm"], rtol=0)
        true = np.linalg.norm(H @ V - V * ev, axis=0)
        assert np.all(true <= info["residuals"] + 1e-12 * info["hnorm"])
        runs[deflate] = info
    assert runs[-1]["ndeflated"] == 0 and 0 < runs[20]["ndeflated"] <= 20
    with pytest.raises(mf.Error, match="deflate = -3"):
        mf.hessian_spectrum(net, x, k=2, deflate=-3)


def test_trace_and_density():
    rng = np.random.default_rng(4)
    net = _net(rng, [(12, "sigmoid", True), (2, "identity", True)], 4)
    x = rng.standard_normal(net.nparams)
    H = mf.hessian(net, x)
    t, dt = mf.hessian_trace(net, x, nprobes=40, seed=1)
    assert dt > 0 and abs(t - np.trace(H)) <= 4 * dt
    grid, dens, err = mf.hessian_density(net, x, nprobes=4, steps=30, return_error=True)
    assert abs(np.trapz(dens, grid) - 1) < 1e-3
    assert err.shape == dens.shape and np.all(err >= 0)
    nodes, w = mf.hessian_slq(net, x, nprobes=2, steps=net.nparams)
    assert np.allclose(w.sum(axis=1), 1)
    ev = np.linalg.eigvalsh(H)
    big = w[0] > 1e-12   # nodes with weight are eigenvalues
    assert np.all(np.min(np.abs(nodes[0][big][:, None] - ev[None, :]), axis=1) < 1e-8 * abs(ev).max())


def test_plot_density(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(5)
    net = _net(rng, [(6, "tanh", True), (1, "identity", True)], 2)
    grid, dens, err = mf.hessian_density(net, rng.standard_normal(net.nparams), nprobes=2,
                                         steps=10, return_error=True)
    ax = mf.plot_density(grid, dens, tmp_path / "d.png", error=err)
    assert (tmp_path / "d.png").stat().st_size > 1000 and ax.get_ylabel() == "density"


def test_dense_request_too_large_names_matrix_free(monkeypatch):
    rng = np.random.default_rng(6)
    net = _net(rng, [(30, "tanh", True), (1, "identity", True)], 10)
    x = rng.standard_normal(net.nparams)
    monkeypatch.setenv("MLPF_MAX_BYTES", "100K")
    with pytest.raises(mf.Error, match=r"361 x 361 matrix needs 1.043e\+06 bytes.*k=") as e:
        mf.hessian(net, x)
    assert e.value.status == 2
    with pytest.raises(mf.Error, match="matrix-free"):
        mf.hessian_spectrum(net, x)
    ev, _ = mf.hessian_spectrum(net, x, k=2, which="largest", vectors=False)  # still works
    assert ev.shape == (2,)


def test_l2net_adds_weight_decay_and_has_a_minimum():
    """Separable cross-entropy has no minimum; with L2Net Newton-Krylov finds one (PD Hessian)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 2))
    y = (X[:, 0] > 0).astype(float)                       # linearly separable labels
    net = mf.Net([(4, "tanh", True), (2, "softmax", True)], X, y, loss="crossentropy")
    lam = 1e-2
    reg = mf.L2Net(net, lam)
    x = rng.standard_normal(net.nparams)
    v = rng.standard_normal(net.nparams)
    assert mf.loss(reg, x) == pytest.approx(mf.loss(net, x) + 0.5 * lam * x @ x, rel=1e-14)
    assert np.allclose(mf.gradient(reg, x), mf.gradient(net, x) + lam * x, rtol=0, atol=1e-14)
    assert np.allclose(mf.hvp(reg, x, v), mf.hessian(net, x) @ v + lam * v, rtol=0, atol=1e-12)
    res = mf.train(reg, x, alg="none", optim_solver="newtonkrylov", min_gnorm=1e-12)
    assert res["gnorm"] <= 1e-12
    c = mf.classify(reg, res["x"], channels=False)
    assert c["kind"] == "minimum" and c["eigenvalues"][0] > 0
    with pytest.raises(mf.Error, match="lambda must be finite and >= 0"):
        mf.L2Net(net, -1.0)


def test_l2net_shares_the_base_network():
    rng = np.random.default_rng(6)
    net = mf.Net([(3, "tanh", True), (2, "softmax", True)], rng.standard_normal((8, 2)),
                 rng.integers(0, 2, 8).astype(float), loss="crossentropy")
    reg = mf.L2Net(net, 0.1)
    x = mf.random_params(reg, seed=3)
    assert np.array_equal(x, mf.random_params(net, seed=3))
    assert reg.layer_shape(0) == net.layer_shape(0) and np.array_equal(reg(x), net(x))
    del reg                                     # frees only the wrapper
    assert np.isfinite(mf.loss(net, x))

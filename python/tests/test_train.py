"""train: every option reaches the C struct (behaviour tests of the ctypes mirror),
every result key is read back, threads and Ctrl-C."""
import _thread
import math
import threading
import time

import numpy as np
import pytest

import mlpflow


@pytest.fixture
def ts_net():
    X = np.random.default_rng(1).standard_normal((100, 2))
    teacher = mlpflow.TeacherNet(layers=[(2, "softplus", True), (1, "identity", False)], din=2,
                                 seed=3)
    return mlpflow.Net(layers=[(3, "softplus", True), (1, "identity", False)], input=X,
                       target=teacher(X))


FAST = dict(maxT=1e3, maxtime_ode=5, maxtime_optim=5)


def test_defaults_mirror_the_c_struct():
    d = mlpflow.default_options()
    expect = dict(maxT=math.inf, abstol=1e-6, reltol=1e-6, maxtime_ode=math.inf,
                  maxiterations_ode=10**6, rk4_step=1e-2, lr=1e-3, beta1=0.9, beta2=0.999,
                  eps=1e-8, maxtime_optim=math.inf, maxiterations_optim=10**5, min_gnorm=1e-15,
                  minloss=2e-32, patience=10**6, maxnorm=math.inf, n_samples_trajectory=100,
                  verbosity=0, progress_interval=5, seed=1, batchsize=0, shuffle=0, alg="",
                  optim_solver="")
    for k, v in expect.items():
        assert d[k] == v, k


def test_result_keys_and_minimum(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=1)
    x0c = x0.copy()
    r = mlpflow.train(ts_net, x0, **FAST)
    for k in mlpflow.RESULT_KEYS:
        assert k in r, k
    np.testing.assert_array_equal(x0, x0c)
    np.testing.assert_array_equal(r["init"], x0)
    assert r["converged"] and r["gnorm"] <= 1e-12 and r["loss"] < 1e-20
    assert r["loss"] == pytest.approx(mlpflow.loss(ts_net, r["x"]), abs=1e-25)
    assert r["gnorm"] == pytest.approx(np.abs(mlpflow.gradient(ts_net, r["x"])).max(), abs=1e-14)
    assert r["ode_loss"] == pytest.approx(mlpflow.loss(ts_net, r["ode_x"]), rel=1e-10)
    T, Xt = r["trajectory"]["t"], r["trajectory"]["x"]
    assert T.ndim == 1 and Xt.shape == (T.size, ts_net.nparams) and r["loss_curve"].shape == T.shape
    assert np.all(np.diff(T) > 0) and T[-1] <= 1e3 * (1 + 1e-12)
    np.testing.assert_allclose(r["loss_curve"][0], mlpflow.loss(ts_net, Xt[0]), rtol=1e-10)
    assert r["total_time"] >= r["optim_time_run"] >= 0
    assert r["alg"] == "bdf" and r["optim_solver"] == "newtontr"  # defaults for P <= 32


def test_iteration_and_time_limits(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=2)
    r = mlpflow.train(ts_net, x0, maxT=0.5, maxiterations_optim=0)
    assert r["ode_time_run"] <= 0.5 * (1 + 1e-12) and r["ode_stopped_by"] == "maxT"
    assert r["optim_iterations"] == 0
    r = mlpflow.train(ts_net, x0, alg="gd", lr=1e-2, maxiterations_ode=7, optim_solver="none")
    assert r["ode_iterations"] == 7 and r["ode_stopped_by"] == "maxiterations"
    assert r["optim_stopped_by"] == "skipped"
    r = mlpflow.train(ts_net, x0, alg="none", maxiterations_optim=3, optim_solver="bfgs")
    assert r["ode_stopped_by"] == "skipped" and r["optim_iterations"] <= 3
    np.testing.assert_array_equal(r["ode_x"], x0)
    r = mlpflow.train(ts_net, x0, minloss=1e9, maxT=10)
    assert r["converged"]


def test_gd_lr_batchsize_seed(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=2)
    o = dict(alg="gd", maxiterations_ode=20, optim_solver="none")
    a = mlpflow.train(ts_net, x0, lr=1e-3, **o)
    b = mlpflow.train(ts_net, x0, lr=1e-2, **o)
    assert b["ode_loss"] < a["ode_loss"]
    assert b["ode_time_run"] == pytest.approx(20 * 1e-2)        # flow time = steps * lr
    c1 = mlpflow.train(ts_net, x0, lr=1e-2, batchsize=10, shuffle=1, seed=5, **o)
    c2 = mlpflow.train(ts_net, x0, lr=1e-2, batchsize=10, shuffle=1, seed=5, **o)
    c3 = mlpflow.train(ts_net, x0, lr=1e-2, batchsize=10, shuffle=1, seed=6, **o)
    np.testing.assert_array_equal(c1["ode_x"], c2["ode_x"])
    assert not np.array_equal(c1["ode_x"], c3["ode_x"])
    assert not np.array_equal(c1["ode_x"], b["ode_x"])


def test_adam_options(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=2)
    o = dict(alg="adam", maxiterations_ode=1, optim_solver="none", lr=0.1)
    r = mlpflow.train(ts_net, x0, **o)
    # one Adam step from zero moments moves every parameter with a nonzero gradient by ~lr
    g = mlpflow.gradient(ts_net, x0)
    step = np.abs(r["ode_x"] - x0)[np.abs(g) > 1e-6]
    np.testing.assert_allclose(step, 0.1, rtol=1e-4)
    r2 = mlpflow.train(ts_net, x0, eps=1e3, **o)              # eps dominates: small steps
    assert np.abs(r2["ode_x"] - x0).max() < 0.01


def test_tauinv_freezes_and_scales(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=2)
    tau = np.ones(ts_net.nparams)
    tau[[0, 5]] = 0.0
    r = mlpflow.train(ts_net, x0, tauinv=tau, maxT=1e3, maxiterations_optim=50)
    assert r["x"][0] == x0[0] and r["x"][5] == x0[5]
    assert not np.allclose(r["x"][1:5], x0[1:5])
    r1 = mlpflow.train(ts_net, x0, maxT=1.0, optim_solver="none")
    r2 = mlpflow.train(ts_net, x0, tauinv=2.0, maxT=0.5, optim_solver="none")
    np.testing.assert_allclose(r1["ode_x"], r2["ode_x"], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="tauinv"):
        mlpflow.train(ts_net, x0, tauinv=np.ones(3))


def test_maxnorm_and_merge(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=2) * 3
    r = mlpflow.train(ts_net, x0, maxnorm=0.01, maxT=1, optim_solver="none")
    assert r["gnorm"] != r["gnorm_regularized"]
    reg = mlpflow.Net(layers=ts_net.layers, input=ts_net.input, target=ts_net.target,
                      maxnorm=0.01)
    assert mlpflow.loss(reg, x0, regularized=True) > mlpflow.loss(reg, x0)
    assert r["ode_loss"] == pytest.approx(mlpflow.loss(reg, r["ode_x"], regularized=True))
    m = mlpflow.train(ts_net, x0, merge=[(0, 0, 1, 100.0)], maxT=1e3, maxiterations_optim=50)
    W = mlpflow.params_dict(ts_net, m["x"])["w1"]
    assert np.abs(W[0] - W[1]).max() < 1e-3
    with pytest.raises(ValueError, match="merge"):
        mlpflow.train(ts_net, x0, merge=[(5, 0, 1, 1.0)])


def test_weights_option(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=2)
    w = np.zeros(ts_net.nsamples)
    w[:50] = 2.0
    r = mlpflow.train(ts_net, x0, weights=w, maxT=1, optim_solver="none")
    half = mlpflow.Net(layers=ts_net.layers, input=ts_net.input[:50], target=ts_net.target[:50])
    assert r["ode_loss"] == pytest.approx(mlpflow.loss(half, r["ode_x"]), rel=1e-10)


def test_trajectory_samples_and_progress(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=2)
    r = mlpflow.train(ts_net, x0, n_samples_trajectory=10, maxT=100, optim_solver="none")
    assert 2 <= r["trajectory"]["t"].size <= 11
    seen = []
    mlpflow.train(ts_net, x0, alg="gd", lr=1e-2, maxiterations_ode=3000, optim_solver="none",
                  verbosity=1, progress_interval=0.0, progress=seen.append)
    assert seen and {"t", "loss", "gnorm", "iteration", "phase"} <= set(seen[0])


def test_bad_options(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=2)
    with pytest.raises(TypeError, match="maxT_typo"):
        mlpflow.train(ts_net, x0, maxT_typo=1)
    with pytest.raises(mlpflow.Error, match="nosuchalg"):
        mlpflow.train(ts_net, x0, alg="nosuchalg")
    with pytest.raises(ValueError, match="x0"):
        mlpflow.train(ts_net, x0[:3])


def test_threads_in_parallel_match_sequential(ts_net):
    x0s = [mlpflow.random_params(ts_net, seed=s) for s in (1, 2)]
    o = dict(maxT=100, optim_solver="none")
    seq = [mlpflow.train(ts_net, x, **o)["ode_x"] for x in x0s]
    out = [None, None]

    def work(k):
        out[k] = mlpflow.train(ts_net, x0s[k], **o)["ode_x"]
    th = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    for a, b in zip(seq, out):
        np.testing.assert_array_equal(a, b)
    many = mlpflow.train_many(ts_net, np.stack(x0s), threads=2, **o)
    for a, b in zip(seq, many):
        np.testing.assert_array_equal(a, b["ode_x"])


def test_ctrl_c_returns_best_point(ts_net):
    x0 = mlpflow.random_params(ts_net, seed=2)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    t0 = time.time()
    with pytest.warns(RuntimeWarning, match="interrupt"):
        r = mlpflow.train(ts_net, x0, alg="gd", lr=1e-6, maxtime_ode=30, optim_solver="none")
    assert time.time() - t0 < 20   # stopped by the interrupt, long before maxtime_ode = 30
    assert r["ode_stopped_by"] == "interrupt"
    assert r["loss"] <= mlpflow.loss(ts_net, x0)


def test_options_struct_layout_via_library_json():
    """Every field set from Python is read back by the library at the right offset
    (mlpf_train_options_json is an internal, exported helper; skipped without it)."""
    import ctypes
    import json
    from mlpflow import _lib
    if not (_lib.has("mlpf_train_options_json") and _lib.has("cJSON_PrintUnformatted")):
        pytest.skip("library has no options JSON helper")
    to_json = _lib.bind("mlpf_train_options_json", ctypes.c_void_p,
                        [ctypes.POINTER(_lib.mlpf_train_options)])
    pr = _lib.bind("cJSON_PrintUnformatted", ctypes.c_void_p, [ctypes.c_void_p])
    dele = _lib.bind("cJSON_Delete", None, [ctypes.c_void_p])
    net = mlpflow.Net(layers=[(2, "tanh", True), (1, "identity", False)],
                      input=np.zeros((3, 1)), target=np.zeros(3))
    vals = dict(alg="bdf", maxT=11.5, abstol=1.25e-3, reltol=2.5e-4, maxtime_ode=13.0,
                maxiterations_ode=14, rk4_step=0.015, lr=0.016, beta1=0.17, beta2=0.18,
                eps=1.9e-7, batchsize=20, shuffle=1, optim_solver="bfgs", maxtime_optim=22.0,
                maxiterations_optim=23, min_gnorm=2.4e-9, minloss=2.5e-9, patience=26,
                maxnorm=27.0, n_samples_trajectory=28, verbosity=1, progress_interval=2.9,
                seed=30)
    from mlpflow.training import _Keep, _options
    keep = _Keep()
    tau = np.arange(1.0, net.nparams + 1)
    o = _options(net, dict(vals, tauinv=tau, merge=[(0, 0, 1, 3.5)]), keep)
    j = to_json(ctypes.byref(o))
    sp = pr(j)
    s = ctypes.cast(sp, ctypes.c_char_p).value.decode()
    _lib.c_free(sp)
    dele(j)
    d = json.loads(s)
    for k, v in vals.items():
        if k in d:
            got = d[k]
            if isinstance(v, bool) or k == "shuffle":
                got = int(got)
            assert got == v, (k, got, v)
    assert d["tauinv"] == list(tau)
    assert d["merge"] == [[0, 0, 1, 3.5]]
    assert len([k for k in vals if k in d]) >= 20

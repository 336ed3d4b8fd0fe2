"""Progress: the callback runs at any verbosity; progress=True shows one line;
the default is on only in interactive sessions; train_many reports finished runs."""
import numpy as np
import pytest

import mlpflow
from mlpflow import training


@pytest.fixture(scope="module")
def net():
    X = np.random.default_rng(8).standard_normal((30, 2))
    return mlpflow.Net([(3, "tanh", True), (1, "identity", False)], X, np.sin(X[:, :1]))


def test_callback_is_called_without_verbosity(net):
    seen = []
    mlpflow.train(net, mlpflow.random_params(net), maxT=1e3, maxiterations_optim=50,
                  progress_interval=0.0, progress=seen.append)
    assert seen and {"t", "loss", "gnorm", "iteration", "phase", "elapsed"} <= set(seen[0])
    assert {"ode", "optim"} <= {p["phase"] for p in seen}


def test_progress_line_on_stderr(net, capfd):
    mlpflow.train(net, mlpflow.random_params(net), maxT=1e3, maxiterations_optim=50,
                  progress_interval=0.0, progress=True)
    err = capfd.readouterr().err
    assert "\r" in err and "mlpflow.train: flow" in err and err.endswith("\n")


def test_default_follows_interactivity(net, capfd, monkeypatch):
    monkeypatch.setattr(training, "_interactive", lambda: False)
    mlpflow.train(net, mlpflow.random_params(net), maxT=10, maxiterations_optim=5,
                  progress_interval=0.0)
    assert capfd.readouterr().err == ""
    monkeypatch.setattr(training, "_interactive", lambda: True)
    mlpflow.train(net, mlpflow.random_params(net), maxT=10, maxiterations_optim=5,
                  progress_interval=0.0)
    assert "mlpflow.train" in capfd.readouterr().err


def test_train_many_reports_runs_in_batches_with_the_same_numbers(net, capfd):
    x0s = np.stack([mlpflow.random_params(net, seed=s) for s in range(5)])
    seen = []
    opts = dict(maxT=20, maxiterations_optim=20)
    batched = mlpflow.train_many(net, x0s, threads=2, progress=seen.append, **opts)
    assert [s["done"] for s in seen] == [2, 4, 5] and seen[-1]["total"] == 5
    assert seen[-1]["best_loss"] == min(r["loss"] for r in batched)
    whole = mlpflow.train_many(net, x0s, threads=2, progress=False, **opts)
    for a, b in zip(batched, whole):
        assert np.array_equal(a["x"], b["x"]) and a["loss"] == b["loss"]
    mlpflow.train_many(net, x0s[:2], threads=1, progress=True, **opts)
    assert "mlpflow.train_many: runs 2/2" in capfd.readouterr().err


def test_bad_progress_value(net):
    with pytest.raises(ValueError, match="progress"):
        mlpflow.train(net, mlpflow.random_params(net), progress="yes")


def test_train_many_with_progress_stops_on_ctrl_c(net):
    import _thread
    import threading
    import time
    x0s = np.stack([mlpflow.random_params(net, seed=s) for s in range(3)])
    seen = []
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    t0 = time.time()
    with pytest.warns(RuntimeWarning, match="interrupt"):
        runs = mlpflow.train_many(net, x0s, threads=1, progress=seen.append, alg="gd", lr=1e-9,
                                  maxtime_ode=30, optim_solver="none")
    assert time.time() - t0 < 15          # long before maxtime_ode = 30
    assert len(runs) == 3 and [s["done"] for s in seen] == [1, 2, 3]
    assert all(r["ode_stopped_by"] == "interrupt" for r in runs)
    assert np.array_equal(runs[2]["x"], x0s[2])   # not begun: stopped at its start


def test_recorded_options_are_the_ones_given(net, monkeypatch, capfd):
    res = mlpflow.train(net, mlpflow.random_params(net), maxT=10, maxiterations_optim=5,
                        progress=lambda p: None)
    assert res["options"]["verbosity"] == 0 and res["options"]["progress_interval"] == 5
    # interactive: train_many reports runs only, never the per-run reports of its C threads
    monkeypatch.setattr(training, "_interactive", lambda: True)
    runs = mlpflow.train_many(net, np.stack([mlpflow.random_params(net)] * 2), threads=2,
                              maxT=10, maxiterations_optim=5, progress_interval=0.0)
    assert all(r["options"]["verbosity"] == 0 for r in runs)
    err = capfd.readouterr().err
    assert "runs 2/2" in err and "flow  t" not in err and "optim it" not in err

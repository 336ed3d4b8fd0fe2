"""Plot helpers for notebooks: draw on a given ax, return the Axes, save only with
path=, never switch the backend, label runs by what differs, keep overlapping
curves visible."""
import numpy as np
import pytest

import mlpflow
import mlpflow.plot as mp

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("svg")              # any backend the user chose stays chosen
import matplotlib.pyplot as plt    # noqa: E402


def fake_run(alg, seed, scale=1.0):
    t = np.logspace(-2, 2, 20)
    return {"trajectory": {"t": t, "x": np.zeros((20, 3))}, "loss_curve": scale / (1 + t),
            "loss": 1e-9, "alg": alg, "optim_solver": "bfgs", "options": {"seed": seed}}


def test_helpers_draw_on_the_given_axes():
    fig, axes = plt.subplots(2, 2)
    ev = np.array([-1e-3, 0.0, 1e-2, 4.0])
    a1s, a2s = np.linspace(0, 1, 4), np.linspace(-1, 1, 3)
    d = {"distances": np.array([1e-3, 1e-4, 1e-5]), "times": np.array([1.0, 2.0, 3.0])}
    out = [mp.loss_curve([fake_run("gd", 1), fake_run("adam", 1)], ax=axes[0, 0]),
           mp.hessian_spectrum(ev, ax=axes[0, 1]),
           mp.landscape(a1s, a2s, np.ones((4, 3)), ax=axes[1, 0],
                        trajectory=np.zeros((2, 2)), points={"min": (0.0, 0.0)}),
           mp.trajectory_distances([d, d], labels=["a", "b"], ax=axes[1, 1])]
    assert out == [axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1]]
    assert len(axes[0, 0].get_legend().get_texts()) == 2
    assert len(plt.get_fignums()) == 1          # nothing else was opened
    assert matplotlib.get_backend() == "svg"    # and no backend forced
    plt.close(fig)


def test_labels_come_from_what_differs_and_overlaps_stay_visible():
    same = [fake_run("kencarp58", s) for s in (1, 2, 3)]
    assert mp.run_labels(same) == ["seed 1", "seed 2", "seed 3"]
    assert mp.run_labels([fake_run("gd", 1), fake_run("adam", 1)]) == ["alg gd", "alg adam"]
    assert mp.run_labels([fake_run("gd", 1), fake_run("gd", 1)]) == ["run 0", "run 1"]
    ax = mp.loss_curve(same)
    curves = [ln for ln in ax.get_lines() if ln.get_label() in ("seed 1", "seed 2", "seed 3")]
    assert len({(ln.get_linestyle(), ln.get_linewidth()) for ln in curves}) == 3
    plt.close(ax.figure)


def test_path_saves_and_the_axes_is_returned(tmp_path):
    ax = mp.hessian_spectrum(np.array([1.0, 2.0]), path=tmp_path / "d" / "ev.png")
    assert (tmp_path / "d" / "ev.png").stat().st_size > 1000
    assert isinstance(ax, matplotlib.axes.Axes)
    plt.close("all")


def test_a_real_result_plots(small_net):
    res = mlpflow.train(small_net, mlpflow.random_params(small_net), maxT=10,
                        maxiterations_optim=5, progress=False)
    ax = mp.loss_curve(res)
    assert ax.get_xlabel() == "time t (flow phase)" and ax.get_lines()
    plt.close(ax.figure)

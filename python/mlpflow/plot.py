"""Plot helpers that write PNG files (matplotlib is imported only inside the functions,
with the non-interactive Agg backend). Each returns the path it wrote.

Example::

    >>> import mlpflow.plot as mp
    >>> mp.loss_curve(res, "out/loss.png")
    'out/loss.png'
"""
import os

import numpy as np

__all__ = ["loss_curve", "hessian_spectrum", "landscape", "trajectory_distances"]


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    d = os.path.dirname(os.fspath(path))
    if d:
        os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def loss_curve(results, path, labels=None, title="loss along the trajectory"):
    """Loss against flow time (log-log) for one train result or a list of them.

    Example::

        >>> mlpflow.plot.loss_curve([flow, gd], "loss.png", labels=["flow", "gd"])
    """
    plt = _plt()
    if isinstance(results, dict):
        results = [results]
    labels = labels or [r.get("alg", "") or "run %d" % k for k, r in enumerate(results)]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for r, lab in zip(results, labels):
        t = np.asarray(r["trajectory"]["t"])
        L = np.asarray(r["loss_curve"])
        m = (t > 0) & (L > 0)
        ax.loglog(t[m], L[m], label=lab)
        if r.get("loss", 0) > 0 and m.any():
            ax.axhline(r["loss"], ls=":", lw=0.8, color=ax.lines[-1].get_color())
    ax.set_xlabel("time t")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def hessian_spectrum(evals, path, title="Hessian spectrum"):
    """Eigenvalues (ascending) as a symlog stem plot; negative ones in red.

    Example::

        >>> ev, _ = mlpflow.hessian_spectrum(net, xmin)
        >>> mlpflow.plot.hessian_spectrum(ev, "spectrum.png")
    """
    plt = _plt()
    ev = np.asarray(evals)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    k = np.arange(ev.size)
    ax.scatter(k[ev >= 0], ev[ev >= 0], s=14, color="C0", label="> 0")
    ax.scatter(k[ev < 0], ev[ev < 0], s=14, color="C3", label="< 0")
    pos = np.abs(ev[ev != 0])
    ax.set_yscale("symlog", linthresh=max(pos.min(), 1e-16) if pos.size else 1e-12)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("index")
    ax.set_ylabel("eigenvalue")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def landscape(a1s, a2s, losses, path, trajectory=None, points=None, title="loss landscape",
              log=True, floor=1e-20):
    """A heatmap of losses (len(a1s), len(a2s)) over plane coordinates, optionally with
    a trajectory (n, 2) in plane coordinates drawn on it and labelled points
    {"name": (a1, a2)}. With ``log`` the colour is log10 of max(loss, floor).

    Example::

        >>> L = plane.minloss_grid(net, a1s, a2s)
        >>> mlpflow.plot.landscape(a1s, a2s, L, "plane.png",
        ...                        trajectory=plane.coordinates(res["trajectory"]["x"]))
    """
    plt = _plt()
    L = np.asarray(losses, dtype=float)
    Z = np.log10(np.maximum(L, floor)) if log else L
    fig, ax = plt.subplots(figsize=(6, 4.8))
    im = ax.pcolormesh(np.asarray(a1s), np.asarray(a2s), Z.T, shading="auto", cmap="viridis")
    fig.colorbar(im, ax=ax, label="log10 loss" if log else "loss")
    if trajectory is not None:
        T = np.asarray(trajectory)
        ax.plot(T[:, 0], T[:, 1], "w.-", lw=1, ms=3, label="trajectory")
        ax.plot(T[-1, 0], T[-1, 1], "w*", ms=10)
    for name, (u, v) in (points or {}).items():
        ax.plot(u, v, "r^", ms=8)
        ax.annotate(name, (u, v), color="w", xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("a1")
    ax.set_ylabel("a2")
    ax.set_title(title)
    return _save(fig, path)


def trajectory_distances(distances, path, labels=None, title="distance to the gradient flow"):
    """Distances (the output of :func:`mlpflow.trajectory_distance`, or a list of them)
    against the trajectory's time (or index).

    Example::

        >>> d = mlpflow.trajectory_distance(gd, flow)
        >>> mlpflow.plot.trajectory_distances([d], "dist.png", labels=["gd"])
    """
    plt = _plt()
    if isinstance(distances, dict):
        distances = [distances]
    labels = labels or ["run %d" % k for k in range(len(distances))]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for d, lab in zip(distances, labels):
        y = np.asarray(d["distances"])
        t = d.get("times")
        t = np.arange(y.size) if t is None else np.asarray(t)
        m = t > 0
        ax.loglog(t[m], np.maximum(y[m], 1e-17), label=lab)
    ax.set_xlabel("time t" if distances and distances[0].get("times") is not None else "index")
    ax.set_ylabel("distance to the closest reference point")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)

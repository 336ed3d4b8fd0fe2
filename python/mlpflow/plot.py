"""Plot helpers for notebooks and scripts (matplotlib, imported only when a plot is made).

Every helper draws on ``ax=`` (a matplotlib Axes; a new figure when omitted),
returns that Axes (``ax.figure`` is the Figure), and saves a file only when
``path=`` is given. No backend is chosen here: notebooks keep their inline plots,
scripts without a display get matplotlib's own default. After saving, a figure
this module created is closed when the backend is non-interactive (scripts), so
loops do not accumulate figures.

Example::

    >>> import mlpflow.plot as mp
    >>> ax = mp.loss_curve(res)                     # inline in a notebook
    >>> ax = mp.loss_curve([r1, r2], path="out/loss.png")
    >>> fig, (a, b) = plt.subplots(1, 2); mp.loss_curve(res, ax=a); mp.hessian_spectrum(ev, ax=b)
"""
import os

import numpy as np

__all__ = ["loss_curve", "hessian_spectrum", "landscape", "trajectory_distances", "run_labels"]

# Curves drawn over each other stay visible: each later curve is thinner and
# dashed differently, so an identical earlier curve still shows around it.
_STYLES = ("-", "--", ":", "-.", (0, (5, 2, 1, 2)), (0, (1, 3)))


def _axes(ax, figsize):
    """(ax, created): the given Axes, or a new figure's."""
    if ax is not None:
        return ax, False
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=figsize)
    return ax, True


def _finish(ax, created, path):
    """Save when a path is given; close a figure made here under a non-interactive backend."""
    if path is None:
        return ax
    import matplotlib
    d = os.path.dirname(os.fspath(path))
    if d:
        os.makedirs(d, exist_ok=True)
    ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    if created and matplotlib.get_backend().lower() in \
            [b.lower() for b in matplotlib.rcsetup.non_interactive_bk]:
        import matplotlib.pyplot as plt
        plt.close(ax.figure)
    return ax


def _style(k, n):
    return {"ls": _STYLES[k % len(_STYLES)], "lw": 2.6 - 1.6 * k / max(n - 1, 1),
            "alpha": 0.9}


def run_labels(results):
    """Legend labels for train results from what differs between them: the method
    (alg, optim_solver), any differing option, the start (train_many, CLI) or the
    initial seed; "run k" when nothing recorded differs.

    Example::

        >>> mlpflow.plot.run_labels([flow, gd])
        ['alg kencarp58', 'alg gd']
    """
    results = list(results)
    if len(results) < 2:
        return [r.get("alg", "") or "run 0" for r in results]

    def fields(r):
        f = {"alg": r.get("alg"), "optim_solver": r.get("optim_solver")}
        f.update({k: v for k, v in (r.get("options") or {}).items()
                  if k not in ("alg", "optim_solver", "verbosity", "progress_interval")})
        for k in ("init_seed", "start"):
            if k in r:
                f[k] = r[k]
        return f
    fs = [fields(r) for r in results]
    keys = [k for k in fs[0] if any(repr(f.get(k)) != repr(fs[0].get(k)) for f in fs[1:])]
    labels = [", ".join("%s %s" % (k, f.get(k)) for k in keys) for f in fs]
    if len(set(labels)) < len(labels):   # still equal: number them
        labels = [("%s, run %d" % (lab, i)) if lab else "run %d" % i
                  for i, lab in enumerate(labels)]
    return labels


def loss_curve(results, path=None, labels=None, title="loss along the trajectory", ax=None):
    """Loss against flow time (log-log) for one train result or a list of them, with
    each run's final loss (after the minimiser) as a dotted line. The curves cover
    the flow phase; labels default to :func:`run_labels`. Returns the Axes.

    Example::

        >>> ax = mlpflow.plot.loss_curve([flow, gd])            # labels "alg kencarp58", "alg gd"
        >>> mlpflow.plot.loss_curve(res, ax=axes[0], path="loss.png")
    """
    if isinstance(results, dict):
        results = [results]
    labels = list(labels) if labels is not None else run_labels(results)
    ax, created = _axes(ax, (5.5, 4))
    for k, (r, lab) in enumerate(zip(results, labels)):
        t = np.asarray(r["trajectory"]["t"])
        L = np.asarray(r["loss_curve"])
        m = (t > 0) & (L > 0)
        line, = ax.loglog(t[m], L[m], label=lab, **_style(k, len(results)))
        if r.get("loss", 0) > 0 and m.any():
            ax.axhline(r["loss"], ls=":", lw=0.8, color=line.get_color())
    ax.set_xlabel("time t (flow phase)")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if any(labels):
        ax.legend()
    return _finish(ax, created, path)


def hessian_spectrum(evals, path=None, title="Hessian spectrum", ax=None):
    """Eigenvalues (ascending) on a symlog scale; negative ones in red. Returns the Axes.

    Example::

        >>> ev, _ = mlpflow.hessian_spectrum(net, xmin)
        >>> ax = mlpflow.plot.hessian_spectrum(ev)
    """
    ev = np.asarray(evals)
    ax, created = _axes(ax, (5.5, 4))
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
    return _finish(ax, created, path)


def landscape(a1s, a2s, losses, path=None, trajectory=None, points=None, title="loss landscape",
              log=True, floor=1e-20, ax=None):
    """A heatmap of losses (len(a1s), len(a2s)) over plane coordinates, optionally with
    a trajectory (n, 2) in plane coordinates drawn on it and labelled points
    {"name": (a1, a2)}. With ``log`` the colour is log10 of max(loss, floor).
    Returns the Axes.

    Example::

        >>> L = plane.minloss_grid(net, a1s, a2s)
        >>> ax = mlpflow.plot.landscape(a1s, a2s, L,
        ...                             trajectory=plane.coordinates(res["trajectory"]["x"]))
    """
    L = np.asarray(losses, dtype=float)
    Z = np.log10(np.maximum(L, floor)) if log else L
    ax, created = _axes(ax, (6, 4.8))
    im = ax.pcolormesh(np.asarray(a1s), np.asarray(a2s), Z.T, shading="auto", cmap="viridis")
    ax.figure.colorbar(im, ax=ax, label="log10 loss" if log else "loss")
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
    return _finish(ax, created, path)


def trajectory_distances(distances, path=None, labels=None, title="distance to the gradient flow",
                         ax=None):
    """Distances (the output of :func:`mlpflow.trajectory_distance`, or a list of them)
    against the trajectory's time (or index). Returns the Axes.

    Example::

        >>> d = mlpflow.trajectory_distance(gd, flow)
        >>> ax = mlpflow.plot.trajectory_distances([d], labels=["gd"])
    """
    if isinstance(distances, dict):
        distances = [distances]
    labels = labels or ["run %d" % k for k in range(len(distances))]
    ax, created = _axes(ax, (5.5, 4))
    for k, (d, lab) in enumerate(zip(distances, labels)):
        y = np.asarray(d["distances"])
        t = d.get("times")
        t = np.arange(y.size) if t is None else np.asarray(t)
        m = t > 0
        ax.loglog(t[m], np.maximum(y[m], 1e-17), label=lab, **_style(k, len(distances)))
    ax.set_xlabel("time t" if distances and distances[0].get("times") is not None else "index")
    ax.set_ylabel("distance to the closest reference point")
    ax.set_title(title)
    ax.legend()
    return _finish(ax, created, path)

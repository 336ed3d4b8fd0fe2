"""Sweeps: many runs (the product of axes over a problem spec) in one SQLite database.

``sweep(spec, db)`` runs a sweep given as a dict (the same JSON as ``mlpflow sweep
SWEEP.json``) on threads, in C; ``load_sweep(db)`` returns the table of runs as a
pandas DataFrame (one row per run: ``run_id``, one column per axis named by its path,
``status``, ``error``, ``loss``, ``gnorm``, stop reasons, iterations, times, the
classification columns ``kind``, ``saddle_index``, ``n_channels``);
``load_run(db, run_id)`` returns one run's arrays; ``plot_outcomes`` draws the
fraction of an outcome over one axis (a curve) or two (a phase diagram).

The database can be read while a sweep writes it (SQLite write-ahead log).

Example::

    >>> import mlpflow as mf
    >>> spec = {"base": {"teacher": {"layers": [[2, "tanh", False], [1, "identity", False]],
    ...                              "din": 2, "seed": 1},
    ...                  "data": {"samples": 50, "seed": 1},
    ...                  "layers": [[3, "tanh", False], [1, "identity", False]],
    ...                  "train": {"maxT": 100}},
    ...         "axes": {"seed": {"range": [1, 20]}, "layers.0.0": [2, 3, 4]}}
    >>> df = mf.sweep(spec, "runs.sqlite")
    >>> df.groupby("layers.0.0")["converged"].mean()
"""
import ctypes
import io
import json
import os
import sqlite3
import threading
from ctypes import POINTER, Structure, byref, c_char_p, c_double, c_int, c_size_t, c_void_p

import numpy as np

from . import _lib
from ._lib import lib, mlpf_error

__all__ = ["sweep", "load_sweep", "load_run", "outcomes", "plot_outcomes", "ARRAY_NAMES"]

ARRAY_NAMES = ("x", "init", "ode_x", "trajectory_t", "trajectory_x", "loss_curve")


class mlpf_sweep_options(Structure):
    _fields_ = [("threads", c_int), ("extend", c_int), ("verbosity", c_int),
                ("progress_interval", c_double), ("interrupt", POINTER(c_int))]


_lib.check_mirrors((mlpf_sweep_options,))   # its layout must match the library's


_lib.bind("mlpf_sweep_parse", c_void_p, [c_char_p, c_char_p, c_char_p, POINTER(mlpf_error)])
_lib.bind("mlpf_sweep_free", None, [c_void_p])
_lib.bind("mlpf_sweep_nruns", c_size_t, [c_void_p])
_lib.bind("mlpf_sweep_options_default", None, [POINTER(mlpf_sweep_options)])
_lib.bind("mlpf_sweep_run", c_int, [c_void_p, c_char_p, POINTER(mlpf_sweep_options),
                                    POINTER(mlpf_error)])


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError("%r cannot go into a sweep spec (JSON); write arrays to .npy files" % (v,))


def sweep(spec, db, threads=0, extend=False, quiet=True, base_dir="."):
    """Run every run of the sweep ``spec`` (a dict ``{"base": {...}, "axes": {...}}``,
    or a path to a SWEEP.json) not yet recorded in ``db``, on ``threads`` threads
    (0 = all cores), and return :func:`load_sweep` of it.

    Running it again resumes; ``extend=True`` accepts axes that gained values.
    Relative file names in the base resolve against ``base_dir`` (for a path: its
    folder).
    ``quiet=False`` prints the progress line on stderr. Ctrl-C stops the sweep (runs
    in flight stay pending) and raises KeyboardInterrupt.

    Example::

        >>> df = mf.sweep({"base": spec, "axes": {"seed": {"range": [1, 50]},
        ...                                       "layers.0.0": [3, 4, 5]}}, "runs.sqlite")
        >>> df.groupby("layers.0.0")["converged"].mean()
    """
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        with open(path) as f:
            text = f.read()
        name, base_dir = path, os.path.dirname(path)
    else:
        text = json.dumps(spec, default=_jsonable)
        name = "<sweep>"
    err = mlpf_error()
    s = _lib.check_ptr(_lib.need("mlpf_sweep_parse")(text.encode(), name.encode(),
                                                      os.fspath(base_dir).encode(), byref(err)),
                       err)
    try:
        opt = mlpf_sweep_options()
        lib.mlpf_sweep_options_default(byref(opt))
        opt.threads = int(threads)
        opt.extend = 1 if extend else 0
        opt.verbosity = 0 if quiet else 1
        stop = c_int(0)
        opt.interrupt = ctypes.pointer(stop)
        status = [None]

        def work():
            status[0] = lib.mlpf_sweep_run(s, os.fspath(db).encode(), byref(opt), byref(err))

        # the C call runs in a thread (ctypes releases the GIL) so that Ctrl-C
        # reaches Python, which then asks the sweep to stop
        t = threading.Thread(target=work, daemon=True)
        t.start()
        try:
            while t.is_alive():
                t.join(0.1)
        except KeyboardInterrupt:
            stop.value = 1
            t.join()
            raise
        _lib.check(status[0], err)
    finally:
        lib.mlpf_sweep_free(s)
    return load_sweep(db)


def _connect(db):
    if not os.path.exists(os.fspath(db)):
        raise FileNotFoundError("no sweep database %s" % os.fspath(db))
    return sqlite3.connect("file:%s?mode=ro" % os.path.abspath(os.fspath(db)), uri=True,
                           timeout=60)


def load_sweep(db):
    """The table ``runs`` of a sweep database as a pandas DataFrame, one row per run
    (pending, done and failed). ``df.attrs["axes"]`` lists the axis columns and
    ``df.attrs["base"]`` is the base spec (dict). Works while a sweep writes.

    Example::

        >>> df = mf.load_sweep("runs.sqlite")
        >>> df[df.status == "failed"][["run_id", "error"]]
    """
    import pandas as pd
    con = _connect(db)
    try:
        df = pd.read_sql_query("SELECT * FROM runs", con)
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    finally:
        con.close()
    df.attrs["axes"] = list(json.loads(meta.get("axes", "{}")))
    df.attrs["base"] = json.loads(meta.get("base", "{}"))
    return df


def load_run(path, run_id=None):
    """One run as a dict: ``load_run(db, run_id)`` reads run ``run_id`` of a sweep
    database -- its row (scalars, axis values, status, error) and its arrays (x, init,
    ode_x, trajectory_t, trajectory_x, loss_curve; absent for failed and pending
    runs); ``load_run("RUN")`` (no run_id) reads the RUN.json + RUN.npz pair that
    ``mlpflow train -o RUN`` writes (see :func:`mlpflow.core.load_run`).

    Example::

        >>> run = mf.load_run("runs.sqlite", df.run_id[0])
        >>> run["loss"], run["x"].shape, run["trajectory_x"].shape
    """
    if run_id is None:
        from .core import load_run as load_run_files
        return load_run_files(path)
    return _load_sweep_run(path, run_id)


def _load_sweep_run(db, run_id):
    con = _connect(db)
    try:
        cur = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        row = cur.fetchone()
        if row is None:
            raise KeyError("%s: no run %s" % (os.fspath(db), run_id))
        out = dict(zip([c[0] for c in cur.description], row))
        for name, blob in con.execute("SELECT name, npy FROM arrays WHERE run_id = ?",
                                      (run_id,)):
            out[name] = np.load(io.BytesIO(blob))
    finally:
        con.close()
    return out


def outcomes(df):
    """One word per run, as ``mlpflow sweep-report`` counts them: the classification
    ``kind`` when recorded, else ``"converged"`` or the minimiser's stop reason;
    ``"failed"`` and ``"pending"`` runs as such.

    Example::

        >>> mf.outcomes(mf.load_sweep("runs.sqlite")).value_counts()
    """
    lab = df["optim_stopped_by"].astype(object).where(df["converged"] != 1, "converged")
    lab = df["kind"].astype(object).where(df["kind"].notna(), lab)
    lab = lab.where(df["status"] != "failed", "failed")
    return lab.where(df["status"] != "pending", "pending")


def plot_outcomes(df, x, path=None, y=None, outcome="minimum", title=None, ax=None):
    """The fraction of done runs whose outcome (see :func:`outcomes`: the recorded
    classification ``kind``) is ``outcome``, over axis ``x`` (a curve) or over axes
    ``x`` and ``y`` (a phase diagram, one cell per pair of values, with the fraction
    written in it). Draws on ``ax`` (a new figure when omitted), saves a PNG only when
    ``path`` is given, and returns the Axes, like the helpers of :mod:`mlpflow.plot`.

    Example::

        >>> ax = mf.plot_outcomes(df, "layers.0.0", outcome="channel")
        >>> mf.plot_outcomes(df, "layers.0.0", "phase.png", y="teacher.seed")
    """
    from .plot import _axes, _finish
    ax, created = _axes(ax, (5, 3.6))
    fig = ax.figure
    done = df[df["status"] == "done"]
    hit = (outcomes(done) == outcome).astype(float)
    if y is None:
        frac = hit.groupby(done[x]).mean()
        ax.plot(frac.index, frac.values, "o-")
        ax.set_xlabel(x)
        ax.set_ylabel("fraction %s" % outcome)
        ax.set_ylim(-0.03, 1.03)
    else:
        frac = hit.groupby([done[y], done[x]]).mean().unstack()
        im = ax.imshow(frac.values, origin="lower", vmin=0, vmax=1, cmap="viridis",
                       aspect="auto")
        ax.set_xticks(range(len(frac.columns)), [str(v) for v in frac.columns])
        ax.set_yticks(range(len(frac.index)), [str(v) for v in frac.index])
        for i in range(frac.shape[0]):
            for j in range(frac.shape[1]):
                v = frac.values[i, j]
                if np.isfinite(v):
                    ax.text(j, i, "%.2f" % v, ha="center", va="center",
                            color="white" if v < 0.5 else "black", fontsize=8)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        fig.colorbar(im, ax=ax, label="fraction %s" % outcome)
    ax.set_title(title or "%s (%d runs)" % (outcome, len(done)))
    return _finish(ax, created, path)

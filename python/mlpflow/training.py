"""train(net, x0, **options): gradient flow (or GD / Adam) then a minimiser, in C."""
import ctypes
import math
import os
import threading
import warnings
from ctypes import POINTER, byref
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib
from ._lib import lib
from .core import _as_params, _err, _f64, _merge_array, _merges, _ptr, Net
from .result import Result

__all__ = ["train", "train_many", "default_options", "methods", "RESULT_KEYS"]


class _OptionInfo(ctypes.Structure):
    """Mirror of mlpf_option_info (include/mlpflow.h)."""
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_char_p),
                ("default_text", ctypes.c_char_p), ("doc", ctypes.c_char_p),
                ("min", ctypes.c_double), ("max", ctypes.c_double),
                ("min_exclusive", ctypes.c_int), ("max_exclusive", ctypes.c_int),
                ("inf_ok", ctypes.c_int)]


_option_count = _lib.bind("mlpf_option_count", ctypes.c_size_t, [])
_option_get = _lib.bind("mlpf_option_get", ctypes.c_int, [ctypes.c_size_t, POINTER(_OptionInfo)])
_option_check = _lib.bind("mlpf_option_check", ctypes.c_int,
                          [ctypes.c_char_p, ctypes.c_double, POINTER(_lib.mlpf_error)])
_method_count = _lib.bind("mlpf_method_count", ctypes.c_size_t, [])
_method_info = _lib.bind("mlpf_method_info", ctypes.c_int,
                         [ctypes.c_size_t] + [POINTER(ctypes.c_char_p)] * 3)


def _c_options():
    """The library's option table: [(name, type, default, doc, info)], in table order."""
    rows = []
    for i in range(_option_count()):
        info = _OptionInfo()
        if _option_get(i, byref(info)) == 0:
            rows.append((info.name.decode(), info.type.decode(), info.default_text.decode(),
                         info.doc.decode(), info.inf_ok))
    return rows


def methods():
    """The training methods of the library's registry: [(name, kind, doc)]; kind is
    "flow" or "descent" (values of alg), "minimiser" (optim_solver) or "none".

    Example::

        >>> ("bfgs", "minimiser") in [(m[0], m[1]) for m in mlpflow.training.methods()]
        True
    """
    out = []
    for i in range(_method_count()):
        n, k, d = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_char_p()
        if _method_info(i, byref(n), byref(k), byref(d)) == 0:
            out.append((n.value.decode(), k.value.decode(), d.value.decode()))
    return out


_TABLE = _c_options()
_TYPES = {name: typ for name, typ, _, _, _ in _TABLE}
_INF_OK = {name for name, _, _, _, inf_ok in _TABLE if inf_ok}
# Exact ranges of the integer fields' C types (ctypes would wrap silently).
_INT_RANGE = {"long": (0, 2**(8 * ctypes.sizeof(ctypes.c_long) - 1) - 1),
              "int": (0, 2**(8 * ctypes.sizeof(ctypes.c_int) - 1) - 1),
              "size": (0, 2**(8 * ctypes.sizeof(ctypes.c_size_t)) - 1),
              "uint64": (0, 2**64 - 1), "bool": (0, 1)}
_DOUBLE_OPTS = tuple(n for n, t in _TYPES.items() if t == "double")
_LONG_OPTS = tuple(n for n, t in _TYPES.items() if t == "long")
_INT_OPTS = tuple(n for n, t in _TYPES.items() if t in ("int", "bool"))
_STR_OPTS = tuple(n for n, t in _TYPES.items() if t == "string")
# Python-side options that are not plain fields of the C table.
_PY_OPTS = (("tauinv", "1", "time-scale factors: a scalar or one per parameter; 0 freezes"),
            ("merge", "net.merge", "merge regulariser [(layer, i, j, lambda), ...]"),
            ("weights", "none", "per-sample weights for this run (finite-data nets)"),
            ("progress", "auto", "True: a one-line progress display on stderr; a callable: "
             "called with a dict every progress_interval s (any verbosity); False: off; "
             "None: on in interactive sessions (the Python prompt, IPython, notebooks)"))
OPTIONS = tuple(_TYPES) + tuple(p[0] for p in _PY_OPTS)


def _options_doc():
    """The option and method table of train's docstring, from the C tables."""
    lines = ["Options (name [default]: meaning), from the library's option table::", ""]
    for name, _, default, doc, _ in _TABLE:
        if name == "maxnorm":
            default = "net.maxnorm"
        lines.append("    %s [%s]: %s" % (name, default, doc))
    for name, default, doc in _PY_OPTS:
        lines.append("    %s [%s]: %s" % (name, default, doc))
    lines += ["", "Methods (alg: flow or descent; optim_solver: minimiser; none skips the "
              "phase)::", ""]
    for name, kind, doc in methods():
        lines.append("    %s (%s): %s" % (name, kind, doc))
    return "\n".join("    " + ln if ln else "" for ln in lines)


def _check_number(name, value):
    """The library's one check of a numeric option (NaN, range, integrality)."""
    err = _err()
    _lib.check(_option_check(name.encode(), float(value), byref(err)), err)


def _int_option(name, v):
    """An integer option, range-checked exactly against its C field (never wrapped)."""
    lo, hi = _INT_RANGE[_TYPES[name]]
    if isinstance(v, (bool, int, np.integer)):
        iv = int(v)
    else:
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise ValueError("%s: expected an integer, got %r" % (name, v)) from None
        if math.isinf(fv) and fv > 0 and name in _INF_OK:
            return hi
        if not math.isfinite(fv) or fv != int(fv):
            raise ValueError("%s: expected an integer in [%d, %d], got %r" % (name, lo, hi, v))
        iv = int(fv)
    if not lo <= iv <= hi:
        raise ValueError("%s: %d is out of range [%d, %d]" % (name, iv, lo, hi))
    return iv


RESULT_KEYS = ("x", "init", "ode_x", "loss", "ode_loss", "gnorm", "gnorm_regularized",
               "converged", "ode_stopped_by", "optim_stopped_by", "ode_iterations",
               "optim_iterations", "ode_time_run", "optim_time_run", "total_time", "trajectory",
               "loss_curve")


def default_options():
    """The library's default train options as a dict (mlpf_train_options_default).

    Example::

        >>> mlpflow.default_options()["abstol"]
        1e-06
    """
    o = _lib.mlpf_train_options()
    lib.mlpf_train_options_default(byref(o))
    d = {}
    for name in _DOUBLE_OPTS + _LONG_OPTS + _INT_OPTS:
        d[name] = getattr(o, name)
    for name in _STR_OPTS:
        d[name] = getattr(o, name).decode()
    d["batchsize"] = o.batchsize
    d["seed"] = o.seed
    d["tauinv"] = 1.0
    d["merge"] = []
    return d


class _Keep:
    """Holds Python objects the C options point to while training runs."""


def _options(net, options, keep):
    unknown = [k for k in options if k not in OPTIONS]
    if unknown:
        raise TypeError("train: unknown option(s) %s (known: %s)"
                        % (", ".join(sorted(unknown)), ", ".join(OPTIONS)))
    o = _lib.mlpf_train_options()
    lib.mlpf_train_options_default(byref(o))
    o.maxnorm = getattr(net, "maxnorm", math.inf)
    merge = getattr(net, "merge", [])
    for name, v in options.items():
        if v is None:
            continue
        if name in _DOUBLE_OPTS:
            try:
                fv = float(v)
            except (TypeError, ValueError):
                raise ValueError("%s: expected a number, got %r" % (name, v)) from None
            _check_number(name, fv)
            setattr(o, name, fv)
        elif name in _TYPES and _TYPES[name] in _INT_RANGE:
            setattr(o, name, _int_option(name, v))
        elif name in _STR_OPTS:
            b = str(v).encode()
            if len(b) >= 32:
                raise ValueError("%s: name too long: %r" % (name, v))
            setattr(o, name, b)
        elif name == "tauinv":
            t = _f64(v, "tauinv").reshape(-1)
            if t.size not in (1, net.nparams):
                raise ValueError("tauinv: expected a scalar or %d values (one per parameter), "
                                 "got %d" % (net.nparams, t.size))
            keep.tauinv = t
            o.tauinv = _ptr(t)
            o.ntauinv = t.size
        elif name == "merge":
            merge = _merges(v, net)
    keep.merges, n = _merge_array(merge)
    if n:
        o.merges = keep.merges
        o.nmerges = n
    keep.asked = {"verbosity": o.verbosity, "progress_interval": o.progress_interval}
    cb = _progress_callback(options.get("progress"), keep)
    if cb is not None:
        o.verbosity = max(o.verbosity, 1)   # the C library reports only when verbosity >= 1
        if options.get("progress_interval") is None and keep.line is not None:
            o.progress_interval = 0.5

        def _progress(ctx, p, _cb=cb):
            try:
                q = p.contents
                _cb({"t": q.t, "elapsed": q.elapsed, "loss": q.loss, "gnorm": q.gnorm,
                     "step": q.step, "iteration": q.iteration,
                     "phase": q.phase.decode() if q.phase else ""})
            except Exception as e:   # never let an exception cross into C
                warnings.warn("progress callback raised %r" % (e,))
        keep.progress = _lib.PROGRESS_FN(_progress)
        o.progress = keep.progress
    keep.interrupt = ctypes.c_int(0)
    o.interrupt = ctypes.pointer(keep.interrupt)
    return o


def _interactive():
    """True in an interactive session: the Python prompt, IPython or a notebook
    (a script run from a terminal is not one: its progress is off unless asked)."""
    import sys
    if hasattr(sys, "ps1") or sys.flags.interactive:
        return True
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return bool(get and get() is not None)


class _ProgressLine:
    """A single stderr line rewritten in place ("\r"); thread-safe."""

    def __init__(self, label):
        import sys
        self.label, self.stream, self.width = label, sys.stderr, 0
        self.lock = threading.Lock()

    def show(self, text):
        text = "%s: %s" % (self.label, text)
        with self.lock:
            self.stream.write("\r" + text.ljust(self.width))
            self.stream.flush()
            self.width = len(text)

    def step(self, p):
        if p["phase"] == "ode":
            self.show("flow  t %-10.4g loss %-11.5g gnorm %-10.3g %6.1f s"
                      % (p["t"], p["loss"], p["gnorm"], p["elapsed"]))
        else:
            self.show("%-5s it %-9d loss %-11.5g gnorm %-10.3g %6.1f s"
                      % (p["phase"], p["iteration"], p["loss"], p["gnorm"], p["elapsed"]))

    def close(self):
        with self.lock:
            if self.width:
                self.stream.write("\n")
                self.stream.flush()
                self.width = 0


def _progress_callback(progress, keep, label="mlpflow.train"):
    """The Python callable the C progress reports go to (None: no reports); a
    _ProgressLine in keep.line when progress is displayed."""
    keep.line = None
    if progress is None:
        progress = _interactive()
    if progress is False:
        return None
    if progress is True:
        keep.line = _ProgressLine(label)
        progress = keep.line.step
    if not callable(progress):
        raise ValueError("progress: expected True, False, None or a callable, got %r"
                         % (progress,))
    return progress


def _vec(p, n):
    return np.ctypeslib.as_array(p, shape=(n,)).copy() if p and n else np.empty(0)


def _options_used(o, keep):
    """The options a run used, as the CLI records them in RUN.json ("options")."""
    d = {}
    for name, typ, _, _, _ in _TABLE:
        v = getattr(o, name)
        d[name] = v.decode() if typ == "string" else bool(v) if typ == "bool" else v
    d.update(keep.asked)   # as given: a progress display raises them for the C call only
    t = getattr(keep, "tauinv", None)
    d["tauinv"] = 1.0 if t is None else float(t[0]) if t.size == 1 else t.tolist()
    d["merge"] = [[m.layer, m.i, m.j, m.lambda_] for m in (keep.merges or [])]
    return d


def _result(fields, net, o, keep):
    """A Result from the C result's fields, the options used and the network."""
    d = Result(fields)
    d["version"] = _lib.version
    d["options"] = _options_used(o, keep)
    d["net"] = net.describe()
    d.network, d._net_data = net, net.data()
    return d


def _result_dict(r):
    P = r.nparams
    nt = r.ntrajectory
    traj_t = _vec(r.trajectory_t, nt)
    traj_x = (np.ctypeslib.as_array(r.trajectory_x, shape=(nt, P)).copy()
              if r.trajectory_x and nt else np.empty((0, P)))
    return {
        "x": _vec(r.x, P), "init": _vec(r.init, P), "ode_x": _vec(r.ode_x, P),
        "loss": r.loss, "ode_loss": r.ode_loss, "gnorm": r.gnorm,
        "gnorm_regularized": r.gnorm_regularized, "converged": bool(r.converged),
        "ode_stopped_by": r.ode_stopped_by.decode(), "optim_stopped_by":
        r.optim_stopped_by.decode(), "ode_iterations": r.ode_iterations,
        "optim_iterations": r.optim_iterations, "ode_time_run": r.ode_time_run,
        "optim_time_run": r.optim_time_run, "total_time": r.total_time,
        "trajectory": {"t": traj_t, "x": traj_x},
        "loss_curve": _vec(r.loss_curve, nt),
        "alg": r.alg.decode(), "optim_solver": r.optim_solver.decode(),
        "ode_wall_time": r.ode_wall_time, "nparams": P,
        "ode_kinks": r.ode_kinks.decode(), "loss_error": r.loss_error,
        "ode_retaken": r.ode_retaken,
    }


def _call_interruptible(run, keep, out):
    """run() (a C call that releases the GIL) in a worker thread while the main
    thread waits in short timed waits, so that Ctrl-C reaches Python and sets the
    library's stop flag; returns True when Ctrl-C was pressed. Exceptions of run
    land in out["exc"]. Off the main thread run() is called directly."""
    if threading.current_thread() is not threading.main_thread():
        run()
        return False
    done = threading.Event()

    def work():
        try:
            run()
        except BaseException as e:   # pragma: no cover
            out["exc"] = e
        finally:
            done.set()
    worker = threading.Thread(target=work, name="mlpflow-train", daemon=True)
    worker.start()
    interrupted = False
    while not done.is_set():
        try:
            done.wait(0.05)
        except KeyboardInterrupt:
            keep.interrupt.value = 1
            interrupted = True
    worker.join()
    return interrupted


def train(net, x0, *, alg: Optional[str] = None, maxT: Optional[float] = None,
          abstol: Optional[float] = None, reltol: Optional[float] = None,
          maxtime_ode: Optional[float] = None, maxiterations_ode: Optional[int] = None,
          rk4_step: Optional[float] = None, lr: Optional[float] = None,
          beta1: Optional[float] = None, beta2: Optional[float] = None,
          eps: Optional[float] = None, batchsize: Optional[int] = None,
          shuffle: Optional[bool] = None, optim_solver: Optional[str] = None,
          maxtime_optim: Optional[float] = None, maxiterations_optim: Optional[int] = None,
          min_gnorm: Optional[float] = None, minloss: Optional[float] = None,
          patience: Optional[int] = None, maxnorm: Optional[float] = None,
          n_samples_trajectory: Optional[int] = None, verbosity: Optional[int] = None,
          progress_interval: Optional[float] = None, seed: Optional[int] = None,
          tauinv: Union[float, "np.ndarray", None] = None,
          merge: Optional[Sequence[Tuple[int, int, int, float]]] = None,
          weights: Optional["np.ndarray"] = None,
          progress: Union[bool, Callable[[dict], None], None] = None) -> Result:
    """Gradient flow from x0 (an adaptive ODE solver, or GD / Adam), then a minimiser;
    returns a :class:`mlpflow.Result` (a dict with the result keys of the reference
    system). Every option is keyword-only; None (the default) means the library's
    default listed here.

    {options}

    Result keys: x (best point), init, ode_x, loss, ode_loss, gnorm, gnorm_regularized,
    converged, ode_stopped_by, optim_stopped_by, ode_iterations, optim_iterations,
    ode_time_run, optim_time_run, total_time, trajectory ({"t": (n,), "x": (n, P)}),
    loss_curve (n,), and also alg, optim_solver, ode_wall_time, nparams, version,
    options (the options used) and net (the network description). ``trajectory``
    and ``loss_curve`` cover the flow phase (alg) only; the minimiser's phase ends
    at ``x``. ``res.save(path)`` writes the CLI's RUN.json + RUN.npz.

    Every option is checked by the library's option table before training: NaN,
    values out of range (integers too large for their C field included) raise
    ValueError naming the option. The C call runs in a worker thread without the GIL,
    so several threads can train at once. Ctrl-C stops training cooperatively
    (within about 0.5 s plus one objective evaluation): the result so far (best
    point, stopped_by "interrupt") is returned with a warning.

    Example::

        >>> res = mlpflow.train(net, mlpflow.random_params(net, seed=1), maxT=1e3,
        ...                     maxtime_ode=5, maxtime_optim=5)
        >>> res["gnorm"] < 1e-10, res["optim_stopped_by"]
        (True, 'min_gnorm')
    """
    options = {k: v for k, v in locals().items() if k in OPTIONS and v is not None}
    if weights is not None:
        if not isinstance(net, Net):
            raise ValueError("weights: only finite-data nets (Net) have per-sample weights")
        net = net.with_weights(weights)
    obj = net._objective(False)
    x0 = _as_params(net, x0, "x0")
    keep = _Keep()
    opt = _options(net, options, keep)
    out = {}

    def run():
        res = POINTER(_lib.mlpf_result)()
        err = _err()
        st = lib.mlpf_train(obj, _ptr(x0), byref(opt), byref(res), byref(err))
        out["st"], out["err"], out["res"] = st, err, res

    try:
        interrupted = _call_interruptible(run, keep, out)
    finally:
        if keep.line is not None:
            keep.line.close()
    if "exc" in out:
        raise out["exc"]
    res = out["res"]
    try:
        _lib.check(out["st"], out["err"])
        if not res:
            raise _lib.Error("mlpf_train returned no result", 7)
        d = _result(_result_dict(res.contents), net, opt, keep)
    finally:
        if res:
            lib.mlpf_result_free(res)
    if interrupted:
        warnings.warn("mlpflow.train: interrupted (Ctrl-C); returning the best point so far",
                      RuntimeWarning, stacklevel=2)
    return d


def train_many(net, x0s, threads: int = 0,
               progress: Union[bool, Callable[[dict], None], None] = None,
               **options) -> List[Result]:
    """Train from each row of x0s (K, P) on ``threads`` threads (mlpf_train_many);
    returns a list of :class:`mlpflow.Result`, one per start, as :func:`train`
    (same options, keyword-only).

    ``progress`` counts finished runs: True shows one stderr line ("runs 3/10, best
    loss ..."), a callable receives {"done", "total", "best_loss", "elapsed"} after
    each batch of ``threads`` runs, False is off, None (default) is on when the
    session is interactive. With progress the starts run in batches of ``threads``
    (0: one per CPU); each run's numbers do not depend on the batching.

    Ctrl-C stops every running start cooperatively: the finished runs and the best
    points of the running ones (stopped_by "interrupt"; starts not yet begun stop at
    their initial point) are returned with a warning.

    Example::

        >>> x0s = np.stack([mlpflow.random_params(net, seed=s) for s in range(4)])
        >>> results = mlpflow.train_many(net, x0s, threads=2, maxtime_ode=2)
        >>> len(results)
        4
    """
    X0 = _f64(x0s, "x0s", 2)
    if X0.shape[1] != net.nparams:
        raise ValueError("x0s: expected shape (K, %d), got %s" % (net.nparams, X0.shape))
    threads = _lib.int_arg("threads", threads, 0, 4096)
    weights = options.get("weights")
    if weights is not None:
        net = net.with_weights(weights)
    obj = net._objective(False)
    keep = _Keep()
    # no per-run progress inside the C call: its reports would come from several threads
    opt = _options(net, dict(options, progress=False), keep)
    K = X0.shape[0]
    report = _progress_callback(progress, keep, "mlpflow.train_many")
    batch = K if report is None else max(1, threads or os.cpu_count() or 1)
    dicts, interrupted = [], False
    start = __import__("time").monotonic()
    try:
        for lo in range(0, K, batch):
            part, stop = _train_batch(obj, X0[lo:lo + batch], opt, threads, keep)
            interrupted |= stop
            dicts += [_result(r, net, opt, keep) for r in part]
            for k in range(lo, len(dicts)):
                dicts[k]["start"] = k   # the row of x0s (as the CLI's "start")
            if report is not None:
                best = min(d["loss"] for d in dicts)
                info = {"done": len(dicts), "total": K, "best_loss": best,
                        "elapsed": __import__("time").monotonic() - start}
                if keep.line is not None:
                    keep.line.show("runs %d/%d, best loss %.6g, %.1f s"
                                   % (info["done"], K, best, info["elapsed"]))
                else:
                    report(info)
    finally:
        if keep.line is not None:
            keep.line.close()
    if interrupted:
        warnings.warn("mlpflow.train_many: interrupted (Ctrl-C); returning the finished runs "
                      "and the best points of the running ones (stopped_by \"interrupt\")",
                      RuntimeWarning, stacklevel=2)
    return dicts


def _train_batch(obj, X0, opt, threads, keep):
    """mlpf_train_many on the rows of X0: ([result fields], interrupted)."""
    K = X0.shape[0]
    X0 = np.ascontiguousarray(X0)
    results = (POINTER(_lib.mlpf_result) * K)()
    errs = (_lib.mlpf_error * K)()
    out = {}

    def run():
        out["st"] = lib.mlpf_train_many(obj, _ptr(X0), K, byref(opt), threads, results, errs)

    interrupted = _call_interruptible(run, keep, out)
    try:
        if "exc" in out:
            raise out["exc"]
        st = out["st"]
        if st:
            for k in range(K):
                _lib.check(errs[k].status, errs[k])
            _lib.check(st, _lib.mlpf_error(st, b"train_many failed"))
        return [_result_dict(results[k].contents) for k in range(K)], interrupted
    finally:
        for k in range(K):
            if results[k]:
                lib.mlpf_result_free(results[k])


if train.__doc__:
    train.__doc__ = train.__doc__.replace("{options}", _options_doc().lstrip())

"""train(net, x0, **options): gradient flow (or GD / Adam) then a minimiser, in C."""
import ctypes
import math
import threading
import warnings
from ctypes import POINTER, byref

import numpy as np

from . import _lib
from ._lib import lib
from .core import _as_params, _err, _f64, _merge_array, _merges, _ptr, Net

__all__ = ["train", "train_many", "default_options", "RESULT_KEYS"]

# Options by the reference system's names -> the C struct field (same name unless noted).
_DOUBLE_OPTS = ("maxT", "abstol", "reltol", "maxtime_ode", "rk4_step", "lr", "beta1", "beta2",
                "eps", "maxtime_optim", "min_gnorm", "minloss", "progress_interval", "maxnorm")
_LONG_OPTS = ("maxiterations_ode", "maxiterations_optim", "patience")
_INT_OPTS = ("n_samples_trajectory", "verbosity", "shuffle")
_STR_OPTS = ("alg", "optim_solver")
_OTHER_OPTS = ("batchsize", "seed", "tauinv", "merge", "weights", "progress")
OPTIONS = _DOUBLE_OPTS + _LONG_OPTS + _INT_OPTS + _STR_OPTS + _OTHER_OPTS

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
                setattr(o, name, float(v))
            except (TypeError, ValueError):
                raise ValueError("%s: expected a number, got %r" % (name, v)) from None
        elif name in _LONG_OPTS or name in _INT_OPTS:
            fv = float(v)
            if math.isinf(fv) and name in _LONG_OPTS:
                fv = 2**62
            if fv != int(fv):
                raise ValueError("%s: expected an integer, got %r" % (name, v))
            setattr(o, name, int(fv))
        elif name in _STR_OPTS:
            b = str(v).encode()
            if len(b) >= 32:
                raise ValueError("%s: name too long: %r" % (name, v))
            setattr(o, name, b)
        elif name == "batchsize":
            if int(v) < 0:
                raise ValueError("batchsize: must be >= 0, got %r" % (v,))
            o.batchsize = int(v)
        elif name == "seed":
            o.seed = int(v) & (2**64 - 1)
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
    cb = options.get("progress")
    if cb is not None:
        if not callable(cb):
            raise ValueError("progress: expected a callable")

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


def _vec(p, n):
    return np.ctypeslib.as_array(p, shape=(n,)).copy() if p and n else np.empty(0)


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
    }


def train(net, x0, **options):
    """Gradient flow from x0 (an adaptive ODE solver, or GD / Adam), then a minimiser;
    returns a dict with the result keys of the reference system.

    Options (reference names and defaults): alg [by P: "kencarp58" when P <= 64,
    else "rk4"; also "bdf", "dopri5", "verner8", "gd", "adam", "none"], maxT [inf],
    abstol [1e-6], reltol [1e-6], maxtime_ode [180 s], maxiterations_ode [1e6],
    optim_solver [by P; "newtontr", "bfgs", "lbfgs", "slsqp", "nlopt_lbfgs",
    "nlopt_tnewton", "none"], maxtime_optim [120 s], maxiterations_optim [1e5],
    min_gnorm [1e-15], minloss [2e-32], patience [1e6], tauinv (scalar or one per
    parameter; 0 freezes), maxnorm [net.maxnorm], merge [net.merge], batchsize
    [0 = full batch; gd / adam], lr [1e-3], beta1, beta2, eps, rk4_step [1e-2],
    shuffle, weights (per-sample weights for this run; finite-data nets),
    n_samples_trajectory [100], verbosity [0], progress_interval [5 s],
    progress (a callable receiving a dict), seed [1].

    Result keys: x (best point), init, ode_x, loss, ode_loss, gnorm, gnorm_regularized,
    converged, ode_stopped_by, optim_stopped_by, ode_iterations, optim_iterations,
    ode_time_run, optim_time_run, total_time, trajectory ({"t": (n,), "x": (n, P)}),
    loss_curve (n,), and also alg, optim_solver, ode_wall_time, nparams.

    The C call runs in a worker thread without the GIL, so several threads can train
    at once. Ctrl-C stops training cooperatively: the result so far (best point,
    stopped_by "interrupt") is returned with a warning.

    Example::

        >>> res = mlpflow.train(net, mlpflow.random_params(net, seed=1), maxT=1e3,
        ...                     maxtime_ode=5, maxtime_optim=5)
        >>> res["gnorm"] < 1e-10, res["optim_stopped_by"]
        (True, 'min_gnorm')
    """
    weights = options.get("weights")
    if weights is not None:
        if not isinstance(net, Net):
            raise ValueError("weights: only finite-data nets (Net) have per-sample weights")
        net = net.with_weights(weights)
    obj = net._objective(False)
    x0 = _as_params(net, x0, "x0")
    keep = _Keep()
    opt = _options(net, options, keep)
    out = {}

    done = threading.Event()

    def run():
        res = POINTER(_lib.mlpf_result)()
        err = _err()
        try:
            st = lib.mlpf_train(obj, _ptr(x0), byref(opt), byref(res), byref(err))
            out["st"], out["err"], out["res"] = st, err, res
        except BaseException as e:   # pragma: no cover
            out["exc"] = e
        finally:
            done.set()

    interrupted = False
    if threading.current_thread() is threading.main_thread():
        # The C call runs in a worker (ctypes releases the GIL); the main thread waits
        # in short timed waits so that Ctrl-C reaches Python and sets the stop flag.
        worker = threading.Thread(target=run, name="mlpflow-train", daemon=True)
        worker.start()
        while not done.is_set():
            try:
                done.wait(0.05)
            except KeyboardInterrupt:
                keep.interrupt.value = 1
                interrupted = True
        worker.join()
    else:
        run()
    if "exc" in out:
        raise out["exc"]
    res = out["res"]
    try:
        _lib.check(out["st"], out["err"])
        if not res:
            raise _lib.Error("mlpf_train returned no result", 7)
        d = _result_dict(res.contents)
    finally:
        if res:
            lib.mlpf_result_free(res)
    if interrupted:
        warnings.warn("mlpflow.train: interrupted (Ctrl-C); returning the best point so far",
                      RuntimeWarning, stacklevel=2)
    return d


def train_many(net, x0s, threads=0, **options):
    """Train from each row of x0s (K, P) on ``threads`` threads (mlpf_train_many);
    returns a list of result dicts, one per start, as :func:`train`.

    Example::

        >>> x0s = np.stack([mlpflow.random_params(net, seed=s) for s in range(4)])
        >>> results = mlpflow.train_many(net, x0s, threads=2, maxtime_ode=2)
        >>> len(results)
        4
    """
    if "progress" in options and options["progress"] is not None:
        raise ValueError("progress: not supported by train_many")
    X0 = _f64(x0s, "x0s", 2)
    if X0.shape[1] != net.nparams:
        raise ValueError("x0s: expected shape (K, %d), got %s" % (net.nparams, X0.shape))
    weights = options.get("weights")
    if weights is not None:
        net = net.with_weights(weights)
    obj = net._objective(False)
    keep = _Keep()
    opt = _options(net, options, keep)
    K = X0.shape[0]
    results = (POINTER(_lib.mlpf_result) * K)()
    errs = (_lib.mlpf_error * K)()
    st = lib.mlpf_train_many(obj, _ptr(X0), K, byref(opt), int(threads), results, errs)
    try:
        if st:
            for k in range(K):
                _lib.check(errs[k].status, errs[k])
            _lib.check(st, _lib.mlpf_error(st, b"train_many failed"))
        return [_result_dict(results[k].contents) for k in range(K)]
    finally:
        for k in range(K):
            if results[k]:
                lib.mlpf_result_free(results[k])

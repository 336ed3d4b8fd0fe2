"""Result: what :func:`mlpflow.train` returns, saved and loaded in the CLI's run format.

A run is the pair RUN.json (scalars, options, the network description) + RUN.npz
(arrays), exactly as ``mlpflow train -o RUN`` writes it (src/result/result_io.c):
RUN.json records RUN.npz's size and CRC-32 so a mixed pair is detected. Python
runs add the network they were trained on: ``"net"`` in RUN.json (see
:meth:`mlpflow.Net.describe`) and its data as ``net_input``, ``net_target``,
``net_weights``, ``net_teacher_params`` ... in RUN.npz. The CLI reads the ``x`` of
either kind (``mlpflow spectrum --params RUN.npz``).
"""
import io
import json
import math
import os
import zipfile
import zlib

import numpy as np

from .core import PathLike, load_run, rebuild

__all__ = ["Result", "load"]

# RUN.json's scalar fields in the order the CLI writes them (mlpf_result_json)
_SCALARS = ("version", "nparams", "loss", "ode_loss", "gnorm", "gnorm_regularized", "converged",
            "ode_stopped_by", "optim_stopped_by", "alg", "optim_solver", "ode_iterations",
            "optim_iterations", "ode_time_run", "optim_time_run", "ode_wall_time", "total_time")
_FLOATS = ("loss", "ode_loss", "gnorm", "gnorm_regularized", "ode_time_run", "optim_time_run",
           "ode_wall_time", "total_time", "loss_error")
_VECTORS = ("x", "init", "ode_x")
_DATA_PREFIX = "net_"


def _json_value(v):
    """v with non-finite floats spelled "inf", "-inf", "nan" (as the CLI writes them)
    and numpy scalars / arrays as plain JSON values."""
    if isinstance(v, dict):
        return {k: _json_value(w) for k, w in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(w) for w in v]
    if isinstance(v, np.ndarray):
        return _json_value(v.tolist())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else "nan" if math.isnan(v) else "inf" if v > 0 else "-inf"
    return v


def _npy_bytes(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def _npz_bytes(arrays):
    """An uncompressed .npz (stored zip members NAME.npy), as numpy and the CLI read it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, a in arrays.items():
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)),
                       _npy_bytes(a))
    return buf.getvalue()


def _write_atomic(path, data):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _stem(path):
    base = os.fspath(path)
    for ext in (".json", ".npz"):
        if base.endswith(ext):
            return base[:-len(ext)]
    return base


class Result(dict):
    """The result of :func:`mlpflow.train`: a dict with the keys of the reference
    system (x, init, ode_x, loss, ode_loss, gnorm, gnorm_regularized, converged,
    ode_stopped_by, optim_stopped_by, ode_iterations, optim_iterations, ode_time_run,
    optim_time_run, total_time, trajectory {"t", "x"}, loss_curve) plus alg,
    optim_solver, ode_wall_time, nparams, ode_kinks (the units at a kink when
    ode_stopped_by is "nonsmooth", else ""), version, the resolved ``options`` and the
    ``net`` description; ``res.network`` is the network object it was trained on.

    ``trajectory`` and ``loss_curve`` cover the flow phase (alg) only, sampled at
    ``n_samples_trajectory`` times; the minimiser's phase ends at ``x``.

    Example::

        >>> res = mlpflow.train(net, x0, maxT=100)
        >>> res                       # one screen: loss, gnorm, stop reasons, times
        >>> res.save("out/run1")      # out/run1.json + out/run1.npz (the CLI's format)
        >>> same = mlpflow.load("out/run1")
        >>> np.array_equal(same["x"], res["x"]), mlpflow.loss(same.network, same["x"])
    """

    network = None   # the network object (set by train, rebuilt by load)
    _net_data = None

    def __repr__(self):
        g = self.get
        lines = ["Result: loss %.6g, gnorm %.3g, %s (%d parameters)"
                 % (g("loss", math.nan), g("gnorm", math.nan),
                    "converged" if g("converged") else "not converged", g("nparams", 0))]
        if g("alg") != "none":
            lines.append("  flow      %-10s stopped by %-12s t = %-10.4g %d steps, %.3g s, "
                         "loss %.6g" % (g("alg", "?"), g("ode_stopped_by", "?"),
                                        g("ode_time_run", math.nan), g("ode_iterations", 0),
                                        g("ode_wall_time", math.nan), g("ode_loss", math.nan)))
            if g("ode_kinks"):
                lines.append("            units at a kink: %s" % g("ode_kinks"))
        if g("optim_solver") != "none":
            lines.append("  minimiser %-10s stopped by %-12s %d iterations, %.3g s"
                         % (g("optim_solver", "?"), g("optim_stopped_by", "?"),
                            g("optim_iterations", 0), g("optim_time_run", math.nan)))
        lines.append("  total %.3g s; trajectory: %d points of the flow phase"
                     % (g("total_time", math.nan), len(g("loss_curve", ()))))
        if isinstance(g("net"), dict):
            n = g("net")
            lines.append("  net %s %s, din %s" % (n.get("type"), n.get("layers"), n.get("din")))
        elif "spec" in self:
            lines.append("  spec %s" % g("spec"))
        if "classification" in self:
            c = repr(g("classification"))
            lines.append("  classification " + (c if len(c) < 200 else c[:197] + "..."))
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):
        """IPython / Jupyter: the one-screen summary, not the dict printer."""
        p.text(repr(self))

    def save(self, path: PathLike) -> str:
        """Write RUN.json + RUN.npz (``path`` is "RUN", "RUN.json" or "RUN.npz"), in the
        CLI's format, with the network description and its data; returns the stem.

        Example::

            >>> res.save("runs/seed1")
            'runs/seed1'
        """
        stem = _stem(path)
        d = os.path.dirname(stem)
        if d:
            os.makedirs(d, exist_ok=True)
        traj = self.get("trajectory") or {}
        P = int(self.get("nparams", np.size(self.get("x", ()))))
        arrays = {k: np.asarray(self.get(k, np.empty(0)), dtype=np.float64) for k in _VECTORS}
        arrays["trajectory_t"] = np.asarray(traj.get("t", np.empty(0)), dtype=np.float64)
        arrays["trajectory_x"] = np.asarray(traj.get("x", np.empty((0, P))), dtype=np.float64)
        arrays["loss_curve"] = np.asarray(self.get("loss_curve", np.empty(0)), dtype=np.float64)
        for k, a in (self._net_data or {}).items():
            arrays[_DATA_PREFIX + k] = np.asarray(a, dtype=np.float64)
        data = _npz_bytes(arrays)
        _write_atomic(stem + ".npz", data)
        meta = {k: self[k] for k in _SCALARS if k in self}
        meta["ntrajectory"] = int(arrays["trajectory_t"].size)
        rest = [k for k in self if k not in meta and k not in _VECTORS and
                k not in ("trajectory", "loss_curve", "ntrajectory", "npz")]
        meta.update({k: self[k] for k in rest})
        meta["npz"] = {"file": os.path.basename(stem) + ".npz", "bytes": len(data),
                       "crc32": "%08x" % zlib.crc32(data)}
        text = json.dumps(_json_value(meta), indent="\t", allow_nan=False)
        _write_atomic(stem + ".json", (text + "\n").encode())
        return stem


def _from_run(r):
    """A Result from load_run's flat dict (trajectory_t / trajectory_x regrouped)."""
    res = Result()
    data = {}
    for k, v in r.items():
        if k.startswith(_DATA_PREFIX) and isinstance(v, np.ndarray):
            data[k[len(_DATA_PREFIX):]] = v
        elif k in _FLOATS and isinstance(v, int) and not isinstance(v, bool):
            res[k] = float(v)   # the CLI writes 10.0 as 10
        elif k not in ("npz", "ntrajectory", "trajectory_t", "trajectory_x"):
            res[k] = v
    res["trajectory"] = {"t": r["trajectory_t"], "x": r["trajectory_x"]}
    order = [k for k in ("x", "init", "ode_x") + _SCALARS if k in res]
    out = Result((k, res[k]) for k in order)
    out.update((k, v) for k, v in res.items() if k not in out)
    out._net_data = data
    return out


def load(path: PathLike, network: bool = True) -> Result:
    """Read a run (RUN.json + RUN.npz, written by :meth:`Result.save` or by
    ``mlpflow train -o RUN``) as a :class:`Result`; the pair's size and CRC-32 are
    checked. With ``network=True`` the network of a Python run is rebuilt from its
    description and data as ``res.network`` (CLI runs name their ``spec`` instead).

    Example::

        >>> res = mlpflow.load("runs/seed1")
        >>> res["x"].shape == (res["nparams"],)
        True
    """
    res = _from_run(load_run(path))
    if network and isinstance(res.get("net"), dict):
        res.network = rebuild(res["net"], res._net_data)
    return res

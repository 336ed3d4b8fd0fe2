"""Loading libmlpflow.so and the ctypes mirror of the public C API (include/mlpflow.h).

Every structure here mirrors its C counterpart field by field, in order. The
library is found through, in order:

1. the environment variable ``MLPFLOW_LIB`` (a path to libmlpflow.so);
2. the copy inside the package (wheels built by ``make python`` carry one);
3. the build tree next to this package's source (``<repo>/build/libmlpflow.so``);
4. an installed prefix: ``ctypes.util.find_library("mlpflow")``,
   ``/usr/local/lib/libmlpflow.so``, ``/usr/lib/libmlpflow.so``.

If none loads, importing :mod:`mlpflow` raises ``ImportError`` listing every path
that was tried and why it failed.
"""
import ctypes
import ctypes.util
import operator
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int,
                    c_long, c_size_t, c_uint64, c_void_p)
from pathlib import Path

import numpy as np

MLPF_ERRMSG_LEN = 512
MLPF_POLY_MAXCOEF = 16

STATUS_NAMES = {
    0: "MLPF_OK", 1: "MLPF_EINVAL", 2: "MLPF_ENOMEM", 3: "MLPF_EIO", 4: "MLPF_EFORMAT",
    5: "MLPF_ENONFINITE", 6: "MLPF_EUNSUPPORTED", 7: "MLPF_ENUMERIC", 8: "MLPF_EINTERRUPTED",
}


class Error(RuntimeError):
    """An error reported by libmlpflow; ``str(e)`` is the library's message.

    Attributes: ``status`` (the C status code, e.g. 1 for MLPF_EINVAL) and
    ``status_name`` (e.g. ``"MLPF_EINVAL"``).

    Example::

        >>> try:
        ...     mlpflow.gauss_hermite_net(teacher3d, layers)   # din 3: unsupported
        ... except mlpflow.Error as e:
        ...     print(e.status_name, e)
    """

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status
        self.status_name = STATUS_NAMES.get(status, str(status))


INT_MAX = 2**31 - 1
UINT64_MAX = 2**64 - 1


def int_arg(name, value, lo=0, hi=INT_MAX):
    """value as a Python int in [lo, hi], else a ValueError naming the argument.

    ctypes converts silently modulo 2**32 or 2**64 (a layer of 2**32 + 3 units
    would become 3 units, seed -1 would become 2**64 - 1), so every integer that
    goes to the library passes through here. Integral floats (``5.0``) are
    accepted; booleans, fractions and non-numbers are not.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError("%s: expected an integer, got %r" % (name, value))
    try:
        iv = operator.index(value)
    except TypeError:
        if isinstance(value, float) and value.is_integer():
            iv = int(value)
        else:
            raise ValueError("%s: expected an integer, got %r" % (name, value)) from None
    if not lo <= iv <= hi:
        raise ValueError("%s: %d is out of range [%d, %d]" % (name, iv, lo, hi))
    return iv


def seed_arg(name, value):
    """A seed: an integer in [0, 2**64) (never wrapped)."""
    return int_arg(name, value, 0, UINT64_MAX)


class mlpf_error(Structure):
    _fields_ = [("status", c_int), ("msg", c_char * MLPF_ERRMSG_LEN)]


class mlpf_activation(Structure):
    _fields_ = [("kind", c_int), ("ncoef", c_int), ("coef", c_double * MLPF_POLY_MAXCOEF)]


class mlpf_finite_options(Structure):
    _fields_ = [("loss", c_int), ("threads", c_int)]


class mlpf_merge(Structure):
    _fields_ = [("layer", c_int), ("i", c_int), ("j", c_int), ("lambda_", c_double)]


class mlpf_progress(Structure):
    _fields_ = [("t", c_double), ("elapsed", c_double), ("loss", c_double),
                ("gnorm", c_double), ("step", c_double), ("iteration", c_long),
                ("phase", c_char_p)]


PROGRESS_FN = CFUNCTYPE(None, c_void_p, POINTER(mlpf_progress))


class mlpf_train_options(Structure):
    _fields_ = [
        ("alg", c_char * 32),
        ("maxT", c_double),
        ("abstol", c_double),
        ("reltol", c_double),
        ("maxtime_ode", c_double),
        ("maxiterations_ode", c_long),
        ("rk4_step", c_double),
        ("lr", c_double),
        ("beta1", c_double),
        ("beta2", c_double),
        ("eps", c_double),
        ("batchsize", c_size_t),
        ("shuffle", c_int),
        ("optim_solver", c_char * 32),
        ("maxtime_optim", c_double),
        ("maxiterations_optim", c_long),
        ("min_gnorm", c_double),
        ("minloss", c_double),
        ("patience", c_long),
        ("tauinv", POINTER(c_double)),
        ("ntauinv", c_size_t),
        ("maxnorm", c_double),
        ("merges", POINTER(mlpf_merge)),
        ("nmerges", c_size_t),
        ("n_samples_trajectory", c_int),
        ("verbosity", c_int),
        ("progress_interval", c_double),
        ("progress", PROGRESS_FN),
        ("progress_ctx", c_void_p),
        ("seed", c_uint64),
        ("interrupt", POINTER(c_int)),
    ]


class mlpf_result(Structure):
    _fields_ = [
        ("nparams", c_size_t),
        ("x", POINTER(c_double)),
        ("init", POINTER(c_double)),
        ("ode_x", POINTER(c_double)),
        ("loss", c_double),
        ("ode_loss", c_double),
        ("gnorm", c_double),
        ("gnorm_regularized", c_double),
        ("converged", c_int),
        ("ode_stopped_by", c_char * 64),
        ("optim_stopped_by", c_char * 64),
        ("alg", c_char * 32),
        ("optim_solver", c_char * 32),
        ("ode_iterations", c_long),
        ("optim_iterations", c_long),
        ("ode_time_run", c_double),
        ("optim_time_run", c_double),
        ("ode_wall_time", c_double),
        ("total_time", c_double),
        ("ntrajectory", c_size_t),
        ("trajectory_t", POINTER(c_double)),
        ("trajectory_x", POINTER(c_double)),
        ("loss_curve", POINTER(c_double)),
        ("ode_kinks", c_char * 96),
        ("loss_error", c_double),
        ("ode_retaken", c_long),
    ]


DP = POINTER(c_double)
NETP = c_void_p
OBJP = c_void_p
ERRP = POINTER(mlpf_error)


def _candidates():
    out = []
    env = os.environ.get("MLPFLOW_LIB")
    if env:
        out.append(("MLPFLOW_LIB", env))
    here = Path(__file__).resolve().parent
    bundled = here / "libmlpflow.so"   # carried by the wheel of `make python`
    if bundled.exists():
        out.append(("package", str(bundled)))
    repo = here.parent.parent          # <repo>/python/mlpflow/_lib.py -> <repo>
    out.append(("build tree", str(repo / "build" / "libmlpflow.so")))
    found = ctypes.util.find_library("mlpflow")
    if found:
        out.append(("find_library", found))
    for d in ("/usr/local/lib", "/usr/lib", "/usr/local/lib64", "/usr/lib64"):
        out.append(("prefix", d + "/libmlpflow.so"))
        out.append(("prefix", d + "/libmlpflow.so.0"))
    return out


def _load():
    tried = []
    for how, path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (%s): not found" % (path, how))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s): %s" % (path, how, e))
    raise ImportError("mlpflow: cannot load libmlpflow.so; build it with `make lib` or set "
                      "MLPFLOW_LIB=/path/to/libmlpflow.so. Tried:\n  " + "\n  ".join(tried))


lib, lib_path = _load()

# Optional symbols (sections still being added to the library) are bound when present.
_SIGNATURES = {
    "mlpf_status_string": (c_char_p, [c_int]),
    "mlpf_activation_parse": (c_int, [c_char_p, POINTER(mlpf_activation), ERRP]),
    "mlpf_activation_poly": (c_int, [DP, c_int, POINTER(mlpf_activation), ERRP]),
    "mlpf_activation_name": (c_char_p, [c_int]),
    "mlpf_activation_eval": (None, [POINTER(mlpf_activation), c_double, DP, DP, DP]),
    "mlpf_net_create": (NETP, [c_int, ERRP]),
    "mlpf_net_free": (None, [NETP]),
    "mlpf_net_copy": (NETP, [NETP, ERRP]),
    "mlpf_net_add_layer": (c_int, [NETP, c_int, c_char_p, c_int, ERRP]),
    "mlpf_net_add_layer_acts": (c_int, [NETP, c_int, POINTER(mlpf_activation), c_int, c_int,
                                        ERRP]),
    "mlpf_net_validate": (c_int, [NETP, ERRP]),
    "mlpf_net_din": (c_int, [NETP]),
    "mlpf_net_dout": (c_int, [NETP]),
    "mlpf_net_nlayers": (c_int, [NETP]),
    "mlpf_net_layer_units": (c_int, [NETP, c_int]),
    "mlpf_net_layer_inputs": (c_int, [NETP, c_int]),
    "mlpf_net_layer_bias": (c_int, [NETP, c_int]),
    "mlpf_net_activation": (POINTER(mlpf_activation), [NETP, c_int, c_int]),
    "mlpf_net_nparams": (c_size_t, [NETP]),
    "mlpf_net_layer_offset": (c_size_t, [NETP, c_int]),
    "mlpf_random_params": (c_int, [NETP, c_uint64, DP, ERRP]),
    "mlpf_predict": (c_int, [NETP, DP, DP, c_size_t, DP, ERRP]),
    "mlpf_objective_free": (None, [OBJP]),
    "mlpf_objective_nparams": (c_size_t, [OBJP]),
    "mlpf_objective_nsamples": (c_size_t, [OBJP]),
    "mlpf_objective_name": (c_char_p, [OBJP]),
    "mlpf_objective_eval": (c_int, [OBJP, DP, DP, DP, DP, ERRP]),
    "mlpf_objective_eval_subset": (c_int, [OBJP, DP, POINTER(c_size_t), c_size_t, DP, DP, DP,
                                           ERRP]),
    "mlpf_objective_finite": (OBJP, [NETP, c_size_t, DP, DP, c_size_t, DP,
                                      POINTER(mlpf_finite_options), ERRP]),
    "mlpf_objective_regularized": (OBJP, [OBJP, c_double, POINTER(mlpf_merge), c_size_t, ERRP]),
    "mlpf_spectrum": (c_int, [DP, c_size_t, DP, DP, ERRP]),
    "mlpf_objective_gaussian": (OBJP, [NETP, DP, NETP, ERRP]),
    "mlpf_gauss_hermite_data": (c_int, [c_int, c_int, c_double, POINTER(DP), POINTER(DP),
                                        POINTER(c_size_t), ERRP]),
    "mlpf_train_options_default": (None, [POINTER(mlpf_train_options)]),
    "mlpf_result_free": (None, [POINTER(mlpf_result)]),
    "mlpf_train": (c_int, [OBJP, DP, POINTER(mlpf_train_options), POINTER(POINTER(mlpf_result)),
                           ERRP]),
    "mlpf_train_many": (c_int, [OBJP, DP, c_size_t, POINTER(mlpf_train_options), c_int,
                                POINTER(POINTER(mlpf_result)), ERRP]),
}


def bind(name, restype, argtypes):
    """Bind a library symbol's signature; returns the function or None if absent."""
    try:
        f = getattr(lib, name)
    except AttributeError:
        return None
    f.restype = restype
    f.argtypes = argtypes
    return f


for _name, (_res, _args) in _SIGNATURES.items():
    bind(_name, _res, _args)


def has(name):
    """True when the loaded library exports ``name``."""
    try:
        getattr(lib, name)
        return True
    except AttributeError:
        return False


def need(name):
    """The bound function ``name``, or an Error saying the library lacks it."""
    try:
        return getattr(lib, name)
    except AttributeError:
        raise Error("the loaded libmlpflow (%s) has no %s; rebuild the library" % (lib_path, name),
                    6) from None


class InvalidArgumentError(Error, ValueError):
    """A library error with status MLPF_EINVAL (bad argument, shape or option).

    It is both a :class:`mlpflow.Error` and a ``ValueError``.

    Example::

        >>> try:
        ...     mlpflow.Net(layers=[(3, "sigmod", True), (1, "identity", False)], input=X, target=Y)
        ... except ValueError as e:
        ...     print(e)          # the message names "sigmod"
    """


def make_error(msg, status):
    """The exception for a library status: InvalidArgumentError for MLPF_EINVAL, else Error."""
    if status == 1:
        return InvalidArgumentError(msg, status)
    return Error(msg, status)


def check(status, err):
    """Raise Error when a library call failed."""
    if status != 0:
        msg = err.msg.decode("utf-8", "replace") or lib.mlpf_status_string(status).decode()
        raise make_error(msg, status)


def check_ptr(ptr, err):
    if not ptr:
        msg = err.msg.decode("utf-8", "replace") or "library call failed"
        raise make_error(msg, err.status or 1)
    return ptr


bind("mlpf_free", None, [c_void_p])


def c_free(ptr):
    """Free memory the library allocated for the caller (mlpf_free)."""
    need("mlpf_free")(ctypes.cast(ptr, c_void_p))


# ---- ABI check: the ctypes mirrors above must match the loaded library ----
bind("mlpf_version", c_char_p, [POINTER(c_int), POINTER(c_int), POINTER(c_int)])
bind("mlpf_abi_sizeof", c_size_t, [c_char_p])
bind("mlpf_abi_offsetof", c_size_t, [c_char_p, c_char_p])

MIRRORS = (mlpf_error, mlpf_activation, mlpf_finite_options, mlpf_merge, mlpf_progress,
           mlpf_train_options, mlpf_result)


def abi_mismatches(mirrors=None):
    """Differences between the ctypes mirrors (default: MIRRORS) and the library's
    structs, as text lines (empty when they match)."""
    bad = []
    for cls in MIRRORS if mirrors is None else mirrors:
        name = cls.__name__.encode()
        size = lib.mlpf_abi_sizeof(name)
        if size != ctypes.sizeof(cls):
            bad.append("%s: size %d in Python, %d in the library" % (cls.__name__,
                                                                      ctypes.sizeof(cls), size))
        for field in cls._fields_:
            fname = field[0].rstrip("_")   # lambda_ mirrors lambda
            off = lib.mlpf_abi_offsetof(name, fname.encode())
            if off != getattr(cls, field[0]).offset:
                bad.append("%s.%s: offset %d in Python, %s in the library"
                           % (cls.__name__, fname, getattr(cls, field[0]).offset,
                              "absent" if off == c_size_t(-1).value else off))
    return bad


def _check_abi():
    if not has("mlpf_version") or not has("mlpf_abi_sizeof"):
        raise ImportError("mlpflow: %s is too old (no mlpf_version / mlpf_abi_sizeof); "
                          "rebuild it with `make lib`" % lib_path)
    major = c_int()
    version = lib.mlpf_version(ctypes.byref(major), None, None).decode()
    if major.value != VERSION_MAJOR:
        raise ImportError("mlpflow: %s is version %s; this package needs %d.x"
                          % (lib_path, version, VERSION_MAJOR))
    bad = abi_mismatches()
    if bad:
        raise ImportError("mlpflow: the Python package does not match %s (version %s):\n  %s"
                          % (lib_path, version, "\n  ".join(bad)))
    return version


def check_mirrors(mirrors):
    """ImportError unless the given ctypes mirrors (of a module's own structs) match
    the loaded library."""
    bad = abi_mismatches(mirrors)
    if bad:
        raise ImportError("mlpflow: the Python package does not match %s:\n  %s"
                          % (lib_path, "\n  ".join(bad)))


VERSION_MAJOR = 0
version = _check_abi()

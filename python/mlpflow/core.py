"""Networks, objectives and evaluation: Net, TeacherNet, NetI, gauss_hermite_net,
random_params, params_dict / params, loss, gradient, hessian, hessian_spectrum, predict.

All numerics run in libmlpflow; this module converts arrays and calls it.
"""
import ctypes
import io
import json
import math
import os
import zlib
from ctypes import byref, c_double, c_size_t
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib
from ._lib import DP, lib

__all__ = ["Net", "TeacherNet", "NetI", "gauss_hermite_net", "random_params", "params_dict",
           "params", "loss", "gradient", "hessian", "hessian_spectrum", "predict",
           "activation_names", "load_run"]

# type aliases of the public signatures
ArrayLike = Any            # anything numpy converts to a float64 array
Layers = Sequence[Tuple[int, Any, bool]]   # [(units, activation, bias), ...]
Merges = Sequence[Tuple[int, int, int, float]]
PathLike = Union[str, "os.PathLike[str]"]


def _table_names():
    """The library's activation table, in enum order (the only list of activations)."""
    names = []
    while True:
        name = lib.mlpf_activation_name(len(names)).decode()
        if name == "unknown":
            return tuple(names)
        names.append(name)


ACTIVATIONS = _table_names()


def activation_names() -> Tuple[str, ...]:
    """The activation names the library knows (``poly`` needs coefficients).

    Example::

        >>> "softplus" in mlpflow.activation_names()
        True
    """
    return ACTIVATIONS


# ---------------------------------------------------------------- array helpers

def _f64(a, name, ndim=None):
    """A C-contiguous float64 array (a copy when the input is not one already)."""
    if np.iscomplexobj(a):
        raise ValueError("%s: complex values are not supported (the imaginary part would be "
                         "dropped); pass a real array, e.g. a.real" % name)
    try:
        arr = np.ascontiguousarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError("%s: cannot convert to a float64 array (%s)" % (name, e)) from None
    if ndim is not None and arr.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError("%s: expected a %s-D array, got shape %s" % (name, ndim, arr.shape))
    return arr


def _ptr(a):
    return a.ctypes.data_as(DP)


def _err():
    return _lib.mlpf_error()


def _cnet(net):
    """The C network of a model, or a ValueError (SubspaceNet and non-models have none)."""
    c = getattr(net, "_net", None)
    if not c:
        raise ValueError("net: expected a Net, NetI, TeacherNet or gauss_hermite_net, got %s"
                         % type(net).__name__)
    return c


def _as_params(net, x, name="x"):
    """x as a contiguous float64 vector of the net's parameter count."""
    arr = _f64(x, name)
    if arr.ndim != 1:
        if arr.size == net.nparams:
            arr = arr.reshape(-1)
        else:
            raise ValueError("%s: expected a vector of %d parameters, got shape %s"
                             % (name, net.nparams, arr.shape))
    if arr.size != net.nparams:
        raise ValueError("%s: expected %d parameters, got %d" % (name, net.nparams, arr.size))
    return arr


# ---------------------------------------------------------------- activations and layers

def _one_activation(spec, where):
    act = _lib.mlpf_activation()
    err = _err()
    if isinstance(spec, str):
        st = lib.mlpf_activation_parse(spec.encode(), byref(act), byref(err))
    elif (isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] == "poly"):
        coef = _f64(spec[1], where + ": poly coefficients", 1)
        st = lib.mlpf_activation_poly(_ptr(coef), int(coef.size), byref(act), byref(err))
    else:
        raise ValueError('%s: an activation is a name like "softplus" or ("poly", [c0, c1, ...]),'
                         " got %r" % (where, spec))
    if st:
        err.msg = ("%s: %s" % (where, err.msg.decode())).encode()[:_lib.MLPF_ERRMSG_LEN - 1]
    _lib.check(st, err)
    return act


def _is_single_activation(spec):
    if isinstance(spec, str):
        return True
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] == "poly" and \
            not isinstance(spec[1], str):
        return True
    return False


def _normalize_layers(layers):
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or len(layers) == 0:
        raise ValueError("layers: expected a non-empty list of (units, activation, bias)")
    out = []
    for k, L in enumerate(layers):
        if not isinstance(L, (tuple, list)) or len(L) not in (2, 3):
            raise ValueError("layers[%d]: expected (units, activation, bias), got %r" % (k, L))
        units, act = L[0], L[1]
        bias = bool(L[2]) if len(L) == 3 else True
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError("layers[%d]: units must be a positive integer, got %r" % (k, units))
        out.append((_lib.int_arg("layers[%d] units" % k, units, 1), act, bias))
    return out


def _build_net(layers, din):
    """A new mlpf_net pointer (caller frees) for normalized layers."""
    if isinstance(din, bool) or not isinstance(din, (int, np.integer)) or din < 1:
        raise ValueError("din: must be a positive integer, got %r" % (din,))
    err = _err()
    net = _lib.check_ptr(lib.mlpf_net_create(_lib.int_arg("din", din, 1), byref(err)), err)
    try:
        for k, (units, act, bias) in enumerate(layers):
            where = "layers[%d]" % k
            if _is_single_activation(act):
                acts = [_one_activation(act, where)]
            elif isinstance(act, (tuple, list)):
                if len(act) != units:
                    raise ValueError("%s: %d activations given for %d units (give one name or "
                                     "one per unit)" % (where, len(act), units))
                acts = [_one_activation(a, "%s[%d]" % (where, i)) for i, a in enumerate(act)]
            else:
                raise ValueError("%s: bad activation %r" % (where, act))
            arr = (_lib.mlpf_activation * len(acts))(*acts)
            _lib.check(lib.mlpf_net_add_layer_acts(net, units, arr, len(acts), int(bias),
                                                   byref(err)), err)
        _lib.check(lib.mlpf_net_validate(net, byref(err)), err)
    except BaseException:
        lib.mlpf_net_free(net)
        raise
    return net


def _layers_json(layers):
    """Normalized layers as JSON-able lists (poly coefficients as floats)."""
    def act_json(a):
        if isinstance(a, str):
            return a
        if len(a) == 2 and a[0] == "poly" and not isinstance(a[1], str):
            return ["poly", [float(c) for c in np.asarray(a[1], dtype=float).reshape(-1)]]
        return [act_json(b) for b in a]
    return [[int(u), act_json(a), bool(b)] for u, a, b in layers]


def rebuild(description: dict, data: Dict[str, np.ndarray]) -> "_Model":
    """The object that :meth:`describe` and :meth:`data` describe (used by copy,
    deepcopy, pickle and :func:`mlpflow.load`).

    Example::

        >>> net2 = mlpflow.core.rebuild(net.describe(), net.data())
        >>> mlpflow.loss(net2, x) == mlpflow.loss(net, x)
        True
    """
    d = dict(description)
    kind = d.get("type")
    merge = [tuple(m) for m in d.get("merge", [])]
    maxnorm = float(d.get("maxnorm", math.inf))
    if kind == "Net":
        net = Net(d["layers"], data["input"], data["target"], data.get("weights"),
                  d.get("loss", "mse"), maxnorm, merge, d.get("threads", 0))
        if "teacher" in d:
            net.teacher = rebuild(d["teacher"], {"params": data["teacher_params"]})
        return net
    if kind == "TeacherNet":
        return TeacherNet(d["layers"], d["din"], params=data["params"])
    if kind == "NetI":
        teacher = rebuild(d["teacher"], {"params": data["teacher_params"]})
        return NetI(teacher, d["layers"], maxnorm, merge)
    if kind == "SubspaceNet":
        from .landscape import SubspaceNet
        base = rebuild(d["base"], {k[5:]: v for k, v in data.items() if k.startswith("base_")})
        return SubspaceNet(base, data["ref"], data["v1"], data.get("v2"), d["a1"], d["a2"])
    raise ValueError("description: unknown network type %r (expected Net, TeacherNet, NetI or "
                     "SubspaceNet)" % (kind,))


class _Model:
    """Common part of everything that has a network and an objective."""

    _net = None
    _obj = None
    _reg = None

    def _init_net(self, layers, din):
        self.layers = _normalize_layers(layers)
        self._net = _build_net(self.layers, din)
        self.din = int(din)
        self.dout = lib.mlpf_net_dout(self._net)
        self.nparams = int(lib.mlpf_net_nparams(self._net))

    def _init_regularizers(self, maxnorm, merge):
        self.maxnorm = math.inf if maxnorm is None else float(maxnorm)
        self.merge = _merges(merge, self) if merge else []
        if self._obj is not None and (math.isfinite(self.maxnorm) or self.merge):
            self._reg = _regularized(self._obj, self.maxnorm, self.merge)

    def _objective(self, regularized=False):
        if self._obj is None:
            raise ValueError("%s has no objective (no data); use Net, NetI or gauss_hermite_net"
                             % type(self).__name__)
        if regularized and self._reg is not None:
            return self._reg
        return self._obj

    @property
    def nlayers(self):
        """Number of layers (hidden and output)."""
        return lib.mlpf_net_nlayers(_cnet(self))

    def layer_shape(self, l):
        """(units, inputs + bias) of layer l (counting from 0): the shape of w{l+1}."""
        c = _cnet(self)
        if not 0 <= l < lib.mlpf_net_nlayers(c):
            raise ValueError("l: layer %r does not exist (counting from 0)" % (l,))
        return (lib.mlpf_net_layer_units(c, l),
                lib.mlpf_net_layer_inputs(c, l) + lib.mlpf_net_layer_bias(c, l))

    def __call__(self, x, X=None):
        """The network's output at parameters x for inputs X (default: the training input)."""
        if X is None:
            X = getattr(self, "input", None)
            if X is None:
                raise ValueError("X: %s has no training input; pass X" % type(self).__name__)
        return predict(self, x, X)

    def describe(self):
        """The network as a JSON-able dict (type, layers, din, loss, maxnorm, merge);
        with the data arrays of :meth:`data` it rebuilds the object (see :func:`rebuild`).

        Example::

            >>> net.describe()["layers"]
            [[5, 'softplus', True], [1, 'identity', False]]
        """
        d = {"type": type(self).__name__, "layers": _layers_json(self.layers), "din": self.din}
        if self._obj is not None:
            d["maxnorm"] = self.maxnorm
            d["merge"] = [list(m) for m in self.merge]
        return d

    def data(self):
        """The arrays that, with :meth:`describe`, rebuild the object: {name: array}."""
        return {}

    # copy / deepcopy / pickle rebuild the C objects from the description and the
    # data: two Python objects never share a C handle (that was a double free).
    def __reduce__(self):
        return (rebuild, (self.describe(), self.data()), self._extra_state())

    def _extra_state(self):
        return None

    def __setstate__(self, state):
        if state:
            self.__dict__.update(state)

    def __del__(self):
        try:
            if self._reg:
                lib.mlpf_objective_free(self._reg)
            if self._obj:
                lib.mlpf_objective_free(self._obj)
            if self._net:
                lib.mlpf_net_free(self._net)
        except Exception:   # interpreter shutdown
            pass
        self._reg = self._obj = self._net = None

    def __repr__(self):
        return "%s(layers=%r, din=%d, nparams=%d)" % (type(self).__name__, self.layers, self.din,
                                                       self.nparams)


def _merges(merge, model):
    out = []
    for k, m in enumerate(merge):
        if len(m) != 4:
            raise ValueError("merge[%d]: expected (layer, i, j, lambda) counting from 0, got %r"
                             % (k, m))
        layer, i, j = (_lib.int_arg("merge[%d][%d]" % (k, c), m[c]) for c in range(3))
        lam = float(m[3])
        if not 0 <= layer < lib.mlpf_net_nlayers(model._net):
            raise ValueError("merge[%d]: layer %d does not exist (the net has %d layers, counting "
                             "from 0)" % (k, layer, lib.mlpf_net_nlayers(model._net)))
        out.append((layer, i, j, lam))
    return out


def _merge_array(merge):
    if not merge:
        return None, 0
    arr = (_lib.mlpf_merge * len(merge))()
    for k, (layer, i, j, lam) in enumerate(merge):
        arr[k].layer, arr[k].i, arr[k].j, arr[k].lambda_ = layer, i, j, lam
    return arr, len(merge)


def _regularized(obj, maxnorm, merge):
    arr, n = _merge_array(merge)
    err = _err()
    return _lib.check_ptr(lib.mlpf_objective_regularized(obj, maxnorm, arr, n, byref(err)), err)


# ---------------------------------------------------------------- Net

class Net(_Model):
    """A network with finite data: the objective is the mean loss over the samples.

    Parameters
    ----------
    layers : list of (units, activation, bias)
        Hidden layers then the output layer. ``activation`` is a name
        (``"softplus"``, ``"sigmoid2"``, ...; see :func:`activation_names`), a list
        of names (one per unit of a hidden layer) or ``("poly", [c0, c1, ...])``.
    input : array (N, Din)
    target : array (N, Dout); (N,) when Dout == 1; for ``loss="crossentropy"``
        also an integer label vector (N,) with labels 0..C-1.
    weights : array (N,) or None
        Per-sample weights of the loss.
    loss : "mse" or "crossentropy" (softmax output layer)
    maxnorm : float
        Norm barrier used by :func:`train` (and ``regularized=True`` evaluations).
    merge : list of (layer, i, j, lambda), counting from 0
        Merge penalties ``lambda/2 |w_i - w_j|^2`` on layer ``layer``'s incoming weights.
    threads : int
        Threads of the evaluation (0 = OpenMP default).

    The data are copied; nothing the caller passes is modified.

    Example::

        >>> X = np.random.default_rng(1).standard_normal((100, 2))
        >>> Y = np.sin(X[:, :1])
        >>> net = mlpflow.Net(layers=[(5, "softplus", True), (1, "identity", False)],
        ...                   input=X, target=Y)
        >>> net.nparams
        21
    """

    def __init__(self, layers: Layers, input: ArrayLike, target: ArrayLike,
                 weights: Optional[ArrayLike] = None, loss: str = "mse",
                 maxnorm: float = math.inf, merge: Optional[Merges] = None, threads: int = 0):
        X = _f64(input, "input", 2)
        N, din = X.shape
        if N < 1 or din < 1:
            raise ValueError("input: expected a non-empty (N, Din) array, got shape %s"
                             % (X.shape,))
        if loss not in ("mse", "crossentropy"):
            raise ValueError('loss: expected "mse" or "crossentropy", got %r' % (loss,))
        self._init_net(layers, din)
        T = _f64(target, "target", (1, 2))
        if T.shape[0] != N:
            hint = ""
            if T.shape[0] == din:
                hint = ("; input looks transposed (Din x N = %d x %d): samples are rows, pass "
                        "input.T" % (N, din))
            raise ValueError("target: has %d rows but input has %d samples%s"
                             % (T.shape[0], N, hint))
        if T.ndim == 1:
            if self.dout == 1 or loss == "crossentropy":
                T = T.reshape(N, 1)
            else:
                raise ValueError("target: expected shape (%d, %d), got %s"
                                 % (N, self.dout, T.shape))
        tcols = T.shape[1]
        if tcols != self.dout and not (loss == "crossentropy" and tcols == 1):
            raise ValueError("target: has %d columns but the output layer has %d units"
                             % (tcols, self.dout))
        W = None
        if weights is not None:
            W = _f64(weights, "weights", (1, 2)).reshape(-1)
            if W.size != N:
                raise ValueError("weights: expected %d values (one per sample), got %d"
                                 % (N, W.size))
        self.input, self.target, self.weights, self.loss = X, T, W, loss
        self.threads = _lib.int_arg("threads", threads, 0, 4096)
        fo = _lib.mlpf_finite_options(1 if loss == "crossentropy" else 0, self.threads)
        err = _err()
        self._obj = _lib.check_ptr(lib.mlpf_objective_finite(
            self._net, N, _ptr(X), _ptr(T), tcols, _ptr(W) if W is not None else None,
            byref(fo), byref(err)), err)
        self.nsamples = N
        self._init_regularizers(maxnorm, merge)

    def describe(self):
        d = super().describe()
        d["loss"], d["threads"] = self.loss, self.threads
        teacher = getattr(self, "teacher", None)
        if teacher is not None:
            d["teacher"] = teacher.describe()
        return d

    def data(self):
        out = {"input": self.input, "target": self.target}
        if self.weights is not None:
            out["weights"] = self.weights
        teacher = getattr(self, "teacher", None)
        if teacher is not None:
            out["teacher_params"] = teacher.params
        return out

    def with_weights(self, weights):
        """The same network and data with other per-sample weights.

        Example::

            >>> net2 = net.with_weights(np.ones(net.nsamples))
        """
        return Net(self.layers, self.input, self.target, weights, self.loss, self.maxnorm,
                   self.merge, self.threads)


# ---------------------------------------------------------------- teacher

class TeacherNet(_Model):
    """A network with fixed parameters that produces targets: ``teacher(X) -> Y``.

    Parameters
    ----------
    layers : list of (units, activation, bias)
    din : int, input dimension
    params : flat parameter vector or dict {"w1": ..., ...}; None draws
        :func:`random_params` with ``seed``.
    seed : int

    Example::

        >>> teacher = mlpflow.TeacherNet(layers=[(4, "sigmoid2", False), (1, "identity", False)],
        ...                              din=2, seed=3)
        >>> Y = teacher(np.random.default_rng(0).standard_normal((1000, 2)))
        >>> Y.shape
        (1000, 1)
    """

    def __init__(self, layers: Layers, din: int, params: Union[ArrayLike, dict, None] = None,
                 seed: int = 1):
        self._init_net(layers, din)
        if params is None:
            self.params = random_params(self, seed=seed)
        elif isinstance(params, dict):
            self.params = _as_params(self, globals()["params"](params), "params")
        else:
            self.params = _as_params(self, params, "params").copy()

    def __call__(self, X):
        return predict(self, self.params, X)

    def data(self):
        return {"params": self.params}


# ---------------------------------------------------------------- infinite data

class NetI(_Model):
    """Teacher-student with infinite standard Gaussian input: the objective is
    ``E_x[|student(x) - teacher(x)|^2]``, x ~ N(0, I_din), computed exactly.

    Both networks have one hidden layer and one linear output unit (see
    mlpf_objective_gaussian); other shapes raise :class:`mlpflow.Error` naming the
    alternatives (:func:`gauss_hermite_net` or samples).

    Parameters
    ----------
    teacher : TeacherNet
    student : list of (units, activation, bias), or a Net / TeacherNet whose layers are used
    maxnorm, merge : regularisers used by :func:`train`

    Example::

        >>> teacher = mlpflow.TeacherNet(layers=[(4, "sigmoid2", False), (1, "identity", False)],
        ...                              din=4, seed=1)
        >>> neti = mlpflow.NetI(teacher, [(3, "sigmoid2", False), (1, "identity", False)])
        >>> mlpflow.loss(neti, mlpflow.random_params(neti, seed=2)) > 0
        True
    """

    def __init__(self, teacher: "TeacherNet", student: Union[Layers, "_Model"],
                 maxnorm: float = math.inf, merge: Optional[Merges] = None):
        if not isinstance(teacher, TeacherNet):
            raise ValueError("teacher: expected a TeacherNet, got %s" % type(teacher).__name__)
        if isinstance(student, _Model):
            student = student.layers
        self._init_net(student, teacher.din)
        self.teacher = teacher
        err = _err()
        self._obj = _lib.check_ptr(lib.mlpf_objective_gaussian(
            teacher._net, _ptr(teacher.params), self._net, byref(err)), err)
        self.nsamples = 0
        self._init_regularizers(maxnorm, merge)

    def describe(self):
        d = super().describe()
        d["teacher"] = self.teacher.describe()
        return d

    def data(self):
        return {"teacher_params": self.teacher.params}


def gauss_hermite_net(teacher: "TeacherNet", student: Union[Layers, "_Model"], order: int = 40,
                      weight_threshold: float = 1e-18, maxnorm: float = math.inf,
                      merge=None, threads=0):
    """A finite-data Net whose samples are tensor-product Gauss-Hermite nodes of
    N(0, I_din) (din <= 2) with their weights as sample weights, and the teacher's
    outputs as targets: an "infinite data" loss for any teacher and student depth.

    Parameters: ``teacher`` (TeacherNet), ``student`` (layers or a net), ``order``
    (1-D rule size), ``weight_threshold`` (nodes with smaller weight are dropped).

    Example::

        >>> teacher = mlpflow.TeacherNet(layers=[(3, "softplus", True), (1, "identity", False)],
        ...                              din=2, seed=1)
        >>> gh = mlpflow.gauss_hermite_net(teacher, [(4, "softplus", True), (1, "identity", False)])
        >>> gh.input.shape[1]
        2
    """
    if not isinstance(teacher, TeacherNet):
        raise ValueError("teacher: expected a TeacherNet, got %s" % type(teacher).__name__)
    if isinstance(student, _Model):
        student = student.layers
    inp, wts, n = DP(), DP(), c_size_t()
    err = _err()
    _lib.check(lib.mlpf_gauss_hermite_data(teacher.din, _lib.int_arg("order", order, 1),
                                           float(weight_threshold),
                                           byref(inp), byref(wts), byref(n), byref(err)), err)
    try:
        N = n.value
        X = np.ctypeslib.as_array(inp, shape=(N, teacher.din)).copy()
        W = np.ctypeslib.as_array(wts, shape=(N,)).copy()
    finally:
        _lib.c_free(inp)
        _lib.c_free(wts)
    net = Net(student, X, teacher(X), W, "mse", maxnorm, merge, threads)
    net.teacher = teacher
    return net


# ---------------------------------------------------------------- parameters

def random_params(net: "_Model", seed: int = 1) -> np.ndarray:
    """Glorot-normal random parameters, W ~ N(0, 2 / (fan_in + fan_out)), biases 0,
    from the library's seeded generator (the same numbers on every machine).

    Example::

        >>> x0 = mlpflow.random_params(net, seed=7)
        >>> x0.shape == (net.nparams,)
        True
    """
    x = np.empty(net.nparams)
    err = _err()
    _lib.check(lib.mlpf_random_params(_cnet(net), _lib.seed_arg("seed", seed), _ptr(x),
                                         byref(err)), err)
    return x


def params_dict(net: "_Model", x: ArrayLike) -> Dict[str, np.ndarray]:
    """The flat vector x as {"w1": (units, inputs + bias), "w2": ...} (copies).

    Example::

        >>> d = mlpflow.params_dict(net, x)
        >>> d["w1"].shape      # 5 units, 2 inputs + bias
        (5, 3)
    """
    cnet = _cnet(net)
    x = _as_params(net, x)
    out = {}
    for l in range(lib.mlpf_net_nlayers(cnet)):
        off = lib.mlpf_net_layer_offset(cnet, l)
        r, c = net.layer_shape(l)
        out["w%d" % (l + 1)] = x[off:off + r * c].reshape(r, c).copy()
    return out


def params(d: Dict[str, ArrayLike]) -> np.ndarray:
    """A flat parameter vector from {"w1": ..., "w2": ...} (layers in numeric order).

    Example::

        >>> np.array_equal(mlpflow.params(mlpflow.params_dict(net, x)), x)
        True
    """
    if not isinstance(d, dict) or not d:
        raise ValueError("params: expected a non-empty dict {'w1': ..., 'w2': ...}")
    keys = []
    for k in d:
        if not (isinstance(k, str) and k[:1] == "w" and k[1:].isdigit()):
            raise ValueError("params: keys must be w1, w2, ...; got %r" % (k,))
        keys.append((int(k[1:]), k))
    keys.sort()
    if [i for i, _ in keys] != list(range(1, len(keys) + 1)):
        raise ValueError("params: keys must be w1..w%d without gaps, got %s"
                         % (len(keys), sorted(d)))
    return np.concatenate([_f64(d[k], k).reshape(-1) for _, k in keys])


# ---------------------------------------------------------------- runs written by the CLI

def _unique_keys(path):
    def hook(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError('%s: duplicate key "%s"' % (path, k))
            seen.add(k)
        return {k: float(v) if isinstance(v, str) and v in _NONFINITE else v for k, v in pairs}
    return hook


_NONFINITE = ("inf", "-inf", "nan")   # how our JSON spells non-finite numbers


def load_run(run: PathLike) -> dict:
    """A run written by ``mlpflow train -o RUN`` as one dict: the fields of RUN.json
    and the arrays of RUN.npz (x, init, ode_x, trajectory_t, trajectory_x,
    loss_curve). The strings "inf", "-inf" and "nan" become floats at every level
    (options included).

    RUN.json records RUN.npz's size and CRC-32; a pair that does not match (two
    runs mixed, or a run stopped between writing the two files) or a missing file
    raises ValueError. ``run`` may be "RUN", "RUN.json" or "RUN.npz".

    Example::

        >>> r = mlpflow.load_run("example_run")
        >>> r["x"].shape == (r["nparams"],)
        True
    """
    base = os.fspath(run)
    for ext in (".json", ".npz"):
        if base.endswith(ext):
            base = base[:-len(ext)]
    jpath, zpath = base + ".json", base + ".npz"
    try:
        with open(jpath, encoding="utf-8") as f:
            meta = json.load(f, object_pairs_hook=_unique_keys(jpath))
        with open(zpath, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError("%s: cannot read the run: %s" % (base, e)) from None
    rec = meta.get("npz") if isinstance(meta, dict) else None
    if not isinstance(rec, dict) or "bytes" not in rec or "crc32" not in rec:
        raise ValueError('%s: no "npz" record with "bytes" and "crc32" (not a run file of this '
                         "mlpflow version): cannot check %s" % (jpath, zpath))
    crc = "%08x" % zlib.crc32(data)
    if len(data) != rec["bytes"] or crc != rec["crc32"]:
        raise ValueError("%s (%d bytes, crc32 %s) is not the file %s records (%s bytes, crc32 %s):"
                         " the pair comes from different runs or a run was stopped between "
                         "writing the two" % (zpath, len(data), crc, jpath, rec["bytes"],
                                              rec["crc32"]))
    out = dict(meta)
    with np.load(io.BytesIO(data)) as z:
        out.update({k: z[k] for k in z.files})
    return out


# ---------------------------------------------------------------- evaluation

def _on_data(net, input, target, weights):
    """A Net with net's layers, loss and regularisers on other data (a test set); the
    target defaults to the teacher's outputs for teacher-student nets."""
    if target is None:
        teacher = getattr(net, "teacher", None)
        if teacher is None:
            raise ValueError("target: required with input= (the net has no teacher)")
        target = teacher(input)
    if not isinstance(net, (Net, NetI)):
        raise ValueError("input: only Net and NetI objectives can be evaluated on other data")
    return Net(net.layers, input, target, weights, getattr(net, "loss", "mse"), net.maxnorm,
               net.merge, getattr(net, "threads", 0))


def _eval(net, x, want_loss, want_grad, want_hess, regularized, input=None, target=None,
          weights=None):
    if not isinstance(net, _Model):
        raise ValueError("net: expected a mlpflow network, got %s" % type(net).__name__)
    if input is not None:
        net = _on_data(net, input, target, weights)
    elif target is not None or weights is not None:
        raise ValueError("target, weights: only together with input=")
    obj = net._objective(regularized)
    x = _as_params(net, x)
    P = net.nparams
    L = c_double()
    g = np.empty(P) if want_grad else None
    err = _err()
    if want_hess and _lib.has("mlpf_check_dense"):  # before numpy allocates P x P
        _lib.check(lib.mlpf_check_dense(b"hessian", c_size_t(P), byref(err)), err)
    H = np.empty((P, P)) if want_hess else None
    _lib.check(lib.mlpf_objective_eval(obj, _ptr(x), byref(L) if want_loss else None,
                                       _ptr(g) if g is not None else None,
                                       _ptr(H) if H is not None else None, byref(err)), err)
    return L.value, g, H


def loss(net: "_Model", x: ArrayLike, regularized: bool = False, *,
         input: Optional[ArrayLike] = None, target: Optional[ArrayLike] = None,
         weights: Optional[ArrayLike] = None) -> float:
    """The loss at x (with ``regularized=True`` plus the net's maxnorm / merge penalties).

    ``input=`` (N, Din) with ``target=`` (N, Dout) (and optional ``weights=``)
    evaluates the same network on other data, e.g. a test set; for teacher-student
    nets the target defaults to the teacher's outputs.

    Example::

        >>> mlpflow.loss(net, mlpflow.random_params(net)) > 0
        True
    """
    return _eval(net, x, True, False, False, regularized, input, target, weights)[0]


def gradient(net: "_Model", x: ArrayLike, regularized: bool = False, *,
             input: Optional[ArrayLike] = None, target: Optional[ArrayLike] = None,
             weights: Optional[ArrayLike] = None) -> np.ndarray:
    """The exact gradient (P,) of the loss at x (``input=``, ``target=``: as :func:`loss`).

    Example::

        >>> g = mlpflow.gradient(net, x); g.shape == (net.nparams,)
        True
    """
    return _eval(net, x, False, True, False, regularized, input, target, weights)[1]


def hessian(net: "_Model", x: ArrayLike, regularized: bool = False, *,
            input: Optional[ArrayLike] = None, target: Optional[ArrayLike] = None,
            weights: Optional[ArrayLike] = None) -> np.ndarray:
    """The exact Hessian (P, P) of the loss at x (``input=``, ``target=``: as :func:`loss`).

    Example::

        >>> H = mlpflow.hessian(net, x); np.allclose(H, H.T)
        True
    """
    return _eval(net, x, False, False, True, regularized, input, target, weights)[2]


def hessian_spectrum(net: "_Model", x: ArrayLike, regularized: bool = False,
                     vectors: bool = True) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Eigenvalues of the exact Hessian in ascending order and the eigenvectors as
    columns (``evecs[:, j]`` belongs to ``evals[j]``; None when ``vectors=False``).

    Example::

        >>> evals, evecs = mlpflow.hessian_spectrum(net, xmin)
        >>> bool(evals[0] > 0)      # a strict minimum
        True
    """
    H = hessian(net, x, regularized)
    P = net.nparams
    ev = np.empty(P)
    V = np.empty((P, P)) if vectors else None
    err = _err()
    _lib.check(lib.mlpf_spectrum(_ptr(H), P, _ptr(ev), _ptr(V) if V is not None else None,
                                 byref(err)), err)
    return ev, V


def predict(net: "_Model", x: ArrayLike, X: ArrayLike) -> np.ndarray:
    """The network's output (N, Dout) at parameters x for inputs X (N, Din).

    Example::

        >>> Y = mlpflow.predict(net, x, X); Y.shape
        (100, 1)
    """
    cnet = _cnet(net)
    x = _as_params(net, x)
    X = _f64(X, "X", (1, 2))
    if X.ndim == 1:
        if net.din == 1:
            X = X.reshape(-1, 1)
        elif X.size == net.din:
            X = X.reshape(1, -1)
        else:
            raise ValueError("X: expected shape (N, %d), got %s" % (net.din, X.shape))
    if X.shape[1] != net.din:
        hint = ("; X looks transposed (Din x N): samples are rows, pass X.T"
                if X.shape[0] == net.din else "")
        raise ValueError("X: expected %d columns (the input dimension), got %d%s"
                         % (net.din, X.shape[1], hint))
    out = np.empty((X.shape[0], net.dout))
    err = _err()
    _lib.check(lib.mlpf_predict(cnet, _ptr(x), _ptr(X), X.shape[0], _ptr(out), byref(err)),
               err)
    return out

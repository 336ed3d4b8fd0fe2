"""Landscape utilities: trajectory distances, cosine similarity, linear subspaces and the
subspace-minimised loss, and network surgery (split_neuron, grow_net, shrink_net).

The numerics are the library's (section "Landscape utilities" of mlpflow.h).
"""
import math
from ctypes import POINTER, byref, c_double, c_int, c_size_t, c_void_p

import numpy as np

from . import _lib
from ._lib import DP, ERRP, NETP, OBJP, lib
from .core import (_as_params, _cnet, _err, _f64, _Model, _ptr, Net, NetI, TeacherNet)

__all__ = ["trajectory_distance", "cosine_similarity", "LinearSubspace", "SubspaceNet",
           "subspace_minloss", "subspace_minloss_grid", "split_neuron", "grow_net",
           "shrink_net"]

_OPTP = POINTER(_lib.mlpf_train_options)
_lib.bind("mlpf_trajectory_distance", c_int, [DP, c_size_t, DP, c_size_t, c_size_t, DP,
                                              POINTER(c_size_t), ERRP])
_lib.bind("mlpf_cosine_similarity", c_double, [DP, DP, c_size_t])
_lib.bind("mlpf_objective_subspace", OBJP, [OBJP, DP, DP, DP, c_double, c_double, ERRP])
_lib.bind("mlpf_subspace_point", c_int, [OBJP, DP, DP, ERRP])
_lib.bind("mlpf_subspace_minloss", c_int, [OBJP, DP, DP, DP, c_double, c_double, DP, c_int,
                                           _lib.c_uint64, _OPTP, DP, DP, ERRP])
_lib.bind("mlpf_subspace_minloss_grid", c_int, [OBJP, DP, DP, DP, DP, c_size_t, DP, c_size_t,
                                                c_int, _lib.c_uint64, _OPTP, DP, ERRP])
_lib.bind("mlpf_split_neuron", c_int, [NETP, DP, c_int, c_double, c_int, POINTER(c_void_p),
                                       POINTER(DP), ERRP])
_lib.bind("mlpf_grow_net", c_int, [NETP, DP, c_int, _lib.c_uint64, POINTER(c_void_p),
                                   POINTER(DP), ERRP])
_lib.bind("mlpf_shrink_net", c_int, [NETP, DP, POINTER(c_int), c_size_t, POINTER(c_void_p),
                                     POINTER(DP), ERRP])


# ---------------------------------------------------------------- distances

def _traj(obj, name):
    """(times or None, points (n, P)) of a train result dict, a trajectory dict or an array."""
    if isinstance(obj, dict):
        if "trajectory" in obj:
            obj = obj["trajectory"]
        if "x" in obj and "t" in obj:
            return _f64(obj["t"], name + "['t']", 1), _f64(obj["x"], name + "['x']", 2)
        raise ValueError("%s: expected a train result, {'t': ..., 'x': ...} or an (n, P) array"
                         % name)
    return None, _f64(obj, name, 2)


def trajectory_distance(result, reference):
    """For each point of a trajectory, the Euclidean distance to the closest point of
    a reference trajectory, and which reference point (and time) that is.

    ``result`` and ``reference`` are train results (their ``trajectory`` is used),
    trajectory dicts {"t": (n,), "x": (n, P)} or arrays (n, P).

    Returns a dict: ``distances`` (n,), ``match`` (n,) indices into the reference,
    ``times`` (n,) the trajectory's times (None for arrays) and ``ref_times`` (n,)
    the matched reference times (None for arrays).

    Example::

        >>> flow = mlpflow.train(net, x0, maxT=100)
        >>> gd = mlpflow.train(net, x0, alg="gd", lr=1e-2, maxiterations_ode=10000)
        >>> d = mlpflow.trajectory_distance(gd, flow)
        >>> float(d["distances"].max())           # how far GD strays from the flow
    """
    t, X = _traj(result, "result")
    rt, R = _traj(reference, "reference")
    if X.shape[1] != R.shape[1]:
        raise ValueError("reference: points have %d parameters but result's have %d"
                         % (R.shape[1], X.shape[1]))
    if R.shape[0] == 0:
        raise ValueError("reference: empty trajectory")
    n = X.shape[0]
    dist = np.empty(n)
    match = np.empty(n, dtype=np.uintp)
    err = _err()
    f = _lib.need("mlpf_trajectory_distance")
    _lib.check(f(_ptr(X), n, _ptr(R), R.shape[0], X.shape[1], _ptr(dist),
                 match.ctypes.data_as(POINTER(c_size_t)), byref(err)), err)
    match = match.astype(np.int64)
    return {"distances": dist, "match": match, "times": t,
            "ref_times": rt[match] if rt is not None else None}


def cosine_similarity(a, b):
    """``a.b / (|a| |b|)`` (0 when either is zero), computed by the library.

    Example::

        >>> mlpflow.cosine_similarity([1, 0], [1, 1])
        0.7071067811865475
    """
    a = _f64(a, "a").reshape(-1)
    b = _f64(b, "b").reshape(-1)
    if a.size != b.size:
        raise ValueError("b: has %d values but a has %d" % (b.size, a.size))
    return float(_lib.need("mlpf_cosine_similarity")(_ptr(a), _ptr(b), a.size))


# ---------------------------------------------------------------- subspaces

def _train_opts(options, net=None, ref=None, v1=None, v2=None):
    """Train options for the complement minimiser (tauinv refers to the p - r
    subspace parameters)."""
    if not options:
        return None, None
    from .training import _Keep, _options
    options = dict(options)
    options.setdefault("alg", "none")            # the library's own defaults here
    options.setdefault("optim_solver", "newtontr")
    keep = _Keep()
    dummy = _DummyNet()
    if np.size(options.get("tauinv", 1)) > 1 and net is not None:
        dummy.nparams = SubspaceNet(net, ref, v1, v2, 0.0, 0.0).nparams
    return _options(dummy, options, keep), keep


class _DummyNet:
    def __init__(self):
        self.nparams = 0
        self.maxnorm = math.inf
        self.merge = []


class SubspaceNet(_Model):
    """The objective of ``net`` restricted to x = ref + a1 v1 + a2 v2 + Q z, with Q an
    orthonormal basis of the complement of span(v1, v2); its parameters are z.
    loss / gradient / hessian / hessian_spectrum / train work on it.
    Made by :meth:`LinearSubspace.objective`.

    Example::

        >>> sub = mlpflow.LinearSubspace(xmin, v1, v2).objective(net, 0.5, 0.0)
        >>> res = mlpflow.train(sub, np.zeros(sub.nparams), alg="none")
        >>> x = sub.point(res["x"])
    """

    def __init__(self, net, ref, v1, v2, a1, a2):
        self.base = net
        self.layers = net.layers
        self.din, self.dout = net.din, net.dout
        self.maxnorm, self.merge = math.inf, []
        err = _err()
        f = _lib.need("mlpf_objective_subspace")
        self._obj = _lib.check_ptr(f(net._objective(False), _ptr(ref), _ptr(v1),
                                     _ptr(v2) if v2 is not None else None, float(a1), float(a2),
                                     byref(err)), err)
        self.nparams = int(lib.mlpf_objective_nparams(self._obj))
        self.a1, self.a2 = float(a1), float(a2)
        self._plane = (_f64(ref, "ref").copy(), _f64(v1, "v1").copy(),
                       None if v2 is None else _f64(v2, "v2").copy())

    def describe(self):
        d = super().describe()
        d.update(base=self.base.describe(), a1=self.a1, a2=self.a2)
        return d

    def data(self):
        ref, v1, v2 = self._plane
        out = {"ref": ref, "v1": v1}
        if v2 is not None:
            out["v2"] = v2
        out.update({"base_" + k: v for k, v in self.base.data().items()})
        return out

    def point(self, z=None):
        """The full parameter vector x (P,) for subspace parameters z (default 0)."""
        z = np.zeros(self.nparams) if z is None else _as_params(self, z, "z")
        x = np.empty(self.base.nparams)
        err = _err()
        _lib.check(_lib.need("mlpf_subspace_point")(self._obj, _ptr(z), _ptr(x), byref(err)), err)
        return x

    def __call__(self, *a):
        raise TypeError("a SubspaceNet has no network function; use point(z) and the base net")


class LinearSubspace:
    """The affine plane ref + a1 v1 + a2 v2 in parameter space (v2 may be None for a
    line); v1, v2 need not be orthogonal or normalised.

    Example::

        >>> plane = mlpflow.LinearSubspace(xmin, xsaddle - xmin, v2)
        >>> L = plane.minloss_grid(net, np.linspace(-0.5, 1.5, 21), np.linspace(-1, 1, 21))
    """

    def __init__(self, ref, v1, v2=None):
        self.ref = _f64(ref, "ref").reshape(-1).copy()
        self.v1 = _f64(v1, "v1").reshape(-1).copy()
        if self.v1.size != self.ref.size:
            raise ValueError("v1: has %d values but ref has %d" % (self.v1.size, self.ref.size))
        self.v2 = None
        if v2 is not None:
            self.v2 = _f64(v2, "v2").reshape(-1).copy()
            if self.v2.size != self.ref.size:
                raise ValueError("v2: has %d values but ref has %d"
                                 % (self.v2.size, self.ref.size))

    def _check(self, net):
        if net.nparams != self.ref.size:
            raise ValueError("net: has %d parameters but the subspace lives in %d dimensions"
                             % (net.nparams, self.ref.size))

    def objective(self, net, a1=0.0, a2=0.0):
        """The :class:`SubspaceNet` of ``net`` at plane point (a1, a2)."""
        self._check(net)
        if not isinstance(net, _Model) or net._obj is None:
            raise ValueError("net: expected a network with an objective")
        return SubspaceNet(net, self.ref, self.v1, self.v2, a1, a2)

    def point(self, net, a1, a2=0.0, z=None):
        """The parameter vector at plane point (a1, a2) and complement coordinates z."""
        return self.objective(net, a1, a2).point(z)

    def minloss(self, net, a1, a2=0.0, x0=None, restarts=0, seed=1, **options):
        """(loss, x): the loss minimised over the complement at plane point (a1, a2)."""
        return subspace_minloss(net, self.ref, self.v1, self.v2, a1, a2, x0, restarts, seed,
                                **options)

    def minloss_grid(self, net, a1s, a2s=None, restarts=0, seed=1, **options):
        """Losses (len(a1s), len(a2s)) minimised over the complement on a grid."""
        return subspace_minloss_grid(net, self.ref, self.v1, self.v2, a1s, a2s, restarts, seed,
                                     **options)

    def coordinates(self, X):
        """Least-squares plane coordinates (a1, a2) of points X (n, P) (for plotting)."""
        X = _f64(X, "X", (1, 2)).reshape(-1, self.ref.size)
        B = self.v1[:, None] if self.v2 is None else np.stack([self.v1, self.v2], axis=1)
        c, *_ = np.linalg.lstsq(B, (X - self.ref).T, rcond=None)
        return c.T


def _vecs(net, ref, v1, v2):
    ref = _as_params(net, ref, "ref")
    v1 = _as_params(net, v1, "v1")
    v2 = None if v2 is None else _as_params(net, v2, "v2")
    return ref, v1, v2


def subspace_minloss(net, ref, v1, v2, a1, a2=0.0, x0=None, restarts=0, seed=1, **options):
    """Minimise the loss over the complement of span(v1, v2) at the plane point
    ref + a1 v1 + a2 v2, from the projection of x0 (or ref) and ``restarts`` random
    perturbations; returns (lowest loss, its point x). ``options`` are train options
    (default: no flow, a Newton minimiser; a tauinv array has one value per complement
    coordinate, P - rank).

    Example::

        >>> L, x = mlpflow.subspace_minloss(net, xmin, v1, v2, 0.0, 0.0)
        >>> abs(L - mlpflow.loss(net, xmin)) < 1e-12
        True
    """
    ref, v1, v2 = _vecs(net, ref, v1, v2)
    x0 = None if x0 is None else _as_params(net, x0, "x0")
    opt, keep = _train_opts(options, net, ref, v1, v2)
    L = c_double()
    x = np.empty(net.nparams)
    err = _err()
    f = _lib.need("mlpf_subspace_minloss")
    _lib.check(f(net._objective(False), _ptr(ref), _ptr(v1), _ptr(v2) if v2 is not None else None,
                 float(a1), float(a2), _ptr(x0) if x0 is not None else None,
                 _lib.int_arg("restarts", restarts), _lib.seed_arg("seed", seed), byref(opt) if opt is not None else None, byref(L), _ptr(x),
                 byref(err)), err)
    return L.value, x


def subspace_minloss_grid(net, ref, v1, v2, a1s, a2s=None, restarts=0, seed=1, **options):
    """The subspace-minimised loss on the grid a1s x a2s: an array (len(a1s), len(a2s));
    neighbouring grid points warm-start each other. With v2 None, a2s must be None
    (the result then has one column).

    Example::

        >>> L = mlpflow.subspace_minloss_grid(net, xmin, v1, v2, np.linspace(-1, 1, 11),
        ...                                   np.linspace(-1, 1, 11))
        >>> L.shape
        (11, 11)
    """
    ref, v1, v2 = _vecs(net, ref, v1, v2)
    a1s = _f64(a1s, "a1s", 1)
    if v2 is None:
        if a2s is not None and np.size(a2s) != 1:
            raise ValueError("a2s: must be None (or one value) when v2 is None")
        a2s = np.zeros(1) if a2s is None else _f64(a2s, "a2s").reshape(1)
    else:
        if a2s is None:
            raise ValueError("a2s: needed when v2 is given")
        a2s = _f64(a2s, "a2s", 1)
    opt, keep = _train_opts(options, net, ref, v1, v2)
    out = np.empty((a1s.size, a2s.size))
    err = _err()
    f = _lib.need("mlpf_subspace_minloss_grid")
    _lib.check(f(net._objective(False), _ptr(ref), _ptr(v1), _ptr(v2) if v2 is not None else None,
                 _ptr(a1s), a1s.size, _ptr(a2s), a2s.size, _lib.int_arg("restarts", restarts),
                 _lib.seed_arg("seed", seed),
                 byref(opt) if opt is not None else None, _ptr(out), byref(err)), err)
    return out


# ---------------------------------------------------------------- surgery

def _layers_of(cnet):
    """(units, activation, bias) tuples of a C net, activations per unit when they differ."""
    layers = []
    for l in range(lib.mlpf_net_nlayers(cnet)):
        units = lib.mlpf_net_layer_units(cnet, l)
        acts = []
        for u in range(units):
            a = lib.mlpf_net_activation(cnet, l, u).contents
            name = lib.mlpf_activation_name(a.kind).decode()
            acts.append(("poly", [a.coef[k] for k in range(a.ncoef)]) if name == "poly" else name)
        act = acts[0] if all(a == acts[0] for a in acts) else acts
        layers.append((units, act, bool(lib.mlpf_net_layer_bias(cnet, l))))
    return layers


def _rebuild(net, cnet, xp):
    """The Python counterpart of `net` with the C net's layers and parameters."""
    try:
        layers = _layers_of(cnet)
        n = int(lib.mlpf_net_nparams(cnet))
        x = np.ctypeslib.as_array(xp, shape=(n,)).copy()
    finally:
        lib.mlpf_net_free(cnet)
        _lib.c_free(xp)
    if isinstance(net, TeacherNet):
        return TeacherNet(layers, net.din, params=x), x
    if isinstance(net, NetI):
        return NetI(net.teacher, layers, maxnorm=net.maxnorm), x
    if isinstance(net, Net):
        new = Net(layers, net.input, net.target, net.weights, net.loss, net.maxnorm, None,
                  net.threads)
        if hasattr(net, "teacher"):
            new.teacher = net.teacher
        return new, x
    raise ValueError("net: expected a Net, NetI or TeacherNet, got %s" % type(net).__name__)


def _surgery(name, net, x, *args):
    _cnet(net)
    x = _as_params(net, x)
    cnet, xp = c_void_p(), DP()
    err = _err()
    _lib.check(_lib.need(name)(net._net, _ptr(x), *args, byref(cnet), byref(xp), byref(err)), err)
    return _rebuild(net, cnet, xp)


def split_neuron(net, x, i, gamma=0.5, j=None):
    """Duplicate hidden neuron i (one hidden layer, linear readout): the two copies have
    the same incoming weights and output weights gamma*a_i and (1-gamma)*a_i; the copy
    is inserted at position j (default: right after i). The network function is
    unchanged and a critical point maps to a critical point.

    Returns (new_net, new_x); new_net has the same data / teacher as ``net``.

    Example::

        >>> net6, x6 = mlpflow.split_neuron(net5, xmin, 2, 0.3)
        >>> np.allclose(mlpflow.predict(net6, x6, X), mlpflow.predict(net5, xmin, X))
        True
    """
    i = _lib.int_arg("i", i)
    j = i + 1 if j is None else _lib.int_arg("j", j)
    return _surgery("mlpf_split_neuron", net, x, i, float(gamma), j)


def grow_net(net, x, extra=1, seed=1):
    """Add ``extra`` hidden neurons with zero output weights (function unchanged) and
    Glorot-normal incoming weights. Returns (new_net, new_x).

    Example::

        >>> net7, x7 = mlpflow.grow_net(net5, xmin, extra=2, seed=3)
    """
    return _surgery("mlpf_grow_net", net, x, _lib.int_arg("extra", extra),
                    _lib.seed_arg("seed", seed))


def shrink_net(net, x, remove):
    """Remove hidden neurons (an index or a list of distinct indices). Returns
    (new_net, new_x).

    Example::

        >>> net4, x4 = mlpflow.shrink_net(net5, xmin, [4])
    """
    idx = ([_lib.int_arg("remove", remove)] if np.ndim(remove) == 0 else
           [_lib.int_arg("remove[%d]" % k, r) for k, r in enumerate(remove)])
    arr = (c_int * max(len(idx), 1))(*idx)
    return _surgery("mlpf_shrink_net", net, x, arr, len(idx))

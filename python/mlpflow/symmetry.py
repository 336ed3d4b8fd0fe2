"""Symmetries and symmetric constructions of the loss landscape.

Symmetries of a hidden layer: permutations of its units, sign flips (w, a) -> (-w, -a)
of odd units (identity, tanh, sigmoid2 = erf, cube, odd poly) and positive rescaling
(w, a) -> (c w, a / c) of homogeneous ones (relu, identity). ``canonicalize``,
``symmetry_distance``, ``match_teacher`` and ``expand_and_cluster`` work modulo those.

Constructions: ``AffineSubspace`` (an objective restricted to origin + B z, or to
groups of tied parameters), ``symmetry_induced`` (embeddings of a width-r critical
point into width m), ``permutation_point`` (two units collided and minimised in the
tied subspace) and ``copy_average`` (copy-average configurations of a teacher).

The numerics are the library's (section "Analysis: symmetries and constructions" of
mlpflow.h); this module builds parameter layouts and dictionaries.
"""
import itertools
import math
from ctypes import POINTER, byref, c_double, c_int, c_size_t

import numpy as np

from . import _lib
from ._lib import DP, ERRP, NETP, OBJP, lib
from .core import (Net, NetI, TeacherNet, _as_params, _cnet, _err, _f64, _is_single_activation,
                   _Model, _ptr, gradient,
                   loss, params, params_dict, random_params)
from .training import train

__all__ = ["AffineSubspace", "canonicalize", "symmetry_distance", "match_teacher",
           "expand_and_cluster", "symmetry_induced", "symmetry_induced_count",
           "count_T", "count_G", "permutation_point", "copy_average"]

_lib.bind("mlpf_objective_affine", OBJP, [OBJP, DP, DP, c_size_t, ERRP])
_lib.bind("mlpf_objective_tied", OBJP, [OBJP, DP, POINTER(c_int), ERRP])
_lib.bind("mlpf_affine_point", c_int, [OBJP, DP, DP, ERRP])
_lib.bind("mlpf_affine_project", c_int, [OBJP, DP, DP, ERRP])
_lib.bind("mlpf_assignment", c_int, [DP, c_size_t, c_size_t, POINTER(c_int), DP, ERRP])
_lib.bind("mlpf_canonicalize", c_int, [NETP, DP, DP, POINTER(c_int), ERRP])
_lib.bind("mlpf_symmetry_distance", c_int, [NETP, DP, DP, DP, DP, DP, ERRP])
_lib.bind("mlpf_match_teacher", c_int, [NETP, DP, NETP, DP, POINTER(c_int), DP, DP, DP, ERRP])


class _ClusterOptions(_lib.Structure):
    _fields_ = [("min_cosine", c_double), ("min_output", c_double), ("const_tol", c_double)]


_lib.bind("mlpf_cluster_options_default", None, [POINTER(_ClusterOptions)])
_lib.bind("mlpf_expand_cluster", c_int, [NETP, DP, c_size_t, POINTER(_ClusterOptions),
                                         POINTER(c_int), DP, DP, POINTER(c_int),
                                         POINTER(c_size_t), DP, ERRP])


def _ints(n):
    return np.empty(n, dtype=np.intc)


def _iptr(a):
    return a.ctypes.data_as(POINTER(c_int))


def _hidden_layers(net):
    return [net.layer_shape(l) for l in range(net.nlayers - 1)]


def _one_hidden(net, fn):
    _cnet(net)
    if net.nlayers != 2:
        raise ValueError("%s: needs one hidden layer and a readout; the net has %d layers"
                         % (fn, net.nlayers))


# ---------------------------------------------------------------- affine subspaces

class AffineSubspace(_Model):
    """The objective of ``net`` restricted to x = origin + B z (basis B (P, d), columns
    need not be orthonormal), or to tied parameters: ``groups`` (P,) gives each
    parameter a coordinate id; equal ids >= 0 share one value, ids < 0 stay fixed at
    ``origin`` (ids are renumbered densely in order of first appearance).
    loss / gradient / hessian / hessian_spectrum / train / classify work on it (its
    parameters are z); its gradient is B^T g and its Hessian B^T H B, exact.

    Example::

        >>> sub = mlpflow.AffineSubspace(net, origin=xmin, basis=np.eye(net.nparams)[:, :3])
        >>> res = mlpflow.train(sub, np.zeros(3), alg="none", optim_solver="newtontr")
        >>> x = sub.point(res["x"])
        >>> tied = mlpflow.AffineSubspace(net, groups=[0, 0, 1, 2, ...])   # x[0] == x[1]
    """

    def __init__(self, net, origin=None, basis=None, groups=None):
        if not isinstance(net, _Model) or net._obj is None:
            raise ValueError("net: expected a network with an objective")
        if (basis is None) == (groups is None):
            raise ValueError("AffineSubspace: give exactly one of basis and groups")
        self.base = net
        self.layers = getattr(net, "layers", None)
        self.din, self.dout = getattr(net, "din", 0), getattr(net, "dout", 0)
        self.maxnorm, self.merge = math.inf, []
        P = net.nparams
        self.origin = np.zeros(P) if origin is None else _as_params(net, origin, "origin").copy()
        err = _err()
        if basis is not None:
            B = _f64(basis, "basis", 2)
            if B.shape[0] != P:
                raise ValueError("basis: expected %d rows (one per parameter), got shape %s"
                                 % (P, B.shape))
            self.basis = B.copy()
            self._obj = _lib.check_ptr(lib.mlpf_objective_affine(
                net._objective(False), _ptr(self.origin), _ptr(self.basis), B.shape[1],
                byref(err)), err)
        else:
            g = np.asarray(groups).reshape(-1)
            if g.size != P:
                raise ValueError("groups: expected %d ids (one per parameter), got %d"
                                 % (P, g.size))
            ids = {}
            dense = _ints(P)
            for i, v in enumerate(g.tolist()):
                dense[i] = -1 if v < 0 else ids.setdefault(v, len(ids))
            self.groups = dense
            self._obj = _lib.check_ptr(lib.mlpf_objective_tied(
                net._objective(False), _ptr(self.origin), _iptr(dense), byref(err)), err)
            self.basis = np.zeros((P, len(ids)))
            for i in range(P):
                if dense[i] >= 0:
                    self.basis[i, dense[i]] = 1.0
        self.nparams = int(lib.mlpf_objective_nparams(self._obj))
        self.nsamples = getattr(net, "nsamples", 0)

    def point(self, z=None):
        """The full parameter vector x (P,) = origin + B z (z default 0)."""
        z = np.zeros(self.nparams) if z is None else _as_params(self, z, "z")
        x = np.empty(self.base.nparams)
        err = _err()
        _lib.check(lib.mlpf_affine_point(self._obj, _ptr(z), _ptr(x), byref(err)), err)
        return x

    def project(self, x):
        """z (d,) whose point is closest to x (least squares; the group means when tied)."""
        x = _as_params(self.base, x, "x")
        z = np.empty(self.nparams)
        err = _err()
        _lib.check(lib.mlpf_affine_project(self._obj, _ptr(x), _ptr(z), byref(err)), err)
        return z

    def __call__(self, *a):
        raise TypeError("an AffineSubspace has no network function; use point(z) and the base net")

    def __repr__(self):
        return "AffineSubspace(d=%d of P=%d)" % (self.nparams, self.base.nparams)


# ---------------------------------------------------------------- canonical forms

def canonicalize(net, x, return_perm=False):
    """The canonical representative of x modulo the symmetries of every hidden layer
    (the network function is unchanged). Layer by layer from the input:

    1. homogeneous units (relu, identity) are rescaled to |w| = 1 (incoming weights
       with the bias), the scale moving into their outgoing weights;
    2. odd units (identity, tanh, sigmoid2, cube, odd poly) get the sign that makes
       their first non-zero outgoing weight positive (first non-zero incoming weight
       when all outgoing weights are 0);
    3. units are sorted by the key (incoming weights, outgoing weights),
       lexicographically ascending (stable); with per-unit activations only units of
       the same activation exchange places.

    With ``return_perm=True`` also returns, per hidden layer, the original index of
    the unit now at each position.

    Example::

        >>> xc = mlpflow.canonicalize(net, x)
        >>> np.allclose(net(xc, X), net(x, X))
        True
    """
    x = _as_params(net, x)
    xc = np.empty_like(x)
    nh = sum(u for u, _ in _hidden_layers(net))
    perm = _ints(max(nh, 1))
    err = _err()
    _lib.check(lib.mlpf_canonicalize(_cnet(net), _ptr(x), _ptr(xc), _iptr(perm), byref(err)), err)
    if not return_perm:
        return xc
    out, off = [], 0
    for u, _ in _hidden_layers(net):
        out.append(perm[off:off + u].astype(int).tolist())
        off += u
    return xc, out


def symmetry_distance(net, x, y, aligned=False):
    """Euclidean distance between x and y modulo the hidden layers' symmetries.
    Homogeneous units of both are taken at |w| = 1; then, layer by layer from the
    input, x's units are permuted (odd ones flipped) onto y's by an optimal
    assignment (Hungarian algorithm) of the squared differences of their incoming
    weights (plus outgoing weights in the last hidden layer). Exact for one hidden
    layer; for deeper nets an upper bound that is 0 for exact symmetric copies.

    With ``aligned=True`` returns (distance, x_aligned, y_scaled).

    Example::

        >>> xp = x.copy(); ...                  # permute the hidden units of x
        >>> mlpflow.symmetry_distance(net, xp, x) < 1e-14
        True
    """
    x = _as_params(net, x, "x")
    y = _as_params(net, y, "y")
    d = c_double()
    xa, ys = np.empty_like(x), np.empty_like(y)
    err = _err()
    _lib.check(lib.mlpf_symmetry_distance(_cnet(net), _ptr(x), _ptr(y), byref(d), _ptr(xa),
                                          _ptr(ys), byref(err)), err)
    return (d.value, xa, ys) if aligned else d.value


def match_teacher(net, x, teacher, teacher_params=None):
    """Which teacher unit did each student unit learn? One hidden layer each, same
    input and output dimensions. ``teacher`` is a TeacherNet (its params) or a net
    with ``teacher_params``.

    Returns a dict:
      ``assign`` (n,) teacher unit of each student unit, -1 when unmatched (the
      assignment maximises the summed cosines, one student per teacher);
      ``cosines`` (n, k) cosine of incoming vectors (bias included; absolute value
      for odd units); ``cosine`` (n,) each student's matched cosine (NaN unmatched);
      ``err_in`` / ``err_out`` (n,) relative recovery errors |s w_i - w_j| / |w_j|
      and |s a_i - a_j| / |a_j| (s the sign flip of odd units; homogeneous units
      compared at |w| = 1); ``unmatched`` student units; ``teachers_missed``
      teacher units with no student; ``teacher_cosine`` (k,) each teacher's cosine
      with its student (NaN when missed).

    Example::

        >>> m = mlpflow.match_teacher(net, res["x"], teacher)
        >>> m["cosine"].min() > 0.999
        True
    """
    _one_hidden(net, "match_teacher")
    if teacher_params is None:
        if not isinstance(teacher, TeacherNet):
            raise ValueError("teacher: expected a TeacherNet, or a net with teacher_params")
        teacher_params = teacher.params
    _one_hidden(teacher, "match_teacher (teacher)")
    x = _as_params(net, x)
    xt = _as_params(teacher, teacher_params, "teacher_params")
    n, k = net.layer_shape(0)[0], teacher.layer_shape(0)[0]
    assign = _ints(n)
    cos = np.empty((n, k))
    ein, eout = np.empty(n), np.empty(n)
    err = _err()
    _lib.check(lib.mlpf_match_teacher(_cnet(net), _ptr(x), _cnet(teacher), _ptr(xt),
                                      _iptr(assign), _ptr(cos), _ptr(ein), _ptr(eout),
                                      byref(err)), err)
    assign = assign.astype(int)
    matched = assign >= 0
    cosine = np.full(n, np.nan)
    cosine[matched] = cos[np.arange(n)[matched], assign[matched]]
    tcos = np.full(k, np.nan)
    tcos[assign[matched]] = cosine[matched]
    return {"assign": assign, "cosines": cos, "cosine": cosine, "err_in": ein,
            "err_out": eout, "unmatched": np.flatnonzero(~matched).tolist(),
            "teachers_missed": [j for j in range(k) if np.isnan(tcos[j])],
            "teacher_cosine": tcos}


def _with_layers(net, layers, x):
    """A net like ``net`` (same data / teacher) with other layers; x for TeacherNet."""
    if isinstance(net, TeacherNet):
        return TeacherNet(layers, net.din, params=x)
    if isinstance(net, NetI):
        return NetI(net.teacher, layers, maxnorm=net.maxnorm)
    if isinstance(net, Net):
        new = Net(layers, net.input, net.target, net.weights, net.loss, net.maxnorm, None,
                  net.threads)
        if hasattr(net, "teacher"):
            new.teacher = net.teacher
        return new
    raise ValueError("net: expected a Net, NetI or TeacherNet, got %s" % type(net).__name__)


def _hidden_width_layers(net, width):
    (u, act, bias), rest = net.layers[0], list(net.layers[1:])
    if not _is_single_activation(act):
        if len(set(map(str, act))) != 1:
            raise ValueError("net: per-unit activations are not supported here")
        act = act[0]
    return [(width, act, bias)] + rest


def expand_and_cluster(net, xs, min_cosine=0.999, min_output=1e-3, min_fraction=0.5,
                       const_tol=1e-8):
    """Expand-and-cluster (Martinelli et al.): recover a teacher from several trained
    over-parameterised students ``xs`` (S, P) of ``net`` (one hidden layer).

    Per student, homogeneous units are rescaled to |w| = 1; units with the same
    incoming vector (cosine >= min_cosine, sign-aware for odd activations; equal
    norms too for non-homogeneous ones) are merged by adding their outgoing weights
    (duplicates add up, cancelling pairs vanish); units whose outgoing weights are
    below ``min_output`` times the student's largest are dropped as negligible, and
    units without input weights (norm <= const_tol max(1, |bias|)) are constants
    a sigma(b) that join the student's output offset. The rest are clustered across students by the cosine of their incoming vectors; a
    cluster found in at least ``min_fraction`` of the students is a recovered unit.

    Returns a dict: ``units`` (recovered: list of {"w", "a", "count"}), ``counts``,
    ``clusters`` (all clusters, same form), ``labels`` (S, k) cluster of each unit
    (-1: merged or dropped), ``net`` and ``x``: a network like ``net`` whose hidden
    layer is the recovered units (mean incoming and outgoing weights; output bias
    the students' mean output bias plus constant units), ``offsets`` (S, dout) the
    constant units' contribution per student.

    Example::

        >>> xs = np.stack([mlpflow.train(net, mlpflow.random_params(net, seed=s))["x"]
        ...                for s in range(5)])
        >>> r = mlpflow.expand_and_cluster(net, xs)
        >>> len(r["units"])                     # the teacher's width, when recovered
    """
    _one_hidden(net, "expand_and_cluster")
    X = _f64(xs, "xs", 2)
    if X.shape[1] != net.nparams:
        raise ValueError("xs: expected shape (S, %d), got %s" % (net.nparams, X.shape))
    S = X.shape[0]
    k, c = net.layer_shape(0)
    dout = net.layer_shape(1)[0]
    opt = _ClusterOptions(float(min_cosine), float(min_output), float(const_tol))
    labels = _ints(S * k)
    rows, cols = np.empty((S * k, c)), np.empty((S * k, dout))
    counts = _ints(S * k)
    ncl = c_size_t()
    offsets = np.empty((S, dout))
    err = _err()
    _lib.check(lib.mlpf_expand_cluster(_cnet(net), _ptr(X), S, byref(opt), _iptr(labels),
                                       _ptr(rows), _ptr(cols), _iptr(counts), byref(ncl),
                                       _ptr(offsets), byref(err)), err)
    q = ncl.value
    clusters = [{"w": rows[i].copy(), "a": cols[i].copy(), "count": int(counts[i])}
                for i in range(q)]
    units = [u for u in clusters if u["count"] >= min_fraction * S]
    out = {"units": units, "counts": [u["count"] for u in units], "clusters": clusters,
           "labels": labels.reshape(S, k).astype(int), "offsets": offsets}
    if units:
        ob = net.layer_shape(1)[1] > k         # readout bias
        w2 = np.stack([u["a"] for u in units], axis=1)
        if ob:
            bias = np.mean([params_dict(net, x)["w2"][:, k] for x in X], axis=0)
            w2 = np.concatenate([w2, (bias + offsets.mean(axis=0))[:, None]], axis=1)
        x_new = params({"w1": np.stack([u["w"] for u in units]), "w2": w2})
        out["net"] = _with_layers(net, _hidden_width_layers(net, len(units)), x_new)
        out["x"] = x_new
    return out


# ---------------------------------------------------------------- symmetry-induced points

def _stirling2(n, k):
    """Stirling number of the second kind S(n, k) (exact integers)."""
    if n == k:
        return 1
    if k == 0 or k > n:
        return 0
    return sum((-1) ** j * math.comb(k, j) * (k - j) ** n for j in range(k + 1)) // math.factorial(k)


def count_G(r, m):
    """G(r, m) = r! S(m, r): the affine subspaces of symmetry-induced critical points
    of width m made from one width-r critical point (and its r! permutations) by
    replication: each of the m units is a copy of one of the r units, every unit
    copied at least once (a surjection {1..m} -> {1..r}; S = Stirling numbers of
    the second kind). Şimşek et al. 2021 (arXiv 2105.12221).

    Example::

        >>> mlpflow.count_G(2, 3)          # 2! S(3, 2) = 2 * 3
        6
    """
    if r < 1 or m < r:
        return 0
    return math.factorial(r) * _stirling2(m, r)


def count_T(r, m):
    """T(r, m) = sum_{j=0}^{m-r} C(m, j) r! S(m - j, r): the affine subspaces forming
    the zero-loss manifold of width m made from a width-r zero-loss minimum: j of
    the m units are zero-type (zero outgoing weights, any incoming weights), the
    others replicate the r units surjectively. Şimşek et al. 2021 (arXiv 2105.12221).

    Example::

        >>> mlpflow.count_T(2, 3)          # G(2, 3) + 3 G(2, 2) = 6 + 3 * 2
        12
    """
    if r < 1 or m < r:
        return 0
    return sum(math.comb(m, j) * count_G(r, m - j) for j in range(m - r + 1))


def symmetry_induced_count(r, m, zero_units=False):
    """The number of embeddings ``symmetry_induced`` lists: count_T(r, m) with
    zero-type units, count_G(r, m) without.

    Example::

        >>> mlpflow.symmetry_induced_count(2, 4, zero_units=True)
        50
    """
    return count_T(r, m) if zero_units else count_G(r, m)


def _assignments(r, m, zero_units):
    """Every map {0..m-1} -> {-1 (zero unit), 0..r-1} hitting each of 0..r-1."""
    labels = range(-1, r) if zero_units else range(r)
    for a in itertools.product(labels, repeat=m):
        if len(set(v for v in a if v >= 0)) == r:
            yield a


def _describe(a, fractions):
    parts = []
    for u in sorted(set(v for v in a if v >= 0)):
        slots = [i for i, v in enumerate(a) if v == u]
        if len(slots) == 1:
            parts.append("unit %d -> %d" % (u, slots[0]))
        else:
            parts.append("unit %d split into %s (output fractions %s)" % (
                u, slots, ", ".join("%.6g" % fractions[i] for i in slots)))
    zeros = [i for i, v in enumerate(a) if v < 0]
    if zeros:
        parts.append("zero-output units %s" % zeros)
    return "; ".join(parts)


def symmetry_induced(net, x, width, lam=0.5, zero_units=False, seed=1, max_count=100000):
    """All distinct embeddings of the critical point x of ``net`` (one hidden layer of
    width r) into width m = ``width``: each of the m new units is a copy of one of the
    r units (every unit copied at least once) or, with ``zero_units=True``, a
    zero-type unit (zero outgoing weights; incoming weights Glorot-normal from
    ``seed``; such points are critical only where the residual vanishes, i.e. at
    zero loss). The copies of unit u share its incoming weights and split its
    outgoing weights a_u: the first copy gets lam * a_u, the other c - 1 copies
    (1 - lam) a_u / (c - 1) each (lam, 1 - lam for a pair). The network function is
    unchanged, so a critical point maps to a critical point.

    Counts (tested against this enumeration): without zero units
    G(r, m) = r! S(m, r); with them T(r, m) = sum_{j=0}^{m-r} C(m, j) r! S(m-j, r)
    (S: Stirling numbers of the second kind; Şimşek et al. 2021, arXiv 2105.12221;
    see count_G, count_T).

    Returns a list of dicts: ``assign`` (m,) source unit of each new unit (-1 zero),
    ``fractions`` (m,) outgoing-weight fraction, ``x``, ``net`` (the width-m
    network, shared by all entries), ``description``.

    Example::

        >>> pts = mlpflow.symmetry_induced(net2, xmin, 3, lam=0.3)
        >>> len(pts) == mlpflow.count_G(2, 3)
        True
    """
    _one_hidden(net, "symmetry_induced")
    x = _as_params(net, x)
    r, c = net.layer_shape(0)
    m = int(width)
    if m < r:
        raise ValueError("width: %d is smaller than the hidden layer (%d units)" % (m, r))
    total = symmetry_induced_count(r, m, zero_units)
    if total > max_count:
        raise ValueError("symmetry_induced: %d embeddings exceed max_count = %d" % (total, max_count))
    d = params_dict(net, x)
    W1, W2 = d["w1"], d["w2"]
    ob = W2.shape[1] > r
    big = _with_layers(net, _hidden_width_layers(net, m), None if not isinstance(net, TeacherNet)
                       else np.zeros(m * c + W2.shape[0] * (m + ob)))
    rng_rows = params_dict(big, random_params(big, seed=seed))["w1"] if zero_units else None
    out = []
    for a in _assignments(r, m, zero_units):
        frac = np.zeros(m)
        V1, V2 = np.zeros((m, c)), np.zeros((W2.shape[0], m + ob))
        for u in range(r):
            slots = [i for i, v in enumerate(a) if v == u]
            f = [1.0] if len(slots) == 1 else [lam] + [(1 - lam) / (len(slots) - 1)] * (len(slots) - 1)
            for i, fi in zip(slots, f):
                frac[i] = fi
                V1[i] = W1[u]
                V2[:, i] = fi * W2[:, u]
        for i in (i for i, v in enumerate(a) if v < 0):
            V1[i] = rng_rows[i]
        if ob:
            V2[:, m] = W2[:, r]
        xn = params({"w1": V1, "w2": V2})
        out.append({"assign": np.array(a), "fractions": frac, "x": xn, "net": big,
                    "description": _describe(a, frac)})
    return out


# ---------------------------------------------------------------- tied-subspace points

# Gradient flow for a while, then Newton. Newton's trust region can stall in the
# flat valleys that rescaling symmetries (relu) leave in a subspace; a different
# hand-over point, or BFGS, then gets there. The first attempt reaching GOOD wins,
# else the one with the smallest gradient.
_ATTEMPTS = (dict(maxT=1e2), dict(maxT=1e4), dict(alg="none", optim_solver="bfgs"))
_GOOD = 1e-12


def _minimise(sub, z0, **options):
    best = None
    for attempt in _ATTEMPTS if not options else (options,):
        opts = dict(optim_solver="newtontr", min_gnorm=1e-14, maxtime_ode=30.0,
                    maxtime_optim=30.0)
        opts.update(attempt)
        r = train(sub, z0, **opts)
        if best is None or r["gnorm"] < best["gnorm"]:
            best = r
        if r["gnorm"] <= _GOOD:
            break
    return best


def _classify(net, x):
    from . import classify       # engineer ana1's classification (mf.classify)
    return classify(net, x)


def permutation_point(net, x, i, j, **options):
    """Collide hidden units i and j of ``net`` (one hidden layer): tie their incoming
    weights (with bias) and their outgoing weights, start from their mean at x, and
    minimise the loss within that tied subspace (gradient flow then Newton trust
    region, retried with other hand-over points while the gradient's inf-norm is
    above 1e-12; ``options`` are train options for one attempt instead). Brea et al. 2019: the result is a critical point of the full
    loss with at least n_out zero Hessian eigenvalues (splitting the collided unit's
    outgoing weights); some are first-order saddles.

    Returns a dict: ``x`` (full parameters), ``loss``, ``gnorm`` (inf-norm of the
    full gradient), ``subspace_gnorm``, ``classification`` (mf.classify of x),
    ``result`` (the train result in the subspace), ``subspace``.

    Example::

        >>> p = mlpflow.permutation_point(net, xmin, 0, 1)
        >>> p["classification"]["kind"], p["classification"]["index"]
    """
    _one_hidden(net, "permutation_point")
    x = _as_params(net, x)
    k, c = net.layer_shape(0)
    i, j = int(i), int(j)
    if not (0 <= i < k and 0 <= j < k and i != j):
        raise ValueError("i, j: must be two different hidden units in 0..%d, got %d, %d" % (k - 1, i, j))
    groups = np.arange(net.nparams)
    groups[j * c:(j + 1) * c] = groups[i * c:(i + 1) * c]
    off = k * c
    stride = net.layer_shape(1)[1]
    for o in range(net.layer_shape(1)[0]):
        groups[off + o * stride + j] = groups[off + o * stride + i]
    sub = AffineSubspace(net, origin=x, groups=groups)
    res = _minimise(sub, sub.project(x), **options)
    xf = sub.point(res["x"])
    return {"x": xf, "loss": loss(net, xf), "gnorm": float(np.abs(gradient(net, xf)).max()),
            "subspace_gnorm": res["gnorm"], "classification": _classify(net, xf),
            "result": res, "subspace": sub}


def _teacher_units(teacher):
    _one_hidden(teacher, "copy_average (teacher)")
    d = params_dict(teacher, teacher.params)
    return d["w1"], d["w2"]


def _default_partition(k, n):
    return [[b] for b in range(n - 1)] + [list(range(n - 1, k))]


def copy_average(teacher, n, partition=None, activation=None, **options):
    """A copy-average configuration (Şimşek et al. 2023) of a student with n hidden
    units for ``teacher`` (TeacherNet, one hidden layer, one linear output) on exact
    infinite Gaussian data (NetI: closed forms for sigmoid2 / erf, normal_cdf and
    relu, quadrature otherwise).

    ``partition`` is a list of n non-empty blocks of teacher units covering all k of
    them (default: n - 1 singletons [0], ..., [n-2] and the block [n-1, ..., k-1]).
    With s_b = sum_{j in B_b} w_j (block sums of teacher incoming vectors), student
    unit b has incoming weights sum_b' C[b, b'] s_b' and outgoing weight a_b: the
    subspace fixed by every permutation of teacher units inside a block. It starts
    at C = diag(1 / |B_b|) (a one-unit block copies its teacher unit, a larger one
    averages it) and the free scalars (C, a, biases when the teacher has them) are
    minimised there (gradient flow then Newton, as in :func:`permutation_point`;
    ``options`` are train options). When the teacher is itself invariant
    under those permutations (e.g. orthonormal incoming vectors and equal outgoing
    weights, the setting of the paper), a critical point of this subspace is a
    critical point of the full loss (symmetric criticality); ``gnorm`` reports the
    full gradient in every case.

    Returns a dict: ``net`` (the NetI student), ``x``, ``loss``, ``gnorm`` (full),
    ``partition``, ``coefficients`` C (n, n), ``scales`` (its diagonal),
    ``out_weights`` (a_b), ``result``.

    Example::

        >>> ca = mlpflow.copy_average(teacher, 2)          # copy unit 0, average the rest
        >>> ca["gnorm"] < 1e-12
        True
    """
    W1, W2 = _teacher_units(teacher)
    k, c = W1.shape
    tbias = teacher.layer_shape(0)[1] > teacher.din
    ob = W2.shape[1] > k
    if W2.shape[0] != 1:
        raise ValueError("teacher: copy_average needs one output unit, the teacher has %d" % W2.shape[0])
    n = int(n)
    part = _default_partition(k, n) if partition is None else [sorted(int(j) for j in b) for b in partition]
    if len(part) != n or any(not b for b in part) or sorted(sum(part, [])) != list(range(k)):
        raise ValueError("partition: expected %d non-empty blocks covering teacher units 0..%d "
                         "exactly once, got %r" % (n, k - 1, partition))
    act = activation or teacher.layers[0][1]
    net = NetI(teacher, [(n, act, tbias), (1, "identity", ob)])
    sub, z0 = _copy_average_subspace(net, W1, W2, part, tbias, ob)
    res = _minimise(sub, z0, **options)
    x = sub.point(res["x"])
    C = res["x"][:n * n].reshape(n, n)
    return {"net": net, "x": x, "loss": loss(net, x), "gnorm": float(np.abs(gradient(net, x)).max()),
            "partition": part, "coefficients": C.copy(), "scales": np.diag(C).copy(),
            "out_weights": params_dict(net, x)["w2"][0, :n].copy(), "result": res}


def _copy_average_subspace(net, W1, W2, part, tbias, ob):
    """The subspace fixed by permutations inside each block: unit b's incoming
    vector sum_b' C[b, b'] s_b' (s_b' the block sums of teacher vectors), its bias
    and output weight free. Start: C = diag(1 / |B_b|) (block means), a_b the
    block's summed output weight."""
    n, c, din = len(part), W1.shape[1], net.din
    P = net.nparams
    S = np.stack([W1[B, :din].sum(axis=0) for B in part])
    cols, z0 = [], []

    def column(pos, values):
        v = np.zeros(P)
        v[pos] = values
        cols.append(v)

    for b in range(n):
        for b2, B in enumerate(part):
            column(slice(b * c, b * c + din), S[b2])
            z0.append(1.0 / len(B) if b2 == b else 0.0)
    if tbias:
        for b, B in enumerate(part):
            column(b * c + din, 1.0)
            z0.append(float(W1[B, din].mean()))
    for b, B in enumerate(part):
        column(n * c + b, 1.0)
        z0.append(float(W2[0, B].sum()))
    if ob:
        column(n * c + n, 1.0)
        z0.append(float(W2[0, W1.shape[0]]))
    return AffineSubspace(net, basis=np.stack(cols, axis=1)), np.array(z0)

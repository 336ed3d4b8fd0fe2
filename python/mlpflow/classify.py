"""What did my run find? Classification of points (minimum, saddle, channel,
not_critical), channels to infinity with their gated-linear-unit limit, critical
points of any index, and the network's internals (activations, hidden layers).

All numerics run in libmlpflow (src/analysis/); this module converts arrays.
"""
import math
from ctypes import POINTER, Structure, byref, c_char, c_double, c_int, c_long, c_size_t

import numpy as np

from . import _lib
from ._lib import DP, ERRP, NETP, OBJP, lib
from .core import Net, _as_params, _cnet, _err, _f64, _Model, _one_activation, _ptr

__all__ = ["classify", "channels", "find_critical_point", "activation", "hidden",
           "channel_limit", "GLUNet"]

KINDS = ("minimum", "saddle", "channel", "not_critical")
CHANNEL_TYPES = ("pair", "single")


class mlpf_channel(Structure):
    _fields_ = [("type", c_int), ("layer", c_int), ("units", c_int * 2), ("nin", c_int),
                ("nout", c_int), ("gap", c_double), ("cosine", c_double),
                ("amplification", c_double), ("out_weights", DP), ("c", DP), ("w", DP),
                ("v", DP), ("glu_error", c_double), ("growth_exponent", c_double),
                ("loss_rate", c_double)]


class mlpf_channel_options(Structure):
    _fields_ = [("glu_tol", c_double), ("min_amplification", c_double)]


class mlpf_classify_options(Structure):
    _fields_ = [("zero_tol", c_double), ("gnorm_tol", c_double), ("detect_channels", c_int),
                ("channel", mlpf_channel_options)]


class mlpf_classification(Structure):
    _fields_ = [("kind", c_int), ("nparams", c_size_t), ("index", c_int), ("n_zero", c_int),
                ("n_positive", c_int), ("strict", c_int), ("zero_tol", c_double),
                ("gnorm_tol", c_double), ("loss", c_double), ("gnorm", c_double),
                ("eigenvalues", DP), ("nchannels", c_size_t),
                ("channels", POINTER(mlpf_channel))]


class mlpf_critical_options(Structure):
    _fields_ = [("gtol", c_double), ("maxiter", c_long)]


class mlpf_critical_info(Structure):
    _fields_ = [("loss", c_double), ("gnorm", c_double), ("iterations", c_long),
                ("stopped_by", c_char * 32)]


_SIG = {
    "mlpf_activation_eval_array": (c_int, [POINTER(_lib.mlpf_activation), DP, c_size_t, c_int, DP,
                                           ERRP]),
    "mlpf_hidden": (c_int, [NETP, DP, DP, c_size_t, c_int, DP, DP, ERRP]),
    "mlpf_critical_options_default": (None, [POINTER(mlpf_critical_options)]),
    "mlpf_find_critical_point": (c_int, [OBJP, DP, POINTER(mlpf_critical_options), DP,
                                         POINTER(mlpf_critical_info), ERRP]),
    "mlpf_channel_options_default": (None, [POINTER(mlpf_channel_options)]),
    "mlpf_channels_free": (None, [POINTER(mlpf_channel), c_size_t]),
    "mlpf_channels": (c_int, [NETP, DP, DP, DP, c_size_t, POINTER(mlpf_channel_options),
                              POINTER(POINTER(mlpf_channel)), POINTER(c_size_t), ERRP]),
    "mlpf_channel_dynamics": (c_int, [NETP, POINTER(mlpf_channel), DP, DP, DP, c_size_t,
                                      c_double, ERRP]),
    "mlpf_classify_options_default": (None, [POINTER(mlpf_classify_options)]),
    "mlpf_classification_free": (None, [POINTER(mlpf_classification)]),
    "mlpf_classify": (c_int, [OBJP, DP, DP, DP, c_size_t, POINTER(mlpf_classify_options),
                              POINTER(mlpf_classification), ERRP]),
}
for _n, (_r, _a) in _SIG.items():
    _lib.bind(_n, _r, _a)


def _arr(p, *shape):
    n = int(np.prod(shape))
    return np.ctypeslib.as_array(p, shape=(n,)).copy().reshape(shape) if n else np.empty(shape)


def _channel_dict(ch):
    single = ch.type == 1
    nin, nout = ch.nin, ch.nout
    return {
        "type": CHANNEL_TYPES[ch.type], "layer": ch.layer,
        "units": [ch.units[0]] if single else [ch.units[0], ch.units[1]],
        "gap": ch.gap, "cosine": ch.cosine, "amplification": ch.amplification,
        "out_weights": _arr(ch.out_weights, 1 if single else 2, nout),
        "c": _arr(ch.c, nout), "w": _arr(ch.w, nin), "v": _arr(ch.v, nout, nin),
        "glu_error": ch.glu_error, "growth_exponent": ch.growth_exponent,
        "loss_rate": ch.loss_rate,
    }


def _data(net):
    """(input, weights, n) pointers for channel detection: a finite-data net's
    samples, or None (standard Gaussian input) for NetI."""
    if isinstance(net, Net):
        X = net.input
        W = net.weights
        return _ptr(X), (_ptr(W) if W is not None else None), X.shape[0], (X, W)
    return None, None, 0, None


def _result_parts(x_or_result):
    if isinstance(x_or_result, dict):
        return x_or_result["x"], x_or_result
    return x_or_result, None


def _dynamics(net, ch, result, decades):
    traj = result.get("trajectory") or {}
    t = _f64(traj.get("t", np.empty(0)), "trajectory t", 1)
    xs = _f64(traj.get("x", np.empty((0, net.nparams))), "trajectory x", 2)
    L = _f64(result.get("loss_curve", np.empty(0)), "loss_curve", 1)
    if t.size == 0:
        return
    err = _err()
    _lib.check(_lib.need("mlpf_channel_dynamics")(_cnet(net), byref(ch), _ptr(t), _ptr(xs),
                                                  _ptr(L), t.size, float(decades), byref(err)),
               err)


def _channel_opts(glu_tol, min_amplification):
    o = mlpf_channel_options()
    _lib.need("mlpf_channel_options_default")(byref(o))
    if glu_tol is not None:
        o.glu_tol = float(glu_tol)
    if min_amplification is not None:
        o.min_amplification = float(min_amplification)
    return o


def _channel_list(net, arr, n, result, decades):
    out = []
    for k in range(n):
        if result is not None:
            _dynamics(net, arr[k], result, decades)
        out.append(_channel_dict(arr[k]))
    return out


def channels(net, x_or_result, glu_tol=None, min_amplification=None, decades=2):
    """Channels to infinity at a point (or a training result's ``x``).

    A pair channel is two units of one hidden layer whose input vectors converge
    while their output weights grow with opposite signs; in the limit the pair
    computes the gated linear unit c*s(w.x) + (v.x)*s'(w.x). A single-unit
    channel (tanh, sigmoid2) is one unit with |w| -> 0 and |a| -> inf at fixed a*w.
    Detection compares RMS outputs on the net's data (in expectation for NetI):
    glu_error = rms(pair - GLU) / rms(pair) <= glu_tol [0.1], amplification =
    rms(one unit's own term) / rms(pair) >= min_amplification [10], and the gated
    part carries >= glu_tol of the pair's output (see mlpf_channels in mlpflow.h).

    Each entry: type ("pair" | "single"), layer, units, gap, cosine,
    amplification, out_weights, c, w, v (the GLU; w and rows of v have the
    layer's inputs + bias), glu_error, and -- when a training result with a
    trajectory is given -- growth_exponent (slope of log|a| against log t) and
    loss_rate (slope of -log L against log t) over the last ``decades`` of flow
    time (NaN otherwise).

    Example::

        >>> res = mlpflow.train(net, x0, maxT=1e6, optim_solver="none")
        >>> for ch in mlpflow.channels(net, res):
        ...     print(ch["units"], ch["glu_error"], ch["growth_exponent"])
    """
    x, result = _result_parts(x_or_result)
    x = _as_params(net, x)
    inp, wts, n, keep = _data(net)
    o = _channel_opts(glu_tol, min_amplification)
    arr, cnt = POINTER(mlpf_channel)(), c_size_t()
    err = _err()
    _lib.check(_lib.need("mlpf_channels")(_cnet(net), _ptr(x), inp, wts, n, byref(o),
                                          byref(arr), byref(cnt), byref(err)), err)
    try:
        return _channel_list(net, arr, cnt.value, result, decades)
    finally:
        lib.mlpf_channels_free(arr, cnt.value)


def classify(net, x, tol=None, gnorm_tol=None, channels=True, glu_tol=None,
             min_amplification=None):
    """What the point x (or a training result dict's ``x``) is.

    Returns a dict: ``kind`` ("minimum" | "saddle" | "channel" | "not_critical"),
    ``index`` (negative eigenvalues), ``n_zero``, ``n_positive``, ``strict`` (a
    minimum with n_zero == 0), ``zero_tol`` (the threshold used), ``gnorm_tol``,
    ``loss``, ``gnorm`` (inf-norm of the gradient), ``eigenvalues`` (ascending)
    and ``channels`` (see :func:`channels`).

    Thresholds, unless given (``tol`` for eigenvalues, ``gnorm_tol``):
    zero_tol = P eps |H|_2 + |H(x - H^+ g) - H(x)|_F -- the rounding of the
    Hessian and its eigenvalues plus how much they move on the way to the nearby
    critical point, so symmetry-induced flat directions count as zero;
    gnorm_tol = P eps |H|_2 max(|x|_2, 1) + noise -- the gradient an exact critical
    point shows after rounding x, plus the objective's own rounding error measured
    as |g(x + d) - g(x) - H d|_inf with d_i = +-eps x_i. "channel" wins over every other kind; else
    "not_critical" when gnorm > gnorm_tol, "saddle" when index > 0, "minimum".

    Example::

        >>> c = mlpflow.classify(net, res)
        >>> c["kind"], c["index"], c["n_zero"]
        ('minimum', 0, 0)
    """
    x, result = _result_parts(x)
    if not isinstance(net, _Model):
        raise ValueError("net: expected a mlpflow network, got %s" % type(net).__name__)
    obj = net._objective(False)
    x = _as_params(net, x)
    o = mlpf_classify_options()
    _lib.need("mlpf_classify_options_default")(byref(o))
    o.zero_tol = math.nan if tol is None else float(tol)
    o.gnorm_tol = math.nan if gnorm_tol is None else float(gnorm_tol)
    o.detect_channels = int(bool(channels))
    o.channel = _channel_opts(glu_tol, min_amplification)
    inp, wts, n, keep = _data(net)
    c = mlpf_classification()
    err = _err()
    _lib.check(_lib.need("mlpf_classify")(obj, _ptr(x), inp, wts, n, byref(o), byref(c),
                                          byref(err)), err)
    try:
        out = {
            "kind": KINDS[c.kind], "index": c.index, "n_zero": c.n_zero,
            "n_positive": c.n_positive, "strict": bool(c.strict), "zero_tol": c.zero_tol,
            "gnorm_tol": c.gnorm_tol, "loss": c.loss, "gnorm": c.gnorm,
            "eigenvalues": _arr(c.eigenvalues, c.nparams),
        }
        out["channels"] = _channel_list(net, c.channels, c.nchannels, result, 2)
        return out
    finally:
        lib.mlpf_classification_free(byref(c))


def find_critical_point(net, x0, gtol=1e-15, maxiter=500, classify_result=True):
    """The critical point near x0, of any index: Levenberg-Marquardt on |grad L|^2 / 2
    with the exact Hessian (Newton's method on grad L = 0 once close), so it converges
    to nearby saddles as well as minima; flat directions get no step.

    Returns a dict: x, loss, gnorm (inf-norm), iterations, stopped_by ("gtol",
    "stalled" at the rounding floor, "maxiter") and, with ``classify_result``,
    ``classification`` (:func:`classify` at x).

    Example::

        >>> cp = mlpflow.find_critical_point(net, x_near_saddle)
        >>> cp["gnorm"] < 1e-12, cp["classification"]["index"]
        (True, 1)
    """
    x0, _ = _result_parts(x0)
    if not isinstance(net, _Model):
        raise ValueError("net: expected a mlpflow network, got %s" % type(net).__name__)
    obj = net._objective(False)
    x0 = _as_params(net, x0, "x0")
    o = mlpf_critical_options()
    _lib.need("mlpf_critical_options_default")(byref(o))
    o.gtol, o.maxiter = float(gtol), int(maxiter)
    x = np.empty(net.nparams)
    info = mlpf_critical_info()
    err = _err()
    _lib.check(_lib.need("mlpf_find_critical_point")(obj, _ptr(x0), byref(o), _ptr(x),
                                                     byref(info), byref(err)), err)
    out = {"x": x, "loss": info.loss, "gnorm": info.gnorm, "iterations": info.iterations,
           "stopped_by": info.stopped_by.decode()}
    if classify_result:
        out["classification"] = classify(net, x)
    return out


def activation(name, z, derivative=0):
    """An activation (a name such as "softplus", or ("poly", [c0, c1, ...])) or its
    derivative 1, 2 or 3, elementwise on z (any shape), computed by the library.

    Example::

        >>> mlpflow.activation("tanh", [0.0, 1.0], derivative=1)
        array([1.        , 0.41997434])
    """
    act = _one_activation(name, "name")
    Z = _f64(z, "z")
    out = np.empty(Z.shape)
    err = _err()
    _lib.check(_lib.need("mlpf_activation_eval_array")(byref(act), _ptr(Z), Z.size,
                                                       int(derivative), _ptr(out), byref(err)),
               err)
    return out if out.ndim else float(out)


def hidden(net, x, X):
    """Each layer's pre-activations and outputs at parameters x on inputs X (N, Din):
    a list with one dict {"z": (N, units), "a": (N, units)} per layer, the output
    layer last.

    Example::

        >>> layers = mlpflow.hidden(net, x, X)
        >>> layers[0]["a"].shape        # the first hidden layer's outputs
        (100, 5)
    """
    cnet = _cnet(net)
    x = _as_params(net, x)
    X = _f64(X, "X", 2)
    if X.shape[1] != net.din:
        raise ValueError("X: expected %d columns (the input dimension), got %d"
                         % (net.din, X.shape[1]))
    out = []
    f = _lib.need("mlpf_hidden")
    for l in range(lib.mlpf_net_nlayers(cnet)):
        units = lib.mlpf_net_layer_units(cnet, l)
        z, a = np.empty((X.shape[0], units)), np.empty((X.shape[0], units))
        err = _err()
        _lib.check(f(cnet, _ptr(x), _ptr(X), X.shape[0], l, _ptr(z), _ptr(a), byref(err)), err)
        out.append({"z": z, "a": a})
    return out


# ---------------------------------------------------------------- the end of a channel

class mlpf_glu_shape(Structure):
    _fields_ = [("din", c_int), ("hbias", c_int), ("k", c_int), ("nglu", c_int), ("nout", c_int),
                ("obias", c_int), ("nin", c_int), ("act", _lib.mlpf_activation)]


for _n, (_r, _a) in {
    "mlpf_glu_nparams": (c_size_t, [POINTER(mlpf_glu_shape)]),
    "mlpf_objective_glu": (OBJP, [POINTER(mlpf_glu_shape), c_size_t, DP, DP, DP, ERRP]),
    "mlpf_glu_predict": (c_int, [POINTER(mlpf_glu_shape), DP, DP, c_size_t, DP, ERRP]),
    "mlpf_channel_limit": (c_int, [NETP, DP, POINTER(mlpf_channel), POINTER(mlpf_glu_shape),
                                   POINTER(DP), ERRP]),
}.items():
    _lib.bind(_n, _r, _a)


class GLUNet(_Model):
    """A one-hidden-layer network in which some units are gated linear units,
    c*s(w.x) + (v.x)*s'(w.x): the end of a channel to infinity. Made by
    :func:`channel_limit`; loss / gradient / hessian / hessian_spectrum / train /
    classify work on it, and ``net2(x, X)`` evaluates it.

    Parameter layout: W1 (k, din + bias) of the ordinary units, W2 (nout, k + obias),
    then per GLU unit w (din + bias), c (nout), v (nout, din + bias).
    Data: the original net's samples, or Gauss-Hermite nodes (Din <= 2) with the
    teacher's outputs for a NetI.

    Example::

        >>> net2, x2 = mlpflow.channel_limit(net, res["x"], mlpflow.channels(net, res)[0])
        >>> net2(x2, X).shape            # the GLU network's output
        (200, 1)
        >>> mlpflow.hessian(net2, x2).shape == (net2.nparams, net2.nparams)
        True
    """

    def __init__(self, shape, input, target, weights=None):
        self.shape = shape
        self.din, self.dout = shape.din, shape.nout
        self.layers = [(shape.k, "ordinary", bool(shape.hbias)),
                       (shape.nglu, "glu", bool(shape.hbias)), (shape.nout, "identity",
                                                                bool(shape.obias))]
        self.maxnorm, self.merge = math.inf, []
        self.input = _f64(input, "input", 2)
        self.target = _f64(target, "target", 2)
        self.weights = None if weights is None else _f64(weights, "weights", 1)
        self.nsamples = self.input.shape[0]
        err = _err()
        self._obj = _lib.check_ptr(_lib.need("mlpf_objective_glu")(
            byref(shape), self.nsamples, _ptr(self.input), _ptr(self.target),
            _ptr(self.weights) if self.weights is not None else None, byref(err)), err)
        self.nparams = int(lib.mlpf_objective_nparams(self._obj))

    def __call__(self, x, X):
        x = _as_params(self, x)
        X = _f64(X, "X", 2)
        out = np.empty((X.shape[0], self.dout))
        err = _err()
        _lib.check(_lib.need("mlpf_glu_predict")(byref(self.shape), _ptr(x), _ptr(X), X.shape[0],
                                                 _ptr(out), byref(err)), err)
        return out

    def __repr__(self):
        return "GLUNet(k=%d, nglu=%d, din=%d, nparams=%d)" % (self.shape.k, self.shape.nglu,
                                                              self.din, self.nparams)


def _channel_struct(channel):
    keep = {k: _f64(channel[k], k).reshape(-1) for k in ("c", "w", "v")}
    keep["out_weights"] = _f64(channel["out_weights"], "out_weights").reshape(-1)
    ch = mlpf_channel()
    ch.type = CHANNEL_TYPES.index(channel["type"])
    ch.layer = int(channel["layer"])
    units = list(channel["units"]) + [-1]
    ch.units[0], ch.units[1] = int(units[0]), int(units[1])
    ch.nin, ch.nout = keep["w"].size, keep["c"].size
    for k in ("c", "w", "v", "out_weights"):
        setattr(ch, k, _ptr(keep[k]))
    return ch, keep


def _limit_data(net):
    """The samples the GLU net is evaluated on."""
    if isinstance(net, Net):
        return net.input, net.target, net.weights
    teacher = getattr(net, "teacher", None)
    if teacher is None or net.din > 2:
        raise _lib.Error("channel_limit: a network with Gaussian input needs Din <= 2 (it uses "
                         "Gauss-Hermite nodes as data); use a Net with samples instead", 6)
    from .core import gauss_hermite_net
    gh = gauss_hermite_net(teacher, net.layers)
    return gh.input, gh.target, gh.weights


def channel_limit(net, x, channel):
    """The network at the end of a channel: the channel's pair (or single unit)
    replaced by its gated linear unit c*s(w.x) + (v.x)*s'(w.x) (a :class:`GLUNet`),
    with the other units unchanged. Returns (net2, x2). Minimising net2 gives the
    loss at the end of the channel, to compare with the channel's current loss.

    Example::

        >>> ch = mlpflow.channels(net, res)[0]
        >>> net2, x2 = mlpflow.channel_limit(net, res["x"], ch)
        >>> end = mlpflow.train(net2, x2, alg="none", optim_solver="newtontr")
        >>> end["loss"] <= mlpflow.loss(net, res["x"])
        True
    """
    x, _ = _result_parts(x)
    x = _as_params(net, x)
    ch, keep = _channel_struct(channel)
    shape, x2p = mlpf_glu_shape(), DP()
    err = _err()
    _lib.check(_lib.need("mlpf_channel_limit")(_cnet(net), _ptr(x), byref(ch), byref(shape),
                                               byref(x2p), byref(err)), err)
    try:
        x2 = np.ctypeslib.as_array(x2p, shape=(int(_lib.need("mlpf_glu_nparams")(byref(shape))),)).copy()
    finally:
        _lib.c_free(x2p)
    del keep
    X, T, W = _limit_data(net)
    return GLUNet(shape, X, T, W), x2

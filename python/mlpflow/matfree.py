"""Matrix-free second-order tools (src/objective/hvp.c, src/analysis/lanczos.c): the exact
Hessian-vector product, the k extreme Hessian eigenpairs by thick-restart Lanczos, the trace
(Hutchinson) and the spectral density (stochastic Lanczos quadrature). None of them forms
the P x P Hessian, so they run at P = 10^5 and beyond.

Example::

    >>> import mlpflow as mf
    >>> hv = mf.hvp(net, x, v)                                  # exact H(x) v
    >>> evals, evecs = mf.hessian_spectrum(net, x, k=10, which="smallest")
    >>> t, t_err = mf.hessian_trace(net, x, nprobes=50)
    >>> grid, dens = mf.hessian_density(net, x)                 # broadened SLQ density
"""
import ctypes
from ctypes import POINTER, byref, c_double, c_int, c_size_t, c_uint64

import numpy as np

from . import _lib, core
from ._lib import DP, ERRP, OBJP, lib

__all__ = ["hvp", "hessian_spectrum", "hessian_trace", "hessian_density", "hessian_slq",
           "L2Net"]


class mlpf_eigs_options(ctypes.Structure):
    _fields_ = [("ncv", c_int), ("max_hvp", c_int), ("tol", c_double), ("seed", c_uint64),
                ("deflate", c_int)]


class mlpf_eigs_info(ctypes.Structure):
    _fields_ = [("nconv", c_int), ("nhvp", c_int), ("restarts", c_int), ("hnorm", c_double),
                ("ndeflated", c_int)]


_lib.bind("mlpf_objective_hvp", c_int, [OBJP, DP, DP, DP, ERRP])
_lib.bind("mlpf_check_dense", c_int, [ctypes.c_char_p, c_size_t, ERRP])
_lib.bind("mlpf_hessian_eigs", c_int, [OBJP, DP, c_int, c_int, POINTER(mlpf_eigs_options), DP,
                                       DP, DP, POINTER(mlpf_eigs_info), ERRP])
_lib.bind("mlpf_hessian_trace", c_int, [OBJP, DP, c_int, c_uint64, DP, DP, ERRP])
_lib.bind("mlpf_hessian_slq", c_int, [OBJP, DP, c_int, c_int, c_uint64, DP, DP, ERRP])
_lib.bind("mlpf_objective_l2", OBJP, [OBJP, c_double, ERRP])


class L2Net(core._Model):
    """``net``'s loss plus the L2 penalty ``lam/2 |x|^2`` (weight decay), with exact gradient,
    Hessian and Hessian-vector product. Softmax cross-entropy on separable data has no
    minimum at finite weights (the infimum 0 is at infinity); any ``lam > 0`` makes the sum
    coercive, so a true minimum exists. train / loss / gradient / hvp / hessian_spectrum /
    classify work on it (its gnorm is that of the penalised loss). ``net`` is kept alive.

    Example::

        >>> reg = mf.L2Net(net, 1e-3)
        >>> res = mf.train(reg, x0, alg="none", optim_solver="newtonkrylov")
        >>> mf.loss(reg, res["x"]) - mf.loss(net, res["x"])      # = 1e-3/2 |x|^2
    """

    def __init__(self, net, lam):
        if not isinstance(net, core._Model) or net._obj is None:
            raise ValueError("net: expected a network with an objective")
        self.base, self.lam = net, float(lam)
        self.layers = getattr(net, "layers", None)
        self.din, self.dout = getattr(net, "din", 0), getattr(net, "dout", 0)
        self.maxnorm, self.merge = float("inf"), []
        self.nparams = net.nparams
        self._net = getattr(net, "_net", None)   # borrowed: random_params, layer shapes
        err = core._err()
        self._obj = _lib.check_ptr(_lib.need("mlpf_objective_l2")(net._objective(False),
                                                                  self.lam, byref(err)), err)

    def describe(self):
        d = super().describe()
        d.update(base=self.base.describe(), lam=self.lam)
        return d

    def data(self):
        return {"base_" + k: v for k, v in self.base.data().items()}

    def __del__(self):
        try:
            if self._obj:
                lib.mlpf_objective_free(self._obj)
        except Exception:   # interpreter shutdown
            pass
        self._obj = self._net = None

    def __call__(self, x, X=None):
        return self.base(x, X)


def _check_layout():
    """The two structs must match the library (like _lib.MIRRORS, checked on first use)."""
    for cls in (mlpf_eigs_options, mlpf_eigs_info):
        name = cls.__name__.encode()
        ok = lib.mlpf_abi_sizeof(name) == ctypes.sizeof(cls) and all(
            lib.mlpf_abi_offsetof(name, f[0].encode()) == getattr(cls, f[0]).offset
            for f in cls._fields_)
        if not ok:
            raise _lib.Error("mlpflow.matfree: %s does not match %s; rebuild the library"
                             % (cls.__name__, _lib.lib_path), 6)


def _setup(net, x, regularized):
    if not isinstance(net, core._Model):
        raise ValueError("net: expected a mlpflow network, got %s" % type(net).__name__)
    return net._objective(regularized), core._as_params(net, x)


def hvp(net, x, v, regularized=False):
    """The exact Hessian-vector product H(x) v (P,), without forming H (about two gradients
    of work on finite data; the Gaussian objective uses its dense Hessian).

    Example::

        >>> np.allclose(mf.hvp(net, x, v), mf.hessian(net, x) @ v)
        True
    """
    obj, x = _setup(net, x, regularized)
    v = core._as_params(net, v, "v")
    out = np.empty(net.nparams)
    err = core._err()
    _lib.check(_lib.need("mlpf_objective_hvp")(obj, core._ptr(x), core._ptr(v), core._ptr(out),
                                               byref(err)), err)
    return out


def hessian_spectrum(net, x, regularized=False, vectors=True, k=None, which="smallest",
                     tol=1e-8, ncv=0, max_hvp=0, seed=0, info=None, deflate=0):
    """Hessian eigenvalues (ascending) and eigenvectors as columns.

    ``k=None``: the whole spectrum from the dense Hessian (an error naming this function's
    ``k=`` when P x P does not fit the memory budget). ``k=10``: the 10 ``which="smallest"``
    (or ``"largest"``) eigenpairs by thick-restart Lanczos on Hessian-vector products; each
    returned value is within its residual ``||H y - theta y|| <= tol * ||H||`` of an eigenvalue of H.
    Pass a dict as ``info`` to receive nconv, nhvp, restarts, hnorm, the residuals and the
    values (also when not all converged and an Error is raised: the best estimates, each
    still within its residual of an eigenvalue and, for "smallest", the i-th >= the i-th
    smallest eigenvalue). For "smallest", up to ``deflate`` top eigenvectors (0: 80, -1: none),
    once converged at a restart, are locked out of the later products, which cuts the
    products on network Hessians (large outliers above the bulk: 1558 -> 749 at the trained
    digits net, P = 85 002); the residuals include theirs (info["ndeflated"]: how many).

    Example::

        >>> evals, evecs = mf.hessian_spectrum(net, x, k=10, which="smallest")
        >>> evecs.shape == (net.nparams, 10)
        True
    """
    if k is None:
        err = core._err()
        _lib.check(_lib.need("mlpf_check_dense")(b"hessian_spectrum", net.nparams, byref(err)), err)
        return core.hessian_spectrum(net, x, regularized, vectors)
    if which not in ("smallest", "largest"):
        raise ValueError('which: expected "smallest" or "largest", got %r' % (which,))
    _check_layout()
    obj, x = _setup(net, x, regularized)
    k = int(k)
    if not 1 <= k <= net.nparams:
        raise ValueError("k: need 1 <= k <= P = %d, got %d" % (net.nparams, k))
    P = net.nparams
    ev, res = np.empty(k), np.empty(k)
    V = np.empty((k, P)) if vectors else None
    opt = mlpf_eigs_options(int(ncv), int(max_hvp), float(tol), int(seed), int(deflate))
    inf = mlpf_eigs_info()
    err = core._err()
    st = _lib.need("mlpf_hessian_eigs")(obj, core._ptr(x), k, 0 if which == "smallest" else 1,
                                        byref(opt), core._ptr(ev),
                                        core._ptr(V) if V is not None else None, core._ptr(res),
                                        byref(inf), byref(err))
    if info is not None:
        info.update(nconv=inf.nconv, nhvp=inf.nhvp, restarts=inf.restarts, hnorm=inf.hnorm,
                    ndeflated=inf.ndeflated,
                    residuals=res.copy(), values=ev.copy())
    _lib.check(st, err)
    return ev, (V.T.copy() if V is not None else None)


def hessian_trace(net, x, nprobes=100, seed=0, regularized=False):
    """Hutchinson's estimate of tr H with ``nprobes`` Rademacher probes: (trace, error bar),
    the error bar being the standard error of the mean over the probes.

    Example::

        >>> t, dt = mf.hessian_trace(net, x, nprobes=100)
    """
    obj, x = _setup(net, x, regularized)
    t, se = c_double(), c_double()
    err = core._err()
    _lib.check(_lib.need("mlpf_hessian_trace")(obj, core._ptr(x), int(nprobes), int(seed),
                                               byref(t), byref(se), byref(err)), err)
    return t.value, se.value


def hessian_slq(net, x, nprobes=10, steps=80, seed=0, regularized=False):
    """Stochastic Lanczos quadrature: nodes and weights, each (nprobes, steps); every probe's
    weights sum to 1 and the density is their average of point masses.

    Example::

        >>> nodes, w = mf.hessian_slq(net, x, nprobes=10, steps=80)
        >>> est_trace = net.nparams * (w * nodes).sum(axis=1).mean()
    """
    obj, x = _setup(net, x, regularized)
    nodes, weights = np.empty((int(nprobes), int(steps))), np.empty((int(nprobes), int(steps)))
    err = core._err()
    _lib.check(_lib.need("mlpf_hessian_slq")(obj, core._ptr(x), int(nprobes), int(steps),
                                             int(seed), core._ptr(nodes), core._ptr(weights),
                                             byref(err)), err)
    return nodes, weights


def hessian_density(net, x, nprobes=10, steps=80, seed=0, sigma=None, grid=None, npoints=1000,
                    regularized=False, return_error=False):
    """The Hessian's eigenvalue density by stochastic Lanczos quadrature, each node
    broadened by a Gaussian of width ``sigma`` (default 1% of the spectral range). Returns
    (grid, density) with density integrating to 1 over the grid; with
    ``return_error=True`` also the pointwise error bar (standard error over the probes).

    Example::

        >>> grid, dens = mf.hessian_density(net, x, nprobes=10, steps=80)
        >>> mlpflow.plot.hessian_density(grid, dens, "density.png")
    """
    nodes, weights = hessian_slq(net, x, nprobes, steps, seed, regularized)
    lo, hi = nodes[weights > 0].min(), nodes[weights > 0].max()
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    if sigma is None:
        sigma = 0.01 * span
    if grid is None:
        grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, int(npoints))
    grid = np.asarray(grid, dtype=np.float64)
    kern = np.exp(-0.5 * ((grid[None, None, :] - nodes[:, :, None]) / sigma) ** 2)
    per_probe = (weights[:, :, None] * kern).sum(axis=1) / (sigma * np.sqrt(2 * np.pi))
    dens = per_probe.mean(axis=0)
    if not return_error:
        return grid, dens
    n = per_probe.shape[0]
    err = per_probe.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(dens)
    return grid, dens, err


def plot_density(grid, density, path=None, error=None, title="Hessian eigenvalue density (SLQ)",
                 ax=None):
    """Draw the density (log scale, as PyHessian users read it) on ``ax`` (a new figure
    when omitted), with its error band when ``error`` is given; save a PNG only when
    ``path`` is given. Returns the Axes, like the helpers of :mod:`mlpflow.plot`.

    Example::

        >>> grid, dens, err = mf.hessian_density(net, x, return_error=True)
        >>> ax = mf.plot_density(grid, dens, "out/density.png", error=err)
    """
    from .plot import _axes, _finish
    ax, created = _axes(ax, (6, 3.5))
    floor = max(density.max() * 1e-8, 1e-300)
    ax.semilogy(grid, np.maximum(density, floor), lw=1)
    if error is not None:
        ax.fill_between(grid, np.maximum(density - error, floor), density + error, alpha=0.3)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.set_title(title)
    return _finish(ax, created, path)


__all__.append("plot_density")

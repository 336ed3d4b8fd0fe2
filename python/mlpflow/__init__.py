"""mlpflow: loss landscape and training dynamics of multilayer perceptrons.

A thin ctypes layer over libmlpflow (C): exact loss, gradient and Hessian; gradient
flow with adaptive ODE solvers, GD / Adam, Newton-type minimisers; teacher-student
objectives with infinite Gaussian data; landscape utilities. Arrays are numpy
float64; inputs are (N, Din) with samples as rows; parameters are a flat vector,
layer by layer, each a row-major (units, inputs + bias) matrix with the bias last.

Example::

    >>> import numpy as np, mlpflow
    >>> X = np.random.default_rng(1).standard_normal((200, 2))
    >>> teacher = mlpflow.TeacherNet(layers=[(3, "softplus", True), (1, "identity", False)],
    ...                              din=2, seed=3)
    >>> net = mlpflow.Net(layers=[(4, "softplus", True), (1, "identity", False)],
    ...                   input=X, target=teacher(X))
    >>> res = mlpflow.train(net, mlpflow.random_params(net, seed=1), maxT=1e3)
    >>> res["gnorm"] < 1e-8
    True
"""
import os as _os

# OpenMP threads that wait by spinning make a 2-thread run slower than one thread
# when another process keeps a core busy (bench/README.md, "Threads"); waiting
# passively costs nothing measurable on an idle machine. libgomp reads the policy
# once, when it is first loaded (here, unless numpy's BLAS loaded it before), so
# the package sets it unless the user did.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._lib import Error, InvalidArgumentError, lib_path, version as _lib_version
from .core import (Net, NetI, TeacherNet, activation_names, gauss_hermite_net, gradient, hessian,
                   hessian_spectrum, loss, params, params_dict, predict, random_params)
from .core import load_run, rebuild
from .result import Result, load
from .torch_interop import from_torch, to_torch
from .training import RESULT_KEYS, default_options, train, train_many
from .landscape import (LinearSubspace, SubspaceNet, cosine_similarity, grow_net, shrink_net,
                        split_neuron, subspace_minloss, subspace_minloss_grid,
                        trajectory_distance)

__version__ = _lib_version   # the loaded library's: one version source (mlpflow.h)

__all__ = ["Error", "InvalidArgumentError", "lib_path", "Net", "NetI", "TeacherNet",
           "activation_names", "gauss_hermite_net", "gradient", "hessian", "hessian_spectrum",
           "loss", "params", "params_dict", "predict", "random_params", "RESULT_KEYS",
           "default_options", "train", "train_many", "LinearSubspace", "SubspaceNet",
           "cosine_similarity", "grow_net", "shrink_net", "split_neuron", "subspace_minloss",
           "subspace_minloss_grid", "trajectory_distance", "load_run", "__version__",
           "Result", "load", "rebuild", "from_torch", "to_torch"]
from . import plot  # noqa: E402  (matplotlib is imported only when a plot is made)
# Landscape analysis: what a point is, channels to infinity (src/analysis/).
from .classify import (GLUNet, activation, channel_limit, channels, classify,  # noqa: E402
                       find_critical_point, hidden)
__all__ += ["GLUNet", "activation", "channel_limit", "channels", "classify", "find_critical_point",
            "hidden"]

# Analysis: symmetries and constructions (python/mlpflow/symmetry.py)
from .symmetry import (AffineSubspace, canonicalize, copy_average, count_G, count_T,  # noqa: E402
                       expand_and_cluster, match_teacher, permutation_point, symmetry_distance,
                       symmetry_induced, symmetry_induced_count)
__all__ += ["AffineSubspace", "canonicalize", "copy_average", "count_G", "count_T",
            "expand_and_cluster", "match_teacher", "permutation_point", "symmetry_distance",
            "symmetry_induced", "symmetry_induced_count"]

# Matrix-free second-order tools (python/mlpflow/matfree.py); hessian_spectrum gains k=.
from .matfree import (hessian_density, hessian_slq, hessian_spectrum, hessian_trace,  # noqa: E402
                      hvp, plot_density)
__all__ += ["hessian_density", "hessian_slq", "hessian_trace", "hvp", "plot_density"]
from .matfree import L2Net  # noqa: E402  (L2 / weight-decay wrapper)
__all__ += ["L2Net"]

# sweeps: many runs in one SQLite database (pandas is imported only when reading)
from .sweep import load_run, load_sweep, outcomes, plot_outcomes, sweep  # noqa: E402
__all__ += ["sweep", "load_sweep", "outcomes", "plot_outcomes"]   # load_run: runs and sweeps

"""torch interop: ``from_torch(module) -> (layers, x)`` and ``to_torch(net, x) -> nn.Sequential``.

mlpflow's parameter layout is torch's: layer l is a (units, inputs + bias) matrix,
torch's ``weight`` with ``bias`` as an extra last column, flattened row-major.
torch is optional: it is imported only when one of these functions is called.
"""
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["from_torch", "to_torch"]

# torch module class name -> mlpflow activation (Softplus only with beta 1)
_FROM = {"Identity": "identity", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus",
         "ReLU": "relu", "GELU": "gelu", "SiLU": "silu", "SELU": "selu"}


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("mlpflow.from_torch / to_torch need PyTorch (Debian: python3-torch, "
                          "or pip install torch)") from None
    return torch


def _activation(mod, where):
    name = type(mod).__name__
    if name not in _FROM:
        raise ValueError("%s: %s is not supported (supported: Linear and %s)"
                         % (where, name, ", ".join(sorted(_FROM))))
    if name == "Softplus" and mod.beta != 1:
        raise ValueError("%s: Softplus(beta=%g) is not supported (beta must be 1)"
                         % (where, mod.beta))
    if name == "GELU" and getattr(mod, "approximate", "none") != "none":
        raise ValueError("%s: GELU(approximate=%r) is not supported (the exact GELU only)"
                         % (where, mod.approximate))
    return _FROM[name]


def _linear_block(W, b):
    """(units, inputs + bias) float64 matrix of one Linear layer, flattened."""
    W = W.detach().cpu().to(dtype=_torch().float64).numpy()
    if b is None:
        return W.reshape(-1)
    b = b.detach().cpu().to(dtype=_torch().float64).numpy()
    return np.hstack([W, b[:, None]]).reshape(-1)


def from_torch(module: Any, activations: Optional[Sequence[str]] = None
               ) -> Tuple[List[Tuple[int, str, bool]], np.ndarray]:
    """(layers, x) of an ``nn.Sequential`` of ``Linear`` layers, each optionally
    followed by one activation module (Identity, Tanh, Sigmoid, Softplus (beta 1),
    ReLU, GELU, SiLU, SELU); a Linear without one is linear ("identity"). The
    input dimension is the first Linear's ``in_features``. A ``state_dict``
    ({"0.weight", "0.bias", "2.weight", ...}) has no activations: give them as
    ``activations`` (one name per Linear layer, in order).

    torch's Softplus switches to the identity above ``threshold`` (20 by default),
    where it differs from log(1 + e^u) by at most 2e-9; mlpflow's is exact.

    Example::

        >>> model = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(),
        ...                             torch.nn.Linear(5, 1))
        >>> layers, x = mlpflow.from_torch(model)
        >>> layers
        [(5, 'tanh', True), (1, 'identity', True)]
        >>> teacher = mlpflow.TeacherNet(layers, din=2, params=x)
    """
    torch = _torch()
    if isinstance(module, dict):
        return _from_state_dict(module, activations)
    if not isinstance(module, torch.nn.Sequential):
        raise ValueError("module: expected a torch.nn.Sequential or a state_dict, got %s"
                         % type(module).__name__)
    mods = list(module)
    layers, blocks, k = [], [], 0
    while k < len(mods):
        lin = mods[k]
        where = "module[%d]" % k
        if not isinstance(lin, torch.nn.Linear):
            raise ValueError("%s: expected a Linear layer here, got %s (each Linear may be "
                             "followed by one activation)" % (where, type(lin).__name__))
        if layers and layers[-1][3] != lin.in_features:
            raise ValueError("%s: in_features %d but the previous layer has %d units"
                             % (where, lin.in_features, layers[-1][3]))
        act = "identity"
        if k + 1 < len(mods) and not isinstance(mods[k + 1], torch.nn.Linear):
            act = _activation(mods[k + 1], "module[%d]" % (k + 1))
            k += 1
        layers.append((lin.out_features, act, lin.bias is not None, lin.out_features))
        blocks.append(_linear_block(lin.weight, lin.bias))
        k += 1
    if not layers:
        raise ValueError("module: no Linear layer")
    return [L[:3] for L in layers], np.concatenate(blocks)


def _from_state_dict(sd, activations):
    names = sorted({k.rsplit(".", 1)[0] for k in sd if k.endswith(".weight")},
                   key=lambda s: [int(p) if p.isdigit() else p for p in s.split(".")])
    if not names:
        raise ValueError("state_dict: no '<name>.weight' entries")
    if activations is None or len(activations) != len(names):
        raise ValueError("activations: a state_dict has no activations; give one name per "
                         "Linear layer (%d: %s)" % (len(names), ", ".join(names)))
    layers, blocks = [], []
    for name, act in zip(names, activations):
        W, b = sd[name + ".weight"], sd.get(name + ".bias")
        layers.append((int(W.shape[0]), act, b is not None))
        blocks.append(_linear_block(W, b))
    return layers, np.concatenate(blocks)


def _module(torch, act, where):
    nn = torch.nn
    table = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU, "gelu": nn.GELU,
             "silu": nn.SiLU, "selu": nn.SELU,
             # above u = 40, e^-u < 2^-53 u: log(1 + e^u) rounds to u, so the
             # switch to the identity is exact in float64
             "softplus": lambda: nn.Softplus(beta=1, threshold=40)}
    if not isinstance(act, str) or act not in table:
        raise ValueError("%s: activation %r has no torch module (supported: identity, %s)"
                         % (where, act, ", ".join(sorted(table))))
    return table[act]()


def to_torch(net: Any, x: Any) -> Any:
    """An ``nn.Sequential`` (float64) computing the same function as ``net`` at
    parameters ``x``: Linear layers (bias as in the net) followed by the activation
    modules; identity layers get none.

    Example::

        >>> model = mlpflow.to_torch(net, x)
        >>> Y = model(torch.from_numpy(X)).detach().numpy()
        >>> np.abs(Y - mlpflow.predict(net, x, X)).max() < 1e-14
        True
    """
    torch = _torch()
    from .core import _as_params, params_dict
    x = _as_params(net, x)
    ws = params_dict(net, x)
    mods, nin = [], net.din
    for l, (units, act, bias) in enumerate(net.layers):
        M = ws["w%d" % (l + 1)]
        lin = torch.nn.Linear(nin, units, bias=bool(bias), dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(M[:, :nin])))
            if bias:
                lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(M[:, nin])))
        mods.append(lin)
        if act != "identity":
            mods.append(_module(torch, act, "layers[%d]" % l))
        nin = units
    return torch.nn.Sequential(*mods)


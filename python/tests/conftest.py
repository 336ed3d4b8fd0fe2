"""Shared fixtures and an independent numpy implementation of MLP loss / gradient."""
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

import mlpflow  # noqa: E402

_erf = np.vectorize(math.erf)


def _sig(u):
    return 1.0 / (1.0 + np.exp(-u))


# name -> (f, f') written independently of the library
ACTS = {
    "identity": (lambda u: u, lambda u: np.ones_like(u)),
    "sigmoid": (_sig, lambda u: _sig(u) * (1 - _sig(u))),
    "tanh": (np.tanh, lambda u: 1 - np.tanh(u) ** 2),
    "softplus": (lambda u: np.logaddexp(0, u), _sig),
    "sigmoid2": (lambda u: _erf(u / math.sqrt(2)),
                 lambda u: math.sqrt(2 / math.pi) * np.exp(-u * u / 2)),
    "normal_cdf": (lambda u: 0.5 * (1 + _erf(u / math.sqrt(2))),
                   lambda u: np.exp(-u * u / 2) / math.sqrt(2 * math.pi)),
    "gelu": (lambda u: u * 0.5 * (1 + _erf(u / math.sqrt(2))),
             lambda u: 0.5 * (1 + _erf(u / math.sqrt(2))) + u * np.exp(-u * u / 2) / math.sqrt(2 * math.pi)),
    "silu": (lambda u: u * _sig(u), lambda u: _sig(u) + u * _sig(u) * (1 - _sig(u))),
    "square": (lambda u: u * u / 2, lambda u: u),
    "cube": (lambda u: u ** 3, lambda u: 3 * u * u),
    "exp": (np.exp, np.exp),
    "g": (lambda u: _sig(4 * u) + np.logaddexp(0, u),
          lambda u: 4 * _sig(4 * u) * (1 - _sig(4 * u)) + _sig(u)),
}


def np_layers(layers, x, din):
    """Split flat x into (W (units, inputs), b or None, activations per unit)."""
    out, off, nin = [], 0, din
    for units, act, bias in layers:
        cols = nin + (1 if bias else 0)
        M = x[off:off + units * cols].reshape(units, cols)
        off += units * cols
        acts = [act] * units if isinstance(act, str) else list(act)
        out.append((M[:, :nin], M[:, nin] if bias else np.zeros(units), acts))
        nin = units
    assert off == x.size
    return out


def np_forward(layers, x, X):
    hs, us = [X], []
    for W, b, acts in np_layers(layers, x, X.shape[1]):
        u = hs[-1] @ W.T + b
        h = np.column_stack([ACTS[a][0](u[:, k]) for k, a in enumerate(acts)])
        us.append(u)
        hs.append(h)
    return hs, us


def np_loss_grad(layers, x, X, Y, w=None):
    """MSE (1/N) sum_n w_n |y_n - t_n|^2 and its gradient by backpropagation."""
    N = X.shape[0]
    w = np.ones(N) if w is None else w
    hs, us = np_forward(layers, x, X)
    r = hs[-1] - Y
    L = np.sum(w[:, None] * r * r) / N
    delta = 2 * w[:, None] * r / N
    grads = []
    lay = np_layers(layers, x, X.shape[1])
    for l in range(len(lay) - 1, -1, -1):
        W, b, acts = lay[l]
        dfu = np.column_stack([ACTS[a][1](us[l][:, k]) for k, a in enumerate(acts)])
        d = delta * dfu
        gW = d.T @ hs[l]
        if layers[l][2]:
            gW = np.column_stack([gW, d.sum(0)])
        grads.append(gW.reshape(-1))
        delta = d @ W
    return L, np.concatenate(grads[::-1])


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def small_net(rng):
    X = rng.standard_normal((40, 2))
    Y = np.sin(X[:, :1]) + 0.3 * X[:, 1:]
    layers = [(3, "softplus", True), (1, "identity", False)]
    return mlpflow.Net(layers=layers, input=X, target=Y)


def cli_path():
    """The mlpflow CLI binary next to the library under test, or in build/."""
    env = os.environ.get("MLPFLOW_CLI")
    cands = [env] if env else []
    cands += [str(Path(mlpflow.lib_path).resolve().parent / "mlpflow"), str(REPO / "build" / "mlpflow")]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None

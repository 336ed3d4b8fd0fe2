"""PyTorch side of the kernel benchmark: seconds per gradient and per Hessian of
the reference network (Din inputs, k softplus units with biases, one linear
output with bias, MSE), float64, one thread. Prints one JSON line.

Two forms, because they differ by up to 10x at small N and the peer is the
fastest form an ordinary user would write:
  leaf: separate leaf tensors W1, b1, W2, b2 and loss.backward() (the usual
        nn.Module way); Hessian: autograd.functional.hessian of the tuple;
  flat: one flat parameter vector sliced into views, torch.autograd.grad;
        Hessian: autograd.functional.hessian of the flat vector.
gradient_seconds / hessian_seconds are the faster form's."""
import argparse
import json
import statistics
import time

import torch


def timed(fn, repeats, min_seconds=0.01):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            el = time.perf_counter() - t0
            if el >= min_seconds:
                break
        times.append(el / calls)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--din", type=int, default=2)
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--hessian", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(a.samples, a.din, generator=g, dtype=torch.float64)
    Y = torch.randn(a.samples, 1, generator=g, dtype=torch.float64)
    k, d = a.units, a.din
    P = k * (d + 1) + k + 1
    x = torch.randn(P, generator=g, dtype=torch.float64) * 0.5

    def loss_fn(p):
        W1 = p[: k * (d + 1)].view(k, d + 1)
        W2 = p[k * (d + 1):].view(1, k + 1)
        h = torch.nn.functional.softplus(X @ W1[:, :d].T + W1[:, d])
        y = h @ W2[:, :k].T + W2[:, k]
        return ((y - Y) ** 2).mean()

    def grad_flat():
        p = x.detach().requires_grad_(True)
        loss = loss_fn(p)
        return torch.autograd.grad(loss, p)[0]

    V1, V2 = x[: k * (d + 1)].view(k, d + 1), x[k * (d + 1):].view(1, k + 1)
    W1 = V1[:, :d].clone().requires_grad_(True)      # the same parameters as own leaves
    b1 = V1[:, d].clone().requires_grad_(True)
    W2 = V2[:, :k].clone().requires_grad_(True)
    b2 = V2[:, k].clone().requires_grad_(True)
    leaves = (W1, b1, W2, b2)

    def loss_leaf(w1, c1, w2, c2):
        h = torch.nn.functional.softplus(X @ w1.T + c1)
        return ((h @ w2.T + c2 - Y) ** 2).mean()

    def grad_leaf():
        for t in leaves:
            t.grad = None
        loss_leaf(*leaves).backward()
        return W1.grad

    with torch.no_grad():   # both forms compute the same loss
        assert abs(float(loss_fn(x)) - float(loss_leaf(*leaves))) <= 1e-12 * float(loss_fn(x))
    out = {"units": k, "samples": a.samples, "nparams": P,
           "gradient_flat_seconds": timed(grad_flat, a.repeats),
           "gradient_leaf_seconds": timed(grad_leaf, a.repeats)}
    out["gradient_seconds"] = min(out["gradient_flat_seconds"], out["gradient_leaf_seconds"])
    out["gradient_form"] = ("flat" if out["gradient_flat_seconds"] < out["gradient_leaf_seconds"]
                            else "leaf")
    if a.hessian:
        reps = max(1, a.repeats)
        out["hessian_flat_seconds"] = timed(lambda: torch.autograd.functional.hessian(loss_fn, x),
                                            reps, min_seconds=0.0)
        plain = tuple(t.detach() for t in leaves)
        out["hessian_leaf_seconds"] = timed(
            lambda: torch.autograd.functional.hessian(loss_leaf, plain), reps, min_seconds=0.0)
        out["hessian_seconds"] = min(out["hessian_flat_seconds"], out["hessian_leaf_seconds"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()

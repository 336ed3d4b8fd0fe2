"""PyTorch side of the kernel benchmark: seconds per gradient and per Hessian of
the reference network (Din inputs, k softplus units with biases, one linear
output with bias, MSE), float64, one thread. Prints one JSON line."""
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

    def grad():
        p = x.detach().requires_grad_(True)
        loss = loss_fn(p)
        return torch.autograd.grad(loss, p)[0]

    out = {"units": k, "samples": a.samples, "nparams": P,
           "gradient_seconds": timed(grad, a.repeats)}
    if a.hessian:
        out["hessian_seconds"] = timed(lambda: torch.autograd.functional.hessian(loss_fn, x),
                                       max(1, a.repeats), min_seconds=0.0)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

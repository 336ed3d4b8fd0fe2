"""Matrix-free benchmarks, one thread, mlpflow and torch side by side in one run:

  1. HVP time / gradient time for mlpflow (goal <= 3) and for torch's double-backward,
     and mlpflow's HVP against torch's, on the digits network (64 -> 256 tanh -> 256
     tanh -> 10, P = 85002, 1797 images, MSE to one-hot targets);
  2. the 10 smallest Hessian eigenvalues at P ~ 8.5e4 (goal <= 60 s) at a trained point;
  3. Newton-Krylov vs L-BFGS: time to gnorm 1e-8 on that network (--quick: smaller);
  4. implicit flow with the Krylov linear solver (kencarp58 + SPGMR on HVPs) vs dopri5
     on a stiff flow (a narrow deep net on many samples), time to flow time T.

Usage: OMP_NUM_THREADS=1 /usr/bin/python3 bench/hvp_bench.py [--quick] [--skip 2,3,4]
The digits come from Debian's python3-sklearn (scripts/export_digits.py); without it
random 8 x 8 "images" of the same shape stand in (said in the output)."""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "scripts"))

import numpy as np  # noqa: E402

import mlpflow as mf  # noqa: E402


def best_of(fn, repeats=5):
    fn()
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def digits(n):
    try:
        import export_digits
        X, y = (np.load(p) for p in export_digits.export(tempfile.mkdtemp(prefix="mlpf_bench_")))
        src = "sklearn digits"
    except ImportError:
        r = np.random.default_rng(0)
        X, y = r.uniform(0, 1, (1797, 64)), r.integers(0, 10, 1797).astype(float)
        src = "random stand-in (python3-sklearn missing)"
    return X[:n], np.eye(10)[y[:n].astype(int)], src


def torch_times(layers, X, T, x, v):
    import torch
    torch.set_num_threads(1)
    Xt, Tt = torch.tensor(X), torch.tensor(T)

    def loss_fn(p):
        a, off = Xt, 0
        for units, act in layers:
            cols = a.shape[1] + 1
            W = p[off:off + units * cols].reshape(units, cols)
            off += units * cols
            a = a @ W[:, :-1].T + W[:, -1]
            if act == "tanh":
                a = torch.tanh(a)
        return ((a - Tt) ** 2).sum(dim=1).mean()

    p = torch.tensor(x, requires_grad=True)
    vt = torch.tensor(v)

    def grad():
        (g,) = torch.autograd.grad(loss_fn(p), p)
        return g

    def hvp():
        (g,) = torch.autograd.grad(loss_fn(p), p, create_graph=True)
        (h,) = torch.autograd.grad(g @ vt, p)
        return h

    return best_of(grad), best_of(hvp), hvp().numpy()


def bench_hvp(net, layers, X, T, x):
    v = np.random.default_rng(1).standard_normal(net.nparams)
    tg = best_of(lambda: mf.gradient(net, x))
    th = best_of(lambda: mf.hvp(net, x, v))
    print("1. P = %d, N = %d: mlpflow gradient %.4f s, HVP %.4f s, ratio %.2f (goal <= 3)"
          % (net.nparams, X.shape[0], tg, th, th / tg))
    try:
        tgt, tht, hv_t = torch_times(layers, X, T, x, v)
    except ImportError:
        print("   torch not installed: no comparison")
        return
    err = np.abs(mf.hvp(net, x, v) - hv_t).max() / np.abs(hv_t).max()
    print("   torch gradient %.4f s, double-backward HVP %.4f s, ratio %.2f; "
          "mlpflow HVP / torch HVP = %.2f; max relative difference %.1e"
          % (tgt, tht, tht / tgt, th / tht, err))


def bench_eigs(net, x):
    info = {}
    t0 = time.perf_counter()
    ev, _ = mf.hessian_spectrum(net, x, k=10, which="smallest", vectors=False, info=info,
                                max_hvp=200000)
    dt = time.perf_counter() - t0
    print("2. 10 smallest eigenvalues at P = %d: %.1f s (goal <= 60 s), %d HVPs, %d restarts, "
          "max residual %.1e (|H| ~ %.3g)" % (net.nparams, dt, info["nhvp"], info["restarts"],
                                              info["residuals"].max(), info["hnorm"]))
    print("   ", np.array2string(ev, precision=4))


def bench_minimisers(net, x0, budget):
    for solver in ("newtonkrylov", "lbfgs"):
        t0 = time.perf_counter()
        r = mf.train(net, x0, alg="none", optim_solver=solver, min_gnorm=1e-8,
                     maxtime_optim=budget)
        print("3. %-12s gnorm %.1e loss %.6e (%s) in %.1f s"
              % (solver, r["gnorm"], r["loss"], r["optim_stopped_by"], time.perf_counter() - t0))


def bench_flow(quick):
    r = np.random.default_rng(2)
    N, width = (2000, 40) if quick else (20000, 60)
    X = r.standard_normal((N, 4))
    teacher = mf.TeacherNet([(width, "tanh", True), (width, "tanh", True), (1, "identity", True)],
                            din=4, seed=3)
    net = mf.Net([(width, "tanh", True), (width, "tanh", True), (1, "identity", True)], X,
                 teacher(X))
    x0 = mf.random_params(net, seed=4)
    T = 100.0 if quick else 1000.0
    for alg in ("kencarp58", "dopri5"):
        t0 = time.perf_counter()
        res = mf.train(net, x0, alg=alg, optim_solver="none", maxT=T, maxtime_ode=600)
        print("4. flow to T = %g, P = %d (%s): %-9s loss %.6e, %d steps, %.1f s"
              % (T, net.nparams, "Krylov" if alg == "kencarp58" else "explicit", alg,
                 res["loss"], res["ode_iterations"], time.perf_counter() - t0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated benchmark numbers to skip")
    a = ap.parse_args()
    skip = {s for s in a.skip.split(",") if s}
    print("OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s" % (os.environ.get("OPENBLAS_CORETYPE"),
                                                       os.environ.get("OPENBLAS_L2_SIZE")))
    width, n = (32, 400) if a.quick else (256, 1797)
    X, T, src = digits(n)
    layers = [(width, "tanh"), (width, "tanh"), (10, "identity")]
    net = mf.Net([(u, act, True) for u, act in layers], X, T)
    print("digits: %s, %d images, P = %d" % (src, n, net.nparams))
    x0 = mf.random_params(net, seed=1)
    if "1" not in skip:
        bench_hvp(net, layers, X, T, x0)
    if "2" not in skip:
        r = mf.train(net, x0, alg="none", optim_solver="lbfgs", min_gnorm=1e-6,
                     maxtime_optim=20 if a.quick else 300)
        bench_eigs(net, r["x"])
    if "3" not in skip:
        bench_minimisers(net, x0, 30 if a.quick else 1800)
    if "4" not in skip:
        bench_flow(a.quick)


if __name__ == "__main__":
    main()

"""Matrix-free benchmarks, one thread, mlpflow and torch side by side in one run:

  1. HVP time / gradient time for mlpflow (goal <= 3) and for torch's double-backward,
     and mlpflow's HVP against torch's, on the digits network (64 -> 256 tanh -> 256
     tanh -> 10 softmax, P = 85002, 1797 images, cross-entropy + 1e-2/2 |x|^2 as in
     example 15);
  2. the 10 smallest Hessian eigenvalues at P ~ 8.5e4 (goal <= 60 s) at the trained
     minimum (--x: the point example 15 saved, else trained here by Newton-Krylov);
  3. Newton-Krylov vs L-BFGS: time to gnorm 1e-8 on a digits net (--minwidth, default
     64: P = 8970; the full net takes tens of minutes per solver);
  4. implicit flow with the Krylov linear solver (kencarp58 + SPGMR on HVPs) vs dopri5
     on a stiff flow (a deep tanh teacher-student net, P >= 1e4), to flow time T or
     the time cap, whichever first;
  5. top-1 / top-10 eigenvalues by Lanczos against power iteration (top-1) and block
     power iteration with Rayleigh-Ritz (top-10) on the same HVP, same tolerance.

Times are CPU seconds (time.process_time) of this one-thread process: the machine is
shared, and wall time measures the other users' load.
Usage: OMP_NUM_THREADS=1 /usr/bin/python3 bench/hvp_bench.py [--quick] [--skip 2,3,4]
       [--x ex15_digits_x.npy]
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


LAM = 1e-2


def best_of(fn, repeats=5):
    fn()
    t = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        t.append(time.process_time() - t0)
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
    return X[:n], y[:n], src


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
        ce = torch.nn.functional.cross_entropy(a, Tt.long())
        return ce + 0.5 * LAM * (p * p).sum()

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
    for tol in (1e-6, 1e-8):
        info = {}
        t0 = time.process_time()
        try:
            ev, _ = mf.hessian_spectrum(net, x, k=10, which="smallest", vectors=False, tol=tol,
                                        info=info, max_hvp=3000)
            ok = "converged"
        except mf.Error:
            ok = "NOT converged in 3000 HVPs"
        dt = time.process_time() - t0
        print("2. 10 smallest eigenvalues at P = %d, tol %g: %.1f s CPU (goal <= 60 s), %s, "
              "%d HVPs, %d restarts, %d top eigenvectors locked out, max residual / |H| %.1e "
              "(|H| ~ %.4g)" % (net.nparams, tol, dt, ok, info["nhvp"], info["restarts"],
                                info["ndeflated"], info["residuals"].max() / info["hnorm"],
                                info["hnorm"]))
        print("   ", np.array2string(info.get("values", ev), precision=6))


def bench_minimisers(net, x0, budget):
    for solver in ("newtonkrylov", "lbfgs"):
        t0 = time.process_time()
        r = mf.train(net, x0, alg="none", optim_solver=solver, min_gnorm=1e-8,
                     maxtime_optim=budget)
        print("3. P = %d %-12s gnorm %.1e loss %.8e (%s, %d iterations) in %.1f s CPU"
              % (net.nparams, solver, r["gnorm"], r["loss"], r["optim_stopped_by"],
                 r["optim_iterations"], time.process_time() - t0))


def bench_flow(quick):
    r = np.random.default_rng(2)
    N, width = (1000, 40) if quick else (4000, 100)
    X = r.standard_normal((N, 4))
    teacher = mf.TeacherNet([(width, "tanh", True), (width, "tanh", True), (1, "identity", True)],
                            din=4, seed=3)
    net = mf.Net([(width, "tanh", True), (width, "tanh", True), (1, "identity", True)], X,
                 teacher(X))
    x0 = mf.random_params(net, seed=4)
    T, cap = (100.0, 60) if quick else (1e4, 400)
    for alg in ("kencarp58", "bdf", "dopri5"):
        t0 = time.process_time()
        res = mf.train(net, x0, alg=alg, optim_solver="none", maxT=T, maxtime_ode=cap)
        tt = res["trajectory"]["t"]
        treach = tt[-1] if len(tt) else float("nan")
        print("4. flow to T = %g (cap %d s), P = %d (%s): %-9s reached t = %.4g, loss %.6e, "
              "%d steps, %s, %.1f s CPU"
              % (T, cap, net.nparams, "explicit" if alg == "dopri5" else "Krylov", alg, treach,
                 res["loss"], res["ode_iterations"], res["ode_stopped_by"],
                 time.process_time() - t0))


def power_top1(net, x, tol, maxit=20000):
    v = np.random.default_rng(3).standard_normal(net.nparams)
    v /= np.linalg.norm(v)
    for it in range(1, maxit + 1):
        hv = mf.hvp(net, x, v)
        theta = v @ hv
        if np.linalg.norm(hv - theta * v) <= tol * abs(theta):
            return theta, it
        v = hv / np.linalg.norm(hv)
    return theta, maxit


def block_power_top(net, x, k, tol, maxit=2000):
    """Subspace iteration with Rayleigh-Ritz: V <- orth(H V); stop when all k residuals
    are <= tol |theta_max|. Returns the values and the number of HVPs."""
    V = np.linalg.qr(np.random.default_rng(4).standard_normal((net.nparams, k)))[0]
    nhvp = 0
    for _ in range(maxit):
        HV = np.column_stack([mf.hvp(net, x, V[:, i]) for i in range(k)])
        nhvp += k
        th, Z = np.linalg.eigh(V.T @ HV)
        V, HV = V @ Z, HV @ Z
        res = np.linalg.norm(HV - V * th, axis=0)
        if res.max() <= tol * np.abs(th).max():
            return th, nhvp
        V = np.linalg.qr(HV)[0]
    return th, nhvp


def bench_top(net, x, tol=1e-6):
    for k in (1, 10):
        info = {}
        t0 = time.process_time()
        ev, _ = mf.hessian_spectrum(net, x, k=k, which="largest", vectors=False, tol=tol,
                                    info=info)
        tl = time.process_time() - t0
        t0 = time.process_time()
        if k == 1:
            pv, npow = power_top1(net, x, tol)
            pv = np.array([pv])
        else:
            pv, npow = block_power_top(net, x, k, tol)
        tp = time.process_time() - t0
        print("5. top-%d, tol %g: Lanczos %d HVPs %.1f s CPU; %s power iteration %d HVPs "
              "%.1f s CPU; largest %.10g vs %.10g"
              % (k, tol, info["nhvp"], tl, "plain" if k == 1 else "block", npow, tp, ev[-1],
                 pv[-1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated benchmark numbers to skip")
    ap.add_argument("--x", help="the trained point of the full digits net (example 15 saves it)")
    ap.add_argument("--minwidth", type=int, default=64, help="hidden width for benchmark 3")
    a = ap.parse_args()
    skip = {s for s in a.skip.split(",") if s}
    print("OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s" % (os.environ.get("OPENBLAS_CORETYPE"),
                                                       os.environ.get("OPENBLAS_L2_SIZE")))
    width, n = (32, 400) if a.quick else (256, 1797)
    X, y, src = digits(n)
    layers = [(width, "tanh"), (width, "tanh"), (10, "softmax")]

    def make(w):
        base = mf.Net([(w, "tanh", True), (w, "tanh", True), (10, "softmax", True)], X, y,
                      loss="crossentropy", threads=1)
        return base, mf.L2Net(base, LAM)

    base, net = make(width)
    print("digits: %s, %d images, P = %d, cross-entropy + %g/2 |x|^2" % (src, n, net.nparams, LAM))
    x0 = mf.random_params(net, seed=1)
    if "1" not in skip:
        bench_hvp(net, layers, X, y, x0)
    if skip.isdisjoint({"2", "5"}) or not {"2", "5"} <= skip:
        if a.x:
            xm = np.load(a.x)
        else:
            xm = mf.train(net, x0, alg="none", optim_solver="newtonkrylov", min_gnorm=1e-8,
                          maxtime_optim=20 if a.quick else 1800)["x"]
        print("   at the trained point: gnorm %.1e" % np.abs(mf.gradient(net, xm)).max())
        if "2" not in skip:
            bench_eigs(net, xm)
        if "5" not in skip:
            bench_top(net, xm)
    if "3" not in skip:
        _, small = make(16 if a.quick else a.minwidth)
        bench_minimisers(small, mf.random_params(small, seed=1), 30 if a.quick else 900)
    if "4" not in skip:
        bench_flow(a.quick)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The 10 smallest Hessian eigenvalues of trained digits nets: mlpflow's thick-restart Lanczos
with the top of the spectrum deflated (mlpf_eigs_options.deflate) against none, products and
CPU seconds to the same tolerance (every pair |H y - theta y| <= 1e-6 |H|), one thread.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/eigs_smallest.py DIR [--full X.npy] [--deflate -1,20]

DIR receives the digits (scripts/export_digits.py) and the P = 2410 point x_24_500.npy (64 -> 24
tanh -> 24 tanh -> 10 softmax on the first 500 images, cross-entropy + 1e-3/2 |x|^2, trained by
Newton-Krylov to gnorm 1e-10; reused when present); there dense eigh is the reference (each
returned value's distance to the nearest eigenvalue). --full: the same on example 15's trained
net (P = 85 002, 1797 images, 1e-2/2 |x|^2) at the point X, where no dense reference exists and
the true residuals are recomputed. bench/arpack_eigs.c is the ARPACK peer (bench/run.sh arpack).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import mlpflow as mf  # noqa: E402


def digits_net(d, width, n, lam):
    X, y = np.load(os.path.join(d, "digits_X.npy")), np.load(os.path.join(d, "digits_y.npy"))
    base = mf.Net([(width, "tanh", True), (width, "tanh", True), (10, "softmax", True)], X[:n], y[:n],
                  loss="crossentropy", threads=1)
    return base, mf.L2Net(base, lam)


def small_point(d, net):
    path = os.path.join(d, "x_24_500.npy")
    if not os.path.exists(path):
        res = mf.train(net, mf.random_params(net, seed=1), alg="none", optim_solver="newtonkrylov",
                       min_gnorm=1e-10, maxiterations_optim=2000, maxtime_optim=600)
        print("P = 2410 point: gnorm %.1e (%s)" % (res["gnorm"], res["optim_stopped_by"]))
        np.save(path, res["x"])
    return np.load(path)


def run(net, x, deflate, ncv, dense=None):
    info = {}
    t = time.process_time()
    try:
        e, V = mf.hessian_spectrum(net, x, k=10, which="smallest", tol=1e-6, ncv=ncv, deflate=deflate,
                                   info=info, max_hvp=4000)
        conv = True
    except mf.Error:
        e, V, conv = info["values"], None, False
    cpu = time.process_time() - t
    line = "deflate %3d ncv %3d: %s %5d HVPs %7.1f s CPU, max residual bound %.2e |H|" % (
        deflate, ncv, "converged" if conv else "NOT converged", info["nhvp"], cpu,
        info["residuals"].max() / info["hnorm"])
    if V is not None:
        true = max(np.linalg.norm(mf.hvp(net, x, V[:, i]) - e[i] * V[:, i]) for i in range(10))
        line += ", true %.2e |H|" % (true / info["hnorm"])
    if dense is not None:
        line += ", max |theta - nearest eigenvalue| %.1e" % max(np.abs(dense - v).min() for v in e)
    print(line + "\n    values " + np.array2string(np.asarray(e), precision=6, max_line_width=200), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--full", help="example 15's trained point (P = 85 002)")
    ap.add_argument("--deflate", default="-1,10,20,40,80")
    ap.add_argument("--ncv", default="160")
    a = ap.parse_args()
    import export_digits
    if not os.path.exists(os.path.join(a.dir, "digits_X.npy")):
        export_digits.export(a.dir)
    deflates = [int(s) for s in a.deflate.split(",")]
    ncvs = [int(s) for s in a.ncv.split(",")]
    _, net = digits_net(a.dir, 24, 500, 1e-3)
    x = small_point(a.dir, net)
    ev = np.linalg.eigvalsh(mf.hessian(net, x))
    print("P = %d: |H| = %.6g, dense 12 smallest %s" % (net.nparams, ev[-1], np.array2string(ev[:12], precision=6)))
    for ncv in ncvs:
        for d in deflates:
            run(net, x, d, ncv, ev)
    if a.full:
        _, big = digits_net(a.dir, 256, 1797, 1e-2)
        xf = np.load(a.full)
        print("P = %d at %s" % (big.nparams, a.full))
        for ncv in ncvs:
            for d in deflates:
                run(big, xf, d, ncv)


if __name__ == "__main__":
    main()

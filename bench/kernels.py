"""Kernel benchmark: mlpflow vs PyTorch, side by side in one run.

Reference grid (references.md): one hidden layer of k softplus units, Din = 2,
one linear output, biases; k in {10, 50, 100}, N in {10, 100, 1e3, 1e4, 1e5};
float64, one thread each. The peer is torch's faster form (leaf tensors with
backward(), or a flat vector with autograd.grad: torch_kernels.py times both).
Floors: for the gradient, grad_floor.c (the fused minimum: one softplus value and
derivative per sample and unit with glibc's vector math, plus the products);
for the Hessian, OpenBLAS dsyrk on the (N, P) Gauss-Newton matrix (N >= 1e4).
The gradient's ratio to its floor is also taken in process CPU time (grad_cpu.c
against grad_floor.c's "cpu" mode: the same function and data, minimum of 10
timings, twice alternated), which the load of a shared machine hardly moves; the
slowest point is named from that column.
Also mlpflow with 2 threads at N >= 1e4 (gradient and Hessian speed-ups), with
OMP_WAIT_POLICY=passive unless set (bench/loaded.sh: on a busy machine, OpenMP's
default spinning makes 2 threads slower than one; passive waiting does not).

usage: /usr/bin/python3 bench/kernels.py [--mlpflow build/mlpflow] [--quick]
Prints a markdown table of medians and ratios (torch / mlpflow)."""
import argparse
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlpflow", default=os.path.join(HERE, "..", "build", "mlpflow"))
    ap.add_argument("--floor", default=os.path.join(HERE, "..", "build", "bench", "dsyrk_floor"))
    ap.add_argument("--grad-floor", default=os.path.join(HERE, "..", "build", "bench",
                                                         "grad_floor"))
    ap.add_argument("--grad-cpu", default=os.path.join(HERE, "..", "build", "bench", "grad_cpu"))
    ap.add_argument("--quick", action="store_true", help="small grid, for a smoke test")
    ap.add_argument("--torch-hessian-limit", type=float, default=15.0,
                    help="skip torch Hessians predicted to take longer (seconds)")
    a = ap.parse_args()
    one = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    units = [10, 100] if a.quick else [10, 50, 100]
    sizes = [10, 1000] if a.quick else [10, 100, 1000, 10000, 100000]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    print()
    print(f"load average before: {open('/proc/loadavg').read().split()[0]}")
    print()
    print("| k | N | P | mlpflow grad | torch leaf | torch flat | ratio | grad floor | grad/floor "
          "| grad CPU | floor CPU | CPU grad/floor "
          "| mlpflow Hessian | torch Hessian | ratio "
          "| dsyrk floor | Hess/floor | Hess 2 threads | speed-up | grad 2 threads | speed-up |")
    print("|" + "---|" * 21)
    worst = None
    for k in units:
        for n in sizes:
            P = 4 * k + 1
            m = run_json([a.mlpflow, "bench", "--units", str(k), "--samples", str(n),
                          "--threads", "1", "--repeats", "5" if n < 100000 else "3"], env=one)
            # torch's autograd Hessian: P backward passes; its cost grows like P^2 N.
            predicted = 9.9 * (P * P * n) / (401 * 401 * 1e4)
            tcmd = [sys.executable, os.path.join(HERE, "torch_kernels.py"), "--units", str(k),
                    "--samples", str(n), "--repeats", "3" if predicted < 1 else "1"]
            if predicted < a.torch_hessian_limit:
                tcmd.append("--hessian")
            t = run_json(tcmd, env=one)
            gf = run_json([a.grad_floor, "2", str(k), str(n), "5"], env=one)["grad_floor_seconds"]
            reps = "10" if n < 100000 else "5"
            gc = fc = float("inf")
            for _ in range(2):  # alternated, minimum: CPU time still moves a little with load
                gc = min(gc, run_json([a.grad_cpu, "2", str(k), str(n), reps], env=one)[
                    "grad_cpu_seconds"])
                fc = min(fc, run_json([a.grad_floor, "2", str(k), str(n), reps, "cpu"], env=one)[
                    "grad_floor_seconds"])
            row = [k, n, P, m["gradient_seconds"], t["gradient_leaf_seconds"],
                   t["gradient_flat_seconds"], t["gradient_seconds"] / m["gradient_seconds"],
                   gf, m["gradient_seconds"] / gf, gc, fc, gc / fc, m["hessian_seconds"]]
            if "hessian_seconds" in t:
                row += [t["hessian_seconds"], t["hessian_seconds"] / m["hessian_seconds"]]
            else:
                row += ["(too slow)", "-"]
            if n >= 10000:
                f = run_json([a.floor, str(P), str(n), "5"], env=one)
                m2 = run_json([a.mlpflow, "bench", "--units", str(k), "--samples", str(n),
                               "--threads", "2", "--repeats", "3"],
                              env=dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1",
                                       OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive")))
                row += [f["dsyrk_seconds"], m["hessian_seconds"] / f["dsyrk_seconds"],
                        m2["hessian_seconds"], m["hessian_seconds"] / m2["hessian_seconds"],
                        m2["gradient_seconds"], m["gradient_seconds"] / m2["gradient_seconds"]]
            else:
                row += ["-"] * 6
            if n >= 100 and (worst is None or row[11] > worst[11]):
                worst = row
            cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
            print("| " + " | ".join(cells) + " |", flush=True)
    if worst:
        print(f"\nslowest gradient against its floor (N >= 100, CPU time): k = {worst[0]}, "
              f"N = {worst[1]}, {worst[11]:.2f}x the floor")
    print(f"load average after: {open('/proc/loadavg').read().split()[0]}")


if __name__ == "__main__":
    main()

"""Sweep overhead: N tiny teacher-student runs (P = 16) through `mlpflow sweep`.

For each engine (1 thread, 2 threads, mpirun -n 2 = one worker rank, mpirun -n 3 =
two worker ranks beside the coordinator rank 0) it prints the wall time, runs per
second and the overhead per run: wall time x engines' parallel workers over the
time the runs themselves took (setup_time + total_time summed from the database:
problem build and training), minus 1. On a loaded machine that ratio also counts
every time the sweep was descheduled, so for one thread it also prints the gap
between consecutive runs (finish-time difference minus the run's own time): its
median is the sweep's own cost per run. Also the database size per run (with the
default 100 trajectory samples, and with 10).

    /usr/bin/python3 bench/sweep_overhead.py [--runs 10000] [--mlpflow build/mlpflow]
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spec(runs, trajectory):
    return {"base": {"teacher": {"layers": [[2, "tanh", True], [1, "identity", False]],
                                 "din": 2, "seed": 1},
                     "data": {"samples": 40, "seed": 1},
                     "layers": [[4, "tanh", True], [1, "identity", False]],
                     "train": {"maxT": 30, "maxiterations_optim": 40,
                               "n_samples_trajectory": trajectory}},
            "axes": {"seed": {"range": [1, runs]}}}


def sweep(cmd, d, name, runs, trajectory=100, extra=()):
    path = os.path.join(d, name + ".json")
    with open(path, "w") as f:
        json.dump(spec(runs, trajectory), f)
    db = os.path.join(d, name + ".sqlite")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    t = time.perf_counter()
    subprocess.run(cmd + [path, "--db", db, "--quiet"] + list(extra), check=True, env=env)
    wall = time.perf_counter() - t
    con = sqlite3.connect(db)
    inside, done = con.execute("select sum(setup_time + total_time), count(*) from runs "
                               "where status = 'done'").fetchone()
    t_run = con.execute("select finished_at, setup_time + total_time from runs "
                        "order by finished_at").fetchall()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    gaps = sorted(t_run[k][0] - t_run[k - 1][0] - t_run[k][1] for k in range(1, len(t_run)))
    runs_sorted = sorted(r for _, r in t_run)
    sweep.gap = (gaps[len(gaps) // 2], runs_sorted[len(runs_sorted) // 2])
    return wall, inside, done, os.path.getsize(db)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10000)
    p.add_argument("--mlpflow", default=os.path.join(REPO, "build", "mlpflow"))
    a = p.parse_args()
    m = os.path.abspath(a.mlpflow)
    d = tempfile.mkdtemp(prefix="mlpf_sweep_bench_")
    # no binding: on a shared machine a rank bound to a busy core waits for it
    mpi = ["mpirun", "--oversubscribe", "--bind-to", "none", "-n"]
    median_gap = ""
    engines = [("threads 1", [m, "sweep"], ["--threads", "1"], 1),
               ("threads 2", [m, "sweep"], ["--threads", "2"], 2)]
    if shutil.which("mpirun"):
        engines += [("mpirun -n 2 (1 worker)", mpi + ["2", m, "sweep"], [], 1),
                    ("mpirun -n 3 (2 workers)", mpi + ["3", m, "sweep"], [], 2)]
    print("%d runs of a teacher-student problem, P = 16, %d cores" % (a.runs, os.cpu_count()))
    print("| engine | wall s | runs/s | time in runs s | overhead per run | DB bytes per run |")
    print("|---|---|---|---|---|---|")
    try:
        for k, (name, cmd, extra, workers) in enumerate(engines):
            wall, inside, done, size = sweep(cmd, d, "e%d" % k, a.runs, extra=extra)
            assert done == a.runs, (name, done)
            # each worker spends wall seconds; the runs took `inside` of them
            over = wall * workers / inside - 1
            print("| %s | %.1f | %.0f | %.1f | %.1f %% | %.0f |" % (
                name, wall, done / wall, inside, 100 * over, size / done))
            if k == 0:
                gap, run = sweep.gap
                median_gap = "median gap between runs %.3f ms = %.1f %% of the median run " \
                             "(%.2f ms)" % (1e3 * gap, 100 * gap / run, 1e3 * run)
        wall, inside, done, size = sweep([m, "sweep"], d, "small", a.runs, trajectory=10,
                                        extra=["--threads", "2"])
        print("n_samples_trajectory 10: %.0f bytes per run" % (size / done))
        print("threads 1: " + median_gap)
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()

#!/bin/sh
# mlpflow sweep end to end: --dry-run; a sweep of 60 runs over 3 axes on
# threads and with mpirun -n 3 giving the same rows bit for bit, each equal to
# `mlpflow train` on the run's spec; Ctrl-C and kill -9 in the middle, then
# resume: every run recorded exactly once; failing runs recorded with their
# message; relative paths from the sweep file's folder; a changed spec refused,
# --extend; the progress line; sweep-report. Databases are read with Python's
# sqlite3.
. "$(dirname "$0")/common.sh"
# q DB SQL: one value
q() { $PY -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$1" "$2"; }

# a teacher-student problem with P = 16 (4 tanh units with biases, linear readout)
base='"base": {"teacher": {"layers": [[2, "tanh", true], [1, "identity", false]], "din": 2, "seed": 1},
  "data": {"samples": 40, "seed": 1},
  "layers": [[4, "tanh", true], [1, "identity", false]],
  "train": {"maxT": 30, "maxiterations_optim": 40, "n_samples_trajectory": 8}}'
echo "{$base, \"axes\": {\"seed\": {\"range\": [1, 10]}, \"layers.0.0\": [3, 4, 5], \"teacher.seed\": [1, 2]}}" > S60.json

# --dry-run: the count and the first runs
check dry-run -- sh -c "\"$M\" sweep S60.json --dry-run > dry.txt && grep -q 'S60.json: 60 runs = seed (10) x layers.0.0 (3) x teacher.seed (2)' dry.txt && [ \$(grep -c '^[0-9a-f]\{16\} ' dry.txt) = 10 ] && grep -q '(50 more)' dry.txt && [ ! -e none.sqlite ]"
"$M" sweep S60.json >/dev/null 2>&1; [ $? = 2 ] && ok || bad "no --db is a usage error"

# threads: 60 runs, the progress line without control characters (stderr is a file)
check threads -- "$M" sweep S60.json --db th.sqlite --threads 2
[ "$(q th.sqlite "select count(*) from runs where status = 'done'")" = 60 ] && ok || bad "60 runs done"
grep -q '^sweep: 60/60 done, 0 failed, .* runs/s, ETA 0s | ' log.txt && ! grep -q "$(printf '[\r\033]')" log.txt \
    && ok || { bad "progress line"; cat log.txt; }
check quiet -- sh -c "\"$M\" sweep S60.json --db th.sqlite --quiet 2> err.txt && [ ! -s err.txt ]"

# one run alone with mlpflow train on its spec: the same loss and x, bit for bit
id=$($PY -c "import sqlite3; print(sqlite3.connect('th.sqlite').execute(\"select run_id from runs where seed = 7 and \\\"layers.0.0\\\" = 5 and \\\"teacher.seed\\\" = 2\").fetchone()[0])")
check print-run -- sh -c "\"$M\" sweep S60.json --print-run $id > run.json && \"$M\" train --spec run.json -o single --quiet > single.txt"
check single-equal -- $PY - "$id" <<'EOF'
import io, json, sqlite3, sys
import numpy as np
run = json.loads(open("single.txt").read())
con = sqlite3.connect("th.sqlite")
loss, it = con.execute("select loss, optim_iterations from runs where run_id = ?", (sys.argv[1],)).fetchone()
x = np.load(io.BytesIO(con.execute("select npy from arrays where run_id = ? and name = 'x'", (sys.argv[1],)).fetchone()[0]))
assert run["loss"] == loss, (run["loss"], loss)
assert np.array_equal(np.load("single.npz")["x"], x)
assert json.load(open("single.json"))["optim_iterations"] == it
EOF

# the same sweep on 3 MPI ranks: the same rows and arrays, bit for bit
if ldd "$M" | grep -q libmpi && command -v mpirun >/dev/null; then
    check mpirun -- env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 \
        mpirun --oversubscribe --bind-to none -n 3 "$M" sweep S60.json --db mpi.sqlite --quiet
    check mpi-equal -- $PY - <<'EOF'
import sqlite3
cols = ('run_id, seed, "layers.0.0", "teacher.seed", status, error, loss, ode_loss, gnorm, converged, '
        'ode_stopped_by, optim_stopped_by, alg, optim_solver, ode_iterations, optim_iterations, ode_time_run, nparams')
rows = [sqlite3.connect(f).execute("select %s from runs order by run_id" % cols).fetchall() for f in ("th.sqlite", "mpi.sqlite")]
arrays = [sqlite3.connect(f).execute("select run_id, name, npy from arrays order by run_id, name").fetchall() for f in ("th.sqlite", "mpi.sqlite")]
assert len(rows[0]) == 60 and rows[0] == rows[1], "rows differ"
assert len(arrays[0]) == 360 and arrays[0] == arrays[1], "arrays differ"
EOF
else
    bad "mpirun: the CLI is not linked with MPI or mpirun is missing"
fi

# Ctrl-C, then kill -9, in the middle; then resume: every run exactly once
echo "{$base, \"axes\": {\"seed\": {\"range\": [1, 20]}, \"layers.0.0\": [3, 4, 5], \"teacher.seed\": [1, 2]}}" > S120.json
cat > stop.py <<'EOF'
# stop.py SIGNAL MIN: start the sweep, stop it with SIGNAL once MIN more runs are
# done; print the exit status, the number done, and the run ids with finish times
import os, signal, sqlite3, subprocess, sys, time
sig, more = getattr(signal, sys.argv[1]), int(sys.argv[2])
def done():
    try:
        return sqlite3.connect("k.sqlite", timeout=30).execute("select count(*) from runs where status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
start = done()
p = subprocess.Popen([os.environ["M"], "sweep", "S120.json", "--db", "k.sqlite", "--threads", "2", "--quiet"],
                     stderr=open("stop_err.txt", "w"))
while done() < start + more and p.poll() is None:
    time.sleep(0.01)
p.send_signal(sig)
rc = p.wait()
print(rc, done())
EOF
export M
# a second job on a database another process is writing is refused at once
check second_job_refused -- $PY - <<'EOF'
import os, signal, sqlite3, subprocess, time
M = os.environ["M"]
first = subprocess.Popen([M, "sweep", "S120.json", "--db", "two.sqlite", "--threads", "1", "--quiet"])
def done():
    try:
        return sqlite3.connect("two.sqlite", timeout=30).execute("select count(*) from runs where status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
while done() < 1 and first.poll() is None:
    time.sleep(0.01)
second = subprocess.run([M, "sweep", "S120.json", "--db", "two.sqlite", "--quiet"], capture_output=True, text=True)
first.send_signal(signal.SIGINT)
first.wait()
assert second.returncode == 1 and "another sweep is writing this database (process %d)" % first.pid in second.stderr, second
EOF
out=$($PY stop.py SIGINT 10); rc=${out% *}; n1=${out#* }
[ "$rc" = 1 ] && [ "$n1" -ge 10 ] && [ "$n1" -lt 120 ] && grep -q 'interrupted with .* runs left; run the same sweep again' stop_err.txt \
    && ok || { bad "Ctrl-C: exit $rc, $n1 done"; cat stop_err.txt; }
$PY -c "import sqlite3; [print(*r) for r in sqlite3.connect('k.sqlite').execute(\"select run_id, finished_at from runs where status = 'done' order by run_id\")]" > done1.txt
out=$($PY stop.py SIGKILL 10); rc=${out% *}; n2=${out#* }
[ "$rc" = -9 ] && [ "$n2" -ge $((n1 + 10)) ] && [ "$n2" -lt 120 ] && ok || bad "kill -9: exit $rc, $n1 then $n2 done"
$PY -c "import sqlite3; [print(*r) for r in sqlite3.connect('k.sqlite').execute(\"select run_id, finished_at from runs where status = 'done' order by run_id\")]" > done2.txt
check resume -- "$M" sweep S120.json --db k.sqlite --threads 2 --quiet
check exactly-once -- $PY - <<'EOF'
import sqlite3
con = sqlite3.connect("k.sqlite")
rows = dict(con.execute("select run_id, finished_at from runs").fetchall())
status = con.execute("select status, count(*), min(error) from runs group by status").fetchall()
assert len(rows) == 120 and status == [("done", 120, None)], status
assert con.execute("select count(*) from arrays").fetchone()[0] == 6 * 120
for f in ("done1.txt", "done2.txt"):           # runs done before a stop were not run again
    for line in open(f):
        rid, t = line.split()
        assert rows[rid] == float(t), (f, rid)
# and they equal the uninterrupted sweep where the two overlap (seeds 1-10)
a = con.execute('select run_id, loss, optim_iterations from runs where seed <= 10 order by run_id').fetchall()
b = sqlite3.connect("th.sqlite").execute('select run_id, loss, optim_iterations from runs order by run_id').fetchall()
assert a == b
EOF

# failing runs with their message; relative paths from the sweep file's folder
mkdir -p sub
awk 'BEGIN { for (i = 0; i < 25; i++) printf "%.6f %.6f\n", sin(1.7 * i), cos(0.9 * i + 0.3) }' > sub/X.txt
awk '{ printf "%.6f\n", $1 * $2 }' sub/X.txt > sub/Y.txt
cat > sub/F.json <<'EOF'
{"base": {"layers": [[3, "tanh", true], [1, "identity", false]], "input": "X.txt", "target": "Y.txt",
          "train": {"maxT": 20, "maxiterations_optim": 20}},
 "axes": {"seed": [1, 2, 3], "layers.0.1": ["tanh", "tahn"]}}
EOF
check failing -- "$M" sweep sub/F.json --db f.sqlite --quiet
[ "$(q f.sqlite "select count(*) from runs where status = 'done' and \"layers.0.1\" = 'tanh'")" = 3 ] && ok || bad "relative input files"
[ "$(q f.sqlite "select count(*) from runs where status = 'failed' and error like '%unknown activation \"tahn\"%'")" = 3 ] \
    && ok || bad "failed runs with their message"

# a changed spec is refused; --extend adds axis values
sed 's/"samples": 40/"samples": 41/' S60.json > S60b.json
"$M" sweep S60b.json --db th.sqlite --quiet 2> err.txt; [ $? = 1 ] && grep -q 'th.sqlite: the base spec differs' err.txt \
    && ok || { bad "changed base refused"; cat err.txt; }
sed 's/"range": \[1, 10\]/"range": [1, 12]/' S60.json > S72.json
"$M" sweep S72.json --db th.sqlite --quiet 2> err.txt; [ $? = 1 ] && grep -q 'axis "seed" has other values.*--extend' err.txt \
    && ok || { bad "new values need --extend"; cat err.txt; }
check extend -- "$M" sweep S72.json --db th.sqlite --extend --quiet
[ "$(q th.sqlite "select count(*) from runs where status = 'done'")" = 72 ] && ok || bad "--extend ran 12 new runs"

# sweep-report
check report -- sh -c "\"$M\" sweep-report th.sqlite --by layers.0.0 > rep.txt"
[ "$(grep -c '^[345] ' rep.txt)" = 3 ] && grep -qE 'runs( +(channel|minimum|saddle|not_critical))+ ' rep.txt && grep -q '^3  *24 ' rep.txt \
    && ok || { bad "report table"; cat rep.txt; }
"$M" sweep-report th.sqlite --by nosuch 2> err.txt; [ $? = 1 ] && grep -q '"nosuch" is not a column .*axes: seed, layers.0.0, teacher.seed' err.txt \
    && ok || { bad "report --by unknown"; cat err.txt; }

echo "test_sweep: $passed passed, $failed failed"
[ "$failed" = 0 ]

#!/bin/sh
# A ReLU flow that slides on a kink, through the CLI: `mlpflow train` stops the
# flow with "nonsmooth", RUN.json names the unit (ode_kinks), the summary
# prints it, the minimiser is skipped and the run does not claim convergence.
# The problem is test_flows.c's relu_make(100, seed 3).
. "$(dirname "$0")/common.sh"

awk 'BEGIN { for (i = 0; i < 100; i++) { r = 1 + 0.5 * sin(0.7 * i);
             printf "%.17g %.17g\n", sin(1.3 * i + 0.5) * r, cos(2.1 * i) * r } }' > X.txt
awk '{ print 0 }' X.txt > Z.txt
printf '{"layers": [[3, "relu", true], [1, "identity", true]], "input": "X.txt", "target": "Z.txt"}\n' > TEA.json
printf '{"layers": [[4, "relu", true], [1, "identity", true]], "input": "X.txt", "target": "Y.npy"}\n' > STU.json
check teacher -- sh -c "\"$M\" init --spec TEA.json --seed 103 -o T.npy && \
    \"$M\" predict --spec TEA.json --params T.npy --input X.txt -o Y.npy"
check train -- sh -c "\"$M\" train --spec STU.json --seed 3 --alg bdf --maxT 1e4 \
    --maxiterations_ode 20000 -o K > summary.txt"
check result -- $PY - <<'PYEOF'
import json
r = json.load(open("K.json"))
assert r["ode_stopped_by"] == "nonsmooth", r["ode_stopped_by"]
assert r["ode_kinks"].startswith("w1[3] ("), r["ode_kinks"]
assert r["optim_stopped_by"] == "skipped" and r["converged"] is False, r
assert r["ode_iterations"] < 10000, r["ode_iterations"]
line = open("summary.txt").read()
assert '"ode_kinks":"w1[3] (' in line, line
PYEOF

echo "test_kinks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

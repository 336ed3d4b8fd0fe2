#!/bin/sh
# The mlpflow CLI end to end on a small spec: init, loss, gradient, hessian,
# spectrum, predict, train (one and many starts, Ctrl-C), teacher-student data
# and the built-in example, checked with numpy: shapes, files that load, the
# gradient against central differences of `mlpflow loss`, the Hessian against
# central differences of `mlpflow gradient`.
. "$(dirname "$0")/common.sh"

# data: 37 samples (an odd count on purpose), 2 inputs, 1 target, from awk
awk 'BEGIN { for (i = 0; i < 37; i++) printf "%.6f %.6f\n", sin(1.7 * i), cos(0.9 * i + 0.3) }' > X.txt
awk '{ printf "%.6f\n", tanh_($1 - 2 * $2) } function tanh_(z) { return (exp(2*z) - 1) / (exp(2*z) + 1) }' X.txt > Y.txt
cat > S.json <<'EOF'
{"layers": [[3, "softplus", true], [1, "identity", true]],
 "input": "X.txt", "target": "Y.txt",
 "train": {"maxtime_ode": 1, "maxtime_optim": 1, "progress_interval": 0.2}}
EOF
P=13

check init -- "$M" init --spec S.json --seed 4 -o P.npy
check info -- sh -c "\"$M\" info --spec S.json > info.json && $PY -c \"
import json; i = json.load(open('info.json'))
assert i['nparams'] == 13 and i['nsamples'] == 37 and i['din'] == 2, i
assert [l['offset'] for l in i['layers']] == [0, 9] and i['layers'][0]['activation'] == 'softplus', i
\""
check loss -- sh -c "\"$M\" loss --spec S.json --params P.npy > loss.json"
check gradient -- "$M" gradient --spec S.json --params P.npy -o G.npy
check hessian -- "$M" hessian --spec S.json --params P.npy -o H.npy
check spectrum -- sh -c "\"$M\" spectrum --spec S.json --params P.npy -o E.npy --vectors V.npy > ext.json"
check predict -- "$M" predict --spec S.json --params P.npy --input X.txt -o Yp.npy

# shapes, and the eval commands agreeing with each other and with numpy
check shapes -- $PY - "$P" <<'EOF'
import json, sys, numpy as np
P = int(sys.argv[1])
p, g, h, e, v, yp = (np.load(f) for f in ["P.npy", "G.npy", "H.npy", "E.npy", "V.npy", "Yp.npy"])
assert p.shape == (P,) and g.shape == (P,) and h.shape == (P, P), (p.shape, g.shape, h.shape)
assert e.shape == (P,) and v.shape == (P, P) and yp.shape == (37, 1), (e.shape, v.shape, yp.shape)
assert np.allclose(h, h.T, rtol=0, atol=1e-12 * abs(h).max()), "Hessian not symmetric"
assert np.all(np.diff(e) >= 0), "eigenvalues not ascending"
assert np.allclose(e, np.linalg.eigvalsh(h), rtol=1e-10, atol=1e-12 * abs(e).max())
assert np.allclose(h @ v, v * e, atol=1e-9 * abs(e).max()), "H V != V diag(E)"
ext = json.load(open("ext.json"))
assert ext["min"] == e[0] and ext["max"] == e[-1], ext
y = np.loadtxt("Y.txt")[:, None]
loss = json.load(open("loss.json"))["loss"]
assert abs(loss - np.mean((yp - y) ** 2)) <= 1e-14 * loss, (loss, np.mean((yp - y) ** 2))
EOF

# the exact gradient against central differences of `mlpflow loss`,
# the exact Hessian against central differences of `mlpflow gradient`
check finite_differences -- $PY - "$M" <<'EOF'
import json, subprocess, sys, numpy as np
M = sys.argv[1]
x = np.load("P.npy"); g = np.load("G.npy"); H = np.load("H.npy")
def loss(y):
    np.save("Q.npy", y)
    return json.loads(subprocess.check_output([M, "loss", "--spec", "S.json", "--params", "Q.npy"]))["loss"]
def grad(y):
    np.save("Q.npy", y)
    subprocess.check_call([M, "gradient", "--spec", "S.json", "--params", "Q.npy", "-o", "GQ.npy"])
    return np.load("GQ.npy")
h = 1e-5
fd = np.array([(loss(x + h * ei) - loss(x - h * ei)) / (2 * h) for ei in np.eye(len(x))])
err = abs(fd - g).max()
assert err <= 1e-7 * max(1, abs(g).max()), ("gradient vs FD", err, g, fd)
fdH = np.array([(grad(x + h * ei) - grad(x - h * ei)) / (2 * h) for ei in np.eye(len(x))])
errH = abs(fdH - H).max()
assert errH <= 1e-6 * max(1, abs(H).max()), ("Hessian vs FD", errH)
EOF

# a merge penalty: loss_regularized = loss + lambda/2 |w_0 - w_1|^2 over layer 0's rows
sed 's/"train": {/"merge": [[0, 0, 1, 0.5]], "train": {/' S.json > SM.json
check merge -- sh -c "\"$M\" loss --spec SM.json --params P.npy > lm.json && \"$M\" gradient --spec SM.json \
    --params P.npy --regularized -o GM.npy"
check merge_values -- $PY -c "
import json, numpy as np
l = json.load(open('lm.json')); x = np.load('P.npy'); g = np.load('G.npy'); gm = np.load('GM.npy')
d = x[0:3] - x[3:6]
assert l['loss'] == json.load(open('loss.json'))['loss'], l
assert abs(l['loss_regularized'] - l['loss'] - 0.25 * d @ d) <= 1e-14 * l['loss_regularized'], l
want = g.copy(); want[0:3] += 0.5 * d; want[3:6] -= 0.5 * d
assert np.allclose(gm, want, rtol=1e-13, atol=1e-15), (gm, want)
"

# train from a seed: files load, the recorded loss is the loss at x, and it went down
check train -- "$M" train --spec S.json --seed 4 -o RUN
check train_files -- $PY - "$M" "$P" <<'EOF'
import json, subprocess, sys, numpy as np
M, P = sys.argv[1], int(sys.argv[2])
r = json.load(open("RUN.json")); z = np.load("RUN.npz")
import zipfile
assert zipfile.ZipFile("RUN.npz").testzip() is None, "bad CRC in RUN.npz"
assert set(z.files) == {"x", "init", "ode_x", "trajectory_t", "trajectory_x", "loss_curve"}, z.files
assert z["x"].shape == (P,) and z["init"].shape == (P,) and z["ode_x"].shape == (P,)
nt = r["ntrajectory"]
assert z["trajectory_t"].shape == (nt,) and z["trajectory_x"].shape == (nt, P) and z["loss_curve"].shape == (nt,)
assert np.array_equal(z["init"], np.load("P.npy")), "init is not the seed-4 start"
for k in ["loss", "gnorm", "converged", "ode_stopped_by", "optim_stopped_by", "total_time", "options", "version"]:
    assert k in r, k
assert r["options"]["maxtime_ode"] == 1 and r["init_seed"] == 4, r["options"]
np.save("X1.npy", z["x"])
l1 = json.loads(subprocess.check_output([M, "loss", "--spec", "S.json", "--params", "X1.npy"]))["loss"]
l0 = json.loads(open("loss.json").read())["loss"]
assert abs(l1 - r["loss"]) <= 1e-12 * max(l1, 1e-300) + 1e-300, (l1, r["loss"])
assert l1 < 0.5 * l0, (l0, l1)
EOF

# flags override the spec's "train" object; --init starts where told
check train_flags -- "$M" train --spec S.json --init P.npy --alg gd --lr 0.01 --maxiterations_ode 50 \
    --optim_solver none --quiet -o RUNF.json
check train_flags_recorded -- $PY -c "
import json, numpy as np
r = json.load(open('RUNF.json')); o = r['options']
assert o['alg'] == 'gd' and o['lr'] == 0.01 and o['maxiterations_ode'] == 50 and o['optim_solver'] == 'none', o
assert r['init_file'] == 'P.npy' and r['ode_iterations'] <= 50, r
assert np.array_equal(np.load('RUNF.npz')['init'], np.load('P.npy'))
"

# several starts in parallel: one pair of files per start and a summary
check train_starts -- "$M" train --spec S.json --seed 10 --starts 3 --threads 2 --quiet \
    --maxtime_ode 0.3 --maxtime_optim 0.3 -o MS
check train_starts_files -- $PY -c "
import json, numpy as np, subprocess
s = json.load(open('MS.json'))
assert s['nstarts'] == 3 and len(s['starts']) == 3, s
assert [e['seed'] for e in s['starts']] == [10, 11, 12], s
losses = [json.load(open('MS_%d.json' % k))['loss'] for k in range(3)]
assert s['best'] == int(np.argmin(losses)), (s['best'], losses)
inits = [np.load('MS_%d.npz' % k)['init'] for k in range(3)]
subprocess.check_call(['$M', 'init', '--spec', 'S.json', '--seed', '11', '-o', 'P11.npy'])
assert np.array_equal(inits[1], np.load('P11.npy')) and not np.array_equal(inits[0], inits[1])
"

# Ctrl-C: training stops, the result is still written, marked "interrupt"
"$M" train --spec S.json --seed 4 --alg gd --lr 1e-9 --maxtime_ode 60 --min_gnorm 0 --minloss 0 \
    --patience 1e12 --maxiterations_ode 1e12 -o INT > int.out 2> int.err &
pid=$!
sleep 1
kill -INT $pid
wait $pid; rc=$?
if [ $rc -eq 1 ] && grep -q interrupted int.err && \
   $PY -c "import json; r = json.load(open('INT.json')); assert 'interrupt' in (r['ode_stopped_by'], r['optim_stopped_by']), r; assert r['total_time'] < 30"; then
    ok
else
    bad "interrupt: exit $rc"; cat int.err
fi

# progress lines on stderr unless --quiet
check progress -- sh -c "\"$M\" train --spec S.json --seed 4 --alg gd --lr 1e-9 --maxtime_ode 0.5 --min_gnorm 0 \
    --optim_solver none -o PR 2> pr.err && test -s pr.err && \"$M\" train --spec S.json --seed 4 --alg gd \
    --lr 1e-9 --maxtime_ode 0.3 --min_gnorm 0 --optim_solver none --quiet -o PR 2> pq.err && test ! -s pq.err"

# teacher-student data: the teacher's own parameters have zero loss
cat > TS.json <<'EOF'
{"teacher": {"layers": [[2, "sigmoid2", false], [1, "identity", false]], "din": 2, "params": "T.npy"},
 "data": {"samples": 500, "seed": 3},
 "layers": [[2, "sigmoid2", false], [1, "identity", false]]}
EOF
printf '{"teacher": {"layers": [[2, "sigmoid2", false], [1, "identity", false]], "din": 2, "seed": 1},\n "data": {"samples": 5}, "layers": [[2, "sigmoid2", false], [1, "identity", false]]}\n' > T0.json
check teacher_init -- "$M" init --spec T0.json --seed 8 -o T.npy
"$M" init --spec T0.json --seed 9 -o S9.npy
# (the exact objective sums closed-form expectations that cancel: zero up to rounding)
for d in '{"samples": 500, "seed": 3}' '{"gaussian": "gauss-hermite", "order": 20}' '{"gaussian": "exact"}'; do
    case $d in *exact*) tol=1e-15 ;; *) tol=1e-25 ;; esac
    sed "s/\"data\": {[^}]*}/\"data\": $d/" TS.json > TSd.json
    l0=$("$M" loss --spec TSd.json --params T.npy) && l1=$("$M" loss --spec TSd.json --params S9.npy) && \
    $PY -c "
import json, sys
l0, l1 = json.loads(sys.argv[1])['loss'], json.loads(sys.argv[2])['loss']
assert abs(l0) < float(sys.argv[3]) and l1 > 1e-4, (l0, l1)
" "$l0" "$l1" "$tol" && ok || bad "teacher data $d: $l0 $l1"
done
# gauss-hermite and exact agree on the infinite-data loss
lg=$("$M" loss --spec TSd.json --params S9.npy)
sed 's/"data": {[^}]*}/"data": {"gaussian": "gauss-hermite", "order": 40}/' TS.json > TSg.json
lh=$("$M" loss --spec TSg.json --params S9.npy)
$PY -c "
import json, sys
a, b = json.loads(sys.argv[1])['loss'], json.loads(sys.argv[2])['loss']
assert abs(a - b) <= 1e-8 * a, (a, b)
" "$lg" "$lh" && ok || bad "exact vs gauss-hermite: $lg $lh"

# the built-in example (shortened), and its spec
check example -- "$M" example --quiet --maxtime_ode 0.3 --maxtime_optim 0.3 -o EX
grep -q 'Hessian spectrum *min' log.txt && grep -q 'EX.json, EX.npz' log.txt && \
    $PY -c "import json, numpy as np; r = json.load(open('EX.json')); assert np.load('EX.npz')['x'].shape == (15,) and r['nparams'] == 15" \
    && ok || { bad "example summary"; cat log.txt; }
check example_spec -- sh -c "\"$M\" example --print-spec > ex.json && $PY -c \"import json; s = json.load(open('ex.json')); assert s['data']['samples'] == 10000\""

# --help on every subcommand; version
for c in info init loss gradient hessian spectrum predict bench train example; do
    "$M" $c --help > h.txt 2>&1 && grep -q "usage: mlpflow $c" h.txt && ok || bad "$c --help"
done
"$M" version | grep -q '^mlpflow [0-9]' && ok || bad version

# bench prints JSON with both timings
check bench -- sh -c "\"$M\" bench --din 2 --units 10 --samples 100 --repeats 3 > b.json"
$PY -c "
import json; b = json.load(open('b.json'))
assert b['nparams'] == 41 and 0 < b['gradient_seconds'] < 1 and 0 < b['hessian_seconds'] < 1, b
" && ok || { bad bench_json; cat b.json; }

# OpenMP threads wait passively unless the user chose a policy (a spinning
# thread beside a busy core makes 2 threads slower than one)
policy_of() {   # policy_of [VAR=VALUE]: the OMP_WAIT_POLICY the running CLI sees
    env -u OMP_WAIT_POLICY "$@" "$M" example --maxT 1e12 --quiet -o W > /dev/null 2>&1 &
    pid=$!
    sleep 0.3
    tr '\0' '\n' < /proc/$pid/environ 2> /dev/null | grep '^OMP_WAIT_POLICY='
    kill $pid 2> /dev/null; wait $pid 2> /dev/null
}
[ "$(policy_of)" = OMP_WAIT_POLICY=PASSIVE ] && ok || bad "default wait policy: $(policy_of)"
[ "$(policy_of OMP_WAIT_POLICY=active)" = OMP_WAIT_POLICY=active ] && ok || bad "user's wait policy kept"

echo "test_cli: $passed passed, $failed failed"

#!/bin/sh
# mlpflow train's options and limits: every usage error (bad number, NaN,
# integer out of its field's range, unknown method, impossible combination)
# exits 2 naming the option before any work; the method list of --help is the
# registry's; Ctrl-C and maxtime_ode take effect quickly even while a long
# trajectory (30 000 samples) is being recorded.
. "$(dirname "$0")/common.sh"

"$M" example --print-spec > S.json || bad "example --print-spec"

# usage CODE FRAGMENT -- flags...: exit code 2 and FRAGMENT on stderr, no RUN written
usage() {
    frag=$1; shift
    "$M" train --spec S.json -o R --quiet "$@" >out.txt 2>err.txt; rc=$?
    if [ "$rc" -eq 2 ] && grep -qF -- "$frag" err.txt && [ ! -e R.json ]; then ok
    else bad "$*: exit $rc (want 2), want \"$frag\" in: $(cat err.txt)"; fi
}
usage 'unknown alg "euler" (known: kencarp58' --alg euler
usage 'unknown optim_solver "newton"' --optim_solver newton
usage 'nan is not a valid minloss' --minloss nan
usage 'nan is not a valid maxT' --maxT nan
usage 'minloss = inf is out of range' --minloss inf
usage '"9223372036854775808" is not an integer in [0, 9223372036854775807]' \
    --maxiterations_ode 9223372036854775808
usage 'maxiterations_ode = 1e+19 is out of range [0, 9223372036854775807]' \
    --maxiterations_ode 1e19
usage 'n_samples_trajectory = 1.09951e+12 is out of range [0, 2147483647]' \
    --n_samples_trajectory 1099511627776
usage 'is not a seed (an integer in [0, 18446744073709551615])' --seed 18446744073709551616
usage 'batchsize = 10 needs alg gd or adam' --batchsize 10
usage 'beta1 = 1 is out of range [0, 1)' --beta1 1
usage 'patience = -1 is out of range' --patience -1

# the spec's "train" object goes through the same checks (a bad file: exit 1)
sed 's/"train": {/"train": {"maxiterations_ode": 1e19, /' S.json > S_big.json
sed 's/"train": {/"train": {"minloss": "nan", /' S.json > S_nan.json
for f in S_big.json:'train.maxiterations_ode: maxiterations_ode = 1e+19 is out of range' \
         S_nan.json:'train.minloss: nan is not a valid minloss'; do
    "$M" train --spec "${f%%:*}" -o RS --quiet >/dev/null 2>err.txt; rc=$?
    if [ $rc -eq 1 ] && grep -qF -- "${f#*:}" err.txt && [ ! -e RS.json ]; then ok
    else bad "${f%%:*}: exit $rc: $(cat err.txt)"; fi
done

# the methods listed by --help are exactly those the library registers
"$M" train --help > help.txt 2>&1
sed -n '/^Methods/,$p' help.txt | sed -n 's/^  \([a-z0-9_]*\) .*/\1/p' | sort > listed.txt
for m in kencarp58 bdf dopri5 verner8 rk4 gd adam newtontr newtonkrylov bfgs lbfgs slsqp nlopt_lbfgs \
         nlopt_tnewton none; do echo $m; done | sort > expected.txt
if cmp -s listed.txt expected.txt; then ok; else bad "help methods: $(tr '\n' ' ' < listed.txt)"; fi
# every listed method is accepted by the options check (it gets past validation)
for m in $(cat listed.txt); do
    case $m in newtontr|newtonkrylov|bfgs|lbfgs|slsqp|nlopt_*) flag=--optim_solver ;; *) flag=--alg ;; esac
    "$M" train --spec S.json -o "R_$m" --quiet $flag $m --maxiterations_ode 2 \
        --maxiterations_optim 2 --maxT 1 >/dev/null 2>err.txt
    rc=$?
    if [ $rc -eq 0 ]; then ok; else bad "$flag $m: exit $rc: $(cat err.txt)"; fi
done

# maxtime_ode while recording 30 000 samples: about 1 s, not the time to record them
t0=$(date +%s%N)
"$M" train --spec S.json -o LT --quiet --maxT 1000 --n_samples_trajectory 30000 \
    --maxtime_ode 1 --optim_solver none >/dev/null 2>err.txt; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ $rc -eq 0 ] && grep -qE '"ode_stopped_by":[[:space:]]*"maxtime"' LT.json && \
   [ $ms -lt 6000 ]; then ok; else bad "maxtime with many samples: rc $rc, $ms ms"; fi

# Ctrl-C while recording: the run ends soon after the signal, the best point is written
"$M" train --spec S.json -o INT --quiet --maxT 1000 --n_samples_trajectory 30000 \
    --maxtime_ode 60 --optim_solver none >/dev/null 2>err.txt &
pid=$!
sleep 1
t0=$(date +%s%N)
kill -INT $pid
wait $pid; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ $rc -eq 1 ] && grep -qE '"ode_stopped_by":[[:space:]]*"interrupt"' INT.json && \
   [ $ms -lt 3000 ]; then ok; else bad "Ctrl-C with many samples: rc $rc, $ms ms after the signal"; fi

echo "test_train_options: $passed passed, $failed failed"

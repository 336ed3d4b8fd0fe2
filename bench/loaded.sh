#!/bin/sh
# bench/loaded.sh [ROUNDS]: threads on a loaded machine (issue 14, item 5). With a busy
# loop keeping one core busy, times `mlpflow bench` (median of 5 timings per run; the
# median of ROUNDS runs, alternated) with one thread, with OpenMP's default thread count
# (--threads 0) and with the default count under OMP_WAIT_POLICY=passive, for the
# gradient (k = 100) and the Hessian (k = 50) at N = 1e4 and 1e5.
set -e
cd "$(dirname "$0")/.."
R=${1:-3}
M=build/mlpflow
sh -c 'while :; do :; done' &
BUSY=$!
trap 'kill $BUSY' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (before the busy loop); busy loop pid $BUSY"
echo
echo "| kernel | k | N | 1 thread | default threads | default, passive wait | default / 1 thread | passive / 1 thread |"
echo "|---|---|---|---|---|---|---|---|"
one() { # $1 = gradient|hessian, $2 = k, $3 = N, $4 = threads, rest: env
    kind=$1 k=$2 n=$3 t=$4; shift 4
    flag=--no-hessian; [ "$kind" = hessian ] && flag=
    env OPENBLAS_NUM_THREADS=1 "$@" $M bench --units "$k" --samples "$n" --threads "$t" --repeats 5 $flag |
        sed "s/.*\"${kind}_seconds\": \([0-9.e+-]*\).*/\1/"
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for job in "gradient 100 10000" "gradient 100 100000" "hessian 50 10000" "hessian 50 100000"; do
    set -- $job
    a=""; b=""; c=""
    for r in $(seq "$R"); do
        a="$a $(one "$1" "$2" "$3" 1 X=1)"
        b="$b $(one "$1" "$2" "$3" 0 X=1)"
        c="$c $(one "$1" "$2" "$3" 0 OMP_WAIT_POLICY=passive)"
    done
    ma=$(echo "$a" | median); mb=$(echo "$b" | median); mc=$(echo "$c" | median)
    echo "| $1 | $2 | $3 | $ma | $mb | $mc | $(awk "BEGIN {printf \"%.2f\", $mb / $ma}") | $(awk "BEGIN {printf \"%.2f\", $mc / $ma}") |"
done

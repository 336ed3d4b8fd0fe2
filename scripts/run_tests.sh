#!/bin/sh
# Runs every test of the suite: the C test binaries in $1/tests, the CLI tests
# (tests/cli/*.sh) and the Python package's tests; prints the totals last.
# MLPF_ONLY=name runs only the tests whose file name contains name.
BUILD=${1:-build}
only() { [ -z "$MLPF_ONLY" ] || case "$(basename "$1")" in *"$MLPF_ONLY"*) return 0;; *) return 1;; esac; }
passed=0; failed=0; bad=""
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && only "$t" || continue
    out=$("$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed$' | tail -1)
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')
    [ -z "$line" ] && { p=0; f=1; }
    [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
    passed=$((passed + p)); failed=$((failed + f))
    if [ $rc -ne 0 ] || [ "$f" != 0 ]; then
        bad="$bad $(basename "$t")"; printf '%s\n' "$out" | tail -40
    fi
    echo "$(basename "$t"): $p passed, $f failed"
done
for t in tests/cli/test_*.sh; do
    [ -f "$t" ] && only "$t" || continue
    out=$(MLPFLOW="$BUILD/mlpflow" sh "$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed$' | tail -1)
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')
    [ -z "$line" ] && { p=0; f=1; }
    [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" != 0 ] && { bad="$bad $(basename "$t")"; printf '%s\n' "$out" | tail -40; }
    echo "$(basename "$t"): $p passed, $f failed"
done
pytests=python/tests
if [ -n "$MLPF_ONLY" ]; then
    pytests=$(for f in python/tests/test_*.py; do only "$f" && echo "$f"; done)
fi
if [ -z "$MLPF_SKIP_PYTHON" ] && [ -d python/tests ] && [ -n "$pytests" ]; then
    out=$(MLPFLOW_LIB="$PWD/$BUILD/libmlpflow.so" PYTHONPATH="$PWD/python" \
          /usr/bin/python3 -m pytest -q $pytests 2>&1); rc=$?
    printf '%s\n' "$out" | tail -15
    p=$(printf '%s\n' "$out" | grep -oE '[0-9]+ passed' | tail -1 | cut -d' ' -f1)
    f=$(printf '%s\n' "$out" | grep -oE '[0-9]+ (failed|error)' | awk '{s+=$1} END {print s+0}')
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    [ $rc -ne 0 ] && [ "${f:-0}" = 0 ] && failed=$((failed + 1))
    [ $rc -ne 0 ] && bad="$bad pytest"
fi
[ -n "$bad" ] && echo "failing:$bad"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]

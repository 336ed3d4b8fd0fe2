#!/bin/sh
# libmlpflow.so exports the public API (mlpf_* declared in include/mlpflow.h)
# and nothing else: internal helpers are built hidden.
M=${MLPFLOW:-build/mlpflow}
SO="$(dirname "$M")/libmlpflow.so"
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
HDR="$(dirname "$0")/../../include/mlpflow.h"
[ -f "$SO" ] || { bad "no $SO"; echo "test_exports: $passed passed, $failed failed"; exit 1; }
exported=$(nm -D --defined-only "$SO" | awk '$2 ~ /^[TtiW]$/ { print $3 }' | sort)
declared=$(grep -oE '\bmlpf_[a-z0-9_]+ *\(' "$HDR" | tr -d ' (' | sort -u)
n=$(echo "$exported" | grep -c .)
[ "$n" -gt 40 ] && ok || bad "only $n exported functions"
extra=$(echo "$exported" | grep -v '^mlpf_' || true)
[ -z "$extra" ] && ok || bad "exported without the mlpf_ prefix: $extra"
undeclared=$(for s in $exported; do echo "$declared" | grep -qx "$s" || echo "$s"; done)
[ -z "$undeclared" ] && ok || bad "exported but not in mlpflow.h: $undeclared"
missing=$(for s in $declared; do echo "$exported" | grep -qx "$s" || echo "$s"; done)
[ -z "$missing" ] && ok || bad "declared in mlpflow.h but not exported: $missing"
echo "test_exports: $passed passed, $failed failed"
[ "$failed" = 0 ]

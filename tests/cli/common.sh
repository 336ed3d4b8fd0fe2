# common.sh - sourced by the CLI tests: the mlpflow binary ($M, absolute), the
# Python with numpy ($PY), a private temp dir as the working dir (kept when
# KEEP is set), the pass/fail counters and their helpers.
M=${MLPFLOW:-build/mlpflow}
case $M in /*) ;; *) M="$PWD/$M" ;; esac
PY=/usr/bin/python3
T=$(mktemp -d "/tmp/mlpf_$(basename "$0" .sh)_XXXXXX")
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT
cd "$T" || exit 1
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
# check NAME -- command...: the command must succeed
check() { name=$1; shift 2; if "$@" >log.txt 2>&1; then ok; else bad "$name"; cat log.txt; fi; }

#!/bin/sh
# Installs the Debian packages mlpflow needs when they are missing (as root),
# otherwise names them and stops. With arguments: those packages instead (the
# fuzzing build's clang, say: scripts/fuzz_deps.sh).
PKGS="gcc make pkg-config libopenblas-openmp-dev liblapacke-dev libsundials-dev libnlopt-dev libcjson-dev python3 python3-numpy python3-pytest python3-matplotlib python3-sphinx valgrind libsqlite3-dev libopenmpi-dev openmpi-bin python3-pandas python3-sklearn python3-torch libarpack2-dev"
[ $# -gt 0 ] && PKGS="$*"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null \
        || { echo "deps: apt-get install failed for:$missing" >&2; exit 1; }
else
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: install them with: sudo apt-get install$missing" >&2
    exit 1
fi

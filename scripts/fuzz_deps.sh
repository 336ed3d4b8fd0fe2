#!/bin/sh
# Installs the Debian packages `make fuzz` needs (clang and its libFuzzer /
# sanitizer runtimes) when they are missing (as root), otherwise names them and
# stops. The library's own packages come from scripts/deps.sh.
sh "$(dirname "$0")/deps.sh" || exit 1
PKGS="clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "fuzz-deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null \
        || { echo "fuzz-deps: apt-get install failed for:$missing" >&2; exit 1; }
else
    echo "fuzz-deps: missing Debian packages:$missing" >&2
    echo "fuzz-deps: install them with: sudo apt-get install$missing" >&2
    exit 1
fi

#!/bin/sh
# Installs the Debian packages `make fuzz` needs (clang and its libFuzzer /
# sanitizer runtimes) besides the library's own, when they are missing (as
# root), otherwise names them and stops.
here="$(dirname "$0")"
sh "$here/deps.sh" && sh "$here/deps.sh" clang libclang-rt-14-dev

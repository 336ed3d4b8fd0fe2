#!/bin/sh
# Where outputs go and what inputs may cost: devices and FIFOs are written
# through (never replaced), symlinks are followed, failing writes name the
# path, a missing output directory fails before any work, RUN.json + RUN.npz
# are checked as a pair when read back, JSON output is valid JSON, and sizes
# from files and specs are checked against the memory budget (MLPF_MAX_BYTES).
. "$(dirname "$0")/common.sh"
# expect CODE FRAGMENT NAME -- command...: exit code CODE, FRAGMENT on stderr
expect() {
    code=$1; frag=$2; name=$3; shift 4
    "$@" >out.txt 2>err.txt; rc=$?
    if [ "$rc" -eq "$code" ] && { [ -z "$frag" ] || grep -qF -- "$frag" err.txt; } &&
       ! grep -qE 'Sanitizer|runtime error' err.txt; then ok
    else bad "$name: exit $rc (want $code), want \"$frag\" in:"; cat err.txt; fi
}
ms() { date +%s%3N; }

printf 'x1,x2\n0.1,0.2\n-1,0.5\n0.3,-0.7\n1.5,1\n-0.2,-0.1\n0.8,0.4\n' > X.csv
printf 'y\n0.3\n-0.5\n-0.4\n2.5\n-0.3\n1.2\n' > Y.csv
printf '{"layers": [[3, "tanh", true], [1, "identity", false]], "input": "X.csv", "target": "Y.csv",
 "train": {"maxiterations_ode": 20, "maxiterations_optim": 5}}\n' > S.json
"$M" init --spec S.json --seed 3 -o P.npy || bad "init"

# devices: written through, never replaced; ENOSPC reported for the path given
expect 0 '' dev_null -- "$M" init --spec S.json --seed 3 -o /dev/null
[ -c /dev/null ] && ok || bad "/dev/null is no longer a device"
if [ -w /dev/full ]; then
    expect 1 '/dev/full: cannot write: No space left on device' dev_full -- "$M" init --spec S.json -o /dev/full
    [ -c /dev/full ] && ok || bad "/dev/full is no longer a device"
fi

# a FIFO: the reader gets exactly the bytes of the file
mkfifo F
timeout 20 sh -c 'cat F > from_fifo.npy' &
reader=$!
expect 0 '' fifo -- "$M" init --spec S.json --seed 3 -o F
wait $reader
[ -p F ] && cmp -s from_fifo.npy P.npy && ok || bad "FIFO replaced or wrong bytes"

# a symlink: the link stays, its target gets the data
"$M" init --spec S.json --seed 9 -o target.npy
ln -s target.npy link.npy
expect 0 '' symlink -- "$M" init --spec S.json --seed 3 -o link.npy
[ -L link.npy ] && cmp -s target.npy P.npy && ok || bad "symlink replaced or target not written"

# a missing or unwritable output directory fails at once (exit 2), before training
t0=$(ms)
expect 2 'missing/RUN.json: directory missing' missing_dir -- "$M" train --spec S.json --maxtime_ode 60 \
    --maxiterations_ode 1e9 --alg gd --lr 1e-9 --min_gnorm 0 --minloss 0 -o missing/RUN
[ $(($(ms) - t0)) -lt 2000 ] && ok || bad "missing dir took $(($(ms) - t0)) ms"
expect 2 'missing/G.npy: directory missing' missing_dir_eval -- "$M" gradient --spec S.json --params P.npy -o missing/G.npy
mkdir ro && chmod 555 ro && chmod 755 "$T"
if [ "$(id -u)" != 0 ]; then
    expect 2 'cannot write in directory ro' unwritable_dir -- "$M" init --spec S.json -o ro/P.npy
elif command -v setpriv >/dev/null; then
    expect 2 'cannot write in directory ro' unwritable_dir -- setpriv --reuid=65534 --regid=65534 \
        --clear-groups "$M" init --spec S.json -o ro/P.npy
fi
[ -z "$(ls ro)" ] && ok || bad "files left in ro"

# RUN.json records RUN.npz's size and CRC-32; --params RUN.npz checks the pair
"$M" train --spec S.json --seed 1 --quiet -o A > /dev/null || bad "train A"
expect 0 '' params_from_run -- "$M" loss --spec S.json --params A.npz
# numbers on stdout read back exactly (17 digits where 15 do not round-trip)
"$M" loss --spec S.json --params A.npz > loss.json 2>/dev/null
$PY -c "
import json, numpy as np
l = json.load(open('loss.json'))['loss']; r = json.load(open('A.json'))['loss']
assert l == r and repr(l) in open('loss.json').read(), (l, r)
" && ok || bad "stdout loss exact"
$PY -c "
import json, numpy as np, zlib
r = json.load(open('A.json')); b = open('A.npz', 'rb').read()
assert r['npz'] == {'file': 'A.npz', 'bytes': len(b), 'crc32': '%08x' % zlib.crc32(b)}, r['npz']
assert np.load('A.npz')['x'].shape == (12,)
" && ok || bad "npz record"
# --init continues from a run (its x, or any of its arrays with :KEY), the pair checked
expect 0 '' init_from_run -- "$M" train --spec S.json --init A.npz --optim_solver none \
    --maxiterations_ode 5 --quiet -o B
expect 0 '' init_from_run_key -- "$M" train --spec S.json --init A.json:init --optim_solver none \
    --maxiterations_ode 5 --quiet -o C
$PY -c "
import numpy as np
a, b, c = np.load('A.npz'), np.load('B.npz'), np.load('C.npz')
assert np.array_equal(b['init'], a['x']) and np.array_equal(c['init'], a['init'])
" && ok || bad "init from a run"
# a kill between the two renames: the new A.npz beside the old A.json
cp A.json A_old.json
"$M" train --spec S.json --seed 2 --quiet -o A > /dev/null || bad "train A again"
cp A_old.json A.json
expect 1 'A.npz (' mismatched_pair -- "$M" loss --spec S.json --params A.npz
grep -qF 'is not the file A.json records' err.txt && ok || { bad "mismatch message"; cat err.txt; }
expect 1 'A.npz (' mismatched_pair_init -- "$M" train --spec S.json --init A.npz --quiet -o D
grep -qF 'is not the file A.json records' err.txt && ok || { bad "init mismatch message"; cat err.txt; }
rm A.json
expect 1 'A.json: cannot open' partial_pair -- "$M" loss --spec S.json --params A.npz
ls | grep -q '\.tmp\.' && bad "temp files left: $(ls)" || ok

# Ctrl-C during many starts: the message names files that exist
"$M" train --spec S.json --starts 2 --alg gd --lr 1e-9 --maxtime_ode 60 --min_gnorm 0 --minloss 0 \
    --patience 1e12 --maxiterations_ode 1e12 --quiet -o MS > /dev/null 2> ms.err &
pid=$!
sleep 1
kill -INT $pid
wait $pid; rc=$?
if [ $rc -eq 1 ] && grep -qF 'best points so far are in MS_0.json / .npz .. MS_1.json / .npz (summary in MS.json)' ms.err &&
   [ -f MS_0.npz ] && [ -f MS_1.json ] && [ -f MS.json ] && [ ! -e MS.npz ]; then ok
else bad "multi-start interrupt: exit $rc"; cat ms.err; ls; fi

# JSON on stdout stays JSON: an infinite loss is the string "inf"
printf '{"layers": [[1, "exp", true], [1, "identity", false]], "input": "X.csv", "target": "Y.csv"}\n' > E.json
$PY -c "import numpy as np; np.save('Pe.npy', np.array([1e4, 0, 0, 1.0]))"
"$M" loss --spec E.json --params Pe.npy > loss.json
$PY -c "
import json
def no_constants(c): raise ValueError('not JSON: ' + c)
assert json.load(open('loss.json'), parse_constant=no_constants) == {'loss': 'inf'}
" && ok || { bad "loss with inf"; cat loss.json; }

# duplicate keys in a spec are an error naming the key
printf '{"layers": [[3, "tanh", true], [1, "identity", false]], "input": "X.csv", "target": "Y.csv",
 "train": {"maxT": 1, "maxT": 2}}\n' > dup.json
expect 1 'dup.json: duplicate key "train.maxT"' duplicate_key -- "$M" info --spec dup.json

# resource guards: checked up front, fast, naming the field and the bytes
sed 's/"X.csv"/"\/dev\/zero"/' S.json > zero.json
t0=$(ms)
expect 1 'input: /dev/zero: this stream (not a regular file) starts with binary data' \
    dev_zero -- "$M" info --spec zero.json
[ $(($(ms) - t0)) -lt 2000 ] && ok || bad "/dev/zero took $(($(ms) - t0)) ms"
mkfifo endless
sed 's/"X.csv"/"endless"/' S.json > endless.json
timeout 20 sh -c 'yes 1,2 > endless' 2>/dev/null &   # bounded: never hangs the suite
expect 1 'endless: this stream (not a regular file) holds more than the memory budget of 1048576' \
    endless_stream -- env MLPF_MAX_BYTES=1M "$M" info --spec endless.json
wait
# a .npy through a pipe (not a regular file) is read as usual
mkfifo Pfifo
timeout 20 sh -c 'cat P.npy > Pfifo' &
expect 0 '' npy_stream -- "$M" loss --spec S.json --params Pfifo
wait
TS='"teacher": {"layers": [[2, "tanh", false], [1, "identity", false]], "din": 2, "seed": 2},
 "layers": [[2, "tanh", false], [1, "identity", false]]'
printf '{%s, "data": {"gaussian": "gauss-hermite", "order": 100000}}\n' "$TS" > gh.json
t0=$(ms)
expect 1 'data.order: need an integer in [1, 5000]' gh_order -- "$M" info --spec gh.json
[ $(($(ms) - t0)) -lt 2000 ] && ok || bad "order check took $(($(ms) - t0)) ms"
printf '{%s, "data": {"samples": 1000000000}}\n' "$TS" > ns.json
expect 1 'data.samples (inputs and targets) needs 2.4e+10 bytes' samples -- env MLPF_MAX_BYTES=1G "$M" info --spec ns.json
printf '{"layers": [[10000000, "tanh", true], [1, "identity", false]], "input": "X.csv", "target": "Y.csv"}\n' > units.json
expect 1 'layers[0]: layer 1 (10000000 units) needs' units -- env MLPF_MAX_BYTES=100M "$M" info --spec units.json
expect 1 'MLPF_MAX_BYTES="12 apples"' bad_budget -- env "MLPF_MAX_BYTES=12 apples" "$M" info --spec S.json

echo "test_outputs: $passed passed, $failed failed"

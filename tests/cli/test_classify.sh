#!/bin/sh
# `mlpflow classify` end to end: a training run that ends in a channel (read
# from RUN.npz, with its trajectory), a strict minimum (the teacher's own
# parameters), the exact Gaussian objective, parameter files written by numpy
# (.npy and numpy.savez), and the errors: compressed or incomplete .npz files.
# Every output must be strict JSON (no NaN / Infinity tokens).
. "$(dirname "$0")/common.sh"
# expect NAME FILE PYTHON-ASSERTIONS: FILE parses as strict JSON into d, then the assertions hold
expect() {
    $PY -c "
import json, sys
def no_constants(c): raise ValueError('non-JSON constant ' + c)
d = json.loads(open(sys.argv[1]).read(), parse_constant=no_constants)
$3" "$2" && ok || { bad "$1"; cat "$2"; }
}

# a 2-unit tanh student of a 3-unit teacher: from seed 2 the flow ends in a channel
cat > C.json <<'JSON'
{"teacher": {"layers": [[3, "tanh", true], [1, "identity", false]], "din": 2, "seed": 3},
 "data": {"samples": 200, "seed": 1},
 "layers": [[2, "tanh", true], [1, "identity", false]]}
JSON
"$M" train --spec C.json --seed 2 --maxT 1e4 --quiet -o R >/dev/null || bad "train"
"$M" classify --spec C.json --params R.npz > c.json || bad "classify R.npz"
expect channel c.json "
assert d['kind'] == 'channel' and d['index'] == 0, d['kind']
assert set(d) >= {'kind', 'index', 'n_zero', 'n_positive', 'strict', 'zero_tol', 'loss', 'gnorm', 'eigenvalues', 'channels'}
c, = d['channels']
assert c['type'] == 'pair' and c['units'] == [0, 1] and c['glu_error'] < 1e-4, c
assert len(c['w']) == 3 and len(c['v']) == 1 and len(c['v'][0]) == 3 and len(c['out_weights']) == 2
assert isinstance(c['growth_exponent'], float) and c['growth_exponent'] > 0, c['growth_exponent']
assert len(d['eigenvalues']) == 8 and d['eigenvalues'] == sorted(d['eigenvalues'])
"
# the same x from a .npy: no trajectory, so the dynamics are "nan" strings
$PY -c "import numpy as np; np.save('x.npy', np.load('R.npz')['x'])"
"$M" classify --spec C.json --params x.npy > cx.json || bad "classify x.npy"
expect channel_npy cx.json "
c, = d['channels']
assert d['kind'] == 'channel' and c['growth_exponent'] == 'nan' and c['loss_rate'] == 'nan', c
"
# --no-channels: the same point looks like a flat minimum (or not quite critical)
"$M" classify --spec C.json --params x.npy --no-channels > cn.json || bad "classify --no-channels"
expect no_channels cn.json "assert d['kind'] in ('minimum', 'not_critical') and d['channels'] == []"

# the teacher's own parameters on the teacher's data: a strict minimum; --tol overrides
cat > S.json <<'JSON'
{"teacher": {"layers": [[2, "sigmoid2", false], [1, "identity", false]], "din": 2, "params": "T.npy"},
 "data": {"gaussian": "exact"},
 "layers": [[2, "sigmoid2", false], [1, "identity", false]]}
JSON
$PY -c "import numpy as np; np.save('T.npy', np.array([1.0, 0.3, -0.4, 0.9, 1.2, -0.7]))"
"$M" classify --spec S.json --params T.npy > s.json || bad "classify teacher"
expect strict_minimum s.json "assert d['kind'] == 'minimum' and d['strict'] and d['loss'] < 1e-15, d"
"$M" classify --spec S.json --params T.npy --tol 1e9 > st.json || bad "classify --tol"
expect tol st.json "assert d['zero_tol'] == 1e9 and d['n_zero'] == 6 and not d['strict'], d"
# numpy.savez (Python's zipfile, zip64 extra fields) is read too
$PY -c "import numpy as np; np.savez('P.npz', x=np.load('T.npy'), other=np.zeros(3))"
"$M" classify --spec S.json --params P.npz > sz.json || bad "classify numpy.savez"
expect savez sz.json "assert d['kind'] == 'minimum' and d['strict'], d"
# a point away from the minimum is not critical
$PY -c "import numpy as np; np.save('T2.npy', np.load('T.npy') + 1e-4)"
"$M" classify --spec S.json --params T2.npy > s2.json || bad "classify perturbed"
expect not_critical s2.json "assert d['kind'] == 'not_critical' and d['gnorm'] > d['gnorm_tol'], d"

# errors name the problem
$PY -c "import numpy as np; np.savez_compressed('Z.npz', x=np.load('T.npy')); np.savez('N.npz', y=np.zeros(6))"
"$M" classify --spec S.json --params Z.npz 2> z.err && bad "compressed accepted" || { grep -q "savez_compressed" z.err && ok || { bad "compressed message"; cat z.err; }; }
"$M" classify --spec S.json --params N.npz 2> n.err && bad "missing x accepted" || { grep -q 'no array "x" (it has: y)' n.err && ok || { bad "missing-x message"; cat n.err; }; }
"$M" classify --spec S.json --params T.npy --tol -1 2> t.err; [ $? = 2 ] && grep -q -- "--tol" t.err && ok || bad "bad --tol"
"$M" classify --help | grep -q "RUN.npz" && ok || bad "help"

echo "test_classify: $passed passed, $failed failed"

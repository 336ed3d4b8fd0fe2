#!/bin/sh
# spectrum --k: the K extreme Hessian eigenvalues without the matrix agree with
# the dense spectrum, write (P, K) eigenvectors, and are the way out when the
# dense request exceeds the memory budget (whose error names them).
. "$(dirname "$0")/common.sh"

$PY - <<'PYEOF'
import numpy as np
r = np.random.default_rng(0)
np.save("X.npy", r.standard_normal((50, 4)))
np.save("Y.npy", r.standard_normal((50, 2)))
PYEOF
printf '{"layers": [[12, "tanh", true], [2, "identity", true]], "input": "X.npy", "target": "Y.npy"}\n' > S.json
"$M" init --spec S.json --seed 3 -o P.npy || bad "init"
"$M" spectrum --spec S.json --params P.npy -o E.npy >/dev/null || bad "dense spectrum"
"$M" spectrum --spec S.json --params P.npy --k 4 -o Es.npy --vectors V.npy >small.json || bad "spectrum --k"
"$M" spectrum --spec S.json --params P.npy --k 3 --which largest --tol 1e-10 -o El.npy >large.json || bad "spectrum --k largest"
$PY - <<'PYEOF' && ok || bad "spectrum --k disagrees with the dense spectrum"
import json, numpy as np
E, Es, El, V = (np.load(f) for f in ("E.npy", "Es.npy", "El.npy", "V.npy"))
s = abs(E).max()
assert np.allclose(Es, E[:4], atol=1e-8 * s) and np.allclose(El, E[-3:], atol=1e-8 * s), (Es, E[:4])
assert V.shape == (E.size, 4) and np.allclose(V.T @ V, np.eye(4), atol=1e-8)
j = json.load(open("small.json"))
assert j["nhvp"] > 0 and j["max_residual"] <= 1e-8 * s and j["min"] == Es[0]
assert j["ndeflated"] == 0   # P = 86: too small beside the basis to lock top eigenvectors out
PYEOF
MLPF_MAX_BYTES=10K "$M" spectrum --spec S.json --params P.npy -o E2.npy 2>err.txt
[ $? -eq 1 ] && grep -qF 'spectrum --k K' err.txt && ok || { bad "dense over budget"; cat err.txt; }
MLPF_MAX_BYTES=10K "$M" spectrum --spec S.json --params P.npy --k 2 -o E3.npy >/dev/null && ok || bad "--k under a small budget"
"$M" spectrum --spec S.json --params P.npy --k 2 --which middle -o E4.npy 2>err.txt
[ $? -eq 2 ] && grep -qF -- '--which middle' err.txt && ok || { bad "bad --which"; cat err.txt; }
"$M" spectrum --spec S.json --params P.npy --k 999 -o E4.npy 2>err.txt
[ $? -eq 2 ] && grep -qF 'only 86 parameters' err.txt && ok || { bad "--k too large"; cat err.txt; }

echo "test_matfree: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

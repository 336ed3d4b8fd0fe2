#!/bin/sh
# Broken inputs to the mlpflow CLI: each must exit non-zero with a message that
# names the file and the field or position at fault, and must never crash
# (exit code < 128, no sanitizer report). Inputs are generated here.
M=${MLPFLOW:-build/mlpflow}
case $M in /*) ;; *) M="$PWD/$M" ;; esac
T=$(mktemp -d /tmp/mlpf_bad_XXXXXX)
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT
cd "$T" || exit 1
passed=0; failed=0

# expect CODE FRAGMENT NAME -- command...: exit code CODE, FRAGMENT on stderr
expect() {
    code=$1; frag=$2; name=$3; shift 4
    "$@" >out.txt 2>err.txt; rc=$?
    if [ "$rc" -eq "$code" ] && grep -qF -- "$frag" err.txt && \
       ! grep -qE 'Sanitizer|runtime error' err.txt && grep -q '^mlpflow: ' err.txt; then
        passed=$((passed + 1)); [ -n "$VERBOSE" ] && { printf "ok %s: " "$name"; cat err.txt; }
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $rc (want $code), want \"$frag\" in:"; cat err.txt
    fi
}

# good data: 8 samples, 2 inputs, 1 target, as CSV with a header
printf 'x1,x2\n0.1,0.2\n-1,0.5\n0.3,-0.7\n1.5,1\n-0.2,-0.1\n0.8,0.4\n-1.1,0.9\n0.05,-1.3\n' > X.csv
printf 'y\n0.3\n-0.5\n-0.4\n2.5\n-0.3\n1.2\n-0.2\n-1.25\n' > Y.csv
spec() {  # spec FILE LAYERS EXTRA: a spec on X.csv / Y.csv
    printf '{"layers": %s, "input": "X.csv", "target": "Y.csv"%s}\n' "$2" "$3" > "$1"
}
L='[[3, "tanh", true], [1, "identity", false]]'
spec S.json "$L" ''
"$M" init --spec S.json --seed 1 -o P.npy || { echo "FAIL: init on the good spec"; failed=$((failed + 1)); }

# shape mismatches between input, target, weights and the spec (each names both shapes)
printf 'y\n0.3\n-0.5\n-0.4\n' > Y3.csv
spec rows.json "$L" ''; sed -i 's/Y.csv/Y3.csv/' rows.json
expect 1 'Y3.csv (shape (3, 1)) has 3 rows but input' rows -- "$M" loss --spec rows.json --params P.npy
spec cols.json '[[3, "tanh", true], [2, "identity", false]]' ''
expect 1 'has 1 columns but the output layer (layers[1]) has 2 units' target_cols -- "$M" loss --spec cols.json --params P.npy
printf '1\n2\n3\n' > W.csv
spec w.json "$L" ', "weights": "W.csv"'
expect 1 'weights' weights -- "$M" loss --spec w.json --params P.npy
grep -qF 'W.csv (shape (3, 1))' err.txt && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL weights shape named"; cat err.txt; }
spec din.json "$L" ', "din": 3'
expect 1 'din is 3 but input' din -- "$M" loss --spec din.json --params P.npy
printf '1,2,3\n' > X3.csv
expect 1 'X3.csv has 3 columns' predict_cols -- "$M" predict --spec S.json --params P.npy --input X3.csv -o Yp.npy

# NaN / Inf in data: the message names the file, row and column
sed 's/^0.3,-0.7$/0.3,nan/' X.csv > Xnan.csv
spec nan.json "$L" ''; sed -i 's/X.csv/Xnan.csv/' nan.json
expect 1 'Xnan.csv: non-finite value nan at row 2, column 1' nan_input -- "$M" loss --spec nan.json --params P.npy
sed 's/^2.5$/inf/' Y.csv > Yinf.csv
spec inf.json "$L" ''; sed -i 's/Y.csv/Yinf.csv/' inf.json
expect 1 'Yinf.csv: non-finite value inf at row 3, column 0' inf_target -- "$M" loss --spec inf.json --params P.npy

# NaN in params
/usr/bin/python3 -c "import numpy as np; p=np.load('P.npy'); p[4]=np.nan; np.save('Pnan.npy', p)"
expect 1 'Pnan.npy: parameter 4 is nan' nan_params -- "$M" gradient --spec S.json --params Pnan.npy -o G.npy
[ ! -e G.npy ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: G.npy written on error"; }

# unknown activation; softmax in a hidden layer; poly without coefficients
spec act.json '[[3, "sigmod", true], [1, "identity", false]]' ''
expect 1 'act.json: layers[0][1]: unknown activation "sigmod"' unknown_activation -- "$M" loss --spec act.json --params P.npy
spec act2.json '[[3, ["tanh", "relu", "sigmod"], true], [1, "identity", false]]' ''
expect 1 'act2.json: layers[0][1][2]: unknown activation "sigmod"' unknown_activation_list -- "$M" init --spec act2.json -o Q.npy
spec sm.json '[[3, "softmax", true], [1, "identity", false]]' ''
expect 1 'sm.json: layers[0][1]: softmax in hidden layer 0' softmax_hidden -- "$M" init --spec sm.json -o Q.npy

# empty data: a CSV with only a header, a .npy with zero rows
printf 'x1,x2\n' > E.csv
spec empty.json "$L" ''; sed -i 's/X.csv/E.csv/' empty.json
expect 1 'E.csv: no numeric rows' empty_csv -- "$M" loss --spec empty.json --params P.npy
/usr/bin/python3 -c "import numpy as np; np.save('E.npy', np.zeros((0, 2)))"
spec empty2.json "$L" ''; sed -i 's/X.csv/E.npy/' empty2.json
expect 1 'E.npy (shape (0, 2)) is empty' empty_npy -- "$M" loss --spec empty2.json --params P.npy

# malformed JSON, with the position
printf '{"layers": [[3, "tanh", true],\n  [1, "identity", false]]\n  "input": "X.csv"}\n' > bad.json
expect 1 'bad.json: malformed JSON at line 3' malformed_json -- "$M" loss --spec bad.json --params P.npy
printf '{"layers": [[1, "identity"]], "input": "X.csv", "target": "Y.csv", "train": {"maxtme_ode": 1}}' > opt.json
expect 1 'opt.json: train.maxtme_ode: unknown train option' unknown_train_key -- "$M" train --spec opt.json -o R

# truncated .npy; bogus .npy header; wrong dtype
head -c 150 P.npy > Ptrunc.npy
expect 1 'Ptrunc.npy: truncated data' truncated_npy -- "$M" loss --spec S.json --params Ptrunc.npy
printf '\223NUMPY\001\000\072\000{"descr": "<f8", "shape": (12,), "fortran_order": Nope}  \n' > Pbogus.npy
expect 1 'Pbogus.npy: bad .npy header' bogus_npy_header -- "$M" loss --spec S.json --params Pbogus.npy
printf 'NOTNUMPY' > Pmagic.npy
expect 1 'Pmagic.npy: not a .npy file' bogus_npy_magic -- "$M" loss --spec S.json --params Pmagic.npy
/usr/bin/python3 -c "import numpy as np; np.save('Pint.npy', np.arange(12))"
expect 1 "Pint.npy: dtype '<i8' is not supported" npy_dtype -- "$M" loss --spec S.json --params Pint.npy
/usr/bin/python3 -c "import numpy as np; np.save('Pbe.npy', np.zeros(12, dtype='>f8'))"
expect 1 'Pbe.npy: big-endian' npy_big_endian -- "$M" loss --spec S.json --params Pbe.npy

# params of the wrong length
/usr/bin/python3 -c "import numpy as np; np.save('P11.npy', np.zeros(11))"
expect 1 'P11.npy: 11 values (shape (11,)) but the net has 12 parameters' params_length -- "$M" hessian --spec S.json --params P11.npy -o H.npy
expect 1 'holds 11 values but 1 start(s) of a net with 12 parameters' init_length -- "$M" train --spec S.json --init P11.npy -o R

# missing files: the spec, a data file named in the spec, the params
expect 1 'nothere.json: cannot open' missing_spec -- "$M" loss --spec nothere.json --params P.npy
spec miss.json "$L" ''; sed -i 's/Y.csv/nothere.csv/' miss.json
expect 1 'miss.json: target: nothere.csv: cannot open' missing_data -- "$M" loss --spec miss.json --params P.npy
expect 1 'nothere.npy: cannot open' missing_params -- "$M" loss --spec S.json --params nothere.npy

# teacher-student: the exact objective refuses deep students with the library's reason
printf '{"teacher": {"layers": [[2, "sigmoid2", false], [1, "identity", false]], "din": 2, "seed": 1},
 "data": {"gaussian": "exact"}, "layers": [[2, "tanh", true], [2, "tanh", true], [1, "identity", false]]}' > ts.json
expect 1 'ts.json: data: ' exact_unsupported -- "$M" init --spec ts.json -o Q.npy
printf '{"teacher": {"layers": [[2, "sigmoid2", false], [1, "identity", false]], "din": 2},
 "data": {"samples": 10}, "layers": [[2, "tanh", true], [1, "identity", false]]}' > ts2.json
expect 1 'ts2.json: teacher: need "params"' teacher_params -- "$M" init --spec ts2.json -o Q.npy

# usage errors exit 2
expect 2 'unknown option --lrr' unknown_flag -- "$M" train --spec S.json -o R --lrr 1
expect 2 '--spec S.json is required' missing_spec_flag -- "$M" loss --params P.npy
expect 2 'unknown command' unknown_command -- "$M" frobnicate
expect 2 '--lr fast: need a number' bad_flag_value -- "$M" train --spec S.json -o R --lr fast
expect 2 'bench: --activation: layer 1: unknown activation "foo"' bench_activation -- "$M" bench --activation foo
expect 2 'use --no-hessian' bench_hessian_too_big -- "$M" bench --units 10000 --din 2
expect 2 'gradient: -o FILE is required' missing_output -- "$M" gradient --spec S.json --params P.npy

# sizes over the memory budget (MLPF_MAX_BYTES) fail before allocating, naming the bytes
expect 1 'hessian: 12 parameters: the Hessian needs 1152 bytes' hessian_budget -- env MLPF_MAX_BYTES=1K "$M" hessian --spec S.json --params P.npy -o H.npy
expect 1 'bench: --samples x (--din + 1) needs 8e+13 bytes' bench_budget -- env MLPF_MAX_BYTES=1G "$M" bench --samples 100000000 --din 100000 --no-hessian

echo "test_bad_input: $passed passed, $failed failed"

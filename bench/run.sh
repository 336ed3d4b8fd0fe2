#!/bin/sh
# Runs the benchmarks side by side with their peers (see bench/README.md).
set -e
cd "$(dirname "$0")/.."
# bench/run.sh train [--quick]: the training benchmarks (train_compare.py, flow_accuracy.py)
if [ "${1:-}" = train ]; then
    shift
    /usr/bin/python3 bench/train_compare.py "$@"
    /usr/bin/python3 bench/flow_accuracy.py "$@"
    exit 0
fi
mkdir -p build/bench
# bench/run.sh gaussian: the exact infinite-data objective (no peer has it; issue targets)
if [ "${1:-}" = gaussian ]; then
    make -s lib
    cc -O2 -Iinclude -o build/bench/gaussian_bench bench/gaussian_bench.c build/libmlpflow.a \
        -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
        -llapacke -lopenblas -lsundials_arkode -lsundials_cvode -lsundials_nvecserial \
        -lsundials_sunmatrixdense -lsundials_sunlinsoldense -lnlopt -lcjson -lmvec -lm -fopenmp
    OMP_NUM_THREADS=1 build/bench/gaussian_bench
    exit 0
fi
# bench/run.sh arpack [--quick]: the 10 smallest Hessian eigenvalues, ARPACK (libarpack2-dev,
# a peer only: not reentrant) beside mlpflow's Lanczos on the trained digits nets of
# bench/README.md ("The 10 smallest eigenvalues"); the full net needs example 15's point
# (MLPF_EX15_X, default /tmp/mfree/exfull3/ex15_digits_x.npy).
if [ "${1:-}" = arpack ]; then
    make -s lib
    cc -O2 -Iinclude -o build/bench/arpack_eigs bench/arpack_eigs.c build/libmlpflow.a \
        -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
        -larpack -llapacke -lopenblas -lsundials_arkode -lsundials_cvode -lsundials_nvecserial \
        -lsundials_sunmatrixdense -lsundials_sunlinsoldense -lsundials_sunlinsolspgmr -lnlopt -lcjson \
        -lsqlite3 -lmvec -lm -fopenmp
    d=$(mktemp -d)
    /usr/bin/python3 scripts/export_digits.py "$d" >/dev/null
    /usr/bin/python3 bench/eigs_smallest.py "$d" --deflate -1 >/dev/null   # trains the P = 2410 point
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    build/bench/arpack_eigs "$d/digits_X.npy" "$d/digits_y.npy" "$d/x_24_500.npy" 24 500 1e-3 10 1e-6 6000 40 80 160
    [ "${2:-}" = --quick ] && exit 0
    build/bench/arpack_eigs "$d/digits_X.npy" "$d/digits_y.npy" "${MLPF_EX15_X:-/tmp/mfree/exfull3/ex15_digits_x.npy}" \
        256 1797 1e-2 10 1e-6 3000 160 80 40
    exit 0
fi
# the gradient floor is built for this CPU: it is the fastest the work can go here
cc -O3 -march=native -fopenmp-simd -fno-math-errno -o build/bench/grad_floor bench/grad_floor.c -lmvec -lm
# mlpflow's gradient timed like the floor's "cpu" mode (links the library as built)
make -s lib
cc -O2 -Iinclude -o build/bench/grad_cpu bench/grad_cpu.c build/libmlpflow.a \
    -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
    -llapacke -lopenblas -lsundials_arkode -lsundials_cvode -lsundials_nvecserial \
    -lsundials_sunmatrixdense -lsundials_sunlinsoldense -lsundials_sunlinsolspgmr -lnlopt -lcjson \
    -lsqlite3 -lmvec -lm -fopenmp
cc -O2 -o build/bench/dsyrk_floor bench/dsyrk_floor.c -L/usr/lib/x86_64-linux-gnu/openblas-openmp \
    -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas
dpkg-query -W python3-torch >/dev/null 2>&1 || { echo "bench: needs python3-torch (apt-get install python3-torch)" >&2; exit 1; }
/usr/bin/python3 bench/kernels.py "$@"

#!/bin/bash
# A sweep on a SLURM cluster: 4 nodes x 32 ranks; rank 0 writes the database and
# hands out runs one at a time, the other 127 ranks run them (one core each).
# Submit with   sbatch examples/slurm_sweep.sh SWEEP.json RESULTS.sqlite
# and submit the same line again after a time-out or a crash: done runs are kept,
# the rest is run (a run is recorded completely or not at all).
#SBATCH --job-name=mlpflow-sweep
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=1
#SBATCH --time=12:00:00
#SBATCH --output=mlpflow-sweep-%j.log
set -eu
SWEEP=${1:-sweep.json}
DB=${2:-results.sqlite}       # on a file system rank 0's node can write
export OMP_NUM_THREADS=1      # one core per rank; --threads sets a run's objective threads
# Debian's OpenMPI under SLURM: srun with PMIx (or: mpirun mlpflow sweep ...)
srun --mpi=pmix mlpflow sweep "$SWEEP" --db "$DB" --threads 1
mlpflow sweep-report "$DB"

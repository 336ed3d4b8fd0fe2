/* sweep_cli.h - `mlpflow sweep` and `mlpflow sweep-report`, and the MPI
   engine behind `mpirun ... mlpflow sweep` (cli/sweep_mpi.c). */
#ifndef MLPF_SWEEP_CLI_H
#define MLPF_SWEEP_CLI_H

#include "sweep/sweep.h"

int cmd_sweep(int argc, char **argv);
int cmd_sweep_report(int argc, char **argv);

/* The number of ranks this process was started with by mpirun / srun (from
   the launcher's environment, without initialising MPI); 1 otherwise. */
int sweep_mpi_ranks(void);
/* The sweep over MPI ranks: rank 0 owns the database and hands out runs one
   at a time, the others run them (objective threads o->threads). Returns the
   status of this rank. Only called when sweep_mpi_ranks() > 1. */
int sweep_mpi_run(const mlpf_sweep *s, const char *db, const mlpf_sweep_options *o,
                  mlpf_error *err);

#endif

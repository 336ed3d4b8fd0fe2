/* result_io.h - a training result on disk: RUN.json (scalars, stop reasons,
   options, version) and RUN.npz (x, init, ode_x, trajectory_t, trajectory_x,
   loss_curve). Not installed. */
#ifndef MLPF_RESULT_IO_H
#define MLPF_RESULT_IO_H

#include "io/io.h"

/* The result's scalars and the options as a JSON object (caller deletes). */
cJSON *mlpf_result_json(const mlpf_result *res, const mlpf_train_options *opt);

/* Write run + ".npz", then run + ".json", each atomically; the JSON records
   the .npz's size and CRC-32 ("npz": {"file", "bytes", "crc32"}) so that a
   reader detects a pair that does not belong together. extra (may be NULL) is
   merged into the JSON object (e.g. the spec's path and the seed); its items
   are copied. */
int mlpf_result_save(const char *run, const mlpf_result *res, const mlpf_train_options *opt,
                     const cJSON *extra, mlpf_error *err);

/* Array name ("x", "init", "trajectory_x", ...) of the run RUN, given as "RUN",
   "RUN.json" or "RUN.npz", after checking that RUN.npz is the file RUN.json
   records (size and CRC-32): a missing, partial or mismatched pair is an error. */
int mlpf_result_read_array(const char *run, const char *name, double **data, size_t shape[2],
                           int *ndim, mlpf_error *err);

#endif

/* result.h - the lifetime of a training result (mlpf_result): allocation
   here, mlpf_result_free in the public API. Not installed. */
#ifndef MLPF_RESULT_H
#define MLPF_RESULT_H

#include "internal.h"

/* A zeroed result with x, init and ode_x allocated for P parameters, or NULL
   (err set). The trajectory arrays are handed over by the driver. */
mlpf_result *mlpf_result_new(size_t P, mlpf_error *err);

#endif

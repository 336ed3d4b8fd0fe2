/* result.c - allocation and release of mlpf_result. */
#include "result/result.h"

#include <math.h>

mlpf_result *mlpf_result_new(size_t P, mlpf_error *err) {
    mlpf_result *r = mlpf_calloc(1, sizeof *r, err);
    if (!r) return NULL;
    r->nparams = P;
    r->loss_error = NAN; /* no estimate until an objective gives one */
    r->x = mlpf_malloc(P * sizeof(double), err);
    r->init = mlpf_malloc(P * sizeof(double), err);
    r->ode_x = mlpf_malloc(P * sizeof(double), err);
    if (!r->x || !r->init || !r->ode_x) {
        mlpf_result_free(r);
        return NULL;
    }
    return r;
}

void mlpf_result_free(mlpf_result *r) {
    if (!r) return;
    free(r->x);
    free(r->init);
    free(r->ode_x);
    free(r->trajectory_t);
    free(r->trajectory_x);
    free(r->loss_curve);
    free(r);
}

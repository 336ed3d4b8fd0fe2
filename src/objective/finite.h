/* finite.h - the finite-data objective's context, shared by its kernels
   (finite.c: loss, gradient, Hessian) and the Hessian-vector product (hvp.c). */
#ifndef MLPF_OBJECTIVE_FINITE_H
#define MLPF_OBJECTIVE_FINITE_H

#include "internal.h"

typedef struct {
    mlpf_net *net;
    size_t n;
    double *input;     /* (n, din) */
    double *target;    /* (n, tcols) */
    size_t tcols;
    double *weights;   /* (n) or NULL */
    int labels;        /* cross-entropy with integer labels in target (n, 1) */
    mlpf_loss_kind loss;
    int threads;
    int maxu;          /* widest layer (incl. din) */
} finite_data;

/* The Hessian-vector product of the finite objective (hvp.c): hv (P) = H(x) v. */
int mlpf_finite_hvp(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                    const double *v, double *hv, mlpf_error *err);

#endif

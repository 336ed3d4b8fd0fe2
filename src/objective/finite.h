/* finite.h - the finite-data objective's context, shared by its kernels
   (finite.c: loss, gradient, Hessian) and the Hessian-vector product (hvp.c). */
#ifndef MLPF_OBJECTIVE_FINITE_H
#define MLPF_OBJECTIVE_FINITE_H

#include "internal.h"

#include <stdatomic.h>

/* Buffers kept between calls (finite.c): per-thread chunk workspaces and the slab
   accumulators, so a call does not pay for allocation and first-touch page faults
   (they dominate small and threaded calls). Lock-free slots: a call takes a buffer by
   swapping NULL in and puts it back into an empty slot (or frees it), so concurrent
   calls never share one. Freed with the objective. One slot per thread of a big node
   (a call needs one workspace per thread and one slab block); beyond that, blocks are
   freed and allocated per call as before. Memory kept between calls: at most what the
   largest call used at its peak. */
#define MLPF_FINITE_CACHE 128

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
    _Atomic(void *) cache[MLPF_FINITE_CACHE]; /* cached chunk_ws and slab blocks, see above */
} finite_data;

/* The Hessian-vector product of the finite objective (hvp.c): hv (P) = H(x) v. */
int mlpf_finite_hvp(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                    const double *v, double *hv, mlpf_error *err);

/* How an evaluation of n samples is cut (finite.c): chunks of `rows` samples, runs of
   `per_slab` chunks sharing one accumulator, `slabs` runs. Depends on n, P and the layer
   widths only, never on the thread count (the sums' order, hence bit-identical results). */
typedef struct {
    size_t rows, chunks, per_slab, slabs;
} mlpf_finite_layout;

mlpf_finite_layout mlpf_finite_layout_of(const finite_data *f, size_t n, int want_hess);

#endif

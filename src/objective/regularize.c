/* regularize.c - regularisers as an objective wrapper: the norm barrier and the
   merge penalty are added to whatever objective they wrap, so every dynamics
   sees one objective (product.md: regularisers wrap, they are not special cases). */
#include "internal.h"

#include <math.h>
#include <string.h>

typedef struct {
    const mlpf_objective *base;
    double maxnorm;
    mlpf_merge *merges;
    size_t nmerges;
    size_t *row_offset; /* (nmerges) first index of row i; row j follows from the stride */
    int *row_len;       /* (nmerges) inputs + bias of the merged layer */
} regularized;

static void regularized_free(void *ctx) {
    regularized *r = ctx;
    if (!r) return;
    free(r->merges);
    free(r->row_offset);
    free(r->row_len);
    free(r);
}

/* Norm barrier: |x| = sum x_i^2 / (2P), penalty (|x| - c)^3 / 3 above c. */
static void add_barrier(const regularized *r, const double *x, size_t p, double *loss,
                        double *grad, double *hess) {
    double nrm = 0;
    for (size_t i = 0; i < p; i++) nrm += x[i] * x[i];
    nrm /= 2.0 * (double)p;
    double e = nrm - r->maxnorm;
    if (!(e > 0)) return;
    if (loss) *loss += e * e * e / 3.0;
    if (grad)
        for (size_t i = 0; i < p; i++) grad[i] += e * e * x[i] / (double)p;
    if (hess) {
        double c1 = 2.0 * e / ((double)p * (double)p), c2 = e * e / (double)p;
        for (size_t i = 0; i < p; i++) {
            for (size_t j = 0; j < p; j++) hess[i * p + j] += c1 * (x[i] * x[j]); /* same rounding on both sides */
            hess[i * p + i] += c2;
        }
    }
}

/* Merge penalty: lambda/2 sum_c (W_ic - W_jc)^2 over the layer's row of weights and bias. */
static void add_merges(const regularized *r, const double *x, size_t p, double *loss,
                       double *grad, double *hess) {
    for (size_t m = 0; m < r->nmerges; m++) {
        const mlpf_merge *mg = &r->merges[m];
        size_t oi = r->row_offset[m] + (size_t)mg->i * (size_t)r->row_len[m];
        size_t oj = r->row_offset[m] + (size_t)mg->j * (size_t)r->row_len[m];
        for (int c = 0; c < r->row_len[m]; c++) {
            size_t a = oi + (size_t)c, b = oj + (size_t)c;
            double d = x[a] - x[b];
            if (loss) *loss += 0.5 * mg->lambda * d * d;
            if (grad) { grad[a] += mg->lambda * d; grad[b] -= mg->lambda * d; }
            if (hess) {
                hess[a * p + a] += mg->lambda; hess[b * p + b] += mg->lambda;
                hess[a * p + b] -= mg->lambda; hess[b * p + a] -= mg->lambda;
            }
        }
    }
}

static int regularized_eval(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                            double *loss, double *grad, double *hess, mlpf_error *err) {
    const regularized *r = ctx;
    int st = r->base->ops.eval(r->base->ctx, x, subset, nsubset, loss, grad, hess, err);
    if (st) return st;
    size_t p = r->base->ops.nparams;
    if (isfinite(r->maxnorm)) add_barrier(r, x, p, loss, grad, hess);
    add_merges(r, x, p, loss, grad, hess);
    return MLPF_OK;
}

/* hv = (H_base + H_barrier + H_merge) v: the penalties' Hessians are rank one
   plus diagonal (barrier) and 2 x 2 blocks (merges), applied without a matrix. */
static int regularized_hvp(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                           const double *v, double *hv, mlpf_error *err) {
    const regularized *r = ctx;
    int st = mlpf_objective_hvp_subset(r->base, x, subset, nsubset, v, hv, err);
    if (st) return st;
    size_t p = r->base->ops.nparams;
    double nrm = 0, xv = 0;
    for (size_t i = 0; i < p; i++) { nrm += x[i] * x[i]; xv += x[i] * v[i]; }
    double e = nrm / (2.0 * (double)p) - r->maxnorm;
    if (isfinite(r->maxnorm) && e > 0) {
        double c1 = 2.0 * e / ((double)p * (double)p) * xv, c2 = e * e / (double)p;
        for (size_t i = 0; i < p; i++) hv[i] += c1 * x[i] + c2 * v[i];
    }
    for (size_t m = 0; m < r->nmerges; m++) {
        const mlpf_merge *mg = &r->merges[m];
        size_t oi = r->row_offset[m] + (size_t)mg->i * (size_t)r->row_len[m];
        size_t oj = r->row_offset[m] + (size_t)mg->j * (size_t)r->row_len[m];
        for (int c = 0; c < r->row_len[m]; c++) {
            double d = mg->lambda * (v[oi + (size_t)c] - v[oj + (size_t)c]);
            hv[oi + (size_t)c] += d;
            hv[oj + (size_t)c] -= d;
        }
    }
    return MLPF_OK;
}

mlpf_objective *mlpf_objective_regularized(const mlpf_objective *base, double maxnorm,
                                           const mlpf_merge *merges, size_t nmerges,
                                           mlpf_error *err) {
    if (!base) { mlpf_fail(err, MLPF_EINVAL, "regularized: base objective is NULL"); return NULL; }
    if (isnan(maxnorm) || maxnorm < 0) {
        mlpf_fail(err, MLPF_EINVAL, "maxnorm must be >= 0 (or infinity to disable), got %g", maxnorm);
        return NULL;
    }
    const mlpf_net *net = base->net;
    if (nmerges && !net) {
        mlpf_fail(err, MLPF_EINVAL, "merge penalty needs an objective with a network");
        return NULL;
    }
    regularized *r = mlpf_calloc(1, sizeof *r, err);
    if (!r) return NULL;
    r->base = base;
    r->maxnorm = maxnorm;
    r->nmerges = nmerges;
    if (nmerges) {
        r->merges = mlpf_malloc(nmerges * sizeof *r->merges, err);
        r->row_offset = mlpf_malloc(nmerges * sizeof *r->row_offset, err);
        r->row_len = mlpf_malloc(nmerges * sizeof *r->row_len, err);
        if (!r->merges || !r->row_offset || !r->row_len) { regularized_free(r); return NULL; }
        memcpy(r->merges, merges, nmerges * sizeof *merges);
        for (size_t m = 0; m < nmerges; m++) {
            const mlpf_merge *mg = &merges[m];
            int st = MLPF_OK;
            if (mg->layer < 0 || mg->layer >= net->nlayers)
                st = mlpf_fail(err, MLPF_EINVAL, "merge[%zu]: layer %d does not exist (the net has %d layers, counted from 0)", m, mg->layer, net->nlayers);
            else if (mg->i < 0 || mg->j < 0 || mg->i >= net->layers[mg->layer].units || mg->j >= net->layers[mg->layer].units || mg->i == mg->j)
                st = mlpf_fail(err, MLPF_EINVAL, "merge[%zu]: neurons %d and %d are not two distinct units of layer %d (%d units)", m, mg->i, mg->j, mg->layer, net->layers[mg->layer].units);
            else if (!isfinite(mg->lambda) || mg->lambda < 0)
                st = mlpf_fail(err, MLPF_EINVAL, "merge[%zu]: lambda must be finite and >= 0, got %g", m, mg->lambda);
            if (st) { regularized_free(r); return NULL; }
            r->row_offset[m] = net->layers[mg->layer].offset;
            r->row_len[m] = net->layers[mg->layer].inputs + net->layers[mg->layer].bias;
        }
    }
    mlpf_objective_ops ops = {.name = "regularized", .nparams = base->ops.nparams,
                              .nsamples = base->ops.nsamples, .eval = regularized_eval,
                              .free_ctx = regularized_free};
    mlpf_objective *obj = mlpf_objective_custom(&ops, r, err);
    if (obj) obj->net = net, obj->hvp = regularized_hvp;
    return obj;
}

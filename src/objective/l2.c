/* l2.c - the L2 (weight-decay) regulariser as an objective wrapper:
   loss + lambda/2 |x|^2, gradient + lambda x, Hessian + lambda I, product
   + lambda v. Its use: softmax cross-entropy on separable data has no minimum
   at finite weights (the infimum 0 lies at infinity); any lambda > 0 makes the
   sum coercive, so a true minimum (and critical points to classify) exists. */
#include "internal.h"

#include <math.h>

typedef struct {
    const mlpf_objective *base;
    double lambda;
} l2_wrap;

static int l2_eval(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                   double *loss, double *grad, double *hess, mlpf_error *err) {
    const l2_wrap *r = ctx;
    int st = r->base->ops.eval(r->base->ctx, x, subset, nsubset, loss, grad, hess, err);
    if (st) return st;
    size_t p = r->base->ops.nparams;
    if (loss) {
        double s = 0;
        for (size_t i = 0; i < p; i++) s += x[i] * x[i];
        *loss += 0.5 * r->lambda * s;
    }
    if (grad)
        for (size_t i = 0; i < p; i++) grad[i] += r->lambda * x[i];
    if (hess)
        for (size_t i = 0; i < p; i++) hess[i * p + i] += r->lambda;
    return MLPF_OK;
}

static int l2_hvp(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                  const double *v, double *hv, mlpf_error *err) {
    const l2_wrap *r = ctx;
    int st = mlpf_objective_hvp_subset(r->base, x, subset, nsubset, v, hv, err);
    if (st) return st;
    for (size_t i = 0; i < r->base->ops.nparams; i++) hv[i] += r->lambda * v[i];
    return MLPF_OK;
}

mlpf_objective *mlpf_objective_l2(const mlpf_objective *base, double lambda, mlpf_error *err) {
    if (!base) { mlpf_fail(err, MLPF_EINVAL, "l2: base objective is NULL"); return NULL; }
    if (!isfinite(lambda) || lambda < 0) {
        mlpf_fail(err, MLPF_EINVAL, "l2: lambda must be finite and >= 0, got %g", lambda);
        return NULL;
    }
    l2_wrap *r = mlpf_calloc(1, sizeof *r, err);
    if (!r) return NULL;
    r->base = base;
    r->lambda = lambda;
    mlpf_objective_ops ops = {.name = "l2", .nparams = base->ops.nparams,
                              .nsamples = base->ops.nsamples, .eval = l2_eval,
                              .free_ctx = free};
    mlpf_objective *obj = mlpf_objective_custom(&ops, r, err);
    if (obj) obj->net = base->net, obj->hvp = l2_hvp;
    return obj;
}

/* hvp_dispatch.c - the one entry point for Hessian-vector products
   (mlpf_objective_hvp) and the guard of dense P x P requests: an objective's
   own matrix-free product when it has one, its dense Hessian when that fits
   the memory budget, a clear error naming the matrix-free tools otherwise. */
#include "internal.h"

#include <cblas.h>
#include <string.h>

int mlpf_check_dense(const char *what, size_t P, mlpf_error *err) {
    size_t budget = 0;
    int st = mlpf_memory_budget(&budget, err);
    if (st) return st;
    double bytes = 8.0 * (double)P * (double)P;
    if (bytes <= (double)budget) return MLPF_OK;
    return mlpf_fail(err, MLPF_ENOMEM,
                     "%s: a dense %zu x %zu matrix needs %.4g bytes (%.3g GiB), more than the "
                     "memory budget of %zu bytes (MLPF_MAX_BYTES); use the matrix-free tools "
                     "instead: mlpf_objective_hvp, mlpf_hessian_eigs (Python "
                     "mf.hessian_spectrum(net, x, k=...)), mlpf_hessian_slq, "
                     "optim_solver \"newtonkrylov\"",
                     what, P, P, bytes, bytes / 1073741824.0, budget);
}

/* hv = H v through the dense Hessian, for objectives without their own product. */
static int dense_hvp(const mlpf_objective *obj, const double *x, const size_t *subset,
                     size_t nsubset, const double *v, double *hv, mlpf_error *err) {
    size_t P = obj->ops.nparams;
    int st = mlpf_check_dense("Hessian-vector product (this objective has no matrix-free one)", P, err);
    if (st) return st;
    double *H = mlpf_malloc(P * P * sizeof *H, err);
    if (!H) return MLPF_ENOMEM;
    st = obj->ops.eval(obj->ctx, x, subset, nsubset, NULL, NULL, H, err);
    if (!st) cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)P, (int)P, 1.0, H, (int)P, v, 1, 0.0, hv, 1);
    free(H);
    return st;
}

int mlpf_objective_hvp_subset(const mlpf_objective *obj, const double *x, const size_t *subset,
                              size_t nsubset, const double *v, double *hv, mlpf_error *err) {
    if (!obj || !x || !v || !hv)
        return mlpf_fail(err, MLPF_EINVAL, "hvp: objective, x, v and hv must not be NULL");
    size_t P = obj->ops.nparams;
    size_t bad = mlpf_first_nonfinite(v, P);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "hvp: v[%zu] is not finite (%g)", bad - 1, v[bad - 1]);
    int st = mlpf_objective_check_call(obj, x, subset, nsubset, err);
    if (st) return st;
    if (obj->hvp) return obj->hvp(obj->ctx, x, subset, subset ? nsubset : 0, v, hv, err);
    return dense_hvp(obj, x, subset, subset ? nsubset : 0, v, hv, err);
}

int mlpf_objective_set_hvp(mlpf_objective *obj, mlpf_hvp_fn hvp, mlpf_error *err) {
    if (!obj) return mlpf_fail(err, MLPF_EINVAL, "set_hvp: objective is NULL");
    obj->hvp = hvp;
    return MLPF_OK;
}

int mlpf_objective_hvp(const mlpf_objective *obj, const double *x, const double *v, double *hv,
                       mlpf_error *err) {
    return mlpf_objective_hvp_subset(obj, x, NULL, 0, v, hv, err);
}

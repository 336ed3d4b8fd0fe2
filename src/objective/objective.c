/* objective.c - the one objective interface: every objective (finite data,
   infinite Gaussian data, regularised wrappers, user code) is an ops table and a
   context, evaluated through mlpf_objective_eval. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

mlpf_objective *mlpf_objective_custom(const mlpf_objective_ops *ops, void *ctx, mlpf_error *err) {
    if (!ops || !ops->eval || ops->nparams == 0) {
        mlpf_fail(err, MLPF_EINVAL, "objective ops need an eval function and nparams >= 1");
        if (ops && ops->free_ctx) ops->free_ctx(ctx);
        return NULL;
    }
    mlpf_objective *obj = mlpf_calloc(1, sizeof *obj, err);
    if (!obj) {
        if (ops->free_ctx) ops->free_ctx(ctx);
        return NULL;
    }
    obj->ops = *ops;
    if (!obj->ops.name) obj->ops.name = "custom";
    obj->ctx = ctx;
    return obj;
}

void mlpf_objective_free(mlpf_objective *obj) {
    if (!obj) return;
    if (obj->ops.free_ctx) obj->ops.free_ctx(obj->ctx);
    free(obj);
}

size_t mlpf_objective_nparams(const mlpf_objective *obj) { return obj->ops.nparams; }
size_t mlpf_objective_nsamples(const mlpf_objective *obj) { return obj->ops.nsamples; }
const char *mlpf_objective_name(const mlpf_objective *obj) { return obj->ops.name; }
const mlpf_net *mlpf_objective_net(const mlpf_objective *obj) { return obj->net; }

int mlpf_objective_check_call(const mlpf_objective *obj, const double *x, const size_t *subset,
                              size_t nsubset, mlpf_error *err) {
    if (!obj || !x) return mlpf_fail(err, MLPF_EINVAL, "objective and parameters must not be NULL");
    size_t bad = mlpf_first_nonfinite(x, obj->ops.nparams);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "parameter %zu is not finite (%g)", bad - 1, x[bad - 1]);
    if (subset) {
        if (obj->ops.nsamples == 0)
            return mlpf_fail(err, MLPF_EUNSUPPORTED,
                             "objective \"%s\" has no finite sample set to take a subset of", obj->ops.name);
        if (nsubset == 0) return mlpf_fail(err, MLPF_EINVAL, "empty sample subset");
        for (size_t i = 0; i < nsubset; i++)
            if (subset[i] >= obj->ops.nsamples)
                return mlpf_fail(err, MLPF_EINVAL, "subset[%zu] = %zu is not a sample index (N = %zu)",
                                 i, subset[i], obj->ops.nsamples);
    }
    return MLPF_OK;
}

int mlpf_objective_eval_subset(const mlpf_objective *obj, const double *x, const size_t *subset,
                               size_t nsubset, double *loss, double *grad, double *hess,
                               mlpf_error *err) {
    int st = mlpf_objective_check_call(obj, x, subset, nsubset, err);
    if (!st && hess) {
        char what[96];
        snprintf(what, sizeof what, "the Hessian of objective \"%s\"", obj->ops.name);
        st = mlpf_check_dense(what, obj->ops.nparams, err);
    }
    if (st) return st;
    return obj->ops.eval(obj->ctx, x, subset, subset ? nsubset : 0, loss, grad, hess, err);
}

int mlpf_objective_eval(const mlpf_objective *obj, const double *x, double *loss, double *grad,
                        double *hess, mlpf_error *err) {
    return mlpf_objective_eval_subset(obj, x, NULL, 0, loss, grad, hess, err);
}

int mlpf_objective_loss_error(const mlpf_objective *obj, const double *x, double *loss_error,
                              mlpf_error *err) {
    if (!obj || !x || !loss_error)
        return mlpf_fail(err, MLPF_EINVAL, "mlpf_objective_loss_error: obj, x and loss_error are required");
    *loss_error = NAN;
    int st = mlpf_objective_check_call(obj, x, NULL, 0, err);
    if (st || !obj->loss_error) return st;
    return obj->loss_error(obj->ctx, x, loss_error, err);
}

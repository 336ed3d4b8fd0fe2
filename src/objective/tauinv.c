/* tauinv.c - the tauinv change of variables as an objective wrapper (see
   tauinv.h): loss, gradient and Hessian of y from those of x by the chain
   rule, grad_y = scale * grad_x[idx], H_y = scale scale^T * H_x[idx, idx]. */
#include "objective/tauinv.h"

#include <math.h>
#include <string.h>

typedef struct {
    const mlpf_objective *base;
    const mlpf_tauinv *t;
} tau_ctx;

static void tau_ctx_free(void *c) { free(c); }

/* x (P) from y (p). */
static void tau_x(const mlpf_tauinv *t, const double *y, double *x) {
    memcpy(x, t->xfix, t->P * sizeof *x);
    for (size_t i = 0; i < t->p; i++) x[t->idx[i]] = t->scale[i] * y[i];
}

/* hy (p, p) = scale_i scale_j hx[idx_i, idx_j], hx (P, P). */
static void tau_hess(const mlpf_tauinv *t, const double *hx, double *hy) {
    size_t P = t->P, p = t->p;
    for (size_t i = 0; i < p; i++) {
        const double *row = hx + t->idx[i] * P;
        for (size_t j = 0; j < p; j++) hy[i * p + j] = t->scale[i] * t->scale[j] * row[t->idx[j]];
    }
}

static int tau_eval(void *c, const double *y, const size_t *subset, size_t nsubset, double *loss,
                    double *grad, double *hess, mlpf_error *err) {
    const tau_ctx *tc = c;
    const mlpf_tauinv *t = tc->t;
    size_t P = t->P;
    double *x = mlpf_malloc(P * sizeof *x, err);
    double *gx = grad ? mlpf_malloc(P * sizeof *gx, err) : NULL;
    double *hx = hess ? mlpf_malloc(P * P * sizeof *hx, err) : NULL;
    int st = MLPF_ENOMEM;
    if (!x || (grad && !gx) || (hess && !hx)) goto done;
    tau_x(t, y, x);
    st = mlpf_objective_eval_subset(tc->base, x, subset, nsubset, loss, gx, hx, err);
    if (st) goto done;
    if (grad)
        for (size_t i = 0; i < t->p; i++) grad[i] = t->scale[i] * gx[t->idx[i]];
    if (hess) tau_hess(t, hx, hess);
done:
    free(x);
    free(gx);
    free(hx);
    return st;
}

void mlpf_tauinv_free(mlpf_tauinv *t) {
    if (!t) return;
    mlpf_objective_free(t->obj);
    free(t->idx);
    free(t->scale);
    free(t->xfix);
    free(t);
}

/* MLPF_OK when tauinv is usable; *all_one tells whether it changes anything. */
static int tau_check(const double *tauinv, size_t n, size_t P, int *all_one, mlpf_error *err) {
    *all_one = 1;
    if (!tauinv) {
        if (n > 0)
            return mlpf_fail(err, MLPF_EINVAL, "train options: tauinv is NULL but ntauinv = %zu", n);
        return MLPF_OK;
    }
    if (n != 1 && n != P)
        return mlpf_fail(err, MLPF_EINVAL,
                         "train options: ntauinv = %zu, expected 1 (scalar) or %zu (one per "
                         "parameter)",
                         n, P);
    for (size_t i = 0; i < n; i++) {
        double v = tauinv[i];
        if (!isfinite(v) || v < 0)
            return mlpf_fail(err, MLPF_EINVAL,
                             "train options: tauinv[%zu] = %g, must be finite and >= 0", i, v);
        if (v != 1) *all_one = 0;
    }
    return MLPF_OK;
}

/* The free parameters and their scales. */
static void tau_index(mlpf_tauinv *t, const double *tauinv, size_t n) {
    for (size_t i = 0; i < t->P; i++) {
        double v = tauinv[n == 1 ? 0 : i];
        if (v > 0) {
            t->idx[t->p] = i;
            t->scale[t->p] = sqrt(v);
            t->p++;
        }
    }
}

int mlpf_tauinv_create(const mlpf_objective *base, const double *x0, const double *tauinv,
                       size_t ntauinv, mlpf_tauinv **out, mlpf_error *err) {
    size_t P = mlpf_objective_nparams(base);
    int all_one;
    *out = NULL;
    int st = tau_check(tauinv, ntauinv, P, &all_one, err);
    if (st || all_one) return st;
    mlpf_tauinv *t = mlpf_calloc(1, sizeof *t, err);
    if (!t) return MLPF_ENOMEM;
    t->P = P;
    t->idx = mlpf_malloc(P * sizeof *t->idx, err);
    t->scale = mlpf_malloc(P * sizeof *t->scale, err);
    t->xfix = mlpf_malloc(P * sizeof *t->xfix, err);
    if (!t->idx || !t->scale || !t->xfix) {
        mlpf_tauinv_free(t);
        return MLPF_ENOMEM;
    }
    memcpy(t->xfix, x0, P * sizeof *x0);
    tau_index(t, tauinv, ntauinv);
    if (t->p > 0) { /* everything frozen needs no objective */
        tau_ctx *c = mlpf_malloc(sizeof *c, err);
        if (!c) {
            mlpf_tauinv_free(t);
            return MLPF_ENOMEM;
        }
        c->base = base;
        c->t = t;
        mlpf_objective_ops ops = {"tauinv", t->p, mlpf_objective_nsamples(base), tau_eval,
                                  tau_ctx_free};
        t->obj = mlpf_objective_custom(&ops, c, err); /* frees c on failure */
        if (!t->obj) {
            mlpf_tauinv_free(t);
            return err && err->status ? err->status : MLPF_ENOMEM;
        }
    }
    *out = t;
    return MLPF_OK;
}

/* critical_krylov.c - mlpf_find_critical_point without the P x P Hessian:
   the same Levenberg-Marquardt on f = |g|^2 / 2 as critical.c, its step
   (H^2 + mu I) d = -H g solved by conjugate gradients, each iteration two
   Hessian-vector products (H^2 + mu I is positive definite for mu > 0 whatever
   the index of the critical point). Used above the size where classify goes
   matrix-free (mlpf_classify_use_krylov). */
#include "analysis/analysis.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    size_t p;
    double *g, *b, *d, *r, *q, *aq, *t, *xn, *gn; /* (p) each */
    double mu_floor;   /* 1e-12 |H|^2: CG on H^2 + mu I stays solvable in double */
} lmk_ws;

static double dotk(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double inf_normk(const double *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

/* out = (H^2 + mu I) v, t scratch (p). */
static int normal_op(const mlpf_objective *obj, const double *x, double mu, const double *v, double *t,
                     double *out, size_t p, mlpf_error *err) {
    int st = mlpf_objective_hvp(obj, x, v, t, err);
    if (!st) st = mlpf_objective_hvp(obj, x, t, out, err);
    for (size_t i = 0; i < p && !st; i++) out[i] += mu * v[i];
    return st;
}

/* CG for (H^2 + mu I) d = b, from d = 0, to |r| <= 1e-10 |b| or p + 1 (at most 500) iterations. */
static int lm_cg(const mlpf_objective *obj, const double *x, double mu, lmk_ws *w, mlpf_error *err) {
    size_t p = w->p;
    memset(w->d, 0, p * sizeof *w->d);
    memcpy(w->r, w->b, p * sizeof *w->r);
    memcpy(w->q, w->b, p * sizeof *w->q);
    double rr = dotk(w->r, w->r, p), stop = 1e-20 * rr;
    long maxit = 5 * p < 500 ? 5 * (long)p : 500;
    for (long k = 0; k < maxit && rr > stop; k++) {
        int st = normal_op(obj, x, mu, w->q, w->t, w->aq, p, err);
        if (st) return st;
        double alpha = rr / dotk(w->q, w->aq, p);
        for (size_t i = 0; i < p; i++) { w->d[i] += alpha * w->q[i]; w->r[i] -= alpha * w->aq[i]; }
        double rr_new = dotk(w->r, w->r, p);
        for (size_t i = 0; i < p; i++) w->q[i] = w->r[i] + rr_new / rr * w->q[i];
        rr = rr_new;
    }
    return MLPF_OK;
}

/* One outer iteration: raise mu until a step lowers |g|_2. 0 when none does. */
static int lmk_iterate(const mlpf_objective *obj, double *x, lmk_ws *w, double *mu, double *loss,
                       int *st, mlpf_error *err) {
    size_t p = w->p;
    double gg = dotk(w->g, w->g, p);
    if ((*st = mlpf_objective_hvp(obj, x, w->g, w->b, err))) return 0;
    for (size_t i = 0; i < p; i++) w->b[i] = -w->b[i];
    for (int tries = 0; tries < 60; tries++) {
        if ((*st = lm_cg(obj, x, *mu, w, err))) return 0;
        double dd = dotk(w->d, w->d, p), xx = dotk(x, x, p);
        if (dd <= DBL_EPSILON * DBL_EPSILON * fmax(xx, 1e-300)) return 0;
        for (size_t i = 0; i < p; i++) w->xn[i] = x[i] + w->d[i];
        double ln = NAN;
        int est = mlpf_objective_eval(obj, w->xn, &ln, w->gn, NULL, err);
        if (est && est != MLPF_ENONFINITE) { *st = est; return 0; }
        if (!est && dotk(w->gn, w->gn, p) < gg) {
            memcpy(x, w->xn, p * sizeof *x);
            memcpy(w->g, w->gn, p * sizeof *w->g);
            *loss = ln;
            *mu = fmax(*mu / 3, w->mu_floor);
            return 1;
        }
        *mu *= 4;
    }
    return 0;
}

int mlpf_critical_krylov(const mlpf_objective *obj, const double *x0, const mlpf_critical_options *opt,
                         double *x, mlpf_critical_info *info, mlpf_error *err) {
    size_t p = mlpf_objective_nparams(obj);
    lmk_ws w = {.p = p};
    w.g = mlpf_malloc(9 * p * sizeof(double), err);
    if (!w.g) return MLPF_ENOMEM;
    w.b = w.g + p, w.d = w.b + p, w.r = w.d + p, w.q = w.r + p, w.aq = w.q + p, w.t = w.aq + p;
    w.xn = w.t + p, w.gn = w.xn + p;
    if (x != x0) memmove(x, x0, p * sizeof *x);
    double loss = NAN, top = 0;
    mlpf_eigs_options eo = {.tol = 1e-3};
    int st = mlpf_objective_eval(obj, x, &loss, w.g, NULL, err);
    if (!st) st = mlpf_hessian_eigs(obj, x, 1, MLPF_EIGS_LARGEST, &eo, &top, NULL, NULL, NULL, err);
    double mu = fmax(1e-8 * top * top, DBL_MIN);
    w.mu_floor = fmax(1e-12 * top * top, DBL_MIN);
    long it = 0;
    const char *why = "maxiter";
    while (!st) {
        if (inf_normk(w.g, p) <= opt->gtol) { why = "gtol"; break; }
        if (it >= opt->maxiter) break;
        it++;
        if (!lmk_iterate(obj, x, &w, &mu, &loss, &st, err)) {
            if (!st) why = "stalled";
            break;
        }
    }
    if (!st && info) {
        info->loss = loss;
        info->gnorm = inf_normk(w.g, p);
        info->iterations = it;
        snprintf(info->stopped_by, sizeof info->stopped_by, "%s", why);
    }
    free(w.g);
    return st;
}

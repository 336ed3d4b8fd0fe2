/* critical.c - Newton-type search for critical points of any index:
   Levenberg-Marquardt on f = |g|^2 / 2 with the exact Hessian (see
   mlpf_find_critical_point in mlpflow.h). In the eigenbasis H = V diag(lam) V^T
   the step is d = -V diag(lam / (lam^2 + mu)) V^T g: Newton's step -H^-1 g for
   mu -> 0, a short gradient step on f for large mu. The model of g at x + d is
   g + H d, so the predicted decrease of f is f - |g + H d|^2 / 2. */
#include "analysis/analysis.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void mlpf_critical_options_default(mlpf_critical_options *opt) {
    opt->gtol = 1e-15;
    opt->maxiter = 500;
}

typedef struct {
    size_t p;
    double *g, *H, *lam, *V, *gt, *d, *xn, *gn; /* gt = V^T g (eigen coordinates) */
} lm_ws;

static int ws_alloc(lm_ws *w, size_t p, mlpf_error *err) {
    memset(w, 0, sizeof *w);
    w->p = p;
    w->H = mlpf_malloc(2 * p * p * sizeof(double), err);
    w->g = mlpf_malloc(6 * p * sizeof(double), err);
    if (!w->H || !w->g) return MLPF_ENOMEM;
    w->V = w->H + p * p;
    w->lam = w->g + p, w->gt = w->g + 2 * p, w->d = w->g + 3 * p, w->xn = w->g + 4 * p, w->gn = w->g + 5 * p;
    return MLPF_OK;
}

static void ws_free(lm_ws *w) {
    free(w->H);
    free(w->g);
}

static double inf_norm(const double *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

static double half_sq(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i] * v[i];
    return 0.5 * s;
}

/* H, its eigen decomposition and g in eigen coordinates at x */
static int linearize(const mlpf_objective *obj, const double *x, lm_ws *w, double *loss,
                     mlpf_error *err) {
    size_t p = w->p;
    int st = mlpf_objective_eval(obj, x, loss, w->g, w->H, err);
    if (!st) st = mlpf_spectrum(w->H, p, w->lam, w->V, err);
    if (st) return st;
    for (size_t k = 0; k < p; k++) {
        double s = 0;
        for (size_t i = 0; i < p; i++) s += w->V[i * p + k] * w->g[i];
        w->gt[k] = s;
    }
    return MLPF_OK;
}

/* LM step d for damping mu; returns the predicted decrease of f. Eigenvalues
   within the rounding band of H (P eps |H|) get no step: they are flat
   directions, and dividing by their noise would throw x away. */
static double lm_step(const lm_ws *w, double mu, double *d) {
    size_t p = w->p;
    double h_round = (double)p * DBL_EPSILON * mlpf_spectral_norm(w->lam, p), pred = 0;
    memset(d, 0, p * sizeof *d);
    for (size_t k = 0; k < p; k++) {
        double l = w->lam[k];
        if (!(fabs(l) > h_round)) {
            continue;
        }
        double c = -l * w->gt[k] / (l * l + mu);
        /* model residual in this coordinate: gt + l c */
        double r = w->gt[k] + l * c;
        pred += 0.5 * (w->gt[k] * w->gt[k] - r * r);
        for (size_t i = 0; i < p; i++) d[i] += c * w->V[i * p + k];
    }
    return pred;
}

static void info_set(mlpf_critical_info *info, double loss, double gnorm, long it, const char *why) {
    if (!info) return;
    info->loss = loss;
    info->gnorm = gnorm;
    info->iterations = it;
    snprintf(info->stopped_by, sizeof info->stopped_by, "%s", why);
}

/* Try the step for damping mu; accept it when |g| decreases. */
static int try_step(const mlpf_objective *obj, double *x, lm_ws *w, double mu, double *rho,
                    double *loss, mlpf_error *err, int *st) {
    size_t p = w->p;
    double f = half_sq(w->g, p), pred = lm_step(w, mu, w->d);
    if (!(pred > 0)) return 0;
    for (size_t i = 0; i < p; i++) w->xn[i] = x[i] + w->d[i];
    double ln;
    *st = mlpf_objective_eval(obj, w->xn, &ln, w->gn, NULL, err);
    if (*st) return 0;
    double fn = half_sq(w->gn, p);
    *rho = (f - fn) / pred;
    if (!(fn < f)) return 0;
    memcpy(x, w->xn, p * sizeof *x);
    *loss = ln;
    return 1;
}

/* One outer iteration: steps with growing mu until |g| decreases, Nielsen's
   damping update after a success. When even the shortest damped steps fail,
   the undamped Newton step gets one try: near a degenerate critical point
   (eigenvalues far below mu^(1/2)) it is the only step that moves along the
   slow directions. Returns 1 when a step was taken, 0 when stalled. */
static int lm_iterate(const mlpf_objective *obj, double *x, lm_ws *w, double *mu, double *nu,
                      double *loss, mlpf_error *err, int *st) {
    double lmax2 = mlpf_spectral_norm(w->lam, w->p), rho = 0;
    lmax2 *= lmax2;
    /* mu beyond 1/eps of the largest lam^2 moves x by less than its rounding */
    while (*mu <= lmax2 / DBL_EPSILON) {
        if (try_step(obj, x, w, *mu, &rho, loss, err, st)) {
            *mu *= fmax(1.0 / 3.0, 1.0 - pow(2.0 * rho - 1.0, 3));
            *nu = 2;
            return 1;
        }
        if (*st) return 0;
        *mu *= *nu;
        *nu *= 2;
    }
    if (try_step(obj, x, w, 0.0, &rho, loss, err, st)) {
        *mu = DBL_EPSILON * lmax2;
        *nu = 2;
        return 1;
    }
    return 0;
}

int mlpf_find_critical_point(const mlpf_objective *obj, const double *x0,
                             const mlpf_critical_options *opt, double *x,
                             mlpf_critical_info *info, mlpf_error *err) {
    if (!obj || !x0 || !x) return mlpf_fail(err, MLPF_EINVAL, "find_critical_point: objective, x0 and x are required");
    mlpf_critical_options def;
    if (!opt) mlpf_critical_options_default(&def), opt = &def;
    if (!(opt->gtol >= 0) || opt->maxiter < 0)
        return mlpf_fail(err, MLPF_EINVAL, "find_critical_point: gtol must be >= 0 and maxiter >= 0 "
                         "(got %g, %ld)", opt->gtol, opt->maxiter);
    size_t p = mlpf_objective_nparams(obj);
    lm_ws w;
    int st = ws_alloc(&w, p, err);
    if (st) {
        ws_free(&w);
        return st;
    }
    if (x != x0) memmove(x, x0, p * sizeof *x);
    double loss = NAN, mu = -1, nu = 2;
    long it = 0;
    const char *why = "maxiter";
    while (!(st = linearize(obj, x, &w, &loss, err))) {
        if (inf_norm(w.g, p) <= opt->gtol) { why = "gtol"; break; }
        if (it >= opt->maxiter) break;
        /* start nearly undamped: the point is meant to be near the critical one */
        if (mu < 0) mu = 1e-8 * fmax(w.lam[0] * w.lam[0], w.lam[p - 1] * w.lam[p - 1]);
        if (!(mu > 0)) mu = DBL_MIN;
        it++;
        if (!lm_iterate(obj, x, &w, &mu, &nu, &loss, err, &st)) {
            if (!st) why = "stalled";
            break;
        }
    }
    if (!st) info_set(info, loss, inf_norm(w.g, p), it, why);
    ws_free(&w);
    return st;
}

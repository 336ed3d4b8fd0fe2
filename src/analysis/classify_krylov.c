/* classify_krylov.c - the classification of a point when the dense Hessian
   is too large (or too slow) to diagonalise: the same thresholds as
   classify.c, with every Hessian quantity from Hessian-vector products.

   The index needs every eigenvalue below zero_tol, so the k smallest are
   computed by Lanczos with k doubling (16, 32, ... up to MLPF_KRYLOV_MAX_K)
   until the largest of them is above zero_tol: then the negative and zero
   eigenvalues are all among them (Lanczos with full reorthogonalisation finds
   the extreme ones in order), and the remaining P - k are positive.
   zero_tol = P eps |H|_2 + the largest Lanczos residual (an eigenvalue within
   that of each value found, so the zero band is resolved to the solver's own
   accuracy); |H|_2 from the two ends of the spectrum. The Newton-step
   correction of the dense path (|dH|_F) is not made here. gnorm_tol as in
   classify.c, with H d a Hessian-vector product. */
#include "analysis/analysis.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define MLPF_KRYLOV_MAX_K 512

/* Dense above this many parameters (or when three P x P matrices do not fit
   the memory budget): dsyev costs ~ 10 P^3 flops, about a minute at 6000. */
#define MLPF_CLASSIFY_DENSE_MAX 6000

int mlpf_classify_use_krylov(size_t p) {
    size_t budget = 0;
    if (p > MLPF_CLASSIFY_DENSE_MAX) return 1;
    if (mlpf_memory_budget(&budget, NULL)) return 0;
    return 24.0 * (double)p * (double)p > (double)budget;
}

static double vnorm(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i] * v[i];
    return sqrt(s);
}

/* |g(x + d) - g(x) - H d|_inf with d_i = +-eps x_i: the gradient's own rounding. */
static int krylov_noise(const mlpf_objective *obj, const double *x, const double *g, size_t p,
                        double *noise, mlpf_error *err) {
    double *xd = mlpf_malloc(4 * p * sizeof *xd, err);
    if (!xd) return MLPF_ENOMEM;
    double *gd = xd + p, *dx = gd + p, *hd = dx + p;
    for (size_t i = 0; i < p; i++) xd[i] = x[i] + (i % 2 ? -1 : 1) * DBL_EPSILON * x[i];
    int st = mlpf_objective_eval(obj, xd, NULL, gd, NULL, err);
    for (size_t i = 0; i < p; i++) dx[i] = xd[i] - x[i];
    if (!st) st = mlpf_objective_hvp(obj, x, dx, hd, err);
    *noise = 0;
    for (size_t i = 0; i < p && !st; i++) *noise = fmax(*noise, fabs(gd[i] - g[i] - hd[i]));
    free(xd);
    return st;
}

/* The k smallest eigenvalues with k doubling until they pass zero_tol; fills
   out->eigenvalues[0..k-1] and out->zero_tol. hnorm: |H|_2 estimate. */
static int smallest_until_positive(const mlpf_objective *obj, const double *x, size_t p,
                                   const mlpf_classify_options *opt, double hnorm,
                                   mlpf_classification *out, size_t *kfound, mlpf_error *err) {
    mlpf_eigs_options eo = {.tol = 1e-10};
    double *res = mlpf_malloc(MLPF_KRYLOV_MAX_K * sizeof *res, err);
    if (!res) return MLPF_ENOMEM;
    int st = MLPF_OK;
    for (size_t k = 16;; k *= 2) {
        if (k > p) k = p;
        mlpf_eigs_info info;
        st = mlpf_hessian_eigs(obj, x, (int)k, MLPF_EIGS_SMALLEST, &eo, out->eigenvalues, NULL, res, &info, err);
        if (st) break;
        double rmax = 0;
        for (size_t i = 0; i < k; i++) rmax = fmax(rmax, res[i]);
        out->zero_tol = isnan(opt->zero_tol) ? (double)p * DBL_EPSILON * fmax(hnorm, info.hnorm) + rmax : opt->zero_tol;
        *kfound = k;
        if (out->eigenvalues[k - 1] > out->zero_tol || k == p) break;
        if (2 * k > MLPF_KRYLOV_MAX_K) {
            st = mlpf_fail(err, MLPF_EUNSUPPORTED,
                           "classify (matrix-free, P = %zu): more than %zu eigenvalues are <= zero_tol = %g; "
                           "the Krylov classification resolves at most %d (raise MLPF_MAX_BYTES for the dense one)",
                           p, k, out->zero_tol, MLPF_KRYLOV_MAX_K);
            break;
        }
    }
    free(res);
    return st;
}

int mlpf_classify_krylov(const mlpf_objective *obj, const double *x, size_t p,
                         const mlpf_classify_options *opt, mlpf_classification *out, mlpf_error *err) {
    double *g = mlpf_malloc(p * sizeof *g, err);
    out->eigenvalues = mlpf_malloc(p * sizeof(double), err);
    if (!g || !out->eigenvalues) { free(g); return MLPF_ENOMEM; }
    for (size_t i = 0; i < p; i++) out->eigenvalues[i] = NAN;
    int st = mlpf_objective_eval(obj, x, &out->loss, g, NULL, err);
    double top = 0, bottom = 0;
    mlpf_eigs_options eo = {.tol = 1e-6};
    if (!st) st = mlpf_hessian_eigs(obj, x, 1, MLPF_EIGS_LARGEST, &eo, &top, NULL, NULL, NULL, err);
    if (!st) st = mlpf_hessian_eigs(obj, x, 1, MLPF_EIGS_SMALLEST, &eo, &bottom, NULL, NULL, NULL, err);
    double hnorm = fmax(fabs(top), fabs(bottom));
    size_t k = 0;
    if (!st) st = smallest_until_positive(obj, x, p, opt, hnorm, out, &k, err);
    if (!st) {
        out->gnorm = 0;
        for (size_t i = 0; i < p; i++) out->gnorm = fmax(out->gnorm, fabs(g[i]));
        out->gnorm_tol = opt->gnorm_tol;
        if (isnan(opt->gnorm_tol)) {
            double noise = 0;
            st = krylov_noise(obj, x, g, p, &noise, err);
            out->gnorm_tol = (double)p * DBL_EPSILON * hnorm * fmax(vnorm(x, p), 1.0) + noise;
        }
    }
    if (!st) {
        out->index = out->n_zero = 0;
        for (size_t i = 0; i < k; i++) {
            double l = out->eigenvalues[i];
            if (l < -out->zero_tol) out->index++;
            else if (!(l > out->zero_tol)) out->n_zero++;
        }
        out->n_positive = (int)(p - (size_t)out->index - (size_t)out->n_zero);
    }
    free(g);
    return st;
}

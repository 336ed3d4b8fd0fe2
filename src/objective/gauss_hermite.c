/* gauss_hermite.c - Gauss-Hermite rules for N(0, 1) (probabilists' Hermite),
   Gauss-Legendre rules on [-1, 1], and Gauss-Hermite "data nets" for din <= 2.

   Nodes: eigenvalues of a Jacobi matrix (Golub-Welsch, LAPACKE_dstev without
   eigenvectors; for Hermite the half-size Laguerre one), polished by Newton on
   the orthonormal three-term recurrence.
   Weights: Christoffel numbers w_i = 1 / sum_k p_k(x_i)^2 with orthonormal p_k.
   Unlike the squared first eigenvector components, they keep full relative
   accuracy for the tiny outer weights. */
#include "internal.h"
#include "objective/gaussian.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

/* Orthonormal Hermite p_0..p_n at x, returning sum_{k<n} p_k^2 and p_n / p_{n-1}
   through a running rescale: p_k grows like x^k / sqrt(k!) and overflows for the
   outer nodes of large rules otherwise. sq[k] = sqrt(k), k = 0..n. */
static double hermite_christoffel(double x, int n, const double *sq, double *pn_over_pnm1,
                                  double *logscale) {
    double pm1 = 0.0, p = 1.0, sum = 0.0, ls = 0.0;
    for (int k = 0; k < n; k++) {
        sum += p * p;
        double next = (x * p - sq[k] * pm1) / sq[k + 1];
        pm1 = p;
        p = next;
        if (fabs(p) > 1e100) {  /* scale the recurrence state and the sum alike */
            pm1 *= 1e-100; p *= 1e-100; sum *= 1e-200; ls += log(1e200);
        }
    }
    *pn_over_pnm1 = p / pm1;
    *logscale = ls;
    return sum;
}

int mlpf_gh_rule(int n, double *x, double *w, mlpf_error *err) {
    if (n < 1 || n > MLPF_GH_MAX_ORDER)
        return mlpf_fail(err, MLPF_EINVAL, "Gauss-Hermite order must be in 1..%d, got %d",
                         MLPF_GH_MAX_ORDER, n);
    /* Symmetry halves the eigenproblem: He_{2m + r}(x) = x^r L_m^(r - 1/2)(x^2 / 2)
       up to a constant, so the positive nodes are sqrt(2 lambda) for the
       eigenvalues lambda of the generalized Laguerre Jacobi matrix of size m. */
    int m = n / 2, odd = n % 2;
    double al = odd ? 0.5 : -0.5;
    double *buf = mlpf_malloc(sizeof(double) * (size_t)(2 * m + n + 3), err);
    if (!buf) return MLPF_ENOMEM;
    double *d = buf, *e = buf + m + 1, *sq = buf + 2 * m + 2;
    for (int k = 0; k <= n; k++) sq[k] = sqrt((double)k);
    for (int k = 0; k < m; k++) d[k] = 2.0 * k + al + 1.0;
    for (int k = 1; k < m; k++) e[k - 1] = sqrt(k * (k + al));
    lapack_int info = m > 1 ? LAPACKE_dstev(LAPACK_COL_MAJOR, 'N', m, d, e, NULL, 1) : 0;
    if (info != 0) {
        free(buf);
        return mlpf_fail(err, MLPF_ENUMERIC, "Gauss-Hermite nodes: dstev info %d", (int)info);
    }
    if (odd) x[m] = 0.0;
    for (int i = 0; i < m; i++) x[m + odd + i] = sqrt(2.0 * d[i]);
    /* one Newton step (p_n' = sqrt(n) p_{n-1}) polishes each non-negative node,
       then its weight comes from the recurrence there; the rest is mirrored */
    double total = 0.0;
    for (int i = m; i < n; i++) {
        double ratio, ls;
        if (x[i] != 0.0) {
            hermite_christoffel(x[i], n, sq, &ratio, &ls);
            if (isfinite(ratio)) x[i] -= ratio / sq[n];
        }
        double s = hermite_christoffel(x[i], n, sq, &ratio, &ls);
        w[i] = exp(-ls) / s;
        x[n - 1 - i] = -x[i];
        w[n - 1 - i] = w[i];
    }
    for (int i = 0; i < n; i++) total += w[i];
    free(buf);
    for (int i = 0; i < n; i++) w[i] /= total;  /* removes the last ulp of drift */
    return MLPF_OK;
}

int mlpf_gl_rule(int n, double *x, double *w, mlpf_error *err) {
    if (n < 1) return mlpf_fail(err, MLPF_EINVAL, "Gauss-Legendre order must be >= 1, got %d", n);
    double *off = mlpf_malloc(sizeof(double) * (size_t)(n > 1 ? n - 1 : 1), err);
    if (!off) return MLPF_ENOMEM;
    for (int i = 0; i < n; i++) x[i] = 0.0;
    for (int k = 1; k < n; k++) off[k - 1] = k / sqrt(4.0 * k * k - 1.0);
    lapack_int info = n > 1 ? LAPACKE_dstev(LAPACK_COL_MAJOR, 'N', n, x, off, NULL, 1) : 0;
    free(off);
    if (info != 0) return mlpf_fail(err, MLPF_ENUMERIC, "Gauss-Legendre nodes: dstev info %d", (int)info);
    for (int i = 0; i < n; i++) {
        double pd = 1.0;
        for (int it = 0; it < 3; it++) {  /* Newton on P_n with the derivative identity */
            double p0 = 1.0, p1 = x[i];
            for (int k = 2; k <= n; k++) {
                double p2 = ((2.0 * k - 1.0) * x[i] * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            if (n == 1) { p1 = x[i]; p0 = 1.0; }
            pd = n * (x[i] * p1 - p0) / (x[i] * x[i] - 1.0);
            x[i] -= p1 / pd;
        }
        double p0 = 1.0, p1 = x[i];
        for (int k = 2; k <= n; k++) {
            double p2 = ((2.0 * k - 1.0) * x[i] * p1 - (k - 1.0) * p0) / k;
            p0 = p1;
            p1 = p2;
        }
        if (n == 1) p0 = 1.0;
        pd = n * (x[i] * p1 - p0) / (x[i] * x[i] - 1.0);
        w[i] = 2.0 / ((1.0 - x[i] * x[i]) * pd * pd);
    }
    return MLPF_OK;
}

int mlpf_gauss_hermite_data(int din, int order, double weight_threshold, double **input,
                            double **weights, size_t *n, mlpf_error *err) {
    if (!input || !weights || !n) return mlpf_fail(err, MLPF_EINVAL, "gauss_hermite_data: NULL output");
    *input = NULL;
    *weights = NULL;
    *n = 0;
    if (din < 1 || din > 2)
        return mlpf_fail(err, MLPF_EUNSUPPORTED,
                         "Gauss-Hermite data nets support din 1 or 2 (got %d): the tensor grid "
                         "grows as order^din; use the exact gaussian objective or samples", din);
    /* building the rule costs order^2 (order 5000: about a second); far more
       nodes than any double-precision integrand needs */
    if (order < 1 || order > MLPF_GH_MAX_ORDER)
        return mlpf_fail(err, MLPF_EINVAL, "Gauss-Hermite order must be in 1..%d, got %d "
                         "(the rule costs order^2 time)", MLPF_GH_MAX_ORDER, order);
    if (!(weight_threshold >= 0.0))
        return mlpf_fail(err, MLPF_EINVAL, "weight threshold must be >= 0");
    double *x = mlpf_malloc(sizeof(double) * (size_t)order, err);
    double *w = mlpf_malloc(sizeof(double) * (size_t)order, err);
    if (!x || !w) { free(x); free(w); return MLPF_ENOMEM; }
    int st = mlpf_gh_rule(order, x, w, err);
    if (st) { free(x); free(w); return st; }
    size_t total = din == 1 ? (size_t)order : (size_t)order * (size_t)order;
    size_t kept = 0;
    for (size_t t = 0; t < total; t++) {
        double wt = din == 1 ? w[t] : w[t / (size_t)order] * w[t % (size_t)order];
        if (wt >= weight_threshold) kept++;
    }
    if (kept == 0) {
        free(x); free(w);
        return mlpf_fail(err, MLPF_EINVAL, "weight threshold %g prunes every node", weight_threshold);
    }
    double *in = mlpf_malloc(sizeof(double) * kept * (size_t)din, err);
    double *wo = mlpf_malloc(sizeof(double) * kept, err);
    if (!in || !wo) { free(x); free(w); free(in); free(wo); return MLPF_ENOMEM; }
    size_t m = 0;
    for (size_t t = 0; t < total; t++) {
        size_t i = din == 1 ? t : t / (size_t)order, j = t % (size_t)order;
        double wt = din == 1 ? w[t] : w[i] * w[j];
        if (wt < weight_threshold) continue;
        in[m * (size_t)din] = x[i];
        if (din == 2) in[m * 2 + 1] = x[j];
        wo[m] = wt * (double)kept;  /* (1/N) sum w_n f(x_n) = sum wt f */
        m++;
    }
    free(x);
    free(w);
    *input = in;
    *weights = wo;
    *n = kept;
    return MLPF_OK;
}

/* distance.c - nearest reference point for every point of a trajectory, and
   cosine similarity.

   The distances come from one dgemm per block of trajectory points:
   |t - r|^2 = |t|^2 + |r|^2 - 2 t.r. That identity cancels badly when the
   points are close compared with their norms (a trajectory near its end, or
   compared with itself), so it is only used to pick candidates: every j whose
   Gram distance could, within its rounding bound, be the minimum is re-measured
   directly as sum (t_i - r_i)^2. The result is then the exact-to-rounding
   distance of the true nearest point, and a trajectory against itself gives 0. */
#include "internal.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

static double direct_dist2(const double *a, const double *b, size_t p) {
    double s = 0;
    for (size_t i = 0; i < p; i++) {
        double d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

int mlpf_trajectory_distance(const double *traj, size_t n, const double *ref, size_t m, size_t p,
                             double *dist, size_t *match, mlpf_error *err) {
    mlpf_error_clear(err);
    if (n == 0) return MLPF_OK;
    if (!traj || !ref || !dist)
        return mlpf_fail(err, MLPF_EINVAL, "trajectory_distance: traj, ref and dist must not be NULL");
    if (m == 0) return mlpf_fail(err, MLPF_EINVAL, "trajectory_distance: ref has no points (m = 0)");
    if (p == 0) return mlpf_fail(err, MLPF_EINVAL, "trajectory_distance: points have dimension p = 0");
    if (n > (size_t)INT32_MAX || m > (size_t)INT32_MAX || p > (size_t)INT32_MAX)
        return mlpf_fail(err, MLPF_EINVAL, "trajectory_distance: n, m and p must fit BLAS's int");
    size_t bad = mlpf_first_nonfinite(traj, n * p);
    if (bad)
        return mlpf_fail(err, MLPF_ENONFINITE, "trajectory_distance: traj[%zu, %zu] is not finite",
                         (bad - 1) / p, (bad - 1) % p);
    bad = mlpf_first_nonfinite(ref, m * p);
    if (bad)
        return mlpf_fail(err, MLPF_ENONFINITE, "trajectory_distance: ref[%zu, %zu] is not finite",
                         (bad - 1) / p, (bad - 1) % p);

    /* Blocks of trajectory points keep the Gram block near 8 MB whatever n is. */
    size_t nb = ((size_t)1 << 20) / (m > p ? m : p);
    if (nb < 1) nb = 1;
    if (nb > n) nb = n;
    /* Centring on the mean of ref shrinks the norms that the Gram identity
       cancels, so fewer candidates need the direct re-measurement. */
    double *mu = mlpf_calloc(p, sizeof *mu, err);
    double *rc = mlpf_malloc(m * p * sizeof *rc, err);
    double *tc = mlpf_malloc(nb * p * sizeof *tc, err);
    double *gram = mlpf_malloc(nb * m * sizeof *gram, err);
    double *rn = mlpf_malloc(m * sizeof *rn, err);
    if (!mu || !rc || !tc || !gram || !rn) {
        free(mu); free(rc); free(tc); free(gram); free(rn);
        return MLPF_ENOMEM;
    }
    for (size_t j = 0; j < m; j++)
        for (size_t i = 0; i < p; i++) mu[i] += ref[j * p + i];
    for (size_t i = 0; i < p; i++) mu[i] /= (double)m;
    for (size_t j = 0; j < m; j++) {
        double s = 0;
        for (size_t i = 0; i < p; i++) {
            double v = ref[j * p + i] - mu[i];
            rc[j * p + i] = v;
            s += v * v;
        }
        rn[j] = s;
    }
    /* Rounding bound of a Gram-identity distance: each of |t|^2, |r|^2, t.r is a
       p-term sum, wrong by at most ~p eps times its magnitude (Higham's gamma_p),
       so |error| <= 2 (p + 2) eps (|t| + |r|)^2; the factor 2 is a safety margin. */
    const double ebound = 4.0 * ((double)p + 2.0) * DBL_EPSILON;
    for (size_t k0 = 0; k0 < n; k0 += nb) {
        size_t kb = n - k0 < nb ? n - k0 : nb;
        for (size_t k = 0; k < kb; k++)
            for (size_t i = 0; i < p; i++) tc[k * p + i] = traj[(k0 + k) * p + i] - mu[i];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)kb, (int)m, (int)p, 1.0, tc,
                    (int)p, rc, (int)p, 0.0, gram, (int)m);
        for (size_t k = 0; k < kb; k++) {
            const double *t = tc + k * p;
            double tn = 0;
            for (size_t i = 0; i < p; i++) tn += t[i] * t[i];
            double *g = gram + k * m;
            /* g[j] := approximate squared distance; then the smallest upper bound. */
            double ubest = INFINITY;
            double tl = sqrt(tn);
            for (size_t j = 0; j < m; j++) {
                double d2 = tn + rn[j] - 2.0 * g[j];
                g[j] = d2;
                double s = tl + sqrt(rn[j]);
                double up = d2 + ebound * s * s;
                if (up < ubest) ubest = up;
            }
            const double *tk = traj + (k0 + k) * p;
            double best = INFINITY;
            size_t jbest = 0;
            for (size_t j = 0; j < m; j++) {
                double s = tl + sqrt(rn[j]);
                if (g[j] - ebound * s * s > ubest) continue; /* provably not the nearest */
                double d2 = direct_dist2(tk, ref + j * p, p);
                if (d2 < best) { best = d2; jbest = j; }
            }
            dist[k0 + k] = sqrt(best);
            if (match) match[k0 + k] = jbest;
        }
    }
    free(mu); free(rc); free(tc); free(gram); free(rn);
    return MLPF_OK;
}

/* |v| / scale and scale = max |v_i|: the squares of v / scale are <= 1, so the
   norm neither overflows at 1e200 nor underflows at 1e-200 (BLAS dnrm2 only does
   this where its kernel carries 80-bit x87 sums, which valgrind rounds to 64). */
static double scaled_norm(const double *v, size_t n, double *scale) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    *scale = m;
    if (m == 0.0) return 0.0;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (v[i] / m) * (v[i] / m);
    return sqrt(s);
}

double mlpf_cosine_similarity(const double *a, const double *b, size_t n) {
    if (!a || !b || n == 0) return 0.0;
    double sa, sb, na = scaled_norm(a, n, &sa), nb = scaled_norm(b, n, &sb);
    if (na == 0.0 || nb == 0.0) return 0.0;
    /* a.b / (|a| |b|) with each vector divided by its scale and its scaled norm
       before the product, so no intermediate leaves the double range */
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (a[i] / sa / na) * (b[i] / sb / nb);
    return s;
}

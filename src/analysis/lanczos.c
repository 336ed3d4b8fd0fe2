/* lanczos.c - spectra of the Hessian from Hessian-vector products only:
   extreme eigenpairs by thick-restart Lanczos, the trace by Hutchinson's
   estimator and the spectral density by stochastic Lanczos quadrature.

   The Lanczos basis is kept orthonormal to rounding by full
   reorthogonalisation (classical Gram-Schmidt, twice): the projected matrix
   T = V^T H V is then exact to rounding, there are no ghost eigenvalues, and a
   restart is simply "keep the wanted Ritz vectors and the residual vector"
   (Wu & Simon's thick restart; T becomes diagonal plus one coupling row, and
   the next Gram-Schmidt column fills that row in). The extra O(P ncv) work per
   step is small beside a Hessian-vector product. Sums run in plain loops in a
   fixed order, so results do not depend on the BLAS thread count.

   The smallest eigenvalues are sought with the top of the spectrum locked
   out: Lanczos needs about sqrt(spread / gap) products per eigenvalue, the
   spread being lambda_max - lambda_min, and a network's Hessian has large
   outliers above a bulk (the digits net: lambda_1 = 4.19, lambda_21 = 0.19,
   lambda_41 = 0.083). The top Ritz pairs converge first, in the same basis:
   at each restart those converged to tol / (4 sqrt(deflate)) join U and are
   projected out of every later product, so the later cycles work in U's
   orthogonal complement, where the spread is lambda_{nu+1} - lambda_min. A
   run that converges in its first cycle locks nothing and costs the same.
   What it costs in accuracy, exactly: for y orthogonal to U,
   |H y - theta y|^2 = |P(H y - theta y)|^2 + |R^T y|^2 with R = H U - U Theta,
   so the reported residual adds |R|_F (<= tol |H| / 4) in quadrature and
   stays a bound of the true one. Rayleigh-Ritz of H on a subspace still
   interlaces: theta_i >= lambda_i. */
#include "internal.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

typedef struct {
    const mlpf_objective *obj;
    const double *x;
    size_t P;
    int nhvp;
    double *U;       /* (ucap, P): rows 0..nu-1 orthonormal, projected out of every product */
    int nu, ucap;    /* locked rows, room (0: no deflation) */
    double *uh;      /* (2 ucap) scratch of the projection */
} hvp_op;

static double dot(const double *a, const double *b, size_t n);
static void dot_rows(const double *V, int j, size_t P, const double *w, double *c);
static void subtract_rows(const double *V, int j, size_t P, const double *c, double *w);

/* w -= V[0..j]^T (V[0..j] w) by classical Gram-Schmidt: one pass, a second
   only when the first removed more than ~30 % of w (Daniel-Gragg-Kaufman-
   Stewart; ARPACK's dsaitr uses the same 0.717). The coefficients of both
   passes are added to h when h is not NULL. c (j + 1) scratch, w (P). */
static void gram_schmidt_passes(const double *V, int j, size_t P, double *w, double *c, double *h) {
    double before = dot(w, w, P);
    for (int pass = 0; pass < 2; pass++) {
        dot_rows(V, j, P, w, c);
        subtract_rows(V, j, P, c, w);
        if (h)
            for (int i = 0; i <= j; i++) h[i] += c[i];
        double after = dot(w, w, P);
        if (after > 0.717 * 0.717 * before) break;
        before = after;
    }
}

/* w -= U U^T w: w in the deflated space (gram_schmidt_passes). w (P). */
static void project_out(const hvp_op *op, double *w) {
    if (op->nu <= 0) return;
    gram_schmidt_passes(op->U, op->nu - 1, op->P, w, op->uh, NULL);
}

/* hv = H v. Projected (P H v) by the caller after its Gram-Schmidt: the basis
   is orthogonal to U, so the order does not change the coefficients. */
static int apply_h(hvp_op *op, const double *v, double *hv, mlpf_error *err) {
    op->nhvp++;
    return mlpf_objective_hvp(op->obj, op->x, v, hv, err);
}

/* Four partial sums in a fixed order: vectorisable and deterministic. */
static double dot(const double *a, const double *b, size_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* c[i] = V[i] . w for i = 0..j, four rows per sweep over w (w is read a
   quarter as often; each c[i] is summed in dot's fixed order). V (j + 1, P). */
static void dot_rows(const double *V, int j, size_t P, const double *w, double *c) {
    int i = 0;
    for (; i + 4 <= j + 1; i += 4) {
        const double *v0 = V + (size_t)i * P, *v1 = v0 + P, *v2 = v1 + P, *v3 = v2 + P;
        double s[4][4] = {{0}};
        size_t q = 0;
        for (; q + 4 <= P; q += 4)
            for (int t = 0; t < 4; t++) {
                s[0][t] += v0[q + (size_t)t] * w[q + (size_t)t];
                s[1][t] += v1[q + (size_t)t] * w[q + (size_t)t];
                s[2][t] += v2[q + (size_t)t] * w[q + (size_t)t];
                s[3][t] += v3[q + (size_t)t] * w[q + (size_t)t];
            }
        for (; q < P; q++) {
            s[0][0] += v0[q] * w[q]; s[1][0] += v1[q] * w[q];
            s[2][0] += v2[q] * w[q]; s[3][0] += v3[q] * w[q];
        }
        for (int r = 0; r < 4; r++) c[i + r] = (s[r][0] + s[r][1]) + (s[r][2] + s[r][3]);
    }
    for (; i <= j; i++) c[i] = dot(V + (size_t)i * P, w, P);
}

/* w -= V[0..j]^T c, four rows per sweep over w (memory traffic, not flops,
   bounds this at large P). V (j + 1, P), c (j + 1). */
static void subtract_rows(const double *V, int j, size_t P, const double *c, double *w) {
    int i = 0;
    for (; i + 4 <= j + 1; i += 4) {
        const double *v0 = V + (size_t)i * P, *v1 = v0 + P, *v2 = v1 + P, *v3 = v2 + P;
        double c0 = c[i], c1 = c[i + 1], c2 = c[i + 2], c3 = c[i + 3];
        for (size_t q = 0; q < P; q++) w[q] -= (c0 * v0[q] + c1 * v1[q]) + (c2 * v2[q] + c3 * v3[q]);
    }
    for (; i <= j; i++) {
        const double *vi = V + (size_t)i * P;
        for (size_t q = 0; q < P; q++) w[q] -= c[i] * vi[q];
    }
}

/* w -= V[0..j] h with h = V[0..j] w: classical Gram-Schmidt, twice (the second
   pass makes it orthogonal to rounding); h (j + 1) returns the summed
   coefficients, c (j + 1) is scratch. V (j + 1, P) rows orthonormal. */
static void orthogonalise(const double *V, int j, size_t P, double *w, double *h, double *c) {
    for (int i = 0; i <= j; i++) h[i] = 0;
    for (int pass = 0; pass < 2; pass++) {
        dot_rows(V, j, P, w, c);
        subtract_rows(V, j, P, c, w);
        for (int i = 0; i <= j; i++) h[i] += c[i];
    }
}

/* One Lanczos step's w = H v_j made orthogonal to V[0..j] with h = the total
   coefficients (T's column j). The couplings already known (T[i][j], i < j:
   beta v_{j-1} in a plain step, the restart row after a thick restart) and
   alpha come off first; then one classical Gram-Schmidt pass over the whole
   basis, repeated only when it removed more than ~30 % of what was left
   (Daniel-Gragg-Kaufman-Stewart; ARPACK's dsaitr uses the same 0.717): one pass
   is then orthogonal to rounding. Twice unconditionally cost twice the basis
   traffic, ~40 % of a step at P = 85 002, ncv 160. T (m, m), h and c (j + 1). */
static void orthogonalise_step(const double *V, const double *T, int m, int j, size_t P, double *w,
                               double *h, double *c) {
    const double *vj = V + (size_t)j * P;
    for (int i = 0; i < j; i++) {
        h[i] = T[(size_t)i * (size_t)m + (size_t)j];
        if (h[i] == 0) continue;
        const double *vi = V + (size_t)i * P;
        for (size_t q = 0; q < P; q++) w[q] -= h[i] * vi[q];
    }
    h[j] = dot(vj, w, P);
    for (size_t q = 0; q < P; q++) w[q] -= h[j] * vj[q];
    gram_schmidt_passes(V, j, P, w, c, h);
}

/* A seeded random unit vector orthogonal to op's U and to V[0..j-1] (j may be 0): v (P). */
static void random_unit(const hvp_op *op, mlpf_rng *rng, const double *V, int j, size_t P, double *v,
                        double *h, double *c) {
    for (;;) {
        for (size_t q = 0; q < P; q++) v[q] = mlpf_rng_normal(rng);
        project_out(op, v);
        if (j > 0) orthogonalise(V, j - 1, P, v, h, c);
        double n = sqrt(dot(v, v, P));
        if (n > 1e-8 * sqrt((double)P)) {
            for (size_t q = 0; q < P; q++) v[q] /= n;
            return;
        }
    }
}

/* Lanczos steps j = j0 .. end-1 (end <= m): V[j+1] from H V[j] orthogonalised
   against V[0..j]; T (m, m) column j and its mirror row get the coefficients, beta the
   last norm. An exhausted Krylov space (beta at rounding level) continues with a
   fresh random direction and coupling 0. V (m + 1, P), w (P), h (2 (m + 1):
   the coefficients, then scratch). */
static int lanczos_extend(hvp_op *op, double *V, double *T, int j0, int end, int m, double *beta,
                          mlpf_rng *rng, double *w, double *h, double *hnorm, mlpf_error *err) {
    size_t P = op->P;
    for (int j = j0; j < end; j++) {
        int st = apply_h(op, V + (size_t)j * P, w, err);
        if (st) return st;
        orthogonalise_step(V, T, m, j, P, w, h, h + m + 1);
        /* Against U last: the basis rows carry rounding-level U parts that the
           subtraction above would bring back and the division by a small beta
           amplify step after step (seen: |U^T v| 1e-10 after 130 steps, 0.66 later). */
        project_out(op, w);
        for (int i = 0; i <= j; i++) T[(size_t)i * (size_t)m + (size_t)j] = T[(size_t)j * (size_t)m + (size_t)i] = h[i];
        if (fabs(h[j]) > *hnorm) *hnorm = fabs(h[j]);
        double b = sqrt(dot(w, w, P));
        double *next = V + (size_t)(j + 1) * P;
        if (b > 1e-13 * (*hnorm > 0 ? *hnorm : 1.0)) {
            for (size_t q = 0; q < P; q++) next[q] = w[q] / b;
        } else {
            b = 0;
            if ((size_t)j + 1 < P - (size_t)op->nu) random_unit(op, rng, V, j + 1, P, next, h, h + m + 1);
        }
        if (j + 1 < m) T[(size_t)(j + 1) * (size_t)m + (size_t)j] = T[(size_t)j * (size_t)m + (size_t)(j + 1)] = b;
        *beta = b;
    }
    return MLPF_OK;
}

/* Of the leading (n, n) block of T (m, m): theta (n) ascending and Y (n, n)
   row-major with eigenvectors as columns. */
static int tridiag_eig(const double *T, int m, int n, double *theta, double *Y, mlpf_error *err) {
    for (int i = 0; i < n; i++)
        memcpy(Y + (size_t)i * (size_t)n, T + (size_t)i * (size_t)m, (size_t)n * sizeof *Y);
    lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', n, Y, n, theta);
    if (info) return mlpf_fail(err, MLPF_ENUMERIC, "Lanczos: dsyev of the %d x %d projected matrix failed (info %d)", n, n, (int)info);
    return MLPF_OK;
}

/* Index of the i-th wanted Ritz value (i = 0 the most extreme). */
static int wanted(int i, int m, mlpf_eigs_which which) {
    return which == MLPF_EIGS_SMALLEST ? i : m - 1 - i;
}

/* Vout (n, P) = Y[:, sel]^T V (m, P), sel the n most wanted columns. In
   blocks of 256 columns of V, so that each block (m x 2 KB) stays in cache for
   all n outputs: unblocked, a restart at P = 85 002, m = 160, n = 85 read V
   85 times (9 GB). Each entry's sum still runs over j = 0, 1, ... in order. */
static void ritz_vectors(const double *V, const double *Y, int m, int n, mlpf_eigs_which which,
                         size_t P, double *Vout) {
    enum { BLOCK = 256 };
    for (size_t q0 = 0; q0 < P; q0 += BLOCK) {
        size_t q1 = q0 + BLOCK < P ? q0 + BLOCK : P;
        for (int r = 0; r < n; r++) {
            int c = wanted(r, m, which);
            double *out = Vout + (size_t)r * P;
            for (size_t q = q0; q < q1; q++) out[q] = 0;
            for (int j = 0; j < m; j++) {
                double y = Y[(size_t)j * (size_t)m + (size_t)c];
                const double *vj = V + (size_t)j * P;
                for (size_t q = q0; q < q1; q++) out[q] += y * vj[q];
            }
        }
    }
}

/* Thick restart: V[0..keep-1] = the keep most wanted Ritz vectors, V[keep] =
   the residual direction V[m]; T = diag(theta) with coupling row beta * Y[m-1, :]. */
static void thick_restart(double *V, double *T, const double *theta, const double *Y, int m, int keep,
                          double beta, mlpf_eigs_which which, size_t P, double *tmp) {
    ritz_vectors(V, Y, m, keep, which, P, tmp);
    memcpy(V + (size_t)keep * P, V + (size_t)m * P, P * sizeof *V);
    memcpy(V, tmp, (size_t)keep * P * sizeof *V);
    memset(T, 0, (size_t)m * (size_t)m * sizeof *T);
    for (int r = 0; r < keep; r++) {
        int c = wanted(r, m, which);
        T[(size_t)r * (size_t)m + (size_t)r] = theta[c];
        double s = beta * Y[(size_t)(m - 1) * (size_t)m + (size_t)c];
        T[(size_t)r * (size_t)m + (size_t)keep] = T[(size_t)keep * (size_t)m + (size_t)r] = s;
    }
}

static int eigs_check(const mlpf_objective *obj, const double *x, int k, mlpf_eigs_which which,
                      const mlpf_eigs_options *o, double *evals, mlpf_error *err) {
    if (!obj || !x || !evals) return mlpf_fail(err, MLPF_EINVAL, "hessian_eigs: objective, x and evals must not be NULL");
    size_t P = obj->ops.nparams;
    if (k < 1 || (size_t)k > P)
        return mlpf_fail(err, MLPF_EINVAL, "hessian_eigs: k = %d, need 1 <= k <= P = %zu", k, P);
    if (which != MLPF_EIGS_SMALLEST && which != MLPF_EIGS_LARGEST)
        return mlpf_fail(err, MLPF_EINVAL, "hessian_eigs: which = %d, need MLPF_EIGS_SMALLEST or MLPF_EIGS_LARGEST", (int)which);
    if (o->ncv < 0 || o->max_hvp < 0 || !(o->tol >= 0) || !(o->tol < 1) || o->deflate < -1)
        return mlpf_fail(err, MLPF_EINVAL, "hessian_eigs: options ncv = %d, max_hvp = %d must be >= 0, "
                         "tol = %g in [0, 1) and deflate = %d >= -1", o->ncv, o->max_hvp, o->tol, o->deflate);
    return mlpf_objective_check_call(obj, x, NULL, 0, err);
}

/* The defaults of mlpf_eigs_options filled in. */
static mlpf_eigs_options eigs_defaults(const mlpf_eigs_options *opt, int k, size_t P) {
    mlpf_eigs_options o = opt ? *opt : (mlpf_eigs_options){0};
    if (o.ncv == 0) {
        /* A long basis restarts less and loses less: at a trained digits net
           (P = 2410, k = 10, tol 1e-6) ncv 40 / 80 / 160 took 2440 / 990 / 685
           products. 160 unless the basis and Ritz vectors (2 ncv P doubles)
           would pass 256 MB; never below 40 or 2k + 20. */
        size_t cap = ((size_t)1 << 28) / (16 * P);
        int n = cap < 160 ? (int)cap : 160;
        if (n < 40) n = 40;
        o.ncv = 2 * k + 20 > n ? 2 * k + 20 : n;
    }
    if ((size_t)o.ncv > P) o.ncv = (int)P;
    if (o.ncv < k) o.ncv = k;
    if (o.max_hvp == 0) o.max_hvp = 50 * o.ncv > 20000 ? 50 * o.ncv : 20000;
    if (o.tol == 0) o.tol = 1e-8;
    return o;
}

/* Most top eigenvectors locked out by default (mlpf_eigs_options.deflate =
   0): at the trained digits net (P = 85 002, k = 10, tol 1e-6, ncv 160) none /
   80 took 1558 / 749 products; at P = 2410, 631 / 344 (bench/README.md, "The
   10 smallest eigenvalues"). Each locked row costs a pass over P per product. */
#define MLPF_EIGS_DEFLATE_DEFAULT 80

/* Room for locked top eigenvectors: only for the smallest, only when the
   space is large beside the basis (else the basis spans most of it and plain
   Lanczos is exact in few cycles), and at most 128 MB of rows. */
static int deflation_size(const mlpf_eigs_options *o, int k, mlpf_eigs_which which, size_t P) {
    int nu = o->deflate ? o->deflate : MLPF_EIGS_DEFLATE_DEFAULT;
    if (which != MLPF_EIGS_SMALLEST || nu < 0) return 0;
    size_t cap = ((size_t)1 << 27) / (8 * P);
    if ((size_t)nu > cap) nu = (int)cap;
    if (4 * ((size_t)nu + (size_t)o->ncv + (size_t)k) > P) return 0;
    return nu;
}

typedef struct {
    double *V, *T, *Y, *theta, *w, *h, *tmp, *mem;
} eigs_ws;

static int eigs_alloc(int m, size_t P, eigs_ws *ws, mlpf_error *err) {
    size_t mm = (size_t)m;
    size_t total = (mm + 1) * P + 2 * mm * mm + mm + P + 2 * (mm + 1) + mm * P;
    ws->mem = mlpf_calloc(total, sizeof(double), err);
    if (!ws->mem) return MLPF_ENOMEM;
    ws->V = ws->mem;
    ws->T = ws->V + (mm + 1) * P;
    ws->Y = ws->T + mm * mm;
    ws->theta = ws->Y + mm * mm;
    ws->w = ws->theta + mm;
    ws->h = ws->w + P;
    ws->tmp = ws->h + 2 * (mm + 1);
    return MLPF_OK;
}

/* Copies the k wanted pairs out (ascending) with their residuals, rdefl (the
   deflated pairs' |R|_F) added in quadrature. */
static void eigs_output(const eigs_ws *ws, int m, int k, double beta, double rdefl, mlpf_eigs_which which,
                        size_t P, double *evals, double *evecs, double *resid) {
    for (int r = 0; r < k; r++) {
        int pos = which == MLPF_EIGS_SMALLEST ? r : k - 1 - r; /* ascending output */
        int c = wanted(r, m, which);
        evals[pos] = ws->theta[c];
        if (resid) resid[pos] = hypot(beta * ws->Y[(size_t)(m - 1) * (size_t)m + (size_t)c], rdefl);
        if (evecs) memcpy(evecs + (size_t)pos * P, ws->tmp + (size_t)r * P, P * sizeof *evecs);
    }
}

/* Wanted pairs whose residual bound hypot(beta y[n-1], rdefl) meets tol |H|
   in the (n, n) projection held by ws; raises hnorm to the largest |Ritz value|. */
static int count_converged(const eigs_ws *ws, int n, int k, double beta, double rdefl,
                           mlpf_eigs_which which, double tol, double *hnorm) {
    for (int i = 0; i < n; i++) if (fabs(ws->theta[i]) > *hnorm) *hnorm = fabs(ws->theta[i]);
    int nconv = 0;
    for (int r = 0; r < k && n >= k; r++)
        nconv += hypot(beta * ws->Y[(size_t)(n - 1) * (size_t)n + (size_t)wanted(r, n, which)], rdefl) <=
                 tol * *hnorm;
    return nconv;
}

/* What one run is after: k pairs at one end, tol, and rdefl from deflation. */
typedef struct {
    int k;
    mlpf_eigs_which which;
    double tol, rdefl;
} eigs_goal;

/* One cycle: extend the basis from j0 towards m, testing the wanted pairs every
   max(5, n/8) steps (geometric, so the small eigenproblems cost little), and
   stop as soon as all k converge: a cycle is not run to its end when the
   answer is already there (top-1 takes tens of products, not ncv). *n returns
   the basis size reached; ws->theta / Y hold the (n, n) projection's pairs. */
static int lanczos_to_convergence(hvp_op *op, eigs_ws *ws, int m, int j0, const eigs_goal *g,
                                  mlpf_rng *rng, int *n, double *beta, double *hnorm, int *nconv,
                                  mlpf_error *err) {
    int j = j0;
    for (;;) {
        int step = j / 8 > 5 ? j / 8 : 5, end = j + step;
        if (end < g->k) end = g->k;
        if (end > m) end = m;
        int st = lanczos_extend(op, ws->V, ws->T, j, end, m, beta, rng, ws->w, ws->h, hnorm, err);
        if (!st) st = tridiag_eig(ws->T, m, end, ws->theta, ws->Y, err);
        if (st) return st;
        j = *n = end;
        *nconv = count_converged(ws, end, g->k, *beta, g->rdefl, g->which, g->tol, hnorm);
        if (*nconv == g->k || end == m) return MLPF_OK;
    }
}

/* At a restart: the top Ritz pairs of the (m, m) projection whose residual
   meets tol |H| / (4 sqrt(ucap)), from the top down while they fit and are not
   among the keep wanted ones, join U (locked: projected out from now on) and
   their residuals g->rdefl, so that |R|_F <= tol |H| / 4 however many join.
   The kept Ritz vectors and the residual direction are orthogonal to them. */
static void lock_top(hvp_op *op, const eigs_ws *ws, int m, int keep, double beta, double hnorm,
                     eigs_goal *g) {
    if (g->which != MLPF_EIGS_SMALLEST || op->ucap == 0) return;
    double lim = g->tol * hnorm / (4.0 * sqrt((double)op->ucap)), r2 = 0;
    int t = 0;
    while (op->nu + t < op->ucap && m - 1 - t >= keep) {
        double r = beta * ws->Y[(size_t)(m - 1) * (size_t)m + (size_t)(m - 1 - t)];
        if (fabs(r) > lim) break;
        r2 += r * r;
        t++;
    }
    if (t == 0) return;
    ritz_vectors(ws->V, ws->Y, m, t, MLPF_EIGS_LARGEST, op->P, op->U + (size_t)op->nu * op->P);
    op->nu += t;
    g->rdefl = sqrt(g->rdefl * g->rdefl + r2);
}

/* Thick-restart Lanczos in the space orthogonal to op's U (all of R^P when
   nu = 0): the k wanted pairs of g into evals / evecs / resid, info filled
   (nconv < k when max_hvp ran out). o has its defaults; info->hnorm enters as
   the |H| estimate known so far. */
static int eigs_run(hvp_op *op, const eigs_goal *goal, const mlpf_eigs_options *o, double *evals,
                    double *evecs, double *resid, mlpf_eigs_info *info, mlpf_error *err) {
    eigs_goal gl = *goal, *g = &gl; /* g->rdefl grows as top pairs are locked */
    size_t P = op->P, dim = P - (size_t)op->ucap;
    int m = (size_t)o->ncv > dim ? (int)dim : o->ncv, keep = g->k + (m - g->k) / 2;
    if (keep >= m) keep = m - 1;
    eigs_ws ws;
    if (eigs_alloc(m, P, &ws, err)) return MLPF_ENOMEM;
    mlpf_rng rng;
    mlpf_rng_seed(&rng, o->seed);
    random_unit(op, &rng, ws.V, 0, P, ws.V, ws.h, ws.h + m + 1);
    double beta = 0, hnorm = info->hnorm;
    int j0 = 0, n = 0, restarts = 0, nconv = 0, st;
    for (;;) {
        st = lanczos_to_convergence(op, &ws, m, j0, g, &rng, &n, &beta, &hnorm, &nconv, err);
        /* n == dim: the basis spans the space and T holds its whole spectrum. */
        if (st || nconv == g->k || (size_t)n == P - (size_t)op->nu || op->nhvp + (m - keep) > o->max_hvp) break;
        lock_top(op, &ws, m, keep, beta, hnorm, g);
        thick_restart(ws.V, ws.T, ws.theta, ws.Y, m, keep, beta, g->which, P, ws.tmp);
        j0 = keep;
        restarts++;
    }
    if (!st) {
        if ((size_t)n == P - (size_t)op->nu) {
            beta = 0;
            nconv = count_converged(&ws, n, g->k, 0.0, g->rdefl, g->which, g->tol, &hnorm);
        }
        if (evecs) ritz_vectors(ws.V, ws.Y, n, g->k, g->which, P, ws.tmp);
        eigs_output(&ws, n, g->k, beta, g->rdefl, g->which, P, evals, evecs, resid);
        *info = (mlpf_eigs_info){nconv, op->nhvp, restarts, hnorm, op->nu};
    }
    free(ws.mem);
    return st;
}

int mlpf_hessian_eigs(const mlpf_objective *obj, const double *x, int k, mlpf_eigs_which which,
                      const mlpf_eigs_options *opt, double *evals, double *evecs, double *resid,
                      mlpf_eigs_info *info, mlpf_error *err) {
    mlpf_eigs_options o = opt ? *opt : (mlpf_eigs_options){0};
    int st = eigs_check(obj, x, k, which, &o, evals, err);
    if (st) return st;
    size_t P = obj->ops.nparams;
    o = eigs_defaults(opt, k, P);
    hvp_op op = {obj, x, P, 0, NULL, 0, deflation_size(&o, k, which, P), NULL};
    eigs_goal g = {k, which, o.tol, 0.0};
    mlpf_eigs_info out = {0};
    if (op.ucap > 0) {
        op.U = mlpf_malloc(((size_t)op.ucap * P + 2 * (size_t)op.ucap) * sizeof *op.U, err);
        if (!op.U) return MLPF_ENOMEM;
        op.uh = op.U + (size_t)op.ucap * P;
    }
    st = eigs_run(&op, &g, &o, evals, evecs, resid, &out, err);
    free(op.U);
    if (st) return st;
    if (info) *info = out;
    if (out.nconv < k)
        return mlpf_fail(err, MLPF_ENUMERIC,
                         "hessian_eigs: %d of %d eigenpairs met tol = %g after %d Hessian-vector "
                         "products (max_hvp); raise max_hvp or ncv (now %d)", out.nconv, k, o.tol,
                         out.nhvp, o.ncv);
    return MLPF_OK;
}

/* A Rademacher vector z (P) of +-1 entries. */
static void rademacher(mlpf_rng *rng, double *z, size_t P) {
    for (size_t q = 0; q < P; q++) z[q] = (mlpf_rng_next(rng) >> 63) ? 1.0 : -1.0;
}

int mlpf_hessian_trace(const mlpf_objective *obj, const double *x, int nprobes, uint64_t seed,
                       double *trace, double *stderr_, mlpf_error *err) {
    if (!trace) return mlpf_fail(err, MLPF_EINVAL, "hessian_trace: trace must not be NULL");
    if (nprobes < 1) return mlpf_fail(err, MLPF_EINVAL, "hessian_trace: nprobes = %d, need >= 1", nprobes);
    int st = mlpf_objective_check_call(obj, x, NULL, 0, err);
    if (st) return st;
    size_t P = obj->ops.nparams;
    double *z = mlpf_malloc(2 * P * sizeof *z, err);
    if (!z) return MLPF_ENOMEM;
    mlpf_rng rng;
    mlpf_rng_seed(&rng, seed);
    double mean = 0, m2 = 0; /* Welford */
    for (int s = 0; s < nprobes && !st; s++) {
        rademacher(&rng, z, P);
        st = mlpf_objective_hvp(obj, x, z, z + P, err);
        if (st) break;
        double q = dot(z, z + P, P), d = q - mean;
        mean += d / (s + 1);
        m2 += d * (q - mean);
    }
    free(z);
    if (st) return st;
    *trace = mean;
    if (stderr_) *stderr_ = nprobes > 1 ? sqrt(m2 / (nprobes - 1) / nprobes) : 0.0;
    return MLPF_OK;
}

/* One probe of SLQ: steps Lanczos steps from z / |z| -> nodes and weights (steps). */
static int slq_probe(hvp_op *op, int steps, mlpf_rng *rng, eigs_ws *ws, double *nodes,
                     double *weights, mlpf_error *err) {
    size_t P = op->P;
    rademacher(rng, ws->V, P);
    double n = sqrt((double)P);
    for (size_t q = 0; q < P; q++) ws->V[q] /= n;
    memset(ws->T, 0, (size_t)steps * (size_t)steps * sizeof *ws->T);
    double beta = 0, hnorm = 0;
    int st = lanczos_extend(op, ws->V, ws->T, 0, steps, steps, &beta, rng, ws->w, ws->h, &hnorm, err);
    if (!st) st = tridiag_eig(ws->T, steps, steps, ws->theta, ws->Y, err);
    if (st) return st;
    for (int i = 0; i < steps; i++) {
        nodes[i] = ws->theta[i];
        weights[i] = ws->Y[i] * ws->Y[i]; /* first component of each eigenvector */
    }
    return MLPF_OK;
}

int mlpf_hessian_slq(const mlpf_objective *obj, const double *x, int nprobes, int steps,
                     uint64_t seed, double *nodes, double *weights, mlpf_error *err) {
    if (!nodes || !weights) return mlpf_fail(err, MLPF_EINVAL, "hessian_slq: nodes and weights must not be NULL");
    if (nprobes < 1 || steps < 1)
        return mlpf_fail(err, MLPF_EINVAL, "hessian_slq: nprobes = %d and steps = %d must be >= 1", nprobes, steps);
    int st = mlpf_objective_check_call(obj, x, NULL, 0, err);
    if (st) return st;
    size_t P = obj->ops.nparams;
    int m = (size_t)steps > P ? (int)P : steps;
    eigs_ws ws;
    if (eigs_alloc(m, P, &ws, err)) return MLPF_ENOMEM;
    hvp_op op = {obj, x, P, 0, NULL, 0, 0, NULL};
    mlpf_rng rng;
    mlpf_rng_seed(&rng, seed);
    for (int s = 0; s < nprobes && !st; s++) {
        double *nd = nodes + (size_t)s * (size_t)steps, *wt = weights + (size_t)s * (size_t)steps;
        for (int i = m; i < steps; i++) nd[i] = wt[i] = 0;
        st = slq_probe(&op, m, &rng, &ws, nd, wt, err);
    }
    free(ws.mem);
    return st;
}

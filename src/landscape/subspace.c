/* subspace.c - the objective restricted to an affine subspace orthogonal to a
   plane, and the minimal loss over that subspace at points of the plane.

   x = c + Q z with c = ref + a1 v1 + a2 v2 and Q (p, p - r) an orthonormal basis
   of span(v1, v2)'s orthogonal complement. Q is never stored: the QR
   factorisation of V = [v1 v2] gives V = H_1 ... H_r [R; 0] with Householder
   reflectors H_k = I - tau_k u_k u_k^T, and the full orthogonal matrix
   Qf = H_1 ... H_r has span(V) in its first r columns and the complement in the
   rest. So Q z = Qf [0; z] and Q^T g = (Qf^T g)[r:], each r reflector
   applications (O(r p)), and Q^T H Q is the trailing block of Qf^T H Qf
   (O(r p^2)). Orthogonal transformations are backward stable, so the
   restricted loss, gradient and Hessian are exact to rounding. */
#include "internal.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

typedef struct {
    const mlpf_objective *base;
    size_t p, r;
    double *u;       /* (r, p): reflector vectors, u_k[i] = 0 for i < k, u_k[k] = 1 */
    double tau[2];
    double *ref, *v1, *v2; /* copies; v2 NULL when absent */
    double *c;       /* (p) ref + a1 v1 + a2 v2 */
} subspace;

static void subspace_free(void *ctx) {
    subspace *s = ctx;
    if (!s) return;
    free(s->u);
    free(s->ref);
    free(s->v1);
    free(s->v2);
    free(s->c);
    free(s);
}

/* y := H_k y */
static void reflect(const subspace *s, size_t k, double *y) {
    const double *u = s->u + k * s->p;
    double d = 0;
    for (size_t i = k; i < s->p; i++) d += u[i] * y[i];
    d *= s->tau[k];
    for (size_t i = k; i < s->p; i++) y[i] -= d * u[i];
}

/* y := Qf^T y  (Qf^T = H_r ... H_1: H_1 acts first) */
static void apply_qt(const subspace *s, double *y) {
    for (size_t k = 0; k < s->r; k++) reflect(s, k, y);
}

/* y := Qf y  (H_r acts first) */
static void apply_q(const subspace *s, double *y) {
    for (size_t k = s->r; k-- > 0;) reflect(s, k, y);
}

static void plane_point(subspace *s, double a1, double a2) {
    for (size_t i = 0; i < s->p; i++)
        s->c[i] = s->ref[i] + a1 * s->v1[i] + (s->v2 ? a2 * s->v2[i] : 0.0);
}

/* x (p) = c + Q z; z has p - r entries. */
static void z_to_x(const subspace *s, const double *z, double *x) {
    memset(x, 0, s->r * sizeof *x);
    memcpy(x + s->r, z, (s->p - s->r) * sizeof *x);
    apply_q(s, x);
    for (size_t i = 0; i < s->p; i++) x[i] += s->c[i];
}

/* z = Q^T (x - c): the orthogonal projection of x onto the subspace. tmp (p). */
static void x_to_z(const subspace *s, const double *x, double *z, double *tmp) {
    for (size_t i = 0; i < s->p; i++) tmp[i] = x[i] - s->c[i];
    apply_qt(s, tmp);
    memcpy(z, tmp + s->r, (s->p - s->r) * sizeof *z);
}

static int subspace_eval(void *ctx, const double *z, const size_t *subset, size_t nsubset,
                         double *loss, double *grad, double *hess, mlpf_error *err) {
    const subspace *s = ctx;
    size_t p = s->p, r = s->r, q = p - r;
    /* Scratch per call keeps eval reentrant. */
    double *x = mlpf_malloc(2 * p * sizeof *x, err);
    double *H = hess ? mlpf_malloc(p * p * sizeof *H, err) : NULL;
    if (!x || (hess && !H)) {
        free(x);
        free(H);
        return MLPF_ENOMEM;
    }
    double *g = x + p;
    z_to_x(s, z, x);
    int st = s->base->ops.eval(s->base->ctx, x, subset, nsubset, loss, grad ? g : NULL, H, err);
    if (st == MLPF_OK && grad) {
        apply_qt(s, g);
        memcpy(grad, g + r, q * sizeof *grad);
    }
    if (st == MLPF_OK && hess) {
        /* H := Qf^T H Qf, one reflector at a time from each side:
           H_k H = H - tau u (H^T u)^T and H H_k = H - tau (H u) u^T. */
        for (size_t k = 0; k < r; k++) {
            const double *u = s->u + k * p;
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)p, (int)p, 1.0, H, (int)p, u, 1, 0.0, g, 1);
            cblas_dger(CblasRowMajor, (int)p, (int)p, -s->tau[k], u, 1, g, 1, H, (int)p);
        }
        for (size_t k = 0; k < r; k++) {
            const double *u = s->u + k * p;
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)p, (int)p, 1.0, H, (int)p, u, 1, 0.0, g, 1);
            cblas_dger(CblasRowMajor, (int)p, (int)p, -s->tau[k], g, 1, u, 1, H, (int)p);
        }
        /* The two sides round differently; the mean is symmetric exactly, as
           eigensolvers and Newton steps expect. */
        for (size_t i = 0; i < q; i++)
            for (size_t j = 0; j < q; j++)
                hess[i * q + j] = 0.5 * (H[(r + i) * p + r + j] + H[(r + j) * p + r + i]);
    }
    free(x);
    free(H);
    return st;
}

/* Builds the context; *out owns copies of ref, v1, v2. */
static int subspace_create(const mlpf_objective *base, const double *ref, const double *v1,
                           const double *v2, double a1, double a2, subspace **out,
                           mlpf_error *err) {
    *out = NULL;
    if (!base) return mlpf_fail(err, MLPF_EINVAL, "subspace: base objective is NULL");
    if (!ref || !v1) return mlpf_fail(err, MLPF_EINVAL, "subspace: ref and v1 must not be NULL");
    size_t p = base->ops.nparams;
    if (p > (size_t)INT32_MAX) return mlpf_fail(err, MLPF_EINVAL, "subspace: p = %zu is too large for BLAS", p);
    size_t bad;
    if ((bad = mlpf_first_nonfinite(ref, p)))
        return mlpf_fail(err, MLPF_ENONFINITE, "subspace: ref[%zu] is not finite", bad - 1);
    if ((bad = mlpf_first_nonfinite(v1, p)))
        return mlpf_fail(err, MLPF_ENONFINITE, "subspace: v1[%zu] is not finite", bad - 1);
    if (v2 && (bad = mlpf_first_nonfinite(v2, p)))
        return mlpf_fail(err, MLPF_ENONFINITE, "subspace: v2[%zu] is not finite", bad - 1);
    if (!isfinite(a1) || !isfinite(a2))
        return mlpf_fail(err, MLPF_ENONFINITE, "subspace: plane coordinates a1 = %g, a2 = %g must be finite", a1, a2);

    subspace *s = mlpf_calloc(1, sizeof *s, err);
    if (!s) return MLPF_ENOMEM;
    s->base = base;
    s->p = p;
    s->ref = mlpf_malloc(p * sizeof *s->ref, err);
    s->v1 = mlpf_malloc(p * sizeof *s->v1, err);
    s->v2 = v2 ? mlpf_malloc(p * sizeof *s->v2, err) : NULL;
    s->c = mlpf_malloc(p * sizeof *s->c, err);
    s->u = mlpf_calloc(2 * p, sizeof *s->u, err);
    double *a = mlpf_malloc(2 * p * sizeof *a, err);
    if (!s->ref || !s->v1 || (v2 && !s->v2) || !s->c || !s->u || !a) {
        free(a);
        subspace_free(s);
        return MLPF_ENOMEM;
    }
    memcpy(s->ref, ref, p * sizeof *ref);
    memcpy(s->v1, v1, p * sizeof *v1);
    if (v2) memcpy(s->v2, v2, p * sizeof *v2);

    double n1 = cblas_dnrm2((int)p, v1, 1), n2 = v2 ? cblas_dnrm2((int)p, v2, 1) : 0.0;
    if (n1 == 0.0) {
        free(a);
        subspace_free(s);
        return mlpf_fail(err, MLPF_EINVAL, "subspace: v1 is the zero vector; it spans no direction");
    }
    /* Column-major V (p, 2) for dgeqrf. */
    memcpy(a, v1, p * sizeof *a);
    size_t cols = v2 && n2 > 0.0 && p >= 2 ? 2 : 1;
    if (cols == 2) memcpy(a + p, v2, p * sizeof *a);
    lapack_int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)cols, a,
                                     (lapack_int)p, s->tau);
    if (info != 0) {
        free(a);
        subspace_free(s);
        if (info == LAPACK_WORK_MEMORY_ERROR) return mlpf_fail(err, MLPF_ENOMEM, "subspace: out of memory in dgeqrf");
        return mlpf_fail(err, MLPF_ENUMERIC, "subspace: QR of [v1 v2] failed (dgeqrf info %d)", (int)info);
    }
    /* |R_22| is the part of v2 orthogonal to v1: when it is at rounding level,
       v2 adds no direction and the plane is the line through v1 (rank 1). */
    s->r = cols;
    if (cols == 2 && fabs(a[p + 1]) <= 64.0 * DBL_EPSILON * n2) s->r = 1;
    if (p <= s->r) {
        size_t r = s->r;
        free(a);
        subspace_free(s);
        return mlpf_fail(err, MLPF_EINVAL,
                         "subspace: the objective has p = %zu parameters, so the complement of a "
                         "rank-%zu plane is empty", p, r);
    }
    for (size_t k = 0; k < s->r; k++) {
        double *u = s->u + k * p;
        u[k] = 1.0;
        for (size_t i = k + 1; i < p; i++) u[i] = a[k * p + i];
    }
    free(a);
    plane_point(s, a1, a2);
    *out = s;
    return MLPF_OK;
}

/* hv = Q^T H Q v: Q v = Qf [0; v], then (Qf^T H Q v)[r:]. */
static int subspace_hvp(void *ctx, const double *z, const size_t *subset, size_t nsubset,
                        const double *v, double *hv, mlpf_error *err) {
    const subspace *s = ctx;
    size_t p = s->p, r = s->r;
    double *x = mlpf_malloc(3 * p * sizeof *x, err);
    if (!x) return MLPF_ENOMEM;
    double *vx = x + p, *hx = vx + p;
    z_to_x(s, z, x);
    memset(vx, 0, r * sizeof *vx);
    memcpy(vx + r, v, (p - r) * sizeof *vx);
    apply_q(s, vx);
    int st = mlpf_objective_hvp_subset(s->base, x, subset, nsubset, vx, hx, err);
    if (!st) {
        apply_qt(s, hx);
        memcpy(hv, hx + r, (p - r) * sizeof *hv);
    }
    free(x);
    return st;
}

static mlpf_objective *subspace_objective(subspace *s, mlpf_error *err) {
    mlpf_objective_ops ops = {.name = "subspace", .nparams = s->p - s->r,
                              .nsamples = s->base->ops.nsamples, .eval = subspace_eval,
                              .free_ctx = subspace_free};
    /* net stays NULL: the parameters z are not a network's layout. */
    mlpf_objective *obj = mlpf_objective_custom(&ops, s, err);
    if (obj) obj->hvp = subspace_hvp;
    return obj;
}

mlpf_objective *mlpf_objective_subspace(const mlpf_objective *base, const double *ref,
                                        const double *v1, const double *v2, double a1, double a2,
                                        mlpf_error *err) {
    mlpf_error_clear(err);
    subspace *s;
    if (subspace_create(base, ref, v1, v2, a1, a2, &s, err)) return NULL;
    return subspace_objective(s, err);
}

int mlpf_subspace_point(const mlpf_objective *sub, const double *z, double *x, mlpf_error *err) {
    mlpf_error_clear(err);
    if (!sub || !z || !x) return mlpf_fail(err, MLPF_EINVAL, "subspace_point: sub, z and x must not be NULL");
    if (sub->ops.eval != subspace_eval)
        return mlpf_fail(err, MLPF_EINVAL,
                         "subspace_point: objective \"%s\" was not made by mlpf_objective_subspace",
                         sub->ops.name);
    const subspace *s = sub->ctx;
    size_t bad = mlpf_first_nonfinite(z, s->p - s->r);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "subspace_point: z[%zu] is not finite", bad - 1);
    z_to_x(s, z, x);
    return MLPF_OK;
}

/* ---- minimal loss over the complement ---- */

static void default_options(const mlpf_train_options *opt, mlpf_train_options *o) {
    if (opt) {
        *o = *opt;
        return;
    }
    /* Only the minimum matters here, not the path to it: skip the flow and
       let a trust-region Newton method converge quadratically. */
    mlpf_train_options_default(o);
    snprintf(o->alg, sizeof o->alg, "none");
    snprintf(o->optim_solver, sizeof o->optim_solver, "newtontr");
}

/* Minimise sub from zstart and from `restarts` perturbations of it. On success
   *loss is the lowest loss and zbest its point. work holds 2 (p - r) + p. */
static int minimise_at(mlpf_objective *sub, const subspace *s, const double *zstart, int restarts,
                       mlpf_rng *rng, const mlpf_train_options *o, double *loss, double *zbest,
                       double *work, mlpf_error *err) {
    size_t q = s->p - s->r;
    double *z0 = work, *zcur = work + q, *xs = work + 2 * q;
    /* Perturbation scale: the size of the parameters themselves, so restarts
       explore other basins at the network's own scale. */
    z_to_x(s, zstart, xs);
    double ss = 0;
    for (size_t i = 0; i < s->p; i++) ss += xs[i] * xs[i];
    double scale = sqrt(ss / (double)s->p);
    if (!(scale > 0)) scale = 1.0;
    *loss = INFINITY;
    for (int t = 0; t <= restarts; t++) {
        for (size_t i = 0; i < q; i++) z0[i] = zstart[i] + (t ? scale * mlpf_rng_normal(rng) : 0.0);
        mlpf_result *res = NULL;
        int st = mlpf_train(sub, z0, o, &res, err);
        if (st) {
            mlpf_result_free(res);
            return mlpf_fail_prefix(err, st, "subspace minloss, start %d", t);
        }
        memcpy(zcur, res->x, q * sizeof *zcur);
        mlpf_result_free(res);
        double l;
        /* The unregularised loss, whatever the options wrapped around it. */
        st = mlpf_objective_eval(sub, zcur, &l, NULL, NULL, err);
        if (st) return st;
        if (l < *loss) {
            *loss = l;
            memcpy(zbest, zcur, q * sizeof *zbest);
        }
    }
    return MLPF_OK;
}

/* What both minimisers need: the subspace objective at (a1, a2), a buffer with
   the start z (projection of x0), the best z, and work space, the options and
   a seeded generator. On failure nothing is left allocated. */
typedef struct {
    subspace *s;
    mlpf_objective *sub;
    size_t q;
    double *buf, *zs, *zb, *work;
    mlpf_train_options o;
    mlpf_rng rng;
} minloss_setup;

static int minloss_begin(const mlpf_objective *base, const double *ref, const double *v1,
                         const double *v2, double a1, double a2, const double *x0, uint64_t seed,
                         const mlpf_train_options *opt, minloss_setup *m, mlpf_error *err) {
    int st = subspace_create(base, ref, v1, v2, a1, a2, &m->s, err);
    if (st) return st;
    m->sub = subspace_objective(m->s, err);
    if (!m->sub) return err && err->status ? err->status : MLPF_ENOMEM;
    size_t p = m->s->p;
    m->q = p - m->s->r;
    m->buf = mlpf_malloc((4 * m->q + 2 * p) * sizeof *m->buf, err);
    if (!m->buf) {
        mlpf_objective_free(m->sub);
        return MLPF_ENOMEM;
    }
    m->zs = m->buf;
    m->zb = m->buf + m->q;
    m->work = m->buf + 2 * m->q;
    x_to_z(m->s, x0, m->zs, m->work + 2 * m->q + p);
    default_options(opt, &m->o);
    mlpf_rng_seed(&m->rng, seed);
    return MLPF_OK;
}

static void minloss_end(minloss_setup *m) {
    free(m->buf);
    mlpf_objective_free(m->sub);
}

int mlpf_subspace_minloss(const mlpf_objective *base, const double *ref, const double *v1,
                          const double *v2, double a1, double a2, const double *x0, int restarts,
                          uint64_t seed, const mlpf_train_options *opt, double *loss, double *x,
                          mlpf_error *err) {
    mlpf_error_clear(err);
    if (!loss) return mlpf_fail(err, MLPF_EINVAL, "subspace_minloss: loss must not be NULL");
    if (restarts < 0) return mlpf_fail(err, MLPF_EINVAL, "subspace_minloss: restarts = %d must be >= 0", restarts);
    if (base && x0) {
        size_t bad = mlpf_first_nonfinite(x0, base->ops.nparams);
        if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "subspace_minloss: x0[%zu] is not finite", bad - 1);
    }
    minloss_setup m;
    int st = minloss_begin(base, ref, v1, v2, a1, a2, x0 ? x0 : ref, seed, opt, &m, err);
    if (st) return st;
    st = minimise_at(m.sub, m.s, m.zs, restarts, &m.rng, &m.o, loss, m.zb, m.work, err);
    if (st == MLPF_OK && x) z_to_x(m.s, m.zb, x);
    minloss_end(&m);
    return st;
}

int mlpf_subspace_minloss_grid(const mlpf_objective *base, const double *ref, const double *v1,
                               const double *v2, const double *a1s, size_t n1, const double *a2s,
                               size_t n2, int restarts, uint64_t seed,
                               const mlpf_train_options *opt, double *losses, mlpf_error *err) {
    mlpf_error_clear(err);
    if (n1 == 0 || n2 == 0) return mlpf_fail(err, MLPF_EINVAL, "subspace_minloss_grid: empty grid (n1 = %zu, n2 = %zu)", n1, n2);
    if (!a1s || !losses) return mlpf_fail(err, MLPF_EINVAL, "subspace_minloss_grid: a1s and losses must not be NULL");
    if (!a2s && n2 != 1)
        return mlpf_fail(err, MLPF_EINVAL, "subspace_minloss_grid: a2s is NULL but n2 = %zu (NULL means one a2 = 0)", n2);
    if (restarts < 0) return mlpf_fail(err, MLPF_EINVAL, "subspace_minloss_grid: restarts = %d must be >= 0", restarts);
    size_t bad;
    if ((bad = mlpf_first_nonfinite(a1s, n1)))
        return mlpf_fail(err, MLPF_ENONFINITE, "subspace_minloss_grid: a1s[%zu] is not finite", bad - 1);
    if (a2s && (bad = mlpf_first_nonfinite(a2s, n2)))
        return mlpf_fail(err, MLPF_ENONFINITE, "subspace_minloss_grid: a2s[%zu] is not finite", bad - 1);
    minloss_setup m;
    int st = minloss_begin(base, ref, v1, v2, a1s[0], a2s ? a2s[0] : 0.0, ref, seed, opt, &m, err);
    if (st) return st;
    /* Boustrophedon order: consecutive grid points are always neighbours. Q
       depends only on v1, v2, so the previous minimiser's z is the projection of
       its x onto the next point's subspace, and it is the warm start as is. */
    for (size_t i = 0; i < n1 && st == MLPF_OK; i++) {
        for (size_t jj = 0; jj < n2; jj++) {
            size_t j = i % 2 ? n2 - 1 - jj : jj;
            plane_point(m.s, a1s[i], a2s ? a2s[j] : 0.0);
            st = minimise_at(m.sub, m.s, m.zs, restarts, &m.rng, &m.o, &losses[i * n2 + j], m.zb, m.work, err);
            if (st) {
                mlpf_fail_prefix(err, st, "grid point (%zu, %zu)", i, j);
                break;
            }
            memcpy(m.zs, m.zb, m.q * sizeof *m.zs);
        }
    }
    minloss_end(&m);
    return st;
}

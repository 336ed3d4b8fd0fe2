/* affine.c - an objective restricted to an affine subspace of any dimension:
   x = origin + B z with B (p, d) given column by column, or built from groups of
   tied parameter indices.

   The restricted loss is L(origin + B z); by the chain rule its gradient is
   B^T g and its Hessian B^T H B (g, H of the base objective at x), exact like
   the base. B need not be orthonormal: tied groups give 0/1 columns, so a
   group's coordinate is the common value of its parameters. */
#include "internal.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

typedef struct {
    const mlpf_objective *base;
    size_t p, d;
    double *origin;  /* (p) */
    double *basis;   /* (p, d) row-major; NULL for a tied layout */
    int *group;      /* (p) tied layout: column of parameter i (B[i, group[i]] = 1), < 0 fixed */
} affine;

static void affine_free(void *ctx) {
    affine *a = ctx;
    if (!a) return;
    free(a->origin);
    free(a->basis);
    free(a->group);
    free(a);
}

/* x (p) = origin + B z (d) */
static void affine_x(const affine *a, const double *z, double *x) {
    memcpy(x, a->origin, a->p * sizeof *x);
    if (a->group) {
        for (size_t i = 0; i < a->p; i++)
            if (a->group[i] >= 0) x[i] += z[a->group[i]];
        return;
    }
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)a->p, (int)a->d, 1.0, a->basis, (int)a->d, z, 1,
                1.0, x, 1);
}

/* zg (d) = B^T g (p): for a tied layout each group's sum, in parameter order. */
static void affine_pullback(const affine *a, const double *g, double *zg) {
    if (a->group) {
        memset(zg, 0, a->d * sizeof *zg);
        for (size_t i = 0; i < a->p; i++)
            if (a->group[i] >= 0) zg[a->group[i]] += g[i];
        return;
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)a->p, (int)a->d, 1.0, a->basis, (int)a->d, g, 1, 0.0,
                zg, 1);
}

/* hess (d, d) = B^T H B, symmetrised; HB (p, d) scratch (unused for a tied layout). */
static void affine_hessian(const affine *a, const double *H, double *HB, double *hess) {
    int p = (int)a->p, d = (int)a->d;
    if (a->group) {
        memset(hess, 0, (size_t)d * (size_t)d * sizeof *hess);
        for (int i = 0; i < p; i++) {
            if (a->group[i] < 0) continue;
            double *row = hess + (size_t)a->group[i] * (size_t)d;
            for (int j = 0; j < p; j++)
                if (a->group[j] >= 0) row[a->group[j]] += H[(size_t)i * (size_t)p + (size_t)j];
        }
    } else {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p, d, p, 1.0, H, p, a->basis, d, 0.0,
                    HB, d);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, p, 1.0, a->basis, d, HB, d, 0.0,
                    hess, d);
    }
    /* Rounding makes the product slightly asymmetric; eigensolvers and Newton
       steps expect an exactly symmetric matrix. */
    for (int i = 0; i < d; i++)
        for (int j = i + 1; j < d; j++) {
            double m = 0.5 * (hess[i * d + j] + hess[j * d + i]);
            hess[i * d + j] = hess[j * d + i] = m;
        }
}

static int affine_eval(void *ctx, const double *z, const size_t *subset, size_t nsubset,
                       double *loss, double *grad, double *hess, mlpf_error *err) {
    const affine *a = ctx;
    size_t p = a->p, d = a->d;
    /* Scratch per call keeps eval reentrant. */
    double *x = mlpf_malloc(2 * p * sizeof *x, err);
    double *H = hess ? mlpf_malloc((p * p + (a->group ? 0 : p * d)) * sizeof *H, err) : NULL;
    if (!x || (hess && !H)) {
        free(x);
        free(H);
        return MLPF_ENOMEM;
    }
    double *g = x + p;
    affine_x(a, z, x);
    int st = a->base->ops.eval(a->base->ctx, x, subset, nsubset, loss, grad ? g : NULL, H, err);
    if (st == MLPF_OK && grad) affine_pullback(a, g, grad);
    if (st == MLPF_OK && hess) affine_hessian(a, H, H + p * p, hess);
    free(x);
    free(H);
    return st;
}

/* hv (d) = B^T H (B v). */
static int affine_hvp(void *ctx, const double *z, const size_t *subset, size_t nsubset,
                      const double *v, double *hv, mlpf_error *err) {
    const affine *a = ctx;
    size_t p = a->p;
    double *x = mlpf_malloc(3 * p * sizeof *x, err);
    if (!x) return MLPF_ENOMEM;
    double *vx = x + p, *hx = vx + p;
    affine_x(a, z, x);
    /* vx = B v: the map of v with a zero origin */
    if (a->group) {
        for (size_t i = 0; i < p; i++) vx[i] = a->group[i] >= 0 ? v[a->group[i]] : 0.0;
    } else {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)p, (int)a->d, 1.0, a->basis, (int)a->d, v, 1,
                    0.0, vx, 1);
    }
    int st = mlpf_objective_hvp_subset(a->base, x, subset, nsubset, vx, hx, err);
    if (!st) affine_pullback(a, hx, hv);
    free(x);
    return st;
}

static mlpf_objective *affine_objective(affine *a, mlpf_error *err) {
    mlpf_objective_ops ops = {.name = "affine", .nparams = a->d,
                              .nsamples = a->base->ops.nsamples, .eval = affine_eval,
                              .free_ctx = affine_free};
    /* On failure mlpf_objective_custom frees the context itself. */
    mlpf_objective *obj = mlpf_objective_custom(&ops, a, err);
    if (obj) obj->hvp = affine_hvp;
    return obj;
}

/* Allocates the context with room for origin (p) and either basis (p, d) or,
   tied, group (p). */
static affine *affine_alloc(const mlpf_objective *base, size_t d, int tied, mlpf_error *err) {
    affine *a = mlpf_calloc(1, sizeof *a, err);
    if (!a) return NULL;
    a->base = base;
    a->p = base->ops.nparams;
    a->d = d;
    a->origin = mlpf_calloc(a->p, sizeof *a->origin, err);
    if (tied) a->group = mlpf_calloc(a->p, sizeof *a->group, err);
    else a->basis = mlpf_calloc(a->p * d, sizeof *a->basis, err);
    if (!a->origin || (!a->basis && !a->group)) {
        affine_free(a);
        return NULL;
    }
    return a;
}

mlpf_objective *mlpf_objective_affine(const mlpf_objective *base, const double *origin,
                                      const double *basis, size_t d, mlpf_error *err) {
    mlpf_error_clear(err);
    if (!base || !origin || !basis) {
        mlpf_fail(err, MLPF_EINVAL, "affine: base, origin and basis must not be NULL");
        return NULL;
    }
    size_t p = base->ops.nparams, bad;
    if (d == 0 || d > p || p > (size_t)INT32_MAX) {
        mlpf_fail(err, MLPF_EINVAL, "affine: dimension d = %zu must be in 1..p = %zu", d, p);
        return NULL;
    }
    if ((bad = mlpf_first_nonfinite(origin, p))) {
        mlpf_fail(err, MLPF_ENONFINITE, "affine: origin[%zu] is not finite", bad - 1);
        return NULL;
    }
    if ((bad = mlpf_first_nonfinite(basis, p * d))) {
        mlpf_fail(err, MLPF_ENONFINITE, "affine: basis[%zu, %zu] is not finite", (bad - 1) / d,
                  (bad - 1) % d);
        return NULL;
    }
    affine *a = affine_alloc(base, d, 0, err);
    if (!a) return NULL;
    memcpy(a->origin, origin, p * sizeof *origin);
    memcpy(a->basis, basis, p * d * sizeof *basis);
    return affine_objective(a, err);
}

/* Number of coordinates of a tied layout: distinct non-negative group ids.
   Fails when an id is not in 0..d-1 for the d it implies (ids must be dense). */
static int tied_dimension(const int *group, size_t p, size_t *d, mlpf_error *err) {
    int maxid = -1;
    for (size_t i = 0; i < p; i++)
        if (group[i] > maxid) maxid = group[i];
    if (maxid < 0) return mlpf_fail(err, MLPF_EINVAL, "tied: every parameter is fixed (all group ids < 0)");
    char *seen = mlpf_calloc((size_t)maxid + 1, 1, err);
    if (!seen) return MLPF_ENOMEM;
    for (size_t i = 0; i < p; i++)
        if (group[i] >= 0) seen[group[i]] = 1;
    for (int g = 0; g <= maxid; g++)
        if (!seen[g]) {
            free(seen);
            return mlpf_fail(err, MLPF_EINVAL,
                             "tied: group id %d is unused but id %d is used; ids must be 0..d-1", g,
                             maxid);
        }
    free(seen);
    *d = (size_t)maxid + 1;
    return MLPF_OK;
}

mlpf_objective *mlpf_objective_tied(const mlpf_objective *base, const double *fixed,
                                    const int *group, mlpf_error *err) {
    mlpf_error_clear(err);
    if (!base || !group) {
        mlpf_fail(err, MLPF_EINVAL, "tied: base and group must not be NULL");
        return NULL;
    }
    size_t p = base->ops.nparams, d = 0;
    if (tied_dimension(group, p, &d, err)) return NULL;
    int anyfixed = 0;
    for (size_t i = 0; i < p; i++) anyfixed |= group[i] < 0;
    if (anyfixed && !fixed) {
        mlpf_fail(err, MLPF_EINVAL, "tied: some group ids are < 0 (fixed parameters) but fixed is NULL");
        return NULL;
    }
    affine *a = affine_alloc(base, d, 1, err);
    if (!a) return NULL;
    for (size_t i = 0; i < p; i++) {
        a->group[i] = group[i] < 0 ? -1 : group[i];
        if (group[i] >= 0) continue;
        if (!isfinite(fixed[i])) {
            affine_free(a);
            mlpf_fail(err, MLPF_ENONFINITE, "tied: fixed[%zu] is not finite", i);
            return NULL;
        } else {
            a->origin[i] = fixed[i];
        }
    }
    return affine_objective(a, err);
}

static int affine_ctx(const mlpf_objective *obj, const char *fn, const affine **a, mlpf_error *err) {
    if (!obj) return mlpf_fail(err, MLPF_EINVAL, "%s: objective is NULL", fn);
    if (obj->ops.eval != affine_eval)
        return mlpf_fail(err, MLPF_EINVAL, "%s: objective \"%s\" was not made by mlpf_objective_affine "
                         "or mlpf_objective_tied", fn, obj->ops.name);
    *a = obj->ctx;
    return MLPF_OK;
}

int mlpf_affine_point(const mlpf_objective *sub, const double *z, double *x, mlpf_error *err) {
    mlpf_error_clear(err);
    const affine *a = NULL;
    int st = affine_ctx(sub, "affine_point", &a, err);
    if (st) return st;
    if (!z || !x) return mlpf_fail(err, MLPF_EINVAL, "affine_point: z and x must not be NULL");
    size_t bad = mlpf_first_nonfinite(z, a->d);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "affine_point: z[%zu] is not finite", bad - 1);
    affine_x(a, z, x);
    return MLPF_OK;
}

int mlpf_affine_project(const mlpf_objective *sub, const double *x, double *z, mlpf_error *err) {
    mlpf_error_clear(err);
    const affine *a = NULL;
    int st = affine_ctx(sub, "affine_project", &a, err);
    if (st) return st;
    if (!z || !x) return mlpf_fail(err, MLPF_EINVAL, "affine_project: x and z must not be NULL");
    size_t p = a->p, d = a->d, bad = mlpf_first_nonfinite(x, p);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "affine_project: x[%zu] is not finite", bad - 1);
    if (a->group) {   /* least squares on disjoint 0/1 columns: each group's mean */
        size_t *count = mlpf_calloc(d, sizeof *count, err);
        if (!count) return MLPF_ENOMEM;
        memset(z, 0, d * sizeof *z);
        for (size_t i = 0; i < p; i++)
            if (a->group[i] >= 0) z[a->group[i]] += x[i] - a->origin[i], count[a->group[i]]++;
        for (size_t g = 0; g < d; g++) z[g] /= (double)count[g];
        free(count);
        return MLPF_OK;
    }
    /* Least squares min |B z - (x - origin)| by QR (dgels) on copies. */
    double *B = mlpf_malloc((p * d + p) * sizeof *B, err);
    if (!B) return MLPF_ENOMEM;
    double *r = B + p * d;
    memcpy(B, a->basis, p * d * sizeof *B);
    for (size_t i = 0; i < p; i++) r[i] = x[i] - a->origin[i];
    lapack_int info = LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', (lapack_int)p, (lapack_int)d, 1, B,
                                    (lapack_int)d, r, 1);
    if (info == 0) memcpy(z, r, d * sizeof *z);
    free(B);
    if (info > 0)
        return mlpf_fail(err, MLPF_EINVAL, "affine_project: the basis is rank deficient (column %d "
                         "depends on the others)", (int)info - 1);
    if (info < 0) return mlpf_fail(err, MLPF_ENUMERIC, "affine_project: dgels failed (info %d)", (int)info);
    return MLPF_OK;
}

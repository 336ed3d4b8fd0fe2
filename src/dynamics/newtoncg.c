/* newtoncg.c - Newton-Krylov: a trust-region Newton method whose subproblem
   is solved by truncated conjugate gradients on exact Hessian-vector products
   (Steihaug-Toint), so it needs O(P) memory and runs where the dense Hessian
   of newtontr cannot.

   CG on H s = -g stops at the trust-region boundary, on a direction of
   negative curvature (followed to the boundary: saddles are left downhill),
   or when the residual is below min(1/2, sqrt|g|) |g| (superlinear
   convergence near a non-degenerate minimum). The acceptance rule and the
   radius updates are newtontr's, including its "blind" steps at the loss's
   rounding level judged by the gradient. */
#include "dynamics/dynamics.h"

#include <math.h>
#include <string.h>

static double dotp(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* tau >= 0 with |z + tau d| = delta (|z| <= delta). */
static double to_boundary(const double *z, const double *d, size_t n, double delta) {
    double dd = dotp(d, d, n), zd = dotp(z, d, n), zz = dotp(z, z, n);
    double disc = zd * zd + dd * (delta * delta - zz);
    return dd > 0 ? (-zd + sqrt(fmax(disc, 0.0))) / dd : 0.0;
}

typedef struct {
    double *z, *r, *d, *hd; /* (p) each */
    long hvps;
} cg_ws;

/* Steihaug-Toint CG for min g.s + s.H s / 2, |s| <= delta: s in w->z, and
   returns the predicted decrease -(g.s + s.H s / 2) = -(g.s + r.s) / 2 with
   r = g + H s the model gradient at s. */
static int steihaug(const dyn_problem *pb, const double *x, const double *g, double delta,
                    long maxcg, cg_ws *w, double *pred, mlpf_error *err) {
    size_t p = pb->p;
    double gg = dotp(g, g, p), eps = fmin(0.5, sqrt(sqrt(gg))) * sqrt(gg);
    memset(w->z, 0, p * sizeof *w->z);
    memcpy(w->r, g, p * sizeof *w->r);
    for (size_t i = 0; i < p; i++) w->d[i] = -g[i];
    double rr = gg;
    for (long j = 0; j < maxcg && sqrt(rr) > eps; j++) {
        int st = mlpf_objective_hvp(pb->obj, x, w->d, w->hd, err);
        if (st) return st;
        w->hvps++;
        double dhd = dotp(w->d, w->hd, p), alpha = rr / dhd, tau = 0;
        int boundary = !(dhd > 0);
        if (!boundary) {
            double zz = 0;
            for (size_t i = 0; i < p; i++) zz += (w->z[i] + alpha * w->d[i]) * (w->z[i] + alpha * w->d[i]);
            boundary = zz >= delta * delta;
        }
        if (boundary) tau = to_boundary(w->z, w->d, p, delta);
        double step = boundary ? tau : alpha;
        for (size_t i = 0; i < p; i++) {
            w->z[i] += step * w->d[i];
            w->r[i] += step * w->hd[i];
        }
        if (boundary) break;
        double rr_new = dotp(w->r, w->r, p), beta = rr_new / rr;
        for (size_t i = 0; i < p; i++) w->d[i] = -w->r[i] + beta * w->d[i];
        rr = rr_new;
    }
    *pred = -0.5 * (dotp(g, w->z, p) + dotp(w->r, w->z, p));
    return MLPF_OK;
}

/* One outer iteration's trial loop: shrink the region until a step lowers the
   loss (or is a blind step that lowers the gradient). Updates x, f, g, delta. */
static int newtoncg_step(dyn_problem *pb, const dyn_limits *lim, double *x, double *f, double *g,
                         double *delta, double *snorm, long *it, cg_ws *w, double *xn, double *gn,
                         dyn_stop *why, mlpf_error *err) {
    size_t p = pb->p;
    long maxcg = p < 1000 ? (long)p + 1 : 1000;
    for (;;) {
        ++*it;
        double pred = 0;
        int st = steihaug(pb, x, g, *delta, maxcg, w, &pred, err);
        if (st) return st;
        *snorm = sqrt(dotp(w->z, w->z, p));
        if (!(pred > 0) || *snorm <= 1e-17 * (sqrt(dotp(x, x, p)) + 1e-300)) {
            *why = DYN_STALLED;
            return MLPF_OK;
        }
        for (size_t i = 0; i < p; i++) xn[i] = x[i] + w->z[i];
        double fn = INFINITY;
        st = mlpf_objective_eval(pb->obj, xn, &fn, NULL, NULL, err);
        if (st && st != MLPF_ENONFINITE) return st;
        double rho = fn < *f ? (*f - fn) / pred : -1, noise = DYN_LOSS_NOISE * fabs(*f);
        int blind = !(rho > 1e-4) && pred <= noise && fn <= *f + noise;
        if (rho > 1e-4 || blind) {
            st = mlpf_objective_eval(pb->obj, xn, NULL, gn, NULL, err);
            if (st) return st;
            if (blind && !(dyn_gnorm(pb, gn) < dyn_gnorm(pb, g))) {
                *why = DYN_STALLED;
                return MLPF_OK;
            }
            memcpy(x, xn, p * sizeof *x);
            memcpy(g, gn, p * sizeof *g);
            *f = fn;
            if (rho > 0.75 && *snorm > 0.99 * *delta) *delta *= 2;
            else if (rho < 0.25 && !blind) *delta = 0.25 * *snorm;
            return MLPF_OK;
        }
        *delta = 0.25 * *snorm;
        if ((*why = dyn_stop_limits(pb, lim, *it))) return MLPF_OK;
    }
}

int dyn_newtoncg(dyn_problem *pb, const double *y0, dyn_outcome *out, mlpf_error *err) {
    size_t p = pb->p;
    dyn_limits lim = dyn_limits_optim(pb);
    double *mem = mlpf_malloc(8 * p * sizeof *mem, err);
    if (!mem) { out->wall = mlpf_now() - lim.wall0; return MLPF_ENOMEM; }
    double *x = mem, *g = x + p, *xn = g + p, *gn = xn + p;
    cg_ws w = {gn + p, gn + 2 * p, gn + 3 * p, gn + 4 * p, 0};
    memcpy(x, y0, p * sizeof *x);
    double f, delta = 1, snorm = 0;
    long it = 0;
    dyn_stop why = DYN_GO;
    int st = mlpf_objective_eval(pb->obj, x, &f, g, NULL, err);
    while (!st && !why) {
        double gnorm = dyn_gnorm(pb, g);
        dyn_progress(pb, "optim", 0, f, gnorm, snorm, it);
        dyn_state state = {f, gnorm, it, 0, 0};
        if ((why = dyn_stop_test(pb, &lim, &state))) break;
        st = newtoncg_step(pb, &lim, x, &f, g, &delta, &snorm, &it, &w, xn, gn, &why, err);
    }
    if (!st) {
        out->stopped_by = why;
        memcpy(out->ybest, x, p * sizeof *x);
        out->loss_best = f;
        out->iterations = it;
    }
    free(mem);
    out->wall = mlpf_now() - lim.wall0;
    return st;
}

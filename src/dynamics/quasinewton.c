/* quasinewton.c - BFGS (dense inverse Hessian) and L-BFGS (two-loop recursion,
   10 pairs) with a line search that satisfies the strong Wolfe conditions
   (bracketing then zoom with safeguarded cubic interpolation, as in Nocedal &
   Wright ch. 3). Stops are absolute (loss, gradient inf-norm). */
#include "dynamics/dynamics.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define LBFGS_M 10
#define LS_C1 1e-4
#define LS_C2 0.9
#define LS_MAXEVAL 40

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Minimiser of the cubic through (a, fa, da), (b, fb, db); NAN if none. */
static double cubic_min(double a, double fa, double da, double b, double fb, double db) {
    double d1 = da + db - 3 * (fa - fb) / (a - b);
    double disc = d1 * d1 - da * db;
    if (!(disc >= 0)) return NAN;
    double d2 = (b > a ? 1 : -1) * sqrt(disc);
    double den = db - da + 2 * d2;
    if (den == 0) return NAN;
    return b - (b - a) * (db + d2 - d1) / den;
}

typedef struct {
    dyn_problem *pb;
    const double *x, *d;   /* (p) start and direction */
    double *xt, *gt;       /* (p) trial point and its gradient */
    double f0, d0;         /* loss and slope at a = 0 */
    long evals;
    const dyn_limits *lim; /* checked before every evaluation but the first */
    dyn_stop stopped;      /* a limit cut the search short */
    mlpf_error *err;
} linesearch;

/* phi(a) = L(x + a d) and phi'(a); leaves xt, gt at that point. */
static int ls_eval(linesearch *ls, double a, double *f, double *df) {
    size_t p = ls->pb->p;
    if (ls->evals > 0 && (ls->stopped = dyn_stop_limits(ls->pb, ls->lim, -1))) {
        *f = INFINITY; /* the search ends without a new point */
        *df = NAN;
        return MLPF_OK;
    }
    for (size_t i = 0; i < p; i++) ls->xt[i] = ls->x[i] + a * ls->d[i];
    ls->evals++;
    int st = mlpf_objective_eval(ls->pb->obj, ls->xt, f, ls->gt, NULL, ls->err);
    if (st == MLPF_ENONFINITE || (!st && (!isfinite(*f) || mlpf_first_nonfinite(ls->gt, p)))) {
        *f = INFINITY; /* treat as "too far": the bracket shrinks */
        *df = NAN;
        return MLPF_OK;
    }
    if (st) return st;
    *df = dot(ls->gt, ls->d, p);
    return MLPF_OK;
}

/* Strong Wolfe line search from the trial step a1. *found = 1 with xt, gt at the
   accepted step (*aout, *fout); 2 when only sufficient decrease could be met
   (precision floor); 0 when no lower loss was found. Returns the objective's
   status. */
static int ls_run(linesearch *ls, double a1, double *aout, double *fout, int *found) {
    double a0 = 0, f0 = ls->f0, dprev = ls->d0, fprev = ls->f0;
    double lo = 0, flo = 0, dlo = 0, hi = 0, fhi = 0, dhi = 0;
    int zoom = 0, st;
    double a = a1, f, df;
    /* Near a minimum with non-zero loss, decreases fall below the loss's
       rounding level: comparisons of loss values allow that much slack and
       the slope conditions decide (approximate Wolfe, Hager & Zhang). */
    double noise = DYN_LOSS_NOISE * fabs(f0);
    *found = 0;
    for (int i = 0; i < LS_MAXEVAL; i++) {
        if ((st = ls_eval(ls, a, &f, &df))) return st;
        if (ls->stopped) return MLPF_OK;
        if (f > f0 + LS_C1 * a * ls->d0 + noise || (i > 0 && f > fprev + noise) || isnan(df)) {
            lo = a0, flo = fprev, dlo = dprev, hi = a, fhi = f, dhi = df;
            zoom = 1;
            break;
        }
        if (fabs(df) <= -LS_C2 * ls->d0) {
            *found = 1, *aout = a, *fout = f;
            return MLPF_OK;
        }
        if (df >= 0) {
            lo = a, flo = f, dlo = df, hi = a0, fhi = fprev, dhi = dprev;
            zoom = 1;
            break;
        }
        a0 = a, fprev = f, dprev = df;
        a *= 4;
    }
    if (!zoom) return MLPF_OK;
    /* zoom: lo satisfies sufficient decrease with the lowest loss so far */
    for (int i = 0; i < LS_MAXEVAL; i++) {
        double w = hi - lo, t = NAN;
        if (isfinite(fhi) && !isnan(dhi)) t = cubic_min(lo, flo, dlo, hi, fhi, dhi);
        double l = fmin(lo, hi) + 0.1 * fabs(w), u = fmax(lo, hi) - 0.1 * fabs(w);
        if (!(t >= l && t <= u)) t = lo + 0.5 * w;
        if (t == lo || t == hi) break;
        if ((st = ls_eval(ls, t, &f, &df))) return st;
        if (ls->stopped) return MLPF_OK;
        if (f > f0 + LS_C1 * t * ls->d0 + noise || f > flo + noise || isnan(df)) {
            hi = t, fhi = f, dhi = df;
        } else {
            if (fabs(df) <= -LS_C2 * ls->d0) {
                *found = 1, *aout = t, *fout = f;
                return MLPF_OK;
            }
            if (df * (hi - lo) >= 0) hi = lo, fhi = flo, dhi = dlo;
            lo = t, flo = f, dlo = df;
        }
        if (fabs(hi - lo) <= 1e-16 * fabs(lo)) break;
    }
    /* no strong Wolfe point: accept the best decreasing one, if any */
    if (lo > 0 && flo < f0) {
        if ((st = ls_eval(ls, lo, &f, &df))) return st;
        if (!ls->stopped) *found = 2, *aout = lo, *fout = f;
    }
    return MLPF_OK;
}

/* d = -H g with the L-BFGS two-loop recursion; S, Y (m, p) ring buffers. */
static void lbfgs_dir(const double *g, const double *S, const double *Y, const double *rho,
                      int count, int head, size_t p, double *alpha, double *d) {
    for (size_t i = 0; i < p; i++) d[i] = -g[i];
    for (int k = 0; k < count; k++) {
        int j = (head - 1 - k + LBFGS_M) % LBFGS_M;
        alpha[j] = rho[j] * dot(S + j * p, d, p);
        for (size_t i = 0; i < p; i++) d[i] -= alpha[j] * Y[j * p + i];
    }
    if (count > 0) {
        int j = (head - 1 + LBFGS_M) % LBFGS_M;
        double gamma = dot(S + j * p, Y + j * p, p) / dot(Y + j * p, Y + j * p, p);
        for (size_t i = 0; i < p; i++) d[i] *= gamma;
    }
    for (int k = count - 1; k >= 0; k--) {
        int j = (head - 1 - k + LBFGS_M) % LBFGS_M;
        double beta = rho[j] * dot(Y + j * p, d, p);
        for (size_t i = 0; i < p; i++) d[i] += (alpha[j] - beta) * S[j * p + i];
    }
}

/* Hinv (p, p) += BFGS update with s, y (p); hy (p) scratch. */
static void bfgs_update(double *Hinv, const double *s, const double *y, double *hy, size_t p) {
    double sy = dot(s, y, p), rho = 1 / sy;
    for (size_t i = 0; i < p; i++) hy[i] = dot(Hinv + i * p, y, p);
    double yhy = dot(y, hy, p), c = (rho * rho * yhy + rho);
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++)
            Hinv[i * p + j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + c * s[i] * s[j];
}

/* The minimiser's state: the iterate x, its gradient g, the direction d,
   the line search's trial point xt and gradient gt, the last step s and
   gradient change yv (all p); the dense inverse Hessian Hinv (p, p) or the
   L-BFGS pairs S, Y (LBFGS_M, p) with rho = 1 / s.y. */
typedef struct {
    size_t p;
    int limited, fresh, count, head;
    double *x, *g, *d, *xt, *gt, *s, *yv;
    double *Hinv, *S, *Y;
    double rho[LBFGS_M], alpha[LBFGS_M];
} qn_state;

static void qn_free(qn_state *q) {
    free(q->x);
    free(q->g);
    free(q->d);
    free(q->xt);
    free(q->gt);
    free(q->s);
    free(q->yv);
    free(q->Hinv);
    free(q->S);
    free(q->Y);
}

static int qn_alloc(qn_state *q, size_t p, int limited, mlpf_error *err) {
    memset(q, 0, sizeof *q);
    q->p = p;
    q->limited = limited;
    q->fresh = 1;
    double **vec[] = {&q->x, &q->g, &q->d, &q->xt, &q->gt, &q->s, &q->yv};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++)
        if (!(*vec[i] = mlpf_malloc(p * sizeof(double), err))) return MLPF_ENOMEM;
    if (limited) {
        q->S = mlpf_malloc(LBFGS_M * p * sizeof *q->S, err);
        q->Y = mlpf_malloc(LBFGS_M * p * sizeof *q->Y, err);
        return q->S && q->Y ? MLPF_OK : MLPF_ENOMEM;
    }
    q->Hinv = mlpf_malloc(p * p * sizeof *q->Hinv, err);
    return q->Hinv ? MLPF_OK : MLPF_ENOMEM;
}

/* d = -H g; a fresh start forgets the curvature: steepest descent. */
static void qn_direction(qn_state *q) {
    size_t p = q->p;
    if (q->fresh) {
        q->count = q->head = 0;
        if (!q->limited) {
            memset(q->Hinv, 0, p * p * sizeof *q->Hinv);
            for (size_t i = 0; i < p; i++) q->Hinv[i * p + i] = 1;
        }
    }
    if (q->limited)
        lbfgs_dir(q->g, q->S, q->Y, q->rho, q->count, q->head, p, q->alpha, q->d);
    else
        for (size_t i = 0; i < p; i++) q->d[i] = -dot(q->Hinv + i * p, q->g, p);
}

/* The curvature pair of the accepted step x -> xt: s = xt - x, yv = gt - g,
   into the memory (skipped when s.y is not positive). Returns |s|. */
static double qn_update(qn_state *q) {
    size_t p = q->p;
    for (size_t i = 0; i < p; i++) {
        q->s[i] = q->xt[i] - q->x[i];
        q->yv[i] = q->gt[i] - q->g[i];
    }
    double sy = dot(q->s, q->yv, p);
    if (sy > 1e-300 && isfinite(sy)) {
        if (q->limited) {
            memcpy(q->S + (size_t)q->head * p, q->s, p * sizeof *q->s);
            memcpy(q->Y + (size_t)q->head * p, q->yv, p * sizeof *q->yv);
            q->rho[q->head] = 1 / sy;
            q->head = (q->head + 1) % LBFGS_M;
            if (q->count < LBFGS_M) q->count++;
        } else {
            if (q->fresh) {
                /* scale the initial inverse Hessian to the observed curvature */
                double gamma = sy / dot(q->yv, q->yv, p);
                for (size_t i = 0; i < p; i++) q->Hinv[i * p + i] = gamma;
            }
            bfgs_update(q->Hinv, q->s, q->yv, q->d, p);
        }
        q->fresh = 0;
    }
    return sqrt(dot(q->s, q->s, p));
}

/* One iteration from (x, f, g): direction, line search, update; x, g, f
   move to the accepted point. *why is set when the minimiser cannot go on
   (stalled, or a limit reached inside the line search). */
static int qn_iterate(qn_state *q, dyn_problem *pb, const dyn_limits *lim, double *f,
                      double *step, long *it, dyn_stop *why, mlpf_error *err) {
    size_t p = q->p;
    qn_direction(q);
    double d0 = dot(q->g, q->d, p);
    if (!(d0 < 0)) {
        /* not a descent direction: restart from steepest descent once */
        if (q->fresh) *why = DYN_STALLED;
        q->fresh = 1;
        return MLPF_OK;
    }
    double a1 = 1;
    if (q->fresh) { /* a unit-length first step */
        double gn = sqrt(dot(q->g, q->g, p));
        a1 = gn > 1 ? 1 / gn : 1;
    }
    linesearch ls = {pb, q->x, q->d, q->xt, q->gt, *f, d0, 0, lim, DYN_GO, err};
    double a = 0, fa = *f;
    int found;
    int st = ls_run(&ls, a1, &a, &fa, &found);
    if (st) return st;
    (*it)++;
    if (ls.stopped) {
        *why = ls.stopped;
        return MLPF_OK;
    }
    if (!found) {
        /* no decrease along d: restart from steepest descent once */
        if (q->fresh) *why = DYN_STALLED;
        q->fresh = 1;
        return MLPF_OK;
    }
    *step = qn_update(q);
    memcpy(q->x, q->xt, p * sizeof *q->x);
    memcpy(q->g, q->gt, p * sizeof *q->g);
    *f = fa;
    return MLPF_OK;
}

int dyn_quasinewton(dyn_problem *pb, int limited, const double *y0, dyn_outcome *out,
                    mlpf_error *err) {
    size_t p = pb->p;
    dyn_limits lim = dyn_limits_optim(pb);
    qn_state q;
    double f, step = 0;
    long it = 0;
    dyn_stop why = DYN_GO;
    int st = qn_alloc(&q, p, limited, err);
    if (st) goto done;
    memcpy(q.x, y0, p * sizeof *q.x);
    if ((st = mlpf_objective_eval(pb->obj, q.x, &f, q.g, NULL, err))) goto done;
    dyn_watch watch;
    dyn_watch_init(&watch);
    while (!why) {
        double gnorm = dyn_gnorm(pb, q.g);
        dyn_progress(pb, "optim", 0, f, gnorm, step, it);
        dyn_state state = {f, gnorm, it, 0, 0};
        if ((why = dyn_stop_test(pb, &lim, &state))) break;
        if ((why = dyn_watch_check(&watch, q.x, p, f, gnorm, it))) break;
        if ((st = qn_iterate(&q, pb, &lim, &f, &step, &it, &why, err))) goto done;
    }
    out->stopped_by = why;
    memcpy(out->ybest, q.x, p * sizeof *q.x);
    out->loss_best = f;
    out->iterations = it;
done:
    qn_free(&q);
    out->wall = mlpf_now() - lim.wall0;
    return st;
}

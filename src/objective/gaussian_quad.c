/* gaussian_quad.c - pair expectations E[f(u_i) g(u_j)] and their derivatives by
   2-D quadrature (Gauss-Hermite, or composite Gauss-Legendre for large weights
   and kinks), for activation pairs without closed forms.

   Why x-space: differentiating under the integral sign in x gives
       d/dw_i E[f(u_i) g(u_j)] = E[f'(u_i) g(u_j) x],   d2/dw_i dw_i = E[f'' g x x^T],
   so only f, f', f'' are needed. Writing x = z1 e1 + z2 e2 + x_perp with an
   orthonormal basis (e1, e2) of span(w_i, w_j), x_perp is independent of (u_i, u_j):
       E[F x]     = E[F z1] e1 + E[F z2] e2
       E[F x x^T] = E[F] (I - e1 e1^T - e2 e2^T) + sum_ab E[F z_a z_b] e_a e_b^T.
   With u_i = b_i + s z1 and u_j = b_j + alpha z1 + beta z2, each pair needs
   the 2-D moments of F = f^(p)(u_i) g^(q)(u_j) times 1, z, z z^T. The basis stays
   well defined for zero or parallel weights (beta = 0 drops the z2 direction).

   Rule sizes. For f analytic in the strip |Im u| < d, Gauss-Hermite on
   f(s z + b) converges like exp(-c (d / s) sqrt(n)); measured against adaptive
   quadrature (scipy quad, 1e-15) for softplus, sigmoid, tanh and gelu, s in
   0.5..4, the error is below 1e-14 once n >= 20 + 300 (s / d)^2. We take that
   rule (per direction, from the sizes below; larger n is never worse here),
   with d = pi (sigmoid, softplus, silu), pi/2 (tanh), pi/4 (g), 2 (gelu,
   erf-like, measured) and 4 for exp. Polynomials are integrated exactly.
   Beyond the largest Gauss-Hermite rule (s > ~0.9 d) the node count would grow
   like (s / d)^2; there we switch to a composite rule that grows like s / d:
   12-point Gauss-Legendre panels of width d / s in z (in u each panel is as
   wide as the strip, so its Bernstein ellipse has rho = 2 + sqrt 5 and 12
   points give ~1e-15) over |z| <= 9, the Gaussian in the weights. It is capped
   at MLPF_GQ_MAXCOMP nodes per direction (s < ~8 d); beyond that the error
   bound is not guaranteed. Kinked activations (relu outside relu-relu pairs,
   selu) always get composite rules with a panel edge on each kink (for the
   inner direction, row by row), so every panel integrates an entire piece;
   the jump of f' at the kink puts jump * delta(u) into f'', added to the
   Hessian moments as a 1-D integral along the kink's line. */
#include "objective/gaussian.h"

#include <math.h>
#include <string.h>

static const int gq_orders[MLPF_GQ_NRULES] = {16, 24, 32, 48, 64, 96, 128, 160, 200, 256};

/* Nodes whose weight is below this carry less than 1e-30 of the mass even after
   multiplication by the polynomial growth of the integrands. */
#define GQ_PRUNE 1e-32

int mlpf_gq_rules_init(mlpf_gq_rules *r, mlpf_error *err) {
    memset(r, 0, sizeof *r);
    for (int q = 0; q < MLPF_GQ_NRULES; q++) {
        int n = gq_orders[q];
        double *x = mlpf_malloc(sizeof(double) * (size_t)n, err);
        double *w = mlpf_malloc(sizeof(double) * (size_t)n, err);
        if (!x || !w) { free(x); free(w); mlpf_gq_rules_free(r); return MLPF_ENOMEM; }
        int st = mlpf_gh_rule(n, x, w, err);
        if (st) { free(x); free(w); mlpf_gq_rules_free(r); return st; }
        int lo = 0, hi = n;
        while (lo < hi && w[lo] < GQ_PRUNE) lo++;
        while (hi > lo && w[hi - 1] < GQ_PRUNE) hi--;
        memmove(x, x + lo, sizeof(double) * (size_t)(hi - lo));
        memmove(w, w + lo, sizeof(double) * (size_t)(hi - lo));
        r->order[q] = n;
        r->len[q] = hi - lo;
        r->x[q] = x;
        r->w[q] = w;
    }
    r->refine = 1;
    return mlpf_gl_rule(MLPF_GQ_PANEL, r->px, r->pw, err);
}

void mlpf_gq_rules_free(mlpf_gq_rules *r) {
    for (int q = 0; q < MLPF_GQ_NRULES; q++) {
        free(r->x[q]);
        free(r->w[q]);
        r->x[q] = r->w[q] = NULL;
    }
}

/* half-width of the strip of analyticity in u that sets the rule size, from the
   activation table (every scalar activation has one: test_activation) */
static double act_strip(const mlpf_activation *a) { return mlpf_activation_row(a->kind)->strip; }

/* activations with a kink: their rules get a panel edge there. The table puts
   every kink at u = 0 (test_activation), which is where the rules below place it. */
static int kinked(const mlpf_activation *a) { return mlpf_activation_row(a->kind)->nkinks > 0; }

/* The jump of f' at the kink: f'' then carries jump * delta(u), which no
   quadrature of the pointwise f'' sees; the pair adds it as a line integral. */
static double kink_jump(const mlpf_activation *a) {
    double up, dn;
    mlpf_activation_eval(a, 1e-300, NULL, &up, NULL);
    mlpf_activation_eval(a, -1e-300, NULL, &dn, NULL);
    return up - dn;
}

static int pick_rule(const mlpf_gq_rules *r, double scale, const double *brk, int nbrk,
                     double *cx, double *cw, const double **x, const double **w);

/* sum_l w_l h(m + c z_l) {1, z_l, z_l^2} over a rule for t ~ N(0, 1), with a
   panel edge on h's kink; c = 0 is a point value. mom (3) */
static void line_sums(const mlpf_gq_rules *r, mlpf_gq_work *wk, const mlpf_activation *h,
                      double m, double c, double mom[3]) {
    if (c == 0.0) {
        double v;
        mlpf_activation_eval(h, m, &v, NULL, NULL);
        mom[0] = v; mom[1] = 0; mom[2] = v;
        return;
    }
    double brk = -m / c;
    const double *x, *w;
    int n = pick_rule(r, fabs(c) / act_strip(h), &brk, kinked(h), wk->cx2, wk->cw2, &x, &w);
    for (int l = 0; l < n; l++) wk->uj[l] = m + c * x[l];
    mlpf_activation_eval_n(h, wk->uj, (size_t)n, wk->g0, NULL, NULL);
    mom[0] = mom[1] = mom[2] = 0;
    for (int l = 0; l < n; l++) {
        double a = w[l] * wk->g0[l];
        mom[0] += a; mom[1] += a * x[l]; mom[2] += a * x[l] * x[l];
    }
}

#define GQ_ZMAX 9.0  /* phi(9) ~ 1e-18: the composite rules' range */

/* A rule for E[F(s z)] with scale = s / d: the smallest Gauss-Hermite rule that
   suffices, else a composite Gauss-Legendre rule built into cx, cw (size
   MLPF_GQ_MAXCOMP). nbrk breakpoints (kinks of F) force a composite rule with
   panel edges there, so that every panel sees an analytic piece. Returns the
   node count; *x, *w point at the nodes (ascending). */
static int pick_rule(const mlpf_gq_rules *r, double scale, const double *brk, int nbrk,
                     double *cx, double *cw, const double **x, const double **w) {
    double need = 20.0 + 300.0 * scale * scale;
    double edges[4] = {-GQ_ZMAX, GQ_ZMAX, GQ_ZMAX, GQ_ZMAX};
    int ne = 2;
    for (int b = 0; b < nbrk; b++) {
        if (!(brk[b] > -GQ_ZMAX && brk[b] < GQ_ZMAX)) continue;  /* far out: no effect */
        int pos = ne - 1;
        while (pos > 0 && edges[pos - 1] > brk[b]) pos--;
        for (int e = ne; e > pos; e--) edges[e] = edges[e - 1];
        edges[pos] = brk[b];
        ne++;
    }
    if (ne == 2)
        for (int q = 0; q < MLPF_GQ_NRULES; q++)
            if (r->order[q] >= r->min_order && r->order[q] >= need) {
                *x = r->x[q];
                *w = r->w[q];
                return r->len[q];
            }
    double h = fmin(1.0, 1.0 / scale) / r->refine;
    int np = 0;
    for (int e = 0; e + 1 < ne; e++) np += (int)ceil((edges[e + 1] - edges[e]) / h);
    if (np * MLPF_GQ_PANEL > MLPF_GQ_MAXCOMP)  /* capped: wider panels, bound not guaranteed */
        h *= (double)np * MLPF_GQ_PANEL / (MLPF_GQ_MAXCOMP - (ne - 1) * MLPF_GQ_PANEL);
    int n = 0;
    for (int e = 0; e + 1 < ne; e++) {
        double len = edges[e + 1] - edges[e];
        int k = (int)ceil(len / h);
        if (k < 1) k = 1;
        double hp = len / k;
        for (int p = 0; p < k; p++) {
            double c = edges[e] + (p + 0.5) * hp;
            for (int i = 0; i < MLPF_GQ_PANEL; i++) {
                double z = c + 0.5 * hp * r->px[i];
                double wt = 0.5 * hp * r->pw[i] * exp(-0.5 * z * z) * 0.39894228040143267794;
                if (wt < GQ_PRUNE || n >= MLPF_GQ_MAXCOMP) continue;
                cx[n] = z;
                cw[n] = wt;
                n++;
            }
        }
    }
    *x = cx;
    *w = cw;
    return n;
}

void mlpf_gauss_fill_block(double *h, int din, const double *u1, const double *u2, double c0,
                           const double c[2][2], const double drow[2], const double dcol[2],
                           double e) {
    int ld = din + 1;
    for (int a = 0; a < din; a++) {
        double p1 = c[0][0] * u1[a] + c[1][0] * u2[a];  /* row vector coefficients */
        double p2 = c[0][1] * u1[a] + c[1][1] * u2[a];
        for (int b = 0; b < din; b++) h[a * ld + b] = p1 * u1[b] + p2 * u2[b];
        h[a * ld + a] += c0;
        h[a * ld + din] = drow[0] * u1[a] + drow[1] * u2[a];
        h[din * ld + a] = dcol[0] * u1[a] + dcol[1] * u2[a];
    }
    h[din * ld + din] = e;
}

void mlpf_gauss_fill_grad(double *g, int din, const double *u1, const double *u2, double d1,
                          double d2, double e) {
    for (int a = 0; a < din; a++) g[a] = d1 * u1[a] + d2 * u2[a];
    g[din] = e;
}

static double dot(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* orthonormal basis of span(wi, wj): e1 along wi (or wj, or the first axis) */
void mlpf_gauss_pair_basis(int din, const double *wi, const double *wj, double *e1, double *e2,
                           double *si, double *alpha, double *beta) {
    double ni = sqrt(dot(wi, wi, din)), nj = sqrt(dot(wj, wj, din));
    if (ni > 0) for (int a = 0; a < din; a++) e1[a] = wi[a] / ni;
    else if (nj > 0) for (int a = 0; a < din; a++) e1[a] = wj[a] / nj;
    else { memset(e1, 0, sizeof(double) * (size_t)din); e1[0] = 1; }
    double al = dot(wj, e1, din);
    for (int a = 0; a < din; a++) e2[a] = wj[a] - al * e1[a];
    double corr = dot(e2, e1, din);  /* second Gram-Schmidt pass */
    for (int a = 0; a < din; a++) e2[a] -= corr * e1[a];
    al += corr;
    double be = sqrt(dot(e2, e2, din));
    /* below this e2 is rounding noise of a parallel pair: the z2 terms are O(beta) */
    if (be <= 1e-15 * nj) be = 0;
    if (be > 0) for (int a = 0; a < din; a++) e2[a] /= be;
    else memset(e2, 0, sizeof(double) * (size_t)din);
    *si = ni;
    *alpha = al;
    *beta = be;
}

/* wi, wj (din) -> out: val, gi, gj (din + 1), hii, hij, hjj (din + 1, din + 1) */
/* A pair in its (e1, e2) basis: u_i = bi + si z1, u_j = bj + al z1 + be z2. */
typedef struct {
    const mlpf_activation *f, *g;
    double bi, si, bj, al, be;
    int need, both;
} pair_geom;

/* The 2-D moments mlpf_gauss_assemble needs, of F = f^(p)(u_i) g^(q)(u_j):
   m00 over 1; m10, m01 over (1, z1, z2); m20, m02, m11 over (1, z1, z2, z1z1, z1z2, z2z2). */
typedef struct {
    double m00, m10[3], m01[3], m20[6], m02[6], m11[6];
} pair_moments;

/* The inner (z2) rule of the row z1 = t, weighted by the outer weight wt and pruned:
   rows with a kink of g get their own rule with a panel edge on it. -> nodes x (len),
   weights w (len) and len (0: nothing left). */
static int row_rule(const mlpf_gq_rules *r, mlpf_gq_work *wk, const pair_geom *pg, int row_kink,
                    double t, double wt, const double **x2, const double **w2, int n2) {
    if (row_kink) {
        double b2 = -(pg->bj + pg->al * t) / pg->be;
        n2 = pick_rule(r, pg->be / act_strip(pg->g), &b2, 1, wk->cx2, wk->cw2, x2, w2);
    }
    int lo = 0, hi = n2;
    while (lo < hi && wt * (*w2)[lo] < GQ_PRUNE) lo++;
    while (hi > lo && wt * (*w2)[hi - 1] < GQ_PRUNE) hi--;
    *x2 += lo;
    *w2 += lo;
    return hi - lo;
}

/* The row's inner sums A[q] = sum_l w_l g^(q)(u_j) {1, z_l, z_l^2}, q = 0..2 as needed;
   zz, ww (len) its nodes and weights. A (3, 3) */
static void row_sums(mlpf_gq_work *wk, const pair_geom *pg, double t, const double *zz,
                     const double *ww, int len, double A[3][3]) {
    int need = pg->need, both = pg->both;
    for (int l = 0; l < len; l++) wk->uj[l] = pg->bj + pg->al * t + pg->be * zz[l];
    mlpf_activation_eval_n(pg->g, wk->uj, (size_t)len, wk->g0, need && both ? wk->g1 : NULL,
                           need > 1 && both ? wk->g2 : NULL);
    const double *gq[3] = {wk->g0, wk->g1, wk->g2};
    int nq = need > 1 && both ? 3 : need && both ? 2 : 1;
    memset(A, 0, 9 * sizeof(double));
    for (int q = 0; q < nq; q++)
        for (int l = 0; l < len; l++) {
            double a = ww[l] * gq[q][l];
            A[q][0] += a; A[q][1] += a * zz[l]; A[q][2] += a * zz[l] * zz[l];
        }
}

/* Add the row z1 = t (outer weight wt, f^(p)(u_i) = fp[p], inner sums A) to the moments. */
static void add_row(pair_moments *m, const pair_geom *pg, double t, double wt, const double fp[3],
                    double A[3][3]) {
    m->m00 += wt * fp[0] * A[0][0];
    if (!pg->need) return;
    double a = wt * fp[1];
    m->m10[0] += a * A[0][0]; m->m10[1] += a * t * A[0][0]; m->m10[2] += a * A[0][1];
    if (pg->both) {
        a = wt * fp[0];
        m->m01[0] += a * A[1][0]; m->m01[1] += a * t * A[1][0]; m->m01[2] += a * A[1][1];
    }
    if (pg->need < 2) return;
    a = wt * fp[2];
    m->m20[0] += a * A[0][0]; m->m20[1] += a * t * A[0][0]; m->m20[2] += a * A[0][1];
    m->m20[3] += a * t * t * A[0][0]; m->m20[4] += a * t * A[0][1]; m->m20[5] += a * A[0][2];
    if (!pg->both) return;
    a = wt * fp[0];
    m->m02[0] += a * A[2][0]; m->m02[1] += a * t * A[2][0]; m->m02[2] += a * A[2][1];
    m->m02[3] += a * t * t * A[2][0]; m->m02[4] += a * t * A[2][1]; m->m02[5] += a * A[2][2];
    a = wt * fp[1];
    m->m11[0] += a * A[1][0]; m->m11[1] += a * t * A[1][0]; m->m11[2] += a * A[1][1];
    m->m11[3] += a * t * t * A[1][0]; m->m11[4] += a * t * A[1][1]; m->m11[5] += a * A[1][2];
}

/* The 2-D rule over (z1, z2), row by row, into m. Kinks: f's at z1 = -b_i / s;
   g's on a line, which each row's z2 rule gets as its own breakpoint. After the
   z2 integral g's kink is smoothed over a width beta / alpha in z1 around
   -b_j / alpha: a z1 edge there too keeps nearly parallel pairs accurate
   (exactly parallel: a true kink). */
static void pair_grid(const mlpf_gq_rules *r, mlpf_gq_work *wk, const pair_geom *pg,
                      pair_moments *m) {
    double df = act_strip(pg->f), dg = act_strip(pg->g);
    double brk1[2] = {0, 0};
    int nb1 = 0, row_kink = kinked(pg->g) && pg->be > 0;
    if (kinked(pg->f) && pg->si > 0) brk1[nb1++] = -pg->bi / pg->si;
    if (kinked(pg->g) && pg->al != 0) brk1[nb1++] = -pg->bj / pg->al;
    const double *x1, *w1;
    int n1 = pick_rule(r, fmax(pg->si / df, fabs(pg->al) / dg), brk1, nb1, wk->cx1, wk->cw1, &x1, &w1);
    static const double one = 1.0, zero = 0.0;
    const double *x2 = &zero, *w2 = &one;
    int n2 = 1;
    if (pg->be > 0 && !row_kink) n2 = pick_rule(r, pg->be / dg, NULL, 0, wk->cx2, wk->cw2, &x2, &w2);
    for (int k = 0; k < n1; k++) {
        double t = x1[k], wt = w1[k], fp[3], A[3][3];
        mlpf_activation_eval(pg->f, pg->bi + pg->si * t, &fp[0], &fp[1], &fp[2]);
        const double *zz = x2, *ww = w2;
        int len = row_rule(r, wk, pg, row_kink, t, wt, &zz, &ww, n2);
        if (len <= 0) continue;
        row_sums(wk, pg, t, zz, ww, len, A);
        add_row(m, pg, t, wt, fp, A);
    }
}

/* f's kink: jump * E[delta(u_i) g(u_j) mono] into m20, on the line z1 = t0, u_j = m + beta z2. */
static void add_kink_f(const mlpf_gq_rules *r, mlpf_gq_work *wk, const pair_geom *pg,
                       pair_moments *m) {
    double t0 = -pg->bi / pg->si;
    double pu = kink_jump(pg->f) * exp(-0.5 * t0 * t0) * 0.39894228040143267794 / pg->si;
    double L[3];
    line_sums(r, wk, pg->g, pg->bj + pg->al * t0, pg->be, L);
    m->m20[0] += pu * L[0]; m->m20[1] += pu * t0 * L[0]; m->m20[2] += pu * L[1];
    m->m20[3] += pu * t0 * t0 * L[0]; m->m20[4] += pu * t0 * L[1]; m->m20[5] += pu * L[2];
}

/* g's kink: jump * E[f(u_i) delta(u_j) mono] into m02, on the line z = z0 + t d where
   u_j = 0, with sv = |(alpha, beta)|. */
static void add_kink_g(const mlpf_gq_rules *r, mlpf_gq_work *wk, const pair_geom *pg, double sv,
                       pair_moments *m) {
    double al = pg->al, be = pg->be, bj = pg->bj;
    double pv = kink_jump(pg->g) * exp(-0.5 * (bj / sv) * (bj / sv)) * 0.39894228040143267794 / sv;
    double z0[2] = {-bj * al / (sv * sv), -bj * be / (sv * sv)}, d[2] = {-be / sv, al / sv};
    double L[3];
    line_sums(r, wk, pg->f, pg->bi + pg->si * z0[0], pg->si * d[0], L);
    m->m02[0] += pv * L[0];
    for (int a = 0; a < 2; a++) m->m02[1 + a] += pv * (z0[a] * L[0] + d[a] * L[1]);
    int idx[3][2] = {{0, 0}, {0, 1}, {1, 1}};
    for (int p = 0; p < 3; p++) {
        int a = idx[p][0], b = idx[p][1];
        m->m02[3 + p] += pv * (z0[a] * z0[b] * L[0] + (z0[a] * d[b] + d[a] * z0[b]) * L[1] +
                               d[a] * d[b] * L[2]);
    }
}

int mlpf_gq_pair(const mlpf_gq_rules *r, mlpf_gq_work *wk, const mlpf_activation *f,
                 const mlpf_activation *g, int din, const double *wi, double bi,
                 const double *wj, double bj, int need, int both, mlpf_pair_out *out) {
    pair_geom pg = {.f = f, .g = g, .bi = bi, .bj = bj, .need = need, .both = both};
    mlpf_gauss_pair_basis(din, wi, wj, wk->e1, wk->e2, &pg.si, &pg.al, &pg.be);
    pair_moments m = {0};
    pair_grid(r, wk, &pg, &m);
    if (need > 1 && kinked(f) && pg.si > 0) add_kink_f(r, wk, &pg, &m);
    double sv = sqrt(pg.al * pg.al + pg.be * pg.be);
    if (need > 1 && both && kinked(g) && sv > 0) add_kink_g(r, wk, &pg, sv, &m);
    mlpf_gauss_assemble(din, wk->e1, wk->e2, m.m00, m.m10, m.m01, m.m20, m.m02, m.m11, need, both, out);
    return MLPF_OK;
}

void mlpf_gauss_assemble(int din, const double *e1, const double *e2, double m00,
                         const double m10[3], const double m01[3], const double m20[6],
                         const double m02[6], const double m11[6], int need, int both,
                         mlpf_pair_out *out) {
    out->val = m00;
    if (!need) return;
    mlpf_gauss_fill_grad(out->gi, din, e1, e2, m10[1], m10[2], m10[0]);
    if (both) mlpf_gauss_fill_grad(out->gj, din, e1, e2, m01[1], m01[2], m01[0]);
    if (need < 2) return;
    const double *ms[3] = {m20, m02, m11};
    double *hs[3] = {out->hii, out->hjj, out->hij};
    for (int s = 0; s < (both ? 3 : 1); s++) {
        const double *m = ms[s];
        double c[2][2] = {{m[3] - m[0], m[4]}, {m[4], m[5] - m[0]}};
        double d[2] = {m[1], m[2]};
        mlpf_gauss_fill_block(hs[s], din, e1, e2, m[0], c, d, d, m[0]);
    }
}

/* w (din) -> out: val, gi (din + 1), hii (din + 1, din + 1) */
int mlpf_gq_single(const mlpf_gq_rules *r, mlpf_gq_work *wk, const mlpf_activation *f, int din,
                   const double *w, double b, int need, mlpf_pair_out *out) {
    double *e1 = wk->e1, *e2 = wk->e2, s, al, be;
    mlpf_gauss_pair_basis(din, w, w, e1, e2, &s, &al, &be);
    memset(e2, 0, sizeof(double) * (size_t)din);
    const double *x, *wt;
    double brk = s > 0 ? -b / s : 0;
    int n = pick_rule(r, s / act_strip(f), &brk, kinked(f) && s > 0, wk->cx1, wk->cw1, &x, &wt);
    double m0 = 0, m1 = 0, m1z = 0, m2 = 0, m2z = 0, m2zz = 0;
    for (int k = 0; k < n; k++) {
        double f0, f1, f2, t = x[k];
        mlpf_activation_eval(f, b + s * t, &f0, &f1, &f2);
        m0 += wt[k] * f0;
        m1 += wt[k] * f1; m1z += wt[k] * f1 * t;
        m2 += wt[k] * f2; m2z += wt[k] * f2 * t; m2zz += wt[k] * f2 * t * t;
    }
    if (kinked(f) && s > 0) {  /* jump * delta(u) in f'' */
        double t0 = -b / s, pu = kink_jump(f) * exp(-0.5 * t0 * t0) * 0.39894228040143267794 / s;
        m2 += pu; m2z += pu * t0; m2zz += pu * t0 * t0;
    }
    out->val = m0;
    if (!need) return MLPF_OK;
    mlpf_gauss_fill_grad(out->gi, din, e1, e2, m1z, 0, m1);
    if (need < 2) return MLPF_OK;
    double c[2][2] = {{m2zz - m2, 0}, {0, 0}}, d[2] = {m2z, 0};
    mlpf_gauss_fill_block(out->hii, din, e1, e2, m2, c, d, d, m2);
    return MLPF_OK;
}

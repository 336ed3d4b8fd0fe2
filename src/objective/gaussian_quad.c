/* gaussian_quad.c - pair expectations E[f(u_i) g(u_j)] and their derivatives by
   2-D Gauss-Hermite quadrature, for activations without closed forms.

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
   Beyond the largest rule (scales s > ~2 d) the error bound is not guaranteed;
   kinked activations (relu, selu) converge only algebraically. */
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
    return MLPF_OK;
}

void mlpf_gq_rules_free(mlpf_gq_rules *r) {
    for (int q = 0; q < MLPF_GQ_NRULES; q++) {
        free(r->x[q]);
        free(r->w[q]);
        r->x[q] = r->w[q] = NULL;
    }
}

/* half-width of the strip of analyticity in u that sets the rule size */
static double act_strip(const mlpf_activation *a) {
    switch (a->kind) {
    case MLPF_ACT_IDENTITY: case MLPF_ACT_SQUARE: case MLPF_ACT_CUBE: case MLPF_ACT_POLY:
        return INFINITY;
    case MLPF_ACT_SIGMOID: case MLPF_ACT_SOFTPLUS: case MLPF_ACT_SILU: return M_PI;
    case MLPF_ACT_TANH: return M_PI / 2;
    case MLPF_ACT_G: return M_PI / 4;
    case MLPF_ACT_EXP: return 4.0;
    case MLPF_ACT_GELU: case MLPF_ACT_SIGMOID2: case MLPF_ACT_NORMAL_CDF: return 2.0;
    default: return 0.5;  /* kinks: take large rules */
    }
}

static int pick_rule(const mlpf_gq_rules *r, double scale) {
    double need = 20.0 + 300.0 * scale * scale;
    for (int q = 0; q < MLPF_GQ_NRULES; q++)
        if (r->order[q] >= r->min_order && r->order[q] >= need) return q;
    return MLPF_GQ_NRULES - 1;
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

int mlpf_gq_pair(const mlpf_gq_rules *r, mlpf_gq_work *wk, const mlpf_activation *f,
                 const mlpf_activation *g, int din, const double *wi, double bi,
                 const double *wj, double bj, int need, int both, mlpf_pair_out *out) {
    double *e1 = wk->e1, *e2 = wk->e2, si, al, be;
    mlpf_gauss_pair_basis(din, wi, wj, e1, e2, &si, &al, &be);
    double df = act_strip(f), dg = act_strip(g);
    int q1 = pick_rule(r, fmax(si / df, fabs(al) / dg));
    const double *x1 = r->x[q1], *w1 = r->w[q1];
    int n1 = r->len[q1];
    static const double one = 1.0, zero = 0.0;
    const double *x2 = &zero, *w2 = &one;
    int n2 = 1;
    if (be > 0) {
        int q2 = pick_rule(r, be / dg);
        x2 = r->x[q2]; w2 = r->w[q2]; n2 = r->len[q2];
    }
    /* moments: [0] F00; F10, F01 over (1, z1, z2); F20, F02, F11 over (1, z1, z2, z1z1, z1z2, z2z2) */
    double m00 = 0, m10[3] = {0}, m01[3] = {0}, m20[6] = {0}, m02[6] = {0}, m11[6] = {0};
    double *uj = wk->uj, *g0 = wk->g0, *g1 = wk->g1, *g2 = wk->g2;
    for (int k = 0; k < n1; k++) {
        double t = x1[k], wt = w1[k];
        double f0, f1, f2;
        mlpf_activation_eval(f, bi + si * t, &f0, &f1, &f2);
        int lo = 0, hi = n2;
        while (lo < hi && wt * w2[lo] < GQ_PRUNE) lo++;
        while (hi > lo && wt * w2[hi - 1] < GQ_PRUNE) hi--;
        int len = hi - lo;
        if (len <= 0) continue;
        for (int l = 0; l < len; l++) uj[l] = bj + al * t + be * x2[lo + l];
        mlpf_activation_eval_n(g, uj, (size_t)len, g0, need && both ? g1 : NULL,
                               need > 1 && both ? g2 : NULL);
        double A0 = 0, A0z = 0, A0zz = 0, A1 = 0, A1z = 0, A1zz = 0, A2 = 0, A2z = 0, A2zz = 0;
        const double *zz = x2 + lo, *ww = w2 + lo;
        for (int l = 0; l < len; l++) {
            double a = ww[l] * g0[l];
            A0 += a; A0z += a * zz[l]; A0zz += a * zz[l] * zz[l];
        }
        if (need && both) {
            for (int l = 0; l < len; l++) {
                double a = ww[l] * g1[l];
                A1 += a; A1z += a * zz[l]; A1zz += a * zz[l] * zz[l];
            }
        }
        if (need > 1 && both) {
            for (int l = 0; l < len; l++) {
                double a = ww[l] * g2[l];
                A2 += a; A2z += a * zz[l]; A2zz += a * zz[l] * zz[l];
            }
        }
        m00 += wt * f0 * A0;
        if (!need) continue;
        double a = wt * f1;
        m10[0] += a * A0; m10[1] += a * t * A0; m10[2] += a * A0z;
        if (both) {
            a = wt * f0;
            m01[0] += a * A1; m01[1] += a * t * A1; m01[2] += a * A1z;
        }
        if (need < 2) continue;
        a = wt * f2;
        m20[0] += a * A0; m20[1] += a * t * A0; m20[2] += a * A0z;
        m20[3] += a * t * t * A0; m20[4] += a * t * A0z; m20[5] += a * A0zz;
        if (both) {
            a = wt * f0;
            m02[0] += a * A2; m02[1] += a * t * A2; m02[2] += a * A2z;
            m02[3] += a * t * t * A2; m02[4] += a * t * A2z; m02[5] += a * A2zz;
            a = wt * f1;
            m11[0] += a * A1; m11[1] += a * t * A1; m11[2] += a * A1z;
            m11[3] += a * t * t * A1; m11[4] += a * t * A1z; m11[5] += a * A1zz;
        }
    }
    mlpf_gauss_assemble(din, e1, e2, m00, m10, m01, m20, m02, m11, need, both, out);
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

int mlpf_gq_single(const mlpf_gq_rules *r, mlpf_gq_work *wk, const mlpf_activation *f, int din,
                   const double *w, double b, int need, mlpf_pair_out *out) {
    double *e1 = wk->e1, *e2 = wk->e2, s, al, be;
    mlpf_gauss_pair_basis(din, w, w, e1, e2, &s, &al, &be);
    memset(e2, 0, sizeof(double) * (size_t)din);
    int q = pick_rule(r, s / act_strip(f));
    const double *x = r->x[q], *wt = r->w[q];
    double m0 = 0, m1 = 0, m1z = 0, m2 = 0, m2z = 0, m2zz = 0;
    for (int k = 0; k < r->len[q]; k++) {
        double f0, f1, f2, t = x[k];
        mlpf_activation_eval(f, b + s * t, &f0, &f1, &f2);
        m0 += wt[k] * f0;
        m1 += wt[k] * f1; m1z += wt[k] * f1 * t;
        m2 += wt[k] * f2; m2z += wt[k] * f2 * t; m2zz += wt[k] * f2 * t * t;
    }
    out->val = m0;
    if (!need) return MLPF_OK;
    mlpf_gauss_fill_grad(out->gi, din, e1, e2, m1z, 0, m1);
    if (need < 2) return MLPF_OK;
    double c[2][2] = {{m2zz - m2, 0}, {0, 0}}, d[2] = {m2z, 0};
    mlpf_gauss_fill_block(out->hii, din, e1, e2, m2, c, d, d, m2);
    return MLPF_OK;
}

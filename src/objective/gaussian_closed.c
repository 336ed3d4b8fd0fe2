/* gaussian_closed.c - closed-form pair expectations for the erf family
   (sigmoid2 = 2 Phi - 1, normal_cdf = Phi), with and without biases.

   For u ~ N(b_u, C_uu), v ~ N(b_v, C_vv), cov C_uv, an independent standard
   normal pair (s, t) turns Phi into a probability:
       E[Phi(u) Phi(v)] = P(s - u <= 0, t - v <= 0) = Phi2(h, k; rho),
       h = b_u / sqrt(1 + C_uu),  k = b_v / sqrt(1 + C_vv),
       rho = C_uv / sqrt((1 + C_uu)(1 + C_vv)),
   and E[Phi(u)] = Phi(h). |rho| < 1 always (the added unit variance), so the
   expression is smooth everywhere, including zero and parallel weights.

   Derivatives: the value is a composition of a few smooth maps of the five
   coordinates (b_i, b_j, C_ii, C_jj, C_ij). We push second-order jets (value,
   gradient, Hessian over the five coordinates) through it, using the exact
   partial derivatives of Phi2 (Plackett: dPhi2/drho = bivariate density), then
   chain to the weights with dC_ii/dw_i = 2 w_i, dC_ij/dw_i = w_j. */
#include "objective/gaussian.h"

#include <math.h>
#include <string.h>

#define INV_SQRT2 0.70710678118654752440084436210485
#define INV_SQRT_2PI 0.39894228040143267793994605993438

#define NV 5
typedef struct {
    double v, g[NV], h[NV][NV];
} jet;

static jet jet_var(double v, int k) {
    jet j;
    memset(&j, 0, sizeof j);
    j.v = v;
    j.g[k] = 1.0;
    return j;
}

/* F(in_0, ..., in_{n-1}) with partials dF (n) and d2F (n x n, row-major) */
static jet jet_fn(int n, const jet *const *in, double F, const double *dF, const double *d2F) {
    jet o;
    o.v = F;
    for (int k = 0; k < NV; k++) {
        double s = 0;
        for (int a = 0; a < n; a++) s += dF[a] * in[a]->g[k];
        o.g[k] = s;
    }
    for (int k = 0; k < NV; k++)
        for (int l = k; l < NV; l++) {
            double s = 0;
            for (int a = 0; a < n; a++) {
                s += dF[a] * in[a]->h[k][l];
                double t = 0;
                for (int b = 0; b < n; b++) t += d2F[a * n + b] * in[b]->g[l];
                s += t * in[a]->g[k];
            }
            o.h[k][l] = o.h[l][k] = s;
        }
    return o;
}

static jet jet_unary(const jet *x, double f, double f1, double f2) {
    const jet *in[1] = {x};
    return jet_fn(1, in, f, &f1, &f2);
}

static jet jet_div(const jet *a, const jet *b) {
    const jet *in[2] = {a, b};
    double ib = 1.0 / b->v, q = a->v * ib;
    double dF[2] = {ib, -q * ib}, d2F[4] = {0, -ib * ib, -ib * ib, 2 * q * ib * ib};
    return jet_fn(2, in, q, dF, d2F);
}

static jet jet_mul(const jet *a, const jet *b) {
    const jet *in[2] = {a, b};
    double dF[2] = {b->v, a->v}, d2F[4] = {0, 1, 1, 0};
    return jet_fn(2, in, a->v * b->v, dF, d2F);
}

static jet jet_sqrt1p(const jet *c) {  /* sqrt(1 + c) */
    double f = sqrt(1.0 + c->v);
    return jet_unary(c, f, 0.5 / f, -0.25 / (f * f * f));
}

static double Phi(double x) { return 0.5 * erfc(-x * INV_SQRT2); }
static double phi(double x) { return INV_SQRT_2PI * exp(-0.5 * x * x); }

static jet jet_Phi(const jet *x) {
    double d = phi(x->v);
    return jet_unary(x, Phi(x->v), d, -x->v * d);
}

int mlpf_cf_init(mlpf_cf_ctx *c, mlpf_error *err) {
    int st = mlpf_gl_rule(MLPF_GL_OWEN, c->x, c->w, err);
    if (st) return st;
    for (int i = 0; i < MLPF_GL_OWEN; i++) {  /* map [-1, 1] to [0, 1] */
        c->x[i] = 0.5 * (c->x[i] + 1.0);
        c->w[i] *= 0.5;
    }
    return MLPF_OK;
}

/* T(h, a) = 1/(2 pi) int_0^a exp(-h^2 (1 + x^2) / 2) / (1 + x^2) dx.
   |a| <= 1: Gauss-Legendre on [0, a] (the integrand's poles at +-i lie far from
   [0, 1]; the Gaussian factor only narrows once exp(-h^2/2) is negligible).
   |a| > 1: Owen's identity T(h, a) + T(ah, 1/a) = (Q(h) + Q(ah)) / 2 - Q(h) Q(ah)
   for h >= 0, with upper tails Q so that nothing cancels for large h. */
double mlpf_owen_t(const mlpf_cf_ctx *c, double h, double a) {
    if (a == 0.0) return 0.0;
    if (a < 0) return -mlpf_owen_t(c, h, -a);
    h = fabs(h);
    if (isinf(a)) return 0.5 * Phi(-h);
    if (a <= 1.0) {
        double s = 0, hh = 0.5 * h * h;
        for (int i = 0; i < MLPF_GL_OWEN; i++) {
            double x = a * c->x[i], q = 1.0 + x * x;
            s += c->w[i] * exp(-hh * q) / q;
        }
        return s * a / (2.0 * M_PI);
    }
    double qh = Phi(-h), qah = Phi(-a * h);
    return 0.5 * (qh + qah) - qh * qah - mlpf_owen_t(c, a * h, 1.0 / a);
}

/* Owen (1956): Phi2(h, k; rho) = (Phi(h) + Phi(k)) / 2 - T(h, a_h) - T(k, a_k) - beta.
   r = sqrt(1 - rho^2) is passed in: near |rho| = 1 callers that know it from
   the geometry (r = sin of the angle between two weight vectors) keep its
   relative accuracy, which 1 - rho^2 would lose. */
double mlpf_bvn_cdf_a(const mlpf_cf_ctx *c, double h, double k, double rho, double r, double ah,
                      double ak) {
    if (r <= 0.0) return rho > 0 ? Phi(fmin(h, k)) : fmax(0.0, Phi(h) - Phi(-k));
    if (rho == 0.0) return Phi(h) * Phi(k);
    if (h == 0.0 && k == 0.0) return 0.25 + atan2(rho, r) / (2.0 * M_PI);
    /* at h = 0 take the h -> 0+ limit of T(h, a_h), consistent with beta below */
    double th = h == 0.0 ? (k > 0 ? 0.25 : -0.25) : mlpf_owen_t(c, h, ah);
    double tk = k == 0.0 ? (h > 0 ? 0.25 : -0.25) : mlpf_owen_t(c, k, ak);
    double beta = (h * k > 0 || (h * k == 0 && h + k >= 0)) ? 0.0 : 0.5;
    return 0.5 * (Phi(h) + Phi(k)) - th - tk - beta;
}

double mlpf_bvn_cdf_r(const mlpf_cf_ctx *c, double h, double k, double rho, double r) {
    double ah = h != 0.0 ? (k - rho * h) / (h * r) : 0.0;
    double ak = k != 0.0 ? (h - rho * k) / (k * r) : 0.0;
    return mlpf_bvn_cdf_a(c, h, k, rho, r, ah, ak);
}

double mlpf_bvn_cdf(const mlpf_cf_ctx *c, double h, double k, double rho) {
    if (rho >= 1.0) return Phi(fmin(h, k));
    if (rho <= -1.0) return fmax(0.0, Phi(h) - Phi(-k));
    return mlpf_bvn_cdf_r(c, h, k, rho, sqrt((1.0 - rho) * (1.0 + rho)));
}

static jet jet_bvn(const mlpf_cf_ctx *c, const jet *h, const jet *k, const jet *rho) {
    double H = h->v, K = k->v, R = rho->v, r2 = (1.0 - R) * (1.0 + R), r = sqrt(r2);
    double Q = H * H - 2 * R * H * K + K * K;
    double dens = exp(-0.5 * Q / r2) / (2.0 * M_PI * r);
    double Fh = phi(H) * Phi((K - R * H) / r), Fk = phi(K) * Phi((H - R * K) / r);
    double dF[3] = {Fh, Fk, dens};
    double Fhh = -H * Fh - R * dens, Fkk = -K * Fk - R * dens, Fhk = dens;
    double Fhr = dens * (R * K - H) / r2, Fkr = dens * (R * H - K) / r2;
    double Frr = dens * (R / r2 + H * K / r2 - R * Q / (r2 * r2));
    double d2F[9] = {Fhh, Fhk, Fhr, Fhk, Fkk, Fkr, Fhr, Fkr, Frr};
    const jet *in[3] = {h, k, rho};
    return jet_fn(3, in, mlpf_bvn_cdf(c, H, K, R), dF, d2F);
}

/* f = A Phi + B */
static int phi_family(const mlpf_activation *f, double *A, double *B) {
    if (f->kind == MLPF_ACT_NORMAL_CDF) { *A = 1; *B = 0; return 1; }
    if (f->kind == MLPF_ACT_SIGMOID2) { *A = 2; *B = -1; return 1; }
    return 0;
}

int mlpf_cf_pair_supported(const mlpf_activation *f, const mlpf_activation *g) {
    double a, b;
    return phi_family(f, &a, &b) && phi_family(g, &a, &b);
}

int mlpf_cf_single_supported(const mlpf_activation *f) {
    double a, b;
    return phi_family(f, &a, &b);
}

static double dotn(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Chain the (b_i, b_j, C_ii, C_jj, C_ij) jet J to theta_i, theta_j blocks. */
static void chain_pair(const jet *J, int din, const double *wi, const double *wj, int need,
                       int both, mlpf_pair_out *out) {
    const double *G = J->g;
    double (*K)[NV] = (double (*)[NV])J->h;
    out->val = J->v;
    if (!need) return;
    mlpf_gauss_fill_grad(out->gi, din, wi, wj, 2 * G[2], G[4], G[0]);
    if (both) mlpf_gauss_fill_grad(out->gj, din, wi, wj, G[4], 2 * G[3], G[1]);
    if (need < 2) return;
    double cii[2][2] = {{4 * K[2][2], 2 * K[2][4]}, {2 * K[2][4], K[4][4]}};
    double dii[2] = {2 * K[2][0], K[4][0]};
    mlpf_gauss_fill_block(out->hii, din, wi, wj, 2 * G[2], cii, dii, dii, K[0][0]);
    if (!both) return;
    double cjj[2][2] = {{K[4][4], 2 * K[3][4]}, {2 * K[3][4], 4 * K[3][3]}};
    double djj[2] = {K[4][1], 2 * K[3][1]};
    mlpf_gauss_fill_block(out->hjj, din, wi, wj, 2 * G[3], cjj, djj, djj, K[1][1]);
    double cij[2][2] = {{2 * K[2][4], 4 * K[2][3]}, {K[4][4], 2 * K[3][4]}};
    double drow[2] = {2 * K[2][1], K[4][1]}, dcol[2] = {K[0][4], 2 * K[0][3]};
    mlpf_gauss_fill_block(out->hij, din, wi, wj, G[4], cij, drow, dcol, K[0][1]);
}

/* wi, wj (din) -> out: val, gi, gj (din + 1), hii, hij, hjj (din + 1, din + 1) */
void mlpf_cf_pair(const mlpf_cf_ctx *c, const mlpf_activation *f, const mlpf_activation *g,
                  int din, const double *wi, double bi, const double *wj, double bj, int need,
                  int both, mlpf_pair_out *out) {
    double Af = 0, Bf = 0, Ag = 0, Bg = 0;
    phi_family(f, &Af, &Bf);
    phi_family(g, &Ag, &Bg);
    jet vbi = jet_var(bi, 0), vbj = jet_var(bj, 1), cii = jet_var(dotn(wi, wi, din), 2),
        cjj = jet_var(dotn(wj, wj, din), 3), cij = jet_var(dotn(wi, wj, din), 4);
    jet si = jet_sqrt1p(&cii), sj = jet_sqrt1p(&cjj);
    jet h = jet_div(&vbi, &si), k = jet_div(&vbj, &sj);
    jet sij = jet_mul(&si, &sj), rho = jet_div(&cij, &sij);
    jet p2 = jet_bvn(c, &h, &k, &rho), ph = jet_Phi(&h), pk = jet_Phi(&k);
    jet J;
    J.v = Af * Ag * p2.v + Af * Bg * ph.v + Bf * Ag * pk.v + Bf * Bg;
    for (int a = 0; a < NV; a++) {
        J.g[a] = Af * Ag * p2.g[a] + Af * Bg * ph.g[a] + Bf * Ag * pk.g[a];
        for (int b = 0; b < NV; b++)
            J.h[a][b] = Af * Ag * p2.h[a][b] + Af * Bg * ph.h[a][b] + Bf * Ag * pk.h[a][b];
    }
    chain_pair(&J, din, wi, wj, need, both, out);
}

void mlpf_cf_single(const mlpf_cf_ctx *c, const mlpf_activation *f, int din, const double *w,
                    double b, int need, mlpf_pair_out *out) {
    (void)c;
    double A = 0, B = 0;
    phi_family(f, &A, &B);
    jet vb = jet_var(b, 0), cc = jet_var(dotn(w, w, din), 2);
    jet s = jet_sqrt1p(&cc), h = jet_div(&vb, &s), p = jet_Phi(&h);
    out->val = A * p.v + B;
    if (!need) return;
    mlpf_gauss_fill_grad(out->gi, din, w, w, 2 * A * p.g[2], 0, A * p.g[0]);
    if (need < 2) return;
    double cc2[2][2] = {{4 * A * p.h[2][2], 0}, {0, 0}}, d[2] = {2 * A * p.h[2][0], 0};
    mlpf_gauss_fill_block(out->hii, din, w, w, 2 * A * p.g[2], cc2, d, d, A * p.h[0][0]);
}

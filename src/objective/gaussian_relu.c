/* gaussian_relu.c - relu pairs in closed form, with biases, via x-space moments.

   With u = b_i + s z1, v = b_j + alpha z1 + beta z2 (z standard normal, see
   gaussian_quad.c for the basis), every moment the pair needs,
       E[f^(p)(u) g^(q)(v) {1, z, z z^T}],  f = g = relu, f' = H, f'' = delta,
   reduces by Stein's lemma E[G z_a] = E[d_a G] to
     - the orthant probability P(u > 0, v > 0) = Phi2 (Owen's T), and
     - Gaussian line integrals on u = 0 and on v = 0, where the other unit is
       an affine function of one standard normal: E[psi(m + c t) t^k], psi in
       {H, relu}, which are Phi / phi expressions.
   Zero weights and parallel pairs need no special formulas: a line integral
   with c = 0 is a point value. On coincident lines (parallel units whose kinks
   meet) H takes its limit value 1/2, which keeps the Hessian continuous there.
   At a zero weight vector with zero bias relu's expectation is not twice
   differentiable; the delta terms are then taken as 0. */
#include "objective/gaussian.h"

#include <math.h>

#define INV_SQRT2 0.70710678118654752440084436210485
#define INV_SQRT_2PI 0.39894228040143267793994605993438

static double Phi(double x) { return 0.5 * erfc(-x * INV_SQRT2); }
static double phi(double x) { return INV_SQRT_2PI * exp(-0.5 * x * x); }
static double step(double m) { return m > 0 ? 1.0 : m < 0 ? 0.0 : 0.5; }

/* L[k] = E[psi(m + c t) t^k], k = 0..2, t ~ N(0, 1); psi = H (relu = 0) or relu.
   With c = 0 and m = 0 the two kinks coincide (e.g. a unit paired with itself;
   D below is snapped to 0 within rounding), and H takes the limit 1/2 on both
   lines rather than a rounding-dependent 0 or 1. */
static void line_moments(int relu, double m, double c, double L[3]) {
    if (c == 0.0) {
        double e = relu ? fmax(m, 0.0) : step(m);
        L[0] = e; L[1] = 0; L[2] = e;
        return;
    }
    double sg = c < 0 ? -1.0 : 1.0;
    c = fabs(c);
    /* I_k = int_{-q}^inf t^k phi(t) dt with q = m / c */
    double q = m / c, d = phi(q);
    double I0 = Phi(q), I1 = d, I2 = I0 - q * d, I3 = (q * q + 2) * d;
    if (relu) {
        L[0] = m * I0 + c * I1;
        L[1] = m * I1 + c * I2;
        L[2] = m * I2 + c * I3;
    } else {
        L[0] = I0; L[1] = I1; L[2] = I2;
    }
    L[1] *= sg;  /* t -> -t flips the odd moment */
}

/* wi, wj (din) -> out: val, gi, gj (din + 1), hii, hij, hjj (din + 1, din + 1) */
void mlpf_relu_pair(const mlpf_cf_ctx *c, mlpf_gq_work *wk, int din, const double *wi, double bi,
                    const double *wj, double bj, int need, int both, mlpf_pair_out *out) {
    double *e1 = wk->e1, *e2 = wk->e2, s, al, be;
    mlpf_gauss_pair_basis(din, wi, wj, e1, e2, &s, &al, &be);
    double sv = sqrt(al * al + be * be);
    double uv[2] = {s, 0}, vv[2] = {al, be};
    /* Near-coincident kinks (parallel units with close offsets) make every
       quantity below depend on D = s b_j - alpha b_i, a difference of nearly
       equal terms. Forming it once and deriving all offsets from it keeps their
       rounding errors consistent, so that the O(1) line and orthant terms still
       cancel to O(eps) instead of O(eps / beta). */
    double D = fma(s, bj, -al * bi);
    if (fabs(D) <= 1e-13 * (fabs(s * bj) + fabs(al * bi))) D = 0;
    double P11;
    if (s > 0 && sv > 0)
        P11 = mlpf_bvn_cdf_a(c, bi / s, bj / sv, al / sv, be / sv, bi != 0 ? D / (bi * be) : 0,
                             bj != 0 ? (bi * be * be - al * D) / (s * bj * be) : 0);
    else if (s > 0) P11 = step(bj) * Phi(bi / s);
    else if (sv > 0) P11 = step(bi) * Phi(bj / sv);
    else P11 = step(bi) * step(bj);
    /* line u = 0: z1 = t0, z2 free, v = m + beta z2 with m = D / s */
    double AH[3] = {0}, AR[6] = {0};
    if (s > 0) {
        double pu = phi(bi / s) / s, t0 = -bi / s, m = D / s, LH[3], LR[3];
        line_moments(0, m, be, LH);
        line_moments(1, m, be, LR);
        AH[0] = pu * LH[0]; AH[1] = pu * t0 * LH[0]; AH[2] = pu * LH[1];
        AR[0] = pu * LR[0]; AR[1] = pu * t0 * LR[0]; AR[2] = pu * LR[1];
        AR[3] = pu * t0 * t0 * LR[0]; AR[4] = pu * t0 * LR[1]; AR[5] = pu * LR[2];
    }
    /* line v = 0: z = z0 + t d, u = mu + su t, mu = (b_i beta^2 - alpha D) / sv^2 */
    double BH[3] = {0}, BR[6] = {0};
    if (sv > 0) {
        double pv = phi(bj / sv) / sv;
        double z0[2] = {-bj * al / (sv * sv), -bj * be / (sv * sv)}, d[2] = {-be / sv, al / sv};
        double mu = (bi * be * be - al * D) / (sv * sv), su = s * d[0], LH[3], LR[3];
        line_moments(0, mu, su, LH);
        line_moments(1, mu, su, LR);
        BH[0] = pv * LH[0];
        BR[0] = pv * LR[0];
        for (int a = 0; a < 2; a++) {
            BH[1 + a] = pv * (z0[a] * LH[0] + d[a] * LH[1]);
            BR[1 + a] = pv * (z0[a] * LR[0] + d[a] * LR[1]);
        }
        int idx[3][2] = {{0, 0}, {0, 1}, {1, 1}};
        for (int p = 0; p < 3; p++) {
            int a = idx[p][0], b = idx[p][1];
            BR[3 + p] = pv * (z0[a] * z0[b] * LR[0] + (z0[a] * d[b] + d[a] * z0[b]) * LR[1] +
                              d[a] * d[b] * LR[2]);
        }
    }
    /* Stein: E[HH z_a] = u_a E[delta(u) H(v)] + v_a E[H(u) delta(v)], and
       E[HH z_a z_b] = delta_ab P11 + u_a E[delta(u) H(v) z_b] + v_a E[H(u) delta(v) z_b] */
    double HHz[2], HHzz[2][2];
    for (int a = 0; a < 2; a++) HHz[a] = uv[a] * AH[0] + vv[a] * BH[0];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) HHzz[a][b] = (a == b ? P11 : 0) + uv[a] * AH[1 + b] + vv[a] * BH[1 + b];
    double off = 0.5 * (HHzz[0][1] + HHzz[1][0]);
    double m11[6] = {P11, HHz[0], HHz[1], HHzz[0][0], off, HHzz[1][1]};
    double m10[3], m01[3];
    m10[0] = bj * P11 + al * HHz[0] + be * HHz[1];       /* E[H(u) relu(v)] */
    for (int a = 0; a < 2; a++) m10[1 + a] = uv[a] * AR[0] + vv[a] * P11;
    m01[0] = bi * P11 + s * HHz[0];                      /* E[relu(u) H(v)] */
    for (int a = 0; a < 2; a++) m01[1 + a] = uv[a] * P11 + vv[a] * BR[0];
    double m00 = bi * m10[0] + s * m10[1];               /* relu(u) = u H(u) */
    mlpf_gauss_assemble(din, e1, e2, m00, m10, m01, AR, BR, m11, need, both, out);
}

void mlpf_relu_single(mlpf_gq_work *wk, int din, const double *w, double b, int need,
                      mlpf_pair_out *out) {
    double *e1 = wk->e1, *e2 = wk->e2, s, al, be;
    mlpf_gauss_pair_basis(din, w, w, e1, e2, &s, &al, &be);
    for (int a = 0; a < din; a++) e2[a] = 0;
    double LH[3], LR[3];
    line_moments(0, b, s, LH);
    line_moments(1, b, s, LR);
    double m10[3] = {LH[0], LH[1], 0}, m20[6] = {0};
    if (s > 0) {
        double pu = phi(b / s) / s, t0 = -b / s;
        m20[0] = pu; m20[1] = pu * t0; m20[3] = pu * t0 * t0; m20[5] = pu;
    }
    mlpf_gauss_assemble(din, e1, e2, LR[0], m10, m10, m20, m20, m20, need, 0, out);
}

/* test_gaussian_relu.c - relu closed forms and degenerate configurations of the
   Gaussian teacher-student objective (zero weights, parallel and anti-parallel
   units, a student that copies a teacher neuron).

   relu's kink limits Gauss-Hermite to algebraic convergence, so the oracles here
   are the arc-cosine kernel (no bias), a 1-D Simpson integral of the exactly
   smoothed inner expectation (with bias), and finite differences. */
#include "check.h"
#include "test_objectives.h"
#include "mlpflow.h"
#include "objective/gaussian.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double phi(double x) { return exp(-0.5 * x * x) / sqrt(2 * M_PI); }

/* E[relu(bi + wi.x) relu(bj + wj.x)]: condition on the component along wi; the
   orthogonal part smooths relu exactly: E[relu(m + c t)] = m Phi(m/c) + c phi(m/c). */
static double relu_pair_ref(int din, const double *wi, double bi, const double *wj, double bj) {
    double s = 0, al = 0, nj2 = 0;
    for (int a = 0; a < din; a++) { s += wi[a] * wi[a]; nj2 += wj[a] * wj[a]; }
    s = sqrt(s);
    for (int a = 0; a < din; a++) al += wi[a] * wj[a] / s;
    double be = sqrt(fmax(nj2 - al * al, 0.0));
    if (be < 1e-6) be = 0;  /* parallel: the inner relu keeps its kink */
    double lo = fmax(-bi / s, -12.0), hi = 12.0, kink = -bj / al, acc = 0;
    /* Simpson on each piece where the integrand is smooth */
    double cuts[3] = {lo, hi, hi};
    int npieces = 1;
    if (be == 0 && kink > lo && kink < hi) { cuts[1] = kink; npieces = 2; }
    for (int p = 0; p < npieces; p++) {
        double a = cuts[p], b = cuts[p + 1];
        int n = 40000;
        double h = (b - a) / n, part = 0;
        for (int k = 0; k <= n; k++) {
            double z = a + k * h, m = bj + al * z;
            double inner = be > 0 ? m * Phi(m / be) + be * phi(m / be) : fmax(m, 0);
            double f = (bi + s * z) * inner * phi(z);
            part += f * (k == 0 || k == n ? 1 : (k % 2 ? 4 : 2));
        }
        acc += part * h / 3;
    }
    return acc;
}

static void test_pair_values(void) {
    mlpf_error err;
    mlpf_cf_ctx cf;
    CHECK_OK(mlpf_cf_init(&cf, &err), &err);
    double e1[3], e2[3], gi[4], gj[4], h1[16], h2[16], h3[16];
    mlpf_gq_work wk = {.e1 = e1, .e2 = e2};
    mlpf_pair_out out = {.gi = gi, .gj = gj, .hii = h1, .hij = h2, .hjj = h3};
    double wi[3] = {0.8, -0.3, 0.5}, wj[3] = {-0.2, 0.9, 0.4};
    /* no bias: arc-cosine kernel s_i s_j (sin t + (pi - t) cos t) / (2 pi) */
    mlpf_relu_pair(&cf, &wk, 3, wi, 0, wj, 0, 0, 0, &out);
    double si = sqrt(0.98), sj = sqrt(1.01), c = (-0.16 - 0.27 + 0.2) / (si * sj), t = acos(c);
    CHECK_CLOSE(out.val, si * sj * (sin(t) + (M_PI - t) * c) / (2 * M_PI), 1e-16, 1e-15, "arc-cosine");
    /* same unit: E[relu(u)^2] = s^2 / 2 */
    mlpf_relu_pair(&cf, &wk, 3, wi, 0, wi, 0, 0, 0, &out);
    CHECK_CLOSE(out.val, 0.98 / 2, 1e-16, 1e-15, "E relu^2");
    /* with biases, against the Simpson reference */
    double bs[][2] = {{0.3, -0.4}, {-1.0, 0.7}, {2.0, 1.5}, {-2.5, -1.0}};
    for (int p = 0; p < 4; p++) {
        mlpf_relu_pair(&cf, &wk, 3, wi, bs[p][0], wj, bs[p][1], 0, 0, &out);
        CHECK_CLOSE(out.val, relu_pair_ref(3, wi, bs[p][0], wj, bs[p][1]), 1e-13, 0, "biases %d", p);
    }
    /* parallel and anti-parallel with biases */
    double wp[3] = {1.6, -0.6, 1.0}, wa[3] = {-0.4, 0.15, -0.25};
    mlpf_relu_pair(&cf, &wk, 3, wi, 0.2, wp, -0.3, 0, 0, &out);
    CHECK_CLOSE(out.val, relu_pair_ref(3, wi, 0.2, wp, -0.3), 1e-13, 0, "parallel");
    mlpf_relu_pair(&cf, &wk, 3, wi, 0.2, wa, 0.5, 0, 0, &out);
    CHECK_CLOSE(out.val, relu_pair_ref(3, wi, 0.2, wa, 0.5), 1e-13, 0, "anti-parallel");
    /* zero weight vector: relu(b) E[relu(v)] */
    double w0[3] = {0, 0, 0};
    mlpf_relu_pair(&cf, &wk, 3, w0, 0.7, wj, 0.1, 0, 0, &out);
    double sv = sqrt(1.01);
    CHECK_CLOSE(out.val, 0.7 * (0.1 * Phi(0.1 / sv) + sv * phi(0.1 / sv)), 1e-16, 1e-15, "zero weights");
}


/* teacher 3 units in din 3; the student is built from the teacher's neurons
   (scaled copies, anti-parallel copies, zero vectors) plus a random neuron */
static void test_degenerate(const char *act, int bias) {
    mlpf_error err;
    int kinked = strcmp(act, "relu") == 0 || strcmp(act, "selu") == 0;
    mlpf_net *t = make_net(3, 3, act, bias, bias), *s = make_net(3, 4, act, bias, bias);
    int tw = 3 + bias;
    double tp[32], x[32];
    mlpf_random_params(t, 5, tp, &err);
    if (bias) for (int j = 0; j < 3; j++) tp[j * tw + 3] = 0.3 * (j - 1);
    mlpf_random_params(s, 9, x, &err);
    size_t off2 = mlpf_net_layer_offset(s, 1);
    for (int a = 0; a < 3; a++) {
        x[0 * tw + a] = 1.5 * tp[0 * tw + a];   /* parallel to teacher 0 */
        x[1 * tw + a] = -0.7 * tp[1 * tw + a];  /* anti-parallel to teacher 1 */
        /* zero weights; relu without bias has no Hessian there: another copy */
        x[2 * tw + a] = kinked && !bias ? 0.8 * tp[2 * tw + a] : 0.0;
    }
    if (bias) { x[0 * tw + 3] = -0.2; x[1 * tw + 3] = 0.1; x[2 * tw + 3] = 0.4; x[3 * tw + 3] = -0.1; }
    mlpf_objective *obj = mlpf_objective_gaussian(t, tp, s, &err);
    CHECK(obj != NULL, "%s", err.msg);
    if (!obj) return;
    size_t P = mlpf_objective_nparams(obj);
    double l, g[32], h[1024];
    CHECK_OK(mlpf_objective_eval(obj, x, &l, g, h, &err), &err);
    int finite = 1;
    for (size_t i = 0; i < P * P; i++) finite &= isfinite(h[i]);
    CHECK(finite && isfinite(l), "%s bias %d: finite at degenerate point", act, bias);
    /* continuity: a tiny rotation of the copies changes nothing beyond O(delta) */
    double y[32], gy[32], hy[1024], ly;
    memcpy(y, x, sizeof y);
    y[0] += 1e-7; y[tw + 1] -= 1e-7; y[2 * tw] += 1e-7;
    CHECK_OK(mlpf_objective_eval(obj, y, &ly, gy, hy, &err), &err);
    double dg = 0, dh = 0;
    for (size_t i = 0; i < P; i++) dg = fmax(dg, fabs(g[i] - gy[i]));
    for (size_t i = 0; i < P * P; i++) dh = fmax(dh, fabs(h[i] - hy[i]));
    CHECK(fabs(l - ly) < 1e-6 && dg < 1e-5 && dh < 1e-4, "%s bias %d continuity: %g %g %g", act, bias,
          fabs(l - ly), dg, dh);
    /* finite differences; the zero-weight neuron is moved off zero for relu,
       whose expectation has no Hessian there (with bias it does, but not for its
       weights when the bias is 0) */
    if (kinked) x[2 * tw] = 0.3;
    double eg, eh;
    fd_errors(obj, x, 1e-5, &eg, &eh, NULL);
    CHECK(eg < 1e-8, "%s bias %d: gradient vs FD %g", act, bias, eg);
    CHECK(eh < 1e-5, "%s bias %d: Hessian vs FD %g", act, bias, eh);
    /* output weights are the student's: a0 row exists exactly when obias */
    CHECK(P == off2 + 4 + (size_t)bias, "nparams");
    mlpf_objective_free(obj);
    mlpf_net_free(t);
    mlpf_net_free(s);
}

/* student = teacher (up to a permutation) is a zero of the loss and its gradient */
static void test_copy(const char *act, int bias) {
    mlpf_error err;
    mlpf_net *t = make_net(2, 3, act, bias, bias), *s = make_net(2, 3, act, bias, bias);
    double tp[16], x[16], g[16], l;
    mlpf_random_params(t, 3, tp, &err);
    int tw = 2 + bias;
    if (bias) for (int j = 0; j < 3; j++) tp[j * tw + 2] = 0.4 * (j - 1);
    int perm[3] = {2, 0, 1};
    for (int j = 0; j < 3; j++) {
        memcpy(x + perm[j] * tw, tp + j * tw, sizeof(double) * (size_t)tw);
        x[3 * tw + perm[j]] = tp[3 * tw + j];
    }
    if (bias) x[3 * tw + 3] = tp[3 * tw + 3];
    mlpf_objective *obj = mlpf_objective_gaussian(t, tp, s, &err);
    CHECK_OK(mlpf_objective_eval(obj, x, &l, g, NULL, &err), &err);
    double gn = 0;
    for (size_t i = 0; i < mlpf_objective_nparams(obj); i++) gn = fmax(gn, fabs(g[i]));
    /* the loss is a sum of O(1) expectations: zero up to their rounding */
    CHECK(fabs(l) < 1e-14, "%s bias %d: loss at the teacher %g", act, bias, l);
    CHECK(gn < 1e-14, "%s bias %d: gradient at the teacher %g", act, bias, gn);
    mlpf_objective_free(obj);
    mlpf_net_free(t);
    mlpf_net_free(s);
}

/* The closed form against the generic quadrature path, whose composite rules
   put a panel edge on every kink (per row for the inner direction), so that
   it converges exponentially despite relu's kink: two independent routes. */
static void test_closed_vs_quadrature(void) {
    mlpf_error err;
    mlpf_net *t = make_net(3, 2, "relu", 1, 1), *s = make_net(3, 3, "relu", 1, 1);
    double tp[16], x[32], l1, l2, g1[32], g2[32], h1[1024], h2[1024];
    mlpf_random_params(t, 7, tp, &err);
    mlpf_random_params(s, 8, x, &err);
    tp[3] = 0.3; tp[7] = -0.2; x[3] = 0.1; x[7] = -0.4; x[11] = 0.2;
    mlpf_objective *o1 = mlpf_objective_gaussian(t, tp, s, &err);
    mlpf_objective *o2 = mlpf_objective_gaussian_opts(t, tp, s, 256, 1, &err);
    CHECK_OK(mlpf_objective_eval(o1, x, &l1, g1, h1, &err), &err);
    CHECK_OK(mlpf_objective_eval(o2, x, &l2, g2, h2, &err), &err);
    CHECK_CLOSE(l1, l2, 1e-12, 0, "relu closed form vs quadrature");
    size_t P = mlpf_net_nparams(s);
    double dh = 0;
    for (size_t i = 0; i < P * P; i++) dh = fmax(dh, fabs(h1[i] - h2[i]));
    CHECK(dh < 1e-10, "relu Hessian closed form vs quadrature: %g", dh);
    double dg = 0;
    for (size_t i = 0; i < mlpf_net_nparams(s); i++) dg = fmax(dg, fabs(g1[i] - g2[i]));
    CHECK(dg < 1e-11, "relu gradient closed form vs quadrature: %g", dg);
    mlpf_objective_free(o1);
    mlpf_objective_free(o2);
    mlpf_net_free(t);
    mlpf_net_free(s);
}

/* Kinked activations on the quadrature path (selu; relu against a smooth
   teacher): f'' holds jump * delta(u), which the Hessian must include. */
static void test_kinked_quadrature(void) {
    mlpf_error err;
    const char *pairs[][2] = {{"selu", "selu"}, {"relu", "gelu"}, {"tanh", "relu"}, {"selu", "relu"}};
    for (int p = 0; p < 4; p++) {
        mlpf_net *t = make_net(3, 2, pairs[p][1], 1, 0), *s = make_net(3, 3, pairs[p][0], 1, 1);
        double tp[16], x[32];
        mlpf_random_params(t, 17 + p, tp, &err);
        mlpf_random_params(s, 27 + p, x, &err);
        tp[3] = 0.3; tp[7] = -0.5; x[3] = 0.2; x[7] = -0.3; x[11] = 0.1; x[15] = 0.05;
        mlpf_objective *obj = mlpf_objective_gaussian(t, tp, s, &err);
        double eg, eh;
        fd_errors(obj, x, 1e-5, &eg, &eh, NULL);
        CHECK(eg < 1e-8, "%s/%s: gradient vs FD %g", pairs[p][0], pairs[p][1], eg);
        CHECK(eh < 1e-6, "%s/%s: Hessian vs FD %g", pairs[p][0], pairs[p][1], eh);
        mlpf_objective_free(obj);
        mlpf_net_free(t);
        mlpf_net_free(s);
    }
}

int main(void) {
    test_pair_values();
    test_kinked_quadrature();
    test_closed_vs_quadrature();
    const char *acts[] = {"relu", "sigmoid2", "normal_cdf", "softplus", "selu"};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 2; b++) {
            test_degenerate(acts[a], b);
            test_copy(acts[a], b);
        }
    return check_report("test_gaussian_relu");
}

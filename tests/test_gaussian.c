/* test_gaussian.c - the infinite-Gaussian-data teacher-student objective against
   independent oracles: Gauss-Hermite data nets through the finite objective,
   central finite differences, brute-force integrals, and its own quadrature. */
#include "check.h"
#include "mlpflow.h"
#include "objective/gaussian.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static mlpf_net *make_net(int din, int k, const mlpf_activation *act, int bias, int obias) {
    mlpf_error err;
    mlpf_net *net = mlpf_net_create(din, &err);
    if (!net) return NULL;
    if (mlpf_net_add_layer_acts(net, k, act, 1, bias, &err) ||
        mlpf_net_add_layer(net, 1, "identity", obias, &err)) {
        mlpf_net_free(net);
        return NULL;
    }
    return net;
}

/* Glorot weights, then nonzero biases (random_params leaves them at 0) */
static void random_point(const mlpf_net *net, uint64_t seed, double scale, double *x) {
    mlpf_error err;
    mlpf_random_params(net, seed, x, &err);
    mlpf_rng r;
    mlpf_rng_seed(&r, seed + 1000);
    for (int l = 0; l < 2; l++) {
        int units = mlpf_net_layer_units(net, l), in = mlpf_net_layer_inputs(net, l);
        int b = mlpf_net_layer_bias(net, l);
        size_t off = mlpf_net_layer_offset(net, l);
        for (int u = 0; u < units; u++) {
            for (int i = 0; i < in; i++) x[off + (size_t)u * (in + b) + i] *= l == 0 ? scale : 1.0;
            if (b) x[off + (size_t)u * (in + b) + in] = 0.5 * mlpf_rng_normal(&r);
        }
    }
}

static double max_abs_diff(const double *a, const double *b, size_t n, double *scale) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    if (scale) *scale = s;
    return d;
}

/* exact objective vs the finite objective on a Gauss-Hermite data net */
static void compare_with_gh_net(int din, const mlpf_activation *sact, const mlpf_activation *tact,
                                int flags, int k, int m, uint64_t seed, double tol, int order,
                                double scale) {
    mlpf_error err;
    mlpf_net *teacher = make_net(din, m, tact, flags & 1, (flags >> 1) & 1);
    mlpf_net *student = make_net(din, k, sact, (flags >> 2) & 1, (flags >> 3) & 1);
    size_t pt = mlpf_net_nparams(teacher), P = mlpf_net_nparams(student);
    double *tp = malloc(sizeof(double) * pt), *x = malloc(sizeof(double) * P);
    random_point(teacher, seed, scale, tp);
    random_point(student, seed + 7, scale, x);
    mlpf_objective *exact = mlpf_objective_gaussian(teacher, tp, student, &err);
    CHECK(exact != NULL, "%s", err.msg);
    double *in = NULL, *w = NULL;
    size_t n = 0;
    CHECK_OK(mlpf_gauss_hermite_data(din, order, 1e-30, &in, &w, &n, &err), &err);
    double *tout = malloc(sizeof(double) * n);
    CHECK_OK(mlpf_predict(teacher, tp, in, n, tout, &err), &err);
    mlpf_objective *gh = mlpf_objective_finite(student, n, in, tout, 1, w, NULL, &err);
    CHECK(gh != NULL, "%s", err.msg);
    if (exact && gh) {
        double l1, l2, *g1 = malloc(sizeof(double) * P), *g2 = malloc(sizeof(double) * P);
        double *h1 = malloc(sizeof(double) * P * P), *h2 = malloc(sizeof(double) * P * P);
        CHECK_OK(mlpf_objective_eval(exact, x, &l1, g1, h1, &err), &err);
        CHECK_OK(mlpf_objective_eval(gh, x, &l2, g2, h2, &err), &err);
        double sg, sh, dg = max_abs_diff(g1, g2, P, &sg), dh = max_abs_diff(h1, h2, P * P, &sh);
        const char *sn = mlpf_activation_name(sact->kind), *tn = mlpf_activation_name(tact->kind);
        CHECK_CLOSE(l1, l2, tol, tol, "loss din %d %s/%s flags %d", din, sn, tn, flags);
        CHECK(dg <= tol * (1 + sg), "gradient din %d %s/%s flags %d: diff %g", din, sn, tn, flags, dg);
        CHECK(dh <= tol * (1 + sh), "hessian din %d %s/%s flags %d: diff %g", din, sn, tn, flags, dh);
        /* the loss alone agrees with the loss from the full evaluation */
        double l3;
        CHECK_OK(mlpf_objective_eval(exact, x, &l3, NULL, NULL, &err), &err);
        CHECK_CLOSE(l3, l1, 1e-15, 1e-15, "loss-only evaluation");
        free(g1); free(g2); free(h1); free(h2);
    }
    mlpf_objective_free(exact);
    mlpf_objective_free(gh);
    free(in); free(w); free(tout); free(tp); free(x);
    mlpf_net_free(teacher);
    mlpf_net_free(student);
}

static void test_gh_rules(void) {
    mlpf_error err;
    double x[20], w[20];
    CHECK_OK(mlpf_gh_rule(20, x, w, &err), &err);
    /* E[z^2p] = (2p - 1)!!, exact for 2p <= 39 */
    double df = 1;
    for (int p = 0; p <= 19; p++) {
        double s = 0;
        for (int i = 0; i < 20; i++) s += w[i] * pow(x[i], 2 * p);
        CHECK_CLOSE(s, df, 0, 1e-13, "E[z^%d]", 2 * p);
        df *= 2 * p + 1;
    }
    double gx[7], gw[7];
    CHECK_OK(mlpf_gl_rule(7, gx, gw, &err), &err);
    for (int p = 0; p <= 13; p++) {
        double s = 0;
        for (int i = 0; i < 7; i++) s += gw[i] * pow(gx[i], p);
        CHECK_CLOSE(s, p % 2 ? 0.0 : 2.0 / (p + 1), 1e-15, 1e-14, "int x^%d", p);
    }
    /* data net: tensor grid, weights average to the expectation */
    double *in, *wt;
    size_t n;
    CHECK_OK(mlpf_gauss_hermite_data(2, 30, 0.0, &in, &wt, &n, &err), &err);
    CHECK(n == 900, "n = %zu", n);
    double s = 0, m2 = 0, m11 = 0;
    for (size_t i = 0; i < n; i++) {
        s += wt[i];
        m2 += wt[i] * in[2 * i] * in[2 * i] / (double)n;
        m11 += wt[i] * in[2 * i] * in[2 * i + 1] / (double)n;
    }
    CHECK_CLOSE(s, (double)n, 0, 1e-13, "sum of weights");
    CHECK_CLOSE(m2, 1.0, 0, 1e-13, "E[x1^2]");
    CHECK_CLOSE(m11, 0.0, 1e-15, 0, "E[x1 x2]");
    free(in); free(wt);
    CHECK_OK(mlpf_gauss_hermite_data(2, 30, 1e-18, &in, &wt, &n, &err), &err);
    CHECK(n < 900 && n > 400, "pruned n = %zu", n);
    free(in); free(wt);
    CHECK(mlpf_gauss_hermite_data(3, 10, 0, &in, &wt, &n, &err) == MLPF_EUNSUPPORTED, "din 3");
}

/* brute-force Owen's T and bivariate normal CDF by composite Simpson */
static double owen_ref(double h, double a) {
    int n = 20000;
    double s = 0, dx = a / n;
    for (int i = 0; i <= n; i++) {
        double x = i * dx, f = exp(-0.5 * h * h * (1 + x * x)) / (1 + x * x);
        s += f * (i == 0 || i == n ? 1 : (i % 2 ? 4 : 2));
    }
    return s * dx / 3 / (2 * M_PI);
}

static void test_owen_bvn(void) {
    mlpf_error err;
    mlpf_cf_ctx c;
    CHECK_OK(mlpf_cf_init(&c, &err), &err);
    double hs[] = {0, 0.3, 1, 2.5, 4, 7}, as[] = {0.1, 0.5, 1, 1.7, 5, 40};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            double t = mlpf_owen_t(&c, hs[i], as[j]);
            CHECK_CLOSE(t, owen_ref(hs[i], as[j]), 2e-16, 1e-12, "T(%g, %g)", hs[i], as[j]);
        }
    /* Phi2 via Plackett: Phi2(h, k; rho) = Phi(h) Phi(k) + int_0^rho density dr */
    double pts[][3] = {{0.3, -0.7, 0.5}, {-1.2, -0.4, -0.8}, {2, 1, 0.99}, {0, 1.5, -0.3},
                       {-0.5, 0, 0.9}, {0, 0, 0.6}, {1.1, 1.1, -0.999}};
    for (int p = 0; p < 7; p++) {
        double h = pts[p][0], k = pts[p][1], rho = pts[p][2];
        int n = 200000;
        double s = 0, dr = rho / n;
        for (int i = 0; i <= n; i++) {
            double r = i * dr, q = 1 - r * r;
            double f = exp(-(h * h - 2 * r * h * k + k * k) / (2 * q)) / (2 * M_PI * sqrt(q));
            s += f * (i == 0 || i == n ? 1 : (i % 2 ? 4 : 2));
        }
        double ref = 0.25 * erfc(-h / sqrt(2)) * erfc(-k / sqrt(2)) + s * dr / 3;
        CHECK_CLOSE(mlpf_bvn_cdf(&c, h, k, rho), ref, 1e-12, 0, "Phi2(%g, %g; %g)", h, k, rho);
    }
}

/* gradient and Hessian of the exact objective against central differences */
static void check_fd(const mlpf_objective *obj, const double *x0, const char *what) {
    mlpf_error err;
    size_t P = mlpf_objective_nparams(obj);
    double *x = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * P);
    double *h = malloc(sizeof(double) * P * P), *gp = malloc(sizeof(double) * P);
    double *gm = malloc(sizeof(double) * P), l;
    memcpy(x, x0, sizeof(double) * P);
    CHECK_OK(mlpf_objective_eval(obj, x, &l, g, h, &err), &err);
    double eps = 1e-5, worst_g = 0, worst_h = 0;
    for (size_t i = 0; i < P; i++) {
        double lp, lm, xi = x[i];
        x[i] = xi + eps;
        mlpf_objective_eval(obj, x, &lp, gp, NULL, &err);
        x[i] = xi - eps;
        mlpf_objective_eval(obj, x, &lm, gm, NULL, &err);
        x[i] = xi;
        worst_g = fmax(worst_g, fabs((lp - lm) / (2 * eps) - g[i]));
        for (size_t j = 0; j < P; j++)
            worst_h = fmax(worst_h, fabs((gp[j] - gm[j]) / (2 * eps) - h[i * P + j]));
    }
    CHECK(worst_g < 1e-8, "%s: gradient vs FD %g", what, worst_g);
    CHECK(worst_h < 1e-7, "%s: Hessian vs FD %g", what, worst_h);
    double asym = 0;
    for (size_t i = 0; i < P; i++)
        for (size_t j = 0; j < P; j++) asym = fmax(asym, fabs(h[i * P + j] - h[j * P + i]));
    CHECK(asym <= 1e-14, "%s: Hessian asymmetry %g", what, asym);
    free(x); free(g); free(h); free(gp); free(gm);
}

static void test_fd_and_closed_vs_quad(void) {
    mlpf_error err;
    mlpf_act_kind kinds[] = {MLPF_ACT_SIGMOID2, MLPF_ACT_NORMAL_CDF, MLPF_ACT_SOFTPLUS, MLPF_ACT_TANH};
    for (int a = 0; a < 4; a++)
        for (int flags = 0; flags < 16; flags += 5) {
            mlpf_activation act = {.kind = kinds[a]}, tact = {.kind = kinds[(a + 1) % 4]};
            mlpf_net *t = make_net(3, 3, &tact, flags & 1, (flags >> 1) & 1);
            mlpf_net *s = make_net(3, 4, &act, (flags >> 2) & 1, (flags >> 3) & 1);
            double tp[64], x[64];
            random_point(t, 11 + flags, 1.0, tp);
            random_point(s, 23 + flags, 1.0, x);
            mlpf_objective *obj = mlpf_objective_gaussian(t, tp, s, &err);
            CHECK(obj != NULL, "%s", err.msg);
            char what[96];
            snprintf(what, sizeof what, "%s/%s flags %d", mlpf_activation_name(act.kind),
                     mlpf_activation_name(tact.kind), flags);
            if (obj) check_fd(obj, x, what);
            CHECK(mlpf_objective_net(obj) != NULL && mlpf_objective_nparams(obj) == mlpf_net_nparams(s),
                  "objective net");
            /* closed forms against the quadrature path with large rules */
            mlpf_objective *quad = mlpf_objective_gaussian_opts(t, tp, s, 128, 1, &err);
            size_t P = mlpf_net_nparams(s);
            double l1, l2, g1[64], g2[64], h1[4096], h2[4096];
            mlpf_objective_eval(obj, x, &l1, g1, h1, &err);
            mlpf_objective_eval(quad, x, &l2, g2, h2, &err);
            CHECK_CLOSE(l1, l2, 1e-13, 0, "closed vs quadrature loss %s", what);
            CHECK(max_abs_diff(g1, g2, P, NULL) < 1e-12, "closed vs quadrature gradient %s", what);
            CHECK(max_abs_diff(h1, h2, P * P, NULL) < 1e-11, "closed vs quadrature Hessian %s", what);
            mlpf_objective_free(obj);
            mlpf_objective_free(quad);
            mlpf_net_free(t);
            mlpf_net_free(s);
        }
}

int main(void) {
    test_gh_rules();
    test_owen_bvn();
    test_fd_and_closed_vs_quad();
    mlpf_act_kind kinds[] = {MLPF_ACT_IDENTITY, MLPF_ACT_SIGMOID, MLPF_ACT_TANH, MLPF_ACT_SOFTPLUS,
                             MLPF_ACT_GELU, MLPF_ACT_SILU, MLPF_ACT_SIGMOID2, MLPF_ACT_NORMAL_CDF,
                             MLPF_ACT_G, MLPF_ACT_SQUARE, MLPF_ACT_CUBE, MLPF_ACT_EXP, MLPF_ACT_POLY};
    int nk = (int)(sizeof kinds / sizeof kinds[0]);
    for (int din = 1; din <= 2; din++)
        for (int a = 0; a < nk; a++)
            for (int flags = 0; flags < 16; flags++) {
                mlpf_activation act = {.kind = kinds[a]};
                if (act.kind == MLPF_ACT_POLY) {
                    act.ncoef = 4;
                    act.coef[0] = 0.3; act.coef[1] = -1; act.coef[2] = 0.5; act.coef[3] = 0.2;
                }
                /* The data net's rule must resolve the activation too: tanh needs a larger
                   one, and g = sigmoid(4x) + softplus smaller weights (its strip of
                   analyticity is pi/4 wide: at |w| ~ 0.7 no rule <= 256 reaches 1e-10). */
                double scale = act.kind == MLPF_ACT_G ? 0.25 : 0.8;
                int order = act.kind == MLPF_ACT_TANH || act.kind == MLPF_ACT_SIGMOID2 ? 160 : 80;
                compare_with_gh_net(din, &act, &act, flags, 3, 2, 100 + 16 * a + flags, 1e-10, order, scale);
            }
    /* mixed activations: erf student, tanh teacher */
    mlpf_activation erf_act = {.kind = MLPF_ACT_SIGMOID2}, tanh_act = {.kind = MLPF_ACT_TANH};
    for (int flags = 0; flags < 16; flags++) compare_with_gh_net(2, &erf_act, &tanh_act, flags, 3, 3, 7 + flags, 1e-10, 160, 0.8);
    return check_report("test_gaussian");
}

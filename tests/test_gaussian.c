/* test_gaussian.c - the infinite-Gaussian-data teacher-student objective against
   independent oracles: Gauss-Hermite data nets through the finite objective,
   central finite differences, brute-force integrals, and its own quadrature. */
#include "check.h"
#include "test_objectives.h"
#include "mlpflow.h"
#include "objective/gaussian.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static mlpf_net *make_net_acts(int din, int k, const mlpf_activation *act, int bias, int obias) {
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
    mlpf_net *teacher = make_net_acts(din, m, tact, flags & 1, (flags >> 1) & 1);
    mlpf_net *student = make_net_acts(din, k, sact, (flags >> 2) & 1, (flags >> 3) & 1);
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
    double worst_g, worst_h, asym;
    CHECK(fd_errors(obj, x0, 1e-5, &worst_g, &worst_h, &asym) == MLPF_OK, "%s: evaluation failed", what);
    CHECK(worst_g < 1e-8, "%s: gradient vs FD %g", what, worst_g);
    CHECK(worst_h < 1e-7, "%s: Hessian vs FD %g", what, worst_h);
    CHECK(asym <= 1e-14, "%s: Hessian asymmetry %g", what, asym);
}

static void test_fd_and_closed_vs_quad(void) {
    mlpf_error err;
    mlpf_act_kind kinds[] = {MLPF_ACT_SIGMOID2, MLPF_ACT_NORMAL_CDF, MLPF_ACT_SOFTPLUS, MLPF_ACT_TANH};
    for (int a = 0; a < 4; a++)
        for (int flags = 0; flags < 16; flags += 5) {
            mlpf_activation act = {.kind = kinds[a]}, tact = {.kind = kinds[(a + 1) % 4]};
            mlpf_net *t = make_net_acts(3, 3, &tact, flags & 1, (flags >> 1) & 1);
            mlpf_net *s = make_net_acts(3, 4, &act, (flags >> 2) & 1, (flags >> 3) & 1);
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

/* The default rule sizes meet the 1e-12 loss bound: against the largest rule */
static void test_quadrature_bound(void) {
    mlpf_error err;
    mlpf_act_kind kinds[] = {MLPF_ACT_SIGMOID, MLPF_ACT_TANH, MLPF_ACT_SOFTPLUS, MLPF_ACT_GELU,
                             MLPF_ACT_SILU, MLPF_ACT_G, MLPF_ACT_EXP};
    double scales[] = {1.0, 0.6, 1.5, 1.0, 1.5, 0.3, 0.8};
    for (int a = 0; a < 7; a++) {
        mlpf_activation act = {.kind = kinds[a]};
        mlpf_net *t = make_net_acts(4, 3, &act, 1, 1), *s = make_net_acts(4, 3, &act, 1, 1);
        double tp[64], x[64], l1, l2, g1[64], g2[64];
        random_point(t, 31 + a, scales[a], tp);
        random_point(s, 41 + a, scales[a], x);
        mlpf_objective *o1 = mlpf_objective_gaussian(t, tp, s, &err);
        mlpf_objective *o2 = mlpf_objective_gaussian_opts(t, tp, s, 256, 1, &err);
        CHECK_OK(mlpf_objective_eval(o1, x, &l1, g1, NULL, &err), &err);
        CHECK_OK(mlpf_objective_eval(o2, x, &l2, g2, NULL, &err), &err);
        CHECK_CLOSE(l1, l2, 1e-12, 0, "%s: default rules vs 256-point rules", mlpf_activation_name(act.kind));
        CHECK(max_abs_diff(g1, g2, mlpf_net_nparams(s), NULL) < 1e-11, "%s gradient",
              mlpf_activation_name(act.kind));
        mlpf_objective_free(o1);
        mlpf_objective_free(o2);
        mlpf_net_free(t);
        mlpf_net_free(s);
    }
}

/* E[(a fs(ws z + bs) - c ft(wt z + bt))^2] for z ~ N(0, 1) by composite Simpson
   on [-12, 12], split at both units' kinks (relu, selu), compensated sums */
static double simpson_1d(const mlpf_activation *fs_act, const mlpf_activation *ft_act,
                         const double *x, const double *tp) {
    double cuts[4] = {-12, 12, 12, 12};
    int nc = 2;
    double kinks[2] = {-x[1] / x[0], -tp[1] / tp[0]};
    for (int k = 0; k < 2; k++) {
        if (!(kinks[k] > -12 && kinks[k] < 12)) continue;
        int pos = nc - 1;
        while (pos > 0 && cuts[pos - 1] > kinks[k]) pos--;
        for (int e = nc; e > pos; e--) cuts[e] = cuts[e - 1];
        cuts[pos] = kinks[k];
        nc++;
    }
    double total = 0;
    for (int piece = 0; piece + 1 < nc; piece++) {
        int n = 200000;
        double lo = cuts[piece], h = (cuts[piece + 1] - lo) / n, acc = 0, comp = 0;
        for (int k = 0; k <= n; k++) {
            double z = lo + k * h, fs, ft;
            mlpf_activation_eval(fs_act, x[0] * z + x[1], &fs, NULL, NULL);
            mlpf_activation_eval(ft_act, tp[0] * z + tp[1], &ft, NULL, NULL);
            double r = x[2] * fs - tp[2] * ft;
            double term = r * r * exp(-0.5 * z * z) * (k == 0 || k == n ? 1 : (k % 2 ? 4 : 2)) - comp;
            double t2 = acc + term;
            comp = (t2 - acc) - term;
            acc = t2;
        }
        total += acc * h / 3;
    }
    return total / sqrt(2 * M_PI);
}

/* Large weights need more nodes than any Gauss-Hermite rule (composite rules),
   and kinked activations composite rules with edges on the kinks: din 1, one
   unit each, against Simpson on the 1-D integral. */
static void test_large_scale_and_kinks(void) {
    mlpf_error err;
    mlpf_act_kind ks[] = {MLPF_ACT_TANH, MLPF_ACT_G, MLPF_ACT_GELU, MLPF_ACT_SOFTPLUS, MLPF_ACT_SELU,
                          MLPF_ACT_RELU, MLPF_ACT_SELU};
    mlpf_act_kind kt[] = {MLPF_ACT_TANH, MLPF_ACT_G, MLPF_ACT_GELU, MLPF_ACT_SOFTPLUS, MLPF_ACT_SELU,
                          MLPF_ACT_GELU, MLPF_ACT_TANH};
    double ws[] = {3.0, 2.0, 4.0, 6.0, 1.5, 1.2, 0.8};
    for (int a = 0; a < 7; a++) {
        mlpf_activation sa = {.kind = ks[a]}, ta = {.kind = kt[a]};
        mlpf_net *t = make_net_acts(1, 1, &ta, 1, 0), *s = make_net_acts(1, 1, &sa, 1, 0);
        double tp[3] = {ws[a], 0.2, 1.1}, x[3] = {-0.8 * ws[a], -0.1, 0.7}, l;
        mlpf_objective *o = mlpf_objective_gaussian(t, tp, s, &err);
        CHECK_OK(mlpf_objective_eval(o, x, &l, NULL, NULL, &err), &err);
        CHECK_CLOSE(l, simpson_1d(&sa, &ta, x, tp), 1e-12, 0, "%s/%s at |w| = %g",
                    mlpf_activation_name(sa.kind), mlpf_activation_name(ta.kind), ws[a]);
        mlpf_objective_free(o);
        mlpf_net_free(t);
        mlpf_net_free(s);
    }
}

/* eval is reentrant: concurrent evaluations give the serial result bit for bit */
static void test_threads(void) {
    mlpf_error err;
    mlpf_activation sp = {.kind = MLPF_ACT_SOFTPLUS}, er = {.kind = MLPF_ACT_SIGMOID2};
    mlpf_net *t = make_net_acts(3, 3, &er, 1, 1), *s = make_net_acts(3, 4, &sp, 1, 1);
    double tp[32], x[32], g0[32], h0[1024], l0;
    random_point(t, 3, 1.0, tp);
    random_point(s, 4, 1.0, x);
    mlpf_objective *o = mlpf_objective_gaussian(t, tp, s, &err);
    size_t P = mlpf_net_nparams(s);
    CHECK_OK(mlpf_objective_eval(o, x, &l0, g0, h0, &err), &err);
    int same = 0;
#pragma omp parallel for reduction(+ : same) num_threads(4)
    for (int r = 0; r < 8; r++) {
        double l, g[32], h[1024];
        mlpf_error e;
        mlpf_objective_eval(o, x, &l, g, h, &e);
        same += l == l0 && memcmp(g, g0, sizeof(double) * P) == 0 && memcmp(h, h0, sizeof(double) * P * P) == 0;
    }
    CHECK(same == 8, "%d of 8 concurrent evaluations equal the serial one", same);
    mlpf_objective_free(o);
    mlpf_net_free(t);
    mlpf_net_free(s);
}

/* Shapes the exact objective cannot serve say so, and name the alternatives. */
static void test_unsupported(void) {
    mlpf_error err;
    mlpf_activation erf_act = {.kind = MLPF_ACT_SIGMOID2};
    mlpf_net *t = make_net_acts(2, 2, &erf_act, 0, 0);
    double tp[16] = {0.1, 0.2, 0.3, 0.4, 1, 1};
    mlpf_net *deep = mlpf_net_create(2, &err);
    mlpf_net_add_layer(deep, 3, "tanh", 1, &err);
    mlpf_net_add_layer(deep, 3, "tanh", 1, &err);
    mlpf_net_add_layer(deep, 1, "identity", 0, &err);
    mlpf_net *two_out = mlpf_net_create(2, &err);
    mlpf_net_add_layer(two_out, 3, "tanh", 1, &err);
    mlpf_net_add_layer(two_out, 2, "identity", 0, &err);
    mlpf_net *sig_out = mlpf_net_create(2, &err);
    mlpf_net_add_layer(sig_out, 3, "tanh", 1, &err);
    mlpf_net_add_layer(sig_out, 1, "sigmoid", 0, &err);
    mlpf_net *per_neuron = mlpf_net_create(2, &err);
    mlpf_activation acts[2] = {{.kind = MLPF_ACT_TANH}, {.kind = MLPF_ACT_RELU}};
    mlpf_net_add_layer_acts(per_neuron, 2, acts, 2, 0, &err);
    mlpf_net_add_layer(per_neuron, 1, "identity", 0, &err);
    mlpf_net *din3 = make_net_acts(3, 2, &erf_act, 0, 0);
    mlpf_net *bad[] = {deep, two_out, sig_out, per_neuron, din3};
    for (int i = 0; i < 5; i++) {
        mlpf_objective *o = mlpf_objective_gaussian(t, tp, bad[i], &err);
        CHECK(o == NULL && err.status == MLPF_EUNSUPPORTED, "case %d: status %d", i, err.status);
        if (i < 4)
            CHECK(strstr(err.msg, "gauss-hermite") && strstr(err.msg, "samples"), "case %d: %s", i, err.msg);
        mlpf_objective_free(o);
        mlpf_net_free(bad[i]);
    }
    double nan_tp[6] = {NAN, 0, 0, 0, 1, 1};
    CHECK(mlpf_objective_gaussian(t, nan_tp, t, &err) == NULL && err.status == MLPF_ENONFINITE, "NaN teacher");
    mlpf_net_free(t);
}

int main(void) {
    test_unsupported();
    test_quadrature_bound();
    test_large_scale_and_kinks();
    test_threads();
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

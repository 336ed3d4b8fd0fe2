/* test_matfree.c - matrix-free second-order tools: the exact Hessian-vector
   product against the dense Hessian (every activation, both losses, sample
   weights, the wrappers), Lanczos eigenvalues against dense eigh at P ~ 2000,
   Hutchinson / SLQ against exact identities, and the dense-request guard. */
#include "check.h"
#include "internal.h"
#include "objective/tauinv.h"
#include "analysis/analysis.h"
#include "test_objectives.h"
#include "dynamics/ode_krylov.h"

#include <stdlib.h>

static double *random_vec(size_t n, uint64_t seed, double scale) {
    mlpf_rng r;
    mlpf_rng_seed(&r, seed);
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = scale * mlpf_rng_normal(&r);
    return v;
}

/* max |H v - hvp(v)| / max |H v| over two random v, H the dense Hessian. */
static double hvp_rel_error(const mlpf_objective *obj, const double *x) {
    mlpf_error err;
    size_t P = mlpf_objective_nparams(obj);
    double *H = malloc(P * P * sizeof *H), *hv = malloc(P * sizeof *hv), worst = 0;
    CHECK_OK(mlpf_objective_eval(obj, x, NULL, NULL, H, &err), &err);
    for (uint64_t s = 0; s < 2; s++) {
        double *v = random_vec(P, 100 + s, 1.0), num = 0, den = 0;
        CHECK_OK(mlpf_objective_hvp(obj, x, v, hv, &err), &err);
        for (size_t i = 0; i < P; i++) {
            double d = 0;
            for (size_t j = 0; j < P; j++) d += H[i * P + j] * v[j];
            num = fmax(num, fabs(d - hv[i]));
            den = fmax(den, fabs(d));
        }
        worst = fmax(worst, num / den);
        free(v);
    }
    free(H); free(hv);
    return worst;
}

/* din -> 4 (act) -> 3 (act, per-unit when mixed) -> dout, N samples with weights. */
static mlpf_objective *deep_objective(mlpf_act_kind act, mlpf_act_kind out, mlpf_loss_kind loss,
                                      int mixed, int threads, mlpf_net **netp) {
    mlpf_error err;
    int din = 3, dout = 3;
    size_t N = 37;
    mlpf_activation a = {.kind = act}, o = {.kind = out}, m[3];
    if (act == MLPF_ACT_POLY) { a.ncoef = 4; a.coef[0] = 0.1; a.coef[1] = 1.0; a.coef[2] = -0.3; a.coef[3] = 0.2; }
    mlpf_net *net = mlpf_net_create(din, &err);
    mlpf_net_add_layer_acts(net, 4, &a, 1, 1, &err);
    if (mixed) {
        m[0] = a; m[1] = (mlpf_activation){.kind = MLPF_ACT_TANH}; m[2] = (mlpf_activation){.kind = MLPF_ACT_SOFTPLUS};
        mlpf_net_add_layer_acts(net, 3, m, 3, 0, &err);
    } else {
        mlpf_net_add_layer_acts(net, 3, &a, 1, 1, &err);
    }
    mlpf_net_add_layer_acts(net, dout, &o, 1, 1, &err);
    double *in = random_vec(N * (size_t)din, 7, 1.0), *t = random_vec(N * (size_t)dout, 8, 1.0);
    double *w = random_vec(N, 9, 1.0), labels[37];
    for (size_t n = 0; n < N; n++) { w[n] = 0.5 + fabs(w[n]); labels[n] = (double)(n % (size_t)dout); }
    mlpf_finite_options fo = {.loss = loss, .threads = threads};
    int use_labels = loss == MLPF_LOSS_CROSSENTROPY;
    mlpf_objective *obj = mlpf_objective_finite(net, N, in, use_labels ? labels : t, use_labels ? 1 : (size_t)dout,
                                                w, &fo, &err);
    CHECK(obj != NULL, "finite objective: %s", err.msg);
    free(in); free(t); free(w);
    *netp = net;
    return obj;
}

static void test_hvp_activations(void) {
    for (int k = 0; k < MLPF_ACT_COUNT; k++) {
        if (k == MLPF_ACT_SOFTMAX) continue;
        for (int variant = 0; variant < 3; variant++) {
            /* 0: linear output MSE; 1: this activation at the output (MSE, kappa_out);
               2: mixed per-unit hidden layer with a softmax cross-entropy output. */
            mlpf_act_kind out = variant == 0 ? MLPF_ACT_IDENTITY : variant == 1 ? (mlpf_act_kind)k : MLPF_ACT_SOFTMAX;
            mlpf_loss_kind loss = variant == 2 ? MLPF_LOSS_CROSSENTROPY : MLPF_LOSS_MSE;
            if (variant == 1 && k == MLPF_ACT_POLY) out = MLPF_ACT_TANH;
            mlpf_net *net;
            mlpf_objective *obj = deep_objective((mlpf_act_kind)k, out, loss, variant == 2, 1, &net);
            if (!obj) { mlpf_net_free(net); continue; }
            double *x = random_vec(mlpf_net_nparams(net), 11 + (uint64_t)k, 0.7);
            double e = hvp_rel_error(obj, x);
            CHECK(e <= 1e-12, "activation %s variant %d: relative HVP error %.3g", mlpf_activation_name((mlpf_act_kind)k), variant, e);
            free(x);
            mlpf_objective_free(obj);
            mlpf_net_free(net);
        }
    }
}

/* The wrappers: regularised (barrier active, one merge), tauinv, subspace, affine;
   and the Gaussian objective through its dense Hessian. */
static void test_hvp_wrappers(void) {
    mlpf_error err;
    mlpf_net *net;
    mlpf_objective *base = deep_objective(MLPF_ACT_TANH, MLPF_ACT_IDENTITY, MLPF_LOSS_MSE, 0, 1, &net);
    size_t P = mlpf_net_nparams(net);
    double *x = random_vec(P, 21, 1.0);
    mlpf_merge mg = {.layer = 0, .i = 1, .j = 3, .lambda = 0.7};
    mlpf_objective *reg = mlpf_objective_regularized(base, 0.05, &mg, 1, &err);
    CHECK(reg != NULL, "%s", err.msg);
    CHECK(hvp_rel_error(reg, x) <= 1e-12, "regularized HVP");

    double tau[64];
    for (size_t i = 0; i < P; i++) tau[i] = i % 5 == 0 ? 0.0 : 0.5 + (double)(i % 3);
    mlpf_tauinv *t;
    CHECK_OK(mlpf_tauinv_create(reg, x, tau, P, &t, &err), &err);
    double *y = random_vec(t->p, 22, 0.5);
    CHECK(hvp_rel_error(t->obj, y) <= 1e-12, "tauinv HVP");

    double *v1 = random_vec(P, 23, 1.0), *v2 = random_vec(P, 24, 1.0);
    mlpf_objective *sub = mlpf_objective_subspace(base, x, v1, v2, 0.3, -0.2, &err);
    CHECK(sub != NULL, "%s", err.msg);
    double *z = random_vec(P - 2, 25, 0.2);
    CHECK(hvp_rel_error(sub, z) <= 1e-12, "subspace HVP");

    size_t d = 5;
    double *basis = random_vec(P * d, 26, 1.0), *za = random_vec(d, 27, 0.3);
    mlpf_objective *aff = mlpf_objective_affine(reg, x, basis, d, &err);
    CHECK(aff != NULL, "%s", err.msg);
    CHECK(hvp_rel_error(aff, za) <= 1e-12, "affine HVP");

    mlpf_net *teacher = mlpf_net_create(2, &err), *student = mlpf_net_create(2, &err);
    mlpf_net_add_layer(teacher, 2, "sigmoid2", 0, &err);
    mlpf_net_add_layer(teacher, 1, "identity", 0, &err);
    mlpf_net_add_layer(student, 3, "sigmoid2", 0, &err);
    mlpf_net_add_layer(student, 1, "identity", 0, &err);
    double *tp = random_vec(mlpf_net_nparams(teacher), 28, 1.0), *sp = random_vec(mlpf_net_nparams(student), 29, 1.0);
    mlpf_objective *gauss = mlpf_objective_gaussian(teacher, tp, student, &err);
    CHECK(gauss != NULL, "%s", err.msg);
    CHECK(hvp_rel_error(gauss, sp) <= 1e-12, "gaussian HVP (dense fallback)");

    mlpf_objective_free(gauss); mlpf_net_free(teacher); mlpf_net_free(student); free(tp); free(sp);
    mlpf_objective_free(aff); free(basis); free(za);
    mlpf_objective_free(sub); free(v1); free(v2); free(z);
    mlpf_tauinv_free(t); free(y);
    mlpf_objective_free(reg);
    mlpf_objective_free(base); mlpf_net_free(net); free(x);
}

/* The L2 wrapper on cross-entropy: loss + lam/2 |x|^2, gradient + lam x,
   Hessian + lam I (checked entry by entry against the base), its product against
   its own dense Hessian, and the argument errors. */
static void test_l2_wrapper(void) {
    mlpf_error err;
    mlpf_net *net;
    mlpf_objective *base = deep_objective(MLPF_ACT_TANH, MLPF_ACT_SOFTMAX, MLPF_LOSS_CROSSENTROPY, 0, 1, &net);
    size_t P = mlpf_net_nparams(net);
    double lam = 0.37, *x = random_vec(P, 31, 1.0);
    mlpf_objective *l2 = mlpf_objective_l2(base, lam, &err);
    CHECK(l2 != NULL, "%s", err.msg);
    double f0, f1, xx = 0, *g0 = calloc(2 * P, sizeof *g0), *H0 = calloc(2 * P * P, sizeof *H0);
    double *g1 = g0 + P, *H1 = H0 + P * P;
    CHECK_OK(mlpf_objective_eval(base, x, &f0, g0, H0, &err), &err);
    CHECK_OK(mlpf_objective_eval(l2, x, &f1, g1, H1, &err), &err);
    for (size_t i = 0; i < P; i++) xx += x[i] * x[i];
    CHECK_CLOSE(f1, f0 + 0.5 * lam * xx, 0, 1e-14, "l2 loss");
    int bad = 0;
    for (size_t i = 0; i < P; i++) {
        bad += fabs(g1[i] - (g0[i] + lam * x[i])) > 1e-14 * (fabs(g1[i]) + 1);
        for (size_t j = 0; j < P; j++)
            bad += H1[i * P + j] != H0[i * P + j] + (i == j ? lam : 0.0);
    }
    CHECK(bad == 0, "%d l2 gradient / Hessian entries differ", bad);
    CHECK(hvp_rel_error(l2, x) <= 1e-12, "l2 HVP");
    CHECK(mlpf_objective_l2(base, -1.0, &err) == NULL && strstr(err.msg, "lambda must be finite and >= 0, got -1"), "%s", err.msg);
    CHECK(mlpf_objective_l2(NULL, 1.0, &err) == NULL && strstr(err.msg, "base objective is NULL"), "%s", err.msg);
    free(g0); free(H0); free(x);
    mlpf_objective_free(l2);
    mlpf_objective_free(base); mlpf_net_free(net);
}

/* Same inputs, any thread count: bit-identical products. */
static void test_hvp_threads(void) {
    mlpf_error err;
    mlpf_net *n1, *n2;
    mlpf_objective *o1 = deep_objective(MLPF_ACT_GELU, MLPF_ACT_SOFTMAX, MLPF_LOSS_CROSSENTROPY, 1, 1, &n1);
    mlpf_objective *o2 = deep_objective(MLPF_ACT_GELU, MLPF_ACT_SOFTMAX, MLPF_LOSS_CROSSENTROPY, 1, 2, &n2);
    size_t P = mlpf_net_nparams(n1);
    double *x = random_vec(P, 31, 1.0), *v = random_vec(P, 32, 1.0);
    double *h1 = malloc(P * sizeof *h1), *h2 = malloc(P * sizeof *h2);
    CHECK_OK(mlpf_objective_hvp(o1, x, v, h1, &err), &err);
    CHECK_OK(mlpf_objective_hvp(o2, x, v, h2, &err), &err);
    CHECK(!memcmp(h1, h2, P * sizeof *h1), "1 and 2 threads differ");
    v[2] = NAN;
    CHECK(mlpf_objective_hvp(o1, x, v, h1, &err) == MLPF_ENONFINITE && strstr(err.msg, "v[2]"), "%s", err.msg);
    free(x); free(v); free(h1); free(h2);
    mlpf_objective_free(o1); mlpf_objective_free(o2); mlpf_net_free(n1); mlpf_net_free(n2);
}

/* Many chunks (5000 samples, 20 slabs): every thread count, fewer or more
   threads than slabs, gives the same bits, and the product is the dense
   Hessian's. */
static void test_hvp_many_slabs(void) {
    mlpf_error err;
    size_t N = 5000;
    double *in = random_vec(N * 3, 41, 1.0), *t = random_vec(N, 42, 1.0);
    mlpf_net *net = mlpf_net_create(3, &err);
    mlpf_net_add_layer(net, 8, "tanh", 1, &err);
    mlpf_net_add_layer(net, 1, "identity", 1, &err);
    size_t P = mlpf_net_nparams(net);
    double *x = random_vec(P, 43, 1.0), *v = random_vec(P, 44, 1.0);
    double *h[4], *H = malloc(P * P * sizeof *H), *g = malloc(P * sizeof *g), loss;
    for (int k = 0; k < 4; k++) {
        mlpf_finite_options fo = {.threads = k + 1 == 4 ? 7 : k + 1};
        mlpf_objective *o = mlpf_objective_finite(net, N, in, t, 1, NULL, &fo, &err);
        h[k] = malloc(P * sizeof *h[k]);
        CHECK(o && mlpf_objective_hvp(o, x, v, h[k], &err) == MLPF_OK, "%s", err.msg);
        if (k == 0) CHECK_OK(mlpf_objective_eval(o, x, &loss, g, H, &err), &err);
        mlpf_objective_free(o);
    }
    CHECK(!memcmp(h[0], h[1], P * sizeof *h[0]) && !memcmp(h[0], h[2], P * sizeof *h[0]) &&
              !memcmp(h[0], h[3], P * sizeof *h[0]), "1, 2, 3 and 7 threads give the same bits");
    double e = 0, scale = 0;
    for (size_t i = 0; i < P; i++) {
        double hv = 0;
        for (size_t j = 0; j < P; j++) hv += H[i * P + j] * v[j];
        e = fmax(e, fabs(hv - h[0][i]));
        scale = fmax(scale, fabs(hv));
    }
    CHECK(e <= 1e-12 * scale, "HVP = H v over 20 chunks (error %.1e of %.1e)", e, scale);
    for (int k = 0; k < 4; k++) free(h[k]);
    free(in); free(t); free(x); free(v); free(H); free(g);
    mlpf_net_free(net);
}

/* 20 -> 90 tanh -> 3 linear on 120 samples: P = 2163 (threads: 0 = OpenMP's default). */
static mlpf_objective *wide_objective_on(int threads, mlpf_net **netp, double **xp) {
    mlpf_error err;
    size_t N = 120;
    mlpf_net *net = mlpf_net_create(20, &err);
    mlpf_net_add_layer(net, 90, "tanh", 1, &err);
    mlpf_net_add_layer(net, 3, "identity", 1, &err);
    double *in = random_vec(N * 20, 41, 1.0), *t = random_vec(N * 3, 42, 1.0);
    mlpf_finite_options fo = {.loss = MLPF_LOSS_MSE, .threads = threads};
    mlpf_objective *obj = mlpf_objective_finite(net, N, in, t, 3, NULL, &fo, &err);
    free(in); free(t);
    *netp = net;
    *xp = random_vec(mlpf_net_nparams(net), 43, 0.3);
    return obj;
}

static mlpf_objective *wide_objective(mlpf_net **netp, double **xp) {
    return wide_objective_on(0, netp, xp);
}

/* max_i |H y_i - lam_i y_i| - res_i over k pairs (<= rounding: the reported
   residuals bound the true ones). */
static double residual_excess(const mlpf_objective *obj, const double *x, size_t P, int k, const double *lam,
                             const double *vec, const double *res) {
    mlpf_error err;
    double *hv = malloc(P * sizeof *hv), worst = 0;
    for (int i = 0; i < k; i++) {
        CHECK_OK(mlpf_objective_hvp(obj, x, vec + (size_t)i * P, hv, &err), &err);
        double r = 0;
        for (size_t q = 0; q < P; q++) r += pow(hv[q] - lam[i] * vec[(size_t)i * P + q], 2);
        worst = fmax(worst, sqrt(r) - res[i]);
    }
    free(hv);
    return worst;
}

/* Locking converged top eigenvectors out at restarts (the default for
   "smallest") changes the products, not the answer: the same 8 smallest as
   without deflation and as dense eigh, reported residuals that bound the true
   ones, and the same bits on 1 and 3 threads. */
static void test_eigs_deflation(void) {
    mlpf_error err;
    mlpf_net *net1, *net3;
    double *x, *x3;
    mlpf_objective *obj = wide_objective_on(1, &net1, &x), *obj3 = wide_objective_on(3, &net3, &x3);
    size_t P = mlpf_net_nparams(net1);
    double *H = malloc(P * P * sizeof *H), *ev = malloc(P * sizeof *ev);
    CHECK_OK(mlpf_objective_eval(obj, x, NULL, NULL, H, &err), &err);
    CHECK_OK(mlpf_spectrum(H, P, ev, NULL, &err), &err);
    enum { K = 8 };
    double lam[3][K], res[3][K], *vec[3];
    mlpf_eigs_info info[3];
    const int deflate[3] = {-1, 30, 30};
    for (int r = 0; r < 3; r++) {
        vec[r] = malloc(K * P * sizeof *vec[r]);
        mlpf_eigs_options o = {.ncv = 60, .tol = 1e-8, .deflate = deflate[r]}; /* restarts: locking */
        CHECK_OK(mlpf_hessian_eigs(r < 2 ? obj : obj3, x, K, MLPF_EIGS_SMALLEST, &o, lam[r], vec[r], res[r],
                                   &info[r], &err), &err);
        for (int i = 0; i < K; i++) {
            CHECK(res[r][i] <= 1e-8 * info[r].hnorm, "deflate %d: residual %g", deflate[r], res[r][i]);
            CHECK_CLOSE(lam[r][i], ev[i], 1e-10 * info[r].hnorm, 0, "deflate %d: eigenvalue %d", deflate[r], i);
        }
        double excess = residual_excess(obj, x, P, K, lam[r], vec[r], res[r]);
        CHECK(excess <= 1e-12 * info[r].hnorm, "deflate %d: a true residual exceeds the reported one by %g",
              deflate[r], excess);
    }
    printf("eigs P=%zu k=%d smallest, tol 1e-8, ncv 60: %d HVPs without deflation, %d with %d top "
           "eigenvectors locked out\n", P, K, info[0].nhvp, info[1].nhvp, info[1].ndeflated);
    CHECK(info[0].ndeflated == 0 && info[1].ndeflated > 0 && info[1].ndeflated <= 30 && info[1].restarts > 0,
          "locked %d and %d top eigenvectors (%d restarts)", info[0].ndeflated, info[1].ndeflated, info[1].restarts);
    CHECK(!memcmp(lam[1], lam[2], sizeof lam[1]) && !memcmp(vec[1], vec[2], K * P * sizeof *vec[1]) &&
          info[1].nhvp == info[2].nhvp, "1 and 3 threads give different eigenpairs");
    mlpf_eigs_options bad = {.deflate = -2};
    CHECK(mlpf_hessian_eigs(obj, x, 2, MLPF_EIGS_SMALLEST, &bad, lam[0], NULL, NULL, NULL, &err) == MLPF_EINVAL &&
          strstr(err.msg, "deflate = -2"), "%s", err.msg);
    for (int r = 0; r < 3; r++) free(vec[r]);
    free(H); free(ev); free(x); free(x3);
    mlpf_objective_free(obj); mlpf_objective_free(obj3); mlpf_net_free(net1); mlpf_net_free(net3);
}

static void test_eigs_vs_dense(void) {
    mlpf_error err;
    mlpf_net *net;
    double *x;
    mlpf_objective *obj = wide_objective(&net, &x);
    size_t P = mlpf_net_nparams(net);
    double *H = malloc(P * P * sizeof *H), *ev = malloc(P * sizeof *ev);
    CHECK_OK(mlpf_objective_eval(obj, x, NULL, NULL, H, &err), &err);
    CHECK_OK(mlpf_spectrum(H, P, ev, NULL, &err), &err);
    int k = 6;
    double lam[6], res[6], *vec = malloc((size_t)k * P * sizeof *vec), *hv = malloc(P * sizeof *hv);
    for (int which = 0; which < 2; which++) {
        mlpf_eigs_info info;
        int st = mlpf_hessian_eigs(obj, x, k, (mlpf_eigs_which)which, NULL, lam, vec, res, &info, &err);
        CHECK(st == MLPF_OK, "eigs which=%d: %s", which, err.msg);
        CHECK(info.nconv == k && info.nhvp > 0, "nconv %d nhvp %d", info.nconv, info.nhvp);
        for (int i = 0; i < k; i++) {
            double exact = which == 0 ? ev[i] : ev[P - (size_t)k + (size_t)i];
            CHECK(res[i] <= 1e-8 * info.hnorm, "residual %g", res[i]);
            CHECK_CLOSE(lam[i], exact, 1e-10 * info.hnorm, 0, "which %d eigenvalue %d", which, i);
            /* the stated residual is the true one */
            CHECK_OK(mlpf_objective_hvp(obj, x, vec + (size_t)i * P, hv, &err), &err);
            double r = 0;
            for (size_t q = 0; q < P; q++) r += pow(hv[q] - lam[i] * vec[(size_t)i * P + q], 2);
            CHECK(sqrt(r) <= 1e-7 * info.hnorm, "true residual %g", sqrt(r));
        }
        if (which == 0) printf("eigs P=%zu k=%d smallest: %d HVPs, %d restarts, lambda_min %.6g (dense %.6g)\n",
                               P, k, info.nhvp, info.restarts, lam[0], ev[0]);
    }
    /* An impossible budget reports non-convergence but still returns estimates. */
    mlpf_eigs_options o = {.ncv = 14, .max_hvp = 20, .tol = 1e-14};
    CHECK(mlpf_hessian_eigs(obj, x, 3, MLPF_EIGS_SMALLEST, &o, lam, NULL, NULL, NULL, &err) == MLPF_ENUMERIC &&
          strstr(err.msg, "max_hvp"), "%s", err.msg);
    CHECK(mlpf_hessian_eigs(obj, x, 0, MLPF_EIGS_SMALLEST, NULL, lam, NULL, NULL, NULL, &err) == MLPF_EINVAL &&
          strstr(err.msg, "k = 0"), "%s", err.msg);

    /* Hutchinson and SLQ on the same first probe: z^T H z = P sum w theta, |H z|^2 = P sum w theta^2. */
    double tr1, se;
    CHECK_OK(mlpf_hessian_trace(obj, x, 1, 5, &tr1, &se, &err), &err);
    int steps = 12;
    double nodes[12], wts[12], s0 = 0, s1 = 0, s2 = 0;
    CHECK_OK(mlpf_hessian_slq(obj, x, 1, steps, 5, nodes, wts, &err), &err);
    for (int i = 0; i < steps; i++) { s0 += wts[i]; s1 += wts[i] * nodes[i]; s2 += wts[i] * nodes[i] * nodes[i]; }
    CHECK_CLOSE(s0, 1.0, 1e-12, 0, "SLQ weights sum");
    CHECK_CLOSE((double)P * s1, tr1, 0, 1e-10, "SLQ first moment vs Hutchinson");
    mlpf_rng r;
    mlpf_rng_seed(&r, 5);
    double *zz = malloc(P * sizeof *zz), hz2 = 0;
    for (size_t q = 0; q < P; q++) zz[q] = (mlpf_rng_next(&r) >> 63) ? 1.0 : -1.0;
    CHECK_OK(mlpf_objective_hvp(obj, x, zz, hv, &err), &err);
    for (size_t q = 0; q < P; q++) hz2 += hv[q] * hv[q];
    CHECK_CLOSE((double)P * s2, hz2, 0, 1e-10, "SLQ second moment");
    double trace = 0, tr, trse;
    for (size_t q = 0; q < P; q++) trace += H[q * P + q];
    CHECK_OK(mlpf_hessian_trace(obj, x, 30, 6, &tr, &trse, &err), &err);
    CHECK(trse > 0 && fabs(tr - trace) <= 4 * trse, "trace %g +- %g, exact %g", tr, trse, trace);
    free(zz); free(H); free(ev); free(vec); free(hv); free(x);
    mlpf_objective_free(obj); mlpf_net_free(net);
}

/* With steps == P the quadrature nodes are the eigenvalues themselves. */
/* "Top-k as fast as power iteration or better": the largest eigenvalue to a
   relative residual of 1e-6 takes fewer products than a power iteration on the
   same HVP (the cycle stops when the pairs converge, not at ncv), and agrees. */
static void test_top1_vs_power(void) {
    mlpf_error err;
    mlpf_net *net;
    double *x;
    mlpf_objective *obj = wide_objective(&net, &x);
    size_t P = mlpf_net_nparams(net);
    double *v = random_vec(P, 44, 1.0), *hv = malloc(P * sizeof *hv), theta = 0, nv = 0;
    for (size_t q = 0; q < P; q++) nv += v[q] * v[q];
    for (size_t q = 0; q < P; q++) v[q] /= sqrt(nv);
    int npower = 0;
    for (; npower < 5000; npower++) {
        CHECK_OK(mlpf_objective_hvp(obj, x, v, hv, &err), &err);
        double r = 0, nh = 0;
        theta = 0;
        for (size_t q = 0; q < P; q++) theta += v[q] * hv[q];
        for (size_t q = 0; q < P; q++) { r += (hv[q] - theta * v[q]) * (hv[q] - theta * v[q]); nh += hv[q] * hv[q]; }
        if (sqrt(r) <= 1e-6 * fabs(theta)) break;
        for (size_t q = 0; q < P; q++) v[q] = hv[q] / sqrt(nh);
    }
    mlpf_eigs_options o = {.tol = 1e-6};
    mlpf_eigs_info info;
    double top, res;
    CHECK_OK(mlpf_hessian_eigs(obj, x, 1, MLPF_EIGS_LARGEST, &o, &top, NULL, &res, &info, &err), &err);
    printf("top-1 at P=%zu, tol 1e-6: Lanczos %d HVPs, power iteration %d\n", P, info.nhvp, npower + 1);
    CHECK(info.nhvp <= npower + 1 && info.nhvp < 160, "Lanczos %d HVPs, power %d", info.nhvp, npower + 1);
    CHECK_CLOSE(top, theta, 1e-5 * fabs(theta), 0, "top eigenvalue vs power iteration");
    free(v); free(hv); free(x);
    mlpf_objective_free(obj); mlpf_net_free(net);
}

static void test_slq_full(void) {
    mlpf_error err;
    mlpf_net *net;
    mlpf_objective *obj = deep_objective(MLPF_ACT_SIGMOID, MLPF_ACT_IDENTITY, MLPF_LOSS_MSE, 0, 1, &net);
    size_t P = mlpf_net_nparams(net);
    double *x = random_vec(P, 51, 1.0), *H = malloc(P * P * sizeof *H), *ev = malloc(P * sizeof *ev);
    double *nodes = malloc((P + 3) * sizeof *nodes), *w = malloc((P + 3) * sizeof *w);
    CHECK_OK(mlpf_objective_eval(obj, x, NULL, NULL, H, &err), &err);
    CHECK_OK(mlpf_spectrum(H, P, ev, NULL, &err), &err);
    CHECK_OK(mlpf_hessian_slq(obj, x, 1, (int)P + 3, 3, nodes, w, &err), &err);
    double scale = fmax(fabs(ev[0]), fabs(ev[P - 1]));
    for (size_t i = 0; i < P; i++)
        CHECK_CLOSE(nodes[i], ev[i], 1e-9 * scale, 0, "node %zu", i);
    CHECK(w[P] == 0 && nodes[P + 2] == 0, "steps beyond P get weight 0");
    double lam[2];
    CHECK_OK(mlpf_hessian_eigs(obj, x, 2, MLPF_EIGS_LARGEST, NULL, lam, NULL, NULL, NULL, &err), &err);
    CHECK_CLOSE(lam[1], ev[P - 1], 1e-9 * scale, 0, "largest, small P");
    free(x); free(H); free(ev); free(nodes); free(w);
    mlpf_objective_free(obj); mlpf_net_free(net);
}

/* A dense request above MLPF_MAX_BYTES fails naming the size and the matrix-free tools. */
static void test_dense_guard(void) {
    mlpf_error err;
    mlpf_net *net;
    double *x;
    mlpf_objective *obj = wide_objective(&net, &x);
    size_t P = mlpf_net_nparams(net);
    double *hv = malloc(P * sizeof *hv), *H = malloc(sizeof *H), lam;
    setenv("MLPF_MAX_BYTES", "1M", 1);
    int st = mlpf_objective_eval(obj, x, NULL, NULL, H, &err);
    CHECK(st == MLPF_ENOMEM && strstr(err.msg, "2163 x 2163") && strstr(err.msg, "3.743e+07 bytes") &&
          strstr(err.msg, "mlpf_hessian_eigs") && strstr(err.msg, "finite"), "%s", err.msg);
    CHECK(mlpf_check_dense("test", 300, &err) == MLPF_OK, "%s", err.msg);
    /* the matrix-free tools still run under that budget */
    CHECK_OK(mlpf_objective_hvp(obj, x, x, hv, &err), &err);
    mlpf_eigs_options o = {.tol = 1e-6};
    CHECK_OK(mlpf_hessian_eigs(obj, x, 1, MLPF_EIGS_LARGEST, &o, &lam, NULL, NULL, NULL, &err), &err);
    unsetenv("MLPF_MAX_BYTES");
    free(hv); free(H); free(x);
    mlpf_objective_free(obj); mlpf_net_free(net);
}

/* Extended Rosenbrock's Hessian is tridiagonal: its product in O(p). */
static int rosen_hvp(void *c, const double *x, const size_t *sub, size_t ns, const double *v,
                     double *hv, mlpf_error *err) {
    (void)sub, (void)ns, (void)err;
    size_t p = *(const size_t *)c;
    memset(hv, 0, p * sizeof *hv);
    for (size_t i = 0; i + 1 < p; i++) {
        double a = x[i + 1] - x[i] * x[i];
        hv[i] += (-400 * a + 800 * x[i] * x[i] + 2) * v[i] - 400 * x[i] * v[i + 1];
        hv[i + 1] += -400 * x[i] * v[i] + 200 * v[i + 1];
    }
    return MLPF_OK;
}

/* A custom objective's own product is used (no dense fallback needed); without
   one the dense fallback runs within the budget and fails clearly above it. */
static void test_custom_hvp(void) {
    mlpf_error err;
    size_t p = 400;
    mlpf_objective_ops ops = {"rosenbrock", p, 0, rosen_eval, NULL};
    mlpf_objective *obj = mlpf_objective_custom(&ops, &p, &err);
    double *x = random_vec(p, 71, 1.0), *v = random_vec(p, 72, 1.0);
    double *h1 = malloc(p * sizeof *h1), *h2 = malloc(p * sizeof *h2);
    CHECK_OK(mlpf_objective_hvp(obj, x, v, h1, &err), &err);          /* dense fallback */
    setenv("MLPF_MAX_BYTES", "100K", 1);
    CHECK(mlpf_objective_hvp(obj, x, v, h2, &err) == MLPF_ENOMEM && strstr(err.msg, "no matrix-free one"),
          "%s", err.msg);
    CHECK_OK(mlpf_objective_set_hvp(obj, rosen_hvp, &err), &err);
    CHECK_OK(mlpf_objective_hvp(obj, x, v, h2, &err), &err);          /* its own product */
    unsetenv("MLPF_MAX_BYTES");
    double worst = 0, scale = 0;
    for (size_t i = 0; i < p; i++) { worst = fmax(worst, fabs(h1[i] - h2[i])); scale = fmax(scale, fabs(h1[i])); }
    CHECK(worst <= 1e-13 * scale, "custom hvp vs dense %g", worst / scale);
    free(x); free(v); free(h1); free(h2);
    mlpf_objective_free(obj);
}

/* classify switches to Lanczos when the dense Hessian exceeds the budget: the
   same counts with the same zero band, the eigenvalues it found, NAN beyond. */
static void test_classify_krylov(void) {
    mlpf_error err;
    mlpf_net *net;
    mlpf_objective *obj = deep_objective(MLPF_ACT_TANH, MLPF_ACT_IDENTITY, MLPF_LOSS_MSE, 0, 1, &net);
    size_t P = mlpf_net_nparams(net);
    double *x = random_vec(P, 61, 1.0);
    mlpf_classify_options opt;
    mlpf_classify_options_default(&opt);
    opt.detect_channels = 0;
    opt.zero_tol = 1e-3;
    mlpf_classification dense, kry;
    CHECK_OK(mlpf_classify(obj, x, NULL, NULL, 0, &opt, &dense, &err), &err);
    setenv("MLPF_MAX_BYTES", "20K", 1);  /* 3 P^2 doubles no longer fit */
    CHECK(mlpf_classify_use_krylov(P) && !mlpf_classify_use_krylov(10), "threshold");
    CHECK_OK(mlpf_classify(obj, x, NULL, NULL, 0, &opt, &kry, &err), &err);
    unsetenv("MLPF_MAX_BYTES");
    CHECK(dense.index > 0 && kry.index == dense.index && kry.n_zero == dense.n_zero &&
          kry.n_positive == dense.n_positive && kry.kind == dense.kind,
          "index %d/%d zero %d/%d positive %d/%d", kry.index, dense.index, kry.n_zero, dense.n_zero,
          kry.n_positive, dense.n_positive);
    int found = 0;
    for (size_t i = 0; i < P && !isnan(kry.eigenvalues[i]); i++, found++)
        CHECK_CLOSE(kry.eigenvalues[i], dense.eigenvalues[i], 1e-8, 0, "eigenvalue %zu", i);
    CHECK(found > dense.index + dense.n_zero, "found %d", found);
    CHECK(kry.gnorm == dense.gnorm && kry.gnorm_tol > 0, "gnorm");
    mlpf_classification_free(&dense);
    mlpf_classification_free(&kry);
    free(x);
    mlpf_objective_free(obj); mlpf_net_free(net);
}

/* 3 -> 4 tanh -> 2 softplus -> 1 fitted to a teacher of the same shape (zero loss reachable). */
static mlpf_objective *teacher_objective(mlpf_net **netp) {
    mlpf_error err;
    size_t N = 60;
    mlpf_net *net = mlpf_net_create(3, &err);
    mlpf_net_add_layer(net, 4, "tanh", 1, &err);
    mlpf_net_add_layer(net, 2, "softplus", 1, &err);
    mlpf_net_add_layer(net, 1, "identity", 1, &err);
    double *in = random_vec(N * 3, 91, 1.0), *tp = random_vec(mlpf_net_nparams(net), 92, 1.0), y[60];
    mlpf_predict(net, tp, in, N, y, &err);
    mlpf_objective *obj = mlpf_objective_finite(net, N, in, y, 1, NULL, NULL, &err);
    free(in); free(tp);
    *netp = net;
    return obj;
}

static mlpf_result *train_with(const mlpf_objective *obj, const double *x0, const char *solver,
                               double min_gnorm, mlpf_error *err) {
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    snprintf(o.alg, sizeof o.alg, "none");
    snprintf(o.optim_solver, sizeof o.optim_solver, "%s", solver);
    o.maxtime_optim = 600;           /* a safety net only: the iteration cap is the stop, */
    o.maxiterations_optim = 5000;    /* so a loaded machine (ASan) cannot end it early */
    o.min_gnorm = min_gnorm;
    mlpf_result *r = NULL;
    if (mlpf_train(obj, x0, &o, &r, err)) return NULL;
    return r;
}

/* Newton-Krylov: Rosenbrock to the rounding floor; a network to gnorm 1e-10
   under a memory budget in which the dense newtontr is refused; the loss of a
   minimum with non-zero loss is not increased. */
static void test_newton_krylov(void) {
    mlpf_error err;
    size_t p = 4;
    mlpf_objective_ops ops = {"rosenbrock", p, 0, rosen_eval, NULL};
    mlpf_objective *rosen = mlpf_objective_custom(&ops, &p, &err);
    mlpf_objective_set_hvp(rosen, rosen_hvp, &err);
    double x0[4] = {-1.2, 1, -1.2, 1};
    mlpf_result *r = train_with(rosen, x0, "newtonkrylov", 0, &err);
    CHECK(r != NULL, "%s", err.msg);
    if (r) {
        double d = 0;
        for (size_t i = 0; i < p; i++) d = fmax(d, fabs(r->x[i] - 1));
        CHECK(r->gnorm <= 1e-12 && d < 1e-6 && r->optim_iterations < 100,
              "rosenbrock: gnorm %g |x-1| %g (%s, %ld its)", r->gnorm, d, r->optim_stopped_by, r->optim_iterations);
        CHECK(!strcmp(r->optim_solver, "newtonkrylov"), "%s", r->optim_solver);
        mlpf_result_free(r);
    }
    mlpf_objective_free(rosen);

    mlpf_net *net;
    mlpf_objective *obj = teacher_objective(&net);
    double *x = random_vec(mlpf_net_nparams(net), 81, 0.5);
    setenv("MLPF_MAX_BYTES", "4K", 1);
    CHECK(train_with(obj, x, "newtontr", 1e-10, &err) == NULL && err.status == MLPF_ENOMEM &&
          strstr(err.msg, "newtonkrylov"), "%s", err.msg);
    r = train_with(obj, x, "newtonkrylov", 1e-10, &err);
    unsetenv("MLPF_MAX_BYTES");
    CHECK(r && r->gnorm <= 1e-10 && r->converged && !strcmp(r->optim_stopped_by, "min_gnorm"),
          "net: %s", r ? r->optim_stopped_by : err.msg);
    CHECK(r && r->loss < r->loss_curve[0] && r->optim_iterations < 2000 && r->loss < 1e-12, "to the teacher's zero loss: loss %g from %g, %ld iterations", r ? r->loss : NAN, r && r->ntrajectory ? r->loss_curve[0] : NAN,
          r ? r->optim_iterations : -1);
    if (r) printf("newtonkrylov on P=%zu: gnorm %.3g in %ld iterations\n", mlpf_net_nparams(net), r->gnorm, r->optim_iterations);
    mlpf_result_free(r);
    free(x);
    mlpf_objective_free(obj); mlpf_net_free(net);
}

/* The implicit flows with GMRES on HVPs (chosen when the dense Jacobian is over
   the budget) follow the same trajectory as with the dense Jacobian. */
static void test_krylov_flow(void) {
    mlpf_error err;
    mlpf_net *net;
    mlpf_objective *obj = teacher_objective(&net);
    size_t P = mlpf_net_nparams(net);
    double *x = random_vec(P, 95, 0.5);
    const char *algs[] = {"kencarp58", "bdf"};
    for (int a = 0; a < 2; a++) {
        mlpf_train_options o;
        mlpf_train_options_default(&o);
        snprintf(o.alg, sizeof o.alg, "%s", algs[a]);
        snprintf(o.optim_solver, sizeof o.optim_solver, "none");
        o.maxT = 10;
        o.reltol = 1e-9, o.abstol = 1e-12;
        mlpf_result *dense = NULL, *kry = NULL;
        CHECK_OK(mlpf_train(obj, x, &o, &dense, &err), &err);
        setenv("MLPF_MAX_BYTES", "4K", 1);
        CHECK(dyn_ode_use_krylov(P) && !dyn_ode_use_krylov(10), "krylov threshold");
        CHECK_OK(mlpf_train(obj, x, &o, &kry, &err), &err);
        unsetenv("MLPF_MAX_BYTES");
        if (!dense || !kry) continue;
        double dx = 0, nx = 0;
        for (size_t i = 0; i < P; i++) { dx = fmax(dx, fabs(dense->x[i] - kry->x[i])); nx = fmax(nx, fabs(dense->x[i])); }
        CHECK(!strcmp(kry->ode_stopped_by, "maxT") && !strcmp(dense->ode_stopped_by, "maxT"), "%s / %s",
              kry->ode_stopped_by, dense->ode_stopped_by);
        CHECK(dx <= 1e-5 * nx && kry->loss < dense->loss_curve[0] / 10, "%s: |x_dense - x_krylov| = %g, loss %g vs %g",
              algs[a], dx, kry->loss, dense->loss);
        mlpf_result_free(dense);
        mlpf_result_free(kry);
    }
    free(x);
    mlpf_objective_free(obj); mlpf_net_free(net);
}

/* find_critical_point matrix-free (over the budget) converges like the dense
   Levenberg-Marquardt from a perturbed trained point, to the same flat set of
   minima (the points agree up to the flat directions' drift). */
static void test_critical_krylov(void) {
    mlpf_error err;
    mlpf_net *net;
    mlpf_objective *obj = teacher_objective(&net);
    size_t P = mlpf_net_nparams(net);
    double *x0 = random_vec(P, 81, 0.5), *xd = malloc(P * sizeof *xd), *xk = malloc(P * sizeof *xk);
    mlpf_result *r = train_with(obj, x0, "newtonkrylov", 1e-10, &err);
    CHECK(r != NULL, "%s", err.msg);
    if (r) {
        for (size_t i = 0; i < P; i++) x0[i] = r->x[i] + 1e-4 * sin((double)i);
        mlpf_result_free(r);
    }
    mlpf_critical_options o;
    mlpf_critical_options_default(&o);
    o.gtol = 1e-10;
    mlpf_critical_info id, ik;
    CHECK_OK(mlpf_find_critical_point(obj, x0, &o, xd, &id, &err), &err);
    setenv("MLPF_MAX_BYTES", "4K", 1);
    CHECK_OK(mlpf_find_critical_point(obj, x0, &o, xk, &ik, &err), &err);
    unsetenv("MLPF_MAX_BYTES");
    double dx = 0;
    for (size_t i = 0; i < P; i++) dx = fmax(dx, fabs(xd[i] - xk[i]));
    CHECK(!strcmp(ik.stopped_by, "gtol") && ik.gnorm <= 1e-10 && dx < 1e-5 && fabs(ik.loss - id.loss) < 1e-14,
          "krylov: %s gnorm %g, |x_dense - x_krylov| %g (dense: %s %g)", ik.stopped_by, ik.gnorm, dx,
          id.stopped_by, id.gnorm);
    free(x0); free(xd); free(xk);
    mlpf_objective_free(obj); mlpf_net_free(net);
}

int main(void) {
    test_hvp_activations();
    test_hvp_wrappers();
    test_l2_wrapper();
    test_hvp_threads();
    test_hvp_many_slabs();
    test_eigs_vs_dense();
    test_eigs_deflation();
    test_top1_vs_power();
    test_slq_full();
    test_dense_guard();
    test_classify_krylov();
    test_custom_hvp();
    test_newton_krylov();
    test_krylov_flow();
    test_critical_krylov();
    return check_report("test_matfree");
}

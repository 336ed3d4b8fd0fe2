/* test_glu.c - the gated-linear-unit objective (the end of a channel): exact
   gradient and Hessian against central differences for several activations
   (the Hessian holds sigma'''), the third derivatives themselves, the limit of
   a pair channel as its output weights grow, and training on the GLU net. */
#include "check.h"
#include "internal.h"
#include "test_objectives.h"

#include <stdlib.h>

static void fill(mlpf_rng *r, double *v, size_t n, double s) {
    for (size_t i = 0; i < n; i++) v[i] = s * mlpf_rng_normal(r);
}

static void test_derivatives(void) {
    const char *acts[] = {"softplus", "tanh", "sigmoid2", "gelu", "silu", "sigmoid", "g"};
    mlpf_rng r;
    mlpf_rng_seed(&r, 12);
    enum { N = 37, DIN = 2, NOUT = 2 };
    double X[N * DIN], T[N * NOUT], W[N];
    fill(&r, X, N * DIN, 1.0);
    fill(&r, T, N * NOUT, 1.0);
    for (int n = 0; n < N; n++) W[n] = 0.5 + mlpf_rng_uniform(&r);
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        mlpf_error err;
        mlpf_glu_shape sh = {DIN, 1, 2, 2, NOUT, 1, 0, {0}};
        mlpf_activation_parse(acts[a], &sh.act, &err);
        mlpf_objective *obj = mlpf_objective_glu(&sh, N, X, T, W, &err);
        CHECK(obj != NULL, "%s: %s", acts[a], err.msg);
        if (!obj) continue;
        size_t P = mlpf_objective_nparams(obj);
        CHECK(P == mlpf_glu_nparams(&sh) && P == 2 * 3 + 2 * 3 + 2 * (3 + 2 + 6), "P = %zu", P);
        double x[64], eg, eh, asym;
        fill(&r, x, P, 0.7);
        CHECK_OK(fd_errors(obj, x, 1e-5, &eg, &eh, &asym), &err);
        CHECK(eg < 1e-7 && eh < 1e-6 && asym == 0, "%s: gradient %g, Hessian %g off central "
              "differences, asymmetry %g", acts[a], eg, eh, asym);
        mlpf_objective_free(obj);
    }
    /* third derivatives: central differences of the second */
    int ok = 1;
    for (int k = 0; k < MLPF_ACT_COUNT; k++) {
        if (k == MLPF_ACT_SOFTMAX || k == MLPF_ACT_POLY) continue;
        mlpf_activation a = {(mlpf_act_kind)k, 0, {0}};
        for (double u = -2.05; u < 2.1; u += 0.5) {
            double dp, dm, h = 1e-5, d3;
            mlpf_activation_eval(&a, u + h, NULL, NULL, &dp);
            mlpf_activation_eval(&a, u - h, NULL, NULL, &dm);
            CHECK_OK(mlpf_activation_eval_array(&a, &u, 1, 3, &d3, NULL), &(mlpf_error){0});
            if (fabs(d3 - (dp - dm) / (2 * h)) > 1e-6 * (1 + fabs(d3))) {
                ok = 0;
                fprintf(stderr, "    %s''' at %g: %g vs %g\n", mlpf_activation_name(a.kind), u, d3, (dp - dm) / (2 * h));
            }
        }
    }
    CHECK(ok, "third derivatives of every activation match differences of the second");
}

/* Units 0, 1: a pair with GLU limit (c, w, v) at amplification s; unit 2 ordinary. */
static void pair_params(double s, double *x) {
    const double w[3] = {0.7, -0.4, 0.3}, v[3] = {0.5, 0.8, -0.2}, c = 0.6;
    for (int d = 0; d < 3; d++) {
        x[d] = w[d] + v[d] / (2 * s);
        x[3 + d] = w[d] - v[d] / (2 * s);
    }
    x[6] = -0.6, x[7] = 0.9, x[8] = 0.1;
    x[9] = 0.5 * c + s, x[10] = 0.5 * c - s, x[11] = 0.8, x[12] = -0.2;   /* output bias last */
}

static void test_pair_limit(void) {
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, 5);
    enum { N = 200 };
    double X[2 * N], T[N], x[13];
    fill(&r, X, 2 * N, 1.0);
    for (int n = 0; n < N; n++) T[n] = sin(X[2 * n]) + 0.3 * X[2 * n + 1];
    mlpf_net *net = make_net(2, 3, "tanh", 1, 1);
    mlpf_objective *obj = mlpf_objective_finite(net, N, X, T, 1, NULL, NULL, &err);
    double gaps[2], lglu = 0;
    const double amps[2] = {1e2, 1e3};
    for (int k = 0; k < 2; k++) {
        pair_params(amps[k], x);
        mlpf_channel *ch;
        size_t nch;
        CHECK_OK(mlpf_channels(net, x, X, NULL, N, NULL, &ch, &nch, &err), &err);
        CHECK(nch == 1, "s = %g: one channel (%zu)", amps[k], nch);
        if (nch != 1) continue;
        mlpf_glu_shape sh;
        double *x2, lpair;
        CHECK_OK(mlpf_channel_limit(net, x, &ch[0], &sh, &x2, &err), &err);
        CHECK(sh.k == 1 && sh.nglu == 1 && sh.obias == 1 && mlpf_glu_nparams(&sh) == 3 + 2 + 3 + 1 + 3,
              "the limit keeps unit 2 and the output bias: k %d, P %zu", sh.k, mlpf_glu_nparams(&sh));
        mlpf_objective *g = mlpf_objective_glu(&sh, N, X, T, NULL, &err);
        CHECK_OK(mlpf_objective_eval(g, x2, &lglu, NULL, NULL, &err), &err);
        CHECK_OK(mlpf_objective_eval(obj, x, &lpair, NULL, NULL, &err), &err);
        gaps[k] = fabs(lpair - lglu);
        mlpf_objective_free(g);
        free(x2);
        mlpf_channels_free(ch, nch);
    }
    /* the pair minus its GLU is O(1/s^2): 10x larger s, ~100x closer losses */
    CHECK(gaps[1] < 0.03 * gaps[0] && gaps[1] < 1e-6 * lglu, "loss gap pair vs GLU %g -> %g (GLU loss %g)",
          gaps[0], gaps[1], lglu);
    /* a channel that belongs to another net is refused by name */
    mlpf_channel bad = {0};
    bad.units[0] = 0, bad.units[1] = 7, bad.nin = 3, bad.nout = 1;
    mlpf_glu_shape sh;
    double *x2;
    CHECK(mlpf_channel_limit(net, x, &bad, &sh, &x2, &err) == MLPF_EINVAL && strstr(err.msg, "units 0, 7"),
          "foreign channel refused: %s", err.msg);
    mlpf_objective_free(obj);
    mlpf_net_free(net);
}

/* Minimising the GLU net: the loss at the end of the channel, a true minimum. */
static void test_train_glu(void) {
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, 8);
    enum { N = 120 };
    double X[2 * N], T[N], x[11];
    fill(&r, X, 2 * N, 1.0);
    /* targets from a GLU teacher: zero loss is reachable */
    mlpf_glu_shape sh = {2, 1, 1, 1, 1, 0, 0, {0}};
    mlpf_activation_parse("softplus", &sh.act, &err);
    /* W1 (1, 3), W2 (1, 1), GLU w (3), c (1), v (1, 3) */
    const double teacher[11] = {0.9, -0.5, 0.2, 1.1, 0.4, -0.7, 0.1, 0.8, 0.6, -0.3, 0.25};
    CHECK_OK(mlpf_glu_predict(&sh, teacher, X, N, T, &err), &err);
    mlpf_objective *g = mlpf_objective_glu(&sh, N, X, T, NULL, &err);
    CHECK(g != NULL && mlpf_objective_nparams(g) == 11, "P = 11");
    double l0;
    CHECK_OK(mlpf_objective_eval(g, teacher, &l0, NULL, NULL, &err), &err);
    CHECK(l0 == 0, "the teacher's own outputs: loss exactly 0 (%g)", l0);
    for (int i = 0; i < 11; i++) x[i] = teacher[i] + 0.05 * mlpf_rng_normal(&r);
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    snprintf(o.alg, sizeof o.alg, "none");
    snprintf(o.optim_solver, sizeof o.optim_solver, "newtontr");
    mlpf_result *res = NULL;
    CHECK_OK(mlpf_train(g, x, &o, &res, &err), &err);
    CHECK(res && res->loss < 1e-25 && res->gnorm < 1e-12, "Newton on the GLU net reaches zero loss: "
          "%g (gnorm %g)", res ? res->loss : NAN, res ? res->gnorm : NAN);
    mlpf_result_free(res);
    mlpf_objective_free(g);
}

int main(void) {
    test_derivatives();
    test_pair_limit();
    test_train_glu();
    return check_report("test_glu");
}

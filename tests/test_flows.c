/* test_flows.c - long gradient flows at default options (issue 9): a flow into
   a channel to infinity reaches t = 1e12 with BDF, its recorded loss never
   rises; an open-ended flow there ends with "channel" instead of handing a
   channel to the minimiser; the default method above P = 256 hands over to
   BDF when stiffness stalls it and says so in the result's alg (a method
   that fails hands over too: test_dynamics' test_fallback); a ReLU flow
   that chatters on a kink stops with "nonsmooth" and names the unit, one
   that crosses kinks goes on. */
#include "check.h"
#include "test_objectives.h"
#include "internal.h"
#include "mlpflow.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The recorded loss may rise by its rounding only: 1e-12 relative, and the
   cancellation of the exact-data loss's O(1) terms (a few 1e-16). Returns
   the index of the first larger rise, or 0. */
static size_t first_rise(const mlpf_result *r, double abs_rounding) {
    for (size_t k = 1; k < r->ntrajectory; k++) {
        double a = r->loss_curve[k - 1], b = r->loss_curve[k];
        if (b > a + 1e-12 * fabs(a) + abs_rounding) return k;
    }
    return 0;
}

/* The erf (sigmoid2) teacher of 5 units without biases, Din 2, exact Gaussian
   data; a student of 5 from seed 0 flows into a channel: its loss falls by
   1e-4 relative per decade while two output weights diverge. */
typedef struct {
    mlpf_net *teacher, *student;
    double *tp, *x0;
    mlpf_objective *obj;
} channel_problem;

static int channel_make(channel_problem *c) {
    mlpf_error err;
    memset(c, 0, sizeof *c);
    c->teacher = make_net(2, 5, "sigmoid2", 0, 0);
    c->student = make_net(2, 5, "sigmoid2", 0, 0);
    size_t P = mlpf_net_nparams(c->student);
    c->tp = malloc(P * sizeof *c->tp);
    c->x0 = malloc(P * sizeof *c->x0);
    if (!c->teacher || !c->student || !c->tp || !c->x0) return 0;
    mlpf_random_params(c->teacher, 100, c->tp, &err);
    mlpf_random_params(c->student, 0, c->x0, &err);
    c->obj = mlpf_objective_gaussian(c->teacher, c->tp, c->student, &err);
    CHECK(c->obj != NULL, "gaussian objective: %s", err.msg);
    return c->obj != NULL;
}

static void channel_free(channel_problem *c) {
    mlpf_objective_free(c->obj);
    mlpf_net_free(c->teacher);
    mlpf_net_free(c->student);
    free(c->tp);
    free(c->x0);
}

/* The channel flow to t = 1e12 at defaults (BDF, samples at its step ends):
   it gets there (kencarp58 failed near t = 1e6) within a step budget, and
   the loss curve is monotone. */
static void test_channel_to_1e12(void) {
    channel_problem c;
    if (!channel_make(&c)) return channel_free(&c);
    mlpf_error err;
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    o.maxT = 1e12;
    snprintf(o.optim_solver, sizeof o.optim_solver, "none");
    mlpf_result *r = NULL;
    CHECK_OK(mlpf_train(c.obj, c.x0, &o, &r, &err), &err);
    if (r) {
        CHECK(!strcmp(r->alg, "bdf"), "default flow method %s", r->alg);
        CHECK(!strcmp(r->ode_stopped_by, "maxT") && r->ode_time_run == 1e12,
              "channel flow stopped by %s at t = %g after %ld steps", r->ode_stopped_by,
              r->ode_time_run, r->ode_iterations);
        /* ~1 660 steps: BDF takes a new Jacobian at every step once its
           Newton iteration keeps failing (ode.c, NLS_WINDOW); with CVODE's
           Jacobian reuse it took ~3 260 */
        CHECK(r->ode_iterations < 2500, "%ld steps", r->ode_iterations);
        size_t k = first_rise(r, 4e-16);
        CHECK(k == 0, "recorded loss rises at sample %zu: %.17g -> %.17g", k,
              k ? r->loss_curve[k - 1] : 0, k ? r->loss_curve[k] : 0);
        CHECK(r->trajectory_t[r->ntrajectory - 1] == 1e12, "last sample at %g",
              r->trajectory_t[r->ntrajectory - 1]);
        /* the channel: some output weight has grown well beyond its start */
        double amax = 0, a0 = 0;
        for (size_t i = 10; i < 15; i++) amax = fmax(amax, fabs(r->x[i])), a0 = fmax(a0, fabs(c.x0[i]));
        CHECK(amax > 2 * a0, "output weights %g (start %g)", amax, a0);
    }
    mlpf_result_free(r);
    channel_free(&c);
}

/* maxT = inf with a minimiser: the flow tells the channel from a minimum and
   ends with "channel"; the minimiser is skipped and nothing claims
   convergence. */
static void test_channel_not_basin(void) {
    channel_problem c;
    if (!channel_make(&c)) return channel_free(&c);
    mlpf_error err;
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    mlpf_result *r = NULL;
    CHECK_OK(mlpf_train(c.obj, c.x0, &o, &r, &err), &err);
    if (r) {
        CHECK(!strcmp(r->ode_stopped_by, "channel"), "open-ended channel flow stopped by %s at t = %g",
              r->ode_stopped_by, r->ode_time_run);
        CHECK(!strcmp(r->optim_stopped_by, "skipped"), "minimiser %s", r->optim_stopped_by);
        CHECK(!r->converged, "a channel point is not converged (gnorm %g)", r->gnorm);
    }
    mlpf_result_free(r);
    channel_free(&c);
}

/* Above P = 256 the default is dopri5, which on a stiff flow is held to
   steps of ~3 / lambda_max; when flow time stops doubling it hands over to
   BDF and says "stall". dx/dt = -diag(lambda) (x - 1), P = 257, lambda from
   1 to 1000 (log-spaced): exact x_i(t) = 1 - exp(-lambda_i t) from x = 0. */
typedef struct {
    size_t p;
    double *lambda;
} diag_quad;

static int quad_eval(void *c, const double *x, const size_t *sub, size_t ns, double *loss,
                     double *grad, double *hess, mlpf_error *err) {
    (void)sub, (void)ns, (void)err;
    const diag_quad *q = c;
    double l = 0;
    if (hess) memset(hess, 0, q->p * q->p * sizeof *hess);
    for (size_t i = 0; i < q->p; i++) {
        double d = x[i] - 1;
        l += 0.5 * q->lambda[i] * d * d;
        if (grad) grad[i] = q->lambda[i] * d;
        if (hess) hess[i * q->p + i] = q->lambda[i];
    }
    if (loss) *loss = l;
    return MLPF_OK;
}

static void test_stall_hands_over(void) {
    diag_quad q = {257, malloc(257 * sizeof(double))};
    double *x0 = calloc(q.p, sizeof *x0);
    for (size_t i = 0; i < q.p; i++) q.lambda[i] = pow(10.0, 3.0 * (double)i / (double)(q.p - 1));
    mlpf_objective_ops ops = {"stiff diagonal quadratic", q.p, 0, quad_eval, NULL};
    mlpf_error err;
    mlpf_objective *obj = mlpf_objective_custom(&ops, &q, &err);
    CHECK(obj != NULL, "%s", err.msg);
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    snprintf(o.optim_solver, sizeof o.optim_solver, "none");
    o.maxT = 50;
    mlpf_result *res = NULL;
    if (obj) CHECK_OK(mlpf_train(obj, x0, &o, &res, &err), &err);
    if (res) {
        CHECK(!strcmp(res->alg, "dopri5>bdf(stall)"), "alg %s after %ld steps, t = %g", res->alg,
              res->ode_iterations, res->ode_time_run);
        CHECK(!strcmp(res->ode_stopped_by, "maxT"), "stopped by %s at t = %g",
              res->ode_stopped_by, res->ode_time_run);
        CHECK(res->ode_iterations < 10000, "%ld steps", res->ode_iterations);
        double worst = 0;
        for (size_t i = 0; i < q.p; i++)
            worst = fmax(worst, fabs(res->x[i] - (1 - exp(-q.lambda[i] * 50))));
        CHECK(worst < 1e-4, "off the exact flow by %g", worst);
        size_t k = first_rise(res, 0);
        CHECK(k == 0, "recorded loss rises at sample %zu", k);
    }
    mlpf_result_free(res);
    mlpf_objective_free(obj);
    free(q.lambda);
    free(x0);
}

/* ---- kinks of ReLU units ---- */

/* A ReLU teacher of 3 units with biases (seed 100 + seed), Din 2, labels
   N deterministic inputs x_n = (sin(1.3 n + 0.5), cos(2.1 n)) (1 + sin(0.7 n) / 2);
   a student of 4 from seed. bench/long_flows.py's "slide" rows: seeds 2, 3,
   5, 6 of N = 100 slide along a data point's hyperplane (40 000 BDF steps in
   3 s without getting past t = 60 ... 700), seeds 0 and 1 cross kinks and
   reach t = 1e4 in 700 / 1 300 steps. */
typedef struct {
    mlpf_net *teacher, *student;
    double *X, *Y, *x0;
    mlpf_objective *obj;
} relu_problem;

static void relu_free(relu_problem *r) {
    mlpf_objective_free(r->obj);
    mlpf_net_free(r->teacher);
    mlpf_net_free(r->student);
    free(r->X);
    free(r->Y);
    free(r->x0);
}

static int relu_make(relu_problem *r, size_t n, int seed) {
    mlpf_error err;
    memset(r, 0, sizeof *r);
    r->teacher = make_net(2, 3, "relu", 1, 1);
    r->student = make_net(2, 4, "relu", 1, 1);
    size_t Pt = mlpf_net_nparams(r->teacher), P = mlpf_net_nparams(r->student);
    double *tp = malloc(Pt * sizeof *tp);
    r->X = malloc(2 * n * sizeof *r->X);
    r->Y = malloc(n * sizeof *r->Y);
    r->x0 = malloc(P * sizeof *r->x0);
    int ok = r->teacher && r->student && tp && r->X && r->Y && r->x0;
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            double rad = 1 + 0.5 * sin(0.7 * (double)i);
            r->X[2 * i] = sin(1.3 * (double)i + 0.5) * rad;
            r->X[2 * i + 1] = cos(2.1 * (double)i) * rad;
        }
        ok = !mlpf_random_params(r->teacher, (uint64_t)(100 + seed), tp, &err) &&
             !mlpf_predict(r->teacher, tp, r->X, n, r->Y, &err) &&
             !mlpf_random_params(r->student, (uint64_t)seed, r->x0, &err);
        mlpf_finite_options fo = {MLPF_LOSS_MSE, 1};
        if (ok) r->obj = mlpf_objective_finite(r->student, n, r->X, r->Y, 1, NULL, &fo, &err);
        ok = ok && r->obj;
        CHECK(ok, "relu problem: %s", err.msg);
    }
    free(tp);
    return ok;
}

static mlpf_result *relu_train(const relu_problem *r, const char *alg, const char *optim) {
    mlpf_error err;
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    o.maxT = 1e4;
    o.maxiterations_ode = 20000; /* without the kink stop these flows grind on */
    snprintf(o.alg, sizeof o.alg, "%s", alg);
    snprintf(o.optim_solver, sizeof o.optim_solver, "%s", optim);
    mlpf_result *res = NULL;
    CHECK_OK(mlpf_train(r->obj, r->x0, &o, &res, &err), &err);
    return res;
}

/* Sliding on a kink: every adaptive method stops with "nonsmooth" within a
   few thousand steps (they ground on for 30 000-160 000 steps before),
   naming the student unit whose pre-activations sit at the kink; the
   minimiser is skipped and nothing pretends convergence. */
static void test_kink_sliding_stops(void) {
    relu_problem r;
    if (!relu_make(&r, 100, 3)) return relu_free(&r);
    const char *algs[] = {"bdf", "kencarp58"};
    for (size_t a = 0; a < 2; a++) {
        mlpf_result *res = relu_train(&r, algs[a], "newtontr");
        if (!res) continue;
        CHECK(!strcmp(res->ode_stopped_by, "nonsmooth"), "%s: stopped by %s at t = %g after %ld steps",
              algs[a], res->ode_stopped_by, res->ode_time_run, res->ode_iterations);
        CHECK(res->ode_iterations <= 10000, "%s: %ld steps", algs[a], res->ode_iterations);
        /* the unit: w1[3] for BDF; kencarp58 slides on w1[0] or w1[3] depending
           on the build's rounding (past a kink the flows part) */
        CHECK((a == 1 || !strncmp(res->ode_kinks, "w1[3] (", 7)) &&
                  !strncmp(res->ode_kinks, "w1[", 3) && strstr(res->ode_kinks, " flips)"),
              "%s: units at the kink \"%s\"", algs[a], res->ode_kinks);
        CHECK(!strcmp(res->optim_stopped_by, "skipped") && !res->converged,
              "%s: minimiser %s, converged %d", algs[a], res->optim_stopped_by, res->converged);
        /* the point kept is the flow's best, and it is the result */
        CHECK(res->loss == res->ode_loss, "%s: loss %g, flow's best %g", algs[a], res->loss,
              res->ode_loss);
        mlpf_result_free(res);
    }
    relu_free(&r);
}

/* Flows that cross kinks (seeds 0 and 1) go on to maxT with every method. */
static void test_kink_crossing_goes_on(void) {
    const char *algs[] = {"bdf", "kencarp58", "dopri5"};
    for (int seed = 0; seed < 2; seed++) {
        relu_problem r;
        if (!relu_make(&r, 100, seed)) {
            relu_free(&r);
            continue;
        }
        for (size_t a = 0; a < 3; a++) {
            mlpf_result *res = relu_train(&r, algs[a], "none");
            if (!res) continue;
            CHECK(!strcmp(res->ode_stopped_by, "maxT") && res->ode_kinks[0] == '\0',
                  "seed %d %s: stopped by %s (%s) at t = %g", seed, algs[a], res->ode_stopped_by,
                  res->ode_kinks, res->ode_time_run);
            mlpf_result_free(res);
        }
        relu_free(&r);
    }
}

/* The long-flow battery's relu problem (bench/long_flows.py) on this file's
   deterministic inputs: teacher relu(x1), student of two ReLU units, the
   second (a = -1) shrinking to its kink at w = 0 while the loss falls to
   1e-12 ... 1e-30. Steps across the kink used to end above the loss they
   started from (recorded loss up to 13x higher with bdf, 583x with
   kencarp58, 798x with dopri5); the step guard takes such steps again
   with a bounded step, so the recorded loss never rises beyond its
   rounding and the result counts the retaken steps. */
static void test_relu_loss_never_rises(void) {
    mlpf_error err;
    const size_t n = 400;
    mlpf_net *teacher = make_net(2, 1, "relu", 0, 0), *student = make_net(2, 2, "relu", 0, 0);
    double tp[3] = {1, 0, 1}, x0[6] = {0.5, 0.0, 0.1, 0.05, 1.0, -1.0};
    double *X = malloc(2 * n * sizeof *X), *Y = malloc(n * sizeof *Y);
    mlpf_objective *obj = NULL;
    if (teacher && student && X && Y) {
        for (size_t i = 0; i < n; i++) {
            double rad = 1 + 0.5 * sin(0.7 * (double)i);
            X[2 * i] = sin(1.3 * (double)i + 0.5) * rad;
            X[2 * i + 1] = cos(2.1 * (double)i) * rad;
        }
        mlpf_finite_options fo = {MLPF_LOSS_MSE, 1};
        if (!mlpf_predict(teacher, tp, X, n, Y, &err))
            obj = mlpf_objective_finite(student, n, X, Y, 1, NULL, &fo, &err);
    }
    CHECK(obj != NULL, "relu problem");
    const char *algs[] = {"bdf", "kencarp58", "dopri5"};
    long retaken = 0;
    for (size_t a = 0; obj && a < 3; a++) {
        mlpf_train_options o;
        mlpf_train_options_default(&o);
        o.maxT = 1e4;
        snprintf(o.alg, sizeof o.alg, "%s", algs[a]);
        snprintf(o.optim_solver, sizeof o.optim_solver, "none");
        mlpf_result *res = NULL;
        CHECK_OK(mlpf_train(obj, x0, &o, &res, &err), &err);
        if (!res) continue;
        /* rounding: 1e-12 relative and the residuals' (~1e-16 each) */
        for (size_t k = 1; k < res->ntrajectory; k++) {
            double l0 = res->loss_curve[k - 1], l1 = res->loss_curve[k];
            if (l1 > l0 + 1e-12 * fabs(l0) + 1e-15 * sqrt(fabs(l0))) {
                CHECK(0, "%s: recorded loss rises %.4g -> %.4g at t = %g", algs[a], l0, l1,
                      res->trajectory_t[k]);
                break;
            }
        }
        CHECK(res->ode_retaken >= 0 && res->ode_retaken <= res->ode_iterations / 2,
              "%s: %ld of %ld steps retaken", algs[a], res->ode_retaken, res->ode_iterations);
        retaken += res->ode_retaken;
        mlpf_result_free(res);
    }
    CHECK(!obj || retaken > 0, "no step retaken: the guard was not needed here");
    mlpf_objective_free(obj);
    mlpf_net_free(teacher);
    mlpf_net_free(student);
    free(X);
    free(Y);
}

/* Exact Gaussian data: a ReLU student unit (a = 1) whose teacher is -relu(x1)
   shrinks its weights to 0 and the solver fails there: "nonsmooth" at that
   unit, not "solver_failure". */
static void test_kink_unit_dies(void) {
    mlpf_error err;
    mlpf_net *teacher = make_net(2, 1, "relu", 0, 0), *student = make_net(2, 1, "relu", 0, 0);
    double tp[3] = {1, 0, -1}, x0[3] = {0.1, 0.05, 1};
    mlpf_objective *obj = teacher && student ? mlpf_objective_gaussian(teacher, tp, student, &err) : NULL;
    CHECK(obj != NULL, "gaussian objective");
    const char *algs[] = {"bdf", "kencarp58"};
    for (size_t a = 0; obj && a < 2; a++) {
        mlpf_train_options o;
        mlpf_train_options_default(&o);
        o.maxT = 1e4;
        snprintf(o.alg, sizeof o.alg, "%s", algs[a]);
        mlpf_result *res = NULL;
        CHECK_OK(mlpf_train(obj, x0, &o, &res, &err), &err);
        if (!res) continue;
        CHECK(!strcmp(res->ode_stopped_by, "nonsmooth") && !strcmp(res->ode_kinks, "w1[0]"),
              "%s: stopped by %s (%s) at t = %g, |w| = %g", algs[a], res->ode_stopped_by,
              res->ode_kinks, res->ode_time_run, hypot(res->x[0], res->x[1]));
        CHECK(hypot(res->x[0], res->x[1]) < 1e-4, "%s: |w| = %g", algs[a], hypot(res->x[0], res->x[1]));
        CHECK(!res->converged, "%s: converged", algs[a]);
        mlpf_result_free(res);
    }
    mlpf_objective_free(obj);
    mlpf_net_free(teacher);
    mlpf_net_free(student);
}

/* Defaults stop on iteration counts and flow time, never on the clock. */
static void test_default_limits(void) {
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    CHECK(isinf(o.maxtime_ode) && isinf(o.maxtime_optim), "maxtime %g / %g", o.maxtime_ode,
          o.maxtime_optim);
    CHECK(o.maxiterations_ode > 0 && o.maxiterations_optim > 0, "iteration limits");
}

int main(void) {
    test_default_limits();
    test_channel_to_1e12();
    test_channel_not_basin();
    test_stall_hands_over();
    test_kink_sliding_stops();
    test_kink_crossing_goes_on();
    test_kink_unit_dies();
    test_relu_loss_never_rises();
    return check_report("test_flows");
}

/* test_dynamics.c - gradient flow against exact solutions and a tight reference,
   tauinv (time scales and freezing), minibatches, trajectories. */
#include "check.h"
#include "dynamics/dynamics.h"

#include <lapacke.h>
#include <limits.h>
#include <stdlib.h>

static const char *ode_methods[] = {"kencarp58", "bdf", "dopri5", "verner8", "rk4"};
#define NMETHODS 5
/* kencarp58 records the end of the first step past each grid time (its
   steps cut to a stop time lose their error control, ode.c): its samples
   are step ends at their true t, not the grid itself. */
static int records_step_ends(const char *alg) { return !strcmp(alg, "kencarp58"); }

/* ---- L = 1/2 (x - x*)^T A (x - x*) ---- */
typedef struct {
    size_t p;
    double *A, *xs;
} quad;

static int quad_eval(void *c, const double *x, const size_t *sub, size_t ns, double *loss,
                     double *grad, double *hess, mlpf_error *err) {
    (void)sub, (void)ns, (void)err;
    const quad *q = c;
    size_t p = q->p;
    double l = 0;
    for (size_t i = 0; i < p; i++) {
        double gi = 0;
        for (size_t j = 0; j < p; j++) gi += q->A[i * p + j] * (x[j] - q->xs[j]);
        l += 0.5 * (x[i] - q->xs[i]) * gi;
        if (grad) grad[i] = gi;
    }
    if (loss) *loss = l;
    if (hess) memcpy(hess, q->A, p * p * sizeof *hess);
    return MLPF_OK;
}

/* A = Q diag(lam) Q^T with a random orthogonal Q (Gram-Schmidt). */
static quad make_quad(size_t p, double lmin, double lmax, uint64_t seed) {
    quad q = {p, calloc(p * p, sizeof(double)), calloc(p, sizeof(double))};
    mlpf_rng r;
    mlpf_rng_seed(&r, seed);
    double *Q = malloc(p * p * sizeof *Q);
    for (size_t i = 0; i < p * p; i++) Q[i] = mlpf_rng_normal(&r);
    for (size_t j = 0; j < p; j++) { /* columns */
        for (size_t k = 0; k < j; k++) {
            double d = 0;
            for (size_t i = 0; i < p; i++) d += Q[i * p + j] * Q[i * p + k];
            for (size_t i = 0; i < p; i++) Q[i * p + j] -= d * Q[i * p + k];
        }
        double n = 0;
        for (size_t i = 0; i < p; i++) n += Q[i * p + j] * Q[i * p + j];
        for (size_t i = 0; i < p; i++) Q[i * p + j] /= sqrt(n);
    }
    for (size_t j = 0; j < p; j++) {
        double lam = lmin * pow(lmax / lmin, (double)j / (double)(p - 1));
        for (size_t a = 0; a < p; a++)
            for (size_t b = 0; b < p; b++) q.A[a * p + b] += lam * Q[a * p + j] * Q[b * p + j];
    }
    for (size_t i = 0; i < p; i++) q.xs[i] = mlpf_rng_normal(&r);
    free(Q);
    return q;
}

static mlpf_objective *quad_objective(quad *q) {
    mlpf_objective_ops ops = {"quadratic", q->p, 0, quad_eval, NULL};
    return mlpf_objective_custom(&ops, q, NULL);
}

/* Exact flow dx/dt = -T A (x - x*), T = diag(tau) > 0:
   x(t) = x* + T^1/2 expm(-t S) T^-1/2 (x0 - x*), S = T^1/2 A T^1/2. */
static void quad_exact(const quad *q, const double *tau, const double *x0, double t, double *x) {
    size_t p = q->p;
    double *S = malloc(p * p * sizeof *S), *lam = malloc(p * sizeof *lam), *z = malloc(p * sizeof *z);
    double *w = malloc(p * sizeof *w);
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++) S[i * p + j] = sqrt(tau[i] * tau[j]) * q->A[i * p + j];
    LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (int)p, S, (int)p, lam);
    for (size_t i = 0; i < p; i++) z[i] = (x0[i] - q->xs[i]) / sqrt(tau[i]);
    for (size_t j = 0; j < p; j++) { /* w = exp(-t lam) V^T z */
        double d = 0;
        for (size_t i = 0; i < p; i++) d += S[i * p + j] * z[i];
        w[j] = exp(-t * lam[j]) * d;
    }
    for (size_t i = 0; i < p; i++) {
        double d = 0;
        for (size_t j = 0; j < p; j++) d += S[i * p + j] * w[j];
        x[i] = q->xs[i] + sqrt(tau[i]) * d;
    }
    free(S), free(lam), free(z), free(w);
}

static double maxdiff(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static void flow_options(mlpf_train_options *o, const char *alg, double maxT, double tol) {
    mlpf_train_options_default(o);
    snprintf(o->alg, sizeof o->alg, "%s", alg);
    snprintf(o->optim_solver, sizeof o->optim_solver, "none");
    o->maxT = maxT;
    o->abstol = o->reltol = tol;
    o->rk4_step = 2e-3;
    o->min_gnorm = 0;
    o->minloss = 0;
    o->n_samples_trajectory = 25;
}

/* Every trajectory sample of every method on the exact quadratic flow, with
   per-parameter time scales; the recorded loss matches the recorded x. */
static void test_quadratic_oracle(void) {
    size_t p = 6;
    quad q = make_quad(p, 0.2, 8.0, 11);
    mlpf_objective *obj = quad_objective(&q);
    double x0[6] = {1, -2, 0.5, 3, -1, 0}, tau[6] = {1, 0.5, 2, 1, 3, 0.25}, xe[6];
    mlpf_error err;
    for (int m = 0; m < NMETHODS; m++) {
        for (int use_tau = 0; use_tau < 2; use_tau++) {
            mlpf_train_options o;
            flow_options(&o, ode_methods[m], 5.0, 1e-10);
            double ones[6] = {1, 1, 1, 1, 1, 1};
            if (use_tau) o.tauinv = tau, o.ntauinv = p;
            mlpf_result *r = NULL;
            CHECK_OK(mlpf_train(obj, x0, &o, &r, &err), &err);
            if (!r) continue;
            CHECK(!strcmp(r->ode_stopped_by, "maxT"), "%s stopped by %s", ode_methods[m], r->ode_stopped_by);
            CHECK(!strcmp(r->optim_stopped_by, "skipped"), "%s", r->optim_stopped_by);
            int on_grid = !records_step_ends(ode_methods[m]);
            CHECK(on_grid ? r->ntrajectory == 25 : r->ntrajectory >= 10 && r->ntrajectory <= 25,
                  "%s: %zu samples", ode_methods[m], r->ntrajectory);
            CHECK(r->trajectory_t[0] == 0 && fabs(r->trajectory_t[r->ntrajectory - 1] - 5.0) < 1e-12,
                  "%s: times %g .. %g", ode_methods[m], r->trajectory_t[0],
                  r->trajectory_t[r->ntrajectory - 1]);
            double worst = 0, worst_loss = 0, ratio0 = r->trajectory_t[2] / r->trajectory_t[1];
            int logspaced = 1;
            for (size_t k = 0; k < r->ntrajectory; k++) {
                const double *xk = r->trajectory_x + k * p;
                quad_exact(&q, use_tau ? tau : ones, x0, r->trajectory_t[k], xe);
                worst = fmax(worst, maxdiff(xk, xe, p));
                double l;
                quad_eval(&q, xk, NULL, 0, &l, NULL, NULL, NULL);
                worst_loss = fmax(worst_loss, fabs(l - r->loss_curve[k]) / fmax(l, 1e-300));
                if (k >= 2 && fabs(r->trajectory_t[k] / r->trajectory_t[k - 1] / ratio0 - 1) > 1e-9)
                    logspaced = 0;
            }
            CHECK(worst < 2e-7, "%s tau=%d: trajectory off the exact flow by %g", ode_methods[m],
                  use_tau, worst);
            CHECK(worst_loss < 1e-12, "%s: loss_curve off by %g", ode_methods[m], worst_loss);
            CHECK(logspaced || !on_grid, "%s: trajectory times not log-spaced", ode_methods[m]);
            quad_exact(&q, use_tau ? tau : ones, x0, 5.0, xe);
            CHECK(maxdiff(r->ode_x, xe, p) < 2e-7, "%s: ode_x", ode_methods[m]);
            CHECK(r->ode_iterations > 0 && r->ode_time_run == 5.0, "%s: %ld its, t %g", ode_methods[m],
                  r->ode_iterations, r->ode_time_run);
            mlpf_result_free(r);
        }
    }
    /* looser tolerances give visibly larger errors: the check above can fail */
    mlpf_train_options o;
    flow_options(&o, "dopri5", 5.0, 1e-3);
    mlpf_result *r = NULL;
    CHECK_OK(mlpf_train(obj, x0, &o, &r, &err), &err);
    double ones[6] = {1, 1, 1, 1, 1, 1};
    quad_exact(&q, ones, x0, 5.0, xe);
    CHECK(r && maxdiff(r->ode_x, xe, p) > 1e-6, "loose dopri5 suspiciously exact");
    mlpf_result_free(r);
    mlpf_objective_free(obj);
    free(q.A), free(q.xs);
}

/* A method that cannot step hands the flow to BDF from the last accepted
   point, says so, and the flow is the same. */
static void test_fallback(void) {
    size_t p = 6;
    quad q = make_quad(p, 0.2, 8.0, 12);
    mlpf_objective *obj = quad_objective(&q);
    double x0[6] = {1, -2, 0.5, 3, -1, 0}, ones[6] = {1, 1, 1, 1, 1, 1}, xe[6], yb[6];
    mlpf_train_options o;
    flow_options(&o, "kencarp58", 3.0, 1e-10);
    dyn_problem pb = {.obj = obj, .p = p, .P = p, .opt = &o};
    dyn_traj tr;
    mlpf_error err;
    CHECK_OK(dyn_traj_init(&tr, 10, o.maxT, p, &err), &err);
    dyn_outcome out = {.ybest = yb};
    CHECK_OK(dyn_traj_add(&tr, &pb, 0, x0, NAN, &err), &err);
    CHECK_OK(dyn_flow_ex(&pb, "kencarp58", x0, &tr, &out, 1, &err), &err);
    quad_exact(&q, ones, x0, 3.0, xe);
    CHECK(out.stopped_by == DYN_MAXT, "%s", dyn_stop_name(out.stopped_by));
    CHECK(out.iterations > 20, "fallback to BDF: %ld steps", out.iterations);
    CHECK(!strcmp(out.alg, "kencarp58>bdf(failure)"), "alg %s", out.alg);
    CHECK(maxdiff(yb, xe, p) < 2e-7, "fallback flow off by %g (t %g)", maxdiff(yb, xe, p), out.t);
    CHECK(tr.n == 10, "%d samples", tr.n);
    dyn_traj_free(&tr);
    mlpf_objective_free(obj);
    free(q.A), free(q.xs);
}

#include "test_objectives.h"

/* Each method against a tight verner8 reference on a nonlinear flow. */
static void test_nonlinear_reference(void) {
    size_t p = 4;
    mlpf_objective_ops ops = {"rosenbrock", p, 0, rosen_eval, NULL};
    mlpf_objective *obj = mlpf_objective_custom(&ops, &p, NULL);
    double x0[4] = {-1.2, 1, -0.5, 0.8};
    mlpf_error err;
    mlpf_train_options o;
    flow_options(&o, "verner8", 0.5, 1e-13);
    mlpf_result *ref = NULL;
    CHECK_OK(mlpf_train(obj, x0, &o, &ref, &err), &err);
    for (int m = 0; m < NMETHODS && ref; m++) {
        flow_options(&o, ode_methods[m], 0.5, 1e-8);
        o.rk4_step = 1e-4; /* stability needs h * 1000 < 2.8 */
        mlpf_result *r = NULL;
        CHECK_OK(mlpf_train(obj, x0, &o, &r, &err), &err);
        if (!r) continue;
        double worst = 0;
        CHECK(r->ntrajectory == ref->ntrajectory || records_step_ends(ode_methods[m]), "%zu samples",
              r->ntrajectory);
        for (size_t k = 1; k < r->ntrajectory && k < ref->ntrajectory; k++) {
            /* the grid starts at each method's first step: compare at the end
               and, where times agree, along the way */
            if (fabs(r->trajectory_t[k] - ref->trajectory_t[k]) < 1e-14)
                worst = fmax(worst, maxdiff(r->trajectory_x + k * p, ref->trajectory_x + k * p, p));
        }
        worst = fmax(worst, maxdiff(r->ode_x, ref->ode_x, p));
        CHECK(worst < 1e-5, "%s vs reference: %g", ode_methods[m], worst);
        CHECK(r->ode_loss < 0.9 * ref->loss_curve[0], "%s: loss %g", ode_methods[m], r->ode_loss);
        mlpf_result_free(r);
    }
    mlpf_result_free(ref);
    mlpf_objective_free(obj);
}

/* tauinv: 0 freezes exactly (both phases), a scalar c is time scaled by c. */
static void test_tauinv(void) {
    size_t p = 4;
    mlpf_objective_ops ops = {"rosenbrock", p, 0, rosen_eval, NULL};
    mlpf_objective *obj = mlpf_objective_custom(&ops, &p, NULL);
    double x0[4] = {-1.2, 1, -0.5, 0.8}, tau[4] = {1, 0, 2, 0};
    mlpf_error err;
    for (int m = 0; m < NMETHODS; m++) {
        mlpf_train_options o;
        flow_options(&o, ode_methods[m], 0.3, 1e-8);
        o.rk4_step = 1e-4;
        o.tauinv = tau, o.ntauinv = p;
        o.min_gnorm = 1e-12; /* rounding floor of this objective: ~3e-14 */
        snprintf(o.optim_solver, sizeof o.optim_solver, "%s", m % 2 ? "bfgs" : "newtontr");
        mlpf_result *r = NULL;
        CHECK_OK(mlpf_train(obj, x0, &o, &r, &err), &err);
        if (!r) continue;
        int exact = 1;
        for (size_t k = 0; k < r->ntrajectory; k++)
            exact &= r->trajectory_x[k * p + 1] == x0[1] && r->trajectory_x[k * p + 3] == x0[3];
        exact &= r->x[1] == x0[1] && r->x[3] == x0[3] && r->ode_x[1] == x0[1] && r->ode_x[3] == x0[3];
        CHECK(exact, "%s: frozen parameters moved", ode_methods[m]);
        CHECK(r->x[0] != x0[0] && r->x[2] != x0[2], "%s: free parameters did not move", ode_methods[m]);
        /* the minimiser finds the constrained minimum: gradient zero on the free ones */
        CHECK(r->gnorm < 1e-9 && r->converged, "%s: gnorm %g (%s)", ode_methods[m], r->gnorm,
              r->optim_stopped_by);
        /* Newton needs the wrapper's Hessian diag(s) H diag(s) to be exact */
        if (m % 2 == 0)
            CHECK(r->optim_iterations <= 12, "newtontr with tauinv: %ld iterations", r->optim_iterations);
        mlpf_result_free(r);
    }
    /* scalar tauinv = 0: nothing moves */
    mlpf_train_options o;
    flow_options(&o, "dopri5", 1, 1e-8);
    double zero = 0;
    o.tauinv = &zero, o.ntauinv = 1;
    mlpf_result *r = NULL;
    CHECK_OK(mlpf_train(obj, x0, &o, &r, &err), &err);
    CHECK(r && !memcmp(r->x, x0, sizeof x0) && !strcmp(r->ode_stopped_by, "skipped"), "all frozen");
    mlpf_result_free(r);
    /* tauinv = 4 to time T is the plain flow to time 4T */
    double four = 4;
    mlpf_result *a = NULL, *b = NULL;
    flow_options(&o, "verner8", 0.05, 1e-12);
    o.tauinv = &four, o.ntauinv = 1;
    CHECK_OK(mlpf_train(obj, x0, &o, &a, &err), &err);
    flow_options(&o, "verner8", 0.2, 1e-12);
    CHECK_OK(mlpf_train(obj, x0, &o, &b, &err), &err);
    CHECK(a && b && maxdiff(a->ode_x, b->ode_x, p) < 1e-8, "tauinv 4 vs 4T: %g",
          a && b ? maxdiff(a->ode_x, b->ode_x, p) : -1.0);
    mlpf_result_free(a), mlpf_result_free(b);
    /* bad tauinv is refused with the offending index */
    double badtau[4] = {1, -1, 1, 1};
    o.tauinv = badtau, o.ntauinv = 4;
    CHECK(mlpf_train(obj, x0, &o, &r, &err) == MLPF_EINVAL && strstr(err.msg, "tauinv[1]"), "%s",
          err.msg);
    o.ntauinv = 3;
    CHECK(mlpf_train(obj, x0, &o, &r, &err) == MLPF_EINVAL && strstr(err.msg, "ntauinv"), "%s", err.msg);
    mlpf_objective_free(obj);
}

/* ---- L = mean_n a_n . x: minibatch gradients, one sample per row of a ---- */
typedef struct {
    size_t n, p;
    double *a;
} linear;

static int linear_eval(void *c, const double *x, const size_t *sub, size_t ns, double *loss,
                       double *grad, double *hess, mlpf_error *err) {
    (void)err;
    const linear *L = c;
    size_t m = sub ? ns : L->n;
    double l = 0;
    if (grad) memset(grad, 0, L->p * sizeof *grad);
    for (size_t k = 0; k < m; k++) {
        const double *a = L->a + (sub ? sub[k] : k) * L->p;
        for (size_t i = 0; i < L->p; i++) {
            l += a[i] * x[i] / (double)m;
            if (grad) grad[i] += a[i] / (double)m;
        }
    }
    if (loss) *loss = l;
    if (hess) memset(hess, 0, L->p * L->p * sizeof *hess);
    return MLPF_OK;
}

/* Minibatch gradients over one epoch average to the full-batch gradient: one
   epoch of minibatch gd on a linear loss equals nb full-batch steps. */
static void test_minibatch(void) {
    linear L = {12, 3, malloc(36 * sizeof(double))};
    mlpf_rng r;
    mlpf_rng_seed(&r, 5);
    for (size_t i = 0; i < 36; i++) L.a[i] = mlpf_rng_normal(&r);
    mlpf_objective_ops ops = {"linear", 3, 12, linear_eval, NULL};
    mlpf_objective *obj = mlpf_objective_custom(&ops, &L, NULL);
    double x0[3] = {0.1, 0.2, 0.3};
    mlpf_error err;
    mlpf_train_options o;
    flow_options(&o, "gd", INFINITY, 1e-6);
    o.minloss = -INFINITY;
    o.lr = 0.1;
    o.maxiterations_ode = 4; /* 4 batches of 3 = one epoch */
    mlpf_result *full = NULL, *mb = NULL, *sh = NULL;
    CHECK_OK(mlpf_train(obj, x0, &o, &full, &err), &err);
    o.batchsize = 3;
    CHECK_OK(mlpf_train(obj, x0, &o, &mb, &err), &err);
    o.shuffle = 1;
    o.seed = 99;
    CHECK_OK(mlpf_train(obj, x0, &o, &sh, &err), &err);
    if (full && mb && sh) {
        CHECK(maxdiff(full->ode_x, mb->ode_x, 3) < 1e-14, "in-order epoch %g", maxdiff(full->ode_x, mb->ode_x, 3));
        CHECK(maxdiff(full->ode_x, sh->ode_x, 3) < 1e-14, "shuffled epoch %g", maxdiff(full->ode_x, sh->ode_x, 3));
        CHECK(full->ode_x[0] != x0[0], "gd did not move");
        CHECK(!strcmp(mb->ode_stopped_by, "maxiterations") && mb->ode_iterations == 4, "%s %ld",
              mb->ode_stopped_by, mb->ode_iterations);
        CHECK_CLOSE(mb->ode_time_run, 0.4, 1e-15, 0, "gd time = lr * steps");
    }
    /* after half an epoch the in-order and shuffled runs differ */
    mlpf_result *h1 = NULL, *h2 = NULL;
    o.maxiterations_ode = 2;
    o.shuffle = 0;
    CHECK_OK(mlpf_train(obj, x0, &o, &h1, &err), &err);
    o.shuffle = 1;
    CHECK_OK(mlpf_train(obj, x0, &o, &h2, &err), &err);
    if (h1 && h2) {
        CHECK(maxdiff(h1->trajectory_x + (h1->ntrajectory - 1) * 3, h2->trajectory_x + (h2->ntrajectory - 1) * 3, 3) > 1e-6,
              "shuffle changed nothing");
    }
    /* every sample once per shuffled epoch */
    size_t perm[12], idx[5], seen[12] = {0};
    for (size_t i = 0; i < 12; i++) perm[i] = i;
    dyn_shuffle(perm, 12, &r);
    for (size_t b = 0; b < 3; b++) {
        size_t n = dyn_batch(5, 12, perm, b, idx);
        CHECK(n == (b < 2 ? 5u : 2u), "batch %zu has %zu", b, n);
        for (size_t k = 0; k < n; k++) seen[idx[k]]++;
    }
    int once = 1;
    for (size_t i = 0; i < 12; i++) once &= seen[i] == 1;
    CHECK(once, "a sample missed or repeated in an epoch");
    mlpf_result_free(full), mlpf_result_free(mb), mlpf_result_free(sh);
    mlpf_result_free(h1), mlpf_result_free(h2);
    mlpf_objective_free(obj);
    free(L.a);
}

/* gd with step lr is Euler's method on the flow with time lr * steps: its
   error against the exact flow at a fixed time is first order in lr. */
static void test_gd_is_euler(void) {
    size_t p = 6;
    quad q = make_quad(p, 0.2, 4.0, 14);
    mlpf_objective *obj = quad_objective(&q);
    double x0[6] = {1, -2, 0.5, 3, -1, 0}, ones[6] = {1, 1, 1, 1, 1, 1}, xe[6], e[2];
    mlpf_error err;
    quad_exact(&q, ones, x0, 1.0, xe);
    for (int k = 0; k < 2; k++) {
        mlpf_train_options o;
        flow_options(&o, "gd", 1.0, 1e-6);
        o.lr = k ? 1e-3 : 2e-3;
        o.maxiterations_ode = k ? 1000 : 500;
        mlpf_result *r = NULL;
        CHECK_OK(mlpf_train(obj, x0, &o, &r, &err), &err);
        e[k] = r ? maxdiff(r->trajectory_x + (r->ntrajectory - 1) * p, xe, p) : NAN;
        CHECK(r && fabs(r->ode_time_run - 1.0) < 1e-12, "gd time %g", r ? r->ode_time_run : -1);
        mlpf_result_free(r);
    }
    CHECK(e[0] < 1e-2 && fabs(e[1] / e[0] - 0.5) < 0.05, "gd errors %g, %g: not first order", e[0], e[1]);
    mlpf_objective_free(obj);
    free(q.A), free(q.xs);
}

/* Open-ended flows keep a log-spaced trajectory of at most n samples. */
static void test_trajectory_open(void) {
    size_t p = 6;
    quad q = make_quad(p, 0.5, 4.0, 13);
    mlpf_objective *obj = quad_objective(&q);
    double x0[6] = {1, -2, 0.5, 3, -1, 0};
    mlpf_error err;
    mlpf_train_options o;
    flow_options(&o, "rk4", INFINITY, 1e-8);
    o.rk4_step = 1e-3;
    o.maxiterations_ode = 20000; /* t = 20 */
    o.n_samples_trajectory = 30;
    mlpf_result *r = NULL;
    CHECK_OK(mlpf_train(obj, x0, &o, &r, &err), &err);
    if (r) {
        CHECK(r->ntrajectory >= 15 && r->ntrajectory <= 30, "%zu samples", r->ntrajectory);
        /* 20 000 steps of 1e-3, a few of them cut short to end on a sample time */
        CHECK(r->trajectory_t[0] == 0 && r->trajectory_t[r->ntrajectory - 1] == r->ode_time_run &&
              fabs(r->ode_time_run - 20) < 0.05,
              "end at %g", r->trajectory_t[r->ntrajectory - 1]);
        int incr = 1;
        for (size_t k = 1; k < r->ntrajectory; k++) incr &= r->trajectory_t[k] > r->trajectory_t[k - 1];
        CHECK(incr, "times not increasing");
        /* interior samples log-spaced: constant ratio (the last one is the end) */
        double q1 = r->trajectory_t[2] / r->trajectory_t[1];
        double q2 = r->trajectory_t[r->ntrajectory - 2] / r->trajectory_t[r->ntrajectory - 3];
        CHECK(fabs(q1 / q2 - 1) < 1e-6, "ratios %g %g", q1, q2);
        CHECK(!strcmp(r->ode_stopped_by, "maxiterations"), "%s", r->ode_stopped_by);
    }
    mlpf_result_free(r);
    mlpf_objective_free(obj);
    free(q.A), free(q.xs);
}

/* Identity one-layer MSE net (the finite objective): its loss is quadratic,
   so the flow has the exact solution from its (constant) Hessian. */
static void test_linear_net_oracle(void) {
    mlpf_error err;
    mlpf_net *net = mlpf_net_create(3, &err);
    mlpf_net_add_layer(net, 2, "identity", 1, &err);
    size_t P = mlpf_net_nparams(net), N = 20;
    double X[60], T[40];
    mlpf_rng r;
    mlpf_rng_seed(&r, 21);
    for (int i = 0; i < 60; i++) X[i] = mlpf_rng_normal(&r);
    for (int i = 0; i < 40; i++) T[i] = mlpf_rng_normal(&r);
    mlpf_objective *obj = mlpf_objective_finite(net, N, X, T, 2, NULL, NULL, &err);
    CHECK(obj != NULL, "finite objective: %s", err.msg);
    if (!obj) {
        mlpf_net_free(net);
        return;
    }
    /* x* from one Newton step (exact for a quadratic) */
    quad q = {P, malloc(P * P * sizeof(double)), malloc(P * sizeof(double))};
    double g[8], x0[8], xe[8], ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    mlpf_random_params(net, 3, x0, &err);
    mlpf_objective_eval(obj, x0, NULL, g, q.A, &err);
    double *Af = malloc(P * P * sizeof(double));
    memcpy(Af, q.A, P * P * sizeof(double));
    memcpy(q.xs, g, P * sizeof(double));
    lapack_int ipiv[8];
    LAPACKE_dgesv(LAPACK_ROW_MAJOR, (int)P, 1, Af, (int)P, ipiv, q.xs, 1);
    for (size_t i = 0; i < P; i++) q.xs[i] = x0[i] - q.xs[i];
    for (int m = 0; m < NMETHODS; m++) {
        mlpf_train_options o;
        flow_options(&o, ode_methods[m], 2.0, 1e-10);
        mlpf_result *res = NULL;
        CHECK_OK(mlpf_train(obj, x0, &o, &res, &err), &err);
        if (!res) continue;
        double worst = 0;
        for (size_t k = 0; k < res->ntrajectory; k++) {
            quad_exact(&q, ones, x0, res->trajectory_t[k], xe);
            worst = fmax(worst, maxdiff(res->trajectory_x + k * P, xe, P));
        }
        CHECK(worst < 2e-7, "%s on the linear net: %g (ran %s, %ld steps)", ode_methods[m], worst, res->alg, res->ode_iterations);
        mlpf_result_free(res);
    }
    free(Af), free(q.A), free(q.xs);
    mlpf_objective_free(obj);
    mlpf_net_free(net);
}

/* The one stop rule: its order, the limits alone, and the names results carry. */
static void test_stop_rule(void) {
    static const char *const names[DYN_NSTOPS] = {
        "", "minloss", "min_gnorm", "maxT", "patience", "interrupt", "maxtime",
        "maxiterations", "basin", "stalled", "solver_failure", "skipped", "channel",
        "nonsmooth"};
    for (int s = 0; s < DYN_NSTOPS; s++)
        CHECK(!strcmp(dyn_stop_name((dyn_stop)s), names[s]), "stop %d is \"%s\"", s,
              dyn_stop_name((dyn_stop)s));
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    volatile int flag = 0;
    o.interrupt = &flag;
    o.patience = 3;
    o.maxiterations_ode = 10;
    dyn_problem pb = {.opt = &o};
    dyn_limits lim = dyn_limits_flow(&pb);
    dyn_state go = {1, 1, 1, 0, 0};
    CHECK(dyn_stop_test(&pb, &lim, &go) == DYN_GO, "nothing to stop for");
    /* each reason, and the one before it wins when several hold */
    dyn_state all = {0, 0, 10, 5, 1};
    flag = 1;
    lim.maxtime = 0;
    dyn_stop order[] = {DYN_MINLOSS, DYN_MIN_GNORM, DYN_MAXT, DYN_PATIENCE, DYN_INTERRUPT,
                        DYN_MAXTIME, DYN_MAXITERATIONS};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        dyn_stop got = dyn_stop_test(&pb, &lim, &all);
        CHECK(got == order[k], "step %zu: %s", k, dyn_stop_name(got));
        switch (order[k]) { /* clear this reason: the next one shows */
        case DYN_MINLOSS: all.f = 1; break;
        case DYN_MIN_GNORM: all.gnorm = 1; break;
        case DYN_MAXT: all.at_end = 0; break;
        case DYN_PATIENCE: all.since_best = 0; break;
        case DYN_INTERRUPT: flag = 0; break;
        case DYN_MAXTIME: lim.maxtime = INFINITY; break;
        default: all.it = 0; break;
        }
    }
    CHECK(dyn_stop_test(&pb, &lim, &all) == DYN_GO, "all cleared");
    /* unknown loss and gradient (NAN: a minibatch step) never stop; patience
       waits for the first step */
    dyn_state nan_state = {NAN, NAN, 0, 5, 0};
    CHECK(dyn_stop_test(&pb, &lim, &nan_state) == DYN_GO, "NAN and it = 0");
    /* the limits alone: it < 0 skips the iteration count */
    CHECK(dyn_stop_limits(&pb, &lim, 10) == DYN_MAXITERATIONS, "maxiterations");
    CHECK(dyn_stop_limits(&pb, &lim, -1) == DYN_GO, "it < 0");
    flag = 1;
    CHECK(dyn_stop_limits(&pb, &lim, -1) == DYN_INTERRUPT, "interrupt");
    /* the minimisers have no patience */
    dyn_limits lo = dyn_limits_optim(&pb);
    CHECK(lo.patience == LONG_MAX && lo.maxiterations == o.maxiterations_optim, "optim limits");
}

int main(void) {
    test_stop_rule();
    test_quadratic_oracle();
    test_fallback();
    test_nonlinear_reference();
    test_tauinv();
    test_minibatch();
    test_trajectory_open();
    test_gd_is_euler();
    test_linear_net_oracle();
    return check_report("test_dynamics");
}

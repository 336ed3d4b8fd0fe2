/* test_minimiser_phase.c - what the minimiser phase does at the hard points of
   the default path: it stops on a channel to infinity instead of running to
   maxiterations (watch.c), and Newton TR goes on past min_gnorm at a
   degenerate minimum, whose gradient vanishes before its loss (newtontr.c). */
#include "check.h"
#include "test_objectives.h"
#include "dynamics/dynamics.h"
#include "internal.h"
#include "mlpflow.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The watch on made-up iterates (moving every 50 iterations): weights
   growing 10 % per move at a loss that falls 0.01 % per move is a channel
   once the window fills; the same growth with the loss falling 5 % per
   move, or a steady point, is not. */
static void test_watch_verdicts(void) {
    const double growth[3] = {1.1, 1.1, 1.0}, drop[3] = {0.9999, 0.95, 0.9999};
    const int channel[3] = {1, 0, 0};
    for (int c = 0; c < 3; c++) {
        dyn_watch w;
        dyn_watch_init(&w);
        double y[2] = {1.0, -0.5}, f = 1e-8;
        long called_at = -1;
        for (long it = 0; it <= 4000 && called_at < 0; it++) {
            if (dyn_watch_check(&w, y, 2, f, 1e-12, it) == DYN_CHANNEL) called_at = it;
            if (it % 50 == 49) { /* the iterates move between checks */
                y[0] *= growth[c];
                f *= drop[c];
            }
        }
        CHECK((called_at >= 0) == channel[c], "case %d: channel called at %ld", c, called_at);
        /* the window (six checks 200 iterations apart) must fill first */
        if (channel[c]) CHECK(called_at >= 1200 && called_at <= 1600, "case %d: at %ld", c, called_at);
    }
}

/* The crawl test on made-up iterates that do not grow (README problem, seed
   10: Newton TR crept along a flat valley for 100 000 iterations with the
   gradient wandering around 1e-9): a loss falling 1e-6 relative per 50
   iterations at a steady gradient is "stalled" once the 25-check window
   (5 000 iterations) is full, not before; a loss falling 1 % per 50
   iterations is not, nor a flat loss whose gradient halves every 50
   iterations (polishing a minimum at non-zero loss), nor a flat stretch at
   gradient 4e-6 (examples/10: such a stretch ended 15 % lower). */
static void test_watch_crawl(void) {
    const double drop[4] = {1 - 1e-6, 0.99, 1 - 1e-6, 1 - 1e-6}, gfall[4] = {1.0, 1.0, 0.5, 1.0};
    const double g0[4] = {1e-9, 1e-9, 1e-9, 4e-6};
    const long lo[4] = {5000, -1, -1, -1}, hi[4] = {5400, -1, -1, -1};
    for (int c = 0; c < 4; c++) {
        dyn_watch w;
        dyn_watch_init(&w);
        double y[2] = {1.0, -0.5}, f = 3e-9, g = g0[c];
        long called_at = -1;
        dyn_stop seen = DYN_GO;
        for (long it = 0; it <= 20000 && called_at < 0; it++) {
            if ((seen = dyn_watch_check(&w, y, 2, f, g, it)) != DYN_GO) called_at = it;
            if (it % 50 == 49) f *= drop[c], g = fmax(g * gfall[c], 1e-300);
        }
        CHECK(called_at >= lo[c] && called_at <= hi[c] && (called_at < 0 || seen == DYN_STALLED),
              "case %d: %s at %ld", c, dyn_stop_name(seen), called_at);
    }
}

/* The channel problem of bench/long_flows.py: erf teacher of 5 units (Din 2,
   Glorot seed 100), exact Gaussian data, student of 5 from seed 0. After
   the flow to t = 1e3 Newton TR drifts along a channel (output weights
   growing) and ends there within a few thousand iterations, not converged
   ("stalled" at loss 1.8e-8 before the watch's 1 200-iteration window
   closes; python/tests/test_minimiser_channel.py has a run the watch ends). */
static void test_newtontr_stops_in_a_channel(void) {
    mlpf_error err;
    mlpf_net *t = make_net(2, 5, "sigmoid2", 0, 0), *s = make_net(2, 5, "sigmoid2", 0, 0);
    size_t P = mlpf_net_nparams(s);
    double tp[15], x0[15];
    CHECK_OK(mlpf_random_params(t, 100, tp, &err), &err);
    CHECK_OK(mlpf_random_params(s, 0, x0, &err), &err);
    mlpf_objective *obj = mlpf_objective_gaussian(t, tp, s, &err);
    CHECK(obj != NULL, "%s", err.msg);
    if (!obj) return;
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    o.maxT = 1e3;
    snprintf(o.optim_solver, sizeof o.optim_solver, "none");
    mlpf_result *flow = NULL, *r = NULL;
    CHECK_OK(mlpf_train(obj, x0, &o, &flow, &err), &err);
    if (flow) {
        mlpf_train_options_default(&o);
        snprintf(o.alg, sizeof o.alg, "none");
        snprintf(o.optim_solver, sizeof o.optim_solver, "newtontr");
        CHECK_OK(mlpf_train(obj, flow->x, &o, &r, &err), &err);
    }
    if (r) {
        CHECK((!strcmp(r->optim_stopped_by, "channel") || !strcmp(r->optim_stopped_by, "stalled")) &&
                  !r->converged,
              "stopped by %s, converged %d, loss %g, gnorm %g after %ld iterations",
              r->optim_stopped_by, r->converged, r->loss, r->gnorm, r->optim_iterations);
        CHECK(r->optim_iterations < 5000, "%ld iterations", r->optim_iterations);
        double a0 = 0, a1 = 0;
        for (size_t i = 10; i < P; i++) {
            a0 = fmax(a0, fabs(flow->x[i]));
            a1 = fmax(a1, fabs(r->x[i]));
        }
        CHECK(a1 > 1.5 * a0, "output weights %g -> %g: no drift to infinity", a0, a1);
    }
    mlpf_result_free(flow);
    mlpf_result_free(r);
    mlpf_objective_free(obj);
    mlpf_net_free(t);
    mlpf_net_free(s);
}

/* f = c + x^4 + y^2: with c = 0 a degenerate minimum (the gradient 4 x^3
   reaches 1e-15 at loss 4e-21), with c = 1 an ordinary one with loss > 0. */
static int quartic(void *ctx, const double *x, const size_t *subset, size_t nsubset, double *loss,
                   double *grad, double *hess, mlpf_error *err) {
    (void)subset, (void)nsubset, (void)err;
    double c = *(const double *)ctx;
    if (loss) *loss = c + pow(x[0], 4) + x[1] * x[1];
    if (grad) grad[0] = 4 * pow(x[0], 3), grad[1] = 2 * x[1];
    if (hess) hess[0] = 12 * x[0] * x[0], hess[1] = hess[2] = 0, hess[3] = 2;
    return MLPF_OK;
}

static void test_newtontr_polishes_degenerate_minima(void) {
    mlpf_error err;
    for (int k = 0; k < 2; k++) {
        double c = k, x0[2] = {0.01, 0.3};
        mlpf_objective_ops ops = {.name = "quartic", .nparams = 2, .eval = quartic};
        mlpf_objective *obj = mlpf_objective_custom(&ops, &c, &err);
        mlpf_train_options o;
        mlpf_train_options_default(&o);
        snprintf(o.alg, sizeof o.alg, "none");
        snprintf(o.optim_solver, sizeof o.optim_solver, "newtontr");
        mlpf_result *r = NULL;
        CHECK_OK(mlpf_train(obj, x0, &o, &r, &err), &err);
        if (r && k == 0) /* on past gnorm 1e-15 (loss 4e-21) to minloss */
            CHECK(!strcmp(r->optim_stopped_by, "minloss") && r->loss <= 2e-32,
                  "degenerate: stopped by %s at loss %g, gnorm %g", r->optim_stopped_by, r->loss,
                  r->gnorm);
        if (r && k == 1) /* nothing left to polish at loss 1: min_gnorm stops */
            CHECK(!strcmp(r->optim_stopped_by, "min_gnorm") && r->optim_iterations < 200,
                  "loss 1: stopped by %s after %ld iterations", r->optim_stopped_by,
                  r->optim_iterations);
        mlpf_result_free(r);
        mlpf_objective_free(obj);
    }
}

int main(void) {
    test_watch_verdicts();
    test_watch_crawl();
    test_newtontr_stops_in_a_channel();
    test_newtontr_polishes_degenerate_minima();
    return check_report("test_minimiser_phase");
}

/* problem.c - the problem every phase sees: the change of variables y <-> x,
   the gradient norm min_gnorm refers to, progress reports and the one stop
   rule of every phase and every loop. */
#include "dynamics/dynamics.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void dyn_y_to_x(const dyn_problem *pb, const double *y, double *x) {
    if (!pb->idx) {
        memcpy(x, y, pb->P * sizeof *x);
        return;
    }
    memcpy(x, pb->xfix, pb->P * sizeof *x);
    for (size_t i = 0; i < pb->p; i++) x[pb->idx[i]] = pb->scale[i] * y[i];
}

void dyn_x_to_y(const dyn_problem *pb, const double *x, double *y) {
    if (!pb->idx) {
        memcpy(y, x, pb->P * sizeof *y);
        return;
    }
    for (size_t i = 0; i < pb->p; i++) y[i] = x[pb->idx[i]] / pb->scale[i];
}

double dyn_gnorm(const dyn_problem *pb, const double *gy) {
    double m = 0;
    for (size_t i = 0; i < pb->p; i++) {
        double g = fabs(pb->scale ? gy[i] / pb->scale[i] : gy[i]);
        if (!(g <= m)) m = g; /* NaN propagates */
    }
    return m;
}

/* The flag is written by a signal handler or another thread while training
   runs: an atomic load sees the write without a data race. */
int dyn_interrupted(const dyn_problem *pb) {
    volatile int *flag = pb->opt->interrupt;
    return flag && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
}

void dyn_progress(dyn_problem *pb, const char *phase, double t, double loss, double gnorm,
                  double step, long iteration) {
    const mlpf_train_options *o = pb->opt;
    if (o->verbosity <= 0) return;
    double now = mlpf_now(), elapsed = now - pb->wall0;
    if (now - pb->last_progress < o->progress_interval) return;
    pb->last_progress = now;
    if (o->progress) {
        mlpf_progress pr = {t, elapsed, loss, gnorm, step, iteration, phase};
        o->progress(o->progress_ctx, &pr);
    } else {
        fprintf(stderr, "%-5s %8.2fs  t %-11.5g loss %-12.6g gnorm %-11.4g step %-10.4g it %ld\n",
                phase, elapsed, t, loss, gnorm, step, iteration);
    }
}

/* ---- the stop rule ---- */

static const char *const STOP_NAMES[DYN_NSTOPS] = {
    [DYN_GO] = "",
    [DYN_MINLOSS] = "minloss",
    [DYN_MIN_GNORM] = "min_gnorm",
    [DYN_MAXT] = "maxT",
    [DYN_PATIENCE] = "patience",
    [DYN_INTERRUPT] = "interrupt",
    [DYN_MAXTIME] = "maxtime",
    [DYN_MAXITERATIONS] = "maxiterations",
    [DYN_BASIN] = "basin",
    [DYN_STALLED] = "stalled",
    [DYN_SOLVER_FAILURE] = "solver_failure",
    [DYN_SKIPPED] = "skipped",
    [DYN_CHANNEL] = "channel",
    [DYN_NONSMOOTH] = "nonsmooth",
};

const char *dyn_stop_name(dyn_stop s) {
    return s >= 0 && s < DYN_NSTOPS ? STOP_NAMES[s] : "unknown";
}

dyn_limits dyn_limits_flow(const dyn_problem *pb) {
    const mlpf_train_options *o = pb->opt;
    dyn_limits l = {mlpf_now(), o->maxtime_ode, o->maxiterations_ode, o->patience};
    return l;
}

dyn_limits dyn_limits_optim(const dyn_problem *pb) {
    const mlpf_train_options *o = pb->opt;
    dyn_limits l = {mlpf_now(), o->maxtime_optim, o->maxiterations_optim, LONG_MAX};
    return l;
}

dyn_stop dyn_stop_limits(const dyn_problem *pb, const dyn_limits *lim, long it) {
    if (dyn_interrupted(pb)) return DYN_INTERRUPT;
    if (mlpf_now() - lim->wall0 >= lim->maxtime) return DYN_MAXTIME;
    if (it >= 0 && it >= lim->maxiterations) return DYN_MAXITERATIONS;
    return DYN_GO;
}

int dyn_minloss_reached(const mlpf_train_options *o, double f, double gnorm) {
    if (!(f <= o->minloss)) return 0;
    if (o->minloss < 0) return 1; /* the user asked for negative losses */
    if (f < 0) return 0;          /* rounding: see dynamics.h */
    /* |grad L| <= 2 sqrt(L) |grad r|: a loss this small with a larger
       gradient is rounding too (1e3 allows |grad r| up to 500) */
    return !(gnorm > fmax(o->min_gnorm, 1e3 * sqrt(o->minloss)));
}

dyn_stop dyn_stop_test(const dyn_problem *pb, const dyn_limits *lim, const dyn_state *s) {
    const mlpf_train_options *o = pb->opt;
    if (dyn_minloss_reached(o, s->f, s->gnorm)) return DYN_MINLOSS;
    if (s->gnorm <= o->min_gnorm) return DYN_MIN_GNORM;
    if (s->at_end) return DYN_MAXT;
    /* patience counts iterations after a step, so the start never trips it */
    if (s->it > 0 && s->since_best >= lim->patience) return DYN_PATIENCE;
    return dyn_stop_limits(pb, lim, s->it);
}

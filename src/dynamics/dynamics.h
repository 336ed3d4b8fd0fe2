/* dynamics.h - internal interface of the dynamics: the problem and its stop
   rule (problem.c), the trajectory (traj.c), the method registry
   (registry.c), the phases (gradient flow ode.c, gradient descent / Adam
   descent.c, minimisers newtontr.c, quasinewton.c, nlopt.c) and the driver
   (train.c). Phases call the problem, stop and trajectory modules, never
   train.c. */
#ifndef MLPF_DYNAMICS_H
#define MLPF_DYNAMICS_H

#include "internal.h"

#include <float.h>

/* Rounding level of a loss value, in units of eps * |loss|. Losses that are
   differences of larger terms (the infinite-data objective near a minimum: pair
   expectations of size 1 summing to 0.02) carry errors of several hundred ulps
   of the loss, so steps whose loss changes by less than this are judged by their
   gradient instead; 1024 ulps is still 2e-13 relative, far below any real
   progress a minimiser makes. */
#define DYN_LOSS_NOISE (1024 * DBL_EPSILON)

/* The problem every phase sees (problem.c). tauinv is a change of variables on
   the free parameters, x[idx[i]] = scale[i] * y[i] with scale = sqrt(tauinv),
   frozen parameters (tauinv == 0) keep their value: plain gradient flow in y,
   dy/dt = -grad_y L, is dx/dt = -tauinv * grad_x L, and every method sees an
   ordinary objective of the p free variables (see objective/tauinv.h). */
typedef struct {
    const mlpf_objective *obj;   /* objective of y (p variables)                  */
    size_t p, P;                 /* free variables, all parameters                */
    const double *scale;         /* (p) sqrt(tauinv); NULL when y == x           */
    const size_t *idx;           /* (p) parameter index of y[i]; NULL = identity  */
    const double *xfix;          /* (P) values of the frozen parameters          */
    const mlpf_train_options *opt;
    double wall0;                /* wall clock at the start of mlpf_train         */
    double last_progress;        /* wall clock of the last progress report        */
    int auto_alg;                /* the flow method is the default: it may switch  */
    const mlpf_objective *base;  /* the caller's objective (network, data), or NULL */
} dyn_problem;

void dyn_y_to_x(const dyn_problem *pb, const double *y, double *x);
void dyn_x_to_y(const dyn_problem *pb, const double *x, double *y);
/* Inf-norm of grad_x over the free parameters, from gy = grad_y (p). This is the
   quantity min_gnorm refers to, whatever tauinv is. */
double dyn_gnorm(const dyn_problem *pb, const double *gy);
/* The interrupt flag, read with an atomic load (another thread or a signal
   handler sets it). */
int dyn_interrupted(const dyn_problem *pb);
/* Reports when verbosity > 0 and progress_interval seconds have passed;
   elapsed is counted from the start of mlpf_train. */
void dyn_progress(dyn_problem *pb, const char *phase, double t, double loss, double gnorm,
                  double step, long iteration);

/* ---- the one stop rule (problem.c) ---- */

/* Why a phase stopped; DYN_GO while it goes on. dyn_stop_name gives the
   strings of mlpf_result's ode_stopped_by / optim_stopped_by. */
typedef enum {
    DYN_GO = 0,
    DYN_MINLOSS,
    DYN_MIN_GNORM,
    DYN_MAXT,
    DYN_PATIENCE,
    DYN_INTERRUPT,
    DYN_MAXTIME,
    DYN_MAXITERATIONS,
    DYN_BASIN,
    DYN_STALLED,
    DYN_SOLVER_FAILURE,
    DYN_SKIPPED,
    DYN_CHANNEL,
    DYN_NONSMOOTH,
    DYN_NSTOPS
} dyn_stop;

const char *dyn_stop_name(dyn_stop s);

/* f <= minloss, judged against rounding when minloss >= 0: squared errors
   and cross-entropies are never negative, and a loss that is a difference
   of larger terms (the exact Gaussian objective near its minimum) is
   computed as -5e-15 ... 0 while the gradient is still 1e-11 ... 2e-8. So a
   negative f never counts, nor does a small f whose gradient inf-norm
   exceeds what a loss of minloss allows (|grad L| <= 2 sqrt(L) |grad r|:
   max(min_gnorm, 1e3 sqrt(minloss))); gnorm NAN = not known, not tested. */
int dyn_minloss_reached(const mlpf_train_options *o, double f, double gnorm);

/* A phase's limits: the flow / descent phase takes maxtime_ode and
   maxiterations_ode and patience, the minimisers the _optim ones and no
   patience (LONG_MAX). */
typedef struct {
    double wall0;          /* wall clock at the start of the phase */
    double maxtime;        /* seconds */
    long maxiterations;
    long patience;         /* iterations without a new best */
} dyn_limits;

dyn_limits dyn_limits_flow(const dyn_problem *pb);
dyn_limits dyn_limits_optim(const dyn_problem *pb);

/* Where a phase stands. f / gnorm NAN: not known at this iterate (a
   minibatch step), their tests are skipped. */
typedef struct {
    double f, gnorm;
    long it, since_best;
    int at_end;            /* the phase reached its end (flow time maxT) */
} dyn_state;

/* The stop rule of every phase, in this order: minloss, min_gnorm, maxT
   (at_end), patience (after the first iteration), then the limits. */
dyn_stop dyn_stop_test(const dyn_problem *pb, const dyn_limits *lim, const dyn_state *s);
/* The limits alone (interrupt, maxtime, maxiterations at it; it < 0 skips
   the iteration count): for inner
   loops that evaluate the objective without producing an iterate
   (trajectory recording, trust-region shrinking). */
dyn_stop dyn_stop_limits(const dyn_problem *pb, const dyn_limits *lim, long it);

/* ---- trajectory (traj.c) ---- */

/* Trajectory samples at log-spaced flow times. With finite maxT the grid is
   0, t1 ... maxT (n points, t1 = the end of the first step); with maxT =
   INFINITY it starts with 4 decades' worth of points after t1 and drops every
   other one whenever the buffer fills, so it stays log-spaced. The end of the
   phase is always the last sample. */
typedef struct {
    int cap, n;
    size_t P;
    double *t, *x, *loss;     /* (cap), (cap, P), (cap) */
    double maxT, t1, ratio, next;
    long j;                   /* grid index of next: next = t1 * ratio^j     */
    long jlast;               /* last grid index (finite maxT), else -1       */
} dyn_traj;

int dyn_traj_init(dyn_traj *tr, int cap, double maxT, size_t P, mlpf_error *err);
void dyn_traj_free(dyn_traj *tr);
/* The next grid time when it is <= t, else NAN. The first call fixes t1 = t. */
double dyn_traj_due(dyn_traj *tr, double t);
/* Record y (in variables y) at time t; loss NAN means evaluate it here. */
int dyn_traj_add(dyn_traj *tr, const dyn_problem *pb, double t, const double *y, double loss,
                 mlpf_error *err);

/* What a phase hands back. ybest is allocated by the caller (p). */
typedef struct {
    double *ybest;
    double loss_best;
    long iterations;
    double t;                 /* flow time reached (flow / descent)          */
    double wall;              /* wall seconds                                */
    dyn_stop stopped_by;
    char alg[32];             /* the method if it switched ("kencarp58>bdf(failure)"), else "" */
    char kinks[96];           /* DYN_NONSMOOTH: the units at the kink (ode_kink.h), else "" */
    long retaken;             /* flow steps taken again because the loss rose (ode.c) */
} dyn_outcome;

/* Gradient flow with SUNDIALS: "kencarp58", "bdf", "dopri5", "verner8", "rk4". */
int dyn_flow(dyn_problem *pb, const char *alg, const double *y0, dyn_traj *tr,
             dyn_outcome *out, mlpf_error *err);
/* Tests only: pretend the method fails at t = 0, so that BDF takes over. */
int dyn_flow_ex(dyn_problem *pb, const char *alg, const double *y0, dyn_traj *tr,
                dyn_outcome *out, int force_fallback, mlpf_error *err);

/* "gd" and "adam", full batch or minibatches. */
int dyn_descent(dyn_problem *pb, const char *alg, const double *y0, dyn_traj *tr,
                dyn_outcome *out, mlpf_error *err);
/* Sample indices of batch b of an epoch whose sample order is perm (NULL: in
   order); returns how many (batchsize, fewer for the last batch). */
size_t dyn_batch(size_t batchsize, size_t nsamples, const size_t *perm, size_t b, size_t *idx);
/* Fisher-Yates shuffle of perm (n) with r: the order of the next epoch. */
void dyn_shuffle(size_t *perm, size_t n, mlpf_rng *r);

/* Minimisers: loss / gnorm stops are absolute. */
int dyn_newtontr(dyn_problem *pb, const double *y0, dyn_outcome *out, mlpf_error *err);
/* Trust-region Newton-Krylov (newtoncg.c): Steihaug-Toint CG on Hessian-vector
   products, O(P) memory. */
int dyn_newtoncg(dyn_problem *pb, const double *y0, dyn_outcome *out, mlpf_error *err);
int dyn_quasinewton(dyn_problem *pb, int limited, const double *y0, dyn_outcome *out,
                    mlpf_error *err);
int dyn_nlopt(dyn_problem *pb, const char *solver, const double *y0, dyn_outcome *out,
              mlpf_error *err);

/* Trust-region subproblem in an eigenbasis: minimise g.s + s.diag(lam).s / 2 over
   |s| <= delta, lam ascending (n). Writes s (n), returns the predicted decrease
   -(g.s + s.lam.s / 2) >= 0. Handles indefinite lam and the hard case. */
double dyn_trs_eigen(const double *lam, const double *g, size_t n, double delta, double *s);

/* ---- the minimiser-phase channel watch (watch.c) ---- */

/* Growth of the largest |y_i| at checks every few accepted iterations,
   over a window of DYN_WATCH_CHECKS checks; loss and gradient over a longer
   window of DYN_WATCH_CRAWL_CHECKS checks. */
#define DYN_WATCH_CHECKS 6
#define DYN_WATCH_CRAWL_CHECKS 25
typedef struct {
    long next;            /* accepted-iteration count of the next check     */
    double ymax;          /* largest |y_i| at the last check                */
    double loss[DYN_WATCH_CHECKS]; /* losses at the last checks (a ring) */
    double crawl_loss[DYN_WATCH_CRAWL_CHECKS], crawl_gnorm[DYN_WATCH_CRAWL_CHECKS]; /* rings */
    int checks, growing;  /* checks so far; checks in a row with growing weights */
} dyn_watch;

void dyn_watch_init(dyn_watch *w);
/* After `accepted` accepted iterations at the iterate y (p) with loss f and
   gradient inf-norm gnorm: DYN_CHANNEL when the iterates drift along a
   channel (weights growing at every check of the window while the loss
   falls by less than 1 %, at a gradient below ~sqrt(eps) max(1, f)),
   DYN_STALLED when they crawl (the loss fell by less than 0.1 % and the
   gradient, below the same bound, not tenfold over the long window), else
   DYN_GO. */
dyn_stop dyn_watch_check(dyn_watch *w, const double *y, size_t p, double f, double gnorm,
                         long accepted);

/* ---- the method registry (registry.c): the one list of methods ---- */

typedef enum { DYN_KIND_FLOW, DYN_KIND_DESCENT, DYN_KIND_MINIMISER, DYN_KIND_SKIP } dyn_kind;
/* The phases a method can run in. */
typedef enum { DYN_PHASE_FLOW, DYN_PHASE_OPTIM } dyn_phase;

/* Runs the named method from y0; tr is NULL for minimisers. */
typedef int (*dyn_runner)(dyn_problem *pb, const char *name, const double *y0, dyn_traj *tr,
                          dyn_outcome *out, mlpf_error *err);

typedef struct {
    const char *name;
    dyn_kind kind;
    dyn_runner run;       /* NULL for "none" */
    const char *doc;      /* one line */
} dyn_method;

/* The method called name that can run in phase, or NULL. */
const dyn_method *dyn_method_find(const char *name, dyn_phase phase);
/* MLPF_OK when name is a method of phase, else MLPF_EINVAL with
   'train options: unknown alg "x" (known: ...)'. */
int dyn_method_check(const char *name, dyn_phase phase, mlpf_error *err);

#endif

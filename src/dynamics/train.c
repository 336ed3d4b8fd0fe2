/* train.c - the train driver: options, the objective chain (regulariser,
   tauinv), the flow phase then the minimiser phase, the result, and many
   starts at once. The phases run through the method registry. */
#include "dynamics/dynamics.h"
#include "io/io.h"
#include "objective/tauinv.h"
#include "result/result.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

void mlpf_train_options_default(mlpf_train_options *o) {
    memset(o, 0, sizeof *o);
    o->maxT = INFINITY;
    o->abstol = 1e-6;
    o->reltol = 1e-6;
    /* Wall-clock limits are a safety net, off by default: a run that stops
       on the clock depends on the machine's load, and the default run is
       reproducible bit for bit (issue 9). The iteration limits and maxT
       decide; the reference system's 180 s / 120 s remain an option. */
    o->maxtime_ode = INFINITY;
    o->maxiterations_ode = 1000000;
    o->rk4_step = 1e-2;
    o->lr = 1e-3;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->maxtime_optim = INFINITY;
    o->maxiterations_optim = 100000;
    o->min_gnorm = 1e-15;
    o->minloss = 2e-32;
    o->patience = 1000000;
    o->maxnorm = INFINITY;
    o->n_samples_trajectory = 100;
    o->progress_interval = 5;
    o->seed = 1;
}

/* ---- defaults by size ----
   Short flows (one thread, softplus teacher-student, Din = 2, N = 1000,
   abstol = reltol = 1e-6; error = max |x - x_ref| at maxT, x_ref from dopri5
   at 1e-11):
                 P = 17, T = 100     P = 201, T = 20     P = 401, T = 5
     kencarp58   0.16 s  4e-7        0.97 s  4e-7        2.6 s  7e-7
     bdf         0.04 s  2e-6        0.56 s  3e-5        2.6 s  5e-6
     dopri5      0.28 s  2e-6        2.2 s   4e-7        1.2 s  2e-7
     rk4 h=1e-2  5.2 s   1e-7        5.8 s   5e-7        2.0 s  7e-6
     verner8     2.8 s   1e-3        20 s    1e-3        15 s   7e-4
   Long flows (bench/long_flows.py, tolerances 1e-6, samples at step ends;
   distance = max over the recorded samples to a BDF reference at 1e-10):
     erf channel P = 15 to t = 1e12: bdf 0.9 s, 2 800 steps, 3e-3;
       kencarp58 fails (solver_failure) near t = 1e6-1e7 after 15 000 steps;
       dopri5 reaches t = 3e4 in 8 s; the other ARKODE ESDIRKs stall alike.
     softplus N = 1000, P = 21 to 1e4: bdf 0.06 s, 2e-5; kencarp58 0.3 s, 4e-6;
       dopri5 8 s for t = 4e3 (stiff).
     near a minimum P = 17 to 1e6: bdf 0.06 s, 2e-5; kencarp58 0.7 s, 2e-5.
   BDF is the only method that finishes every long flow, 3-10x faster than
   kencarp58 where both do, at 1-10x its distance to the reference; so it
   is the default up to P = 256 (dense Jacobian). Above, dopri5 (no P x P
   matrix) stays the default and hands over to BDF when stiffness stalls
   it (ode.c, STALL_STEPS). ARKODE's VERNER_8_5_6 fails on stiff flows at
   any tolerance, so it is never a default. */
static const char *default_alg(size_t P) { return P <= 256 ? "bdf" : "dopri5"; }

/* Minimiser, time to gnorm <= 1e-13 (one thread, N = 1000):
     benign (teacher = student, start teacher + 0.1 noise, Din 10 / 20):
       P = 121: newtontr 0.09 s, bfgs 0.27 s, slsqp 2.4 s, lbfgs 1.5 s
       P = 331: newtontr 0.46 s, bfgs 1.8 s, slsqp and NLopt's fail in 5 s
     degenerate (Din = 2, 16 / 50 units, start teacher + 0.01 noise):
       P = 65:  bfgs 1.4 s (7e-12), slsqp 3.4 s, newtontr > 5 s (7e-11)
       P = 201: bfgs 1.3 s (8e-12), newtontr, slsqp, lbfgs > 5 s
     P = 17: newtontr 0.02 s, bfgs 0.03 s, slsqp 0.06 s.
   SLSQP never won above P = 32, so BFGS takes its place (the reference uses
   SLSQP for P <= 1000); Newton TR keeps P <= 32: it wins by 3-4x on benign
   minima but loses by more in the degenerate valleys of over-complete
   students. L-BFGS above P = 5000, where the dense inverse Hessian of BFGS
   would pass 200 MB. */
static const char *default_solver(size_t P) {
    if (P <= 32) return "newtontr";
    if (P <= 5000) return "bfgs";
    return "lbfgs";
}

/* The option table's ranges (io/options.c, shared with the CLI, the spec
   loader and Python), then what the table cannot see. */
static int check_options(const mlpf_train_options *o, mlpf_error *err) {
    int st = mlpf_train_options_check(o, err);
    if (st) return st;
    if (o->nmerges && !o->merges)
        return mlpf_fail(err, MLPF_EINVAL, "train options: nmerges = %zu but merges is NULL",
                         o->nmerges);
    return MLPF_OK;
}

/* The options of one run, checked, with the methods resolved. */
static int train_setup(const mlpf_objective *obj, const double *x0, const mlpf_train_options *opt,
                       mlpf_train_options *o, const dyn_method **flow, const dyn_method **optim,
                       mlpf_error *err) {
    if (opt)
        *o = *opt;
    else
        mlpf_train_options_default(o);
    o->alg[sizeof o->alg - 1] = '\0';
    o->optim_solver[sizeof o->optim_solver - 1] = '\0';
    int st = check_options(o, err);
    if (st) return st;
    size_t P = mlpf_objective_nparams(obj);
    if (P == 0) return mlpf_fail(err, MLPF_EINVAL, "mlpf_train: the objective has no parameters");
    size_t bad = mlpf_first_nonfinite(x0, P);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "mlpf_train: x0[%zu] = %g is not finite",
                              bad - 1, x0[bad - 1]);
    const char *alg = o->alg[0] ? o->alg : default_alg(P);
    const char *solver = o->optim_solver[0] ? o->optim_solver : default_solver(P);
    if ((st = dyn_method_check(alg, DYN_PHASE_FLOW, err))) return st;
    if ((st = dyn_method_check(solver, DYN_PHASE_OPTIM, err))) return st;
    *flow = dyn_method_find(alg, DYN_PHASE_FLOW);
    *optim = dyn_method_find(solver, DYN_PHASE_OPTIM);
    if (o->batchsize > 0 && (*flow)->kind != DYN_KIND_DESCENT)
        return mlpf_fail(err, MLPF_EINVAL,
                         "train options: batchsize = %zu needs alg gd or adam, not \"%s\"",
                         o->batchsize, alg);
    if (o->batchsize > 0 && mlpf_objective_nsamples(obj) == 0)
        return mlpf_fail(err, MLPF_EUNSUPPORTED,
                         "train options: batchsize = %zu but objective \"%s\" has no finite "
                         "sample set",
                         o->batchsize, mlpf_objective_name(obj));
    return MLPF_OK;
}

/* The objective chain base -> regularised -> tauinv change of variables,
   and the problem the phases see. */
typedef struct {
    mlpf_objective *reg;       /* NULL without regulariser */
    mlpf_tauinv *tau;          /* NULL when every tauinv is 1 */
    const mlpf_objective *robj;/* the (regularised) objective of x */
    dyn_problem pb;
} train_chain;

static void chain_free(train_chain *c) {
    mlpf_tauinv_free(c->tau);
    mlpf_objective_free(c->reg);
    c->tau = NULL;
    c->reg = NULL;
}

static int chain_build(const mlpf_objective *obj, const double *x0, const mlpf_train_options *o,
                       double wall0, train_chain *c, mlpf_error *err) {
    memset(c, 0, sizeof *c);
    if (isfinite(o->maxnorm) || o->nmerges > 0) {
        c->reg = mlpf_objective_regularized(obj, o->maxnorm, o->merges, o->nmerges, err);
        if (!c->reg) return err && err->status ? err->status : MLPF_EINVAL;
    }
    c->robj = c->reg ? c->reg : obj;
    int st = mlpf_tauinv_create(c->robj, x0, o->tauinv, o->ntauinv, &c->tau, err);
    if (st) {
        chain_free(c);
        return st;
    }
    dyn_problem *pb = &c->pb;
    pb->P = mlpf_objective_nparams(obj);
    pb->obj = c->tau ? c->tau->obj : c->robj;
    pb->p = c->tau ? c->tau->p : pb->P;
    pb->scale = c->tau ? c->tau->scale : NULL;
    pb->idx = c->tau ? c->tau->idx : NULL;
    pb->xfix = c->tau ? c->tau->xfix : NULL;
    pb->opt = o;
    pb->wall0 = wall0;
    pb->last_progress = wall0;
    pb->auto_alg = o->alg[0] == '\0';
    pb->base = obj;
    return MLPF_OK;
}

/* The flow / descent phase from y (p), whose loss is loss0; records the
   trajectory into tr. */
static int flow_phase(dyn_problem *pb, const dyn_method *m, const double *y, double loss0,
                      dyn_traj *tr, dyn_outcome *out, mlpf_error *err) {
    memcpy(out->ybest, y, pb->p * sizeof *y);
    out->loss_best = loss0;
    int st = tr->cap ? dyn_traj_add(tr, pb, 0.0, y, loss0, err) : MLPF_OK;
    if (st) return st;
    if (!m->run || pb->p == 0) { /* "none", or everything frozen */
        out->stopped_by = DYN_SKIPPED;
        return MLPF_OK;
    }
    return m->run(pb, m->name, y, tr, out, err);
}

/* The minimiser phase from the flow's best point. */
static int optim_phase(dyn_problem *pb, const dyn_method *m, const dyn_outcome *flow,
                       dyn_outcome *out, mlpf_error *err) {
    memcpy(out->ybest, flow->ybest, pb->p * sizeof *out->ybest);
    out->loss_best = flow->loss_best;
    if (!m->run || pb->p == 0) {
        out->stopped_by = DYN_SKIPPED;
        return MLPF_OK;
    }
    if (dyn_interrupted(pb)) {
        out->stopped_by = DYN_INTERRUPT;
        return MLPF_OK;
    }
    if (flow->stopped_by == DYN_CHANNEL || flow->stopped_by == DYN_NONSMOOTH) { /* no minimum to finish: see ode.c */
        out->stopped_by = DYN_SKIPPED;
        return MLPF_OK;
    }
    return m->run(pb, m->name, flow->ybest, NULL, out, err);
}

/* Inf-norm of g (P) over the free parameters: frozen ones cannot move, their
   gradient says nothing about convergence. */
static double free_gnorm(const dyn_problem *pb, const double *g) {
    double gn = 0;
    for (size_t i = 0; i < pb->p; i++) {
        double v = fabs(g[pb->idx ? pb->idx[i] : i]);
        if (!(v <= gn)) gn = v;
    }
    return gn;
}

/* The result's best point, loss, gradient norms and convergence, from the
   two phases' outcomes. g is scratch (P). */
static int result_best(mlpf_result *r, const train_chain *c, const mlpf_objective *obj,
                       const dyn_outcome *ode, const dyn_outcome *opt, double *g,
                       mlpf_error *err) {
    const dyn_problem *pb = &c->pb;
    /* the minimiser starts at the flow's best point and moves uphill at most
       by rounding noise (where the gradient decides): prefer its point */
    double noise = DYN_LOSS_NOISE * fabs(ode->loss_best);
    const double *ybest = opt->loss_best <= ode->loss_best + noise ? opt->ybest : ode->ybest;
    dyn_y_to_x(pb, ybest, r->x);
    int st = mlpf_objective_eval(c->robj, r->x, &r->loss, g, NULL, err);
    if (st) return st;
    r->gnorm_regularized = free_gnorm(pb, g);
    r->gnorm = r->gnorm_regularized;
    if (c->reg) {
        st = mlpf_objective_eval(obj, r->x, NULL, g, NULL, err);
        if (st) return st;
        r->gnorm = free_gnorm(pb, g);
    }
    /* the base objective's rounding bound (the regulariser's terms are
       non-negative and add no cancellation) */
    if ((st = mlpf_objective_loss_error(obj, r->x, &r->loss_error, err))) return st;
    /* converged refers to the objective that was minimised (the regularised
       one); a loss that its rounding cannot tell from minloss does not count */
    double lerr = isfinite(r->loss_error) ? r->loss_error : 0;
    r->converged = r->gnorm_regularized <= pb->opt->min_gnorm ||
                   (dyn_minloss_reached(pb->opt, r->loss, r->gnorm_regularized) &&
                    (pb->opt->minloss < 0 || r->loss + lerr <= pb->opt->minloss));
    /* a channel to infinity has no minimum at finite parameters, however
       small its gradient has become (issue 9) */
    if (ode->stopped_by == DYN_CHANNEL || opt->stopped_by == DYN_CHANNEL) r->converged = 0;
    return MLPF_OK;
}

/* The phases' reports into the result. */
static void result_phases(mlpf_result *r, const dyn_problem *pb, const dyn_method *flow,
                          const dyn_method *optim, const dyn_outcome *ode,
                          const dyn_outcome *opt) {
    snprintf(r->alg, sizeof r->alg, "%s", ode->alg[0] ? ode->alg : flow->name);
    snprintf(r->optim_solver, sizeof r->optim_solver, "%s", optim->name);
    dyn_y_to_x(pb, ode->ybest, r->ode_x);
    r->ode_loss = ode->loss_best;
    r->ode_iterations = ode->iterations;
    r->ode_time_run = ode->t;
    r->ode_wall_time = ode->wall;
    snprintf(r->ode_stopped_by, sizeof r->ode_stopped_by, "%s", dyn_stop_name(ode->stopped_by));
    snprintf(r->ode_kinks, sizeof r->ode_kinks, "%s", ode->kinks);
    r->ode_retaken = ode->retaken;
    r->optim_iterations = opt->iterations;
    r->optim_time_run = opt->wall;
    snprintf(r->optim_stopped_by, sizeof r->optim_stopped_by, "%s",
             dyn_stop_name(opt->stopped_by));
}

/* The trajectory's arrays move into the result (the phase closed it at
   the end of the flow). */
static void result_take_traj(mlpf_result *r, dyn_traj *tr) {
    r->ntrajectory = (size_t)tr->n;
    if (tr->n > 0) {
        r->trajectory_t = tr->t;
        r->trajectory_x = tr->x;
        r->loss_curve = tr->loss;
        tr->t = tr->x = tr->loss = NULL;
    }
    dyn_traj_free(tr);
}

/* Scratch of one run: y (p), g (P), the phases' best points (p each). */
typedef struct {
    double *y, *g;
    dyn_outcome ode, opt;
    dyn_traj tr;
} train_work;

static void work_free(train_work *w) {
    free(w->y);
    free(w->g);
    free(w->ode.ybest);
    free(w->opt.ybest);
    dyn_traj_free(&w->tr);
}

static int work_alloc(train_work *w, size_t p, size_t P, const mlpf_train_options *o,
                      mlpf_error *err) {
    memset(w, 0, sizeof *w);
    size_t n = p ? p : 1;
    w->y = mlpf_malloc(n * sizeof *w->y, err);
    w->g = mlpf_malloc(P * sizeof *w->g, err);
    w->ode.ybest = mlpf_malloc(n * sizeof(double), err);
    w->opt.ybest = mlpf_malloc(n * sizeof(double), err);
    if (!w->y || !w->g || !w->ode.ybest || !w->opt.ybest) return MLPF_ENOMEM;
    return dyn_traj_init(&w->tr, o->n_samples_trajectory, o->maxT, P, err);
}

/* Both phases from x0 into r. */
static int train_run(const mlpf_objective *obj, const double *x0, train_chain *c,
                     const dyn_method *flow, const dyn_method *optim, train_work *w,
                     mlpf_result *r, mlpf_error *err) {
    dyn_problem *pb = &c->pb;
    memcpy(r->init, x0, pb->P * sizeof *x0);
    dyn_x_to_y(pb, x0, w->y);
    double loss0;
    int st = mlpf_objective_eval(c->robj, x0, &loss0, NULL, NULL, err);
    if (!st) st = flow_phase(pb, flow, w->y, loss0, &w->tr, &w->ode, err);
    if (!st) st = optim_phase(pb, optim, &w->ode, &w->opt, err);
    if (!st) st = result_best(r, c, obj, &w->ode, &w->opt, w->g, err);
    if (st) return st;
    result_phases(r, pb, flow, optim, &w->ode, &w->opt);
    result_take_traj(r, &w->tr);
    return MLPF_OK;
}

int mlpf_train(const mlpf_objective *obj, const double *x0, const mlpf_train_options *opt,
               mlpf_result **result, mlpf_error *err) {
    double wall0 = mlpf_now();
    mlpf_error_clear(err);
    if (result) *result = NULL;
    if (!obj || !x0 || !result)
        return mlpf_fail(err, MLPF_EINVAL, "mlpf_train: objective, x0 and result must be non-NULL");
    mlpf_train_options o;
    const dyn_method *flow = NULL, *optim = NULL;
    int st = train_setup(obj, x0, opt, &o, &flow, &optim, err);
    if (st) return st;
    train_chain c;
    if ((st = chain_build(obj, x0, &o, wall0, &c, err))) return st;
    train_work w;
    mlpf_result *r = NULL;
    st = work_alloc(&w, c.pb.p, c.pb.P, &o, err);
    if (!st) {
        r = mlpf_result_new(c.pb.P, err);
        st = r ? train_run(obj, x0, &c, flow, optim, &w, r, err) : MLPF_ENOMEM;
    }
    work_free(&w);
    chain_free(&c);
    if (st) {
        if (err && !err->status) mlpf_fail(err, st, "mlpf_train failed");
        mlpf_result_free(r);
        return st;
    }
    r->total_time = mlpf_now() - wall0;
    *result = r;
    return MLPF_OK;
}

int mlpf_train_many(const mlpf_objective *obj, const double *x0s, size_t k,
                    const mlpf_train_options *opt, int threads, mlpf_result **results,
                    mlpf_error *errs) {
    if (!obj || (!x0s && k) || (!results && k)) {
        if (errs && k) mlpf_fail(&errs[0], MLPF_EINVAL, "mlpf_train_many: NULL argument");
        return MLPF_EINVAL;
    }
    size_t P = mlpf_objective_nparams(obj);
    int first = MLPF_OK;
    long kk = (long)k;
    for (size_t i = 0; i < k; i++) results[i] = NULL;
#ifdef _OPENMP
    int nt = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
#endif
    for (long i = 0; i < kk; i++) {
        mlpf_error e;
        mlpf_error_clear(&e);
        int st = mlpf_train(obj, x0s + (size_t)i * P, opt, &results[i], &e);
        if (errs) errs[i] = e;
        if (st) {
#ifdef _OPENMP
#pragma omp critical(mlpf_train_many_status)
#endif
            if (first == MLPF_OK) first = st;
        }
    }
    (void)threads;
    /* "first failing" by start index, independent of thread timing */
    if (first != MLPF_OK && errs)
        for (size_t i = 0; i < k; i++)
            if (errs[i].status) return errs[i].status;
    return first;
}

/* nlopt.c - SLSQP, L-BFGS and preconditioned truncated Newton from NLopt.

   NLopt's own stopping tolerances are relative; they are all disabled and the
   objective callback applies ours (absolute loss and gradient, time, count of
   evaluations, interrupt) with nlopt_force_stop. A run that stops improving
   for STALL_EVALS evaluations is at its precision floor: "stalled". */
#include "dynamics/dynamics.h"

#include <math.h>
#include <stdio.h>
#include <nlopt.h>
#include <string.h>

#define STALL_EVALS 200

typedef struct {
    dyn_problem *pb;
    nlopt_opt opt;
    double *g;              /* (p) scratch when NLopt asks for no gradient */
    double *best, fbest;    /* (p) lowest loss seen */
    long evals, since_best;
    dyn_limits lim;
    dyn_stop why;
    int status;
    mlpf_error *err;
} nl_ctx;

static double nl_f(unsigned n, const double *x, double *grad, void *data) {
    nl_ctx *c = data;
    double *g = grad ? grad : c->g, f;
    int st = mlpf_objective_eval(c->pb->obj, x, &f, g, NULL, c->err);
    c->evals++;
    if (st == MLPF_ENONFINITE || (!st && !isfinite(f))) return HUGE_VAL;
    if (st) {
        c->status = st;
        nlopt_force_stop(c->opt);
        return HUGE_VAL;
    }
    if (f < c->fbest) {
        c->fbest = f;
        memcpy(c->best, x, n * sizeof *x);
        c->since_best = 0;
    } else {
        c->since_best++;
    }
    double gnorm = dyn_gnorm(c->pb, g);
    dyn_progress(c->pb, "optim", 0, f, gnorm, 0, c->evals);
    dyn_state state = {f, gnorm, c->evals, 0, 0};
    c->why = dyn_stop_test(c->pb, &c->lim, &state);
    if (!c->why && c->since_best >= STALL_EVALS) c->why = DYN_STALLED;
    if (c->why) nlopt_force_stop(c->opt);
    return f;
}

int dyn_nlopt(dyn_problem *pb, const char *solver, const double *y0, dyn_outcome *out,
              mlpf_error *err) {
    size_t p = pb->p;
    nlopt_algorithm alg = !strcmp(solver, "slsqp")          ? NLOPT_LD_SLSQP
                          : !strcmp(solver, "nlopt_lbfgs")  ? NLOPT_LD_LBFGS
                          : !strcmp(solver, "nlopt_tnewton") ? NLOPT_LD_TNEWTON_PRECOND_RESTART
                                                            : (nlopt_algorithm)-1;
    if ((int)alg < 0) return mlpf_fail(err, MLPF_EINVAL, "unknown NLopt solver \"%s\"", solver);
    nl_ctx c;
    memset(&c, 0, sizeof c);
    c.pb = pb;
    c.err = err;
    c.lim = dyn_limits_optim(pb);
    c.fbest = INFINITY;
    int st = MLPF_ENOMEM;
    double *x = mlpf_malloc(p * sizeof *x, err);
    c.g = mlpf_malloc(p * sizeof *c.g, err);
    c.best = mlpf_malloc(p * sizeof *c.best, err);
    c.opt = nlopt_create(alg, (unsigned)p);
    if (!x || !c.g || !c.best || !c.opt) {
        if (!c.opt) mlpf_fail(err, MLPF_ENOMEM, "nlopt_create(%s, %zu) failed", solver, p);
        goto done;
    }
    memcpy(x, y0, p * sizeof *x);
    memcpy(c.best, y0, p * sizeof *x);
    nlopt_set_min_objective(c.opt, nl_f, &c);
    /* disable NLopt's relative criteria; ours live in nl_f */
    nlopt_set_ftol_rel(c.opt, 0);
    nlopt_set_ftol_abs(c.opt, 0);
    nlopt_set_xtol_rel(c.opt, 0);
    if (alg == NLOPT_LD_LBFGS) nlopt_set_vector_storage(c.opt, 10);
    double f = INFINITY;
    nlopt_result r = nlopt_optimize(c.opt, x, &f);
    if (c.status) {
        st = c.status;
        goto done;
    }
    if (!c.why) {
        /* NLopt stopped on its own (roundoff, its internal accuracy): report
           what the best point satisfies */
        const mlpf_train_options *o = pb->opt;
        if (dyn_minloss_reached(o, c.fbest, NAN)) c.why = DYN_MINLOSS;
        else if (r < 0 && r != NLOPT_ROUNDOFF_LIMITED && r != NLOPT_FORCED_STOP) c.why = DYN_SOLVER_FAILURE;
        else c.why = DYN_STALLED;
        if (isfinite(c.fbest)) {
            double gn;
            mlpf_objective_eval(pb->obj, c.best, NULL, c.g, NULL, NULL);
            gn = dyn_gnorm(pb, c.g);
            if (gn <= o->min_gnorm && !dyn_minloss_reached(o, c.fbest, gn)) c.why = DYN_MIN_GNORM;
        }
    }
    out->stopped_by = c.why;
    if (isfinite(c.fbest)) {
        memcpy(out->ybest, c.best, p * sizeof *x);
        out->loss_best = c.fbest;
    } else {
        memcpy(out->ybest, y0, p * sizeof *x);
        out->loss_best = INFINITY;
    }
    out->iterations = c.evals;
    st = MLPF_OK;
done:
    if (c.opt) nlopt_destroy(c.opt);
    free(x);
    free(c.g);
    free(c.best);
    out->wall = mlpf_now() - c.lim.wall0;
    return st;
}

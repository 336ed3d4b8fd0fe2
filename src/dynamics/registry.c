/* registry.c - the one list of training methods. Validation, dispatch, the
   error messages, `mlpflow train --help` and the Python option docs all come
   from METHODS; adding a method is one line here plus its runner. */
#include "dynamics/dynamics.h"

#include <stdio.h>
#include <string.h>

static int run_flow(dyn_problem *pb, const char *name, const double *y0, dyn_traj *tr,
                    dyn_outcome *out, mlpf_error *err) {
    return dyn_flow(pb, name, y0, tr, out, err);
}

static int run_descent(dyn_problem *pb, const char *name, const double *y0, dyn_traj *tr,
                       dyn_outcome *out, mlpf_error *err) {
    return dyn_descent(pb, name, y0, tr, out, err);
}

static int run_newtontr(dyn_problem *pb, const char *name, const double *y0, dyn_traj *tr,
                        dyn_outcome *out, mlpf_error *err) {
    (void)name, (void)tr;
    return dyn_newtontr(pb, y0, out, err);
}

static int run_newtonkrylov(dyn_problem *pb, const char *name, const double *y0, dyn_traj *tr,
                            dyn_outcome *out, mlpf_error *err) {
    (void)name, (void)tr;
    return dyn_newtoncg(pb, y0, out, err);
}

static int run_quasinewton(dyn_problem *pb, const char *name, const double *y0, dyn_traj *tr,
                           dyn_outcome *out, mlpf_error *err) {
    (void)tr;
    return dyn_quasinewton(pb, !strcmp(name, "lbfgs"), y0, out, err);
}

static int run_nlopt(dyn_problem *pb, const char *name, const double *y0, dyn_traj *tr,
                     dyn_outcome *out, mlpf_error *err) {
    (void)tr;
    return dyn_nlopt(pb, name, y0, out, err);
}

static const dyn_method METHODS[] = {
    {"kencarp58", DYN_KIND_FLOW, run_flow,
     "ARKODE ESDIRK 5(4) with the exact Hessian as Jacobian"},
    {"bdf", DYN_KIND_FLOW, run_flow, "CVODE variable-order BDF with the exact Hessian (default for P <= 256)"},
    {"dopri5", DYN_KIND_FLOW, run_flow, "explicit Dormand-Prince 5(4) (default for P > 256; BDF takes over when stiffness stalls it)"},
    {"verner8", DYN_KIND_FLOW, run_flow, "explicit Verner 8(5)(6); fails on stiff flows"},
    {"rk4", DYN_KIND_FLOW, run_flow, "classical Runge-Kutta 4 with fixed step rk4_step"},
    {"gd", DYN_KIND_DESCENT, run_descent, "gradient descent with step lr (minibatches: batchsize)"},
    {"adam", DYN_KIND_DESCENT, run_descent, "Adam with lr, beta1, beta2, eps (minibatches: batchsize)"},
    {"newtontr", DYN_KIND_MINIMISER, run_newtontr,
     "trust-region Newton with the exact Hessian (default for P <= 32)"},
    {"bfgs", DYN_KIND_MINIMISER, run_quasinewton,
     "dense BFGS with a line search (default for P <= 5000)"},
    {"lbfgs", DYN_KIND_MINIMISER, run_quasinewton, "limited-memory BFGS (default above P = 5000)"},
    {"slsqp", DYN_KIND_MINIMISER, run_nlopt, "NLopt's SLSQP"},
    {"nlopt_lbfgs", DYN_KIND_MINIMISER, run_nlopt, "NLopt's L-BFGS"},
    {"nlopt_tnewton", DYN_KIND_MINIMISER, run_nlopt, "NLopt's preconditioned truncated Newton"},
    {"newtonkrylov", DYN_KIND_MINIMISER, run_newtonkrylov,
     "trust-region Newton-Krylov: Steihaug CG on exact Hessian-vector products (no P x P matrix)"},
    {"none", DYN_KIND_SKIP, NULL, "skip the phase"},
};
#define NMETHODS (sizeof METHODS / sizeof METHODS[0])

static const char *const KIND_NAMES[] = {"flow", "descent", "minimiser", "none"};

static int kind_runs_in(dyn_kind k, dyn_phase phase) {
    if (k == DYN_KIND_SKIP) return 1;
    return phase == DYN_PHASE_OPTIM ? k == DYN_KIND_MINIMISER : k != DYN_KIND_MINIMISER;
}

const dyn_method *dyn_method_find(const char *name, dyn_phase phase) {
    for (size_t i = 0; i < NMETHODS; i++)
        if (!strcmp(METHODS[i].name, name) && kind_runs_in(METHODS[i].kind, phase))
            return &METHODS[i];
    return NULL;
}

int dyn_method_check(const char *name, dyn_phase phase, mlpf_error *err) {
    if (dyn_method_find(name, phase)) return MLPF_OK;
    char known[512];
    size_t n = 0;
    known[0] = '\0';
    for (size_t i = 0; i < NMETHODS && n < sizeof known; i++)
        if (kind_runs_in(METHODS[i].kind, phase))
            n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "",
                                  METHODS[i].name);
    return mlpf_fail(err, MLPF_EINVAL, "train options: unknown %s \"%s\" (known: %s)",
                     phase == DYN_PHASE_OPTIM ? "optim_solver" : "alg", name, known);
}

size_t mlpf_method_count(void) { return NMETHODS; }

int mlpf_method_info(size_t i, const char **name, const char **kind, const char **doc) {
    if (i >= NMETHODS) return MLPF_EINVAL;
    if (name) *name = METHODS[i].name;
    if (kind) *kind = KIND_NAMES[METHODS[i].kind];
    if (doc) *doc = METHODS[i].doc;
    return MLPF_OK;
}

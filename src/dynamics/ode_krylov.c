/* ode_krylov.c - the implicit flows (kencarp58, bdf) with a Krylov linear
   solver: GMRES (SUNDIALS SPGMR, no preconditioner) whose Jacobian-times-vector
   is -H(y) v, an exact Hessian-vector product. Newton's linear systems
   (I - gamma J) x = b then need no P x P matrix, so the stiff methods run at
   P = 10^5 and beyond; memory is O(maxl P). Chosen by dyn_ode_use_krylov when
   the dense Jacobian is large (P > MLPF_ODE_DENSE_MAX: its LU costs P^3 / 3
   per setup) or does not fit the memory budget. */
#include "dynamics/ode_krylov.h"

#include <arkode/arkode_arkstep.h>
#include <cvode/cvode.h>
#include <nvector/nvector_serial.h>
#include <sunlinsol/sunlinsol_spgmr.h>

/* Above this many parameters the implicit flows go matrix-free. */
#define MLPF_ODE_DENSE_MAX 1000
/* GMRES basis size (restarts beyond it). */
#define MLPF_ODE_KRYLOV_MAXL 30

int dyn_ode_use_krylov(size_t p) {
    if (p > MLPF_ODE_DENSE_MAX) return 1;
    size_t budget = 0;
    if (mlpf_memory_budget(&budget, NULL)) return 0;
    return 16.0 * (double)p * (double)p > (double)budget; /* Jacobian and the Hessian copy */
}

/* Jv = -H(y) v. user_data is ode.c's solver data, whose first member is the
   problem. Non-finite states are recoverable (the solver retries smaller). */
static int jtimes(N_Vector v, N_Vector Jv, realtype t, N_Vector y, N_Vector fy, void *user_data,
                  N_Vector tmp) {
    (void)t, (void)fy, (void)tmp;
    const dyn_problem *pb = *(dyn_problem *const *)user_data;
    size_t p = pb->p;
    const double *yy = N_VGetArrayPointer(y);
    double *jv = N_VGetArrayPointer(Jv);
    if (mlpf_first_nonfinite(yy, p)) return 1;
    int st = mlpf_objective_hvp(pb->obj, yy, N_VGetArrayPointer(v), jv, NULL);
    if (st == MLPF_ENONFINITE) return 1;
    if (st) return -1;
    for (size_t i = 0; i < p; i++) jv[i] = -jv[i];
    return 0;
}

int dyn_ode_attach_krylov(void *mem, int cvode, N_Vector y, SUNContext sc, SUNLinearSolver *ls,
                          mlpf_error *err) {
    *ls = SUNLinSol_SPGMR(y, SUN_PREC_NONE, MLPF_ODE_KRYLOV_MAXL, sc);
    if (!*ls) return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: SUNLinSol_SPGMR failed");
    int f = cvode ? CVodeSetLinearSolver(mem, *ls, NULL) : ARKStepSetLinearSolver(mem, *ls, NULL);
    if (!f) f = cvode ? CVodeSetJacTimes(mem, NULL, jtimes) : ARKStepSetJacTimes(mem, NULL, jtimes);
    if (f) return mlpf_fail(err, MLPF_ENUMERIC, "gradient flow: SUNDIALS Krylov (SPGMR) setup failed (flag %d)", f);
    return MLPF_OK;
}

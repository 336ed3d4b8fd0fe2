/* ode_krylov.h - the matrix-free linear solver of the implicit flows
   (ode_krylov.c), for ode.c. */
#ifndef MLPF_ODE_KRYLOV_H
#define MLPF_ODE_KRYLOV_H

#include "dynamics/dynamics.h"

#include <sundials/sundials_context.h>
#include <sundials/sundials_linearsolver.h>
#include <sundials/sundials_nvector.h>

/* 1 when the implicit flows should use GMRES on Hessian-vector products
   instead of the dense Jacobian (P above a thousand, or over the budget). */
int dyn_ode_use_krylov(size_t p);
/* SPGMR with Jv = -H(y) v attached to an ARKStep (cvode 0) or CVODE memory
   whose user data starts with the dyn_problem pointer; *ls is the caller's
   to free. */
int dyn_ode_attach_krylov(void *mem, int cvode, N_Vector y, SUNContext sc, SUNLinearSolver *ls,
                          mlpf_error *err);

#endif

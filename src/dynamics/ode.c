/* ode.c - gradient flow dy/dt = -grad L(y) with SUNDIALS 6.4 (ARKODE, CVODE).

   We flow on the MEAN loss L. The reference system (MLPGradientFlow.jl) flows on
   the summed loss N * L, so its flow time t_ref = t / N; tauinv = N (scalar)
   reproduces its trajectories in its time units. Per-parameter tauinv arrives
   here already folded into the variables y (see dynamics.h), so the Jacobian
   -diag(tauinv) H of x is exactly -H_y of y.

   Every method is driven one step at a time (ONE_STEP mode) so that stops
   (wall time, patience, interrupt, loss, gradient) are checked after each
   solver step; trajectory samples between steps come from the solver's dense
   output. */
#include "dynamics/dynamics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <arkode/arkode_arkstep.h>
#include <arkode/arkode_erkstep.h>
#include <cvode/cvode.h>
#include <lapacke.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

enum { S_ERK, S_ARK, S_CV };

/* A solver in use and what its callbacks need. */
typedef struct {
    dyn_problem *pb;
    size_t p;
    /* the gradient at the end of the last step: explicit stages and the
       ESDIRK's explicit first stage ask for exactly this point again */
    double *cy, *cg, closs;
    int cvalid;
    double *hess;          /* (p, p) */
    int cb_status;         /* first hard error raised inside a callback */
    mlpf_error cb_err;
    char sunmsg[256];      /* last message from SUNDIALS */
} ode_ud;

static int rhs(realtype t, N_Vector yv, N_Vector ydot, void *data) {
    (void)t;
    ode_ud *u = data;
    const double *y = N_VGetArrayPointer(yv);
    double *f = N_VGetArrayPointer(ydot);
    size_t p = u->p;
    if (u->cvalid && !memcmp(y, u->cy, p * sizeof *y)) {
        for (size_t i = 0; i < p; i++) f[i] = -u->cg[i];
        return 0;
    }
    /* non-finite trial states are recoverable: the solver retries a smaller step */
    if (mlpf_first_nonfinite(y, p)) return 1;
    mlpf_error e;
    int st = mlpf_objective_eval(u->pb->obj, y, NULL, f, NULL, &e);
    if (st == MLPF_ENONFINITE) return 1;
    if (st) {
        if (!u->cb_status) u->cb_status = st, u->cb_err = e;
        return -1;
    }
    if (mlpf_first_nonfinite(f, p)) return 1;
    for (size_t i = 0; i < p; i++) f[i] = -f[i];
    return 0;
}

/* J = d(-grad L)/dy = -H, exact. */
static int jac(realtype t, N_Vector yv, N_Vector fy, SUNMatrix J, void *data, N_Vector t1,
               N_Vector t2, N_Vector t3) {
    (void)t, (void)fy, (void)t1, (void)t2, (void)t3;
    ode_ud *u = data;
    const double *y = N_VGetArrayPointer(yv);
    size_t p = u->p;
    if (mlpf_first_nonfinite(y, p)) return 1;
    mlpf_error e;
    int st = mlpf_objective_eval(u->pb->obj, y, NULL, NULL, u->hess, &e);
    if (st == MLPF_ENONFINITE) return 1;
    if (st) {
        if (!u->cb_status) u->cb_status = st, u->cb_err = e;
        return -1;
    }
    /* column-major J; H is symmetric so its row-major copy is J's transpose = J */
    double *d = SUNDenseMatrix_Data(J);
    for (size_t i = 0; i < p * p; i++) d[i] = -u->hess[i];
    return 0;
}

static void err_handler(int code, const char *module, const char *function, char *msg,
                        void *data) {
    ode_ud *u = data;
    snprintf(u->sunmsg, sizeof u->sunmsg, "%s %s (%d): %s", module ? module : "",
             function ? function : "", code, msg ? msg : "");
}

typedef struct {
    int kind;
    void *mem;
    SUNMatrix A;
    SUNLinearSolver LS;
} solver;

static void solver_free(solver *s) {
    if (s->mem) {
        if (s->kind == S_ERK) ERKStepFree(&s->mem);
        else if (s->kind == S_ARK) ARKStepFree(&s->mem);
        else CVodeFree(&s->mem);
    }
    if (s->LS) SUNLinSolFree(s->LS);
    if (s->A) SUNMatDestroy(s->A);
    memset(s, 0, sizeof *s);
}

static int sflag_fail(const char *what, int flag, mlpf_error *err) {
    return mlpf_fail(err, MLPF_ENUMERIC, "gradient flow: SUNDIALS %s failed (flag %d)", what, flag);
}

/* Dense linear algebra with the exact Jacobian, for ARKStep and CVODE. */
static int attach_dense(solver *s, ode_ud *u, N_Vector y, SUNContext sc, mlpf_error *err) {
    s->A = SUNDenseMatrix((sunindextype)u->p, (sunindextype)u->p, sc);
    if (!s->A) return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: SUNDenseMatrix(%zu) failed", u->p);
    s->LS = SUNLinSol_Dense(y, s->A, sc);
    if (!s->LS) return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: SUNLinSol_Dense failed");
    int f;
    if (s->kind == S_ARK) {
        if ((f = ARKStepSetLinearSolver(s->mem, s->LS, s->A))) return sflag_fail("ARKStepSetLinearSolver", f, err);
        if ((f = ARKStepSetJacFn(s->mem, jac))) return sflag_fail("ARKStepSetJacFn", f, err);
    } else {
        if ((f = CVodeSetLinearSolver(s->mem, s->LS, s->A))) return sflag_fail("CVodeSetLinearSolver", f, err);
        if ((f = CVodeSetJacFn(s->mem, jac))) return sflag_fail("CVodeSetJacFn", f, err);
    }
    return MLPF_OK;
}

/* The classical RK4 tableau; no embedding: fixed steps. */
static ARKodeButcherTable rk4_table(void) {
    realtype c[4] = {0, 0.5, 0.5, 1};
    realtype A[16] = {0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 1, 0};
    realtype b[4] = {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6};
    return ARKodeButcherTable_Create(4, 4, 0, c, A, b, NULL);
}

/* Create `alg` at (t0, y). atol: vector abstol (scaled with tauinv) or NULL. */
static int solver_make(solver *s, const char *alg, ode_ud *u, double t0, N_Vector y,
                       N_Vector atol, SUNContext sc, mlpf_error *err) {
    const mlpf_train_options *o = u->pb->opt;
    memset(s, 0, sizeof *s);
    int f = 0;
    if (!strcmp(alg, "dopri5") || !strcmp(alg, "verner8") || !strcmp(alg, "rk4")) {
        s->kind = S_ERK;
        s->mem = ERKStepCreate(rhs, t0, y, sc);
        if (!s->mem) return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: ERKStepCreate failed");
        if (!strcmp(alg, "rk4")) {
            ARKodeButcherTable B = rk4_table();
            if (!B) return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: RK4 table");
            f = ERKStepSetTable(s->mem, B);
            ARKodeButcherTable_Free(B);
            if (f) return sflag_fail("ERKStepSetTable(rk4)", f, err);
            if ((f = ERKStepSetFixedStep(s->mem, o->rk4_step))) return sflag_fail("ERKStepSetFixedStep", f, err);
        } else {
            f = ERKStepSetTableNum(s->mem, !strcmp(alg, "dopri5") ? ARKODE_DORMAND_PRINCE_7_4_5
                                                                  : ARKODE_VERNER_8_5_6);
            if (f) return sflag_fail("ERKStepSetTableNum", f, err);
        }
        f = atol ? ERKStepSVtolerances(s->mem, o->reltol, atol)
                 : ERKStepSStolerances(s->mem, o->reltol, o->abstol);
        if (f) return sflag_fail("ERKStep tolerances", f, err);
        ERKStepSetUserData(s->mem, u);
        ERKStepSetErrHandlerFn(s->mem, err_handler, u);
        if (isfinite(o->maxT)) ERKStepSetStopTime(s->mem, o->maxT);
        ERKStepSetMaxNumSteps(s->mem, 0);
    } else if (!strcmp(alg, "kencarp58")) {
        s->kind = S_ARK;
        s->mem = ARKStepCreate(NULL, rhs, t0, y, sc);
        if (!s->mem) return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: ARKStepCreate failed");
        if ((f = ARKStepSetTableNum(s->mem, ARKODE_ARK548L2SA_DIRK_8_4_5, ARKODE_ERK_NONE)))
            return sflag_fail("ARKStepSetTableNum(ARK548L2SA_DIRK_8_4_5)", f, err);
        f = atol ? ARKStepSVtolerances(s->mem, o->reltol, atol)
                 : ARKStepSStolerances(s->mem, o->reltol, o->abstol);
        if (f) return sflag_fail("ARKStep tolerances", f, err);
        ARKStepSetUserData(s->mem, u);
        ARKStepSetErrHandlerFn(s->mem, err_handler, u);
        if (isfinite(o->maxT)) ARKStepSetStopTime(s->mem, o->maxT);
        if ((f = attach_dense(s, u, y, sc, err))) return f;
    } else if (!strcmp(alg, "bdf")) {
        s->kind = S_CV;
        s->mem = CVodeCreate(CV_BDF, sc);
        if (!s->mem) return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: CVodeCreate failed");
        if ((f = CVodeInit(s->mem, rhs, t0, y))) return sflag_fail("CVodeInit", f, err);
        f = atol ? CVodeSVtolerances(s->mem, o->reltol, atol)
                 : CVodeSStolerances(s->mem, o->reltol, o->abstol);
        if (f) return sflag_fail("CVode tolerances", f, err);
        CVodeSetUserData(s->mem, u);
        CVodeSetErrHandlerFn(s->mem, err_handler, u);
        if (isfinite(o->maxT)) CVodeSetStopTime(s->mem, o->maxT);
        if ((f = attach_dense(s, u, y, sc, err))) return f;
    } else {
        return mlpf_fail(err, MLPF_EINVAL, "gradient flow: unknown method \"%s\"", alg);
    }
    return MLPF_OK;
}

static int solver_step(solver *s, double tout, N_Vector y, double *t) {
    if (s->kind == S_ERK) return ERKStepEvolve(s->mem, tout, y, t, ARK_ONE_STEP);
    if (s->kind == S_ARK) return ARKStepEvolve(s->mem, tout, y, t, ARK_ONE_STEP);
    return CVode(s->mem, tout, y, t, CV_ONE_STEP);
}

static int solver_dky(solver *s, double t, N_Vector out) {
    if (s->kind == S_ERK) return ERKStepGetDky(s->mem, t, 0, out);
    if (s->kind == S_ARK) return ARKStepGetDky(s->mem, t, 0, out);
    return CVodeGetDky(s->mem, t, 0, out);
}

static double solver_lasth(solver *s) {
    realtype h = 0;
    if (s->kind == S_ERK) ERKStepGetLastStep(s->mem, &h);
    else if (s->kind == S_ARK) ARKStepGetLastStep(s->mem, &h);
    else CVodeGetLastStep(s->mem, &h);
    return h;
}

/* BDF steps taken before an implicit method that could not step is resumed,
   and how often that may happen. */
#define FALLBACK_STEPS 20
#define MAX_FALLBACKS 10

/* An open-ended flow (maxT = inf) followed by a minimiser hands over to it once it is in the
   basin of a minimum: the Hessian has no negative curvature beyond 1e-4 of its
   largest eigenvalue (a minimum approached along a flat valley shows a little) and one
   Newton step, pseudo-inverse on the flat directions that overparameterised
   minima always have, shrinks the gradient or the loss at least tenfold. There the
   minimiser converges quadratically, and following the ever slower flow into
   the minimum buys nothing (measured on the built-in example: the flow alone
   needs minutes to reach loss 1e-9; flow to the basin then Newton reaches 1e-30
   in about a second). Saddles fail the test, so the flow goes on there. */
static int in_newton_basin(dyn_problem *pb, const double *y, double ly, const double *g, double gnorm,
                           int *basin, mlpf_error *err) {
    size_t p = pb->p;
    *basin = 0;
    double *H = mlpf_malloc(p * p * sizeof *H, err), *v = mlpf_malloc(3 * p * sizeof *v, err);
    if (!H || !v) { free(H); free(v); return MLPF_ENOMEM; }
    double *ev = v + p, *yn = v + 2 * p, loss;
    int st = mlpf_objective_eval(pb->obj, y, &loss, NULL, H, err);
    if (!st && LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', (lapack_int)p, H, (lapack_int)p, ev) == 0) {
        double lmax = fmax(fabs(ev[0]), fabs(ev[p - 1])), tol = 1e-9 * lmax;
        if (lmax > 0 && ev[0] >= -1e-4 * lmax) {
            /* yn = y - sum over eigenvalues above tol of (v_k . g / lambda_k) v_k */
            memcpy(yn, y, p * sizeof *yn);
            for (size_t k = 0; k < p; k++) {
                if (ev[k] <= tol) continue;
                double c = 0;
                for (size_t i = 0; i < p; i++) c += H[i * p + k] * g[i];
                c /= ev[k];
                for (size_t i = 0; i < p; i++) yn[i] -= c * H[i * p + k];
            }
            st = mlpf_objective_eval(pb->obj, yn, &loss, v, NULL, err);
            if (st == MLPF_ENONFINITE) st = MLPF_OK;
            else if (!st && isfinite(loss) && (dyn_gnorm(pb, v) <= 0.1 * gnorm || loss <= 0.1 * ly)) *basin = 1;
        }
    }
    free(H);
    free(v);
    return st;
}

int dyn_flow(dyn_problem *pb, const char *alg, const double *y0, dyn_traj *tr,
             dyn_outcome *out, mlpf_error *err) {
    return dyn_flow_ex(pb, alg, y0, tr, out, 0, err);
}

int dyn_flow_ex(dyn_problem *pb, const char *alg, const double *y0, dyn_traj *tr,
                dyn_outcome *out, int force_fallback, mlpf_error *err) {
    const mlpf_train_options *o = pb->opt;
    size_t p = pb->p;
    double wall0 = mlpf_now();
    int st = MLPF_OK;
    SUNContext sc = NULL;
    N_Vector y = NULL, dky = NULL, atol = NULL;
    solver main, bdf;
    memset(&main, 0, sizeof main);
    memset(&bdf, 0, sizeof bdf);
    ode_ud u;
    memset(&u, 0, sizeof u);
    u.pb = pb;
    u.p = p;
    int implicit = !strcmp(alg, "kencarp58");

    if (SUNContext_Create(NULL, &sc) || !sc)
        return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: SUNContext_Create failed");
    u.cy = mlpf_malloc(p * sizeof(double), err);
    u.cg = mlpf_malloc(p * sizeof(double), err);
    if (implicit || !strcmp(alg, "bdf")) u.hess = mlpf_malloc(p * p * sizeof(double), err);
    y = N_VNew_Serial((sunindextype)p, sc);
    dky = N_VNew_Serial((sunindextype)p, sc);
    if (!u.cy || !u.cg || (implicit && !u.hess) || (!strcmp(alg, "bdf") && !u.hess) || !y || !dky) {
        st = mlpf_fail(err, MLPF_ENOMEM, "gradient flow: out of memory (P = %zu)", p);
        goto done;
    }
    if (pb->scale) {
        /* error control in x: |dx_i| = scale_i |dy_i| */
        atol = N_VNew_Serial((sunindextype)p, sc);
        if (!atol) {
            st = mlpf_fail(err, MLPF_ENOMEM, "gradient flow: out of memory");
            goto done;
        }
        double *a = N_VGetArrayPointer(atol);
        for (size_t i = 0; i < p; i++) a[i] = o->abstol / pb->scale[i];
    }
    double *yv = N_VGetArrayPointer(y);
    memcpy(yv, y0, p * sizeof *yv);

    /* the start: gradient, best point */
    st = mlpf_objective_eval(pb->obj, yv, &u.closs, u.cg, NULL, err);
    if (st) goto done;
    memcpy(u.cy, yv, p * sizeof *yv);
    u.cvalid = 1;
    memcpy(out->ybest, yv, p * sizeof *yv);
    out->loss_best = u.closs;
    double gnorm = dyn_gnorm(pb, u.cg);

    st = solver_make(&main, alg, &u, 0.0, y, atol, sc, err);
    if (st) goto done;
    solver *cur = &main;
    int fallbacks = 0, bdf_left = 0;
    long steps = 0, since_best = 0;
    /* In ONE_STEP mode tout only sets the scale of the first step estimate,
       whose lower bound is 100 eps |tout|: an open-ended flow uses 1e4. */
    double t = 0, tout = isfinite(o->maxT) ? o->maxT : 1e4;
    const char *why = NULL;
    double next_basin_check = 0; /* flow time of the next basin test (doubling) */
    /* only an open-ended flow that a minimiser will finish hands over early */
    int handover = !isfinite(o->maxT) && strcmp(o->optim_solver, "none") != 0;

    if (u.closs <= o->minloss) why = "minloss";
    else if (gnorm <= o->min_gnorm) why = "min_gnorm";
    while (!why) {
        if (dyn_interrupted(pb)) { why = "interrupt"; break; }
        if (mlpf_now() - wall0 >= o->maxtime_ode) { why = "maxtime"; break; }
        if (steps >= o->maxiterations_ode) { why = "maxiterations"; break; }

        double tprev = t;
        int flag = (force_fallback && implicit && steps == 0 && cur == &main)
                       ? -1 /* pretend the implicit method could not leave t = 0 */
                       : solver_step(cur, isfinite(o->maxT) ? tout : fmax(tout, 2 * t), y, &t);
        if (u.cb_status) {
            st = mlpf_fail(err, u.cb_status, "gradient flow: %s", u.cb_err.msg);
            goto done;
        }
        if (flag < 0) {
            /* the implicit method failed: BDF carries the flow for a few
               steps from where we are, then the method resumes (as the
               reference system does when the stiff solver cannot leave 0) */
            if (cur == &main && implicit && fallbacks < MAX_FALLBACKS) {
                fallbacks++;
                t = tprev;
                memcpy(yv, u.cy, p * sizeof *yv); /* the last accepted point */
                solver_free(&bdf);
                st = solver_make(&bdf, "bdf", &u, t, y, atol, sc, err);
                if (st) goto done;
                cur = &bdf;
                bdf_left = FALLBACK_STEPS;
                continue;
            }
            why = "solver_failure";
            break;
        }
        steps++;
        /* loss and gradient at the new point (cached for the next stage) */
        st = mlpf_objective_eval(pb->obj, yv, &u.closs, u.cg, NULL, err);
        if (st == MLPF_ENONFINITE) { why = "solver_failure"; st = MLPF_OK; break; }
        if (st) goto done;
        if (mlpf_first_nonfinite(u.cg, p) || !isfinite(u.closs)) { why = "solver_failure"; break; }
        memcpy(u.cy, yv, p * sizeof *yv);
        gnorm = dyn_gnorm(pb, u.cg);

        /* trajectory samples inside (tprev, t] from the dense output */
        double tq;
        while (!isnan(tq = dyn_traj_due(tr, t))) {
            if (tq >= t) {
                st = dyn_traj_add(tr, pb, t, yv, u.closs, err);
            } else {
                if (solver_dky(cur, tq, dky) < 0) memcpy(N_VGetArrayPointer(dky), yv, p * sizeof *yv);
                st = dyn_traj_add(tr, pb, tq, N_VGetArrayPointer(dky), NAN, err);
            }
            if (st) goto done;
        }

        if (u.closs < out->loss_best) {
            out->loss_best = u.closs;
            memcpy(out->ybest, yv, p * sizeof *yv);
            since_best = 0;
        } else {
            since_best++;
        }
        dyn_progress(pb, "ode", t, u.closs, gnorm, solver_lasth(cur), steps);

        if (u.closs <= o->minloss) why = "minloss";
        else if (gnorm <= o->min_gnorm) why = "min_gnorm";
        else if (isfinite(o->maxT) && t >= o->maxT * (1 - 1e-14)) why = "maxT";
        else if (since_best >= o->patience) why = "patience";
        if (!why && handover && t >= next_basin_check) {
            int basin;
            next_basin_check = 2 * t;
            st = in_newton_basin(pb, yv, u.closs, u.cg, gnorm, &basin, err);
            if (st) goto done;
            if (basin) why = "basin";
        }

        if (!why && cur == &bdf && --bdf_left <= 0) {
            /* resume the requested method where BDF got to */
            int f = ARKStepReset(main.mem, t, y);
            if (f < 0) { why = "solver_failure"; break; }
            /* a reset forgets the stop time */
            if (isfinite(o->maxT)) ARKStepSetStopTime(main.mem, o->maxT);
            cur = &main;
        }
    }
    out->stopped_by[0] = '\0';
    snprintf(out->stopped_by, sizeof out->stopped_by, "%s", why);
    out->iterations = steps;
    out->t = t;
    /* the end of the flow closes the trajectory */
    st = dyn_traj_add(tr, pb, t, yv, u.closs, err);

done:
    solver_free(&main);
    solver_free(&bdf);
    N_VDestroy(y);
    N_VDestroy(dky);
    if (atol) N_VDestroy(atol);
    free(u.cy);
    free(u.cg);
    free(u.hess);
    if (sc) SUNContext_Free(&sc);
    out->wall = mlpf_now() - wall0;
    return st;
}

/* ode.c - gradient flow dy/dt = -grad L(y) with SUNDIALS 6.4 (ARKODE, CVODE).

   We flow on the MEAN loss L. The reference system (MLPGradientFlow.jl) flows on
   the summed loss N * L, so its flow time t_ref = t / N; tauinv = N (scalar)
   reproduces its trajectories in its time units. Per-parameter tauinv arrives
   here already folded into the variables y (see dynamics.h), so the Jacobian
   -diag(tauinv) H of x is exactly -H_y of y.

   Every method is driven one step at a time (ONE_STEP mode) so that stops
   (wall time, patience, interrupt, loss, gradient) are checked after each
   solver step. With BDF and the explicit methods each step ends at the next
   trajectory sample time at the latest (the solver's stop time), so
   recorded samples are step ends, points of the flow within the solver
   tolerance, not values of an interpolant between long steps (the
   fixed-step rk4 too: a step cut to a sample time is a shorter RK4 step).
   kencarp58 (ARKStep) keeps its own steps: its steps cut to a stop time
   lost the error control (test_dynamics' linear net at tolerance 1e-10
   went off by 7e-5; remeasured with this code), its dense output between
   long implicit steps raised the recorded loss up to 1.8e6x and its
   Lagrange interpolant was 30x less accurate than the Hermite one
   (bench/long_flows.py). So it records the end of the first step that
   reaches or passes each sample time, at that step's true t: every
   recorded point is an accepted solver state, the times follow the log
   grid at the resolution of the steps.

   Gradient flow never raises the loss: a step that ends above the last
   accepted loss by more than its rounding is undone and taken again with
   a bounded step (see GUARD_TRIES), so the recorded loss is monotone at
   kinks and past long steps too; the result counts those steps.

   When the method cannot step (a solver failure) the flow goes on with BDF
   from the last accepted point, for good, and says so in the outcome's alg
   ("kencarp58>bdf(failure)"); with the default method, a flow whose time
   no longer advances (STALL_STEPS steps without doubling: an explicit
   method held back by stiffness, an implicit one by its error test in a
   channel or at a kink) switches the same way ("dopri5>bdf(stall)").

   Kinks (ReLU-type units, ode_kink.c): where pre-activations sit at a kink
   the vector field jumps. A flow that only crosses the kink goes on; one
   that slides along it (Filippov sliding: the field points into the kink
   from both sides) makes every method chatter across it with steps that
   shrink to the tolerance (bench/long_flows.py: BDF 160 000 steps in 5 s
   to t = 3.6e3 on a ReLU net of 4 units and 200 samples), and at a unit
   whose weights reach 0 the solvers fail. Both end the flow with
   "nonsmooth" and the units named (see KINK_WINDOW): which Filippov
   solution to follow there is a modelling choice (the unit dies, or slides
   along a data point's hyperplane), not one to make silently, and the
   minimiser is skipped, its quadratic model being void at a kink. */
#include "dynamics/dynamics.h"

#include <float.h>
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

#include "dynamics/ode_kink.h"
#include "dynamics/ode_krylov.h"

enum { S_ERK, S_ARK, S_CV };

/* A solver in use and what its callbacks need. */
typedef struct {
    dyn_problem *pb;       /* first: ode_krylov.c's Jacobian-times-vector reads it */
    size_t p;
    /* the gradient at the end of the last step: explicit stages and the
       ESDIRK's explicit first stage ask for exactly this point again */
    double *cy, *cg, closs;
    int cvalid;
    double *hess;          /* (p, p) */
    dyn_kinks *watch;      /* the kink watch while it counts flips, else NULL */
    long kink_evals;       /* evaluations whose point put a kinked pair on a new side */
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
    if (u->watch) { /* stages and Newton iterates chatter across a kink too */
        long flips;
        dyn_kinks_check(u->watch, y, &flips, NULL);
        if (flips) u->kink_evals++;
    }
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
        if ((f = dyn_ode_use_krylov(u->p) ? dyn_ode_attach_krylov(s->mem, 0, y, sc, &s->LS, err)
                                          : attach_dense(s, u, y, sc, err))) return f;
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
        if ((f = dyn_ode_use_krylov(u->p) ? dyn_ode_attach_krylov(s->mem, 1, y, sc, &s->LS, err)
                                          : attach_dense(s, u, y, sc, err))) return f;
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

/* Steps in which flow time must at least double, else the default method
   is stalled and BDF takes over. Measured (bench/long_flows.py): BDF needs
   ~200 steps per decade of flow time in channels and ~100 into minima;
   kencarp58 in an erf channel took 13 000 steps from t = 1e6 to 2e7 and
   dopri5 on a stiff softplus flow 11 000 steps to reach t = 4e3. */
#define STALL_STEPS 2000

/* A channel to infinity (Martinelli et al. 2025) at the basin checks (one
   per doubling of flow time): the Hessian has no negative curvature beyond
   1e-4 of its largest eigenvalue, the largest |y_i| grew by at least
   CHANNEL_GROWTH at each of CHANNEL_CHECKS checks in a row, and the loss
   fell by less than CHANNEL_LOSS_DROP over the last CHANNEL_CHECKS checks
   (a sliding window: the growth often begins while the loss still falls
   fast, README problem seed 10: 1.4e-5 -> 1.2e-5 over the first checks,
   then 1.0364e-5 for ten decades of flow time; measured from where the
   growth began, that fall hid the channel and BDF ground on for 77 000
   steps, see CHANNEL_WHY). Measured: erf teacher / student of 5 units,
   the weights grow 5-13 % per doubling while the loss falls 2 % over 6
   doublings; flows into minima (the README problem) grow by < 2 % per
   doubling, and only while the loss still halves. Four checks took a slow
   saddle passage (softplus 2 / 2 units, loss 6e-3, gnorm 3e-4 over t = 25
   ... 400) for a channel; eight do not.

   CHANNEL_WHY: why BDF needs 10^4-10^5 steps in a channel at large flow
   time (CVODE's counters, README problem, N = 10 000, seeds 9 and 10):
   almost every Jacobian evaluation follows a nonlinear convergence failure
   (seed 10 to t = 3.9e13: 30 000 steps, 18 800 Jacobians, 18 807
   convergence failures, 86 error-test failures), each failure cuts the
   step 4x and the order drops to 1, so h / t stays at 1e-4 ... 1e-6 and
   the steps per decade grow with t; it is not the error test. The likely
   reason: with h ~ 1e9 the implicit step is a proximal step, min |y -
   y_pred|^2 / (2 gamma) + L(y), in a curved valley (Hessian eigenvalues
   from 1e-13 to 1.5e3 at seed 10's t = 5e12), and three Newton
   iterations from the straight predictor do not converge there, as plain
   Newton steps do not in the minimiser (newtontr.c). Looser Newton tests make it worse (nonlinear
   convergence coefficient 0.3 / 1.0: 2x / 3x the steps to t = 1e13),
   six Newton iterations save 10 %; a new Jacobian at every step saves
   40-50 % (see NLS_WINDOW: the reused Hessian is what the iteration lacks
   there). And the flow is judged before that regime where it can be: the
   channel test above, the basin test at least every BASIN_CHECK_STEPS
   steps. */
#define CHANNEL_CHECKS 8
#define CHANNEL_GROWTH 5e-3
#define CHANNEL_LOSS_DROP 0.1

/* An open-ended flow (maxT = inf) followed by a minimiser hands over to it
   once it is in the basin of a minimum: no eigenvalue of the Hessian below
   -BASIN_NEGATIVE times the largest, and either one Newton step
   (pseudo-inverse on the flat directions) shrinks the gradient or the loss
   tenfold, or the flow's loss fell by BASIN_LOSS_FALL over the last
   doubling of flow time (flow_basin_check). Minima of over-complete
   students are degenerate and the flow approaches them along curved
   valleys that show a little negative curvature for decades of flow time
   (README problem: -1e-4 of the largest eigenvalue at t = 1e3, -1e-5 at
   1e4, -1e-7 ... -1e-8 at 1e6) and where a straight Newton step climbs the
   valley's walls: with the Newton test alone the hand-over came at t ~
   1e10-1e11 after ~2 000 BDF steps. The minimiser (Newton TR with its
   valley corrector, newtontr.c) finishes such a valley in a few hundred
   iterations. In a channel the loss falls by a few % over many doublings,
   so the loss test keeps the flow going there; saddles with more negative
   curvature fail the test. *psd reports no negative curvature beyond 1e-4
   of the largest eigenvalue (the channel watch's test). */
#define BASIN_NEGATIVE 1e-6
#define BASIN_LOSS_FALL 0.5
/* The basin test runs at every doubling of flow time and at least every
   BASIN_CHECK_STEPS steps: BDF can stall in time near a channel (README
   problem, seed 10: h / t ~ 1e-5 at t ~ 1e14, 56 000 steps while t grew
   by 7 %, loss constant to 6 digits), where doublings never come. */
#define BASIN_CHECK_STEPS 2000

static int in_newton_basin(dyn_problem *pb, const double *y, double ly, const double *g, double gnorm,
                           int *basin, int *newton, int *psd, mlpf_error *err) {
    size_t p = pb->p;
    *basin = *newton = *psd = 0;
    double *H = mlpf_malloc(p * p * sizeof *H, err), *v = mlpf_malloc(3 * p * sizeof *v, err);
    if (!H || !v) { free(H); free(v); return MLPF_ENOMEM; }
    double *ev = v + p, *yn = v + 2 * p, loss;
    int st = mlpf_objective_eval(pb->obj, y, &loss, NULL, H, err);
    if (!st && LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', (lapack_int)p, H, (lapack_int)p, ev) == 0) {
        double lmax = fmax(fabs(ev[0]), fabs(ev[p - 1])), tol = 1e-9 * lmax;
        *psd = lmax > 0 && ev[0] >= -1e-4 * lmax;
        *basin = lmax > 0 && ev[0] >= -BASIN_NEGATIVE * lmax;
        if (*basin) {
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
            else if (!st && isfinite(loss) && (dyn_gnorm(pb, v) <= 0.1 * gnorm || loss <= 0.1 * ly)) *newton = 1;
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

/* Everything one flow holds: the SUNDIALS context, the state y (p) and the
   dense-output buffer dky (p), the per-component abstol (p, with tauinv),
   the requested method and the BDF that takes over when it cannot go on. */
typedef struct {
    SUNContext sc;
    N_Vector y, dky, atol;
    solver main, bdf;
    solver *cur;
    ode_ud u;
    const char *alg;        /* the requested method */
    int step_ends;          /* kencarp58: keeps its steps, records step ends */
    const char *switched;   /* why BDF took over ("failure", "stall"), or NULL */
    double t, tprev;        /* flow time now and before the last step */
    double stall_t;         /* flow time at the start of the stall window */
    long stall_it;          /* step count there */
    dyn_kinks *kinks;       /* the kink watch, NULL for smooth networks */
    double *yprev;          /* (p) the previous accepted state, with a kink watch */
    double kink_t;          /* flow time at the start of the kink window */
    long kink_it;           /* step count there */
    int kink_watching;      /* the last window collapsed: this one counts flips */
    long kink_flip_steps;   /* steps of this window with flips */
    int kink_windows;       /* windows in a row that chattered */
    double *yacc, *gacc;    /* (p each) the last accepted state and its gradient */
    double facc;            /* ... and its loss */
    int guard_tries;        /* retakes of the current step (see GUARD_TRIES) */
    int capped;             /* the solver runs with a maximum step */
    long guarded;           /* steps retaken because the loss rose */
    long nls_it, nls_fails; /* BDF: step count and convergence failures at the window's start */
    int fresh_jac;          /* BDF: a new Jacobian at every step (see NLS_WINDOW) */
} flow_state;

/* The channel watch over the basin checks (see CHANNEL_CHECKS). */
typedef struct {
    double ymax;            /* largest |y_i| at the last check */
    double loss[CHANNEL_CHECKS]; /* losses at the last checks (a ring) */
    long checks;            /* checks so far */
    double lossprev;        /* loss at the last check (the basin's loss test) */
    int growing;            /* checks in a row with PSD Hessian and growing weights */
} channel_watch;

static void flow_free(flow_state *fs) {
    dyn_kinks_free(fs->kinks);
    free(fs->yprev);
    free(fs->yacc);
    free(fs->gacc);
    solver_free(&fs->main);
    solver_free(&fs->bdf);
    if (fs->y) N_VDestroy(fs->y);
    if (fs->dky) N_VDestroy(fs->dky);
    if (fs->atol) N_VDestroy(fs->atol);
    free(fs->u.cy);
    free(fs->u.cg);
    free(fs->u.hess);
    if (fs->sc) SUNContext_Free(&fs->sc);
}

static int flow_alloc(flow_state *fs, dyn_problem *pb, const char *alg, mlpf_error *err) {
    size_t p = pb->p;
    memset(fs, 0, sizeof *fs);
    fs->u.pb = pb;
    fs->u.p = p;
    fs->alg = alg;
    fs->step_ends = !strcmp(alg, "kencarp58");
    if (SUNContext_Create(NULL, &fs->sc) || !fs->sc) {
        fs->sc = NULL;
        return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: SUNContext_Create failed");
    }
    /* every method may hand over to BDF, which needs the dense Hessian unless it
       runs with the Krylov solver (Hessian-vector products) at this size */
    int needs_hess = !dyn_ode_use_krylov(p);
    fs->u.cy = mlpf_malloc(p * sizeof(double), err);
    fs->u.cg = mlpf_malloc(p * sizeof(double), err);
    if (needs_hess) fs->u.hess = mlpf_malloc(p * p * sizeof(double), err);
    fs->y = N_VNew_Serial((sunindextype)p, fs->sc);
    fs->dky = N_VNew_Serial((sunindextype)p, fs->sc);
    if (pb->scale) fs->atol = N_VNew_Serial((sunindextype)p, fs->sc);
    if (!fs->u.cy || !fs->u.cg || (needs_hess && !fs->u.hess) || !fs->y || !fs->dky ||
        (pb->scale && !fs->atol))
        return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: out of memory (P = %zu)", p);
    int st = dyn_kinks_create(pb, &fs->kinks, err);
    if (st) return st;
    if (fs->kinks && !(fs->yprev = mlpf_malloc(p * sizeof(double), err))) return MLPF_ENOMEM;
    fs->yacc = mlpf_malloc(p * sizeof(double), err);
    fs->gacc = mlpf_malloc(p * sizeof(double), err);
    if (!fs->yacc || !fs->gacc) return MLPF_ENOMEM;
    if (pb->scale) {
        /* error control in x: |dx_i| = scale_i |dy_i| */
        double *a = N_VGetArrayPointer(fs->atol);
        for (size_t i = 0; i < p; i++) a[i] = pb->opt->abstol / pb->scale[i];
    }
    return MLPF_OK;
}

/* Loss and gradient at the current state into the cache u (the next
   stage asks for this point again). ENONFINITE and non-finite values are
   reported as *bad = 1, not as errors: the flow ended in a solver failure. */
static int flow_eval(flow_state *fs, int *bad, mlpf_error *err) {
    ode_ud *u = &fs->u;
    double *yv = N_VGetArrayPointer(fs->y);
    *bad = 0;
    int st = mlpf_objective_eval(u->pb->obj, yv, &u->closs, u->cg, NULL, err);
    if (st == MLPF_ENONFINITE) {
        *bad = 1;
        return MLPF_OK;
    }
    if (st) return st;
    if (mlpf_first_nonfinite(u->cg, u->p) || !isfinite(u->closs)) *bad = 1;
    memcpy(u->cy, yv, u->p * sizeof *yv);
    u->cvalid = 1;
    return MLPF_OK;
}

/* BDF takes over the flow from the last accepted point (time t, state in
   the cache u), for good; why ("failure", "stall") is reported in the
   outcome. Returns 0 in *ok when the flow already runs BDF. */
static int flow_switch(flow_state *fs, double t, const char *why, int *ok, mlpf_error *err) {
    *ok = 0;
    if (fs->switched || !strcmp(fs->alg, "bdf")) return MLPF_OK;
    fs->t = t;
    memcpy(N_VGetArrayPointer(fs->y), fs->u.cy, fs->u.p * sizeof(double));
    int st = solver_make(&fs->bdf, "bdf", &fs->u, fs->t, fs->y, fs->atol, fs->sc, err);
    if (st) return st;
    fs->cur = &fs->bdf;
    fs->switched = why;
    *ok = 1;
    return MLPF_OK;
}

/* The stall test after an accepted step (default method only): flow time
   must double every STALL_STEPS steps. */
static int flow_stalled(flow_state *fs, long it) {
    if (it - fs->stall_it < STALL_STEPS) return 0;
    int stalled = fs->t < 2 * fs->stall_t;
    fs->stall_t = fs->t;
    fs->stall_it = it;
    return stalled;
}

/* The next step ends at the next trajectory sample time at the latest, so
   samples are step ends (see the top of the file). */
static void flow_stop_at_sample(flow_state *fs, const dyn_traj *tr) {
    double ts = tr->next, maxT = fs->u.pb->opt->maxT;
    if (fs->step_ends && fs->cur == &fs->main) return;
    if (!isfinite(ts) || ts <= fs->t) ts = maxT;
    else if (ts > maxT) ts = maxT;
    if (!isfinite(ts)) return;
    solver *s = fs->cur;
    if (s->kind == S_ERK) ERKStepSetStopTime(s->mem, ts);
    else if (s->kind == S_ARK) ARKStepSetStopTime(s->mem, ts);
    else CVodeSetStopTime(s->mem, ts);
}

/* Trajectory samples inside (tprev, t]: the step end itself for the methods
   that keep their steps (one sample at the true t, however many grid times
   the step passed), else from the dense output (BDF and the explicit
   methods stop at sample times, so tq == t but for the first step). The
   limits are checked before every interpolated sample: with many samples
   per step the loop evaluates the objective many times. On a limit the
   remaining samples are skipped; the stop rule after the step reports it. */
static int flow_record(flow_state *fs, dyn_traj *tr, const dyn_limits *lim,
                       mlpf_error *err) {
    dyn_problem *pb = fs->u.pb;
    double *yv = N_VGetArrayPointer(fs->y), t = fs->t, tq;
    if (fs->step_ends && fs->cur == &fs->main)
        return isnan(dyn_traj_due(tr, t)) ? MLPF_OK : dyn_traj_add(tr, pb, t, yv, fs->u.closs, err);
    while (!isnan(tq = dyn_traj_due(tr, t))) {
        int st;
        if (tq >= t) {
            st = dyn_traj_add(tr, pb, t, yv, fs->u.closs, err);
        } else {
            if (dyn_stop_limits(pb, lim, -1) != DYN_GO) break;
            double *d = N_VGetArrayPointer(fs->dky);
            if (solver_dky(fs->cur, tq, fs->dky) < 0) memcpy(d, yv, fs->u.p * sizeof *yv);
            st = dyn_traj_add(tr, pb, tq, d, NAN, err);
        }
        if (st) return st;
    }
    return MLPF_OK;
}

/* One solver step (or the forced failure of the tests); *why is set when
   the flow cannot go on. Returns -1 when BDF took over (no new point). */
static int flow_step(flow_state *fs, const dyn_traj *tr, double tout, int force_fail,
                     dyn_stop *why, mlpf_error *err) {
    double tprev = fs->tprev = fs->t;
    const mlpf_train_options *o = fs->u.pb->opt;
    flow_stop_at_sample(fs, tr);
    int flag = force_fail ? -1 /* pretend the method could not leave t = 0 */
                          : solver_step(fs->cur, isfinite(o->maxT) ? tout : fmax(tout, 2 * fs->t),
                                        fs->y, &fs->t);
    if (fs->u.cb_status)
        return mlpf_fail(err, fs->u.cb_status, "gradient flow: %s", fs->u.cb_err.msg);
    if (flag >= 0) return MLPF_OK;
    int ok;
    int st = flow_switch(fs, tprev, "failure", &ok, err);
    if (st) return st;
    *why = ok ? DYN_GO : DYN_SOLVER_FAILURE;
    return ok ? -1 : MLPF_OK;
}

/* The basin hand-over and the channel watch, at one check: *why becomes
   DYN_BASIN when the flow is in a minimum's basin and its weights did not
   grow since the last check, DYN_CHANNEL when it drifts along a channel. */
static int flow_basin_check(dyn_problem *pb, const double *y, const dyn_state *s,
                            const double *g, channel_watch *cw, dyn_stop *why, mlpf_error *err) {
    int basin, newton, psd;
    int st = in_newton_basin(pb, y, s->f, g, s->gnorm, &basin, &newton, &psd, err);
    if (st) return st;
    int fell = cw->lossprev > 0 && s->f <= BASIN_LOSS_FALL * cw->lossprev;
    cw->lossprev = s->f;
    double ymax = 0;
    for (size_t i = 0; i < pb->p; i++) ymax = fmax(ymax, fabs(y[i]));
    int grew = cw->ymax > 0 && ymax >= cw->ymax * (1 + CHANNEL_GROWTH);
    cw->ymax = ymax;
    cw->growing = psd && grew ? cw->growing + 1 : 0;
    /* the loss CHANNEL_CHECKS checks ago sits where this one goes: the
       window slides, so a fast fall while the growth began (README
       problem, seed 10: 1.4e-5 -> 1.2e-5, then 1.0364e-5 for decades)
       does not hide the channel that follows */
    int slot = (int)(cw->checks % CHANNEL_CHECKS), full = cw->checks >= CHANNEL_CHECKS;
    double then = cw->loss[slot];
    cw->loss[slot] = s->f;
    cw->checks++;
    if (full && cw->growing >= CHANNEL_CHECKS && s->f >= (1 - CHANNEL_LOSS_DROP) * then)
        *why = DYN_CHANNEL;
    else if (basin && !grew && (newton || fell))
        *why = DYN_BASIN;
    return MLPF_OK;
}

/* The kink watch runs in windows of KINK_WINDOW steps. A window in which
   flow time grew by less than KINK_GROWTH has collapsed steps; the next
   window then checks the kinked units' pre-activations at every right-hand
   side evaluation and step end (BDF's step ends stay on one side of the
   kink, its Newton iterates cross it), and KINK_WINDOWS windows in a row
   that stay collapsed with at least KINK_FLIP_STEPS steps that saw pairs
   at a kink change side stop the flow ("nonsmooth"). Measured
   (bench/long_flows.py, slide / cross / relu rows): sliding flows take
   steps of h / t ~ 3e-6 and flip at nearly every step; flows that cross
   kinks take 100-300 steps per decade of flow time and flip once per
   crossing; short slides that end by themselves (N = 20, seed 0: ~1 000
   slow steps) pass. An explicit method held back by stiffness can collapse
   too, but flips no kink at every step. Costs one forward pass per
   evaluation inside collapsed windows only. */
#define KINK_WINDOW 500
#define KINK_GROWTH 5e-2
#define KINK_FLIP_STEPS 50
#define KINK_WINDOWS 4

/* The kink watch after accepted step `it` at state y (p). */
static int flow_kink_watch(flow_state *fs, const double *y, long it, dyn_stop *why,
                           mlpf_error *err) {
    long flips = 0;
    int st;
    if (fs->kink_watching) {
        if ((st = dyn_kinks_check(fs->kinks, y, &flips, err))) return st;
        if (flips || fs->u.kink_evals) fs->kink_flip_steps++;
        fs->u.kink_evals = 0;
    }
    if (it - fs->kink_it < KINK_WINDOW) return MLPF_OK;
    int collapsed = fs->t < (1 + KINK_GROWTH) * fs->kink_t;
    int chatter = fs->kink_watching && collapsed && fs->kink_flip_steps >= KINK_FLIP_STEPS;
    fs->kink_windows = chatter ? fs->kink_windows + 1 : 0;
    if (fs->kink_windows >= KINK_WINDOWS) {
        *why = DYN_NONSMOOTH;
        return MLPF_OK;
    }
    fs->kink_watching = collapsed;
    fs->u.watch = collapsed ? fs->kinks : NULL;
    fs->u.kink_evals = 0;
    fs->kink_flip_steps = 0;
    fs->kink_t = fs->t;
    fs->kink_it = it;
    dyn_kinks_reset(fs->kinks);
    return collapsed ? dyn_kinks_check(fs->kinks, y, &flips, err) : MLPF_OK;
}

/* A flow that could not go on (no method left) at a kink: its last two
   accepted states (yprev, then the cache) put pairs on both sides of a
   kink, or a unit sits at its kink as a whole (its weights went to 0), or
   the window before saw flips. Then *why becomes DYN_NONSMOOTH. */
static int flow_kink_failure(flow_state *fs, dyn_stop *why, mlpf_error *err) {
    long flips = 0, now = 0;
    if (fs->kink_watching && fs->kink_flip_steps > 0) {
        *why = DYN_NONSMOOTH;
        return MLPF_OK;
    }
    dyn_kinks_reset(fs->kinks);
    int st = dyn_kinks_check(fs->kinks, fs->yprev, &flips, err);
    if (!st) st = dyn_kinks_check(fs->kinks, fs->u.cy, &now, err);
    if (!st && (now > 0 || dyn_kinks_whole(fs->kinks) > 0)) *why = DYN_NONSMOOTH;
    return st;
}

/* BDF's Jacobian policy. CVODE keeps a Jacobian (the Hessian) for up to 51
   steps and its iteration matrix for 20; near channels and in the curved
   valleys around degenerate minima almost every step then fails to
   converge once (see CHANNEL_WHY), is cut 4x and restarts at order 1. A
   window of NLS_WINDOW steps with at least NLS_FAIL_ON convergence
   failures switches to a new Jacobian and iteration matrix at every step;
   a window with at most NLS_FAIL_OFF switches back (a Hessian costs 3x a
   gradient at P = 15, N = 1e4, and more at larger P). Measured with a new
   Jacobian at every step throughout (bench/README.md): README problem seed
   9, 14 014 -> 8 985 BDF steps (20 s -> 8 s with the minimiser), the erf
   channel to 1e12 3 257 -> 1 364 steps, but cheap smooth flows 1.2-3x
   slower (nearmin 0.027 -> 0.087 s at the same step count): hence the
   switch. Not for networks with kinks: there the failures come from the
   kinks, and fresh Jacobians across them cost steps (a ReLU flow that
   crosses kinks: 2 878 -> 4 983 steps). */
#define NLS_WINDOW 100
#define NLS_FAIL_ON 20
#define NLS_FAIL_OFF 2

static void flow_jacobian_policy(flow_state *fs, long it) {
    solver *sv = fs->cur;
    if (sv->kind != S_CV || !fs->u.hess || fs->kinks || it - fs->nls_it < NLS_WINDOW) return;
    long fails = 0;
    CVodeGetNumNonlinSolvConvFails(sv->mem, &fails);
    long d = fails >= fs->nls_fails ? fails - fs->nls_fails : fails; /* a restart zeroes it */
    fs->nls_it = it;
    fs->nls_fails = fails;
    int want = fs->fresh_jac ? d > NLS_FAIL_OFF : d >= NLS_FAIL_ON;
    if (want == fs->fresh_jac) return;
    fs->fresh_jac = want;
    CVodeSetLSetupFrequency(sv->mem, want ? 1 : 0); /* 0: CVODE's defaults */
    CVodeSetJacEvalFrequency(sv->mem, want ? 1 : 0);
}

/* The step guard: gradient flow never raises the loss, so a step whose end
   has a loss above the last accepted one by more than its rounding is
   taken again from that point with the solver's step bounded by a quarter
   of the rejected one, up to GUARD_TRIES times (then the rise is kept);
   the bound is lifted once a step is accepted. Each retake restarts the
   method (order 1 for BDF). */
#define GUARD_TRIES 6

/* 1 when the loss f at the state y (the solver's) rose above the last
   accepted loss by more than the rounding of both: 1024 eps relative, the
   residuals' rounding (~eps sqrt(L) for O(1) targets) and the objective's
   own bounds at both points (exact Gaussian data: a difference of O(1)
   terms that grows like |a|^2 eps), asked for only when the cheap test
   fails. */
static int flow_rose(flow_state *fs, double f, int *rose, mlpf_error *err) {
    double noise = DYN_LOSS_NOISE * fabs(fs->facc) + 8 * DBL_EPSILON * sqrt(fabs(fs->facc));
    *rose = f > fs->facc + noise;
    if (!*rose) return MLPF_OK;
    double e0, e1;
    const mlpf_objective *obj = fs->u.pb->obj;
    int st = mlpf_objective_loss_error(obj, fs->yacc, &e0, err);
    if (!st) st = mlpf_objective_loss_error(obj, N_VGetArrayPointer(fs->y), &e1, err);
    if (st) return st;
    *rose = f > fs->facc + noise + (isfinite(e0) ? e0 : 0) + (isfinite(e1) ? e1 : 0);
    return MLPF_OK;
}

static int solver_restart(solver *s, double t, N_Vector y, double hmax) {
    if (s->kind == S_ERK) return ERKStepReInit(s->mem, rhs, t, y) || ERKStepSetMaxStep(s->mem, hmax);
    if (s->kind == S_ARK) return ARKStepReInit(s->mem, NULL, rhs, t, y) || ARKStepSetMaxStep(s->mem, hmax);
    return CVodeReInit(s->mem, t, y) || CVodeSetMaxStep(s->mem, hmax);
}

static void solver_uncap(solver *s) {
    if (s->kind == S_ERK) ERKStepSetMaxStep(s->mem, 0.0);
    else if (s->kind == S_ARK) ARKStepSetMaxStep(s->mem, 0.0);
    else CVodeSetMaxStep(s->mem, 0.0);
}

/* After an accepted step with loss f: *undone = 1 when the step was undone
   (the state is the last accepted one again, the solver restarted there
   with a bounded step), 0 when it stands. */
static int flow_guard(flow_state *fs, double f, int *undone, mlpf_error *err) {
    *undone = 0;
    int fixed = !strcmp(fs->alg, "rk4") && fs->cur == &fs->main, rose = 0;
    if (!fixed && fs->guard_tries < GUARD_TRIES) {
        int st = flow_rose(fs, f, &rose, err);
        if (st) return st;
    }
    if (rose) {
        double hmax = 0.25 * (fs->t - fs->tprev);
        size_t p = fs->u.p;
        memcpy(N_VGetArrayPointer(fs->y), fs->yacc, p * sizeof(double));
        memcpy(fs->u.cy, fs->yacc, p * sizeof(double));
        memcpy(fs->u.cg, fs->gacc, p * sizeof(double));
        fs->u.closs = fs->facc;
        fs->u.cvalid = 1;
        fs->t = fs->tprev;
        if (!(hmax > 0) || solver_restart(fs->cur, fs->t, fs->y, hmax))
            return mlpf_fail(err, MLPF_ENUMERIC, "gradient flow: restart at t = %g failed", fs->t);
        fs->guard_tries++;
        fs->capped = 1;
        fs->guarded++;
        *undone = 1;
        return MLPF_OK;
    }
    fs->guard_tries = 0;
    if (fs->capped) solver_uncap(fs->cur);
    fs->capped = 0;
    return MLPF_OK;
}

int dyn_flow_ex(dyn_problem *pb, const char *alg, const double *y0, dyn_traj *tr,
                dyn_outcome *out, int force_fallback, mlpf_error *err) {
    const mlpf_train_options *o = pb->opt;
    size_t p = pb->p;
    dyn_limits lim = dyn_limits_flow(pb);
    flow_state fs;
    int bad, st = flow_alloc(&fs, pb, alg, err);
    if (st) goto done;
    double *yv = N_VGetArrayPointer(fs.y);
    memcpy(yv, y0, p * sizeof *yv);

    /* the start: gradient, best point */
    if ((st = mlpf_objective_eval(pb->obj, yv, &fs.u.closs, fs.u.cg, NULL, err))) goto done;
    memcpy(fs.u.cy, yv, p * sizeof *yv);
    fs.u.cvalid = 1;
    memcpy(out->ybest, yv, p * sizeof *yv);
    out->loss_best = fs.u.closs;
    if ((st = solver_make(&fs.main, alg, &fs.u, 0.0, fs.y, fs.atol, fs.sc, err))) goto done;
    fs.cur = &fs.main;
    /* In ONE_STEP mode tout only sets the scale of the first step estimate,
       whose lower bound is 100 eps |tout|: an open-ended flow uses 1e4. */
    double tout = isfinite(o->maxT) ? o->maxT : 1e4;
    double next_basin_check = 0; /* flow time of the next basin test (doubling) */
    long next_basin_step = BASIN_CHECK_STEPS; /* ... or step count, whichever comes first */
    /* only an open-ended flow that a minimiser will finish hands over early */
    int handover = !isfinite(o->maxT) && strcmp(o->optim_solver, "none") != 0;
    channel_watch cw;
    memset(&cw, 0, sizeof cw);
    dyn_state s = {fs.u.closs, dyn_gnorm(pb, fs.u.cg), 0, 0, 0};
    dyn_stop why = dyn_stop_test(pb, &lim, &s);
    while (!why) {
        int force = force_fallback && s.it == 0 && fs.cur == &fs.main;
        st = flow_step(&fs, tr, tout, force, &why, err);
        if (st < 0) { st = MLPF_OK; continue; } /* BDF takes over */
        if (st) goto done;
        if (why) break;
        s.it++;
        if (fs.yprev) memcpy(fs.yprev, fs.u.cy, p * sizeof *yv); /* the state before this step */
        memcpy(fs.yacc, fs.u.cy, p * sizeof *yv);
        memcpy(fs.gacc, fs.u.cg, p * sizeof *yv);
        fs.facc = fs.u.closs;
        if ((st = flow_eval(&fs, &bad, err))) goto done;
        if (bad) { /* a non-finite step: BDF goes on from the last good point */
            int ok;
            if ((st = flow_switch(&fs, fs.tprev, "failure", &ok, err))) goto done;
            if (ok) { s.it--; continue; }
            why = DYN_SOLVER_FAILURE;
            break;
        }
        int undone;
        if ((st = flow_guard(&fs, fs.u.closs, &undone, err))) goto done;
        if (undone) continue;
        s.f = fs.u.closs;
        s.gnorm = dyn_gnorm(pb, fs.u.cg);
        if ((st = flow_record(&fs, tr, &lim, err))) goto done;
        if (s.f < out->loss_best) {
            out->loss_best = s.f;
            memcpy(out->ybest, yv, p * sizeof *yv);
            s.since_best = 0;
        } else {
            s.since_best++;
        }
        dyn_progress(pb, "ode", fs.t, s.f, s.gnorm, solver_lasth(fs.cur), s.it);
        s.at_end = isfinite(o->maxT) && fs.t >= o->maxT * (1 - 1e-14);
        why = dyn_stop_test(pb, &lim, &s);
        if (!why && handover && (fs.t >= next_basin_check || s.it >= next_basin_step)) {
            next_basin_check = 2 * fs.t;
            next_basin_step = s.it + BASIN_CHECK_STEPS;
            if ((st = flow_basin_check(pb, yv, &s, fs.u.cg, &cw, &why, err))) goto done;
        }
        if (!why && fs.kinks && (st = flow_kink_watch(&fs, yv, s.it, &why, err))) goto done;
        if (!why) flow_jacobian_policy(&fs, s.it);
        if (!why && pb->auto_alg && flow_stalled(&fs, s.it)) {
            int ok;
            if ((st = flow_switch(&fs, fs.t, "stall", &ok, err))) goto done;
        }
    }
    if (why == DYN_SOLVER_FAILURE && fs.kinks && (st = flow_kink_failure(&fs, &why, err))) goto done;
    if (why == DYN_NONSMOOTH) dyn_kinks_name(fs.kinks, out->kinks, sizeof out->kinks);
    out->stopped_by = why;
    out->iterations = s.it;
    out->t = fs.t;
    if (fs.switched) snprintf(out->alg, sizeof out->alg, "%s>bdf(%s)", alg, fs.switched);
    out->retaken = fs.guarded;
    /* the end of the flow closes the trajectory */
    st = dyn_traj_add(tr, pb, fs.t, yv, fs.u.closs, err);

done:
    flow_free(&fs);
    out->wall = mlpf_now() - lim.wall0;
    return st;
}

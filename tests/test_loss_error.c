/* test_loss_error.c - the rounding bound of the exact Gaussian objective's loss
   (mlpf_objective_loss_error, the result's loss_error) and what uses it.

   The infinite-data loss is a difference of O(1) pair expectations: where a
   student recovers its teacher the computed loss is rounding of either sign,
   growing like |a|^2 eps when the student splits a teacher unit into two with
   large opposite output weights (the start of a channel). The bound must
   cover that rounding, a negative rounding-level loss must not count as
   converged, and a finite-difference check of the gradient at large output
   weights passes once the bound is its tolerance. */
#include "check.h"
#include "test_objectives.h"
#include "internal.h"
#include "mlpflow.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A teacher with 2 units (Din 3, no biases) and a student with 3 that
   represents it exactly: units 0 and 1 are copies of teacher unit 0 with
   output weights c0 + A and -A, unit 2 is teacher unit 1; then every weight
   moves by `shift` times a fixed pattern. tp (teacher, 2 * 3 + 2), x (3 * 3 + 3). */
static void split_student(double A, double shift, double *tp, double *x) {
    static const double w[2][3] = {{0.8, -0.3, 0.5}, {-0.2, 0.9, 0.4}};
    static const double c[2] = {1.1, -0.7};
    for (int j = 0; j < 2; j++) {
        memcpy(tp + 3 * j, w[j], sizeof w[j]);
        tp[6 + j] = c[j];
    }
    memcpy(x, w[0], sizeof w[0]);
    memcpy(x + 3, w[0], sizeof w[0]);
    memcpy(x + 6, w[1], sizeof w[1]);
    x[9] = c[0] + A;
    x[10] = -A;
    x[11] = c[1];
    for (int i = 0; i < 12; i++) x[i] += shift * sin(1.0 + 3.0 * i);
}

typedef struct {
    mlpf_net *teacher, *student;
    mlpf_objective *obj;
    double tp[8];
} split_problem;

static int split_open(split_problem *sp, const char *act, double A, double shift, double *x) {
    mlpf_error err;
    sp->teacher = make_net(3, 2, act, 0, 0);
    sp->student = make_net(3, 3, act, 0, 0);
    split_student(A, shift, sp->tp, x);
    sp->obj = mlpf_objective_gaussian(sp->teacher, sp->tp, sp->student, &err);
    CHECK(sp->obj != NULL, "%s: %s", act, err.msg);
    return sp->obj != NULL;
}

static void split_close(split_problem *sp) {
    mlpf_objective_free(sp->obj);
    mlpf_net_free(sp->teacher);
    mlpf_net_free(sp->student);
}

/* At the exact embedding the true loss is 0: the computed loss is pure
   rounding and must lie within the bound, which grows like A^2. */
static void test_bound_covers_rounding(const char *act) {
    mlpf_error err;
    double x[12], prev = 0;
    for (double A = 1; A <= 1e4; A *= 10) {
        split_problem sp;
        if (!split_open(&sp, act, A, 0, x)) return;
        double L = NAN, e = NAN;
        CHECK_OK(mlpf_objective_eval(sp.obj, x, &L, NULL, NULL, &err), &err);
        CHECK_OK(mlpf_objective_loss_error(sp.obj, x, &e, &err), &err);
        CHECK(isfinite(e) && fabs(L) <= e, "%s A = %g: |loss| %g beyond its bound %g", act, A, L, e);
        /* the bound is rounding-sized: eps times the terms, not more */
        CHECK(e <= 1e-11 * (1 + A * A), "%s A = %g: bound %g is not a rounding bound", act, A, e);
        CHECK(e > prev, "%s A = %g: bound %g did not grow with A (before %g)", act, A, e, prev);
        prev = e;
        split_close(&sp);
    }
}

/* Central differences of the loss at |a| ~ 1e3 against the exact gradient:
   the loss's rounding / h dominates the difference quotient there, so the
   tolerance is the bound of both losses over 2h plus the O(h^2) term. */
static void test_fd_with_the_bound(const char *act) {
    mlpf_error err;
    double x[12], xp[12], xm[12], g[12];
    split_problem sp;
    if (!split_open(&sp, act, 1e3, 1e-3, x)) return;
    CHECK_OK(mlpf_objective_eval(sp.obj, x, NULL, g, NULL, &err), &err);
    const double h = 1e-5;
    int worst = -1;
    double worst_ratio = 0;
    for (int i = 0; i < 12; i++) {
        memcpy(xp, x, sizeof x);
        memcpy(xm, x, sizeof x);
        xp[i] += h;
        xm[i] -= h;
        double lp, lm, ep, em;
        mlpf_objective_eval(sp.obj, xp, &lp, NULL, NULL, &err);
        mlpf_objective_eval(sp.obj, xm, &lm, NULL, NULL, &err);
        mlpf_objective_loss_error(sp.obj, xp, &ep, &err);
        mlpf_objective_loss_error(sp.obj, xm, &em, &err);
        /* third derivatives scale with a_i ~ 1e3 (times O(1) pair terms) */
        double tol = (ep + em) / (2 * h) + 1e3 * 1e3 * h * h;
        double ratio = fabs((lp - lm) / (2 * h) - g[i]) / tol;
        if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
    }
    CHECK(worst_ratio <= 1, "%s: FD gradient off by %g of its tolerance at parameter %d", act,
          worst_ratio, worst);
    split_close(&sp);
}

/* A negative rounding-level loss near the embedding (gradient 1e-11 ... 1e-8)
   is not a converged run: neither at default minloss nor with a minloss the
   rounding could fake. */
static void test_negative_rounding_not_converged(void) {
    mlpf_error err;
    double x[12];
    int negatives = 0;
    for (int s = 1; s <= 40 && negatives < 3; s++) {
        split_problem sp;
        if (!split_open(&sp, "sigmoid2", 5, 1e-10 * s, x)) return;
        double L;
        CHECK_OK(mlpf_objective_eval(sp.obj, x, &L, NULL, NULL, &err), &err);
        if (L < 0) {
            negatives++;
            mlpf_train_options o;
            mlpf_train_options_default(&o);
            snprintf(o.alg, sizeof o.alg, "none");
            snprintf(o.optim_solver, sizeof o.optim_solver, "none");
            for (int m = 0; m < 2; m++) {
                o.minloss = m ? 1e-18 : 2e-32;
                mlpf_result *r = NULL;
                CHECK_OK(mlpf_train(sp.obj, x, &o, &r, &err), &err);
                if (r) {
                    CHECK(r->loss < 0 && r->gnorm > 1e-12 && r->gnorm < 1e-6,
                          "shift %d: loss %g gnorm %g is not the issue's case", s, r->loss, r->gnorm);
                    CHECK(!r->converged, "shift %d minloss %g: loss %g (bound %g) reported converged",
                          s, o.minloss, r->loss, r->loss_error);
                    CHECK(r->loss_error >= fabs(r->loss), "shift %d: bound %g below |loss| %g", s,
                          r->loss_error, fabs(r->loss));
                }
                mlpf_result_free(r);
            }
        }
        split_close(&sp);
    }
    CHECK(negatives > 0, "no shift gave a negative loss (the test needs one)");
}

/* Objectives without an estimate report NAN, and so does their result. */
static void test_finite_data_has_no_estimate(void) {
    mlpf_error err;
    mlpf_net *net = make_net(2, 2, "tanh", 1, 1);
    double X[8] = {0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8}, Y[4] = {0.1, -0.2, 0.3, 0.0};
    mlpf_objective *obj = mlpf_objective_finite(net, 4, X, Y, 1, NULL, NULL, &err);
    CHECK(obj != NULL, "%s", err.msg);
    double x[9] = {0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.05}, e = 0;
    CHECK_OK(mlpf_objective_loss_error(obj, x, &e, &err), &err);
    CHECK(isnan(e), "finite data: loss_error %g, expected NAN", e);
    mlpf_objective_free(obj);
    mlpf_net_free(net);
}

int main(void) {
    test_bound_covers_rounding("sigmoid2"); /* closed forms */
    test_bound_covers_rounding("tanh");     /* quadrature */
    test_fd_with_the_bound("sigmoid2");
    test_fd_with_the_bound("softplus");
    test_negative_rounding_not_converged();
    test_finite_data_has_no_estimate();
    return check_report("test_loss_error");
}

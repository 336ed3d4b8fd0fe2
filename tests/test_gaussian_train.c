/* test_gaussian_train.c - a student of the teacher's size, started near a
   permutation of the teacher, recovers it under mlpf_train on the exact
   infinite-data objective: every student neuron aligns with a teacher neuron. */
#include "check.h"
#include "test_objectives.h"
#include "internal.h"
#include "mlpflow.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static void recover(const char *act, int bias, int din, int k, uint64_t seed) {
    mlpf_error err;
    mlpf_net *t = make_net(din, k, act, bias, bias), *s = make_net(din, k, act, bias, bias);
    size_t P = mlpf_net_nparams(t), off2 = mlpf_net_layer_offset(t, 1);
    int rw = din + bias;
    double *tp = malloc(sizeof(double) * P), *x0 = malloc(sizeof(double) * P);
    mlpf_random_params(t, seed, tp, &err);
    mlpf_rng r;
    mlpf_rng_seed(&r, seed + 1);
    for (int j = 0; j < k; j++) {
        /* well separated teacher neurons with output weights of one sign */
        for (int a = 0; a < din; a++) tp[j * rw + a] = mlpf_rng_normal(&r);
        if (bias) tp[j * rw + din] = 0.3 * mlpf_rng_normal(&r);
        tp[off2 + j] = 1.0 + 0.2 * j;
    }
    if (bias) tp[P - 1] = 0.1;
    /* start: the teacher's neurons in reverse order, perturbed */
    for (int j = 0; j < k; j++) {
        int q = k - 1 - j;
        for (int a = 0; a < rw; a++) x0[q * rw + a] = tp[j * rw + a] + 0.05 * mlpf_rng_normal(&r);
        x0[off2 + q] = tp[off2 + j] + 0.05 * mlpf_rng_normal(&r);
    }
    if (bias) x0[P - 1] = tp[P - 1] + 0.05;
    mlpf_objective *obj = mlpf_objective_gaussian(t, tp, s, &err);
    CHECK(obj != NULL, "%s", err.msg);
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    o.maxtime_ode = 1;
    o.maxtime_optim = 1;
    /* the computed loss near the teacher is rounding noise of either sign:
       stop on the gradient instead */
    o.minloss = -INFINITY;
    o.min_gnorm = 1e-13;
    mlpf_result *res = NULL;
    CHECK_OK(mlpf_train(obj, x0, &o, &res, &err), &err);
    if (res) {
        /* The loss is a sum of O(1) expectations, so near the teacher it is
           zero only up to their rounding (a few 1e-15, of either sign), and the
           trainer's best-loss point is picked within that noise: a loss of 1e-14
           corresponds to a gradient of ~1e-7. The alignment below is the sharp
           test of recovery. */
        CHECK(fabs(res->loss) <= 1e-13, "%s bias %d: loss %g", act, bias, res->loss);
        CHECK(res->gnorm <= 1e-6, "%s bias %d: gnorm %g (%s / %s)", act, bias, res->gnorm,
              res->ode_stopped_by, res->optim_stopped_by);
        double worst = 1;
        for (int q = 0; q < k; q++) {
            double best = -1;
            for (int j = 0; j < k; j++) {
                double d = 0, nq = 0, nj = 0;
                for (int a = 0; a < rw; a++) {
                    d += res->x[q * rw + a] * tp[j * rw + a];
                    nq += res->x[q * rw + a] * res->x[q * rw + a];
                    nj += tp[j * rw + a] * tp[j * rw + a];
                }
                best = fmax(best, d / sqrt(nq * nj));
            }
            worst = fmin(worst, best);
        }
        CHECK(worst >= 1 - 1e-8, "%s bias %d: worst cosine similarity 1 - %g", act, bias, 1 - worst);
        printf("%s bias %d: loss %.3g gnorm %.3g cos 1-%.3g, %s/%s, %.2f s\n", act, bias, res->loss,
               res->gnorm, 1 - worst, res->ode_stopped_by, res->optim_stopped_by, res->total_time);
    }
    mlpf_result_free(res);
    mlpf_objective_free(obj);
    free(tp);
    free(x0);
    mlpf_net_free(t);
    mlpf_net_free(s);
}

int main(void) {
    recover("sigmoid2", 0, 4, 3, 1);
    recover("normal_cdf", 1, 3, 3, 2);
    recover("relu", 1, 3, 3, 3);
    recover("softplus", 1, 2, 3, 4);
    return check_report("test_gaussian_train");
}

/* test_objectives.h - small objectives with known answers and network
   builders, shared by the tests. */
#ifndef MLPF_TEST_OBJECTIVES_H
#define MLPF_TEST_OBJECTIVES_H
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mlpflow.h"

/* Extended Rosenbrock sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, exact
   derivatives; ctx points at the dimension (size_t). Nonlinear, mildly stiff. */
static inline int rosen_eval(void *c, const double *x, const size_t *sub, size_t ns, double *loss,
                      double *grad, double *hess, mlpf_error *err) {
    (void)sub, (void)ns, (void)err;
    size_t p = *(const size_t *)c;
    double l = 0;
    if (grad) memset(grad, 0, p * sizeof *grad);
    if (hess) memset(hess, 0, p * p * sizeof *hess);
    for (size_t i = 0; i + 1 < p; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
        l += 100 * a * a + b * b;
        if (grad) {
            grad[i] += -400 * a * x[i] - 2 * b;
            grad[i + 1] += 200 * a;
        }
        if (hess) {
            hess[i * p + i] += -400 * a + 800 * x[i] * x[i] + 2;
            hess[i * p + i + 1] += -400 * x[i];
            hess[(i + 1) * p + i] += -400 * x[i];
            hess[(i + 1) * p + i + 1] += 200;
        }
    }
    if (loss) *loss = l;
    return MLPF_OK;
}

/* One hidden layer of k units (activation act, hidden bias flag) and one linear
   output (bias flag obias): the shape of every teacher-student test. */
static inline mlpf_net *make_net(int din, int k, const char *act, int bias, int obias) {
    mlpf_error err;
    mlpf_net *net = mlpf_net_create(din, &err);
    mlpf_net_add_layer(net, k, act, bias, &err);
    mlpf_net_add_layer(net, 1, "identity", obias, &err);
    return net;
}

/* Central differences as the oracle: max |FD - exact| of the gradient (from the
   loss) and of the Hessian (from the gradient) at x0, and the Hessian's largest
   asymmetry (asym may be NULL). Returns the status of the exact evaluation. */
static inline int fd_errors(const mlpf_objective *obj, const double *x0, double eps, double *eg,
                            double *eh, double *asym) {
    mlpf_error err;
    size_t P = mlpf_objective_nparams(obj);
    double *x = malloc(sizeof(double) * P), *g = malloc(sizeof(double) * P);
    double *h = malloc(sizeof(double) * P * P), *gp = malloc(sizeof(double) * P);
    double *gm = malloc(sizeof(double) * P), l;
    memcpy(x, x0, sizeof(double) * P);
    int st = mlpf_objective_eval(obj, x, &l, g, h, &err);
    *eg = *eh = 0;
    for (size_t i = 0; i < P; i++) {
        double lp, lm, xi = x[i];
        x[i] = xi + eps;
        mlpf_objective_eval(obj, x, &lp, gp, NULL, &err);
        x[i] = xi - eps;
        mlpf_objective_eval(obj, x, &lm, gm, NULL, &err);
        x[i] = xi;
        *eg = fmax(*eg, fabs((lp - lm) / (2 * eps) - g[i]));
        for (size_t j = 0; j < P; j++) *eh = fmax(*eh, fabs((gp[j] - gm[j]) / (2 * eps) - h[i * P + j]));
    }
    if (asym) {
        *asym = 0;
        for (size_t i = 0; i < P; i++)
            for (size_t j = 0; j < P; j++) *asym = fmax(*asym, fabs(h[i * P + j] - h[j * P + i]));
    }
    free(x); free(g); free(h); free(gp); free(gm);
    return st;
}

#endif

/* test_gaussian_mc.c - the exact infinite-data loss against a Monte-Carlo
   estimate: 1e6 seeded standard normal inputs in din = 5, both nets evaluated
   with mlpf_predict; the two must agree within five standard errors. */
#include "check.h"
#include "test_objectives.h"
#include "internal.h"
#include "mlpflow.h"

#include <math.h>
#include <stdlib.h>


static void mc_check(const char *sact, const char *tact, int bias, uint64_t seed) {
    enum { DIN = 5, CHUNK = 100000, NCHUNK = 10 };
    mlpf_error err;
    mlpf_net *t = make_net(DIN, 3, tact, bias, bias), *s = make_net(DIN, 4, sact, bias, bias);
    size_t pt = mlpf_net_nparams(t), ps = mlpf_net_nparams(s);
    double *tp = malloc(sizeof(double) * pt), *x = malloc(sizeof(double) * ps);
    mlpf_random_params(t, seed, tp, &err);
    mlpf_random_params(s, seed + 1, x, &err);
    mlpf_rng r;
    mlpf_rng_seed(&r, seed + 2);
    if (bias) {  /* random_params leaves biases at 0 */
        for (int j = 0; j < 3; j++) tp[j * (DIN + 1) + DIN] = 0.5 * mlpf_rng_normal(&r);
        for (int j = 0; j < 4; j++) x[j * (DIN + 1) + DIN] = 0.5 * mlpf_rng_normal(&r);
        tp[pt - 1] = 0.3;
        x[ps - 1] = -0.2;
    }
    mlpf_objective *obj = mlpf_objective_gaussian(t, tp, s, &err);
    CHECK(obj != NULL, "%s", err.msg);
    double exact = NAN;
    if (obj) CHECK_OK(mlpf_objective_eval(obj, x, &exact, NULL, NULL, &err), &err);
    double *in = malloc(sizeof(double) * CHUNK * DIN), *ys = malloc(sizeof(double) * CHUNK);
    double *yt = malloc(sizeof(double) * CHUNK);
    double sum = 0, sum2 = 0;
    for (int c = 0; c < NCHUNK; c++) {
        for (size_t i = 0; i < (size_t)CHUNK * DIN; i++) in[i] = mlpf_rng_normal(&r);
        mlpf_predict(s, x, in, CHUNK, ys, &err);
        mlpf_predict(t, tp, in, CHUNK, yt, &err);
        for (int i = 0; i < CHUNK; i++) {
            double e = (ys[i] - yt[i]) * (ys[i] - yt[i]);
            sum += e;
            sum2 += e * e;
        }
    }
    double n = (double)CHUNK * NCHUNK, mean = sum / n, se = sqrt((sum2 / n - mean * mean) / n);
    CHECK(fabs(exact - mean) <= 5 * se, "%s/%s bias %d: exact %.10g, MC %.10g +- %.2g", sact, tact,
          bias, exact, mean, se);
    /* and the estimate is informative: five standard errors are well below the loss */
    CHECK(5 * se < 0.05 * mean, "%s/%s: MC too noisy (%g vs %g)", sact, tact, se, mean);
    mlpf_objective_free(obj);
    free(in); free(ys); free(yt); free(tp); free(x);
    mlpf_net_free(t);
    mlpf_net_free(s);
}

int main(void) {
    mc_check("sigmoid2", "sigmoid2", 0, 1);
    mc_check("normal_cdf", "sigmoid2", 1, 2);
    mc_check("relu", "relu", 1, 3);
    mc_check("relu", "relu", 0, 4);
    mc_check("softplus", "tanh", 1, 5);
    mc_check("gelu", "relu", 1, 6);
    mc_check("selu", "selu", 1, 7);  /* kinked: quadrature only, no closed form */
    return check_report("test_gaussian_mc");
}

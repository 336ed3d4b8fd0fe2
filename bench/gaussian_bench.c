/* gaussian_bench.c - seconds per loss+gradient+Hessian of the exact
   infinite-Gaussian-data teacher-student objective (issue targets: erf or relu,
   20 student and 20 teacher units, Din 20: < 5 ms; softplus with biases, 10 and
   10 units, Din 2: < 100 ms). The cost does not depend on N: there is no N.
   Best of 7 calls, one thread.  usage: gaussian_bench */
#include "mlpflow.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run(const char *act, int bias, int k, int din, double target_ms) {
    mlpf_error err;
    mlpf_net *teacher = mlpf_net_create(din, &err), *student = mlpf_net_create(din, &err);
    if (!teacher || !student || mlpf_net_add_layer(teacher, k, act, bias, &err) ||
        mlpf_net_add_layer(teacher, 1, "identity", 0, &err) || mlpf_net_add_layer(student, k, act, bias, &err) ||
        mlpf_net_add_layer(student, 1, "identity", 0, &err)) {
        fprintf(stderr, "gaussian_bench: %s\n", err.msg);
        return 1;
    }
    size_t p = mlpf_net_nparams(student);
    double *tp = malloc(p * sizeof *tp), *x = malloc(p * sizeof *x), *g = malloc(p * sizeof *g);
    double *h = malloc(p * p * sizeof *h), loss, best = 1e30;
    mlpf_objective *obj = NULL;
    if (!tp || !x || !g || !h || mlpf_random_params(teacher, 1, tp, &err) || mlpf_random_params(student, 2, x, &err) ||
        !(obj = mlpf_objective_gaussian(teacher, tp, student, &err))) {
        fprintf(stderr, "gaussian_bench: %s\n", err.msg);
        return 1;
    }
    for (int r = 0; r < 8; r++) {
        double t0 = now();
        if (mlpf_objective_eval(obj, x, &loss, g, h, &err)) {
            fprintf(stderr, "gaussian_bench: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        if (r && dt < best) best = dt; /* the first call warms caches */
    }
    printf("| %s | %s | %d | %d | %zu | %.3g | %.0f |\n", act, bias ? "yes" : "no", k, din, p, best * 1e3, target_ms);
    mlpf_objective_free(obj);
    mlpf_net_free(teacher);
    mlpf_net_free(student);
    free(tp); free(x); free(g); free(h);
    return 0;
}

int main(void) {
    printf("| activation | biases | units (student = teacher) | Din | P | Hessian ms | target ms |\n");
    printf("|---|---|---|---|---|---|---|\n");
    return run("sigmoid2", 0, 20, 20, 5) | run("relu", 0, 20, 20, 5) | run("softplus", 1, 10, 2, 100) |
           run("tanh", 1, 10, 2, 100) | run("gelu", 1, 10, 2, 100);
}

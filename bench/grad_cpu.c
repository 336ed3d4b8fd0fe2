/* grad_cpu.c - mlpflow's loss + gradient call timed exactly like grad_floor.c's
   "cpu" mode: process CPU time, calls in batches of 8 between clock reads, at least
   10 ms per timing, the minimum of R timings; one thread. Same problem as the
   floor: Din inputs, k softplus units with biases, one linear output with bias,
   MSE, and the floor's data and parameters (X[q, s] = 1.3 sin(0.37 (q N + s)),
   T[s] = cos(0.11 s), theta_i = 0.5 sin(1.7 i + 0.2), the same parameter layout),
   so the two compute the same function and their losses must agree (stderr).
   CPU time, unlike the wall clock, hardly moves with the load of a shared machine.
   usage: grad_cpu DIN K N [R]     Prints {"din", "units", "samples", "grad_cpu_seconds"}. */
#include "mlpflow.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Minimum over r timings of one loss + gradient call (seconds of CPU). */
static int time_grad(const mlpf_objective *obj, const double *x, double *g, int r, double *best,
                     mlpf_error *err) {
    double loss;
    int st = mlpf_objective_eval(obj, x, &loss, g, NULL, err); /* warm-up: caches, workspaces */
    *best = INFINITY;
    for (int rep = 0; rep < r && !st; rep++) {
        long calls = 0;
        double t0 = cpu_now(), el;
        do {
            for (int b = 0; b < 8 && !st; b++) st = mlpf_objective_eval(obj, x, &loss, g, NULL, err);
            calls += 8;
            el = cpu_now() - t0;
        } while (!st && el < 0.01);
        if (el / (double)calls < *best) *best = el / (double)calls;
    }
    return st;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: grad_cpu DIN K N [R]\n");
        return 2;
    }
    int d = atoi(argv[1]), k = atoi(argv[2]), r = argc > 4 ? atoi(argv[4]) : 5;
    long nl = atol(argv[3]);
    if (d < 1 || d > 16 || k < 1 || nl < 1 || r < 1 || r > 100) {
        fprintf(stderr, "grad_cpu: bad sizes (1 <= DIN <= 16, K, N >= 1, 1 <= R <= 100)\n");
        return 2;
    }
    size_t n = (size_t)nl;
    mlpf_error err = {0};
    mlpf_net *net = mlpf_net_create(d, &err);
    if (!net || mlpf_net_add_layer(net, k, "softplus", 1, &err) ||
        mlpf_net_add_layer(net, 1, "identity", 1, &err)) {
        fprintf(stderr, "grad_cpu: %s\n", err.msg);
        return 1;
    }
    size_t P = mlpf_net_nparams(net);
    double *X = malloc((size_t)d * n * sizeof *X), *T = malloc(n * sizeof *T);
    double *x = malloc(P * sizeof *x), *g = malloc(P * sizeof *g), best = 0, loss = 0;
    if (!X || !T || !x || !g) {
        fprintf(stderr, "grad_cpu: out of memory\n");
        return 1;
    }
    for (size_t q = 0; q < (size_t)d; q++) /* the floor's X (din, N), stored (N, din) */
        for (size_t s = 0; s < n; s++) X[s * (size_t)d + q] = sin(0.37 * (double)(q * n + s)) * 1.3;
    for (size_t s = 0; s < n; s++) T[s] = cos(0.11 * (double)s);
    for (size_t i = 0; i < P; i++) x[i] = 0.5 * sin(1.7 * (double)i + 0.2);
    mlpf_finite_options fo = {.loss = MLPF_LOSS_MSE, .threads = 1};
    mlpf_objective *obj = mlpf_objective_finite(net, n, X, T, 1, NULL, &fo, &err);
    int st = !obj || time_grad(obj, x, g, r, &best, &err) || mlpf_objective_eval(obj, x, &loss, g, NULL, &err);
    if (st) {
        fprintf(stderr, "grad_cpu: %s\n", err.msg);
        return 1;
    }
    printf("{\"din\": %d, \"units\": %d, \"samples\": %zu, \"grad_cpu_seconds\": %.6g}\n", d, k, n, best);
    fprintf(stderr, "grad_cpu loss %.17g\n", loss);
    mlpf_objective_free(obj);
    mlpf_net_free(net);
    free(X), free(T), free(x), free(g);
    return 0;
}

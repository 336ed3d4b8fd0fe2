/* cmd_bench.c - `mlpflow bench`: seconds per gradient and per Hessian call of
   the reference benchmark's network (Din inputs, one hidden layer of k units
   with biases, one linear output with bias) on N standard normal samples. */
#include "cli.h"

#include <string.h>

static const char HELP_BENCH[] =
    "usage: mlpflow bench [--din 2] [--units 100] [--activation softplus] [--samples 10000]\n"
    "                     [--threads 1] [--repeats 5] [--seed 1] [--no-hessian]\n"
    "\n"
    "Times loss+gradient and loss+gradient+Hessian calls of a net with one hidden\n"
    "layer (units, activation, biases) and one identity output with bias, on\n"
    "standard normal inputs and targets. Each timing repeats the call until at\n"
    "least 10 ms have passed; the median over --repeats timings is reported.\n"
    "stdout: {\"din\", \"units\", \"activation\", \"samples\", \"nparams\", \"threads\",\n"
    "         \"repeats\", \"gradient_seconds\", \"hessian_seconds\"}\n";

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median over `repeats` timings of one call; each timing loops until 10 ms */
static int time_call(const mlpf_objective *obj, const double *x, double *g, double *h,
                     int repeats, double *median, mlpf_error *err) {
    double *t = malloc((size_t)repeats * sizeof(double));
    if (!t) return mlpf_fail(err, MLPF_ENOMEM, "out of memory");
    double loss;
    /* one warm-up call: first-touch page faults and thread start-up */
    int st = mlpf_objective_eval(obj, x, &loss, g, h, err);
    for (int r = 0; r < repeats && !st; r++) {
        long calls = 0;
        double t0 = mlpf_now(), el;
        do {
            st = mlpf_objective_eval(obj, x, &loss, g, h, err);
            calls++;
            el = mlpf_now() - t0;
        } while (!st && el < 0.01);
        t[r] = el / (double)calls;
    }
    if (!st) {
        qsort(t, (size_t)repeats, sizeof(double), cmp_double);
        *median = repeats % 2 ? t[repeats / 2] : 0.5 * (t[repeats / 2 - 1] + t[repeats / 2]);
    }
    free(t);
    return st;
}

int cmd_bench(int argc, char **argv) {
    static const char *const valued[] = {"din",     "units",   "activation", "samples",
                                         "threads", "repeats", "seed",       NULL};
    static const char *const flags[] = {"no-hessian", NULL};
    cli_args a;
    int rc = cli_parse("bench", HELP_BENCH, argc, argv, valued, flags, 0, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    unsigned long long din, units, n, threads, repeats, seed;
    if ((rc = cli_uint(&a, "din", 2, 100000, &din)) ||
        (rc = cli_uint(&a, "units", 100, 100000, &units)) ||
        (rc = cli_uint(&a, "samples", 10000, 100000000, &n)) ||
        (rc = cli_uint(&a, "threads", 1, 4096, &threads)) ||
        (rc = cli_uint(&a, "repeats", 5, 100000, &repeats)) ||
        (rc = cli_uint(&a, "seed", 1, UINT64_MAX, &seed)))
        return rc;
    if (!din || !units || !n || !repeats)
        return cli_usage("bench", "--din, --units, --samples and --repeats must be positive");
    const char *act = cli_get(&a, "activation") ? cli_get(&a, "activation") : "softplus";
    int hess = !cli_flag(&a, "no-hessian");

    mlpf_error err = {0};
    mlpf_net *net = mlpf_net_create((int)din, &err);
    if (!net || mlpf_net_add_layer(net, (int)units, act, 1, &err) ||
        mlpf_net_add_layer(net, 1, "identity", 1, &err)) {
        mlpf_net_free(net);
        /* a bad --activation is a usage error; a layer over the memory budget is not */
        return err.status == MLPF_EINVAL ? cli_usage("bench", "--activation: %s", err.msg)
                                         : cli_error(CLI_FAIL, "%s", err.msg);
    }
    size_t np = mlpf_net_nparams(net);
    if (hess && np > 20000) {
        mlpf_net_free(net);
        return cli_usage("bench", "%zu parameters: the Hessian would not fit; use --no-hessian",
                         np);
    }
    if (mlpf_check_budget("--samples x (--din + 1)", 8.0 * (double)n * (double)(din + 1), &err)) {
        mlpf_net_free(net);
        return cli_error(CLI_FAIL, "bench: %s", err.msg);
    }
    double *X = malloc(n * din * sizeof(double)), *Y = malloc(n * sizeof(double));
    double *x = malloc(np * sizeof(double)), *g = malloc(np * sizeof(double));
    double *h = hess ? malloc(np * np * sizeof(double)) : NULL;
    mlpf_objective *obj = NULL;
    double tg = 0, th = 0;
    if (!X || !Y || !x || !g || (hess && !h)) {
        rc = cli_error(CLI_FAIL, "out of memory");
        goto done;
    }
    mlpf_rng rng;
    mlpf_rng_seed(&rng, seed);
    for (size_t i = 0; i < n * din; i++) X[i] = mlpf_rng_normal(&rng);
    for (size_t i = 0; i < n; i++) Y[i] = mlpf_rng_normal(&rng);
    mlpf_finite_options fo = {MLPF_LOSS_MSE, (int)threads};
    obj = mlpf_objective_finite(net, n, X, Y, 1, NULL, &fo, &err);
    if (!obj || mlpf_random_params(net, seed, x, &err) ||
        time_call(obj, x, g, NULL, (int)repeats, &tg, &err) ||
        (hess && time_call(obj, x, g, h, (int)repeats, &th, &err))) {
        rc = cli_error(CLI_FAIL, "%s", err.msg);
        goto done;
    }
    printf("{\"din\": %llu, \"units\": %llu, \"activation\": \"%s\", \"samples\": %llu, "
           "\"nparams\": %zu, \"threads\": %llu, \"repeats\": %llu, \"gradient_seconds\": %.6g",
           din, units, act, n, np, threads, repeats, tg);
    if (hess) printf(", \"hessian_seconds\": %.6g", th);
    printf("}\n");
done:
    mlpf_objective_free(obj);
    mlpf_net_free(net);
    free(X);
    free(Y);
    free(x);
    free(g);
    free(h);
    return rc;
}

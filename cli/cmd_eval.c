/* cmd_eval.c - the one-shot commands: init, loss, gradient, hessian, spectrum,
   predict. Each loads the spec, reads the parameters, makes one library call
   and writes one file (or one JSON line). */
#include "cli.h"

#include <string.h>

static const char *const NO_FLAGS[] = {NULL};
static const char *const EVAL_FLAGS[] = {"regularized", NULL};

static const char HELP_INIT[] =
    "usage: mlpflow init --spec S.json [--seed 7] -o P.npy\n"
    "\n"
    "Random parameters for the spec's network: Glorot normal weights\n"
    "W ~ N(0, 2 / (fan_in + fan_out)), biases 0, from the seeded xoshiro256**\n"
    "generator (the same numbers on every machine). Writes a float64 vector (P,).\n"
    "  --seed N   default 1\n";

static const char HELP_LOSS[] =
    "usage: mlpflow loss --spec S.json --params P.npy [--regularized] [--threads T]\n"
    "\n"
    "Prints {\"loss\": L} (17 significant digits; \"inf\" / \"nan\" as strings) on\n"
    "stdout. When the spec has a norm barrier (maxnorm) or merge penalties,\n"
    "\"loss_regularized\" is printed too.\n"
    "P.npy holds P values (any shape), P = the network's parameter count; a run's\n"
    "RUN.npz (or RUN.json) gives its x, after checking the pair belongs together;\n"
    "RUN.npz:KEY gives another of its arrays (init, ode_x).\n";

static const char HELP_GRADIENT[] =
    "usage: mlpflow gradient --spec S.json --params P.npy -o G.npy [--regularized] [--threads T]\n"
    "\n"
    "Exact gradient of the loss, a float64 vector (P,). With --regularized the\n"
    "gradient of the loss plus the spec's maxnorm / merge penalties.\n";

static const char HELP_HESSIAN[] =
    "usage: mlpflow hessian --spec S.json --params P.npy -o H.npy [--regularized] [--threads T]\n"
    "\n"
    "Exact Hessian of the loss, a symmetric float64 matrix (P, P).\n";

static const char HELP_SPECTRUM[] =
    "usage: mlpflow spectrum --spec S.json --params P.npy -o E.npy [--vectors V.npy]\n"
    "                        [--regularized] [--threads T]\n"
    "\n"
    "Eigenvalues of the exact Hessian in ascending order (P,); with --vectors the\n"
    "eigenvectors as the columns of a (P, P) matrix (numpy.linalg.eigh convention:\n"
    "V[:, j] belongs to E[j]). Also prints {\"min\": ..., \"max\": ...} on stdout.\n"
    "With --k K: only the K extreme eigenvalues, without the matrix (see spectrum --k --help).\n";

static const char HELP_PREDICT[] =
    "usage: mlpflow predict --spec S.json --params P.npy --input X.npy -o Y.npy\n"
    "\n"
    "Network output (N, Dout) for the inputs X (N, Din), .npy or CSV.\n";

static const char HELP_INFO[] =
    "usage: mlpflow info --spec S.json\n"
    "\n"
    "Prints the spec's network and data as JSON: parameter count, input and output\n"
    "dimensions, samples, objective, and per layer its units, inputs, bias,\n"
    "activation(s) and the index of its first parameter (layer l's weight (i, j) is\n"
    "parameter offset + i * (inputs + bias) + j; the bias is column j = inputs).\n";

/* Parse, load the spec and the parameters: the common start of every command. */
typedef struct {
    cli_args a;
    mlpf_problem *p;
    double *x;
    size_t np;
} eval_ctx;

static int eval_begin(const char *cmd, const char *help, int argc, char **argv,
                      const char *const *valued, const char *const *flags, int need_params,
                      int need_out, eval_ctx *c) {
    memset(c, 0, sizeof *c);
    int rc = cli_parse(cmd, help, argc, argv, valued, flags, 0, &c->a);
    if (rc) return rc;
    if (need_params && !cli_get(&c->a, "params"))
        return cli_usage(cmd, "--params P.npy is required");
    if (need_out && !cli_get(&c->a, "o")) return cli_usage(cmd, "-o FILE is required");
    if ((need_out && (rc = cli_check_output(cmd, cli_get(&c->a, "o"), ""))) ||
        (cli_get(&c->a, "vectors") && (rc = cli_check_output(cmd, cli_get(&c->a, "vectors"), ""))))
        return rc;
    unsigned long long threads;
    if ((rc = cli_uint(&c->a, "threads", 0, 4096, &threads))) return rc;
    if ((rc = cli_load_problem(&c->a, (int)threads, &c->p))) return rc;
    c->np = mlpf_net_nparams(c->p->net);
    if (need_params && (rc = cli_read_params(cli_get(&c->a, "params"), c->p->net, &c->x)))
        return rc;
    return 0;
}

static void eval_end(eval_ctx *c) {
    free(c->x);
    mlpf_problem_free(c->p);
}

static int finish(eval_ctx *c, int rc) {
    eval_end(c);
    return rc < 0 ? CLI_OK : rc;
}

static const mlpf_objective *chosen(const eval_ctx *c) {
    return cli_flag(&c->a, "regularized") ? c->p->reg : c->p->obj;
}

int cmd_init(int argc, char **argv) {
    static const char *const valued[] = {"spec", "seed", "o", "threads", NULL};
    eval_ctx c;
    int rc = eval_begin("init", HELP_INIT, argc, argv, valued, NO_FLAGS, 0, 1, &c);
    if (rc) return finish(&c, rc);
    unsigned long long seed;
    if ((rc = cli_uint(&c.a, "seed", 1, UINT64_MAX, &seed))) return finish(&c, rc);
    mlpf_error err = {0};
    double *x = malloc((c.np ? c.np : 1) * sizeof(double));
    if (!x) return finish(&c, cli_error(CLI_FAIL, "out of memory"));
    size_t shape[1] = {c.np};
    if (mlpf_random_params(c.p->net, (uint64_t)seed, x, &err) ||
        mlpf_write_npy(cli_get(&c.a, "o"), x, shape, 1, &err))
        rc = cli_error(CLI_FAIL, "%s", err.msg);
    free(x);
    return finish(&c, rc);
}

int cmd_loss(int argc, char **argv) {
    static const char *const valued[] = {"spec", "params", "threads", NULL};
    eval_ctx c;
    int rc = eval_begin("loss", HELP_LOSS, argc, argv, valued, EVAL_FLAGS, 1, 0, &c);
    if (rc) return finish(&c, rc);
    mlpf_error err = {0};
    double loss, lreg;
    if (mlpf_objective_eval(c.p->obj, c.x, &loss, NULL, NULL, &err))
        return finish(&c, cli_error(CLI_FAIL, "%s", err.msg));
    if (c.p->reg != c.p->obj) {
        if (mlpf_objective_eval(c.p->reg, c.x, &lreg, NULL, NULL, &err))
            return finish(&c, cli_error(CLI_FAIL, "%s", err.msg));
        char l1[32], l2[32];
        cli_json_number(l1, sizeof l1, loss);
        cli_json_number(l2, sizeof l2, lreg);
        printf("{\"loss\": %s, \"loss_regularized\": %s}\n", l1, l2);
    } else {
        char l1[32];
        cli_json_number(l1, sizeof l1, loss);
        printf("{\"loss\": %s}\n", l1);
    }
    return finish(&c, 0);
}

/* gradient, hessian and spectrum share this: one eval, one or two files */
static int derivative_cmd(const char *cmd, const char *help, int argc, char **argv, int order) {
    static const char *const valued[] = {"spec", "params", "o", "threads", NULL};
    static const char *const valued_spec[] = {"spec", "params", "o", "threads", "vectors", NULL};
    eval_ctx c;
    int rc = eval_begin(cmd, help, argc, argv, order == 3 ? valued_spec : valued, EVAL_FLAGS, 1,
                        1, &c);
    if (rc) return finish(&c, rc);
    mlpf_error err = {0};
    size_t np = c.np;
    double matrices = order < 2 ? 0 : cli_get(&c.a, "vectors") ? 2 : 1;
    if (mlpf_check_budget("the Hessian", matrices * 8.0 * (double)np * (double)np, &err))
        return finish(&c, cli_error(CLI_FAIL, "%s: %zu parameters: %s; the matrix-free "
                                    "`spectrum --k K` gives K extreme eigenvalues without it",
                                    cmd, np, err.msg));
    double *g = malloc((np ? np : 1) * sizeof(double));
    double *h = order >= 2 ? malloc((np * np + 1) * sizeof(double)) : NULL;
    double *ev = order == 3 ? malloc((np ? np : 1) * sizeof(double)) : NULL;
    const char *vec = cli_get(&c.a, "vectors");
    double *V = vec ? malloc((np * np + 1) * sizeof(double)) : NULL;
    const char *out = cli_get(&c.a, "o");
    if (!g || (order >= 2 && !h) || (order == 3 && !ev) || (vec && !V)) {
        rc = cli_error(CLI_FAIL, "out of memory");
    } else if (mlpf_objective_eval(chosen(&c), c.x, NULL, order == 1 ? g : NULL,
                                   order >= 2 ? h : NULL, &err)) {
        rc = cli_error(CLI_FAIL, "%s", err.msg);
    } else if (order == 1) {
        size_t shape[1] = {np};
        if (mlpf_write_npy(out, g, shape, 1, &err)) rc = cli_error(CLI_FAIL, "%s", err.msg);
    } else if (order == 2) {
        size_t shape[2] = {np, np};
        if (mlpf_write_npy(out, h, shape, 2, &err)) rc = cli_error(CLI_FAIL, "%s", err.msg);
    } else {
        size_t s1[1] = {np}, s2[2] = {np, np};
        if (mlpf_spectrum(h, np, ev, V, &err) || mlpf_write_npy(out, ev, s1, 1, &err) ||
            (vec && mlpf_write_npy(vec, V, s2, 2, &err)))
            rc = cli_error(CLI_FAIL, "%s", err.msg);
        else if (np) {
            char lo[32], hi[32];
            cli_json_number(lo, sizeof lo, ev[0]);
            cli_json_number(hi, sizeof hi, ev[np - 1]);
            printf("{\"min\": %s, \"max\": %s}\n", lo, hi);
        }
    }
    free(g);
    free(h);
    free(ev);
    free(V);
    return finish(&c, rc);
}

int cmd_gradient(int argc, char **argv) {
    return derivative_cmd("gradient", HELP_GRADIENT, argc, argv, 1);
}
int cmd_hessian(int argc, char **argv) {
    return derivative_cmd("hessian", HELP_HESSIAN, argc, argv, 2);
}
int cmd_spectrum(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--k") || !strncmp(argv[i], "--k=", 4)) return cmd_spectrum_krylov(argc, argv);
    return derivative_cmd("spectrum", HELP_SPECTRUM, argc, argv, 3);
}

int cmd_predict(int argc, char **argv) {
    static const char *const valued[] = {"spec", "params", "input", "o", "threads", NULL};
    eval_ctx c;
    int rc = eval_begin("predict", HELP_PREDICT, argc, argv, valued, NO_FLAGS, 1, 1, &c);
    if (rc) return finish(&c, rc);
    const char *in = cli_get(&c.a, "input");
    if (!in) return finish(&c, cli_usage("predict", "--input X.npy is required"));
    mlpf_error err = {0};
    double *X;
    size_t shape[2];
    int ndim;
    if (mlpf_read_array(in, &X, shape, &ndim, &err))
        return finish(&c, cli_error(CLI_FAIL, "--input: %s", err.msg));
    size_t n = ndim == 0 ? 1 : shape[0], din = ndim == 2 ? shape[1] : 1;
    size_t want = (size_t)mlpf_net_din(c.p->net), dout = (size_t)mlpf_net_dout(c.p->net);
    size_t bad = mlpf_first_nonfinite(X, n * din);
    if (din != want) {
        rc = cli_error(CLI_FAIL, "--input: %s has %zu columns (shape (%zu, %zu)) but the "
                       "network's input dimension is %zu", in, din, n, din, want);
    } else if (bad) {
        rc = cli_error(CLI_FAIL, "--input: %s: non-finite value at row %zu, column %zu", in,
                       (bad - 1) / din, (bad - 1) % din);
    } else {
        double *Y = malloc((n * dout + 1) * sizeof(double));
        size_t os[2] = {n, dout};
        if (!Y) rc = cli_error(CLI_FAIL, "out of memory");
        else if (mlpf_predict(c.p->net, c.x, X, n, Y, &err) ||
                 mlpf_write_npy(cli_get(&c.a, "o"), Y, os, 2, &err))
            rc = cli_error(CLI_FAIL, "%s", err.msg);
        free(Y);
    }
    free(X);
    return finish(&c, rc);
}

int cmd_info(int argc, char **argv) {
    static const char *const valued[] = {"spec", NULL};
    eval_ctx c;
    int rc = eval_begin("info", HELP_INFO, argc, argv, valued, NO_FLAGS, 0, 0, &c);
    if (rc) return finish(&c, rc);
    const mlpf_net *net = c.p->net;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "nparams", (double)c.np);
    cJSON_AddNumberToObject(o, "din", mlpf_net_din(net));
    cJSON_AddNumberToObject(o, "dout", mlpf_net_dout(net));
    cJSON_AddNumberToObject(o, "nsamples", (double)mlpf_objective_nsamples(c.p->obj));
    cJSON_AddStringToObject(o, "objective", mlpf_objective_name(c.p->obj));
    cJSON *layers = cJSON_AddArrayToObject(o, "layers");
    if (!layers) {
        cJSON_Delete(o);
        return finish(&c, cli_error(CLI_FAIL, "out of memory"));
    }
    for (int l = 0; l < mlpf_net_nlayers(net); l++) {
        cJSON *L = cJSON_CreateObject();
        if (!L || !cJSON_AddItemToArray(layers, L)) {
            cJSON_Delete(L);
            cJSON_Delete(o);
            return finish(&c, cli_error(CLI_FAIL, "out of memory"));
        }
        int units = mlpf_net_layer_units(net, l);
        cJSON_AddNumberToObject(L, "units", units);
        cJSON_AddNumberToObject(L, "inputs", mlpf_net_layer_inputs(net, l));
        cJSON_AddBoolToObject(L, "bias", mlpf_net_layer_bias(net, l));
        cJSON_AddNumberToObject(L, "offset", (double)mlpf_net_layer_offset(net, l));
        /* one name when the layer shares its activation, else one per unit */
        int same = 1;
        for (int u = 1; u < units; u++)
            same &= mlpf_net_activation(net, l, u)->kind == mlpf_net_activation(net, l, 0)->kind;
        if (same) {
            cJSON_AddStringToObject(L, "activation",
                                    mlpf_activation_name(mlpf_net_activation(net, l, 0)->kind));
        } else {
            cJSON *acts = cJSON_AddArrayToObject(L, "activation");
            for (int u = 0; acts && u < units; u++)
                cJSON_AddItemToArray(acts, cJSON_CreateString(mlpf_activation_name(
                                               mlpf_net_activation(net, l, u)->kind)));
        }
    }
    char *text = mlpf_json_print(o, 1);
    if (text) puts(text);
    else rc = cli_error(CLI_FAIL, "out of memory");
    free(text);
    cJSON_Delete(o);
    return finish(&c, rc);
}

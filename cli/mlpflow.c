/* mlpflow.c - entry point of the command-line tool: subcommand dispatch and
   the argument parser every subcommand shares. */
#include "cli.h"
#include "sweep_cli.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>   /* execv */

static const char USAGE[] =
    "usage: mlpflow <command> [options]     (mlpflow <command> --help for details)\n"
    "\n"
    "commands:\n"
    "  info      the spec's network, parameter layout and data, as JSON\n"
    "  init      random initial parameters (Glorot normal) for a spec's network\n"
    "  loss      loss at a parameter vector, as JSON\n"
    "  gradient  exact gradient (P,) as .npy\n"
    "  hessian   exact Hessian (P, P) as .npy\n"
    "  spectrum  Hessian eigenvalues (ascending) and optionally eigenvectors\n"
    "  predict   network output for an input file\n"
    "  train     gradient flow then a minimiser; writes RUN.json + RUN.npz\n"
    "  bench     time gradient and Hessian calls of a one-hidden-layer net\n"
    "  example   train the built-in teacher-student example\n"
    "  classify  what a point is: minimum, saddle (index), channel, not critical\n"
    "  sweep     many runs (the product of axes over a spec) into an SQLite database\n"
    "  sweep-report  outcome fractions and loss quantiles of a sweep database\n"
    "  version   print the version\n"
    "\n"
    "A spec is a JSON file, e.g.\n"
    "  {\"layers\": [[5, \"sigmoid\", true], [1, \"identity\", false]],\n"
    "   \"input\": \"X.npy\", \"target\": \"Y.npy\", \"loss\": \"mse\",\n"
    "   \"train\": {\"maxtime_ode\": 10}}\n"
    "Arrays are .npy (float64/float32) or CSV; parameters are a flat vector, layer\n"
    "by layer, each a row-major (units, inputs + bias) matrix with the bias last.\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 usage error.\n";

int cli_error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mlpflow: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mlpflow: ", stderr);
    if (cmd) fprintf(stderr, "%s: ", cmd);
    vfprintf(stderr, fmt, ap);
    if (cmd) fprintf(stderr, " (see mlpflow %s --help)", cmd);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_USAGE;
}

static int in_list(const char *const *list, const char *name) {
    for (int i = 0; list && list[i]; i++)
        if (!strcmp(list[i], name)) return 1;
    return 0;
}

int cli_parse(const char *cmd, const char *help, int argc, char **argv,
              const char *const *valued, const char *const *flags, int train_opts, cli_args *a) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(help, stdout);
            return -1;
        }
        const char *name, *value = NULL;
        char buf[64];
        if (!strcmp(arg, "-o")) {
            name = "o";
        } else if (arg[0] == '-' && arg[1] == '-' && arg[2]) {
            name = arg + 2;
            const char *eq = strchr(name, '=');
            if (eq) {
                size_t k = (size_t)(eq - name);
                if (k >= sizeof buf) return cli_usage(cmd, "option %s is too long", arg);
                memcpy(buf, name, k);
                buf[k] = '\0';
                value = eq + 1;
                name = buf;
            }
            if (!strcmp(name, "output")) name = "o";
        } else {
            return cli_usage(cmd, "unexpected argument \"%s\"", arg);
        }
        int is_flag = in_list(flags, name);
        int is_valued = in_list(valued, name) || (train_opts && mlpf_train_option_known(name));
        if (!is_flag && !is_valued) return cli_usage(cmd, "unknown option %s", arg);
        if (is_flag && value) return cli_usage(cmd, "option --%s takes no value", name);
        if (is_valued && !value) {
            if (i + 1 >= argc) return cli_usage(cmd, "option %s needs a value", arg);
            value = argv[++i];
        }
        if (a->n >= CLI_MAXOPTS) return cli_usage(cmd, "too many options");
        snprintf(a->namebuf[a->n], sizeof a->namebuf[a->n], "%s", name);
        name = a->namebuf[a->n];
        a->name[a->n] = name;
        a->value[a->n] = value;
        a->n++;
    }
    return 0;
}

const char *cli_get(const cli_args *a, const char *name) {
    for (int i = a->n - 1; i >= 0; i--)
        if (!strcmp(a->name[i], name) && a->value[i]) return a->value[i];
    return NULL;
}

int cli_flag(const cli_args *a, const char *name) {
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->name[i], name)) return 1;
    return 0;
}

int cli_uint(const cli_args *a, const char *name, unsigned long long def, unsigned long long max,
             unsigned long long *out) {
    const char *v = cli_get(a, name);
    *out = def;
    if (!v) return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-' || x > max)
        return cli_usage(a->cmd, "--%s: \"%s\" is not an integer in [0, %llu]", name, v, max);
    *out = x;
    return 0;
}

int cli_load_problem(const cli_args *a, int threads, mlpf_problem **p) {
    const char *spec = cli_get(a, "spec");
    if (!spec) return cli_usage(a->cmd, "--spec S.json is required");
    mlpf_error err = {0};
    if (mlpf_problem_load(spec, threads, p, &err)) return cli_error(CLI_FAIL, "%s", err.msg);
    return 0;
}

int cli_check_output(const char *cmd, const char *path, const char *suffix) {
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *full = malloc(n);
    if (!full) return cli_error(CLI_FAIL, "out of memory");
    snprintf(full, n, "%s%s", path, suffix);
    mlpf_error err = {0};
    int rc = mlpf_check_output_dir(full, &err) ? cli_usage(cmd, "%s", err.msg) : 0;
    free(full);
    return rc;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* "RUN.npz:KEY" / "RUN.json:KEY" names the run's array KEY (init, ode_x, ...)
   instead of x: run gets the file part; returns KEY, or NULL for other paths */
static const char *run_array_key(const char *path, char *run, size_t cap) {
    if (ends_with(path, ".npz") || ends_with(path, ".json")) {
        snprintf(run, cap, "%s", path);
        return strlen(path) < cap ? "x" : NULL;
    }
    const char *colon = strrchr(path, ':');
    if (!colon || !colon[1] || (size_t)(colon - path) >= cap) return NULL;
    memcpy(run, path, (size_t)(colon - path));
    run[colon - path] = '\0';
    return ends_with(run, ".npz") || ends_with(run, ".json") ? colon + 1 : NULL;
}

int cli_read_values(const char *flag, const char *path, double **v, size_t *n) {
    mlpf_error err = {0};
    char run[4096];
    const char *key = run_array_key(path, run, sizeof run);
    size_t shape[2];
    int ndim;
    *v = NULL;
    int st = key ? mlpf_result_read_array(run, key, v, shape, &ndim, &err)
                 : mlpf_read_array(path, v, shape, &ndim, &err);
    if (st) return cli_error(CLI_FAIL, "--%s: %s", flag, err.msg);
    *n = ndim == 0 ? 1 : ndim == 1 ? shape[0] : shape[0] * shape[1];
    size_t bad = mlpf_first_nonfinite(*v, *n);
    if (bad) {
        free(*v);
        *v = NULL;
        return cli_error(CLI_FAIL, "--%s: %s%s%s: value %zu is not finite", flag,
                         key ? run : path, key ? ": " : "", key ? key : "", bad - 1);
    }
    return 0;
}

int cli_read_params(const char *path, const mlpf_net *net, double **x) {
    mlpf_error err = {0};
    *x = NULL;
    char run[4096];
    if (!run_array_key(path, run, sizeof run)) {
        if (mlpf_read_params(path, net, x, &err)) return cli_error(CLI_FAIL, "--params: %s", err.msg);
        return 0;
    }
    double *v;
    size_t n, np = mlpf_net_nparams(net);
    int rc = cli_read_values("params", path, &v, &n);
    if (rc) return rc;
    if (n != np) {
        free(v);
        return cli_error(CLI_FAIL, "--params: %s has %zu values but the net has %zu parameters",
                         path, n, np);
    }
    *x = v;
    return 0;
}

void cli_json_number(char *buf, size_t cap, double v) {
    if (isfinite(v)) snprintf(buf, cap, "%.17g", v);
    else snprintf(buf, cap, "\"%s\"", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command COMMANDS[] = {
    {"init", cmd_init},         {"loss", cmd_loss},       {"gradient", cmd_gradient},
    {"hessian", cmd_hessian},   {"spectrum", cmd_spectrum}, {"predict", cmd_predict},
    {"bench", cmd_bench},       {"train", cmd_train},     {"example", cmd_example},
    {"info", cmd_info},
    {"classify", cmd_classify},
    {"sweep", cmd_sweep},
    {"sweep-report", cmd_sweep_report},
};

/* OpenMP threads spin while they wait (libgomp's default), which on a machine
   where another process keeps a core busy made 2 threads up to 3.2x slower
   than one (bench/loaded.sh); waiting passively was never slower. libgomp
   reads OMP_WAIT_POLICY once, when it is loaded, before main runs: so when
   the user has not chosen a policy, set PASSIVE and run this program again
   (once; a failed exec just goes on with spinning). */
static void wait_passively(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
    wait_passively(argv);
    if (argc < 2) {
        fputs(USAGE, stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(USAGE, stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("mlpflow %s\n", MLPF_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(cmd, COMMANDS[i].name)) {
            int rc = COMMANDS[i].run(argc - 2, argv + 2);
            if (fflush(stdout) != 0) return cli_error(CLI_FAIL, "cannot write to stdout");
            return rc;
        }
    return cli_usage(NULL, "unknown command \"%s\" (try mlpflow --help)", cmd);
}

/* cmd_train.c - `mlpflow train` and `mlpflow example`: build the problem, set
   the train options (spec's "train" object, then flags), train one or many
   starts, write RUN.json + RUN.npz. Ctrl-C stops training cooperatively and the
   best point so far is still written. */
#include "cli.h"

#include <math.h>
#include <signal.h>
#include <string.h>

/* The one piece of process-wide state: a signal handler can reach nothing else. */
static volatile int g_interrupt;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupt = 1;
}

static void install_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    /* a second Ctrl-C kills the process the usual way */
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static const char HELP_TRAIN[] =
    "usage: mlpflow train --spec S.json -o RUN [--init P.npy | --seed 7]\n"
    "                     [--starts K] [--threads T] [--quiet] [--<train option> value ...]\n"
    "\n"
    "Gradient flow (ODE) then a minimiser, from the spec's options (\"train\" object)\n"
    "overridden by flags. Writes RUN.json (loss, gnorm, stop reasons, iterations,\n"
    "times, the options used, version) and RUN.npz (x, init, ode_x, trajectory_t,\n"
    "trajectory_x, loss_curve), both atomically; prints a JSON summary on stdout.\n"
    "\n"
    "  --init P.npy   starting point (P values; with --starts K, K*P values (K, P))\n"
    "  --seed N       Glorot-normal start from seed N (default: the train seed, 1)\n"
    "  --starts K     K starts with seeds N, N+1, ..., N+K-1 trained in parallel on\n"
    "                 T threads (default: all cores). Writes RUN_0.json/.npz ...\n"
    "                 RUN_<K-1>.json/.npz, one per start, and RUN.json summarising\n"
    "                 all starts (seed, loss, gnorm, converged, file, best start).\n"
    "  --threads T    threads (across starts with --starts, else in the objective)\n"
    "  --quiet        no progress lines on stderr\n"
    "\n"
    "Ctrl-C stops training; the best point so far is written (stopped_by\n"
    "\"interrupt\") and the exit code is 1. Usage errors (unknown option or method,\n"
    "a value out of range, NaN, impossible combinations) exit 2 before any work.\n"
    "\n"
    "Train options (names of the reference system), e.g. --alg bdf --maxtime_ode 10;\n"
    "numbers may be \"inf\" (integer limits: no limit) [default]:\n";

static const char HELP_TRAIN_MORE[] =
    "  --tauinv                 time scales: a number, a JSON list, or a .npy file [1]\n"
    "  --merge                  merge penalty [[layer,i,j,lambda],...] [none]\n"
    "\n"
    "Methods (alg: flow or descent, default by P; optim_solver: minimiser,\n"
    "default by P; none skips the phase):\n";

/* HELP_TRAIN followed by the option table and the method registry, one
   line each. */
static void train_help(char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "%s", HELP_TRAIN);
    mlpf_option_info o;
    for (size_t i = 0; n < cap && mlpf_option_get(i, &o) == MLPF_OK; i++)
        n += (size_t)snprintf(buf + n, cap - n, "  --%-22s %s [%s]\n", o.name, o.doc,
                              o.default_text);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "%s", HELP_TRAIN_MORE);
    const char *name, *kind, *doc;
    for (size_t i = 0; n < cap && mlpf_method_info(i, &name, &kind, &doc) == MLPF_OK; i++)
        n += (size_t)snprintf(buf + n, cap - n, "  %-14s %-10s %s\n", name, kind, doc);
}

static const char HELP_EXAMPLE[] =
    "usage: mlpflow example [-o RUN] [--quiet] [--print-spec] [--<train option> value ...]\n"
    "\n"
    "The built-in teacher-student example: 10 000 standard normal inputs in 2-D\n"
    "(seed 1); a teacher with 4 sigmoid units without biases and a linear readout\n"
    "without bias (Glorot normal, seed 2); a student with 5 sigmoid units without\n"
    "biases and an identity output without bias, started from seed 3; gradient\n"
    "flow to time maxT = 1000 (the flow has chosen its minimum by then; following\n"
    "it further only crawls), then the default minimiser. Prints loss, gradient\n"
    "norm, stop reasons, time and the extreme Hessian eigenvalues at the result;\n"
    "writes RUN.json and RUN.npz (default RUN = example_run). --print-spec prints\n"
    "the equivalent spec JSON.\n";

static const char EXAMPLE_SPEC[] =
    "{\n"
    "  \"teacher\": {\"layers\": [[4, \"sigmoid\", false], [1, \"identity\", false]],\n"
    "              \"din\": 2, \"seed\": 2},\n"
    "  \"data\": {\"samples\": 10000, \"seed\": 1},\n"
    "  \"layers\": [[5, \"sigmoid\", false], [1, \"identity\", false]],\n"
    "  \"train\": {\"seed\": 3, \"maxT\": 1000}\n"
    "}\n";

/* Flags named after train options override the spec's "train" object. */
static int apply_flags(const cli_args *a, mlpf_problem *p) {
    mlpf_error err = {0};
    for (int i = 0; i < a->n; i++) {
        if (!a->value[i] || !mlpf_train_option_known(a->name[i])) continue;
        if (mlpf_train_config_set_string(&p->train, a->name[i], a->value[i], &err))
            return cli_usage(a->cmd, "%s", err.msg);
    }
    /* unknown methods and impossible combinations are usage errors, found
       before any work */
    if (mlpf_train_config_check(&p->train, &err)) return cli_usage(a->cmd, "%s", err.msg);
    if (mlpf_problem_regularize(p, &err)) return cli_error(CLI_FAIL, "%s", err.msg);
    if (cli_flag(a, "quiet")) p->train.opt.verbosity = 0;
    else if (!p->train.verbosity_set) p->train.opt.verbosity = 1;
    return 0;
}

/* x0s (k, P): from --init, else Glorot normal from seeds seed, seed+1, ... */
static int starting_points(const cli_args *a, const mlpf_problem *p, size_t k, uint64_t seed,
                           double **x0s) {
    size_t np = mlpf_net_nparams(p->net);
    mlpf_error err = {0};
    const char *init = cli_get(a, "init");
    if (init) {
        double *v;
        size_t n;
        int rc = cli_read_values("init", init, &v, &n);
        if (rc) return rc;
        if (n != k * np) {
            free(v);
            return cli_error(CLI_FAIL, "--init: %s holds %zu values but %zu start(s) of a net "
                             "with %zu parameters need %zu", init, n, k, np, k * np);
        }
        *x0s = v;
        return 0;
    }
    double *v = malloc((k * np + 1) * sizeof(double));
    if (!v) return cli_error(CLI_FAIL, "out of memory");
    for (size_t s = 0; s < k; s++)
        if (mlpf_random_params(p->net, seed + s, v + s * np, &err)) {
            free(v);
            return cli_error(CLI_FAIL, "%s", err.msg);
        }
    *x0s = v;
    return 0;
}

static cJSON *run_extra(const mlpf_problem *p, const cli_args *a, uint64_t seed, long start) {
    cJSON *e = cJSON_CreateObject();
    if (!e) return NULL;
    cJSON_AddStringToObject(e, "spec", p->path);
    if (cli_get(a, "init")) cJSON_AddStringToObject(e, "init_file", cli_get(a, "init"));
    else cJSON_AddNumberToObject(e, "init_seed", (double)seed);
    if (start >= 0) cJSON_AddNumberToObject(e, "start", (double)start);
    cJSON_AddStringToObject(e, "objective", mlpf_objective_name(p->obj));
    return e;
}

/* RUN given as "RUN", "RUN.json" or "RUN.npz" all mean the pair RUN.json + RUN.npz */
static int run_base(const char *cmd, const char *o, char *buf, size_t cap) {
    if (strlen(o) >= cap) return cli_usage(cmd, "-o: name too long");
    snprintf(buf, cap, "%s", o);
    size_t n = strlen(buf);
    if (n > 5 && (!strcmp(buf + n - 5, ".json"))) buf[n - 5] = '\0';
    else if (n > 4 && !strcmp(buf + n - 4, ".npz")) buf[n - 4] = '\0';
    return 0;
}

/* Train k starts; write the files; results[k] stay for the caller. */
static int train_and_save(const cli_args *a, mlpf_problem *p, const char *run, size_t k,
                          int threads, mlpf_result **res, uint64_t *seed_out) {
    uint64_t seed = p->train.opt.seed;
    *seed_out = seed;
    double *x0s = NULL;
    int rc = starting_points(a, p, k, seed, &x0s);
    if (rc) return rc;
    mlpf_train_options opt = p->train.opt;
    g_interrupt = 0;
    opt.interrupt = &g_interrupt;
    install_sigint();
    mlpf_error *errs = calloc(k, sizeof *errs);
    if (!errs) {
        free(x0s);
        return cli_error(CLI_FAIL, "out of memory");
    }
    int st = k == 1 ? mlpf_train(p->obj, x0s, &opt, &res[0], &errs[0])
                    : mlpf_train_many(p->obj, x0s, k, &opt, threads, res, errs);
    free(x0s);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    rc = 0;
    for (size_t s = 0; s < k; s++) {
        if (!res[s]) {
            rc = cli_error(CLI_FAIL, "start %zu (seed %llu): %s", s,
                           (unsigned long long)(seed + s), errs[s].msg[0] ? errs[s].msg :
                           mlpf_status_string(st));
            continue;
        }
        char path[4096 + 32];
        if (k == 1) snprintf(path, sizeof path, "%s", run);
        else snprintf(path, sizeof path, "%s_%zu", run, s);
        cJSON *extra = run_extra(p, a, seed + s, k == 1 ? -1 : (long)s);
        mlpf_error err = {0};
        if (mlpf_result_save(path, res[s], &opt, extra, &err))
            rc = cli_error(CLI_FAIL, "%s", err.msg);
        cJSON_Delete(extra);
    }
    free(errs);
    if (k > 1 && !rc) {
        /* the summary over all starts */
        cJSON *o = cJSON_CreateObject(), *starts = cJSON_AddArrayToObject(o, "starts");
        long best = -1;
        if (!starts) {
            cJSON_Delete(o);
            return cli_error(CLI_FAIL, "%s.json: out of memory", run);
        }
        for (size_t s = 0; s < k; s++) {
            cJSON *e = cJSON_CreateObject();
            if (!e || !cJSON_AddItemToArray(starts, e)) {
                cJSON_Delete(e);
                cJSON_Delete(o);
                return cli_error(CLI_FAIL, "%s.json: out of memory", run);
            }
            char file[4096 + 32];
            snprintf(file, sizeof file, "%s_%zu", run, s);
            cJSON_AddNumberToObject(e, "seed", (double)(seed + s));
            cJSON_AddItemToObject(e, "loss", mlpf_json_number(res[s]->loss));
            cJSON_AddItemToObject(e, "gnorm", mlpf_json_number(res[s]->gnorm));
            cJSON_AddBoolToObject(e, "converged", res[s]->converged);
            cJSON_AddStringToObject(e, "file", file);
            if (best < 0 || res[s]->loss < res[best]->loss) best = (long)s;
        }
        cJSON_AddStringToObject(o, "version", MLPF_VERSION);
        cJSON_AddStringToObject(o, "spec", p->path);
        cJSON_AddNumberToObject(o, "nstarts", (double)k);
        cJSON_AddNumberToObject(o, "best", (double)best);
        char path[4096 + 32];
        snprintf(path, sizeof path, "%s.json", run);
        mlpf_error err = {0};
        if (mlpf_write_json(path, o, &err)) rc = cli_error(CLI_FAIL, "%s", err.msg);
        cJSON_Delete(o);
    }
    if (!rc && g_interrupt)
        rc = k == 1 ? cli_error(CLI_FAIL, "interrupted: the best point so far is in %s.json / "
                                ".npz", run)
                    : cli_error(CLI_FAIL, "interrupted: the best points so far are in %s_0.json / "
                                ".npz .. %s_%zu.json / .npz (summary in %s.json)", run, run, k - 1,
                                run);
    return rc;
}

/* one JSON line per start on stdout, for scripts */
static void print_summary_json(mlpf_result **res, size_t k, const char *run) {
    for (size_t s = 0; s < k; s++) {
        if (!res[s]) continue;
        char file[4096 + 32];
        if (k == 1) snprintf(file, sizeof file, "%s", run);
        else snprintf(file, sizeof file, "%s_%zu", run, s);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "start", (double)s);
        cJSON_AddItemToObject(o, "loss", mlpf_json_number(res[s]->loss));
        cJSON_AddItemToObject(o, "gnorm", mlpf_json_number(res[s]->gnorm));
        cJSON_AddBoolToObject(o, "converged", res[s]->converged);
        cJSON_AddStringToObject(o, "ode_stopped_by", res[s]->ode_stopped_by);
        cJSON_AddStringToObject(o, "optim_stopped_by", res[s]->optim_stopped_by);
        if (res[s]->ode_kinks[0]) cJSON_AddStringToObject(o, "ode_kinks", res[s]->ode_kinks);
        cJSON_AddItemToObject(o, "total_time", mlpf_json_number(res[s]->total_time));
        cJSON_AddStringToObject(o, "run", file);
        char *text = mlpf_json_print(o, 0);
        if (text) puts(text);
        free(text);
        cJSON_Delete(o);
    }
}

int cmd_train(int argc, char **argv) {
    static const char *const valued[] = {"spec", "init", "seed", "starts", "threads", "o", NULL};
    static const char *const flags[] = {"quiet", NULL};
    cli_args a;
    char help[16384];
    train_help(help, sizeof help);
    int rc = cli_parse("train", help, argc, argv, valued, flags, 1, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!cli_get(&a, "o")) return cli_usage("train", "-o RUN is required");
    if (cli_get(&a, "init") && cli_get(&a, "seed"))
        return cli_usage("train", "give --init or --seed, not both");
    unsigned long long k, threads;
    if ((rc = cli_uint(&a, "starts", 1, 1000000, &k)) ||
        (rc = cli_uint(&a, "threads", 0, 4096, &threads)))
        return rc;
    if (k == 0) return cli_usage("train", "--starts must be at least 1");
    char run[4096];
    if ((rc = run_base("train", cli_get(&a, "o"), run, sizeof run))) return rc;
    if ((rc = cli_check_output("train", run, ".json"))) return rc;
    mlpf_problem *p;
    /* with many starts the parallelism is across starts, one thread each */
    if ((rc = cli_load_problem(&a, k > 1 ? 1 : (int)threads, &p))) return rc;
    mlpf_result **res = calloc(k, sizeof *res);
    uint64_t seed;
    if (!res) rc = cli_error(CLI_FAIL, "out of memory");
    else if (!(rc = apply_flags(&a, p))) {
        rc = train_and_save(&a, p, run, k, (int)threads, res, &seed);
        print_summary_json(res, k, run);
    }
    for (size_t s = 0; res && s < k; s++) mlpf_result_free(res[s]);
    free(res);
    mlpf_problem_free(p);
    return rc;
}

int cmd_example(int argc, char **argv) {
    static const char *const valued[] = {"o", "threads", NULL};
    static const char *const flags[] = {"quiet", "print-spec", NULL};
    cli_args a;
    int rc = cli_parse("example", HELP_EXAMPLE, argc, argv, valued, flags, 1, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (cli_flag(&a, "print-spec")) {
        fputs(EXAMPLE_SPEC, stdout);
        return CLI_OK;
    }
    unsigned long long threads;
    if ((rc = cli_uint(&a, "threads", 0, 4096, &threads))) return rc;
    mlpf_problem *p;
    mlpf_error err = {0};
    if (mlpf_problem_parse(EXAMPLE_SPEC, "<example>", "", (int)threads, &p, &err))
        return cli_error(CLI_FAIL, "%s", err.msg);
    char run[4096];
    if ((rc = run_base("example", cli_get(&a, "o") ? cli_get(&a, "o") : "example_run", run,
                       sizeof run))) {
        mlpf_problem_free(p);
        return rc;
    }
    mlpf_result *res = NULL;
    uint64_t seed;
    if ((rc = apply_flags(&a, p))) goto done;
    printf("teacher-student example: %zu samples in 2-D, teacher 4 sigmoid units, "
           "student 5 sigmoid units (%zu parameters)\n", p->n, mlpf_net_nparams(p->net));
    fflush(stdout);
    rc = train_and_save(&a, p, run, 1, 0, &res, &seed);
    if (!res) goto done;
    size_t np = res->nparams;
    double *h = malloc(np * np * sizeof(double)), *ev = malloc(np * sizeof(double));
    printf("  loss               %.6g\n", res->loss);
    printf("  gradient norm      %.3g (infinity norm)\n", res->gnorm);
    printf("  converged          %s\n", res->converged ? "yes" : "no");
    printf("  ode phase          %s: stopped by %s after %ld steps, flow time %.4g, %.3g s\n",
           res->alg, res->ode_stopped_by, res->ode_iterations, res->ode_time_run,
           res->ode_wall_time);
    if (res->ode_kinks[0]) printf("  units at a kink    %s\n", res->ode_kinks);
    printf("  minimiser          %s: stopped by %s after %ld iterations, %.3g s\n",
           res->optim_solver, res->optim_stopped_by, res->optim_iterations, res->optim_time_run);
    printf("  total time         %.3g s\n", res->total_time);
    if (h && ev && !mlpf_objective_eval(p->obj, res->x, NULL, NULL, h, &err) &&
        !mlpf_spectrum(h, np, ev, NULL, &err))
        printf("  Hessian spectrum   min %.6g, max %.6g\n", ev[0], ev[np - 1]);
    else
        printf("  Hessian spectrum   unavailable: %s\n", err.msg[0] ? err.msg : "out of memory");
    printf("  files              %s.json, %s.npz\n", run, run);
    free(h);
    free(ev);
done:
    mlpf_result_free(res);
    mlpf_problem_free(p);
    return rc;
}

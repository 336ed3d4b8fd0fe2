/* cmd_sweep.c - `mlpflow sweep SWEEP.json --db RESULTS.sqlite`: every run of
   the sweep on threads, or over MPI ranks under mpirun / srun; and `mlpflow
   sweep-report RESULTS.sqlite`. Ctrl-C stops the sweep; the runs in flight
   stay pending and the same command continues. */
#include "cli.h"
#include "sweep_cli.h"

#include <signal.h>
#include <string.h>

/* The one piece of process-wide state: a signal handler can reach nothing else. */
static volatile int g_interrupt;

static void on_signal(int sig) {
    (void)sig;
    g_interrupt = 1;
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;   /* a second Ctrl-C kills the usual way */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static const char HELP_SWEEP[] =
    "usage: mlpflow sweep SWEEP.json --db RESULTS.sqlite [--threads T] [--extend] [--quiet]\n"
    "       mlpflow sweep SWEEP.json --dry-run\n"
    "       mlpflow sweep SWEEP.json --print-run RUN_ID\n"
    "       mpirun -n R mlpflow sweep SWEEP.json --db RESULTS.sqlite [--threads T]\n"
    "\n"
    "Runs the product of the axes over a problem spec and records every run in an\n"
    "SQLite database. SWEEP.json:\n"
    "  {\"base\": {...a problem spec as for mlpflow train, with \"train\" options...},\n"
    "   \"axes\": {\"seed\": {\"range\": [1, 100]}, \"layers.0.0\": [3, 4, 5],\n"
    "            \"teacher.seed\": [1, 2], \"train.alg\": [\"kencarp58\", \"bdf\"]}}\n"
    "An axis is a dotted path into the spec (list indices as numbers) or \"seed\"\n"
    "(the start seed, train.seed), with a list of values or an inclusive integer\n"
    "{\"range\": [first, last]} (or [first, last, step]). Each run has a stable id\n"
    "(a hash of its axis values); relative file names in the base resolve against\n"
    "the sweep file's folder.\n"
    "\n"
    "Database: table runs (run_id, one column per axis named by its path, status\n"
    "pending/done/failed, error, loss, gnorm, stop reasons, iterations, times,\n"
    "kind/saddle_index/n_channels of the classification), table arrays (run_id,\n"
    "name, npy: x, init, ode_x, trajectory_t, trajectory_x, loss_curve as .npy\n"
    "bytes), table meta (the sweep). Each run is written in one transaction;\n"
    "running the same command again skips done and failed runs. A changed base\n"
    "or axes is an error; --extend accepts axes that gained values.\n"
    "\n"
    "  --db FILE        the database (created when missing)\n"
    "  --threads T      runs in parallel (default: all cores); under MPI: the\n"
    "                   objective's threads within each rank's run\n"
    "  --extend         add the runs of new axis values to an existing database\n"
    "  --quiet          no progress line on stderr\n"
    "  --dry-run        print the number of runs and the first runs, run nothing\n"
    "  --print-run ID   print the problem spec of run ID (mlpflow train --spec on it\n"
    "                   reproduces the run bit for bit)\n"
    "Under mpirun / srun rank 0 writes the database and hands out runs one at a\n"
    "time to the other ranks. Exit codes: 0 all runs recorded (failed runs\n"
    "included), 1 error or interrupted, 2 usage.\n";

static const char HELP_REPORT[] =
    "usage: mlpflow sweep-report RESULTS.sqlite [--by AXIS[,AXIS...]]\n"
    "\n"
    "A table per group of the --by axis columns (default: one group): the number\n"
    "of runs, the fraction of runs per outcome (converged, the minimiser's stop\n"
    "reason when not converged, the classification kind when recorded, failed,\n"
    "pending) and quantiles of the final loss over the done runs. Works while a\n"
    "sweep writes the database.\n";

static void print_value(const cJSON *v) {
    char *t = cJSON_PrintUnformatted(v);
    printf("  %-14s", t ? t : "?");
    free(t);
}

static int dry_run(const mlpf_sweep *s) {
    printf("%s: %zu runs =", s->name, s->nruns);
    for (size_t k = 0; k < s->naxes; k++)
        printf("%s %s (%zu)", k ? " x" : "", s->axes[k].path, s->axes[k].n);
    printf("\n%-16s", "run_id");
    for (size_t k = 0; k < s->naxes; k++) printf("  %-14s", s->axes[k].path);
    putchar('\n');
    size_t show = s->nruns < 10 ? s->nruns : 10, coord[64];
    for (size_t i = 0; i < show; i++) {
        char id[MLPF_RUN_ID_LEN];
        mlpf_error err = {0};
        if (mlpf_sweep_run_id(s, i, id, &err)) return cli_error(CLI_FAIL, "%s", err.msg);
        mlpf_sweep_coords(s, i, coord);
        printf("%-16s", id);
        for (size_t k = 0; k < s->naxes; k++)
            print_value(mlpf_sweep_value(s, k, coord[k]));
        putchar('\n');
    }
    if (show < s->nruns) printf("... (%zu more)\n", s->nruns - show);
    return CLI_OK;
}

static int print_run(const mlpf_sweep *s, const char *want) {
    for (size_t i = 0; i < s->nruns; i++) {
        char id[MLPF_RUN_ID_LEN];
        mlpf_error err = {0};
        if (mlpf_sweep_run_id(s, i, id, &err)) return cli_error(CLI_FAIL, "%s", err.msg);
        if (strcmp(id, want)) continue;
        char *text = mlpf_sweep_run_spec(s, i, &err);
        if (!text) return cli_error(CLI_FAIL, "%s", err.msg);
        puts(text);
        mlpf_free(text);
        return CLI_OK;
    }
    return cli_error(CLI_FAIL, "%s: no run with id %s", s->name, want);
}

static int run_sweep(const cli_args *a, const mlpf_sweep *s, unsigned long long threads) {
    const char *db = cli_get(a, "db");
    if (!db) return cli_usage("sweep", "--db RESULTS.sqlite is required");
    mlpf_sweep_options o;
    mlpf_sweep_options_default(&o);
    o.threads = (int)threads;
    o.extend = cli_flag(a, "extend");
    o.verbosity = cli_flag(a, "quiet") ? 0 : 1;
    g_interrupt = 0;
    o.interrupt = &g_interrupt;
    install_signals();
    mlpf_error err = {0};
    int st = sweep_mpi_ranks() > 1 ? sweep_mpi_run(s, db, &o, &err)
                                   : mlpf_sweep_run(s, db, &o, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return st ? cli_error(CLI_FAIL, "%s", err.msg) : CLI_OK;
}

int cmd_sweep(int argc, char **argv) {
    static const char *const valued[] = {"db", "threads", "print-run", NULL};
    static const char *const flags[] = {"quiet", "extend", "dry-run", NULL};
    const char *file = argc > 0 && argv[0][0] != '-' ? argv[0] : NULL;
    cli_args a;
    int rc = cli_parse("sweep", HELP_SWEEP, argc - !!file, argv + !!file, valued, flags, 0, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!file) return cli_usage("sweep", "the sweep file SWEEP.json comes first");
    unsigned long long threads;
    if ((rc = cli_uint(&a, "threads", 0, 4096, &threads))) return rc;
    mlpf_error err = {0};
    mlpf_sweep *s = mlpf_sweep_load(file, &err);
    if (!s) return cli_error(CLI_FAIL, "%s", err.msg);
    if (cli_flag(&a, "dry-run")) rc = dry_run(s);
    else if (cli_get(&a, "print-run")) rc = print_run(s, cli_get(&a, "print-run"));
    else rc = run_sweep(&a, s, threads);
    mlpf_sweep_free(s);
    return rc;
}

int cmd_sweep_report(int argc, char **argv) {
    static const char *const valued[] = {"by", NULL};
    const char *db = argc > 0 && argv[0][0] != '-' ? argv[0] : NULL;
    cli_args a;
    int rc = cli_parse("sweep-report", HELP_REPORT, argc - !!db, argv + !!db, valued, NULL, 0, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!db) return cli_usage("sweep-report", "the database RESULTS.sqlite comes first");
    mlpf_error err = {0};
    if (mlpf_sweep_report(db, cli_get(&a, "by"), stdout, &err))
        return cli_error(CLI_FAIL, "%s", err.msg);
    return CLI_OK;
}

/* cmd_matfree.c - `mlpflow spectrum --k K`: the K extreme Hessian eigenvalues
   (and eigenvectors) by Lanczos on Hessian-vector products, for networks whose
   P x P Hessian does not fit in memory. */
#include "cli.h"

#include <string.h>

static const char HELP_SPECTRUM_K[] =
    "usage: mlpflow spectrum --spec S.json --params P.npy --k K -o E.npy\n"
    "                        [--which smallest|largest] [--tol 1e-8] [--vectors V.npy]\n"
    "                        [--regularized] [--threads T]\n"
    "\n"
    "The K smallest (default) or largest Hessian eigenvalues, ascending (K,), by\n"
    "thick-restart Lanczos on exact Hessian-vector products: no P x P matrix, so it\n"
    "runs at P = 10^5 and beyond. Each value is within its residual\n"
    "|H y - theta y| <= tol * |H| of an eigenvalue of H. --vectors writes the\n"
    "eigenvectors as columns of a (P, K) matrix. Prints {\"min\", \"max\", \"nhvp\",\n"
    "\"max_residual\"} on stdout.\n";

/* The parsed --which, or -1 after a usage message. */
static int parse_which(const cli_args *a) {
    const char *w = cli_get(a, "which");
    if (!w || !strcmp(w, "smallest")) return MLPF_EIGS_SMALLEST;
    if (!strcmp(w, "largest")) return MLPF_EIGS_LARGEST;
    cli_usage("spectrum", "--which %s: expected smallest or largest", w);
    return -1;
}

/* E (k) and, when vec != NULL, V (P, k) from the row-major eigenvector rows (k, P). */
static int write_pairs(const char *out, const char *vec, const double *ev, const double *rows,
                       size_t k, size_t P, mlpf_error *err) {
    size_t s1[1] = {k}, s2[2] = {P, k};
    if (mlpf_write_npy(out, ev, s1, 1, err)) return CLI_FAIL;
    if (!vec) return CLI_OK;
    double *V = malloc(P * k * sizeof *V);
    if (!V) return mlpf_fail(err, MLPF_ENOMEM, "out of memory for --vectors (%zu x %zu)", P, k);
    for (size_t i = 0; i < k; i++)
        for (size_t q = 0; q < P; q++) V[q * k + i] = rows[i * P + q];
    int st = mlpf_write_npy(vec, V, s2, 2, err);
    free(V);
    return st ? CLI_FAIL : CLI_OK;
}

static int spectrum_k_run(const cli_args *a, const mlpf_objective *obj, const double *x, size_t k,
                          int which, double tol) {
    size_t P = mlpf_objective_nparams(obj);
    const char *vec = cli_get(a, "vectors");
    double *ev = malloc(k * sizeof *ev), *res = malloc(k * sizeof *res);
    double *rows = vec ? malloc(k * P * sizeof *rows) : NULL;
    mlpf_error err = {0};
    mlpf_eigs_options opt = {.tol = tol};
    mlpf_eigs_info info = {0};
    int rc = CLI_OK;
    if (!ev || !res || (vec && !rows)) {
        rc = cli_error(CLI_FAIL, "out of memory");
    } else if (mlpf_hessian_eigs(obj, x, (int)k, (mlpf_eigs_which)which, &opt, ev, rows, res, &info, &err) ||
               write_pairs(cli_get(a, "o"), vec, ev, rows, k, P, &err)) {
        rc = cli_error(CLI_FAIL, "spectrum --k: %s", err.msg);
    } else {
        double rmax = 0;
        for (size_t i = 0; i < k; i++) rmax = res[i] > rmax ? res[i] : rmax;
        char lo[32], hi[32], rm[32];
        cli_json_number(lo, sizeof lo, ev[0]);
        cli_json_number(hi, sizeof hi, ev[k - 1]);
        cli_json_number(rm, sizeof rm, rmax);
        printf("{\"min\": %s, \"max\": %s, \"nhvp\": %d, \"max_residual\": %s, \"ndeflated\": %d}\n", lo, hi,
               info.nhvp, rm, info.ndeflated);
    }
    free(ev); free(res); free(rows);
    return rc;
}

int cmd_spectrum_krylov(int argc, char **argv) {
    static const char *const valued[] = {"spec", "params", "o", "threads", "vectors", "k", "which", "tol", NULL};
    static const char *const flags[] = {"regularized", NULL};
    cli_args a;
    int rc = cli_parse("spectrum", HELP_SPECTRUM_K, argc, argv, valued, flags, 0, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!cli_get(&a, "params")) return cli_usage("spectrum", "--params P.npy is required");
    if (!cli_get(&a, "o")) return cli_usage("spectrum", "-o FILE is required");
    if ((rc = cli_check_output("spectrum", cli_get(&a, "o"), ""))) return rc;
    if (cli_get(&a, "vectors") && (rc = cli_check_output("spectrum", cli_get(&a, "vectors"), ""))) return rc;
    unsigned long long threads, k;
    if ((rc = cli_uint(&a, "threads", 0, 4096, &threads)) || (rc = cli_uint(&a, "k", 0, 1u << 30, &k))) return rc;
    if (k == 0) return cli_usage("spectrum", "--k 0: need at least one eigenvalue");
    int which = parse_which(&a);
    if (which < 0) return CLI_USAGE;
    double tol = 1e-8;
    const char *ts = cli_get(&a, "tol");
    if (ts) {
        char *end;
        tol = strtod(ts, &end);
        if (*end || !(tol > 0 && tol < 1)) return cli_usage("spectrum", "--tol %s: expected a number in (0, 1)", ts);
    }
    mlpf_problem *p = NULL;
    double *x = NULL;
    if ((rc = cli_load_problem(&a, (int)threads, &p))) return rc;
    if (k > mlpf_net_nparams(p->net)) {
        rc = cli_usage("spectrum", "--k %llu: the network has only %zu parameters", k, mlpf_net_nparams(p->net));
    } else if (!(rc = cli_read_params(cli_get(&a, "params"), p->net, &x))) {
        rc = spectrum_k_run(&a, cli_flag(&a, "regularized") ? p->reg : p->obj, x, (size_t)k, which, tol);
    }
    free(x);
    mlpf_problem_free(p);
    return rc;
}

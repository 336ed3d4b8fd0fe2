/* arpack_eigs.c - the k smallest Hessian eigenvalues of a trained digits net by
   ARPACK (Debian's libarpack2: dsaupd / dseupd, which = "SA", mode 1, exact
   shifts) beside mlpflow's thick-restart Lanczos (mlpf_hessian_eigs), on the
   same Hessian-vector product, in one process, one thread.

   Same tolerance meaning for both: every returned pair has
   |H y - theta y| <= tol |H|. ARPACK tests |r| <= tol |theta|, relative to the
   Ritz value itself, so it runs on A = H + s I with s = |H| (the largest
   eigenvalue, from a top-1 Lanczos run, >= 0 at a minimum): A's Krylov spaces
   and Ritz vectors are H's (Krylov spaces are shift-invariant), its residuals
   are H's, and its test becomes |r| <= tol (s + theta) ~ tol |H|. The true
   residuals are recomputed for both methods afterwards (k extra products, not
   counted). ARPACK keeps its state in Fortran SAVE variables: it is a peer
   here, never part of the (reentrant) library.

   usage: arpack_eigs X.npy y.npy x.npy WIDTH N LAM K TOL MAXHVP NCV [NCV ...]
   The net is 64 -> WIDTH tanh -> WIDTH tanh -> 10 softmax on the first N
   images (cross-entropy + LAM/2 |x|^2, as bench/hvp_bench.py and example 15).
   Prints one JSON line per method and ncv: products, CPU seconds, the largest
   true residual / |H| and the k values. */
#include "mlpflow.h"

#include <arpack/arpack.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The library's mlpf_fail is internal: the same, for this program. */
static int fail(mlpf_error *err, int status, const char *msg) {
    err->status = status;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return status;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const mlpf_objective *obj;
    const double *x;
    size_t P;
    double shift; /* products are (H + shift I) v */
    long nhvp;
} shifted_op;

static int apply(shifted_op *op, const double *v, double *out, mlpf_error *err) {
    op->nhvp++;
    int st = mlpf_objective_hvp(op->obj, op->x, v, out, err);
    for (size_t i = 0; i < op->P && !st; i++) out[i] += op->shift * v[i];
    return st;
}

/* max_i |H y_i - theta_i y_i| over the k pairs: evals (k), Y (k, P) rows, w (P). */
static int max_residual(const mlpf_objective *obj, const double *x, size_t P, int k,
                        const double *evals, const double *Y, double *w, double *res,
                        mlpf_error *err) {
    *res = 0;
    for (int i = 0; i < k; i++) {
        const double *y = Y + (size_t)i * P;
        int st = mlpf_objective_hvp(obj, x, y, w, err);
        if (st) return st;
        double s = 0, n = 0;
        for (size_t q = 0; q < P; q++) {
            double r = w[q] - evals[i] * y[q];
            s += r * r;
            n += y[q] * y[q];
        }
        if (sqrt(s / n) > *res) *res = sqrt(s / n);
    }
    return MLPF_OK;
}

static void print_run(const char *method, int ncv, long nhvp, double cpu, int converged,
                      double res, double hnorm, int k, const double *evals) {
    printf("{\"method\": \"%s\", \"ncv\": %d, \"nhvp\": %ld, \"cpu_s\": %.2f, \"converged\": %d, "
           "\"max_resid_over_H\": %.2e, \"values\": [", method, ncv, nhvp, cpu, converged, res / hnorm);
    for (int i = 0; i < k; i++) printf("%s%.6e", i ? ", " : "", evals[i]);
    printf("]}\n");
    fflush(stdout);
}

/* ARPACK's reverse-communication loop on H + shift I; evals (k) ascending, Y (k, P). */
static int arpack_smallest(shifted_op *op, int k, double tol, int ncv, long maxhvp, double *evals,
                           double *Y, int *converged, mlpf_error *err) {
    a_int n = (a_int)op->P, lworkl = ncv * (ncv + 8), ido = 0, info = 1;
    a_int iparam[11] = {0}, ipntr[11] = {0};
    iparam[0] = 1;      /* exact shifts */
    iparam[2] = 100000; /* restarts: the product budget stops it instead */
    iparam[6] = 1;      /* mode 1: A x = lambda x */
    double *resid = malloc(op->P * sizeof *resid), *V = malloc((size_t)ncv * op->P * sizeof *V);
    double *workd = malloc(3 * op->P * sizeof *workd), *workl = malloc((size_t)lworkl * sizeof *workl);
    double *d = malloc((size_t)ncv * sizeof *d);
    a_int *select = calloc((size_t)ncv, sizeof *select);
    int st = !resid || !V || !workd || !workl || !d || !select;
    if (st) st = fail(err, MLPF_ENOMEM, "arpack_eigs: out of memory");
    for (size_t q = 0; q < op->P && !st; q++) resid[q] = sin(0.7 * (double)q + 0.3); /* fixed start */
    *converged = 0;
    while (!st) {
        dsaupd_c(&ido, "I", n, "SA", k, tol, resid, ncv, V, n, iparam, ipntr, workd, workl, lworkl, &info);
        if (ido != 1 && ido != -1) break;
        if (op->nhvp >= maxhvp) break;
        st = apply(op, workd + ipntr[0] - 1, workd + ipntr[1] - 1, err);
    }
    if (!st && ido == 99 && info == 0) {
        dseupd_c(1, "A", select, d, V, n, 0.0, "I", n, "SA", k, tol, resid, ncv, V, n, iparam, ipntr,
                 workd, workl, lworkl, &info);
        if (info) st = fail(err, MLPF_ENUMERIC, "arpack_eigs: dseupd failed (info != 0)");
        for (int i = 0; i < k && !st; i++) {
            evals[i] = d[i] - op->shift;
            memcpy(Y + (size_t)i * op->P, V + (size_t)i * op->P, op->P * sizeof *Y);
        }
        *converged = !st && iparam[4] >= k;
    } else if (!st && info != 0 && info != 1) {
        st = fail(err, MLPF_ENUMERIC, "arpack_eigs: dsaupd failed (info not 0 or 1)");
    }
    free(resid); free(V); free(workd); free(workl); free(d); free(select);
    return st;
}

/* Runs both methods at one ncv and prints them. */
static int compare_at(const mlpf_objective *obj, const double *x, size_t P, int k, double tol,
                      long maxhvp, int ncv, double hnorm, double *evals, double *Y, double *w,
                      mlpf_error *err) {
    double t0 = cpu_now(), res = 0;
    mlpf_eigs_options o = {.ncv = ncv, .tol = tol, .max_hvp = (int)maxhvp, .seed = 1};
    mlpf_eigs_info info = {0};
    int st = mlpf_hessian_eigs(obj, x, k, MLPF_EIGS_SMALLEST, &o, evals, Y, NULL, &info, err);
    int conv = st == MLPF_OK;
    if (st == MLPF_ENUMERIC) st = MLPF_OK; /* not converged: still report the estimates */
    double cpu = cpu_now() - t0;
    if (!st) st = max_residual(obj, x, P, k, evals, Y, w, &res, err);
    if (st) return st;
    print_run("mlpflow-lanczos", ncv, info.nhvp, cpu, conv, res, hnorm, k, evals);
    shifted_op op = {obj, x, P, hnorm, 0};
    t0 = cpu_now();
    st = arpack_smallest(&op, k, tol, ncv, maxhvp, evals, Y, &conv, err);
    cpu = cpu_now() - t0;
    if (st) return st;
    res = INFINITY;
    if (conv) st = max_residual(obj, x, P, k, evals, Y, w, &res, err);
    else for (int i = 0; i < k; i++) evals[i] = NAN;
    if (!st) print_run("arpack-dsaupd", ncv, op.nhvp, cpu, conv, res, hnorm, k, evals);
    return st;
}

/* The net (64 -> width tanh -> width tanh -> 10 softmax, CE) on the first n images, + lam/2 |x|^2. */
static int load(char **argv, mlpf_net **net, mlpf_objective **base, mlpf_objective **obj, double **x,
                size_t *P, mlpf_error *err) {
    double *X = NULL, *y = NULL;
    size_t sx[2], sy[2], sp[2];
    int nx, ny, np, width = atoi(argv[4]);
    size_t n = (size_t)atol(argv[5]);
    int st = mlpf_read_array(argv[1], &X, sx, &nx, err);
    if (!st) st = mlpf_read_array(argv[2], &y, sy, &ny, err);
    if (!st) st = mlpf_read_array(argv[3], x, sp, &np, err);
    if (!st && (nx != 2 || sx[1] != 64 || sy[0] < n || sx[0] < n || n < 1 || width < 1))
        st = fail(err, MLPF_EINVAL, "arpack_eigs: need X (N, 64), y (N) and 1 <= n <= N");
    if (!st) {
        *net = mlpf_net_create(64, err);
        if (!*net || mlpf_net_add_layer(*net, width, "tanh", 1, err) ||
            mlpf_net_add_layer(*net, width, "tanh", 1, err) || mlpf_net_add_layer(*net, 10, "softmax", 1, err))
            st = MLPF_EINVAL;
    }
    if (!st && (*P = mlpf_net_nparams(*net)) != sp[0])
        st = fail(err, MLPF_EINVAL, "arpack_eigs: x does not have the net's P entries");
    mlpf_finite_options fo = {.loss = MLPF_LOSS_CROSSENTROPY, .threads = 1};
    if (!st && !(*base = mlpf_objective_finite(*net, n, X, y, 1, NULL, &fo, err))) st = MLPF_EINVAL;
    if (!st && !(*obj = mlpf_objective_l2(*base, atof(argv[6]), err))) st = MLPF_EINVAL;
    mlpf_free(X);
    mlpf_free(y);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 11) {
        fprintf(stderr, "usage: arpack_eigs X.npy y.npy x.npy WIDTH N LAM K TOL MAXHVP NCV [NCV ...]\n");
        return 2;
    }
    mlpf_error err = {0};
    mlpf_net *net = NULL;
    mlpf_objective *base = NULL, *obj = NULL;
    double *x = NULL;
    size_t P = 0;
    int k = atoi(argv[7]);
    double tol = atof(argv[8]);
    long maxhvp = atol(argv[9]);
    int st = load(argv, &net, &base, &obj, &x, &P, &err);
    double *evals = NULL, *Y = NULL, *w = NULL, top = 0;
    if (!st && (k < 1 || k > 50 || !(tol > 0) || maxhvp < 1))
        st = fail(&err, MLPF_EINVAL, "arpack_eigs: need 1 <= K <= 50, TOL > 0, MAXHVP >= 1");
    if (!st) {
        evals = malloc(50 * sizeof *evals); Y = malloc(50 * P * sizeof *Y); w = malloc(P * sizeof *w);
        if (!evals || !Y || !w) st = fail(&err, MLPF_ENOMEM, "arpack_eigs: out of memory");
    }
    mlpf_eigs_info info = {0};
    mlpf_eigs_options o1 = {.tol = 1e-10};
    double t0 = cpu_now();
    if (!st) st = mlpf_hessian_eigs(obj, x, 1, MLPF_EIGS_LARGEST, &o1, &top, NULL, NULL, &info, &err);
    if (!st)
        printf("{\"P\": %zu, \"k\": %d, \"tol\": %g, \"H_norm\": %.10g, \"top1_nhvp\": %d, \"top1_cpu_s\": %.2f}\n",
               P, k, tol, top, info.nhvp, cpu_now() - t0);
    for (int a = 10; a < argc && !st; a++)
        st = compare_at(obj, x, P, k, tol, maxhvp, atoi(argv[a]), fabs(top), evals, Y, w, &err);
    if (st) fprintf(stderr, "arpack_eigs: %s\n", err.msg);
    free(evals); free(Y); free(w); mlpf_free(x);
    mlpf_objective_free(obj); mlpf_objective_free(base); mlpf_net_free(net);
    return st ? 1 : 0;
}

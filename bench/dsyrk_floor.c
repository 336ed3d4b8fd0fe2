/* dsyrk_floor.c - seconds for OpenBLAS dsyrk on a (N, P) matrix: the Gauss-Newton
   floor of an exact Hessian (P^2 N multiply-adds). Median of R runs, one thread
   unless OMP_NUM_THREADS says otherwise.  usage: dsyrk_floor P N [R] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: dsyrk_floor P N [R]\n"); return 2; }
    int p = atoi(argv[1]), n = atoi(argv[2]), r = argc > 3 ? atoi(argv[3]) : 5;
    if (p < 1 || n < 1 || r < 1 || r > 100) { fprintf(stderr, "dsyrk_floor: bad sizes\n"); return 2; }
    double *a = malloc((size_t)p * (size_t)n * sizeof *a), *c = malloc((size_t)p * (size_t)p * sizeof *c), t[100];
    if (!a || !c) { fprintf(stderr, "dsyrk_floor: out of memory\n"); return 1; }
    for (size_t i = 0; i < (size_t)p * (size_t)n; i++) a[i] = (double)(i % 17) * 0.01 - 0.08;
    for (int k = 0; k < r; k++) {
        double t0 = now();
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, p, n, 1.0, a, p, 0.0, c, p);
        t[k] = now() - t0;
    }
    qsort(t, (size_t)r, sizeof *t, cmp);
    printf("{\"nparams\": %d, \"samples\": %d, \"dsyrk_seconds\": %.6g}\n", p, n, t[r / 2]);
    free(a);
    free(c);
    return 0;
}

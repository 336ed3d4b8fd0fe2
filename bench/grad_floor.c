/* grad_floor.c - the floor of a loss + gradient call of the benchmark network
   (Din inputs, k softplus units with biases, one linear output with bias, MSE):
   only the work no implementation can skip, fused into one pass per chunk of
   samples that stays in L1/L2:
     - per sample and unit: the pre-activation (Din multiply-adds), softplus and
       its derivative from one exp and one log (glibc's vector math, compiled
       for this CPU with -march=native), the output product;
     - per sample: the residual;
     - per sample and unit: the backward products into the gradient.
   Nothing is stored beyond one chunk. Median of R timings, each repeating the
   call (in batches of 8 between clock reads) for at least 10 ms; one thread.
   With "cpu": process CPU time and the minimum of the R timings instead (the
   robust figure on a loaded machine; bench/grad_cpu.c times mlpflow the same way).
   usage: grad_floor DIN K N [R] [cpu]
   Prints {"din", "units", "samples", "grad_floor_seconds"}; the loss of the last call
   to stderr (grad_cpu.c computes the same function: the two must agree). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern double log(double);

#define CHUNK 256

static clockid_t clock_used = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec ts;
    clock_gettime(clock_used, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    int din, k;
    size_t n;
    const double *X, *T;   /* X (din, n) feature-major, T (n) */
    const double *W;       /* (k, din + 1) then a (k) then c */
} problem;

/* One chunk of B samples: forward (f, df (k, B) and y (B)), residual, backward
   into g (P). u and delta (B) are scratch. Returns the chunk's sum of squared
   residuals. Every inner loop runs along the contiguous sample axis. */
static double chunk(const problem *pb, size_t s0, int B, double *f, double *df, double *y,
                    double *u, double *g) {
    const int d = pb->din, k = pb->k;
    const double *a = pb->W + (size_t)k * (d + 1), c = a[k];
    for (int i = 0; i < B; i++) y[i] = c;
    for (int j = 0; j < k; j++) {
        const double *w = pb->W + (size_t)j * (d + 1);
        double *fj = f + (size_t)j * B, *dfj = df + (size_t)j * B;
        for (int i = 0; i < B; i++) u[i] = w[d];
        for (int q = 0; q < d; q++) {
            const double *xq = pb->X + (size_t)q * pb->n + s0, wq = w[q];
            for (int i = 0; i < B; i++) u[i] += wq * xq[i];
        }
        const double aj = a[j];
#pragma omp simd
        for (int i = 0; i < B; i++) {
            double ui = u[i], e = exp(-fabs(ui)), w1 = 1.0 + e;
            fj[i] = 0.5 * (ui + fabs(ui)) + log(w1);
            dfj[i] = (ui > 0 ? 1.0 : e) / w1;
            y[i] += aj * fj[i];
        }
    }
    double sse = 0;
    const double scale = 2.0 / (double)pb->n;
#pragma omp simd reduction(+ : sse)
    for (int i = 0; i < B; i++) {
        double r = y[i] - pb->T[s0 + i];
        sse += r * r;
        y[i] = scale * r;  /* y now holds dL/dy */
    }
    double *ga = g + (size_t)k * (d + 1), *delta = u;
    for (int j = 0; j < k; j++) {
        const double *fj = f + (size_t)j * B, *dfj = df + (size_t)j * B, aj = a[j];
        double *gw = g + (size_t)j * (d + 1), gaj = 0, gb = 0;
#pragma omp simd reduction(+ : gaj, gb)
        for (int i = 0; i < B; i++) {
            delta[i] = aj * y[i] * dfj[i];
            gaj += y[i] * fj[i];
            gb += delta[i];
        }
        for (int q = 0; q < d; q++) {
            const double *xq = pb->X + (size_t)q * pb->n + s0;
            double acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int i = 0; i < B; i++) acc += delta[i] * xq[i];
            gw[q] += acc;
        }
        gw[d] += gb;
        ga[j] += gaj;
    }
    double gc = 0;
#pragma omp simd reduction(+ : gc)
    for (int i = 0; i < B; i++) gc += y[i];
    ga[k] += gc;
    return sse;
}

static double loss_grad(const problem *pb, double *f, double *df, double *y, double *g,
                        size_t P) {
    double u[CHUNK];
    memset(g, 0, P * sizeof *g);
    double sse = 0;
    for (size_t s0 = 0; s0 < pb->n; s0 += CHUNK) {
        int B = pb->n - s0 < CHUNK ? (int)(pb->n - s0) : CHUNK;
        sse += chunk(pb, s0, B, f, df, y, u, g);
    }
    return sse / (double)pb->n;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: grad_floor DIN K N [R] [cpu]\n");
        return 2;
    }
    int d = atoi(argv[1]), k = atoi(argv[2]), r = argc > 4 ? atoi(argv[4]) : 5;
    long nl = atol(argv[3]);
    int cpu = argc > 5 && strcmp(argv[5], "cpu") == 0;
    if (cpu) clock_used = CLOCK_PROCESS_CPUTIME_ID;
    if (d < 1 || d > 16 || k < 1 || nl < 1 || r < 1 || r > 100) {
        fprintf(stderr, "grad_floor: bad sizes (1 <= DIN <= 16, K, N >= 1, 1 <= R <= 100)\n");
        return 2;
    }
    size_t n = (size_t)nl, P = (size_t)k * (d + 2) + 1;
    double *X = malloc((size_t)d * n * sizeof *X), *T = malloc(n * sizeof *T);
    double *W = malloc(P * sizeof *W), *g = malloc(P * sizeof *g);
    double *f = malloc((size_t)k * CHUNK * sizeof *f), *df = malloc((size_t)k * CHUNK * sizeof *df);
    double *y = malloc(CHUNK * sizeof *y), t[100];
    if (!X || !T || !W || !g || !f || !df || !y) {
        fprintf(stderr, "grad_floor: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)d * n; i++) X[i] = sin(0.37 * (double)i) * 1.3;
    for (size_t i = 0; i < n; i++) T[i] = cos(0.11 * (double)i);
    for (size_t i = 0; i < P; i++) W[i] = 0.5 * sin(1.7 * (double)i + 0.2);
    problem pb = {d, k, n, X, T, W};
    volatile double sink = loss_grad(&pb, f, df, y, g, P);
    /* the floor must compute the real gradient: central differences on a few entries */
    double worst = 0;
    for (size_t i = 0; i < P; i += 1 + P / 7) {
        double *gi = malloc(P * sizeof *gi), h = 1e-5, w0 = W[i];
        if (!gi) return 1;
        W[i] = w0 + h;
        double lp = loss_grad(&pb, f, df, y, gi, P);
        W[i] = w0 - h;
        double lm = loss_grad(&pb, f, df, y, gi, P);
        W[i] = w0;
        double fd = (lp - lm) / (2 * h), e = fabs(fd - g[i]) / (fabs(fd) + 1e-8);
        if (e > worst) worst = e;
        free(gi);
    }
    loss_grad(&pb, f, df, y, g, P);
    if (worst > 1e-5) {
        fprintf(stderr, "grad_floor: gradient check failed (relative error %g)\n", worst);
        return 1;
    }
    for (int rep = 0; rep < r; rep++) {
        long calls = 0;
        double t0 = now(), el;
        do {
            for (int b = 0; b < 8; b++) sink += loss_grad(&pb, f, df, y, g, P);
            calls += 8;
            el = now() - t0;
        } while (el < 0.01);
        t[rep] = el / (double)calls;
    }
    qsort(t, (size_t)r, sizeof t[0], cmp);
    printf("{\"din\": %d, \"units\": %d, \"samples\": %zu, \"grad_floor_seconds\": %.6g}\n", d, k,
           n, cpu ? t[0] : t[r / 2]);
    fprintf(stderr, "grad_floor loss %.17g\n", loss_grad(&pb, f, df, y, g, P));
    (void)sink;
    free(X), free(T), free(W), free(g), free(f), free(df), free(y);
    return 0;
}

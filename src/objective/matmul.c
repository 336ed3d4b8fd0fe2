/* matmul.c - the three matrix products of the MLP kernels. BLAS does them well
   when every dimension is sizeable; the layers of our users' networks often have
   an inner dimension of 1 to 8 (Din = 2, one output), where BLAS's packing costs
   more than the arithmetic, so those shapes get plain loops that vectorise over
   the long dimension. */
#include "internal.h"

#include <cblas.h>

#define SMALL 8

void mlpf_mm_nt(int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                double *C, int ldc, double *scratch) {
    if (K > SMALL && N <= SMALL) { /* a few long dot products per row */
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                const double *a = A + (size_t)m * (size_t)lda, *b = B + (size_t)n * (size_t)ldb;
                double acc = 0.0;
                for (int k = 0; k < K; k++) acc += a[k] * b[k];
                C[(size_t)m * (size_t)ldc + (size_t)n] = acc;
            }
        return;
    }
    if (K > SMALL) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0, A, lda, B, ldb, 0.0, C, ldc);
        return;
    }
    /* Bt (K, N) so that each row of C is a short sum of contiguous rows. */
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) scratch[k * N + n] = B[n * ldb + k];
    for (int m = 0; m < M; m++) {
        double *c = C + (size_t)m * (size_t)ldc;
        const double *a = A + (size_t)m * (size_t)lda;
        for (int n = 0; n < N; n++) c[n] = 0.0;
        for (int k = 0; k < K; k++) {
            const double ak = a[k], *bt = scratch + (size_t)k * (size_t)N;
            for (int n = 0; n < N; n++) c[n] += ak * bt[n];
        }
    }
}

void mlpf_mm_nn(int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                double *C, int ldc) {
    if (K > SMALL) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0, A, lda, B, ldb, 0.0, C, ldc);
        return;
    }
    for (int m = 0; m < M; m++) {
        double *c = C + (size_t)m * (size_t)ldc;
        const double *a = A + (size_t)m * (size_t)lda;
        for (int n = 0; n < N; n++) c[n] = 0.0;
        for (int k = 0; k < K; k++) {
            const double ak = a[k], *b = B + (size_t)k * (size_t)ldb;
            for (int n = 0; n < N; n++) c[n] += ak * b[n];
        }
    }
}

void mlpf_mm_tn_acc(int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                    double *C, int ldc, double *scratch) {
    if (M > SMALL && N > SMALL) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0, A, lda, B, ldb, 1.0, C, ldc);
        return;
    }
    if (N >= M) { /* rows of C are long: accumulate them directly */
        for (int k = 0; k < K; k++) {
            const double *a = A + (size_t)k * (size_t)lda, *b = B + (size_t)k * (size_t)ldb;
            for (int m = 0; m < M; m++) {
                double *c = C + (size_t)m * (size_t)ldc;
                const double am = a[m];
                for (int n = 0; n < N; n++) c[n] += am * b[n];
            }
        }
        return;
    }
    /* Columns of C are long: accumulate C^T (N, M) in scratch, then add it back. */
    for (int i = 0; i < N * M; i++) scratch[i] = 0.0;
    for (int k = 0; k < K; k++) {
        const double *a = A + (size_t)k * (size_t)lda, *b = B + (size_t)k * (size_t)ldb;
        for (int n = 0; n < N; n++) {
            double *ct = scratch + (size_t)n * (size_t)M;
            const double bn = b[n];
            for (int m = 0; m < M; m++) ct[m] += bn * a[m];
        }
    }
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) C[(size_t)m * (size_t)ldc + (size_t)n] += scratch[(size_t)n * (size_t)M + (size_t)m];
}

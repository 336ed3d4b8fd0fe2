/* matmul.c - the three matrix products of the MLP kernels (row-major). BLAS does
   them well when every dimension is sizeable; our users' layers often have a
   dimension of 1 to 8 (Din = 2, one output), where BLAS's packing costs more
   than the arithmetic, so those shapes get plain loops that run along the long,
   contiguous sample axis. */
#include "internal.h"

#include <cblas.h>

#define SMALL 8

MLPF_HOT void mlpf_mm_nn(int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                double *C, int ldc) {
    if (K > SMALL && M > SMALL) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0, A, lda, B, ldb, 0.0, C, ldc);
        return;
    }
    for (int m = 0; m < M; m++) {
        double *c = C + (size_t)m * (size_t)ldc;
        const double *a = A + (size_t)m * (size_t)lda;
        /* the first term sets c (no zeroing pass): the sum's order is k = 0, 1, ... */
        const double a0 = a[0];
        for (int n = 0; n < N; n++) c[n] = a0 * B[n];
        for (int k = 1; k < K; k++) {
            const double ak = a[k], *b = B + (size_t)k * (size_t)ldb;
            for (int n = 0; n < N; n++) c[n] += ak * b[n];
        }
    }
}

MLPF_HOT void mlpf_mm_tn(int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                double *C, int ldc) {
    if (K > SMALL && M > SMALL) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0, A, lda, B, ldb, 0.0, C, ldc);
        return;
    }
    for (int m = 0; m < M; m++) {
        double *c = C + (size_t)m * (size_t)ldc;
        const double a0m = A[m];
        for (int n = 0; n < N; n++) c[n] = a0m * B[n];
        for (int k = 1; k < K; k++) {
            const double akm = A[(size_t)k * (size_t)lda + (size_t)m], *b = B + (size_t)k * (size_t)ldb;
            for (int n = 0; n < N; n++) c[n] += akm * b[n];
        }
    }
}

MLPF_HOT void mlpf_mm_nt_acc(int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                    double *C, int ldc) {
    if (M > SMALL && N > SMALL) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0, A, lda, B, ldb, 1.0, C, ldc);
        return;
    }
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            const double *a = A + (size_t)m * (size_t)lda, *b = B + (size_t)n * (size_t)ldb;
            double acc = 0.0;
#pragma omp simd reduction(+ : acc)
            for (int k = 0; k < K; k++) acc += a[k] * b[k];
            C[(size_t)m * (size_t)ldc + (size_t)n] += acc;
        }
}

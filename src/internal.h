/* internal.h - shared by the library's sources, not installed. */
#ifndef MLPF_INTERNAL_H
#define MLPF_INTERNAL_H

#include "mlpflow.h"
#include <stdarg.h>
#include <stdlib.h>

/* Everything declared here is internal: hidden even where a compiler feature
   (target_clones' ifunc symbols) would otherwise export it. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#if defined(__GNUC__)
#define MLPF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MLPF_PRINTF(a, b)
#endif

/* The vector kernels (activation loops, small matmuls, the finite-data chunk
   kernels) are compiled three times, for baseline x86-64, x86-64-v3 (AVX2, FMA)
   and x86-64-v4 (AVX-512), and the loader picks the best the CPU runs (GCC
   target_clones, an ifunc): one portable library, no -march=native. ISO C mode
   keeps FMA contraction off, so the clones differ only in libmvec's last bits.
   -DMLPF_NO_DISPATCH (sanitizer, valgrind and NATIVE=1 builds) turns it off. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__) && \
    !defined(MLPF_NO_DISPATCH)
#define MLPF_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MLPF_HOT
#endif

/* Fill err (may be NULL) and return status: `return mlpf_fail(err, MLPF_EINVAL, "...")`. */
int mlpf_fail(mlpf_error *err, int status, const char *fmt, ...) MLPF_PRINTF(3, 4);
/* Prefix an existing message: "reading X.npy: <old message>". */
int mlpf_fail_prefix(mlpf_error *err, int status, const char *fmt, ...) MLPF_PRINTF(3, 4);
void mlpf_error_clear(mlpf_error *err);

/* malloc / calloc that report through err; NULL on failure. */
void *mlpf_malloc(size_t bytes, mlpf_error *err);
void *mlpf_calloc(size_t count, size_t size, mlpf_error *err);

/* 0 when all n values are finite, else the index of the first bad one + 1. */
size_t mlpf_first_nonfinite(const double *v, size_t n);

/* Wall clock seconds (monotonic). */
double mlpf_now(void);

/* ---- network spec ---- */
typedef struct {
    int units, inputs, bias;
    mlpf_activation *acts;  /* (units); all equal when the layer shares one */
    int shared_act;         /* 1 when one activation serves the whole layer */
    size_t offset;          /* first parameter index of this layer */
} mlpf_layer;

struct mlpf_net {
    int din, nlayers, cap;
    mlpf_layer *layers;
    size_t nparams;
};

/* ---- objectives ---- */
struct mlpf_objective {
    mlpf_objective_ops ops;
    void *ctx;
    const mlpf_net *net;  /* borrowed view into ctx, or NULL */
    mlpf_hvp_fn hvp;      /* matrix-free Hessian-vector product, or NULL */
    /* bound of the loss's rounding error at x (mlpf_objective_loss_error), or NULL */
    int (*loss_error)(void *ctx, const double *x, double *loss_err, mlpf_error *err);
};

/* The argument checks of mlpf_objective_eval_subset (x finite, subset valid),
   shared by the matrix-free entry points. */
int mlpf_objective_check_call(const mlpf_objective *obj, const double *x, const size_t *subset,
                              size_t nsubset, mlpf_error *err);

/* ---- random numbers: xoshiro256** ---- */
typedef struct {
    uint64_t s[4];
} mlpf_rng;
void mlpf_rng_seed(mlpf_rng *r, uint64_t seed);
uint64_t mlpf_rng_next(mlpf_rng *r);
double mlpf_rng_uniform(mlpf_rng *r);  /* [0, 1) with 53 random bits */
double mlpf_rng_normal(mlpf_rng *r);   /* Marsaglia polar method */

/* ---- the activation table (src/spec/activation.c) ---- */
/* The row for kind, or NULL for an unknown kind. */
const mlpf_activation_info *mlpf_activation_row(mlpf_act_kind kind);

/* ---- activations on arrays (the kernels' inner loop) ---- */
/* f, df, d2f (n) at u (n) for a scalar activation; df / d2f may be NULL. */
void mlpf_activation_eval_n(const mlpf_activation *a, const double *u, size_t n, double *f,
                            double *df, double *d2f);

/* Softmax of z (n, element stride `stride`) into p (same layout); returns
   logsumexp(z). The only softmax: layers, the finite objective and its loss. */
double mlpf_softmax(int n, const double *z, size_t stride, double *p);

/* Forward one layer on n samples: in (n, inputs), W (units, inputs + bias) ->
   z, a, da, d2a (n, units); da / d2a may be NULL (and are unused for softmax). */
void mlpf_layer_forward(const mlpf_layer *L, const double *W, const double *in, size_t n,
                        double *z, double *a, double *da, double *d2a);

/* Matrix products of the kernels (row-major); plain loops for narrow shapes.
   C (M, N) = A (M, K) B (K, N). */
void mlpf_mm_nn(int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                double *C, int ldc);
/* C (M, N) = A^T B with A (K, M), B (K, N). */
void mlpf_mm_tn(int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                double *C, int ldc);
/* C (M, N) += A B^T with A (M, K), B (N, K). */
void mlpf_mm_nt_acc(int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                    double *C, int ldc);

/* The memory budget (io/budget.c): half the physical memory or of the control
   group's limit when lower, or MLPF_MAX_BYTES
   (bytes, with an optional K/M/G/T suffix). check_budget fails with MLPF_ENOMEM
   naming what and the bytes it needs when bytes exceed it; call it before
   allocating sizes that come from files, specs or callers. */
int mlpf_memory_budget(size_t *bytes, mlpf_error *err);
/* The lowest memory limit of this process's control groups (v1 or v2, the
   group and its parents) under sysroot ("" for the real system: a test passes
   a directory holding proc/self/cgroup and sys/fs/cgroup/...), SIZE_MAX when
   none is set or readable. */
size_t mlpf_cgroup_memory_limit(const char *sysroot);
int mlpf_check_budget(const char *what, double bytes, mlpf_error *err);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif

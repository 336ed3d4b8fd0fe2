/* gaussian.h - private interface of the infinite-Gaussian-data objective.

   Every term of E[(student - teacher)^2] is a pair expectation
       J(theta_i, theta_j) = E[f(u_i) g(u_j)],  u = w.x + b,  x ~ N(0, I)
   or a single E[f(u_i)]. A pair kernel returns J, its gradient with respect to
   theta_i = (w_i, b_i) and theta_j, and the Hessian blocks (ii, ij, jj), each of
   size (din + 1) with the bias last. Kernels: closed forms (gaussian_closed.c:
   erf family; gaussian_relu.c: relu) and 2-D quadrature in x-space
   (gaussian_quad.c) for every other pair. */
#ifndef MLPF_GAUSSIAN_H
#define MLPF_GAUSSIAN_H

#include "internal.h"

/* n-point Gauss-Hermite rule for N(0, 1): sum_i w_i f(x_i) ~ E[f], sum w = 1. */
int mlpf_gh_rule(int n, double *x, double *w, mlpf_error *err);
/* n-point Gauss-Legendre rule on [-1, 1]. */
int mlpf_gl_rule(int n, double *x, double *w, mlpf_error *err);

/* Gauss-Hermite rules of increasing size, pruned of negligible weights, and a
   Gauss-Legendre panel rule for composite rules at large weight scales. */
#define MLPF_GQ_NRULES 10
#define MLPF_GQ_PANEL 12      /* Gauss-Legendre points per panel */
#define MLPF_GQ_MAXCOMP 1536  /* most nodes of a composite rule */
typedef struct {
    int order[MLPF_GQ_NRULES];   /* nominal 1-D size */
    int len[MLPF_GQ_NRULES];     /* nodes kept after pruning */
    double *x[MLPF_GQ_NRULES], *w[MLPF_GQ_NRULES];
    double px[MLPF_GQ_PANEL], pw[MLPF_GQ_PANEL];  /* Gauss-Legendre on [-1, 1] */
    int min_order;               /* rules below this are never chosen (tests) */
    int refine;                  /* composite panels are 1/refine as wide (tests); 1 */
} mlpf_gq_rules;

int mlpf_gq_rules_init(mlpf_gq_rules *r, mlpf_error *err);
void mlpf_gq_rules_free(mlpf_gq_rules *r);

/* Output of a pair / single kernel. need: 0 value, 1 + gradients, 2 + Hessians.
   both: derivatives with respect to theta_j too (student-student pairs). The
   arrays are the caller's: gi, gj (din + 1); hii, hij, hjj ((din + 1)^2). */
typedef struct {
    double val;
    double *gi, *gj, *hii, *hij, *hjj;
} mlpf_pair_out;

/* scratch for one evaluation: sized for the largest rule */
typedef struct {
    double *uj, *g0, *g1, *g2;  /* (maxlen) */
    double *e1, *e2;            /* (din) */
    double *cx1, *cw1, *cx2, *cw2;  /* (MLPF_GQ_MAXCOMP) composite rules */
} mlpf_gq_work;

int mlpf_gq_pair(const mlpf_gq_rules *r, mlpf_gq_work *wk, const mlpf_activation *f,
                 const mlpf_activation *g, int din, const double *wi, double bi,
                 const double *wj, double bj, int need, int both, mlpf_pair_out *out);
int mlpf_gq_single(const mlpf_gq_rules *r, mlpf_gq_work *wk, const mlpf_activation *f, int din,
                   const double *w, double b, int need, mlpf_pair_out *out);

/* Closed forms. mlpf_cf_supported: 1 when the pair (f, g) has one. */
#define MLPF_GL_OWEN 32
typedef struct {
    double x[MLPF_GL_OWEN], w[MLPF_GL_OWEN];  /* Gauss-Legendre on [0, 1] */
} mlpf_cf_ctx;

int mlpf_cf_init(mlpf_cf_ctx *c, mlpf_error *err);
int mlpf_cf_pair_supported(const mlpf_activation *f, const mlpf_activation *g);
int mlpf_cf_single_supported(const mlpf_activation *f);
void mlpf_cf_pair(const mlpf_cf_ctx *c, const mlpf_activation *f, const mlpf_activation *g,
                  int din, const double *wi, double bi, const double *wj, double bj, int need,
                  int both, mlpf_pair_out *out);
void mlpf_cf_single(const mlpf_cf_ctx *c, const mlpf_activation *f, int din, const double *w,
                    double b, int need, mlpf_pair_out *out);

/* Owen's T(h, a) and the bivariate normal CDF P(X <= h, Y <= k), corr rho. */
double mlpf_owen_t(const mlpf_cf_ctx *c, double h, double a);
double mlpf_bvn_cdf(const mlpf_cf_ctx *c, double h, double k, double rho);
/* the same with r = sqrt(1 - rho^2) given (accurate near |rho| = 1) */
double mlpf_bvn_cdf_r(const mlpf_cf_ctx *c, double h, double k, double rho, double r);
/* ... and with Owen's a_h = (k - rho h) / (h r), a_k = (h - rho k) / (k r) given,
   for callers that can form the cancelling numerators accurately */
double mlpf_bvn_cdf_a(const mlpf_cf_ctx *c, double h, double k, double rho, double r, double ah,
                      double ak);

/* Fill a (din+1)^2 block  H = c0 I + sum_ab cab u_a u_b^T  on the weights,
   H[w][bias] = sum_a drow_a u_a,  H[bias][w] = sum_a dcol_a u_a,  H[bias][bias] = e. */
void mlpf_gauss_fill_block(double *h, int din, const double *u1, const double *u2, double c0,
                           const double c[2][2], const double drow[2], const double dcol[2],
                           double e);
/* g[w] = d1 u1 + d2 u2, g[bias] = e */
void mlpf_gauss_fill_grad(double *g, int din, const double *u1, const double *u2, double d1,
                          double d2, double e);

/* Orthonormal basis (e1, e2) of span(wi, wj), e1 along wi (or wj, or the first
   axis); wi = si e1, wj = alpha e1 + beta e2 with beta >= 0 (e2 = 0 when beta = 0). */
void mlpf_gauss_pair_basis(int din, const double *wi, const double *wj, double *e1, double *e2,
                           double *si, double *alpha, double *beta);
/* Pair output from the z-moments of F_pq = f^(p)(u_i) g^(q)(u_j): m10, m01 over
   (1, z1, z2); m20, m02, m11 over (1, z1, z2, z1 z1, z1 z2, z2 z2). */
void mlpf_gauss_assemble(int din, const double *e1, const double *e2, double m00,
                         const double m10[3], const double m01[3], const double m20[6],
                         const double m02[6], const double m11[6], int need, int both,
                         mlpf_pair_out *out);

/* relu-relu pairs and relu singles in closed form (gaussian_relu.c) */
void mlpf_relu_pair(const mlpf_cf_ctx *c, mlpf_gq_work *wk, int din, const double *wi, double bi,
                    const double *wj, double bj, int need, int both, mlpf_pair_out *out);
void mlpf_relu_single(mlpf_gq_work *wk, int din, const double *w, double b, int need,
                      mlpf_pair_out *out);

/* Test hook: an exact objective whose quadrature never uses rules below min_order. */
mlpf_objective *mlpf_objective_gaussian_opts(const mlpf_net *teacher, const double *teacher_params,
                                             const mlpf_net *student, int min_order,
                                             int no_closed_forms, mlpf_error *err);

#endif

/* finite.c - the finite-data objective: exact loss, gradient and Hessian of an
   MLP on a data set, for MSE and softmax cross-entropy, with sample weights.

   Notation (per sample; layers l = 1..L; abar_l = [a_l, 1] carries the bias):
     z_l = W_l abar_{l-1},  a_l = sigma_l(z_l),  y = a_L,
     delta_l = dloss/dz_l,  lambda_l = dloss/da_l = W_{l+1}^T delta_{l+1}.
   The Hessian is the sum of three kinds of terms (adjoint form of the chain rule):
     (GN)   the loss node:       Dz_L^T  (d2 loss / dz_L^2)  Dz_L
     (act)  activation nodes:    sum_i lambda_li sigma''(z_li) Dz_li^T Dz_li
     (lin)  linear nodes:        delta_li * d abar_{l-1,j} paired with W_l[i, j]
   where Dz_li is the total derivative of z_li w.r.t. all parameters. Restricted
   to layer m, Dz_l = (dz_l/dz_m) (x) abar_{m-1} (a Kronecker product), so every
   term is built from small backpropagated sensitivities and activations. The
   Gauss-Newton term dominates and is one dsyrk per chunk of samples (the
   physical floor); layer 1's (act) term is block diagonal and cheap.

   Layout: a chunk holds B samples as COLUMNS (unit-major, "feature-major"):
   z_l is (U_l, B). Our users' layers are narrow (2 inputs, a few units, one
   output), so every elementwise loop and most sums then run along the long,
   contiguous sample axis and vectorise, and the bias is a row of ones.

   Work goes through samples in chunks, so memory does not grow with N. Chunks
   are grouped into a fixed number of slabs (independent of the thread count),
   each with its own accumulator, summed in slab order: results are
   bit-identical whatever the number of threads. */
#include "internal.h"
#include "spec/data.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

typedef struct {
    mlpf_net *net;
    size_t n;
    double *input;     /* (n, din) */
    double *target;    /* (n, tcols) */
    size_t tcols;
    double *weights;   /* (n) or NULL */
    int labels;        /* cross-entropy with integer labels in target (n, 1) */
    mlpf_loss_kind loss;
    int threads;
    int maxu;          /* widest layer (incl. din) */
} finite_data;

/* One thread's buffers for one chunk of B samples (all unit-major). */
typedef struct {
    size_t B;
    double *x;                 /* (din + 1, B), last row ones */
    double **z, **a, **da, **d2a, **delta, **lam; /* per layer (U_l, B); a is (U_l + 1, B) */
    double *t;                 /* (dout, B) targets */
    double *c;                 /* (B) sample weight / N */
    double *phi;               /* (dout, dout, B): d2loss/dz_L^2 = phi^T phi per sample (+ kappa_out) */
    double *kappa_out;         /* (dout, B) signed output curvature (nonlinear MSE output) */
    double *lse;               /* (B) log-sum-exp of a softmax output's z_L */
    double *phi_cols;          /* (dout, dout * B) phi reordered into Gauss-Newton column factors */
    double *J;                 /* (P, dout * B) Gauss-Newton columns */
    double *R, *KR;            /* (P, B) columns Dz_lj and kappa-scaled copies */
    double *F, *F2;            /* (maxu, dout * B) backpropagated factors */
    double *unit;              /* (maxu, B) unit factor e_j of one layer */
    double *lin;               /* (maxu, B) delta_{l+1,i} sigma'_{l,j}: the (lin) factors */
    double *kap;               /* (B) kappa_lj = lambda_lj sigma''(z_lj) of one unit */
    double *mem;
} chunk_ws;

static void finite_free(void *ctx) {
    finite_data *f = ctx;
    if (!f) return;
    mlpf_net_free(f->net);
    free(f->input);
    free(f->target);
    free(f->weights);
    free(f);
}

static void ws_free(chunk_ws *w) {
    free(w->mem);
    free(w->z);
}

static int ws_alloc(const finite_data *f, size_t B, int want_hess, chunk_ws *w, mlpf_error *err) {
    const mlpf_net *net = f->net;
    int L = net->nlayers;
    size_t D = (size_t)mlpf_net_dout(net), P = net->nparams, mu = (size_t)f->maxu + 1;
    memset(w, 0, sizeof *w);
    w->B = B;
    w->z = mlpf_calloc(6 * (size_t)L, sizeof(double *), err);
    if (!w->z) return MLPF_ENOMEM;
    w->a = w->z + L; w->da = w->a + L; w->d2a = w->da + L; w->delta = w->d2a + L; w->lam = w->delta + L;
    size_t total = B * ((size_t)net->din + 1) + B * D * (2 + D) + 2 * B;
    for (int l = 0; l < L; l++) total += B * (6 * (size_t)net->layers[l].units + 1);
    if (want_hess) total += D * D * B + P * D * B + 2 * P * B + 2 * mu * D * B + 2 * mu * B + B;
    w->mem = mlpf_malloc(total * sizeof(double), err);
    if (!w->mem) { free(w->z); w->z = NULL; return MLPF_ENOMEM; }
    double *p = w->mem;
#define TAKE(ptr, count) do { (ptr) = p; p += (count); } while (0)
    TAKE(w->x, B * ((size_t)net->din + 1));
    TAKE(w->t, D * B);
    TAKE(w->c, B);
    TAKE(w->phi, D * D * B);
    TAKE(w->kappa_out, D * B);
    TAKE(w->lse, B);
    for (int l = 0; l < L; l++) {
        size_t u = (size_t)net->layers[l].units;
        TAKE(w->z[l], u * B); TAKE(w->a[l], (u + 1) * B); TAKE(w->da[l], u * B);
        TAKE(w->d2a[l], u * B); TAKE(w->delta[l], u * B); TAKE(w->lam[l], u * B);
    }
    if (want_hess) {
        TAKE(w->J, P * D * B); TAKE(w->R, P * B); TAKE(w->KR, P * B);
        TAKE(w->phi_cols, D * D * B);
        TAKE(w->F, mu * D * B); TAKE(w->F2, mu * D * B); TAKE(w->unit, mu * B); TAKE(w->lin, mu * B);
        TAKE(w->kap, B);
    }
#undef TAKE
    return MLPF_OK;
}

/* Gather a chunk: x (din + 1, B) with a ones row, targets t (dout, B) (labels
   become one-hot), per-sample loss weights c (B) = weight / N. */
static void load_chunk(const finite_data *f, const size_t *subset, size_t s0, size_t B, double inv_n,
                       chunk_ws *w) {
    int din = f->net->din, D = mlpf_net_dout(f->net);
    for (size_t b = 0; b < B; b++) {
        size_t s = subset ? subset[s0 + b] : s0 + b;
        const double *in = f->input + s * (size_t)din;
        for (int k = 0; k < din; k++) w->x[(size_t)k * B + b] = in[k];
        w->x[(size_t)din * B + b] = 1.0;
        if (f->labels) {
            for (int o = 0; o < D; o++) w->t[(size_t)o * B + b] = 0.0;
            w->t[(size_t)f->target[s] * B + b] = 1.0;
        } else {
            for (int o = 0; o < D; o++) w->t[(size_t)o * B + b] = f->target[s * f->tcols + (size_t)o];
        }
        w->c[b] = (f->weights ? f->weights[s] : 1.0) * inv_n;
    }
}

/* Forward through all layers. x (din+1, B) -> z_l, da_l, d2a_l (U_l, B), a_l (U_l+1, B);
   lse (B) for a softmax output. */
MLPF_HOT static void forward_chunk(const finite_data *f, const double *x, size_t B, chunk_ws *w) {
    const mlpf_net *net = f->net;
    const double *in = w->x;
    for (int l = 0; l < net->nlayers; l++) {
        const mlpf_layer *Ly = &net->layers[l];
        int U = Ly->units, cols = Ly->inputs + Ly->bias;
        /* z = W [a_{l-1}; 1]: the ones row multiplies the bias column when there is one. */
        mlpf_mm_nn(U, (int)B, cols, x + Ly->offset, cols, in, (int)B, w->z[l], (int)B);
        double *a = w->a[l];
        if (Ly->acts[0].kind == MLPF_ACT_SOFTMAX) {
            for (size_t b = 0; b < B; b++) w->lse[b] = mlpf_softmax(U, w->z[l] + b, B, a + b);
        } else if (Ly->shared_act) {
            mlpf_activation_eval_n(&Ly->acts[0], w->z[l], (size_t)U * B, a, w->da[l], w->d2a[l]);
        } else {
            for (int i = 0; i < U; i++)
                mlpf_activation_eval_n(&Ly->acts[i], w->z[l] + (size_t)i * B, B, a + (size_t)i * B,
                                       w->da[l] + (size_t)i * B, w->d2a[l] + (size_t)i * B);
        }
        for (size_t b = 0; b < B; b++) a[(size_t)U * B + b] = 1.0;
        in = a;
    }
}

/* The loss node. -> loss of the chunk; delta_L (dout, B); phi, kappa_out with
   d2loss/dz_L^2 = phi^T phi + diag(kappa_out) per sample. */
MLPF_HOT static double output_chunk(const finite_data *f, size_t B, int want_hess, chunk_ws *w) {
    const mlpf_net *net = f->net;
    int L = net->nlayers, D = mlpf_net_dout(net);
    const mlpf_layer *Ly = &net->layers[L - 1];
    const double *y = w->a[L - 1], *z = w->z[L - 1], *t = w->t, *c = w->c;
    double *delta = w->delta[L - 1], loss = 0;
    if (f->loss == MLPF_LOSS_CROSSENTROPY) {
        for (size_t b = 0; b < B; b++) {
            /* -c sum t log p with log p = z - logsumexp(z); d/dz = c (T p - t). */
            double lse = w->lse[b], T = 0;
            for (int o = 0; o < D; o++) {
                double to = t[(size_t)o * B + b];
                if (to != 0) loss -= c[b] * to * (z[(size_t)o * B + b] - lse);
                T += to;
            }
            for (int o = 0; o < D; o++)
                delta[(size_t)o * B + b] = c[b] * (T * y[(size_t)o * B + b] - t[(size_t)o * B + b]);
            if (!want_hess) continue;
            /* c T (diag p - p p^T) = phi^T phi with phi = diag(sqrt(cTp)) (I - 1 p^T). */
            for (int o = 0; o < D; o++) {
                double r = sqrt(fmax(c[b] * T * y[(size_t)o * B + b], 0.0));
                for (int q = 0; q < D; q++)
                    w->phi[((size_t)o * (size_t)D + (size_t)q) * B + b] = r * ((o == q) - y[(size_t)q * B + b]);
                w->kappa_out[(size_t)o * B + b] = 0;
            }
        }
        return loss;
    }
    for (int o = 0; o < D; o++) {
        const double *yo = y + (size_t)o * B, *to = t + (size_t)o * B;
        const double *da = w->da[L - 1] + (size_t)o * B, *d2a = w->d2a[L - 1] + (size_t)o * B;
        double *dl = delta + (size_t)o * B;
        int linear = Ly->acts[o].kind == MLPF_ACT_IDENTITY;
#pragma omp simd reduction(+ : loss)
        for (size_t b = 0; b < B; b++) {
            double r = yo[b] - to[b];
            loss += c[b] * r * r;
            dl[b] = 2 * c[b] * r * da[b];
        }
        if (!want_hess) continue;
        for (int q = 0; q < D; q++) {
            double *ph = w->phi + ((size_t)o * (size_t)D + (size_t)q) * B;
            if (q != o) { memset(ph, 0, B * sizeof(double)); continue; }
            for (size_t b = 0; b < B; b++) ph[b] = sqrt(2 * c[b]) * da[b];
        }
        double *ko = w->kappa_out + (size_t)o * B;
        for (size_t b = 0; b < B; b++) ko[b] = linear ? 0.0 : 2 * c[b] * (yo[b] - to[b]) * d2a[b];
    }
    return loss;
}

/* Backpropagation: lambda_{l-1} = W_l^T delta_l, delta_{l-1} = lambda_{l-1} * sigma'(z_{l-1}).
   Adds dloss/dW_l = delta_l [a_{l-1}; 1]^T to grad (P). */
MLPF_HOT static void backward_chunk(const finite_data *f, const double *x, size_t B, double *grad, chunk_ws *w) {
    const mlpf_net *net = f->net;
    for (int l = net->nlayers - 1; l >= 0; l--) {
        const mlpf_layer *Ly = &net->layers[l];
        int U = Ly->units, cols = Ly->inputs + Ly->bias;
        const double *in = l ? w->a[l - 1] : w->x;
        if (grad) mlpf_mm_nt_acc(U, cols, (int)B, w->delta[l], (int)B, in, (int)B, grad + Ly->offset, cols);
        if (l == 0) break;
        int Up = Ly->inputs;
        mlpf_mm_tn(Up, (int)B, U, x + Ly->offset, cols, w->delta[l], (int)B, w->lam[l - 1], (int)B);
        const double *da = w->da[l - 1];
        double *dl = w->delta[l - 1], *lam = w->lam[l - 1];
        for (size_t k = 0; k < (size_t)Up * B; k++) dl[k] = lam[k] * da[k];
    }
}

/* Kronecker expansion of one layer's block into columns: R (P, M),
   R[off + i*cols + k, r] = g[i, r] * a[k, r / per] for the U x cols block. */
MLPF_HOT static void expand_cols(const double *g, int U, const double *a, int inputs, int bias, size_t B,
                        size_t per, double *R, size_t off) {
    int cols = inputs + bias;
    size_t M = B * per;
    for (int i = 0; i < U; i++) {
        const double *gi = g + (size_t)i * M;
        for (int k = 0; k < cols; k++) {
            const double *ak = a + (size_t)k * B;
            double *out = R + (off + (size_t)i * (size_t)cols + (size_t)k) * M;
            if (per == 1)
                for (size_t r = 0; r < M; r++) out[r] = gi[r] * ak[r];
            else
                for (size_t r = 0; r < M; r++) out[r] = gi[r] * ak[r / per];
        }
    }
}

/* Backpropagate column factors one layer down: g (U_l, M) -> (W_l^T g) * sigma'_{l-1}, (U_{l-1}, M). */
MLPF_HOT static void backprop_cols(const mlpf_layer *Ly, const double *W, const double *g, size_t B, size_t per,
                          const double *da_prev, double *out) {
    int U = Ly->units, Up = Ly->inputs, cols = Up + Ly->bias;
    size_t M = B * per;
    mlpf_mm_tn(Up, (int)M, U, W, cols, g, (int)M, out, (int)M);
    for (int j = 0; j < Up; j++) {
        const double *da = da_prev + (size_t)j * B;
        double *o = out + (size_t)j * M;
        if (per == 1)
            for (size_t r = 0; r < M; r++) o[r] *= da[r];
        else
            for (size_t r = 0; r < M; r++) o[r] *= da[r / per];
    }
}

/* Columns R (P, M) of d z_top / d params for column factors g0 (U_top, M) at layer
   `top` (per = columns per sample). Rows beyond the top layer are left untouched. */
MLPF_HOT static void jacobian_cols(const finite_data *f, const double *x, int top, const double *g0, size_t B,
                          size_t per, double *R, chunk_ws *w) {
    const mlpf_net *net = f->net;
    const double *g = g0;
    double *bufs[2] = {w->F, w->F2};
    for (int m = top; m >= 0; m--) {
        const mlpf_layer *Ly = &net->layers[m];
        const double *in = m ? w->a[m - 1] : w->x;
        expand_cols(g, Ly->units, in, Ly->inputs, Ly->bias, B, per, R, Ly->offset);
        if (m == 0) break;
        double *next = bufs[m & 1];
        backprop_cols(Ly, x + Ly->offset, g, B, per, w->da[m - 1], next);
        g = next;
    }
}

/* (GN) the loss node's term, Dz_L^T phi^T phi Dz_L: columns phi Dz_L into J (P, D * B),
   then one dsyrk into the lower triangle of H (P, P), the dominant cost. */
MLPF_HOT static void hessian_gauss_newton(const finite_data *f, const double *x, size_t B, double *H,
                                 chunk_ws *w) {
    const mlpf_net *net = f->net;
    int L = net->nlayers, D = mlpf_net_dout(net);
    size_t P = net->nparams;
    const double *g0 = w->phi;  /* (dout, dout * B) column factors, sample-major within */
    if (D > 1) {
        /* reorder phi[o][q][b] -> phi_cols[q][b * D + o] so each sample's D columns sit together */
        for (int o = 0; o < D; o++)
            for (int q = 0; q < D; q++)
                for (size_t b = 0; b < B; b++)
                    w->phi_cols[(size_t)q * (size_t)D * B + b * (size_t)D + (size_t)o] =
                        w->phi[((size_t)o * (size_t)D + (size_t)q) * B + b];
        g0 = w->phi_cols;
    }
    jacobian_cols(f, x, L - 1, g0, B, (size_t)D, w->J, w);
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)P, (int)(B * (size_t)D), 1.0, w->J,
                (int)(B * (size_t)D), 1.0, H, (int)P);
}

/* kappa_lj (B) = lambda_lj sigma''(z_lj) into w->kap (the output layer: kappa_out).
   Returns 1 when any is nonzero. */
MLPF_HOT static int unit_curvature(const finite_data *f, int l, int j, size_t B, chunk_ws *w) {
    int any = 0;
    double *kj = w->kap;
    if (l == f->net->nlayers - 1) {
        memcpy(kj, w->kappa_out + (size_t)j * B, B * sizeof(double));
    } else {
        const double *lj = w->lam[l] + (size_t)j * B, *d2 = w->d2a[l] + (size_t)j * B;
        for (size_t b = 0; b < B; b++) kj[b] = lj[b] * d2[b];
    }
    for (size_t b = 0; b < B; b++) any |= kj[b] != 0;
    return any;
}

/* Layer 1's (act) term for unit j is block diagonal: H[blk + r, blk + c] +=
   sum_b kappa_b xbar_rb xbar_cb, blk = unit j's first parameter; kappa (B), xbar (din + 1, B). */
MLPF_HOT static void layer1_act_block(const finite_data *f, int j, size_t B, double *H, const chunk_ws *w) {
    const mlpf_layer *L1 = &f->net->layers[0];
    size_t P = f->net->nparams;
    int cols1 = L1->inputs + L1->bias;
    size_t blk = L1->offset + (size_t)j * (size_t)cols1;
    const double *kj = w->kap;
    for (int r = 0; r < cols1; r++) {
        const double *xr = w->x + (size_t)r * B;
        for (int c = 0; c <= r; c++) {
            const double *xc = w->x + (size_t)c * B;
            double acc = 0;
#pragma omp simd reduction(+ : acc)
            for (size_t b = 0; b < B; b++) acc += kj[b] * xr[b] * xc[b];
            H[(blk + (size_t)r) * P + blk + (size_t)c] += acc;
        }
    }
}

/* Layer 1's (lin) partner: W_2[i, j] with unit j's block, sum_b delta_2ib sigma'_1jb xbar_cb;
   delta_2 (U2, B), sigma'_1 (U1, B), xbar (din + 1, B). */
MLPF_HOT static void layer1_lin_block(const finite_data *f, int j, size_t B, double *H, const chunk_ws *w) {
    const mlpf_net *net = f->net;
    const mlpf_layer *L1 = &net->layers[0], *L2 = &net->layers[1];
    size_t P = net->nparams;
    int cols1 = L1->inputs + L1->bias, cols2 = L2->inputs + L2->bias;
    size_t blk = L1->offset + (size_t)j * (size_t)cols1;
    const double *dj = w->da[0] + (size_t)j * B;
    for (int i = 0; i < L2->units; i++) {
        size_t row = L2->offset + (size_t)i * (size_t)cols2 + (size_t)j;
        const double *gi = w->delta[1] + (size_t)i * B;
        for (int c = 0; c < cols1; c++) {
            const double *xc = w->x + (size_t)c * B;
            double acc = 0;
#pragma omp simd reduction(+ : acc)
            for (size_t b = 0; b < B; b++) acc += gi[b] * dj[b] * xc[b];
            H[row * P + blk + (size_t)c] += acc;
        }
    }
}

/* Layer 1's (act) and (lin) terms: every sum over samples is a contiguous dot product. */
MLPF_HOT static void hessian_layer1(const finite_data *f, size_t B, double *H, chunk_ws *w) {
    int L = f->net->nlayers;
    for (int j = 0; j < f->net->layers[0].units; j++) {
        unit_curvature(f, 0, j, B, w);
        layer1_act_block(f, j, B, H, w);
        if (L > 1) layer1_lin_block(f, j, B, H, w);
    }
}

/* Unit j of layer l >= 2 (l counted from 0): the columns Dz_lj (Pl, B) in R serve the (act)
   term of this layer, R diag(kappa) R^T on the leading Pl block, and the (lin) term of the
   next, H[(l+1, i, j), :Pl] += sum_b delta_{l+1,ib} sigma'_{l,jb} R[:, b]. */
MLPF_HOT static void hessian_unit(const finite_data *f, const double *x, int l, int j, size_t B, double *H,
                         chunk_ws *w) {
    const mlpf_net *net = f->net;
    const mlpf_layer *Ly = &net->layers[l];
    int L = net->nlayers, U = Ly->units;
    size_t P = net->nparams;
    size_t Pl = Ly->offset + (size_t)U * (size_t)(Ly->inputs + Ly->bias); /* rows of layers <= l */
    int any_kappa = unit_curvature(f, l, j, B, w);
    if (!any_kappa && l == L - 1) return;
    memset(w->unit, 0, (size_t)U * B * sizeof(double));
    for (size_t b = 0; b < B; b++) w->unit[(size_t)j * B + b] = 1.0;
    jacobian_cols(f, x, l, w->unit, B, 1, w->R, w);
    if (any_kappa) {
        /* 0.5 (R (kR)^T + (kR) R^T) = R diag(k) R^T */
        for (size_t q = 0; q < Pl; q++)
            for (size_t b = 0; b < B; b++) w->KR[q * B + b] = w->kap[b] * w->R[q * B + b];
        cblas_dsyr2k(CblasRowMajor, CblasLower, CblasNoTrans, (int)Pl, (int)B, 0.5, w->R, (int)B,
                     w->KR, (int)B, 1.0, H, (int)P);
    }
    if (l + 1 < L) {
        const mlpf_layer *Ln = &net->layers[l + 1];
        int Un = Ln->units, coln = Ln->inputs + Ln->bias;
        const double *dj = w->da[l] + (size_t)j * B;
        for (int i = 0; i < Un; i++)
            for (size_t b = 0; b < B; b++)
                w->lin[(size_t)i * B + b] = w->delta[l + 1][(size_t)i * B + b] * dj[b];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Un, (int)Pl, (int)B, 1.0, w->lin, (int)B,
                    w->R, (int)B, 1.0, H + (Ln->offset + (size_t)j) * P, (int)((size_t)coln * P));
    }
}

/* Add this chunk's Hessian to the lower triangle of H (P, P): the three kinds of
   terms of the header comment, layer 1's in closed form, deeper layers' by columns. */
MLPF_HOT static void hessian_chunk(const finite_data *f, const double *x, size_t B, double *H, chunk_ws *w) {
    const mlpf_net *net = f->net;
    hessian_gauss_newton(f, x, B, H, w);
    hessian_layer1(f, B, H, w);
    for (int l = 1; l < net->nlayers; l++)
        for (int j = 0; j < net->layers[l].units; j++) hessian_unit(f, x, l, j, B, H, w);
}

/* Rows per chunk: large enough for dsyrk to run at full speed, small enough that
   the (B, P) buffers stay in cache-sized memory. */
static size_t chunk_rows(size_t P, int dout, int want_hess) {
    /* dsyrk needs a deep inner dimension to reach its peak: Hessian chunks are taller. */
    size_t cap = want_hess ? 1024 : 256;
    size_t B = (size_t)(want_hess ? 1u << 21 : 1u << 19) / (P * (size_t)dout + 1);
    if (B > cap) B = cap;
    if (B < 16) B = 16;
    return B;
}

/* Slabs: a fixed partition of the chunks, each with its own accumulator. The
   number depends on N and P only, never on threads, so sums are reproducible. */
static size_t slab_count(size_t nchunks, size_t P, int want_hess) {
    size_t S = nchunks < 4 ? nchunks : 4;
    if (want_hess) {
        size_t cap = ((size_t)256 << 20) / (P * P * sizeof(double) + 1);
        if (cap < 1) cap = 1;
        if (S > cap) S = cap;
    }
    return S ? S : 1;
}

static int finite_eval(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                       double *loss, double *grad, double *hess, mlpf_error *err) {
    const finite_data *f = ctx;
    const mlpf_net *net = f->net;
    size_t P = net->nparams, n = subset ? nsubset : f->n;
    int dout = mlpf_net_dout(net), want_hess = hess != NULL;
    size_t B = chunk_rows(P, dout, want_hess);
    size_t nchunks = (n + B - 1) / B, S = slab_count(nchunks, P, want_hess);
    int threads = f->threads > 0 ? f->threads : omp_get_max_threads();
    if ((size_t)threads > S) threads = (int)S;
    /* Small jobs run on the calling thread: a parallel region costs more than they do. */
    if ((double)n * (double)P * (want_hess ? (double)P : 1.0) < 2e5) threads = 1;

    double *slab_loss = mlpf_calloc(S, sizeof(double), err);
    double *slab_grad = (grad || want_hess) ? mlpf_calloc(S * P, sizeof(double), err) : NULL;
    double *slab_hess = NULL;
    if (want_hess && S > 1) slab_hess = mlpf_malloc((S - 1) * P * P * sizeof(double), err);
    if (!slab_loss || ((grad || want_hess) && !slab_grad) || (want_hess && S > 1 && !slab_hess)) {
        free(slab_loss); free(slab_grad); free(slab_hess);
        return MLPF_ENOMEM;
    }
    if (want_hess) {
        memset(hess, 0, P * P * sizeof(double));
        if (slab_hess) memset(slab_hess, 0, (S - 1) * P * P * sizeof(double));
    }
    int status = MLPF_OK;
    double inv_n = 1.0 / (double)n;

#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        /* BLAS calls inside run on this thread only: our parallelism is over slabs. */
        if (threads > 1) omp_set_num_threads(1);
        chunk_ws w;
        mlpf_error local_err;
        int st = ws_alloc(f, B, want_hess, &w, &local_err);
        if (st) {
#pragma omp critical(mlpf_finite_status)
            if (!status) { status = st; if (err) *err = local_err; }
        }
#pragma omp for schedule(static)
        for (size_t s = 0; s < S; s++) {
            if (st) continue;
            size_t c0 = nchunks * s / S, c1 = nchunks * (s + 1) / S;
            double *g = slab_grad ? slab_grad + s * P : NULL;
            double *h = want_hess ? (s == 0 ? hess : slab_hess + (s - 1) * P * P) : NULL;
            for (size_t c = c0; c < c1; c++) {
                size_t s0 = c * B, m = n - s0 < B ? n - s0 : B;
                load_chunk(f, subset, s0, m, inv_n, &w);
                forward_chunk(f, x, m, &w);
                slab_loss[s] += output_chunk(f, m, want_hess, &w);
                if (g || h) backward_chunk(f, x, m, g, &w);
                if (h) hessian_chunk(f, x, m, h, &w);
            }
        }
        ws_free(&w);
    }
    if (status == MLPF_OK) {
        double total = 0;
        for (size_t s = 0; s < S; s++) total += slab_loss[s];
        if (loss) *loss = total;
        if (grad) {
            memcpy(grad, slab_grad, P * sizeof(double));
            for (size_t s = 1; s < S; s++)
                for (size_t i = 0; i < P; i++) grad[i] += slab_grad[s * P + i];
        }
        if (want_hess) {
            for (size_t s = 1; s < S; s++) {
                const double *hs = slab_hess + (s - 1) * P * P;
                for (size_t i = 0; i < P; i++)
                    for (size_t j = 0; j <= i; j++) hess[i * P + j] += hs[i * P + j];
            }
            for (size_t i = 0; i < P; i++)
                for (size_t j = 0; j < i; j++) hess[j * P + i] = hess[i * P + j];
        }
    }
    free(slab_loss); free(slab_grad); free(slab_hess);
    return status;
}

/* The arguments of mlpf_objective_finite, checked: input (n, din), target (n, tcols),
   weights (n) or NULL. */
static int check_data(const mlpf_net *net, size_t n, const double *input, const double *target,
                      size_t tcols, const double *weights, const mlpf_finite_options *opt,
                      mlpf_error *err) {
    if (n == 0) return mlpf_fail(err, MLPF_EINVAL, "empty data: the data set has no samples");
    if (!input || !target) return mlpf_fail(err, MLPF_EINVAL, "input and target must not be NULL");
    int st = mlpf_data_check_loss(net, opt->loss, err);
    if (!st) st = mlpf_data_check_target_cols("target", net, opt->loss, tcols, err);
    if (!st) st = mlpf_data_check_finite("input", input, n, (size_t)net->din, err);
    if (!st) st = mlpf_data_check_finite("target", target, n, tcols, err);
    if (!st && mlpf_data_labels(net, opt->loss, tcols))
        st = mlpf_data_check_labels("target", target, n, mlpf_net_dout(net), err);
    if (!st && weights) st = mlpf_data_check_weights("weights", weights, n, err);
    if (!st && opt->threads < 0)
        st = mlpf_fail(err, MLPF_EINVAL, "threads must be >= 0, got %d", opt->threads);
    return st;
}

mlpf_objective *mlpf_objective_finite(const mlpf_net *net, size_t n, const double *input,
                                      const double *target, size_t tcols, const double *weights,
                                      const mlpf_finite_options *opt, mlpf_error *err) {
    mlpf_finite_options defaults = {.loss = MLPF_LOSS_MSE, .threads = 0};
    if (!opt) opt = &defaults;
    if (!net || mlpf_net_validate(net, err) != MLPF_OK) {
        if (!net) mlpf_fail(err, MLPF_EINVAL, "finite objective: network is NULL");
        return NULL;
    }
    if (check_data(net, n, input, target, tcols, weights, opt, err)) return NULL;
    int din = net->din, labels = mlpf_data_labels(net, opt->loss, tcols);

    finite_data *f = mlpf_calloc(1, sizeof *f, err);
    if (!f) return NULL;
    f->net = mlpf_net_copy(net, err);
    f->input = mlpf_malloc(n * (size_t)din * sizeof(double), err);
    f->target = mlpf_malloc(n * tcols * sizeof(double), err);
    f->weights = weights ? mlpf_malloc(n * sizeof(double), err) : NULL;
    if (!f->net || !f->input || !f->target || (weights && !f->weights)) { finite_free(f); return NULL; }
    memcpy(f->input, input, n * (size_t)din * sizeof(double));
    memcpy(f->target, target, n * tcols * sizeof(double));
    if (weights) memcpy(f->weights, weights, n * sizeof(double));
    f->n = n;
    f->tcols = tcols;
    f->labels = labels;
    f->loss = opt->loss;
    f->threads = opt->threads;
    f->maxu = din;
    for (int l = 0; l < net->nlayers; l++) if (net->layers[l].units > f->maxu) f->maxu = net->layers[l].units;

    mlpf_objective_ops ops = {.name = "finite", .nparams = net->nparams, .nsamples = n,
                              .eval = finite_eval, .free_ctx = finite_free};
    mlpf_objective *obj = mlpf_objective_custom(&ops, f, err);
    if (obj) obj->net = f->net;
    return obj;
}

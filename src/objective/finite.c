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

   Work goes through samples in chunks, so memory does not grow with N. Runs of
   chunks form slabs, each with its own accumulator; the slab size depends on N, P and
   the layer widths only (mlpf_finite_layout_of), threads take slabs as they come, and
   the slabs are summed in slab order: results are bit-identical whatever the number of
   threads, and there is no cap on threads but the number of slabs (chunks_per_slab). */
#include "internal.h"
#include "spec/data.h"
#include "objective/finite.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>


/* A cached block of doubles: its capacity, then the data. Chunk workspaces and slab
   accumulators are both blocks; kind tells them apart in the shared slots. */
typedef struct {
    int kind;                  /* BLOCK_WS or BLOCK_SLABS */
    size_t cap;                /* doubles in mem */
    double *mem;
} cache_block;

enum { BLOCK_WS = 1, BLOCK_SLABS = 2 };

/* One thread's buffers for one chunk of B samples (all unit-major), laid out in a block. */
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
    cache_block *block;        /* the memory all of the above point into */
} chunk_ws;

static void block_free(cache_block *b) {
    if (b) free(b->mem), free(b);
}

static void finite_free(void *ctx) {
    finite_data *f = ctx;
    if (!f) return;
    for (int i = 0; i < MLPF_FINITE_CACHE; i++) {
        block_free(atomic_exchange(&f->cache[i], NULL));
    }
    mlpf_net_free(f->net);
    free(f->input);
    free(f->target);
    free(f->weights);
    free(f);
}

/* Back into an empty slot for the next call, or freed when all slots are taken. */
static void block_give(finite_data *f, cache_block *b) {
    if (!b) return;
    for (int i = 0; i < MLPF_FINITE_CACHE; i++) {
        cache_block *none = NULL;
        if (atomic_compare_exchange_strong(&f->cache[i], &none, b)) return;
    }
    block_free(b);
}

/* A block of at least n doubles of this kind: a cached one when one is big enough (a
   too small one is freed), else a new one. Its contents are undefined. */
static cache_block *block_take(finite_data *f, int kind, size_t n, mlpf_error *err) {
    for (int i = 0; i < MLPF_FINITE_CACHE; i++) {
        if (!atomic_load(&f->cache[i])) continue;
        cache_block *b = atomic_exchange(&f->cache[i], NULL);
        if (!b) continue;
        if (b->kind == kind && b->cap >= n) return b;
        if (b->kind == kind) block_free(b); /* too small: a bigger one replaces it */
        else block_give(f, b);
    }
    cache_block *b = mlpf_malloc(sizeof *b, err);
    if (!b) return NULL;
    b->kind = kind;
    b->cap = n;
    /* cache-line aligned: chunk rows are multiples of 8 doubles, so every row starts on a
       line and no vector load splits across two (measured: ~10% at k = 10, N = 1000) */
    size_t bytes = ((n ? n : 1) * sizeof(double) + 63) / 64 * 64;
    b->mem = aligned_alloc(64, bytes);
    if (!b->mem) {
        free(b);
        mlpf_fail(err, MLPF_ENOMEM, "out of memory allocating %zu bytes of finite-data workspace", bytes);
        return NULL;
    }
    return b;
}

static void ws_free(finite_data *f, chunk_ws *w) {
    block_give(f, w->block);
    free(w->z);
}

/* Doubles a chunk workspace of B rows needs. */
static size_t ws_doubles(const finite_data *f, size_t B, int want_hess) {
    const mlpf_net *net = f->net;
    size_t D = (size_t)mlpf_net_dout(net), P = net->nparams, mu = (size_t)f->maxu + 1;
    size_t total = B * ((size_t)net->din + 1) + B * D * (2 + D) + 2 * B;
    for (int l = 0; l < net->nlayers; l++) total += B * (6 * (size_t)net->layers[l].units + 1);
    if (want_hess) total += D * D * B + P * D * B + 2 * P * B + 2 * mu * D * B + 2 * mu * B + B;
    return total;
}

static int ws_alloc(finite_data *f, size_t B, int want_hess, chunk_ws *w, mlpf_error *err) {
    const mlpf_net *net = f->net;
    int L = net->nlayers;
    size_t D = (size_t)mlpf_net_dout(net), P = net->nparams, mu = (size_t)f->maxu + 1;
    memset(w, 0, sizeof *w);
    w->B = B;
    w->z = mlpf_calloc(6 * (size_t)L, sizeof(double *), err);
    if (!w->z) return MLPF_ENOMEM;
    w->a = w->z + L; w->da = w->a + L; w->d2a = w->da + L; w->delta = w->d2a + L; w->lam = w->delta + L;
    w->block = block_take(f, BLOCK_WS, ws_doubles(f, B, want_hess), err);
    if (!w->block) { free(w->z); w->z = NULL; return MLPF_ENOMEM; }
    double *p = w->block->mem;
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

/* Narrow: a product with this many rows (or inner terms) runs as plain loops in
   matmul.c, one row at a time; wider ones go to BLAS whole. Must match SMALL there
   so that the row-wise kernels below sum in the same order as mlpf_mm_*. */
#define NARROW 8

static int layer_narrow(const mlpf_layer *Ly) { return Ly->units <= NARROW || Ly->inputs + Ly->bias <= NARROW; }

/* Unit i of layer l on the chunk: a, da (and d2a when wanted) (B) from z (B). */
static void activate_row(const mlpf_layer *Ly, int i, size_t B, int want_d2, double *z, double *a,
                         double *da, double *d2a) {
    size_t r = (size_t)i * B;
    mlpf_activation_eval_n(&Ly->acts[i], z + r, B, a + r, da + r, want_d2 ? d2a + r : NULL);
}

/* Pre-activation of one unit in ONE pass over the chunk: z (B) = W_i (inputs + bias)
   [in; 1], in (inputs, B). The bias multiplies the ones row, so it is added as is
   (w * 1.0 == w). The sum's order is mlpf_mm_nn's (k = 0, 1, ...): same bits. Inlined
   with a constant `inputs` (preact_row), so the sum over k unrolls into one vector loop. */
static inline void preact_row_k(const double *Wi, int inputs, int bias, const double *in, size_t B,
                                double *z) {
#pragma omp simd
    for (size_t b = 0; b < B; b++) {
        double acc = Wi[0] * in[b];
        for (int k = 1; k < inputs; k++) acc += Wi[k] * in[(size_t)k * B + b];
        if (bias) acc += Wi[inputs];
        z[b] = acc;
    }
}

/* z (B) of one unit with 1 to 4 inputs (the common narrow input layer); wider rows
   go through mlpf_mm_nn (the same sum, in the same order). */
MLPF_HOT static void preact_row(const double *Wi, int inputs, int bias, const double *in, size_t B,
                                double *z) {
    switch (inputs) {
    case 1: preact_row_k(Wi, 1, bias, in, B, z); return;
    case 2: preact_row_k(Wi, 2, bias, in, B, z); return;
    case 3: preact_row_k(Wi, 3, bias, in, B, z); return;
    case 4: preact_row_k(Wi, 4, bias, in, B, z); return;
    default: mlpf_mm_nn(1, (int)B, inputs + bias, Wi, inputs + bias, in, (int)B, z, (int)B);
    }
}

/* Forward through all layers, one unit row (B samples) at a time so that each row's
   pre-activation, activation and derivative stay in L1: x (din+1, B) -> z_l, da_l,
   d2a_l (U_l, B) (d2a only when want_d2), a_l (U_l+1, B); lse (B) for a softmax output.
   A narrow next layer (<= NARROW units) accumulates its z from each row as it is made
   (the same sum, in the same order, as mlpf_mm_nn), instead of a second pass over a_l. */
MLPF_HOT static void forward_chunk(const finite_data *f, const double *x, size_t B, int want_d2,
                                   chunk_ws *w) {
    const mlpf_net *net = f->net;
    const double *in = w->x;
    int fed = 0; /* z_l already accumulated by the layer below */
    for (int l = 0; l < net->nlayers; l++) {
        const mlpf_layer *Ly = &net->layers[l];
        int U = Ly->units, cols = Ly->inputs + Ly->bias, last = l == net->nlayers - 1;
        const double *W = x + Ly->offset;
        double *z = w->z[l], *a = w->a[l];
        int rows = layer_narrow(Ly);
        /* z = W [a_{l-1}; 1]: the ones row multiplies the bias column when there is one. */
        if (!fed && !rows) mlpf_mm_nn(U, (int)B, cols, W, cols, in, (int)B, z, (int)B);
        const mlpf_layer *Ln = last ? NULL : &net->layers[l + 1];
        int feed = Ln && Ln->units <= NARROW;
        if (feed) memset(w->z[l + 1], 0, (size_t)Ln->units * B * sizeof(double));
        int softmax = Ly->acts[0].kind == MLPF_ACT_SOFTMAX;
        for (int i = 0; i < U; i++) {
            if (!fed && rows) preact_row(W + (size_t)i * (size_t)cols, Ly->inputs, Ly->bias, in, B, z + (size_t)i * B);
            if (softmax) continue;
            activate_row(Ly, i, B, want_d2, z, a, w->da[l], w->d2a[l]);
            const double *ai = a + (size_t)i * B;
            for (int o = 0; feed && o < Ln->units; o++) {
                double wo = x[Ln->offset + (size_t)o * (size_t)(Ln->inputs + Ln->bias) + (size_t)i];
                double *zo = w->z[l + 1] + (size_t)o * B;
                for (size_t b = 0; b < B; b++) zo[b] += wo * ai[b];
            }
        }
        if (softmax)
            for (size_t b = 0; b < B; b++) w->lse[b] = mlpf_softmax(U, z + b, B, a + b);
        for (size_t b = 0; b < B; b++) a[(size_t)U * B + b] = 1.0;
        if (feed && Ln->bias)
            for (int o = 0; o < Ln->units; o++) {
                double wo = x[Ln->offset + (size_t)o * (size_t)(Ln->inputs + 1) + (size_t)U];
                double *zo = w->z[l + 1] + (size_t)o * B;
                for (size_t b = 0; b < B; b++) zo[b] += wo * 1.0;
            }
        fed = feed;
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

/* The common case of backward_row in ONE pass over the row: a single unit above
   (U_l = 1) and at most 4 columns below (din <= 3 with a bias): dn (B) is delta_l,
   aj, da, lam, dl (B) the rows of a_{l-1}, sigma'_{l-1}, lambda_{l-1}, delta_{l-1},
   rows[0 .. nb-1] (B) those of [a_{l-2}; 1]. Adds W_l's entry j to *gl (NULL: not
   wanted) and the row's nb entries to gb. Separate dot products, each ending in a
   horizontal reduction, cost more than their arithmetic at small chunks. */
MLPF_HOT static void backward_row_u1(double wj, const double *dn, const double *aj, const double *da,
                                     size_t B, int nb, const double *const *rows, double *lam, double *dl,
                                     double *gl, double *gb) {
    /* columns beyond nb read row 0 and their sums are dropped: no branch in the loop */
    const double *r0 = rows[0], *r1 = nb > 1 ? rows[1] : r0, *r2 = nb > 2 ? rows[2] : r0,
                 *r3 = nb > 3 ? rows[3] : r0;
    double sa = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : sa, s0, s1, s2, s3)
    for (size_t b = 0; b < B; b++) {
        double acc = wj * dn[b], d = acc * da[b];
        lam[b] = acc;
        dl[b] = d;
        sa += dn[b] * aj[b];
        s0 += d * r0[b];
        s1 += d * r1[b];
        s2 += d * r2[b];
        s3 += d * r3[b];
    }
    if (gl) *gl += sa;
    double s[4] = {s0, s1, s2, s3};
    for (int c = 0; c < nb; c++) gb[c] += s[c];
}

/* Unit j of layer l-1 below a narrow layer l (U_l <= NARROW), in one visit of its row:
   dloss/dW_l[:, j] += delta_l a_{l-1,j}^T, lambda_{l-1,j} = W_l[:, j]^T delta_l and
   delta_{l-1,j} = lambda_{l-1,j} * sigma'_{l-1,j}; when layer l-1 has narrow inputs, also its
   gradient row dloss/dW_{l-1}[j, :] += delta_{l-1,j} [a_{l-2}; 1]^T while the row is hot.
   grad_l / grad_below: where to add those two (NULL: not wanted or already added).
   Returns 1 when it added the row below. Sums as in mlpf_mm_* (same order, same bits). */
MLPF_HOT static int backward_row(const finite_data *f, const double *x, int l, int j, size_t B,
                                 double *grad_l, double *grad_below, chunk_ws *w) {
    const mlpf_net *net = f->net;
    const mlpf_layer *Ly = &net->layers[l], *Lp = &net->layers[l - 1];
    int U = Ly->units, cols = Ly->inputs + Ly->bias, colp = Lp->inputs + Lp->bias;
    size_t r = (size_t)j * B;
    if (U == 1 && colp <= 4 && grad_below) {
        const double *below = l - 1 ? w->a[l - 2] : w->x, *rows[4];
        for (int c = 0; c < colp; c++) rows[c] = below + (size_t)c * B;
        backward_row_u1(x[Ly->offset + (size_t)j], w->delta[l], w->a[l - 1] + r, w->da[l - 1] + r, B,
                        colp, rows, w->lam[l - 1] + r, w->delta[l - 1] + r,
                        grad_l ? grad_l + Ly->offset + (size_t)j : NULL,
                        grad_below + Lp->offset + (size_t)j * (size_t)colp);
        return 1;
    }
    if (grad_l)
        mlpf_mm_nt_acc(U, 1, (int)B, w->delta[l], (int)B, w->a[l - 1] + r, (int)B,
                       grad_l + Ly->offset + (size_t)j, cols);
    const double *Wj = x + Ly->offset + (size_t)j, *dn = w->delta[l], *da = w->da[l - 1] + r;
    double *dl = w->delta[l - 1] + r, *lam = w->lam[l - 1] + r;
#pragma omp simd
    for (size_t b = 0; b < B; b++) {
        double acc = Wj[0] * dn[b]; /* lambda: the sum over i in mlpf_mm_tn's order */
        for (int i = 1; i < U; i++) acc += Wj[(size_t)i * (size_t)cols] * dn[(size_t)i * B + b];
        lam[b] = acc;
        dl[b] = acc * da[b];
    }
    if (!grad_below || colp > NARROW) return 0;
    const double *below = l - 1 ? w->a[l - 2] : w->x;
    mlpf_mm_nt_acc(1, colp, (int)B, dl, (int)B, below, (int)B,
                   grad_below + Lp->offset + (size_t)j * (size_t)colp, colp);
    return 1;
}

/* Backpropagation: lambda_{l-1} = W_l^T delta_l, delta_{l-1} = lambda_{l-1} * sigma'(z_{l-1}).
   Adds dloss/dW_l = delta_l [a_{l-1}; 1]^T to grad (P). Below a narrow layer the work
   goes row by row (backward_row), so each row of a_{l-1} and sigma'_{l-1} is read once. */
MLPF_HOT static void backward_chunk(const finite_data *f, const double *x, size_t B, double *grad, chunk_ws *w) {
    const mlpf_net *net = f->net;
    int done = 0; /* layer l's gradient was already added by the rows above it */
    for (int l = net->nlayers - 1; l >= 0; l--) {
        const mlpf_layer *Ly = &net->layers[l];
        int U = Ly->units, cols = Ly->inputs + Ly->bias, Up = Ly->inputs;
        const double *in = l ? w->a[l - 1] : w->x;
        if (l > 0 && U <= NARROW) {
            int below = 0;
            double *gl = done ? NULL : grad;
            for (int j = 0; j < Up; j++) below = backward_row(f, x, l, j, B, gl, grad, w);
            if (gl && Ly->bias) /* the bias column: the ones row of abar_{l-1} */
                mlpf_mm_nt_acc(U, 1, (int)B, w->delta[l], (int)B, in + (size_t)Up * B, (int)B,
                               grad + Ly->offset + (size_t)Up, cols);
            done = below;
            continue;
        }
        if (grad && !done) mlpf_mm_nt_acc(U, cols, (int)B, w->delta[l], (int)B, in, (int)B, grad + Ly->offset, cols);
        done = 0;
        if (l == 0) break;
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

/* Rows per chunk. Hessian chunks hold (P, dout B) Jacobian columns: large enough for
   dsyrk to run at full speed, small enough that these stay cache-sized. Gradient chunks
   hold only activations and deltas, (sum of layer widths, B): tall enough that the
   layer products are BLAS3 with 64 to 256 rows at any P (sizing them by P, as once,
   cut a 64-256-256-10 net with P = 85 002 into 16-row chunks and 113 slabs). Never more
   than the data (rounded up to a multiple of 8), so small data sets get small buffers. */
#define HESS_CHUNK_DOUBLES ((size_t)1 << 21) /* of P dout per row */
#define GRAD_CHUNK_DOUBLES ((size_t)1 << 20) /* 8 MB of chunk workspace per thread */

static size_t chunk_rows(const finite_data *f, size_t n, int want_hess) {
    size_t P = f->net->nparams, dout = (size_t)mlpf_net_dout(f->net), B;
    if (want_hess) {
        B = HESS_CHUNK_DOUBLES / (P * dout + 1);
        B = B > 1024 ? 1024 : B < 16 ? 16 : B;
    } else {
        B = GRAD_CHUNK_DOUBLES / ws_doubles(f, 1, 0);
        B = B > 256 ? 256 : B < 64 ? 64 : B;
    }
    size_t n8 = (n + 7) / 8 * 8;
    return B < n8 ? B : n8;
}

/* Slabs: runs of consecutive chunks that share one accumulator. Their size depends on
   N, P and the layer widths only, never on the thread count: a slab is one chunk until
   there would be more than MAX_SLABS of them or more than SLAB_HESS_BYTES of P x P
   (Hessian) or SLAB_GRAD_BYTES of P (gradient) accumulators, then slabs take several
   chunks. Each accumulator is zeroed and summed once per call, so the gradient's bound
   keeps that below the chunks' own work at large P (85 002 doubles: at most 49 slabs).
   Threads take slabs as they come (nobody waits for anybody until the end); the slabs
   are added up in slab order. */
#define MAX_SLABS 1024
#define SLAB_HESS_BYTES ((size_t)32 << 20)
#define SLAB_GRAD_BYTES ((size_t)32 << 20)

static size_t chunks_per_slab(size_t nchunks, size_t P, int want_hess) {
    size_t per_slab = want_hess ? P * P * sizeof(double) : P * sizeof(double);
    size_t cap = (want_hess ? SLAB_HESS_BYTES : SLAB_GRAD_BYTES) / (per_slab + 1);
    size_t smax = cap < 1 ? 1 : cap < MAX_SLABS ? cap : MAX_SLABS;
    return (nchunks + smax - 1) / smax;
}

mlpf_finite_layout mlpf_finite_layout_of(const finite_data *f, size_t n, int want_hess) {
    mlpf_finite_layout lay = {.rows = chunk_rows(f, n, want_hess)};
    lay.chunks = (n + lay.rows - 1) / lay.rows;
    lay.per_slab = chunks_per_slab(lay.chunks, f->net->nparams, want_hess);
    lay.slabs = (lay.chunks + lay.per_slab - 1) / lay.per_slab;
    return lay;
}

/* One evaluation's shared state. Slab 0 accumulates straight into the totals; slab
   s > 0 into loss[s], grad + (s - 1) P, hess + (s - 1) P P, added in order at the end. */
typedef struct {
    finite_data *f;                   /* not const: its buffer cache */
    const double *x;
    const size_t *subset;
    size_t n, B, nchunks, per, S, P;  /* per: chunks per slab; S: slabs */
    int want_hess;
    double inv_n;
    double *loss;                     /* (S) per slab */
    double *grad, *hess;              /* totals: grad (P), lower triangle of hess (P, P) */
    double *slab_grad, *slab_hess;    /* slabs 1 .. S-1: (S - 1, P), (S - 1, P, P) */
    cache_block *slabs;               /* the memory of loss, slab_grad and slab_hess */
    int status;
    mlpf_error *err;
} eval_job;

/* Chunk c into the accumulators g (P) and h (P, P lower) (NULL: not wanted); returns its loss. */
static double eval_chunk(const eval_job *job, size_t c, double *g, double *h, chunk_ws *w) {
    size_t s0 = c * job->B, m = job->n - s0 < job->B ? job->n - s0 : job->B;
    load_chunk(job->f, job->subset, s0, m, job->inv_n, w);
    forward_chunk(job->f, job->x, m, job->want_hess, w);
    double l = output_chunk(job->f, m, job->want_hess, w);
    if (g) backward_chunk(job->f, job->x, m, g, w);
    if (h) hessian_chunk(job->f, job->x, m, h, w);
    return l;
}

/* Slab s: its chunks in order, into its accumulators (zeroed here, by the thread that
   fills them: in parallel, and into its cache). */
static void eval_slab(eval_job *job, size_t s, chunk_ws *w) {
    size_t P = job->P, c1 = (s + 1) * job->per < job->nchunks ? (s + 1) * job->per : job->nchunks;
    double *g = !job->grad ? NULL : s ? job->slab_grad + (s - 1) * P : job->grad;
    double *h = !job->hess ? NULL : s ? job->slab_hess + (s - 1) * P * P : job->hess;
    if (s && g) memset(g, 0, P * sizeof(double));
    if (s && h) memset(h, 0, P * P * sizeof(double));
    double l = 0;
    for (size_t c = s * job->per; c < c1; c++) l += eval_chunk(job, c, g, h, w);
    job->loss[s] = l;
}

/* One thread's part: the slabs it takes (dynamic, so a thread slowed by a busy machine
   takes fewer and no thread waits on another's slab). */
static void eval_thread(eval_job *job, int parallel) {
    chunk_ws w;
    mlpf_error local_err;
    int st = ws_alloc(job->f, job->B, job->want_hess, &w, &local_err);
    if (st) {
#pragma omp critical(mlpf_finite_status)
        if (!job->status) { job->status = st; if (job->err) *job->err = local_err; }
    }
    if (!parallel) {
        for (size_t s = 0; s < job->S && !st; s++) eval_slab(job, s, &w);
    } else {
#pragma omp for schedule(dynamic, 1)
        for (size_t s = 0; s < job->S; s++)
            if (!st) eval_slab(job, s, &w);
    }
    ws_free(job->f, &w);
}

/* The slabs' loss and gradient sums in slab order into loss and grad. */
static void add_slabs(const eval_job *job, double *loss) {
    size_t P = job->P;
    double total = 0;
    for (size_t s = 0; s < job->S; s++) total += job->loss[s];
    if (loss) *loss = total;
    for (size_t s = 1; s < job->S && job->grad; s++)
        for (size_t i = 0; i < P; i++) job->grad[i] += job->slab_grad[(s - 1) * P + i];
}

/* Row i of hess's lower triangle (i + 1): the slabs' rows added in slab order. */
MLPF_HOT static void hess_row_sum(const eval_job *job, size_t i) {
    size_t P = job->P;
    double *d = job->hess + i * P;
    for (size_t s = 1; s < job->S; s++) {
        const double *src = job->slab_hess + (s - 1) * P * P + i * P;
        for (size_t j = 0; j <= i; j++) d[j] += src[j];
    }
}

/* The slabs' Hessians into hess (P, P), then the upper triangle from the lower. Row by
   row, split over the region's threads when `parallel` (each entry is summed in slab
   order whoever does it: the same bits for any thread count); on one thread this was
   the serial tail of a threaded call (Amdahl: ~2% at P = 401). */
static void hess_slabs(const eval_job *job, int parallel) {
    size_t P = job->P;
    if (parallel) {
#pragma omp for schedule(static, 1)
        for (size_t i = 0; i < P; i++) hess_row_sum(job, i);
#pragma omp for schedule(static, 1)
        for (size_t i = 0; i < P; i++)
            for (size_t j = 0; j < i; j++) job->hess[j * P + i] = job->hess[i * P + j];
        return;
    }
    for (size_t i = 0; i < P; i++) hess_row_sum(job, i);
    for (size_t i = 0; i < P; i++)
        for (size_t j = 0; j < i; j++) job->hess[j * P + i] = job->hess[i * P + j];
}

/* Threads for this call: the option (0: OpenMP's default), at most one per slab; small
   jobs on the calling thread, where a parallel region costs more than they do. */
static int eval_threads(const finite_data *f, const eval_job *job) {
    int threads = f->threads > 0 ? f->threads : omp_get_max_threads();
    if ((size_t)threads > job->S) threads = (int)job->S;
    if ((double)job->n * (double)job->P * (job->want_hess ? (double)job->P : 1.0) < 2e5) threads = 1;
    return threads;
}

static int finite_eval(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                       double *loss, double *grad, double *hess, mlpf_error *err) {
    finite_data *f = ctx;
    size_t P = f->net->nparams, n = subset ? nsubset : f->n;
    int want_hess = hess != NULL;
    mlpf_finite_layout lay = mlpf_finite_layout_of(f, n, want_hess);
    size_t B = lay.rows, nchunks = lay.chunks, per = lay.per_slab, S = lay.slabs;
    eval_job job = {.f = f, .x = x, .subset = subset, .n = n, .B = B, .nchunks = nchunks, .per = per,
                    .S = S, .P = P, .want_hess = want_hess, .inv_n = 1.0 / (double)n, .err = err};
    /* the Hessian needs the backward pass, hence a gradient, even when the caller does not */
    job.grad = grad || !want_hess ? grad : mlpf_malloc(P * sizeof(double), err);
    job.hess = hess;
    size_t ng = job.grad ? (S - 1) * P : 0, nh = hess ? (S - 1) * P * P : 0;
    job.slabs = block_take(f, BLOCK_SLABS, S + ng + nh, err);
    if (job.slabs) {
        job.loss = job.slabs->mem;
        job.slab_grad = job.loss + S;
        job.slab_hess = job.slab_grad + ng;
    }
    if ((want_hess && !job.grad) || !job.slabs) {
        job.status = MLPF_ENOMEM;
    } else {
        if (job.grad) memset(job.grad, 0, P * sizeof(double));
        if (hess) memset(hess, 0, P * P * sizeof(double));
        int threads = eval_threads(f, &job);
        /* BLAS calls inside run on the calling thread only, with one thread too: our
           parallelism is over slabs, and a threaded BLAS on chunk-sized products costs
           more than it gains (and splits sums by its own thread count). On one thread
           the caller's setting is restored after; in a region it is scoped by the region. */
        if (threads == 1) {
            int caller = omp_get_max_threads();
            omp_set_num_threads(1);
            eval_thread(&job, 0);
            if (hess && !job.status) hess_slabs(&job, 0);
            omp_set_num_threads(caller);
        } else {
#pragma omp parallel num_threads(threads)
            {
                omp_set_num_threads(1);
                eval_thread(&job, 1); /* ends in a barrier: job.status is final here */
                if (hess && !job.status) hess_slabs(&job, 1);
            }
        }
        if (job.status == MLPF_OK) add_slabs(&job, loss);
    }
    if (job.grad != grad) free(job.grad);
    block_give(f, job.slabs);
    return job.status;
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
    for (int i = 0; i < MLPF_FINITE_CACHE; i++) atomic_init(&f->cache[i], NULL);
    f->maxu = din;
    for (int l = 0; l < net->nlayers; l++) if (net->layers[l].units > f->maxu) f->maxu = net->layers[l].units;

    mlpf_objective_ops ops = {.name = "finite", .nparams = net->nparams, .nsamples = n,
                              .eval = finite_eval, .free_ctx = finite_free};
    mlpf_objective *obj = mlpf_objective_custom(&ops, f, err);
    if (obj) obj->net = f->net, obj->hvp = mlpf_finite_hvp;
    return obj;
}

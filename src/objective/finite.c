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

   Work goes through samples in chunks of B rows, so memory does not grow with N.
   Chunks are grouped into a fixed number of slabs (independent of the thread
   count), each with its own accumulator, summed in slab order: results are
   bit-identical whatever the number of threads. */
#include "internal.h"

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

/* One thread's buffers for one chunk of B samples. */
typedef struct {
    size_t B;
    double *xbar;              /* (B, din + 1) */
    double **z, **abar, **da, **d2a, **delta, **lam; /* per layer (B, U_l), abar (B, U_l + 1) */
    double *t;                 /* (B, dout) targets of the chunk */
    double *c;                 /* (B) sample weight / N */
    double *phi;               /* (B, dout, dout) Gauss-Newton factor of the loss node */
    double *kappa_out;         /* (B, dout) signed output curvature (nonlinear MSE output) */
    double *J;                 /* (B * dout, P) Gauss-Newton rows */
    double *R, *KR;            /* (B, P) rows Dz_lj and kappa-scaled copies */
    double *F, *F2;            /* (B * dout, maxu) backpropagated factors */
    double *gam;               /* (B, maxu) */
    double *scratch;           /* (P) for the small matrix products */
    double *tr;                /* (B, din + 1 + 3 maxu) transposed layer-1 quantities */
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
    int L = net->nlayers, dout = mlpf_net_dout(net);
    size_t P = net->nparams, mu = (size_t)f->maxu + 1;
    memset(w, 0, sizeof *w);
    w->B = B;
    w->z = mlpf_calloc(6 * (size_t)L, sizeof(double *), err);
    if (!w->z) return MLPF_ENOMEM;
    w->abar = w->z + L; w->da = w->abar + L; w->d2a = w->da + L; w->delta = w->d2a + L; w->lam = w->delta + L;
    size_t total = P + B * (size_t)(net->din + 1) + B * (size_t)dout * (2 + (size_t)dout) + B;
    for (int l = 0; l < L; l++) total += B * (6 * (size_t)net->layers[l].units + 1);
    if (want_hess) total += B * (size_t)dout * P + 2 * B * P + 2 * B * (size_t)dout * mu + B * mu
                            + B * ((size_t)net->din + 1 + 3 * mu);
    w->mem = mlpf_malloc(total * sizeof(double), err);
    if (!w->mem) { free(w->z); w->z = NULL; return MLPF_ENOMEM; }
    double *p = w->mem;
#define TAKE(ptr, count) do { (ptr) = p; p += (count); } while (0)
    TAKE(w->scratch, P);
    TAKE(w->xbar, B * (size_t)(net->din + 1));
    TAKE(w->t, B * (size_t)dout);
    TAKE(w->c, B);
    TAKE(w->phi, B * (size_t)dout * (size_t)dout);
    TAKE(w->kappa_out, B * (size_t)dout);
    for (int l = 0; l < L; l++) {
        size_t u = (size_t)net->layers[l].units;
        TAKE(w->z[l], B * u); TAKE(w->abar[l], B * (u + 1)); TAKE(w->da[l], B * u);
        TAKE(w->d2a[l], B * u); TAKE(w->delta[l], B * u); TAKE(w->lam[l], B * u);
    }
    if (want_hess) {
        TAKE(w->J, B * (size_t)dout * P); TAKE(w->R, B * P); TAKE(w->KR, B * P);
        TAKE(w->F, B * (size_t)dout * mu); TAKE(w->F2, B * (size_t)dout * mu); TAKE(w->gam, B * mu);
        TAKE(w->tr, B * ((size_t)net->din + 1 + 3 * mu));
    }
#undef TAKE
    return MLPF_OK;
}

/* Gather a chunk: xbar (B, din + 1) with a ones column, targets t (B, dout) (labels
   become one-hot), per-sample loss weights c (B) = weight / N. */
static void load_chunk(const finite_data *f, const size_t *subset, size_t s0, size_t B, double inv_n,
                       chunk_ws *w) {
    int din = f->net->din, dout = mlpf_net_dout(f->net);
    for (size_t b = 0; b < B; b++) {
        size_t s = subset ? subset[s0 + b] : s0 + b;
        memcpy(w->xbar + b * (size_t)(din + 1), f->input + s * (size_t)din, (size_t)din * sizeof(double));
        w->xbar[b * (size_t)(din + 1) + (size_t)din] = 1.0;
        double *t = w->t + b * (size_t)dout;
        if (f->labels) {
            for (int o = 0; o < dout; o++) t[o] = 0.0;
            t[(size_t)f->target[s]] = 1.0;
        } else {
            memcpy(t, f->target + s * f->tcols, (size_t)dout * sizeof(double));
        }
        w->c[b] = (f->weights ? f->weights[s] : 1.0) * inv_n;
    }
}

/* Forward through all layers. xbar (B, din+1) -> z_l, da_l, d2a_l (B, U_l), abar_l (B, U_l+1). */
static void forward_chunk(const finite_data *f, const double *x, size_t B, int want_d2, chunk_ws *w) {
    const mlpf_net *net = f->net;
    const double *in = w->xbar;
    for (int l = 0; l < net->nlayers; l++) {
        const mlpf_layer *Ly = &net->layers[l];
        int U = Ly->units, cols = Ly->inputs + Ly->bias, ldin = Ly->inputs + 1;
        /* z = abar_{l-1} W^T: the ones column of abar multiplies the bias column when there is one. */
        mlpf_mm_nt((int)B, U, cols, in, ldin, x + Ly->offset, cols, w->z[l], U, w->scratch);
        double *ab = w->abar[l], *a = w->lam[l]; /* lam is free until backward: a lands there first */
        if (Ly->acts[0].kind == MLPF_ACT_SOFTMAX) {
            for (size_t b = 0; b < B; b++) {
                const double *zb = w->z[l] + b * (size_t)U;
                double m = zb[0], sum = 0;
                for (int i = 1; i < U; i++) m = fmax(m, zb[i]);
                for (int i = 0; i < U; i++) sum += (ab[b * (size_t)(U + 1) + (size_t)i] = exp(zb[i] - m));
                for (int i = 0; i < U; i++) ab[b * (size_t)(U + 1) + (size_t)i] /= sum;
                ab[b * (size_t)(U + 1) + (size_t)U] = 1.0;
            }
        } else {
            double *d2 = w->d2a[l]; /* cheap next to f and f', and keeps the loops vectorised */
            if (Ly->shared_act) {
                mlpf_activation_eval_n(&Ly->acts[0], w->z[l], B * (size_t)U, a, w->da[l], d2);
            } else {
                for (size_t k = 0; k < B * (size_t)U; k++)
                    mlpf_activation_eval(&Ly->acts[k % (size_t)U], w->z[l][k], &a[k], &w->da[l][k],
                                         d2 ? &d2[k] : NULL);
            }
            for (size_t b = 0; b < B; b++) {
                memcpy(ab + b * (size_t)(U + 1), a + b * (size_t)U, (size_t)U * sizeof(double));
                ab[b * (size_t)(U + 1) + (size_t)U] = 1.0;
            }
        }
        in = ab;
    }
}

/* The loss node. -> loss of the chunk; delta_L (B, dout); phi (B, dout, dout) with
   d2loss/dz_L^2 = phi^T phi + diag(kappa_out) per sample. */
static double output_chunk(const finite_data *f, size_t B, int want_hess, chunk_ws *w) {
    const mlpf_net *net = f->net;
    int L = net->nlayers, D = mlpf_net_dout(net);
    const mlpf_layer *Ly = &net->layers[L - 1];
    double loss = 0;
    for (size_t b = 0; b < B; b++) {
        const double *y = w->abar[L - 1] + b * (size_t)(D + 1), *t = w->t + b * (size_t)D;
        const double *z = w->z[L - 1] + b * (size_t)D;
        double c = w->c[b], *delta = w->delta[L - 1] + b * (size_t)D;
        double *phi = w->phi + b * (size_t)D * (size_t)D, *kap = w->kappa_out + b * (size_t)D;
        if (f->loss == MLPF_LOSS_CROSSENTROPY) {
            /* -c sum t log p with log p = z - logsumexp(z); d/dz = c (T p - t). */
            double m = z[0], s = 0, T = 0;
            for (int o = 1; o < D; o++) m = fmax(m, z[o]);
            for (int o = 0; o < D; o++) s += exp(z[o] - m);
            double lse = m + log(s);
            for (int o = 0; o < D; o++) {
                if (t[o] != 0) loss -= c * t[o] * (z[o] - lse);
                T += t[o];
            }
            for (int o = 0; o < D; o++) delta[o] = c * (T * y[o] - t[o]);
            if (want_hess) {
                /* c T (diag p - p p^T) = phi^T phi with phi = diag(sqrt(cTp)) (I - 1 p^T). */
                for (int o = 0; o < D; o++) {
                    double r = sqrt(fmax(c * T * y[o], 0.0));
                    for (int q = 0; q < D; q++) phi[o * D + q] = r * ((o == q) - y[q]);
                    kap[o] = 0;
                }
            }
        } else {
            const double *da = w->da[L - 1] + b * (size_t)D, *d2a = w->d2a[L - 1] + b * (size_t)D;
            for (int o = 0; o < D; o++) {
                double r = y[o] - t[o];
                loss += c * r * r;
                delta[o] = 2 * c * r * da[o];
                if (want_hess) {
                    for (int q = 0; q < D; q++) phi[o * D + q] = 0;
                    phi[o * D + o] = sqrt(2 * c) * da[o];
                    kap[o] = Ly->acts[o].kind == MLPF_ACT_IDENTITY ? 0.0 : 2 * c * r * d2a[o];
                }
            }
        }
    }
    return loss;
}

/* Backpropagation: delta_{l-1} = lambda_{l-1} * sigma'(z_{l-1}), lambda_{l-1} = delta_l W_l.
   Adds dloss/dW_l = delta_l^T abar_{l-1} to grad (P). */
static void backward_chunk(const finite_data *f, const double *x, size_t B, double *grad, chunk_ws *w) {
    const mlpf_net *net = f->net;
    for (int l = net->nlayers - 1; l >= 0; l--) {
        const mlpf_layer *Ly = &net->layers[l];
        int U = Ly->units, cols = Ly->inputs + Ly->bias;
        const double *in = l ? w->abar[l - 1] : w->xbar;
        if (grad)
            mlpf_mm_tn_acc(U, cols, (int)B, w->delta[l], U, in, Ly->inputs + 1, grad + Ly->offset,
                           cols, w->scratch);
        if (l == 0) break;
        int Up = Ly->inputs;
        mlpf_mm_nn((int)B, Up, U, w->delta[l], U, x + Ly->offset, cols, w->lam[l - 1], Up);
        const double *da = w->da[l - 1];
        double *dl = w->delta[l - 1], *lam = w->lam[l - 1];
        for (size_t k = 0; k < B * (size_t)Up; k++) dl[k] = lam[k] * da[k];
    }
}

/* Kronecker expansion of one layer's block: rows (M, ldrow),
   rows[r, off + i*cols + k] = g[r, i] * abar[r / per, k] for the U x cols block. */
static void expand_rows(const double *g, int U, const double *abar, int inputs, int bias,
                        size_t M, size_t per, double *rows, size_t ldrow, size_t off) {
    int cols = inputs + bias;
    for (size_t r = 0; r < M; r++) {
        const double *gr = g + r * (size_t)U, *ab = abar + (r / per) * (size_t)(inputs + 1);
        double *out = rows + r * ldrow + off;
        for (int i = 0; i < U; i++) {
            double gi = gr[i];
            double *o = out + (size_t)i * (size_t)cols;
            for (int k = 0; k < cols; k++) o[k] = gi * ab[k];
        }
    }
}

/* Backpropagate row factors one layer down: g (M, U_l) -> g' (M, U_{l-1}) = (g W_l) * sigma'_{l-1}. */
static void backprop_rows(const mlpf_layer *Ly, const double *W, const double *g, size_t M,
                          size_t per, const double *da_prev, double *out) {
    int U = Ly->units, Up = Ly->inputs, cols = Up + Ly->bias;
    mlpf_mm_nn((int)M, Up, U, g, U, W, cols, out, Up);
    for (size_t r = 0; r < M; r++) {
        const double *da = da_prev + (r / per) * (size_t)Up;
        for (int j = 0; j < Up; j++) out[r * (size_t)Up + (size_t)j] *= da[j];
    }
}

/* Rows R (M, P) of d z_top / d params for row factors g0 (M, U_top) at layer `top`
   (per = rows per sample). Columns beyond the top layer are left untouched. */
static void jacobian_rows(const finite_data *f, const double *x, int top, const double *g0, size_t M,
                          size_t per, double *R, chunk_ws *w) {
    const mlpf_net *net = f->net;
    size_t P = net->nparams;
    const double *g = g0;
    double *bufs[2] = {w->F, w->F2};
    for (int m = top; m >= 0; m--) {
        const mlpf_layer *Ly = &net->layers[m];
        const double *in = m ? w->abar[m - 1] : w->xbar;
        expand_rows(g, Ly->units, in, Ly->inputs, Ly->bias, M, per, R, P, Ly->offset);
        if (m == 0) break;
        double *next = bufs[m & 1];
        backprop_rows(Ly, x + Ly->offset, g, M, per, w->da[m - 1], next);
        g = next;
    }
}

/* Add this chunk's Hessian to the lower triangle of H (P, P). */
static void hessian_chunk(const finite_data *f, const double *x, size_t B, double *H, chunk_ws *w) {
    const mlpf_net *net = f->net;
    int L = net->nlayers, D = mlpf_net_dout(net);
    size_t P = net->nparams;

    /* (GN) rows phi Dz_L: one dsyrk, the dominant cost. */
    jacobian_rows(f, x, L - 1, w->phi, B * (size_t)D, (size_t)D, w->J, w);
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)P, (int)(B * (size_t)D), 1.0, w->J,
                (int)P, 1.0, H, (int)P);

    /* Layer 1's (act) term is block diagonal: sum_b kappa_bj xbar_b xbar_b^T in unit j's block;
       its (lin) partner pairs W_2[i, j] with unit j's block: sum_b gamma_bij xbar_b.
       Transposed copies make every sum over samples a contiguous dot product. */
    const mlpf_layer *L1 = &net->layers[0];
    int U1 = L1->units, cols1 = L1->inputs + L1->bias, ldx = net->din + 1;
    const mlpf_layer *L2 = L > 1 ? &net->layers[1] : NULL;
    int U2 = L2 ? L2->units : 0, cols2 = L2 ? L2->inputs + L2->bias : 0;
    double *xT = w->tr, *kT = xT + (size_t)cols1 * B, *dT = kT + (size_t)U1 * B, *gT = dT + (size_t)U1 * B;
    for (size_t b = 0; b < B; b++) {
        for (int r = 0; r < cols1; r++) xT[(size_t)r * B + b] = w->xbar[b * (size_t)ldx + (size_t)r];
        for (int j = 0; j < U1; j++) {
            size_t k = b * (size_t)U1 + (size_t)j;
            kT[(size_t)j * B + b] = L > 1 ? w->lam[0][k] * w->d2a[0][k] : w->kappa_out[k];
            dT[(size_t)j * B + b] = w->da[0][k];
        }
        for (int i = 0; i < U2; i++) gT[(size_t)i * B + b] = w->delta[1][b * (size_t)U2 + (size_t)i];
    }
    for (int j = 0; j < U1; j++) {
        size_t blk = L1->offset + (size_t)j * (size_t)cols1;
        const double *kj = kT + (size_t)j * B, *dj = dT + (size_t)j * B;
        for (int r = 0; r < cols1; r++) {
            const double *xr = xT + (size_t)r * B;
            for (int c = 0; c <= r; c++) {
                const double *xc = xT + (size_t)c * B;
                double acc = 0;
                for (size_t b = 0; b < B; b++) acc += kj[b] * xr[b] * xc[b];
                H[(blk + (size_t)r) * P + blk + (size_t)c] += acc;
            }
        }
        for (int i = 0; i < U2; i++) {
            size_t row = L2->offset + (size_t)i * (size_t)cols2 + (size_t)j;
            const double *gi = gT + (size_t)i * B;
            for (int c = 0; c < cols1; c++) {
                const double *xc = xT + (size_t)c * B;
                double acc = 0;
                for (size_t b = 0; b < B; b++) acc += gi[b] * dj[b] * xc[b];
                H[row * P + blk + (size_t)c] += acc;
            }
        }
    }

    /* Layers >= 2: for each unit j, the rows Dz_lj (B, P_<=l) serve the (act) term of
       this layer and the (lin) term of the next one. */
    for (int l = 1; l < L; l++) {
        const mlpf_layer *Ly = &net->layers[l];
        int U = Ly->units;
        size_t Pl = Ly->offset + (size_t)U * (size_t)(Ly->inputs + Ly->bias); /* columns of layers <= l */
        for (int j = 0; j < U; j++) {
            int any_kappa = 0;
            for (size_t b = 0; b < B; b++) {
                double kap = l == L - 1 ? w->kappa_out[b * (size_t)D + (size_t)j]
                                        : w->lam[l][b * (size_t)U + (size_t)j] * w->d2a[l][b * (size_t)U + (size_t)j];
                w->gam[b] = kap;
                any_kappa |= kap != 0;
            }
            if (!any_kappa && l == L - 1) continue;
            /* Unit row factors e_j, then the rows. */
            double *e = w->KR; /* scratch (B, U) before KR is used */
            memset(e, 0, B * (size_t)U * sizeof(double));
            for (size_t b = 0; b < B; b++) e[b * (size_t)U + (size_t)j] = 1.0;
            jacobian_rows(f, x, l, e, B, 1, w->R, w);
            if (any_kappa) {
                /* 0.5 (R^T (kR) + (kR)^T R) = R^T diag(k) R on the leading Pl block. */
                for (size_t b = 0; b < B; b++)
                    for (size_t q = 0; q < Pl; q++) w->KR[b * P + q] = w->gam[b] * w->R[b * P + q];
                cblas_dsyr2k(CblasRowMajor, CblasLower, CblasTrans, (int)Pl, (int)B, 0.5, w->R,
                             (int)P, w->KR, (int)P, 1.0, H, (int)P);
            }
            if (l + 1 < L) {
                /* (lin): H[(l+1, i, j), :Pl] += sum_b delta_{l+1,bi} sigma'_{l,bj} R_b. */
                const mlpf_layer *Ln = &net->layers[l + 1];
                int Un = Ln->units, coln = Ln->inputs + Ln->bias;
                for (size_t b = 0; b < B; b++)
                    for (int i = 0; i < Un; i++)
                        w->gam[b * (size_t)Un + (size_t)i] = w->delta[l + 1][b * (size_t)Un + (size_t)i] * w->da[l][b * (size_t)U + (size_t)j];
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Un, (int)Pl, (int)B, 1.0, w->gam,
                            Un, w->R, (int)P, 1.0, H + (Ln->offset + (size_t)j) * P, (int)((size_t)coln * P));
            }
        }
    }
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
                forward_chunk(f, x, m, want_hess, &w);
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

mlpf_objective *mlpf_objective_finite(const mlpf_net *net, size_t n, const double *input,
                                      const double *target, size_t tcols, const double *weights,
                                      const mlpf_finite_options *opt, mlpf_error *err) {
    mlpf_finite_options defaults = {.loss = MLPF_LOSS_MSE, .threads = 0};
    if (!opt) opt = &defaults;
    if (!net || mlpf_net_validate(net, err) != MLPF_OK) {
        if (!net) mlpf_fail(err, MLPF_EINVAL, "finite objective: network is NULL");
        return NULL;
    }
    int din = net->din, dout = mlpf_net_dout(net);
    int softmax_out = net->layers[net->nlayers - 1].acts[0].kind == MLPF_ACT_SOFTMAX;
    if (n == 0) { mlpf_fail(err, MLPF_EINVAL, "empty data: the data set has no samples"); return NULL; }
    if (!input || !target) { mlpf_fail(err, MLPF_EINVAL, "input and target must not be NULL"); return NULL; }
    if (opt->loss == MLPF_LOSS_CROSSENTROPY && !softmax_out) {
        mlpf_fail(err, MLPF_EINVAL, "loss crossentropy needs a softmax output layer (the output layer is %s)",
                  mlpf_activation_name(net->layers[net->nlayers - 1].acts[0].kind));
        return NULL;
    }
    if (opt->loss == MLPF_LOSS_MSE && softmax_out) {
        mlpf_fail(err, MLPF_EINVAL, "a softmax output layer is trained with loss \"crossentropy\", not mse");
        return NULL;
    }
    if (opt->loss != MLPF_LOSS_MSE && opt->loss != MLPF_LOSS_CROSSENTROPY) {
        mlpf_fail(err, MLPF_EINVAL, "unknown loss code %d", (int)opt->loss);
        return NULL;
    }
    int labels = opt->loss == MLPF_LOSS_CROSSENTROPY && tcols == 1 && dout > 1;
    if (tcols != (size_t)dout && !labels) {
        mlpf_fail(err, MLPF_EINVAL, "target has %zu columns but the network has %d outputs%s", tcols, dout,
                  opt->loss == MLPF_LOSS_CROSSENTROPY ? " (or give 1 column of integer labels)" : "");
        return NULL;
    }
    size_t bad = mlpf_first_nonfinite(input, n * (size_t)din);
    if (bad) {
        mlpf_fail(err, MLPF_ENONFINITE, "input row %zu, column %zu is not finite (%g)", (bad - 1) / (size_t)din,
                  (bad - 1) % (size_t)din, input[bad - 1]);
        return NULL;
    }
    bad = mlpf_first_nonfinite(target, n * tcols);
    if (bad) {
        mlpf_fail(err, MLPF_ENONFINITE, "target row %zu, column %zu is not finite (%g)", (bad - 1) / tcols,
                  (bad - 1) % tcols, target[bad - 1]);
        return NULL;
    }
    if (labels)
        for (size_t s = 0; s < n; s++)
            if (target[s] != floor(target[s]) || target[s] < 0 || target[s] >= dout) {
                mlpf_fail(err, MLPF_EINVAL, "label %zu is %g; labels must be integers 0..%d", s, target[s], dout - 1);
                return NULL;
            }
    if (weights)
        for (size_t s = 0; s < n; s++)
            if (!isfinite(weights[s]) || weights[s] < 0) {
                mlpf_fail(err, isfinite(weights[s]) ? MLPF_EINVAL : MLPF_ENONFINITE,
                          "weight %zu is %g; sample weights must be finite and >= 0", s, weights[s]);
                return NULL;
            }
    if (opt->threads < 0) { mlpf_fail(err, MLPF_EINVAL, "threads must be >= 0, got %d", opt->threads); return NULL; }

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

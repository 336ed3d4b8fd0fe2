/* hvp.c - the exact Hessian-vector product H(x) v of the finite-data objective
   without the P x P matrix: Pearlmutter's R-operator, i.e. forward-mode
   differentiation of the backward pass (forward-over-reverse). It costs about
   two gradients and memory O(B * units), so second-order tools run where the
   dense Hessian (8 P^2 bytes) cannot.

   Notation as in finite.c (per sample, feature-major chunks of B samples); R{.}
   is the directional derivative along v (V_l = v's block of layer l):
     R z_l   = V_l abar_{l-1} + W_l [R a_{l-1}; 0]      (R a_0 = 0)
     R a_l   = sigma'(z_l) R z_l
     R delta_L = MSE: 2c (sigma'^2 + (y - t) sigma'') R z_L
                 CE (softmax): c T (p R z_L - p (p . R z_L))
     R lam_{l-1}   = V_l^T delta_l + W_l^T R delta_l     (input columns)
     R delta_{l-1} = sigma' R lam_{l-1} + lam_{l-1} sigma'' R z_{l-1}
     (H v)_{W_l}  = R delta_l abar_{l-1}^T + delta_l [R a_{l-1}; 0]^T
   Chunks are summed in fixed slabs (as finite.c): bit-identical for any
   thread count. */
#include "objective/finite.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* One thread's buffers for a chunk of B samples (all unit-major). */
typedef struct {
    size_t B;
    double *x;        /* (din + 1, B), last row ones */
    double *t;        /* (dout, B) targets */
    double *c;        /* (B) sample weight / N */
    double **z, **a, **da, **d2a, **rz, **ra, **delta, **rdelta; /* per layer (U_l, B); a (U_l + 1, B) */
    double *lam, *rlam, *tmp; /* (maxu, B) */
    double *mem;
} hvp_ws;

static void hvp_ws_free(hvp_ws *w) {
    free(w->mem);
    free(w->z);
}

static int hvp_ws_alloc(const finite_data *f, size_t B, hvp_ws *w, mlpf_error *err) {
    const mlpf_net *net = f->net;
    int L = net->nlayers;
    size_t D = (size_t)mlpf_net_dout(net), mu = (size_t)f->maxu + 1;
    memset(w, 0, sizeof *w);
    w->B = B;
    w->z = mlpf_calloc(8 * (size_t)L, sizeof(double *), err);
    if (!w->z) return MLPF_ENOMEM;
    w->a = w->z + L; w->da = w->a + L; w->d2a = w->da + L; w->rz = w->d2a + L;
    w->ra = w->rz + L; w->delta = w->ra + L; w->rdelta = w->delta + L;
    size_t total = B * ((size_t)net->din + 1) + B * D + B + 3 * mu * B;
    for (int l = 0; l < L; l++) total += B * (8 * (size_t)net->layers[l].units + 1);
    w->mem = mlpf_malloc(total * sizeof(double), err);
    if (!w->mem) { free(w->z); w->z = NULL; return MLPF_ENOMEM; }
    double *p = w->mem;
#define TAKE(ptr, count) do { (ptr) = p; p += (count); } while (0)
    TAKE(w->x, B * ((size_t)net->din + 1));
    TAKE(w->t, D * B);
    TAKE(w->c, B);
    TAKE(w->lam, mu * B); TAKE(w->rlam, mu * B); TAKE(w->tmp, mu * B);
    for (int l = 0; l < L; l++) {
        size_t u = (size_t)net->layers[l].units;
        TAKE(w->z[l], u * B); TAKE(w->a[l], (u + 1) * B); TAKE(w->da[l], u * B);
        TAKE(w->d2a[l], u * B); TAKE(w->rz[l], u * B); TAKE(w->ra[l], u * B);
        TAKE(w->delta[l], u * B); TAKE(w->rdelta[l], u * B);
    }
#undef TAKE
    return MLPF_OK;
}

/* x (din + 1, B) with a ones row, targets t (dout, B) (labels one-hot), c (B) = weight / N. */
static void hvp_load(const finite_data *f, const size_t *subset, size_t s0, size_t B, double inv_n,
                     hvp_ws *w) {
    int din = f->net->din, D = mlpf_net_dout(f->net);
    for (size_t b = 0; b < B; b++) {
        size_t s = subset ? subset[s0 + b] : s0 + b;
        for (int k = 0; k < din; k++) w->x[(size_t)k * B + b] = f->input[s * (size_t)din + (size_t)k];
        w->x[(size_t)din * B + b] = 1.0;
        for (int o = 0; o < D; o++)
            w->t[(size_t)o * B + b] = f->labels ? (double)(f->target[s] == o)
                                                : f->target[s * f->tcols + (size_t)o];
        w->c[b] = (f->weights ? f->weights[s] : 1.0) * inv_n;
    }
}

/* Forward and its directional derivative: z, a, da, d2a, rz, ra per layer. */
MLPF_HOT static void hvp_forward(const finite_data *f, const double *x, const double *v, size_t B,
                                 hvp_ws *w) {
    const mlpf_net *net = f->net;
    const double *in = w->x;
    for (int l = 0; l < net->nlayers; l++) {
        const mlpf_layer *Ly = &net->layers[l];
        int U = Ly->units, cols = Ly->inputs + Ly->bias;
        size_t n = (size_t)U * B;
        mlpf_mm_nn(U, (int)B, cols, x + Ly->offset, cols, in, (int)B, w->z[l], (int)B);
        mlpf_mm_nn(U, (int)B, cols, v + Ly->offset, cols, in, (int)B, w->rz[l], (int)B);
        if (l > 0) {
            mlpf_mm_nn(U, (int)B, Ly->inputs, x + Ly->offset, cols, w->ra[l - 1], (int)B, w->tmp, (int)B);
            for (size_t k = 0; k < n; k++) w->rz[l][k] += w->tmp[k];
        }
        double *a = w->a[l];
        if (Ly->acts[0].kind == MLPF_ACT_SOFTMAX) {
            for (size_t b = 0; b < B; b++) mlpf_softmax(U, w->z[l] + b, B, a + b);
        } else if (Ly->shared_act) {
            mlpf_activation_eval_n(&Ly->acts[0], w->z[l], n, a, w->da[l], w->d2a[l]);
        } else {
            for (int i = 0; i < U; i++)
                mlpf_activation_eval_n(&Ly->acts[i], w->z[l] + (size_t)i * B, B, a + (size_t)i * B,
                                       w->da[l] + (size_t)i * B, w->d2a[l] + (size_t)i * B);
        }
        for (size_t b = 0; b < B; b++) a[n + b] = 1.0;
        if (l + 1 < net->nlayers)
            for (size_t k = 0; k < n; k++) w->ra[l][k] = w->da[l][k] * w->rz[l][k];
        in = a;
    }
}

/* The loss node: delta_L and R delta_L (dout, B). */
MLPF_HOT static void hvp_output(const finite_data *f, size_t B, hvp_ws *w) {
    int L = f->net->nlayers, D = mlpf_net_dout(f->net);
    const double *y = w->a[L - 1], *t = w->t, *c = w->c, *rz = w->rz[L - 1];
    double *dl = w->delta[L - 1], *rdl = w->rdelta[L - 1];
    if (f->loss == MLPF_LOSS_CROSSENTROPY) {
        for (size_t b = 0; b < B; b++) {
            double T = 0, prz = 0;
            for (int o = 0; o < D; o++) {
                T += t[(size_t)o * B + b];
                prz += y[(size_t)o * B + b] * rz[(size_t)o * B + b];
            }
            for (int o = 0; o < D; o++) {
                size_t k = (size_t)o * B + b;
                dl[k] = c[b] * (T * y[k] - t[k]);
                rdl[k] = c[b] * T * y[k] * (rz[k] - prz);
            }
        }
        return;
    }
    const double *da = w->da[L - 1], *d2a = w->d2a[L - 1];
    for (size_t k = 0; k < (size_t)D * B; k++) {
        double cb = c[k % B], r = y[k] - t[k];
        dl[k] = 2 * cb * r * da[k];
        rdl[k] = 2 * cb * (da[k] * da[k] + r * d2a[k]) * rz[k];
    }
}

/* Backward and its directional derivative; adds H v to hv (P). */
MLPF_HOT static void hvp_backward(const finite_data *f, const double *x, const double *v, size_t B,
                                  double *hv, hvp_ws *w) {
    const mlpf_net *net = f->net;
    for (int l = net->nlayers - 1; l >= 0; l--) {
        const mlpf_layer *Ly = &net->layers[l];
        int U = Ly->units, Up = Ly->inputs, cols = Up + Ly->bias;
        const double *in = l ? w->a[l - 1] : w->x;
        double *hl = hv + Ly->offset;
        mlpf_mm_nt_acc(U, cols, (int)B, w->rdelta[l], (int)B, in, (int)B, hl, cols);
        if (l == 0) break;
        mlpf_mm_nt_acc(U, Up, (int)B, w->delta[l], (int)B, w->ra[l - 1], (int)B, hl, cols);
        size_t n = (size_t)Up * B;
        mlpf_mm_tn(Up, (int)B, U, x + Ly->offset, cols, w->delta[l], (int)B, w->lam, (int)B);
        mlpf_mm_tn(Up, (int)B, U, v + Ly->offset, cols, w->delta[l], (int)B, w->rlam, (int)B);
        mlpf_mm_tn(Up, (int)B, U, x + Ly->offset, cols, w->rdelta[l], (int)B, w->tmp, (int)B);
        const double *da = w->da[l - 1], *d2a = w->d2a[l - 1], *rz = w->rz[l - 1];
        double *dl = w->delta[l - 1], *rdl = w->rdelta[l - 1];
        for (size_t k = 0; k < n; k++) {
            dl[k] = w->lam[k] * da[k];
            rdl[k] = (w->rlam[k] + w->tmp[k]) * da[k] + w->lam[k] * d2a[k] * rz[k];
        }
    }
}

/* Samples per chunk: the (U, B) buffers of the widest layer stay cache-sized. */
static size_t hvp_chunk_rows(const finite_data *f) {
    size_t B = (size_t)(1u << 17) / ((size_t)f->maxu + 1);
    return B < 16 ? 16 : B > 256 ? 256 : B;
}

/* Slabs: runs of consecutive chunks, each summed into its own P-vector, the
   slabs then added in order, so the sum never depends on the thread count.
   As many slabs as chunks (all cores busy on a big node), up to 1024 and to
   32 MB of slab vectors; the count depends on N and P only. */
static size_t hvp_slabs(size_t nchunks, size_t P) {
    size_t cap = ((size_t)32 << 20) / (P * sizeof(double) + 1);
    if (cap < 1) cap = 1;
    if (cap > 1024) cap = 1024;
    return nchunks < cap ? nchunks : cap;
}

int mlpf_finite_hvp(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                    const double *v, double *hv, mlpf_error *err) {
    const finite_data *f = ctx;
    size_t P = f->net->nparams, n = subset ? nsubset : f->n;
    size_t B = hvp_chunk_rows(f), nchunks = (n + B - 1) / B;
    size_t S = hvp_slabs(nchunks, P);
    int threads = f->threads > 0 ? f->threads : omp_get_max_threads();
    if ((size_t)threads > S) threads = (int)S;
    if ((double)n * (double)P < 2e5) threads = 1;
    double *slab = mlpf_calloc(S * P, sizeof(double), err);
    if (!slab) return MLPF_ENOMEM;
    int status = MLPF_OK;
    double inv_n = 1.0 / (double)n;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        if (threads > 1) omp_set_num_threads(1);
        hvp_ws w;
        mlpf_error local_err;
        int st = hvp_ws_alloc(f, B, &w, &local_err);
        if (st) {
#pragma omp critical(mlpf_hvp_status)
            if (!status) { status = st; if (err) *err = local_err; }
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t s = 0; s < S; s++) {
            if (st) continue;
            for (size_t ch = nchunks * s / S; ch < nchunks * (s + 1) / S; ch++) {
                size_t s0 = ch * B, m = n - s0 < B ? n - s0 : B;
                hvp_load(f, subset, s0, m, inv_n, &w);
                hvp_forward(f, x, v, m, &w);
                hvp_output(f, m, &w);
                hvp_backward(f, x, v, m, slab + s * P, &w);
            }
        }
        hvp_ws_free(&w);
    }
    if (status == MLPF_OK) {
        memcpy(hv, slab, P * sizeof(double));
        for (size_t s = 1; s < S; s++)
            for (size_t i = 0; i < P; i++) hv[i] += slab[s * P + i];
    }
    free(slab);
    return status;
}

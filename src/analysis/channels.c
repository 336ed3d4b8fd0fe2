/* channels.c - channels to infinity: pairs of units whose input vectors merge
   while their output weights diverge with opposite signs (the pair tends to a
   gated linear unit), and single units of odd activations that become linear
   (|w| -> 0, |a| -> inf at fixed a w). Detection criteria are documented at
   mlpf_channels in mlpflow.h; they compare root-mean-square outputs on the
   data, so they do not depend on the scale of the data or of the weights. */
#include "analysis/analysis.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Gauss-Hermite rule used for expectations over standard Gaussian input: 40
   nodes per axis integrate polynomials of degree 79 exactly and smooth
   activations of O(1) weights to near machine precision; nodes with weight
   below 1e-18 cannot change an RMS ratio compared at the 1e-1 level. */
#define PLANE_ORDER 40
#define PLANE_PRUNE 1e-18

void mlpf_channel_options_default(mlpf_channel_options *opt) {
    opt->glu_tol = 0.1;
    opt->min_amplification = 10;
}

void mlpf_channels_free(mlpf_channel *channels, size_t n) {
    if (!channels) return;
    for (size_t k = 0; k < n; k++) {
        free(channels[k].out_weights);
        free(channels[k].c);
        free(channels[k].w);
        free(channels[k].v);
    }
    free(channels);
}

/* Odd with f'(0) != 0 and not linear itself (tanh, sigmoid2, odd polys with a
   linear term): then a unit with |w| -> 0, |a| -> inf at fixed a w tends to the
   linear unit (a w.x) f'(0). Parity and homogeneity come from the activation
   table. */
int mlpf_act_is_odd_linear(const mlpf_activation *a) {
    mlpf_activation_info info;
    if (mlpf_activation_describe(a, &info, NULL) || info.parity != MLPF_PARITY_ODD) return 0;
    if (info.homogeneous && info.degree == 1) return 0;
    double df0 = 0;
    mlpf_activation_eval(a, 0.0, NULL, &df0, NULL);
    return df0 != 0;
}

/* ---- data the detection runs on ---- */

/* Make v orthogonal to the unit vector q1 and normalise it; 0 when what is left
   is rounding (below 64 eps of v's norm). */
static int orthonormalize(int din, const double *q1, double *v) {
    double dot = 0, n0 = 0, n2 = 0;
    for (int d = 0; d < din; d++) n0 += v[d] * v[d], dot += v[d] * q1[d];
    for (int d = 0; d < din; d++) v[d] -= dot * q1[d];
    for (int d = 0; d < din; d++) n2 += v[d] * v[d];
    if (!(n2 > 0) || sqrt(n2) <= 64 * DBL_EPSILON * sqrt(n0)) return 0;
    for (int d = 0; d < din; d++) v[d] /= sqrt(n2);
    return 1;
}

/* Orthonormal q1, q2 with p, q in their span (any unit vectors where p, q are
   zero or parallel: the integrands then do not depend on that direction). */
static void plane_basis(int din, const double *p, const double *q, double *q1, double *q2) {
    double np = 0;
    for (int d = 0; d < din; d++) np += p[d] * p[d];
    np = sqrt(np);
    for (int d = 0; d < din; d++) q1[d] = np > 0 ? p[d] / np : (d == 0);
    if (!(np > 0)) {                       /* p = 0: q alone decides */
        memcpy(q2, q, (size_t)din * sizeof *q2);
        double t = 0;
        for (int d = 0; d < din; d++) t += q2[d] * q2[d];
        if (t > 0) {
            for (int d = 0; d < din; d++) q1[d] = q2[d] / sqrt(t);
        }
    } else {
        memcpy(q2, q, (size_t)din * sizeof *q2);
        if (orthonormalize(din, q1, q2)) return;
    }
    for (int e = 0; e < din; e++) {        /* any unit vector orthogonal to q1 */
        for (int d = 0; d < din; d++) q2[d] = d == e;
        if (orthonormalize(din, q1, q2)) return;
    }
}

int mlpf_gaussian_plane_samples(int din, const double *p, const double *q, double **input,
                                double **weights, size_t *m, mlpf_error *err) {
    *input = *weights = NULL;
    if (din <= 2) return mlpf_gauss_hermite_data(din, PLANE_ORDER, PLANE_PRUNE, input, weights, m, err);
    double *z, *wz;
    size_t nz;
    int st = mlpf_gauss_hermite_data(2, PLANE_ORDER, PLANE_PRUNE, &z, &wz, &nz, err);
    if (st) return st;
    double *q1 = mlpf_malloc(2 * (size_t)din * sizeof *q1, err);
    double *X = mlpf_malloc(nz * (size_t)din * sizeof *X, err);
    if (!q1 || !X) {
        free(q1), free(X), free(z), free(wz);
        return MLPF_ENOMEM;
    }
    double *q2 = q1 + din;
    plane_basis(din, p, q, q1, q2);
    for (size_t s = 0; s < nz; s++)        /* x = z1 q1 + z2 q2 ~ N(0, I) in the plane */
        for (int d = 0; d < din; d++) X[s * (size_t)din + (size_t)d] = z[2 * s] * q1[d] + z[2 * s + 1] * q2[d];
    free(q1);
    free(z);
    *input = X;
    *weights = wz;
    *m = nz;
    return MLPF_OK;
}

int mlpf_layer_io(const mlpf_net *net, const double *x, const double *input, size_t n, int layer,
                  double **layer_input, double **next_z, mlpf_error *err) {
    if (layer_input) *layer_input = NULL;
    if (next_z) *next_z = NULL;
    size_t width = (size_t)net->din;
    for (int l = 0; l < net->nlayers; l++)
        if ((size_t)net->layers[l].units > width) width = (size_t)net->layers[l].units;
    size_t cap = n * width + 1;
    double *in = mlpf_malloc(cap * sizeof *in, err), *hid = mlpf_malloc(cap * sizeof *hid, err);
    double *z = mlpf_malloc(cap * sizeof *z, err), *scratch = mlpf_malloc(cap * sizeof *z, err);
    if (!in || !hid || !z || !scratch) {
        free(in), free(hid), free(z), free(scratch);
        return MLPF_ENOMEM;
    }
    memcpy(in, input, n * (size_t)net->din * sizeof *in);
    for (int l = 0; l < layer; l++) {      /* in (n, inputs of layer l) -> its outputs */
        const mlpf_layer *L = &net->layers[l];
        mlpf_layer_forward(L, x + L->offset, in, n, scratch, hid, NULL, NULL);
        double *t = in; in = hid; hid = t;
    }
    if (next_z) {                          /* z = pre-activation of layer + 1 */
        const mlpf_layer *L = &net->layers[layer], *Ln = &net->layers[layer + 1];
        mlpf_layer_forward(L, x + L->offset, in, n, scratch, hid, NULL, NULL);
        mlpf_layer_forward(Ln, x + Ln->offset, hid, n, z, scratch, NULL, NULL);
    }
    free(hid);
    free(scratch);
    if (layer_input) *layer_input = in;
    else free(in);
    if (next_z) *next_z = z;
    else free(z);
    return MLPF_OK;
}

/* ---- one candidate: the pair (i, j), or the single unit i (j < 0) ---- */

typedef struct {
    const mlpf_layer *L;       /* the hidden layer                       */
    const double *W;           /* its weights (units, inputs + bias)     */
    const double *Wn;          /* next layer's weights (nout, units + b) */
    int nout, ncols_next;
} layer_view;

/* A candidate's vectors. For odd activations sigma(-u) = -sigma(u), so unit j
   with (w_j, a_j) computes the same as (-w_j, -a_j): j enters with sign sj = -1
   when that brings its input vector closer to unit i's (a channel modulo the
   sign symmetry). */
typedef struct {
    int i, j;
    double sj;
    double *wi, *wj;           /* (nin) augmented input vectors, bias last */
    double *ai, *aj;           /* (nout) outgoing weights                  */
} cand_vecs;

static void load_cand(const layer_view *lv, int i, int j, cand_vecs *cv) {
    int nin = lv->L->inputs + lv->L->bias;
    const double *ri = lv->W + (size_t)i * (size_t)nin, *rj = lv->W + (size_t)(j < 0 ? i : j) * (size_t)nin;
    double dot = 0;
    for (int d = 0; d < nin; d++) dot += ri[d] * rj[d];
    cv->i = i, cv->j = j;
    cv->sj = j >= 0 && dot < 0 && mlpf_act_is_odd_linear(&lv->L->acts[i]) ? -1.0 : 1.0;
    for (int d = 0; d < nin; d++) cv->wi[d] = ri[d], cv->wj[d] = cv->sj * rj[d];
    for (int o = 0; o < lv->nout; o++) {
        cv->ai[o] = lv->Wn[(size_t)o * (size_t)lv->ncols_next + (size_t)i];
        cv->aj[o] = j < 0 ? 0.0 : cv->sj * lv->Wn[(size_t)o * (size_t)lv->ncols_next + (size_t)j];
    }
}

typedef struct {
    double p2;      /* sum w |pair output|^2                      */
    double e2;      /* sum w |pair - GLU|^2                       */
    double own2;    /* sum w |one unit's own term|^2              */
    double gated2;  /* sum w |(v.xbar) sigma'(w.xbar)|^2          */
    double u2, wsum;/* sum w (w_i.xbar)^2 and sum w (single units) */
} cand_sums;

/* w.xbar for the sample xs (inputs), bias last */
static double preact(const mlpf_layer *L, const double *w, const double *xs) {
    double u = L->bias ? w[L->inputs] : 0;
    for (int d = 0; d < L->inputs; d++) u += w[d] * xs[d];
    return u;
}

/* Weighted sums over the samples X (m, inputs), weights ws (m, NULL = 1). */
static void cand_stats(const layer_view *lv, const cand_vecs *cv, const double *X,
                       const double *ws, size_t m, cand_sums *s) {
    memset(s, 0, sizeof *s);
    const mlpf_activation *act = &lv->L->acts[cv->i];
    int pair = cv->j >= 0;
    double slope0 = 0;
    if (!pair) mlpf_activation_eval(act, 0.0, NULL, &slope0, NULL);
    for (size_t k = 0; k < m; k++) {
        const double *xs = X + k * (size_t)lv->L->inputs;
        double wk = ws ? ws[k] : 1.0, ui = preact(lv->L, cv->wi, xs), fi, fj = 0, fu = 0, dfu = 0, du = 0;
        mlpf_activation_eval(act, ui, &fi, NULL, NULL);
        if (pair) {
            double uj = preact(lv->L, cv->wj, xs);
            mlpf_activation_eval(act, uj, &fj, NULL, NULL);
            mlpf_activation_eval(act, 0.5 * (ui + uj), &fu, &dfu, NULL);
            du = ui - uj;
        }
        for (int o = 0; o < lv->nout; o++) {
            double ai = cv->ai[o], aj = cv->aj[o], p, glu, own, gated;
            if (pair) {
                double so = 0.5 * (ai - aj);
                p = ai * fi + aj * fj;
                gated = so * du * dfu;
                glu = (ai + aj) * fu + gated;
                own = so * fu;
            } else {
                p = ai * fi;
                glu = gated = ai * slope0 * ui;
                own = ai * slope0;
            }
            s->p2 += wk * p * p;
            s->e2 += wk * (p - glu) * (p - glu);
            s->own2 += wk * own * own;
            s->gated2 += wk * gated * gated;
        }
        s->u2 += wk * ui * ui;
        s->wsum += wk;
    }
}

/* Sum w |z|^2 over the next layer's pre-activations: the scale a single unit's
   contribution is compared with. */
static double next_scale2(const double *Z, const double *ws, size_t m, int nout) {
    double t = 0;
    for (size_t k = 0; k < m; k++)
        for (int o = 0; o < nout; o++) t += (ws ? ws[k] : 1.0) * Z[k * (size_t)nout + (size_t)o] * Z[k * (size_t)nout + (size_t)o];
    return t;
}

typedef struct {
    int i, j;
    double sj, amplification, glu_error, gap;
} candidate;

/* The criteria of mlpf_channels on one candidate's sums; z2 < 0 skips the
   single unit's contribution test (no samples of the whole layer). */
static int cand_passes(const cand_sums *s, int single, double z2, const mlpf_channel_options *opt,
                       candidate *c) {
    if (!(s->p2 > 0)) return 0;            /* a dead pair computes nothing */
    c->glu_error = sqrt(s->e2 / s->p2);
    c->amplification = sqrt(s->own2 / s->p2);
    if (!(c->glu_error <= opt->glu_tol) || !(c->amplification >= opt->min_amplification)) return 0;
    if (single) return z2 < 0 || s->p2 >= opt->glu_tol * opt->glu_tol * z2;
    return s->gated2 >= opt->glu_tol * opt->glu_tol * s->p2;
}

/* pair: |w_i - w_j| / |w|; single: rms of w_i.xbar on the samples */
static double cand_gap(int nin, const cand_vecs *cv, const cand_sums *s) {
    if (cv->j < 0) return s->wsum > 0 ? sqrt(s->u2 / s->wsum) : 0.0;
    double d2 = 0, m2 = 0;
    for (int d = 0; d < nin; d++) {
        d2 += (cv->wi[d] - cv->wj[d]) * (cv->wi[d] - cv->wj[d]);
        m2 += 0.25 * (cv->wi[d] + cv->wj[d]) * (cv->wi[d] + cv->wj[d]);
    }
    return m2 > 0 ? sqrt(d2 / m2) : INFINITY;
}

/* The GLU parameters and the rest of the entry for an accepted candidate
   (cv loaded for it). out_weights are the stored (unflipped) columns. */
static int fill_channel(const layer_view *lv, int layer, const candidate *cd, const cand_vecs *cv,
                        mlpf_channel *ch, mlpf_error *err) {
    int nin = lv->L->inputs + lv->L->bias, nout = lv->nout, single = cd->j < 0;
    memset(ch, 0, sizeof *ch);
    ch->type = single ? MLPF_CHANNEL_SINGLE : MLPF_CHANNEL_PAIR;
    ch->layer = layer;
    ch->units[0] = cd->i;
    ch->units[1] = cd->j;
    ch->nin = nin;
    ch->nout = nout;
    ch->amplification = cd->amplification;
    ch->glu_error = cd->glu_error;
    ch->gap = cd->gap;
    ch->growth_exponent = ch->loss_rate = NAN;
    ch->out_weights = mlpf_malloc((size_t)(2 * nout) * sizeof(double), err);
    ch->c = mlpf_malloc((size_t)nout * sizeof(double), err);
    ch->w = mlpf_malloc((size_t)nin * sizeof(double), err);
    ch->v = mlpf_malloc((size_t)(nout * nin) * sizeof(double), err);
    if (!ch->out_weights || !ch->c || !ch->w || !ch->v) return MLPF_ENOMEM;
    double dot = 0, ni = 0, nj = 0;
    for (int d = 0; d < nin; d++) {
        ch->w[d] = single ? 0.0 : 0.5 * (cv->wi[d] + cv->wj[d]);
        dot += cv->wi[d] * cv->wj[d], ni += cv->wi[d] * cv->wi[d], nj += cv->wj[d] * cv->wj[d];
    }
    /* cosine of the stored vectors (negative for a sign-flipped odd pair) */
    ch->cosine = single ? NAN : (ni > 0 && nj > 0 ? cv->sj * dot / sqrt(ni * nj) : 0.0);
    for (int o = 0; o < nout; o++) {
        ch->out_weights[o] = cv->ai[o];
        if (!single) ch->out_weights[nout + o] = cv->sj * cv->aj[o];
        ch->c[o] = single ? 0.0 : cv->ai[o] + cv->aj[o];
        for (int d = 0; d < nin; d++)
            ch->v[o * nin + d] = single ? cv->ai[o] * cv->wi[d]
                                        : 0.5 * (cv->ai[o] - cv->aj[o]) * (cv->wi[d] - cv->wj[d]);
    }
    return MLPF_OK;
}

/* output weights of i and (sign-adjusted) j point in opposite directions */
static int opposite(const cand_vecs *cv, int nout) {
    double dot = 0;
    for (int o = 0; o < nout; o++) dot += cv->ai[o] * cv->aj[o];
    return dot < 0;
}

/* ---- the layer scan ---- */

/* Samples for candidate (i, j) under standard Gaussian input: the plane of the
   two units' input vectors (their bias is a constant, not a direction). */
static int gaussian_samples(const layer_view *lv, const cand_vecs *cv, double **X, double **ws,
                            size_t *m, mlpf_error *err) {
    return mlpf_gaussian_plane_samples(lv->L->inputs, cv->wi, cv->j < 0 ? cv->wi : cv->wj, X, ws,
                                       m, err);
}

typedef struct {
    const double *X, *ws;      /* layer inputs (m, inputs), weights; NULL X: Gaussian */
    size_t m;
    double z2;                 /* next_scale2 on the samples, or -1 when unknown */
} layer_data;

/* Test the candidate loaded in cv; appends it to cands when it passes. */
static int try_candidate(const layer_view *lv, const layer_data *ld, const cand_vecs *cv,
                         const mlpf_channel_options *opt, candidate *cands, size_t *nc,
                         mlpf_error *err) {
    double *X = NULL, *ws = NULL;
    size_t m = ld->m;
    if (!ld->X) {
        int st = gaussian_samples(lv, cv, &X, &ws, &m, err);
        if (st) return st;
    }
    cand_sums s;
    cand_stats(lv, cv, X ? X : ld->X, X ? ws : ld->ws, m, &s);
    /* a per-pair plane grid has no samples of the whole layer: scale unknown */
    double z2 = X ? -1.0 : ld->z2;
    candidate c = {cv->i, cv->j, cv->sj, 0, 0, 0};
    if (cand_passes(&s, cv->j < 0, z2, opt, &c)) {
        c.gap = cand_gap(lv->L->inputs + lv->L->bias, cv, &s);
        cands[(*nc)++] = c;
    }
    free(X);
    free(ws);
    return MLPF_OK;
}

static int by_amplification(const void *a, const void *b) {
    double x = ((const candidate *)a)->amplification, y = ((const candidate *)b)->amplification;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Every candidate of the layer that passes the criteria. Identity and poly
   units are skipped: a pair of linear units is exactly its own "GLU". */
static int layer_candidates(const layer_view *lv, const layer_data *ld, const mlpf_channel_options *opt,
                            cand_vecs *cv, candidate *cands, size_t *nc, mlpf_error *err) {
    int k = lv->L->units, st = MLPF_OK;
    for (int i = 0; i < k && !st; i++) {
        mlpf_act_kind kind = lv->L->acts[i].kind;
        if (kind == MLPF_ACT_IDENTITY || kind == MLPF_ACT_POLY) continue;
        if (mlpf_act_is_odd_linear(&lv->L->acts[i])) {
            load_cand(lv, i, -1, cv);
            st = try_candidate(lv, ld, cv, opt, cands, nc, err);
        }
        for (int j = i + 1; j < k && !st; j++) {
            if (lv->L->acts[j].kind != kind) continue;
            load_cand(lv, i, j, cv);
            if (opposite(cv, lv->nout)) st = try_candidate(lv, ld, cv, opt, cands, nc, err);
        }
    }
    return st;
}

/* Scan one hidden layer; accepted channels are appended to *out (grown). Each
   unit joins at most one channel: the most amplified candidates win. */
static int scan_layer(const layer_view *lv, int layer, const layer_data *ld,
                      const mlpf_channel_options *opt, mlpf_channel **out, size_t *nout,
                      mlpf_error *err) {
    int k = lv->L->units, nin = lv->L->inputs + lv->L->bias;
    size_t cap = (size_t)k * (size_t)(k + 1) / 2 + 1, nc = 0;
    candidate *cands = mlpf_malloc(cap * sizeof *cands, err);
    unsigned char *used = mlpf_calloc((size_t)k + 1, 1, err);
    double *buf = mlpf_malloc((size_t)(2 * nin + 2 * lv->nout + 1) * sizeof *buf, err);
    if (!cands || !used || !buf) {
        free(cands), free(used), free(buf);
        return MLPF_ENOMEM;
    }
    cand_vecs cv = {0, 0, 1, buf, buf + nin, buf + 2 * nin, buf + 2 * nin + lv->nout};
    int st = layer_candidates(lv, ld, opt, &cv, cands, &nc, err);
    qsort(cands, nc, sizeof *cands, by_amplification);
    for (size_t c = 0; c < nc && !st; c++) {
        if (used[cands[c].i] || (cands[c].j >= 0 && used[cands[c].j])) continue;
        mlpf_channel *grown = realloc(*out, (*nout + 1) * sizeof **out);
        if (!grown) {
            st = mlpf_fail(err, MLPF_ENOMEM, "channels: out of memory");
            break;
        }
        *out = grown;
        load_cand(lv, cands[c].i, cands[c].j, &cv);
        st = fill_channel(lv, layer, &cands[c], &cv, &grown[*nout], err);
        (*nout)++;                          /* counted even on failure: freed by the caller */
        used[cands[c].i] = 1;
        if (cands[c].j >= 0) used[cands[c].j] = 1;
    }
    free(cands);
    free(used);
    free(buf);
    return st;
}

/* The data of hidden layer l: its inputs and the scale of the next layer's
   pre-activations on the samples. For Gaussian input (layer 0 only) the full
   Gauss-Hermite grid when din <= 2, else per-candidate plane grids made in
   try_candidate (then the single-unit contribution test is skipped). */
static int layer_data_make(const mlpf_net *net, const double *x, const double *input,
                           const double *weights, size_t n, int l, layer_data *ld, double **own,
                           mlpf_error *err) {
    memset(ld, 0, sizeof *ld);
    own[0] = own[1] = own[2] = NULL;
    ld->z2 = -1;
    if (!input) {
        if (net->din > 2) return MLPF_OK;
        double *X, *ws;
        size_t m;
        int st = mlpf_gauss_hermite_data(net->din, PLANE_ORDER, PLANE_PRUNE, &X, &ws, &m, err);
        if (st) return st;
        own[0] = X, own[1] = ws;
        input = X, weights = ws, n = m;
    }
    double *Xl, *Z;
    int st = mlpf_layer_io(net, x, input, n, l, &Xl, &Z, err);
    if (st) return st;
    own[2] = Xl;
    ld->X = Xl;
    ld->ws = weights;
    ld->m = n;
    ld->z2 = next_scale2(Z, weights, n, net->layers[l + 1].units);
    free(Z);
    return MLPF_OK;
}

int mlpf_channels(const mlpf_net *net, const double *x, const double *input,
                  const double *weights, size_t n, const mlpf_channel_options *opt,
                  mlpf_channel **out, size_t *nout, mlpf_error *err) {
    *out = NULL;
    *nout = 0;
    if (!net || !x) return mlpf_fail(err, MLPF_EINVAL, "channels: net and x are required");
    if (input && n == 0) return mlpf_fail(err, MLPF_EINVAL, "channels: input has no samples");
    size_t bad = mlpf_first_nonfinite(x, net->nparams);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "channels: parameter %zu is not finite", bad - 1);
    mlpf_channel_options def;
    if (!opt) mlpf_channel_options_default(&def), opt = &def;
    int last = input ? net->nlayers - 1 : (net->nlayers > 1 ? 1 : 0);
    int st = MLPF_OK;
    for (int l = 0; l < last && !st; l++) {
        layer_view lv = {&net->layers[l], x + net->layers[l].offset, x + net->layers[l + 1].offset,
                         net->layers[l + 1].units, net->layers[l + 1].inputs + net->layers[l + 1].bias};
        layer_data ld;
        double *own[3];
        st = layer_data_make(net, x, input, weights, n, l, &ld, own, err);
        if (!st) st = scan_layer(&lv, l, &ld, opt, out, nout, err);
        free(own[0]), free(own[1]), free(own[2]);
    }
    if (st) {
        mlpf_channels_free(*out, *nout);
        *out = NULL;
        *nout = 0;
    }
    return st;
}

/* ---- dynamics along a trajectory ---- */

/* Least-squares slope of ys against xs over the entries with ok[k]. */
static double ls_slope(const double *xs, const double *ys, const unsigned char *ok, size_t m) {
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t k = 0; k < m; k++)
        if (ok[k]) n += 1, sx += xs[k], sy += ys[k], sxx += xs[k] * xs[k], sxy += xs[k] * ys[k];
    double den = n * sxx - sx * sx;
    return n >= 3 && den > 0 ? (n * sxy - sx * sy) / den : NAN;
}

int mlpf_channel_dynamics(const mlpf_net *net, mlpf_channel *ch, const double *t,
                          const double *xs, const double *losses, size_t m, double decades,
                          mlpf_error *err) {
    if (!net || !ch || (m && (!t || !xs || !losses)))
        return mlpf_fail(err, MLPF_EINVAL, "channel_dynamics: net, channel and trajectory are required");
    if (ch->layer < 0 || ch->layer + 1 >= net->nlayers)
        return mlpf_fail(err, MLPF_EINVAL, "channel_dynamics: layer %d is not a hidden layer", ch->layer);
    ch->growth_exponent = ch->loss_rate = NAN;
    if (m == 0) return MLPF_OK;
    if (!(decades > 0)) decades = 2;
    const mlpf_layer *Ln = &net->layers[ch->layer + 1];
    int cols = Ln->inputs + Ln->bias;
    double *lt = mlpf_malloc(3 * m * sizeof *lt, err);
    unsigned char *ok = mlpf_calloc(2 * m, 1, err);
    if (!lt || !ok) {
        free(lt), free(ok);
        return MLPF_ENOMEM;
    }
    double *la = lt + m, *ll = lt + 2 * m, tmin = t[m - 1] / pow(10.0, decades);
    for (size_t k = 0; k < m; k++) {       /* log t, log |a|, -log L on the window */
        const double *W = xs + k * net->nparams + Ln->offset;
        double a2 = 0;
        int nunits = ch->units[1] >= 0 ? 2 : 1;
        for (int u = 0; u < nunits; u++)
            for (int o = 0; o < Ln->units; o++) {
                double a = W[(size_t)o * (size_t)cols + (size_t)ch->units[u]];
                a2 += a * a;
            }
        int in_window = t[k] > 0 && t[k] >= tmin && isfinite(t[k]);
        lt[k] = in_window ? log(t[k]) : 0;
        la[k] = a2 > 0 ? 0.5 * log(a2) : 0;
        ll[k] = losses[k] > 0 ? -log(losses[k]) : 0;
        ok[k] = in_window && a2 > 0;
        ok[m + k] = in_window && losses[k] > 0 && isfinite(losses[k]);
    }
    ch->growth_exponent = ls_slope(lt, la, ok, m);
    ch->loss_rate = ls_slope(lt, ll, ok + m, m);
    free(lt);
    free(ok);
    return MLPF_OK;
}

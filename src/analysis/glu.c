/* glu.c - the objective of a one-hidden-layer network in which some units are
   gated linear units (GLU), the limit of a channel to infinity:
       y_o = b_o + sum_j a_oj sigma(w_j.xbar) + sum_g [c_go sigma(w_g.xbar) + (v_go.xbar) sigma'(w_g.xbar)]
   with xbar = [x, 1] when the hidden layer has biases. Finite data, MSE
   (1/N) sum_n omega_n sum_o (y_no - t_no)^2, exact gradient and Hessian.

   Per sample, with r_o = y_o - t_o and rho_o = 2 omega r_o / N:
     gradient  sum_o rho_o J_o                  (J_o = dy_o/dparams)
     Hessian   sum_o (2 omega / N) J_o J_o^T    (Gauss-Newton, one dsyrk per chunk)
             + sum_o rho_o d2y_o                (block-sparse, per unit)
   Derivatives of a GLU unit's output o (u = w.xbar, s_o = v_o.xbar):
     dy/dc_o = sigma, dy/dv_o = sigma' xbar, dy/dw = (c_o sigma' + s_o sigma'') xbar;
     d2y/dw2 = (c_o sigma'' + s_o sigma''') xbar xbar^T, d2y/dc_o dw = sigma' xbar,
     d2y/dv_o dw = sigma'' xbar xbar^T.
   Ordinary units as usual: dy/da_oj = sigma(u_j), dy/dw_j = a_oj sigma'(u_j) xbar,
   d2y/dw_j2 = a_oj sigma'' xbar xbar^T, d2y/da_oj dw_j = sigma'(u_j) xbar. */
#include "analysis/analysis.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define CHUNK 256   /* samples per Gauss-Newton update: bounded memory, dsyrk-sized */

typedef struct {
    mlpf_glu_shape sh;
    size_t n, P;
    double *X, *T, *omega;     /* (n, din), (n, nout), (n) */
} glu_data;

/* parameter offsets of the layout documented at mlpf_objective_glu */
static size_t off_w2(const mlpf_glu_shape *s) { return (size_t)s->k * (size_t)s->nin; }
static size_t off_glu(const mlpf_glu_shape *s, int g) {
    size_t base = off_w2(s) + (size_t)s->nout * (size_t)(s->k + s->obias);
    return base + (size_t)g * (size_t)(s->nin + s->nout + s->nout * s->nin);
}

size_t mlpf_glu_nparams(const mlpf_glu_shape *s) {
    mlpf_glu_shape t = *s;
    t.nin = t.din + !!t.hbias;      /* whether or not the library filled it in yet */
    return off_glu(&t, t.nglu);
}

static void glu_free(void *ctx) {
    glu_data *d = ctx;
    if (!d) return;
    free(d->X), free(d->T), free(d->omega);
    free(d);
}

/* one unit's activation values at u: f, f', f'', f''' */
typedef struct { double f, d1, d2, d3; } act4;

static act4 act_at(const mlpf_activation *a, double u, int third) {
    act4 r;
    mlpf_activation_eval(a, u, &r.f, &r.d1, &r.d2);
    r.d3 = third ? mlpf_activation_d3(a, u) : 0;
    return r;
}

static double dotx(const double *w, const double *xb, int nin) {
    double s = 0;
    for (int d = 0; d < nin; d++) s += w[d] * xb[d];
    return s;
}

/* Forward one sample: outputs y (nout) and the per-unit activation values
   (ord: k entries, glu: nglu entries; s: nglu * nout gate inputs v_o.xbar). */
static void sample_forward(const glu_data *D, const double *x, const double *xb, act4 *ord,
                           act4 *glu, double *s, double *y, int want_hess) {
    const mlpf_glu_shape *sh = &D->sh;
    const double *W2 = x + off_w2(sh);
    int cols = sh->k + sh->obias;
    for (int o = 0; o < sh->nout; o++) y[o] = sh->obias ? W2[o * cols + sh->k] : 0;
    for (int j = 0; j < sh->k; j++) {
        ord[j] = act_at(&sh->act, dotx(x + (size_t)j * (size_t)sh->nin, xb, sh->nin), 0);
        for (int o = 0; o < sh->nout; o++) y[o] += W2[o * cols + j] * ord[j].f;
    }
    for (int g = 0; g < sh->nglu; g++) {
        const double *P = x + off_glu(sh, g), *c = P + sh->nin, *v = c + sh->nout;
        glu[g] = act_at(&sh->act, dotx(P, xb, sh->nin), want_hess);
        for (int o = 0; o < sh->nout; o++) {
            s[g * sh->nout + o] = dotx(v + (size_t)o * (size_t)sh->nin, xb, sh->nin);
            y[o] += c[o] * glu[g].f + s[g * sh->nout + o] * glu[g].d1;
        }
    }
}

/* J row of output o (P) for one sample */
static void sample_jacobian(const glu_data *D, const double *x, const double *xb, const act4 *ord,
                            const act4 *glu, const double *s, int o, double *J) {
    const mlpf_glu_shape *sh = &D->sh;
    const double *W2 = x + off_w2(sh);
    int cols = sh->k + sh->obias, nin = sh->nin;
    memset(J, 0, D->P * sizeof *J);
    for (int j = 0; j < sh->k; j++) {
        for (int d = 0; d < nin; d++) J[(size_t)j * (size_t)nin + (size_t)d] = W2[o * cols + j] * ord[j].d1 * xb[d];
        J[off_w2(sh) + (size_t)(o * cols + j)] = ord[j].f;
    }
    if (sh->obias) J[off_w2(sh) + (size_t)(o * cols + sh->k)] = 1;
    for (int g = 0; g < sh->nglu; g++) {
        size_t b = off_glu(sh, g);
        const double *c = x + b + nin;
        double gw = c[o] * glu[g].d1 + s[g * sh->nout + o] * glu[g].d2;
        for (int d = 0; d < nin; d++) J[b + (size_t)d] = gw * xb[d];
        J[b + (size_t)nin + (size_t)o] = glu[g].f;
        for (int d = 0; d < nin; d++) J[b + (size_t)(nin + sh->nout + o * nin + d)] = glu[g].d1 * xb[d];
    }
}

/* H += rho_o d2y_o for one sample and output o (upper and lower triangles) */
static void sample_curvature(const glu_data *D, const double *x, const double *xb, const act4 *ord,
                             const act4 *glu, const double *s, int o, double rho, double *H) {
    const mlpf_glu_shape *sh = &D->sh;
    size_t P = D->P;
    const double *W2 = x + off_w2(sh);
    int cols = sh->k + sh->obias, nin = sh->nin;
    for (int j = 0; j < sh->k; j++) {
        size_t w0 = (size_t)j * (size_t)nin, a = off_w2(sh) + (size_t)(o * cols + j);
        double ww = rho * W2[o * cols + j] * ord[j].d2, wa = rho * ord[j].d1;
        for (int d = 0; d < nin; d++) {
            for (int e = 0; e < nin; e++) H[(w0 + d) * P + w0 + e] += ww * xb[d] * xb[e];
            H[(w0 + d) * P + a] += wa * xb[d];
            H[a * P + w0 + d] += wa * xb[d];
        }
    }
    for (int g = 0; g < sh->nglu; g++) {
        size_t w0 = off_glu(sh, g), c = w0 + (size_t)nin + (size_t)o, v0 = w0 + (size_t)(nin + sh->nout + o * nin);
        const double *cv = x + w0 + nin;
        double ww = rho * (cv[o] * glu[g].d2 + s[g * sh->nout + o] * glu[g].d3);
        double wc = rho * glu[g].d1, wv = rho * glu[g].d2;
        for (int d = 0; d < nin; d++) {
            H[(w0 + d) * P + c] += wc * xb[d];
            H[c * P + w0 + d] += wc * xb[d];
            for (int e = 0; e < nin; e++) {
                H[(w0 + d) * P + w0 + e] += ww * xb[d] * xb[e];
                H[(w0 + d) * P + v0 + e] += wv * xb[d] * xb[e];
                H[(v0 + e) * P + w0 + d] += wv * xb[d] * xb[e];
            }
        }
    }
}

typedef struct {
    double *xb, *y, *s, *J;    /* (nin), (nout), (nglu * nout), (CHUNK * nout, P) */
    act4 *ord, *glu;
    double *mem;
} glu_ws;

static int ws_make(const glu_data *D, int want_hess, glu_ws *w, mlpf_error *err) {
    const mlpf_glu_shape *sh = &D->sh;
    size_t rows = want_hess ? (size_t)CHUNK * (size_t)sh->nout : 1;
    size_t nd = (size_t)sh->nin + (size_t)sh->nout + (size_t)(sh->nglu * sh->nout) + rows * D->P + 1;
    w->mem = mlpf_malloc(nd * sizeof(double), err);
    w->ord = mlpf_malloc((size_t)(sh->k + sh->nglu + 1) * sizeof(act4), err);
    if (!w->mem || !w->ord) {
        free(w->mem), free(w->ord);
        return MLPF_ENOMEM;
    }
    w->glu = w->ord + sh->k;
    w->xb = w->mem;
    w->y = w->xb + sh->nin;
    w->s = w->y + sh->nout;
    w->J = w->s + sh->nglu * sh->nout;
    return MLPF_OK;
}

static void ws_drop(glu_ws *w) {
    free(w->mem);
    free(w->ord);
}

/* One sample: loss term, gradient and the curvature part of H; its scaled
   Jacobian rows go to Jrows (the caller runs the Gauss-Newton update). */
static double sample_eval(const glu_data *D, const double *x, size_t n, glu_ws *w, double *grad,
                          double *H, double *Jrows) {
    const mlpf_glu_shape *sh = &D->sh;
    const double *xs = D->X + n * (size_t)sh->din;
    for (int d = 0; d < sh->din; d++) w->xb[d] = xs[d];
    if (sh->hbias) w->xb[sh->din] = 1;
    sample_forward(D, x, w->xb, w->ord, w->glu, w->s, w->y, H != NULL);
    double om = D->omega ? D->omega[n] : 1.0, scale = 2.0 * om / (double)D->n, l = 0;
    for (int o = 0; o < sh->nout; o++) {
        double r = w->y[o] - D->T[n * (size_t)sh->nout + (size_t)o];
        l += om * r * r;
        if (!grad && !H) continue;
        double *J = H ? Jrows + (size_t)o * D->P : w->J;
        sample_jacobian(D, x, w->xb, w->ord, w->glu, w->s, o, J);
        if (grad) cblas_daxpy((int)D->P, scale * r, J, 1, grad, 1);
        if (H) {
            sample_curvature(D, x, w->xb, w->ord, w->glu, w->s, o, scale * r, H);
            cblas_dscal((int)D->P, sqrt(scale), J, 1);
        }
    }
    return l;
}

static int glu_eval(void *ctx, const double *x, const size_t *subset, size_t nsubset, double *loss,
                    double *grad, double *hess, mlpf_error *err) {
    const glu_data *D = ctx;
    size_t P = D->P, cnt = subset ? nsubset : D->n;
    glu_ws w;
    int st = ws_make(D, hess != NULL, &w, err);
    if (st) return st;
    if (grad) memset(grad, 0, P * sizeof *grad);
    if (hess) memset(hess, 0, P * P * sizeof *hess);
    double l = 0;
    for (size_t c0 = 0; c0 < cnt; c0 += CHUNK) {
        size_t B = cnt - c0 < CHUNK ? cnt - c0 : CHUNK;
        for (size_t b = 0; b < B; b++) {
            size_t n = subset ? subset[c0 + b] : c0 + b;
            l += sample_eval(D, x, n, &w, grad, hess, w.J + b * (size_t)D->sh.nout * P);
        }
        if (hess)   /* Gauss-Newton: H += J^T J over the chunk's rows (upper triangle) */
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)P, (int)(B * (size_t)D->sh.nout),
                        1.0, w.J, (int)P, 1.0, hess, (int)P);
    }
    /* the curvature terms went to both triangles, Gauss-Newton (dsyrk) only to
       the upper one: the upper triangle is complete, mirror it */
    if (hess)
        for (size_t i = 0; i < P; i++)
            for (size_t j = i + 1; j < P; j++) hess[j * P + i] = hess[i * P + j];
    ws_drop(&w);
    if (loss) *loss = l / (double)D->n;
    return MLPF_OK;
}

static int shape_check(mlpf_glu_shape *s, mlpf_error *err) {
    if (s->din < 1 || s->k < 0 || s->nglu < 0 || s->nout < 1 || s->k + s->nglu < 1)
        return mlpf_fail(err, MLPF_EINVAL, "glu objective: need din >= 1, k >= 0, nglu >= 0, "
                         "k + nglu >= 1 and nout >= 1 (got %d, %d, %d, %d)", s->din, s->k, s->nglu, s->nout);
    if (s->act.kind == MLPF_ACT_SOFTMAX || (int)s->act.kind < 0 || s->act.kind >= MLPF_ACT_COUNT)
        return mlpf_fail(err, MLPF_EINVAL, "glu objective: the hidden activation must be scalar");
    s->hbias = !!s->hbias, s->obias = !!s->obias;
    s->nin = s->din + s->hbias;
    return MLPF_OK;
}

static double *copy_array(const double *a, size_t n, int *fail, mlpf_error *err) {
    if (!a) return NULL;
    double *c = mlpf_malloc(n * sizeof *c, err);
    if (!c) *fail = 1;
    else memcpy(c, a, n * sizeof *c);
    return c;
}

mlpf_objective *mlpf_objective_glu(const mlpf_glu_shape *shape, size_t n, const double *input,
                                   const double *target, const double *weights, mlpf_error *err) {
    mlpf_glu_shape sh = *shape;
    if (shape_check(&sh, err)) return NULL;
    if (n == 0 || !input || !target) {
        mlpf_fail(err, MLPF_EINVAL, "glu objective: need samples (input and target)");
        return NULL;
    }
    size_t bad = mlpf_first_nonfinite(input, n * (size_t)sh.din);
    if (!bad) bad = mlpf_first_nonfinite(target, n * (size_t)sh.nout);
    if (bad) {
        mlpf_fail(err, MLPF_ENONFINITE, "glu objective: non-finite input or target (value %zu)", bad - 1);
        return NULL;
    }
    glu_data *D = mlpf_calloc(1, sizeof *D, err);
    if (!D) return NULL;
    int fail = 0;
    D->sh = sh;
    D->n = n;
    D->P = mlpf_glu_nparams(&sh);
    D->X = copy_array(input, n * (size_t)sh.din, &fail, err);
    D->T = copy_array(target, n * (size_t)sh.nout, &fail, err);
    D->omega = copy_array(weights, n, &fail, err);
    if (fail) {
        glu_free(D);
        return NULL;
    }
    mlpf_objective_ops ops = {"glu", D->P, n, glu_eval, glu_free};
    mlpf_objective *obj = mlpf_objective_custom(&ops, D, err);
    if (!obj) glu_free(D);
    return obj;
}

/* ---- the channel's limit: its pair (or single unit) replaced by its GLU ---- */

static int limit_check(const mlpf_net *net, const mlpf_channel *ch, mlpf_error *err) {
    if (!net || !ch) return mlpf_fail(err, MLPF_EINVAL, "channel_limit: net and channel are required");
    if (net->nlayers != 2 || net->layers[1].acts[0].kind != MLPF_ACT_IDENTITY || !net->layers[0].shared_act)
        return mlpf_fail(err, MLPF_EUNSUPPORTED, "channel_limit: needs one hidden layer with one "
                         "activation and a linear (identity) output layer");
    const mlpf_layer *L = &net->layers[0];
    int single = ch->type == MLPF_CHANNEL_SINGLE;
    if (ch->layer != 0 || ch->units[0] < 0 || ch->units[0] >= L->units ||
        (!single && (ch->units[1] < 0 || ch->units[1] >= L->units || ch->units[1] == ch->units[0])) ||
        ch->nin != L->inputs + L->bias || ch->nout != net->layers[1].units)
        return mlpf_fail(err, MLPF_EINVAL, "channel_limit: the channel (layer %d, units %d, %d) does "
                         "not belong to this network", ch->layer, ch->units[0], ch->units[1]);
    return MLPF_OK;
}

int mlpf_channel_limit(const mlpf_net *net, const double *x, const mlpf_channel *ch,
                       mlpf_glu_shape *shape, double **x2, mlpf_error *err) {
    *x2 = NULL;
    int st = limit_check(net, ch, err);
    if (st) return st;
    const mlpf_layer *L = &net->layers[0], *Lo = &net->layers[1];
    int single = ch->type == MLPF_CHANNEL_SINGLE, drop = single ? 1 : 2;
    mlpf_glu_shape sh = {net->din, L->bias, L->units - drop, 1, Lo->units, Lo->bias, 0, L->acts[0]};
    if ((st = shape_check(&sh, err))) return st;
    double *y = mlpf_malloc(mlpf_glu_nparams(&sh) * sizeof *y, err);
    if (!y) return MLPF_ENOMEM;
    const double *W1 = x + L->offset, *W2 = x + Lo->offset;
    int cols = L->units + Lo->bias, ncols = sh.k + sh.obias, j2 = 0;
    for (int j = 0; j < L->units; j++) {     /* the remaining units keep their order */
        if (j == ch->units[0] || (!single && j == ch->units[1])) continue;
        memcpy(y + (size_t)j2 * (size_t)sh.nin, W1 + (size_t)j * (size_t)sh.nin, (size_t)sh.nin * sizeof *y);
        for (int o = 0; o < sh.nout; o++) y[off_w2(&sh) + (size_t)(o * ncols + j2)] = W2[o * cols + j];
        j2++;
    }
    if (sh.obias)
        for (int o = 0; o < sh.nout; o++) y[off_w2(&sh) + (size_t)(o * ncols + sh.k)] = W2[o * cols + L->units];
    double *g = y + off_glu(&sh, 0);
    memcpy(g, ch->w, (size_t)sh.nin * sizeof *g);
    memcpy(g + sh.nin, ch->c, (size_t)sh.nout * sizeof *g);
    memcpy(g + sh.nin + sh.nout, ch->v, (size_t)(sh.nout * sh.nin) * sizeof *g);
    *shape = sh;
    *x2 = y;
    return MLPF_OK;
}

int mlpf_glu_predict(const mlpf_glu_shape *shape, const double *x, const double *input, size_t n,
                     double *output, mlpf_error *err) {
    glu_data D = {*shape, 0, 0, NULL, NULL, NULL};
    int st = shape_check(&D.sh, err);
    if (st) return st;
    D.P = mlpf_glu_nparams(&D.sh);
    glu_ws w;
    if ((st = ws_make(&D, 0, &w, err))) return st;
    for (size_t k = 0; k < n; k++) {
        for (int d = 0; d < D.sh.din; d++) w.xb[d] = input[k * (size_t)D.sh.din + (size_t)d];
        if (D.sh.hbias) w.xb[D.sh.din] = 1;
        sample_forward(&D, x, w.xb, w.ord, w.glu, w.s, output + k * (size_t)D.sh.nout, 0);
    }
    ws_drop(&w);
    return MLPF_OK;
}

/* classify.c - what a point of the landscape is: minimum, saddle of index k,
   channel to infinity, or not a critical point at all.

   Thresholds (the derivation behind the defaults; options override them):

   Eigenvalues. The Hessian H is computed in floating point and then
   diagonalised. LAPACK's symmetric eigensolver is backward stable: the computed
   eigenvalues are exact for H + E with |E|_2 <= c(P) eps |H|_2, c(P) a modest
   function of P; the entries of H themselves are sums whose rounding is of the
   same order relative to |H|_2. Taking c(P) = P covers both:
       h_round = P eps |H|_2 .
   The point is also not exactly critical: a gradient g != 0 means the critical
   point is at about x - H^+ g (Newton step over the eigen-directions whose
   eigenvalue is above h_round), and there the Hessian is H(x - H^+ g). Its
   eigenvalues differ from ours by at most |dH|_2 <= |dH|_F (Weyl), dH =
   H(x - H^+ g) - H(x), which we evaluate exactly (one more Hessian). So
       zero_tol = h_round + |dH|_F ,
   and an eigenvalue with |lambda| <= zero_tol cannot be told from 0. Flat
   directions of the symmetries (split neurons, zero-output units) have exact
   zero eigenvalues at the critical point and land inside this band. The
   correction is skipped (only h_round is used) when the Newton step is longer
   than the point itself (|H^+ g| > max(|x|, 1)): the quadratic model does not
   reach that far, and such a point is not near a critical point anyway.

   Gradient. At an exact critical point x* the gradient evaluated at the
   floating-point x is H (x - x*), with |x - x*| >= the rounding of x, eps |x|,
   plus the rounding of the gradient's own sums. The first part is bounded by
   P eps |H|_2 max(|x|_2, 1) (the max keeps a floor when x is near 0). The
   second is measured, not guessed: the gradient at x + d, d_i = +-eps x_i
   (alternating signs), differs from g(x) + H d only by the two evaluations'
   rounding errors, so
       noise = |g(x + d) - g(x) - H d|_inf
   is the objective's own error at this point (objectives whose terms cancel,
   like the infinite-data loss, show hundreds of ulps here). Then
       gnorm_tol = P eps |H|_2 max(|x|_2, 1) + noise,
   and a point whose gradient inf-norm exceeds gnorm_tol is "not_critical". */
#include "analysis/analysis.h"

#include <float.h>
#include <math.h>
#include <string.h>

void mlpf_classify_options_default(mlpf_classify_options *opt) {
    opt->zero_tol = NAN;
    opt->gnorm_tol = NAN;
    opt->detect_channels = 1;
    mlpf_channel_options_default(&opt->channel);
}

void mlpf_classification_free(mlpf_classification *c) {
    if (!c) return;
    free(c->eigenvalues);
    mlpf_channels_free(c->channels, c->nchannels);
    c->eigenvalues = NULL;
    c->channels = NULL;
    c->nchannels = 0;
}

const char *mlpf_point_kind_name(mlpf_point_kind kind) {
    switch (kind) {
    case MLPF_POINT_MINIMUM: return "minimum";
    case MLPF_POINT_SADDLE: return "saddle";
    case MLPF_POINT_CHANNEL: return "channel";
    case MLPF_POINT_NOT_CRITICAL: return "not_critical";
    }
    return "unknown";
}

static double norm2(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i] * v[i];
    return sqrt(s);
}

/* Newton step d = H^+ g (p) over eigenvalues |lambda| > h_round; V columns are
   the eigenvectors (row-major p x p). */
static void newton_step(const double *lam, const double *V, const double *g, size_t p,
                        double h_round, double *d) {
    memset(d, 0, p * sizeof *d);
    for (size_t k = 0; k < p; k++) {
        if (!(fabs(lam[k]) > h_round)) continue;
        double c = 0;
        for (size_t i = 0; i < p; i++) c += V[i * p + k] * g[i];
        c /= lam[k];
        for (size_t i = 0; i < p; i++) d[i] += c * V[i * p + k];
    }
}

/* |H(x - d) - H(x)|_F, or 0 when the step leaves the model's reach (see top). */
static int hessian_change(const mlpf_objective *obj, const double *x, const double *H,
                          const double *d, size_t p, double *change, mlpf_error *err) {
    *change = 0;
    double nd = norm2(d, p), nx = norm2(x, p);
    if (!(nd > 0) || nd > fmax(nx, 1.0)) return MLPF_OK;
    double *x2 = mlpf_malloc(p * sizeof *x2, err), *H2 = mlpf_malloc(p * p * sizeof *H2, err);
    int st = (!x2 || !H2) ? MLPF_ENOMEM : MLPF_OK;
    if (!st) {
        for (size_t i = 0; i < p; i++) x2[i] = x[i] - d[i];
        st = mlpf_objective_eval(obj, x2, NULL, NULL, H2, err);
    }
    if (!st) {
        double s = 0;
        for (size_t i = 0; i < p * p; i++) s += (H2[i] - H[i]) * (H2[i] - H[i]);
        *change = sqrt(s);
    }
    free(x2);
    free(H2);
    return st;
}

/* The measured rounding noise of the gradient (see the top of the file). */
static int gradient_noise(const mlpf_objective *obj, const double *x, const double *g,
                          const double *H, size_t p, double *noise, mlpf_error *err) {
    double *xd = mlpf_malloc(p * sizeof *xd, err), *gd = mlpf_malloc(p * sizeof *gd, err);
    int st = (!xd || !gd) ? MLPF_ENOMEM : MLPF_OK;
    *noise = 0;
    if (!st) {
        for (size_t i = 0; i < p; i++) xd[i] = x[i] + (i % 2 ? -1 : 1) * DBL_EPSILON * x[i];
        st = mlpf_objective_eval(obj, xd, NULL, gd, NULL, err);
    }
    for (size_t i = 0; i < p && !st; i++) {
        double hd = 0;
        for (size_t j = 0; j < p; j++) hd += H[i * p + j] * (xd[j] - x[j]);
        *noise = fmax(*noise, fabs(gd[i] - g[i] - hd));
    }
    free(xd);
    free(gd);
    return st;
}

/* zero_tol and gnorm_tol as derived at the top (opt values win when given). */
static int thresholds(const mlpf_objective *obj, const double *x, const double *g,
                      const double *H, const double *lam, const double *V, size_t p,
                      const mlpf_classify_options *opt, mlpf_classification *out, mlpf_error *err) {
    double hnorm = mlpf_spectral_norm(lam, p), h_round = (double)p * DBL_EPSILON * hnorm;
    out->gnorm_tol = opt->gnorm_tol;
    if (isnan(opt->gnorm_tol)) {
        double noise;
        int st = gradient_noise(obj, x, g, H, p, &noise, err);
        if (st) return st;
        out->gnorm_tol = h_round * fmax(norm2(x, p), 1.0) + noise;
    }
    if (!isnan(opt->zero_tol)) {
        out->zero_tol = opt->zero_tol;
        return MLPF_OK;
    }
    double *d = mlpf_malloc(p * sizeof *d, err), change = 0;
    if (!d) return MLPF_ENOMEM;
    newton_step(lam, V, g, p, h_round, d);
    int st = hessian_change(obj, x, H, d, p, &change, err);
    free(d);
    out->zero_tol = h_round + change;
    return st;
}

static void count_eigenvalues(mlpf_classification *c) {
    c->index = c->n_zero = c->n_positive = 0;
    for (size_t k = 0; k < c->nparams; k++) {
        double l = c->eigenvalues[k];
        if (l < -c->zero_tol) c->index++;
        else if (l > c->zero_tol) c->n_positive++;
        else c->n_zero++;
    }
}

static void decide_kind(mlpf_classification *c) {
    if (c->nchannels > 0) c->kind = MLPF_POINT_CHANNEL;
    else if (!(c->gnorm <= c->gnorm_tol)) c->kind = MLPF_POINT_NOT_CRITICAL;
    else if (c->index > 0) c->kind = MLPF_POINT_SADDLE;
    else c->kind = MLPF_POINT_MINIMUM;
    c->strict = c->kind == MLPF_POINT_MINIMUM && c->n_zero == 0;
}

/* loss, gradient, Hessian, spectrum with vectors, thresholds, counts */
static int classify_spectrum(const mlpf_objective *obj, const double *x, size_t p,
                             const mlpf_classify_options *opt, mlpf_classification *out,
                             mlpf_error *err) {
    double *g = mlpf_malloc(p * sizeof *g, err), *H = mlpf_malloc(p * p * sizeof *H, err);
    double *V = mlpf_malloc(p * p * sizeof *V, err);
    out->eigenvalues = mlpf_malloc(p * sizeof(double), err);
    int st = (!g || !H || !V || !out->eigenvalues) ? MLPF_ENOMEM : MLPF_OK;
    if (!st) st = mlpf_objective_eval(obj, x, &out->loss, g, H, err);
    if (!st) st = mlpf_spectrum(H, p, out->eigenvalues, V, err);
    if (!st) {
        out->gnorm = 0;
        for (size_t i = 0; i < p; i++) out->gnorm = fmax(out->gnorm, fabs(g[i]));
        st = thresholds(obj, x, g, H, out->eigenvalues, V, p, opt, out, err);
    }
    if (!st) count_eigenvalues(out);
    free(g);
    free(H);
    free(V);
    return st;
}

int mlpf_classify(const mlpf_objective *obj, const double *x, const double *input,
                  const double *weights, size_t n, const mlpf_classify_options *opt,
                  mlpf_classification *out, mlpf_error *err) {
    memset(out, 0, sizeof *out);
    if (!obj || !x) return mlpf_fail(err, MLPF_EINVAL, "classify: objective and x are required");
    mlpf_classify_options def;
    if (!opt) mlpf_classify_options_default(&def), opt = &def;
    if (!isnan(opt->zero_tol) && !(opt->zero_tol >= 0))
        return mlpf_fail(err, MLPF_EINVAL, "classify: zero_tol must be >= 0 (or NAN for the default), got %g", opt->zero_tol);
    if (!isnan(opt->gnorm_tol) && !(opt->gnorm_tol >= 0))
        return mlpf_fail(err, MLPF_EINVAL, "classify: gnorm_tol must be >= 0 (or NAN for the default), got %g", opt->gnorm_tol);
    size_t p = mlpf_objective_nparams(obj);
    if (p == 0) return mlpf_fail(err, MLPF_EINVAL, "classify: the objective has no parameters");
    out->nparams = p;
    int st = classify_spectrum(obj, x, p, opt, out, err);
    const mlpf_net *net = mlpf_objective_net(obj);
    if (!st && opt->detect_channels && net && mlpf_net_nparams(net) == p)
        st = mlpf_channels(net, x, input, weights, n, &opt->channel, &out->channels, &out->nchannels, err);
    if (st) {
        mlpf_classification_free(out);
        return st;
    }
    decide_kind(out);
    return MLPF_OK;
}

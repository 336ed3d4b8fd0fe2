/* activation.c - the activation catalogue: the table of every activation with
   its metadata, and each scalar activation's exact first and second derivatives.
   Adding an activation means adding an enum value in mlpflow.h, a row in
   act_table and one case in activation_point. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* glibc's vector math library (libmvec) has SIMD versions of these; declaring
   them `omp declare simd` lets the compiler vectorise the activation loops. */
#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern double log1p(double);
#pragma omp declare simd notinbranch
extern double tanh(double);
#pragma omp declare simd notinbranch
extern double erf(double);
#pragma omp declare simd notinbranch
extern double erfc(double);

/* The activation table: one row per activation and the only list of them.
   Every consumer reads it: names for parsing and printing, the strip and the
   kinks for the Gaussian quadrature, parity and homogeneity for the analysis
   layer's symmetries. test_activation checks that every row is complete and that
   its claims hold numerically. Adding an activation: an enum value in mlpflow.h,
   a row here, a case in activation_point.
   Columns: name, alias, scalar, strip, nkinks, kinks, parity, homogeneous,
   degree, gaussian_closed_form. Strips: pi for the logistic family (poles of
   1 / (1 + e^-u) at +-i pi), pi/2 for tanh, pi/4 for g (sigmoid(4u)); for the
   entire functions (erf family, gelu, exp, the pieces of relu and selu) the
   measured width at which the rule-size formula in gaussian_quad.c holds. */
static const mlpf_activation_info act_table[MLPF_ACT_COUNT] = {
    [MLPF_ACT_IDENTITY]   = {"identity", "linear", 1, INFINITY, 0, {0}, MLPF_PARITY_ODD, 1, 1, 0},
    [MLPF_ACT_RELU]       = {"relu", NULL, 1, 4.0, 1, {0}, MLPF_PARITY_NEITHER, 1, 1, 1},
    [MLPF_ACT_SIGMOID]    = {"sigmoid", NULL, 1, M_PI, 0, {0}, MLPF_PARITY_NEITHER, 0, 0, 0},
    [MLPF_ACT_TANH]       = {"tanh", NULL, 1, M_PI / 2, 0, {0}, MLPF_PARITY_ODD, 0, 0, 0},
    [MLPF_ACT_SOFTPLUS]   = {"softplus", NULL, 1, M_PI, 0, {0}, MLPF_PARITY_NEITHER, 0, 0, 0},
    [MLPF_ACT_GELU]       = {"gelu", NULL, 1, 2.0, 0, {0}, MLPF_PARITY_NEITHER, 0, 0, 0},
    [MLPF_ACT_SILU]       = {"silu", "swish", 1, M_PI, 0, {0}, MLPF_PARITY_NEITHER, 0, 0, 0},
    [MLPF_ACT_SELU]       = {"selu", NULL, 1, 4.0, 1, {0}, MLPF_PARITY_NEITHER, 0, 0, 0},
    [MLPF_ACT_SIGMOID2]   = {"sigmoid2", "erf", 1, 2.0, 0, {0}, MLPF_PARITY_ODD, 0, 0, 1},
    [MLPF_ACT_NORMAL_CDF] = {"normal_cdf", NULL, 1, 2.0, 0, {0}, MLPF_PARITY_NEITHER, 0, 0, 1},
    [MLPF_ACT_G]          = {"g", NULL, 1, M_PI / 4, 0, {0}, MLPF_PARITY_NEITHER, 0, 0, 0},
    [MLPF_ACT_SQUARE]     = {"square", NULL, 1, INFINITY, 0, {0}, MLPF_PARITY_EVEN, 1, 2, 0},
    [MLPF_ACT_CUBE]       = {"cube", NULL, 1, INFINITY, 0, {0}, MLPF_PARITY_ODD, 1, 3, 0},
    [MLPF_ACT_EXP]        = {"exp", NULL, 1, 4.0, 0, {0}, MLPF_PARITY_NEITHER, 0, 0, 0},
    [MLPF_ACT_POLY]       = {"poly", NULL, 1, INFINITY, 0, {0}, MLPF_PARITY_NEITHER, 0, 0, 0},
    [MLPF_ACT_SOFTMAX]    = {"softmax", NULL, 0, NAN, 0, {0}, MLPF_PARITY_NEITHER, 0, 0, 0},
};

const mlpf_activation_info *mlpf_activation_row(mlpf_act_kind kind) {
    return (kind >= 0 && kind < MLPF_ACT_COUNT) ? &act_table[kind] : NULL;
}

int mlpf_activation_info_get(mlpf_act_kind kind, mlpf_activation_info *out, mlpf_error *err) {
    const mlpf_activation_info *row = mlpf_activation_row(kind);
    if (!row) return mlpf_fail(err, MLPF_EINVAL, "unknown activation code %d", (int)kind);
    *out = *row;
    return MLPF_OK;
}

/* A poly's parity and homogeneity from its nonzero coefficients. */
static void poly_symmetries(const mlpf_activation *a, mlpf_activation_info *info) {
    int odd = 0, even = 0, nonzero = 0, power = 0;
    for (int i = 0; i < a->ncoef; i++) {
        if (a->coef[i] == 0) continue;
        nonzero++;
        power = i;
        if (i % 2) odd = 1;
        else even = 1;
    }
    info->parity = odd && !even ? MLPF_PARITY_ODD : even && !odd ? MLPF_PARITY_EVEN : MLPF_PARITY_NEITHER;
    info->homogeneous = nonzero == 1;
    info->degree = nonzero == 1 ? power : 0;
}

int mlpf_activation_describe(const mlpf_activation *a, mlpf_activation_info *out, mlpf_error *err) {
    int st = mlpf_activation_info_get(a->kind, out, err);
    if (!st && a->kind == MLPF_ACT_POLY) poly_symmetries(a, out);
    return st;
}

const char *mlpf_activation_name(mlpf_act_kind kind) {
    const mlpf_activation_info *row = mlpf_activation_row(kind);
    return row ? row->name : "unknown";
}

/* "identity, relu, ..., softmax": the table's names, for messages. */
static void known_names(char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < MLPF_ACT_COUNT && len < cap; k++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", k ? ", " : "", act_table[k].name);
}

int mlpf_activation_parse(const char *name, mlpf_activation *out, mlpf_error *err) {
    memset(out, 0, sizeof *out);
    if (!name) return mlpf_fail(err, MLPF_EINVAL, "activation name is missing");
    for (int k = 0; k < MLPF_ACT_COUNT; k++) {
        const mlpf_activation_info *row = &act_table[k];
        if (strcmp(name, row->name) && !(row->alias && !strcmp(name, row->alias))) continue;
        if (k == MLPF_ACT_POLY)
            return mlpf_fail(err, MLPF_EINVAL,
                             "activation \"poly\" needs coefficients: {\"poly\": [c0, c1, ...]}");
        out->kind = (mlpf_act_kind)k;
        return MLPF_OK;
    }
    char known[256];
    known_names(known, sizeof known);
    return mlpf_fail(err, MLPF_EINVAL, "unknown activation \"%s\" (known: %s)", name, known);
}

int mlpf_activation_poly(const double *coef, int ncoef, mlpf_activation *out, mlpf_error *err) {
    memset(out, 0, sizeof *out);
    if (ncoef < 1 || ncoef > MLPF_POLY_MAXCOEF)
        return mlpf_fail(err, MLPF_EINVAL, "poly activation takes 1 to %d coefficients, got %d",
                         MLPF_POLY_MAXCOEF, ncoef);
    for (int i = 0; i < ncoef; i++)
        if (!isfinite(coef[i]))
            return mlpf_fail(err, MLPF_ENONFINITE, "poly coefficient %d is not finite", i);
    out->kind = MLPF_ACT_POLY;
    out->ncoef = ncoef;
    memcpy(out->coef, coef, (size_t)ncoef * sizeof *coef);
    return MLPF_OK;
}

#define SELU_LAMBDA 1.0507009873554804934193349852946
#define SELU_ALPHA 1.6732632423543772848170429916717
#define INV_SQRT2 0.70710678118654752440084436210485
#define INV_SQRT_2PI 0.39894228040143267793994605993438

static inline double sigmoid(double u) {
    /* Both branches avoid exp overflow. */
    if (u >= 0) return 1.0 / (1.0 + exp(-u));
    double e = exp(u);
    return e / (1.0 + e);
}

/* log1p(e) = log(w) + (e - (w - 1)) / w, w = fl(1 + e): the correction term
   undoes the rounding of w to first order, so this is accurate to a few ulps and
   uses log, which libmvec vectorises (log1p's vector version is much slower). */
#pragma omp declare simd notinbranch
extern double log(double);

static inline double log1p_unit(double e) {
    double w = 1.0 + e;
    return log(w) + (e - (w - 1.0)) / w;
}

static inline double softplus(double u) { return fmax(u, 0.0) + log1p_unit(exp(-fabs(u))); }

static inline void activation_point(const mlpf_activation *a, double u, double *f, double *df,
                                    double *d2f) {
    double v, d1, d2;
    switch (a->kind) {
    case MLPF_ACT_IDENTITY: v = u; d1 = 1; d2 = 0; break;
    case MLPF_ACT_RELU: v = u > 0 ? u : 0; d1 = u > 0 ? 1 : 0; d2 = 0; break;
    case MLPF_ACT_SIGMOID: {
        double s = sigmoid(u);
        v = s; d1 = s * (1 - s); d2 = d1 * (1 - 2 * s);
        break;
    }
    case MLPF_ACT_TANH: {
        double t = tanh(u);
        v = t; d1 = 1 - t * t; d2 = -2 * t * d1;
        break;
    }
    case MLPF_ACT_SOFTPLUS: {
        double s = sigmoid(u);
        v = softplus(u); d1 = s; d2 = s * (1 - s);
        break;
    }
    case MLPF_ACT_GELU: {
        double phi = INV_SQRT_2PI * exp(-0.5 * u * u), Phi = 0.5 * erfc(-u * INV_SQRT2);
        v = u * Phi; d1 = Phi + u * phi; d2 = phi * (2 - u * u);
        break;
    }
    case MLPF_ACT_SILU: {
        double s = sigmoid(u), ds = s * (1 - s);
        v = u * s; d1 = s + u * ds; d2 = ds * (2 + u * (1 - 2 * s));
        break;
    }
    case MLPF_ACT_SELU:
        if (u > 0) { v = SELU_LAMBDA * u; d1 = SELU_LAMBDA; d2 = 0; }
        else {
            double e = exp(u);
            v = SELU_LAMBDA * SELU_ALPHA * (e - 1); d1 = d2 = SELU_LAMBDA * SELU_ALPHA * e;
        }
        break;
    case MLPF_ACT_SIGMOID2: {
        double dens = 2 * INV_SQRT_2PI * exp(-0.5 * u * u);
        v = erf(u * INV_SQRT2); d1 = dens; d2 = -u * dens;
        break;
    }
    case MLPF_ACT_NORMAL_CDF: {
        double phi = INV_SQRT_2PI * exp(-0.5 * u * u);
        v = 0.5 * erfc(-u * INV_SQRT2); d1 = phi; d2 = -u * phi;
        break;
    }
    case MLPF_ACT_G: {
        double s4 = sigmoid(4 * u), s = sigmoid(u), ds4 = s4 * (1 - s4);
        v = s4 + softplus(u); d1 = 4 * ds4 + s; d2 = 16 * ds4 * (1 - 2 * s4) + s * (1 - s);
        break;
    }
    case MLPF_ACT_SQUARE: v = 0.5 * u * u; d1 = u; d2 = 1; break;
    case MLPF_ACT_CUBE: v = u * u * u; d1 = 3 * u * u; d2 = 6 * u; break;
    case MLPF_ACT_EXP: v = d1 = d2 = exp(u); break;
    case MLPF_ACT_POLY: {
        /* Horner for p, p', p'' at once. */
        v = d1 = d2 = 0;
        for (int i = a->ncoef - 1; i >= 0; i--) {
            d2 = d2 * u + 2 * d1;
            d1 = d1 * u + v;
            v = v * u + a->coef[i];
        }
        break;
    }
    default: v = d1 = d2 = NAN; break; /* softmax is vector-valued: handled by the kernels */
    }
    if (f) *f = v;
    if (df) *df = d1;
    if (d2f) *d2f = d2;
}

void mlpf_activation_eval(const mlpf_activation *a, double u, double *f, double *df, double *d2f) {
    activation_point(a, u, f, df, d2f);
}

/* Array version for the kernels: the common activations get loops written so
   the compiler vectorises them (no branches but selects; libmvec calls). */
MLPF_HOT void mlpf_activation_eval_n(const mlpf_activation *a, const double *u, size_t n, double *f,
                            double *df, double *d2f) {
    switch (a->kind) {
    case MLPF_ACT_IDENTITY:
        for (size_t i = 0; i < n; i++) f[i] = u[i];
        if (df) for (size_t i = 0; i < n; i++) df[i] = 1;
        if (d2f) for (size_t i = 0; i < n; i++) d2f[i] = 0;
        return;
    case MLPF_ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) f[i] = u[i] > 0 ? u[i] : 0;
        if (df) for (size_t i = 0; i < n; i++) df[i] = u[i] > 0 ? 1 : 0;
        if (d2f) for (size_t i = 0; i < n; i++) d2f[i] = 0;
        return;
    case MLPF_ACT_SOFTPLUS:
        /* e = exp(-|u|) gives both softplus = max(u,0) + log1p(e) and sigmoid.
           Derivatives are always wanted together with values in the kernels. */
        if (!df) break;
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            double ui = u[i], e = exp(-fabs(ui));
            double s = (ui > 0 ? 1.0 : e) / (1.0 + e);
            /* log1p(e) = log(w) + (e - (w - 1)) / w with w = fl(1 + e): the second term
               corrects the rounding of w to first order; written out so it vectorises. */
            double w = 1.0 + e;
            f[i] = 0.5 * (ui + fabs(ui)) + (log(w) + (e - (w - 1.0)) / w);
            df[i] = s;
            if (d2f) d2f[i] = s * (1 - s); /* gradients skip it: one store less per element */
        }
        return;
    case MLPF_ACT_SIGMOID:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            double ui = u[i], e = exp(-fabs(ui));
            double s = (ui > 0 ? 1.0 : e) / (1.0 + e);
            f[i] = s;
            if (df) df[i] = s * (1 - s);
            if (d2f) d2f[i] = s * (1 - s) * (1 - 2 * s);
        }
        return;
    case MLPF_ACT_TANH:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            double t = tanh(u[i]);
            f[i] = t;
            if (df) df[i] = 1 - t * t;
            if (d2f) d2f[i] = -2 * t * (1 - t * t);
        }
        return;
    case MLPF_ACT_SIGMOID2:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            double ui = u[i], dens = 2 * INV_SQRT_2PI * exp(-0.5 * ui * ui);
            f[i] = erf(ui * INV_SQRT2);
            if (df) df[i] = dens;
            if (d2f) d2f[i] = -ui * dens;
        }
        return;
    case MLPF_ACT_NORMAL_CDF:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            double ui = u[i], phi = INV_SQRT_2PI * exp(-0.5 * ui * ui);
            f[i] = 0.5 * erfc(-ui * INV_SQRT2);
            if (df) df[i] = phi;
            if (d2f) d2f[i] = -ui * phi;
        }
        return;
    default:
        break;
    }
    for (size_t i = 0; i < n; i++)
        activation_point(a, u[i], &f[i], df ? &df[i] : NULL, d2f ? &d2f[i] : NULL);
}

/* The one softmax: p_i = exp(z_i - m) / sum_k exp(z_k - m) with m = max z, so no
   exp overflows; returns log sum_k exp(z_k) = m + log(sum), which cross-entropy
   needs. z, p (n) with element stride `stride`. */
double mlpf_softmax(int n, const double *z, size_t stride, double *p) {
    double m = z[0], sum = 0;
    for (int i = 1; i < n; i++) m = fmax(m, z[(size_t)i * stride]);
    for (int i = 0; i < n; i++) sum += (p[(size_t)i * stride] = exp(z[(size_t)i * stride] - m));
    for (int i = 0; i < n; i++) p[(size_t)i * stride] /= sum;
    return m + log(sum);
}

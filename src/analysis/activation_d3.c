/* activation_d3.c - third derivatives of the scalar activations, needed by the
   gated-linear-unit objective (its Hessian holds sigma''' through the
   sigma'(w.x) gate). Kept apart from the activation table (src/spec/) so the
   table can be restructured independently; each case is differentiated by hand
   from the first and second derivatives there. */
#include "analysis/analysis.h"

#include <math.h>

#define SELU_LAMBDA 1.0507009873554804934193349852946
#define SELU_ALPHA 1.6732632423543772848170429916717
#define INV_SQRT_2PI 0.39894228040143267793994605993438

static double logistic(double u) {
    if (u >= 0) return 1.0 / (1.0 + exp(-u));
    double e = exp(u);
    return e / (1.0 + e);
}

/* d^3/du^3 of the logistic function, in terms of s = logistic(u):
   s' = s(1-s), s'' = s'(1-2s), s''' = s'(1 - 6s + 6s^2). */
static double logistic_d3(double s) { return s * (1 - s) * (1 - 6 * s + 6 * s * s); }

double mlpf_activation_d3(const mlpf_activation *a, double u) {
    switch (a->kind) {
    case MLPF_ACT_IDENTITY: case MLPF_ACT_RELU: case MLPF_ACT_SQUARE: return 0;
    case MLPF_ACT_SIGMOID: return logistic_d3(logistic(u));
    case MLPF_ACT_TANH: {            /* t' = 1 - t^2, t'' = -2 t t', t''' = t' (6 t^2 - 2) */
        double t = tanh(u);
        return (1 - t * t) * (6 * t * t - 2);
    }
    case MLPF_ACT_SOFTPLUS: {        /* f' = s: f''' = s'' = s(1-s)(1-2s) */
        double s = logistic(u);
        return s * (1 - s) * (1 - 2 * s);
    }
    case MLPF_ACT_GELU:              /* f'' = phi (2 - u^2): f''' = phi (u^3 - 4u) */
        return INV_SQRT_2PI * exp(-0.5 * u * u) * (u * u * u - 4 * u);
    case MLPF_ACT_SILU: {            /* f = u s: f''' = 3 s'' + u s''' */
        double s = logistic(u), d1 = s * (1 - s);
        return 3 * d1 * (1 - 2 * s) + u * logistic_d3(s);
    }
    case MLPF_ACT_SELU: return u > 0 ? 0 : SELU_LAMBDA * SELU_ALPHA * exp(u);
    case MLPF_ACT_SIGMOID2:          /* f' = 2 phi(u): f''' = 2 phi (u^2 - 1) */
        return 2 * INV_SQRT_2PI * exp(-0.5 * u * u) * (u * u - 1);
    case MLPF_ACT_NORMAL_CDF: return INV_SQRT_2PI * exp(-0.5 * u * u) * (u * u - 1);
    case MLPF_ACT_G: {               /* sigmoid(4u) + softplus(u) */
        double s4 = logistic(4 * u), s = logistic(u);
        return 64 * logistic_d3(s4) + s * (1 - s) * (1 - 2 * s);
    }
    case MLPF_ACT_CUBE: return 6;
    case MLPF_ACT_EXP: return exp(u);
    case MLPF_ACT_POLY: {            /* sum_i i (i-1) (i-2) c_i u^(i-3), Horner */
        double v = 0;
        for (int i = a->ncoef - 1; i >= 3; i--) v = v * u + (double)i * (i - 1) * (i - 2) * a->coef[i];
        return v;
    }
    default: return NAN;             /* softmax: vector-valued */
    }
}

int mlpf_activation_eval_array(const mlpf_activation *a, const double *z, size_t n, int derivative,
                               double *out, mlpf_error *err) {
    if (derivative < 0 || derivative > 3)
        return mlpf_fail(err, MLPF_EINVAL, "activation: derivative must be 0, 1, 2 or 3, got %d", derivative);
    if (a->kind == MLPF_ACT_SOFTMAX)
        return mlpf_fail(err, MLPF_EINVAL, "activation: softmax is vector-valued (output layer only)");
    for (size_t i = 0; i < n; i++) {
        double f, d1, d2;
        if (derivative == 3) {
            out[i] = mlpf_activation_d3(a, z[i]);
            continue;
        }
        mlpf_activation_eval(a, z[i], &f, &d1, &d2);
        out[i] = derivative == 0 ? f : derivative == 1 ? d1 : d2;
    }
    return MLPF_OK;
}

int mlpf_hidden(const mlpf_net *net, const double *x, const double *input, size_t n, int layer,
                double *z, double *a, mlpf_error *err) {
    if (!net || !x || !input || (!z && !a)) return mlpf_fail(err, MLPF_EINVAL, "hidden: net, x, input and an output are required");
    if (layer < 0 || layer >= net->nlayers)
        return mlpf_fail(err, MLPF_EINVAL, "hidden: layer %d does not exist (the net has %d, counting from 0)",
                         layer, net->nlayers);
    size_t bad = mlpf_first_nonfinite(input, n * (size_t)net->din);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "hidden: input row %zu, column %zu is not finite",
                              (bad - 1) / (size_t)net->din, (bad - 1) % (size_t)net->din);
    double *in;
    int st = mlpf_layer_io(net, x, input, n, layer, &in, NULL, err);
    if (st) return st;
    const mlpf_layer *L = &net->layers[layer];
    size_t cnt = n * (size_t)L->units + 1;
    double *zb = z ? NULL : mlpf_malloc(cnt * sizeof *zb, err), *ab = a ? NULL : mlpf_malloc(cnt * sizeof *ab, err);
    if ((!z && !zb) || (!a && !ab)) st = MLPF_ENOMEM;
    else mlpf_layer_forward(L, x + L->offset, in, n, z ? z : zb, a ? a : ab, NULL, NULL);
    free(zb);
    free(ab);
    free(in);
    return st;
}

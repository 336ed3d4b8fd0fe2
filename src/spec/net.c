/* net.c - the network spec: layers, activations, bias flags, parameter layout,
   Glorot-normal initialisation and prediction. */
#include "internal.h"
#include "spec/data.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

mlpf_net *mlpf_net_create(int din, mlpf_error *err) {
    if (din < 1) {
        mlpf_fail(err, MLPF_EINVAL, "input dimension must be >= 1, got %d", din);
        return NULL;
    }
    mlpf_net *net = mlpf_calloc(1, sizeof *net, err);
    if (!net) return NULL;
    net->din = din;
    return net;
}

void mlpf_net_free(mlpf_net *net) {
    if (!net) return;
    for (int l = 0; l < net->nlayers; l++) free(net->layers[l].acts);
    free(net->layers);
    free(net);
}

mlpf_net *mlpf_net_copy(const mlpf_net *src, mlpf_error *err) {
    mlpf_net *net = mlpf_net_create(src->din, err);
    if (!net) return NULL;
    for (int l = 0; l < src->nlayers; l++) {
        const mlpf_layer *L = &src->layers[l];
        if (mlpf_net_add_layer_acts(net, L->units, L->acts, L->shared_act ? 1 : L->units, L->bias,
                                    err) != MLPF_OK) {
            mlpf_net_free(net);
            return NULL;
        }
    }
    return net;
}

int mlpf_net_add_layer_acts(mlpf_net *net, int units, const mlpf_activation *acts, int nacts,
                            int bias, mlpf_error *err) {
    int l = net->nlayers;
    if (units < 1) return mlpf_fail(err, MLPF_EINVAL, "layer %d: units must be >= 1, got %d", l + 1, units);
    /* the layer's activation table and weights, checked before allocating */
    char what[64];
    snprintf(what, sizeof what, "layer %d (%d units)", l + 1, units);
    int inputs = l == 0 ? net->din : net->layers[l - 1].units;
    if (mlpf_check_budget(what, (double)units * (sizeof *acts + 8.0 * (inputs + 1)), err))
        return MLPF_ENOMEM;
    if (nacts != 1 && nacts != units)
        return mlpf_fail(err, MLPF_EINVAL,
                         "layer %d: %d activations given for %d units (give 1 or one per unit)",
                         l + 1, nacts, units);
    for (int i = 0; i < nacts; i++) {
        if (acts[i].kind < 0 || acts[i].kind >= MLPF_ACT_COUNT)
            return mlpf_fail(err, MLPF_EINVAL, "layer %d: unknown activation code %d", l + 1, (int)acts[i].kind);
        if (acts[i].kind == MLPF_ACT_SOFTMAX && nacts != 1)
            return mlpf_fail(err, MLPF_EINVAL,
                             "layer %d: softmax acts on the whole layer; it cannot be one neuron's activation", l + 1);
        if (acts[i].kind == MLPF_ACT_POLY && (acts[i].ncoef < 1 || acts[i].ncoef > MLPF_POLY_MAXCOEF))
            return mlpf_fail(err, MLPF_EINVAL, "layer %d: poly activation with %d coefficients", l + 1, acts[i].ncoef);
    }
    if (net->nlayers == net->cap) {
        int cap = net->cap ? 2 * net->cap : 4;
        mlpf_layer *ls = realloc(net->layers, (size_t)cap * sizeof *ls);
        if (!ls) return mlpf_fail(err, MLPF_ENOMEM, "out of memory adding layer %d", l + 1);
        net->layers = ls;
        net->cap = cap;
    }
    mlpf_layer *L = &net->layers[l];
    memset(L, 0, sizeof *L);
    L->acts = mlpf_malloc((size_t)units * sizeof *L->acts, err);
    if (!L->acts) return MLPF_ENOMEM;
    for (int i = 0; i < units; i++) L->acts[i] = acts[nacts == 1 ? 0 : i];
    L->shared_act = nacts == 1;
    if (!L->shared_act) { /* one per neuron but all the same is still shared */
        L->shared_act = 1;
        for (int i = 1; i < units; i++)
            if (memcmp(&L->acts[i], &L->acts[0], sizeof L->acts[0]) != 0) L->shared_act = 0;
    }
    L->units = units;
    L->inputs = l == 0 ? net->din : net->layers[l - 1].units;
    L->bias = bias ? 1 : 0;
    L->offset = net->nparams;
    net->nparams += (size_t)units * (size_t)(L->inputs + L->bias);
    net->nlayers++;
    return MLPF_OK;
}

int mlpf_net_add_layer(mlpf_net *net, int units, const char *activation, int bias, mlpf_error *err) {
    mlpf_activation a;
    int st = mlpf_activation_parse(activation, &a, err);
    if (st) return mlpf_fail_prefix(err, st, "layer %d", net->nlayers + 1);
    return mlpf_net_add_layer_acts(net, units, &a, 1, bias, err);
}

int mlpf_net_validate(const mlpf_net *net, mlpf_error *err) {
    if (!net || net->nlayers < 1) return mlpf_fail(err, MLPF_EINVAL, "the network has no layers");
    for (int l = 0; l + 1 < net->nlayers; l++)
        if (net->layers[l].acts[0].kind == MLPF_ACT_SOFTMAX)
            return mlpf_fail(err, MLPF_EINVAL,
                             "layer %d: softmax is only allowed as the output layer (layer %d)",
                             l + 1, net->nlayers);
    return MLPF_OK;
}

int mlpf_net_din(const mlpf_net *net) { return net->din; }
int mlpf_net_dout(const mlpf_net *net) { return net->nlayers ? net->layers[net->nlayers - 1].units : 0; }
int mlpf_net_nlayers(const mlpf_net *net) { return net->nlayers; }
int mlpf_net_layer_units(const mlpf_net *net, int l) { return l >= 0 && l < net->nlayers ? net->layers[l].units : 0; }
int mlpf_net_layer_inputs(const mlpf_net *net, int l) { return l >= 0 && l < net->nlayers ? net->layers[l].inputs : 0; }
int mlpf_net_layer_bias(const mlpf_net *net, int l) { return l >= 0 && l < net->nlayers ? net->layers[l].bias : 0; }
size_t mlpf_net_nparams(const mlpf_net *net) { return net->nparams; }
size_t mlpf_net_layer_offset(const mlpf_net *net, int l) { return l >= 0 && l < net->nlayers ? net->layers[l].offset : 0; }

const mlpf_activation *mlpf_net_activation(const mlpf_net *net, int l, int unit) {
    if (l < 0 || l >= net->nlayers || unit < 0 || unit >= net->layers[l].units) return NULL;
    return &net->layers[l].acts[unit];
}

int mlpf_random_params(const mlpf_net *net, uint64_t seed, double *x, mlpf_error *err) {
    int st = mlpf_net_validate(net, err);
    if (st) return st;
    mlpf_rng rng;
    mlpf_rng_seed(&rng, seed);
    for (int l = 0; l < net->nlayers; l++) {
        const mlpf_layer *L = &net->layers[l];
        double sd = sqrt(2.0 / (double)(L->inputs + L->units));
        int cols = L->inputs + L->bias;
        double *W = x + L->offset;
        for (int i = 0; i < L->units; i++)
            for (int j = 0; j < cols; j++)
                W[i * cols + j] = j < L->inputs ? sd * mlpf_rng_normal(&rng) : 0.0;
    }
    return MLPF_OK;
}

/* Forward pass of one layer on a block of samples.
   in (n, inputs), W (units, inputs + bias) -> z (n, units), a (n, units). */
void mlpf_layer_forward(const mlpf_layer *L, const double *W, const double *in, size_t n,
                        double *z, double *a, double *da, double *d2a) {
    int cols = L->inputs + L->bias;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, L->units, L->inputs, 1.0, in,
                L->inputs, W, cols, 0.0, z, L->units);
    if (L->bias)
        for (size_t s = 0; s < n; s++)
            for (int i = 0; i < L->units; i++) z[s * L->units + i] += W[i * cols + L->inputs];
    if (L->acts[0].kind == MLPF_ACT_SOFTMAX) {
        for (size_t s = 0; s < n; s++) mlpf_softmax(L->units, z + s * L->units, 1, a + s * L->units);
        return;
    }
    if (L->shared_act) {
        mlpf_activation_eval_n(&L->acts[0], z, n * (size_t)L->units, a, da, d2a);
        return;
    }
    for (size_t s = 0; s < n; s++)
        for (int i = 0; i < L->units; i++) {
            size_t k = s * (size_t)L->units + (size_t)i;
            mlpf_activation_eval(&L->acts[i], z[k], &a[k], da ? &da[k] : NULL, d2a ? &d2a[k] : NULL);
        }
}

int mlpf_predict(const mlpf_net *net, const double *x, const double *input, size_t n,
                 double *output, mlpf_error *err) {
    int st = mlpf_net_validate(net, err);
    if (st) return st;
    size_t bad = mlpf_first_nonfinite(x, net->nparams);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "parameter %zu is not finite", bad - 1);
    st = mlpf_data_check_finite("input", input, n, (size_t)net->din, err);
    if (st) return st;
    int width = net->din;
    for (int l = 0; l < net->nlayers; l++) width = width > net->layers[l].units ? width : net->layers[l].units;
    /* Blocks of samples keep memory independent of n. */
    const size_t block = 256;
    double *buf = mlpf_malloc(3 * block * (size_t)width * sizeof *buf, err);
    if (!buf) return MLPF_ENOMEM;
    for (size_t s0 = 0; s0 < n; s0 += block) {
        size_t m = n - s0 < block ? n - s0 : block;
        const double *in = input + s0 * (size_t)net->din;
        double *z = buf, *a = buf + block * (size_t)width, *b = a + block * (size_t)width;
        for (int l = 0; l < net->nlayers; l++) {
            const mlpf_layer *L = &net->layers[l];
            double *out = (l == net->nlayers - 1) ? output + s0 * (size_t)L->units : a;
            mlpf_layer_forward(L, x + L->offset, in, m, z, out, NULL, NULL);
            in = out;
            double *t = a; a = b; b = t; /* the next layer writes where this one did not read */
        }
    }
    free(buf);
    return MLPF_OK;
}

/* surgery.c - splitting, adding and removing hidden neurons of a network with one
   hidden layer.

   All three are one operation: build a hidden layer whose neuron k' is either a
   copy of old neuron src[k'] (incoming row copied, readout column scaled by
   scale[k']) or a new neuron (given incoming row, zero readout column). The
   readout sees only its pre-activation sum_k a_ok h_k + b_o, so splitting a_i
   into gamma a_i + (1 - gamma) a_i leaves it, and thus the network function,
   unchanged whatever the readout's activation; the same holds for new neurons
   with zero readout weights. */
#include "internal.h"

#include <math.h>
#include <string.h>

static int check_one_hidden(const mlpf_net *net, const double *x, const char *fn,
                            mlpf_net **new_net, double **x_new, mlpf_error *err) {
    if (!new_net || !x_new) return mlpf_fail(err, MLPF_EINVAL, "%s: new_net and x_new must not be NULL", fn);
    *new_net = NULL;
    *x_new = NULL;
    if (!net || !x) return mlpf_fail(err, MLPF_EINVAL, "%s: net and x must not be NULL", fn);
    int st = mlpf_net_validate(net, err);
    if (st) return mlpf_fail_prefix(err, st, "%s", fn);
    if (net->nlayers != 2)
        return mlpf_fail(err, MLPF_EINVAL,
                         "%s: the network has %d layers; surgery needs exactly one hidden layer and "
                         "a readout (2 layers)", fn, net->nlayers);
    size_t bad = mlpf_first_nonfinite(x, net->nparams);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "%s: parameter x[%zu] is not finite", fn, bad - 1);
    return MLPF_OK;
}

/* knew hidden neurons; src[k] >= 0: copy of old neuron src[k] with readout
   column scaled by scale[k]; src[k] < 0: new neuron with incoming row
   rows[k * (din + bias)] and zero readout column, activation newact. */
static int rebuild(const mlpf_net *net, const double *x, int knew, const int *src,
                   const double *scale, const double *rows, const mlpf_activation *newact,
                   mlpf_net **new_net, double **x_new, mlpf_error *err) {
    const mlpf_layer *H = &net->layers[0], *O = &net->layers[1];
    mlpf_activation *acts = mlpf_malloc((size_t)knew * sizeof *acts, err);
    if (!acts) return MLPF_ENOMEM;
    for (int k = 0; k < knew; k++) acts[k] = src[k] >= 0 ? H->acts[src[k]] : *newact;
    mlpf_net *nn = mlpf_net_create(net->din, err);
    int st = nn ? MLPF_OK : MLPF_ENOMEM;
    if (!st) st = mlpf_net_add_layer_acts(nn, knew, acts, knew, H->bias, err);
    if (!st) st = mlpf_net_add_layer_acts(nn, O->units, O->acts, O->shared_act ? 1 : O->units, O->bias, err);
    free(acts);
    double *xn = NULL;
    if (!st) {
        xn = mlpf_malloc(nn->nparams * sizeof *xn, err);
        if (!xn) st = MLPF_ENOMEM;
    }
    if (st) {
        mlpf_net_free(nn);
        return st ? st : MLPF_ENOMEM;
    }
    int c1 = H->inputs + H->bias;                 /* hidden row length */
    int c2 = H->units + O->bias, c2n = knew + O->bias; /* readout row lengths, old and new */
    const double *W1 = x + H->offset, *W2 = x + O->offset;
    double *V1 = xn + nn->layers[0].offset, *V2 = xn + nn->layers[1].offset;
    for (int k = 0; k < knew; k++) {
        const double *row = src[k] >= 0 ? W1 + (size_t)src[k] * (size_t)c1 : rows + (size_t)k * (size_t)c1;
        memcpy(V1 + (size_t)k * (size_t)c1, row, (size_t)c1 * sizeof *row);
    }
    for (int o = 0; o < O->units; o++) {
        for (int k = 0; k < knew; k++)
            V2[(size_t)o * (size_t)c2n + (size_t)k] =
                src[k] >= 0 ? scale[k] * W2[(size_t)o * (size_t)c2 + (size_t)src[k]] : 0.0;
        if (O->bias) V2[(size_t)o * (size_t)c2n + (size_t)knew] = W2[(size_t)o * (size_t)c2 + (size_t)H->units];
    }
    *new_net = nn;
    *x_new = xn;
    return MLPF_OK;
}

int mlpf_split_neuron(const mlpf_net *net, const double *x, int i, double gamma, int j,
                      mlpf_net **new_net, double **x_new, mlpf_error *err) {
    mlpf_error_clear(err);
    int st = check_one_hidden(net, x, "split_neuron", new_net, x_new, err);
    if (st) return st;
    int k = net->layers[0].units;
    if (i < 0 || i >= k)
        return mlpf_fail(err, MLPF_EINVAL, "split_neuron: neuron i = %d is not a hidden neuron (0..%d)", i, k - 1);
    if (j < 0 || j > k)
        return mlpf_fail(err, MLPF_EINVAL, "split_neuron: insert position j = %d must be in 0..%d", j, k);
    if (!isfinite(gamma)) return mlpf_fail(err, MLPF_EINVAL, "split_neuron: gamma = %g must be finite", gamma);
    if (k == INT32_MAX) return mlpf_fail(err, MLPF_EINVAL, "split_neuron: too many neurons");
    int *src = mlpf_malloc((size_t)(k + 1) * sizeof *src, err);
    double *scale = mlpf_malloc((size_t)(k + 1) * sizeof *scale, err);
    if (!src || !scale) {
        free(src);
        free(scale);
        return MLPF_ENOMEM;
    }
    /* Old neurons keep their order; the copy sits before old neuron j. */
    for (int n = 0, o = 0; n <= k; n++) {
        if (n == j) {
            src[n] = i;
            scale[n] = 1.0 - gamma;
        } else {
            src[n] = o;
            scale[n] = o == i ? gamma : 1.0;
            o++;
        }
    }
    st = rebuild(net, x, k + 1, src, scale, NULL, NULL, new_net, x_new, err);
    free(src);
    free(scale);
    return st;
}

int mlpf_grow_net(const mlpf_net *net, const double *x, int extra, uint64_t seed,
                  mlpf_net **new_net, double **x_new, mlpf_error *err) {
    mlpf_error_clear(err);
    int st = check_one_hidden(net, x, "grow_net", new_net, x_new, err);
    if (st) return st;
    const mlpf_layer *H = &net->layers[0];
    int k = H->units;
    if (extra < 0 || extra > INT32_MAX - k)
        return mlpf_fail(err, MLPF_EINVAL, "grow_net: extra = %d neurons must be >= 0 (and fit an int)", extra);
    int knew = k + extra, c1 = H->inputs + H->bias;
    int *src = mlpf_malloc((size_t)knew * sizeof *src, err);
    double *scale = mlpf_malloc((size_t)knew * sizeof *scale, err);
    double *rows = mlpf_calloc((size_t)knew * (size_t)c1, sizeof *rows, err);
    if (!src || !scale || !rows) {
        free(src);
        free(scale);
        free(rows);
        return MLPF_ENOMEM;
    }
    /* Glorot normal for the grown layer's shape, biases 0, as mlpf_random_params
       would draw them for a fresh network of the new width. */
    mlpf_rng rng;
    mlpf_rng_seed(&rng, seed);
    double sd = sqrt(2.0 / (double)(H->inputs + knew));
    for (int n = 0; n < knew; n++) {
        src[n] = n < k ? n : -1;
        scale[n] = 1.0;
        if (n >= k)
            for (int c = 0; c < H->inputs; c++) rows[(size_t)n * (size_t)c1 + (size_t)c] = sd * mlpf_rng_normal(&rng);
    }
    st = rebuild(net, x, knew, src, scale, rows, &H->acts[k - 1], new_net, x_new, err);
    free(src);
    free(scale);
    free(rows);
    return st;
}

int mlpf_shrink_net(const mlpf_net *net, const double *x, const int *remove, size_t nremove,
                    mlpf_net **new_net, double **x_new, mlpf_error *err) {
    mlpf_error_clear(err);
    int st = check_one_hidden(net, x, "shrink_net", new_net, x_new, err);
    if (st) return st;
    int k = net->layers[0].units;
    if (nremove && !remove) return mlpf_fail(err, MLPF_EINVAL, "shrink_net: remove is NULL but nremove = %zu", nremove);
    if (nremove >= (size_t)k)
        return mlpf_fail(err, MLPF_EINVAL,
                         "shrink_net: removing %zu of %d hidden neurons would leave none", nremove, k);
    char *gone = mlpf_calloc((size_t)k, 1, err);
    int *src = mlpf_malloc((size_t)k * sizeof *src, err);
    double *scale = mlpf_malloc((size_t)k * sizeof *scale, err);
    if (!gone || !src || !scale) {
        free(gone);
        free(src);
        free(scale);
        return MLPF_ENOMEM;
    }
    for (size_t r = 0; r < nremove && !st; r++) {
        if (remove[r] < 0 || remove[r] >= k)
            st = mlpf_fail(err, MLPF_EINVAL, "shrink_net: remove[%zu] = %d is not a hidden neuron (0..%d)", r, remove[r], k - 1);
        else if (gone[remove[r]])
            st = mlpf_fail(err, MLPF_EINVAL, "shrink_net: neuron %d is listed twice in remove", remove[r]);
        else
            gone[remove[r]] = 1;
    }
    int knew = 0;
    for (int n = 0; n < k && !st; n++)
        if (!gone[n]) {
            src[knew] = n;
            scale[knew++] = 1.0;
        }
    if (!st) st = rebuild(net, x, knew, src, scale, NULL, NULL, new_net, x_new, err);
    free(gone);
    free(src);
    free(scale);
    return st;
}

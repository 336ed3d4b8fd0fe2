/* ode_kink.c - which units of a ReLU-type network sit at a kink of their
   activation, and which of them the flow keeps crossing.

   Finite data: the pre-activations z (n, units) of every layer up to the
   last kinked one, by the network's own layer kernel, in chunks of samples;
   a pair (unit, sample) sits at a kink c when |z - c| <= abstol (sum_j |in_j|
   + bias): moving each incoming weight by the solver's abstol could carry
   it across. Infinite (Gaussian) data has no samples: the pre-activation of
   a unit is N(b, |w|^2), which sits at the kink as a whole when every
   incoming weight and the bias are within abstol of 0; its "side" is the
   sign and position of its largest weight, which flips as the flow crosses
   w = 0. A flip is a pair at a kink whose side changed since the last
   check: a flow that chatters on a discontinuity surface (Filippov sliding)
   flips the same pairs step after step; one that crosses it does so once. */
#include "dynamics/ode_kink.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objective/finite.h"

enum { KINK_CHUNK = 256 };

struct dyn_kinks {
    const dyn_problem *pb;
    const mlpf_net *net;
    size_t n;               /* samples; 0 = infinite data: units as a whole */
    const double *input;    /* (n, din) */
    int nk;                 /* kinked units */
    int *layer, *unit;      /* (nk) */
    long *count;            /* (nk) flips since the last reset */
    size_t *atn;            /* (nk) pairs at a kink in the last check */
    signed char *side;      /* (nk, n) finite data: kinks below z, or -1 = not known */
    int *uside;             /* (nk) infinite data: +-(1 + index of the largest weight), 0 = not known */
    int lastl;              /* last layer with a kinked unit */
    size_t maxu;            /* widest layer incl. din */
    double *x;              /* (P) */
    double *in, *z, *a;     /* (KINK_CHUNK, maxu) each */
};

static const mlpf_activation_info *unit_info(const mlpf_layer *L, int i) {
    return mlpf_activation_row(L->acts[L->shared_act ? 0 : i].kind);
}

/* The kinked units of net into k->layer / k->unit (NULL arrays: count only). */
static int kinked_units(const mlpf_net *net, dyn_kinks *k) {
    int nk = 0;
    for (int l = 0; l < net->nlayers; l++)
        for (int i = 0; i < net->layers[l].units; i++) {
            const mlpf_activation_info *r = unit_info(&net->layers[l], i);
            if (!r || !r->scalar || r->nkinks == 0) continue;
            if (k->layer) k->layer[nk] = l, k->unit[nk] = i;
            k->lastl = l;
            nk++;
        }
    return nk;
}

void dyn_kinks_free(dyn_kinks *k) {
    if (!k) return;
    free(k->layer);
    free(k->unit);
    free(k->count);
    free(k->atn);
    free(k->side);
    free(k->uside);
    free(k->x);
    free(k->in);
    free(k->z);
    free(k->a);
    free(k);
}

/* The data of a finite objective (the base of the chain), else n = 0. */
static void watch_data(const mlpf_objective *base, dyn_kinks *k) {
    if (!base || !base->net || strcmp(mlpf_objective_name(base), "finite") != 0) return;
    const finite_data *f = base->ctx;
    k->n = f->n;
    k->input = f->input;
}

int dyn_kinks_create(const dyn_problem *pb, dyn_kinks **out, mlpf_error *err) {
    *out = NULL;
    const mlpf_net *net = pb->base ? mlpf_objective_net(pb->base) : NULL;
    if (!net) return MLPF_OK;
    dyn_kinks count = {0};
    int nkinked = kinked_units(net, &count);
    if (nkinked == 0) return MLPF_OK;
    dyn_kinks *k = calloc(1, sizeof *k);
    if (!k) return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: out of memory (kink watch)");
    k->pb = pb;
    k->net = net;
    watch_data(pb->base, k);
    k->nk = nkinked;
    k->maxu = (size_t)net->din;
    for (int l = 0; l < net->nlayers; l++)
        if ((size_t)net->layers[l].units > k->maxu) k->maxu = (size_t)net->layers[l].units;
    size_t nk = (size_t)k->nk, chunk = KINK_CHUNK * k->maxu;
    k->layer = malloc(nk * sizeof *k->layer);
    k->unit = malloc(nk * sizeof *k->unit);
    k->count = calloc(nk, sizeof *k->count);
    k->atn = calloc(nk, sizeof *k->atn);
    k->x = malloc(pb->P * sizeof *k->x);
    int ok = k->layer && k->unit && k->count && k->atn && k->x;
    if (k->n) {
        k->side = malloc(nk * k->n);
        k->in = malloc(chunk * sizeof *k->in);
        k->z = malloc(chunk * sizeof *k->z);
        k->a = malloc(chunk * sizeof *k->a);
        ok = ok && k->side && k->in && k->z && k->a;
    } else {
        k->uside = calloc(nk, sizeof *k->uside);
        ok = ok && k->uside;
    }
    if (!ok) {
        size_t n = k->n;
        dyn_kinks_free(k);
        return mlpf_fail(err, MLPF_ENOMEM, "gradient flow: out of memory (kink watch of %zu units, %zu samples)",
                         nk, n);
    }
    kinked_units(net, k); /* fills layer, unit and lastl */
    dyn_kinks_reset(k);
    *out = k;
    return MLPF_OK;
}

void dyn_kinks_reset(dyn_kinks *k) {
    memset(k->count, 0, (size_t)k->nk * sizeof *k->count);
    if (k->side) memset(k->side, -1, (size_t)k->nk * k->n);
    if (k->uside) memset(k->uside, 0, (size_t)k->nk * sizeof *k->uside);
}

/* Which side of the kinks of r the value z is on (how many kinks lie below
   it), and whether it sits at one within tol. */
static int side_of(const mlpf_activation_info *r, double z, double tol, int *at) {
    int s = 0;
    *at = 0;
    for (int m = 0; m < r->nkinks; m++) {
        if (fabs(z - r->kinks[m]) <= tol) *at = 1;
        if (z > r->kinks[m]) s++;
    }
    return s;
}

/* Kinked unit q of layer L on a chunk of B samples starting at s0: z
   (B, units) in k->z, in (B, inputs). Returns the flips. */
static long check_chunk(dyn_kinks *k, int q, const mlpf_layer *L, const double *in, size_t B,
                        size_t s0) {
    const mlpf_activation_info *r = unit_info(L, k->unit[q]);
    double abstol = k->pb->opt->abstol;
    signed char *side = k->side + (size_t)q * k->n + s0;
    long flips = 0;
    for (size_t s = 0; s < B; s++) {
        double sum = L->bias;
        for (int j = 0; j < L->inputs; j++) sum += fabs(in[s * (size_t)L->inputs + j]);
        int at, sd = side_of(r, k->z[s * (size_t)L->units + k->unit[q]], abstol * sum, &at);
        if (at && side[s] >= 0 && side[s] != sd) flips++;
        k->atn[q] += (size_t)at;
        side[s] = (signed char)sd;
    }
    k->count[q] += flips;
    return flips;
}

/* Finite data: forward the samples chunk by chunk up to the last kinked layer. */
static long check_samples(dyn_kinks *k) {
    const mlpf_net *net = k->net;
    long flips = 0;
    for (size_t s0 = 0; s0 < k->n; s0 += KINK_CHUNK) {
        size_t B = k->n - s0 < KINK_CHUNK ? k->n - s0 : KINK_CHUNK;
        const double *in = k->input + s0 * (size_t)net->din;
        for (int l = 0; l <= k->lastl; l++) {
            const mlpf_layer *L = &net->layers[l];
            mlpf_layer_forward(L, k->x + L->offset, in, B, k->z, k->a, NULL, NULL);
            for (int q = 0; q < k->nk; q++)
                if (k->layer[q] == l) flips += check_chunk(k, q, L, in, B, s0);
            /* this layer's activations are the next one's input */
            memcpy(k->in, k->a, B * (size_t)L->units * sizeof *k->in);
            in = k->in;
        }
    }
    return flips;
}

/* Infinite data: a unit sits at its kink when all of its incoming weights
   and its bias are within abstol of it (kinks other than 0 need a bias). */
static long check_units(dyn_kinks *k) {
    double abstol = k->pb->opt->abstol;
    long flips = 0;
    for (int q = 0; q < k->nk; q++) {
        const mlpf_layer *L = &k->net->layers[k->layer[q]];
        const mlpf_activation_info *r = unit_info(L, k->unit[q]);
        int row = L->inputs + L->bias;
        const double *w = k->x + L->offset + (size_t)k->unit[q] * (size_t)row;
        int jmax = 0, at = 1;
        for (int j = 0; j < row; j++) {
            if (fabs(w[j]) > fabs(w[jmax])) jmax = j;
            if (fabs(w[j]) > abstol) at = 0;
        }
        for (int m = 0; m < r->nkinks && !L->bias; m++)
            if (r->kinks[m] != 0) at = 0;
        int sd = w[jmax] > 0 ? 1 + jmax : -(1 + jmax);
        k->atn[q] = (size_t)at;
        if (at && k->uside[q] != 0 && k->uside[q] != sd) {
            flips++;
            k->count[q]++;
        }
        k->uside[q] = sd;
    }
    return flips;
}

int dyn_kinks_check(dyn_kinks *k, const double *y, long *flips, mlpf_error *err) {
    (void)err;
    dyn_y_to_x(k->pb, y, k->x);
    memset(k->atn, 0, (size_t)k->nk * sizeof *k->atn);
    *flips = k->n ? check_samples(k) : check_units(k);
    return MLPF_OK;
}

int dyn_kinks_whole(dyn_kinks *k) {
    int whole = 0;
    for (int q = 0; q < k->nk; q++)
        if (k->atn[q] == (k->n ? k->n : 1)) {
            whole++;
            if (k->count[q] == 0) k->count[q] = 1;
        }
    return whole;
}

void dyn_kinks_name(const dyn_kinks *k, char *buf, size_t len) {
    if (!len) return;
    buf[0] = '\0';
    int *order = malloc((size_t)k->nk * sizeof *order), n = 0;
    for (int q = 0; q < k->nk; q++) {
        if (k->count[q] <= 0) continue;
        if (!order) break; /* out of memory: no names */
        int at = n++; /* insertion sort, most flips first */
        while (at > 0 && k->count[order[at - 1]] < k->count[q]) order[at] = order[at - 1], at--;
        order[at] = q;
    }
    size_t used = 0;
    for (int i = 0; i < n && used + 1 < len; i++) {
        int q = order[i];
        int m = k->n && k->atn[q] == k->n
                    ? snprintf(buf + used, len - used, "%sw%d[%d] (all samples)", used ? ", " : "",
                               k->layer[q] + 1, k->unit[q])
                : k->n ? snprintf(buf + used, len - used, "%sw%d[%d] (%ld flips)", used ? ", " : "",
                                  k->layer[q] + 1, k->unit[q], k->count[q])
                     : snprintf(buf + used, len - used, "%sw%d[%d]", used ? ", " : "",
                                k->layer[q] + 1, k->unit[q]);
        if (m < 0) break;
        used += (size_t)m < len - used ? (size_t)m : len - used - 1;
    }
    free(order);
}

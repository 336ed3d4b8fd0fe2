/* symmetry.c - the symmetries of a network's parameters: permutations of the
   units of a hidden layer, sign flips of odd units, positive rescaling of
   homogeneous ones. A canonical representative of each orbit, and the distance
   between two parameter vectors modulo these symmetries (layer by layer with an
   optimal assignment, the Hungarian algorithm).

   Unit i of hidden layer l owns row i of W_l (incoming weights, bias last) and
   column i of W_{l+1} (its outgoing weights); every symmetry acts on that pair. */
#include "analysis_sym.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Which symmetries a unit of activation a has, from the activation table: sign
   flips when it is odd, positive rescaling (w -> c w, a -> a / c) when it is
   positively homogeneous of degree 1 (relu, identity). */
int mlpf_unit_symmetry(const mlpf_activation *a) {
    mlpf_activation_info info;
    if (mlpf_activation_describe(a, &info, NULL)) return 0;
    int sym = 0;
    if (info.parity == MLPF_PARITY_ODD) sym |= MLPF_SYM_ODD;
    if (info.homogeneous && info.degree == 1) sym |= MLPF_SYM_HOMOGENEOUS;
    return sym;
}

/* ---- Hungarian algorithm (shortest augmenting paths with potentials) ---- */

/* Rows are added one at a time; for each, Dijkstra-like growth over columns with
   reduced costs c - u - v >= 0 finds the cheapest augmenting path, and the
   potentials are updated so that reduced costs stay non-negative. O(n^2 m).
   Arrays are 1-based with column 0 the virtual start. */
typedef struct {
    double *u, *v, *minv;
    size_t *row_of_col, *way;
    char *used;
} hung_work;

static void hung_add_row(const double *cost, size_t m, size_t i, hung_work *w) {
    for (size_t j = 0; j <= m; j++) {
        w->minv[j] = INFINITY;
        w->used[j] = 0;
    }
    w->row_of_col[0] = i;
    size_t j0 = 0;
    do {
        w->used[j0] = 1;
        size_t i0 = w->row_of_col[j0], j1 = 0;
        double delta = INFINITY;
        for (size_t j = 1; j <= m; j++) {
            if (w->used[j]) continue;
            double cur = cost[(i0 - 1) * m + (j - 1)] - w->u[i0] - w->v[j];
            if (cur < w->minv[j]) {
                w->minv[j] = cur;
                w->way[j] = j0;
            }
            if (w->minv[j] < delta) {
                delta = w->minv[j];
                j1 = j;
            }
        }
        for (size_t j = 0; j <= m; j++) {
            if (w->used[j]) {
                w->u[w->row_of_col[j]] += delta;
                w->v[j] -= delta;
            } else {
                w->minv[j] -= delta;
            }
        }
        j0 = j1;
    } while (w->row_of_col[j0] != 0);
    do {   /* flip the path back to the start */
        size_t j1 = w->way[j0];
        w->row_of_col[j0] = w->row_of_col[j1];
        j0 = j1;
    } while (j0);
}

int mlpf_hungarian(const double *cost, size_t n, size_t m, int *col_of_row, mlpf_error *err) {
    hung_work w;
    w.u = mlpf_calloc(n + 1, sizeof *w.u, err);
    w.v = mlpf_calloc(m + 1, sizeof *w.v, err);
    w.minv = mlpf_calloc(m + 1, sizeof *w.minv, err);
    w.row_of_col = mlpf_calloc(m + 1, sizeof *w.row_of_col, err);
    w.way = mlpf_calloc(m + 1, sizeof *w.way, err);
    w.used = mlpf_calloc(m + 1, 1, err);
    int st = w.u && w.v && w.minv && w.row_of_col && w.way && w.used ? MLPF_OK : MLPF_ENOMEM;
    if (!st) {
        for (size_t i = 1; i <= n; i++) hung_add_row(cost, m, i, &w);
        for (size_t j = 1; j <= m; j++)
            if (w.row_of_col[j]) col_of_row[w.row_of_col[j] - 1] = (int)(j - 1);
    }
    free(w.u);
    free(w.v);
    free(w.minv);
    free(w.row_of_col);
    free(w.way);
    free(w.used);
    return st;
}

int mlpf_assignment(const double *cost, size_t n, size_t m, int *assign, double *total,
                    mlpf_error *err) {
    mlpf_error_clear(err);
    if (!cost || !assign) return mlpf_fail(err, MLPF_EINVAL, "assignment: cost and assign must not be NULL");
    if (n == 0 || m == 0) return mlpf_fail(err, MLPF_EINVAL, "assignment: empty cost matrix (%zu x %zu)", n, m);
    if (n > (size_t)INT32_MAX || m > (size_t)INT32_MAX) return mlpf_fail(err, MLPF_EINVAL, "assignment: too large");
    size_t bad = mlpf_first_nonfinite(cost, n * m);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "assignment: cost[%zu, %zu] is not finite",
                              (bad - 1) / m, (bad - 1) % m);
    int st;
    if (n <= m) {
        st = mlpf_hungarian(cost, n, m, assign, err);
    } else {   /* more rows than columns: assign the columns, rows left over get -1 */
        double *ct = mlpf_malloc(n * m * sizeof *ct, err);
        int *row_of_col = mlpf_malloc(m * sizeof *row_of_col, err);
        st = ct && row_of_col ? MLPF_OK : MLPF_ENOMEM;
        if (!st) {
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < m; j++) ct[j * n + i] = cost[i * m + j];
            st = mlpf_hungarian(ct, m, n, row_of_col, err);
        }
        if (!st) {
            for (size_t i = 0; i < n; i++) assign[i] = -1;
            for (size_t j = 0; j < m; j++) assign[row_of_col[j]] = (int)j;
        }
        free(ct);
        free(row_of_col);
    }
    if (!st && total) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            if (assign[i] >= 0) s += cost[i * m + (size_t)assign[i]];
        *total = s;
    }
    return st;
}

/* ---- units in place ---- */

mlpf_unit_view mlpf_unit_at(const mlpf_net *net, double *x, int layer, int unit) {
    const mlpf_layer *L = &net->layers[layer], *N = &net->layers[layer + 1];
    mlpf_unit_view u;
    u.c = (size_t)(L->inputs + L->bias);
    u.row = x + L->offset + (size_t)unit * u.c;
    u.nout = (size_t)N->units;
    u.stride = (size_t)(N->inputs + N->bias);
    u.col = x + N->offset + (size_t)unit;
    return u;
}

void mlpf_unit_normalize_scale(mlpf_unit_view u) {
    double s = 0;
    for (size_t k = 0; k < u.c; k++) s += u.row[k] * u.row[k];
    s = sqrt(s);
    if (!(s > 0)) return;
    for (size_t k = 0; k < u.c; k++) u.row[k] /= s;
    for (size_t o = 0; o < u.nout; o++) u.col[o * u.stride] *= s;
}

void mlpf_unit_flip(mlpf_unit_view u) {
    for (size_t k = 0; k < u.c; k++) u.row[k] = -u.row[k];
    for (size_t o = 0; o < u.nout; o++) u.col[o * u.stride] = -u.col[o * u.stride];
}

/* Sign of an odd unit's canonical form: the first non-zero outgoing weight is
   positive; a unit with zero outgoing weights uses its first non-zero incoming
   weight instead. */
static int unit_sign(mlpf_unit_view u) {
    for (size_t o = 0; o < u.nout; o++)
        if (u.col[o * u.stride] != 0.0) return u.col[o * u.stride] > 0 ? 1 : -1;
    for (size_t k = 0; k < u.c; k++)
        if (u.row[k] != 0.0) return u.row[k] > 0 ? 1 : -1;
    return 1;
}

/* Scale then sign of every unit of hidden layer l (scale only when sign == 0). */
static void layer_fix_scale_sign(const mlpf_net *net, double *x, int l, int sign) {
    for (int i = 0; i < net->layers[l].units; i++) {
        int sym = mlpf_unit_symmetry(&net->layers[l].acts[i]);
        mlpf_unit_view u = mlpf_unit_at(net, x, l, i);
        if (sym & MLPF_SYM_HOMOGENEOUS) mlpf_unit_normalize_scale(u);
        if (sign && (sym & MLPF_SYM_ODD) && unit_sign(u) < 0) mlpf_unit_flip(u);
    }
}

/* Units may be exchanged only when their activations are the same function. */
static int act_equal(const mlpf_activation *A, const mlpf_activation *B) {
    if (A->kind != B->kind) return 0;
    if (A->kind != MLPF_ACT_POLY) return 1;
    return A->ncoef == B->ncoef && !memcmp(A->coef, B->coef, (size_t)A->ncoef * sizeof *A->coef);
}

/* Lexicographic order of units a, b of layer l: incoming row, then outgoing
   column. */
static int unit_cmp(const mlpf_net *net, double *x, int l, int a, int b) {
    mlpf_unit_view ua = mlpf_unit_at(net, x, l, a), ub = mlpf_unit_at(net, x, l, b);
    for (size_t k = 0; k < ua.c; k++)
        if (ua.row[k] != ub.row[k]) return ua.row[k] < ub.row[k] ? -1 : 1;
    for (size_t o = 0; o < ua.nout; o++)
        if (ua.col[o * ua.stride] != ub.col[o * ub.stride]) return ua.col[o * ua.stride] < ub.col[o * ub.stride] ? -1 : 1;
    return 0;
}

/* Reorder the units of hidden layer l: new unit k is old unit order[k]. Only
   units with equal activations are ever exchanged (the sort key and the
   matching cost put the activation first), so the net's activations stay
   valid. tmp holds (units, c) + (nout, units) doubles. */
static void layer_permute(const mlpf_net *net, double *x, int l, const int *order, double *tmp) {
    int n = net->layers[l].units;
    mlpf_unit_view u0 = mlpf_unit_at(net, x, l, 0);
    double *rows = tmp, *cols = tmp + (size_t)n * u0.c;
    for (int k = 0; k < n; k++) {
        mlpf_unit_view u = mlpf_unit_at(net, x, l, order[k]);
        memcpy(rows + (size_t)k * u.c, u.row, u.c * sizeof *rows);
        for (size_t o = 0; o < u.nout; o++) cols[o * (size_t)n + (size_t)k] = u.col[o * u.stride];
    }
    for (int k = 0; k < n; k++) {
        mlpf_unit_view u = mlpf_unit_at(net, x, l, k);
        memcpy(u.row, rows + (size_t)k * u.c, u.c * sizeof *rows);
        for (size_t o = 0; o < u.nout; o++) u.col[o * u.stride] = cols[o * (size_t)n + (size_t)k];
    }
}

static int check_net_x(const mlpf_net *net, const double *x, const char *fn, mlpf_error *err) {
    if (!net || !x) return mlpf_fail(err, MLPF_EINVAL, "%s: net and x must not be NULL", fn);
    int st = mlpf_net_validate(net, err);
    if (st) return mlpf_fail_prefix(err, st, "%s", fn);
    size_t bad = mlpf_first_nonfinite(x, net->nparams);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "%s: parameter x[%zu] is not finite", fn, bad - 1);
    return MLPF_OK;
}

/* Largest hidden layer's scratch: rows + columns of one layer. */
static size_t layer_scratch(const mlpf_net *net) {
    size_t s = 1;
    for (int l = 0; l + 1 < net->nlayers; l++) {
        size_t c = (size_t)(net->layers[l].inputs + net->layers[l].bias);
        size_t n = (size_t)net->layers[l].units;
        size_t need = n * c + n * (size_t)net->layers[l + 1].units;
        if (need > s) s = need;
    }
    return s;
}

static size_t total_hidden(const mlpf_net *net) {
    size_t t = 0;
    for (int l = 0; l + 1 < net->nlayers; l++) t += (size_t)net->layers[l].units;
    return t;
}

/* Sort the units of hidden layer l among the positions holding the same
   activation (per-unit activations stay where they are): a stable insertion
   sort in which a unit only moves past units of its own activation. */
static void layer_sort(const mlpf_net *net, double *x, int l, int *order, double *tmp) {
    const mlpf_activation *acts = net->layers[l].acts;
    int n = net->layers[l].units;
    for (int k = 0; k < n; k++) order[k] = k;
    for (int k = 1; k < n; k++) {
        int v = order[k], j = k;
        for (int i = k - 1; i >= 0; i--) {
            if (!act_equal(&acts[i], &acts[k])) continue;   /* position i keeps its unit */
            if (unit_cmp(net, x, l, order[i], v) <= 0) break;
            order[j] = order[i];
            j = i;
        }
        order[j] = v;
    }
    layer_permute(net, x, l, order, tmp);
}

int mlpf_canonicalize(const mlpf_net *net, const double *x, double *xc, int *perm, mlpf_error *err) {
    mlpf_error_clear(err);
    int st = check_net_x(net, x, "canonicalize", err);
    if (st) return st;
    if (!xc) return mlpf_fail(err, MLPF_EINVAL, "canonicalize: xc must not be NULL");
    size_t nh = total_hidden(net);
    double *tmp = mlpf_malloc(layer_scratch(net) * sizeof *tmp, err);
    int *order = mlpf_malloc((nh ? nh : 1) * sizeof *order, err);
    if (!tmp || !order) {
        free(tmp);
        free(order);
        return MLPF_ENOMEM;
    }
    if (xc != x) memcpy(xc, x, net->nparams * sizeof *xc);
    size_t off = 0;
    for (int l = 0; l + 1 < net->nlayers; l++) {
        layer_fix_scale_sign(net, xc, l, 1);
        layer_sort(net, xc, l, order + off, tmp);
        off += (size_t)net->layers[l].units;
    }
    if (perm) memcpy(perm, order, nh * sizeof *perm);
    free(tmp);
    free(order);
    return MLPF_OK;
}

/* ---- distance modulo symmetries ---- */

static double sq_diff(const double *a, size_t sa, const double *b, size_t sb, size_t n, double s) {
    double d = 0;
    for (size_t k = 0; k < n; k++) {
        double t = a[k * sa] - s * b[k * sb];
        d += t * t;
    }
    return d;
}

/* cost (n, n) and best sign (n, n) of matching x's unit i to y's unit j in
   layer l; the outgoing columns count only in the last hidden layer (the
   output units are never permuted; earlier layers' next units are not yet
   aligned). Units with different activations cannot match: their cost is
   made larger than any complete matching of compatible units. */
static void layer_costs(const mlpf_net *net, double *x, double *y, int l, double *cost, signed char *sgn) {
    int n = net->layers[l].units, last = l + 2 == net->nlayers;
    double maxc = 0;
    for (int i = 0; i < n; i++) {
        mlpf_unit_view ux = mlpf_unit_at(net, x, l, i);
        for (int j = 0; j < n; j++) {
            mlpf_unit_view uy = mlpf_unit_at(net, y, l, j);
            const mlpf_activation *ai = &net->layers[l].acts[i], *aj = &net->layers[l].acts[j];
            size_t ij = (size_t)i * (size_t)n + (size_t)j;
            if (!act_equal(ai, aj)) {
                cost[ij] = -1.0;
                continue;
            }
            double best = INFINITY;
            int nsign = mlpf_unit_symmetry(ai) & MLPF_SYM_ODD ? 2 : 1;
            for (int t = 0; t < nsign; t++) {
                double s = t ? -1.0 : 1.0;
                double c = sq_diff(ux.row, 1, uy.row, 1, ux.c, s);
                if (last) c += sq_diff(ux.col, ux.stride, uy.col, uy.stride, ux.nout, s);
                if (c < best) {
                    best = c;
                    sgn[ij] = (signed char)(t ? -1 : 1);
                }
            }
            cost[ij] = best;
            if (best > maxc) maxc = best;
        }
    }
    double forbid = (double)(n + 1) * (maxc + 1.0);
    for (size_t ij = 0; ij < (size_t)n * (size_t)n; ij++)
        if (cost[ij] < 0) cost[ij] = forbid;
}

/* Permute and flip x's units of layer l so that x's unit j is matched to y's
   unit j. */
static int layer_align(const mlpf_net *net, double *x, double *y, int l, double *cost,
                       signed char *sgn, int *col_of_row, int *order, double *tmp, mlpf_error *err) {
    int n = net->layers[l].units;
    layer_costs(net, x, y, l, cost, sgn);
    int st = mlpf_hungarian(cost, (size_t)n, (size_t)n, col_of_row, err);
    if (st) return st;
    for (int i = 0; i < n; i++) {
        order[col_of_row[i]] = i;
        if (sgn[(size_t)i * (size_t)n + (size_t)col_of_row[i]] < 0) mlpf_unit_flip(mlpf_unit_at(net, x, l, i));
    }
    layer_permute(net, x, l, order, tmp);
    return MLPF_OK;
}

int mlpf_symmetry_distance(const mlpf_net *net, const double *x, const double *y, double *dist,
                           double *x_aligned, double *y_scaled, mlpf_error *err) {
    mlpf_error_clear(err);
    int st = check_net_x(net, x, "symmetry_distance", err);
    if (st) return st;
    if (!y || !dist) return mlpf_fail(err, MLPF_EINVAL, "symmetry_distance: y and dist must not be NULL");
    size_t p = net->nparams, bad = mlpf_first_nonfinite(y, p);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "symmetry_distance: y[%zu] is not finite", bad - 1);
    size_t nmax = 1;
    for (int l = 0; l + 1 < net->nlayers; l++)
        if ((size_t)net->layers[l].units > nmax) nmax = (size_t)net->layers[l].units;
    double *xa = mlpf_malloc((2 * p + nmax * nmax + layer_scratch(net)) * sizeof *xa, err);
    signed char *sgn = mlpf_malloc(nmax * nmax, err);
    int *ibuf = mlpf_malloc(2 * nmax * sizeof *ibuf, err);
    if (!xa || !sgn || !ibuf) {
        free(xa);
        free(sgn);
        free(ibuf);
        return MLPF_ENOMEM;
    }
    double *ya = xa + p, *cost = ya + p, *tmp = cost + nmax * nmax;
    memcpy(xa, x, p * sizeof *xa);
    memcpy(ya, y, p * sizeof *ya);
    for (int l = 0; l + 1 < net->nlayers && !st; l++) {
        /* Homogeneous units are compared at |w| = 1: the positive rescaling
           has no minimiser of its own, so both points take that representative. */
        layer_fix_scale_sign(net, xa, l, 0);
        layer_fix_scale_sign(net, ya, l, 0);
        st = layer_align(net, xa, ya, l, cost, sgn, ibuf, ibuf + nmax, tmp, err);
    }
    if (!st) {
        double s = 0;
        for (size_t i = 0; i < p; i++) s += (xa[i] - ya[i]) * (xa[i] - ya[i]);
        *dist = sqrt(s);
        if (x_aligned) memcpy(x_aligned, xa, p * sizeof *xa);
        if (y_scaled) memcpy(y_scaled, ya, p * sizeof *ya);
    }
    free(xa);
    free(sgn);
    free(ibuf);
    return st;
}

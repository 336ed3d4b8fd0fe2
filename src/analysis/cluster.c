/* cluster.c - expand-and-cluster (Martinelli et al.): the hidden units of many
   trained wide students, reduced and clustered to recover the teacher's units.

   Per student: homogeneous units are rescaled to |w| = 1 (scale folded into the
   outgoing weights); units with the same incoming vector (cosine >= min_cosine,
   and for non-homogeneous units also the same norm within the matching
   tolerance; sign-aware for odd units) are merged by adding their outgoing
   weights, so duplicates add up and cancelling pairs sum to ~0; units whose
   outgoing weights are below min_output times the student's largest are
   dropped as negligible; units without input weights (|w_in| <= const_tol
   max(1, |b|), bias b) compute the constant a sigma(b), which is moved into
   the student's output offset. Across students: greedy leader clustering in student
   order; a unit joins the closest cluster (by cosine to its running mean) that
   has no unit of its student yet, or opens a new one. */
#include "analysis_sym.h"

#include <math.h>
#include <string.h>

typedef struct {
    size_t c, dout;       /* row length (inputs + bias), outputs */
    double cos_min, dist_tol;
} unit_geom;

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t k = 0; k < n; k++) s += a[k] * b[k];
    return s;
}

/* Do units (row a) and (row b) have the same incoming weights modulo symmetry?
   Returns 0 if not, else the sign (+1 / -1) that aligns b to a. */
static int same_unit(const unit_geom *g, const double *a, const double *b, int sym) {
    double na = sqrt(dot(a, a, g->c)), nb = sqrt(dot(b, b, g->c));
    if (!(na > 0) || !(nb > 0)) return 0;
    double cs = dot(a, b, g->c) / (na * nb);
    int s = (sym & MLPF_SYM_ODD) && cs < 0 ? -1 : 1;
    if (s * cs < g->cos_min) return 0;
    /* Same direction; for non-homogeneous units the norm matters too. */
    if (!(sym & MLPF_SYM_HOMOGENEOUS) && fabs(na - nb) > g->dist_tol * fmax(na, nb)) return 0;
    return s;
}

/* Units with (numerically) no input weights are constants a sigma(b): add them
   to offset (dout) and mark them dead. Needs a hidden bias (c = din + 1). */
static void fold_constants(const unit_geom *g, const mlpf_net *net, const double *rows,
                           const double *cols, int k, double const_tol, char *alive,
                           double *offset) {
    size_t din = (size_t)net->layers[0].inputs;
    if (!net->layers[0].bias) return;
    for (int i = 0; i < k; i++) {
        const double *r = rows + (size_t)i * g->c;
        double b = r[din];
        if (!alive[i] || sqrt(dot(r, r, din)) > const_tol * fmax(1.0, fabs(b))) continue;
        double f;
        mlpf_activation_eval(&net->layers[0].acts[i], b, &f, NULL, NULL);
        for (size_t o = 0; o < g->dout; o++) offset[o] += cols[(size_t)i * g->dout + o] * f;
        alive[i] = 0;
    }
}

/* Reduce one student's live units in place (rows (k, c), cols (k, dout) copied
   out); alive[i] becomes 0 for merged-away or negligible units. */
static void reduce_student(const unit_geom *g, double *rows, double *cols, const int *sym, int k,
                           double min_output, char *alive) {
    for (int i = 0; i < k; i++) {
        if (!alive[i]) continue;
        for (int j = i + 1; j < k; j++) {
            if (!alive[j] || sym[i] != sym[j]) continue;
            int s = same_unit(g, rows + (size_t)i * g->c, rows + (size_t)j * g->c, sym[i]);
            if (!s) continue;
            for (size_t o = 0; o < g->dout; o++) cols[(size_t)i * g->dout + o] += s * cols[(size_t)j * g->dout + o];
            alive[j] = 0;
        }
    }
    double big = 0;
    for (int i = 0; i < k; i++)
        if (alive[i]) big = fmax(big, sqrt(dot(cols + (size_t)i * g->dout, cols + (size_t)i * g->dout, g->dout)));
    for (int i = 0; i < k; i++)
        if (alive[i] && sqrt(dot(cols + (size_t)i * g->dout, cols + (size_t)i * g->dout, g->dout)) <= min_output * big)
            alive[i] = 0;
}

/* Running sums of a cluster's rows and columns (sign-aligned), and which
   student last joined (a student adds at most one unit). */
typedef struct {
    double *rsum, *csum;
    int count, last_student, sym;
} cluster;

/* The cluster closest to row (by cosine to its mean row) that student has not
   joined yet and that counts as the same unit; -1 if none. mean (c) scratch. */
static int nearest_cluster(const unit_geom *g, const cluster *cl, size_t ncl, const double *row,
                           int sym, int student, double *mean, int *sign) {
    int best = -1;
    double bestcos = -2;
    for (size_t q = 0; q < ncl; q++) {
        if (cl[q].last_student == student || cl[q].sym != sym) continue;
        for (size_t k = 0; k < g->c; k++) mean[k] = cl[q].rsum[k] / cl[q].count;
        int s = same_unit(g, mean, row, sym);
        if (!s) continue;
        double cs = s * dot(mean, row, g->c) / sqrt(dot(mean, mean, g->c) * dot(row, row, g->c));
        if (cs > bestcos) {
            bestcos = cs;
            best = (int)q;
            *sign = s;
        }
    }
    return best;
}

/* Copy student t's hidden units out: rows (k, c), cols (k, dout), homogeneous
   ones rescaled to |w| = 1. */
static void student_units(const mlpf_net *net, const double *x, const unit_geom *g, double *rows,
                          double *cols, int *sym) {
    int k = net->layers[0].units;
    for (int i = 0; i < k; i++) {
        mlpf_unit_view v = mlpf_unit_at(net, (double *)x, 0, i);
        double *r = rows + (size_t)i * g->c, *c = cols + (size_t)i * g->dout;
        memcpy(r, v.row, g->c * sizeof *r);
        for (size_t o = 0; o < g->dout; o++) c[o] = v.col[o * v.stride];
        sym[i] = mlpf_unit_symmetry(&net->layers[0].acts[i]);
        mlpf_unit_view w = {r, g->c, c, g->dout, 1};
        if (sym[i] & MLPF_SYM_HOMOGENEOUS) mlpf_unit_normalize_scale(w);
    }
}

void mlpf_cluster_options_default(mlpf_cluster_options *opt) {
    opt->min_cosine = 0.999;
    opt->min_output = 1e-3;
    opt->const_tol = 1e-8;
}

static int check_students(const mlpf_net *net, const double *xs, size_t nstudents,
                          const mlpf_cluster_options *o, mlpf_error *err) {
    if (!net || !xs) return mlpf_fail(err, MLPF_EINVAL, "expand_cluster: net and xs must not be NULL");
    int st = mlpf_net_validate(net, err);
    if (st) return mlpf_fail_prefix(err, st, "expand_cluster");
    if (net->nlayers != 2)
        return mlpf_fail(err, MLPF_EINVAL, "expand_cluster: the network has %d layers; clustering needs "
                         "one hidden layer and a readout", net->nlayers);
    if (nstudents == 0 || nstudents > (size_t)INT32_MAX / 2)
        return mlpf_fail(err, MLPF_EINVAL, "expand_cluster: nstudents = %zu must be >= 1", nstudents);
    size_t bad = mlpf_first_nonfinite(xs, nstudents * net->nparams);
    if (bad)
        return mlpf_fail(err, MLPF_ENONFINITE, "expand_cluster: student %zu, parameter %zu is not finite",
                         (bad - 1) / net->nparams, (bad - 1) % net->nparams);
    if (!(o->min_cosine > 0 && o->min_cosine <= 1))
        return mlpf_fail(err, MLPF_EINVAL, "expand_cluster: min_cosine = %g must be in (0, 1]", o->min_cosine);
    if (!(o->min_output >= 0 && o->min_output < 1))
        return mlpf_fail(err, MLPF_EINVAL, "expand_cluster: min_output = %g must be in [0, 1)", o->min_output);
    if (!(o->const_tol >= 0))
        return mlpf_fail(err, MLPF_EINVAL, "expand_cluster: const_tol = %g must be >= 0", o->const_tol);
    return MLPF_OK;
}

/* Put unit (row, col) of student t into a cluster; returns its index. */
static int place_unit(const unit_geom *g, cluster *cl, size_t *ncl, const double *row,
                      const double *col, int sym, int t, double *mean) {
    int s = 1, q = nearest_cluster(g, cl, *ncl, row, sym, t, mean, &s);
    if (q < 0) {
        q = (int)(*ncl)++;
        cl[q].count = 0;
        cl[q].sym = sym;
        memset(cl[q].rsum, 0, g->c * sizeof *cl[q].rsum);
        memset(cl[q].csum, 0, g->dout * sizeof *cl[q].csum);
    }
    for (size_t k = 0; k < g->c; k++) cl[q].rsum[k] += s * row[k];
    for (size_t o = 0; o < g->dout; o++) cl[q].csum[o] += s * col[o];
    cl[q].count++;
    cl[q].last_student = t;
    return q;
}

int mlpf_expand_cluster(const mlpf_net *net, const double *xs, size_t nstudents,
                        const mlpf_cluster_options *opt, int *labels, double *rows_out,
                        double *cols_out, int *counts, size_t *nclusters, double *offsets,
                        mlpf_error *err) {
    mlpf_error_clear(err);
    mlpf_cluster_options o;
    if (opt) o = *opt;
    else mlpf_cluster_options_default(&o);
    int st = check_students(net, xs, nstudents, &o, err);
    if (st) return st;
    if (!labels || !rows_out || !cols_out || !counts || !nclusters)
        return mlpf_fail(err, MLPF_EINVAL, "expand_cluster: output arrays must not be NULL");
    int k = net->layers[0].units;
    unit_geom g = {(size_t)(net->layers[0].inputs + net->layers[0].bias), (size_t)net->layers[1].units,
                   o.min_cosine, sqrt(2.0 * (1.0 - o.min_cosine))};
    size_t maxcl = nstudents * (size_t)k, per = g.c + g.dout;
    double *buf = mlpf_malloc(((size_t)k * per + g.c + g.dout) * sizeof *buf, err);
    int *sym = mlpf_malloc((size_t)k * sizeof *sym, err);
    char *alive = mlpf_malloc((size_t)k, err);
    cluster *cl = mlpf_malloc(maxcl * sizeof *cl, err);
    if (!buf || !sym || !alive || !cl) {
        free(buf), free(sym), free(alive), free(cl);
        return MLPF_ENOMEM;
    }
    double *rows = buf, *cols = buf + (size_t)k * g.c, *mean = cols + (size_t)k * g.dout;
    /* The caller's output arrays hold the running sums. */
    for (size_t q = 0; q < maxcl; q++) {
        cl[q].rsum = rows_out + q * g.c;
        cl[q].csum = cols_out + q * g.dout;
        cl[q].last_student = -1;
    }
    size_t ncl = 0;
    for (size_t t = 0; t < nstudents; t++) {
        student_units(net, xs + t * net->nparams, &g, rows, cols, sym);
        double *offset = offsets ? offsets + t * g.dout : mean + g.c;
        memset(offset, 0, g.dout * sizeof *offset);
        for (int i = 0; i < k; i++) alive[i] = 1;
        fold_constants(&g, net, rows, cols, k, o.const_tol, alive, offset);
        reduce_student(&g, rows, cols, sym, k, o.min_output, alive);
        for (int i = 0; i < k; i++)
            labels[t * (size_t)k + (size_t)i] = alive[i] ? place_unit(&g, cl, &ncl, rows + (size_t)i * g.c,
                                                                      cols + (size_t)i * g.dout, sym[i], (int)t, mean)
                                                         : -1;
    }
    /* Sums to means (merged-away and negligible units were labelled -1). */
    for (size_t q = 0; q < ncl; q++) {
        for (size_t j = 0; j < g.c; j++) cl[q].rsum[j] /= cl[q].count;
        for (size_t j = 0; j < g.dout; j++) cl[q].csum[j] /= cl[q].count;
        counts[q] = cl[q].count;
    }
    *nclusters = ncl;
    free(buf), free(sym), free(alive), free(cl);
    return MLPF_OK;
}

/* match.c - which teacher unit did each student unit learn? Cosines of the
   incoming weight vectors (sign-aware for odd activations), an optimal one-to-one
   assignment (Hungarian algorithm), and per-unit recovery errors. */
#include "analysis_sym.h"

#include <math.h>
#include <string.h>

static int check_one_hidden(const mlpf_net *net, const double *x, const char *what, mlpf_error *err) {
    if (!net || !x) return mlpf_fail(err, MLPF_EINVAL, "match_teacher: %s net and params must not be NULL", what);
    int st = mlpf_net_validate(net, err);
    if (st) return mlpf_fail_prefix(err, st, "match_teacher: %s", what);
    if (net->nlayers != 2)
        return mlpf_fail(err, MLPF_EINVAL, "match_teacher: the %s has %d layers; matching needs one "
                         "hidden layer and a readout", what, net->nlayers);
    size_t bad = mlpf_first_nonfinite(x, net->nparams);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "match_teacher: %s parameter [%zu] is not finite", what, bad - 1);
    return MLPF_OK;
}

/* Unit weights copied out: row (din + 1, bias 0 when absent), col (dout). */
typedef struct {
    double *row, *col;
    int sym;
} unit_copy;

static void copy_unit(const mlpf_net *net, const double *x, int i, int din, int dout, unit_copy *u) {
    mlpf_unit_view v = mlpf_unit_at(net, (double *)x, 0, i);
    memset(u->row, 0, (size_t)(din + 1) * sizeof *u->row);
    memcpy(u->row, v.row, v.c * sizeof *u->row);
    for (int o = 0; o < dout; o++) u->col[o] = v.col[(size_t)o * v.stride];
    u->sym = mlpf_unit_symmetry(&net->layers[0].acts[i]);
    mlpf_unit_view w = {u->row, (size_t)din + 1, u->col, (size_t)dout, 1};
    if (u->sym & MLPF_SYM_HOMOGENEOUS) mlpf_unit_normalize_scale(w);
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t k = 0; k < n; k++) s += a[k] * b[k];
    return s;
}

/* |s a - b| / |b| (|s a| when b = 0). */
static double rel_err(const double *a, double s, const double *b, size_t n) {
    double d = 0, nb = 0;
    for (size_t k = 0; k < n; k++) {
        d += (s * a[k] - b[k]) * (s * a[k] - b[k]);
        nb += b[k] * b[k];
    }
    return nb > 0 ? sqrt(d / nb) : sqrt(d);
}

/* Effective cosine of student unit s and teacher unit t: |cos| for odd student
   units (a flipped unit is the same unit), cos otherwise; *sign the flip. */
static double eff_cosine(const unit_copy *s, const unit_copy *t, size_t c, int *sign) {
    double ns = sqrt(dot(s->row, s->row, c)), nt = sqrt(dot(t->row, t->row, c));
    double cs = ns > 0 && nt > 0 ? dot(s->row, t->row, c) / (ns * nt) : 0.0;
    *sign = (s->sym & MLPF_SYM_ODD) && cs < 0 ? -1 : 1;
    return *sign * cs;
}

int mlpf_match_teacher(const mlpf_net *net, const double *x, const mlpf_net *teacher,
                       const double *xt, int *assign, double *cosine, double *err_in,
                       double *err_out, mlpf_error *err) {
    mlpf_error_clear(err);
    int st = check_one_hidden(net, x, "student", err);
    if (!st) st = check_one_hidden(teacher, xt, "teacher", err);
    if (st) return st;
    if (!assign || !cosine) return mlpf_fail(err, MLPF_EINVAL, "match_teacher: assign and cosine must not be NULL");
    int din = net->din, dout = net->layers[1].units;
    if (teacher->din != din || teacher->layers[1].units != dout)
        return mlpf_fail(err, MLPF_EINVAL, "match_teacher: student (din %d, dout %d) and teacher (din %d, "
                         "dout %d) differ", din, dout, teacher->din, teacher->layers[1].units);
    size_t n = (size_t)net->layers[0].units, k = (size_t)teacher->layers[0].units, c = (size_t)din + 1;
    size_t per = c + (size_t)dout;
    double *buf = mlpf_malloc(((n + k) * per + n * k) * sizeof *buf, err);
    int *sgn = mlpf_malloc(n * k * sizeof *sgn, err);
    unit_copy *u = mlpf_malloc((n + k) * sizeof *u, err);
    if (!buf || !sgn || !u) {
        free(buf);
        free(sgn);
        free(u);
        return MLPF_ENOMEM;
    }
    for (size_t i = 0; i < n + k; i++) {
        u[i].row = buf + i * per;
        u[i].col = u[i].row + c;
        if (i < n) copy_unit(net, x, (int)i, din, dout, &u[i]);
        else copy_unit(teacher, xt, (int)(i - n), din, dout, &u[i]);
    }
    double *cost = buf + (n + k) * per;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++) {
            cosine[i * k + j] = eff_cosine(&u[i], &u[n + j], c, &sgn[i * k + j]);
            cost[i * k + j] = 1.0 - cosine[i * k + j];
        }
    st = mlpf_assignment(cost, n, k, assign, NULL, err);
    for (size_t i = 0; i < n && !st; i++) {
        int j = assign[i];
        double e_in = NAN, e_out = NAN;
        if (j >= 0) {
            const unit_copy *t = &u[n + (size_t)j];
            double s = sgn[i * k + (size_t)j];
            e_in = rel_err(u[i].row, s, t->row, c);
            e_out = rel_err(u[i].col, s, t->col, (size_t)dout);
        }
        if (err_in) err_in[i] = e_in;
        if (err_out) err_out[i] = e_out;
    }
    free(buf);
    free(sgn);
    free(u);
    return st;
}

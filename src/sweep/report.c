/* report.c - `mlpflow sweep-report`: per group of axis values, the number of
   runs, done / failed / pending, the fraction of each outcome and quantiles
   of the final loss over the done runs. Reads the database read-only, so it
   works while a sweep writes. */
#include "sweep/sweep.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* one word per run: the classification kind when there is one, else
   converged / the minimiser's stop reason; failed and pending runs as such */
#define LABEL_SQL                                                                   \
    "CASE WHEN status = 'failed' THEN 'failed' WHEN status = 'pending' THEN 'pending'" \
    " WHEN kind IS NOT NULL THEN kind WHEN converged THEN 'converged'"              \
    " ELSE optim_stopped_by END"

#define MAXLABELS 32
#define MAXBY 16

typedef struct {
    sqlite3 *db;
    const char *path;
    FILE *out;
    char *by[MAXBY];
    int nby;
    char label[MAXLABELS][64];
    int nlabels;
    /* the group being summed */
    char *key[MAXBY];
    size_t runs, count[MAXLABELS];
    double *loss;
    size_t nloss, cap;
} report;

/* the quantile q of sorted v (n > 0), linear between order statistics */
static double quantile(const double *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

static int split_by(report *r, const char *by, mlpf_error *err) {
    if (!by || !*by) return MLPF_OK;
    const char *p = by;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (r->nby == MAXBY) return mlpf_fail(err, MLPF_EINVAL, "--by: more than %d columns", MAXBY);
        if (!n || memchr(p, '"', n)) return mlpf_fail(err, MLPF_EINVAL, "--by: bad column list "
                                                      "\"%s\"", by);
        r->by[r->nby] = strndup(p, n);
        if (!r->by[r->nby++]) return mlpf_fail(err, MLPF_ENOMEM, "out of memory");
        p += n + (comma ? 1 : 0);
    }
    return MLPF_OK;
}

/* every --by name must be a column of runs */
static int check_columns(report *r, mlpf_error *err) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(r->db, "SELECT * FROM runs LIMIT 0", -1, &q, NULL))
        return mlpf_fail(err, MLPF_EFORMAT, "%s: not a sweep database: %s", r->path,
                         sqlite3_errmsg(r->db));
    int rc = MLPF_OK, ncol = sqlite3_column_count(q);
    for (int b = 0; b < r->nby && !rc; b++) {
        int found = 0;
        for (int c = 0; c < ncol && !found; c++) found = !strcmp(sqlite3_column_name(q, c), r->by[b]);
        if (!found) {
            char cols[400] = "";
            size_t n = 0;
            for (int c = 1; c < ncol && strcmp(sqlite3_column_name(q, c), "status"); c++)
                n += (size_t)snprintf(cols + n, n < sizeof cols ? sizeof cols - n : 0, "%s%s",
                                      c > 1 ? ", " : "", sqlite3_column_name(q, c));
            rc = mlpf_fail(err, MLPF_EINVAL, "--by: \"%s\" is not a column of %s (axes: %s)",
                           r->by[b], r->path, cols);
        }
    }
    sqlite3_finalize(q);
    return rc;
}

static int collect_labels(report *r, mlpf_error *err) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(r->db, "SELECT DISTINCT " LABEL_SQL " AS l FROM runs ORDER BY l", -1,
                           &q, NULL))
        return mlpf_fail(err, MLPF_EIO, "%s: %s", r->path, sqlite3_errmsg(r->db));
    while (sqlite3_step(q) == SQLITE_ROW && r->nlabels < MAXLABELS) {
        const char *l = (const char *)sqlite3_column_text(q, 0);
        snprintf(r->label[r->nlabels++], sizeof r->label[0], "%s", l ? l : "?");
    }
    sqlite3_finalize(q);
    return MLPF_OK;
}

static int label_width(const report *r, int l) {
    int n = (int)strlen(r->label[l]);
    return n > 9 ? n : 9;
}

static void print_header(report *r) {
    for (int b = 0; b < r->nby; b++) fprintf(r->out, "%-14s ", r->by[b]);
    fprintf(r->out, "%7s", "runs");
    for (int l = 0; l < r->nlabels; l++) fprintf(r->out, " %*s", label_width(r, l), r->label[l]);
    fprintf(r->out, " %10s %10s %10s %10s %10s\n", "loss_min", "loss_q25", "loss_med",
            "loss_q75", "loss_max");
}

static void print_group(report *r) {
    if (!r->runs) return;
    for (int b = 0; b < r->nby; b++) fprintf(r->out, "%-14s ", r->key[b] ? r->key[b] : "NULL");
    fprintf(r->out, "%7zu", r->runs);
    for (int l = 0; l < r->nlabels; l++)
        fprintf(r->out, " %*.3f", label_width(r, l), (double)r->count[l] / (double)r->runs);
    if (r->nloss) {
        const double qs[5] = {0, 0.25, 0.5, 0.75, 1};
        for (int k = 0; k < 5; k++) fprintf(r->out, " %10.3g", quantile(r->loss, r->nloss, qs[k]));
    } else {
        for (int k = 0; k < 5; k++) fprintf(r->out, " %10s", "-");
    }
    fputc('\n', r->out);
}

static int same_group(report *r, sqlite3_stmt *q) {
    for (int b = 0; b < r->nby; b++) {
        const char *t = (const char *)sqlite3_column_text(q, b);
        if (!t != !r->key[b] || (t && strcmp(t, r->key[b]))) return 0;
    }
    return 1;
}

static int start_group(report *r, sqlite3_stmt *q, mlpf_error *err) {
    for (int b = 0; b < r->nby; b++) {
        free(r->key[b]);
        const char *t = (const char *)sqlite3_column_text(q, b);
        r->key[b] = t ? strdup(t) : NULL;
        if (t && !r->key[b]) return mlpf_fail(err, MLPF_ENOMEM, "out of memory");
    }
    r->runs = r->nloss = 0;
    memset(r->count, 0, sizeof r->count);
    return MLPF_OK;
}

static int add_row(report *r, sqlite3_stmt *q, mlpf_error *err) {
    const char *l = (const char *)sqlite3_column_text(q, r->nby);
    r->runs++;
    for (int k = 0; k < r->nlabels; k++)
        if (!strcmp(r->label[k], l ? l : "?")) r->count[k]++;
    if (sqlite3_column_type(q, r->nby + 1) == SQLITE_NULL) return MLPF_OK;
    if (r->nloss == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        double *v = realloc(r->loss, r->cap * sizeof *v);
        if (!v) return mlpf_fail(err, MLPF_ENOMEM, "out of memory");
        r->loss = v;
    }
    r->loss[r->nloss++] = sqlite3_column_double(q, r->nby + 1);
    return MLPF_OK;
}

static int print_groups(report *r, mlpf_error *err) {
    size_t cap = 512;
    for (int b = 0; b < r->nby; b++) cap += 2 * strlen(r->by[b]) + 8;
    char *sql = mlpf_malloc(cap, err), *order = mlpf_malloc(cap, err);
    if (!sql || !order) {
        free(sql);
        free(order);
        return MLPF_ENOMEM;
    }
    size_t n = 0, m = 0;
    order[0] = '\0';
    n += (size_t)snprintf(sql + n, cap - n, "SELECT ");
    for (int b = 0; b < r->nby; b++) {
        n += (size_t)snprintf(sql + n, cap - n, "\"%s\", ", r->by[b]);
        m += (size_t)snprintf(order + m, cap - m, "\"%s\", ", r->by[b]);
    }
    snprintf(sql + n, cap - n, LABEL_SQL ", CASE WHEN status = 'done' THEN loss END AS l "
             "FROM runs ORDER BY %s l", order);
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &q, NULL)
                 ? mlpf_fail(err, MLPF_EIO, "%s: %s", r->path, sqlite3_errmsg(r->db)) : MLPF_OK;
    free(sql);
    free(order);
    int first = 1, step;
    while (!rc && (step = sqlite3_step(q)) == SQLITE_ROW) {
        if (first || !same_group(r, q)) {
            if (!first) print_group(r);
            rc = start_group(r, q, err);
            first = 0;
        }
        if (!rc) rc = add_row(r, q, err);
    }
    if (!rc && step != SQLITE_DONE) rc = mlpf_fail(err, MLPF_EIO, "%s: %s", r->path,
                                                   sqlite3_errmsg(r->db));
    if (!rc) print_group(r);
    sqlite3_finalize(q);
    return rc;
}

int mlpf_sweep_report(const char *db, const char *by, FILE *out, mlpf_error *err) {
    mlpf_error local;
    if (!err) err = &local;
    report r = {.path = db, .out = out};
    int rc = split_by(&r, by, err);
    if (!rc && sqlite3_open_v2(db, &r.db, SQLITE_OPEN_READONLY, NULL))
        rc = mlpf_fail(err, MLPF_EIO, "%s: cannot open: %s", db,
                       r.db ? sqlite3_errmsg(r.db) : "out of memory");
    if (!rc) {
        sqlite3_busy_timeout(r.db, 60000);
        rc = check_columns(&r, err);
    }
    if (!rc) rc = collect_labels(&r, err);
    if (!rc) {
        fprintf(out, "%s: fraction of runs per outcome; loss quantiles over done runs\n", db);
        print_header(&r);
        rc = print_groups(&r, err);
    }
    for (int b = 0; b < r.nby; b++) {
        free(r.by[b]);
        free(r.key[b]);
    }
    free(r.loss);
    sqlite3_close(r.db);
    return rc;
}

/* sweep_spec.c - the sweep file: a base problem spec and axes (dotted paths
   into the spec with lists of values or integer ranges); the product of the
   axes is the set of runs. Run i's spec is the base with each axis value set
   at its path; its id is a hash of its axis values, so that a run keeps its id
   when other axes gain values (--extend). */
#include "sweep/sweep.h"

#include "io/io.h"   /* mlpf_read_file */

#include <math.h>
#include <string.h>

#define MAX_RUNS 100000000.0    /* a product beyond this is surely a typo */

/* ---- dotted paths ---- */

/* Set value at the dotted path in root (copied). Missing object keys are
   created; list indices must exist. where prefixes messages. */
static int set_path(cJSON *root, const char *path, const cJSON *value, const char *where,
                    mlpf_error *err) {
    char buf[256];
    if (strlen(path) >= sizeof buf) return mlpf_fail(err, MLPF_EINVAL, "%s: path too long", where);
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *node = root;
    char *save = NULL;
    char *part = strtok_r(buf, ".", &save);
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        cJSON *child;
        if (cJSON_IsArray(node)) {
            char *end;
            long k = strtol(part, &end, 10);
            int n = cJSON_GetArraySize(node);
            if (*end || end == part || k < 0 || k >= n)
                return mlpf_fail(err, MLPF_EINVAL, "%s: \"%s\" is not an index of a list of %d "
                                 "items", where, part, n);
            child = cJSON_GetArrayItem(node, (int)k);
            if (!next) {
                cJSON *copy = cJSON_Duplicate(value, 1);
                if (!copy || !cJSON_ReplaceItemInArray(node, (int)k, copy)) {
                    cJSON_Delete(copy);
                    return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", where);
                }
                return MLPF_OK;
            }
        } else if (cJSON_IsObject(node)) {
            child = cJSON_GetObjectItemCaseSensitive(node, part);
            if (!next) {
                cJSON *copy = cJSON_Duplicate(value, 1);
                int ok = copy && (child ? cJSON_ReplaceItemInObjectCaseSensitive(node, part, copy)
                                        : cJSON_AddItemToObject(node, part, copy));
                if (!ok) {
                    cJSON_Delete(copy);
                    return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", where);
                }
                return MLPF_OK;
            }
            if (!child) child = cJSON_AddObjectToObject(node, part);
            if (!child) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", where);
        } else {
            return mlpf_fail(err, MLPF_EINVAL, "%s: \"%s\" goes into a value that is neither "
                             "an object nor a list", where, part);
        }
        node = child;
        part = next;
    }
    return mlpf_fail(err, MLPF_EINVAL, "%s: empty path", where);
}

/* ---- axes ---- */

/* {"range": [a, b]} or {"range": [a, b, step]}: the integers a, a+step, ..., <= b. */
static cJSON *expand_range(const cJSON *r, const char *where, mlpf_error *err) {
    int n = cJSON_GetArraySize(r);
    double v[3] = {0, 0, 1};
    if (!cJSON_IsArray(r) || n < 2 || n > 3) {
        mlpf_fail(err, MLPF_EINVAL, "%s: \"range\" needs [first, last] or [first, last, step]",
                  where);
        return NULL;
    }
    for (int k = 0; k < n; k++) {
        const cJSON *e = cJSON_GetArrayItem(r, k);
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
            fabs(e->valuedouble) > 9007199254740992.0) {
            mlpf_fail(err, MLPF_EINVAL, "%s: range item %d is not an integer", where, k);
            return NULL;
        }
        v[k] = e->valuedouble;
    }
    if (v[2] < 1 || v[1] < v[0] || (v[1] - v[0]) / v[2] + 1 > MAX_RUNS) {
        mlpf_fail(err, MLPF_EINVAL, "%s: range [%.17g, %.17g] step %.17g is empty or too long "
                  "(first <= last, step >= 1)", where, v[0], v[1], v[2]);
        return NULL;
    }
    cJSON *a = cJSON_CreateArray();
    for (double x = v[0]; a && x <= v[1]; x += v[2]) {
        cJSON *e = cJSON_CreateNumber(x);
        if (!e || !cJSON_AddItemToArray(a, e)) {
            cJSON_Delete(e);
            cJSON_Delete(a);
            a = NULL;
        }
    }
    if (!a) mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", where);
    return a;
}

typedef struct {
    char *text;
    size_t j;
} printed;

static int cmp_printed(const void *a, const void *b) {
    const printed *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : (x->j > y->j) - (x->j < y->j);
}

/* Values equal as JSON text give equal run ids: refuse them (n log n). */
static int check_distinct(const mlpf_sweep_axis *ax, const char *where, mlpf_error *err) {
    printed *v = mlpf_calloc(ax->n, sizeof *v, err);
    if (!v) return MLPF_ENOMEM;
    int rc = MLPF_OK;
    for (size_t j = 0; j < ax->n && !rc; j++) {
        v[j].text = cJSON_PrintUnformatted(ax->item[j]);
        v[j].j = j;
        if (!v[j].text) rc = mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", where);
    }
    if (!rc) qsort(v, ax->n, sizeof *v, cmp_printed);
    for (size_t j = 1; j < ax->n && !rc; j++)
        if (!strcmp(v[j - 1].text, v[j].text))
            rc = mlpf_fail(err, MLPF_EINVAL, "%s: values %zu and %zu are equal", where,
                           v[j - 1].j, v[j].j);
    for (size_t j = 0; j < ax->n; j++) free(v[j].text);
    free(v);
    return rc;
}

/* Columns the store writes for every run: an axis may not take their names. */
static const char *const RESULT_COLUMNS[] = {
    "run_id", "status", "error", "loss", "ode_loss", "gnorm", "gnorm_regularized", "converged",
    "ode_stopped_by", "optim_stopped_by", "alg", "optim_solver", "ode_iterations",
    "optim_iterations", "ode_time_run", "optim_time_run", "ode_wall_time", "total_time",
    "setup_time", "nparams", "kind", "saddle_index", "n_channels", "finished_at", NULL};

static int parse_axis(const mlpf_sweep *s, const cJSON *a, mlpf_sweep_axis *ax, mlpf_error *err) {
    char where[320];
    snprintf(where, sizeof where, "%s: axes.%s", s->name, a->string);
    for (int k = 0; RESULT_COLUMNS[k]; k++)
        if (!strcmp(a->string, RESULT_COLUMNS[k]))
            return mlpf_fail(err, MLPF_EINVAL, "%s: the name is a result column of the database",
                             where);
    if (!a->string[0] || strchr(a->string, '"'))
        return mlpf_fail(err, MLPF_EINVAL, "%s: not a dotted path", where);
    ax->path = strdup(a->string);
    ax->target = strdup(strcmp(a->string, "seed") ? a->string : "train.seed");
    if (!ax->path || !ax->target) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", where);
    const cJSON *range = cJSON_GetObjectItemCaseSensitive(a, "range");
    if (cJSON_IsObject(a) && range && cJSON_GetArraySize(a) == 1)
        ax->values = expand_range(range, where, err);
    else if (cJSON_IsArray(a))
        ax->values = cJSON_Duplicate(a, 1);
    else
        return mlpf_fail(err, MLPF_EINVAL, "%s: need a list of values or {\"range\": [first, "
                         "last]}", where);
    if (!ax->values) return err && err->status ? err->status : MLPF_ENOMEM;
    ax->n = (size_t)cJSON_GetArraySize(ax->values);
    if (!ax->n) return mlpf_fail(err, MLPF_EINVAL, "%s: no values", where);
    ax->item = mlpf_calloc(ax->n, sizeof *ax->item, err);
    if (!ax->item) return MLPF_ENOMEM;
    size_t j = 0;
    for (cJSON *v = ax->values->child; v; v = v->next) ax->item[j++] = v;
    if (!range && check_distinct(ax, where, err)) return err->status;
    /* the path must lead somewhere in the base spec: try the first value */
    cJSON *probe = cJSON_Duplicate(s->base, 1);
    if (!probe) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", where);
    int st = set_path(probe, ax->target, cJSON_GetArrayItem(ax->values, 0), where, err);
    cJSON_Delete(probe);
    return st;
}

static int parse_root(mlpf_sweep *s, const cJSON *root, mlpf_error *err) {
    if (!cJSON_IsObject(root))
        return mlpf_fail(err, MLPF_EINVAL, "%s: need an object {\"base\": {...}, \"axes\": "
                         "{...}}", s->name);
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "base") && strcmp(e->string, "axes"))
            return mlpf_fail(err, MLPF_EINVAL, "%s: %s: unknown field (known: base, axes)",
                             s->name, e->string);
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(root, "base");
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(root, "axes");
    if (!cJSON_IsObject(base))
        return mlpf_fail(err, MLPF_EINVAL, "%s: base: need the problem spec object", s->name);
    if (!cJSON_IsObject(axes) || !axes->child)
        return mlpf_fail(err, MLPF_EINVAL, "%s: axes: need an object {path: [values], ...}",
                         s->name);
    s->base = cJSON_Duplicate(base, 1);
    s->naxes = (size_t)cJSON_GetArraySize(axes);
    s->axes = mlpf_calloc(s->naxes, sizeof *s->axes, err);
    if (!s->base || !s->axes) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", s->name);
    double nruns = 1;
    size_t k = 0;
    for (const cJSON *a = axes->child; a; a = a->next, k++) {
        for (const cJSON *b = axes->child; b != a; b = b->next)
            if (!strcmp(a->string, b->string))
                return mlpf_fail(err, MLPF_EINVAL, "%s: axes.%s: given twice", s->name,
                                 a->string);
        int st = parse_axis(s, a, &s->axes[k], err);
        if (st) return st;
        nruns *= (double)s->axes[k].n;
    }
    if (nruns > MAX_RUNS)
        return mlpf_fail(err, MLPF_EINVAL, "%s: axes: %.0f runs (at most %.0f)", s->name, nruns,
                         MAX_RUNS);
    s->nruns = (size_t)nruns;
    return MLPF_OK;
}

mlpf_sweep *mlpf_sweep_parse(const char *text, const char *name, const char *dir,
                             mlpf_error *err) {
    mlpf_error local;
    if (!err) err = &local;
    if (!text || !name) {
        mlpf_fail(err, MLPF_EINVAL, "mlpf_sweep_parse: NULL argument");
        return NULL;
    }
    mlpf_sweep *s = mlpf_calloc(1, sizeof *s, err);
    if (!s) return NULL;
    s->name = strdup(name);
    s->dir = strdup(dir ? dir : "");
    if (!s->name || !s->dir) {
        mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", name);
        mlpf_sweep_free(s);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    int st = root ? parse_root(s, root, err)
                  : mlpf_fail(err, MLPF_EFORMAT, "%s: malformed JSON at byte %ld", name,
                              end ? (long)(end - text) : 0L);
    cJSON_Delete(root);
    if (st) {
        mlpf_sweep_free(s);
        return NULL;
    }
    return s;
}

mlpf_sweep *mlpf_sweep_load(const char *path, mlpf_error *err) {
    mlpf_error local;
    if (!err) err = &local;
    if (!path) {
        mlpf_fail(err, MLPF_EINVAL, "mlpf_sweep_load: NULL path");
        return NULL;
    }
    char *text = NULL;
    size_t len;
    if (mlpf_read_file(path, &text, &len, err)) return NULL;
    /* the folder of the sweep file: "" for a bare name */
    char *dir = strdup(path);
    if (!dir) {
        free(text);
        mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else dir[0] = '\0';
    mlpf_sweep *s = mlpf_sweep_parse(text, path, dir, err);
    free(text);
    free(dir);
    return s;
}

void mlpf_sweep_free(mlpf_sweep *s) {
    if (!s) return;
    for (size_t k = 0; s->axes && k < s->naxes; k++) {
        free(s->axes[k].path);
        free(s->axes[k].target);
        free(s->axes[k].item);
        cJSON_Delete(s->axes[k].values);
    }
    free(s->axes);
    cJSON_Delete(s->base);
    free(s->name);
    free(s->dir);
    free(s);
}

size_t mlpf_sweep_nruns(const mlpf_sweep *s) { return s ? s->nruns : 0; }

void mlpf_sweep_coords(const mlpf_sweep *s, size_t i, size_t *coord) {
    for (size_t k = s->naxes; k-- > 0;) {
        coord[k] = i % s->axes[k].n;
        i /= s->axes[k].n;
    }
}

/* ---- run ids and specs ---- */

static uint64_t fnv1a(uint64_t h, const char *text, size_t len) {
    for (size_t k = 0; k < len; k++) {
        h ^= (unsigned char)text[k];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int mlpf_sweep_run_id(const mlpf_sweep *s, size_t i, char id[MLPF_RUN_ID_LEN], mlpf_error *err) {
    if (!s || !id || i >= s->nruns)
        return mlpf_fail(err, MLPF_EINVAL, "mlpf_sweep_run_id: no run %zu", i);
    size_t coord[64];
    if (s->naxes > 64) return mlpf_fail(err, MLPF_EINVAL, "%s: more than 64 axes", s->name);
    mlpf_sweep_coords(s, i, coord);
    /* axes in path order, so the file's order of the axes does not matter:
       hash "path\0value\0" for each */
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *last = "";
    for (size_t done = 0; done < s->naxes; done++) {
        size_t best = s->naxes;
        for (size_t k = 0; k < s->naxes; k++)
            if (strcmp(s->axes[k].path, last) > 0 &&
                (best == s->naxes || strcmp(s->axes[k].path, s->axes[best].path) < 0))
                best = k;
        char *v = cJSON_PrintUnformatted(mlpf_sweep_value(s, best, coord[best]));
        if (!v) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", s->name);
        h = fnv1a(h, s->axes[best].path, strlen(s->axes[best].path) + 1);
        h = fnv1a(h, v, strlen(v) + 1);
        free(v);
        last = s->axes[best].path;
    }
    snprintf(id, MLPF_RUN_ID_LEN, "%016llx", (unsigned long long)h);
    return MLPF_OK;
}

char *mlpf_sweep_run_spec(const mlpf_sweep *s, size_t i, mlpf_error *err) {
    if (!s || i >= s->nruns) {
        mlpf_fail(err, MLPF_EINVAL, "mlpf_sweep_run_spec: no run %zu", i);
        return NULL;
    }
    size_t coord[64];
    if (s->naxes > 64) {
        mlpf_fail(err, MLPF_EINVAL, "%s: more than 64 axes", s->name);
        return NULL;
    }
    mlpf_sweep_coords(s, i, coord);
    cJSON *spec = cJSON_Duplicate(s->base, 1);
    if (!spec) {
        mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", s->name);
        return NULL;
    }
    for (size_t k = 0; k < s->naxes; k++) {
        char where[320];
        snprintf(where, sizeof where, "%s: axes.%s", s->name, s->axes[k].path);
        if (set_path(spec, s->axes[k].target, mlpf_sweep_value(s, k, coord[k]), where, err)) {
            cJSON_Delete(spec);
            return NULL;
        }
    }
    char *text = mlpf_json_print(spec, 0);
    cJSON_Delete(spec);
    if (!text) mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", s->name);
    return text;
}

char *mlpf_sweep_base_text(const mlpf_sweep *s, mlpf_error *err) {
    char *t = cJSON_PrintUnformatted(s->base);
    if (!t) mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", s->name);
    return t;
}

char *mlpf_sweep_axes_text(const mlpf_sweep *s, mlpf_error *err) {
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    for (size_t k = 0; ok && k < s->naxes; k++) {
        cJSON *v = cJSON_Duplicate(s->axes[k].values, 1);
        ok = v && cJSON_AddItemToObject(o, s->axes[k].path, v);
        if (!ok) cJSON_Delete(v);
    }
    char *t = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!t) mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", s->name);
    return t;
}

/* problem.c - the problem JSON: a network, its data (files, or a teacher with
   Gaussian inputs), the loss and the train options, checked field by field and
   turned into an objective. Every message starts with the spec's file name and
   names the field, e.g.  S.json: layers[1][1]: unknown activation "sigmod". */
#include "problem/problem.h"
#include "spec/data.h"

#include <math.h>
#include <string.h>

typedef struct {
    const char *name;   /* the problem file's name, first word of every message */
    const char *dir;    /* relative paths start here ("" = cwd) */
    mlpf_error *err;
} problem_ctx;

static int sfail(const problem_ctx *c, int status, const char *fmt, ...) MLPF_PRINTF(3, 4);
static int sfail(const problem_ctx *c, int status, const char *fmt, ...) {
    char msg[MLPF_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mlpf_fail(c->err, status, "%s: %s", c->name, msg);
}

/* Keep the library's message, put the spec's name and the field in front. */
static int sprefix(const problem_ctx *c, int status, const char *field) {
    char old[MLPF_ERRMSG_LEN];
    snprintf(old, sizeof old, "%s", c->err->msg);
    if (field && *field) return mlpf_fail(c->err, status, "%s: %s: %s", c->name, field, old);
    return mlpf_fail(c->err, status, "%s: %s", c->name, old);
}

static char *resolve(const problem_ctx *c, const char *path) {
    size_t n = strlen(c->dir) + strlen(path) + 2;
    char *full = mlpf_malloc(n, c->err);
    if (!full) return NULL;
    if (path[0] == '/' || !c->dir[0])
        snprintf(full, n, "%s", path);
    else
        snprintf(full, n, "%s/%s", c->dir, path);
    return full;
}

static void shape_str(char *buf, size_t cap, const size_t shape[2], int ndim) {
    if (ndim == 0) snprintf(buf, cap, "()");
    else if (ndim == 1) snprintf(buf, cap, "(%zu,)", shape[0]);
    else snprintf(buf, cap, "(%zu, %zu)", shape[0], shape[1]);
}

/* A data array named by a spec field: read, described, checked for NaN / Inf. */
typedef struct {
    char *path;         /* resolved */
    double *v;
    size_t shape[2];
    int ndim;
    char desc[300];     /* "X.npy (shape (100, 2))" */
} array_in;

static void array_free(array_in *a) {
    free(a->path);
    free(a->v);
    memset(a, 0, sizeof *a);
}

static size_t rows_of(const array_in *a) { return a->ndim == 0 ? 1 : a->shape[0]; }
static size_t cols_of(const array_in *a) { return a->ndim == 2 ? a->shape[1] : 1; }

static int read_field_array(const problem_ctx *c, const cJSON *root, const char *field, array_in *a) {
    memset(a, 0, sizeof *a);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return sfail(c, MLPF_EINVAL, "%s: need a file name (.npy or .csv)", field);
    a->path = resolve(c, v->valuestring);
    if (!a->path) return sprefix(c, MLPF_ENOMEM, field);
    int st = mlpf_read_array(a->path, &a->v, a->shape, &a->ndim, c->err);
    if (st) return sprefix(c, st, field);
    char s[64];
    shape_str(s, sizeof s, a->shape, a->ndim);
    snprintf(a->desc, sizeof a->desc, "%s (shape %s)", a->path, s);
    if (a->ndim == 0)
        return sfail(c, MLPF_EINVAL, "%s: %s is a scalar, need one row per sample", field, a->desc);
    if (rows_of(a) == 0 || cols_of(a) == 0)
        return sfail(c, MLPF_EINVAL, "%s: %s is empty: no samples", field, a->desc);
    st = mlpf_data_check_finite(a->path, a->v, rows_of(a), cols_of(a), c->err);
    return st ? sprefix(c, st, field) : MLPF_OK;
}

/* ---- layers ---- */

static int parse_act(const problem_ctx *c, const cJSON *v, const char *where, mlpf_activation *out) {
    if (cJSON_IsString(v)) {
        if (!strcmp(v->valuestring, "poly"))
            return sfail(c, MLPF_EINVAL, "%s: \"poly\" needs coefficients: {\"poly\": [c0, c1, ...]}",
                         where);
        mlpf_error e2;
        if (mlpf_activation_parse(v->valuestring, out, &e2))
            return sfail(c, MLPF_EINVAL, "%s: unknown activation \"%s\"", where, v->valuestring);
        return MLPF_OK;
    }
    if (cJSON_IsObject(v)) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(v, "poly");
        if (!cJSON_IsArray(p) || cJSON_GetArraySize(v) != 1)
            return sfail(c, MLPF_EINVAL, "%s: an activation object must be {\"poly\": [c0, c1, ...]}",
                         where);
        int n = cJSON_GetArraySize(p);
        if (n < 1 || n > MLPF_POLY_MAXCOEF)
            return sfail(c, MLPF_EINVAL, "%s: poly needs 1 to %d coefficients, got %d", where,
                         MLPF_POLY_MAXCOEF, n);
        double coef[MLPF_POLY_MAXCOEF];
        for (int i = 0; i < n; i++) {
            const cJSON *x = cJSON_GetArrayItem(p, i);
            if (!cJSON_IsNumber(x))
                return sfail(c, MLPF_EINVAL, "%s.poly[%d]: not a number", where, i);
            coef[i] = x->valuedouble;
        }
        if (mlpf_activation_poly(coef, n, out, c->err)) return sprefix(c, MLPF_EINVAL, where);
        return MLPF_OK;
    }
    return sfail(c, MLPF_EINVAL,
                 "%s: an activation is a name, a list of names (one per unit) or {\"poly\": [...]}",
                 where);
}

/* layers[l] = [units, activation] or [units, activation, bias] -> units, bias and the
   activation JSON a (a name, a list of names, or {"poly": [...]}). */
static int parse_layer_shape(const problem_ctx *c, const cJSON *L, const char *field, int l,
                             int *units, int *bias, const cJSON **a) {
    int len = cJSON_IsArray(L) ? cJSON_GetArraySize(L) : 0;
    if (len < 2 || len > 3)
        return sfail(c, MLPF_EINVAL, "%s[%d]: need [units, activation] or [units, activation, bias]",
                     field, l);
    const cJSON *u = cJSON_GetArrayItem(L, 0), *b = len == 3 ? cJSON_GetArrayItem(L, 2) : NULL;
    *a = cJSON_GetArrayItem(L, 1);
    if (!cJSON_IsNumber(u) || u->valuedouble < 1 || u->valuedouble > 1e7 ||
        u->valuedouble != floor(u->valuedouble))
        return sfail(c, MLPF_EINVAL, "%s[%d][0]: units must be a positive integer", field, l);
    *units = (int)u->valuedouble;
    *bias = 1;
    if (!b) return MLPF_OK;
    if (cJSON_IsBool(b)) *bias = cJSON_IsTrue(b);
    else if (cJSON_IsNumber(b) && (b->valuedouble == 0 || b->valuedouble == 1))
        *bias = (int)b->valuedouble;
    else return sfail(c, MLPF_EINVAL, "%s[%d][2]: bias must be true or false", field, l);
    return MLPF_OK;
}

/* The activations of layer l (of nl) with `units` units from a: one for the layer
   or one per unit -> acts (nacts), malloc'ed. Softmax only as the whole output layer. */
static int parse_layer_acts(const problem_ctx *c, const cJSON *a, const char *field, int l, int nl,
                            int units, mlpf_activation **acts, int *nacts) {
    *acts = NULL;
    *nacts = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 1;
    if (cJSON_IsArray(a) && *nacts != units)
        return sfail(c, MLPF_EINVAL, "%s[%d][1]: %d activations for %d units (need one per unit)",
                     field, l, *nacts, units);
    *acts = mlpf_calloc((size_t)*nacts, sizeof **acts, c->err);
    if (!*acts) return sprefix(c, MLPF_ENOMEM, field);
    int st = MLPF_OK;
    for (int k = 0; k < *nacts && !st; k++) {
        char where[96];
        if (cJSON_IsArray(a)) snprintf(where, sizeof where, "%s[%d][1][%d]", field, l, k);
        else snprintf(where, sizeof where, "%s[%d][1]", field, l);
        st = parse_act(c, cJSON_IsArray(a) ? cJSON_GetArrayItem(a, k) : a, where, &(*acts)[k]);
        if (!st && (*acts)[k].kind == MLPF_ACT_SOFTMAX && l != nl - 1)
            st = sfail(c, MLPF_EINVAL, "%s: softmax in hidden layer %d: softmax is only "
                       "allowed in the output layer", where, l);
        if (!st && (*acts)[k].kind == MLPF_ACT_SOFTMAX && *nacts > 1)
            st = sfail(c, MLPF_EINVAL, "%s: softmax must be the whole output layer's "
                       "activation, not one unit's", where);
    }
    return st;
}

/* layers: [[units, activation, bias], ...] onto a new net with din inputs */
static int parse_layers(const problem_ctx *c, const cJSON *layers, const char *field, int din,
                        mlpf_net **out) {
    *out = NULL;
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0)
        return sfail(c, MLPF_EINVAL, "%s: need a non-empty list of [units, activation, bias]",
                     field);
    mlpf_net *net = mlpf_net_create(din, c->err);
    if (!net) return sprefix(c, c->err->status, field);
    int nl = cJSON_GetArraySize(layers), st = MLPF_OK;
    for (int l = 0; l < nl && !st; l++) {
        int units = 0, bias = 1, nacts = 0;
        const cJSON *a = NULL;
        mlpf_activation *acts = NULL;
        st = parse_layer_shape(c, cJSON_GetArrayItem(layers, l), field, l, &units, &bias, &a);
        if (!st) st = parse_layer_acts(c, a, field, l, nl, units, &acts, &nacts);
        if (!st && mlpf_net_add_layer_acts(net, units, acts, nacts, bias, c->err)) {
            char where[96];
            snprintf(where, sizeof where, "%s[%d]", field, l);
            st = sprefix(c, c->err->status, where);
        }
        free(acts);
    }
    if (!st && mlpf_net_validate(net, c->err)) st = sprefix(c, c->err->status, field);
    if (st) {
        mlpf_net_free(net);
        return st;
    }
    *out = net;
    return MLPF_OK;
}

/* ---- integers in JSON ---- */

static int get_int(const problem_ctx *c, const cJSON *v, const char *where, double lo, double hi,
                   double *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return sfail(c, MLPF_EINVAL, "%s: need an integer in [%.17g, %.17g]", where, lo, hi);
    *out = v->valuedouble;
    return MLPF_OK;
}

/* ---- the teacher ---- */

static int parse_teacher(const problem_ctx *c, const cJSON *t, int din_hint, mlpf_problem *p) {
    if (!cJSON_IsObject(t))
        return sfail(c, MLPF_EINVAL, "teacher: need an object {\"layers\": [...], \"din\": d, "
                     "\"seed\": s | \"params\": \"T.npy\"}");
    const cJSON *e;
    cJSON_ArrayForEach(e, t) {
        if (strcmp(e->string, "layers") && strcmp(e->string, "din") && strcmp(e->string, "seed") &&
            strcmp(e->string, "params"))
            return sfail(c, MLPF_EINVAL, "teacher.%s: unknown field (known: layers, din, seed, "
                         "params)", e->string);
    }
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(t, "din");
    int din = din_hint;
    if (jd) {
        double d = 0;
        if (get_int(c, jd, "teacher.din", 1, 1e6, &d)) return c->err->status;
        if (din_hint > 0 && (int)d != din_hint)
            return sfail(c, MLPF_EINVAL, "teacher.din is %d but the input has %d columns",
                         (int)d, din_hint);
        din = (int)d;
    }
    if (din <= 0) return sfail(c, MLPF_EINVAL, "teacher: need \"din\" (input dimension)");
    int st = parse_layers(c, cJSON_GetObjectItemCaseSensitive(t, "layers"), "teacher.layers", din,
                          &p->teacher);
    if (st) return st;
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(t, "params");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(t, "seed");
    if (jp && js) return sfail(c, MLPF_EINVAL, "teacher: give \"params\" or \"seed\", not both");
    if (jp) {
        if (!cJSON_IsString(jp))
            return sfail(c, MLPF_EINVAL, "teacher.params: need a file name (.npy)");
        char *path = resolve(c, jp->valuestring);
        if (!path) return sprefix(c, MLPF_ENOMEM, "teacher.params");
        st = mlpf_read_params(path, p->teacher, &p->teacher_params, c->err);
        free(path);
        if (st) return sprefix(c, st, "teacher.params");
    } else if (js) {
        double s = 0;
        if (get_int(c, js, "teacher.seed", 0, 9007199254740992.0, &s)) return c->err->status;
        p->teacher_params = mlpf_malloc(mlpf_net_nparams(p->teacher) * sizeof(double), c->err);
        if (!p->teacher_params) return sprefix(c, MLPF_ENOMEM, "teacher");
        if (mlpf_random_params(p->teacher, (uint64_t)s, p->teacher_params, c->err))
            return sprefix(c, c->err->status, "teacher.seed");
    } else {
        return sfail(c, MLPF_EINVAL, "teacher: need \"params\" (a .npy file) or \"seed\"");
    }
    return MLPF_OK;
}

/* ---- data generated from the teacher ---- */

static int teacher_targets(const problem_ctx *c, mlpf_problem *p, const char *field) {
    size_t dout = (size_t)mlpf_net_dout(p->teacher);
    p->target = mlpf_malloc(p->n * dout * sizeof(double), c->err);
    if (!p->target) return sprefix(c, MLPF_ENOMEM, field);
    p->tcols = dout;
    if (mlpf_predict(p->teacher, p->teacher_params, p->input, p->n, p->target, c->err))
        return sprefix(c, c->err->status, field);
    return MLPF_OK;
}

static int parse_data(const problem_ctx *c, const cJSON *d, mlpf_problem *p, int *exact) {
    *exact = 0;
    if (!p->teacher) return sfail(c, MLPF_EINVAL, "data: needs a \"teacher\" to label the inputs");
    if (!cJSON_IsObject(d))
        return sfail(c, MLPF_EINVAL, "data: need {\"gaussian\": \"exact\"}, {\"gaussian\": "
                     "\"gauss-hermite\", \"order\": n} or {\"samples\": n, \"seed\": s}");
    int din = mlpf_net_din(p->teacher);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(d, "gaussian");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(d, "samples");
    const cJSON *e;
    cJSON_ArrayForEach(e, d) {
        if (strcmp(e->string, "gaussian") && strcmp(e->string, "order") &&
            strcmp(e->string, "threshold") && strcmp(e->string, "samples") &&
            strcmp(e->string, "seed"))
            return sfail(c, MLPF_EINVAL, "data.%s: unknown field (known: gaussian, order, "
                         "threshold, samples, seed)", e->string);
    }
    if (g && ns) return sfail(c, MLPF_EINVAL, "data: give \"gaussian\" or \"samples\", not both");
    if (g) {
        if (!cJSON_IsString(g))
            return sfail(c, MLPF_EINVAL, "data.gaussian: need \"exact\" or \"gauss-hermite\"");
        if (!strcmp(g->valuestring, "exact")) {
            *exact = 1;
            return MLPF_OK;
        }
        if (strcmp(g->valuestring, "gauss-hermite"))
            return sfail(c, MLPF_EINVAL, "data.gaussian: unknown method \"%s\" (need \"exact\" or "
                         "\"gauss-hermite\")", g->valuestring);
        double order = 40, thr = 1e-18;
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(d, "order");
        if (o && get_int(c, o, "data.order", 1, MLPF_GH_MAX_ORDER, &order)) return c->err->status;
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(d, "threshold");
        if (th) {
            if (!cJSON_IsNumber(th) || !(th->valuedouble >= 0))
                return sfail(c, MLPF_EINVAL, "data.threshold: need a number >= 0");
            thr = th->valuedouble;
        }
        if (mlpf_gauss_hermite_data(din, (int)order, thr, &p->input, &p->weights, &p->n, c->err))
            return sprefix(c, c->err->status, "data");
        return teacher_targets(c, p, "data");
    }
    if (ns) {
        double n = 0, seed = 1;
        if (get_int(c, ns, "data.samples", 1, 1e9, &n)) return c->err->status;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "seed");
        if (s && get_int(c, s, "data.seed", 0, 9007199254740992.0, &seed)) return c->err->status;
        p->n = (size_t)n;
        if (mlpf_check_budget("data.samples (inputs and targets)", n * (din + mlpf_net_dout(p->teacher)) * 8.0, c->err)) return sprefix(c, MLPF_ENOMEM, NULL);
        p->input = mlpf_malloc(p->n * (size_t)din * sizeof(double), c->err);
        if (!p->input) return sprefix(c, MLPF_ENOMEM, "data");
        mlpf_rng rng;
        mlpf_rng_seed(&rng, (uint64_t)seed);
        for (size_t i = 0; i < p->n * (size_t)din; i++) p->input[i] = mlpf_rng_normal(&rng);
        return teacher_targets(c, p, "data");
    }
    return sfail(c, MLPF_EINVAL, "data: need \"gaussian\" or \"samples\"");
}

/* ---- targets and weights from files ---- */

static int check_target(const problem_ctx *c, mlpf_problem *p, array_in *in, array_in *t) {
    size_t rows = rows_of(t), cols = cols_of(t);
    if (rows != p->n)
        return sfail(c, MLPF_EINVAL, "target %s has %zu rows but input %s has %zu samples", t->desc,
                     rows, in->desc, p->n);
    int st;
    if (mlpf_data_labels(p->net, p->loss, cols)) {
        st = mlpf_data_check_labels(t->path, t->v, rows, mlpf_net_dout(p->net), c->err);
        if (st) return sprefix(c, st, "target");
    } else {
        char what[320];
        snprintf(what, sizeof what, "target %s", t->desc);
        st = mlpf_data_check_target_cols(what, p->net, p->loss, cols, c->err);
        if (st) return sprefix(c, st, NULL);
    }
    p->tcols = cols;
    return MLPF_OK;
}

static int check_weights(const problem_ctx *c, mlpf_problem *p, array_in *in, array_in *w) {
    if (cols_of(w) != 1 || rows_of(w) != p->n)
        return sfail(c, MLPF_EINVAL, "weights %s must have shape (%zu,): one weight per sample of "
                     "input %s", w->desc, p->n, in->desc);
    int st = mlpf_data_check_weights(w->path, w->v, p->n, c->err);
    return st ? sprefix(c, st, "weights") : MLPF_OK;
}

/* ---- the root object, one step per group of fields ---- */

static const char *const TOP_KEYS[] = {"layers", "input", "target", "weights", "loss",
                                       "maxnorm", "merge", "train", "teacher", "data",
                                       "din", "comment", NULL};

/* Every top-level field is known (or starts with '_', a comment). */
static int check_top_keys(const problem_ctx *c, const cJSON *root) {
    if (!cJSON_IsObject(root)) return sfail(c, MLPF_EFORMAT, "the spec must be a JSON object");
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        int known = 0;
        for (int k = 0; TOP_KEYS[k]; k++) known |= !strcmp(e->string, TOP_KEYS[k]);
        if (!known && e->string[0] != '_')
            return sfail(c, MLPF_EINVAL, "unknown field \"%s\" (known: layers, input, target, "
                         "weights, loss, maxnorm, merge, train, teacher, data, din)", e->string);
    }
    return MLPF_OK;
}

/* Inputs come from a file ("input", with "target" / "weights") or from "data". */
static int check_data_source(const problem_ctx *c, const cJSON *root) {
    if (cJSON_GetObjectItemCaseSensitive(root, "input") && cJSON_GetObjectItemCaseSensitive(root, "data"))
        return sfail(c, MLPF_EINVAL, "give \"input\" or \"data\", not both");
    if (cJSON_GetObjectItemCaseSensitive(root, "data") &&
        (cJSON_GetObjectItemCaseSensitive(root, "target") ||
         cJSON_GetObjectItemCaseSensitive(root, "weights")))
        return sfail(c, MLPF_EINVAL, "\"data\" generates inputs and targets: drop \"target\" and "
                     "\"weights\"");
    return MLPF_OK;
}

/* "loss": "mse" (default) | "crossentropy" -> p->loss */
static int parse_loss(const problem_ctx *c, const cJSON *root, mlpf_problem *p) {
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(root, "loss");
    p->loss = MLPF_LOSS_MSE;
    if (!jl) return MLPF_OK;
    if (cJSON_IsString(jl) && !strcmp(jl->valuestring, "mse")) p->loss = MLPF_LOSS_MSE;
    else if (cJSON_IsString(jl) && !strcmp(jl->valuestring, "crossentropy"))
        p->loss = MLPF_LOSS_CROSSENTROPY;
    else return sfail(c, MLPF_EINVAL, "loss: need \"mse\" or \"crossentropy\"");
    return MLPF_OK;
}

/* The input dimension, from "input" (read into in; p->n its rows), "din" and the
   teacher (parsed here, as it may be what fixes din). */
static int parse_input_dim(const problem_ctx *c, const cJSON *root, array_in *in, mlpf_problem *p,
                           int *din) {
    int st;
    *din = 0;
    if (cJSON_GetObjectItemCaseSensitive(root, "input")) {
        if ((st = read_field_array(c, root, "input", in))) return st;
        *din = (int)cols_of(in);
        p->n = rows_of(in);
    }
    const cJSON *jdin = cJSON_GetObjectItemCaseSensitive(root, "din");
    if (jdin) {
        double d = 0;
        if ((st = get_int(c, jdin, "din", 1, 1e6, &d))) return st;
        if (*din && (int)d != *din)
            return sfail(c, MLPF_EINVAL, "din is %d but input %s has %d columns", (int)d, in->desc,
                         *din);
        *din = (int)d;
    }
    const cJSON *jteacher = cJSON_GetObjectItemCaseSensitive(root, "teacher");
    if (jteacher) {
        if ((st = parse_teacher(c, jteacher, *din, p))) return st;
        *din = mlpf_net_din(p->teacher);
    }
    if (!*din)
        return sfail(c, MLPF_EINVAL, "need \"input\" (a data file), or a \"teacher\" with \"din\" "
                     "and \"data\"");
    return MLPF_OK;
}

/* "layers" -> p->net, with as many outputs as the teacher's. */
static int parse_student(const problem_ctx *c, const cJSON *root, int din, mlpf_problem *p) {
    int st = parse_layers(c, cJSON_GetObjectItemCaseSensitive(root, "layers"), "layers", din, &p->net);
    if (st) return st;
    if (p->teacher && mlpf_net_dout(p->teacher) != mlpf_net_dout(p->net))
        return sfail(c, MLPF_EINVAL, "the teacher has %d outputs but the student (layers) has %d",
                     mlpf_net_dout(p->teacher), mlpf_net_dout(p->net));
    return MLPF_OK;
}

/* Data from files: p->input takes in's array; targets from "target" or the
   teacher; optional "weights". */
static int parse_file_data(const problem_ctx *c, const cJSON *root, array_in *in, mlpf_problem *p) {
    array_in tg = {0}, w = {0};
    int st = MLPF_OK;
    p->input = in->v;
    in->v = NULL;
    if (cJSON_GetObjectItemCaseSensitive(root, "target")) {
        if (!(st = read_field_array(c, root, "target", &tg)) && !(st = check_target(c, p, in, &tg))) {
            p->target = tg.v;
            tg.v = NULL;
        }
    } else if (p->teacher) {
        st = teacher_targets(c, p, "teacher");
    } else {
        st = sfail(c, MLPF_EINVAL, "target: missing (a data file, or a \"teacher\" to label the "
                   "input)");
    }
    if (!st && cJSON_GetObjectItemCaseSensitive(root, "weights")) {
        if (!(st = read_field_array(c, root, "weights", &w)) && !(st = check_weights(c, p, in, &w))) {
            p->weights = w.v;
            w.v = NULL;
        }
    }
    array_free(&tg);
    array_free(&w);
    return st;
}

/* p->obj: the exact Gaussian objective, or the finite one on p's data. */
static int build_objective(const problem_ctx *c, int exact, int threads, mlpf_problem *p) {
    if (exact) {
        p->obj = mlpf_objective_gaussian(p->teacher, p->teacher_params, p->net, c->err);
        return p->obj ? MLPF_OK : sprefix(c, c->err->status, "data");
    }
    mlpf_finite_options fo = {p->loss, threads};
    p->obj = mlpf_objective_finite(p->net, p->n, p->input, p->target, p->tcols, p->weights, &fo,
                                   c->err);
    return p->obj ? MLPF_OK : sprefix(c, c->err->status, NULL);
}

/* Train options: the spec's maxnorm / merge, then the "train" object over them;
   then p->reg. */
static int parse_train(const problem_ctx *c, const cJSON *root, mlpf_problem *p) {
    int st;
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "maxnorm");
    if (jm && (st = mlpf_train_config_set(&p->train, "maxnorm", jm, c->dir, "maxnorm", c->err)))
        return sprefix(c, st, NULL);
    const cJSON *jmerge = cJSON_GetObjectItemCaseSensitive(root, "merge");
    if (jmerge && (st = mlpf_train_config_set_merges(&p->train, jmerge, "merge", c->err)))
        return sprefix(c, st, NULL);
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(root, "train"), *e;
    if (jt && !cJSON_IsObject(jt)) return sfail(c, MLPF_EINVAL, "train: need an object of train options");
    cJSON_ArrayForEach(e, jt) {
        char where[96];
        snprintf(where, sizeof where, "train.%s", e->string);
        if ((st = mlpf_train_config_set(&p->train, e->string, e, c->dir, where, c->err)))
            return sprefix(c, st, NULL);
    }
    st = mlpf_problem_regularize(p, c->err);
    return st ? sprefix(c, st, NULL) : MLPF_OK;
}

static int parse_root(const problem_ctx *c, const cJSON *root, int threads, mlpf_problem *p) {
    array_in in = {0};
    int din = 0, exact = 0, st;
    const cJSON *jdata = cJSON_GetObjectItemCaseSensitive(root, "data");
    if ((st = check_top_keys(c, root)) || (st = parse_loss(c, root, p)) ||
        (st = check_data_source(c, root)) || (st = parse_input_dim(c, root, &in, p, &din)) || (st = parse_student(c, root, din, p)))
        goto done;
    if (jdata) st = parse_data(c, jdata, p, &exact);
    else if (cJSON_GetObjectItemCaseSensitive(root, "input")) st = parse_file_data(c, root, &in, p);
    else st = sfail(c, MLPF_EINVAL, "need \"input\" or \"data\" (e.g. {\"gaussian\": \"exact\"})");
    if (!st && !(st = build_objective(c, exact, threads, p))) st = parse_train(c, root, p);
done:
    array_free(&in);
    return st;
}

int mlpf_problem_regularize(mlpf_problem *p, mlpf_error *err) {
    const mlpf_train_options *o = &p->train.opt;
    size_t np = mlpf_net_nparams(p->net);
    if (o->ntauinv != 0 && o->ntauinv != 1 && o->ntauinv != np)
        return mlpf_fail(err, MLPF_EINVAL, "tauinv: %zu values, need 1 or one per parameter (%zu)",
                         o->ntauinv, np);
    for (size_t k = 0; k < o->nmerges; k++) {
        const mlpf_merge *m = &o->merges[k];
        if (m->layer >= mlpf_net_nlayers(p->net))
            return mlpf_fail(err, MLPF_EINVAL, "merge[%zu]: layer %d does not exist (the net has %d "
                             "layers, counting from 0)", k, m->layer, mlpf_net_nlayers(p->net));
        int u = mlpf_net_layer_units(p->net, m->layer);
        if (m->i >= u || m->j >= u || m->i == m->j)
            return mlpf_fail(err, MLPF_EINVAL, "merge[%zu]: units %d and %d: need two different "
                             "units of layer %d's %d", k, m->i, m->j, m->layer, u);
    }
    if (p->reg && p->reg != p->obj) mlpf_objective_free(p->reg);
    p->reg = p->obj;
    if (isfinite(o->maxnorm) || o->nmerges) {
        p->reg = mlpf_objective_regularized(p->obj, o->maxnorm, o->merges, o->nmerges, err);
        if (!p->reg) {
            p->reg = p->obj;
            return err ? err->status : MLPF_ENOMEM;
        }
    }
    return MLPF_OK;
}

/* line and column (1-based) of byte offset off in text */
static void line_col(const char *text, size_t off, long *line, long *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int mlpf_problem_parse(const char *text, const char *name, const char *dir, int threads,
                       mlpf_problem **out, mlpf_error *err) {
    mlpf_error local;
    problem_ctx c = {name, dir ? dir : "", err ? err : &local};
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        long line, col;
        line_col(text, off, &line, &col);
        char near[24];
        size_t k = 0;
        for (const char *s = text + off; *s && *s != '\n' && k + 1 < sizeof near; s++) near[k++] = *s;
        near[k] = '\0';
        return sfail(&c, MLPF_EFORMAT, "malformed JSON at line %ld, column %ld%s%s%s", line, col,
                     k ? " (near \"" : " (at the end)", near, k ? "\")" : "");
    }
    if (mlpf_json_check_keys(root, name, c.err)) return cJSON_Delete(root), c.err->status;
    mlpf_problem *p = mlpf_calloc(1, sizeof *p, c.err);
    if (!p) {
        cJSON_Delete(root);
        return sprefix(&c, MLPF_ENOMEM, NULL);
    }
    p->path = strdup(name);
    p->dir = strdup(c.dir);
    p->threads = threads;
    mlpf_train_config_init(&p->train);
    int st = (!p->path || !p->dir) ? sfail(&c, MLPF_ENOMEM, "out of memory")
                                   : parse_root(&c, root, threads, p);
    cJSON_Delete(root);
    if (st) {
        mlpf_problem_free(p);
        return st;
    }
    *out = p;
    return MLPF_OK;
}

int mlpf_problem_load(const char *path, int threads, mlpf_problem **out, mlpf_error *err) {
    *out = NULL;
    char *text;
    size_t len;
    int st = mlpf_read_file(path, &text, &len, err);
    if (st) return st;
    if (strlen(text) != len) {
        free(text);
        return mlpf_fail(err, MLPF_EFORMAT, "%s: not a JSON text file (NUL byte)", path);
    }
    char *dir = strdup(path);
    if (!dir) {
        free(text);
        return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", path);
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else dir[0] = '\0';
    st = mlpf_problem_parse(text, path, dir, threads, out, err);
    free(dir);
    free(text);
    return st;
}

void mlpf_problem_free(mlpf_problem *p) {
    if (!p) return;
    if (p->reg && p->reg != p->obj) mlpf_objective_free(p->reg);
    mlpf_objective_free(p->obj);
    mlpf_net_free(p->net);
    mlpf_net_free(p->teacher);
    free(p->teacher_params);
    free(p->input);
    free(p->target);
    free(p->weights);
    mlpf_train_config_free(&p->train);
    free(p->path);
    free(p->dir);
    free(p);
}

int mlpf_read_params(const char *path, const mlpf_net *net, double **x, mlpf_error *err) {
    double *v;
    size_t shape[2];
    int ndim;
    *x = NULL;
    int st = mlpf_read_array(path, &v, shape, &ndim, err);
    if (st) return st;
    size_t n = ndim == 0 ? 1 : ndim == 1 ? shape[0] : shape[0] * shape[1];
    size_t np = mlpf_net_nparams(net);
    if (n != np) {
        char s[64];
        shape_str(s, sizeof s, shape, ndim);
        free(v);
        return mlpf_fail(err, MLPF_EINVAL, "%s: %zu values (shape %s) but the net has %zu "
                         "parameters", path, n, s, np);
    }
    size_t bad = mlpf_first_nonfinite(v, n);
    if (bad) {
        double b = v[bad - 1];
        free(v);
        return mlpf_fail(err, MLPF_ENONFINITE, "%s: parameter %zu is %g (counting from 0)", path,
                         bad - 1, b);
    }
    *x = v;
    return MLPF_OK;
}

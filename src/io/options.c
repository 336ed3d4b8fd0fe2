/* options.c - mlpf_train_options by name. One table maps each option's name to
   its field, so the spec's "train" object, the command-line flags and the
   options recorded in RUN.json all use the same names (the reference system's). */
#include "io/io.h"
#include "dynamics/dynamics.h"

#include <errno.h>
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

typedef enum { OPT_DOUBLE, OPT_LONG, OPT_INT, OPT_SIZE, OPT_BOOL, OPT_STR, OPT_U64 } opt_type;

static const char *const TYPE_NAMES[] = {"double", "long", "int", "size", "bool", "string",
                                         "uint64"};

/* One option: its field, its range and its documentation. Numbers must lie
   in [min, max] (strictly above min when min_open, strictly below max when
   max_open); NaN never passes. Integer options take the range of their C type
   (max below is a further bound when finite); inf_ok: an integer limit may be
   "inf", meaning its largest value. */
typedef struct {
    const char *name;
    opt_type type;
    size_t offset;
    double min, max;
    int min_open, max_open, inf_ok;
    const char *default_text, *doc;
} opt_field;

#define F(name, type, min, max, min_open, max_open, inf_ok, def, doc) \
    {#name, type, offsetof(mlpf_train_options, name), min, max, min_open, max_open, inf_ok, def, doc}
static const opt_field FIELDS[] = {
    F(alg, OPT_STR, 0, 0, 0, 0, 0, "by P", "flow / descent method (by P: bdf up to P = 256, else dopri5)"),
    F(maxT, OPT_DOUBLE, 0, INFINITY, 1, 0, 0, "inf", "flow time to stop at (> 0; inf: until a minimum)"),
    F(abstol, OPT_DOUBLE, 0, DBL_MAX, 1, 0, 0, "1e-6", "absolute tolerance of the ODE solver (> 0)"),
    F(reltol, OPT_DOUBLE, 0, DBL_MAX, 0, 0, 0, "1e-6", "relative tolerance of the ODE solver (>= 0)"),
    F(maxtime_ode, OPT_DOUBLE, 0, INFINITY, 0, 0, 0, "inf", "wall seconds of the flow phase (a safety net; inf: none)"),
    F(maxiterations_ode, OPT_LONG, 0, INFINITY, 0, 0, 1, "1000000", "steps of the flow phase"),
    F(rk4_step, OPT_DOUBLE, 0, DBL_MAX, 1, 0, 0, "0.01", "fixed step of rk4 (> 0)"),
    F(lr, OPT_DOUBLE, 0, DBL_MAX, 1, 0, 0, "0.001", "learning rate of gd and adam (> 0)"),
    F(beta1, OPT_DOUBLE, 0, 1, 0, 1, 0, "0.9", "adam's first-moment decay, in [0, 1)"),
    F(beta2, OPT_DOUBLE, 0, 1, 0, 1, 0, "0.999", "adam's second-moment decay, in [0, 1)"),
    F(eps, OPT_DOUBLE, 0, DBL_MAX, 0, 0, 0, "1e-8", "adam's denominator offset (>= 0)"),
    F(batchsize, OPT_SIZE, 0, INFINITY, 0, 0, 0, "0", "minibatch size of gd / adam; 0 = full batch"),
    F(shuffle, OPT_BOOL, 0, 1, 0, 0, 0, "false", "minibatches in a new random order every epoch"),
    F(optim_solver, OPT_STR, 0, 0, 0, 0, 0, "by P", "minimiser (by P: newtontr up to 32, bfgs up to 5000, else lbfgs)"),
    F(maxtime_optim, OPT_DOUBLE, 0, INFINITY, 0, 0, 0, "inf", "wall seconds of the minimiser (a safety net; inf: none)"),
    F(maxiterations_optim, OPT_LONG, 0, INFINITY, 0, 0, 1, "100000", "iterations of the minimiser"),
    F(min_gnorm, OPT_DOUBLE, 0, DBL_MAX, 0, 0, 0, "1e-15", "stop when the gradient's inf-norm is <= this"),
    F(minloss, OPT_DOUBLE, -INFINITY, DBL_MAX, 0, 0, 0, "2e-32", "stop when the loss is <= this (-inf: never)"),
    F(patience, OPT_LONG, 0, INFINITY, 0, 0, 1, "1000000", "flow steps without a new best loss before stopping"),
    F(maxnorm, OPT_DOUBLE, 0, INFINITY, 0, 0, 0, "inf", "norm regulariser bound (inf: none)"),
    F(n_samples_trajectory, OPT_INT, 0, INFINITY, 0, 0, 0, "100", "trajectory samples, log-spaced in flow time"),
    F(verbosity, OPT_INT, 0, INFINITY, 0, 0, 0, "0", "0 silent, 1 progress lines"),
    F(progress_interval, OPT_DOUBLE, 0, INFINITY, 0, 0, 0, "5", "seconds between progress lines"),
    F(seed, OPT_U64, 0, INFINITY, 0, 0, 0, "1", "seed of the minibatch order (integer in [0, 2^64 - 1])"),
};
#undef F
#define NFIELDS (sizeof FIELDS / sizeof FIELDS[0])

/* The largest value of an integer field's C type. */
static double type_max(opt_type t) {
    switch (t) {
    case OPT_LONG: return (double)LONG_MAX; /* 2^63 after rounding: compared with >= */
    case OPT_INT: return (double)INT_MAX;
    case OPT_SIZE: return (double)SIZE_MAX;
    case OPT_U64: return 0x1p64;
    case OPT_BOOL: return 1;
    default: return INFINITY;
    }
}

size_t mlpf_option_count(void) { return NFIELDS; }

int mlpf_option_get(size_t i, mlpf_option_info *info) {
    if (i >= NFIELDS || !info) return MLPF_EINVAL;
    const opt_field *f = &FIELDS[i];
    info->name = f->name;
    info->type = TYPE_NAMES[f->type];
    info->default_text = f->default_text;
    info->doc = f->doc;
    info->min = f->min;
    info->max = f->type == OPT_DOUBLE ? f->max : type_max(f->type);
    info->min_exclusive = f->min_open;
    info->max_exclusive = f->type == OPT_DOUBLE ? f->max_open : 0;
    info->inf_ok = f->inf_ok;
    return MLPF_OK;
}

/* The range of f as text, for messages. */
static void range_text(const opt_field *f, char *buf, size_t n) {
    switch (f->type) {
    case OPT_LONG: snprintf(buf, n, "[0, %ld]", LONG_MAX); break;
    case OPT_INT: snprintf(buf, n, "[0, %d]", INT_MAX); break;
    case OPT_SIZE: snprintf(buf, n, "[0, %zu]", (size_t)SIZE_MAX); break;
    case OPT_U64: snprintf(buf, n, "[0, %llu]", (unsigned long long)UINT64_MAX); break;
    default:
        snprintf(buf, n, "%c%g, %g%c", f->min_open ? '(' : '[', f->min,
                 f->max == DBL_MAX ? INFINITY : f->max, f->max_open || f->max == DBL_MAX ? ')' : ']');
    }
}

/* MLPF_OK when d is a valid value of f; where prefixes messages. */
static int check_number(const opt_field *f, double d, const char *where, mlpf_error *err) {
    char range[64];
    range_text(f, range, sizeof range);
    if (isnan(d))
        return mlpf_fail(err, MLPF_EINVAL, "%s: nan is not a valid %s (need a number in %s)",
                         where, f->name, range);
    if (f->type != OPT_DOUBLE && isinf(d) && d > 0) {
        if (f->inf_ok) return MLPF_OK;
        return mlpf_fail(err, MLPF_EINVAL, "%s: %s must be finite, in %s", where, f->name, range);
    }
    int below = f->min_open ? !(d > f->min) : !(d >= f->min);
    double max = f->type == OPT_DOUBLE ? f->max : type_max(f->type);
    int above = f->type == OPT_DOUBLE ? (f->max_open ? !(d < max) : !(d <= max)) : d >= max + (f->type == OPT_INT || f->type == OPT_BOOL);
    if (below || above)
        return mlpf_fail(err, MLPF_EINVAL, "%s: %s = %g is out of range %s", where, f->name, d,
                         range);
    if (f->type != OPT_DOUBLE && d != floor(d))
        return mlpf_fail(err, MLPF_EINVAL, "%s: %g is not an integer", where, d);
    return MLPF_OK;
}

void mlpf_train_config_init(mlpf_train_config *c) {
    memset(c, 0, sizeof *c);
    mlpf_train_options_default(&c->opt);
}

void mlpf_train_config_free(mlpf_train_config *c) {
    if (!c) return;
    free(c->tauinv);
    free(c->merges);
    c->tauinv = NULL;
    c->merges = NULL;
    c->opt.tauinv = NULL;
    c->opt.ntauinv = 0;
    c->opt.merges = NULL;
    c->opt.nmerges = 0;
}

static const opt_field *find_field(const char *name) {
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(FIELDS[i].name, name)) return &FIELDS[i];
    return NULL;
}

int mlpf_option_check(const char *name, double value, mlpf_error *err) {
    const opt_field *f = name ? find_field(name) : NULL;
    if (!f || f->type == OPT_STR)
        return mlpf_fail(err, MLPF_EINVAL, "\"%s\" is not a numeric train option",
                         name ? name : "(null)");
    return check_number(f, value, f->name, err);
}

int mlpf_train_options_check(const mlpf_train_options *o, mlpf_error *err) {
    for (size_t i = 0; i < NFIELDS; i++) {
        const opt_field *f = &FIELDS[i];
        const char *base = (const char *)o + f->offset;
        long v;
        switch (f->type) {
        case OPT_DOUBLE: {
            int st = check_number(f, *(const double *)base, "train options", err);
            if (st) return st;
            continue;
        }
        /* a field of the struct is within its type's range: only the lower
           bound can fail */
        case OPT_LONG: v = *(const long *)base; break;
        case OPT_INT: v = *(const int *)base; break;
        default: continue;
        }
        if (v < f->min)
            return mlpf_fail(err, MLPF_EINVAL, "train options: %s = %ld must be >= %g", f->name, v,
                             f->min);
    }
    return MLPF_OK;
}

int mlpf_train_config_check(const mlpf_train_config *c, mlpf_error *err) {
    const mlpf_train_options *o = &c->opt;
    int st;
    if (o->alg[0] && (st = dyn_method_check(o->alg, DYN_PHASE_FLOW, err))) return st;
    if (o->optim_solver[0] && (st = dyn_method_check(o->optim_solver, DYN_PHASE_OPTIM, err)))
        return st;
    const dyn_method *m = o->alg[0] ? dyn_method_find(o->alg, DYN_PHASE_FLOW) : NULL;
    if (o->batchsize > 0 && (!m || m->kind != DYN_KIND_DESCENT))
        return mlpf_fail(err, MLPF_EINVAL,
                         "train options: batchsize = %zu needs alg gd or adam, not \"%s\"",
                         o->batchsize, o->alg[0] ? o->alg : "the default flow");
    return MLPF_OK;
}

int mlpf_train_option_known(const char *key) {
    if (!strcmp(key, "tauinv") || !strcmp(key, "merge")) return 1;
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(FIELDS[i].name, key)) return 1;
    return 0;
}

/* A JSON number, or a string spelling infinity (JSON has none). */
static int json_double(const cJSON *v, double *out) {
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 1;
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (!strcasecmp(s, "inf") || !strcasecmp(s, "infinity") || !strcasecmp(s, "+inf")) {
            *out = INFINITY;
            return 1;
        }
        if (!strcasecmp(s, "-inf") || !strcasecmp(s, "-infinity")) {
            *out = -INFINITY;
            return 1;
        }
        if (!strcasecmp(s, "nan")) { /* rejected with its name by check_number */
            *out = NAN;
            return 1;
        }
    }
    return 0;
}

static int set_tauinv(mlpf_train_config *c, const cJSON *v, const char *dir, const char *where,
                      mlpf_error *err) {
    double *vals = NULL;
    size_t n = 0;
    double d;
    if (json_double(v, &d)) {
        vals = mlpf_malloc(sizeof(double), err);
        if (!vals) return err ? err->status : MLPF_ENOMEM;
        vals[0] = d;
        n = 1;
    } else if (cJSON_IsArray(v)) {
        n = (size_t)cJSON_GetArraySize(v);
        if (n == 0) return mlpf_fail(err, MLPF_EINVAL, "%s: empty array", where);
        vals = mlpf_malloc(n * sizeof(double), err);
        if (!vals) return err ? err->status : MLPF_ENOMEM;
        size_t i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsNumber(e)) {
                free(vals);
                return mlpf_fail(err, MLPF_EINVAL, "%s[%zu]: not a number", where, i);
            }
            vals[i++] = e->valuedouble;
        }
    } else if (cJSON_IsString(v)) {
        const char *p = v->valuestring;
        char *full = NULL;
        if (dir && *dir && p[0] != '/') {
            size_t m = strlen(dir) + strlen(p) + 2;
            full = mlpf_malloc(m, err);
            if (!full) return err ? err->status : MLPF_ENOMEM;
            snprintf(full, m, "%s/%s", dir, p);
        }
        size_t shape[2];
        int ndim;
        int st = mlpf_read_array(full ? full : p, &vals, shape, &ndim, err);
        free(full);
        if (st) return mlpf_fail_prefix(err, st, "%s", where);
        n = ndim == 0 ? 1 : ndim == 1 ? shape[0] : shape[0] * shape[1];
        if (n == 0) {
            free(vals);
            return mlpf_fail(err, MLPF_EINVAL, "%s: \"%s\" is empty", where, p);
        }
    } else {
        return mlpf_fail(err, MLPF_EINVAL, "%s: need a number, an array or a .npy path", where);
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(vals[i]) || vals[i] < 0) {
            double bad = vals[i];
            free(vals);
            return mlpf_fail(err, MLPF_EINVAL, "%s: value %zu is %g (need finite and >= 0)", where,
                             i, bad);
        }
    }
    free(c->tauinv);
    c->tauinv = vals;
    c->opt.tauinv = vals;
    c->opt.ntauinv = n;
    return MLPF_OK;
}

int mlpf_train_config_set_merges(mlpf_train_config *c, const cJSON *value, const char *where,
                                 mlpf_error *err) {
    if (!cJSON_IsArray(value))
        return mlpf_fail(err, MLPF_EINVAL, "%s: need a list of [layer, i, j, lambda]", where);
    size_t n = (size_t)cJSON_GetArraySize(value);
    mlpf_merge *m = n ? mlpf_calloc(n, sizeof *m, err) : NULL;
    if (n && !m) return err ? err->status : MLPF_ENOMEM;
    size_t k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, value) {
        double v[4];
        int ok = cJSON_IsArray(e) && cJSON_GetArraySize(e) == 4;
        for (int q = 0; ok && q < 4; q++) {
            const cJSON *x = cJSON_GetArrayItem(e, q);
            ok = cJSON_IsNumber(x);
            if (ok) v[q] = x->valuedouble;
            if (ok && q < 3) ok = v[q] >= 0 && v[q] == floor(v[q]) && v[q] < INT_MAX;
        }
        if (ok) ok = isfinite(v[3]) && v[3] >= 0;
        if (!ok) {
            free(m);
            return mlpf_fail(err, MLPF_EINVAL,
                             "%s[%zu]: need [layer, i, j, lambda] with integers >= 0 and "
                             "lambda >= 0", where, k);
        }
        m[k].layer = (int)v[0];
        m[k].i = (int)v[1];
        m[k].j = (int)v[2];
        m[k].lambda = v[3];
        k++;
    }
    free(c->merges);
    c->merges = m;
    c->opt.merges = m;
    c->opt.nmerges = n;
    return MLPF_OK;
}

/* An integer option written as a decimal string: how RUN.json records seeds
   and limits beyond 2^53, which a JSON number (a double) would round. */
static int set_integer_string(const opt_field *f, char *base, const char *s, const char *where,
                              mlpf_error *err) {
    unsigned long long max = f->type == OPT_LONG   ? (unsigned long long)LONG_MAX
                             : f->type == OPT_SIZE ? (unsigned long long)SIZE_MAX
                                                   : (unsigned long long)UINT64_MAX;
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (s[0] < '0' || s[0] > '9' || *e != '\0' || errno || v > max)
        return mlpf_fail(err, MLPF_EINVAL, "%s: \"%s\" is not an integer in [0, %llu]", where, s,
                         max);
    if (f->type == OPT_LONG) *(long *)base = (long)v;
    else if (f->type == OPT_SIZE) *(size_t *)base = (size_t)v;
    else *(uint64_t *)base = (uint64_t)v;
    return MLPF_OK;
}

int mlpf_train_config_set(mlpf_train_config *c, const char *key, const cJSON *value,
                          const char *dir, const char *where, mlpf_error *err) {
    if (!strcmp(key, "tauinv")) return set_tauinv(c, value, dir, where, err);
    if (!strcmp(key, "merge")) return mlpf_train_config_set_merges(c, value, where, err);
    const opt_field *f = NULL;
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(FIELDS[i].name, key)) f = &FIELDS[i];
    if (!f) return mlpf_fail(err, MLPF_EINVAL, "%s: unknown train option \"%s\"", where, key);
    char *base = (char *)&c->opt + f->offset;
    if (f->type == OPT_STR) {
        if (!cJSON_IsString(value)) return mlpf_fail(err, MLPF_EINVAL, "%s: need a string", where);
        if (strlen(value->valuestring) >= 32)
            return mlpf_fail(err, MLPF_EINVAL, "%s: \"%s\" is too long", where, value->valuestring);
        strcpy(base, value->valuestring);
        return MLPF_OK;
    }
    if (f->type == OPT_BOOL) {
        int b;
        if (cJSON_IsBool(value))
            b = cJSON_IsTrue(value);
        else if (cJSON_IsNumber(value) && (value->valuedouble == 0 || value->valuedouble == 1))
            b = (int)value->valuedouble;
        else
            return mlpf_fail(err, MLPF_EINVAL, "%s: need true or false", where);
        *(int *)base = b;
        return MLPF_OK;
    }
    if ((f->type == OPT_U64 || f->type == OPT_LONG || f->type == OPT_SIZE) &&
        cJSON_IsString(value) && value->valuestring[0] >= '0' && value->valuestring[0] <= '9')
        return set_integer_string(f, base, value->valuestring, where, err);
    double d;
    if (!json_double(value, &d))
        return mlpf_fail(err, MLPF_EINVAL, "%s: need a number", where);
    int st = check_number(f, d, where, err);
    if (st) return st;
    if (f->type == OPT_DOUBLE) {
        *(double *)base = d;
        return MLPF_OK;
    }
    /* integer options: "inf" means "no limit" (only for limits: inf_ok) */
    switch (f->type) {
    case OPT_LONG: *(long *)base = isinf(d) ? LONG_MAX : (long)d; break;
    case OPT_INT: *(int *)base = (int)d; break;
    case OPT_SIZE: *(size_t *)base = (size_t)d; break;
    case OPT_U64: *(uint64_t *)base = (uint64_t)d; break;
    default: break;
    }
    if (!strcmp(key, "verbosity")) c->verbosity_set = 1;
    return MLPF_OK;
}

int mlpf_train_config_set_string(mlpf_train_config *c, const char *key, const char *value,
                                 mlpf_error *err) {
    char where[128];
    snprintf(where, sizeof where, "--%s %.64s", key, value);
    cJSON *v = NULL;
    char *end;
    double d = strtod(value, &end);
    const opt_field *f = NULL;
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(FIELDS[i].name, key)) f = &FIELDS[i];
    if (f && (f->type == OPT_LONG || f->type == OPT_SIZE) && value[0] >= '0' &&
        value[0] <= '9' && strspn(value, "0123456789") == strlen(value)) {
        v = cJSON_CreateString(value);   /* exact: limits up to 2^63 - 1 do not fit a double */
    } else if (*value && *end == '\0') {
        v = cJSON_CreateNumber(d);
        if (v && !isfinite(d)) {
            cJSON_Delete(v);
            v = cJSON_CreateString(isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
        }
    } else if (!strcmp(value, "true") || !strcmp(value, "false")) {
        v = cJSON_CreateBool(value[0] == 't');
    } else if (value[0] == '[') {
        v = cJSON_Parse(value);
        if (!v) return mlpf_fail(err, MLPF_EINVAL, "%s: malformed JSON list \"%s\"", where, value);
    } else {
        v = cJSON_CreateString(value);
    }
    if (!v) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", where);
    /* seeds beyond 2^53 do not survive a double: parse them exactly */
    int st;
    if (!strcmp(key, "seed") && cJSON_IsNumber(v)) {
        char *e2;
        errno = 0;
        unsigned long long s = strtoull(value, &e2, 10);
        if (*e2 != '\0' || errno || value[0] == '-')
            st = mlpf_fail(err, MLPF_EINVAL, "%s: \"%s\" is not a seed (an integer in [0, %llu])", where,
                             value, (unsigned long long)UINT64_MAX);
        else {
            c->opt.seed = (uint64_t)s;
            st = MLPF_OK;
        }
    } else {
        st = mlpf_train_config_set(c, key, v, NULL, where, err);
    }
    cJSON_Delete(v);
    return st;
}

cJSON *mlpf_json_number(double v) {
    if (isfinite(v)) return cJSON_CreateNumber(v);
    return cJSON_CreateString(isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

/* Exact: a number up to 2^53, beyond that a decimal string (read back by
   mlpf_train_config_set); for seeds and the integer limits. */
static cJSON *u64_json(uint64_t v) {
    if (v <= (UINT64_C(1) << 53)) return cJSON_CreateNumber((double)v);
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    return cJSON_CreateString(s);
}

cJSON *mlpf_train_options_json(const mlpf_train_options *opt) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    for (size_t i = 0; i < NFIELDS; i++) {
        const opt_field *f = &FIELDS[i];
        const char *base = (const char *)opt + f->offset;
        cJSON *v = NULL;
        switch (f->type) {
        case OPT_DOUBLE: v = mlpf_json_number(*(const double *)base); break;
        case OPT_LONG: v = u64_json((uint64_t)*(const long *)base); break;  /* ranges are >= 0 */
        case OPT_INT: v = cJSON_CreateNumber(*(const int *)base); break;
        case OPT_SIZE: v = u64_json((uint64_t)*(const size_t *)base); break;
        case OPT_BOOL: v = cJSON_CreateBool(*(const int *)base); break;
        case OPT_STR: v = cJSON_CreateString(base); break;
        case OPT_U64: v = u64_json(*(const uint64_t *)base); break;
        }
        if (!v || !cJSON_AddItemToObject(o, f->name, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    cJSON *t = NULL;
    if (!opt->tauinv || opt->ntauinv == 0)
        t = cJSON_CreateNumber(1.0);
    else if (opt->ntauinv == 1)
        t = cJSON_CreateNumber(opt->tauinv[0]);
    else if (opt->ntauinv <= INT_MAX)
        t = cJSON_CreateDoubleArray(opt->tauinv, (int)opt->ntauinv);
    cJSON *m = cJSON_CreateArray();
    for (size_t k = 0; m && k < opt->nmerges; k++) {
        double v[4] = {opt->merges[k].layer, opt->merges[k].i, opt->merges[k].j,
                       opt->merges[k].lambda};
        cJSON *row = cJSON_CreateDoubleArray(v, 4);
        if (!row || !cJSON_AddItemToArray(m, row)) {
            cJSON_Delete(row);
            cJSON_Delete(m);
            m = NULL;
        }
    }
    if (!t || !cJSON_AddItemToObject(o, "tauinv", t)) {
        cJSON_Delete(t);
        cJSON_Delete(m);
        cJSON_Delete(o);
        return NULL;
    }
    if (!m || !cJSON_AddItemToObject(o, "merge", m)) {
        cJSON_Delete(m);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

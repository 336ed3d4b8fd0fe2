/* fuzz_result.c - the result writer, mlpf_result_save (RUN.json + RUN.npz).
   The input fills an mlpf_result (up to 5 parameters and 4 trajectory points;
   any bits for the numbers, NaN and infinities included; arbitrary bytes for
   the stop reasons and names), its options (alg, any seed, a valid maxT) and
   an "extra" object, which is saved in a private temp dir and read back:
   - RUN.npz (zip_read.h) holds x, init, ode_x, trajectory_t, trajectory_x and
     loss_curve with the result's shapes and bits (missing arrays empty);
   - RUN.json parses, is valid UTF-8 whatever bytes the strings hold, and gives
     back every scalar (loss_error included) (non-finite ones as "inf" / "-inf" / "nan"), the strings,
     the extra items and the options as printed (bytes that are not UTF-8 as
     U+FFFD), which load back (mlpf_train_config_set) to the same options JSON;
   - nothing else is left in the directory (no temp files). */
#include "fuzz.h"
#include "io/io.h"
#include "result/result_io.h"
#include "zip_read.h"

#include <math.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned take(reader *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static uint64_t take64(reader *r) {
    uint64_t u = 0;
    size_t m = r->n < 8 ? r->n : 8;
    memcpy(&u, r->p, m);
    r->p += m;
    r->n -= m;
    return u;
}

static double take_double(reader *r) {
    uint64_t u = take64(r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* a C string of up to cap - 1 arbitrary bytes (a NUL ends it early) */
static void take_string(reader *r, char *out, size_t cap) {
    size_t n = take(r) % cap, i = 0;
    for (; i < n; i++) out[i] = (char)take(r);
    out[i] = '\0';
}

static double *take_array(reader *r, size_t n, int present) {
    if (!present) return NULL;
    double *v = malloc((n ? n : 1) * sizeof(double));
    if (!v) abort();
    for (size_t i = 0; i < n; i++) v[i] = take_double(r);
    return v;
}

static int utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (k == 9 || (k > 0 && i + k >= n)) return 0;
        if (k == 1 && c < 0xC2) return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

/* ---- RUN.npz ---- */

typedef struct {
    const char *name;
    const double *v;
    size_t n;
    int ndim;
    size_t shape[2];
} expected;

static void check_entry(int k, const char *name, size_t nlen, const unsigned char *data,
                        size_t size, void *ctx) {
    const expected *e = (const expected *)ctx + k;
    size_t fl = strlen(e->name);
    FUZZ_CHECK(nlen == fl + 4 && !memcmp(name, e->name, fl), "entry %d is not %s", k, e->name);
    double *v = NULL;
    size_t shape[2];
    int ndim;
    mlpf_error err = {0};
    FUZZ_CHECK(mlpf_npy_parse(e->name, data, size, &v, shape, &ndim, &err) == MLPF_OK,
               "%s does not parse: %s", e->name, err.msg);
    FUZZ_CHECK(ndim == e->ndim && shape[0] == e->shape[0] && (ndim < 2 || shape[1] == e->shape[1]),
               "%s: shape (%zu, %zu)", e->name, shape[0], shape[1]);
    FUZZ_CHECK(!e->v || fuzz_same_bits(v, e->v, e->n), "%s: values differ", e->name);
    free(v);
}

static void check_npz(const char *path, const mlpf_result *res) {
    size_t p = res->nparams, nt = res->ntrajectory;
    expected e[6] = {
        {"x", res->x, p, 1, {res->x ? p : 0, 1}},
        {"init", res->init, p, 1, {res->init ? p : 0, 1}},
        {"ode_x", res->ode_x, p, 1, {res->ode_x ? p : 0, 1}},
        {"trajectory_t", res->trajectory_t, nt, 1, {res->trajectory_t ? nt : 0, 1}},
        {"trajectory_x", res->trajectory_x, nt * p, 2, {res->trajectory_x ? nt : 0, p}},
        {"loss_curve", res->loss_curve, nt, 1, {res->loss_curve ? nt : 0, 1}},
    };
    zip_walk(path, 6, check_entry, e);
}

/* ---- RUN.json ---- */

/* j as the writer prints it (mlpf_json_print: bytes that are not UTF-8 become
   U+FFFD), parsed back; NULL when it does not print. Free with cJSON_Delete. */
static cJSON *as_printed(const cJSON *j) {
    char *text = j ? mlpf_json_print(j, 0) : NULL;
    cJSON *back = text ? cJSON_Parse(text) : NULL;
    free(text);
    return back;
}

static void check_number(const cJSON *o, const char *key, double want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    FUZZ_CHECK(v != NULL, "RUN.json has no %s", key);
    if (isfinite(want)) {
        FUZZ_CHECK(cJSON_IsNumber(v) && (v->valuedouble == want), "%s: %.17g, saved %.17g", key,
                   cJSON_IsNumber(v) ? v->valuedouble : NAN, want);
    } else {
        const char *s = isnan(want) ? "nan" : want > 0 ? "inf" : "-inf";
        FUZZ_CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, s), "%s: want \"%s\"", key, s);
    }
}

/* want as the writer prints it (bytes that are not UTF-8 become U+FFFD) */
static void check_string(const cJSON *o, const char *key, const char *want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cJSON *raw = cJSON_CreateString(want), *printed = as_printed(raw);
    FUZZ_CHECK(cJSON_IsString(v) && cJSON_IsString(printed) &&
                   !strcmp(v->valuestring, printed->valuestring), "%s changed", key);
    cJSON_Delete(printed);
    cJSON_Delete(raw);
}

static void check_options(const cJSON *saved, const mlpf_train_options *opt) {
    /* the options as the writer prints them: strings that are not UTF-8 come
       back with U+FFFD in place of their bad bytes */
    cJSON *raw = mlpf_train_options_json(opt), *want = as_printed(raw);
    FUZZ_CHECK(want && cJSON_Compare(want, saved, 1), "RUN.json options differ from the options");
    mlpf_train_config c;
    mlpf_train_config_init(&c);
    const cJSON *e;
    cJSON_ArrayForEach(e, saved) {
        /* a name that was not UTF-8 (never a valid alg) comes back with U+FFFD,
           up to 3x longer: it need not load back */
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(raw, e->string);
        if (cJSON_IsString(r) &&
            !utf8_valid((const unsigned char *)r->valuestring, strlen(r->valuestring)))
            continue;
        mlpf_error err = {0};
        int st = mlpf_train_config_set(&c, e->string, e, NULL, e->string, &err);
        FUZZ_CHECK(st == MLPF_OK, "option %s does not load back: %s", e->string, err.msg);
    }
    FUZZ_CHECK(c.opt.seed == opt->seed, "seed %llu loads back as %llu",
               (unsigned long long)opt->seed, (unsigned long long)c.opt.seed);
    FUZZ_CHECK(memcmp(&c.opt.maxT, &opt->maxT, 8) == 0 || (isnan(c.opt.maxT) && isnan(opt->maxT)),
               "maxT %.17g loads back as %.17g", opt->maxT, c.opt.maxT);
    mlpf_train_config_free(&c);
    cJSON_Delete(want);
    cJSON_Delete(raw);
}

static void check_json(const char *path, const mlpf_result *res, const mlpf_train_options *opt,
                       const cJSON *extra) {
    char *text;
    size_t len;
    mlpf_error err = {0};
    FUZZ_CHECK(mlpf_read_file(path, &text, &len, &err) == MLPF_OK, "%s", err.msg);
    /* whatever bytes the strings hold, the file is UTF-8 (bad bytes become U+FFFD) */
    FUZZ_CHECK(utf8_valid((const unsigned char *)text, len), "RUN.json is not UTF-8");
    cJSON *o = cJSON_Parse(text);
    FUZZ_CHECK(cJSON_IsObject(o), "RUN.json does not parse:\n%s", text);
    check_number(o, "nparams", (double)res->nparams);
    check_number(o, "ntrajectory", (double)res->ntrajectory);
    check_number(o, "loss", res->loss);
    check_number(o, "ode_loss", res->ode_loss);
    check_number(o, "gnorm", res->gnorm);
    check_number(o, "gnorm_regularized", res->gnorm_regularized);
    check_number(o, "ode_time_run", res->ode_time_run);
    check_number(o, "optim_time_run", res->optim_time_run);
    check_number(o, "ode_wall_time", res->ode_wall_time);
    check_number(o, "total_time", res->total_time);
    check_number(o, "ode_iterations", (double)res->ode_iterations);
    check_number(o, "optim_iterations", (double)res->optim_iterations);
    check_number(o, "loss_error", res->loss_error);
    FUZZ_CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "converged")) &&
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "converged")) == !!res->converged,
               "converged changed");
    check_string(o, "ode_stopped_by", res->ode_stopped_by);
    check_string(o, "optim_stopped_by", res->optim_stopped_by);
    check_string(o, "alg", res->alg);
    check_string(o, "optim_solver", res->optim_solver);
    check_string(o, "ode_kinks", res->ode_kinks);
    check_options(cJSON_GetObjectItemCaseSensitive(o, "options"), opt);
    /* the extra items as the writer prints them (U+FFFD for bytes that are not UTF-8) */
    cJSON *printed = as_printed(extra);
    FUZZ_CHECK(!extra || printed, "extra items do not print");
    const cJSON *e;
    cJSON_ArrayForEach(e, printed)
        FUZZ_CHECK(cJSON_Compare(e, cJSON_GetObjectItemCaseSensitive(o, e->string), 1),
                   "extra item %s changed", e->string);
    cJSON_Delete(printed);
    cJSON_Delete(o);
    free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_make_tmpdir();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    mlpf_result res;
    memset(&res, 0, sizeof res);
    res.nparams = take(&r) % 6;
    res.ntrajectory = take(&r) % 5;
    unsigned present = take(&r);
    res.converged = (int)(present >> 6 & 1);
    res.loss = take_double(&r);
    res.ode_loss = take_double(&r);
    res.gnorm = take_double(&r);
    res.gnorm_regularized = take_double(&r);
    res.ode_time_run = take_double(&r);
    res.optim_time_run = take_double(&r);
    res.ode_wall_time = take_double(&r);
    res.total_time = take_double(&r);
    res.ode_iterations = (long)(take64(&r) >> 12);     /* counts: below 2^52, exact in JSON */
    res.optim_iterations = (long)(take64(&r) >> 12);
    take_string(&r, res.ode_stopped_by, sizeof res.ode_stopped_by);
    take_string(&r, res.optim_stopped_by, sizeof res.optim_stopped_by);
    take_string(&r, res.alg, sizeof res.alg);
    take_string(&r, res.optim_solver, sizeof res.optim_solver);
    mlpf_train_options opt;
    mlpf_train_options_default(&opt);
    take_string(&r, opt.alg, sizeof opt.alg);
    opt.seed = take64(&r);
    opt.maxT = fabs(take_double(&r));   /* a valid option: > 0, inf allowed, no NaN */
    if (!(opt.maxT > 0)) opt.maxT = INFINITY;
    char spec[64];
    take_string(&r, spec, sizeof spec);
    size_t p = res.nparams, nt = res.ntrajectory;
    res.x = take_array(&r, p, present & 1);
    res.init = take_array(&r, p, present & 2);
    res.ode_x = take_array(&r, p, present & 4);
    res.trajectory_t = take_array(&r, nt, present & 8);
    res.trajectory_x = take_array(&r, nt * p, present & 16);
    res.loss_curve = take_array(&r, nt, present & 32);
    /* read after the arrays, so that the corpus written before these fields
       existed still sets everything above as it did */
    res.loss_error = take_double(&r);
    take_string(&r, res.ode_kinks, sizeof res.ode_kinks);

    cJSON *extra = cJSON_CreateObject();
    if (!extra || !cJSON_AddStringToObject(extra, "spec", spec) ||
        !cJSON_AddNumberToObject(extra, "init_seed", (double)(opt.seed >> 12)))
        abort();

    char run[300], path[310];
    fuzz_tmp_path(run, sizeof run, "RUN");
    mlpf_error err = {0};
    int st = mlpf_result_save(run, &res, &opt, extra, &err);
    FUZZ_CHECK(st == MLPF_OK, "mlpf_result_save: %s", err.msg);
    FUZZ_CHECK(fuzz_tmpdir_count() == 2, "%d files in the run directory", fuzz_tmpdir_count());
    snprintf(path, sizeof path, "%s.npz", run);
    check_npz(path, &res);
    snprintf(path, sizeof path, "%s.json", run);
    check_json(path, &res, &opt, extra);

    cJSON_Delete(extra);
    free(res.x);
    free(res.init);
    free(res.ode_x);
    free(res.trajectory_t);
    free(res.trajectory_x);
    free(res.loss_curve);
    return 0;
}

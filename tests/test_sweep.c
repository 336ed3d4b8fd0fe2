/* test_sweep.c - sweeps in the library: the sweep file (axes, ranges, run ids,
   run specs, messages), a sweep on threads (24 runs over 3 axes; the CLI test
   runs 60 on threads and MPI ranks) whose every run is bit-identical to
   the same run trained alone, failing runs recorded with their message,
   resume without re-running, --extend, a changed sweep refused, interrupt,
   and outcomes through bytes (the MPI engine's messages). */
#include "check.h"
#include "io/io.h"
#include "problem/problem.h"
#include "sweep/sweep.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static const char *tmp(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* A tiny teacher-student problem (P = 6..12); the axes are spliced in. */
#define BASE                                                                              \
    "\"base\": {\"teacher\": {\"layers\": [[2, \"tanh\", false], [1, \"identity\", false]], " \
    "\"din\": 2, \"seed\": 1}, \"data\": {\"samples\": 30, \"seed\": 1}, "                  \
    "\"layers\": [[3, \"tanh\", false], [1, \"identity\", false]], "                        \
    "\"train\": {\"maxT\": 30, \"maxiterations_optim\": 60, \"n_samples_trajectory\": 10}}"

static const char SWEEP24[] =
    "{" BASE ", \"axes\": {\"seed\": {\"range\": [1, 4]}, \"layers.0.0\": [2, 3, 4], "
    "\"teacher.seed\": [1, 2]}}";

static mlpf_sweep *parse(const char *text, mlpf_error *err) {
    return mlpf_sweep_parse(text, "S.json", "", err);
}

static void test_parse_errors(void) {
    static const char *const cases[][2] = {
        {"{" BASE ", \"axes\": {\"layers.0.7\": [1, 2]}}", "S.json: axes.layers.0.7: \"7\" is not an index"},
        {"{" BASE ", \"axes\": {\"seed\": [1, 2, 1]}}", "axes.seed: values 0 and 2 are equal"},
        {"{" BASE ", \"axes\": {\"seed\": {\"range\": [5, 1]}}}", "axes.seed: range [5, 1]"},
        {"{" BASE ", \"axes\": {\"seed\": {\"range\": [1.5, 3]}}}", "range item 0 is not an integer"},
        {"{" BASE ", \"axes\": {\"seed\": 3}}", "axes.seed: need a list of values"},
        {"{" BASE ", \"axes\": {\"seed\": []}}", "axes.seed: no values"},
        {"{" BASE ", \"axes\": {\"loss\": [\"mse\"]}}", "axes.loss: the name is a result column"},
        {"{" BASE ", \"axes\": {}}", "S.json: axes: need an object"},
        {"{" BASE ", \"axes\": {\"seed\": [1]}, \"axis\": 1}", "S.json: axis: unknown field"},
        {"{\"axes\": {\"seed\": [1]}}", "S.json: base: need the problem spec"},
        {"{" BASE ", \"axes\": {\"data.samples.x\": [1]}}", "neither an object nor a list"},
        {"{" BASE ", \"axes\": {\"seed\": [1]", "S.json: malformed JSON"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mlpf_error err = {0};
        mlpf_sweep *s = parse(cases[k][0], &err);
        CHECK(!s && strstr(err.msg, cases[k][1]), "case %zu: got \"%s\", want \"%s\"", k,
              err.msg, cases[k][1]);
        mlpf_sweep_free(s);
    }
}

static int cmp_id(const void *a, const void *b) { return strcmp(a, b); }

/* ids of all runs, sorted: (n, MLPF_RUN_ID_LEN) */
static char *sorted_ids(const mlpf_sweep *s) {
    size_t n = mlpf_sweep_nruns(s);
    char *ids = malloc(n * MLPF_RUN_ID_LEN);
    for (size_t i = 0; i < n; i++) mlpf_sweep_run_id(s, i, ids + i * MLPF_RUN_ID_LEN, NULL);
    qsort(ids, n, MLPF_RUN_ID_LEN, cmp_id);
    return ids;
}

static void test_runs_and_ids(void) {
    mlpf_error err = {0};
    mlpf_sweep *a = parse(SWEEP24, &err);
    CHECK(a && mlpf_sweep_nruns(a) == 24, "%s", err.msg);
    if (!a) return;
    /* the same axes in another order: other run order, the same ids */
    mlpf_sweep *b = parse("{" BASE ", \"axes\": {\"teacher.seed\": [1, 2], \"layers.0.0\": "
                          "[2, 3, 4], \"seed\": [1, 2, 3, 4]}}", &err);
    CHECK(b && mlpf_sweep_nruns(b) == 24, "%s", err.msg);
    char *ia = sorted_ids(a), *ib = b ? sorted_ids(b) : NULL;
    CHECK(ib && !memcmp(ia, ib, 24 * MLPF_RUN_ID_LEN), "ids depend on the order of the axes");
    int distinct = 1;
    for (int i = 1; i < 24; i++) distinct &= strcmp(ia + (i - 1) * MLPF_RUN_ID_LEN,
                                                    ia + i * MLPF_RUN_ID_LEN) != 0;
    CHECK(distinct, "run ids collide");
    /* run 0 of b is seed 1, layers 2, teacher.seed 1; its spec has those values */
    char *spec = mlpf_sweep_run_spec(b, 0, &err);
    CHECK(spec && strstr(spec, "\"layers\":[[2,\"tanh\",false]") &&
              strstr(spec, "\"seed\":1}") && strstr(spec, "\"maxT\":30"), "%s", spec);
    mlpf_free(spec);
    spec = mlpf_sweep_run_spec(a, 23, &err);   /* the last: seed 4, layers 4, teacher 2 */
    CHECK(spec && strstr(spec, "\"layers\":[[4,") && strstr(spec, "\"din\":2,\"seed\":2") &&
              strstr(spec, "\"n_samples_trajectory\":10,\"seed\":4}"), "%s", spec);
    mlpf_free(spec);
    CHECK(mlpf_sweep_run_id(a, 24, ia, &err) == MLPF_EINVAL, "run 24 of 24 has an id");
    free(ia);
    free(ib);
    mlpf_sweep_free(a);
    mlpf_sweep_free(b);
}

/* A run gets the sweep's numbers exactly, not cJSON's 15-digit rounding:
   0.1 + 0.2 = 0.30000000000000004 and 1/3 reach the run's spec bit for bit. */
static void test_run_spec_numbers_exact(void) {
    mlpf_error err = {0};
    mlpf_sweep *s = parse("{" BASE ", \"axes\": {\"train.maxnorm\": "
                          "[0.30000000000000004, 0.33333333333333331]}}", &err);
    CHECK(s && mlpf_sweep_nruns(s) == 2, "%s", err.msg);
    for (size_t i = 0; s && i < 2; i++) {
        char *spec = mlpf_sweep_run_spec(s, i, &err);
        cJSON *j = spec ? cJSON_Parse(spec) : NULL;
        const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "train"), "maxnorm");
        double want = i == 0 ? 0.1 + 0.2 : 1.0 / 3.0;
        CHECK(cJSON_IsNumber(v) && v->valuedouble == want, "run %zu: %s", i, spec);
        cJSON_Delete(j);
        mlpf_free(spec);
    }
    mlpf_sweep_free(s);
}

/* ---- the database, read back with sqlite3 ---- */

static sqlite3 *open_db(const char *path) {
    sqlite3 *db = NULL;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    return db;
}

static long count(const char *path, const char *where) {
    sqlite3 *db = open_db(path);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE %s", where);
    sqlite3_stmt *q;
    long n = -1;
    if (!sqlite3_prepare_v2(db, sql, -1, &q, NULL) && sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* the sum of finished_at over the database: changes when any run is re-run */
static double finished_sum(const char *path) {
    sqlite3 *db = open_db(path);
    sqlite3_stmt *q;
    double v = -1;
    if (!sqlite3_prepare_v2(db, "SELECT sum(finished_at) FROM runs", -1, &q, NULL) &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_double(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* Run i trained alone exactly as `mlpflow train` would. */
static mlpf_result *train_alone(const mlpf_sweep *s, size_t i) {
    mlpf_error err = {0};
    char *text = mlpf_sweep_run_spec(s, i, &err);
    mlpf_problem *p = NULL;
    mlpf_result *res = NULL;
    if (text && !mlpf_problem_parse(text, "run", "", 0, &p, &err)) {
        size_t np = mlpf_net_nparams(p->net);
        double *x0 = malloc(np * sizeof *x0);
        mlpf_train_options opt = p->train.opt;
        opt.verbosity = 0;
        if (!mlpf_random_params(p->net, opt.seed, x0, &err))
            mlpf_train(p->obj, x0, &opt, &res, &err);
        free(x0);
    }
    CHECK(res, "run %zu alone: %s", i, err.msg);
    mlpf_free(text);
    mlpf_problem_free(p);
    return res;
}

/* every done run of the database equals the run trained alone, bit for bit */
static void check_bit_identical(const mlpf_sweep *s, const char *path) {
    sqlite3 *db = open_db(path);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(db, "SELECT r.loss, r.optim_iterations, a.npy FROM runs r JOIN arrays a "
                       "ON a.run_id = r.run_id AND a.name = 'x' WHERE r.run_id = ?", -1, &q, NULL);
    int same = 0, n = (int)mlpf_sweep_nruns(s);
    for (int i = 0; i < n; i++) {
        mlpf_result *res = train_alone(s, (size_t)i);
        char id[MLPF_RUN_ID_LEN];
        mlpf_sweep_run_id(s, (size_t)i, id, NULL);
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        if (res && sqlite3_step(q) == SQLITE_ROW) {
            size_t shape[1] = {res->nparams};
            char hdr[256];
            size_t hl = mlpf_npy_header(hdr, sizeof hdr, shape, 1);
            const unsigned char *blob = sqlite3_column_blob(q, 2);
            same += sqlite3_column_double(q, 0) == res->loss &&
                    sqlite3_column_int64(q, 1) == res->optim_iterations &&
                    (size_t)sqlite3_column_bytes(q, 2) == hl + res->nparams * sizeof(double) &&
                    !memcmp(blob + hl, res->x, res->nparams * sizeof(double));
        }
        mlpf_result_free(res);
    }
    CHECK(same == n, "%d of %d runs equal their single run bit for bit", same, n);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void test_threads_equal_single_runs(void) {
    mlpf_error err = {0};
    mlpf_sweep *s = parse(SWEEP24, &err);
    if (!s) return;
    mlpf_sweep_options o;
    mlpf_sweep_options_default(&o);
    o.threads = 2;
    o.verbosity = 0;
    const char *db = tmp("t24.sqlite");
    CHECK_OK(mlpf_sweep_run(s, db, &o, &err), &err);
    CHECK(count(db, "status = 'done'") == 24, "%ld done", count(db, "status = 'done'"));
    check_bit_identical(s, db);
    /* again: nothing left, nothing re-run */
    double before = finished_sum(db);
    CHECK_OK(mlpf_sweep_run(s, db, &o, &err), &err);
    CHECK(finished_sum(db) == before, "a second sweep re-ran runs");
    mlpf_sweep_free(s);
}

static void test_changed_and_extend(void) {
    mlpf_error err = {0};
    mlpf_sweep_options o;
    mlpf_sweep_options_default(&o);
    o.verbosity = 0;
    o.threads = 2;
    const char *db = tmp("ext.sqlite");
    mlpf_sweep *s = parse("{" BASE ", \"axes\": {\"seed\": [1, 2], \"layers.0.0\": [2, 3]}}", &err);
    CHECK_OK(mlpf_sweep_run(s, db, &o, &err), &err);
    double before = finished_sum(db);
    mlpf_sweep_free(s);
    /* a changed base spec */
    char text[2048];
    snprintf(text, sizeof text, "%s", "{" BASE ", \"axes\": {\"seed\": [1, 2], \"layers.0.0\": [2, 3]}}");
    char *p = strstr(text, "\"samples\": 30");
    memcpy(p, "\"samples\": 31", 13);
    s = parse(text, &err);
    CHECK(mlpf_sweep_run(s, db, &o, &err) == MLPF_EINVAL && strstr(err.msg, "base spec differs"),
          "%s", err.msg);
    mlpf_sweep_free(s);
    /* a new value without --extend, a lost value with it, a new axis */
    s = parse("{" BASE ", \"axes\": {\"seed\": [1, 2, 3], \"layers.0.0\": [2, 3]}}", &err);
    CHECK(mlpf_sweep_run(s, db, &o, &err) == MLPF_EINVAL && strstr(err.msg, "--extend"), "%s",
          err.msg);
    mlpf_sweep_free(s);
    o.extend = 1;
    s = parse("{" BASE ", \"axes\": {\"seed\": [2, 3], \"layers.0.0\": [2, 3]}}", &err);
    CHECK(mlpf_sweep_run(s, db, &o, &err) == MLPF_EINVAL && strstr(err.msg, "lost the value 1"),
          "%s", err.msg);
    mlpf_sweep_free(s);
    s = parse("{" BASE ", \"axes\": {\"seed\": [1, 2], \"layers.0.0\": [2, 3], \"data.seed\": [1]}}",
              &err);
    CHECK(mlpf_sweep_run(s, db, &o, &err) == MLPF_EINVAL && strstr(err.msg, "3 axes"), "%s",
          err.msg);
    mlpf_sweep_free(s);
    CHECK(finished_sum(db) == before && count(db, "1") == 4, "refused sweeps changed the database");
    /* a second job on a database that a sweep is writing is refused at once */
    s = parse("{" BASE ", \"axes\": {\"seed\": [1, 2], \"layers.0.0\": [2, 3]}}", &err);
    mlpf_store *writing = NULL;
    CHECK_OK(mlpf_store_open(db, s, 0, &writing, &err), &err);
    CHECK(mlpf_sweep_run(s, db, &o, &err) == MLPF_EIO && strstr(err.msg, "another sweep is "
              "writing this database") && strstr(err.msg, "ext.sqlite-lock"), "%s", err.msg);
    mlpf_store_close(writing);
    CHECK_OK(mlpf_sweep_run(s, db, &o, &err), &err);   /* closed: free again */
    mlpf_sweep_free(s);
    /* --extend: 2 new seeds x 2 widths run, the 4 old runs stay as they were */
    s = parse("{" BASE ", \"axes\": {\"seed\": [1, 2, 3, 4], \"layers.0.0\": [2, 3]}}", &err);
    CHECK_OK(mlpf_sweep_run(s, db, &o, &err), &err);
    CHECK(count(db, "status = 'done'") == 8, "%ld done after --extend", count(db, "status = 'done'"));
    CHECK(count(db, "seed <= 2") == 4 && finished_sum(db) > before, "extend");
    sqlite3 *h = open_db(db);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(h, "SELECT sum(finished_at) FROM runs WHERE seed <= 2", -1, &q, NULL);
    CHECK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_double(q, 0) == before,
          "--extend re-ran old runs");
    sqlite3_finalize(q);
    sqlite3_close(h);
    mlpf_sweep_free(s);
}

static void test_failing_runs(void) {
    mlpf_error err = {0};
    mlpf_sweep_options o;
    mlpf_sweep_options_default(&o);
    o.verbosity = 0;
    const char *db = tmp("fail.sqlite");
    mlpf_sweep *s = parse("{" BASE ", \"axes\": {\"seed\": [1, 2, 3], \"layers.0.1\": "
                          "[\"tanh\", \"tahn\"]}}", &err);
    CHECK_OK(mlpf_sweep_run(s, db, &o, &err), &err);
    CHECK(count(db, "status = 'done' AND \"layers.0.1\" = 'tanh'") == 3, "good runs done");
    CHECK(count(db, "status = 'failed' AND \"layers.0.1\" = 'tahn' AND error LIKE "
                    "'%layers[0][1]: unknown activation \"tahn\"%' AND loss IS NULL") == 3,
          "bad runs recorded as failed with the parser's message");
    /* failed runs are recorded: not run again */
    double before = finished_sum(db);
    CHECK_OK(mlpf_sweep_run(s, db, &o, &err), &err);
    CHECK(finished_sum(db) == before, "failed runs were retried");
    mlpf_sweep_free(s);
}

static void test_interrupt(void) {
    mlpf_error err = {0};
    mlpf_sweep *s = parse("{" BASE ", \"axes\": {\"seed\": [1, 2, 3]}}", &err);
    mlpf_sweep_options o;
    mlpf_sweep_options_default(&o);
    o.verbosity = 0;
    volatile int stop = 1;
    o.interrupt = &stop;
    const char *db = tmp("int.sqlite");
    CHECK(mlpf_sweep_run(s, db, &o, &err) == MLPF_EINTERRUPTED &&
              strstr(err.msg, "3 of 3 runs left"), "%s", err.msg);
    CHECK(count(db, "status = 'pending'") == 3, "interrupted runs stay pending");
    stop = 0;
    CHECK_OK(mlpf_sweep_run(s, db, &o, &err), &err);
    CHECK(count(db, "status = 'done'") == 3, "resumed");
    mlpf_sweep_free(s);
}

static void test_outcome_bytes(void) {
    mlpf_error err = {0};
    mlpf_sweep *s = parse(SWEEP24, &err);
    mlpf_sweep_outcome a, b;
    CHECK_OK(mlpf_sweep_run_one(s, 7, 1, NULL, &a, &err), &err);
    unsigned char *buf = NULL;
    size_t len = 0;
    CHECK_OK(mlpf_sweep_outcome_pack(&a, &buf, &len, &err), &err);
    CHECK_OK(mlpf_sweep_outcome_unpack(buf, len, &b, &err), &err);
    size_t np = a.res ? a.res->nparams : 0, nt = a.res ? a.res->ntrajectory : 0;
    CHECK(a.res && b.res && b.index == 7 && !b.failed && b.res->loss == a.res->loss &&
              b.res->nparams == np && !strcmp(b.res->optim_stopped_by, a.res->optim_stopped_by) &&
              !memcmp(b.res->x, a.res->x, np * sizeof(double)) &&
              !memcmp(b.res->trajectory_x, a.res->trajectory_x, nt * np * sizeof(double)),
          "outcome through bytes");
    mlpf_sweep_outcome_clear(&b);
    CHECK(mlpf_sweep_outcome_unpack(buf, len - 1, &b, &err) == MLPF_EFORMAT && !b.res,
          "short message");
    free(buf);
    mlpf_sweep_outcome_clear(&a);
    /* a failed outcome carries its message */
    a = (mlpf_sweep_outcome){.index = 3, .failed = 1};
    snprintf(a.error, sizeof a.error, "bad value");
    CHECK_OK(mlpf_sweep_outcome_pack(&a, &buf, &len, &err), &err);
    CHECK(!mlpf_sweep_outcome_unpack(buf, len, &b, &err) && b.failed && !b.res &&
              !strcmp(b.error, "bad value"), "failed outcome through bytes");
    free(buf);
    mlpf_sweep_free(s);
}

int main(void) {
    test_run_spec_numbers_exact();
    snprintf(dir, sizeof dir, "/tmp/mlpf_test_sweep_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_parse_errors();
    test_runs_and_ids();
    test_outcome_bytes();
    test_failing_runs();
    test_interrupt();
    test_changed_and_extend();
    test_threads_equal_single_runs();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return check_report("test_sweep");
}

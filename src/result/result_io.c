/* result_io.c - save an mlpf_result where numpy and any JSON reader find it.
   The names are the reference system's, so scripts written for it carry over. */
#include "result/result_io.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int add(cJSON *o, const char *name, cJSON *v) {
    if (!v) return 0;
    if (!cJSON_AddItemToObject(o, name, v)) {
        cJSON_Delete(v);
        return 0;
    }
    return 1;
}

cJSON *mlpf_result_json(const mlpf_result *res, const mlpf_train_options *opt) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = add(o, "version", cJSON_CreateString(MLPF_VERSION)) &&
             add(o, "nparams", cJSON_CreateNumber((double)res->nparams)) &&
             add(o, "loss", mlpf_json_number(res->loss)) &&
             add(o, "ode_loss", mlpf_json_number(res->ode_loss)) &&
             add(o, "gnorm", mlpf_json_number(res->gnorm)) &&
             add(o, "gnorm_regularized", mlpf_json_number(res->gnorm_regularized)) &&
             add(o, "converged", cJSON_CreateBool(res->converged)) &&
             add(o, "ode_stopped_by", cJSON_CreateString(res->ode_stopped_by)) &&
             add(o, "optim_stopped_by", cJSON_CreateString(res->optim_stopped_by)) &&
             add(o, "alg", cJSON_CreateString(res->alg)) &&
             add(o, "optim_solver", cJSON_CreateString(res->optim_solver)) &&
             add(o, "ode_iterations", cJSON_CreateNumber((double)res->ode_iterations)) &&
             add(o, "optim_iterations", cJSON_CreateNumber((double)res->optim_iterations)) &&
             add(o, "ode_time_run", mlpf_json_number(res->ode_time_run)) &&
             add(o, "optim_time_run", mlpf_json_number(res->optim_time_run)) &&
             add(o, "ode_wall_time", mlpf_json_number(res->ode_wall_time)) &&
             add(o, "total_time", mlpf_json_number(res->total_time)) &&
             add(o, "ntrajectory", cJSON_CreateNumber((double)res->ntrajectory)) &&
             add(o, "ode_kinks", cJSON_CreateString(res->ode_kinks)) &&
             add(o, "loss_error", mlpf_json_number(res->loss_error)) &&
             add(o, "ode_retaken", cJSON_CreateNumber((double)res->ode_retaken));
    if (ok && opt) ok = add(o, "options", mlpf_train_options_json(opt));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* RUN.npz's bytes for res (caller frees *buf) */
static int build_npz(const char *path, const mlpf_result *res, unsigned char **buf, size_t *len,
                     mlpf_error *err) {
    size_t p = res->nparams, nt = res->ntrajectory;
    /* arrays that are missing (e.g. no trajectory recorded) are saved empty */
    static const double none[1] = {0};
    mlpf_npz_entry e[6] = {
        {"x", res->x ? res->x : none, {res->x ? p : 0, 0}, 1},
        {"init", res->init ? res->init : none, {res->init ? p : 0, 0}, 1},
        {"ode_x", res->ode_x ? res->ode_x : none, {res->ode_x ? p : 0, 0}, 1},
        {"trajectory_t", res->trajectory_t ? res->trajectory_t : none,
         {res->trajectory_t ? nt : 0, 0}, 1},
        {"trajectory_x", res->trajectory_x ? res->trajectory_x : none,
         {res->trajectory_x ? nt : 0, p}, 2},
        {"loss_curve", res->loss_curve ? res->loss_curve : none, {res->loss_curve ? nt : 0, 0}, 1},
    };
    return mlpf_npz_build(path, e, 6, buf, len, err);
}

/* {"file": "RUN.npz", "bytes": n, "crc32": "89abcdef"}: what ties RUN.json to
   its RUN.npz (the JSON is written second, so it names the .npz it saw) */
static cJSON *npz_record(const char *npz_path, const unsigned char *buf, size_t len) {
    const char *slash = strrchr(npz_path, '/');
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", (unsigned)mlpf_crc32(0, buf, len));
    cJSON *o = cJSON_CreateObject();
    if (!o || !add(o, "file", cJSON_CreateString(slash ? slash + 1 : npz_path)) ||
        !add(o, "bytes", cJSON_CreateNumber((double)len)) ||
        !add(o, "crc32", cJSON_CreateString(crc))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* the result's JSON with extra's items and the .npz record */
static cJSON *run_json(const mlpf_result *res, const mlpf_train_options *opt,
                       const cJSON *extra, cJSON *record) {
    cJSON *o = record ? mlpf_result_json(res, opt) : NULL;
    if (!o) {
        cJSON_Delete(record);
        return NULL;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, extra) {
        if (!add(o, it->string, cJSON_Duplicate(it, 1))) {
            cJSON_Delete(record);
            cJSON_Delete(o);
            return NULL;
        }
    }
    if (!add(o, "npz", record)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int mlpf_result_save(const char *run, const mlpf_result *res, const mlpf_train_options *opt,
                     const cJSON *extra, mlpf_error *err) {
    size_t n = strlen(run) + 8;
    char *path = mlpf_malloc(n, err);
    if (!path) return err ? err->status : MLPF_ENOMEM;
    snprintf(path, n, "%s.npz", run);
    unsigned char *buf;
    size_t len;
    int st = build_npz(path, res, &buf, &len, err);
    if (st) {
        free(path);
        return st;
    }
    st = mlpf_write_file_atomic(path, buf, len, err);
    cJSON *o = st ? NULL : run_json(res, opt, extra, npz_record(path, buf, len));
    free(buf);
    if (!st && !o) st = mlpf_fail(err, MLPF_ENOMEM, "%s.json: out of memory building the JSON", run);
    snprintf(path, n, "%s.json", run);
    if (!st) st = mlpf_write_json(path, o, err);
    cJSON_Delete(o);
    free(path);
    return st;
}

/* RUN from "RUN", "RUN.json" or "RUN.npz" into a malloc'ed string */
static char *run_stem(const char *run) {
    size_t n = strlen(run);
    if (n > 5 && !strcmp(run + n - 5, ".json")) n -= 5;
    else if (n > 4 && !strcmp(run + n - 4, ".npz")) n -= 4;
    char *s = malloc(n + 8);
    if (s) {
        memcpy(s, run, n);
        s[n] = '\0';
    }
    return s;
}

/* Check that the .npz bytes are the ones RUN.json records. */
static int check_pair(const char *json_path, const cJSON *root, const char *npz_path,
                      const unsigned char *buf, size_t len, mlpf_error *err) {
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(root, "npz");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(rec, "bytes");
    const cJSON *crc = cJSON_GetObjectItemCaseSensitive(rec, "crc32");
    if (!cJSON_IsNumber(bytes) || !cJSON_IsString(crc))
        return mlpf_fail(err, MLPF_EFORMAT, "%s: no \"npz\" record with \"bytes\" and \"crc32\" "
                         "(not a run file of this mlpflow version): cannot check %s", json_path,
                         npz_path);
    char got[16];
    snprintf(got, sizeof got, "%08x", (unsigned)mlpf_crc32(0, buf, len));
    if (bytes->valuedouble != (double)len || strcmp(crc->valuestring, got))
        return mlpf_fail(err, MLPF_EFORMAT, "%s (%zu bytes, crc32 %s) is not the file %s "
                         "records (%.0f bytes, crc32 %.8s): the pair comes from different runs "
                         "or a run was stopped between writing the two", npz_path, len, got,
                         json_path, bytes->valuedouble, crc->valuestring);
    return MLPF_OK;
}

/* A run's .npz (it has the entries only mlpf_result_save writes together), as
   opposed to a plain numpy archive that merely holds an x. */
static int is_run_npz(const char *path, const unsigned char *buf, size_t len) {
    static const char *const run_entries[] = {"init", "ode_x", "loss_curve"};
    for (size_t i = 0; i < sizeof run_entries / sizeof run_entries[0]; i++) {
        double *v = NULL;
        size_t shape[2];
        int ndim;
        mlpf_error e;
        int st = mlpf_npz_array(path, buf, len, run_entries[i], &v, shape, &ndim, &e);
        free(v);
        if (st) return 0;
    }
    return 1;
}

int mlpf_result_read_array(const char *run, const char *name, double **data, size_t shape[2],
                           int *ndim, mlpf_error *err) {
    mlpf_error local;
    if (!err) err = &local;
    *data = NULL;
    char *stem = run_stem(run);
    size_t n = strlen(run) + 8;
    char *json_path = malloc(n), *npz_path = malloc(n);
    if (!stem || !json_path || !npz_path) {
        free(stem);
        free(json_path);
        free(npz_path);
        return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", run);
    }
    snprintf(json_path, n, "%s.json", stem);
    snprintf(npz_path, n, "%s.npz", stem);
    unsigned char *buf = NULL;
    size_t len = 0;
    /* a .npz without a .json beside it is a plain archive (numpy.savez, or a run
       killed before its .json was written: the .npz itself is complete, it was
       renamed into place whole): read it alone; with a .json, check the pair */
    size_t rl = strlen(run);
    int alone = rl > 4 && !strcmp(run + rl - 4, ".npz") && access(json_path, F_OK) != 0 &&
                errno == ENOENT;
    cJSON *root = alone ? NULL : mlpf_json_read(json_path, err);
    int st = alone || root ? mlpf_read_file(npz_path, (char **)&buf, &len, err) : err->status;
    if (!st && !alone) st = check_pair(json_path, root, npz_path, buf, len, err);
    if (!st && alone && is_run_npz(npz_path, buf, len))
        st = mlpf_fail(err, MLPF_EIO, "%s: cannot open it (missing), but %s is a run's .npz: the "
                       "pair is incomplete (the run was stopped before its .json was written)",
                       json_path, npz_path);
    if (!st) st = mlpf_npz_array(npz_path, buf, len, name, data, shape, ndim, err);
    cJSON_Delete(root);
    free(buf);
    free(stem);
    free(json_path);
    free(npz_path);
    return st;
}

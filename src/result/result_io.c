/* result_io.c - save an mlpf_result where numpy and any JSON reader find it.
   The names are the reference system's, so scripts written for it carry over. */
#include "result/result_io.h"

#include <string.h>

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
             add(o, "ntrajectory", cJSON_CreateNumber((double)res->ntrajectory));
    if (ok && opt) ok = add(o, "options", mlpf_train_options_json(opt));
    if (!ok) {
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
    snprintf(path, n, "%s.npz", run);
    int st = mlpf_write_npz(path, e, 6, err);
    if (st) {
        free(path);
        return st;
    }
    cJSON *o = mlpf_result_json(res, opt);
    if (!o) {
        free(path);
        return mlpf_fail(err, MLPF_ENOMEM, "%s.json: out of memory building the JSON", run);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, extra) {
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup || !cJSON_AddItemToObject(o, it->string, dup)) {
            cJSON_Delete(dup);
            cJSON_Delete(o);
            free(path);
            return mlpf_fail(err, MLPF_ENOMEM, "%s.json: out of memory building the JSON", run);
        }
    }
    snprintf(path, n, "%s.json", run);
    st = mlpf_write_json(path, o, err);
    cJSON_Delete(o);
    free(path);
    return st;
}

/* fuzz_problem.c - the spec / problem JSON loader, mlpf_problem_parse. Data
   files live in a private temp dir made once (X.npy 8x2, Y.npy 8x1, Y3.csv 8x3,
   labels.npy 8 class labels, W.npy 8 weights, T.npy the 12 parameters of a 2-3-1 teacher,
   tau.npy). Inputs that would only test the machine are skipped: strings with
   '/' (other files), numbers in (32, 1e9] (large but legal sizes: samples,
   units, quadrature orders; the resource guards are tested elsewhere) and more
   than 2000 JSON values. Invariants beyond "no crash":
   - a failure has a status and a message starting with the spec's name;
   - a loaded problem is consistent: an objective with the net's parameter
     count, a teacher with the student's outputs, tauinv of length 0, 1 or P,
     merges naming distinct units of existing layers; and for small finite
     data its loss and gradient evaluate (any status, but a failure explains). */
#include "fuzz.h"
#include "io/io.h"
#include "problem/problem.h"

#include <cjson/cJSON.h>

static void write_array(const char *name, const double *v, size_t rows, size_t cols, int ndim) {
    char path[300];
    fuzz_tmp_path(path, sizeof path, name);
    size_t shape[2] = {rows, cols};
    mlpf_error err;
    if (mlpf_write_npy(path, v, shape, ndim, &err)) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_make_tmpdir();
    double x[16], y[8], lab[8], w[8], t[12], tau[3] = {1, 0.5, 0};
    for (int i = 0; i < 8; i++) {
        x[2 * i] = 0.25 * i - 1;
        x[2 * i + 1] = 0.5 - 0.125 * i * i;
        y[i] = x[2 * i] * x[2 * i + 1];
        lab[i] = i % 3;
        w[i] = 0.5 + 0.125 * i;
    }
    for (int i = 0; i < 12; i++) t[i] = 0.1 * i - 0.6;
    write_array("X.npy", x, 8, 2, 2);
    write_array("Y.npy", y, 8, 1, 2);
    write_array("labels.npy", lab, 8, 1, 1);
    write_array("W.npy", w, 8, 1, 1);
    write_array("T.npy", t, 12, 1, 1);
    write_array("tau.npy", tau, 3, 1, 1);
    char path[300];
    fuzz_tmp_path(path, sizeof path, "Y3.csv");
    FILE *f = fopen(path, "w");
    if (!f) abort();
    for (int i = 0; i < 8; i++) fprintf(f, "%d,%d,%d\n", i % 3 == 0, i % 3 == 1, i % 3 == 2);
    if (fclose(f)) abort();
    return 0;
}

/* 1 when the JSON stays within what the harness fuzzes (see the top). */
static int within_scope(const cJSON *j, int *count) {
    for (; j; j = j->next) {
        if (++*count > 2000) return 0;
        if (cJSON_IsString(j) && strchr(j->valuestring, '/')) return 0;
        if (cJSON_IsNumber(j) && j->valuedouble > 32 && j->valuedouble <= 1e9) return 0;
        if (j->child && !within_scope(j->child, count)) return 0;
    }
    return 1;
}

static void check_problem(const mlpf_problem *p) {
    FUZZ_CHECK(p->net && p->obj && p->reg, "incomplete problem");
    size_t np = mlpf_net_nparams(p->net);
    FUZZ_CHECK(mlpf_objective_nparams(p->obj) == np && mlpf_objective_nparams(p->reg) == np,
               "objective has %zu parameters, net %zu", mlpf_objective_nparams(p->obj), np);
    if (p->teacher)
        FUZZ_CHECK(mlpf_net_dout(p->teacher) == mlpf_net_dout(p->net) &&
                       mlpf_net_din(p->teacher) == mlpf_net_din(p->net) && p->teacher_params,
                   "teacher and student disagree");
    const mlpf_train_options *o = &p->train.opt;
    FUZZ_CHECK(o->ntauinv == 0 || o->ntauinv == 1 || o->ntauinv == np, "%zu tauinv for %zu",
               o->ntauinv, np);
    for (size_t k = 0; k < o->nmerges; k++) {
        const mlpf_merge *m = &o->merges[k];
        FUZZ_CHECK(m->layer >= 0 && m->layer < mlpf_net_nlayers(p->net) && m->i != m->j &&
                       m->i >= 0 && m->j >= 0 && m->i < mlpf_net_layer_units(p->net, m->layer) &&
                       m->j < mlpf_net_layer_units(p->net, m->layer),
                   "merge %zu names units %d, %d of layer %d", k, m->i, m->j, m->layer);
    }
    if (!p->input) return;
    FUZZ_CHECK(p->n > 0 && p->target && p->tcols > 0, "finite data without samples or targets");
    if (p->n * np > 20000) return;
    double *x = malloc(np * sizeof(double)), *g = malloc(np * sizeof(double)), loss;
    if (!x || !g) abort();
    mlpf_error err = {0};
    if (mlpf_random_params(p->net, 3, x, &err) == MLPF_OK) {
        int st = mlpf_objective_eval(p->reg, x, &loss, g, NULL, &err);
        if (st) fuzz_check_failure(st, &err);
    }
    free(x);
    free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstring(data, size);
    cJSON *pre = cJSON_Parse(text);
    int count = 0, skip = pre && !within_scope(pre, &count);
    cJSON_Delete(pre);
    if (!skip) {
        mlpf_problem *p = NULL;
        mlpf_error err = {0};
        int st = mlpf_problem_parse(text, "fuzz.json", fuzz_tmpdir, 1, &p, &err);
        if (st) {
            fuzz_check_failure(st, &err);
            FUZZ_CHECK(p == NULL, "failed parse returned a problem");
            FUZZ_CHECK(!strncmp(err.msg, "fuzz.json: ", 11), "message does not start with the "
                       "spec's name: %s", err.msg);
        } else {
            check_problem(p);
            mlpf_problem_free(p);
        }
    }
    free(text);
    return 0;
}

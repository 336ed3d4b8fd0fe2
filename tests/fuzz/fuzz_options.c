/* fuzz_options.c - the train-options parser: mlpf_train_config_set_string (the
   command-line form) and mlpf_train_config_set (the spec's JSON form).
   Input: "key=value" (no '=': the whole input is a value for the key chosen by
   its first byte). Invariants beyond "no crash":
   - a refused option changes nothing (the options JSON is the same before and
     after) and its message names the option;
   - accepted options survive the trip through RUN.json: every item of
     mlpf_train_options_json set again on fresh defaults gives the same JSON.
   String values of tauinv name files: they resolve in a private temp dir that
   holds tau.npy and tau.csv (paths with '/' are skipped: the harness fuzzes the
   parser, not the file system). */
#include "fuzz.h"
#include "io/io.h"

#include <cjson/cJSON.h>

static const char *const KEYS[] = {
    "alg", "maxT", "abstol", "reltol", "maxtime_ode", "maxiterations_ode", "rk4_step", "lr",
    "beta1", "beta2", "eps", "batchsize", "shuffle", "optim_solver", "maxtime_optim",
    "maxiterations_optim", "min_gnorm", "minloss", "patience", "maxnorm",
    "n_samples_trajectory", "verbosity", "progress_interval", "seed", "tauinv", "merge"};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_make_tmpdir();
    char path[300];
    fuzz_tmp_path(path, sizeof path, "tau.npy");
    const double tau[3] = {1, 0.5, 0};
    const size_t shape[2] = {3, 1};
    mlpf_error err;
    if (mlpf_write_npy(path, tau, shape, 1, &err)) abort();
    fuzz_tmp_path(path, sizeof path, "tau.csv");
    FILE *f = fopen(path, "w");
    if (!f || fputs("1,2\n3,4\n", f) < 0 || fclose(f)) abort();
    return 0;
}

static char *options_text(const mlpf_train_config *c) {
    cJSON *j = mlpf_train_options_json(&c->opt);
    FUZZ_CHECK(j != NULL, "options JSON failed");
    char *s = cJSON_PrintUnformatted(j);
    FUZZ_CHECK(s != NULL, "printing the options failed");
    cJSON_Delete(j);
    return s;
}

/* Set every option recorded in text on fresh defaults: the same text again. */
static void check_round_trip(const char *text) {
    cJSON *j = cJSON_Parse(text);
    FUZZ_CHECK(j != NULL, "options JSON does not parse: %s", text);
    mlpf_train_config c;
    mlpf_train_config_init(&c);
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        mlpf_error err = {0};
        int st = mlpf_train_config_set(&c, e->string, e, NULL, e->string, &err);
        FUZZ_CHECK(st == MLPF_OK, "recorded option does not load back: %s\n%s", err.msg, text);
    }
    char *again = options_text(&c);
    FUZZ_CHECK(!strcmp(text, again), "options changed on the way back:\n%s\n%s", text, again);
    free(again);
    mlpf_train_config_free(&c);
    cJSON_Delete(j);
}

static void check_set(mlpf_train_config *c, int st, const mlpf_error *err, const char *before,
                      const char *key) {
    char *after = options_text(c);
    if (st) {
        fuzz_check_failure(st, err);
        FUZZ_CHECK(!strcmp(before, after), "refused option %s changed the options:\n%s\n%s", key,
                   before, after);
        char head[41];   /* messages may shorten very long keys */
        snprintf(head, sizeof head, "%s", key);
        FUZZ_CHECK(strstr(err->msg, head) != NULL, "message does not name %s: %s", head, err->msg);
    } else {
        check_round_trip(after);
    }
    free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *in = fuzz_cstring(data, size);
    if (strlen(in) != size) goto out;     /* C strings: a NUL ends the value */
    const char *key, *value;
    char *eq = strchr(in, '=');
    if (eq) {
        *eq = '\0';
        key = in;
        value = eq + 1;
    } else {
        key = size ? KEYS[(unsigned char)in[0] % NKEYS] : "maxT";
        value = size ? in + 1 : in;
    }
    if (!strcmp(key, "tauinv") && strchr(value, '/')) goto out;

    /* the command-line form (its file paths would resolve in the working
       directory: strings for tauinv go through the JSON form only) */
    mlpf_train_config c;
    mlpf_train_config_init(&c);
    mlpf_error err = {0};
    char *before = options_text(&c);
    int file_name = !strcmp(key, "tauinv") && value[0] != '[' && strtod(value, NULL) == 0 &&
                    value[0] != '0';
    if (!file_name) {
        int st = mlpf_train_config_set_string(&c, key, value, &err);
        check_set(&c, st, &err, before, key);
    }
    mlpf_train_config_free(&c);

    /* the JSON form: the value parsed as JSON, else as a JSON string */
    cJSON *v = cJSON_Parse(value);
    if (!v) v = cJSON_CreateString(value);
    if (!v) abort();
    mlpf_train_config_init(&c);
    char where[64];
    snprintf(where, sizeof where, "train.%.50s", key);
    int st = mlpf_train_config_set(&c, key, v, fuzz_tmpdir, where, &err);
    check_set(&c, st, &err, before, key);
    mlpf_train_config_free(&c);
    cJSON_Delete(v);
    free(before);
out:
    free(in);
    return 0;
}

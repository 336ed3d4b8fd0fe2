/* cmd_analysis.c - the analysis commands: `classify` (what a point is). Each
   loads the spec and the point, makes one library call and prints JSON. */
#include "cli.h"
#include "result/result_io.h"

#include <math.h>
#include <string.h>

static const char HELP_CLASSIFY[] =
    "usage: mlpflow classify --spec S.json --params P.npy|RUN.npz [--tol T] [--gnorm-tol G]\n"
    "                        [--no-channels] [--threads N]\n"
    "\n"
    "What the point is: prints a JSON object with kind (\"minimum\", \"saddle\",\n"
    "\"channel\" or \"not_critical\"), index (negative Hessian eigenvalues), n_zero,\n"
    "n_positive, strict, zero_tol, gnorm_tol, loss, gnorm, eigenvalues (ascending)\n"
    "and channels (pairs of units diverging to infinity, with their gated-linear-unit\n"
    "limit c, w, v and glu_error; see mlpf_channels in mlpflow.h). Non-finite numbers\n"
    "are written as the strings \"inf\", \"-inf\", \"nan\".\n"
    "  --params   a parameter vector (.npy / CSV) or a training result RUN.npz (its\n"
    "             x; its trajectory adds each channel's growth_exponent, loss_rate)\n"
    "  --tol      eigenvalues with |lambda| <= T count as zero (default: derived from\n"
    "             the rounding of the Hessian, P eps |H| + |H(x - H^+ g) - H(x)|)\n"
    "  --gnorm-tol  gradient inf-norm below which x is critical (default: P eps |H| |x|\n"
    "             plus the gradient's measured rounding noise)\n"
    "  --no-channels  skip channel detection\n";

/* A double option (finite, >= 0); NAN when absent. */
static int cli_double(const cli_args *a, const char *name, double *out) {
    const char *v = cli_get(a, name);
    *out = NAN;
    if (!v) return 0;
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= 0) || !isfinite(x))
        return cli_usage(a->cmd, "--%s: \"%s\" is not a finite number >= 0", name, v);
    *out = x;
    return 0;
}

typedef struct {
    double *x, *t, *xs, *losses;
    size_t m;
} point_file;

static void point_free(point_file *pf) {
    free(pf->x), free(pf->t), free(pf->xs), free(pf->losses);
}

/* The trajectory of a run (RUN.npz / RUN.json, the pair checked) when it has one
   that fits P (else m = 0). */
static void read_trajectory(const char *path, size_t np, point_file *pf) {
    mlpf_error e = {0};
    size_t s1[2], s2[2], s3[2];
    int d1, d2, d3;
    if (mlpf_result_read_array(path, "trajectory_t", &pf->t, s1, &d1, &e) ||
        mlpf_result_read_array(path, "trajectory_x", &pf->xs, s2, &d2, &e) ||
        mlpf_result_read_array(path, "loss_curve", &pf->losses, s3, &d3, &e) || d1 != 1 ||
        d2 != 2 || d3 != 1 || s2[0] != s1[0] || s3[0] != s1[0] || s2[1] != np)
        return;
    pf->m = s1[0];
}

static int is_run_path(const char *path) {
    size_t n = strlen(path);
    return (n >= 4 && !strcmp(path + n - 4, ".npz")) || (n >= 5 && !strcmp(path + n - 5, ".json"));
}

/* --params: a vector file, or a run's x (and its trajectory). */
static int read_point(const char *path, const mlpf_net *net, point_file *pf) {
    memset(pf, 0, sizeof *pf);
    int rc = cli_read_params(path, net, &pf->x);
    if (rc) return rc;
    if (is_run_path(path)) read_trajectory(path, mlpf_net_nparams(net), pf);
    return 0;
}

static cJSON *json_vec(const double *v, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, mlpf_json_number(v[i]));
    return a;
}

static cJSON *json_mat(const double *v, size_t rows, size_t cols) {
    cJSON *a = cJSON_CreateArray();
    for (size_t r = 0; a && r < rows; r++) cJSON_AddItemToArray(a, json_vec(v + r * cols, cols));
    return a;
}

static cJSON *channel_json(const mlpf_channel *ch) {
    cJSON *o = cJSON_CreateObject();
    int single = ch->type == MLPF_CHANNEL_SINGLE;
    cJSON_AddStringToObject(o, "type", single ? "single" : "pair");
    cJSON_AddNumberToObject(o, "layer", ch->layer);
    cJSON *u = cJSON_AddArrayToObject(o, "units");
    for (int k = 0; u && k < (single ? 1 : 2); k++) cJSON_AddItemToArray(u, cJSON_CreateNumber(ch->units[k]));
    cJSON_AddItemToObject(o, "gap", mlpf_json_number(ch->gap));
    cJSON_AddItemToObject(o, "cosine", mlpf_json_number(ch->cosine));
    cJSON_AddItemToObject(o, "amplification", mlpf_json_number(ch->amplification));
    cJSON_AddItemToObject(o, "out_weights", json_mat(ch->out_weights, single ? 1 : 2, (size_t)ch->nout));
    cJSON_AddItemToObject(o, "c", json_vec(ch->c, (size_t)ch->nout));
    cJSON_AddItemToObject(o, "w", json_vec(ch->w, (size_t)ch->nin));
    cJSON_AddItemToObject(o, "v", json_mat(ch->v, (size_t)ch->nout, (size_t)ch->nin));
    cJSON_AddItemToObject(o, "glu_error", mlpf_json_number(ch->glu_error));
    cJSON_AddItemToObject(o, "growth_exponent", mlpf_json_number(ch->growth_exponent));
    cJSON_AddItemToObject(o, "loss_rate", mlpf_json_number(ch->loss_rate));
    return o;
}

static cJSON *classification_json(const mlpf_classification *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", mlpf_point_kind_name(c->kind));
    cJSON_AddNumberToObject(o, "index", c->index);
    cJSON_AddNumberToObject(o, "n_zero", c->n_zero);
    cJSON_AddNumberToObject(o, "n_positive", c->n_positive);
    cJSON_AddBoolToObject(o, "strict", c->strict);
    cJSON_AddItemToObject(o, "zero_tol", mlpf_json_number(c->zero_tol));
    cJSON_AddItemToObject(o, "gnorm_tol", mlpf_json_number(c->gnorm_tol));
    cJSON_AddItemToObject(o, "loss", mlpf_json_number(c->loss));
    cJSON_AddItemToObject(o, "gnorm", mlpf_json_number(c->gnorm));
    cJSON_AddItemToObject(o, "eigenvalues", json_vec(c->eigenvalues, c->nparams));
    cJSON *chs = cJSON_AddArrayToObject(o, "channels");
    for (size_t k = 0; chs && k < c->nchannels; k++) cJSON_AddItemToArray(chs, channel_json(&c->channels[k]));
    return o;
}

/* classify, then the channels' dynamics along the file's trajectory */
static int run_classify(const mlpf_problem *p, const point_file *pf, const mlpf_classify_options *o) {
    mlpf_error err = {0};
    mlpf_classification c;
    if (mlpf_classify(p->obj, pf->x, p->input, p->weights, p->n, o, &c, &err))
        return cli_error(CLI_FAIL, "classify: %s", err.msg);
    int rc = 0;
    for (size_t k = 0; k < c.nchannels && pf->m && !rc; k++)
        if (mlpf_channel_dynamics(p->net, &c.channels[k], pf->t, pf->xs, pf->losses, pf->m, 2, &err))
            rc = cli_error(CLI_FAIL, "classify: %s", err.msg);
    cJSON *json = rc ? NULL : classification_json(&c);
    char *text = json ? mlpf_json_print(json, 1) : NULL;
    if (!rc && !text) rc = cli_error(CLI_FAIL, "out of memory");
    if (text) puts(text);
    free(text);
    cJSON_Delete(json);
    mlpf_classification_free(&c);
    return rc;
}

int cmd_classify(int argc, char **argv) {
    static const char *const valued[] = {"spec", "params", "tol", "gnorm-tol", "threads", NULL};
    static const char *const flags[] = {"no-channels", NULL};
    cli_args a;
    int rc = cli_parse("classify", HELP_CLASSIFY, argc, argv, valued, flags, 0, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!cli_get(&a, "params")) return cli_usage("classify", "--params P.npy|RUN.npz is required");
    mlpf_classify_options o;
    mlpf_classify_options_default(&o);
    o.detect_channels = !cli_flag(&a, "no-channels");
    unsigned long long threads;
    if ((rc = cli_double(&a, "tol", &o.zero_tol)) || (rc = cli_double(&a, "gnorm-tol", &o.gnorm_tol)) ||
        (rc = cli_uint(&a, "threads", 0, 4096, &threads)))
        return rc;
    mlpf_problem *p = NULL;
    if ((rc = cli_load_problem(&a, (int)threads, &p))) return rc;
    size_t np = mlpf_net_nparams(p->net);
    point_file pf;
    if (np > 46000) rc = cli_error(CLI_FAIL, "classify: %zu parameters: the Hessian would not fit in memory", np);
    if (!rc) rc = read_point(cli_get(&a, "params"), p->net, &pf);
    if (!rc) rc = run_classify(p, &pf, &o);
    point_free(&pf);
    mlpf_problem_free(p);
    return rc;
}

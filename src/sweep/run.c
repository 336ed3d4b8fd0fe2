/* run.c - one run of a sweep (its spec -> problem -> mlpf_train, as
   `mlpflow train` does it), the scheduler that hands runs to threads and
   records each in the store, and the progress line. Runs go out one at a time
   from a shared counter: run times differ by 100x, so no static split. */
#include "sweep/sweep.h"

/* The problem spec loader (mlpf_problem_parse): the one include to change if
   it moves. */
#include "problem/problem.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

/* ---- one run ---- */

void mlpf_sweep_outcome_clear(mlpf_sweep_outcome *o) {
    if (!o) return;
    mlpf_result_free(o->res);
    memset(o, 0, sizeof *o);
}

static int failed_with(mlpf_sweep_outcome *out, const mlpf_error *e) {
    out->failed = 1;
    snprintf(out->error, sizeof out->error, "%s", e->msg[0] ? e->msg :
             mlpf_status_string(e->status));
    return MLPF_OK;
}

static int interrupted(const mlpf_result *r) {
    return !strcmp(r->ode_stopped_by, "interrupt") || !strcmp(r->optim_stopped_by, "interrupt");
}

/* What the run ended at, by the analysis layer (as `mlpflow classify` says it):
   the kind, the saddle index and the number of channels. Classified on the
   unregularised objective, with the data for channel detection. A point the
   analysis cannot classify leaves the columns NULL (classified = 0); the run
   itself is still recorded. */
static void classify_outcome(const mlpf_problem *p, mlpf_sweep_outcome *out) {
    mlpf_classify_options copt;
    mlpf_classify_options_default(&copt);
    mlpf_classification c;
    mlpf_error e = {0};
    if (mlpf_classify(p->obj, out->res->x, p->input, p->weights, p->n, &copt, &c, &e)) return;
    out->classified = 1;
    snprintf(out->kind, sizeof out->kind, "%s", mlpf_point_kind_name(c.kind));
    out->saddle_index = c.index;
    out->n_channels = (int)c.nchannels;
    mlpf_classification_free(&c);
}

/* Train problem p from the start of its train seed, like `mlpflow train`. */
static int train_problem(const mlpf_problem *p, volatile int *interrupt, double t0,
                         mlpf_sweep_outcome *out, mlpf_error *err) {
    mlpf_error e = {0};
    size_t np = mlpf_net_nparams(p->net);
    double *x0 = mlpf_malloc((np + 1) * sizeof *x0, err);
    if (!x0) return MLPF_ENOMEM;
    mlpf_train_options opt = p->train.opt;
    opt.verbosity = 0;
    opt.progress = NULL;
    opt.interrupt = interrupt;
    if (mlpf_random_params(p->net, opt.seed, x0, &e)) {
        free(x0);
        return failed_with(out, &e);
    }
    out->setup_time = mlpf_now() - t0;
    mlpf_result *res = NULL;
    int st = mlpf_train(p->obj, x0, &opt, &res, &e);
    free(x0);
    if (st == MLPF_ENOMEM) return mlpf_fail(err, st, "%s", e.msg);
    /* an error while the stop flag is up may be the stop's doing: not recorded */
    if (st == MLPF_EINTERRUPTED || (res && interrupted(res)) || (st && interrupt && *interrupt)) {
        mlpf_result_free(res);
        return MLPF_EINTERRUPTED;
    }
    if (st || !res) {
        mlpf_result_free(res);
        return failed_with(out, &e);
    }
    out->res = res;
    classify_outcome(p, out);
    return MLPF_OK;
}

int mlpf_sweep_run_one(const mlpf_sweep *s, size_t i, int threads, volatile int *interrupt,
                       mlpf_sweep_outcome *out, mlpf_error *err) {
    mlpf_error local;
    if (!err) err = &local;
    memset(out, 0, sizeof *out);
    out->index = i;
    double t0 = mlpf_now();
    mlpf_error e = {0};
    char id[MLPF_RUN_ID_LEN];
    if (mlpf_sweep_run_id(s, i, id, err)) return err->status;
    char *text = mlpf_sweep_run_spec(s, i, &e);
    if (!text) return e.status == MLPF_ENOMEM ? mlpf_fail(err, e.status, "%s", e.msg)
                                              : failed_with(out, &e);
    char name[600];
    snprintf(name, sizeof name, "%s run %s", s->name, id);
    mlpf_problem *p = NULL;
    int st = mlpf_problem_parse(text, name, s->dir, threads, &p, &e);
    free(text);
    if (st == MLPF_ENOMEM) return mlpf_fail(err, st, "%s", e.msg);
    if (st) return failed_with(out, &e);
    st = train_problem(p, interrupt, t0, out, err);
    mlpf_problem_free(p);
    return st;
}

/* ---- outcomes as bytes (MPI) ----
   [outcome struct][result struct][x, init, ode_x (P each)][trajectory_t,
   loss_curve (T each)][trajectory_x (T*P)]; pointers are rebuilt on unpack. */

int mlpf_sweep_outcome_pack(const mlpf_sweep_outcome *o, unsigned char **buf, size_t *len,
                            mlpf_error *err) {
    const mlpf_result *r = o->res;
    size_t p = r ? r->nparams : 0, nt = r ? r->ntrajectory : 0;
    size_t n = sizeof *o + (r ? sizeof *r + (3 * p + 2 * nt + nt * p) * sizeof(double) : 0);
    unsigned char *b = mlpf_malloc(n, err), *w = b;
    if (!b) return MLPF_ENOMEM;
    memcpy(w, o, sizeof *o);
    w += sizeof *o;
    if (r) {
        memcpy(w, r, sizeof *r);
        w += sizeof *r;
        const double *parts[6] = {r->x, r->init, r->ode_x, r->trajectory_t, r->loss_curve,
                                  r->trajectory_x};
        size_t counts[6] = {p, p, p, nt, nt, nt * p};
        for (int k = 0; k < 6; k++) {
            if (counts[k]) memcpy(w, parts[k], counts[k] * sizeof(double));
            w += counts[k] * sizeof(double);
        }
    }
    *buf = b;
    *len = n;
    return MLPF_OK;
}

int mlpf_sweep_outcome_unpack(const unsigned char *buf, size_t len, mlpf_sweep_outcome *o,
                              mlpf_error *err) {
    memset(o, 0, sizeof *o);
    if (len < sizeof *o) return mlpf_fail(err, MLPF_EFORMAT, "sweep outcome: %zu bytes", len);
    memcpy(o, buf, sizeof *o);
    int has_result = o->res != NULL;
    o->res = NULL;
    o->error[sizeof o->error - 1] = '\0';
    if (!has_result) return len == sizeof *o ? MLPF_OK :
        mlpf_fail(err, MLPF_EFORMAT, "sweep outcome: %zu bytes", len);
    mlpf_result head;
    if (len < sizeof *o + sizeof head)
        return mlpf_fail(err, MLPF_EFORMAT, "sweep outcome: %zu bytes", len);
    memcpy(&head, buf + sizeof *o, sizeof head);
    size_t p = head.nparams, nt = head.ntrajectory;
    size_t counts[6] = {p, p, p, nt, nt, nt * p};
    size_t need = sizeof *o + sizeof head + (3 * p + 2 * nt + nt * p) * sizeof(double);
    if (len != need) return mlpf_fail(err, MLPF_EFORMAT, "sweep outcome: %zu bytes, expected %zu",
                                      len, need);
    mlpf_result *r = mlpf_calloc(1, sizeof *r, err);
    if (!r) return MLPF_ENOMEM;
    *r = head;
    double **parts[6] = {&r->x, &r->init, &r->ode_x, &r->trajectory_t, &r->loss_curve,
                         &r->trajectory_x};
    for (int k = 0; k < 6; k++) *parts[k] = NULL;
    const unsigned char *rd = buf + sizeof *o + sizeof head;
    for (int k = 0; k < 6; k++) {
        *parts[k] = mlpf_malloc((counts[k] + 1) * sizeof(double), err);
        if (!*parts[k]) {
            mlpf_result_free(r);
            return MLPF_ENOMEM;
        }
        if (counts[k]) memcpy(*parts[k], rd, counts[k] * sizeof(double));
        rd += counts[k] * sizeof(double);
    }
    o->res = r;
    return MLPF_OK;
}

/* ---- progress ---- */

const char *mlpf_sweep_outcome_label(const mlpf_sweep_outcome *o) {
    if (o->failed || !o->res) return "failed";
    if (o->classified) return o->kind;
    return o->res->converged ? "converged" : o->res->optim_stopped_by;
}

void mlpf_sweep_progress_start(mlpf_sweep_progress *p, size_t total, size_t done, size_t failed,
                               int verbosity, double interval) {
    memset(p, 0, sizeof *p);
    p->total = total;
    p->done = done;
    p->failed = failed;
    p->verbosity = verbosity;
    p->interval = interval > 0 ? interval : 5;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = p->last = mlpf_now();
}

static void duration(char *buf, size_t cap, double s) {
    if (!isfinite(s)) snprintf(buf, cap, "?");
    else if (s < 120) snprintf(buf, cap, "%.0fs", s);
    else if (s < 7200) snprintf(buf, cap, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else snprintf(buf, cap, "%.0fh%02.0fm", floor(s / 3600), fmod(floor(s / 60), 60));
}

static void progress_print(const mlpf_sweep_progress *p, int final) {
    double el = mlpf_now() - p->t0, rate = el > 0 ? (double)p->done_now / el : 0;
    size_t left = p->total - p->done - p->failed;
    char eta[32], line[600];
    duration(eta, sizeof eta, rate > 0 ? (double)left / rate : (left ? INFINITY : 0));
    int n = snprintf(line, sizeof line, "sweep: %zu/%zu done, %zu failed, %.3g runs/s, ETA %s",
                     p->done, p->total, p->failed, rate, eta);
    for (int k = 0; k < p->nlabels && n > 0 && (size_t)n < sizeof line; k++)
        n += snprintf(line + n, sizeof line - (size_t)n, "%s %s %zu", k ? "," : " |",
                      p->label[k], p->count[k]);
    if (p->tty) fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

void mlpf_sweep_progress_add(mlpf_sweep_progress *p, const mlpf_sweep_outcome *o) {
    if (o->failed) p->failed++;
    else p->done++;
    p->done_now++;
    const char *label = mlpf_sweep_outcome_label(o);
    int k = 0;
    while (k < p->nlabels && strcmp(p->label[k], label)) k++;
    if (k == p->nlabels && k < MLPF_SWEEP_MAXLABELS) {
        snprintf(p->label[k], sizeof p->label[k], "%s", label);
        p->nlabels++;
    }
    if (k < MLPF_SWEEP_MAXLABELS) p->count[k]++;
    double now = mlpf_now();
    if (p->verbosity > 0 && now - p->last >= (p->tty ? 0.2 : p->interval)) {
        p->last = now;
        progress_print(p, 0);
    }
}

void mlpf_sweep_progress_end(mlpf_sweep_progress *p) {
    if (p->verbosity > 0) progress_print(p, 1);
}

/* ---- the thread scheduler ---- */

typedef struct {
    const mlpf_sweep *s;
    mlpf_store *store;
    const size_t *todo;
    size_t ntodo, next;
    volatile int *interrupt;
    pthread_mutex_t lock;
    int status;                 /* first error that stops the sweep */
    mlpf_error err;
    mlpf_sweep_progress progress;
} pool;

/* the next run to do, or 0 when none is left or the sweep stops */
static int take(pool *pl, size_t *i) {
    pthread_mutex_lock(&pl->lock);
    int ok = !pl->status && !*pl->interrupt && pl->next < pl->ntodo;
    if (ok) *i = pl->todo[pl->next++];
    pthread_mutex_unlock(&pl->lock);
    return ok;
}

static void stop_with(pool *pl, int status, const mlpf_error *e) {
    if (pl->status) return;
    pl->status = status;
    pl->err = *e;
}

static void *worker(void *arg) {
    pool *pl = arg;
    size_t i;
    /* the parallelism is across runs: OpenMP regions inside a run (objective,
       BLAS) get one thread instead of a team per sweep thread that spins for
       the same cores; results do not depend on the thread count */
    omp_set_num_threads(1);
    while (take(pl, &i)) {
        mlpf_sweep_outcome o;
        mlpf_error e = {0};
        int st = mlpf_sweep_run_one(pl->s, i, 1, pl->interrupt, &o, &e);
        pthread_mutex_lock(&pl->lock);
        if (st == MLPF_OK) st = mlpf_store_record(pl->store, &o, &e);
        if (st == MLPF_OK) mlpf_sweep_progress_add(&pl->progress, &o);
        else if (st != MLPF_EINTERRUPTED) stop_with(pl, st, &e);
        pthread_mutex_unlock(&pl->lock);
        mlpf_sweep_outcome_clear(&o);
    }
    return NULL;
}

void mlpf_sweep_options_default(mlpf_sweep_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->threads = 0;
    opt->extend = 0;
    opt->verbosity = 1;
    opt->progress_interval = 5;
    opt->interrupt = NULL;
}

static int run_pool(pool *pl, int threads) {
    pthread_t *tid = mlpf_calloc((size_t)threads, sizeof *tid, &pl->err);
    if (!tid) return MLPF_ENOMEM;
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, worker, pl)) break;
    if (!started) worker(pl);   /* no thread could start: run here */
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    free(tid);
    return pl->status;
}

int mlpf_sweep_run(const mlpf_sweep *s, const char *db, const mlpf_sweep_options *opt,
                   mlpf_error *err) {
    mlpf_error local;
    if (!err) err = &local;
    mlpf_error_clear(err);
    if (!s || !db) return mlpf_fail(err, MLPF_EINVAL, "mlpf_sweep_run: NULL argument");
    mlpf_sweep_options o;
    if (opt) o = *opt;
    else mlpf_sweep_options_default(&o);
    if (o.threads < 0) return mlpf_fail(err, MLPF_EINVAL, "mlpf_sweep_run: threads %d < 0",
                                        o.threads);
    volatile int never = 0;
    pool pl = {.s = s, .interrupt = o.interrupt ? o.interrupt : &never};
    size_t ndone, nfailed;
    size_t *todo = NULL;
    int rc = mlpf_store_open(db, s, o.extend, &pl.store, err);
    if (!rc) rc = mlpf_store_todo(pl.store, &todo, &pl.ntodo, &ndone, &nfailed, err);
    if (rc) {
        mlpf_store_close(pl.store);
        return rc;
    }
    pl.todo = todo;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = o.threads ? o.threads : (int)(cores > 0 ? cores : 1);
    if ((size_t)threads > pl.ntodo) threads = pl.ntodo ? (int)pl.ntodo : 1;
    mlpf_sweep_progress_start(&pl.progress, s->nruns, ndone, nfailed, o.verbosity,
                              o.progress_interval);
    pthread_mutex_init(&pl.lock, NULL);
    rc = pl.ntodo ? run_pool(&pl, threads) : MLPF_OK;
    pthread_mutex_destroy(&pl.lock);
    mlpf_sweep_progress_end(&pl.progress);
    if (rc) *err = pl.err;
    size_t left = s->nruns - pl.progress.done - pl.progress.failed;
    if (!rc && left)
        rc = mlpf_fail(err, MLPF_EINTERRUPTED, "%s: interrupted with %zu of %zu runs left; run "
                       "the same sweep again to continue", db, left, s->nruns);
    free(todo);
    mlpf_store_close(pl.store);
    return rc;
}

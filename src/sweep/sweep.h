/* sweep.h - sweeps inside the library and for the command-line tool's MPI
   engine: the sweep spec and its runs (sweep_spec.c), one run and the thread
   scheduler (run.c), the SQLite store (store.c), the report (report.c).
   The sweep code owns scheduling and storage only: a run is the problem spec
   parser, mlpf_random_params and mlpf_train, exactly as `mlpflow train` does
   it. Not installed. */
#ifndef MLPF_SWEEP_H
#define MLPF_SWEEP_H

#include "internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>

/* ---- the sweep spec (sweep_spec.c) ---- */

typedef struct {
    char *path;      /* as written in "axes": "layers.0.0", "teacher.seed", "seed" */
    char *target;    /* where it goes in the spec: the path, "train.seed" for "seed" */
    cJSON *values;   /* array of n values (a range is expanded) */
    cJSON **item;    /* item[j]: value j of values (cJSON lists are linked lists) */
    size_t n;
} mlpf_sweep_axis;

struct mlpf_sweep {
    char *name;               /* the sweep file as given: first word of messages */
    char *dir;                /* relative paths of the base spec start here */
    cJSON *base;              /* the problem spec every run starts from */
    mlpf_sweep_axis *axes;    /* in the order of the file; the last varies fastest */
    size_t naxes, nruns;
};

#define MLPF_RUN_ID_LEN 17    /* 16 hex digits + NUL */

/* Value j of axis k. */
static inline const cJSON *mlpf_sweep_value(const mlpf_sweep *s, size_t k, size_t j) {
    return s->axes[k].item[j];
}
/* The value index along each axis of run i: coord (naxes). */
void mlpf_sweep_coords(const mlpf_sweep *s, size_t i, size_t *coord);
/* The base spec and the axes ({path: [values]}) as compact JSON (caller frees):
   what the store compares to tell a changed sweep. */
char *mlpf_sweep_base_text(const mlpf_sweep *s, mlpf_error *err);
char *mlpf_sweep_axes_text(const mlpf_sweep *s, mlpf_error *err);

/* ---- one run (run.c) ---- */

typedef struct {
    size_t index;             /* run index in the sweep */
    int failed;               /* 1: error holds why; res is NULL */
    char error[MLPF_ERRMSG_LEN];
    double setup_time;        /* wall seconds building the problem and the start */
    /* classification of the result (analysis layer); classified = 0 leaves
       the columns NULL */
    int classified;
    char kind[64];
    int saddle_index, n_channels;
    mlpf_result *res;
} mlpf_sweep_outcome;

/* Run i: build its problem (objective threads `threads`), train from the
   Glorot start of its train seed. A bad spec value or a solver error is an
   outcome with failed = 1 (MLPF_OK). Returns MLPF_EINTERRUPTED (nothing to
   record) when *interrupt stopped training, MLPF_ENOMEM when out of memory. */
int mlpf_sweep_run_one(const mlpf_sweep *s, size_t i, int threads, volatile int *interrupt,
                       mlpf_sweep_outcome *out, mlpf_error *err);
void mlpf_sweep_outcome_clear(mlpf_sweep_outcome *o);
/* Outcomes as bytes, for ranks of one build on one architecture. */
int mlpf_sweep_outcome_pack(const mlpf_sweep_outcome *o, unsigned char **buf, size_t *len,
                            mlpf_error *err);
int mlpf_sweep_outcome_unpack(const unsigned char *buf, size_t len, mlpf_sweep_outcome *o,
                              mlpf_error *err);

/* ---- progress line (run.c) ---- */

#define MLPF_SWEEP_MAXLABELS 8
typedef struct {
    size_t total, done, failed;     /* over the whole sweep */
    size_t done_now;                /* recorded by this process since start */
    double t0, last;
    int verbosity, tty;
    double interval;
    char label[MLPF_SWEEP_MAXLABELS][64];
    size_t count[MLPF_SWEEP_MAXLABELS];
    int nlabels;
} mlpf_sweep_progress;

void mlpf_sweep_progress_start(mlpf_sweep_progress *p, size_t total, size_t done, size_t failed,
                               int verbosity, double interval);
void mlpf_sweep_progress_add(mlpf_sweep_progress *p, const mlpf_sweep_outcome *o);
void mlpf_sweep_progress_end(mlpf_sweep_progress *p);
/* The outcome's label: its classification kind when classified, else
   "converged" or the minimiser's stop reason; "failed" for failed runs. */
const char *mlpf_sweep_outcome_label(const mlpf_sweep_outcome *o);

/* ---- the SQLite store (store.c) ---- */

typedef struct mlpf_store mlpf_store;

/* Open or create the database for sweep s: a new database gets the tables and
   one pending row per run; an existing one must hold the same base spec and
   axes, or (extend = 1) axes whose values are a subset of s's, whose new runs
   are then added as pending. */
int mlpf_store_open(const char *path, const mlpf_sweep *s, int extend, mlpf_store **out,
                    mlpf_error *err);
/* Runs neither done nor failed, in run order (todo: malloc'ed, may be NULL
   when n is 0), and the counts of done and failed runs. */
int mlpf_store_todo(mlpf_store *st, size_t **todo, size_t *n, size_t *ndone, size_t *nfailed,
                    mlpf_error *err);
/* Record one outcome: its row and its arrays in one transaction. */
int mlpf_store_record(mlpf_store *st, const mlpf_sweep_outcome *o, mlpf_error *err);
void mlpf_store_close(mlpf_store *st);

/* ---- report (report.c) ---- */

/* The table of `mlpflow sweep-report`: per group of the comma-separated axis
   columns `by` (NULL or "" = one group): runs, done, failed, outcome fractions,
   loss quantiles. */
int mlpf_sweep_report(const char *db, const char *by, FILE *out, mlpf_error *err);

#endif

/* io.h - files (npy, npz, csv, json) and the spec JSON "problem", shared by the
   library's io code and the command-line tool. Not installed. */
#ifndef MLPF_IO_H
#define MLPF_IO_H

#include "internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>

/* ---- raw files ---- */

/* Read a whole file into a malloc'ed, NUL-terminated buffer. */
int mlpf_read_file(const char *path, char **data, size_t *len, mlpf_error *err);
/* Write len bytes to path atomically: "path.tmp.<pid>" then rename. */
int mlpf_write_file_atomic(const char *path, const void *data, size_t len, mlpf_error *err);
/* Pretty-print json to path atomically, with a trailing newline. */
int mlpf_write_json(const char *path, const cJSON *json, mlpf_error *err);

/* ---- npy / npz ---- */

/* The .npy v1.0 header for a float64 C-order array of the given shape (ndim 0..2),
   padded so that the data start on a 64-byte boundary. Returns its length, or 0
   when it does not fit in cap. */
size_t mlpf_npy_header(char *buf, size_t cap, const size_t *shape, int ndim);
/* Parse .npy bytes (already in memory); name is used in messages. */
int mlpf_npy_parse(const char *name, const unsigned char *buf, size_t len, double **data,
                   size_t shape[2], int *ndim, mlpf_error *err);
int mlpf_csv_parse(const char *name, const char *text, size_t len, double **data,
                   size_t shape[2], int *ndim, mlpf_error *err);

typedef struct {
    const char *name;       /* entry name without ".npy" */
    const double *data;
    size_t shape[2];
    int ndim;
} mlpf_npz_entry;

/* numpy .npz: a zip of STORED (uncompressed) .npy entries, written atomically. */
int mlpf_write_npz(const char *path, const mlpf_npz_entry *entries, size_t n, mlpf_error *err);
uint32_t mlpf_crc32(uint32_t crc, const void *data, size_t len);

/* ---- train options by name (shared by the spec's "train" object and CLI flags) ---- */

typedef struct {
    mlpf_train_options opt;
    double *tauinv;          /* owned storage behind opt.tauinv */
    mlpf_merge *merges;      /* owned storage behind opt.merges */
    int verbosity_set;       /* the user chose a verbosity explicitly */
} mlpf_train_config;

void mlpf_train_config_init(mlpf_train_config *c);
void mlpf_train_config_free(mlpf_train_config *c);
/* Set one option from a JSON value. where prefixes messages ("S.json: train.lr");
   dir resolves relative .npy paths of tauinv (may be NULL). Unknown names fail. */
int mlpf_train_config_set(mlpf_train_config *c, const char *key, const cJSON *value,
                          const char *dir, const char *where, mlpf_error *err);
/* The same from a command-line string: numbers, "inf", JSON arrays, or text. */
int mlpf_train_config_set_string(mlpf_train_config *c, const char *key, const char *value,
                                 mlpf_error *err);
/* Every number of o against the option table (the check mlpf_train makes):
   MLPF_EINVAL naming the option and its range. */
int mlpf_train_options_check(const mlpf_train_options *o, mlpf_error *err);
/* The combination of options: known alg and optim_solver (from the method
   registry), batchsize only with gd / adam. MLPF_EINVAL with a message. */
int mlpf_train_config_check(const mlpf_train_config *c, mlpf_error *err);
/* 1 when key names a train option. */
int mlpf_train_option_known(const char *key);
/* Parse [[layer, i, j, lambda], ...] into c->merges. */
int mlpf_train_config_set_merges(mlpf_train_config *c, const cJSON *value, const char *where,
                                 mlpf_error *err);
/* All options as a JSON object (non-finite numbers as strings "inf", "-inf"). */
cJSON *mlpf_train_options_json(const mlpf_train_options *opt);
/* A number that may be spelled "inf" / "-inf" / "nan" (JSON has no infinity). */
cJSON *mlpf_json_number(double v);

/* ---- the problem described by a spec JSON ---- */

typedef struct {
    char *path;               /* spec file as given ("<example>" for built-ins) */
    char *dir;                /* its directory: relative paths start here */
    mlpf_net *net;            /* the student / the network trained */
    mlpf_net *teacher;        /* NULL unless "teacher" */
    double *teacher_params;
    /* finite data (NULL / 0 for the exact Gaussian objective) */
    size_t n, tcols;
    double *input, *target, *weights;
    mlpf_loss_kind loss;
    int threads;              /* objective threads; 0 = OpenMP default */
    mlpf_objective *obj;      /* the unregularised objective */
    mlpf_objective *reg;      /* with maxnorm / merge; == obj when there are none */
    mlpf_train_config train;  /* defaults, then the spec's maxnorm / merge / "train" */
} mlpf_problem;

/* Load a spec file. Every message starts with the spec's path. threads is
   passed to the finite objective (0 = OpenMP default). */
int mlpf_problem_load(const char *path, int threads, mlpf_problem **out, mlpf_error *err);
/* The same from JSON text; name labels messages, dir resolves relative paths. */
int mlpf_problem_parse(const char *text, const char *name, const char *dir, int threads,
                       mlpf_problem **out, mlpf_error *err);
void mlpf_problem_free(mlpf_problem *p);
/* Rebuild p->reg after the train options' maxnorm / merges changed. */
int mlpf_problem_regularize(mlpf_problem *p, mlpf_error *err);

/* Read a parameter vector for net: any shape with exactly P finite values. */
int mlpf_read_params(const char *path, const mlpf_net *net, double **x, mlpf_error *err);

#endif

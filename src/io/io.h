/* io.h - file formats (npy, npz, csv, json helpers, atomic writes) and train
   options by name, shared by the library and the command-line tool. The problem
   JSON built on top of them is src/problem/problem.h. Not installed. */
#ifndef MLPF_IO_H
#define MLPF_IO_H

#include "internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>

/* ---- raw files ---- */

/* Read a whole file into a malloc'ed, NUL-terminated buffer. */
int mlpf_read_file(const char *path, char **data, size_t *len, mlpf_error *err);
/* Write len bytes to path (file.c explains how): symlinks followed; a regular
   or new target replaced atomically (temp file beside it, fsync, rename); a
   device or FIFO written through. Errors name path. */
int mlpf_write_file_atomic(const char *path, const void *data, size_t len, mlpf_error *err);
/* Fail at once (before any work) when path could not be written: its directory
   is missing, not a directory or not writable, or path is a directory. */
int mlpf_check_output_dir(const char *path, mlpf_error *err);
/* json as text that reads back exactly: finite numbers with the fewest digits
   (15 to 17) that round-trip, strings and keys as valid UTF-8 (bytes that are
   not become U+FFFD). formatted: indented as cJSON_Print. NULL when out of
   memory; free() the text. */
char *mlpf_json_print(const cJSON *json, int formatted);
/* Pretty-print json to path atomically (mlpf_json_print), with a trailing newline. */
int mlpf_write_json(const char *path, const cJSON *json, mlpf_error *err);

/* ---- strict JSON (json.c) ---- */

/* An error naming the key and its path ("NAME: duplicate key \"train.maxT\"")
   when any object in root repeats a key; MLPF_OK otherwise. */
int mlpf_json_check_keys(const cJSON *root, const char *name, mlpf_error *err);
/* Parse len bytes of text (NUL-terminated): syntax errors give line and column,
   repeated keys are errors. name labels messages. Caller deletes. */
cJSON *mlpf_json_parse(const char *text, size_t len, const char *name, mlpf_error *err);
/* Read and strictly parse a JSON file. */
cJSON *mlpf_json_read(const char *path, mlpf_error *err);

/* ---- npy / npz ---- */

/* The .npy v1.0 header for a float64 C-order array of the given shape (ndim 0..2),
   padded so that the data start on a 64-byte boundary. Returns its length, or 0
   when it does not fit in cap. */
size_t mlpf_npy_header(char *buf, size_t cap, const size_t *shape, int ndim);
/* The number of values of a shape the .npy reader accepts (every dimension
   below 2^48, the product representable); SIZE_MAX for any other shape, which
   the writers refuse. */
size_t mlpf_npy_count(const size_t *shape, int ndim);
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
/* The bytes of that .npz in a malloc'ed buffer (path labels messages). */
int mlpf_npz_build(const char *path, const mlpf_npz_entry *entries, size_t n,
                   unsigned char **out, size_t *len, mlpf_error *err);
/* Find the STORED entry "<name>.npy" in .npz bytes, check its CRC and parse it. */
int mlpf_npz_array(const char *path, const unsigned char *buf, size_t len, const char *name,
                   double **data, size_t shape[2], int *ndim, mlpf_error *err);
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
/* All options as a JSON object (non-finite numbers as strings "inf", "-inf";
   seeds beyond 2^53 as decimal strings, which mlpf_train_config_set reads). */
cJSON *mlpf_train_options_json(const mlpf_train_options *opt);
/* A number that may be spelled "inf" / "-inf" / "nan" (JSON has no infinity). */
cJSON *mlpf_json_number(double v);

#endif

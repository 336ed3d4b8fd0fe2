/* store.c - a sweep's results in SQLite.
   Tables:
     meta(key, value)     format, the sweep file's name, base spec and axes
                          (compact JSON): a database belongs to one sweep
     runs(run_id, <one column per axis, named by its path>, status, error,
          loss, ..., kind, saddle_index, n_channels, finished_at)
                          one row per run, created "pending" when the
                          database is made; status "done" or "failed" once
                          recorded
     arrays(run_id, name, npy)
                          x, init, ode_x, trajectory_t, trajectory_x,
                          loss_curve of each done run as .npy bytes
                          (numpy.load(io.BytesIO(npy)) reads one)
   A run's row and arrays are written in one transaction, so a run is recorded
   completely or not at all, whatever kills the process. Write-ahead logging
   lets readers (sqlite3, Python) read while the sweep writes. One sweep
   writes a database at a time: it holds a lock on DB-lock (a file beside the
   database, left in place), which the system releases when the process ends
   however it ends, so a second job on the same database is refused at once
   instead of running the same runs twice. */
#define _GNU_SOURCE   /* F_OFD_SETLK: a lock per open file, not per process */
#include "sweep/sweep.h"

#include "io/io.h"   /* mlpf_npy_header */

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef F_OFD_SETLK   /* older systems: per-process locks still keep two jobs apart */
#define F_OFD_SETLK F_SETLK
#define F_OFD_GETLK F_GETLK
#endif

#define STORE_FORMAT "mlpflow-sweep-1"

struct mlpf_store {
    sqlite3 *db;
    char *path;
    int lock_fd;   /* DB-lock, locked while open; -1 when none */
    const mlpf_sweep *s;
    sqlite3_stmt *update, *del_arrays, *put_array;
};

static int sql_fail(mlpf_store *st, mlpf_error *err, const char *what) {
    return mlpf_fail(err, MLPF_EIO, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static int exec(mlpf_store *st, const char *sql, mlpf_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK) return MLPF_OK;
    int rc = mlpf_fail(err, MLPF_EIO, "%s: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    return rc;
}

/* A JSON value into a column: integers as INTEGER, other numbers REAL, strings
   TEXT, booleans 0/1, lists and objects as their JSON text. */
static int bind_json(sqlite3_stmt *q, int col, const cJSON *v) {
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d && d > -9007199254740992.0 && d < 9007199254740992.0)
            return sqlite3_bind_int64(q, col, (sqlite3_int64)d);
        return sqlite3_bind_double(q, col, d);
    }
    if (cJSON_IsString(v)) return sqlite3_bind_text(q, col, v->valuestring, -1, SQLITE_TRANSIENT);
    if (cJSON_IsBool(v)) return sqlite3_bind_int(q, col, cJSON_IsTrue(v));
    if (cJSON_IsNull(v)) return sqlite3_bind_null(q, col);
    char *t = mlpf_json_print(v, 0);
    if (!t) return SQLITE_NOMEM;
    return sqlite3_bind_text(q, col, t, -1, free);
}

/* ---- creating and checking ---- */

static int create_tables(mlpf_store *st, mlpf_error *err) {
    const mlpf_sweep *s = st->s;
    size_t cap = 2048;
    for (size_t k = 0; k < s->naxes; k++) cap += strlen(s->axes[k].path) + 8;
    char *sql = mlpf_malloc(cap, err);
    if (!sql) return MLPF_ENOMEM;
    size_t n = (size_t)snprintf(sql, cap, "CREATE TABLE runs (run_id TEXT PRIMARY KEY");
    for (size_t k = 0; k < s->naxes; k++)
        n += (size_t)snprintf(sql + n, cap - n, ", \"%s\"", s->axes[k].path);
    snprintf(sql + n, cap - n,
             ", status TEXT NOT NULL, error TEXT, loss REAL, ode_loss REAL, gnorm REAL,"
             " gnorm_regularized REAL, converged INTEGER, ode_stopped_by TEXT,"
             " optim_stopped_by TEXT, alg TEXT, optim_solver TEXT, ode_iterations INTEGER,"
             " optim_iterations INTEGER, ode_time_run REAL, optim_time_run REAL,"
             " ode_wall_time REAL, total_time REAL, setup_time REAL, nparams INTEGER,"
             " kind TEXT, saddle_index INTEGER, n_channels INTEGER, finished_at REAL);"
             "CREATE TABLE arrays (run_id TEXT NOT NULL, name TEXT NOT NULL, npy BLOB NOT NULL,"
             " PRIMARY KEY (run_id, name));"
             "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);");
    int rc = exec(st, sql, err);
    free(sql);
    return rc;
}

static int meta_set(mlpf_store *st, const char *key, const char *value, mlpf_error *err) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO meta VALUES (?, ?)", -1, &q, NULL))
        return sql_fail(st, err, "meta");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q) == SQLITE_DONE ? MLPF_OK : sql_fail(st, err, "meta");
    sqlite3_finalize(q);
    return rc;
}

/* meta value of key (malloc'ed), NULL with *absent = 1 when the table or key is missing */
static char *meta_get(mlpf_store *st, const char *key, int *absent, mlpf_error *err) {
    sqlite3_stmt *q;
    *absent = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = ?", -1, &q, NULL)) {
        *absent = 1;   /* no table meta: a new database */
        return NULL;
    }
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    char *v = NULL;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        v = strdup(t ? t : "");
        if (!v) mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", st->path);
    } else if (rc == SQLITE_DONE) {
        *absent = 1;
    } else {
        sql_fail(st, err, "meta");
    }
    sqlite3_finalize(q);
    return v;
}

/* Insert a pending row for every run of the sweep that has none yet. */
static int insert_pending(mlpf_store *st, mlpf_error *err) {
    const mlpf_sweep *s = st->s;
    size_t cap = 256 + 8 * s->naxes;
    for (size_t k = 0; k < s->naxes; k++) cap += strlen(s->axes[k].path) + 8;
    char *sql = mlpf_malloc(cap, err);
    size_t *coord = mlpf_calloc(s->naxes, sizeof *coord, err);
    if (!sql || !coord) {
        free(sql);
        free(coord);
        return MLPF_ENOMEM;
    }
    size_t n = (size_t)snprintf(sql, cap, "INSERT OR IGNORE INTO runs (run_id");
    for (size_t k = 0; k < s->naxes; k++)
        n += (size_t)snprintf(sql + n, cap - n, ", \"%s\"", s->axes[k].path);
    n += (size_t)snprintf(sql + n, cap - n, ", status) VALUES (?");
    for (size_t k = 0; k < s->naxes; k++) n += (size_t)snprintf(sql + n, cap - n, ", ?");
    snprintf(sql + n, cap - n, ", 'pending')");
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) ? sql_fail(st, err, "runs") : MLPF_OK;
    free(sql);
    for (size_t i = 0; !rc && i < s->nruns; i++) {
        char id[MLPF_RUN_ID_LEN];
        if ((rc = mlpf_sweep_run_id(s, i, id, err))) break;
        mlpf_sweep_coords(s, i, coord);
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        for (size_t k = 0; k < s->naxes; k++)
            bind_json(q, (int)k + 2, mlpf_sweep_value(s, k, coord[k]));
        if (sqlite3_step(q) != SQLITE_DONE) rc = sql_fail(st, err, "inserting runs");
    }
    if (q) sqlite3_finalize(q);
    free(coord);
    return rc;
}

/* The database's axes (old) against the sweep's: the same paths; values equal,
   or with extend a subset. */
static int check_axes(mlpf_store *st, const char *old_text, int extend, mlpf_error *err) {
    const mlpf_sweep *s = st->s;
    cJSON *old = cJSON_Parse(old_text);
    if (!cJSON_IsObject(old)) {
        cJSON_Delete(old);
        return mlpf_fail(err, MLPF_EFORMAT, "%s: meta.axes is not a JSON object", st->path);
    }
    int rc = MLPF_OK;
    if ((size_t)cJSON_GetArraySize(old) != s->naxes)
        rc = mlpf_fail(err, MLPF_EINVAL, "%s: the sweep has %zu axes but the database %d: "
                       "a changed sweep needs a new database", st->path, s->naxes,
                       cJSON_GetArraySize(old));
    for (size_t k = 0; !rc && k < s->naxes; k++) {
        const mlpf_sweep_axis *ax = &s->axes[k];
        const cJSON *ov = cJSON_GetObjectItemCaseSensitive(old, ax->path);
        if (!ov) {
            rc = mlpf_fail(err, MLPF_EINVAL, "%s: axis \"%s\" is not in the database: a changed "
                           "sweep needs a new database", st->path, ax->path);
            break;
        }
        if (cJSON_Compare(ov, ax->values, 1)) continue;
        if (!extend) {
            rc = mlpf_fail(err, MLPF_EINVAL, "%s: axis \"%s\" has other values than in the "
                           "database (--extend adds values; otherwise use a new database)",
                           st->path, ax->path);
            break;
        }
        int i = 0;
        for (const cJSON *v = ov->child; v; v = v->next, i++) {
            int found = 0;
            for (const cJSON *w = ax->values->child; w && !found; w = w->next)
                found = cJSON_Compare(v, w, 1);
            if (!found) {
                char *t = cJSON_PrintUnformatted(v);
                rc = mlpf_fail(err, MLPF_EINVAL, "%s: --extend: axis \"%s\" lost the value %s "
                               "(values can be added, not removed)", st->path, ax->path,
                               t ? t : "?");
                free(t);
                break;
            }
        }
    }
    cJSON_Delete(old);
    return rc;
}

static int check_or_create(mlpf_store *st, int extend, mlpf_error *err) {
    int absent;
    char *base = mlpf_sweep_base_text(st->s, err), *axes = mlpf_sweep_axes_text(st->s, err);
    char *old_base = NULL, *old_axes = NULL;
    int rc = !base || !axes ? MLPF_ENOMEM : MLPF_OK;
    if (!rc) {
        old_base = meta_get(st, "base", &absent, err);
        if (!old_base && !absent) rc = err->status;
    }
    if (!rc && absent) {   /* a new database */
        rc = create_tables(st, err);
        if (!rc) rc = meta_set(st, "format", STORE_FORMAT, err);
        if (!rc) rc = meta_set(st, "sweep", st->s->name, err);
        if (!rc) rc = meta_set(st, "base", base, err);
        if (!rc) rc = meta_set(st, "axes", axes, err);
        if (!rc) rc = meta_set(st, "version", MLPF_VERSION, err);
    } else if (!rc) {
        if (strcmp(old_base, base))
            rc = mlpf_fail(err, MLPF_EINVAL, "%s: the base spec differs from the one this "
                           "database was made for (%s): a changed spec needs a new database",
                           st->path, st->s->name);
        if (!rc && !(old_axes = meta_get(st, "axes", &absent, err)))
            rc = absent ? mlpf_fail(err, MLPF_EFORMAT, "%s: meta has no axes", st->path)
                        : err->status;
        if (!rc) rc = check_axes(st, old_axes, extend, err);
        if (!rc && strcmp(old_axes, axes)) rc = meta_set(st, "axes", axes, err);
    }
    if (!rc) rc = insert_pending(st, err);
    free(base);
    free(axes);
    free(old_base);
    free(old_axes);
    return rc;
}

static int prepare_writes(mlpf_store *st, mlpf_error *err) {
    const char *update =
        "UPDATE runs SET status = ?2, error = ?3, loss = ?4, ode_loss = ?5, gnorm = ?6,"
        " gnorm_regularized = ?7, converged = ?8, ode_stopped_by = ?9, optim_stopped_by = ?10,"
        " alg = ?11, optim_solver = ?12, ode_iterations = ?13, optim_iterations = ?14,"
        " ode_time_run = ?15, optim_time_run = ?16, ode_wall_time = ?17, total_time = ?18,"
        " setup_time = ?19, nparams = ?20, kind = ?21, saddle_index = ?22, n_channels = ?23,"
        " finished_at = ?24 WHERE run_id = ?1";
    if (sqlite3_prepare_v2(st->db, update, -1, &st->update, NULL) ||
        sqlite3_prepare_v2(st->db, "DELETE FROM arrays WHERE run_id = ?", -1, &st->del_arrays,
                           NULL) ||
        sqlite3_prepare_v2(st->db, "INSERT INTO arrays VALUES (?, ?, ?)", -1, &st->put_array,
                           NULL))
        return sql_fail(st, err, "preparing statements");
    return MLPF_OK;
}

/* The process id the holder wrote into the lock file, or 0. */
static long lock_holder(int fd) {
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return strtol(buf, NULL, 10);
}

/* Lock path-lock for writing and write our process id into it, or fail naming
   the process that holds it. */
static int lock_store(mlpf_store *st, mlpf_error *err) {
    size_t n = strlen(st->path) + 6;
    char *name = malloc(n);
    if (!name) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", st->path);
    snprintf(name, n, "%s-lock", st->path);
    st->lock_fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int rc = MLPF_OK;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (st->lock_fd < 0) {
        rc = mlpf_fail(err, MLPF_EIO, "%s: cannot open %s: %s", st->path, name, strerror(errno));
    } else if (fcntl(st->lock_fd, F_OFD_SETLK, &fl) != 0) {
        int e = errno;
        long pid = lock_holder(st->lock_fd);
        char who[48] = "";
        if (pid > 0) snprintf(who, sizeof who, " (process %ld)", pid);
        rc = e == EACCES || e == EAGAIN
           ? mlpf_fail(err, MLPF_EIO, "%s: another sweep is writing this database%s; wait for it "
                       "or stop it (its lock is %s)", st->path, who, name)
           : mlpf_fail(err, MLPF_EIO, "%s: cannot lock %s: %s", st->path, name, strerror(e));
    } else {
        char pid[32];
        int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        int wrote = ftruncate(st->lock_fd, 0) == 0 && pwrite(st->lock_fd, pid, (size_t)len, 0) == len;
        (void)wrote;   /* the id only names the holder in messages; the lock holds without it */
    }
    free(name);
    return rc;
}

int mlpf_store_open(const char *path, const mlpf_sweep *s, int extend, mlpf_store **out,
                    mlpf_error *err) {
    mlpf_error local;
    if (!err) err = &local;
    *out = NULL;
    mlpf_store *st = mlpf_calloc(1, sizeof *st, err);
    if (!st) return MLPF_ENOMEM;
    st->s = s;
    st->lock_fd = -1;
    st->path = strdup(path);
    if (!st->path) {
        free(st);
        return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", path);
    }
    int rc = lock_store(st, err);
    if (rc) {
        mlpf_store_close(st);
        return rc;
    }
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
        rc = st->db ? sql_fail(st, err, "cannot open")
                    : mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", path);
        mlpf_store_close(st);
        return rc;
    }
    /* readers (and a checkpoint) may hold the database for a moment */
    sqlite3_busy_timeout(st->db, 60000);
    rc = exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", err);
    if (!rc) rc = exec(st, "BEGIN IMMEDIATE", err);
    if (!rc) {
        rc = check_or_create(st, extend, err);
        if (!rc) rc = exec(st, "COMMIT", err);
        else sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (!rc) rc = prepare_writes(st, err);
    if (rc) {
        mlpf_store_close(st);
        return rc;
    }
    *out = st;
    return MLPF_OK;
}

void mlpf_store_close(mlpf_store *st) {
    if (!st) return;
    sqlite3_finalize(st->update);
    sqlite3_finalize(st->del_arrays);
    sqlite3_finalize(st->put_array);
    sqlite3_close(st->db);
    if (st->lock_fd >= 0) close(st->lock_fd);   /* releases the lock */
    free(st->path);
    free(st);
}

/* ---- what is left ---- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ids (sorted) of the runs recorded done or failed */
static int finished_ids(mlpf_store *st, uint64_t **ids, size_t *n, size_t *ndone,
                        size_t *nfailed, mlpf_error *err) {
    sqlite3_stmt *q;
    *ids = NULL;
    *n = *ndone = *nfailed = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT run_id, status FROM runs WHERE status != 'pending'",
                           -1, &q, NULL))
        return sql_fail(st, err, "runs");
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 1024;
            uint64_t *v = realloc(*ids, cap * sizeof *v);
            if (!v) {
                sqlite3_finalize(q);
                return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", st->path);
            }
            *ids = v;
        }
        const char *id = (const char *)sqlite3_column_text(q, 0);
        const char *status = (const char *)sqlite3_column_text(q, 1);
        (*ids)[(*n)++] = strtoull(id ? id : "0", NULL, 16);
        if (status && !strcmp(status, "failed")) (*nfailed)++;
        else (*ndone)++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return sql_fail(st, err, "reading runs");
    if (*n) qsort(*ids, *n, sizeof **ids, cmp_u64);
    return MLPF_OK;
}

int mlpf_store_todo(mlpf_store *st, size_t **todo, size_t *n, size_t *ndone, size_t *nfailed,
                    mlpf_error *err) {
    uint64_t *ids;
    size_t nids;
    *todo = NULL;
    *n = 0;
    int rc = finished_ids(st, &ids, &nids, ndone, nfailed, err);
    if (rc) return rc;
    size_t nleft = st->s->nruns > nids ? st->s->nruns - nids : 0;
    size_t *v = nleft ? mlpf_malloc(nleft * sizeof *v, err) : NULL;
    if (nleft && !v) {
        free(ids);
        return MLPF_ENOMEM;
    }
    for (size_t i = 0; i < st->s->nruns && *n < nleft; i++) {
        char id[MLPF_RUN_ID_LEN];
        if ((rc = mlpf_sweep_run_id(st->s, i, id, err))) break;
        uint64_t key = strtoull(id, NULL, 16);
        if (!nids || !bsearch(&key, ids, nids, sizeof *ids, cmp_u64)) v[(*n)++] = i;
    }
    free(ids);
    if (rc) {
        free(v);
        *n = 0;
        return rc;
    }
    *todo = v;
    return MLPF_OK;
}

/* ---- recording ---- */

static int put_array(mlpf_store *st, const char *id, const char *name, const double *data,
                     size_t rows, size_t cols, int ndim, mlpf_error *err) {
    size_t shape[2] = {rows, cols};
    char header[256];
    size_t hlen = mlpf_npy_header(header, sizeof header, shape, ndim);
    size_t count = ndim == 2 ? rows * cols : rows;
    size_t len = hlen + count * sizeof(double);
    unsigned char *blob = hlen ? mlpf_malloc(len, err) : NULL;
    if (!blob) return hlen ? MLPF_ENOMEM : mlpf_fail(err, MLPF_EINVAL, "%s: npy header", name);
    memcpy(blob, header, hlen);
    if (count) memcpy(blob + hlen, data, count * sizeof(double));
    sqlite3_stmt *q = st->put_array;
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 3, blob, (int)len, free);
    return sqlite3_step(q) == SQLITE_DONE ? MLPF_OK : sql_fail(st, err, "writing arrays");
}

static int put_arrays(mlpf_store *st, const char *id, const mlpf_result *r, mlpf_error *err) {
    size_t p = r->nparams, nt = r->ntrajectory;
    int rc = put_array(st, id, "x", r->x, p, 0, 1, err);
    if (!rc) rc = put_array(st, id, "init", r->init, p, 0, 1, err);
    if (!rc) rc = put_array(st, id, "ode_x", r->ode_x, p, 0, 1, err);
    if (!rc) rc = put_array(st, id, "trajectory_t", r->trajectory_t, nt, 0, 1, err);
    if (!rc) rc = put_array(st, id, "trajectory_x", r->trajectory_x, nt, p, 2, err);
    if (!rc) rc = put_array(st, id, "loss_curve", r->loss_curve, nt, 0, 1, err);
    return rc;
}

static void bind_result(sqlite3_stmt *q, const mlpf_sweep_outcome *o) {
    const mlpf_result *r = o->res;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    sqlite3_bind_text(q, 2, o->failed ? "failed" : "done", -1, SQLITE_STATIC);
    if (o->failed) sqlite3_bind_text(q, 3, o->error, -1, SQLITE_TRANSIENT);
    if (r) {
        sqlite3_bind_double(q, 4, r->loss);
        sqlite3_bind_double(q, 5, r->ode_loss);
        sqlite3_bind_double(q, 6, r->gnorm);
        sqlite3_bind_double(q, 7, r->gnorm_regularized);
        sqlite3_bind_int(q, 8, r->converged);
        sqlite3_bind_text(q, 9, r->ode_stopped_by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 10, r->optim_stopped_by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 11, r->alg, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 12, r->optim_solver, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 13, r->ode_iterations);
        sqlite3_bind_int64(q, 14, r->optim_iterations);
        sqlite3_bind_double(q, 15, r->ode_time_run);
        sqlite3_bind_double(q, 16, r->optim_time_run);
        sqlite3_bind_double(q, 17, r->ode_wall_time);
        sqlite3_bind_double(q, 18, r->total_time);
        sqlite3_bind_int64(q, 20, (sqlite3_int64)r->nparams);
    }
    sqlite3_bind_double(q, 19, o->setup_time);
    if (o->classified) {
        sqlite3_bind_text(q, 21, o->kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(q, 22, o->saddle_index);
        sqlite3_bind_int(q, 23, o->n_channels);
    }
    sqlite3_bind_double(q, 24, (double)now.tv_sec + 1e-9 * (double)now.tv_nsec);
}

int mlpf_store_record(mlpf_store *st, const mlpf_sweep_outcome *o, mlpf_error *err) {
    mlpf_error local;
    if (!err) err = &local;
    char id[MLPF_RUN_ID_LEN];
    int rc = mlpf_sweep_run_id(st->s, o->index, id, err);
    if (rc) return rc;
    if ((rc = exec(st, "BEGIN IMMEDIATE", err))) return rc;
    sqlite3_stmt *q = st->update;
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    bind_result(q, o);
    if (sqlite3_step(q) != SQLITE_DONE) rc = sql_fail(st, err, "recording a run");
    if (!rc && sqlite3_changes(st->db) != 1)
        rc = mlpf_fail(err, MLPF_EIO, "%s: run %s has no row", st->path, id);
    if (!rc) {
        sqlite3_reset(st->del_arrays);
        sqlite3_bind_text(st->del_arrays, 1, id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st->del_arrays) != SQLITE_DONE) rc = sql_fail(st, err, "arrays");
    }
    if (!rc && o->res) rc = put_arrays(st, id, o->res, err);
    if (!rc) rc = exec(st, "COMMIT", err);
    if (rc) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

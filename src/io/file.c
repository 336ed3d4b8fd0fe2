/* file.c - whole-file reads and safe writes.

   Reads are bounded by the memory budget (io/budget.c): a regular file larger
   than the budget is refused before anything is allocated, and a stream
   (device, FIFO) is read only up to the budget, or not at all when its first
   bytes are binary but no format we read ("/dev/zero").

   Writes go to where the path really points: symlinks are followed to their
   target, so the link survives and the target is updated. A regular (or new)
   target is written through a temporary file beside it, fsync'ed, renamed
   over the target, and the directory is fsync'ed: a reader or a crash sees the
   old file or the new one, never half of one. A non-regular target (a device
   such as /dev/null, a FIFO) cannot be replaced by rename without destroying
   it, so it is written through directly. Every failure (ENOSPC, EACCES, ...)
   is reported for the path the caller gave. Temporary files are named
   "<target>.tmp.<pid>.<tid>"; ones left behind by a killed process of ours are
   removed the next time the same target is written. */
#define _GNU_SOURCE
#include "io/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- reading ---- */

/* *buf (*cap) grows to hold need bytes, doubling up to most (>= need); 0 on
   out of memory */
static int grow(char **buf, size_t *cap, size_t need, size_t most) {
    if (need <= *cap) return 1;
    size_t ncap = *cap;
    while (ncap < need) ncap = ncap > most / 2 ? most : 2 * ncap;
    char *nb = realloc(*buf, ncap + 1);
    if (!nb) return 0;
    *buf = nb;
    *cap = ncap;
    return 1;
}

/* Every format we read is text (JSON, CSV) or starts with its magic string
   (.npy, .npz): a stream whose first bytes are neither (/dev/zero, /dev/urandom)
   is refused at once instead of being read up to the memory budget. */
static int readable_start(const char *p, size_t n) {
    if (n >= 6 && !memcmp(p, "\x93NUMPY", 6)) return 1;
    if (n >= 4 && !memcmp(p, "PK\x03\x04", 4)) return 1;
    return memchr(p, '\0', n) == NULL;
}

enum { READ_DONE = 0, READ_ERROR = -1, READ_OVER = 1, READ_BINARY = 2 };

/* Read fd to the end, at most limit bytes; *n = bytes read. A stream is
   checked by readable_start after its first read. */
static int read_all(int fd, int stream, char **buf, size_t *cap, size_t *n, size_t limit,
                    int *errnum) {
    size_t most = limit < SIZE_MAX ? limit + 1 : limit;
    for (;;) {
        size_t chunk = *cap - *n;
        if (chunk == 0) {
            if (*n > limit) return READ_OVER;
            if (!grow(buf, cap, *n + 1, most)) {
                *errnum = ENOMEM;
                return READ_ERROR;
            }
            chunk = *cap - *n;
        }
        ssize_t got = read(fd, *buf + *n, chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            *errnum = errno;
            return READ_ERROR;
        }
        if (got == 0) return READ_DONE;
        if (stream && *n == 0 && !readable_start(*buf, (size_t)got)) return READ_BINARY;
        *n += (size_t)got;
        if (*n > limit) return READ_OVER;
    }
}

int mlpf_read_file(const char *path, char **data, size_t *len, mlpf_error *err) {
    *data = NULL;
    *len = 0;
    size_t budget;
    int st = mlpf_memory_budget(&budget, err);
    if (st) return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mlpf_fail(err, MLPF_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
        int e = S_ISDIR(sb.st_mode) ? EISDIR : errno;
        close(fd);
        return mlpf_fail(err, MLPF_EIO, "%s: cannot read: %s", path, strerror(e));
    }
    int regular = S_ISREG(sb.st_mode);
    if (regular && (uintmax_t)sb.st_size > budget) {
        close(fd);
        return mlpf_fail(err, MLPF_ENOMEM, "%s: the file has %jd bytes, more than the memory "
                         "budget of %zu bytes (set MLPF_MAX_BYTES to change it)", path,
                         (intmax_t)sb.st_size, budget);
    }
    size_t cap = regular ? (size_t)sb.st_size + 1 : 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory reading %zu bytes", path, cap);
    }
    int e = 0, got = read_all(fd, !regular, &buf, &cap, &n, budget, &e);
    close(fd);
    if (got != READ_DONE) {
        free(buf);
        if (got == READ_BINARY)
            return mlpf_fail(err, MLPF_EFORMAT, "%s: this stream (not a regular file) starts "
                             "with binary data that is neither .npy, .npz nor text", path);
        if (got == READ_OVER)
            return mlpf_fail(err, MLPF_ENOMEM, "%s: %s holds more than the memory budget of %zu "
                             "bytes (set MLPF_MAX_BYTES to change it)", path,
                             regular ? "the file" : "this stream (not a regular file)", budget);
        return mlpf_fail(err, e == ENOMEM ? MLPF_ENOMEM : MLPF_EIO, "%s: read error: %s", path,
                         strerror(e));
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return MLPF_OK;
}

/* ---- where a write goes ---- */

/* The file that path names after following symlinks (up to 40, as the kernel
   does); it may not exist yet. malloc'ed into *out. */
static int follow_links(const char *path, char **out, mlpf_error *err) {
    char *cur = strdup(path);
    if (!cur) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", path);
    for (int hop = 0; hop < 40; hop++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode)) {
            *out = cur;
            return MLPF_OK;
        }
        char link[4096];
        ssize_t k = readlink(cur, link, sizeof link - 1);
        if (k < 0) {
            int e = errno;
            free(cur);
            return mlpf_fail(err, MLPF_EIO, "%s: cannot read the symlink: %s", path, strerror(e));
        }
        link[k] = '\0';
        /* a relative link is relative to the directory holding it */
        const char *slash = strrchr(cur, '/');
        size_t dl = link[0] == '/' || !slash ? 0 : (size_t)(slash - cur) + 1;
        char *next = malloc(dl + (size_t)k + 1);
        if (!next) {
            free(cur);
            return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", path);
        }
        memcpy(next, cur, dl);
        memcpy(next + dl, link, (size_t)k + 1);
        free(cur);
        cur = next;
    }
    free(cur);
    return mlpf_fail(err, MLPF_EIO, "%s: cannot write: %s", path, strerror(ELOOP));
}

/* write len bytes to fd, through partial writes and EINTR; errno on failure */
static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len) {
        ssize_t put = write(fd, p, len);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return -1;
        if (put == 0) {
            errno = EIO;
            return -1;
        }
        p += put;
        len -= (size_t)put;
    }
    return 0;
}

/* A device or FIFO: open the existing node and write into it. */
static int write_through(const char *path, const char *target, const void *data, size_t len,
                         mlpf_error *err) {
    int fd = open(target, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return mlpf_fail(err, MLPF_EIO, "%s: cannot write: %s", path, strerror(errno));
    int bad = write_all(fd, data, len);
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    return bad ? mlpf_fail(err, MLPF_EIO, "%s: cannot write: %s", path, strerror(e)) : MLPF_OK;
}

/* The directory part of target ("." when it has none), malloc'ed. */
static char *dir_of(const char *target) {
    const char *slash = strrchr(target, '/');
    if (!slash) return strdup(".");
    size_t n = slash == target ? 1 : (size_t)(slash - target);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, target, n);
        d[n] = '\0';
    }
    return d;
}

/* Remove "<base>.tmp.<pid>.<tid>" files in dir whose process is gone: the
   remains of a writer of ours that was killed before its rename. */
static void remove_stale_temps(const char *dir, const char *base) {
    DIR *d = opendir(dir);
    if (!d) return;
    size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (strncmp(s, base, bl) || strncmp(s + bl, ".tmp.", 5)) continue;
        char *end;
        long pid = strtol(s + bl + 5, &end, 10);
        if (pid <= 0 || *end != '.' || pid == (long)getpid()) continue;
        /* EPERM means the process exists (another user's): leave its file */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        size_t n = strlen(dir) + strlen(s) + 2;
        char *full = malloc(n);
        if (!full) break;
        snprintf(full, n, "%s/%s", dir, s);
        unlink(full);
        free(full);
    }
    closedir(d);
}

/* fsync a directory so that a rename in it survives a crash. Best effort: some
   file systems refuse fsync on directories, and the data are already safe. */
static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

/* Fill the new temporary file fd with data, keeping the permissions of the
   file it replaces (old, may be NULL), and fsync it; the descriptor is closed.
   0, or the errno of the first failure. */
static int fill_temp(int fd, const struct stat *old, const void *data, size_t len) {
    int e = 0;
    if (old && fchmod(fd, old->st_mode & 07777) != 0) e = errno;
    else if (write_all(fd, data, len) != 0 || fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    return e;
}

/* A regular or new target: temp file beside it, fsync, rename, fsync the dir. */
static int write_replace(const char *path, const char *target, const struct stat *old,
                         const void *data, size_t len, mlpf_error *err) {
    char *dir = dir_of(target);
    size_t tl = strlen(target) + 48;
    char *tmp = malloc(tl);
    if (!dir || !tmp) {
        free(dir);
        free(tmp);
        return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", path);
    }
    const char *slash = strrchr(target, '/');
    remove_stale_temps(dir, slash ? slash + 1 : target);
    snprintf(tmp, tl, "%s.tmp.%ld.%ld", target, (long)getpid(), (long)syscall(SYS_gettid));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    int e = fd < 0 ? errno : fill_temp(fd, old, data, len);
    if (!e && rename(tmp, target) != 0) e = errno;
    if (e && fd >= 0) unlink(tmp);
    if (!e) sync_dir(dir);
    free(tmp);
    free(dir);
    return e ? mlpf_fail(err, MLPF_EIO, "%s: cannot write: %s", path, strerror(e)) : MLPF_OK;
}

int mlpf_write_file_atomic(const char *path, const void *data, size_t len, mlpf_error *err) {
    char *target;
    int st = follow_links(path, &target, err);
    if (st) return st;
    struct stat sb;
    int exists = stat(target, &sb) == 0;
    if (exists && S_ISDIR(sb.st_mode))
        st = mlpf_fail(err, MLPF_EIO, "%s: cannot write: %s", path, strerror(EISDIR));
    else if (exists && !S_ISREG(sb.st_mode))
        st = write_through(path, target, data, len, err);
    else
        st = write_replace(path, target, exists ? &sb : NULL, data, len, err);
    free(target);
    return st;
}

int mlpf_check_output_dir(const char *path, mlpf_error *err) {
    char *target;
    int st = follow_links(path, &target, err);
    if (st) return st;
    struct stat sb;
    if (stat(target, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        /* a device or FIFO is written through: it needs write permission only */
        st = S_ISDIR(sb.st_mode) ? mlpf_fail(err, MLPF_EINVAL, "%s: is a directory", path)
             : access(target, W_OK) != 0 ? mlpf_fail(err, MLPF_EIO, "%s: cannot write: %s",
                                                     path, strerror(errno))
                                         : MLPF_OK;
        free(target);
        return st;
    }
    char *dir = dir_of(target);
    free(target);
    if (!dir) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", path);
    if (stat(dir, &sb) != 0)
        st = mlpf_fail(err, MLPF_EIO, "%s: directory %s: %s", path, dir, strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        st = mlpf_fail(err, MLPF_EIO, "%s: %s is not a directory", path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        st = mlpf_fail(err, MLPF_EIO, "%s: cannot write in directory %s: %s", path, dir,
                       strerror(errno));
    free(dir);
    return st;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid:
   overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || len > n) return 0;
    unsigned long cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const unsigned long min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* s as valid UTF-8: every byte that starts no valid sequence becomes U+FFFD,
   so a non-UTF-8 path still gives a file every JSON reader accepts. NULL
   when out of memory; *changed says whether anything was replaced. */
static char *utf8_clean(const char *s, int *changed) {
    size_t n = strlen(s), o = 0;
    char *out = malloc(3 * n + 1);
    if (!out) return NULL;
    *changed = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq((const unsigned char *)s + i, n - i);
        if (len) {
            memcpy(out + o, s + i, len);
            o += len, i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3, i++;
            *changed = 1;
        }
    }
    out[o] = '\0';
    return out;
}

/* Make the tree j print as exact, valid JSON. cJSON prints a double with 15
   digits whenever those read back within a relative DBL_EPSILON of it, so a
   loss could come back one unit in the last place off: every finite number
   becomes raw JSON text with the fewest digits (15 to 17) that read back
   exactly. Strings and keys that are not valid UTF-8 are cleaned. 0 when out
   of memory. */
static int exact_tree(cJSON *j) {
    for (; j; j = j->next) {
        int changed;
        if (cJSON_IsNumber(j) && isfinite(j->valuedouble)) {
            char buf[32];
            for (int prec = 15; prec <= 17; prec++) {
                snprintf(buf, sizeof buf, "%.*g", prec, j->valuedouble);
                if (strtod(buf, NULL) == j->valuedouble) break;
            }
            char *raw = strdup(buf);
            if (!raw) return 0;
            j->type = cJSON_Raw | (j->type & cJSON_StringIsConst);   /* Delete frees valuestring */
            j->valuestring = raw;
        } else if (cJSON_IsString(j) && j->valuestring) {
            char *clean = utf8_clean(j->valuestring, &changed);
            if (!clean) return 0;
            free(j->valuestring);
            j->valuestring = clean;
        }
        if (j->string && !(j->type & cJSON_StringIsConst)) {
            char *clean = utf8_clean(j->string, &changed);
            if (!clean) return 0;
            free(j->string);
            j->string = clean;
        }
        if (j->child && !exact_tree(j->child)) return 0;
    }
    return 1;
}

char *mlpf_json_print(const cJSON *json, int formatted) {
    cJSON *exact = cJSON_Duplicate(json, 1);
    char *text = NULL;
    if (exact && exact_tree(exact))
        text = formatted ? cJSON_Print(exact) : cJSON_PrintUnformatted(exact);
    cJSON_Delete(exact);
    return text;
}

int mlpf_write_json(const char *path, const cJSON *json, mlpf_error *err) {
    char *text = mlpf_json_print(json, 1);
    if (!text) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory printing JSON", path);
    size_t n = strlen(text);
    char *buf = realloc(text, n + 2);
    if (!buf) {
        free(text);
        return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory printing JSON", path);
    }
    buf[n] = '\n';
    buf[n + 1] = '\0';
    int st = mlpf_write_file_atomic(path, buf, n + 1, err);
    free(buf);
    return st;
}

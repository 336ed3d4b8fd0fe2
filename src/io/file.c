/* file.c - whole-file reads and atomic writes. Writers go through a temporary
   file in the same directory and rename(2), so a reader (or a crash) never sees
   half a result. */
#include "io/io.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int mlpf_read_file(const char *path, char **data, size_t *len, mlpf_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mlpf_fail(err, MLPF_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory reading the file", path);
    }
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        size_t ncap = cap * 2;
        char *nb = realloc(buf, ncap + 1);
        if (!nb) {
            free(buf);
            fclose(f);
            return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory reading %zu bytes", path, ncap);
        }
        buf = nb;
        cap = ncap;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return mlpf_fail(err, MLPF_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return MLPF_OK;
}

int mlpf_write_file_atomic(const char *path, const void *data, size_t len, mlpf_error *err) {
    size_t plen = strlen(path);
    char *tmp = mlpf_malloc(plen + 32, err);
    if (!tmp) return err ? err->status : MLPF_ENOMEM;
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(tmp);
        return mlpf_fail(err, MLPF_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    size_t put = len ? fwrite(data, 1, len, f) : 0;
    int bad = put != len || fflush(f) != 0;
    int e = errno;
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        if (!bad) e = errno;
        remove(tmp);
        free(tmp);
        return mlpf_fail(err, MLPF_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    free(tmp);
    return MLPF_OK;
}

int mlpf_write_json(const char *path, const cJSON *json, mlpf_error *err) {
    char *text = cJSON_Print(json);
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

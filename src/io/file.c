/* file.c - whole-file reads and atomic writes. Writers go through a temporary
   file in the same directory and rename(2), so a reader (or a crash) never sees
   half a result. */
#include "io/io.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
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

/* cJSON prints a double with 15 digits whenever those read back within a
   relative DBL_EPSILON of it, so a loss could come back one unit in the last
   place off. Every finite number of the tree j becomes raw JSON text with the
   fewest digits (15 to 17) that read back exactly. 0 when out of memory. */
static int exact_numbers(cJSON *j) {
    for (; j; j = j->next) {
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
        }
        if (j->child && !exact_numbers(j->child)) return 0;
    }
    return 1;
}

int mlpf_write_json(const char *path, const cJSON *json, mlpf_error *err) {
    cJSON *exact = cJSON_Duplicate(json, 1);
    char *text = exact && exact_numbers(exact) ? cJSON_Print(exact) : NULL;
    cJSON_Delete(exact);
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

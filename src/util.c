/* util.c - errors, checked allocation, clocks. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *mlpf_status_string(int status) {
    switch (status) {
    case MLPF_OK: return "ok";
    case MLPF_EINVAL: return "invalid argument";
    case MLPF_ENOMEM: return "out of memory";
    case MLPF_EIO: return "input/output error";
    case MLPF_EFORMAT: return "malformed file";
    case MLPF_ENONFINITE: return "non-finite value";
    case MLPF_EUNSUPPORTED: return "unsupported";
    case MLPF_ENUMERIC: return "numerical failure";
    case MLPF_EINTERRUPTED: return "interrupted";
    default: return "unknown status";
    }
}

void mlpf_error_clear(mlpf_error *err) {
    if (err) {
        err->status = MLPF_OK;
        err->msg[0] = '\0';
    }
}

int mlpf_fail(mlpf_error *err, int status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

int mlpf_fail_prefix(mlpf_error *err, int status, const char *fmt, ...) {
    if (err) {
        char prefix[MLPF_ERRMSG_LEN], old[MLPF_ERRMSG_LEN];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        old[sizeof old - 1] = '\0';
        /* Truncation of an over-long message is acceptable; say so to the compiler. */
        size_t k = strlen(prefix);
        if (k > sizeof err->msg - 3) k = sizeof err->msg - 3;
        memcpy(err->msg, prefix, k);
        err->msg[k] = ':';
        err->msg[k + 1] = ' ';
        size_t rest = sizeof err->msg - k - 2;
        strncpy(err->msg + k + 2, old, rest - 1);
        err->msg[sizeof err->msg - 1] = '\0';
        err->status = status;
    }
    return status;
}

void *mlpf_malloc(size_t bytes, mlpf_error *err) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) mlpf_fail(err, MLPF_ENOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *mlpf_calloc(size_t count, size_t size, mlpf_error *err) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) mlpf_fail(err, MLPF_ENOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

size_t mlpf_first_nonfinite(const double *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i + 1;
    return 0;
}

double mlpf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

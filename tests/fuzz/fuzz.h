/* fuzz.h - shared by the libFuzzer harnesses in tests/fuzz/: an invariant check
   that aborts (libFuzzer saves the input as a crash artifact), the checks every
   failing call must pass (a status and a readable message), and a private
   temporary directory for harnesses that touch files. Harness code is test
   code: its globals (the temp dir) are set once in LLVMFuzzerInitialize. */
#ifndef MLPF_FUZZ_H
#define MLPF_FUZZ_H

#include "mlpflow.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                             \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n  ", __FILE__, __LINE__, \
                    #cond);                                                               \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* A failed call returned st: the status is an error code, err carries the same
   status and a non-empty, NUL-terminated message. */
static inline void fuzz_check_failure(int st, const mlpf_error *err) {
    FUZZ_CHECK(st > MLPF_OK && st <= MLPF_EINTERRUPTED, "status %d out of range", st);
    FUZZ_CHECK(err->status == st, "err.status %d but returned %d", err->status, st);
    FUZZ_CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL, "message not terminated");
    FUZZ_CHECK(err->msg[0] != '\0', "empty error message for status %d", st);
}

/* NUL-terminated copy of the fuzz input (callers free). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Bitwise equality of two double arrays (NaN payloads and signed zeros count). */
static inline int fuzz_same_bits(const double *a, const double *b, size_t n) {
    return n == 0 || memcmp(a, b, n * sizeof(double)) == 0;
}

/* ---- a private temporary directory, removed at exit ---- */

static char fuzz_tmpdir[256];

static inline void fuzz_rm_tmpdir(void) {
    DIR *d = opendir(fuzz_tmpdir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", fuzz_tmpdir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(fuzz_tmpdir);
}

/* Creates the directory (under $TMPDIR or /tmp). The working directory stays
   put: libFuzzer reads and writes the corpus directories by relative path. */
static inline const char *fuzz_make_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    snprintf(fuzz_tmpdir, sizeof fuzz_tmpdir, "%s/mlpf-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(fuzz_tmpdir)) {
        perror("fuzz: temporary directory");
        abort();
    }
    atexit(fuzz_rm_tmpdir);
    return fuzz_tmpdir;
}

/* path = the temp dir's file name (a static buffer per call site is enough). */
static inline void fuzz_tmp_path(char *path, size_t cap, const char *name) {
    snprintf(path, cap, "%s/%s", fuzz_tmpdir, name);
}

/* Number of entries in the temporary directory (to spot leftover temp files). */
static inline int fuzz_tmpdir_count(void) {
    DIR *d = opendir(fuzz_tmpdir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

#endif

/* fuzz_csv.c - mlpf_csv_parse on arbitrary text. Beyond "no crash": a parsed
   table printed back with %.17g (comma separated, one row per line) parses to
   the same shape and the same values (NaN stays NaN), and every failure comes
   with a status and a message naming the file. */
#include "fuzz.h"
#include "io/io.h"

#include <math.h>

/* rows x cols values as CSV text (malloc'ed) */
static char *csv_text(const double *v, size_t rows, size_t cols, size_t *len) {
    size_t cap = rows * cols * 32 + rows + 1, n = 0;
    char *s = malloc(cap);
    if (!s) abort();
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            n += (size_t)snprintf(s + n, cap - n, "%.17g%c", v[i * cols + j],
                                  j + 1 < cols ? ',' : '\n');
    *len = n;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    double *v = NULL;
    size_t shape[2] = {0, 0};
    int ndim = -1;
    mlpf_error err = {0};
    int st = mlpf_csv_parse("fuzz.csv", (const char *)data, size, &v, shape, &ndim, &err);
    if (st) {
        fuzz_check_failure(st, &err);
        FUZZ_CHECK(v == NULL, "failed parse left data behind");
        FUZZ_CHECK(!strncmp(err.msg, "fuzz.csv: ", 10), "message does not name the file: %s",
                   err.msg);
        return 0;
    }
    FUZZ_CHECK(ndim == 2 && shape[0] >= 1 && shape[1] >= 1 && v, "ndim %d shape (%zu, %zu)",
               ndim, shape[0], shape[1]);
    /* every value needs at least one character and one separator */
    FUZZ_CHECK(shape[0] * shape[1] <= size, "%zu x %zu values from %zu bytes", shape[0], shape[1],
               size);

    size_t len;
    char *text = csv_text(v, shape[0], shape[1], &len);
    double *w = NULL;
    size_t shape2[2];
    int ndim2;
    st = mlpf_csv_parse("again.csv", text, len, &w, shape2, &ndim2, &err);
    FUZZ_CHECK(st == MLPF_OK, "printed table does not parse: %s\n%s", err.msg, text);
    FUZZ_CHECK(ndim2 == 2 && shape2[0] == shape[0] && shape2[1] == shape[1],
               "shape changed: (%zu, %zu) -> (%zu, %zu)", shape[0], shape[1], shape2[0], shape2[1]);
    for (size_t i = 0; i < shape[0] * shape[1]; i++)
        FUZZ_CHECK(isnan(v[i]) ? isnan(w[i]) : memcmp(&v[i], &w[i], 8) == 0,
                   "value %zu: %.17g -> %.17g", i, v[i], w[i]);
    free(text);
    free(w);
    free(v);
    return 0;
}

/* fuzz_npy.c - mlpf_npy_parse on arbitrary bytes. Beyond "no crash": a parsed
   array written back as a .npy (mlpf_npy_header + little-endian float64) parses
   to the same shape and the same bits, its header is 64-byte aligned, and every
   failure comes with a status and a message. */
#include "fuzz.h"
#include "io/io.h"

#include <stdint.h>

/* buf (header + 8 n bytes) = the .npy bytes of a (shape, ndim) float64 array */
static unsigned char *npy_bytes(const double *v, const size_t shape[2], int ndim, size_t *len) {
    char head[256];
    size_t hl = mlpf_npy_header(head, sizeof head, shape, ndim);
    FUZZ_CHECK(hl > 0 && hl % 64 == 0, "header length %zu for ndim %d", hl, ndim);
    size_t n = ndim == 0 ? 1 : ndim == 1 ? shape[0] : shape[0] * shape[1];
    unsigned char *buf = malloc(hl + 8 * n);
    if (!buf) abort();
    memcpy(buf, head, hl);
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        for (int b = 0; b < 8; b++) buf[hl + 8 * i + b] = (unsigned char)(u >> (8 * b));
    }
    *len = hl + 8 * n;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    double *v = NULL;
    size_t shape[2] = {0, 0};
    int ndim = -1;
    mlpf_error err = {0};
    int st = mlpf_npy_parse("fuzz.npy", data, size, &v, shape, &ndim, &err);
    if (st) {
        fuzz_check_failure(st, &err);
        FUZZ_CHECK(v == NULL, "failed parse left data behind");
        FUZZ_CHECK(!strncmp(err.msg, "fuzz.npy: ", 10), "message does not name the file: %s",
                   err.msg);
        return 0;
    }
    FUZZ_CHECK(ndim >= 0 && ndim <= 2 && v, "ndim %d", ndim);
    if (ndim < 2) FUZZ_CHECK(shape[1] == 1, "ndim %d but shape[1] = %zu", ndim, shape[1]);
    if (ndim == 0) FUZZ_CHECK(shape[0] == 1, "scalar with shape[0] = %zu", shape[0]);
    size_t n = ndim == 0 ? 1 : ndim == 1 ? shape[0] : shape[0] * shape[1];
    /* the values come from the input: 4 or 8 bytes each */
    FUZZ_CHECK(n <= size / 4, "%zu values from %zu bytes", n, size);

    size_t len;
    unsigned char *again = npy_bytes(v, shape, ndim, &len);
    double *w = NULL;
    size_t shape2[2];
    int ndim2;
    st = mlpf_npy_parse("again.npy", again, len, &w, shape2, &ndim2, &err);
    FUZZ_CHECK(st == MLPF_OK, "our own .npy does not parse: %s", err.msg);
    FUZZ_CHECK(ndim2 == ndim && shape2[0] == shape[0] && shape2[1] == shape[1],
               "shape changed: ndim %d (%zu, %zu) -> ndim %d (%zu, %zu)", ndim, shape[0], shape[1],
               ndim2, shape2[0], shape2[1]);
    FUZZ_CHECK(fuzz_same_bits(v, w, n), "values changed in the round trip");
    free(again);
    free(w);
    free(v);
    return 0;
}

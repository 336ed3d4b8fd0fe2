/* fuzz_npz_read.c - the .npz reader (mlpf_npz_array: the result reader and
   --params RUN.npz go through it) on arbitrary bytes, for the entries a run
   has. Invariants: a failure carries a status and a message; a success gives
   an array whose shape matches its element count, and reading the same entry
   twice gives the same bits. */
#include "fuzz.h"
#include "io/io.h"

static size_t count(const size_t shape[2], int ndim) {
    return ndim == 0 ? 1 : ndim == 1 ? shape[0] : shape[0] * shape[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"x", "init", "trajectory_x", "loss_curve"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        double *a = NULL, *b = NULL;
        size_t sa[2] = {0, 0}, sb[2] = {0, 0};
        int na = -1, nb = -1;
        mlpf_error err = {0};
        int st = mlpf_npz_array("fuzz.npz", data, size, names[k], &a, sa, &na, &err);
        if (st) {
            fuzz_check_failure(st, &err);
            FUZZ_CHECK(a == NULL, "failed read left data behind");
            FUZZ_CHECK(strstr(err.msg, "fuzz.npz") != NULL, "message does not name the file: %s",
                       err.msg);
            continue;
        }
        FUZZ_CHECK(na >= 0 && na <= 2, "ndim %d", na);
        size_t n = count(sa, na);
        FUZZ_CHECK(n == 0 || a != NULL, "no data for %zu elements", n);
        st = mlpf_npz_array("fuzz.npz", data, size, names[k], &b, sb, &nb, &err);
        FUZZ_CHECK(st == MLPF_OK && nb == na && count(sb, nb) == n, "second read differs");
        FUZZ_CHECK(fuzz_same_bits(a, b, n), "second read gives other bits");
        free(a);
        free(b);
    }
    return 0;
}

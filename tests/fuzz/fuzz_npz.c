/* fuzz_npz.c - mlpf_write_npz round trip. The input describes up to 4 arrays
   (name, ndim, shape, float64 values); they are written to a private temp dir
   and read back with an independent zip reader (zip_read.h: end record, central
   directory and local headers agree, entries STORED with a correct CRC-32,
   .npy headers 64-byte aligned); every entry parses (mlpf_npy_parse) to the
   same name, shape and bits. A refused write leaves no file behind, and a
   successful one leaves no temp file.
   Input layout: byte 0 = number of arrays (mod 5); per array: name length (mod
   160, long names must be refused), the name bytes (a NUL ends the name early),
   ndim (mod 3), one byte per dimension (mod 6, or, with the high bit set, a
   dimension near 2^61 / 2^62, beyond what the reader takes and whose product
   may overflow: such writes must be refused before any value is read); then the values, 8 bytes each, from the
   rest of the input (zeros once it runs out).
   The first array also goes through mlpf_write_npy and mlpf_read_array. */
#include "fuzz.h"
#include "io/io.h"
#include "zip_read.h"

#include <errno.h>
#include <sys/stat.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned take(reader *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

typedef struct {
    char name[160];
    int ndim;
    size_t shape[2];
    double *v;
    size_t n;
    int huge;       /* a dimension whose product overflows: the write must fail */
} array_spec;

/* Entry k is array a[k]: the same name (+ ".npy"), shape and bits. */
static void check_entry(int k, const char *name, size_t nlen, const unsigned char *data,
                        size_t size, void *ctx) {
    const array_spec *a = (const array_spec *)ctx + k;
    size_t fl = strlen(a->name);
    FUZZ_CHECK(nlen == fl + 4 && !memcmp(name, a->name, fl) && !memcmp(name + fl, ".npy", 4),
               "entry %d: name", k);
    double *v = NULL;
    size_t shape[2];
    int ndim;
    mlpf_error err = {0};
    int st = mlpf_npy_parse("entry", data, size, &v, shape, &ndim, &err);
    FUZZ_CHECK(st == MLPF_OK, "entry %d does not parse: %s", k, err.msg);
    FUZZ_CHECK(ndim == a->ndim, "entry %d: ndim %d, wrote %d", k, ndim, a->ndim);
    for (int i = 0; i < ndim; i++)
        FUZZ_CHECK(shape[i] == a->shape[i], "entry %d: dimension %d is %zu, wrote %zu", k, i,
                   shape[i], a->shape[i]);
    FUZZ_CHECK(fuzz_same_bits(v, a->v, a->n), "entry %d: values differ", k);
    free(v);
}

/* mlpf_write_npy then mlpf_read_array: the same shape and bits, or a refusal
   (overflowing shape) that leaves no file. */
static void check_npy_file(const array_spec *a) {
    char path[300];
    fuzz_tmp_path(path, sizeof path, "one.npy");
    mlpf_error err = {0};
    int st = mlpf_write_npy(path, a->v, a->shape, a->ndim, &err);
    if (st) {
        fuzz_check_failure(st, &err);
        FUZZ_CHECK(a->huge, "mlpf_write_npy refused: %s", err.msg);
        FUZZ_CHECK(access(path, F_OK) != 0, "a refused write left %s behind", path);
        return;
    }
    FUZZ_CHECK(!a->huge, "mlpf_write_npy accepted an overflowing shape");
    double *v = NULL;
    size_t shape[2];
    int ndim;
    st = mlpf_read_array(path, &v, shape, &ndim, &err);
    FUZZ_CHECK(st == MLPF_OK, "written .npy does not read back: %s", err.msg);
    FUZZ_CHECK(ndim == a->ndim && (ndim < 1 || shape[0] == a->shape[0]) &&
                   (ndim < 2 || shape[1] == a->shape[1]), "shape changed");
    FUZZ_CHECK(fuzz_same_bits(v, a->v, a->n), ".npy values differ");
    free(v);
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_make_tmpdir();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    array_spec a[4];
    mlpf_npz_entry e[4];
    int n = (int)(take(&r) % 5);
    for (int k = 0; k < n; k++) {
        size_t nl = take(&r) % 160;
        for (size_t i = 0; i < nl; i++) a[k].name[i] = (char)take(&r);
        a[k].name[nl] = '\0';
        a[k].ndim = (int)(take(&r) % 3);
        a[k].shape[0] = a[k].shape[1] = 1;
        a[k].n = 1;
        a[k].huge = 0;
        for (int i = 0; i < a[k].ndim; i++) {
            unsigned b = take(&r);
            a[k].shape[i] = b & 0x80 ? ((size_t)1 << (61 + (b & 1))) + (b >> 1 & 7) : b % 6;
            a[k].huge |= (b & 0x80) != 0;
            a[k].n *= a[k].shape[i];
        }
        /* even (huge, 0) is refused: the reader takes dimensions below 2^48 only */
        if (a[k].huge) a[k].n = 1;   /* what the caller really holds: one value */
    }
    for (int k = 0; k < n; k++) {
        a[k].v = calloc(a[k].n ? a[k].n : 1, sizeof(double));
        if (!a[k].v) abort();
        for (size_t i = 0; i < a[k].n; i++) {
            size_t m = r.n < 8 ? r.n : 8;
            memcpy(&a[k].v[i], r.p, m);
            r.p += m;
            r.n -= m;
        }
        e[k] = (mlpf_npz_entry){a[k].name, a[k].v, {a[k].shape[0], a[k].shape[1]}, a[k].ndim};
    }
    char path[300];
    fuzz_tmp_path(path, sizeof path, "out.npz");
    if (unlink(path) && errno != ENOENT) abort();
    mlpf_error err = {0};
    int st = mlpf_write_npz(path, e, (size_t)n, &err);
    int refuse = 0;
    for (int k = 0; k < n; k++) refuse |= strlen(a[k].name) + 4 >= 128 || a[k].huge;
    if (st) {
        fuzz_check_failure(st, &err);
        FUZZ_CHECK(refuse, "write refused: %s", err.msg);
        struct stat sb;
        FUZZ_CHECK(stat(path, &sb) != 0, "a refused write left %s behind", path);
    } else {
        FUZZ_CHECK(!refuse, "a long entry name or an overflowing shape was accepted");
        zip_walk(path, n, check_entry, a);
    }
    FUZZ_CHECK(fuzz_tmpdir_count() == (st ? 0 : 1), "leftover files in the temp dir");
    if (n > 0) check_npy_file(&a[0]);
    for (int k = 0; k < n; k++) free(a[k].v);
    return 0;
}

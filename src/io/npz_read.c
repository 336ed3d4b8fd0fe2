/* npz_read.c - one array out of a .npz: walk the zip's central directory (it
   has the sizes even when the local headers defer them to a data descriptor or
   to a zip64 extra field, as Python's zipfile does), find the entry, and parse
   its .npy bytes. */
#include "io/npz_read.h"

#include <string.h>

static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const unsigned char *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

int mlpf_is_npz_path(const char *path) {
    size_t n = path ? strlen(path) : 0;
    return n >= 4 && strcmp(path + n - 4, ".npz") == 0;
}

/* The end-of-central-directory record: the last 22+ bytes (comment <= 64 KiB). */
static const unsigned char *find_eocd(const unsigned char *buf, size_t len) {
    if (len < 22) return NULL;
    size_t stop = len > 22 + 0xFFFF ? len - 22 - 0xFFFF : 0;
    for (size_t i = len - 22 + 1; i-- > stop;)
        if (rd32(buf + i) == 0x06054b50u) return buf + i;
    return NULL;
}

typedef struct {
    uint32_t method;
    uint64_t csize, usize, offset;
} zip_entry;

/* Sizes and offset that do not fit 32 bits are in the zip64 extra field (id 1),
   in the order usize, csize, offset, for the fields that hold 0xFFFFFFFF. */
static void zip64_fields(const unsigned char *ex, size_t exlen, zip_entry *e) {
    for (size_t k = 0; k + 4 <= exlen;) {
        uint32_t id = rd16(ex + k), sz = rd16(ex + k + 2);
        if (k + 4 + sz > exlen) return;
        if (id == 1) {
            const unsigned char *f = ex + k + 4, *end = f + sz;
            if (e->usize == 0xFFFFFFFFu && f + 8 <= end) e->usize = rd64(f), f += 8;
            if (e->csize == 0xFFFFFFFFu && f + 8 <= end) e->csize = rd64(f), f += 8;
            if (e->offset == 0xFFFFFFFFu && f + 8 <= end) e->offset = rd64(f);
            return;
        }
        k += 4 + sz;
    }
}

/* Find "<name>.npy" in the central directory; lists the names in `seen`. */
static int find_entry(const char *path, const unsigned char *buf, size_t len, const char *name,
                      zip_entry *e, char *seen, size_t seencap, mlpf_error *err) {
    const unsigned char *eocd = find_eocd(buf, len);
    if (!eocd) return mlpf_fail(err, MLPF_EFORMAT, "%s: not a zip archive (.npz)", path);
    uint32_t count = rd16(eocd + 10);
    uint64_t off = rd32(eocd + 16);
    size_t want = strlen(name);
    seen[0] = '\0';
    for (uint32_t k = 0; k < count; k++) {
        if (off + 46 > len || rd32(buf + off) != 0x02014b50u)
            return mlpf_fail(err, MLPF_EFORMAT, "%s: damaged zip central directory", path);
        const unsigned char *c = buf + off;
        size_t nl = rd16(c + 28), xl = rd16(c + 30), cl = rd16(c + 32);
        if (off + 46 + nl + xl + cl > len) return mlpf_fail(err, MLPF_EFORMAT, "%s: damaged zip entry", path);
        const char *fn = (const char *)c + 46;
        size_t used = strlen(seen);
        if (used + nl + 3 < seencap) {
            if (used) strcat(seen, ", ");
            strncat(seen, fn, nl > 4 && !memcmp(fn + nl - 4, ".npy", 4) ? nl - 4 : nl);
        }
        if (nl == want + 4 && !memcmp(fn, name, want) && !memcmp(fn + want, ".npy", 4)) {
            e->method = rd16(c + 10);
            e->csize = rd32(c + 20), e->usize = rd32(c + 24), e->offset = rd32(c + 42);
            zip64_fields(c + 46 + nl, xl, e);
            return MLPF_OK;
        }
        off += 46 + nl + xl + cl;
    }
    return mlpf_fail(err, MLPF_EINVAL, "%s: no array \"%s\" (it has: %s)", path, name, seen);
}

int mlpf_npz_read(const char *path, const char *name, double **data, size_t shape[2], int *ndim,
                  mlpf_error *err) {
    *data = NULL;
    char *buf;
    size_t len;
    int st = mlpf_read_file(path, &buf, &len, err);
    if (st) return st;
    const unsigned char *b = (const unsigned char *)buf;
    zip_entry e = {0};
    char seen[256];
    st = find_entry(path, b, len, name, &e, seen, sizeof seen, err);
    if (!st && e.method != 0)
        st = mlpf_fail(err, MLPF_EUNSUPPORTED, "%s: array \"%s\" is compressed (numpy.savez_compressed); "
                       "save it with numpy.savez or numpy.save", path, name);
    if (!st && (e.offset + 30 > len || rd32(b + e.offset) != 0x04034b50u))
        st = mlpf_fail(err, MLPF_EFORMAT, "%s: damaged local header of \"%s\"", path, name);
    if (!st) {
        uint64_t start = e.offset + 30 + rd16(b + e.offset + 26) + rd16(b + e.offset + 28);
        if (start > len || e.usize > len - start)
            st = mlpf_fail(err, MLPF_EFORMAT, "%s: array \"%s\" runs past the end of the file", path, name);
        else {
            char label[300];
            snprintf(label, sizeof label, "%s[%s]", path, name);
            st = mlpf_npy_parse(label, b + start, (size_t)e.usize, data, shape, ndim, err);
        }
    }
    free(buf);
    return st;
}

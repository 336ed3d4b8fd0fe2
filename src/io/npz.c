/* npz.c - numpy's .npz: a zip archive of .npy entries. We write STORED
   (uncompressed) entries, which numpy.load reads directly: for each entry a
   local file header, the .npy bytes; then the central directory and the
   end-of-central-directory record. All integers are little-endian. Sizes
   beyond 4 GiB would need zip64 and are refused. */
#include "io/io.h"

#include <string.h>

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum zip uses.
   Byte-at-a-time with a table built on the stack: no shared state. */
uint32_t mlpf_crc32(uint32_t crc, const void *data, size_t len) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int oom;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->oom || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        unsigned char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static void put16(bytes *b, unsigned v) {
    unsigned char c[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(b, c, 2);
}

static void put32(bytes *b, uint32_t v) {
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(b, c, 4);
}

/* 1980-01-01 00:00: fixed, so the same result gives the same bytes */
#define DOS_TIME 0
#define DOS_DATE 0x21

static void put_entry_header(bytes *b, uint32_t sig, int central, uint32_t crc, uint32_t size,
                             size_t namelen, uint32_t offset) {
    put32(b, sig);
    if (central) put16(b, 20);  /* version made by: 2.0, MS-DOS attributes */
    put16(b, 20);               /* version needed to extract */
    put16(b, 0);                /* flags */
    put16(b, 0);                /* method: stored */
    put16(b, DOS_TIME);
    put16(b, DOS_DATE);
    put32(b, crc);
    put32(b, size);             /* compressed size */
    put32(b, size);             /* uncompressed size */
    put16(b, (unsigned)namelen);
    put16(b, 0);                /* extra field length */
    if (central) {
        put16(b, 0);            /* comment length */
        put16(b, 0);            /* disk number start */
        put16(b, 0);            /* internal attributes */
        put32(b, 0);            /* external attributes */
        put32(b, offset);       /* offset of the local header */
    }
}

int mlpf_npz_build(const char *path, const mlpf_npz_entry *entries, size_t n,
                   unsigned char **result, size_t *result_len, mlpf_error *err) {
    *result = NULL;
    *result_len = 0;
    if (n > 0xFFFF) return mlpf_fail(err, MLPF_EINVAL, "%s: too many arrays for a .npz", path);
    bytes out = {0}, central = {0};
    for (size_t e = 0; e < n; e++) {
        const mlpf_npz_entry *en = &entries[e];
        char fname[128];
        int fl = snprintf(fname, sizeof fname, "%s.npy", en->name);
        if (fl < 0 || (size_t)fl >= sizeof fname) {
            free(out.buf);
            free(central.buf);
            return mlpf_fail(err, MLPF_EINVAL, "%s: entry name \"%s\" too long", path, en->name);
        }
        char head[256];
        size_t hl = mlpf_npy_header(head, sizeof head, en->shape, en->ndim);
        size_t count = mlpf_npy_count(en->shape, en->ndim);
        size_t size = count <= 0xFFFFFFF0u / 8 ? hl + 8 * count : SIZE_MAX;
        if (!hl || size > 0xFFFFFFF0u || out.len > 0xFFFFFFF0u - size) {
            free(out.buf);
            free(central.buf);
            return mlpf_fail(err, MLPF_EINVAL, "%s: entry \"%s\" too large for a zip without zip64",
                             path, en->name);
        }
        /* the .npy bytes of this entry, to checksum and then copy */
        unsigned char *npy = mlpf_malloc(size, err);
        if (!npy) {
            free(out.buf);
            free(central.buf);
            return err ? err->status : MLPF_ENOMEM;
        }
        memcpy(npy, head, hl);
        for (size_t i = 0; i < count; i++) {
            uint64_t u;
            memcpy(&u, &en->data[i], 8);
            for (int k = 0; k < 8; k++) npy[hl + 8 * i + k] = (unsigned char)(u >> (8 * k));
        }
        uint32_t crc = mlpf_crc32(0, npy, size);
        uint32_t offset = (uint32_t)out.len;
        put_entry_header(&out, 0x04034b50u, 0, crc, (uint32_t)size, (size_t)fl, 0);
        put(&out, fname, (size_t)fl);
        put(&out, npy, size);
        free(npy);
        put_entry_header(&central, 0x02014b50u, 1, crc, (uint32_t)size, (size_t)fl, offset);
        put(&central, fname, (size_t)fl);
    }
    uint32_t cd_offset = (uint32_t)out.len, cd_size = (uint32_t)central.len;
    put(&out, central.buf, central.len);
    free(central.buf);
    put32(&out, 0x06054b50u);
    put16(&out, 0);             /* this disk */
    put16(&out, 0);             /* disk with the central directory */
    put16(&out, (unsigned)n);   /* entries on this disk */
    put16(&out, (unsigned)n);   /* entries in total */
    put32(&out, cd_size);
    put32(&out, cd_offset);
    put16(&out, 0);             /* comment length */
    if (out.oom || central.oom) {
        free(out.buf);
        return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory building the archive", path);
    }
    *result = out.buf;
    *result_len = out.len;
    return MLPF_OK;
}

int mlpf_write_npz(const char *path, const mlpf_npz_entry *entries, size_t n, mlpf_error *err) {
    unsigned char *buf;
    size_t len;
    int st = mlpf_npz_build(path, entries, n, &buf, &len, err);
    if (st) return st;
    st = mlpf_write_file_atomic(path, buf, len, err);
    free(buf);
    return st;
}

static uint32_t get16(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const unsigned char *p) {
    return get16(p) | get16(p + 2) << 16;
}

/* The size a zip64 "extra" field (id 1) records for a local header whose 32-bit
   size is 0xffffffff (Python's zipfile, hence numpy.savez, writes those); SIZE_MAX
   when there is none, which the caller reports as truncated. */
static size_t zip64_size(const unsigned char *extra, size_t n) {
    for (size_t at = 0; at + 4 <= n;) {
        size_t id = get16(extra + at), len = get16(extra + at + 2);
        if (at + 4 + len > n) break;
        if (id == 1 && len >= 8) {
            uint64_t v = 0;
            for (int b = 7; b >= 0; b--) v = (v << 8) | extra[at + 4 + b];
            return v > SIZE_MAX ? SIZE_MAX : (size_t)v;
        }
        at += 4 + len;
    }
    return SIZE_MAX;
}

/* The entry names of an archive, without ".npy", comma separated into out
   (cut short with "..." when they do not fit): for error messages. */
static const char *npz_names(const unsigned char *buf, size_t len, char *out, size_t cap) {
    size_t used = 0, at = 0;
    out[0] = '\0';
    while (at + 30 <= len && get32(buf + at) == 0x04034b50u) {
        const unsigned char *h = buf + at;
        size_t size = get32(h + 18), namelen = get16(h + 26), extra = get16(h + 28);
        size_t start = at + 30 + namelen + extra;
        if (start > len) break;
        if (size == 0xffffffffu) size = zip64_size(h + 30 + namelen, extra);
        size_t shown = namelen >= 4 && !memcmp(h + 30 + namelen - 4, ".npy", 4) ? namelen - 4
                                                                                : namelen;
        int w = snprintf(out + used, cap - used, "%s%.*s", used ? ", " : "", (int)shown,
                         (const char *)h + 30);
        if (w < 0 || (size_t)w >= cap - used) {
            snprintf(out + (cap > 4 ? cap - 4 : 0), cap > 4 ? 4 : cap, "...");
            break;
        }
        used += (size_t)w;
        if (size > len - start) break;
        at = start + size;
    }
    return used ? out : "no arrays";
}

/* Reading walks the local headers from the start, as the writer lays them
   out; an archive compressed or with data descriptors (numpy's savez_compressed)
   is refused by name: save with numpy.savez, or pass a .npy. */
int mlpf_npz_array(const char *path, const unsigned char *buf, size_t len, const char *name,
                   double **data, size_t shape[2], int *ndim, mlpf_error *err) {
    *data = NULL;
    char names[256];
    char want[128];
    int wl = snprintf(want, sizeof want, "%s.npy", name);
    if (wl < 0 || (size_t)wl >= sizeof want)
        return mlpf_fail(err, MLPF_EINVAL, "%s: entry name \"%s\" too long", path, name);
    size_t at = 0;
    while (at + 30 <= len && get32(buf + at) == 0x04034b50u) {
        const unsigned char *h = buf + at;
        uint32_t flags = get16(h + 6), method = get16(h + 8), crc = get32(h + 14);
        size_t size = get32(h + 18), namelen = get16(h + 26), extra = get16(h + 28);
        size_t start = at + 30 + namelen + extra;
        if (start > len)
            return mlpf_fail(err, MLPF_EFORMAT, "%s: truncated .npz (entry at byte %zu runs past "
                             "the end of the file)", path, at);
        if (size == 0xffffffffu) size = zip64_size(h + 30 + namelen, extra);
        if (size > len - start)
            return mlpf_fail(err, MLPF_EFORMAT, "%s: truncated .npz (entry at byte %zu runs past "
                             "the end of the file)", path, at);
        if (namelen == (size_t)wl && !memcmp(h + 30, want, namelen)) {
            if (method != 0 || (flags & 8))
                return mlpf_fail(err, MLPF_EFORMAT, "%s: entry %s is compressed: save with "
                                 "numpy.savez (not savez_compressed)", path, want);
            if (mlpf_crc32(0, buf + start, size) != crc)
                return mlpf_fail(err, MLPF_EFORMAT, "%s: entry %s fails its CRC-32 check (the "
                                 "file is damaged)", path, want);
            char label[4096 + 160];
            snprintf(label, sizeof label, "%s[%s]", path, name);
            return mlpf_npy_parse(label, buf + start, size, data, shape, ndim, err);
        }
        at = start + size;
    }
    return mlpf_fail(err, MLPF_EFORMAT, "%s: no array \"%s\" (it has: %s)", path, name,
                     npz_names(buf, len, names, sizeof names));
}

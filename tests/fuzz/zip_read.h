/* zip_read.h - an independent reader for the STORED zip archives (.npz) the
   library writes, for the fuzz harnesses: it checks the end record, the central
   directory, the local headers and each entry's CRC-32 (computed bit by bit,
   not with the library's table) and that each .npy header is 64-byte aligned,
   then hands every entry to a callback. Any inconsistency is a FUZZ_CHECK
   failure. */
#ifndef MLPF_FUZZ_ZIP_READ_H
#define MLPF_FUZZ_ZIP_READ_H

#include "fuzz.h"

static uint32_t zip_crc32_bitwise(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static unsigned zip_rd16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }
static uint32_t zip_rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Called for entry k with its file name (nlen bytes) and its data. */
typedef void (*zip_visit)(int k, const char *name, size_t nlen, const unsigned char *data,
                          size_t size, void *ctx);

/* Entry k of the archive z (len bytes) whose central record starts at cd;
   returns the offset just after that record. */
static size_t zip_entry(const unsigned char *z, size_t len, size_t cd, int k, zip_visit visit,
                        void *ctx) {
    FUZZ_CHECK(cd + 46 <= len && zip_rd32(z + cd) == 0x02014b50u, "central record %d missing", k);
    const unsigned char *c = z + cd;
    unsigned method = zip_rd16(c + 10), nlen = zip_rd16(c + 28), xlen = zip_rd16(c + 30),
             clen = zip_rd16(c + 32);
    uint32_t crc = zip_rd32(c + 16), csize = zip_rd32(c + 20), usize = zip_rd32(c + 24),
             off = zip_rd32(c + 42);
    FUZZ_CHECK(method == 0 && csize == usize, "entry %d: method %u, sizes %u / %u", k, method,
               (unsigned)csize, (unsigned)usize);
    FUZZ_CHECK(cd + 46 + nlen <= len, "entry %d: name runs past the end", k);
    FUZZ_CHECK((size_t)off + 30 + nlen <= len && zip_rd32(z + off) == 0x04034b50u,
               "entry %d: local header", k);
    const unsigned char *l = z + off;
    FUZZ_CHECK(zip_rd16(l + 8) == 0 && zip_rd32(l + 14) == crc && zip_rd32(l + 18) == csize &&
                   zip_rd32(l + 22) == usize && zip_rd16(l + 26) == nlen &&
                   !memcmp(l + 30, c + 46, nlen),
               "entry %d: local header disagrees with the central directory", k);
    size_t start = (size_t)off + 30 + nlen + zip_rd16(l + 28);
    FUZZ_CHECK(start + usize <= cd, "entry %d: data run past the central directory", k);
    FUZZ_CHECK(zip_crc32_bitwise(z + start, usize) == crc, "entry %d: CRC mismatch", k);
    FUZZ_CHECK(usize >= 10 && (10 + zip_rd16(z + start + 8)) % 64 == 0,
               "entry %d: .npy header not 64-byte aligned", k);
    visit(k, (const char *)c + 46, nlen, z + start, usize, ctx);
    return cd + 46 + nlen + xlen + clen;
}

/* Reads path and walks its n entries in order (n must match the end record). */
static void zip_walk(const char *path, int n, zip_visit visit, void *ctx) {
    char *z;
    size_t len;
    mlpf_error err = {0};
    FUZZ_CHECK(mlpf_read_file(path, &z, &len, &err) == MLPF_OK, "cannot read back: %s", err.msg);
    const unsigned char *u = (const unsigned char *)z;
    FUZZ_CHECK(len >= 22, "archive of %zu bytes", len);
    const unsigned char *e = u + len - 22;
    FUZZ_CHECK(zip_rd32(e) == 0x06054b50u && zip_rd16(e + 20) == 0, "no end record at the end");
    FUZZ_CHECK(zip_rd16(e + 8) == (unsigned)n && zip_rd16(e + 10) == (unsigned)n,
               "end record counts %u entries, expected %d", zip_rd16(e + 10), n);
    size_t cd = zip_rd32(e + 16), cdsize = zip_rd32(e + 12);
    FUZZ_CHECK(cd + cdsize == len - 22, "central directory at %zu + %zu, end record at %zu", cd,
               cdsize, len - 22);
    for (int k = 0; k < n; k++) cd = zip_entry(u, len, cd, k, visit, ctx);
    FUZZ_CHECK(cd == len - 22, "central directory has trailing bytes");
    free(z);
}

#endif

/* npy.c - numpy's .npy format: read v1/v2/v3 little-endian float64/float32 in C
   or Fortran order with up to two dimensions; write float64 C order.
   Format: "\x93NUMPY", major, minor, header length (uint16 for v1, uint32 for
   v2/v3, little-endian), then a Python dict literal with the keys 'descr',
   'fortran_order' and 'shape', padded with spaces and a final '\n'. */
#include "io/io.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

static const unsigned char NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ---- the header dict ---- */

typedef struct {
    const char *s, *end;
} cursor;

static void skip_space(cursor *c) {
    while (c->s < c->end && isspace((unsigned char)*c->s)) c->s++;
}

static int accept(cursor *c, char ch) {
    skip_space(c);
    if (c->s < c->end && *c->s == ch) {
        c->s++;
        return 1;
    }
    return 0;
}

/* A quoted Python string into out (cap bytes); 0 on malformed input. */
static int parse_str(cursor *c, char *out, size_t cap) {
    skip_space(c);
    if (c->s >= c->end || (*c->s != '\'' && *c->s != '"')) return 0;
    char q = *c->s++;
    size_t n = 0;
    while (c->s < c->end && *c->s != q) {
        if (n + 1 >= cap) return 0;
        out[n++] = *c->s++;
    }
    if (c->s >= c->end) return 0;
    c->s++;
    out[n] = '\0';
    return 1;
}

typedef struct {
    char descr[32];
    int fortran;
    int ndim;
    size_t shape[8];
    int have_descr, have_fortran, have_shape;
} npy_header;

/* 0 on success, else a static description of what is wrong. */
static const char *parse_header_dict(const char *s, size_t len, npy_header *h) {
    cursor c = {s, s + len};
    memset(h, 0, sizeof *h);
    if (!accept(&c, '{')) return "header is not a dict";
    for (;;) {
        if (accept(&c, '}')) break;
        char key[32];
        if (!parse_str(&c, key, sizeof key)) return "malformed key in header dict";
        if (!accept(&c, ':')) return "missing ':' in header dict";
        if (!strcmp(key, "descr")) {
            if (!parse_str(&c, h->descr, sizeof h->descr)) return "malformed 'descr'";
            h->have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            skip_space(&c);
            if ((size_t)(c.end - c.s) >= 4 && !strncmp(c.s, "True", 4)) {
                h->fortran = 1;
                c.s += 4;
            } else if ((size_t)(c.end - c.s) >= 5 && !strncmp(c.s, "False", 5)) {
                h->fortran = 0;
                c.s += 5;
            } else {
                return "malformed 'fortran_order' (need True or False)";
            }
            h->have_fortran = 1;
        } else if (!strcmp(key, "shape")) {
            if (!accept(&c, '(')) return "malformed 'shape' (need a tuple)";
            h->ndim = 0;
            for (;;) {
                if (accept(&c, ')')) break;
                skip_space(&c);
                if (c.s >= c.end || !isdigit((unsigned char)*c.s)) return "malformed 'shape'";
                unsigned long long v = 0;
                while (c.s < c.end && isdigit((unsigned char)*c.s)) {
                    unsigned d = (unsigned)(*c.s++ - '0');
                    if (v > (0xFFFFFFFFFFFFULL - d) / 10) return "dimension too large in 'shape'";
                    v = v * 10 + d;
                }
                skip_space(&c);
                if (c.s < c.end && *c.s == 'L') c.s++;  /* Python 2 long suffix */
                if (h->ndim >= 8) return "too many dimensions in 'shape'";
                h->shape[h->ndim++] = (size_t)v;
                if (accept(&c, ',')) continue;
                if (accept(&c, ')')) break;
                return "malformed 'shape'";
            }
            h->have_shape = 1;
        } else {
            return "unknown key in header dict";
        }
        if (accept(&c, ',')) continue;
        if (accept(&c, '}')) break;
        return "missing ',' or '}' in header dict";
    }
    if (!h->have_descr) return "header has no 'descr'";
    if (!h->have_fortran) return "header has no 'fortran_order'";
    if (!h->have_shape) return "header has no 'shape'";
    return NULL;
}

static uint32_t rd_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* out (n) = the n little-endian float64 / float32 values at p */
static void decode_values(const unsigned char *p, size_t n, int f4, double *out) {
    if (f4) {
        for (size_t i = 0; i < n; i++) {
            uint32_t u = rd_le32(p + 4 * i);
            float v;
            memcpy(&v, &u, 4);
            out[i] = v;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint64_t u = (uint64_t)rd_le32(p + 8 * i) | (uint64_t)rd_le32(p + 8 * i + 4) << 32;
            memcpy(&out[i], &u, 8);
        }
    }
}

int mlpf_npy_parse(const char *name, const unsigned char *buf, size_t len, double **data,
                   size_t shape[2], int *ndim, mlpf_error *err) {
    *data = NULL;
    if (len < 10 || memcmp(buf, NPY_MAGIC, 6) != 0)
        return mlpf_fail(err, MLPF_EFORMAT, "%s: not a .npy file (bad magic string)", name);
    int major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return mlpf_fail(err, MLPF_EFORMAT, "%s: truncated .npy header", name);
        hlen = rd_le32(buf + 8);
        hstart = 12;
    } else {
        return mlpf_fail(err, MLPF_EFORMAT, "%s: unsupported .npy format version %d.%d", name,
                         major, buf[7]);
    }
    if (hlen > len - hstart)
        return mlpf_fail(err, MLPF_EFORMAT,
                         "%s: truncated .npy header (header says %zu bytes, file has %zu)", name,
                         hlen, len - hstart);
    npy_header h;
    const char *why = parse_header_dict((const char *)buf + hstart, hlen, &h);
    if (why) return mlpf_fail(err, MLPF_EFORMAT, "%s: bad .npy header: %s", name, why);

    /* the dtype string lands in messages: keep them printable */
    for (char *q = h.descr; *q; q++)
        if (!isprint((unsigned char)*q)) *q = '?';
    const char *d = h.descr;
    int f4;
    if ((d[0] == '<' || d[0] == '=' || d[0] == '|') && !strcmp(d + 1, "f8")) {
        f4 = 0;
    } else if ((d[0] == '<' || d[0] == '=' || d[0] == '|') && !strcmp(d + 1, "f4")) {
        f4 = 1;
    } else if (d[0] == '>') {
        return mlpf_fail(err, MLPF_EFORMAT,
                         "%s: big-endian dtype '%s' is not supported (save little-endian, "
                         "e.g. a.astype('<f8'))", name, d);
    } else {
        return mlpf_fail(err, MLPF_EFORMAT,
                         "%s: dtype '%s' is not supported (need float64 '<f8' or float32 '<f4'; "
                         "convert with a.astype(float))", name, d);
    }
    if (h.ndim > 2)
        return mlpf_fail(err, MLPF_EFORMAT, "%s: array has %d dimensions, at most 2 supported",
                         name, h.ndim);
    size_t count = 1;
    for (int i = 0; i < h.ndim; i++) {
        if (h.shape[i] && count > SIZE_MAX / 16 / h.shape[i])
            return mlpf_fail(err, MLPF_EFORMAT, "%s: shape too large", name);
        count *= h.shape[i];
    }
    size_t item = f4 ? 4 : 8, avail = len - hstart - hlen;
    if (avail < count * item)
        return mlpf_fail(err, MLPF_EFORMAT,
                         "%s: truncated data: shape needs %zu bytes, file has %zu", name,
                         count * item, avail);
    /* float32 data double in size when read */
    int st = mlpf_check_budget(name, 8.0 * (double)count, err);
    if (st) return st;
    double *out = mlpf_malloc((count ? count : 1) * sizeof(double), err);
    if (!out) return err ? err->status : MLPF_ENOMEM;
    const unsigned char *p = buf + hstart + hlen;
    if (h.ndim == 2 && h.fortran && h.shape[0] > 1 && h.shape[1] > 1) {
        /* column-major on disk: column j is contiguous, element (i, j) at j*rows + i */
        size_t rows = h.shape[0], cols = h.shape[1];
        double *col = mlpf_malloc(rows * sizeof(double), err);
        if (!col) {
            free(out);
            return err ? err->status : MLPF_ENOMEM;
        }
        for (size_t j = 0; j < cols; j++) {
            decode_values(p + j * rows * item, rows, f4, col);
            for (size_t i = 0; i < rows; i++) out[i * cols + j] = col[i];
        }
        free(col);
    } else {
        decode_values(p, count, f4, out);
    }
    *ndim = h.ndim;
    shape[0] = h.ndim > 0 ? h.shape[0] : 1;
    shape[1] = h.ndim > 1 ? h.shape[1] : 1;
    *data = out;
    return MLPF_OK;
}

size_t mlpf_npy_header(char *buf, size_t cap, const size_t *shape, int ndim) {
    char dict[160];
    int m;
    if (ndim == 0)
        m = snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }");
    else if (ndim == 1)
        m = snprintf(dict, sizeof dict,
                     "{'descr': '<f8', 'fortran_order': False, 'shape': (%zu,), }", shape[0]);
    else
        m = snprintf(dict, sizeof dict,
                     "{'descr': '<f8', 'fortran_order': False, 'shape': (%zu, %zu), }", shape[0],
                     shape[1]);
    if (m < 0 || (size_t)m >= sizeof dict) return 0;
    /* magic(6) + version(2) + length(2) + dict + padding + '\n' ≡ 0 (mod 64) */
    size_t total = 10 + (size_t)m + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap) return 0;
    size_t hlen = total - 10;
    memcpy(buf, NPY_MAGIC, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)m);
    memset(buf + 10 + m, ' ', hlen - (size_t)m - 1);
    buf[total - 1] = '\n';
    return total;
}

size_t mlpf_npy_count(const size_t *shape, int ndim) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] > 0xFFFFFFFFFFFFULL) return SIZE_MAX;
        if (shape[i] && n > SIZE_MAX / shape[i]) return SIZE_MAX;
        n *= shape[i];
    }
    return n;
}

int mlpf_write_npy(const char *path, const double *data, const size_t *shape, int ndim,
                   mlpf_error *err) {
    if (ndim < 0 || ndim > 2)
        return mlpf_fail(err, MLPF_EINVAL, "%s: can write 0 to 2 dimensions, not %d", path, ndim);
    char head[256];
    size_t hl = mlpf_npy_header(head, sizeof head, shape, ndim);
    if (!hl) return mlpf_fail(err, MLPF_EINVAL, "%s: shape too large for a .npy header", path);
    size_t n = mlpf_npy_count(shape, ndim);
    if (n > (SIZE_MAX - hl) / 8) return mlpf_fail(err, MLPF_EINVAL, "%s: array too large", path);
    unsigned char *buf = mlpf_malloc(hl + 8 * n, err);
    if (!buf) return err ? err->status : MLPF_ENOMEM;
    memcpy(buf, head, hl);
    /* x86-64 and aarch64 are little-endian; write byte by byte anyway so the
       file is '<f8' whatever the host */
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &data[i], 8);
        for (int b = 0; b < 8; b++) buf[hl + 8 * i + b] = (unsigned char)(u >> (8 * b));
    }
    int st = mlpf_write_file_atomic(path, buf, hl + 8 * n, err);
    free(buf);
    return st;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    if (n < m) return 0;
    for (size_t i = 0; i < m; i++)
        if (tolower((unsigned char)s[n - m + i]) != suffix[i]) return 0;
    return 1;
}

int mlpf_read_array(const char *path, double **data, size_t shape[2], int *ndim, mlpf_error *err) {
    char *buf;
    size_t len;
    *data = NULL;
    int st = mlpf_read_file(path, &buf, &len, err);
    if (st) return st;
    /* the magic string decides, so a .npy saved under another name still loads */
    if (len >= 6 && !memcmp(buf, NPY_MAGIC, 6))
        st = mlpf_npy_parse(path, (const unsigned char *)buf, len, data, shape, ndim, err);
    else if (ends_with(path, ".npy"))
        st = mlpf_fail(err, MLPF_EFORMAT, "%s: not a .npy file (bad magic string)", path);
    else
        st = mlpf_csv_parse(path, buf, len, data, shape, ndim, err);
    free(buf);
    return st;
}

/* csv.c - numeric text tables: fields separated by commas or whitespace, one
   row per line, blank lines and '#' comment lines skipped, and an optional
   header line (the first line, when none of its fields is a number). The result is
   always two-dimensional (rows, columns). */
#include "io/io.h"

#include <ctype.h>
#include <string.h>

/* The field [p, p + k) as a number: 1 and *v when the whole field is one, 0
   when not, -1 when out of memory. A field may be of any length (a number
   can carry many digits); the copy makes it a C string for strtod. */
static int field_number(const char *p, size_t k, double *v) {
    char small[64], *buf = k < sizeof small ? small : malloc(k + 1);
    if (!buf) return -1;
    memcpy(buf, p, k);
    buf[k] = '\0';
    char *e;
    *v = strtod(buf, &e);
    int ok = k > 0 && *e == '\0';
    if (buf != small) free(buf);
    return ok;
}

/* Parse one line [s, end) into vals (NULL = just count). Returns the number of
   fields, -1 with *bad_col (1-based) at the first field that is not a number,
   or -2 when out of memory. */
static long parse_line(const char *s, const char *end, double *vals, long *bad_col) {
    long n = 0;
    const char *p = s;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
        if (p >= end) {
            /* a trailing comma leaves an empty last field */
            return n;
        }
        const char *q = p;
        while (q < end && *q != ',' && !isspace((unsigned char)*q)) q++;
        double v;
        int ok = field_number(p, (size_t)(q - p), &v);
        if (ok <= 0) {
            *bad_col = n + 1;
            return ok < 0 ? -2 : -1;
        }
        if (vals) vals[n] = v;
        n++;
        p = q;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
        if (p < end && *p == ',') {
            p++;
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
            if (p >= end || *p == ',') {
                *bad_col = n + 1;
                return -1;
            }
        }
    }
}

/* 1 when no field of the line is a number: a header of column names. A line
   mixing names and numbers is a broken data row, not a header. Out of memory
   counts as "a number" (not a header), which parse_line then reports. */
static int all_text(const char *s, const char *end) {
    const char *p = s;
    while (p < end) {
        while (p < end && (*p == ',' || isspace((unsigned char)*p))) p++;
        const char *q = p;
        while (q < end && *q != ',' && !isspace((unsigned char)*q)) q++;
        double v;
        if (q > p && field_number(p, (size_t)(q - p), &v) != 0) return 0;
        p = q;
    }
    return 1;
}

static int blank_or_comment(const char *s, const char *end) {
    while (s < end && isspace((unsigned char)*s)) s++;
    return s >= end || *s == '#';
}

int mlpf_csv_parse(const char *name, const char *text, size_t len, double **data,
                   size_t shape[2], int *ndim, mlpf_error *err) {
    *data = NULL;
    const char *end = text + len;
    /* a UTF-8 byte order mark would make the first row look like a header */
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {
        text += 3;
        len -= 3;
    }
    if (memchr(text, '\0', len))
        return mlpf_fail(err, MLPF_EFORMAT, "%s: not a text file (use .npy or CSV)", name);
    /* pass 1: count rows and columns, find errors */
    long cols = -1;
    size_t rows = 0;
    long lineno = 0, first_line = 0;
    int header_seen = 0;
    for (const char *s = text; s < end;) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e) e = end;
        lineno++;
        if (!blank_or_comment(s, e)) {
            long bad = 0;
            long n = parse_line(s, e, NULL, &bad);
            if (n == -2) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", name);
            if (n < 0) {
                if (rows == 0 && !header_seen && all_text(s, e)) {
                    header_seen = 1;  /* a header line of column names */
                } else {
                    return mlpf_fail(err, MLPF_EFORMAT, "%s: line %ld, column %ld: not a number",
                                     name, lineno, bad);
                }
            } else if (cols < 0) {
                cols = n;
                first_line = lineno;
                rows = 1;
            } else if (n != cols) {
                return mlpf_fail(err, MLPF_EFORMAT,
                                 "%s: line %ld has %ld columns, line %ld has %ld (ragged rows)",
                                 name, lineno, n, first_line, cols);
            } else {
                rows++;
            }
        }
        s = e < end ? e + 1 : end;
    }
    if (rows == 0 || cols <= 0)
        return mlpf_fail(err, MLPF_EFORMAT, "%s: no numeric rows", name);
    double *out = mlpf_malloc(rows * (size_t)cols * sizeof(double), err);
    if (!out) return err ? err->status : MLPF_ENOMEM;
    /* pass 2: the values */
    size_t r = 0;
    int skipped_header = 0;
    for (const char *s = text; s < end && r < rows;) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e) e = end;
        if (!blank_or_comment(s, e)) {
            long bad = 0;
            if (header_seen && !skipped_header) {
                skipped_header = 1;
            } else {
                if (parse_line(s, e, out + r * (size_t)cols, &bad) == -2) {
                    free(out);
                    return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory", name);
                }
                r++;
            }
        }
        s = e < end ? e + 1 : end;
    }
    shape[0] = rows;
    shape[1] = (size_t)cols;
    *ndim = 2;
    *data = out;
    return MLPF_OK;
}

/* test_io.c - files: .npy read/write (float64/float32, C/Fortran order,
   v1/v2/v3 headers, broken files), CSV, .npz, the spec JSON and saved results. */
#include "check.h"
#include "io/io.h"
#include "problem/problem.h"
#include "result/result_io.h"

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char *tmp(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

static void write_text(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

/* A .npy file with a hand-written header dict, version major, and raw data. */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data,
                          size_t nbytes) {
    unsigned char buf[4096];
    size_t hl = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (hl + dl + 1 + 63) / 64 * 64;
    size_t hlen = total - hl;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)hlen;
        buf[9] = (unsigned char)(hlen >> 8);
    } else {
        for (int b = 0; b < 4; b++) buf[8 + b] = (unsigned char)(hlen >> (8 * b));
    }
    memcpy(buf + hl, dict, dl);
    memset(buf + hl + dl, ' ', total - hl - dl - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, nbytes);
    write_bytes(path, buf, total + nbytes);
}

static void test_npy_roundtrip(void) {
    mlpf_error err = {0};
    double a[6] = {1.5, -2.25, 3e-300, 1e300, -0.0, 0.1};
    size_t shape[2] = {2, 3}, got[2];
    int ndim;
    double *v;
    CHECK_OK(mlpf_write_npy(tmp("a.npy"), a, shape, 2, &err), &err);
    CHECK_OK(mlpf_read_array(tmp("a.npy"), &v, got, &ndim, &err), &err);
    CHECK(ndim == 2 && got[0] == 2 && got[1] == 3, "shape (%zu, %zu) ndim %d", got[0], got[1], ndim);
    CHECK(v && !memcmp(v, a, sizeof a), "values differ after a round trip");
    free(v);
    /* the data start on a 64-byte boundary, as numpy writes them */
    FILE *f = fopen(tmp("a.npy"), "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK((size - 48) % 64 == 0, "file size %ld: header not padded to 64", size);
    /* no temporary file left behind */
    CHECK(access(tmp("a.npy.tmp"), F_OK) != 0, "temporary file left");

    size_t s1[1] = {5};
    CHECK_OK(mlpf_write_npy(tmp("b.npy"), a, s1, 1, &err), &err);
    CHECK_OK(mlpf_read_array(tmp("b.npy"), &v, got, &ndim, &err), &err);
    CHECK(ndim == 1 && got[0] == 5, "1-D shape");
    CHECK(v && v[4] == a[4] && v[0] == 1.5, "1-D values");
    free(v);
    CHECK_OK(mlpf_write_npy(tmp("c.npy"), a + 1, NULL, 0, &err), &err);
    CHECK_OK(mlpf_read_array(tmp("c.npy"), &v, got, &ndim, &err), &err);
    CHECK(ndim == 0 && v && v[0] == -2.25, "scalar");
    free(v);
}

static void test_npy_variants(void) {
    mlpf_error err = {0};
    double *v;
    size_t got[2];
    int ndim;
    /* float32, C order, v1 */
    float f32[4] = {0.5f, -1.25f, 3.0f, 1e-3f};
    write_npy_raw(tmp("f4.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                  f32, sizeof f32);
    CHECK_OK(mlpf_read_array(tmp("f4.npy"), &v, got, &ndim, &err), &err);
    CHECK(ndim == 2 && got[0] == 2 && got[1] == 2, "f4 shape");
    CHECK(v && v[1] == -1.25 && v[3] == (double)1e-3f, "f4 values");
    free(v);
    /* Fortran order: the file holds columns; (2, 3) matrix [[1,2,3],[4,5,6]] */
    double colmajor[6] = {1, 4, 2, 5, 3, 6};
    write_npy_raw(tmp("fo.npy"), 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                  colmajor, sizeof colmajor);
    CHECK_OK(mlpf_read_array(tmp("fo.npy"), &v, got, &ndim, &err), &err);
    for (int i = 0; v && i < 6; i++) CHECK(v[i] == i + 1, "fortran order: v[%d] = %g", i, v[i]);
    free(v);
    /* v2 and v3 headers, keys in another order, double quotes */
    double d3[3] = {7, 8, 9};
    write_npy_raw(tmp("v2.npy"), 2, "{'shape': (3,), 'fortran_order': False, 'descr': '<f8'}", d3,
                  sizeof d3);
    CHECK_OK(mlpf_read_array(tmp("v2.npy"), &v, got, &ndim, &err), &err);
    CHECK(ndim == 1 && got[0] == 3 && v && v[2] == 9, "v2 header");
    free(v);
    write_npy_raw(tmp("v3.npy"), 3, "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (3, 1)}",
                  d3, sizeof d3);
    CHECK_OK(mlpf_read_array(tmp("v3.npy"), &v, got, &ndim, &err), &err);
    CHECK(ndim == 2 && got[0] == 3 && got[1] == 1 && v && v[1] == 8, "v3 header");
    free(v);
}

/* each broken file must fail with a message naming the file and the problem */
static void expect_fail(const char *path, int status, const char *fragment) {
    mlpf_error err = {0};
    double *v = (double *)1;
    size_t got[2];
    int ndim;
    int st = mlpf_read_array(path, &v, got, &ndim, &err);
    CHECK(st == status, "%s: status %d, expected %d (%s)", path, st, status, err.msg);
    CHECK(strstr(err.msg, fragment) != NULL, "message \"%s\" lacks \"%s\"", err.msg, fragment);
    CHECK(strstr(err.msg, path) != NULL, "message \"%s\" does not name %s", err.msg, path);
    CHECK(v == NULL, "data not NULL on failure");
}

static void test_npy_broken(void) {
    double d[4] = {1, 2, 3, 4};
    write_npy_raw(tmp("trunc.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
                  d, sizeof d);
    expect_fail(tmp("trunc.npy"), MLPF_EFORMAT, "truncated");
    write_bytes(tmp("magic.npy"), "\x93NUMPZ\x01\x00\x10\x00{}              ", 26);
    expect_fail(tmp("magic.npy"), MLPF_EFORMAT, "magic");
    write_npy_raw(tmp("dict.npy"), 1, "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (4,), }",
                  d, sizeof d);
    expect_fail(tmp("dict.npy"), MLPF_EFORMAT, "fortran_order");
    write_npy_raw(tmp("noshape.npy"), 1, "{'descr': '<f8', 'fortran_order': False}", d, sizeof d);
    expect_fail(tmp("noshape.npy"), MLPF_EFORMAT, "shape");
    write_npy_raw(tmp("be.npy"), 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (4,), }", d,
                  sizeof d);
    expect_fail(tmp("be.npy"), MLPF_EFORMAT, "big-endian");
    write_npy_raw(tmp("i8.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", d,
                  sizeof d);
    expect_fail(tmp("i8.npy"), MLPF_EFORMAT, "'<i8'");
    write_npy_raw(tmp("3d.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 2), }",
                  d, sizeof d);
    expect_fail(tmp("3d.npy"), MLPF_EFORMAT, "3 dimensions");
    /* header length pointing past the end of the file */
    write_bytes(tmp("hlen.npy"), "\x93NUMPY\x01\x00\xff\x7f{'descr'", 18);
    expect_fail(tmp("hlen.npy"), MLPF_EFORMAT, "truncated");
    expect_fail(tmp("missing.npy"), MLPF_EIO, "cannot open");
}

static void test_csv(void) {
    mlpf_error err = {0};
    double *v;
    size_t got[2];
    int ndim;
    write_text(tmp("h.csv"), "x1,x2,y\n1,2,3\n\n4.5, -5e-1 ,6\n# comment\n7,8,9\n");
    CHECK_OK(mlpf_read_array(tmp("h.csv"), &v, got, &ndim, &err), &err);
    CHECK(ndim == 2 && got[0] == 3 && got[1] == 3, "csv shape (%zu, %zu)", got[0], got[1]);
    CHECK(v && v[3] == 4.5 && v[4] == -0.5 && v[8] == 9, "csv values");
    free(v);
    write_text(tmp("ws.txt"), "1 2\n3\t4\r\n  5   6  \n");
    CHECK_OK(mlpf_read_array(tmp("ws.txt"), &v, got, &ndim, &err), &err);
    CHECK(got[0] == 3 && got[1] == 2 && v && v[5] == 6, "whitespace separated");
    free(v);
    /* a byte order mark is not a header; a typo in the first row is not a header either */
    write_text(tmp("bom.csv"), "\xEF\xBB\xBF" "1,2\n3,4\n");
    CHECK_OK(mlpf_read_array(tmp("bom.csv"), &v, got, &ndim, &err), &err);
    CHECK(got[0] == 2 && v && v[0] == 1, "BOM: %zu rows", got[0]);
    free(v);
    /* a field of any length: 0.1 written with 80 digits is still 0.1, and a
       long header name is still a header */
    write_text(tmp("long.csv"), "a_column_name_far_longer_than_sixty_four_characters_for_the_header_"
               "line,b\n0.1000000000000000000000000000000000000000000000000000000000000000000"
               "000000000000,2\n");
    CHECK_OK(mlpf_read_array(tmp("long.csv"), &v, got, &ndim, &err), &err);
    CHECK(v && got[0] == 1 && got[1] == 2 && v[0] == 0.1 && v[1] == 2, "long csv fields");
    free(v);
    v = NULL;
    write_text(tmp("typo.csv"), "1,2o\n3,4\n");
    expect_fail(tmp("typo.csv"), MLPF_EFORMAT, "line 1, column 2");
    write_text(tmp("ragged.csv"), "a,b\n1,2\n3,4\n5\n");
    expect_fail(tmp("ragged.csv"), MLPF_EFORMAT, "line 4 has 1 columns");
    write_text(tmp("word.csv"), "1,2\n3,x\n");
    expect_fail(tmp("word.csv"), MLPF_EFORMAT, "line 2, column 2");
    write_text(tmp("empty.csv"), "a,b\n");
    expect_fail(tmp("empty.csv"), MLPF_EFORMAT, "no numeric rows");
    write_text(tmp("comma.csv"), "1,2,3\n4,,5\n");
    expect_fail(tmp("comma.csv"), MLPF_EFORMAT, "line 2, column 2");
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static unsigned rd16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

static void test_npz(void) {
    /* the CRC-32 check value of the standard ("123456789") */
    CHECK(mlpf_crc32(0, "123456789", 9) == 0xCBF43926u, "crc32 check value");
    CHECK(mlpf_crc32(mlpf_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u, "crc32 in pieces");
    mlpf_error err = {0};
    double a[3] = {1, 2, 3}, b[4] = {-1, -2, -3, -4};
    mlpf_npz_entry e[2] = {{"a", a, {3, 0}, 1}, {"bee", b, {2, 2}, 2}};
    CHECK_OK(mlpf_write_npz(tmp("r.npz"), e, 2, &err), &err);
    char *buf;
    size_t len;
    CHECK_OK(mlpf_read_file(tmp("r.npz"), &buf, &len, &err), &err);
    const unsigned char *u = (const unsigned char *)buf;
    /* walk the archive from its end-of-central-directory record */
    const unsigned char *eocd = u + len - 22;
    CHECK(rd32(eocd) == 0x06054b50u, "end of central directory signature");
    CHECK(rd16(eocd + 10) == 2, "2 entries");
    const unsigned char *cd = u + rd32(eocd + 16);
    const char *names[2] = {"a.npy", "bee.npy"};
    for (int k = 0; k < 2; k++) {
        CHECK(rd32(cd) == 0x02014b50u, "central header %d", k);
        unsigned nl = rd16(cd + 28);
        CHECK(nl == strlen(names[k]) && !memcmp(cd + 46, names[k], nl), "entry name %d", k);
        const unsigned char *lh = u + rd32(cd + 42);
        CHECK(rd32(lh) == 0x04034b50u && rd16(lh + 8) == 0, "local header %d, stored", k);
        uint32_t size = rd32(lh + 18);
        const unsigned char *data = lh + 30 + rd16(lh + 26);
        CHECK(mlpf_crc32(0, data, size) == rd32(cd + 16), "crc of entry %d", k);
        double *v;
        size_t got[2];
        int ndim;
        CHECK_OK(mlpf_npy_parse(names[k], data, size, &v, got, &ndim, &err), &err);
        CHECK(ndim == e[k].ndim && got[0] == e[k].shape[0], "entry %d shape", k);
        CHECK(v && v[2] == e[k].data[2], "entry %d values", k);
        free(v);
        cd += 46 + nl;
    }
    free(buf);
    /* found by fuzzing (fuzz_npz): a shape whose element count overflows wrapped
       to a small count; the writers then read that many values (past the
       caller's array when the count wrapped to 8) under a header promising
       2^61 x 8 values. Dimensions the reader refuses (>= 2^48) are refused too. */
    size_t huge[2] = {(size_t)1 << 62, 4}, wide[2] = {(size_t)1 << 48, 0};
    mlpf_npz_entry h[2] = {{"h", a, {huge[0], huge[1]}, 2}, {"w", a, {((size_t)1 << 61) + 1, 8}, 2}};
    CHECK(mlpf_write_npz(tmp("h.npz"), h, 1, &err) == MLPF_EINVAL, "npz: overflowing shape");
    CHECK(mlpf_write_npz(tmp("h.npz"), h + 1, 1, &err) == MLPF_EINVAL, "npz: count wraps to 8");
    CHECK(access(tmp("h.npz"), F_OK) != 0, "npz: refused write left a file");
    CHECK(mlpf_write_npy(tmp("h.npy"), a, huge, 2, &err) == MLPF_EINVAL, "npy: overflowing shape");
    CHECK(mlpf_write_npy(tmp("w.npy"), a, wide, 2, &err) == MLPF_EINVAL, "npy: 2^48 rows");
    CHECK(access(tmp("h.npy"), F_OK) != 0 && access(tmp("w.npy"), F_OK) != 0,
          "npy: refused write left a file");
}

static void test_train_options(void) {
    mlpf_error err = {0};
    mlpf_train_config c;
    mlpf_train_config_init(&c);
    CHECK_OK(mlpf_train_config_set_string(&c, "maxT", "inf", &err), &err);
    CHECK(isinf(c.opt.maxT), "maxT inf");
    CHECK_OK(mlpf_train_config_set_string(&c, "maxiterations_ode", "250", &err), &err);
    CHECK(c.opt.maxiterations_ode == 250, "long option");
    CHECK_OK(mlpf_train_config_set_string(&c, "alg", "bdf", &err), &err);
    CHECK(!strcmp(c.opt.alg, "bdf"), "string option");
    CHECK_OK(mlpf_train_config_set_string(&c, "tauinv", "[1, 0.5, 0]", &err), &err);
    CHECK(c.opt.ntauinv == 3 && c.opt.tauinv[1] == 0.5, "tauinv list");
    CHECK_OK(mlpf_train_config_set_string(&c, "seed", "18446744073709551615", &err), &err);
    CHECK(c.opt.seed == UINT64_MAX, "seed beyond 2^53 kept exactly");
    CHECK(mlpf_train_config_set_string(&c, "lr", "fast", &err) == MLPF_EINVAL, "lr not a number");
    CHECK(strstr(err.msg, "--lr") != NULL, "message names --lr: %s", err.msg);
    CHECK(mlpf_train_config_set_string(&c, "patience", "1.5", &err) == MLPF_EINVAL, "non-integer");
    cJSON *j = cJSON_CreateNumber(1);
    CHECK(mlpf_train_config_set(&c, "maxtme_ode", j, NULL, "S.json: train.maxtme_ode", &err) ==
              MLPF_EINVAL, "unknown option accepted");
    CHECK(strstr(err.msg, "maxtme_ode") != NULL, "message names the key: %s", err.msg);
    cJSON_Delete(j);
    cJSON *o = mlpf_train_options_json(&c.opt);
    CHECK(o && !strcmp(cJSON_GetObjectItem(o, "maxT")->valuestring, "inf"), "inf in JSON");
    CHECK(o && cJSON_GetArraySize(cJSON_GetObjectItem(o, "tauinv")) == 3, "tauinv in JSON");
    /* found by fuzzing (fuzz_options): RUN.json rounded seeds beyond 2^53 to a
       double, and 2^64 - 1 became 2^64, which no longer loaded back */
    mlpf_train_config back;
    mlpf_train_config_init(&back);
    const cJSON *js = cJSON_GetObjectItem(o, "seed");
    CHECK_OK(mlpf_train_config_set(&back, "seed", js, NULL, "RUN.json: seed", &err), &err);
    CHECK(back.opt.seed == UINT64_MAX, "seed 2^64 - 1 through the options JSON: %llu",
          (unsigned long long)back.opt.seed);
    CHECK_OK(mlpf_train_config_set_string(&c, "seed", "9007199254740993", &err), &err);
    cJSON_Delete(o);
    o = mlpf_train_options_json(&c.opt);
    CHECK_OK(mlpf_train_config_set(&back, "seed", cJSON_GetObjectItem(o, "seed"), NULL, "seed",
                                   &err), &err);
    CHECK(back.opt.seed == 9007199254740993ULL, "seed 2^53 + 1 through the options JSON");
    CHECK(mlpf_train_config_set_string(&back, "seed", "-1", &err) == MLPF_EINVAL, "seed -1");
    cJSON *bad = cJSON_CreateString("12x");
    CHECK(mlpf_train_config_set(&back, "seed", bad, NULL, "seed", &err) == MLPF_EINVAL,
          "seed \"12x\" accepted");
    cJSON_Delete(bad);
    /* found by fuzzing in CI (fuzz_options): the largest maxiterations_ode,
       LONG_MAX, was written as the double 2^63, which is out of range when read
       back; integer limits beyond 2^53 are now decimal strings like seeds */
    CHECK_OK(mlpf_train_config_set_string(&c, "maxiterations_ode", "9223372036854775807", &err),
             &err);
    cJSON_Delete(o);
    o = mlpf_train_options_json(&c.opt);
    CHECK_OK(mlpf_train_config_set(&back, "maxiterations_ode",
                                   cJSON_GetObjectItem(o, "maxiterations_ode"), NULL,
                                   "RUN.json: maxiterations_ode", &err), &err);
    CHECK(back.opt.maxiterations_ode == LONG_MAX, "LONG_MAX through the options JSON: %ld",
          back.opt.maxiterations_ode);
    bad = cJSON_CreateString("9223372036854775808");
    CHECK(mlpf_train_config_set(&back, "maxiterations_ode", bad, NULL, "m", &err) == MLPF_EINVAL,
          "2^63 as a string accepted");
    cJSON_Delete(bad);
    mlpf_train_config_free(&back);
    cJSON_Delete(o);
    mlpf_train_config_free(&c);
}

/* found by fuzzing (fuzz_result): cJSON prints 15 digits whenever they read
   back within a relative DBL_EPSILON, so RUN.json recorded some numbers one
   unit in the last place off; mlpf_write_json now writes them exactly. */
static void test_json_exact_numbers(void) {
    mlpf_error err = {0};
    const double v[4] = {0.029319129045484303, 7.7468171457786723e-304, -0.0, 1e-06};
    cJSON *o = cJSON_CreateDoubleArray(v, 4);
    CHECK_OK(mlpf_write_json(tmp("exact.json"), o, &err), &err);
    cJSON_Delete(o);
    char *text;
    size_t len;
    CHECK_OK(mlpf_read_file(tmp("exact.json"), &text, &len, &err), &err);
    cJSON *back = cJSON_Parse(text);
    CHECK(cJSON_GetArraySize(back) == 4, "4 numbers back: %s", text);
    for (int i = 0; i < 4 && cJSON_GetArraySize(back) == 4; i++) {
        double b = cJSON_GetArrayItem(back, i)->valuedouble;
        CHECK(memcmp(&b, &v[i], 8) == 0, "number %d: wrote %.17g, read %.17g", i, v[i], b);
    }
    CHECK(strstr(text, "1e-06") != NULL, "short numbers stay short: %s", text);
    cJSON_Delete(back);
    free(text);
}

/* Strings that are not UTF-8 (a Latin-1 file name, a cut multi-byte
   sequence, an overlong '/', a surrogate) are written as U+FFFD, so every JSON
   reader (Python's json among them) reads the file; valid UTF-8 is kept. */
static void test_json_utf8(void) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "spec", "caf\xe9.json");
    cJSON_AddStringToObject(o, "cut", "ab\xe2\x82");
    cJSON_AddStringToObject(o, "overlong", "\xc0\xaf");
    cJSON_AddStringToObject(o, "surrogate", "\xed\xa0\x80");
    cJSON_AddStringToObject(o, "ok", "\xce\xbb = 2 \xe2\x82\xac \xf0\x9f\x98\x80");
    cJSON_AddNumberToObject(o, "k\xff", 1);
    char *text = mlpf_json_print(o, 0);
    cJSON_Delete(o);
    CHECK(text && strcmp(text, "{\"spec\":\"caf\xef\xbf\xbd.json\",\"cut\":\"ab\xef\xbf\xbd"
                         "\xef\xbf\xbd\",\"overlong\":\"\xef\xbf\xbd\xef\xbf\xbd\",\"surrogate\":"
                         "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"ok\":\"\xce\xbb = 2 \xe2\x82"
                         "\xac \xf0\x9f\x98\x80\",\"k\xef\xbf\xbd\":1}") == 0, "%s", text);
    free(text);
}

/* A spec on files, then the same spec broken in one place at a time. */
static void test_spec(void) {
    mlpf_error err = {0};
    double X[12], Y[6];
    for (int i = 0; i < 6; i++) {
        X[2 * i] = 0.3 * i - 0.7;
        X[2 * i + 1] = 0.1 * i * i - 1;
        Y[i] = X[2 * i] * X[2 * i + 1];
    }
    size_t sx[2] = {6, 2}, sy[2] = {6, 1}, sw[1] = {5};
    CHECK_OK(mlpf_write_npy(tmp("X.npy"), X, sx, 2, &err), &err);
    CHECK_OK(mlpf_write_npy(tmp("Y.npy"), Y, sy, 2, &err), &err);
    CHECK_OK(mlpf_write_npy(tmp("W5.npy"), Y, sw, 1, &err), &err);
    write_text(tmp("S.json"),
               "{\"layers\": [[3, [\"tanh\", \"softplus\", {\"poly\": [0, 1, 0.5]}], true],"
               " [1, \"identity\", false]], \"input\": \"X.npy\", \"target\": \"Y.npy\","
               " \"maxnorm\": 2, \"train\": {\"maxtime_ode\": 3, \"tauinv\": 0.5}}");
    mlpf_problem *p = NULL;
    CHECK_OK(mlpf_problem_load(tmp("S.json"), 1, &p, &err), &err);
    if (p) {
        CHECK(p->n == 6 && mlpf_net_din(p->net) == 2 && mlpf_net_nparams(p->net) == 12,
              "n %zu din %d P %zu", p->n, mlpf_net_din(p->net), mlpf_net_nparams(p->net));
        CHECK(mlpf_net_activation(p->net, 0, 2)->kind == MLPF_ACT_POLY, "per-unit poly");
        CHECK(p->train.opt.maxtime_ode == 3 && p->train.opt.maxnorm == 2, "train options");
        CHECK(p->reg != p->obj, "maxnorm wraps the objective");
        /* all parameters zero: the output layer (no bias) outputs 0 */
        double x[12] = {0}, loss = -1, want = 0;
        for (int i = 0; i < 6; i++) want += Y[i] * Y[i] / 6;
        CHECK_OK(mlpf_objective_eval(p->obj, x, &loss, NULL, NULL, &err), &err);
        CHECK_CLOSE(loss, want, 1e-15, 1e-13, "loss at zero");
    }
    mlpf_problem_free(p);

    /* tauinv from a .npy next to the spec; targets from a teacher on the input file */
    double tau[3] = {1, 0.5, 0};
    size_t st3[1] = {3};
    CHECK_OK(mlpf_write_npy(tmp("tau.npy"), tau, st3, 1, &err), &err);
    write_text(tmp("T.json"),
               "{\"layers\": [[1, \"tanh\", true]], \"input\": \"X.npy\","
               " \"teacher\": {\"layers\": [[1, \"tanh\", true]], \"seed\": 5},"
               " \"train\": {\"tauinv\": \"tau.npy\"}}");
    p = NULL;
    CHECK_OK(mlpf_problem_load(tmp("T.json"), 1, &p, &err), &err);
    if (p) {
        CHECK(p->train.opt.ntauinv == 3 && p->train.opt.tauinv[1] == 0.5, "tauinv from .npy");
        double loss = -1;
        CHECK_OK(mlpf_objective_eval(p->obj, p->teacher_params, &loss, NULL, NULL, &err), &err);
        CHECK(loss < 1e-28, "the teacher's parameters fit its own targets: loss %g", loss);
        double x[3] = {0.1, 0.2, 0.3};
        CHECK_OK(mlpf_objective_eval(p->obj, x, &loss, NULL, NULL, &err), &err);
        CHECK(loss > 1e-3, "another point does not: loss %g", loss);
    }
    mlpf_problem_free(p);

    struct { const char *json, *fragment; } bad[] = {
        {"{\"layers\": [[3, \"sigmod\"], [1, \"identity\"]], \"input\": \"X.npy\", \"target\": \"Y.npy\"}",
         "layers[0][1]: unknown activation \"sigmod\""},
        {"{\"layers\": [[3, \"softmax\"], [1, \"identity\"]], \"input\": \"X.npy\", \"target\": \"Y.npy\"}",
         "softmax"},
        {"{\"layers\": [[3, \"tanh\"], [2, \"identity\"]], \"input\": \"X.npy\", \"target\": \"Y.npy\"}",
         "has 1 columns but the output layer"},
        {"{\"layers\": [[1, \"identity\"]], \"input\": \"X.npy\", \"target\": \"Y.npy\", \"weights\": \"W5.npy\"}",
         "W5.npy (shape (5,))"},
        {"{\"layers\": [[1, \"identity\"]], \"input\": \"X.npy\",\n \"target\": \"Y.npy\",, }",
         "malformed JSON at line 2"},
        {"{\"layers\": [[1, \"identity\"]], \"input\": \"X.npy\", \"target\": \"Y.npy\", \"train\": {\"lrr\": 1}}",
         "train.lrr"},
        {"{\"layers\": [[1, \"identity\"]], \"input\": \"nothere.npy\", \"target\": \"Y.npy\"}",
         "input: "},
        {"{\"layers\": [[1, \"identity\"]], \"input\": \"X.npy\", \"target\": \"Y.npy\", \"merge\": [[0, 0, 1, 1]]}",
         "merge[0]"},
        {"{\"layers\": [[1, \"poly\"]], \"input\": \"X.npy\", \"target\": \"Y.npy\"}", "coefficients"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_text(tmp("B.json"), bad[k].json);
        p = NULL;
        int st = mlpf_problem_load(tmp("B.json"), 1, &p, &err);
        CHECK(st != MLPF_OK && p == NULL, "bad spec %zu accepted", k);
        CHECK(strstr(err.msg, bad[k].fragment) != NULL, "spec %zu: \"%s\" lacks \"%s\"", k, err.msg,
              bad[k].fragment);
        CHECK(strstr(err.msg, tmp("B.json")) == err.msg, "spec %zu: message starts with the file: %s",
              k, err.msg);
        mlpf_problem_free(p);
    }
}

static void test_result_save(void) {
    mlpf_error err = {0};
    double x[2] = {1, 2}, x0[2] = {0, 0}, t[3] = {0, 1, 10}, tx[6] = {0, 0, .5, 1, 1, 2},
           lc[3] = {3, 1, 0.25};
    mlpf_result r;
    memset(&r, 0, sizeof r);
    r.nparams = 2;
    r.x = x;
    r.init = x0;
    r.ode_x = x;
    r.loss = 1e-31;
    r.gnorm = 2e-16;
    r.ode_time_run = INFINITY;
    r.ntrajectory = 3;
    r.trajectory_t = t;
    r.trajectory_x = tx;
    r.loss_curve = lc;
    r.converged = 1;
    strcpy(r.ode_stopped_by, "min_gnorm");
    strcpy(r.optim_stopped_by, "skipped");
    mlpf_train_config c;
    mlpf_train_config_init(&c);
    CHECK_OK(mlpf_result_save(tmp("RUN"), &r, &c.opt, NULL, &err), &err);
    char *text;
    size_t len;
    CHECK_OK(mlpf_read_file(tmp("RUN.json"), &text, &len, &err), &err);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECK(j != NULL, "RUN.json parses");
    if (j) {
        CHECK(cJSON_GetObjectItem(j, "loss")->valuedouble == 1e-31, "loss round trip");
        CHECK(!strcmp(cJSON_GetObjectItem(j, "ode_time_run")->valuestring, "inf"), "inf");
        CHECK(!strcmp(cJSON_GetObjectItem(j, "ode_stopped_by")->valuestring, "min_gnorm"), "reason");
        CHECK(cJSON_IsObject(cJSON_GetObjectItem(j, "options")), "options recorded");
        CHECK(!strcmp(cJSON_GetObjectItem(j, "version")->valuestring, MLPF_VERSION), "version");
    }
    cJSON_Delete(j);
    free(text);
    mlpf_train_config_free(&c);
    CHECK(access(tmp("RUN.npz"), F_OK) == 0, "RUN.npz written");
}


/* A small result whose x is {v, 2v}: runs saved from different v differ. */
static void save_run(const char *run, double v) {
    mlpf_error err = {0};
    double x[2] = {v, 2 * v};
    mlpf_result r;
    memset(&r, 0, sizeof r);
    r.nparams = 2;
    r.x = x;
    strcpy(r.ode_stopped_by, "maxT");
    strcpy(r.optim_stopped_by, "skipped");
    CHECK_OK(mlpf_result_save(run, &r, NULL, NULL, &err), &err);
}

/* files in dir whose name contains part */
static int count_files(const char *part) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, part)) n++;
    if (d) closedir(d);
    return n;
}

static void copy_file(const char *from, const char *to) {
    char *buf;
    size_t len;
    mlpf_error err = {0};
    CHECK_OK(mlpf_read_file(from, &buf, &len, &err), &err);
    if (buf) write_bytes(to, buf, len);
    free(buf);
}

/* RUN.json records RUN.npz's size and CRC-32; the reader checks the pair. */
static void test_result_pair(void) {
    mlpf_error err = {0};
    double *x = NULL;
    size_t shape[2];
    int ndim;
    save_run(tmp("PAIR"), 1.5);
    CHECK_OK(mlpf_result_read_array(tmp("PAIR.npz"), "x", &x, shape, &ndim, &err), &err);
    CHECK(x && ndim == 1 && shape[0] == 2 && x[0] == 1.5 && x[1] == 3.0, "x read back");
    free(x);
    /* the same through "RUN" and "RUN.json" */
    CHECK_OK(mlpf_result_read_array(tmp("PAIR"), "x", &x, shape, &ndim, &err), &err);
    free(x);
    CHECK(mlpf_result_read_array(tmp("PAIR.json"), "nothing", &x, shape, &ndim, &err) ==
              MLPF_EFORMAT && strstr(err.msg, "no array \"nothing\""), "missing entry: %s", err.msg);

    /* a kill between the two renames: the new .npz beside the old .json */
    copy_file(tmp("PAIR.json"), tmp("OLD.json"));
    save_run(tmp("PAIR"), 7.0);
    copy_file(tmp("OLD.json"), tmp("PAIR.json"));
    int st = mlpf_result_read_array(tmp("PAIR.npz"), "x", &x, shape, &ndim, &err);
    CHECK(st == MLPF_EFORMAT && x == NULL, "mismatched pair detected (status %d)", st);
    CHECK(strstr(err.msg, "PAIR.npz") && strstr(err.msg, "PAIR.json") &&
              strstr(err.msg, "different runs"), "message names both files: %s", err.msg);

    /* a partial pair: the .json missing, or the .npz cut short */
    save_run(tmp("PART"), 2.0);
    remove(tmp("PART.json"));
    CHECK(mlpf_result_read_array(tmp("PART.npz"), "x", &x, shape, &ndim, &err) == MLPF_EIO &&
              strstr(err.msg, "PART.json"), "missing json: %s", err.msg);
    save_run(tmp("CUT"), 2.0);
    char *buf;
    size_t len;
    CHECK_OK(mlpf_read_file(tmp("CUT.npz"), &buf, &len, &err), &err);
    if (buf) write_bytes(tmp("CUT.npz"), buf, len / 2);
    free(buf);
    CHECK(mlpf_result_read_array(tmp("CUT.npz"), "x", &x, shape, &ndim, &err) == MLPF_EFORMAT &&
              strstr(err.msg, "different runs"), "cut npz: %s", err.msg);

    /* a writer killed before its rename leaves "<file>.tmp.<pid>.<tid>"; the
       next write of the same file removes it (pid 0x7ffffffe: no such process) */
    write_text(tmp("PAIR.npz.tmp.2147483646.2147483646"), "half a file");
    save_run(tmp("PAIR"), 3.0);
    CHECK(count_files(".tmp.") == 0, "stale temp file removed");
}

/* Writes follow symlinks, go through devices, and report failures by path. */
static void test_write_targets(void) {
    mlpf_error err = {0};
    double v[3] = {1, 2, 3};
    size_t shape[1] = {3};
    CHECK_OK(mlpf_write_npy(tmp("target.npy"), v, shape, 1, &err), &err);
    CHECK(symlink("target.npy", tmp("link.npy")) == 0, "symlink made");
    v[0] = 42;
    CHECK_OK(mlpf_write_npy(tmp("link.npy"), v, shape, 1, &err), &err);
    struct stat sb;
    CHECK(lstat(tmp("link.npy"), &sb) == 0 && S_ISLNK(sb.st_mode), "the symlink is kept");
    double *back = NULL;
    size_t bs[2];
    int nd;
    CHECK_OK(mlpf_read_array(tmp("target.npy"), &back, bs, &nd, &err), &err);
    CHECK(back && back[0] == 42, "the target got the new data");
    free(back);
    /* a replaced file keeps its permissions */
    CHECK(chmod(tmp("target.npy"), 0640) == 0, "chmod");
    CHECK_OK(mlpf_write_npy(tmp("target.npy"), v, shape, 1, &err), &err);
    CHECK(stat(tmp("target.npy"), &sb) == 0 && (sb.st_mode & 0777) == 0640, "mode kept: %o",
          (unsigned)(sb.st_mode & 0777));

    CHECK_OK(mlpf_write_npy("/dev/null", v, shape, 1, &err), &err);
    CHECK(stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode), "/dev/null is still a device");
    if (access("/dev/full", W_OK) == 0) {
        int st = mlpf_write_npy("/dev/full", v, shape, 1, &err);
        CHECK(st == MLPF_EIO && strstr(err.msg, "/dev/full") && strstr(err.msg, "No space"),
              "/dev/full: %s", err.msg);
        CHECK(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode), "/dev/full is still a device");
    }
    CHECK(mlpf_write_npy(dir, v, shape, 1, &err) == MLPF_EIO && strstr(err.msg, dir),
          "a directory is refused: %s", err.msg);
    CHECK(mlpf_write_npy(tmp("no/such/dir/a.npy"), v, shape, 1, &err) == MLPF_EIO &&
              strstr(err.msg, "no/such/dir/a.npy"), "missing dir: %s", err.msg);
    CHECK(mlpf_check_output_dir(tmp("no/a.npy"), &err) != MLPF_OK && strstr(err.msg, "no/a.npy"),
          "output dir check: %s", err.msg);
    CHECK_OK(mlpf_check_output_dir(tmp("new.npy"), &err), &err);
    CHECK_OK(mlpf_check_output_dir("/dev/null", &err), &err);
}

/* Strict JSON: a repeated key is an error naming it and its place. */
static void test_json_strict(void) {
    mlpf_error err = {0};
    const char *dup = "{\"a\": 1, \"train\": {\"maxT\": 1, \"lr\": 2, \"maxT\": 3}}";
    cJSON *j = mlpf_json_parse(dup, strlen(dup), "D.json", &err);
    CHECK(j == NULL && strstr(err.msg, "D.json: duplicate key \"train.maxT\""), "%s", err.msg);
    const char *top = "[{\"x\": 1}, {\"y\": 1, \"y\": 1}]";
    j = mlpf_json_parse(top, strlen(top), "T.json", &err);
    CHECK(j == NULL && strstr(err.msg, "duplicate key \"[1].y\""), "%s", err.msg);
    const char *ok = "{\"a\": {\"b\": 1}, \"b\": {\"a\": 1}}";
    j = mlpf_json_parse(ok, strlen(ok), "O.json", &err);
    CHECK(j != NULL, "same key in different objects is fine");
    cJSON_Delete(j);
    const char *bad = "{\"a\": 1,\n \"b\": }";
    j = mlpf_json_parse(bad, strlen(bad), "B.json", &err);
    CHECK(j == NULL && strstr(err.msg, "line 2"), "syntax error position: %s", err.msg);
    /* the spec loader uses the same check */
    write_text(tmp("dup_spec.json"), "{\"layers\": [[2, \"tanh\"]], \"layers\": [[3, \"tanh\"]]}");
    mlpf_problem *p = NULL;
    CHECK(mlpf_problem_load(tmp("dup_spec.json"), 1, &p, &err) == MLPF_EFORMAT &&
              strstr(err.msg, "duplicate key \"layers\""), "spec: %s", err.msg);
    mlpf_problem_free(p);
}

/* Sizes from files and specs are checked against the memory budget first. */
static void test_budget(void) {
    mlpf_error err = {0};
    setenv("MLPF_MAX_BYTES", "1M", 1);
    char *buf = NULL;
    size_t len;
    int st = mlpf_read_file("/dev/zero", &buf, &len, &err);
    CHECK(st == MLPF_EFORMAT && buf == NULL && strstr(err.msg, "/dev/zero: this stream") &&
              strstr(err.msg, "binary data"), "a binary stream is refused at once: %s", err.msg);
    /* a regular file over the budget is refused before reading */
    char *big = calloc(1, (1 << 20) + 2);
    if (big) {
        memset(big, '1', (1 << 20) + 1);
        write_text(tmp("big.csv"), big);
    }
    free(big);
    st = mlpf_read_file(tmp("big.csv"), &buf, &len, &err);
    CHECK(st == MLPF_ENOMEM && buf == NULL && strstr(err.msg, "the file has 1048577 bytes, more "
              "than the memory budget of 1048576"), "%s", err.msg);
    /* a .npy whose header declares far more than the budget (and the file) */
    write_npy_raw(tmp("huge.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000,), }",
                  "", 0);
    double *d = NULL;
    size_t shape[2];
    int nd;
    st = mlpf_read_array(tmp("huge.npy"), &d, shape, &nd, &err);
    CHECK(st == MLPF_EFORMAT && strstr(err.msg, "shape needs 800000000 bytes"), "%s", err.msg);
    mlpf_net *net = mlpf_net_create(2, &err);
    st = mlpf_net_add_layer(net, 10000000, "tanh", 1, &err);
    CHECK(st == MLPF_ENOMEM && strstr(err.msg, "layer 1 (10000000 units) needs"), "%s", err.msg);
    mlpf_net_free(net);
    setenv("MLPF_MAX_BYTES", "lots", 1);
    CHECK(mlpf_read_file(tmp("huge.npy"), &buf, &len, &err) == MLPF_EINVAL &&
              strstr(err.msg, "MLPF_MAX_BYTES"), "a bad budget is named: %s", err.msg);
    unsetenv("MLPF_MAX_BYTES");
    double *in = NULL, *w = NULL;
    size_t n;
    st = mlpf_gauss_hermite_data(1, 100000, 0, &in, &w, &n, &err);
    CHECK(st == MLPF_EINVAL && strstr(err.msg, "1..5000"), "order bounded: %s", err.msg);
}

/* The budget follows a container's memory limit: fake cgroup trees (v1 with
   a parent limit lower than the group's own, v2 with "max" in the group and a
   limit above it, hybrid's "unified" mount, and none at all). */
static void write_at(const char *rel, const char *text) {
    char path[512], cmd[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    if (system(cmd) != 0) fprintf(stderr, "mkdir for %s failed\n", path);
    write_text(path, text);
}

static void test_cgroup_limit(void) {
    char root[300];
    write_at("v1/proc/self/cgroup", "5:devices:/\n4:cpu,memory:/jobs/42\n0::/\n");
    write_at("v1/sys/fs/cgroup/memory/jobs/42/memory.limit_in_bytes", "8000000000\n");
    write_at("v1/sys/fs/cgroup/memory/jobs/memory.limit_in_bytes", "3000000000\n");
    write_at("v1/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    snprintf(root, sizeof root, "%s/v1", dir);
    CHECK(mlpf_cgroup_memory_limit(root) == 3000000000u, "v1: %zu", mlpf_cgroup_memory_limit(root));
    write_at("v2/proc/self/cgroup", "0::/user.slice/job.scope\n");
    write_at("v2/sys/fs/cgroup/user.slice/job.scope/memory.max", "max\n");
    write_at("v2/sys/fs/cgroup/user.slice/memory.max", "2147483648\n");
    snprintf(root, sizeof root, "%s/v2", dir);
    CHECK(mlpf_cgroup_memory_limit(root) == 2147483648u, "v2: %zu", mlpf_cgroup_memory_limit(root));
    write_at("hy/proc/self/cgroup", "4:memory:/\n0::/a\n");
    write_at("hy/sys/fs/cgroup/unified/a/memory.max", "1073741824\n");
    snprintf(root, sizeof root, "%s/hy", dir);
    CHECK(mlpf_cgroup_memory_limit(root) == 1073741824u, "hybrid: %zu", mlpf_cgroup_memory_limit(root));
    write_at("none/proc/self/cgroup", "0::/\n");
    snprintf(root, sizeof root, "%s/none", dir);
    CHECK(mlpf_cgroup_memory_limit(root) == SIZE_MAX, "no limit");
    snprintf(root, sizeof root, "%s/missing", dir);
    CHECK(mlpf_cgroup_memory_limit(root) == SIZE_MAX, "no /proc");
    size_t budget = 0;
    mlpf_error err = {0};
    CHECK_OK(mlpf_memory_budget(&budget, &err), &err);
    CHECK(budget > 0 && budget <= mlpf_cgroup_memory_limit("") / 2 + 1, "budget %zu", budget);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/mlpf_test_io_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_npy_roundtrip();
    test_npy_variants();
    test_npy_broken();
    test_csv();
    test_npz();
    test_train_options();
    test_json_exact_numbers();
    test_json_utf8();
    test_spec();
    test_result_save();
    test_result_pair();
    test_write_targets();
    test_json_strict();
    test_budget();
    test_cgroup_limit();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report("test_io");
}

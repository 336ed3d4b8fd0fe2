/* fuzz_activation.c - the activation parser: mlpf_activation_parse on names
   and mlpf_activation_poly on coefficient lists. Input: byte 0 picks the mode;
   names are the rest of the input, a poly is its coefficients (8 bytes each)
   followed by evaluation points. Invariants beyond "no crash":
   - a parsed name prints (mlpf_activation_name) to a name that parses to the
     same kind; unknown names fail with a message quoting them;
   - at finite points in [-30, 30] f, f', f'' are not NaN and f' (f'') agree
     with central differences of f (f') away from kinks;
   - a poly evaluates to Horner's sums of its coefficients and their
     derivatives (checked where the sums are far from overflow). */
#include "fuzz.h"

#include <math.h>

/* u in [-30, 30] from 8 input bytes (0 when they run out) */
static double point(const uint8_t *p, size_t n) {
    uint64_t u = 0;
    memcpy(&u, p, n < 8 ? n : 8);
    return -30.0 + 60.0 * (double)(u >> 11) / 9007199254740992.0;
}

/* |a - b| small against the scale of the values involved */
static int close_to(double a, double b, double scale, double rtol) {
    return fabs(a - b) <= rtol * (1.0 + scale);
}

/* df against central differences of f, d2f against those of df (h = 1e-5),
   where [u - 2h, u + 2h] holds no kink (relu, selu at 0) */
static void check_derivatives(const mlpf_activation *a, double u) {
    double f, df, d2f;
    mlpf_activation_eval(a, u, &f, &df, &d2f);
    FUZZ_CHECK(!isnan(f) && !isnan(df) && !isnan(d2f), "%s at %.17g: f %g, f' %g, f'' %g",
               mlpf_activation_name(a->kind), u, f, df, d2f);
    const double h = 1e-5;
    if (fabs(u) < 4 * h || fabs(u) > 20) return;
    double fp, fm, dp, dm;
    mlpf_activation_eval(a, u + h, &fp, &dp, NULL);
    mlpf_activation_eval(a, u - h, &fm, &dm, NULL);
    double scale = fabs(f) + fabs(fp) + fabs(fm) + fabs(df);
    FUZZ_CHECK(close_to(df, (fp - fm) / (2 * h), scale, 1e-5), "%s at %.17g: f' %.17g, FD %.17g",
               mlpf_activation_name(a->kind), u, df, (fp - fm) / (2 * h));
    scale = fabs(df) + fabs(dp) + fabs(dm) + fabs(d2f);
    FUZZ_CHECK(close_to(d2f, (dp - dm) / (2 * h), scale, 1e-5), "%s at %.17g: f'' %.17g, FD %.17g",
               mlpf_activation_name(a->kind), u, d2f, (dp - dm) / (2 * h));
}

static void fuzz_name(const char *name) {
    mlpf_activation a;
    mlpf_error err = {0};
    int st = mlpf_activation_parse(name, &a, &err);
    if (st) {
        fuzz_check_failure(st, &err);
        char head[41];
        snprintf(head, sizeof head, "%s", name);
        FUZZ_CHECK(!strcmp(name, "poly") || strstr(err.msg, head), "message misses the name: %s",
                   err.msg);
        return;
    }
    FUZZ_CHECK(a.kind >= 0 && a.kind < MLPF_ACT_COUNT && a.kind != MLPF_ACT_POLY, "kind %d",
               (int)a.kind);
    mlpf_activation b;
    FUZZ_CHECK(mlpf_activation_parse(mlpf_activation_name(a.kind), &b, &err) == MLPF_OK &&
                   b.kind == a.kind, "name %s does not parse back", mlpf_activation_name(a.kind));
    if (a.kind == MLPF_ACT_SOFTMAX) return;   /* vector-valued: not for mlpf_activation_eval */
    for (int i = -3; i <= 3; i++) check_derivatives(&a, 0.37 * i * i * i);
}

/* Horner's sums of c and its first two derivatives at u, and the sums of
   |terms| (to judge rounding). */
static void poly_ref(const double *c, int n, double u, double v[3], double mag[3]) {
    for (int d = 0; d < 3; d++) v[d] = mag[d] = 0;
    for (int i = n - 1; i >= 0; i--) {
        v[2] = v[2] * u + 2 * v[1];
        v[1] = v[1] * u + v[0];
        v[0] = v[0] * u + c[i];
        mag[2] = mag[2] * fabs(u) + 2 * mag[1];
        mag[1] = mag[1] * fabs(u) + mag[0];
        mag[0] = mag[0] * fabs(u) + fabs(c[i]);
    }
}

static void fuzz_poly(const uint8_t *data, size_t size) {
    int n = size ? data[0] % 20 : 0;   /* up to 19: beyond MLPF_POLY_MAXCOEF must fail */
    data++;
    size = size ? size - 1 : 0;
    double c[20] = {0};
    for (int i = 0; i < n && size >= 8; i++, data += 8, size -= 8) memcpy(&c[i], data, 8);
    mlpf_activation a;
    mlpf_error err = {0};
    int st = mlpf_activation_poly(c, n, &a, &err);
    int finite = 1;
    for (int i = 0; i < n; i++) finite &= isfinite(c[i]);
    if (st) {
        fuzz_check_failure(st, &err);
        FUZZ_CHECK(n < 1 || n > MLPF_POLY_MAXCOEF || !finite, "refused %d finite coefficients: %s",
                   n, err.msg);
        return;
    }
    FUZZ_CHECK(n >= 1 && n <= MLPF_POLY_MAXCOEF && finite && a.kind == MLPF_ACT_POLY &&
                   a.ncoef == n, "accepted %d coefficients (finite %d)", n, finite);
    for (int k = 0; k < 4; k++) {
        double u = point(data, size);
        if (size >= 8) {
            data += 8;
            size -= 8;
        }
        double f[3], v[3], mag[3];
        mlpf_activation_eval(&a, u, &f[0], &f[1], &f[2]);
        poly_ref(c, n, u, v, mag);
        for (int d = 0; d < 3; d++)
            if (mag[d] < 1e300)
                FUZZ_CHECK(fabs(f[d] - v[d]) <= 1e-13 * mag[d],
                           "poly derivative %d at %.17g: %.17g, Horner %.17g", d, u, f[d], v[d]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if (data[0] & 1) {
        fuzz_poly(data + 1, size - 1);
    } else {
        char *name = fuzz_cstring(data + 1, size - 1);
        fuzz_name(name);
        free(name);
    }
    return 0;
}

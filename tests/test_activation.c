/* test_activation.c - the activation table: every activation has a complete row,
   and what a row claims (kinks, parity, homogeneity, closed forms) holds for the
   activation's f and f' numerically. An activation added without its row, or
   with a wrong claim, fails here. */
#include "check.h"
#include "internal.h"
#include "objective/gaussian.h"

#include <math.h>
#include <string.h>

/* Grid of test points: irregular steps, none at 0, both signs. */
#define NGRID 40
static double grid(int k) { return -4.1 + 0.2113 * k; }

static int near(double a, double b) { return fabs(a - b) <= 1e-13 * (1 + fabs(a) + fabs(b)); }

/* Every kind has a name, a parseable spelling (poly by coefficients) and, when
   scalar, a positive quadrature strip; the names are distinct. */
static void test_rows_complete(void) {
    for (int k = 0; k < MLPF_ACT_COUNT; k++) {
        mlpf_activation_info info;
        mlpf_error err;
        CHECK_OK(mlpf_activation_info_get((mlpf_act_kind)k, &info, &err), &err);
        CHECK(info.name && info.name[0], "kind %d has no name", k);
        if (!info.name) continue;
        CHECK(!strcmp(mlpf_activation_name((mlpf_act_kind)k), info.name), "kind %d: name", k);
        mlpf_activation a;
        if (k != MLPF_ACT_POLY)
            CHECK(mlpf_activation_parse(info.name, &a, NULL) == MLPF_OK && a.kind == (mlpf_act_kind)k,
                  "%s does not parse to itself", info.name);
        if (info.alias)
            CHECK(mlpf_activation_parse(info.alias, &a, NULL) == MLPF_OK && a.kind == (mlpf_act_kind)k,
                  "alias %s of %s", info.alias, info.name);
        if (info.scalar)
            CHECK(info.strip > 0, "%s: no quadrature strip (%g)", info.name, info.strip);
        else
            CHECK(k == MLPF_ACT_SOFTMAX, "%s claims to be vector-valued", info.name);
        CHECK(info.nkinks >= 0 && info.nkinks <= MLPF_ACT_MAXKINKS, "%s: %d kinks", info.name, info.nkinks);
        CHECK(info.homogeneous ? info.degree >= 1 : info.degree == 0, "%s: degree %d", info.name,
              info.degree);
        for (int j = 0; j < k; j++)
            CHECK(strcmp(info.name, mlpf_activation_name((mlpf_act_kind)j)), "%s named twice", info.name);
    }
    mlpf_activation_info info;
    mlpf_error err;
    CHECK(mlpf_activation_info_get(MLPF_ACT_COUNT, &info, &err) == MLPF_EINVAL &&
              strstr(err.msg, "unknown activation code"), "out-of-range kind: %s", err.msg);
}

/* An instance of kind for numerical checks (poly: a general cubic). */
static mlpf_activation instance(int k) {
    mlpf_activation a = {.kind = (mlpf_act_kind)k};
    if (k == MLPF_ACT_POLY) {
        double c[4] = {0.3, -1.2, 0.7, 0.25};
        mlpf_activation_poly(c, 4, &a, NULL);
    }
    return a;
}

/* Parity and homogeneity hold on the grid when claimed, and fail somewhere when
   not (a claim of "neither" is checked too). */
static void check_symmetries(const mlpf_activation *a, const mlpf_activation_info *info) {
    int odd = 1, even = 1, homog[4] = {1, 1, 1, 1};
    for (int i = 0; i < NGRID; i++) {
        double u = grid(i), fu, fm;
        mlpf_activation_eval(a, u, &fu, NULL, NULL);
        mlpf_activation_eval(a, -u, &fm, NULL, NULL);
        odd &= near(fm, -fu);
        even &= near(fm, fu);
        for (int d = 0; d < 4; d++)
            for (double c = 0.5; c < 4; c += 1.3) {
                double fc;
                mlpf_activation_eval(a, c * u, &fc, NULL, NULL);
                homog[d] &= near(fc, pow(c, d) * fu);
            }
    }
    CHECK(odd == (info->parity == MLPF_PARITY_ODD), "%s: odd on the grid %d, table says parity %d",
          info->name, odd, info->parity);
    CHECK(even == (info->parity == MLPF_PARITY_EVEN), "%s: even on the grid %d, table says parity %d",
          info->name, even, info->parity);
    for (int d = 0; d < 4; d++)
        CHECK(homog[d] == (info->homogeneous && info->degree == d),
              "%s: homogeneous of degree %d on the grid: %d; table: %d, degree %d", info->name, d,
              homog[d], info->homogeneous, info->degree);
}

/* f' jumps at each listed kink and nowhere else on the grid or at 0. The
   Gaussian quadrature puts a panel edge at u = 0 only: kinks must be there. */
static void check_kinks(const mlpf_activation *a, const mlpf_activation_info *info) {
    const double h = 1e-9;
    for (int j = 0; j < info->nkinks; j++) {
        double up, dn, k = info->kinks[j];
        mlpf_activation_eval(a, k + h, NULL, &up, NULL);
        mlpf_activation_eval(a, k - h, NULL, &dn, NULL);
        CHECK(fabs(up - dn) > 1e-3, "%s: no jump of f' at the kink %g", info->name, k);
        CHECK(k == 0, "%s: kink at %g, but gaussian_quad.c places kinks at 0", info->name, k);
    }
    for (int i = -1; i < NGRID; i++) {
        double u = i < 0 ? 0.0 : grid(i), up, dn;
        int listed = 0;
        for (int j = 0; j < info->nkinks; j++) listed |= fabs(u - info->kinks[j]) < 1e-3;
        if (listed) continue;
        mlpf_activation_eval(a, u + h, NULL, &up, NULL);
        mlpf_activation_eval(a, u - h, NULL, &dn, NULL);
        CHECK(fabs(up - dn) < 1e-6 * (1 + fabs(up)), "%s: f' jumps at %g (%g vs %g) but the table "
              "lists no kink there", info->name, u, dn, up);
    }
}

/* The closed-form flag names exactly the activations gaussian.c evaluates in
   closed form: the erf family (gaussian_closed.c) and relu (gaussian_relu.c). */
static void check_closed_form(const mlpf_activation *a, const mlpf_activation_info *info) {
    int have = mlpf_cf_single_supported(a) || a->kind == MLPF_ACT_RELU;
    CHECK(have == info->gaussian_closed_form, "%s: closed form %d, table says %d", info->name, have,
          info->gaussian_closed_form);
}

static void test_claims_hold(void) {
    for (int k = 0; k < MLPF_ACT_COUNT; k++) {
        mlpf_activation a = instance(k);
        mlpf_activation_info info;
        if (mlpf_activation_describe(&a, &info, NULL) || !info.scalar) continue;
        check_symmetries(&a, &info);
        check_kinks(&a, &info);
        check_closed_form(&a, &info);
    }
}

/* A poly's parity and degree come from its coefficients. */
static void test_poly_described(void) {
    struct { double c[4]; int n; mlpf_parity parity; int homogeneous, degree; } cases[] = {
        {{0, 2, 0, -1}, 4, MLPF_PARITY_ODD, 0, 0},
        {{1, 0, 3}, 3, MLPF_PARITY_EVEN, 0, 0},
        {{0, 0, 0, 5}, 4, MLPF_PARITY_ODD, 1, 3},
        {{0, 0, 2}, 3, MLPF_PARITY_EVEN, 1, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mlpf_activation a;
        mlpf_activation_info info;
        CHECK_OK(mlpf_activation_poly(cases[i].c, cases[i].n, &a, NULL), &(mlpf_error){0});
        CHECK_OK(mlpf_activation_describe(&a, &info, NULL), &(mlpf_error){0});
        CHECK(info.parity == cases[i].parity && info.homogeneous == cases[i].homogeneous &&
                  info.degree == cases[i].degree,
              "poly case %zu: parity %d homogeneous %d degree %d", i, info.parity, info.homogeneous,
              info.degree);
        check_symmetries(&a, &info);
    }
}

int main(void) {
    test_rows_complete();
    test_claims_hold();
    test_poly_described();
    return check_report("test_activation");
}

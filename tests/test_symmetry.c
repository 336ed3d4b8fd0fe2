/* test_symmetry.c - affine / tied subspace objectives, the Hungarian assignment,
   canonical forms and distances modulo the symmetries of hidden layers, teacher
   matching and expand-and-cluster. */
#include "check.h"
#include "internal.h"
#include "test_objectives.h"

#include <float.h>
#include <stdlib.h>

static void fill_normal(mlpf_rng *r, double *v, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) v[i] = scale * mlpf_rng_normal(r);
}

/* A finite-data objective of net with random data and a random target. */
static mlpf_objective *random_problem(const mlpf_net *net, size_t n, uint64_t seed) {
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, seed);
    int din = mlpf_net_din(net);
    double *in = malloc(n * (size_t)din * sizeof *in), *tg = malloc(n * sizeof *tg);
    fill_normal(&r, in, n * (size_t)din, 1.0);
    fill_normal(&r, tg, n, 1.0);
    mlpf_objective *obj = mlpf_objective_finite(net, n, in, tg, 1, NULL, NULL, &err);
    free(in);
    free(tg);
    return obj;
}

/* ---- Hungarian assignment against every permutation ---- */

static double best_by_enumeration(const double *c, int n, int *perm, int k, char *used) {
    if (k == n) return 0.0;
    double best = INFINITY;
    for (int j = 0; j < n; j++) {
        if (used[j]) continue;
        used[j] = 1;
        perm[k] = j;
        double v = c[k * n + j] + best_by_enumeration(c, n, perm, k + 1, used);
        used[j] = 0;
        if (v < best) best = v;
    }
    return best;
}

static void test_assignment(void) {
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, 5);
    enum { N = 6 };
    double c[N * N], total;
    int assign[N], perm[N];
    char used[N] = {0};
    int ok = 1, distinct = 1;
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < N * N; i++) c[i] = mlpf_rng_uniform(&r) * (trial % 3 ? 1.0 : 1e-3) + (trial % 5 == 0 ? (i % 2) : 0);
        CHECK_OK(mlpf_assignment(c, N, N, assign, &total, &err), &err);
        double brute = best_by_enumeration(c, N, perm, 0, used);
        ok &= fabs(total - brute) <= 1e-12 * (1 + brute);
        int seen[N] = {0};
        for (int i = 0; i < N; i++) seen[assign[i]]++;
        for (int i = 0; i < N; i++) distinct &= seen[i] == 1;
    }
    CHECK(ok, "Hungarian total equals the best of all 720 permutations (20 random 6x6 matrices)");
    CHECK(distinct, "Hungarian assigns distinct columns");

    /* Rectangular: 3 rows, 5 columns, the cheapest column of each row distinct. */
    double cr[15] = {5, 1, 9, 9, 9, 9, 9, 9, 9, 0.5, 2, 9, 0, 9, 9};
    int ar[5];
    CHECK_OK(mlpf_assignment(cr, 3, 5, ar, &total, &err), &err);
    CHECK(ar[0] == 1 && ar[1] == 4 && ar[2] == 2 && total == 1.5, "3x5: rows go to columns 1, 4, 2 (got %d %d %d)", ar[0], ar[1], ar[2]);
    /* Transposed: 5 rows, 3 columns; the two rows left over get -1. */
    double ct[15];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) ct[j * 3 + i] = cr[i * 5 + j];
    CHECK_OK(mlpf_assignment(ct, 5, 3, ar, &total, &err), &err);
    CHECK(ar[1] == 0 && ar[4] == 1 && ar[2] == 2 && ar[0] == -1 && ar[3] == -1 && total == 1.5,
          "5x3: columns take rows 1, 4, 2 and rows 0, 3 are unassigned");
    c[3] = NAN;
    CHECK(mlpf_assignment(c, N, N, assign, NULL, &err) == MLPF_ENONFINITE && strstr(err.msg, "cost[0, 3]"),
          "a NaN cost is rejected naming its position: %s", err.msg);
}

/* ---- affine and tied subspaces ---- */

static void test_affine(void) {
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, 7);
    mlpf_net *net = make_net(2, 3, "tanh", 1, 1);
    mlpf_objective *base = random_problem(net, 40, 3);
    size_t p = mlpf_net_nparams(net), d = 4;
    double *origin = malloc(p * sizeof *origin), *B = malloc(p * d * sizeof *B);
    double *x = malloc(p * sizeof *x), *g = malloc(p * sizeof *g), *H = malloc(p * p * sizeof *H);
    double z[4], zg[4], zh[16], l, lz;
    fill_normal(&r, origin, p, 0.5);
    fill_normal(&r, B, p * d, 0.5);
    fill_normal(&r, z, d, 1.0);
    mlpf_objective *sub = mlpf_objective_affine(base, origin, B, d, &err);
    CHECK(sub && mlpf_objective_nparams(sub) == d && mlpf_objective_net(sub) == NULL,
          "affine objective has d = 4 parameters and no network");
    CHECK_OK(mlpf_objective_eval(sub, z, &lz, zg, zh, &err), &err);
    CHECK_OK(mlpf_affine_point(sub, z, x, &err), &err);
    CHECK_OK(mlpf_objective_eval(base, x, &l, g, H, &err), &err);
    double eg = 0, eh = 0, hmax = 0;
    for (size_t a = 0; a < d; a++) {
        double ga = 0;
        for (size_t i = 0; i < p; i++) ga += B[i * d + a] * g[i];
        eg = fmax(eg, fabs(ga - zg[a]));
        for (size_t b = 0; b < d; b++) {
            double h = 0;
            for (size_t i = 0; i < p; i++)
                for (size_t j = 0; j < p; j++) h += B[i * d + a] * H[i * p + j] * B[j * d + b];
            eh = fmax(eh, fabs(h - zh[a * d + b]));
            hmax = fmax(hmax, fabs(h));
        }
    }
    CHECK(lz == l, "affine loss is the base loss at origin + B z");
    CHECK(eg <= 1e-14 && eh <= 1e-13 * hmax, "gradient B^T g and Hessian B^T H B (errors %.1e, %.1e)", eg, eh);
    double fg, fh, asym;
    CHECK_OK(fd_errors(sub, z, 1e-5, &fg, &fh, &asym), &err);
    CHECK(fg < 1e-8 && fh < 1e-7 && asym == 0.0, "affine derivatives match central differences (%.1e, %.1e), Hessian exactly symmetric", fg, fh);
    double zp[4];
    CHECK_OK(mlpf_affine_project(sub, x, zp, &err), &err);
    double ep = 0;
    for (size_t a = 0; a < d; a++) ep = fmax(ep, fabs(zp[a] - z[a]));
    CHECK(ep <= 1e-12, "projecting origin + B z gives back z (error %.1e)", ep);
    mlpf_objective_free(sub);

    /* Tied: hidden units 0 and 1 share their incoming and outgoing weights,
       output bias fixed at 0.25; 13 parameters -> 13 - 4 - 1 - 1 = 7 coordinates. */
    int group[13];
    double fixed[13] = {0};
    int id = 0;
    for (int i = 0; i < 3; i++) group[i] = id++;          /* unit 0 row */
    for (int i = 0; i < 3; i++) group[3 + i] = group[i];  /* unit 1 row = unit 0 row */
    for (int i = 0; i < 3; i++) group[6 + i] = id++;      /* unit 2 row */
    group[9] = id++;                                      /* a_0 */
    group[10] = group[9];                                 /* a_1 = a_0 */
    group[11] = id++;                                     /* a_2 */
    group[12] = -1;
    fixed[12] = 0.25;
    sub = mlpf_objective_tied(base, fixed, group, &err);
    CHECK(sub && mlpf_objective_nparams(sub) == 8, "tied objective: 8 coordinates (%zu)", sub ? mlpf_objective_nparams(sub) : 0);
    double zt[8] = {0.3, -0.2, 0.1, 0.5, 0.7, -0.4, 1.5, -0.8};
    CHECK_OK(mlpf_affine_point(sub, zt, x, &err), &err);
    CHECK(x[0] == x[3] && x[1] == x[4] && x[2] == x[5] && x[9] == x[10] && x[12] == 0.25 && x[9] == 1.5,
          "tied point: unit 1 equals unit 0, output bias fixed");
    CHECK_OK(fd_errors(sub, zt, 1e-5, &fg, &fh, &asym), &err);
    CHECK(fg < 1e-8 && fh < 1e-7, "tied derivatives match central differences (%.1e, %.1e)", fg, fh);
    /* the tied layout (groups kept, no basis formed) is the affine map with the
       0/1 basis: the same loss, gradient, Hessian, Hessian-vector product and
       projection, to rounding */
    {
        double Bt[13 * 8] = {0}, ot[13] = {0}, lt, la, gt[8], ga[8], ht[64], ha[64], vt[8], ht_v[8],
               ha_v[8], back[8];
        for (int i = 0; i < 13; i++) {
            if (group[i] >= 0) Bt[i * 8 + group[i]] = 1.0;
            else ot[i] = fixed[i];
        }
        mlpf_objective *dense = mlpf_objective_affine(base, ot, Bt, 8, &err);
        for (int a = 0; a < 8; a++) vt[a] = 0.1 * (a + 1) - 0.35;
        CHECK_OK(mlpf_objective_eval(sub, zt, &lt, gt, ht, &err), &err);
        CHECK_OK(mlpf_objective_eval(dense, zt, &la, ga, ha, &err), &err);
        CHECK_OK(mlpf_objective_hvp(sub, zt, vt, ht_v, &err), &err);
        CHECK_OK(mlpf_objective_hvp(dense, zt, vt, ha_v, &err), &err);
        CHECK_OK(mlpf_affine_project(sub, x, back, &err), &err);
        double e = fabs(lt - la), scale = 0;
        for (int a = 0; a < 8; a++) {
            e = fmax(e, fmax(fabs(gt[a] - ga[a]), fmax(fabs(ht_v[a] - ha_v[a]), fabs(back[a] - zt[a]))));
            for (int b = 0; b < 8; b++) {
                e = fmax(e, fabs(ht[a * 8 + b] - ha[a * 8 + b]));
                scale = fmax(scale, fabs(ha[a * 8 + b]));
            }
        }
        CHECK(dense && e <= 1e-14 * fmax(scale, 1.0), "tied = affine with its 0/1 basis (max difference %.1e)", e);
        mlpf_objective_free(dense);
    }
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    snprintf(o.alg, sizeof o.alg, "none");
    snprintf(o.optim_solver, sizeof o.optim_solver, "newtontr");
    mlpf_result *res = NULL;
    CHECK_OK(mlpf_train(sub, zt, &o, &res, &err), &err);
    CHECK(res && res->gnorm <= 1e-10, "training on the tied objective converges (gnorm %.1e)", res ? res->gnorm : NAN);
    mlpf_result_free(res);
    group[5] = 9;
    CHECK(!mlpf_objective_tied(base, fixed, group, &err) && strstr(err.msg, "id 8 is unused"),
          "gaps in the group ids are rejected: %s", err.msg);
    mlpf_objective_free(sub);
    mlpf_objective_free(base);
    mlpf_net_free(net);
    free(origin), free(B), free(x), free(g), free(H);
}

/* ---- canonical forms and distances ---- */

/* y = x with hidden units permuted by perm, odd units flipped where flip[i],
   homogeneous ones rescaled by scale[i]. One hidden layer. */
static void transform(const mlpf_net *net, const double *x, const int *perm, const int *flip,
                      const double *scale, double *y) {
    int k = mlpf_net_layer_units(net, 0), c = mlpf_net_layer_inputs(net, 0) + mlpf_net_layer_bias(net, 0);
    int stride = k + mlpf_net_layer_bias(net, 1), dout = mlpf_net_dout(net);
    size_t o1 = mlpf_net_layer_offset(net, 1);
    memcpy(y, x, mlpf_net_nparams(net) * sizeof *y);
    for (int i = 0; i < k; i++) {
        double s = flip && flip[i] ? -1.0 : 1.0, sc = scale ? scale[i] : 1.0;
        for (int j = 0; j < c; j++) y[perm[i] * c + j] = s * sc * x[i * c + j];
        for (int o = 0; o < dout; o++) y[o1 + (size_t)(o * stride + perm[i])] = s / sc * x[o1 + (size_t)(o * stride + i)];
    }
}

static void test_canonical_and_distance(const char *act, int odd, int homog) {
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, 21);
    mlpf_net *net = make_net(3, 5, act, 1, 1);
    size_t p = mlpf_net_nparams(net);
    double x[26], y[26], xc[26], yc[26], xa[26], ys[26], dist;
    int perm[5] = {3, 0, 4, 1, 2}, flip[5] = {1, 0, 1, 1, 0}, pc[5];
    double scale[5] = {2.0, 0.25, 3.0, 1.0, 0.5};
    fill_normal(&r, x, p, 1.0);
    transform(net, x, perm, odd ? flip : NULL, homog ? scale : NULL, y);
    CHECK_OK(mlpf_canonicalize(net, x, xc, NULL, &err), &err);
    CHECK_OK(mlpf_canonicalize(net, y, yc, pc, &err), &err);
    double e = 0;
    for (size_t i = 0; i < p; i++) e = fmax(e, fabs(xc[i] - yc[i]));
    CHECK(e <= 8 * DBL_EPSILON, "%s: a permuted%s%s copy has the same canonical form (max diff %.1e)", act,
          odd ? ", sign-flipped" : "", homog ? ", rescaled" : "", e);
    double in[6] = {0.3, -1.2, 0.5, 2.0, 0.1, -0.7}, f1[2], f2[2];
    mlpf_predict(net, x, in, 2, f1, &err);
    mlpf_predict(net, xc, in, 2, f2, &err);
    CHECK(fabs(f1[0] - f2[0]) <= 1e-14 && fabs(f1[1] - f2[1]) <= 1e-14, "%s: canonicalize keeps the network function", act);
    int sorted = 1;
    for (int i = 0; i + 1 < 5; i++) sorted &= xc[i * 4] <= xc[(i + 1) * 4];
    CHECK(sorted, "%s: canonical units are sorted by their first incoming weight", act);
    double pe = 0;   /* position k holds y's unit pc[k]: the same row up to sign and scale */
    for (int k = 0; k < 5; k++)
        pe = fmax(pe, fabs(fabs(mlpf_cosine_similarity(yc + k * 4, y + pc[k] * 4, 4)) - 1));
    CHECK(pe <= 1e-15, "%s: perm gives each canonical unit's original index (%.1e)", act, pe);

    CHECK_OK(mlpf_symmetry_distance(net, y, x, &dist, xa, ys, &err), &err);
    CHECK(dist <= 1e-14, "%s: symmetry_distance of a symmetric copy is 0 to rounding (%.1e)", act, dist);
    /* A small perturbation of y: the distance is the perturbation's size
       (scaled back for homogeneous units: compared at |w| = 1). */
    double dy[26], y2[26];
    fill_normal(&r, dy, p, 1e-6);
    for (size_t i = 0; i < p; i++) y2[i] = x[i] + dy[i];
    double plain = 0;
    for (size_t i = 0; i < p; i++) plain += dy[i] * dy[i];
    plain = sqrt(plain);
    double d2, d3;
    CHECK_OK(mlpf_symmetry_distance(net, x, y2, &d2, NULL, NULL, &err), &err);
    transform(net, y2, perm, odd ? flip : NULL, homog ? scale : NULL, y);
    CHECK_OK(mlpf_symmetry_distance(net, y, x, &d3, NULL, NULL, &err), &err);
    CHECK(d2 <= plain * (1 + 1e-6) && d2 > 0 && fabs(d3 - d2) <= 1e-12,
          "%s: distance to a perturbed copy (%.3e <= |perturbation| %.3e) is the same after a symmetry (%.3e)", act, d2, plain, d3);
    if (!homog) CHECK_CLOSE(d2, plain, 0, 1e-9, "%s: without rescaling the distance is the perturbation's norm", act);
    mlpf_net_free(net);
}

static void test_canonical_deep(void) {
    /* Two hidden tanh layers: permuting and flipping the units of both layers
       keeps the canonical form and the distance 0. */
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, 4);
    mlpf_net *net = mlpf_net_create(2, &err);
    mlpf_net_add_layer(net, 3, "tanh", 1, &err);
    mlpf_net_add_layer(net, 4, "tanh", 1, &err);
    mlpf_net_add_layer(net, 1, "identity", 1, &err);
    size_t p = mlpf_net_nparams(net);   /* 9 + 16 + 5 = 30 */
    double x[30], y[30], xc[30], yc[30], dist;
    fill_normal(&r, x, p, 1.0);
    memcpy(y, x, sizeof x);
    /* layer 1: swap units 0 and 2 (rows 0, 2 of W1; columns 0, 2 of W2) and flip unit 1 */
    for (int j = 0; j < 3; j++) { double t = y[j]; y[j] = y[6 + j]; y[6 + j] = t; y[3 + j] = -y[3 + j]; }
    for (int o = 0; o < 4; o++) {
        double *row = y + 9 + o * 4;
        double t = row[0]; row[0] = row[2]; row[2] = t; row[1] = -row[1];
    }
    /* layer 2: flip unit 3 (row 3 of W2, column 3 of W3) */
    for (int j = 0; j < 4; j++) y[9 + 12 + j] = -y[9 + 12 + j];
    y[25 + 3] = -y[25 + 3];
    CHECK_OK(mlpf_canonicalize(net, x, xc, NULL, &err), &err);
    CHECK_OK(mlpf_canonicalize(net, y, yc, NULL, &err), &err);
    double e = 0;
    for (size_t i = 0; i < p; i++) e = fmax(e, fabs(xc[i] - yc[i]));
    CHECK(e == 0.0, "two hidden layers: permuted and flipped copy has the same canonical form (%.1e)", e);
    CHECK_OK(mlpf_symmetry_distance(net, x, y, &dist, NULL, NULL, &err), &err);
    CHECK(dist <= 1e-15, "two hidden layers: symmetry distance 0 (%.1e)", dist);
    mlpf_net_free(net);
}

static void test_canonical_mixed_activations(void) {
    /* Per-unit activations tanh, relu, tanh, relu: units move only among their
       own activation's positions, so the function is kept. */
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, 8);
    mlpf_activation acts[4];
    mlpf_activation_parse("tanh", &acts[0], &err);
    mlpf_activation_parse("relu", &acts[1], &err);
    acts[2] = acts[0];
    acts[3] = acts[1];
    mlpf_net *net = mlpf_net_create(2, &err);
    mlpf_net_add_layer_acts(net, 4, acts, 4, 1, &err);
    mlpf_net_add_layer(net, 1, "identity", 0, &err);
    double x[16], y[16], xc[16], yc[16], in[4] = {0.3, -1.1, 1.7, 0.4}, f1[2], f2[2], dist;
    fill_normal(&r, x, 16, 1.0);
    /* y: the tanh units (0, 2) swapped and unit 2 flipped, the relu units (1, 3) swapped */
    memcpy(y, x, sizeof x);
    int perm[4] = {2, 3, 0, 1};
    for (int i = 0; i < 4; i++) {
        double s = i == 2 ? -1.0 : 1.0;
        for (int j = 0; j < 3; j++) y[perm[i] * 3 + j] = s * x[i * 3 + j];
        y[12 + perm[i]] = s * x[12 + i];
    }
    CHECK_OK(mlpf_canonicalize(net, x, xc, NULL, &err), &err);
    CHECK_OK(mlpf_canonicalize(net, y, yc, NULL, &err), &err);
    double e = 0;
    for (int i = 0; i < 16; i++) e = fmax(e, fabs(xc[i] - yc[i]));
    mlpf_predict(net, x, in, 2, f1, &err);
    mlpf_predict(net, xc, in, 2, f2, &err);
    CHECK(e <= 8 * DBL_EPSILON && fabs(f1[0] - f2[0]) <= 1e-14 && fabs(f1[1] - f2[1]) <= 1e-14,
          "per-unit activations: same canonical form (%.1e), function kept", e);
    CHECK_OK(mlpf_symmetry_distance(net, y, x, &dist, NULL, NULL, &err), &err);
    CHECK(dist <= 1e-14, "per-unit activations: symmetry distance 0 (%.1e)", dist);
    mlpf_net_free(net);
}

/* ---- teacher matching and expand-and-cluster ---- */

static void test_match_teacher(void) {
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, 9);
    mlpf_net *teacher = make_net(3, 4, "tanh", 0, 0);
    mlpf_net *student = make_net(3, 5, "tanh", 0, 0);
    double xt[16], xs[20];
    fill_normal(&r, xt, 16, 1.0);
    /* student unit perm[j] = teacher unit j, flipped where flip[j]; unit 2 extra */
    int perm[4] = {4, 0, 3, 1}, flip[4] = {1, 0, 0, 1};
    fill_normal(&r, xs, 20, 1.0);
    for (int j = 0; j < 4; j++) {
        double s = flip[j] ? -1 : 1;
        for (int i = 0; i < 3; i++) xs[perm[j] * 3 + i] = s * xt[j * 3 + i];
        xs[15 + perm[j]] = s * xt[12 + j];
    }
    int assign[5];
    double cosv[20], ein[5], eout[5];
    CHECK_OK(mlpf_match_teacher(student, xs, teacher, xt, assign, cosv, ein, eout, &err), &err);
    int ok = assign[2] == -1 && isnan(ein[2]);
    double emax = 0;
    for (int j = 0; j < 4; j++) {
        ok &= assign[perm[j]] == j;
        emax = fmax(emax, fmax(fabs(cosv[perm[j] * 4 + j] - 1), fmax(ein[perm[j]], eout[perm[j]])));
    }
    CHECK(ok, "teacher recovered modulo a permutation and sign flips; the extra unit is unmatched");
    CHECK(emax <= 1e-15, "matched cosines 1 and recovery errors 0 (%.1e)", emax);
    mlpf_net_free(teacher);
    mlpf_net_free(student);
}

static void test_expand_cluster(void) {
    mlpf_error err;
    mlpf_rng r;
    mlpf_rng_seed(&r, 13);
    mlpf_net *teacher = make_net(2, 2, "tanh", 1, 1);   /* p = 6 + 3 = 9 */
    mlpf_net *wide = make_net(2, 6, "tanh", 1, 1);      /* p = 18 + 7 = 25 */
    double xt[9] = {1.0, -0.5, 0.2, 0.3, 0.8, -0.1, 1.5, -0.7, 0.05};
    enum { S = 3 };
    double xs[S * 25];
    for (int t = 0; t < S; t++) {
        double *x = xs + t * 25;
        /* units: 0 = teacher 0 (flipped when t odd) split 0.3 / 0.7 with unit 3,
           1 = teacher 1, 2 and 4 = a cancelling pair, 5 = negligible */
        double s = t % 2 ? -1 : 1;
        for (int i = 0; i < 3; i++) {
            x[0 * 3 + i] = s * xt[i];
            x[3 * 3 + i] = xt[i];
            x[1 * 3 + i] = xt[3 + i];
            x[2 * 3 + i] = x[4 * 3 + i] = 0.3 * mlpf_rng_normal(&r);
            x[5 * 3 + i] = mlpf_rng_normal(&r);
        }
        x[18 + 0] = s * 0.3 * xt[6];
        x[18 + 3] = 0.7 * xt[6];
        x[18 + 1] = xt[7];
        x[18 + 2] = 5.0;
        x[18 + 4] = -5.0;
        x[18 + 5] = t == 2 ? 0.5 : 1e-6;
        if (t == 2) x[5 * 3] = x[5 * 3 + 1] = 0.0;   /* a constant unit: 0.5 tanh(b) */
        x[24] = xt[8];
    }
    int labels[S * 6], counts[S * 6];
    double rows[S * 6 * 3], cols[S * 6], offsets[S];
    size_t ncl;
    CHECK_OK(mlpf_expand_cluster(wide, xs, S, NULL, labels, rows, cols, counts, &ncl, offsets, &err), &err);
    CHECK(ncl == 2 && counts[0] == S && counts[1] == S, "two clusters, each in all %d students (got %zu)", S, ncl);
    double e = 0;
    for (int i = 0; i < 3; i++) e = fmax(e, fmax(fabs(rows[i] - xt[i]), fabs(rows[3 + i] - xt[3 + i])));
    e = fmax(e, fmax(fabs(cols[0] - xt[6]), fabs(cols[1] - xt[7])));
    CHECK(e <= 1e-15, "cluster means are the teacher units (split halves added, flips undone): %.1e", e);
    int dropped = 1;
    for (int t = 0; t < S; t++) dropped &= labels[t * 6 + 2] == -1 && labels[t * 6 + 4] == -1 && labels[t * 6 + 5] == -1 && labels[t * 6 + 3] == -1;
    CHECK(dropped, "the duplicate is merged, the cancelling pair and the negligible unit dropped");
    double b5 = xs[2 * 25 + 5 * 3 + 2];
    CHECK(offsets[0] == 0 && offsets[1] == 0 && fabs(offsets[2] - 0.5 * tanh(b5)) <= 1e-16,
          "a unit without input weights is the constant a tanh(b), moved into the offset (%g)", offsets[2]);
    mlpf_net_free(teacher);
    mlpf_net_free(wide);
}

int main(void) {
    test_assignment();
    test_affine();
    test_canonical_and_distance("tanh", 1, 0);
    test_canonical_and_distance("relu", 0, 1);
    test_canonical_and_distance("softplus", 0, 0);
    test_canonical_deep();
    test_canonical_mixed_activations();
    test_match_teacher();
    test_expand_cluster();
    return check_report("test_symmetry");
}

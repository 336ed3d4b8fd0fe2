/* test_landscape.c - trajectory distances, cosine similarity, the subspace
   objective and its minimal loss, and network surgery (split / grow / shrink). */
#include "check.h"
#include "internal.h"

#include <float.h>
#include <stdlib.h>

static void fill_normal(mlpf_rng *r, double *v, size_t n, double scale, double shift) {
    for (size_t i = 0; i < n; i++) v[i] = shift + scale * mlpf_rng_normal(r);
}

static double inf_norm(const double *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

/* ---- trajectory distance ---- */

static void brute_force(const double *t, size_t n, const double *r, size_t m, size_t p,
                        double *d, size_t *mt) {
    for (size_t k = 0; k < n; k++) {
        double best = INFINITY;
        for (size_t j = 0; j < m; j++) {
            double s = 0;
            for (size_t i = 0; i < p; i++) s += (t[k * p + i] - r[j * p + i]) * (t[k * p + i] - r[j * p + i]);
            if (s < best) { best = s; mt[k] = j; }
        }
        d[k] = sqrt(best);
    }
}

static void test_trajectory_distance(void) {
    mlpf_error err;
    mlpf_rng rng;
    mlpf_rng_seed(&rng, 11);
    enum { N = 157, M = 41, P = 13 };
    double *t = malloc(N * P * sizeof *t), *r = malloc(M * P * sizeof *r);
    double d[N], db[N];
    size_t mt[N], mb[N];
    fill_normal(&rng, t, N * P, 1.0, 0.0);
    fill_normal(&rng, r, M * P, 1.0, 0.0);

    CHECK_OK(mlpf_trajectory_distance(t, N, t, N, P, d, mt, &err), &err);
    int self_ok = 1;
    for (size_t k = 0; k < N; k++) self_ok &= d[k] == 0.0 && mt[k] == k;
    CHECK(self_ok, "a trajectory's distance to itself is exactly 0, matched to itself");

    CHECK_OK(mlpf_trajectory_distance(t, N, r, M, P, d, mt, &err), &err);
    brute_force(t, N, r, M, P, db, mb);
    int ok = 1;
    for (size_t k = 0; k < N; k++) ok &= fabs(d[k] - db[k]) <= 1e-14 * db[k] && mt[k] == mb[k];
    CHECK(ok, "random data: distances and matches equal the brute-force loop");

    /* Points far from the origin and close together: |t|^2 + |r|^2 - 2 t.r alone
       would lose every digit; the result must still match the direct loop. */
    fill_normal(&rng, t, N * P, 1e-7, 1e3);
    fill_normal(&rng, r, M * P, 1e-7, 1e3);
    for (size_t i = 0; i < P; i++) r[5 * P + i] = t[17 * P + i];   /* one exact hit */
    CHECK_OK(mlpf_trajectory_distance(t, N, r, M, P, d, NULL, &err), &err);
    brute_force(t, N, r, M, P, db, mb);
    ok = 1;
    for (size_t k = 0; k < N; k++) ok &= fabs(d[k] - db[k]) <= 1e-8 * db[k] + 1e-300;
    CHECK(ok, "clustered points far from 0 match brute force (no cancellation)");
    CHECK(d[17] == 0.0, "an identical point has distance exactly 0, got %g", d[17]);

    /* Two far clusters (mean near 0, so centring cannot help) and a trajectory
       inside one: the Gram distances are pure rounding noise there, and only the
       direct re-measurement finds the right neighbour. */
    for (size_t j = 0; j < M; j++)
        for (size_t i = 0; i < P; i++) r[j * P + i] = (j % 2 ? 1e3 : -1e3) + 1e-7 * mlpf_rng_normal(&rng);
    fill_normal(&rng, t, N * P, 1e-7, 1e3);
    CHECK_OK(mlpf_trajectory_distance(t, N, r, M, P, d, mt, &err), &err);
    brute_force(t, N, r, M, P, db, mb);
    ok = 1;
    for (size_t k = 0; k < N; k++) ok &= fabs(d[k] - db[k]) <= 1e-8 * db[k] && mt[k] == mb[k];
    CHECK(ok, "two far clusters: matches equal brute force");

    CHECK(mlpf_trajectory_distance(t, N, r, 0, P, d, mt, &err) == MLPF_EINVAL &&
              strstr(err.msg, "m = 0"), "empty ref is EINVAL: %s", err.msg);
    t[3] = NAN;
    CHECK(mlpf_trajectory_distance(t, N, r, M, P, d, mt, &err) == MLPF_ENONFINITE &&
              strstr(err.msg, "traj[0, 3]"), "NaN in traj is named: %s", err.msg);
    free(t);
    free(r);
}

static void test_cosine(void) {
    double a[3] = {1, 2, 3}, b[3] = {2, 4, 6}, c[3] = {3, 0, -1}, z[3] = {0, 0, 0};
    double big[2] = {1e200, 1e200}, big2[2] = {3e200, 3e200};
    CHECK_CLOSE(mlpf_cosine_similarity(a, b, 3), 1.0, 1e-15, 0, "parallel vectors");
    CHECK_CLOSE(mlpf_cosine_similarity(a, c, 3), 0.0, 1e-15, 0, "orthogonal vectors");
    CHECK_CLOSE(mlpf_cosine_similarity(a, c, 1), 1.0, 1e-15, 0, "first component only");
    CHECK(mlpf_cosine_similarity(a, z, 3) == 0.0, "zero vector gives 0");
    CHECK_CLOSE(mlpf_cosine_similarity(big, big2, 2), 1.0, 1e-15, 0, "no overflow at 1e200");
    double tiny[2] = {1e-200, 2e-200}, tiny2[2] = {3e-200, 6e-200};
    CHECK_CLOSE(mlpf_cosine_similarity(tiny, tiny2, 2), 1.0, 1e-15, 0, "no underflow at 1e-200");
    double na[3] = {-1, -2, -3};
    CHECK_CLOSE(mlpf_cosine_similarity(a, na, 3), -1.0, 1e-15, 0, "antiparallel");
}

/* ---- a small regression problem ---- */

typedef struct {
    mlpf_net *net;
    mlpf_objective *obj;
    double *in, *tg;
    size_t n;
} problem;

static mlpf_net *one_hidden(int din, int k, const char *act, int bias, int dout, mlpf_error *err) {
    mlpf_net *net = mlpf_net_create(din, err);
    if (!net) return NULL;
    if (mlpf_net_add_layer(net, k, act, bias, err) || mlpf_net_add_layer(net, dout, "identity", bias, err)) {
        mlpf_net_free(net);
        return NULL;
    }
    return net;
}

/* Student of width k on data from a tanh teacher of width kt. */
static int make_problem(problem *pb, int k, int kt, size_t n, uint64_t seed, mlpf_error *err) {
    memset(pb, 0, sizeof *pb);
    mlpf_rng rng;
    mlpf_rng_seed(&rng, seed);
    mlpf_net *teacher = one_hidden(2, kt, "tanh", 1, 1, err);
    pb->net = one_hidden(2, k, "tanh", 1, 1, err);
    if (!teacher || !pb->net) return MLPF_ENOMEM;
    double *xt = malloc(mlpf_net_nparams(teacher) * sizeof *xt);
    pb->n = n;
    pb->in = malloc(n * 2 * sizeof *pb->in);
    pb->tg = malloc(n * sizeof *pb->tg);
    fill_normal(&rng, xt, mlpf_net_nparams(teacher), 1.0, 0.0);
    fill_normal(&rng, pb->in, 2 * n, 1.0, 0.0);
    int st = mlpf_predict(teacher, xt, pb->in, n, pb->tg, err);
    if (!st) {
        pb->obj = mlpf_objective_finite(pb->net, n, pb->in, pb->tg, 1, NULL, NULL, err);
        if (!pb->obj) st = err->status;
    }
    free(xt);
    mlpf_net_free(teacher);
    return st;
}

static void free_problem(problem *pb) {
    mlpf_objective_free(pb->obj);
    mlpf_net_free(pb->net);
    free(pb->in);
    free(pb->tg);
}

/* ---- subspace objective ---- */

static void test_subspace_derivatives(void) {
    mlpf_error err;
    problem pb;
    CHECK_OK(make_problem(&pb, 3, 3, 30, 5, &err), &err);
    if (!pb.obj) return;
    size_t p = mlpf_objective_nparams(pb.obj);
    mlpf_rng rng;
    mlpf_rng_seed(&rng, 21);
    double *ref = malloc(p * sizeof *ref), *v1 = malloc(p * sizeof *v1), *v2 = malloc(p * sizeof *v2);
    fill_normal(&rng, ref, p, 0.7, 0.0);
    fill_normal(&rng, v1, p, 1.0, 0.0);
    fill_normal(&rng, v2, p, 2.0, 0.0);
    mlpf_objective *sub = mlpf_objective_subspace(pb.obj, ref, v1, v2, 0.3, -0.7, &err);
    CHECK(sub != NULL, "subspace objective: %s", err.msg);
    if (!sub) { free_problem(&pb); return; }
    size_t q = mlpf_objective_nparams(sub);
    CHECK(q == p - 2, "two independent directions leave p - 2 = %zu parameters, got %zu", p - 2, q);

    double *z = malloc(q * sizeof *z), *g = malloc(q * sizeof *g), *h = malloc(q * q * sizeof *h);
    double *x = malloc(p * sizeof *x), *x0 = malloc(p * sizeof *x0), *qm = malloc(p * q * sizeof *qm);
    double *hf = malloc(p * p * sizeof *hf), *zp = malloc(q * sizeof *zp), *gp = malloc(q * sizeof *gp),
           *gm = malloc(q * sizeof *gm);
    fill_normal(&rng, z, q, 0.3, 0.0);
    double l;
    CHECK_OK(mlpf_objective_eval(sub, z, &l, g, h, &err), &err);

    /* The loss is the base loss at x(z). */
    CHECK_OK(mlpf_subspace_point(sub, z, x, &err), &err);
    double lb;
    CHECK_OK(mlpf_objective_eval(pb.obj, x, &lb, NULL, hf, &err), &err);
    CHECK(l == lb, "subspace loss %.17g equals base loss at x(z) %.17g", l, lb);

    /* Columns of Q: x(e_i) - x(0). Orthonormal, orthogonal to v1 and v2. */
    memset(zp, 0, q * sizeof *zp);
    CHECK_OK(mlpf_subspace_point(sub, zp, x0, &err), &err);
    double c0[2] = {0, 0};
    for (size_t i = 0; i < p; i++) {
        double e = ref[i] + 0.3 * v1[i] - 0.7 * v2[i];
        c0[0] = fmax(c0[0], fabs(x0[i] - e));
    }
    for (size_t a = 0; a < q; a++) {
        zp[a] = 1;
        CHECK_OK(mlpf_subspace_point(sub, zp, x, &err), &err);
        zp[a] = 0;
        for (size_t i = 0; i < p; i++) qm[i * q + a] = x[i] - x0[i];
    }
    double orth = 0, perp = 0;
    for (size_t a = 0; a < q; a++) {
        for (size_t b = 0; b < q; b++) {
            double s = 0;
            for (size_t i = 0; i < p; i++) s += qm[i * q + a] * qm[i * q + b];
            orth = fmax(orth, fabs(s - (a == b)));
        }
        double s1 = 0, s2 = 0;
        for (size_t i = 0; i < p; i++) { s1 += qm[i * q + a] * v1[i]; s2 += qm[i * q + a] * v2[i]; }
        perp = fmax(perp, fmax(fabs(s1), fabs(s2)));
    }
    CHECK(c0[0] <= 1e-14, "x(0) is the plane point ref + a1 v1 + a2 v2 (error %g)", c0[0]);
    CHECK(orth <= 1e-14, "Q^T Q = I to rounding (error %g)", orth);
    CHECK(perp <= 1e-13, "Q is orthogonal to v1 and v2 (error %g)", perp);

    /* Hessian equals Q^T H Q with the explicit Q (H at x(z) from the base). */
    double herr = 0, hs = 0, sym = 0;
    for (size_t a = 0; a < q; a++)
        for (size_t b = 0; b < q; b++) {
            double s = 0;
            for (size_t i = 0; i < p; i++)
                for (size_t j = 0; j < p; j++) s += qm[i * q + a] * hf[i * p + j] * qm[j * q + b];
            herr = fmax(herr, fabs(s - h[a * q + b]));
            hs = fmax(hs, fabs(s));
            sym = fmax(sym, fabs(h[a * q + b] - h[b * q + a]));
        }
    CHECK(herr <= 1e-12 * hs, "Hessian = Q^T H Q (error %g of %g)", herr, hs);
    CHECK(sym == 0.0, "Hessian exactly symmetric (%g)", sym);

    /* Finite differences: gradient from the loss, Hessian from the gradient. */
    const double eps = 1e-5;
    double gerr = 0, gs = inf_norm(g, q), fderr = 0;
    for (size_t a = 0; a < q; a++) {
        double lp, lm;
        memcpy(zp, z, q * sizeof *zp);
        zp[a] = z[a] + eps;
        mlpf_objective_eval(sub, zp, &lp, gp, NULL, &err);
        zp[a] = z[a] - eps;
        mlpf_objective_eval(sub, zp, &lm, gm, NULL, &err);
        gerr = fmax(gerr, fabs((lp - lm) / (2 * eps) - g[a]));
        for (size_t b = 0; b < q; b++) fderr = fmax(fderr, fabs((gp[b] - gm[b]) / (2 * eps) - h[b * q + a]));
    }
    CHECK(gerr <= 1e-7 * fmax(gs, 1), "gradient vs finite differences (error %g, |g| %g)", gerr, gs);
    CHECK(fderr <= 1e-6 * fmax(hs, 1), "Hessian vs finite differences (error %g, |H| %g)", fderr, hs);
    mlpf_objective_free(sub);

    /* v2 parallel to v1 is a line: rank 1; v2 NULL too. */
    for (size_t i = 0; i < p; i++) v2[i] = -2.5 * v1[i];
    sub = mlpf_objective_subspace(pb.obj, ref, v1, v2, 0.1, 0.2, &err);
    CHECK(sub && mlpf_objective_nparams(sub) == p - 1, "parallel v2: rank 1, p - 1 parameters");
    if (sub) {
        double *z1 = calloc(p, sizeof *z1); /* p - 1 parameters now */
        CHECK_OK(mlpf_subspace_point(sub, z1, x, &err), &err);
        free(z1);
        double e = 0;
        for (size_t i = 0; i < p; i++) e = fmax(e, fabs(x[i] - (ref[i] + 0.1 * v1[i] + 0.2 * v2[i])));
        CHECK(e <= 1e-14, "rank 1 still offsets by a2 v2 (error %g)", e);
    }
    mlpf_objective_free(sub);
    sub = mlpf_objective_subspace(pb.obj, ref, v1, NULL, 0.1, 0.0, &err);
    CHECK(sub && mlpf_objective_nparams(sub) == p - 1, "v2 NULL: p - 1 parameters");
    mlpf_objective_free(sub);

    /* Bad arguments. */
    memset(v2, 0, p * sizeof *v2);
    sub = mlpf_objective_subspace(pb.obj, ref, v2, v1, 0, 0, &err);
    CHECK(!sub && err.status == MLPF_EINVAL && strstr(err.msg, "v1"), "zero v1 is EINVAL: %s", err.msg);
    CHECK(mlpf_subspace_point(pb.obj, z, x, &err) == MLPF_EINVAL && strstr(err.msg, "mlpf_objective_subspace"),
          "subspace_point on another objective: %s", err.msg);
    v1[2] = NAN;
    sub = mlpf_objective_subspace(pb.obj, ref, v1, NULL, 0, 0, &err);
    CHECK(!sub && err.status == MLPF_ENONFINITE && strstr(err.msg, "v1[2]"), "NaN in v1 named: %s", err.msg);

    free(ref); free(v1); free(v2); free(z); free(g); free(h); free(x); free(x0); free(qm);
    free(hf); free(zp); free(gp); free(gm);
    free_problem(&pb);
}

/* Train a width-2 student on a width-3 teacher to a critical point. */
static int train_critical(problem *pb, double *xmin, double *lmin, double *gnorm, mlpf_error *err) {
    size_t p = mlpf_objective_nparams(pb->obj);
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    snprintf(o.alg, sizeof o.alg, "none");
    snprintf(o.optim_solver, sizeof o.optim_solver, "newtontr");
    o.min_gnorm = 1e-14;
    o.maxtime_optim = 10;
    double *x0 = malloc(p * sizeof *x0);
    int st = MLPF_ENUMERIC;
    *gnorm = INFINITY;
    for (uint64_t seed = 1; seed <= 8 && *gnorm > 1e-13; seed++) {
        mlpf_random_params(pb->net, seed, x0, err);
        mlpf_result *res = NULL;
        st = mlpf_train(pb->obj, x0, &o, &res, err);
        if (st == MLPF_OK && res->gnorm < *gnorm) {
            *gnorm = res->gnorm;
            *lmin = res->loss;
            memcpy(xmin, res->x, p * sizeof *xmin);
        }
        mlpf_result_free(res);
    }
    free(x0);
    return st;
}

static void test_subspace_minloss(problem *pb, const double *xmin, double lmin) {
    mlpf_error err;
    size_t p = mlpf_objective_nparams(pb->obj);
    mlpf_rng rng;
    mlpf_rng_seed(&rng, 31);
    double *v1 = malloc(p * sizeof *v1), *v2 = malloc(p * sizeof *v2), *x = malloc(p * sizeof *x);
    fill_normal(&rng, v1, p, 1.0, 0.0);
    fill_normal(&rng, v2, p, 1.0, 0.0);
    double l;
    CHECK_OK(mlpf_subspace_minloss(pb->obj, xmin, v1, v2, 0, 0, NULL, 0, 7, NULL, &l, x, &err), &err);
    CHECK_CLOSE(l, lmin, 1e-14, 1e-9, "minloss at the minimum's own plane point is its loss");
    double dx = 0;
    for (size_t i = 0; i < p; i++) dx = fmax(dx, fabs(x[i] - xmin[i]));
    CHECK(dx <= 1e-6, "and its point is the minimum (|dx| %g)", dx);
    CHECK_OK(mlpf_subspace_minloss(pb->obj, xmin, v1, v2, 0, 0, xmin, 3, 7, NULL, &l, NULL, &err), &err);
    CHECK(l <= lmin * (1 + 1e-9) + 1e-14, "restarts never do worse (%g vs %g)", l, lmin);
    /* The same line with v1 = v2 (rank 1). */
    CHECK_OK(mlpf_subspace_minloss(pb->obj, xmin, v1, v1, 0, 0, NULL, 0, 7, NULL, &l, NULL, &err), &err);
    CHECK_CLOSE(l, lmin, 1e-14, 1e-9, "v1 = v2: minloss at the minimum is its loss");

    /* Away from 0 the plane coordinate is held: the minimiser differs from xmin
       by a1 v1 along v1. */
    CHECK_OK(mlpf_subspace_minloss(pb->obj, xmin, v1, NULL, 0.05, 0, NULL, 0, 7, NULL, &l, x, &err), &err);
    double v1v1 = 0, dv = 0;
    for (size_t i = 0; i < p; i++) { v1v1 += v1[i] * v1[i]; dv += (x[i] - xmin[i]) * v1[i]; }
    CHECK_CLOSE(dv / v1v1, 0.05, 1e-13, 0, "the minimiser keeps its v1 coordinate");
    CHECK(l >= 0 && isfinite(l), "finite loss away from the minimum");
    double lgrid[6], a1s[3] = {-0.05, 0, 0.05}, a2s[2] = {0, 0.02};
    CHECK_OK(mlpf_subspace_minloss_grid(pb->obj, xmin, v1, v2, a1s, 3, a2s, 2, 0, 3, NULL, lgrid, &err), &err);
    int fin = 1;
    for (int i = 0; i < 6; i++) fin &= isfinite(lgrid[i]) && lgrid[i] >= 0;
    CHECK(fin, "grid losses finite");
    CHECK_CLOSE(lgrid[2], lmin, 1e-14, 1e-9, "grid value at (0, 0) is the minimum's loss");
    double lline[3];
    CHECK_OK(mlpf_subspace_minloss_grid(pb->obj, xmin, v1, NULL, a1s, 3, NULL, 1, 1, 3, NULL, lline, &err), &err);
    CHECK_CLOSE(lline[1], lmin, 1e-14, 1e-9, "line grid (v2 NULL): the middle point is the minimum's loss");
    CHECK(isfinite(lline[0]) && isfinite(lline[2]) && lline[0] != lline[1] && lline[2] != lline[1],
          "the line's other points differ from the minimum (%g %g %g)", lline[0], lline[1], lline[2]);
    CHECK(mlpf_subspace_minloss_grid(pb->obj, xmin, v1, v2, a1s, 3, NULL, 2, 0, 3, NULL, lgrid, &err) == MLPF_EINVAL,
          "a2s NULL with n2 = 2 is EINVAL: %s", err.msg);
    CHECK(mlpf_subspace_minloss(pb->obj, xmin, v1, v2, 0, 0, NULL, -1, 7, NULL, &l, NULL, &err) == MLPF_EINVAL &&
              strstr(err.msg, "restarts"), "negative restarts: %s", err.msg);
    free(v1); free(v2); free(x);
}

/* ---- surgery ---- */

static double max_pred_diff(const mlpf_net *a, const double *xa, const mlpf_net *b, const double *xb,
                            const double *in, size_t n, mlpf_error *err) {
    int dout = mlpf_net_dout(a);
    double *ya = malloc(n * (size_t)dout * sizeof *ya), *yb = malloc(n * (size_t)dout * sizeof *yb);
    double m = INFINITY;
    if (!mlpf_predict(a, xa, in, n, ya, err) && !mlpf_predict(b, xb, in, n, yb, err)) {
        m = 0;
        for (size_t i = 0; i < n * (size_t)dout; i++) m = fmax(m, fabs(ya[i] - yb[i]) / fmax(1, fabs(ya[i])));
    }
    free(ya);
    free(yb);
    return m;
}

static void test_surgery(void) {
    mlpf_error err;
    mlpf_rng rng;
    mlpf_rng_seed(&rng, 41);
    mlpf_net *net = mlpf_net_create(3, &err);
    mlpf_activation acts[4];
    const char *names[4] = {"softplus", "tanh", "gelu", "sigmoid"};
    for (int i = 0; i < 4; i++) mlpf_activation_parse(names[i], &acts[i], &err);
    CHECK_OK(mlpf_net_add_layer_acts(net, 4, acts, 4, 1, &err), &err);
    CHECK_OK(mlpf_net_add_layer(net, 2, "identity", 1, &err), &err);
    size_t p = mlpf_net_nparams(net);
    double *x = malloc(p * sizeof *x), in[20 * 3];
    fill_normal(&rng, x, p, 1.0, 0.0);
    fill_normal(&rng, in, 60, 1.5, 0.0);

    mlpf_net *nn = NULL;
    double *xn = NULL;
    CHECK_OK(mlpf_split_neuron(net, x, 2, 0.3, 0, &nn, &xn, &err), &err);
    if (nn) {
        CHECK(mlpf_net_layer_units(nn, 0) == 5 && mlpf_net_nparams(nn) == p + 4 + 2,
              "split adds one neuron (%d units)", mlpf_net_layer_units(nn, 0));
        double d = max_pred_diff(net, x, nn, xn, in, 20, &err);
        CHECK(d <= 4 * DBL_EPSILON, "split keeps the function (max rel diff %g)", d);
        /* The copy is neuron 0, with gelu and neuron 2's incoming row. */
        CHECK(mlpf_net_activation(nn, 0, 0)->kind == MLPF_ACT_GELU &&
                  mlpf_net_activation(nn, 0, 3)->kind == MLPF_ACT_GELU &&
                  mlpf_net_activation(nn, 0, 1)->kind == MLPF_ACT_SOFTPLUS,
              "activations follow their neurons");
        CHECK(memcmp(xn, x + 2 * 4, 4 * sizeof *x) == 0, "the copy has neuron 2's incoming weights");
        size_t o2 = mlpf_net_layer_offset(nn, 1), o1 = mlpf_net_layer_offset(net, 1);
        CHECK(xn[o2 + 0] == 0.7 * x[o1 + 2] && xn[o2 + 3] == 0.3 * x[o1 + 2] && xn[o2 + 5] == x[o1 + 4],
              "readout weights (1 - gamma) a, gamma a; bias kept");
    }
    mlpf_net_free(nn);
    free(xn);
    CHECK_OK(mlpf_split_neuron(net, x, 3, -1.5, 4, &nn, &xn, &err), &err);
    if (nn) CHECK(max_pred_diff(net, x, nn, xn, in, 20, &err) <= 8 * DBL_EPSILON, "split at the end, gamma outside [0, 1]");
    mlpf_net_free(nn);
    free(xn);

    /* Grow then shrink the grown neurons: the original, bit for bit. */
    CHECK_OK(mlpf_grow_net(net, x, 3, 9, &nn, &xn, &err), &err);
    if (nn) {
        CHECK(mlpf_net_layer_units(nn, 0) == 7, "grow to 7 neurons");
        CHECK(max_pred_diff(net, x, nn, xn, in, 20, &err) == 0.0, "grow keeps the function exactly");
        double w = 0;
        for (int c = 0; c < 3; c++) w += fabs(xn[4 * 4 + c]);
        CHECK(w > 0 && xn[4 * 4 + 3] == 0.0, "new neurons get random incoming weights, bias 0");
        mlpf_net *sn = NULL;
        double *sx = NULL;
        int rm[3] = {6, 4, 5};
        CHECK_OK(mlpf_shrink_net(nn, xn, rm, 3, &sn, &sx, &err), &err);
        if (sn) {
            CHECK(mlpf_net_nparams(sn) == p && memcmp(sx, x, p * sizeof *x) == 0, "shrink undoes grow exactly");
            CHECK(mlpf_net_activation(sn, 0, 2)->kind == MLPF_ACT_GELU, "activations survive the round trip");
        }
        mlpf_net_free(sn);
        free(sx);
        int dup[2] = {1, 1}, all[7] = {0, 1, 2, 3, 4, 5, 6}, out[1] = {7};
        CHECK(mlpf_shrink_net(nn, xn, dup, 2, &sn, &sx, &err) == MLPF_EINVAL && strstr(err.msg, "twice") && !sn,
              "duplicate removal: %s", err.msg);
        CHECK(mlpf_shrink_net(nn, xn, all, 7, &sn, &sx, &err) == MLPF_EINVAL && strstr(err.msg, "none"),
              "removing every neuron: %s", err.msg);
        CHECK(mlpf_shrink_net(nn, xn, out, 1, &sn, &sx, &err) == MLPF_EINVAL && strstr(err.msg, "remove[0] = 7"),
              "out-of-range removal: %s", err.msg);
    }
    mlpf_net_free(nn);
    free(xn);

    /* Bad arguments. */
    CHECK(mlpf_split_neuron(net, x, 4, 0.5, 0, &nn, &xn, &err) == MLPF_EINVAL && strstr(err.msg, "i = 4") &&
              !nn && !xn, "neuron index out of range: %s", err.msg);
    CHECK(mlpf_split_neuron(net, x, -1, 0.5, 0, &nn, &xn, &err) == MLPF_EINVAL && strstr(err.msg, "i = -1"),
          "negative neuron index: %s", err.msg);
    CHECK(mlpf_split_neuron(net, x, 0, 0.5, 5, &nn, &xn, &err) == MLPF_EINVAL && strstr(err.msg, "j = 5"),
          "insert position out of range: %s", err.msg);
    CHECK(mlpf_grow_net(net, x, -2, 1, &nn, &xn, &err) == MLPF_EINVAL && strstr(err.msg, "extra"),
          "negative extra: %s", err.msg);
    mlpf_net *deep = mlpf_net_create(3, &err);
    mlpf_net_add_layer(deep, 4, "tanh", 1, &err);
    mlpf_net_add_layer(deep, 3, "tanh", 1, &err);
    mlpf_net_add_layer(deep, 1, "identity", 1, &err);
    double *xd = calloc(mlpf_net_nparams(deep), sizeof *xd);
    CHECK(mlpf_split_neuron(deep, xd, 0, 0.5, 0, &nn, &xn, &err) == MLPF_EINVAL && strstr(err.msg, "3 layers") &&
              strstr(err.msg, "one hidden layer"), "two hidden layers: %s", err.msg);
    CHECK(mlpf_grow_net(deep, xd, 1, 1, &nn, &xn, &err) == MLPF_EINVAL && strstr(err.msg, "3 layers"),
          "grow on a deep net: %s", err.msg);
    CHECK(mlpf_shrink_net(deep, xd, NULL, 0, &nn, &xn, &err) == MLPF_EINVAL && strstr(err.msg, "3 layers"),
          "shrink on a deep net: %s", err.msg);
    free(xd);
    mlpf_net_free(deep);
    mlpf_net_free(net);
    free(x);
}

/* Splitting a critical point of the width-2 student gives a critical point of
   the width-3 student, for any gamma. */
static void test_split_critical(problem *pb, const double *xmin) {
    mlpf_error err;
    const double gammas[3] = {0.3, 1.0, 1.8};
    for (int t = 0; t < 3; t++) {
        mlpf_net *nn = NULL;
        double *xn = NULL;
        CHECK_OK(mlpf_split_neuron(pb->net, xmin, t % 2, gammas[t], t, &nn, &xn, &err), &err);
        if (!nn) continue;
        mlpf_objective *big = mlpf_objective_finite(nn, pb->n, pb->in, pb->tg, 1, NULL, NULL, &err);
        size_t p = mlpf_net_nparams(nn);
        double *g = malloc(p * sizeof *g), l, l0;
        CHECK_OK(mlpf_objective_eval(big, xn, &l, g, NULL, &err), &err);
        CHECK_OK(mlpf_objective_eval(pb->obj, xmin, &l0, NULL, NULL, &err), &err);
        CHECK(inf_norm(g, p) <= 1e-12, "split (gamma %g) is critical: |g|inf = %g", gammas[t], inf_norm(g, p));
        CHECK_CLOSE(l, l0, 0, 1e-13, "split keeps the loss");
        free(g);
        mlpf_objective_free(big);
        mlpf_net_free(nn);
        free(xn);
    }
}

int main(void) {
    test_trajectory_distance();
    test_cosine();
    test_subspace_derivatives();
    test_surgery();

    mlpf_error err;
    problem pb;
    CHECK_OK(make_problem(&pb, 2, 3, 40, 3, &err), &err);
    if (pb.obj) {
        size_t p = mlpf_objective_nparams(pb.obj);
        double *xmin = malloc(p * sizeof *xmin), lmin = 0, gn;
        CHECK_OK(train_critical(&pb, xmin, &lmin, &gn, &err), &err);
        CHECK(gn <= 1e-12, "trained the small student to a critical point (gnorm %g)", gn);
        if (gn <= 1e-12) {
            test_split_critical(&pb, xmin);
            test_subspace_minloss(&pb, xmin, lmin);
        }
        free(xmin);
    }
    free_problem(&pb);
    return check_report("test_landscape");
}

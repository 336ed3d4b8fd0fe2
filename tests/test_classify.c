/* test_classify.c - what a point is: quadratic forms with a known index and
   known zero eigenvalues, a strict minimum of a small net and its split-neuron
   embedding (symmetry-induced zero eigenvalues count as zero), constructed
   pair and single-unit channels with a known gated-linear-unit limit. */
#include "check.h"
#include "internal.h"
#include "test_objectives.h"

#include <float.h>
#include <stdlib.h>

/* ---- a quadratic-plus-quartic form with a known spectrum ----
   L(x) = sum_k lam_k y_k^2 / 2 + quart * sum_k y_k^4 / 4, y = Q^T x with a fixed
   random rotation Q, so exact zero eigenvalues come out of LAPACK as rounding,
   not as exact zeros. At x = 0 the Hessian is Q diag(lam) Q^T. */
typedef struct {
    size_t p;
    double lam[16], Q[16 * 16], quart;
} form;

static int form_eval(void *c, const double *x, const size_t *sub, size_t ns, double *loss,
                     double *grad, double *hess, mlpf_error *err) {
    (void)sub, (void)ns, (void)err;
    const form *f = c;
    size_t p = f->p;
    double y[16], l = 0;
    for (size_t k = 0; k < p; k++) {
        y[k] = 0;
        for (size_t i = 0; i < p; i++) y[k] += f->Q[i * p + k] * x[i];
        l += 0.5 * f->lam[k] * y[k] * y[k] + 0.25 * f->quart * y[k] * y[k] * y[k] * y[k];
    }
    if (loss) *loss = l;
    if (grad)
        for (size_t i = 0; i < p; i++) {
            grad[i] = 0;
            for (size_t k = 0; k < p; k++)
                grad[i] += f->Q[i * p + k] * (f->lam[k] * y[k] + f->quart * y[k] * y[k] * y[k]);
        }
    if (hess)
        for (size_t i = 0; i < p; i++)
            for (size_t j = 0; j < p; j++) {
                double h = 0;
                for (size_t k = 0; k < p; k++)
                    h += f->Q[i * p + k] * f->Q[j * p + k] * (f->lam[k] + 3 * f->quart * y[k] * y[k]);
                hess[i * p + j] = h;
            }
    return MLPF_OK;
}

static void form_init(form *f, size_t p, const double *lam, double quart, uint64_t seed) {
    mlpf_rng r;
    mlpf_rng_seed(&r, seed);
    f->p = p;
    f->quart = quart;
    memcpy(f->lam, lam, p * sizeof *lam);
    for (size_t i = 0; i < p * p; i++) f->Q[i] = mlpf_rng_normal(&r);
    for (size_t j = 0; j < p; j++) { /* Gram-Schmidt on the columns */
        for (size_t k = 0; k < j; k++) {
            double d = 0;
            for (size_t i = 0; i < p; i++) d += f->Q[i * p + j] * f->Q[i * p + k];
            for (size_t i = 0; i < p; i++) f->Q[i * p + j] -= d * f->Q[i * p + k];
        }
        double n = 0;
        for (size_t i = 0; i < p; i++) n += f->Q[i * p + j] * f->Q[i * p + j];
        for (size_t i = 0; i < p; i++) f->Q[i * p + j] /= sqrt(n);
    }
}

static mlpf_objective *form_objective(form *f) {
    mlpf_objective_ops ops = {"form", f->p, 0, form_eval, NULL};
    return mlpf_objective_custom(&ops, f, NULL);
}

static void test_quadratic_forms(void) {
    mlpf_error err;
    /* index 3, two exact zeros, three positive; eigenvalues spread over 4 decades */
    const double lam[8] = {-2.0, -1e-3, -0.5, 0.0, 0.0, 1e-2, 3.0, 40.0};
    form f;
    form_init(&f, 8, lam, 0.0, 5);
    mlpf_objective *obj = form_objective(&f);
    double x[8] = {0};
    mlpf_classification c;
    CHECK_OK(mlpf_classify(obj, x, NULL, NULL, 0, NULL, &c, &err), &err);
    CHECK(c.kind == MLPF_POINT_SADDLE && c.index == 3 && c.n_zero == 2 && c.n_positive == 3,
          "saddle of index 3 with 2 zeros: kind %s index %d zero %d positive %d",
          mlpf_point_kind_name(c.kind), c.index, c.n_zero, c.n_positive);
    CHECK(c.zero_tol < 1e-10 && c.zero_tol > 0, "the rounding threshold is tiny: %g", c.zero_tol);
    CHECK_CLOSE(c.eigenvalues[0], -2.0, 1e-13, 0, "eigenvalues ascending, exact");
    CHECK_CLOSE(c.eigenvalues[7], 40.0, 1e-12, 0, "largest eigenvalue");
    mlpf_classification_free(&c);

    /* the same form without negative directions: a non-strict minimum; with
       the zeros lifted: a strict one */
    double lam2[8] = {2.0, 1e-3, 0.5, 0.0, 0.0, 1e-2, 3.0, 40.0};
    form_init(&f, 8, lam2, 0.0, 6);
    CHECK_OK(mlpf_classify(obj, x, NULL, NULL, 0, NULL, &c, &err), &err);
    CHECK(c.kind == MLPF_POINT_MINIMUM && !c.strict && c.n_zero == 2, "flat minimum: %s strict %d zero %d",
          mlpf_point_kind_name(c.kind), c.strict, c.n_zero);
    mlpf_classification_free(&c);
    lam2[3] = 1e-6, lam2[4] = 7.0;
    form_init(&f, 8, lam2, 0.0, 6);
    CHECK_OK(mlpf_classify(obj, x, NULL, NULL, 0, NULL, &c, &err), &err);
    CHECK(c.kind == MLPF_POINT_MINIMUM && c.strict && c.n_zero == 0,
          "strict minimum (smallest eigenvalue 1e-6 is far above rounding)");
    mlpf_classification_free(&c);

    /* tol overrides: with tol 1e-5 the 1e-6 eigenvalue counts as zero */
    mlpf_classify_options o;
    mlpf_classify_options_default(&o);
    o.zero_tol = 1e-5;
    CHECK_OK(mlpf_classify(obj, x, NULL, NULL, 0, &o, &c, &err), &err);
    CHECK(c.n_zero == 1 && !c.strict && c.zero_tol == 1e-5, "tol overrides the threshold");
    mlpf_classification_free(&c);

    /* away from the critical point: not critical, with the spectrum still reported */
    x[0] = 1e-6;
    CHECK_OK(mlpf_classify(obj, x, NULL, NULL, 0, NULL, &c, &err), &err);
    CHECK(c.kind == MLPF_POINT_NOT_CRITICAL && c.gnorm > c.gnorm_tol && c.n_positive == 8,
          "gradient 1e-6 is not rounding: %s (gnorm %g, tol %g)", mlpf_point_kind_name(c.kind),
          c.gnorm, c.gnorm_tol);
    mlpf_classification_free(&c);

    o.zero_tol = -1;
    CHECK(mlpf_classify(obj, x, NULL, NULL, 0, &o, &c, &err) == MLPF_EINVAL &&
          strstr(err.msg, "zero_tol"), "a negative tol is refused by name: %s", err.msg);
    mlpf_objective_free(obj);
}

/* An objective whose gradient carries evaluation noise of 1e-10 (a hash of x's
   bits, like the rounding of sums that cancel): L = sum (x_i - 1)^2 / 2. */
static int noisy_eval(void *c, const double *x, const size_t *sub, size_t ns, double *loss,
                      double *grad, double *hess, mlpf_error *err) {
    (void)c, (void)sub, (void)ns, (void)err;
    uint64_t h = 1469598103934665603u;
    for (int i = 0; i < 4; i++) {
        uint64_t b;
        memcpy(&b, &x[i], 8);
        h = (h ^ b) * 1099511628211u;
    }
    for (int i = 0; i < 4; i++) {
        if (loss && i == 0) *loss = 0;
        if (loss) *loss += 0.5 * (x[i] - 1) * (x[i] - 1);
        h = h * 6364136223846793005u + 1442695040888963407u;
        if (grad) grad[i] = x[i] - 1 + 1e-10 * ((double)(h >> 11) / 9007199254740992.0 - 0.5);
        for (int j = 0; hess && j < 4; j++) hess[i * 4 + j] = i == j;
    }
    return MLPF_OK;
}

static void test_gradient_noise(void) {
    mlpf_error err;
    mlpf_objective_ops ops = {"noisy", 4, 0, noisy_eval, NULL};
    mlpf_objective *obj = mlpf_objective_custom(&ops, NULL, &err);
    const double x[4] = {1, 1, 1, 1};
    mlpf_classification c;
    CHECK_OK(mlpf_classify(obj, x, NULL, NULL, 0, NULL, &c, &err), &err);
    CHECK(c.kind == MLPF_POINT_MINIMUM && c.gnorm > 1e-12 && c.gnorm_tol > c.gnorm,
          "a gradient of %g that is evaluation noise is measured as such (tol %g): %s", c.gnorm,
          c.gnorm_tol, mlpf_point_kind_name(c.kind));
    mlpf_classification_free(&c);
    mlpf_objective_free(obj);
}

/* ---- a strict minimum of a small net and its split ---- */

typedef struct {
    mlpf_net *net;
    mlpf_objective *obj;
    double *X, *Y;
    size_t n;
} problem;

/* Realisable teacher-student: 2 softplus units with biases, din 2, 60 samples;
   the student starts near the teacher and Newton takes it to zero loss, an
   isolated (strict) global minimum modulo the permutation. */
static void problem_make(problem *pb, double *xmin, mlpf_error *err) {
    const double teacher[8] = {1.0, -0.7, 0.2, -0.4, 1.2, -0.3, 1.5, -0.8};
    pb->n = 60;
    pb->net = make_net(2, 2, "softplus", 1, 0);
    pb->X = malloc(pb->n * 2 * sizeof(double));
    pb->Y = malloc(pb->n * sizeof(double));
    mlpf_rng r;
    mlpf_rng_seed(&r, 3);
    for (size_t i = 0; i < 2 * pb->n; i++) pb->X[i] = mlpf_rng_normal(&r);
    mlpf_predict(pb->net, teacher, pb->X, pb->n, pb->Y, err);
    pb->obj = mlpf_objective_finite(pb->net, pb->n, pb->X, pb->Y, 1, NULL, NULL, err);
    double x0[8];
    for (int i = 0; i < 8; i++) x0[i] = teacher[i] + 0.05 * mlpf_rng_normal(&r);
    mlpf_train_options o;
    mlpf_train_options_default(&o);
    snprintf(o.alg, sizeof o.alg, "none");
    snprintf(o.optim_solver, sizeof o.optim_solver, "newtontr");
    mlpf_result *res = NULL;
    mlpf_train(pb->obj, x0, &o, &res, err);
    memcpy(xmin, res->x, 8 * sizeof *xmin);
    mlpf_result_free(res);
}

static void problem_free(problem *pb) {
    mlpf_objective_free(pb->obj);
    mlpf_net_free(pb->net);
    free(pb->X);
    free(pb->Y);
}

/* smallest |eigenvalue| above the zero band, over zero_tol: the separation */
static double band_gap(const mlpf_classification *c) {
    double m = INFINITY;
    for (size_t k = 0; k < c->nparams; k++)
        if (fabs(c->eigenvalues[k]) > c->zero_tol) m = fmin(m, fabs(c->eigenvalues[k]));
    return m / c->zero_tol;
}

static void test_split_minimum(void) {
    mlpf_error err;
    problem pb;
    double xmin[8];
    problem_make(&pb, xmin, &err);
    mlpf_classification c;
    CHECK_OK(mlpf_classify(pb.obj, xmin, pb.X, NULL, pb.n, NULL, &c, &err), &err);
    CHECK(c.kind == MLPF_POINT_MINIMUM && c.strict && c.nchannels == 0 && c.loss < 1e-28,
          "zero-loss teacher recovery is a strict minimum: %s strict %d loss %g gnorm %g",
          mlpf_point_kind_name(c.kind), c.strict, c.loss, c.gnorm);
    mlpf_classification_free(&c);

    /* Split unit 0 (gamma 0.3): a line of global minima through the point. The
       flat directions are exact zeros in exact arithmetic; they must land in
       the zero band, far from every other eigenvalue. */
    mlpf_net *net3;
    double *x3;
    CHECK_OK(mlpf_split_neuron(pb.net, xmin, 0, 0.3, 1, &net3, &x3, &err), &err);
    mlpf_objective *obj3 = mlpf_objective_finite(net3, pb.n, pb.X, pb.Y, 1, NULL, NULL, &err);
    CHECK_OK(mlpf_classify(obj3, x3, pb.X, NULL, pb.n, NULL, &c, &err), &err);
    CHECK(c.kind == MLPF_POINT_MINIMUM && !c.strict && c.index == 0 && c.n_zero >= 1 &&
          c.n_positive + c.n_zero == 12, "split minimum: %s index %d zero %d",
          mlpf_point_kind_name(c.kind), c.index, c.n_zero);
    /* at zero loss the Hessian is Gauss-Newton: rank = P - (flat directions);
       the duplicated unit adds din + bias + 1 = 4 of them (a_i + a_j fixed, and
       the three input-weight differences weighted by the output split) */
    CHECK(c.n_zero == 4, "4 symmetry-induced zero eigenvalues, got %d", c.n_zero);
    CHECK(band_gap(&c) > 1e3, "zeros are separated from the rest by %g x zero_tol", band_gap(&c));
    mlpf_classification_free(&c);
    mlpf_objective_free(obj3);
    mlpf_net_free(net3);
    free(x3);
    problem_free(&pb);
}

/* ---- constructed channels ---- */

/* A 3-unit layer: units 0 and 1 form a pair with GLU limit (c, w, v) at
   amplification ~ s: w_{0,1} = w +- v / (2 s), a_{0,1} = c / 2 +- s; unit 2 is
   an ordinary unit. */
static void pair_params(double s, const double *w, const double *v, double c, double *x) {
    for (int d = 0; d < 3; d++) {
        x[d] = w[d] + v[d] / (2 * s);
        x[3 + d] = w[d] - v[d] / (2 * s);
    }
    x[6] = -0.6, x[7] = 0.9, x[8] = 0.1;          /* unit 2 */
    x[9] = 0.5 * c + s, x[10] = 0.5 * c - s, x[11] = 0.8;
}

static void test_pair_channel(void) {
    mlpf_error err;
    mlpf_net *net = make_net(2, 3, "softplus", 1, 0);
    const double w[3] = {0.7, -0.4, 0.3}, v[3] = {0.5, 0.8, -0.2}, c = 0.6;
    double X[2 * 300], x[12];
    mlpf_rng r;
    mlpf_rng_seed(&r, 9);
    for (int i = 0; i < 600; i++) X[i] = mlpf_rng_normal(&r);
    mlpf_channel *ch;
    size_t n;
    double errs[2];
    const double amps[2] = {1e2, 1e3};
    for (int k = 0; k < 2; k++) {
        pair_params(amps[k], w, v, c, x);
        CHECK_OK(mlpf_channels(net, x, X, NULL, 300, NULL, &ch, &n, &err), &err);
        CHECK(n == 1 && ch[0].type == MLPF_CHANNEL_PAIR && ch[0].units[0] == 0 && ch[0].units[1] == 1,
              "s = %g: the pair (0, 1) is a channel (%zu found)", amps[k], n);
        if (n != 1) continue;
        double dv = 0, dw = 0;
        for (int d = 0; d < 3; d++) dv = fmax(dv, fabs(ch[0].v[d] - v[d])), dw = fmax(dw, fabs(ch[0].w[d] - w[d]));
        CHECK(dv < 1e-12 && dw < 1e-12 && fabs(ch[0].c[0] - c) < 1e-12,
              "GLU parameters recovered: |dv| %g |dw| %g", dv, dw);
        errs[k] = ch[0].glu_error;
        CHECK(ch[0].cosine > 0.99 && ch[0].gap < 0.1 && ch[0].amplification > 10,
              "cosine %g gap %g amplification %g", ch[0].cosine, ch[0].gap, ch[0].amplification);
        mlpf_channels_free(ch, n);
    }
    /* the pair minus its GLU is O(1/s^2): 10x the amplification, 100x smaller error */
    CHECK(errs[1] < 0.02 * errs[0] && errs[1] < 1e-4, "glu_error %g -> %g as s grows 10x", errs[0], errs[1]);

    /* the same geometry with s = 1 is two ordinary units, not a channel */
    pair_params(1.0, w, v, c, x);
    CHECK_OK(mlpf_channels(net, x, X, NULL, 300, NULL, &ch, &n, &err), &err);
    CHECK(n == 0, "s = 1: no channel (%zu)", n);
    mlpf_channels_free(ch, n);

    /* a duplicated unit with huge opposite output weights but v = 0 is a point
       on a symmetry-induced line, not a channel */
    const double zero[3] = {0, 0, 0};
    pair_params(1e3, w, zero, c, x);
    CHECK_OK(mlpf_channels(net, x, X, NULL, 300, NULL, &ch, &n, &err), &err);
    CHECK(n == 0, "v = 0: no channel (%zu)", n);
    mlpf_channels_free(ch, n);

    /* classify: a channel wins over "minimum"; expectations for Gaussian input
       (input NULL) agree with the samples' verdict */
    pair_params(1e3, w, v, c, x);
    CHECK_OK(mlpf_channels(net, x, NULL, NULL, 0, NULL, &ch, &n, &err), &err);
    CHECK(n == 1 && ch[0].glu_error < 1e-4, "Gaussian input: the pair is a channel");
    mlpf_channels_free(ch, n);
    mlpf_net_free(net);
}

static void test_single_channel(void) {
    mlpf_error err;
    mlpf_net *net = make_net(3, 2, "tanh", 0, 0);
    /* unit 0: w = u / s, a = s b: a linear unit (b u.x) in the limit */
    const double u[3] = {0.8, -0.5, 0.4}, b = 1.3;
    double x[8];
    mlpf_channel *ch;
    size_t n;
    for (int k = 0; k < 2; k++) {
        double s = k ? 1e3 : 1.0;
        for (int d = 0; d < 3; d++) x[d] = u[d] / s;
        x[3] = 0.3, x[4] = 0.9, x[5] = -0.6;        /* unit 1 */
        x[6] = b * s, x[7] = 0.7;
        /* din 3, Gaussian input: plane quadrature; same verdict with samples */
        CHECK_OK(mlpf_channels(net, x, NULL, NULL, 0, NULL, &ch, &n, &err), &err);
        if (k == 0) {
            CHECK(n == 0, "s = 1: an ordinary tanh unit (%zu channels)", n);
        } else {
            CHECK(n == 1 && ch[0].type == MLPF_CHANNEL_SINGLE && ch[0].units[0] == 0 && ch[0].units[1] == -1,
                  "s = 1e3: unit 0 is a single-unit channel (%zu)", n);
            if (n == 1) {
                double dv = 0;
                for (int d = 0; d < 3; d++) dv = fmax(dv, fabs(ch[0].v[d] - b * u[d]));
                CHECK(dv < 1e-12 && ch[0].c[0] == 0 && ch[0].glu_error < 1e-5,
                      "linear limit v = a w recovered (%g), glu_error %g", dv, ch[0].glu_error);
            }
        }
        mlpf_channels_free(ch, n);
    }
    mlpf_net_free(net);
}

/* Deeper nets: a pair channel in the second hidden layer is found there, from
   the first layer's outputs on the data; a single tanh unit on finite data
   passes the contribution test only when it matters for the output. */
static void test_deep_and_single_on_data(void) {
    mlpf_error err;
    mlpf_net *net = mlpf_net_create(2, &err);
    mlpf_net_add_layer(net, 3, "tanh", 1, &err);
    mlpf_net_add_layer(net, 3, "softplus", 1, &err);
    mlpf_net_add_layer(net, 1, "identity", 0, &err);
    size_t P = mlpf_net_nparams(net);
    double x[32], X[2 * 150];
    mlpf_rng r;
    mlpf_rng_seed(&r, 21);
    for (size_t i = 0; i < P; i++) x[i] = 0.8 * mlpf_rng_normal(&r);
    for (int i = 0; i < 300; i++) X[i] = mlpf_rng_normal(&r);
    /* layer 1 (inputs: 3 tanh outputs + bias): units 0, 1 form a pair, s = 1e3 */
    double *W2 = x + mlpf_net_layer_offset(net, 1), *W3 = x + mlpf_net_layer_offset(net, 2);
    const double w[4] = {0.5, -0.8, 0.4, 0.1}, v[4] = {0.3, 0.6, -0.5, 0.2}, s = 1e3;
    for (int d = 0; d < 4; d++) W2[d] = w[d] + v[d] / (2 * s), W2[4 + d] = w[d] - v[d] / (2 * s);
    W3[0] = 0.2 + s, W3[1] = 0.2 - s;
    mlpf_channel *ch;
    size_t n;
    CHECK_OK(mlpf_channels(net, x, X, NULL, 150, NULL, &ch, &n, &err), &err);
    CHECK(n == 1 && ch[0].layer == 1 && ch[0].units[0] == 0 && ch[0].units[1] == 1 && ch[0].nin == 4,
          "the pair of hidden layer 1 (%zu channels, layer %d)", n, n ? ch[0].layer : -1);
    mlpf_channels_free(ch, n);
    mlpf_net_free(net);

    /* single tanh unit 0 (w = u / s, a = b s) next to unit 1 of output weight o1 */
    net = make_net(2, 2, "tanh", 1, 0);
    const double u[3] = {0.8, -0.5, 0.0};
    for (int k = 0; k < 2; k++) {
        double o1 = k ? 1e3 : 1.0, y[8] = {u[0] / s, u[1] / s, u[2], 0.3, 0.9, -0.2, 1.3 * s, o1};
        CHECK_OK(mlpf_channels(net, y, X, NULL, 150, NULL, &ch, &n, &err), &err);
        CHECK(k ? n == 0 : (n == 1 && ch[0].type == MLPF_CHANNEL_SINGLE),
              "single unit with the other unit's weight %g: %zu channels (negligible next to a "
              "1000x larger output: none)", o1, n);
        mlpf_channels_free(ch, n);
    }
    mlpf_net_free(net);
}

/* a pair channel classified through the objective: "channel" beats "minimum" */
static void test_classify_channel(void) {
    mlpf_error err;
    mlpf_net *net = make_net(2, 3, "softplus", 1, 0);
    const double w[3] = {0.7, -0.4, 0.3}, v[3] = {0.5, 0.8, -0.2};
    double X[2 * 100], Y[100], x[12];
    mlpf_rng r;
    mlpf_rng_seed(&r, 2);
    for (int i = 0; i < 200; i++) X[i] = mlpf_rng_normal(&r);
    pair_params(1e3, w, v, 0.6, x);
    mlpf_predict(net, x, X, 100, Y, &err);      /* zero loss at x: flat, "minimum"-like */
    mlpf_objective *obj = mlpf_objective_finite(net, 100, X, Y, 1, NULL, NULL, &err);
    mlpf_classification c;
    CHECK_OK(mlpf_classify(obj, x, X, NULL, 100, NULL, &c, &err), &err);
    CHECK(c.kind == MLPF_POINT_CHANNEL && c.nchannels == 1 && c.index == 0,
          "zero-loss channel point: kind %s, %zu channels", mlpf_point_kind_name(c.kind), c.nchannels);
    mlpf_classification_free(&c);
    mlpf_classify_options o;
    mlpf_classify_options_default(&o);
    o.detect_channels = 0;
    CHECK_OK(mlpf_classify(obj, x, X, NULL, 100, &o, &c, &err), &err);
    CHECK(c.kind == MLPF_POINT_MINIMUM && c.nchannels == 0, "without detection it looks like a minimum");
    mlpf_classification_free(&c);
    mlpf_objective_free(obj);
    mlpf_net_free(net);
}

/* ---- critical points of any index ---- */

static double dist_y(const form *f, const double *x, const double *y) {
    double m = 0;
    for (size_t k = 0; k < f->p; k++) {
        double yk = 0;
        for (size_t i = 0; i < f->p; i++) yk += f->Q[i * f->p + k] * x[i];
        m = fmax(m, fabs(yk - y[k]));
    }
    return m;
}

/* x = Q y */
static void from_y(const form *f, const double *y, double *x) {
    for (size_t i = 0; i < f->p; i++) {
        x[i] = 0;
        for (size_t k = 0; k < f->p; k++) x[i] += f->Q[i * f->p + k] * y[k];
    }
}

static void test_find_critical_point_forms(void) {
    mlpf_error err;
    /* L = sum lam_k y_k^2 / 2 + y_k^4 / 4: critical points y_k in {0, +-sqrt(-lam_k)};
       the Hessian there is diag(lam_k + 3 y_k^2): index = negative lam_k with y_k = 0 */
    const double lam[6] = {-2.0, -0.5, 1.0, 3.0, -1.0, 0.7};
    form f;
    form_init(&f, 6, lam, 1.0, 8);
    mlpf_objective *obj = form_objective(&f);
    struct { double y0[6], y[6]; int index; } cases[3] = {
        {{0.1, -0.05, 0.08, 0.02, -0.07, 0.1}, {0, 0, 0, 0, 0, 0}, 3},
        {{1.2, 0.05, -0.1, 0.1, 0.1, -0.05}, {sqrt(2.0), 0, 0, 0, 0, 0}, 2},
        {{-1.3, 0.6, 0.1, 0, -0.9, 0.1}, {-sqrt(2.0), sqrt(0.5), 0, 0, -1.0, 0}, 0},
    };
    for (int c = 0; c < 3; c++) {
        double x0[6], x[6];
        from_y(&f, cases[c].y0, x0);
        mlpf_critical_info info;
        CHECK_OK(mlpf_find_critical_point(obj, x0, NULL, x, &info, &err), &err);
        CHECK(info.gnorm <= 1e-14 && dist_y(&f, x, cases[c].y) < 1e-13,
              "case %d: the nearby critical point (gnorm %g, distance %g, %s after %ld)", c,
              info.gnorm, dist_y(&f, x, cases[c].y), info.stopped_by, info.iterations);
        CHECK(info.iterations < 20, "Newton converges fast: %ld iterations", info.iterations);
        mlpf_classification cl;
        CHECK_OK(mlpf_classify(obj, x, NULL, NULL, 0, NULL, &cl, &err), &err);
        CHECK(cl.index == cases[c].index && cl.n_zero == 0 &&
              cl.kind == (cases[c].index ? MLPF_POINT_SADDLE : MLPF_POINT_MINIMUM),
              "case %d: index %d (expected %d), kind %s", c, cl.index, cases[c].index,
              mlpf_point_kind_name(cl.kind));
        mlpf_classification_free(&cl);
    }
    mlpf_critical_options o;
    mlpf_critical_options_default(&o);
    o.maxiter = 1;
    double x0[6] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, x[6];
    mlpf_critical_info info;
    CHECK_OK(mlpf_find_critical_point(obj, x0, &o, x, &info, &err), &err);
    CHECK(info.iterations == 1 && !strcmp(info.stopped_by, "maxiter"), "maxiter stops: %s", info.stopped_by);
    o.gtol = -1;
    CHECK(mlpf_find_critical_point(obj, x0, &o, x, &info, &err) == MLPF_EINVAL, "bad gtol refused");
    mlpf_objective_free(obj);
}

/* A saddle of a small net: erf teacher with orthonormal units (exact Gaussian
   data), the best one-unit student averages them (Simsek et al. 2023); split
   in halves it is a first-order saddle of the two-unit student. From a point
   1e-6 away the search returns to the saddle line, not down to a minimum. */
static void test_find_critical_point_net(void) {
    mlpf_error err;
    mlpf_net *teacher = make_net(2, 2, "sigmoid2", 0, 0), *n1 = make_net(2, 1, "sigmoid2", 0, 0);
    const double tp[6] = {1, 0, 0, 1, 1, 1};
    mlpf_objective *o1 = mlpf_objective_gaussian(teacher, tp, n1, &err);
    double x1[3] = {0.3, 0.5, 1.5};
    mlpf_critical_info info;
    CHECK_OK(mlpf_find_critical_point(o1, x1, NULL, x1, &info, &err), &err);
    CHECK(info.gnorm <= 1e-14 && fabs(x1[0] - x1[1]) < 1e-12, "one unit: the average of the teacher's "
          "units (w = %g, %g; gnorm %g)", x1[0], x1[1], info.gnorm);
    mlpf_net *n2;
    double *x2;
    CHECK_OK(mlpf_split_neuron(n1, x1, 0, 0.5, 1, &n2, &x2, &err), &err);
    mlpf_objective *o2 = mlpf_objective_gaussian(teacher, tp, n2, &err);
    mlpf_rng r;
    mlpf_rng_seed(&r, 4);
    double x0[6], x[6], l2;
    for (int i = 0; i < 6; i++) x0[i] = x2[i] + 1e-6 * mlpf_rng_normal(&r);
    CHECK_OK(mlpf_find_critical_point(o2, x0, NULL, x, &info, &err), &err);
    mlpf_objective_eval(o2, x2, &l2, NULL, NULL, &err);
    CHECK(info.gnorm <= 1e-13 && fabs(info.loss - l2) < 1e-14, "back on the saddle line: gnorm %g, "
          "loss %.17g vs %.17g (%s)", info.gnorm, info.loss, l2, info.stopped_by);
    mlpf_classification cl;
    CHECK_OK(mlpf_classify(o2, x, NULL, NULL, 0, NULL, &cl, &err), &err);
    CHECK(cl.kind == MLPF_POINT_SADDLE && cl.index == 1, "a first-order saddle: %s, index %d",
          mlpf_point_kind_name(cl.kind), cl.index);
    mlpf_classification_free(&cl);
    mlpf_objective_free(o1);
    mlpf_objective_free(o2);
    mlpf_net_free(teacher);
    mlpf_net_free(n1);
    mlpf_net_free(n2);
    free(x2);
}

int main(void) {
    test_find_critical_point_forms();
    test_find_critical_point_net();
    test_quadratic_forms();
    test_split_minimum();
    test_pair_channel();
    test_single_channel();
    test_classify_channel();
    test_deep_and_single_on_data();
    test_gradient_noise();
    return check_report("test_classify");
}

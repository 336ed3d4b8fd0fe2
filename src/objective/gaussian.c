/* gaussian.c - teacher-student objective with infinite standard Gaussian input:
   L(theta) = E_x[(y(x) - t(x))^2],  x ~ N(0, I_din),
   y = sum_i a_i g(w_i.x + b_i) + a0,  t = sum_j c_j h(v_j.x + e_j) + c0.

   Expanding the square with d0 = a0 - c0:
   L = sum_ij a_i a_j S_ij - 2 sum_ij a_i c_j T_ij + 2 d0 sum_i a_i m_i
       - 2 d0 sum_j c_j n_j + d0^2 + U,
   S_ij = E[g(u_i) g(u_j)], T_ij = E[g(u_i) h(v_j)], m_i = E[g(u_i)],
   n_j = E[h(v_j)], U = sum_jl c_j c_l E[h(v_j) h(v_l)] (constants, computed once).
   Pair kernels (closed form or quadrature) give S, T, m with their derivatives
   in theta_i = (w_i, b_i); the output weights enter polynomially. The cost is
   O((k^2 + k m) din^2) per Hessian, independent of any sample count.

   Accuracy: every term is accurate to rounding (closed forms) or to the
   quadrature bound, but near a zero of the loss (a student that recovers the
   teacher) L is a difference of O(1) terms and carries their rounding: a few
   1e-16, of either sign, growing like |a|^2 eps at large output weights.
   Each evaluation bounds the loss's error by its terms' own: sum |term| *
   (TERM_ULPS eps for closed forms, the quadrature's 1e-14 otherwise) + the
   teacher constant's; that bound is mlpf_objective_loss_error. A
   compensated (Neumaier) sum of the terms gained nothing measurable (a
   teacher unit split into two with output weights c + A and -A, erf and
   tanh, A = 1 ... 1e4: computed losses of the exact zero within a factor
   0.5-2.4 of the plain sum's, 1e-16 at A = 1 to 1e-12 at 1e4; and at
   student = teacher it broke the plain sum's exact cancellation, 0 ->
   2e-18), so the plain sum stays: the rounding sits in the O(|a|) row sums
   a_i sum_j a_j S_ij, not in the final sum. Expanding the pair terms of
   near-identical units would be the next step. Gradients and Hessians likewise have an
   absolute, not relative, noise floor of ~1e-16. */
#include "objective/gaussian.h"

#include <float.h>
#include <math.h>
#include <string.h>

typedef struct {
    mlpf_net *student;
    int din, k, m, sb, sob, tb, tob;
    mlpf_activation sact, tact;
    double *tw;       /* (m, din) teacher weights */
    double *tbias;    /* (m) */
    double *tc;       /* (m) teacher output weights */
    double tc0;
    double *tn;       /* (m) E[h(v_j)] */
    double U, U_err;  /* teacher constant and its error bound */
    size_t P, off2;
    int no_cf;
    mlpf_gq_rules rules;
    mlpf_cf_ctx cf;
} gauss_ctx;

static void gauss_ctx_free(void *p) {
    gauss_ctx *c = p;
    if (!c) return;
    mlpf_net_free(c->student);
    free(c->tw);
    free(c->tbias);
    free(c->tc);
    free(c->tn);
    mlpf_gq_rules_free(&c->rules);
    free(c);
}

/* per-call scratch (eval is reentrant: nothing shared between calls) */
typedef struct {
    mlpf_gq_work gq;
    mlpf_pair_out out;
    double *S, *ms, *G;  /* (k, k), (k), (k, din + 1) */
    double *buf;
} gauss_work;

static int work_alloc(const gauss_ctx *c, gauss_work *w, mlpf_error *err) {
    size_t d1 = (size_t)c->din + 1, k = (size_t)c->k;
    size_t maxlen = MLPF_GQ_MAXCOMP;
    for (int q = 0; q < MLPF_GQ_NRULES; q++)
        if ((size_t)c->rules.len[q] > maxlen) maxlen = (size_t)c->rules.len[q];
    size_t total = 8 * maxlen + 2 * (size_t)c->din + 2 * d1 + 3 * d1 * d1 + k * k + k + k * d1;
    double *b = mlpf_calloc(total, sizeof(double), err);
    if (!b) return MLPF_ENOMEM;
    w->buf = b;
    w->gq.uj = b; b += maxlen;
    w->gq.g0 = b; b += maxlen;
    w->gq.g1 = b; b += maxlen;
    w->gq.g2 = b; b += maxlen;
    w->gq.cx1 = b; b += maxlen;
    w->gq.cw1 = b; b += maxlen;
    w->gq.cx2 = b; b += maxlen;
    w->gq.cw2 = b; b += maxlen;
    w->gq.e1 = b; b += c->din;
    w->gq.e2 = b; b += c->din;
    w->out.gi = b; b += d1;
    w->out.gj = b; b += d1;
    w->out.hii = b; b += d1 * d1;
    w->out.hij = b; b += d1 * d1;
    w->out.hjj = b; b += d1 * d1;
    w->S = b; b += k * k;
    w->ms = b; b += k;
    w->G = b;
    return MLPF_OK;
}

static void pair_eval(const gauss_ctx *c, gauss_work *w, const mlpf_activation *f,
                      const mlpf_activation *g, const double *wi, double bi, const double *wj,
                      double bj, int need, int both) {
    if (!c->no_cf && mlpf_cf_pair_supported(f, g))
        mlpf_cf_pair(&c->cf, f, g, c->din, wi, bi, wj, bj, need, both, &w->out);
    else if (!c->no_cf && f->kind == MLPF_ACT_RELU && g->kind == MLPF_ACT_RELU)
        mlpf_relu_pair(&c->cf, &w->gq, c->din, wi, bi, wj, bj, need, both, &w->out);
    else
        mlpf_gq_pair(&c->rules, &w->gq, f, g, c->din, wi, bi, wj, bj, need, both, &w->out);
}

static void single_eval(const gauss_ctx *c, gauss_work *w, const mlpf_activation *f,
                        const double *wi, double bi, int need) {
    if (!c->no_cf && mlpf_cf_single_supported(f))
        mlpf_cf_single(&c->cf, f, c->din, wi, bi, need, &w->out);
    else if (!c->no_cf && f->kind == MLPF_ACT_RELU)
        mlpf_relu_single(&w->gq, c->din, wi, bi, need, &w->out);
    else
        mlpf_gq_single(&c->rules, &w->gq, f, c->din, wi, bi, need, &w->out);
}

/* Relative error of one pair / single expectation as pair_eval computes it:
   closed forms are accurate to a few ulps (TERM_ULPS covers them and the
   products with the output weights), quadrature to 1e-14 of the pair's
   scale (gaussian_quad.c: rule sizes chosen for that bound). */
#define TERM_ULPS 16
static double pair_rel_err(const gauss_ctx *c, const mlpf_activation *f, const mlpf_activation *g) {
    int closed = !c->no_cf && (mlpf_cf_pair_supported(f, g) ||
                               (f->kind == MLPF_ACT_RELU && g->kind == MLPF_ACT_RELU));
    return closed ? TERM_ULPS * DBL_EPSILON : 1e-14;
}

static double single_rel_err(const gauss_ctx *c, const mlpf_activation *f) {
    int closed = !c->no_cf && (mlpf_cf_single_supported(f) || f->kind == MLPF_ACT_RELU);
    return closed ? TERM_ULPS * DBL_EPSILON : 1e-14;
}

/* parameter index of component r (0..din-1 weights, din bias) of hidden unit i, or -1 */
static long th(const gauss_ctx *c, int i, int r) {
    if (r == c->din && !c->sb) return -1;
    return (long)i * (c->din + c->sb) + r;
}

/* H[theta_i, theta_j] += s B (and the mirrored block when i != j) */
static void add_block(const gauss_ctx *c, double *H, int i, int j, const double *B, double s) {
    int d1 = c->din + 1;
    size_t P = c->P;
    for (int r = 0; r < d1; r++) {
        long R = th(c, i, r);
        if (R < 0) continue;
        for (int q = 0; q < d1; q++) {
            long C = th(c, j, q);
            if (C < 0) continue;
            double v = s * B[r * d1 + q];
            H[(size_t)R * P + (size_t)C] += v;
            if (i != j) H[(size_t)C * P + (size_t)R] += v;
        }
    }
}

/* H[theta_i, col] and H[col, theta_i] += s v */
static void add_col(const gauss_ctx *c, double *H, int i, size_t col, const double *v, double s) {
    size_t P = c->P;
    for (int r = 0; r <= c->din; r++) {
        long R = th(c, i, r);
        if (R < 0) continue;
        H[(size_t)R * P + col] += s * v[r];
        H[col * P + (size_t)R] += s * v[r];
    }
}

/* One evaluation's inputs, scratch and outputs, shared by its steps below. */
typedef struct {
    const gauss_ctx *c;
    gauss_work w;
    const double *x;       /* (P) parameters */
    const double *a;       /* (k + sob) output weights, x + off2 */
    double d0;             /* a0 - c0: student minus teacher output bias */
    int need;              /* 0 loss, 1 + gradient, 2 + Hessian */
    int outbias;           /* student or teacher has an output bias */
    double loss;
    double loss_err;       /* bound of the terms' own errors */
    double *ga;            /* (k + sob) output-weight gradient, inside grad, or NULL */
    double *hess;          /* (P, P) or NULL */
} gauss_eval_state;

/* One term of the loss into the sum, and its error into the bound; rel is
   the term's own relative error (+ its products and the addition). */
static void loss_add(gauss_eval_state *st, double term, double rel) {
    st->loss += term;
    st->loss_err += (rel + 2 * DBL_EPSILON) * fabs(term);
}

/* hidden unit i of the student: its weights (din) and bias */
static const double *student_unit(const gauss_eval_state *st, int i, double *bias) {
    const gauss_ctx *c = st->c;
    const double *wi = st->x + (size_t)i * (size_t)(c->din + c->sb);
    *bias = c->sb ? wi[c->din] : 0.0;
    return wi;
}

/* S_ii and its derivatives: S_ii(theta) = J(theta, theta), so they add up over both
   slots. G (k, din + 1) collects dL/dtheta_i / a_i. */
static void add_self_pair(gauss_eval_state *st, int i) {
    const gauss_ctx *c = st->c;
    int d1 = c->din + 1, k = c->k;
    const double *a = st->a;
    double bi, *G = st->w.G;
    const double *wi = student_unit(st, i, &bi);
    mlpf_pair_out *o = &st->w.out;
    pair_eval(c, &st->w, &c->sact, &c->sact, wi, bi, wi, bi, st->need, 1);
    st->w.S[i * k + i] = o->val;
    if (!st->need) return;
    for (int r = 0; r < d1; r++) G[i * d1 + r] += a[i] * (o->gi[r] + o->gj[r]);
    if (!st->hess) return;
    add_block(c, st->hess, i, i, o->hii, a[i] * a[i]);
    add_block(c, st->hess, i, i, o->hjj, a[i] * a[i]);
    for (int r = 0; r < d1; r++)  /* hij + hij^T, symmetric */
        for (int q = 0; q < d1; q++) o->hii[r * d1 + q] = o->hij[r * d1 + q] + o->hij[q * d1 + r];
    add_block(c, st->hess, i, i, o->hii, a[i] * a[i]);
    for (int r = 0; r < d1; r++) o->gi[r] += o->gj[r];
    add_col(c, st->hess, i, c->off2 + (size_t)i, o->gi, a[i]);
}

/* S_ij = S_ji (i < j) and its derivatives in theta_i, theta_j, a_i, a_j. */
static void add_student_pair(gauss_eval_state *st, int i, int j) {
    const gauss_ctx *c = st->c;
    int d1 = c->din + 1, k = c->k;
    const double *a = st->a;
    double bi, bj, *G = st->w.G;
    const double *wi = student_unit(st, i, &bi), *wj = student_unit(st, j, &bj);
    mlpf_pair_out *o = &st->w.out;
    pair_eval(c, &st->w, &c->sact, &c->sact, wi, bi, wj, bj, st->need, 1);
    st->w.S[i * k + j] = st->w.S[j * k + i] = o->val;
    if (!st->need) return;
    for (int r = 0; r < d1; r++) {
        G[i * d1 + r] += 2 * a[j] * o->gi[r];
        G[j * d1 + r] += 2 * a[i] * o->gj[r];
    }
    if (!st->hess) return;
    add_block(c, st->hess, i, i, o->hii, 2 * a[i] * a[j]);
    add_block(c, st->hess, j, j, o->hjj, 2 * a[i] * a[j]);
    add_block(c, st->hess, i, j, o->hij, 2 * a[i] * a[j]);
    add_col(c, st->hess, i, c->off2 + (size_t)j, o->gi, 2 * a[i]);
    add_col(c, st->hess, j, c->off2 + (size_t)i, o->gj, 2 * a[j]);
}

/* -2 a_i sum_j c_j T_ij and its derivatives, for student unit i against every teacher unit. */
static void add_teacher_pairs(gauss_eval_state *st, int i) {
    const gauss_ctx *c = st->c;
    int din = c->din, d1 = din + 1;
    const double *a = st->a;
    double bi, ti = 0, *G = st->w.G;
    const double *wi = student_unit(st, i, &bi);
    mlpf_pair_out *o = &st->w.out;
    double rel = pair_rel_err(c, &c->sact, &c->tact), abs_ti = 0;
    for (int j = 0; j < c->m; j++) {
        pair_eval(c, &st->w, &c->sact, &c->tact, wi, bi, c->tw + (size_t)j * din, c->tbias[j], st->need, 0);
        ti += c->tc[j] * o->val;
        abs_ti += fabs(c->tc[j] * o->val);
        if (!st->need) continue;
        for (int r = 0; r < d1; r++) G[i * d1 + r] -= 2 * c->tc[j] * o->gi[r];
        if (st->hess) add_block(c, st->hess, i, i, o->hii, -2 * a[i] * c->tc[j]);
    }
    loss_add(st, -2 * a[i] * ti, 0);
    st->loss_err += rel * 2 * fabs(a[i]) * abs_ti;
    if (st->ga) st->ga[i] -= 2 * ti;
}

/* m_i = E[g(u_i)] for the output biases: 2 d0 a_i m_i and its derivatives. */
static void add_single(gauss_eval_state *st, int i) {
    const gauss_ctx *c = st->c;
    int d1 = c->din + 1;
    double bi, *G = st->w.G;
    const double *wi = student_unit(st, i, &bi);
    mlpf_pair_out *o = &st->w.out;
    single_eval(c, &st->w, &c->sact, wi, bi, st->need);
    st->w.ms[i] = o->val;
    if (st->need)
        for (int r = 0; r < d1; r++) G[i * d1 + r] += 2 * st->d0 * o->gi[r];
    if (st->hess) {
        add_block(c, st->hess, i, i, o->hii, 2 * st->d0 * st->a[i]);
        if (c->sob) add_col(c, st->hess, i, c->off2 + (size_t)c->k, o->gi, 2 * st->a[i]);
    }
}

/* sum_ij a_i a_j S_ij and its output-weight derivatives; S (k, k), ms (k). */
static void add_output_weight_terms(gauss_eval_state *st) {
    const gauss_ctx *c = st->c;
    int k = c->k;
    size_t P = c->P;
    const double *a = st->a, *S = st->w.S;
    double rel = pair_rel_err(c, &c->sact, &c->sact);
    for (int i = 0; i < k; i++) {
        /* a_i (sum_j a_j S_ij): the inner sum cancels first, at the scale of
           |a| (a split unit's copies have equal S entries to the last bit);
           the products a_i a_j S_ij summed one by one would each carry
           |a|^2 eps (measured: 1e3x worse at |a| = 1e4) */
        double si = 0, abs_si = 0;
        for (int j = 0; j < k; j++) {
            si += a[j] * S[i * k + j];
            abs_si += fabs(a[j] * S[i * k + j]);
        }
        loss_add(st, a[i] * si, 0);
        st->loss_err += rel * fabs(a[i]) * abs_si;
        if (st->ga) st->ga[i] += 2 * si + (st->outbias ? 2 * st->d0 * st->w.ms[i] : 0.0);
        if (st->hess)
            for (int j = 0; j < k; j++) st->hess[(c->off2 + i) * P + c->off2 + j] += 2 * S[i * k + j];
    }
}

/* 2 d0 (sum_i a_i m_i - sum_j c_j n_j) + d0^2 and the output bias's derivatives. */
static void add_output_bias_terms(gauss_eval_state *st) {
    const gauss_ctx *c = st->c;
    int k = c->k;
    size_t P = c->P;
    const double *a = st->a, *ms = st->w.ms;
    double am = 0, cn = 0, d0 = st->d0, err = 0;
    double rs = single_rel_err(c, &c->sact), rt = single_rel_err(c, &c->tact);
    for (int i = 0; i < k; i++) {
        am += a[i] * ms[i];
        err += (rs + 2 * DBL_EPSILON) * fabs(2 * d0 * a[i] * ms[i]);
    }
    for (int j = 0; j < c->m; j++) {
        cn += c->tc[j] * c->tn[j];
        err += (rt + 2 * DBL_EPSILON) * fabs(2 * d0 * c->tc[j] * c->tn[j]);
    }
    loss_add(st, 2 * d0 * (am - cn) + d0 * d0, 2 * DBL_EPSILON);
    st->loss_err += err;
    if (c->sob && st->ga) st->ga[k] = 2 * (am - cn) + 2 * d0;
    if (c->sob && st->hess) {
        size_t i0 = c->off2 + (size_t)k;
        for (int i = 0; i < k; i++) {
            st->hess[i0 * P + c->off2 + i] += 2 * ms[i];
            st->hess[(c->off2 + i) * P + i0] += 2 * ms[i];
        }
        st->hess[i0 * P + i0] += 2;
    }
}

/* hidden-layer gradient a_i G_i (grad (P)); d2L/dtheta_i da_i also gets G_i. */
static void add_hidden_terms(const gauss_eval_state *st, double *grad) {
    const gauss_ctx *c = st->c;
    int d1 = c->din + 1;
    const double *G = st->w.G;
    if (grad)
        for (int i = 0; i < c->k; i++)
            for (int r = 0; r < d1; r++) {
                long R = th(c, i, r);
                if (R >= 0) grad[R] = st->a[i] * G[i * d1 + r];
            }
    if (st->hess)
        for (int i = 0; i < c->k; i++) add_col(c, st->hess, i, c->off2 + (size_t)i, G + (size_t)i * d1, 1.0);
}

/* x (P) -> loss, grad (P), hess (P, P) and the loss's error bound;
   P = k (din + sb) + k + sob */
static int gauss_eval_err(const gauss_ctx *c, const double *x, double *loss, double *loss_err,
                          double *grad, double *hess, mlpf_error *err) {
    gauss_eval_state st = {.c = c, .x = x, .a = x + c->off2, .hess = hess};
    if (work_alloc(c, &st.w, err)) return MLPF_ENOMEM;
    st.need = hess ? 2 : grad ? 1 : 0;
    st.d0 = (c->sob ? st.a[c->k] : 0.0) - c->tc0;
    st.outbias = c->sob || c->tob;
    st.ga = grad ? grad + c->off2 : NULL;
    if (hess) memset(hess, 0, sizeof(double) * c->P * c->P);
    for (int i = 0; i < c->k; i++) {
        add_self_pair(&st, i);
        for (int j = i + 1; j < c->k; j++) add_student_pair(&st, i, j);
    }
    if (st.ga) memset(st.ga, 0, sizeof(double) * (size_t)(c->k + c->sob));
    for (int i = 0; i < c->k; i++) {
        add_teacher_pairs(&st, i);
        if (st.outbias) add_single(&st, i);
    }
    add_output_weight_terms(&st);
    if (st.outbias) add_output_bias_terms(&st);
    loss_add(&st, c->U, 0);
    add_hidden_terms(&st, grad);
    double L = st.loss;
    if (loss) *loss = L;
    if (loss_err) *loss_err = st.loss_err + c->U_err + 2 * DBL_EPSILON * fabs(L);
    free(st.w.buf);
    return MLPF_OK;
}

static int gauss_eval(void *vctx, const double *x, const size_t *subset, size_t nsubset,
                      double *loss, double *grad, double *hess, mlpf_error *err) {
    (void)subset;
    (void)nsubset;
    return gauss_eval_err(vctx, x, loss, NULL, grad, hess, err);
}

static int gauss_loss_error(void *vctx, const double *x, double *loss_err, mlpf_error *err) {
    return gauss_eval_err(vctx, x, NULL, loss_err, NULL, NULL, err);
}

static int check_net(const mlpf_net *net, const char *who, mlpf_error *err) {
    static const char *alt = "; the exact Gaussian objective supports one hidden layer (one activation "
                             "for the layer, optional bias, no softmax) and one linear output unit; "
                             "otherwise use \"data\": {\"gaussian\": \"gauss-hermite\"} (din <= 2) or "
                             "{\"samples\": N}";
    if (net->nlayers != 2)
        return mlpf_fail(err, MLPF_EUNSUPPORTED, "%s has %d layers%s", who, net->nlayers, alt);
    const mlpf_layer *L1 = &net->layers[0], *L2 = &net->layers[1];
    if (!L1->shared_act)
        return mlpf_fail(err, MLPF_EUNSUPPORTED, "%s has one activation per hidden neuron%s", who, alt);
    if (L1->acts[0].kind == MLPF_ACT_SOFTMAX || L1->acts[0].kind >= MLPF_ACT_COUNT)
        return mlpf_fail(err, MLPF_EUNSUPPORTED, "%s hidden activation %s is not supported%s", who,
                         mlpf_activation_name(L1->acts[0].kind), alt);
    if (L2->units != 1)
        return mlpf_fail(err, MLPF_EUNSUPPORTED, "%s has %d outputs%s", who, L2->units, alt);
    if (!L2->shared_act || L2->acts[0].kind != MLPF_ACT_IDENTITY)
        return mlpf_fail(err, MLPF_EUNSUPPORTED, "%s output activation is %s, not identity%s", who,
                         mlpf_activation_name(L2->acts[0].kind), alt);
    return MLPF_OK;
}

mlpf_objective *mlpf_objective_gaussian_opts(const mlpf_net *teacher, const double *teacher_params,
                                             const mlpf_net *student, int min_order,
                                             int no_closed_forms, mlpf_error *err) {
    if (!teacher || !teacher_params || !student) {
        mlpf_fail(err, MLPF_EINVAL, "gaussian objective: teacher, teacher_params and student are required");
        return NULL;
    }
    if (mlpf_net_validate(teacher, err) || mlpf_net_validate(student, err)) return NULL;
    if (check_net(teacher, "teacher", err) || check_net(student, "student", err)) return NULL;
    if (teacher->din != student->din) {
        mlpf_fail(err, MLPF_EUNSUPPORTED, "teacher din %d differs from student din %d; both see the same input",
                  teacher->din, student->din);
        return NULL;
    }
    size_t bad = mlpf_first_nonfinite(teacher_params, teacher->nparams);
    if (bad) {
        mlpf_fail(err, MLPF_ENONFINITE, "teacher parameter %zu is not finite", bad - 1);
        return NULL;
    }
    gauss_ctx *c = mlpf_calloc(1, sizeof *c, err);
    if (!c) return NULL;
    int din = student->din, m = teacher->layers[0].units;
    c->din = din;
    c->k = student->layers[0].units;
    c->m = m;
    c->sb = student->layers[0].bias;
    c->sob = student->layers[1].bias;
    c->tb = teacher->layers[0].bias;
    c->tob = teacher->layers[1].bias;
    c->sact = student->layers[0].acts[0];
    c->tact = teacher->layers[0].acts[0];
    c->P = student->nparams;
    c->off2 = student->layers[1].offset;
    c->no_cf = no_closed_forms;
    c->student = mlpf_net_copy(student, err);
    c->tw = mlpf_malloc(sizeof(double) * (size_t)(m * din), err);
    c->tbias = mlpf_calloc((size_t)m, sizeof(double), err);
    c->tc = mlpf_malloc(sizeof(double) * (size_t)m, err);
    c->tn = mlpf_calloc((size_t)m, sizeof(double), err);
    if (!c->student || !c->tw || !c->tbias || !c->tc || !c->tn) { gauss_ctx_free(c); return NULL; }
    if (mlpf_gq_rules_init(&c->rules, err) || mlpf_cf_init(&c->cf, err)) { gauss_ctx_free(c); return NULL; }
    c->rules.min_order = min_order;
    int tw = din + c->tb;
    const double *t2 = teacher_params + teacher->layers[1].offset;
    for (int j = 0; j < m; j++) {
        memcpy(c->tw + (size_t)j * din, teacher_params + (size_t)j * tw, sizeof(double) * (size_t)din);
        if (c->tb) c->tbias[j] = teacher_params[(size_t)j * tw + din];
        c->tc[j] = t2[j];
    }
    c->tc0 = c->tob ? t2[m] : 0.0;
    /* teacher constants: U = sum_jl c_j c_l E[h_j h_l], n_j = E[h_j] */
    gauss_work w;
    if (work_alloc(c, &w, err)) { gauss_ctx_free(c); return NULL; }
    gauss_eval_state us = {.c = c};  /* only its sum and error bound */
    double rel = pair_rel_err(c, &c->tact, &c->tact);
    for (int j = 0; j < m; j++) {
        const double *vj = c->tw + (size_t)j * din;
        for (int l = j; l < m; l++) {
            pair_eval(c, &w, &c->tact, &c->tact, vj, c->tbias[j], c->tw + (size_t)l * din, c->tbias[l], 0, 0);
            loss_add(&us, (l == j ? 1.0 : 2.0) * c->tc[j] * c->tc[l] * w.out.val, rel);
        }
        single_eval(c, &w, &c->tact, vj, c->tbias[j], 0);
        c->tn[j] = w.out.val;
    }
    free(w.buf);
    c->U = us.loss;
    c->U_err = us.loss_err + DBL_EPSILON * fabs(c->U);
    mlpf_objective_ops ops = {.name = "gaussian", .nparams = c->P, .nsamples = 0,
                              .eval = gauss_eval, .free_ctx = gauss_ctx_free};
    mlpf_objective *obj = mlpf_objective_custom(&ops, c, err);
    if (!obj) return NULL;
    obj->net = c->student;
    obj->loss_error = gauss_loss_error;
    return obj;
}

mlpf_objective *mlpf_objective_gaussian(const mlpf_net *teacher, const double *teacher_params,
                                        const mlpf_net *student, mlpf_error *err) {
    return mlpf_objective_gaussian_opts(teacher, teacher_params, student, 0, 0, err);
}

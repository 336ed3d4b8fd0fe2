/* descent.c - gradient descent and Adam, full batch or minibatches.

   Time is lr * steps for both, so that gd's "time" is comparable with flow
   time (gd with step lr is Euler's method on the gradient flow). With
   minibatches the full loss and gradient (best point, stops, progress) are
   evaluated once per epoch; each step costs one minibatch gradient. */
#include "dynamics/dynamics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t dyn_batch(size_t batchsize, size_t nsamples, const size_t *perm, size_t b, size_t *idx) {
    size_t lo = b * batchsize, hi = lo + batchsize;
    if (hi > nsamples) hi = nsamples;
    for (size_t i = lo; i < hi; i++) idx[i - lo] = perm ? perm[i] : i;
    return hi > lo ? hi - lo : 0;
}

void dyn_shuffle(size_t *perm, size_t n, mlpf_rng *r) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(mlpf_rng_uniform(r) * (double)i); /* 0 <= j < i */
        if (j >= i) j = i - 1;
        size_t tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
}

/* y (p) -= lr * g (p) */
static void gd_step(double *y, const double *g, size_t p, double lr) {
    for (size_t i = 0; i < p; i++) y[i] -= lr * g[i];
}

/* y, m, v (p); bias-corrected Adam step number k >= 1 */
static void adam_step(double *y, double *m, double *v, const double *g, size_t p, long k,
                      const mlpf_train_options *o) {
    double c1 = 1 - pow(o->beta1, (double)k), c2 = 1 - pow(o->beta2, (double)k);
    for (size_t i = 0; i < p; i++) {
        m[i] = o->beta1 * m[i] + (1 - o->beta1) * g[i];
        v[i] = o->beta2 * v[i] + (1 - o->beta2) * g[i] * g[i];
        y[i] -= o->lr * (m[i] / c1) / (sqrt(v[i] / c2) + o->eps);
    }
}

int dyn_descent(dyn_problem *pb, const char *alg, const double *y0, dyn_traj *tr,
                dyn_outcome *out, mlpf_error *err) {
    const mlpf_train_options *o = pb->opt;
    size_t p = pb->p, N = mlpf_objective_nsamples(pb->obj);
    int adam = !strcmp(alg, "adam");
    size_t B = o->batchsize > 0 && o->batchsize < N ? o->batchsize : 0;
    size_t nb = B ? (N + B - 1) / B : 1;
    dyn_limits lim = dyn_limits_flow(pb);
    int st = MLPF_ENOMEM;
    double *y = mlpf_malloc(p * sizeof *y, err);
    double *g = mlpf_malloc(p * sizeof *g, err);
    double *gb = B ? mlpf_malloc(p * sizeof *gb, err) : NULL;
    double *m = adam ? mlpf_calloc(p, sizeof *m, err) : NULL;
    double *v = adam ? mlpf_calloc(p, sizeof *v, err) : NULL;
    size_t *perm = B ? mlpf_malloc(N * sizeof *perm, err) : NULL;
    size_t *idx = B ? mlpf_malloc(B * sizeof *idx, err) : NULL;
    if (!y || !g || (B && (!gb || !perm || !idx)) || (adam && (!m || !v))) goto done;
    mlpf_rng rng;
    mlpf_rng_seed(&rng, o->seed);
    for (size_t i = 0; B && i < N; i++) perm[i] = i;

    memcpy(y, y0, p * sizeof *y);
    double loss;
    st = mlpf_objective_eval(pb->obj, y, &loss, g, NULL, err);
    if (st) goto done;
    double gnorm = dyn_gnorm(pb, g);
    memcpy(out->ybest, y, p * sizeof *y);
    out->loss_best = loss;
    size_t b = 0;
    double t = 0;
    dyn_state s = {loss, gnorm, 0, 0, 0};
    dyn_stop why = dyn_stop_test(pb, &lim, &s);
    while (!why) {
        const double *step_g = g;
        if (B) {
            if (b == 0 && o->shuffle) dyn_shuffle(perm, N, &rng);
            size_t n = dyn_batch(B, N, o->shuffle ? perm : NULL, b, idx);
            st = mlpf_objective_eval_subset(pb->obj, y, idx, n, NULL, gb, NULL, err);
            if (st) goto done;
            step_g = gb;
        }
        if (adam) adam_step(y, m, v, step_g, p, s.it + 1, o);
        else gd_step(y, step_g, p, o->lr);
        s.it++;
        s.since_best++;
        t = o->lr * (double)s.it;
        b = (b + 1) % nb;

        int full = !B || b == 0; /* full batch, or the end of an epoch */
        if (full) {
            if (mlpf_first_nonfinite(y, p)) { why = DYN_SOLVER_FAILURE; break; }
            st = mlpf_objective_eval(pb->obj, y, &loss, g, NULL, err);
            if (st) goto done;
            if (!isfinite(loss) || mlpf_first_nonfinite(g, p)) { why = DYN_SOLVER_FAILURE; break; }
            gnorm = dyn_gnorm(pb, g);
            if (loss < out->loss_best) {
                out->loss_best = loss;
                memcpy(out->ybest, y, p * sizeof *y);
                s.since_best = 0;
            }
            dyn_progress(pb, "ode", t, loss, gnorm, o->lr, s.it);
        }
        if (!isnan(dyn_traj_due(tr, t)) && (st = dyn_traj_add(tr, pb, t, y, full ? loss : NAN, err)))
            goto done;
        /* between epochs the loss and gradient are not known */
        s.f = full ? loss : NAN;
        s.gnorm = full ? gnorm : NAN;
        s.at_end = t >= o->maxT;
        why = dyn_stop_test(pb, &lim, &s);
    }
    out->stopped_by = why;
    out->iterations = s.it;
    out->t = t;
    if (mlpf_first_nonfinite(y, p)) memcpy(y, out->ybest, p * sizeof *y);
    st = dyn_traj_add(tr, pb, t, y, NAN, err);
done:
    free(y);
    free(g);
    free(gb);
    free(m);
    free(v);
    free(perm);
    free(idx);
    out->wall = mlpf_now() - lim.wall0;
    return st;
}

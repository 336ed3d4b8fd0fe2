/* traj.c - the trajectory a flow or descent phase records: samples at
   log-spaced flow times, thinned when an open-ended flow fills the buffer. */
#include "dynamics/dynamics.h"

#include <math.h>
#include <string.h>

int dyn_traj_init(dyn_traj *tr, int cap, double maxT, size_t P, mlpf_error *err) {
    memset(tr, 0, sizeof *tr);
    tr->cap = cap > 0 ? cap : 0;
    tr->P = P;
    tr->maxT = maxT;
    tr->next = NAN;
    tr->jlast = -1;
    if (!tr->cap) return MLPF_OK;
    tr->t = mlpf_malloc((size_t)tr->cap * sizeof *tr->t, err);
    tr->loss = mlpf_malloc((size_t)tr->cap * sizeof *tr->loss, err);
    tr->x = mlpf_malloc((size_t)tr->cap * P * sizeof *tr->x, err);
    if (!tr->t || !tr->loss || !tr->x) {
        dyn_traj_free(tr);
        return MLPF_ENOMEM;
    }
    return MLPF_OK;
}

void dyn_traj_free(dyn_traj *tr) {
    free(tr->t);
    free(tr->x);
    free(tr->loss);
    tr->t = tr->x = tr->loss = NULL;
}

static double traj_grid(const dyn_traj *tr, long j) {
    if (j == tr->jlast) return tr->maxT;
    return tr->t1 * pow(tr->ratio, (double)j);
}

double dyn_traj_due(dyn_traj *tr, double t) {
    if (tr->cap < 3) return NAN; /* only the start and the end are kept */
    if (isnan(tr->next)) {
        tr->t1 = t;
        tr->j = 0;
        if (isfinite(tr->maxT)) {
            if (tr->maxT > t * (1 + 1e-12)) {
                tr->ratio = pow(tr->maxT / t, 1.0 / (tr->cap - 2));
                tr->jlast = tr->cap - 2;
            } else {
                tr->ratio = 2;
                tr->jlast = 0;
            }
        } else {
            int ppd = (tr->cap - 2) / 4;
            tr->ratio = pow(10.0, 1.0 / (ppd > 1 ? ppd : 1));
        }
        tr->next = t;
    }
    return tr->next <= t ? tr->next : NAN;
}

/* Keep t = 0 and every other grid sample: the grid stays log-spaced with
   twice the ratio. */
static void traj_thin(dyn_traj *tr) {
    int m = 1;
    for (int i = 1; i < tr->n; i += 2, m++) {
        tr->t[m] = tr->t[i];
        tr->loss[m] = tr->loss[i];
        memmove(tr->x + (size_t)m * tr->P, tr->x + (size_t)i * tr->P, tr->P * sizeof *tr->x);
    }
    tr->n = m;
    /* kept grid indices were 0, 2, 4, ...: the next is the even one after */
    tr->ratio *= tr->ratio;
    tr->j = (tr->j + 1) / 2;
    tr->next = traj_grid(tr, tr->j);
}

int dyn_traj_add(dyn_traj *tr, const dyn_problem *pb, double t, const double *y, double loss,
                 mlpf_error *err) {
    if (!tr->cap) return MLPF_OK;
    if (tr->n > 0 && t <= tr->t[tr->n - 1]) return MLPF_OK; /* already have it */
    if (isnan(loss)) {
        int st = mlpf_objective_eval(pb->obj, y, &loss, NULL, NULL, err);
        if (st) return st;
    }
    if (tr->n >= tr->cap) {
        tr->n = tr->cap - 1; /* only with cap < 3: keep the newest as the end */
    } else if (tr->n == tr->cap - 1 && tr->cap >= 3 && !isfinite(tr->maxT)) {
        traj_thin(tr);      /* open-ended grid: halve the density */
    }
    tr->t[tr->n] = t;
    tr->loss[tr->n] = loss;
    dyn_y_to_x(pb, y, tr->x + (size_t)tr->n * tr->P);
    tr->n++;
    if (!isnan(tr->next))
        while (tr->next <= t) {
            tr->j++;
            if (tr->jlast >= 0 && tr->j > tr->jlast) {
                tr->next = INFINITY;
                break;
            }
            tr->next = traj_grid(tr, tr->j);
        }
    return MLPF_OK;
}

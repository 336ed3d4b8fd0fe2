/* tauinv.h - the tauinv change of variables as an objective wrapper: the
   free parameters (tauinv > 0) become y with x[idx[i]] = scale[i] * y[i],
   scale = sqrt(tauinv); frozen ones (tauinv == 0) keep their value x0. Plain
   gradient flow in y is dx/dt = -tauinv * grad_x L. Not installed. */
#ifndef MLPF_TAUINV_H
#define MLPF_TAUINV_H

#include "internal.h"

typedef struct {
    mlpf_objective *obj;          /* objective of y (p variables); NULL when p == 0 */
    size_t P, p;                  /* all parameters, free ones                      */
    size_t *idx;                  /* (p) parameter index of y[i]                    */
    double *scale;                /* (p) sqrt(tauinv[idx[i]])                        */
    double *xfix;                 /* (P) x0: the values of the frozen parameters    */
} mlpf_tauinv;

/* Wrap base for tauinv (ntauinv 1 = scalar, or P values, finite and >= 0;
   NULL = all one). *out is NULL when every tauinv is 1 (no wrapper needed).
   base must outlive *out. */
int mlpf_tauinv_create(const mlpf_objective *base, const double *x0, const double *tauinv,
                       size_t ntauinv, mlpf_tauinv **out, mlpf_error *err);
void mlpf_tauinv_free(mlpf_tauinv *t);

#endif

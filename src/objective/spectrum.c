/* spectrum.c - Hessian eigen-decomposition through LAPACK (dsyevd). */
#include "internal.h"

#include <lapacke.h>
#include <string.h>

int mlpf_spectrum(const double *hess, size_t p, double *evals, double *evecs, mlpf_error *err) {
    if (!hess || !evals || p == 0) return mlpf_fail(err, MLPF_EINVAL, "spectrum: empty Hessian");
    size_t bad = mlpf_first_nonfinite(hess, p * p);
    if (bad) return mlpf_fail(err, MLPF_ENONFINITE, "spectrum: Hessian entry (%zu, %zu) is not finite", (bad - 1) / p, (bad - 1) % p);
    double *a = evecs ? evecs : mlpf_malloc(p * p * sizeof *a, err);
    if (!a) return MLPF_ENOMEM;
    memcpy(a, hess, p * p * sizeof *a);
    /* Row-major upper triangle = column-major lower: either way the symmetric matrix. */
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, evecs ? 'V' : 'N', 'U', (lapack_int)p, a,
                                     (lapack_int)p, evals);
    if (!evecs) free(a);
    if (info != 0) return mlpf_fail(err, MLPF_ENUMERIC, "spectrum: LAPACK dsyevd failed (info %d)", (int)info);
    return MLPF_OK;
}

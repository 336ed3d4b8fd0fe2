/* analysis_sym.h - what the symmetry files share (not installed). */
#ifndef MLPF_ANALYSIS_SYM_H
#define MLPF_ANALYSIS_SYM_H
#include "internal.h"

/* Symmetries of one unit's activation sigma:
   MLPF_SYM_ODD          sigma(-u) = -sigma(u): (w, a) -> (-w, -a) keeps the function;
   MLPF_SYM_HOMOGENEOUS  sigma(c u) = c sigma(u) for c > 0: (w, a) -> (c w, a / c). */
enum { MLPF_SYM_ODD = 1, MLPF_SYM_HOMOGENEOUS = 2 };
int mlpf_unit_symmetry(const mlpf_activation *a);

/* Minimum-cost assignment (Hungarian algorithm), cost (n, m) row-major, finite.
   n <= m: every row gets a distinct column, col_of_row (n). */
int mlpf_hungarian(const double *cost, size_t n, size_t m, int *col_of_row, mlpf_error *err);

/* One hidden unit's weights viewed in place: its incoming row (c entries, bias
   last) and its outgoing column (nout entries, stride apart). */
typedef struct {
    double *row;
    size_t c;
    double *col;
    size_t nout, stride;
} mlpf_unit_view;

mlpf_unit_view mlpf_unit_at(const mlpf_net *net, double *x, int layer, int unit);
/* Fold the positive scale of a homogeneous unit into its column: |row| = 1
   (rows that are 0 stay). */
void mlpf_unit_normalize_scale(mlpf_unit_view u);
/* (row, col) -> (-row, -col). */
void mlpf_unit_flip(mlpf_unit_view u);
#endif

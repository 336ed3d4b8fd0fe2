/* analysis.h - shared by the analysis sources (classify, channels, critical
   points, the GLU objective). Not installed. */
#ifndef MLPF_ANALYSIS_H
#define MLPF_ANALYSIS_H

#include "internal.h"

/* 1 for odd activations with sigma(0) = 0 and sigma'(0) != 0 (tanh, sigmoid2):
   the ones with a single-unit channel (a linear unit in the limit). The one
   place that knows this until the activation table carries the metadata. */
int mlpf_act_is_odd_linear(const mlpf_activation *a);

/* d^3 sigma / du^3 at u (NAN for softmax); activation_d3.c. */
double mlpf_activation_d3(const mlpf_activation *a, double u);

/* Samples (m, din) and weights (m, summing to m) whose weighted mean is the
   expectation over x ~ N(0, I_din) of any function of the two projections
   p.x and q.x (p, q of length din): 2-D Gauss-Hermite nodes in the plane
   spanned by p and q (exact grid when din <= 2). Arrays are malloc'ed. */
int mlpf_gaussian_plane_samples(int din, const double *p, const double *q, double **input,
                                double **weights, size_t *m, mlpf_error *err);

/* The inputs (n, inputs) of hidden layer `layer` (the previous layer's outputs,
   or the data themselves for layer 0) and that layer's next-layer
   pre-activations z (n, units of layer + 1); either output may be NULL. */
int mlpf_layer_io(const mlpf_net *net, const double *x, const double *input, size_t n, int layer,
                  double **layer_input, double **next_z, mlpf_error *err);

/* Largest |eigenvalue| of a symmetric matrix given its ascending eigenvalues. */
static inline double mlpf_spectral_norm(const double *evals, size_t p) {
    if (!p) return 0;
    double a = evals[0] < 0 ? -evals[0] : evals[0], b = evals[p - 1] < 0 ? -evals[p - 1] : evals[p - 1];
    return a > b ? a : b;
}

#endif

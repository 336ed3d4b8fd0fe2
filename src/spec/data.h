/* data.h - a data set checked against a network: the one place where inputs,
   targets, class labels and sample weights are validated (the finite objective,
   the problem file and mlpf_predict call these). Each message starts with
   `what`, the caller's name for the array ("target", or "Y.npy" with its file
   name). */
#ifndef MLPF_DATA_H
#define MLPF_DATA_H

#include "internal.h"

/* v (rows, cols) all finite, else MLPF_ENONFINITE:
   "<what>: non-finite value nan at row r, column c (counting from 0)". */
int mlpf_data_check_finite(const char *what, const double *v, size_t rows, size_t cols,
                           mlpf_error *err);
/* labels (n) are integers 0..nclasses-1, else MLPF_EINVAL naming the row. */
int mlpf_data_check_labels(const char *what, const double *labels, size_t n, int nclasses,
                           mlpf_error *err);
/* weights (n) are finite and >= 0, else MLPF_EINVAL / MLPF_ENONFINITE naming the index. */
int mlpf_data_check_weights(const char *what, const double *weights, size_t n, mlpf_error *err);
/* The loss fits the output layer: cross-entropy needs softmax, softmax needs it. */
int mlpf_data_check_loss(const mlpf_net *net, mlpf_loss_kind loss, mlpf_error *err);
/* 1 when a target with tcols columns holds class labels: cross-entropy, one
   column, more than one class. */
int mlpf_data_labels(const mlpf_net *net, mlpf_loss_kind loss, size_t tcols);
/* A target with tcols columns fits the output layer (dout columns, or labels). */
int mlpf_data_check_target_cols(const char *what, const mlpf_net *net, mlpf_loss_kind loss,
                                size_t tcols, mlpf_error *err);

#endif

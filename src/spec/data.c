/* data.c - the checks a data set passes before it becomes an objective (see
   data.h): one implementation, so the library and the problem file agree on
   what is valid and say it the same way. */
#include "spec/data.h"

#include <math.h>

int mlpf_data_check_finite(const char *what, const double *v, size_t rows, size_t cols,
                           mlpf_error *err) {
    size_t bad = mlpf_first_nonfinite(v, rows * cols);
    if (!bad) return MLPF_OK;
    size_t i = bad - 1;
    return mlpf_fail(err, MLPF_ENONFINITE, "%s: non-finite value %g at row %zu, column %zu "
                     "(counting from 0)", what, v[i], i / cols, i % cols);
}

int mlpf_data_check_labels(const char *what, const double *labels, size_t n, int nclasses,
                           mlpf_error *err) {
    for (size_t i = 0; i < n; i++) {
        double y = labels[i];
        if (y != floor(y) || y < 0 || y >= (double)nclasses)
            return mlpf_fail(err, MLPF_EINVAL, "%s: row %zu holds %g, not a class label 0..%d", what,
                             i, y, nclasses - 1);
    }
    return MLPF_OK;
}

int mlpf_data_check_weights(const char *what, const double *weights, size_t n, mlpf_error *err) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(weights[i]) || weights[i] < 0)
            return mlpf_fail(err, isfinite(weights[i]) ? MLPF_EINVAL : MLPF_ENONFINITE,
                             "%s: weight %zu is %g; sample weights must be finite and >= 0", what, i,
                             weights[i]);
    return MLPF_OK;
}

int mlpf_data_check_loss(const mlpf_net *net, mlpf_loss_kind loss, mlpf_error *err) {
    mlpf_act_kind out = net->layers[net->nlayers - 1].acts[0].kind;
    if (loss != MLPF_LOSS_MSE && loss != MLPF_LOSS_CROSSENTROPY)
        return mlpf_fail(err, MLPF_EINVAL, "unknown loss code %d", (int)loss);
    if (loss == MLPF_LOSS_CROSSENTROPY && out != MLPF_ACT_SOFTMAX)
        return mlpf_fail(err, MLPF_EINVAL, "loss crossentropy needs a softmax output layer (the "
                         "output layer is %s)", mlpf_activation_name(out));
    if (loss == MLPF_LOSS_MSE && out == MLPF_ACT_SOFTMAX)
        return mlpf_fail(err, MLPF_EINVAL, "a softmax output layer is trained with loss "
                         "\"crossentropy\", not mse");
    return MLPF_OK;
}

int mlpf_data_labels(const mlpf_net *net, mlpf_loss_kind loss, size_t tcols) {
    return loss == MLPF_LOSS_CROSSENTROPY && tcols == 1 && mlpf_net_dout(net) > 1;
}

int mlpf_data_check_target_cols(const char *what, const mlpf_net *net, mlpf_loss_kind loss,
                                size_t tcols, mlpf_error *err) {
    int dout = mlpf_net_dout(net);
    if (tcols == (size_t)dout || mlpf_data_labels(net, loss, tcols)) return MLPF_OK;
    return mlpf_fail(err, MLPF_EINVAL, "%s has %zu columns but the output layer (layers[%d]) has %d "
                     "units (the network has %d outputs)%s", what, tcols, net->nlayers - 1, dout, dout,
                     loss == MLPF_LOSS_CROSSENTROPY ? " (or give 1 column of integer labels)" : "");
}

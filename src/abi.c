/* abi.c - what a binding needs to check that it matches the loaded library:
   the version, and the size and field offsets of every public struct it
   mirrors (python/mlpflow/_lib.py compares its ctypes mirrors at import). */
#include "internal.h"

#include <stddef.h>
#include <string.h>

const char *mlpf_version(int *major, int *minor, int *patch) {
    if (major) *major = MLPF_VERSION_MAJOR;
    if (minor) *minor = MLPF_VERSION_MINOR;
    if (patch) *patch = MLPF_VERSION_PATCH;
    return MLPF_VERSION;
}

void mlpf_free(void *p) { free(p); }

typedef struct {
    const char *type, *field;  /* field NULL: the struct's own size */
    size_t value;
} abi_entry;

#define S(T) {#T, NULL, sizeof(T)}
#define F(T, f) {#T, #f, offsetof(T, f)}
static const abi_entry ABI[] = {
    S(mlpf_error), F(mlpf_error, status), F(mlpf_error, msg),
    S(mlpf_activation), F(mlpf_activation, kind), F(mlpf_activation, ncoef),
    F(mlpf_activation, coef),
    S(mlpf_finite_options), F(mlpf_finite_options, loss), F(mlpf_finite_options, threads),
    S(mlpf_merge), F(mlpf_merge, layer), F(mlpf_merge, i), F(mlpf_merge, j),
    F(mlpf_merge, lambda),
    S(mlpf_progress), F(mlpf_progress, t), F(mlpf_progress, elapsed), F(mlpf_progress, loss),
    F(mlpf_progress, gnorm), F(mlpf_progress, step), F(mlpf_progress, iteration),
    F(mlpf_progress, phase),
    S(mlpf_train_options), F(mlpf_train_options, alg), F(mlpf_train_options, maxT),
    F(mlpf_train_options, abstol), F(mlpf_train_options, reltol),
    F(mlpf_train_options, maxtime_ode), F(mlpf_train_options, maxiterations_ode),
    F(mlpf_train_options, rk4_step), F(mlpf_train_options, lr), F(mlpf_train_options, beta1),
    F(mlpf_train_options, beta2), F(mlpf_train_options, eps), F(mlpf_train_options, batchsize),
    F(mlpf_train_options, shuffle), F(mlpf_train_options, optim_solver),
    F(mlpf_train_options, maxtime_optim), F(mlpf_train_options, maxiterations_optim),
    F(mlpf_train_options, min_gnorm), F(mlpf_train_options, minloss),
    F(mlpf_train_options, patience), F(mlpf_train_options, tauinv),
    F(mlpf_train_options, ntauinv), F(mlpf_train_options, maxnorm),
    F(mlpf_train_options, merges), F(mlpf_train_options, nmerges),
    F(mlpf_train_options, n_samples_trajectory), F(mlpf_train_options, verbosity),
    F(mlpf_train_options, progress_interval), F(mlpf_train_options, progress),
    F(mlpf_train_options, progress_ctx), F(mlpf_train_options, seed),
    F(mlpf_train_options, interrupt),
    S(mlpf_result), F(mlpf_result, nparams), F(mlpf_result, x), F(mlpf_result, init),
    F(mlpf_result, ode_x), F(mlpf_result, loss), F(mlpf_result, ode_loss),
    F(mlpf_result, gnorm), F(mlpf_result, gnorm_regularized), F(mlpf_result, converged),
    F(mlpf_result, ode_stopped_by), F(mlpf_result, optim_stopped_by), F(mlpf_result, alg),
    F(mlpf_result, optim_solver), F(mlpf_result, ode_iterations),
    F(mlpf_result, optim_iterations), F(mlpf_result, ode_time_run),
    F(mlpf_result, optim_time_run), F(mlpf_result, ode_wall_time), F(mlpf_result, total_time),
    F(mlpf_result, ntrajectory), F(mlpf_result, trajectory_t), F(mlpf_result, trajectory_x),
    F(mlpf_result, loss_curve), F(mlpf_result, ode_kinks), F(mlpf_result, loss_error),
    F(mlpf_result, ode_retaken),
    S(mlpf_eigs_options), F(mlpf_eigs_options, ncv), F(mlpf_eigs_options, max_hvp),
    F(mlpf_eigs_options, tol), F(mlpf_eigs_options, seed), F(mlpf_eigs_options, deflate),
    S(mlpf_eigs_info), F(mlpf_eigs_info, nconv), F(mlpf_eigs_info, nhvp),
    F(mlpf_eigs_info, restarts), F(mlpf_eigs_info, hnorm), F(mlpf_eigs_info, ndeflated),
    S(mlpf_sweep_options), F(mlpf_sweep_options, threads), F(mlpf_sweep_options, extend),
    F(mlpf_sweep_options, verbosity), F(mlpf_sweep_options, progress_interval),
    F(mlpf_sweep_options, interrupt),
};
#undef S
#undef F

static size_t abi_lookup(const char *type, const char *field) {
    if (!type) return (size_t)-1;
    for (size_t i = 0; i < sizeof ABI / sizeof ABI[0]; i++) {
        if (strcmp(ABI[i].type, type)) continue;
        if (!field ? !ABI[i].field : ABI[i].field && !strcmp(ABI[i].field, field))
            return ABI[i].value;
    }
    return (size_t)-1;
}

size_t mlpf_abi_sizeof(const char *type) { return abi_lookup(type, NULL); }
size_t mlpf_abi_offsetof(const char *type, const char *field) {
    return field ? abi_lookup(type, field) : (size_t)-1;
}

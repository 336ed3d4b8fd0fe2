/*
 * mlpflow.h - the one public header of libmlpflow.
 *
 * Loss landscape and training dynamics of multilayer perceptrons: exact loss,
 * gradient and Hessian; gradient flow with adaptive ODE solvers; Newton-type
 * minimisers; teacher-student objectives with infinite Gaussian data.
 *
 * Data flows one way:   spec + data -> objective -> dynamics -> result
 *
 *   mlpf_net        the network spec (layers, activations, bias flags)
 *   mlpf_objective  loss / gradient / Hessian of a flat float64 parameter vector
 *   mlpf_train      gradient flow (ODE) then a minimiser, on any objective
 *   mlpf_result     where training went
 *
 * Conventions
 *   - Every call that can fail returns an int status (MLPF_OK == 0) and fills the
 *     optional mlpf_error *err (may be NULL) with a readable message.
 *   - Objects are opaque with create / free pairs; free(NULL) is a no-op.
 *   - No global mutable state. Objects may be used from many threads at once
 *     for reading and evaluation (mlpf_objective_eval is reentrant).
 *   - Parameter layout: layers in order; layer l is a row-major matrix of shape
 *     (units, inputs + bias) with the bias in the last column.
 *   - Arrays are row-major; data are (N, Din) with samples as rows.
 */
#ifndef MLPFLOW_H
#define MLPFLOW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every declaration of this header is exported from libmlpflow.so; everything
   else in the library is built hidden (-fvisibility=hidden). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* ------------------------------------------------------------------------ */
/* Version: the one source of the version number (the build, pkg-config and  */
/* the Python package read it from here or from mlpf_version()).            */
/* ------------------------------------------------------------------------ */

#define MLPF_VERSION_MAJOR 0
#define MLPF_VERSION_MINOR 2
#define MLPF_VERSION_PATCH 0
#define MLPF_STR_(x) #x
#define MLPF_XSTR_(x) MLPF_STR_(x)
#define MLPF_VERSION                                                                    \
    MLPF_XSTR_(MLPF_VERSION_MAJOR) "." MLPF_XSTR_(MLPF_VERSION_MINOR) "." MLPF_XSTR_( \
        MLPF_VERSION_PATCH)

/* The version of the library actually loaded ("0.2.0"); *major, *minor, *patch
   may be NULL. Compare with the MLPF_VERSION_* the caller was compiled with. */
const char *mlpf_version(int *major, int *minor, int *patch);

/* ABI check for bindings (the Python package runs it at import): the size of a
   public struct by name ("mlpf_train_options", "mlpf_result", ...) and the
   offset of one of its fields; (size_t)-1 for an unknown struct or field. */
size_t mlpf_abi_sizeof(const char *type);
size_t mlpf_abi_offsetof(const char *type, const char *field);

/* Frees memory the library allocated and handed to the caller (arrays from
   mlpf_read_array, mlpf_gauss_hermite_data, the surgery functions' x_new, ...).
   NULL is a no-op. Use it rather than free(): the library and the caller may
   not share one allocator (static runtimes, Python's ctypes). */
void mlpf_free(void *p);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                  */
/* ------------------------------------------------------------------------ */

enum mlpf_status {
    MLPF_OK = 0,
    MLPF_EINVAL = 1,        /* bad argument, shape or option                */
    MLPF_ENOMEM = 2,        /* allocation failed                            */
    MLPF_EIO = 3,           /* file missing, unreadable or unwritable       */
    MLPF_EFORMAT = 4,       /* malformed file (npy, csv, json)              */
    MLPF_ENONFINITE = 5,    /* NaN or Inf in data or parameters             */
    MLPF_EUNSUPPORTED = 6,  /* valid request this objective cannot serve    */
    MLPF_ENUMERIC = 7,      /* LAPACK / ODE solver / minimiser failure      */
    MLPF_EINTERRUPTED = 8   /* stopped by the interrupt flag                */
};

#define MLPF_ERRMSG_LEN 512
typedef struct {
    int status;
    char msg[MLPF_ERRMSG_LEN];
} mlpf_error;

const char *mlpf_status_string(int status);

/* ------------------------------------------------------------------------ */
/* Activations                                                              */
/* ------------------------------------------------------------------------ */

typedef enum {
    MLPF_ACT_IDENTITY = 0,
    MLPF_ACT_RELU,
    MLPF_ACT_SIGMOID,
    MLPF_ACT_TANH,
    MLPF_ACT_SOFTPLUS,
    MLPF_ACT_GELU,        /* exact: x Phi(x)                                   */
    MLPF_ACT_SILU,        /* x sigmoid(x)                                      */
    MLPF_ACT_SELU,
    MLPF_ACT_SIGMOID2,    /* erf(x / sqrt 2)                                   */
    MLPF_ACT_NORMAL_CDF,  /* Phi(x)                                            */
    MLPF_ACT_G,           /* sigmoid(4x) + softplus(x)                         */
    MLPF_ACT_SQUARE,      /* x^2 / 2                                           */
    MLPF_ACT_CUBE,        /* x^3                                               */
    MLPF_ACT_EXP,
    MLPF_ACT_POLY,        /* c0 + c1 x + c2 x^2 + ...                          */
    MLPF_ACT_SOFTMAX,     /* output layer only, vector-valued                  */
    MLPF_ACT_COUNT
} mlpf_act_kind;

#define MLPF_POLY_MAXCOEF 16
typedef struct {
    mlpf_act_kind kind;
    int ncoef;                       /* poly only */
    double coef[MLPF_POLY_MAXCOEF];  /* poly only */
} mlpf_activation;

/* Parse a name ("softplus", "sigmoid2", ...). "poly" needs coefficients:
   use mlpf_activation_poly. Unknown names give MLPF_EINVAL naming the name. */
int mlpf_activation_parse(const char *name, mlpf_activation *out, mlpf_error *err);
int mlpf_activation_poly(const double *coef, int ncoef, mlpf_activation *out, mlpf_error *err);
const char *mlpf_activation_name(mlpf_act_kind kind);
/* f, f', f'' at u; any output may be NULL. Not for softmax. */
void mlpf_activation_eval(const mlpf_activation *a, double u, double *f, double *df, double *d2f);

/* ------------------------------------------------------------------------ */
/* Network spec                                                             */
/* ------------------------------------------------------------------------ */

typedef struct mlpf_net mlpf_net;

mlpf_net *mlpf_net_create(int din, mlpf_error *err);
void mlpf_net_free(mlpf_net *net);
mlpf_net *mlpf_net_copy(const mlpf_net *net, mlpf_error *err);
/* Append a layer with one activation for all units. */
int mlpf_net_add_layer(mlpf_net *net, int units, const char *activation, int bias, mlpf_error *err);
/* Append a layer; nacts is 1 (shared) or units (one per neuron). */
int mlpf_net_add_layer_acts(mlpf_net *net, int units, const mlpf_activation *acts, int nacts,
                            int bias, mlpf_error *err);
/* Checks the whole spec: at least one layer, softmax only as the last layer. */
int mlpf_net_validate(const mlpf_net *net, mlpf_error *err);

int mlpf_net_din(const mlpf_net *net);
int mlpf_net_dout(const mlpf_net *net);
int mlpf_net_nlayers(const mlpf_net *net);
int mlpf_net_layer_units(const mlpf_net *net, int layer);
int mlpf_net_layer_inputs(const mlpf_net *net, int layer);   /* without bias */
int mlpf_net_layer_bias(const mlpf_net *net, int layer);
/* Activation of one unit of a layer (layers and units count from 0). */
const mlpf_activation *mlpf_net_activation(const mlpf_net *net, int layer, int unit);
size_t mlpf_net_nparams(const mlpf_net *net);
size_t mlpf_net_layer_offset(const mlpf_net *net, int layer); /* first index of layer */

/* Glorot normal W ~ N(0, 2 / (fan_in + fan_out)), biases 0. The generator is
   xoshiro256** seeded with splitmix64(seed) and Marsaglia's polar method
   (src/spec/rng.c): the same numbers on every machine. */
int mlpf_random_params(const mlpf_net *net, uint64_t seed, double *x, mlpf_error *err);

/* output (n, dout) = net(x; input (n, din)). */
int mlpf_predict(const mlpf_net *net, const double *x, const double *input, size_t n,
                 double *output, mlpf_error *err);

/* ------------------------------------------------------------------------ */
/* Objectives: loss, gradient, Hessian of a flat parameter vector          */
/* ------------------------------------------------------------------------ */

typedef struct mlpf_objective mlpf_objective;

/* The one interface every objective implements. eval computes the mean loss
   over the samples in subset (all samples when subset == NULL) and, when the
   pointers are non-NULL, the gradient (P) and the full symmetric Hessian
   (P x P, row-major). It must be reentrant: many threads may call it at once.
   nsamples is 0 for objectives without a finite sample set (infinite data);
   such objectives ignore subset. */
typedef struct {
    const char *name;
    size_t nparams;
    size_t nsamples;
    int (*eval)(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                double *loss, double *grad, double *hess, mlpf_error *err);
    void (*free_ctx)(void *ctx);   /* may be NULL */
} mlpf_objective_ops;

/* Wrap user code (or any internal implementation) as an objective. The ops
   struct is copied; ctx is owned by the objective when free_ctx != NULL. */
mlpf_objective *mlpf_objective_custom(const mlpf_objective_ops *ops, void *ctx, mlpf_error *err);
void mlpf_objective_free(mlpf_objective *obj);

size_t mlpf_objective_nparams(const mlpf_objective *obj);
size_t mlpf_objective_nsamples(const mlpf_objective *obj);
const char *mlpf_objective_name(const mlpf_objective *obj);
/* The network the objective trains, or NULL for custom objectives. */
const mlpf_net *mlpf_objective_net(const mlpf_objective *obj);

/* Any of loss, grad, hess may be NULL. x must be finite (MLPF_ENONFINITE). */
int mlpf_objective_eval(const mlpf_objective *obj, const double *x, double *loss,
                        double *grad, double *hess, mlpf_error *err);
int mlpf_objective_eval_subset(const mlpf_objective *obj, const double *x,
                               const size_t *subset, size_t nsubset, double *loss,
                               double *grad, double *hess, mlpf_error *err);

typedef enum { MLPF_LOSS_MSE = 0, MLPF_LOSS_CROSSENTROPY = 1 } mlpf_loss_kind;

/* Finite data. input (n, din); target (n, tcols) with tcols == dout, or, for
   cross-entropy, tcols == 1 holding integer labels 0..C-1; weights (n) or NULL.
   MSE   = (1/N) sum_n w_n sum_o (y_no - t_no)^2
   CE    = -(1/N) sum_n w_n sum_o t_no log y_no     (softmax output only)
   The data are copied. threads: 0 = OpenMP default, else that many. */
typedef struct {
    mlpf_loss_kind loss;
    int threads;
} mlpf_finite_options;

mlpf_objective *mlpf_objective_finite(const mlpf_net *net, size_t n, const double *input,
                                      const double *target, size_t tcols,
                                      const double *weights, const mlpf_finite_options *opt,
                                      mlpf_error *err);

/* Regularisers wrap an objective (which must outlive the wrapper).
   Norm barrier: |x| = sum(x_i^2) / (2P); adds (|x| - maxnorm)^3 / 3 when |x| > maxnorm
   (maxnorm = INFINITY disables it).
   Merge penalty: lambda/2 * sum over layer l's incoming weights and bias of
   (w_i - w_j)^2, for each listed pair (layer counts from 0). */
typedef struct {
    int layer, i, j;
    double lambda;
} mlpf_merge;

mlpf_objective *mlpf_objective_regularized(const mlpf_objective *base, double maxnorm,
                                           const mlpf_merge *merges, size_t nmerges,
                                           mlpf_error *err);

/* Hessian spectrum: ascending eigenvalues (P) and, when evecs != NULL,
   eigenvectors as columns of the row-major P x P matrix evecs (numpy's eigh
   convention: evecs[:, j] belongs to evals[j]). */
int mlpf_spectrum(const double *hess, size_t p, double *evals, double *evecs, mlpf_error *err);

/* ------------------------------------------------------------------------ */
/* Teacher-student with infinite standard Gaussian input                    */
/* ------------------------------------------------------------------------ */

/* E_x[(student(x) - teacher(x))^2], x ~ N(0, I_din), exact. Both nets have one
   hidden layer (any supported activation, one for the layer, optional bias) and
   one linear output unit (optional bias). teacher_params has the teacher's
   layout; the objective's parameters are the student's. Closed forms for
   sigmoid2, normal_cdf and relu; Gauss-Hermite quadrature otherwise.
   Unsupported shapes give MLPF_EUNSUPPORTED with a message naming the
   alternatives (gauss-hermite data or samples). */
mlpf_objective *mlpf_objective_gaussian(const mlpf_net *teacher, const double *teacher_params,
                                        const mlpf_net *student, mlpf_error *err);

/* Gauss-Hermite data net for din <= 2: fills *input (n, din) and *weights (n)
   with tensor-product Gauss-Hermite nodes for N(0, I) pruned below
   weight_threshold (weights sum to 1 before pruning, times n afterwards so that
   the finite objective's (1/N) sum w_n is the expectation). Arrays are
   malloc'ed; the caller frees them with mlpf_free. order is the 1-D rule size. */
int mlpf_gauss_hermite_data(int din, int order, double weight_threshold, double **input,
                            double **weights, size_t *n, mlpf_error *err);

/* ------------------------------------------------------------------------ */
/* Training                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    double t, elapsed, loss, gnorm, step;
    long iteration;
    const char *phase;   /* "ode" or "optim" */
} mlpf_progress;

typedef struct {
    /* ODE / descent phase */
    char alg[32];               /* "" = default by P: bdf for P <= 256, else dopri5
                                   (switching to bdf when stiffness stalls it);
                                   "kencarp58", "bdf", "dopri5", "verner8", "rk4",
                                   "gd", "adam", "none" (skip the phase) */
    double maxT;                /* INFINITY */
    double abstol, reltol;      /* 1e-6, 1e-6 */
    double maxtime_ode;         /* INFINITY: wall seconds, a safety net (the default
                                   run stops on maxT and iteration counts only) */
    long maxiterations_ode;     /* 1e6 */
    double rk4_step;            /* fixed step of rk4; 1e-2 */
    double lr, beta1, beta2, eps; /* gd and adam: lr 1e-3; adam: 0.9, 0.999, 1e-8 */
    size_t batchsize;           /* 0 = full batch (gd / adam only) */
    int shuffle;                /* minibatches: 0 in order, 1 shuffled with seed */
    /* minimiser phase */
    char optim_solver[32];      /* "" = default by P; "newtontr", "bfgs", "lbfgs",
                                   "slsqp", "nlopt_lbfgs", "nlopt_tnewton", "none" */
    double maxtime_optim;       /* INFINITY (as maxtime_ode) */
    long maxiterations_optim;   /* 1e5 */
    /* stopping */
    double min_gnorm;           /* 1e-15 (infinity norm) */
    double minloss;             /* 2e-32 */
    long patience;              /* 1e6 iterations without improvement of the best */
    /* per-parameter time scales: NULL = 1; ntauinv 1 = scalar, P = one each.
       tauinv 0 freezes a parameter exactly (in both phases). */
    const double *tauinv;
    size_t ntauinv;
    /* regularisers, applied by wrapping the objective */
    double maxnorm;             /* INFINITY */
    const mlpf_merge *merges;
    size_t nmerges;
    /* output */
    int n_samples_trajectory;   /* 100 */
    int verbosity;              /* 0 silent, 1 progress */
    double progress_interval;   /* 5 s */
    void (*progress)(void *ctx, const mlpf_progress *p);  /* NULL = stderr line */
    void *progress_ctx;
    uint64_t seed;              /* 1 */
    /* cooperative stop: when non-NULL and *interrupt becomes non-zero, training
       stops within about 0.5 s plus one objective evaluation and returns the
       best point with stopped_by "interrupt". The flag is read with an atomic
       load (__atomic_load_n), so a signal handler or another thread may set it
       with a plain or atomic store while training runs. */
    volatile int *interrupt;
} mlpf_train_options;

void mlpf_train_options_default(mlpf_train_options *opt);

/* The training methods, from the one registry: i = 0 .. mlpf_method_count()-1.
   kind is "flow" or "descent" (values of alg), "minimiser" (optim_solver) or
   "none" (either: skip the phase); doc is one line. MLPF_EINVAL when i is out
   of range. The strings are static. */
size_t mlpf_method_count(void);
int mlpf_method_info(size_t i, const char **name, const char **kind, const char **doc);

/* The train options by name, from the one options table (the names of the
   spec's "train" object, the CLI flags and Python's keyword arguments).
   type is "double", "long", "int", "size", "bool", "string" or "uint64";
   integers range over [min, max] of their C type (max as a double, rounded:
   check exactly against the type); "inf" is accepted for an integer limit and
   means its largest value. default_text is the default as text. */
typedef struct {
    const char *name, *type, *default_text, *doc;
    double min, max;
    int min_exclusive;          /* 1: the value must be > min */
    int max_exclusive;          /* 1: the value must be < max */
    int inf_ok;                 /* integer limit that may be "inf" (= its largest value) */
} mlpf_option_info;

size_t mlpf_option_count(void);
/* MLPF_EINVAL when i is out of range. */
int mlpf_option_get(size_t i, mlpf_option_info *info);
/* The one check of a numeric option's value (the CLI, the spec loader and
   Python all use it): MLPF_OK, or MLPF_EINVAL with a message naming the option
   and its range (NaN, out of range, not an integer, unknown name). */
int mlpf_option_check(const char *name, double value, mlpf_error *err);

typedef struct {
    size_t nparams;
    double *x;                  /* best point (P) */
    double *init;               /* starting point (P) */
    double *ode_x;              /* end of the ODE phase (P) */
    double loss, ode_loss;      /* loss is the regularised loss at x */
    double gnorm;               /* inf-norm of the gradient of the unregularised loss */
    double gnorm_regularized;
    int converged;              /* gnorm <= min_gnorm or loss <= minloss */
    char ode_stopped_by[64];    /* "maxT", "maxtime", "maxiterations", "minloss", "basin"
                                   (open-ended flow reached the basin of a minimum: Hessian
                                   positive semi-definite, a Newton step shrinks the gradient
                                   10x),
                                   "channel" (open-ended flow drifts along a channel to
                                   infinity: weights grow at every doubling of flow time,
                                   the loss hardly falls; the minimiser is skipped),
                                   "min_gnorm", "patience", "interrupt", "solver_failure",
                                   "skipped" */
    char optim_stopped_by[64];  /* as above, plus "stalled": the minimiser cannot
                                   lower loss or gradient any further at this
                                   precision (rounding floor, degenerate valley) */
    char alg[32], optim_solver[32]; /* what actually ran; alg "m>bdf(failure)" or
                                   "m>bdf(stall)": BDF took over from m and why */
    long ode_iterations, optim_iterations;
    double ode_time_run;        /* flow time reached */
    double optim_time_run;      /* wall seconds in the minimiser */
    double ode_wall_time;       /* wall seconds in the ODE phase */
    double total_time;          /* wall seconds */
    size_t ntrajectory;
    double *trajectory_t;       /* (ntrajectory), flow times, log-spaced */
    double *trajectory_x;       /* (ntrajectory, P) */
    double *loss_curve;         /* (ntrajectory) loss at trajectory_t */
} mlpf_result;

void mlpf_result_free(mlpf_result *res);

/* Flow, then minimise, from x0. *result is allocated on success and also on
   interrupt (status MLPF_OK, stopped_by "interrupt"). */
int mlpf_train(const mlpf_objective *obj, const double *x0, const mlpf_train_options *opt,
               mlpf_result **result, mlpf_error *err);

/* K independent starts x0s (K, P) on `threads` threads; results[k] equals
   mlpf_train from x0s[k]. errs may be NULL or an array of K. Returns the first
   failing status, MLPF_OK when every start succeeded. */
int mlpf_train_many(const mlpf_objective *obj, const double *x0s, size_t k,
                    const mlpf_train_options *opt, int threads, mlpf_result **results,
                    mlpf_error *errs);

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

/* Read .npy (little-endian float64 / float32, C or Fortran order) or .csv
   (comma or whitespace separated, optional header line) as float64 C order.
   shape[0..*ndim-1], ndim <= 2. *data is allocated; free it with mlpf_free. */
int mlpf_read_array(const char *path, double **data, size_t shape[2], int *ndim, mlpf_error *err);
/* Write float64 C-order .npy atomically (temp file + rename). */
int mlpf_write_npy(const char *path, const double *data, const size_t *shape, int ndim,
                   mlpf_error *err);

/* ------------------------------------------------------------------------ */
/* Landscape utilities                                                       */
/* ------------------------------------------------------------------------ */

/* For each point k of traj (n, p): dist[k] = min_j ||traj_k - ref_j||_2 over the
   points of ref (m, p), match[k] = that j (match may be NULL; ties go to the
   smallest j). */
int mlpf_trajectory_distance(const double *traj, size_t n, const double *ref, size_t m, size_t p,
                             double *dist, size_t *match, mlpf_error *err);

/* Cosine similarity a.b / (|a||b|); 0 when either is zero. */
double mlpf_cosine_similarity(const double *a, const double *b, size_t n);

/* The objective restricted to the affine subspace x = ref + a1 v1 + a2 v2 + Q z,
   where the columns of Q (p, p - r) are an orthonormal basis of the orthogonal
   complement of span(v1, v2) (r = rank, 1 or 2; v2 may be NULL). Its parameters
   are z (p - r); loss, gradient Q^T g and Hessian Q^T H Q are exact. v1, v2 need
   not be orthogonal or normalised; r = 1 when v2 is NULL or numerically in
   span(v1) (its part orthogonal to v1 is <= 64 eps |v2|); v1 = 0 is MLPF_EINVAL.
   The objective has p - r parameters (mlpf_objective_nparams) and no network
   (mlpf_objective_net is NULL: z is not a network's layout). ref, v1, v2 are
   copied; base must outlive the subspace objective. */
mlpf_objective *mlpf_objective_subspace(const mlpf_objective *base, const double *ref,
                                        const double *v1, const double *v2, double a1, double a2,
                                        mlpf_error *err);
/* x (p) of the subspace objective's parameters z (p - r). */
int mlpf_subspace_point(const mlpf_objective *sub, const double *z, double *x, mlpf_error *err);
/* Minimise the loss over the complement at the plane point (a1, a2), starting
   from the projection of x0 (or of ref when x0 is NULL) and from `restarts`
   random perturbations (seeded); training with mlpf_train and opt (NULL =
   defaults with alg "none" and a Newton minimiser; its tauinv refers to the
   p - r subspace parameters). Restart k starts at z0 + s * N(0, I) with
   s = rms of the start point's x (1 when that is 0). Returns the lowest
   (unregularised) loss and its point x (p; x may be NULL). */
int mlpf_subspace_minloss(const mlpf_objective *base, const double *ref, const double *v1,
                          const double *v2, double a1, double a2, const double *x0, int restarts,
                          uint64_t seed, const mlpf_train_options *opt, double *loss, double *x,
                          mlpf_error *err);
/* The same on a grid: a1s (n1) x a2s (n2) -> losses (n1, n2) row-major; each
   grid point warm-starts from its neighbour's minimiser (rows are visited in
   boustrophedon order; the first point starts from the projection of ref).
   a2s may be NULL only when n2 == 1 (a2 = 0); with v2 == NULL a2 has no effect. */
int mlpf_subspace_minloss_grid(const mlpf_objective *base, const double *ref, const double *v1,
                               const double *v2, const double *a1s, size_t n1, const double *a2s,
                               size_t n2, int restarts, uint64_t seed,
                               const mlpf_train_options *opt, double *losses, mlpf_error *err);

/* Network surgery (networks with one hidden layer and a linear readout; layer
   index 0 is the hidden layer). The new network and parameters are allocated
   (*new_net with mlpf_net_create, free with mlpf_net_free; *x_new: free with
   mlpf_free). Per-neuron activations follow their neurons. The readout
   may have any activation and any number of outputs: surgery keeps its
   pre-activation. Networks with another number of layers give MLPF_EINVAL. */
/* Duplicate hidden neuron i: the copy gets the same incoming weights, output
   weights gamma * a_i and (1 - gamma) * a_i (original keeps gamma * a_i); it is
   inserted at position j (0..k, counted in the original's indexing). The
   network function is unchanged; a critical point maps to a critical point. */
int mlpf_split_neuron(const mlpf_net *net, const double *x, int i, double gamma, int j,
                      mlpf_net **new_net, double **x_new, mlpf_error *err);
/* Add `extra` hidden neurons at the end with zero output weights and incoming
   weights drawn Glorot-normal (fan_in + fan_out = din + k + extra) from seed,
   biases 0, activation of the last hidden neuron (function unchanged). */
int mlpf_grow_net(const mlpf_net *net, const double *x, int extra, uint64_t seed,
                  mlpf_net **new_net, double **x_new, mlpf_error *err);
/* Remove hidden neurons (indices `remove`, count nremove, distinct, at least
   one neuron left); returns the smaller net/params (others keep their order). */
int mlpf_shrink_net(const mlpf_net *net, const double *x, const int *remove, size_t nremove,
                    mlpf_net **new_net, double **x_new, mlpf_error *err);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* MLPFLOW_H */

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

/* What is known about an activation, from the one activation table. The names
   are the library's static strings: do not free them. */
typedef enum {
    MLPF_PARITY_NEITHER = 0,
    MLPF_PARITY_ODD,      /* f(-u) = -f(u) */
    MLPF_PARITY_EVEN      /* f(-u) =  f(u) */
} mlpf_parity;

#define MLPF_ACT_MAXKINKS 2
typedef struct {
    const char *name;          /* canonical name, as mlpf_activation_name gives it */
    const char *alias;         /* another accepted spelling ("linear", "erf", "swish"), or NULL */
    int scalar;                /* 1: f, f', f'' of one pre-activation; 0: softmax (whole layer) */
    double strip;              /* half-width d of the strip |Im u| < d in which f is analytic on
                                  each smooth piece: sets the Gaussian quadrature rule sizes;
                                  INFINITY for polynomials, NAN when not scalar */
    int nkinks;                /* points where f' jumps (f'' has a delta there) */
    double kinks[MLPF_ACT_MAXKINKS];
    mlpf_parity parity;
    int homogeneous;           /* 1 when f(c u) = c^degree f(u) for every c > 0 */
    int degree;                /* that degree; 0 when not homogeneous */
    int gaussian_closed_form;  /* Gaussian-input expectations of pairs of this activation in
                                  closed form (erf family, relu); others use quadrature */
} mlpf_activation_info;

/* The table's row for kind (poly: general coefficients, so neither parity nor
   homogeneity). MLPF_EINVAL for an unknown kind. */
int mlpf_activation_info_get(mlpf_act_kind kind, mlpf_activation_info *out, mlpf_error *err);
/* The same for one activation, with a poly's parity and homogeneity read from its
   coefficients (odd / even powers only; a single power c_k u^k has degree k). */
int mlpf_activation_describe(const mlpf_activation *a, mlpf_activation_info *out, mlpf_error *err);

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
/* A bound of the rounding error of the loss at x, where the objective knows
   one: the exact Gaussian objective's loss is a difference of O(1) terms
   (near a recovered teacher, -1e-15 ... 1e-15 of pure rounding, growing like
   |a|^2 eps at large output weights); its bound is sum |term| times the
   terms' relative accuracy. NAN (and MLPF_OK) for objectives without an
   estimate (finite data: a sum of non-negative terms, relative accuracy). */
int mlpf_objective_loss_error(const mlpf_objective *obj, const double *x, double *loss_error,
                              mlpf_error *err);

typedef enum { MLPF_LOSS_MSE = 0, MLPF_LOSS_CROSSENTROPY = 1 } mlpf_loss_kind;

/* Finite data. input (n, din); target (n, tcols) with tcols == dout, or, for
   cross-entropy, tcols == 1 holding integer labels 0..C-1; weights (n) or NULL.
   MSE   = (1/N) sum_n w_n sum_o (y_no - t_no)^2
   CE    = -(1/N) sum_n w_n sum_o t_no log y_no     (softmax output only)
   The data are copied. threads: 0 = OpenMP default, else that many.
   The objective keeps its work buffers between evaluations (at most what its
   largest call used; freed by mlpf_objective_free); concurrent calls stay safe. */
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
   allocated; the caller frees them with mlpf_free. order is the 1-D rule size, at
   most MLPF_GH_MAX_ORDER (building the rule costs order^2 time). */
#define MLPF_GH_MAX_ORDER 5000
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
    int converged;              /* gnorm <= min_gnorm or loss + loss_error <= minloss (a
                                   negative loss, or a small one with gnorm > 1e3
                                   sqrt(minloss), is rounding and does not meet minloss
                                   >= 0); never at a channel (either phase stopped by
                                   "channel") */
    char ode_stopped_by[64];    /* "maxT", "maxtime", "maxiterations", "minloss", "basin"
                                   (open-ended flow reached the basin of a minimum: no
                                   Hessian eigenvalue below -1e-6 of the largest, so
                                   degenerate minima count, and weights not growing),
                                   "channel" (open-ended flow drifts along a channel to
                                   infinity: weights grow at every doubling of flow time,
                                   the loss hardly falls; the minimiser is skipped),
                                   "nonsmooth" (the flow chatters on a kink of ReLU-type
                                   units, or its solver failed there: ode_kinks names
                                   the units; the minimiser is skipped),
                                   "min_gnorm", "patience", "interrupt", "solver_failure",
                                   "skipped" */
    char optim_stopped_by[64];  /* as above, plus "stalled": the minimiser cannot
                                   lower loss or gradient any further at this
                                   precision (rounding floor, degenerate valley), or
                                   crawls (the loss fell < 0.1 % and a gradient
                                   below ~sqrt(eps) max(1, loss) not tenfold over
                                   5 000 iterations);
                                   "channel": its iterates drift along a channel to
                                   infinity (weights growing at six checks 200
                                   iterations apart while the loss falls < 1 %) */
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
    char ode_kinks[96];         /* ode_stopped_by "nonsmooth": the units at the kink, most
                                   side changes first, "w1[3] (812 flips), w1[0] (4 flips)"
                                   (row 3 of layer w1, from 0; infinite data: "w1[3]");
                                   else "" */
    double loss_error;          /* bound of the rounding error of loss (NAN when the
                                   objective has none: mlpf_objective_loss_error); a
                                   loss within it of 0 does not meet minloss */
    long ode_retaken;           /* flow steps taken again because the loss rose beyond
                                   its rounding (gradient flow never raises it: the
                                   step is redone from the last accepted point with a
                                   bounded step; counted in ode_iterations too) */
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

/* ------------------------------------------------------------------------ */
/* Analysis: what a point is (minimum, saddle, channel), critical points    */
/* ------------------------------------------------------------------------ */

/* Channels to infinity. A pair channel is two units i < j of one hidden layer
   whose (augmented, bias last) input vectors w_i, w_j converge while their
   outgoing weight columns a_i, a_j (in the next layer) grow with opposite
   signs; in the limit the pair computes the gated linear unit (GLU)
       c sigma(w.xbar) + (v_o.xbar) sigma'(w.xbar)   for each next-layer unit o,
   with w = (w_i + w_j)/2, c = a_i + a_j, v_o = (a_io - a_jo)(w_i - w_j)/2.
   A single-unit channel (odd activations with sigma(0) = 0, sigma'(0) != 0:
   tanh, sigmoid2) is one unit with |w| -> 0 and |a| -> inf at fixed a w: the
   GLU with c = 0, w = 0, v_o = a_io w_i (a linear unit).
   Detection on the data (or, for standard Gaussian input, in expectation by
   2-D Gauss-Hermite quadrature in the plane of the pair's input vectors):
     glu_error  = rms(pair - GLU) / rms(pair)                   <= glu_tol
     amplification = rms of one unit's own term (a_i - a_j)/2 sigma(w.xbar),
                 over rms(pair)                                 >= min_amplification
                 (the units' outputs cancel: output weights "large"; single
                 unit: |a| sigma'(0) / rms(a sigma(w.xbar)), i.e. 1 / the
                 rms pre-activation: deep in the linear regime)
     gated part = rms((v.xbar) sigma'(w.xbar)) / rms(pair)      >= glu_tol
                 (pair only: otherwise the pair is a scaled copy of one unit,
                  a point on a symmetry-induced line, not a channel)
     single: also rms(unit) >= glu_tol * rms(next layer's pre-activation)
                 (a negligible unit is not a channel; skipped for Gaussian
                 input with din > 2, where only the unit's plane is sampled).
   For odd activations (tanh, sigmoid2) a pair is compared modulo the sign
   symmetry (w_j, a_j) -> (-w_j, -a_j): then cosine is negative and w, c, v
   refer to the flipped unit j. Each unit joins at most one channel (the most
   amplified candidates win); identity and poly units are never channels.
   Defaults: glu_tol 0.1 (the GLU explains 99% of the pair's output variance),
   min_amplification 10 (the two units' terms cancel to one decimal digit: a
   finite pair of ordinary units does not do that). */
typedef enum { MLPF_CHANNEL_PAIR = 0, MLPF_CHANNEL_SINGLE = 1 } mlpf_channel_type;

typedef struct {
    mlpf_channel_type type;
    int layer;                 /* hidden layer, counting from 0                       */
    int units[2];              /* i < j; units[1] = -1 for a single unit              */
    int nin;                   /* inputs + bias of the layer (length of w)            */
    int nout;                  /* units of the next layer (length of c)               */
    double gap;                /* pair: |w_i - w_j| / |w|; single: rms of w_i.xbar    */
    double cosine;             /* pair: cosine of w_i and w_j; single: NAN            */
    double amplification;      /* see above                                           */
    double *out_weights;       /* (2, nout) a_i, a_j; single: (1, nout)               */
    double *c;                 /* (nout)                                              */
    double *w;                 /* (nin)                                               */
    double *v;                 /* (nout, nin)                                         */
    double glu_error;          /* relative RMS difference pair vs GLU                 */
    double growth_exponent;    /* d log|a| / d log t over the last decades (NAN       */
    double loss_rate;          /* unless from a trajectory); -d log L / d log t       */
} mlpf_channel;

typedef struct {
    double glu_tol;            /* 0.1 */
    double min_amplification;  /* 10 */
} mlpf_channel_options;

void mlpf_channel_options_default(mlpf_channel_options *opt);
/* Free the arrays inside channels[0..n-1] and the array itself. */
void mlpf_channels_free(mlpf_channel *channels, size_t n);

/* Channels of net at x. input (n, din) with per-sample weights (n, or NULL) are
   the data; input == NULL means standard Gaussian input (expectations; only the
   first hidden layer is then examined, deeper layers need samples). *out is
   allocated (free with mlpf_channels_free; NULL when *nout == 0). opt NULL =
   defaults. */
int mlpf_channels(const mlpf_net *net, const double *x, const double *input,
                  const double *weights, size_t n, const mlpf_channel_options *opt,
                  mlpf_channel **out, size_t *nout, mlpf_error *err);

/* Fill growth_exponent and loss_rate of a channel from a trajectory (times t
   (m), points xs (m, P), losses (m)): least-squares slopes of log|a|(t)
   (|a| = the norm of the channel's outgoing weights, both units) and of
   -log L(t) against log t over the samples with t >= t_last / 10^decades and
   t > 0 (decades 0 or less: 2). Needs at least 3 such samples (else NAN). */
int mlpf_channel_dynamics(const mlpf_net *net, mlpf_channel *ch, const double *t,
                          const double *xs, const double *losses, size_t m, double decades,
                          mlpf_error *err);

typedef enum {
    MLPF_POINT_MINIMUM = 0,
    MLPF_POINT_SADDLE = 1,
    MLPF_POINT_CHANNEL = 2,
    MLPF_POINT_NOT_CRITICAL = 3
} mlpf_point_kind;

/* "minimum", "saddle", "channel", "not_critical". */
const char *mlpf_point_kind_name(mlpf_point_kind kind);

typedef struct {
    double zero_tol;           /* NAN = derived (see mlpf_classify); else |lambda| <= it is 0 */
    double gnorm_tol;          /* NAN = derived; else the critical-point threshold (inf-norm) */
    int detect_channels;       /* 1; needs a network (mlpf_objective_net != NULL)           */
    mlpf_channel_options channel;
} mlpf_classify_options;

void mlpf_classify_options_default(mlpf_classify_options *opt);

typedef struct {
    mlpf_point_kind kind;
    size_t nparams;
    int index;                 /* eigenvalues < -zero_tol                               */
    int n_zero;                /* |lambda| <= zero_tol                                  */
    int n_positive;            /* eigenvalues > zero_tol                                */
    int strict;                /* a minimum with n_zero == 0                            */
    double zero_tol, gnorm_tol;
    double loss, gnorm;        /* gnorm: inf-norm of the gradient                       */
    double *eigenvalues;       /* (nparams) ascending; above a few thousand parameters (or
                                  when the dense Hessian exceeds the memory budget) the
                                  classification is matrix-free (Lanczos): the smallest
                                  ones up to the first above zero_tol, the rest NAN      */
    size_t nchannels;
    mlpf_channel *channels;
} mlpf_classification;

void mlpf_classification_free(mlpf_classification *c);   /* the arrays inside */

/* What x is on obj. input / weights / n: the data for channel detection, as in
   mlpf_channels (NULL = standard Gaussian input). Thresholds (when not given;
   derivation in src/analysis/classify.c):
     zero_tol  = P eps |H|_2 + |dH|_F: the eigensolver's backward error and the
                 rounding of H's entries (each about P eps |H|_2), plus how much
                 the Hessian changes on the way to the nearby critical point,
                 dH = H(x - H^+ g) - H(x) (Weyl: |d lambda| <= |dH|_2 <= |dH|_F);
                 symmetry-induced flat directions come out inside this band.
     gnorm_tol = P eps |H|_2 max(|x|_2, 1) + noise: the gradient of an exact
                 critical point evaluated at the rounded x (H eps |x|), plus the
                 objective's own rounding error, measured as
                 noise = |g(x + d) - g(x) - H d|_inf with d_i = +-eps x_i.
   kind: "channel" when a channel is detected (channels are never exactly
   critical: the gradient vanishes only at infinity), else "not_critical" when
   gnorm > gnorm_tol, else "saddle" when index > 0, else "minimum".
   out's arrays are allocated; free them with mlpf_classification_free. */
int mlpf_classify(const mlpf_objective *obj, const double *x, const double *input,
                  const double *weights, size_t n, const mlpf_classify_options *opt,
                  mlpf_classification *out, mlpf_error *err);

/* Critical points of any index: Levenberg-Marquardt on |grad L|^2 / 2 with the
   exact Hessian H (the Jacobian of the gradient). Each step solves
   (H^2 + mu I) d = -H g in H's eigenbasis; mu shrinks after good steps
   (Nielsen's rule) so the iteration becomes Newton's method on grad L = 0 and
   converges quadratically to the nearby critical point, whatever its index
   (a minimiser would run away from a saddle). Flat directions (H singular)
   get no step: the iteration lands on the nearest point of a manifold of
   critical points. */
typedef struct {
    double gtol;        /* 1e-15: stop when the gradient's inf-norm is <= gtol        */
    long maxiter;       /* 500                                                      */
} mlpf_critical_options;

void mlpf_critical_options_default(mlpf_critical_options *opt);

typedef struct {
    double loss, gnorm;       /* at x (gnorm: inf-norm)                               */
    long iterations;          /* Hessian evaluations                                  */
    char stopped_by[32];      /* "gtol"; "stalled": no step lowers |g| any further
                                 (the rounding floor); "maxiter"                      */
} mlpf_critical_info;

/* From x0 to the nearby critical point x (P; may alias x0). Returns MLPF_OK
   whatever the stop reason (see info->stopped_by). */
int mlpf_find_critical_point(const mlpf_objective *obj, const double *x0,
                             const mlpf_critical_options *opt, double *x,
                             mlpf_critical_info *info, mlpf_error *err);

/* Internals exposed for analysis. The activation (not softmax) or its
   derivative 1, 2 or 3 elementwise: out (n) from z (n). */
int mlpf_activation_eval_array(const mlpf_activation *a, const double *z, size_t n, int derivative,
                               double *out, mlpf_error *err);
/* Layer `layer` (from 0) of net at x on input (n, din): its pre-activations z
   and outputs a, both (n, units) row-major; either may be NULL. */
int mlpf_hidden(const mlpf_net *net, const double *x, const double *input, size_t n, int layer,
                double *z, double *a, mlpf_error *err);

/* Gated-linear-unit networks: the end of a channel. One hidden layer of k
   ordinary units and nglu GLU units of one activation sigma, linear outputs:
     y_o = b_o + sum_j a_oj sigma(w_j.xbar)
               + sum_g [c_go sigma(w_g.xbar) + (v_go.xbar) sigma'(w_g.xbar)],
   xbar = [x, 1] when hbias. Parameter layout: W1 (k, nin) row-major, W2 (nout,
   k + obias) (bias last), then per GLU unit w (nin), c (nout), v (nout, nin). */
typedef struct {
    int din;              /* inputs                                          */
    int hbias;            /* hidden units (ordinary and GLU) have a bias     */
    int k;                /* ordinary hidden units (may be 0)                */
    int nglu;             /* GLU units                                       */
    int nout;             /* linear outputs                                  */
    int obias;            /* outputs have a bias                             */
    int nin;              /* din + hbias (filled in by the library)          */
    mlpf_activation act;  /* sigma                                           */
} mlpf_glu_shape;

size_t mlpf_glu_nparams(const mlpf_glu_shape *shape);

/* MSE (1/N) sum_n omega_n sum_o (y_no - t_no)^2 of a GLU network on finite
   data (input (n, din), target (n, nout), weights (n) or NULL; copied), exact
   gradient and Hessian (the Hessian needs sigma''' through the gate). For
   Gaussian input use Gauss-Hermite nodes as data (mlpf_gauss_hermite_data). */
mlpf_objective *mlpf_objective_glu(const mlpf_glu_shape *shape, size_t n, const double *input,
                                   const double *target, const double *weights, mlpf_error *err);

/* output (n, nout) of the GLU network at x for input (n, din). */
int mlpf_glu_predict(const mlpf_glu_shape *shape, const double *x, const double *input, size_t n,
                     double *output, mlpf_error *err);

/* The channel's limit: the network (one hidden layer, identity outputs) with
   the channel's pair (or single unit) replaced by its GLU (c, w, v); the other
   units keep their order. Fills *shape and *x2 (malloc'ed, mlpf_glu_nparams). */
int mlpf_channel_limit(const mlpf_net *net, const double *x, const mlpf_channel *ch,
                       mlpf_glu_shape *shape, double **x2, mlpf_error *err);

/* ------------------------------------------------------------------------ */
/* Analysis: symmetries and constructions                                   */
/* ------------------------------------------------------------------------ */

/* The objective restricted to the affine subspace x = origin + B z, z in R^d,
   basis B (p, d) row-major (columns need not be orthonormal nor independent).
   Its loss is base's at x, its gradient B^T g and its Hessian B^T H B (exact,
   symmetrised). It has d parameters and no network; origin and basis are
   copied, base must outlive it. mlpf_train and the spectrum work on it. */
mlpf_objective *mlpf_objective_affine(const mlpf_objective *base, const double *origin,
                                      const double *basis, size_t d, mlpf_error *err);
/* Tied parameters: group (p) gives each parameter a coordinate id; parameters
   with the same id >= 0 share one value (the coordinate), ids must be exactly
   0..d-1; parameters with id < 0 are fixed at fixed[i] (fixed may be NULL when
   no id is < 0). The affine objective with 0/1 basis columns. */
mlpf_objective *mlpf_objective_tied(const mlpf_objective *base, const double *fixed,
                                    const int *group, mlpf_error *err);
/* x (p) = origin + B z for an affine / tied objective's parameters z (d). */
int mlpf_affine_point(const mlpf_objective *sub, const double *z, double *x, mlpf_error *err);
/* z (d) minimising |origin + B z - x| (least squares; for tied groups the mean
   of each group). A rank-deficient basis is MLPF_EINVAL. */
int mlpf_affine_project(const mlpf_objective *sub, const double *x, double *z, mlpf_error *err);

/* Minimum-cost assignment (Hungarian algorithm, O(n^2 m)) for cost (n, m)
   row-major, finite: assign[i] is row i's column (distinct), or -1 for rows
   left over when n > m; *total (may be NULL) the summed cost. */
int mlpf_assignment(const double *cost, size_t n, size_t m, int *assign, double *total,
                    mlpf_error *err);

/* Canonical representative of x modulo the symmetries of every hidden layer,
   layers from the input up; a unit is its incoming row (bias last) and its
   outgoing column:
   1. positively homogeneous units (relu, identity) are rescaled to |row| = 1,
      the scale moving into the outgoing column (rows that are 0 stay);
   2. odd units (identity, tanh, sigmoid2 = erf, cube, odd poly) get the sign
      that makes the first non-zero outgoing weight positive (the first
      non-zero incoming weight when all outgoing weights are 0);
   3. units are sorted lexicographically by (incoming row, outgoing column),
      ascending, stably; with per-unit activations only units of the same
      activation exchange places.
   The network function is unchanged. xc may equal x. perm (may be NULL; one
   entry per hidden unit, layer after layer) gets each position's original
   unit index. */
int mlpf_canonicalize(const mlpf_net *net, const double *x, double *xc, int *perm, mlpf_error *err);
/* Euclidean distance between x and y modulo the same symmetries: homogeneous
   units of both are taken at |row| = 1; then, layer by layer from the input,
   x's units are permuted (and odd ones flipped) to y's by an optimal
   assignment of the squared distances of their incoming rows (plus outgoing
   columns in the last hidden layer, whose next units are never permuted);
   units with different activations are never matched. Exact for one hidden
   layer; for deeper nets an upper bound that is 0 for exact symmetric copies.
   x_aligned and y_scaled (p, may be NULL) receive the compared vectors. */
int mlpf_symmetry_distance(const mlpf_net *net, const double *x, const double *y, double *dist,
                           double *x_aligned, double *y_scaled, mlpf_error *err);

/* Student (net, x) against teacher (teacher, xt), both one hidden layer and a
   readout with the same din and dout (a missing hidden bias counts as 0).
   cosine (n, k): cosine of student unit i's and teacher unit j's incoming
   vectors (bias included), its absolute value for odd student units;
   assign (n): the teacher unit of student unit i from the assignment that
   maximises the summed cosines (one student per teacher; -1 for the n - k
   students left over when n > k). err_in / err_out (n, may be NULL): for a
   matched pair |s w_i - w_j| / |w_j| and |s a_i - a_j| / |a_j| with s the
   sign flip of odd units and homogeneous units compared at |w| = 1 (their
   scale folded into a); NaN for unmatched units. */
int mlpf_match_teacher(const mlpf_net *net, const double *x, const mlpf_net *teacher,
                       const double *xt, int *assign, double *cosine, double *err_in,
                       double *err_out, mlpf_error *err);

/* Expand-and-cluster. Options (defaults): */
typedef struct {
    double min_cosine;   /* 0.999: two units are the same unit when the cosine of their
                            incoming vectors (sign-aware for odd units) is at least this,
                            and, unless homogeneous, their norms differ by at most
                            sqrt(2 (1 - min_cosine)) relatively                        */
    double min_output;   /* 1e-3: after merging, a unit whose outgoing weights' norm is at
                            most this times the student's largest is negligible        */
    double const_tol;    /* 1e-8: a unit with hidden bias b and input weights of norm at
                            most const_tol max(1, |b|) is the constant a sigma(b)      */
} mlpf_cluster_options;
void mlpf_cluster_options_default(mlpf_cluster_options *opt);
/* The hidden units of nstudents students xs (nstudents, p) of one network (one
   hidden layer). Per student, homogeneous units are rescaled to |w| = 1 (scale
   into a), same units are merged by adding their outgoing weights (duplicates
   add up, cancelling pairs vanish), negligible units dropped, and constant
   units (no input weights) moved into the student's offsets (nstudents, dout;
   may be NULL): what they add to the readout's pre-activation. Then every
   remaining unit joins the closest cluster (cosine to its mean) holding no
   unit of its student yet, or opens one (greedy, students in order).
   labels (nstudents, k): cluster of each unit, -1 when merged or dropped.
   Clusters q < *nclusters: rows_out (q, inputs + bias) the mean incoming
   vector, cols_out (q, dout) the mean outgoing weights (sign-aligned), counts
   (q) the number of students it occurs in. The outputs need room for
   nstudents * k clusters. */
int mlpf_expand_cluster(const mlpf_net *net, const double *xs, size_t nstudents,
                        const mlpf_cluster_options *opt, int *labels, double *rows_out,
                        double *cols_out, int *counts, size_t *nclusters, double *offsets,
                        mlpf_error *err);

/* ------------------------------------------------------------------------ */
/* Matrix-free: Hessian-vector products, extreme eigenvalues, trace, density */
/* ------------------------------------------------------------------------ */

/* hv (P) = H(x) v, exact, without the P x P matrix: the objective's own product
   (the finite objective and its regularised / tauinv / subspace / affine
   wrappers; about two gradients of work), else its dense Hessian when that fits
   the memory budget (the Gaussian objective), else MLPF_ENOMEM. */
/* An objective's own Hessian-vector product: hv (P) = H(x) v over subset (all
   samples when NULL), reentrant like eval. Installed with mlpf_objective_set_hvp
   rather than as an ops field, so existing positional initialisers of
   mlpf_objective_ops stay complete (-Wmissing-field-initializers). */
typedef int (*mlpf_hvp_fn)(void *ctx, const double *x, const size_t *subset, size_t nsubset,
                           const double *v, double *hv, mlpf_error *err);
/* Give a (custom) objective its matrix-free product; NULL removes it. */
int mlpf_objective_set_hvp(mlpf_objective *obj, mlpf_hvp_fn hvp, mlpf_error *err);

int mlpf_objective_hvp(const mlpf_objective *obj, const double *x, const double *v, double *hv,
                       mlpf_error *err);
int mlpf_objective_hvp_subset(const mlpf_objective *obj, const double *x, const size_t *subset,
                              size_t nsubset, const double *v, double *hv, mlpf_error *err);

/* The guard of every dense P x P request (eval with a Hessian, spectra, dense
   Newton): MLPF_OK when 8 P^2 bytes fit the memory budget (half the physical
   memory, or MLPF_MAX_BYTES), else MLPF_ENOMEM with the bytes it would take and
   the matrix-free alternative to use. what names the request. */
int mlpf_check_dense(const char *what, size_t P, mlpf_error *err);

typedef enum { MLPF_EIGS_SMALLEST = 0, MLPF_EIGS_LARGEST = 1 } mlpf_eigs_which;

/* Krylov eigensolver options; zero fields take the defaults. */
typedef struct {
    int ncv;         /* Krylov basis size; 0: max(2k + 20, 160), at most P and at most
                        2^28 / (16 P) (256 MB of basis) but not below 40 */
    int max_hvp;     /* most Hessian-vector products; 0: max(20000, 50 ncv) */
    double tol;      /* residual bound |H y - theta y| <= tol * |H|; 0: 1e-8 */
    uint64_t seed;   /* of the start vector (every seed, 0 too, is valid) */
    int deflate;     /* smallest only: up to `deflate` top eigenvectors, once converged
                        (at a restart), are locked out of the later products (fewer
                        products; see mlpf_hessian_eigs); 0: 80, -1: none.
                        None when 4 (deflate + ncv + k) > P */
} mlpf_eigs_options;

typedef struct {
    int nconv;       /* wanted pairs that met tol */
    int nhvp;        /* Hessian-vector products used */
    int restarts;
    double hnorm;    /* the estimate of |H| (largest |Ritz value| seen) tol refers to */
    int ndeflated;   /* top eigenvectors locked out (at most opt->deflate) */
} mlpf_eigs_info;

/* The k smallest (or largest) eigenvalues of H(x), ascending, by thick-restart
   Lanczos with full reorthogonalisation on Hessian-vector products; for the
   smallest, top eigenvectors converged at a restart (up to opt->deflate) are
   locked out and the search continues in their orthogonal complement (resid
   then includes their residuals in quadrature, still a bound of
   |H y - theta y|). Accuracy:
   each returned pair has resid[i] = |H y_i - theta_i y_i| and an eigenvalue of H
   within resid[i] of theta_i; all k met tol unless MLPF_ENUMERIC (not converged
   in max_hvp products: the best estimates are still returned). evecs (k, P)
   unit rows, resid (k) and info may be NULL. opt NULL: defaults. */
int mlpf_hessian_eigs(const mlpf_objective *obj, const double *x, int k, mlpf_eigs_which which,
                      const mlpf_eigs_options *opt, double *evals, double *evecs, double *resid,
                      mlpf_eigs_info *info, mlpf_error *err);

/* Hutchinson's trace estimate with nprobes Rademacher vectors z (seeded):
   trace = mean z^T H z, stderr = the sample standard deviation / sqrt(nprobes)
   (the error bar; 0 when nprobes == 1). */
int mlpf_hessian_trace(const mlpf_objective *obj, const double *x, int nprobes, uint64_t seed,
                       double *trace, double *stderr_, mlpf_error *err);

/* Stochastic Lanczos quadrature of the spectral density: for each of nprobes
   Rademacher probes, steps Lanczos steps (full reorthogonalisation) give Gauss
   nodes (nprobes, steps) and weights (nprobes, steps), each probe's weights
   summing to 1; the density is (1/nprobes) sum_probes sum_i w_i delta(t - node_i)
   and P sum_i w_i f(node_i) estimates tr f(H). steps > P is cut to P (the rest
   of a probe's row gets weight 0). */
int mlpf_hessian_slq(const mlpf_objective *obj, const double *x, int nprobes, int steps,
                     uint64_t seed, double *nodes, double *weights, mlpf_error *err);

/* L2 (weight-decay) wrapper: loss + lambda/2 |x|^2, exact gradient, Hessian and
   Hessian-vector product (+ lambda x, + lambda I, + lambda v). lambda >= 0,
   finite. base must outlive it. With cross-entropy on separable data it gives
   the loss a minimum at finite weights. */
mlpf_objective *mlpf_objective_l2(const mlpf_objective *base, double lambda, mlpf_error *err);

/* ------------------------------------------------------------------------ */
/* Sweeps: the product of axes over a problem spec, each run one row of an   */
/* SQLite database (table runs; arrays in table arrays as .npy blobs).       */
/* ------------------------------------------------------------------------ */

typedef struct mlpf_sweep mlpf_sweep;

/* A sweep file {"base": {problem spec}, "axes": {path: [values] | {"range":
   [a, b]}}} (a path is dotted into the spec, list indices as numbers, or
   "seed", the start seed = "train.seed"). Relative paths in the base resolve
   against the file's folder (parse: against dir; name labels messages). */
mlpf_sweep *mlpf_sweep_load(const char *path, mlpf_error *err);
mlpf_sweep *mlpf_sweep_parse(const char *text, const char *name, const char *dir,
                             mlpf_error *err);
void mlpf_sweep_free(mlpf_sweep *s);
/* Number of runs (the product of the axes' lengths). */
size_t mlpf_sweep_nruns(const mlpf_sweep *s);
/* The stable id of run i (16 hex digits + NUL): a hash of its axis values. */
int mlpf_sweep_run_id(const mlpf_sweep *s, size_t i, char id[17], mlpf_error *err);
/* The problem spec JSON of run i (free with mlpf_free): `mlpflow train` on it
   gives the run's result bit for bit. */
char *mlpf_sweep_run_spec(const mlpf_sweep *s, size_t i, mlpf_error *err);

typedef struct {
    int threads;                /* runs in parallel; 0 = all cores */
    int extend;                 /* 0: the database must hold this very sweep;
                                   1: axes may have gained values (new runs) */
    int verbosity;              /* 0 quiet, 1 progress line on stderr */
    double progress_interval;   /* 5 s between lines when stderr is no terminal */
    volatile int *interrupt;    /* non-zero: stop; unfinished runs stay pending */
} mlpf_sweep_options;

void mlpf_sweep_options_default(mlpf_sweep_options *opt);

/* Run every run of s not yet done or failed in db (created if missing) and
   record each in one transaction: running it again resumes. A failing run is
   recorded with its message and the sweep goes on. Returns MLPF_OK when no run
   is left, MLPF_EINTERRUPTED after *interrupt. */
int mlpf_sweep_run(const mlpf_sweep *s, const char *db, const mlpf_sweep_options *opt,
                   mlpf_error *err);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* MLPFLOW_H */

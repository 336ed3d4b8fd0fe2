/* problem.h - the problem JSON (a network, its data or teacher, the loss and the
   train options) composed into objectives: the composition root that the CLI and
   the Python front end load a run from. Not installed. */
#ifndef MLPF_PROBLEM_H
#define MLPF_PROBLEM_H

#include "io/io.h"

typedef struct {
    char *path;               /* spec file as given ("<example>" for built-ins) */
    char *dir;                /* its directory: relative paths start here */
    mlpf_net *net;            /* the student / the network trained */
    mlpf_net *teacher;        /* NULL unless "teacher" */
    double *teacher_params;
    /* finite data (NULL / 0 for the exact Gaussian objective) */
    size_t n, tcols;
    double *input, *target, *weights;
    mlpf_loss_kind loss;
    int threads;              /* objective threads; 0 = OpenMP default */
    mlpf_objective *obj;      /* the unregularised objective */
    mlpf_objective *reg;      /* with maxnorm / merge; == obj when there are none */
    mlpf_train_config train;  /* defaults, then the spec's maxnorm / merge / "train" */
} mlpf_problem;

/* Load a spec file. Every message starts with the spec's path. threads is
   passed to the finite objective (0 = OpenMP default). */
int mlpf_problem_load(const char *path, int threads, mlpf_problem **out, mlpf_error *err);
/* The same from JSON text; name labels messages, dir resolves relative paths. */
int mlpf_problem_parse(const char *text, const char *name, const char *dir, int threads,
                       mlpf_problem **out, mlpf_error *err);
void mlpf_problem_free(mlpf_problem *p);
/* Rebuild p->reg after the train options' maxnorm / merges changed. */
int mlpf_problem_regularize(mlpf_problem *p, mlpf_error *err);

/* Read a parameter vector for net: any shape with exactly P finite values. */
int mlpf_read_params(const char *path, const mlpf_net *net, double **x, mlpf_error *err);

#endif

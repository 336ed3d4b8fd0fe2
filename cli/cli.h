/* cli.h - the mlpflow command-line tool's shared pieces: argument parsing,
   error reporting, and one function per subcommand. No numerics here: every
   command is a thin layer over the library. */
#ifndef MLPF_CLI_H
#define MLPF_CLI_H

#include "io/io.h"
#include "problem/problem.h"
#include "result/result_io.h"

/* exit codes */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_MAXOPTS 128
typedef struct {
    const char *cmd;
    const char *name[CLI_MAXOPTS];   /* without leading dashes; "-o" is "o" */
    const char *value[CLI_MAXOPTS];  /* NULL for flags */
    char namebuf[CLI_MAXOPTS][64];   /* storage behind name */
    int n;
} cli_args;

/* Parse argv[0..argc-1] (after the subcommand). valued / flags are
   NULL-terminated lists of allowed names; train_opts allows every train option
   name as "--name value". Prints a usage message and returns CLI_USAGE on
   error, returns -1 when --help was given (help printed), 0 otherwise. */
int cli_parse(const char *cmd, const char *help, int argc, char **argv,
              const char *const *valued, const char *const *flags, int train_opts, cli_args *a);
/* The last value given for name, or NULL. */
const char *cli_get(const cli_args *a, const char *name);
int cli_flag(const cli_args *a, const char *name);
/* "mlpflow: <msg>" on stderr; returns code. */
int cli_error(int code, const char *fmt, ...) MLPF_PRINTF(2, 3);
int cli_usage(const char *cmd, const char *fmt, ...) MLPF_PRINTF(2, 3);
/* Parse a non-negative integer option value; CLI_USAGE on failure. */
int cli_uint(const cli_args *a, const char *name, unsigned long long def, unsigned long long max,
             unsigned long long *out);

/* Check before any work that path + suffix (suffix may be "") can be written:
   its directory exists and is writable. Message and CLI_USAGE when not. */
int cli_check_output(const char *cmd, const char *path, const char *suffix);
/* Read a parameter vector for net from a .npy / CSV file, or the "x" of a run
   (RUN.npz or RUN.json, the pair checked); message and CLI_FAIL on error. */
int cli_read_params(const char *path, const mlpf_net *net, double **x);
/* Every value of an array file (.npy, CSV) or of a run's array ("RUN.npz[:KEY]",
   "RUN.json[:KEY]", KEY defaults to x; the RUN.json + RUN.npz pair checked);
   non-finite values refused. flag names the option in messages. Message and
   CLI_FAIL on error. */
int cli_read_values(const char *flag, const char *path, double **v, size_t *n);
/* A number as JSON text: 17 significant digits, or "inf" / "-inf" / "nan" as
   strings (JSON has no infinity), the convention of every file we write. */
void cli_json_number(char *buf, size_t cap, double v);

/* Load --spec (required) with threads; message and CLI_FAIL / CLI_USAGE on error. */
int cli_load_problem(const cli_args *a, int threads, mlpf_problem **p);

int cmd_init(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_gradient(int argc, char **argv);
int cmd_hessian(int argc, char **argv);
int cmd_spectrum(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_example(int argc, char **argv);
int cmd_classify(int argc, char **argv);
/* spectrum --k: the extreme eigenvalues without the matrix (cmd_matfree.c) */
int cmd_spectrum_krylov(int argc, char **argv);

#endif

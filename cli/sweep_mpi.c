/* sweep_mpi.c - a sweep over MPI ranks. Rank 0 opens the database, keeps the
   list of runs left and hands them out one at a time: each worker rank asks,
   gets a run index, runs it and sends the outcome back with its next request.
   Rank 0 alone writes the database, so a run is recorded exactly once, in one
   transaction; when the job dies, the same command resumes. Every rank reads
   the sweep file itself. Built only with OpenMPI (MLPF_HAVE_MPI); without it a
   launch under mpirun is refused rather than running the sweep R times. */
#include "cli.h"
#include "sweep_cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the launcher's environment: OpenMPI's mpirun, PMI; srun with PMIx sets the
   step's task count and a PMIx rank */
int sweep_mpi_ranks(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL};
    for (int k = 0; vars[k]; k++) {
        const char *v = getenv(vars[k]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    const char *tasks = getenv("SLURM_STEP_NUM_TASKS");
    if (getenv("PMIX_RANK") && tasks && atoi(tasks) > 0) return atoi(tasks);
    return 1;
}

#ifdef MLPF_HAVE_MPI
#include <mpi.h>
#include <omp.h>

enum { TAG_ASK = 1, TAG_WORK = 2 };
/* first byte of a worker's message */
enum { MSG_READY = 0, MSG_OUTCOME = 1, MSG_LEAVING = 2 };
#define NO_MORE_WORK UINT64_MAX

/* ---- rank 0 ---- */

typedef struct {
    const mlpf_sweep *s;
    mlpf_store *store;
    size_t *todo, ntodo, next;
    mlpf_sweep_progress progress;
    volatile int *interrupt;
    int status;
    mlpf_error err;
} coordinator;

/* Record a worker's outcome; the first storage error stops handing out runs. */
static void take_outcome(coordinator *c, const unsigned char *msg, size_t len) {
    mlpf_sweep_outcome o;
    mlpf_error e = {0};
    int st = mlpf_sweep_outcome_unpack(msg + 1, len - 1, &o, &e);
    if (!st && c->store) st = mlpf_store_record(c->store, &o, &e);
    if (!st) mlpf_sweep_progress_add(&c->progress, &o);
    else if (!c->status) {
        c->status = st;
        c->err = e;
    }
    mlpf_sweep_outcome_clear(&o);
}

static void serve(coordinator *c, int workers) {
    int active = workers;
    while (active > 0) {
        MPI_Status ms;
        int len, arrived = 0;
        /* poll with short sleeps: a blocking probe spins and takes a core from
           the workers */
        for (;;) {
            MPI_Iprobe(MPI_ANY_SOURCE, TAG_ASK, MPI_COMM_WORLD, &arrived, &ms);
            if (arrived) break;
            nanosleep(&(struct timespec){0, 200000}, NULL);
        }
        MPI_Get_count(&ms, MPI_BYTE, &len);
        unsigned char *msg = malloc(len > 0 ? (size_t)len : 1);
        if (!msg) MPI_Abort(MPI_COMM_WORLD, 1);   /* cannot even receive: nothing to save */
        MPI_Recv(msg, len, MPI_BYTE, ms.MPI_SOURCE, TAG_ASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        int leaving = len > 0 && msg[0] == MSG_LEAVING;
        if (leaving) {
            active--;
        } else {
            /* the next run goes out before this one is written: the worker
               does not wait for the database */
            uint64_t work = NO_MORE_WORK;
            if (!c->status && !*c->interrupt && c->next < c->ntodo) work = c->todo[c->next++];
            if (work == NO_MORE_WORK) active--;
            MPI_Send(&work, 1, MPI_UINT64_T, ms.MPI_SOURCE, TAG_WORK, MPI_COMM_WORLD);
        }
        if (len > 0 && msg[0] == MSG_OUTCOME) take_outcome(c, msg, (size_t)len);
        free(msg);
    }
}

static int coordinate(const mlpf_sweep *s, const char *db, const mlpf_sweep_options *o,
                      int workers, mlpf_error *err) {
    coordinator c = {.s = s, .interrupt = o->interrupt};
    size_t ndone = 0, nfailed = 0;
    c.status = mlpf_store_open(db, s, o->extend, &c.store, &c.err);
    if (!c.status)
        c.status = mlpf_store_todo(c.store, &c.todo, &c.ntodo, &ndone, &nfailed, &c.err);
    /* even when the database cannot be used the workers are told to stop */
    mlpf_sweep_progress_start(&c.progress, s->nruns, ndone, nfailed, c.status ? 0 : o->verbosity,
                              o->progress_interval);
    serve(&c, workers);
    mlpf_sweep_progress_end(&c.progress);
    int rc = c.status;
    if (rc) *err = c.err;
    size_t left = s->nruns - c.progress.done - c.progress.failed;
    if (!rc && left)
        rc = mlpf_fail(err, MLPF_EINTERRUPTED, "%s: interrupted with %zu of %zu runs left; run "
                       "the same sweep again to continue", db, left, s->nruns);
    free(c.todo);
    mlpf_store_close(c.store);
    return rc;
}

/* ---- worker ranks ---- */

static void ask(unsigned char kind, const unsigned char *payload, size_t len) {
    unsigned char *msg = malloc(len + 1);
    if (!msg) MPI_Abort(MPI_COMM_WORLD, 1);
    msg[0] = kind;
    if (len) memcpy(msg + 1, payload, len);
    MPI_Send(msg, (int)(len + 1), MPI_BYTE, 0, TAG_ASK, MPI_COMM_WORLD);
    free(msg);
}

static int work(const mlpf_sweep *s, const mlpf_sweep_options *o, mlpf_error *err) {
    /* a rank's OpenMP regions get --threads threads (default 1), not a team per
       core of the node: mpirun binds ranks to cores, where a bigger team spins */
    omp_set_num_threads(o->threads ? o->threads : 1);
    ask(MSG_READY, NULL, 0);
    for (;;) {
        uint64_t i;
        MPI_Recv(&i, 1, MPI_UINT64_T, 0, TAG_WORK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (i == NO_MORE_WORK) return MLPF_OK;
        mlpf_sweep_outcome out;
        int st = mlpf_sweep_run_one(s, (size_t)i, o->threads ? o->threads : 1, o->interrupt,
                                    &out, err);
        unsigned char *buf = NULL;
        size_t len = 0;
        if (!st) st = mlpf_sweep_outcome_pack(&out, &buf, &len, err);
        mlpf_sweep_outcome_clear(&out);
        if (st) {
            /* interrupted or out of memory: the run stays pending */
            ask(MSG_LEAVING, NULL, 0);
            return st == MLPF_EINTERRUPTED ? MLPF_OK : st;
        }
        ask(MSG_OUTCOME, buf, len);
        free(buf);
    }
}

int sweep_mpi_run(const mlpf_sweep *s, const char *db, const mlpf_sweep_options *o,
                  mlpf_error *err) {
    int provided, rank, size;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int rc;
    if (size < 2) {
        rc = mlpf_sweep_run(s, db, o, err);
    } else if (rank == 0) {
        rc = coordinate(s, db, o, size - 1, err);
    } else {
        mlpf_sweep_options quiet = *o;
        quiet.verbosity = 0;
        rc = work(s, &quiet, err);
    }
    MPI_Finalize();
    return rc;
}

#else

int sweep_mpi_run(const mlpf_sweep *s, const char *db, const mlpf_sweep_options *o,
                  mlpf_error *err) {
    (void)s;
    (void)db;
    (void)o;
    return mlpf_fail(err, MLPF_EUNSUPPORTED, "this mlpflow was built without MPI (no OpenMPI "
                     "pkg-config file ompi-c): run the sweep without mpirun, on threads, or "
                     "install libopenmpi-dev and rebuild");
}

#endif

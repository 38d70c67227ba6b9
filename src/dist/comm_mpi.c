/* The MPI communicator (docs/architecture.md "Distributed training"): Open MPI's
   non-blocking collectives, polled with a deadline so that a dead or stuck rank gives
   an error after the timeout instead of a hang. All-reduce is a reduce-scatter +
   all-gather (the bytes of a ring all-reduce) written so that every element is
   summed by one rank in rank order: the result is bit-identical on every rank and
   independent of the algorithms MPI picks. Buckets bound the scratch memory, which is
   allocated once here. Only this file names MPI. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dist_internal.h"

enum { BUCKET_BYTES = 4 << 20 };

typedef struct mpi_impl {
    MPI_Comm comm;
    bool we_initialised;
    char *scratch;        /* BUCKET_BYTES + slack: the slices every rank sends us */
    int *scounts, *sdispls, *rcounts, *rdispls;
} mpi_impl;

static cnn_status mpi_fail(cnn_comm *c, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return cnn_set_error(CNN_ERR_IO, "%s: rank %d of %d: MPI error: %s (a rank died?)", what, c->rank,
                         c->size, msg);
}

/* Polls until the request completes, MPI reports an error or the deadline passes.
   Spins briefly, then sleeps between polls so a waiting rank leaves its cores to
   the others (docs/architecture.md, "Threads on a busy machine"); MPI makes progress inside MPI_Test. */
static cnn_status wait_for(cnn_comm *c, MPI_Request *req, const char *what)
{
    double t0 = cnn_now_s();
    for (long polls = 0;; polls++) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, what);
        if (done) return CNN_OK;
        if (c->timeout > 0 && (polls & 63) == 0 && cnn_now_s() - t0 > c->timeout)
            return cnn_set_error(CNN_ERR_IO,
                                 "%s: rank %d of %d: no answer from the other ranks within %g s "
                                 "(a rank died or hangs; CNN_DIST_TIMEOUT sets the limit)",
                                 what, c->rank, c->size, c->timeout);
        if (polls > 2000) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
    }
}

/* out[i] = r[i] + r[mine + i] + ... + r[(P - 1) mine + i] for i < mine: the P ranks'
   parts of one slice (mine elements of type T each), summed in rank order. */
#define SUM_SLICES_FN(name, T)                                                              \
    static void name(const void *scratch, void *dst, int mine, int P)                       \
    {                                                                                       \
        const T *r = scratch;                                                               \
        T *out = dst;                                                                       \
        for (int i = 0; i < mine; i++) {                                                    \
            T acc = r[i];                                                                   \
            for (int j = 1; j < P; j++) acc += r[(size_t)j * mine + i];                     \
            out[i] = acc;                                                                   \
        }                                                                                   \
    }
SUM_SLICES_FN(sum_slices_f, float)
SUM_SLICES_FN(sum_slices_d, double)

static cnn_status mpi_allreduce_sum(cnn_comm *c, void *buf, size_t n, size_t elem)
{
    mpi_impl *m = c->impl;
    const int P = c->size, me = c->rank;
    MPI_Datatype type = elem == sizeof(double) ? MPI_DOUBLE : MPI_FLOAT;
    size_t bucket = BUCKET_BYTES / elem;
    for (size_t off = 0; off < n; off += bucket) {
        int len = (int)(n - off < bucket ? n - off : bucket);
        char *base = (char *)buf + off * elem;
        int lo, hi;
        for (int j = 0; j < P; j++) {
            cnn_shard_range(len, P, j, &lo, &hi);
            m->scounts[j] = hi - lo; /* our part of j's slice goes to j */
            m->sdispls[j] = lo;
        }
        cnn_shard_range(len, P, me, &lo, &hi);
        const int mine = hi - lo;
        for (int j = 0; j < P; j++) {
            m->rcounts[j] = mine;
            m->rdispls[j] = j * mine;
        }
        MPI_Request req;
        int rc = MPI_Ialltoallv(base, m->scounts, m->sdispls, type, m->scratch, m->rcounts, m->rdispls, type,
                                m->comm, &req);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "all-reduce");
        CNN_CHECK(wait_for(c, &req, "all-reduce"));
        /* our slice, summed in rank order */
        (elem == sizeof(double) ? sum_slices_d : sum_slices_f)(m->scratch, base + (size_t)lo * elem,
                                                               mine, P);
        rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, type, base, m->scounts, m->sdispls, type, m->comm, &req);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "all-reduce");
        CNN_CHECK(wait_for(c, &req, "all-reduce"));
    }
    return CNN_OK;
}

static cnn_status mpi_bcast(cnn_comm *c, void *buf, size_t bytes, int root)
{
    mpi_impl *m = c->impl;
    const size_t chunk = (size_t)1 << 30;
    for (size_t off = 0; off < bytes; off += chunk) {
        int len = (int)(bytes - off < chunk ? bytes - off : chunk);
        MPI_Request req;
        int rc = MPI_Ibcast((char *)buf + off, len, MPI_BYTE, root, m->comm, &req);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "broadcast");
        CNN_CHECK(wait_for(c, &req, "broadcast"));
    }
    return CNN_OK;
}

static cnn_status mpi_barrier(cnn_comm *c)
{
    mpi_impl *m = c->impl;
    MPI_Request req;
    int rc = MPI_Ibarrier(m->comm, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "barrier");
    return wait_for(c, &req, "barrier");
}

static void mpi_abort(cnn_comm *c, int code)
{
    mpi_impl *m = c->impl;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(m ? m->comm : MPI_COMM_WORLD, code);
}

static void release(mpi_impl *m)
{
    if (m) CNN_FREE_ALL(m->scratch, m->scounts, m->sdispls, m->rcounts, m->rdispls, m);
}

static void mpi_free(cnn_comm *c)
{
    mpi_impl *m = c->impl;
    if (!m) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        if (m->comm != MPI_COMM_NULL && !c->broken) MPI_Comm_free(&m->comm);
        if (m->we_initialised && !c->broken) MPI_Finalize();
    }
    release(m);
    c->impl = NULL;
}

CNN_COMM_OPS(mpi, "mpi");

cnn_status cnn_comm_mpi_new(cnn_comm **out)
{
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized) return cnn_set_error(CNN_ERR_STATE, "MPI communicator: MPI was already finalised");
    mpi_impl *m = cnn_calloc(1, sizeof *m);
    cnn_comm *c = cnn_calloc(1, sizeof *c);
    if (!m || !c) {
        cnn_free(m);
        cnn_free(c);
        return cnn_set_error(CNN_ERR_NOMEM, "MPI communicator: out of memory");
    }
    m->comm = MPI_COMM_NULL;
    if (!inited) {
        /* The loader's thread never calls MPI; OpenMP threads neither. */
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            release(m);
            cnn_free(c);
            return cnn_set_error(CNN_ERR_IO, "MPI communicator: MPI_Init_thread failed");
        }
        m->we_initialised = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (MPI_Comm_dup(MPI_COMM_WORLD, &m->comm) != MPI_SUCCESS) {
        release(m);
        cnn_free(c);
        return cnn_set_error(CNN_ERR_IO, "MPI communicator: MPI_Comm_dup failed");
    }
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &c->rank);
    MPI_Comm_size(m->comm, &c->size);
    int P = c->size;
    m->scratch = cnn_malloc(BUCKET_BYTES + (size_t)P * sizeof(double));
    m->scounts = cnn_malloc((size_t)P * sizeof(int));
    m->sdispls = cnn_malloc((size_t)P * sizeof(int));
    m->rcounts = cnn_malloc((size_t)P * sizeof(int));
    m->rdispls = cnn_malloc((size_t)P * sizeof(int));
    c->ops = &mpi_ops;
    c->impl = m;
    if (!m->scratch || !m->scounts || !m->sdispls || !m->rcounts || !m->rdispls) {
        mpi_free(c);
        cnn_free(c);
        return cnn_set_error(CNN_ERR_NOMEM, "MPI communicator: out of memory");
    }
    *out = c;
    return CNN_OK;
}

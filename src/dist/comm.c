/* The communicator interface and its single-process implementation
   (docs/architecture.md "Distributed training"). With one rank every collective is the
   identity, so library code calls them unconditionally. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist_internal.h"

bool cnn_dist_launched(int *size)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            if (size) *size = atoi(v) > 0 ? atoi(v) : 1;
            return true;
        }
    }
    if (getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("OMPI_COMM_WORLD_RANK")) {
        if (size) *size = 1;
        return true;
    }
    if (size) *size = 1;
    return false;
}

/* ---------------------------------------------------------------- single process */
static cnn_status single_allreduce_sum(cnn_comm *c, void *buf, size_t n, size_t elem)
{
    return CNN_OK;
}
static cnn_status single_bcast(cnn_comm *c, void *buf, size_t bytes, int root) { return CNN_OK; }
static cnn_status single_barrier(cnn_comm *c) { return CNN_OK; }
static void single_abort(cnn_comm *c, int code) {}
static void single_free(cnn_comm *c) {}

CNN_COMM_OPS(single, "single");

bool cnn_comm_built_with_mpi(void)
{
#ifdef CNN_HAVE_MPI
    return true;
#else
    return false;
#endif
}

cnn_status cnn_comm_init(cnn_comm_kind kind, cnn_comm **out)
{
    if (!out) return cnn_set_error(CNN_ERR_INVALID_ARG, "comm_init: NULL output");
    *out = NULL;
    int launched_size = 1;
    bool launched = cnn_dist_launched(&launched_size);
    if (kind == CNN_COMM_AUTO) kind = launched && cnn_comm_built_with_mpi() ? CNN_COMM_MPI : CNN_COMM_SINGLE;
    if (kind == CNN_COMM_SINGLE && launched && launched_size > 1) {
        if (cnn_comm_built_with_mpi())
            return cnn_set_error(CNN_ERR_INVALID_ARG,
                                 "started by mpirun as one of %d processes, but the single-process "
                                 "communicator was asked for: each would train alone (use --dist auto or mpi)",
                                 launched_size);
        return cnn_set_error(CNN_ERR_UNSUPPORTED,
                             "started by mpirun as one of %d processes, but this program was not built with "
                             "MPI: each would train alone (rebuild with libopenmpi-dev installed and "
                             "CNN_WITH_MPI=AUTO or ON)",
                             launched_size);
    }
    cnn_comm *c = NULL;
    if (kind == CNN_COMM_MPI) {
#ifdef CNN_HAVE_MPI
        CNN_CHECK(cnn_comm_mpi_new(&c));
#else
        return cnn_set_error(CNN_ERR_UNSUPPORTED,
                             "distributed training: not built with MPI (rebuild with libopenmpi-dev "
                             "installed and CNN_WITH_MPI=AUTO or ON)");
#endif
    } else if (kind == CNN_COMM_SINGLE) {
        c = cnn_calloc(1, sizeof *c);
        if (!c) return cnn_set_error(CNN_ERR_NOMEM, "comm_init: out of memory");
        c->ops = &single_ops;
        c->rank = 0;
        c->size = 1;
    } else {
        return cnn_set_error(CNN_ERR_INVALID_ARG, "comm_init: unknown communicator kind %d", (int)kind);
    }
    c->timeout = 300.0;
    const char *t = getenv("CNN_DIST_TIMEOUT");
    if (t && *t) c->timeout = atof(t);
    *out = c;
    return CNN_OK;
}

void cnn_comm_free(cnn_comm *c)
{
    if (!c) return;
    c->ops->free(c);
    cnn_free(c);
}

int cnn_comm_rank(const cnn_comm *c) { return c ? c->rank : 0; }
int cnn_comm_size(const cnn_comm *c) { return c ? c->size : 1; }
const char *cnn_comm_name(const cnn_comm *c) { return c ? c->ops->name : "single"; }
void cnn_comm_set_timeout(cnn_comm *c, double seconds)
{
    if (c) c->timeout = seconds;
}
bool cnn_comm_broken(const cnn_comm *c) { return c && c->broken; }
void cnn_comm_abort(cnn_comm *c, int code)
{
    if (c) c->ops->abort(c, code);
}
cnn_comm_stats cnn_comm_get_stats(const cnn_comm *c)
{
    cnn_comm_stats z = {0};
    return c ? c->st : z;
}

void cnn_shard_range(int n, int shards, int k, int *lo, int *hi)
{
    if (shards < 1) shards = 1;
    if (n < 0) n = 0;
    int q = n / shards, r = n % shards;
    int a = k * q + (k < r ? k : r);
    *lo = a;
    *hi = a + q + (k < r ? 1 : 0);
}

static cnn_status check(cnn_comm *c, const void *buf, size_t n, const char *what)
{
    if (!c) return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: NULL communicator", what);
    if (!buf && n) return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: NULL buffer", what);
    if (c->broken)
        return cnn_set_error(CNN_ERR_STATE, "%s: rank %d: an earlier collective failed; the run cannot go on",
                             what, c->rank);
    return CNN_OK;
}

static cnn_status allreduce(cnn_comm *c, void *buf, size_t n, size_t elem, cnn_reduce_op op)
{
    CNN_CHECK(check(c, buf, n, "all-reduce"));
    if (op != CNN_REDUCE_SUM && op != CNN_REDUCE_MEAN)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "all-reduce: unknown operation %d", (int)op);
    if (c->size == 1 || n == 0) return CNN_OK;
    double t0 = cnn_now_s();
    cnn_status s = c->ops->allreduce_sum(c, buf, n, elem);
    c->st.seconds += cnn_now_s() - t0;
    c->st.bytes += n * elem;
    c->st.calls++;
    if (s != CNN_OK) {
        c->broken = true;
        return s;
    }
    if (op == CNN_REDUCE_MEAN) {
        if (elem == sizeof(float))
            for (size_t i = 0; i < n; i++) ((float *)buf)[i] /= (float)c->size;
        else
            for (size_t i = 0; i < n; i++) ((double *)buf)[i] /= (double)c->size;
    }
    return CNN_OK;
}

cnn_status cnn_comm_allreduce(cnn_comm *c, float *buf, size_t n, cnn_reduce_op op)
{
    return allreduce(c, buf, n, sizeof(float), op);
}

cnn_status cnn_comm_allreduce_f64(cnn_comm *c, double *buf, size_t n, cnn_reduce_op op)
{
    return allreduce(c, buf, n, sizeof(double), op);
}

cnn_status cnn_comm_bcast(cnn_comm *c, void *buf, size_t bytes, int root)
{
    CNN_CHECK(check(c, buf, bytes, "broadcast"));
    if (root < 0 || root >= c->size)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "broadcast: root %d is not a rank of %d", root, c->size);
    if (c->size == 1 || bytes == 0) return CNN_OK;
    double t0 = cnn_now_s();
    cnn_status s = c->ops->bcast(c, buf, bytes, root);
    c->st.seconds += cnn_now_s() - t0;
    c->st.bytes += bytes;
    c->st.calls++;
    if (s != CNN_OK) c->broken = true;
    return s;
}

cnn_status cnn_comm_barrier(cnn_comm *c)
{
    CNN_CHECK(check(c, NULL, 0, "barrier"));
    if (c->size == 1) return CNN_OK;
    double t0 = cnn_now_s();
    cnn_status s = c->ops->barrier(c);
    c->st.seconds += cnn_now_s() - t0;
    c->st.calls++;
    if (s != CNN_OK) c->broken = true;
    return s;
}

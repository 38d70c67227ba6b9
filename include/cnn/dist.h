/* cnn/dist.h: part of the public API of cnn.c (include it through cnn.h).
   Data-parallel communicators (single process, MPI). */
#ifndef CNN_API_DIST_H
#define CNN_API_DIST_H

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Declarations here are the shared library's interface; it is built with
   -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

/* ---------------------------------------------------------------- distributed
 * (owned by src/dist/; see docs/architecture.md "Distributed training")
 * A communicator joins the processes (ranks) of one data-parallel run. The
 * single-process one (rank 0 of 1) is the default; the MPI one needs a build with
 * CNN_WITH_MPI and a launch by mpirun. Collectives are blocking, called by every rank
 * in the same order, and fail with a message (never hang) when they do not complete
 * within the timeout (a rank died or stopped answering). */
/* CNN-DIST-BEGIN */
typedef struct cnn_comm cnn_comm;
typedef enum cnn_comm_kind {
    CNN_COMM_AUTO = 0, /* MPI when started by mpirun (and built with it), else single */
    CNN_COMM_SINGLE,
    CNN_COMM_MPI,      /* "not built with MPI" (CNN_ERR_UNSUPPORTED) in a build without it */
} cnn_comm_kind;
/* Initialises MPI for CNN_COMM_MPI (once per process). */
cnn_status cnn_comm_init(cnn_comm_kind kind, cnn_comm **out);
/* Finalises (MPI_Finalize for the MPI communicator) and frees. NULL is fine. */
void cnn_comm_free(cnn_comm *c);
int cnn_comm_rank(const cnn_comm *c);
int cnn_comm_size(const cnn_comm *c);
const char *cnn_comm_name(const cnn_comm *c); /* "single" or "mpi" */
bool cnn_comm_built_with_mpi(void);
/* In-place all-reduce of n values. The result is the same on every rank and is
   ((x_0 + x_1) + x_2) + ... in rank order for every element, whatever the transport
   (each rank adds its slice of the buffer in rank order, then the slices are gathered),
   so it does not depend on MPI's choice of algorithm. op: CNN_REDUCE_SUM, or
   CNN_REDUCE_MEAN (the sum divided by size); MAX/MIN are not supported. */
cnn_status cnn_comm_allreduce(cnn_comm *c, float *buf, size_t n, cnn_reduce_op op);
cnn_status cnn_comm_allreduce_f64(cnn_comm *c, double *buf, size_t n, cnn_reduce_op op);
/* Root's bytes to every rank. */
cnn_status cnn_comm_bcast(cnn_comm *c, void *buf, size_t bytes, int root);
cnn_status cnn_comm_barrier(cnn_comm *c);
/* Seconds a collective may wait (default 300, or CNN_DIST_TIMEOUT); <= 0: forever. */
void cnn_comm_set_timeout(cnn_comm *c, double seconds);
/* True once a collective failed or timed out: the run cannot continue in step and
   should end with cnn_comm_abort. */
bool cnn_comm_broken(const cnn_comm *c);
/* Ends every rank of the run at once (MPI_Abort) with this exit code; for programs
   (the CLI), never called by the library. The single communicator returns. */
void cnn_comm_abort(cnn_comm *c, int code);
/* Time spent in collectives and bytes contributed, since creation. */
typedef struct cnn_comm_stats {
    double seconds;     /* waiting for and moving data (includes waiting for slower ranks) */
    uint64_t bytes;     /* payload bytes passed to all-reduce / broadcast */
    int64_t calls;
} cnn_comm_stats;
cnn_comm_stats cnn_comm_get_stats(const cnn_comm *c);
/* Shard k of K of n items: the contiguous [*lo, *hi), the first n % K shards one
   larger. How a global batch is split among ranks. */
void cnn_shard_range(int n, int shards, int k, int *lo, int *hi);
/* CNN-DIST-END */

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_DIST_H */

/* The communicator behind cnn_comm (docs/architecture.md "Distributed training"):
   one table of collectives per transport. The generic layer (comm.c) checks
   arguments, keeps the statistics and does MEAN; a transport only sums in rank order,
   broadcasts and waits. */
#ifndef CNN_DIST_INTERNAL_H
#define CNN_DIST_INTERNAL_H
#include "cnn.h"

typedef struct cnn_comm_ops {
    const char *name;
    /* In-place sum of n elements of elem bytes (4: float, 8: double) in rank order. */
    cnn_status (*allreduce_sum)(cnn_comm *c, void *buf, size_t n, size_t elem);
    cnn_status (*bcast)(cnn_comm *c, void *buf, size_t bytes, int root);
    cnn_status (*barrier)(cnn_comm *c);
    void (*abort)(cnn_comm *c, int code);
    void (*free)(cnn_comm *c);
} cnn_comm_ops;
/* The table <p>_ops of a communicator named nm whose entries are the functions
   <p>_allreduce_sum, <p>_bcast, <p>_barrier, <p>_abort and <p>_free. */
#define CNN_COMM_OPS(p, nm)                                                                 \
    static const cnn_comm_ops p##_ops = {.name = nm,                                        \
                                         .allreduce_sum = p##_allreduce_sum,                \
                                         .bcast = p##_bcast,                                \
                                         .barrier = p##_barrier,                            \
                                         .abort = p##_abort,                                \
                                         .free = p##_free}

struct cnn_comm {
    const cnn_comm_ops *ops;
    int rank, size;
    double timeout; /* seconds; <= 0: wait forever */
    bool broken;
    cnn_comm_stats st;
    void *impl;
};

/* True when the environment says this process was started by mpirun / a PMI(x)
   launcher; *size gets the launch's process count (1 if unknown). */
bool cnn_dist_launched(int *size);
#ifdef CNN_HAVE_MPI
cnn_status cnn_comm_mpi_new(cnn_comm **out);
#endif
#endif

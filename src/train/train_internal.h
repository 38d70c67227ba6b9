/* Internal helpers shared by the trainer, the model wrapper and the CLI. */
#ifndef CNN_TRAIN_INTERNAL_H
#define CNN_TRAIN_INTERNAL_H
#include <stdarg.h>

#include "cnn.h"

#define CNN_META_MAX 24
#define CNN_META_LEN 4096

/* Fills meta with the model's metadata key/value pairs; returns the count. */
int cnn_model_meta(const cnn_model *m, char meta[][2][CNN_META_LEN], int max);
cnn_status cnn_model_set_class_names(cnn_model *m, char *const *names);
cnn_status cnn_model_check_data(const cnn_model *m, const cnn_loader *l);
/* An in-order loader (no shuffle, no augmentation) over the first limit examples of d
   (all for limit <= 0) at the model's batch and transform, checked against its input
   (cnn_model_check_data) and started: evaluation and calibration. The loader reads
   *view (that view of d), which must outlive it. *l is set whenever the loader was
   made, failure or not (the caller frees it). */
cnn_status cnn_model_eval_loader(const cnn_model *m, const cnn_dataset *d, int limit,
                                 cnn_dataset *view, cnn_loader **l);
/* The next batch of l set as m's input: *n examples (0: the epoch is over), *y their
   labels. */
cnn_status cnn_model_next_batch(cnn_model *m, cnn_loader *l, const float **y, int *n);

/* Data-parallel training state (trainer_dist.c; docs/architecture.md "Distributed
   training"). */
typedef struct cnn_dist {
    cnn_comm *comm, *own;  /* own: the single-process communicator made when none given */
    int rank, P, K, B;     /* rank of P; K shards of the global batch B */
    int first, nloc;       /* shards this process computes: [first, first + nloc) */
    uint64_t seed;
    bool sync_bn;
    cnn_graph *g;
    float *acc;            /* one process, K > 1: the gradient summed over shards */
    size_t n_grad;
    float *bufsave;        /* ... and shard 0's batch-norm running statistics */
    size_t n_buf;
} cnn_dist;
cnn_status cnn_dist_setup(cnn_dist *d, cnn_model *m, const cnn_dataset *train, const cnn_dataset *test,
                          const cnn_train_config *c);
cnn_status cnn_dist_prepare(cnn_dist *d, cnn_graph *g); /* after compile */
void cnn_dist_free(cnn_dist *d);
/* Every rank gets s != CNN_OK if any rank had it (its own message, or "another rank"). */
cnn_status cnn_dist_agree(cnn_dist *d, cnn_status s, const char *what);
cnn_status cnn_dist_sync_params(cnn_dist *d, cnn_graph *g);
cnn_status cnn_dist_sync_resume(cnn_dist *d, cnn_graph *g, cnn_optimizer *opt, int *epoch, int *batch);
cnn_status cnn_dist_root_status(cnn_dist *d, cnn_status s);
cnn_status cnn_dist_step(cnn_dist *d, cnn_model *m, const float *x, const float *y, int n, int64_t step,
                         double stats[4]);
cnn_status cnn_dist_evaluate(cnn_dist *d, cnn_model *m, const cnn_dataset *test, int limit, double *acc);
#endif

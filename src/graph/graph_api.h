/* The graph layer's narrow internal interface for the layers above it that drive the
   executor (the trainer: parameter and gradient blocks for data-parallel all-reduce,
   batch-norm synchronisation) or initialise parameters with their layer's default.
   Everything else above graph/ uses include/cnn.h only; see docs/architecture.md,
   "Layers and who includes what". Not part of the public API. */
#ifndef CNN_GRAPH_API_H
#define CNN_GRAPH_API_H
#include "cnn.h"

/* The contiguous block holding every parameter and buffer, and the one holding every
   trainable parameter's gradient (compiled graphs; NULL and 0 bytes before). */
float *cnn_graph_param_block(cnn_graph *g, size_t *bytes);
float *cnn_graph_grad_block(cnn_graph *g, size_t *bytes);
/* Batch-norm statistics of training forwards are computed over the ranks of c (NULL:
   this process only). */
void cnn_graph_set_sync(cnn_graph *g, cnn_comm *c);
/* Fills p with the default initialisation its layer declared (PyTorch's): uniform in
   [-b, b] or a constant. p must be a parameter of a graph. */
void cnn_param_init_default(cnn_param *p, cnn_rng *rng);
#endif

/* The graph layer's narrow internal interface for the layers above it that drive the
   executor (the trainer: parameter and gradient blocks for data-parallel all-reduce,
   batch-norm synchronisation) or initialise parameters with their layer's default.
   Everything else above graph/ uses include/cnn.h only; see docs/architecture.md,
   "Layers and who includes what". Not part of the public API. */
#ifndef CNN_GRAPH_API_H
#define CNN_GRAPH_API_H
#include "cnn.h"
#include "../core/optim_seg.h"

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
/* One optimizer update of n_seg parameter segments (pieces of g's trainable
   parameters with their optimizer state) by the backend table's sgd_step / adam_step
   (docs/architecture.md, "Kernels"): element-wise, so the result does not depend on
   how the backend shares the segments out. */
void cnn_graph_sgd_step(cnn_graph *g, const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h);
void cnn_graph_adam_step(cnn_graph *g, const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h);
/* int8 calibration (train/quantize.c): the threshold, in |x| units, from a histogram
   of |x| over [0, amax) in `bins` bins: method 1 percentile, 2 entropy (KL divergence,
   TensorRT's), otherwise amax (graph/quant.c). */
float cnn_calib_threshold(const double *hist, int bins, float amax, int method, float percentile);
#endif

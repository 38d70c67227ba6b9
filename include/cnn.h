/* cnn.h — the public API of cnn.c: this umbrella includes every part (include/cnn/).
 *
 * A model is a static graph built once through a functional API. Every builder
 * call checks and infers shapes at once and returns a node; on error it returns
 * NULL, records the first error in the graph (cnn_graph_status) and every later
 * builder call given a NULL input returns NULL too, so model code needs no checks
 * between layers:
 *
 *     cnn_graph *g = cnn_graph_new();
 *     cnn_node *x = cnn_input(g, "input", 4, (int[]){256, 1, 28, 28});
 *     x = cnn_conv2d(g, x, 6, .kernel = 5, .padding = 2);
 *     x = cnn_sigmoid(g, x);
 *     ...
 *     if (cnn_graph_status(g) != CNN_OK) puts(cnn_error_message());
 *
 * Tensors are dense float32, NCHW (NCDHW in 3D), like PyTorch. Dimension 0 of every
 * batched node is the batch: the graph is built for a maximum batch and may run any
 * smaller one. Parameter and buffer names are PyTorch state_dict keys, made from the
 * scope stack (cnn_scope_push) and each layer's .name.
 */
#ifndef CNN_H
#define CNN_H

/* The umbrella: every part of the API, one header per concern (docs/architecture.md,
   "Layers and who includes what"). Each part marks its declarations default-visible. */
#include "cnn/core.h"
#include "cnn/graph.h"
#include "cnn/describe.h"
#include "cnn/ops.h"
#include "cnn/io.h"
#include "cnn/data.h"
#include "cnn/hsi.h"
#include "cnn/models.h"
#include "cnn/dist.h"
#include "cnn/train.h"

#endif /* CNN_H */

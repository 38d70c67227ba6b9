/* global_maxpool — (N, C, H, W) -> (N, C, 1, 1), the maximum of each plane (also 3-D:
   (N, C, D, H, W) -> (N, C, 1, 1, 1)); ONNX GlobalMaxPool, torch's
   adaptive_max_pool2d(x, 1). NaN wins, as in torch's max pooling; backward gives the
   gradient to the first maximum of each plane (found again from the kept input).
   See docs/architecture.md, "General tensor ops". */
#include "../graph/graph_internal.h"
#include "ops_common.h"

static cnn_status gmp_shape(cnn_node *n)
{
    const cnn_node *x = n->in[0];
    if (x->out.ndim != 4 && x->out.ndim != 5)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "input must be (N, C, H, W) or (N, C, D, H, W), got %s",
                              cnn_node_shape_str(x));
    n->batched = x->batched;
    n->out.ndim = x->out.ndim;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = x->out.dims[1];
    for (int i = 2; i < x->out.ndim; i++) n->out.dims[i] = 1;
    return CNN_OK;
}

static cnn_status gmp_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    size_t planes = cnn_node_numel(n), hw = cnn_node_numel(n->in[0]) / planes;
    cnn_backend_get()->global_maxpool_forward(planes, hw, n->in[0]->out.data, n->out.data);
    return CNN_OK;
}

static cnn_status gmp_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    size_t planes = cnn_node_numel(n), hw = cnn_node_numel(n->in[0]) / planes;
    cnn_backend_get()->global_maxpool_backward(planes, hw, n->in[0]->out.data, n->grad.data, dx);
    return CNN_OK;
}

CNN_OP_DEF(global_maxpool, .shape = gmp_shape, .forward = gmp_forward, .backward = gmp_backward);

CNN_OP_BUILDER_X(global_maxpool)

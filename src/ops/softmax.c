/* softmax — over dimension 1, as torch.softmax(x, dim=1): (N, K) gives a distribution
   per example; (N, C, H, W) one per position over the channels. Max-subtracted for
   stability. Backward uses the output: dx = y (dy - sum_k dy_k y_k). The arithmetic
   is the backend's softmax entry (docs/architecture.md, "Kernels"). */
#include "../graph/graph_internal.h"
#include "ops_common.h"

static cnn_status softmax_shape(cnn_node *n)
{
    const cnn_node *x = n->in[0];
    CNN_CHECK(cnn_input_batched(n, 2, "(N, K) or (N, C, ...)"));
    cnn_out_like(n, x);
    return CNN_OK;
}

/* Positions per example over which softmax runs independently (H*W; 1 for (N, K)). */
static int64_t inner_of(const cnn_node *n)
{
    int64_t s = 1;
    for (int i = 2; i < n->out.ndim; i++) s *= n->out.dims[i];
    return s;
}

static cnn_status softmax_forward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_backend_get()->softmax_forward(ctx->batch, n->out.dims[1], inner_of(n), false,
                                       n->in[0]->out.data, n->out.data);
    return CNN_OK;
}

static cnn_status softmax_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    cnn_backend_get()->softmax_backward(ctx->batch, n->out.dims[1], inner_of(n), false,
                                        n->out.data, n->grad.data, dx);
    return CNN_OK;
}

CNN_OP_DEF(softmax, .shape = softmax_shape, .forward = softmax_forward,
           .backward = softmax_backward);

CNN_OP_BUILDER_X(softmax)

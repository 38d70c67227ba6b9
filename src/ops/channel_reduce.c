/* channel_mean / channel_max — x: (N, C, H, W) -> (N, 1, H, W): the mean or the max
   over channels at every position, as torch.mean(x, 1, keepdim=True) and
   torch.max(x, 1, keepdim=True)[0] in CBAM's spatial attention. 5-D works alike.
   Max keeps the argmax channel (int32, first of equals) in n->saved; the gradient
   goes to that channel only, as PyTorch's. */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "nd.h"

static cnn_status reduce_shape(cnn_node *n)
{
    const cnn_node *x = n->in[0];
    CNN_CHECK(cnn_input_batched(n, 3, "(N, C, H, W)"));
    cnn_out_like(n, x);
    n->out.dims[1] = 1;
    return CNN_OK;
}

static cnn_status max_shape(cnn_node *n)
{
    CNN_CHECK(reduce_shape(n));
    n->saved_bytes = cnn_node_numel_max(n) * sizeof(int32_t);
    return CNN_OK;
}

/* Elements per channel (of the output; the input's are the same). */
static size_t plane(const cnn_node *n) { return cnn_nd_plane(n->out.ndim, n->out.dims); }

static cnn_status mean_forward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_backend_get()->channel_mean_forward((size_t)ctx->batch, (size_t)n->in[0]->out.dims[1],
                                            plane(n), n->in[0]->out.data, n->out.data);
    return CNN_OK;
}

static cnn_status mean_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    cnn_backend_get()->channel_mean_backward((size_t)ctx->batch, (size_t)n->in[0]->out.dims[1],
                                             plane(n), n->grad.data, dx);
    return CNN_OK;
}

static cnn_status max_forward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_backend_get()->channel_max_forward((size_t)ctx->batch, (size_t)n->in[0]->out.dims[1],
                                           plane(n), n->in[0]->out.data, n->out.data, n->saved);
    return CNN_OK;
}

static cnn_status max_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    cnn_backend_get()->channel_max_backward((size_t)ctx->batch, (size_t)n->in[0]->out.dims[1],
                                            plane(n), n->saved, n->grad.data, dx);
    return CNN_OK;
}

CNN_OP_DEF(channel_mean, .shape = reduce_shape, .forward = mean_forward, .backward = mean_backward);

CNN_OP_DEF(channel_max, .shape = max_shape, .forward = max_forward, .backward = max_backward);

CNN_OP_BUILDER_X(channel_mean)

CNN_OP_BUILDER_X(channel_max)

/* channel_mean / channel_max — x: (N, C, H, W) -> (N, 1, H, W): the mean or the max
   over channels at every position, as torch.mean(x, 1, keepdim=True) and
   torch.max(x, 1, keepdim=True)[0] in CBAM's spatial attention. 5-D works alike.
   Max keeps the argmax channel (int32, first of equals) in n->saved; the gradient
   goes to that channel only, as PyTorch's. */
#include <string.h>

#include "../graph/graph_internal.h"

static cnn_status reduce_shape(cnn_node *n)
{
    const cnn_node *x = n->in[0];
    if (!x->batched || x->out.ndim < 3)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, H, W), got %s",
                              cnn_node_shape_str(x));
    n->out.ndim = x->out.ndim;
    memcpy(n->out.dims, x->out.dims, sizeof n->out.dims);
    n->out.dims[1] = 1;
    return CNN_OK;
}

static cnn_status max_shape(cnn_node *n)
{
    CNN_CHECK(reduce_shape(n));
    n->saved_bytes = cnn_node_numel_max(n) * sizeof(int32_t);
    return CNN_OK;
}

/* Positions per example (product of dims 2..). */
static size_t plane(const cnn_node *n)
{
    size_t p = 1;
    for (int d = 2; d < n->out.ndim; d++) p *= (size_t)n->out.dims[d];
    return p;
}

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

const cnn_op_def cnn_op_channel_mean = {
    .name = "channel_mean",
    .shape = reduce_shape,
    .forward = mean_forward,
    .backward = mean_backward,
};

const cnn_op_def cnn_op_channel_max = {
    .name = "channel_max",
    .shape = max_shape,
    .forward = max_forward,
    .backward = max_backward,
};

cnn_node *cnn_channel_mean(cnn_graph *g, cnn_node *x)
{
    return cnn_node_make(g, &cnn_op_channel_mean, NULL, 1, &x, NULL, 0);
}

cnn_node *cnn_channel_max(cnn_graph *g, cnn_node *x)
{
    return cnn_node_make(g, &cnn_op_channel_max, NULL, 1, &x, NULL, 0);
}

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
    size_t S = plane(n), C = (size_t)n->in[0]->out.dims[1];
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
    for (int b = 0; b < ctx->batch; b++) {
        const float *xb = x + (size_t)b * C * S;
        float *yb = y + (size_t)b * S;
        for (size_t k = 0; k < S; k++) yb[k] = 0.0f;
        for (size_t c = 0; c < C; c++)
            for (size_t k = 0; k < S; k++) yb[k] += xb[c * S + k];
        for (size_t k = 0; k < S; k++) yb[k] /= (float)C;
    }
    return CNN_OK;
}

static cnn_status mean_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    size_t S = plane(n), C = (size_t)n->in[0]->out.dims[1];
    const float *dy = n->grad.data;
    float inv = 1.0f / (float)C;
    for (int b = 0; b < ctx->batch; b++)
        for (size_t c = 0; c < C; c++) {
            float *d = dx + ((size_t)b * C + c) * S;
            const float *g = dy + (size_t)b * S;
            for (size_t k = 0; k < S; k++) d[k] += g[k] * inv;
        }
    return CNN_OK;
}

static cnn_status max_forward(cnn_node *n, const cnn_ctx *ctx)
{
    size_t S = plane(n), C = (size_t)n->in[0]->out.dims[1];
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
    int32_t *arg = n->saved;
    for (int b = 0; b < ctx->batch; b++) {
        const float *xb = x + (size_t)b * C * S;
        float *yb = y + (size_t)b * S;
        int32_t *ab = arg + (size_t)b * S;
        for (size_t k = 0; k < S; k++) {
            yb[k] = xb[k];
            ab[k] = 0;
        }
        for (size_t c = 1; c < C; c++)
            for (size_t k = 0; k < S; k++)
                if (xb[c * S + k] > yb[k]) {
                    yb[k] = xb[c * S + k];
                    ab[k] = (int32_t)c;
                }
    }
    return CNN_OK;
}

static cnn_status max_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    size_t S = plane(n), C = (size_t)n->in[0]->out.dims[1];
    const float *dy = n->grad.data;
    const int32_t *arg = n->saved;
    for (int b = 0; b < ctx->batch; b++)
        for (size_t k = 0; k < S; k++) {
            size_t i = (size_t)b * S + k;
            dx[((size_t)b * C + (size_t)arg[i]) * S + k] += dy[i];
        }
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

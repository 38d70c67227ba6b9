/* softmax — over dimension 1, as torch.softmax(x, dim=1): (N, K) gives a distribution
   per example; (N, C, H, W) one per position over the channels. Max-subtracted for
   stability. Backward uses the output: dx = y (dy - sum_k dy_k y_k). */
#include <math.h>

#include "../graph/graph_internal.h"

static cnn_status softmax_shape(cnn_node *n)
{
    const cnn_node *x = n->in[0];
    if (!x->batched || x->out.ndim < 2)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, K) or (N, C, ...), got %s",
                              cnn_node_shape_str(x));
    n->out.ndim = x->out.ndim;
    for (int i = 0; i < x->out.ndim; i++) n->out.dims[i] = x->out.dims[i];
    return CNN_OK;
}

/* Positions per example over which softmax runs independently (H*W; 1 for (N, K)). */
static size_t inner_of(const cnn_node *n)
{
    size_t s = 1;
    for (int i = 2; i < n->out.ndim; i++) s *= (size_t)n->out.dims[i];
    return s;
}

static cnn_status softmax_forward(cnn_node *n, const cnn_ctx *ctx)
{
    int N = ctx->batch, K = n->out.dims[1];
    size_t S = inner_of(n);
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * K * S;
        float *yi = y + (size_t)i * K * S;
        for (size_t p = 0; p < S; p++) {
            float m = xi[p];
            for (int k = 1; k < K; k++) m = fmaxf(m, xi[(size_t)k * S + p]);
            double sum = 0.0;
            for (int k = 0; k < K; k++) {
                float e = expf(xi[(size_t)k * S + p] - m);
                yi[(size_t)k * S + p] = e;
                sum += e;
            }
            float inv = (float)(1.0 / sum);
            for (int k = 0; k < K; k++) yi[(size_t)k * S + p] *= inv;
        }
    }
    return CNN_OK;
}

static cnn_status softmax_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    int N = ctx->batch, K = n->out.dims[1];
    size_t S = inner_of(n);
    const float *y = n->out.data, *dy = n->grad.data;
    for (int i = 0; i < N; i++) {
        size_t base = (size_t)i * K * S;
        for (size_t p = 0; p < S; p++) {
            double dot = 0.0;
            for (int k = 0; k < K; k++) {
                size_t e = base + (size_t)k * S + p;
                dot += (double)dy[e] * y[e];
            }
            for (int k = 0; k < K; k++) {
                size_t e = base + (size_t)k * S + p;
                dx[e] += y[e] * (dy[e] - (float)dot);
            }
        }
    }
    return CNN_OK;
}

const cnn_op_def cnn_op_softmax = {
    .name = "softmax",
    .shape = softmax_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
};

cnn_node *cnn_softmax(cnn_graph *g, cnn_node *x)
{
    return cnn_node_make(g, &cnn_op_softmax, NULL, 1, &x, NULL, 0);
}

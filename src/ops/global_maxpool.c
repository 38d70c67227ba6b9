/* global_maxpool — (N, C, H, W) -> (N, C, 1, 1), the maximum of each plane (also 3-D:
   (N, C, D, H, W) -> (N, C, 1, 1, 1)); ONNX GlobalMaxPool, torch's
   adaptive_max_pool2d(x, 1). NaN wins, as in torch's max pooling; backward gives the
   gradient to the first maximum of each plane (found again from the kept input).
   See docs/architecture.md, "General tensor ops". */
#include <math.h>

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

static int64_t plane_argmax(const float *p, int64_t S)
{
    int64_t best = 0;
    for (int64_t k = 1; k < S && !isnan(p[best]); k++)
        if (p[k] > p[best] || isnan(p[k])) best = k;
    return best;
}

static cnn_status gmp_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
    int64_t planes = (int64_t)cnn_node_numel(n);
    int64_t S = (int64_t)(cnn_node_numel(n->in[0]) / (size_t)planes);
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(cnn_node_numel(n->in[0])))
    for (int64_t p = 0; p < planes; p++) y[p] = x[p * S + plane_argmax(x + p * S, S)];
    return CNN_OK;
}

static cnn_status gmp_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    const float *x = n->in[0]->out.data, *dy = n->grad.data;
    int64_t planes = (int64_t)cnn_node_numel(n);
    int64_t S = (int64_t)(cnn_node_numel(n->in[0]) / (size_t)planes);
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(cnn_node_numel(n->in[0])))
    for (int64_t p = 0; p < planes; p++) dx[p * S + plane_argmax(x + p * S, S)] += dy[p];
    return CNN_OK;
}

const cnn_op_def cnn_op_global_maxpool = {
    .name = "global_maxpool",
    .shape = gmp_shape,
    .forward = gmp_forward,
    .backward = gmp_backward,
};

cnn_node *cnn_global_maxpool(cnn_graph *g, cnn_node *x)
{
    return cnn_node_make(g, &cnn_op_global_maxpool, NULL, 1, &x, NULL, 0);
}

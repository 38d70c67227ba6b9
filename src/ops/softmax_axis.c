/* softmax_axis — softmax or log-softmax along any one axis (ONNX Softmax /
   LogSoftmax at opset 13, torch.softmax / log_softmax with dim). Max-subtracted, the
   sum in double, as softmax.c (axis 1 gives its bits). On a batched node the batch
   (axis 0) cannot be the axis. Backward from the output: softmax
   dx = y (dy - sum dy y), log-softmax dx = dy - exp(y) sum dy.
   See docs/architecture.md, "General tensor ops". */
#include <math.h>

#include "../graph/graph_internal.h"
#include "nd.h"
#include "ops_common.h"

typedef struct sma_attr {
    int axis;  /* as given */
    bool log;
    int ax;    /* resolved */
} sma_attr;

static cnn_status sma_shape(cnn_node *n)
{
    sma_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    a->ax = cnn_nd_axis(a->axis, x->out.ndim);
    if (a->ax < 0)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "axis %d is outside the %d dimensions of %s",
                              a->axis, x->out.ndim, cnn_node_shape_str(x));
    if (x->batched && a->ax == 0)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "axis %d is the batch of %s: a softmax over it would mix examples",
                              a->axis, cnn_node_shape_str(x));
    n->batched = x->batched;
    n->out.ndim = x->out.ndim;
    for (int i = 0; i < x->out.ndim; i++) n->out.dims[i] = x->out.dims[i];
    return CNN_OK;
}

static void sma_geom(const cnn_node *n, int64_t *outer, int64_t *K, int64_t *S)
{
    const sma_attr *a = n->attr;
    *outer = *S = 1;
    for (int i = 0; i < a->ax; i++) *outer *= n->out.dims[i];
    for (int i = a->ax + 1; i < n->out.ndim; i++) *S *= n->out.dims[i];
    *K = n->out.dims[a->ax];
}

static cnn_status sma_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const sma_attr *a = n->attr;
    int64_t outer, K, S;
    sma_geom(n, &outer, &K, &S);
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(cnn_node_numel(n) * 8))
    for (int64_t i = 0; i < outer; i++) {
        const float *xi = x + i * K * S;
        float *yi = y + i * K * S;
        for (int64_t p = 0; p < S; p++) {
            float m = xi[p];
            for (int64_t k = 1; k < K; k++) m = fmaxf(m, xi[k * S + p]);
            double sum = 0.0;
            for (int64_t k = 0; k < K; k++) {
                float e = expf(xi[k * S + p] - m);
                if (!a->log) yi[k * S + p] = e;
                sum += e;
            }
            if (a->log) {
                float ls = (float)log(sum);
                for (int64_t k = 0; k < K; k++) yi[k * S + p] = (xi[k * S + p] - m) - ls;
            } else {
                float inv = (float)(1.0 / sum);
                for (int64_t k = 0; k < K; k++) yi[k * S + p] *= inv;
            }
        }
    }
    return CNN_OK;
}

static cnn_status sma_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    const sma_attr *a = n->attr;
    int64_t outer, K, S;
    sma_geom(n, &outer, &K, &S);
    const float *y = n->out.data, *dy = n->grad.data;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(cnn_node_numel(n) * 8))
    for (int64_t i = 0; i < outer; i++) {
        size_t base = (size_t)(i * K * S);
        for (int64_t p = 0; p < S; p++) {
            double dot = 0.0;
            for (int64_t k = 0; k < K; k++) {
                size_t e = base + (size_t)(k * S + p);
                dot += a->log ? (double)dy[e] : (double)dy[e] * y[e];
            }
            for (int64_t k = 0; k < K; k++) {
                size_t e = base + (size_t)(k * S + p);
                if (a->log) dx[e] += dy[e] - expf(y[e]) * (float)dot;
                else dx[e] += y[e] * (dy[e] - (float)dot);
            }
        }
    }
    return CNN_OK;
}

static void sma_describe(const cnn_node *n, cnn_op_desc *d)
{
    const sma_attr *a = n->attr;
    d->n_attrs = 2;
    d->attrs[0] = (cnn_desc_attr){.key = "axis", .n = 1, .i = {a->axis}};
    d->attrs[1] = (cnn_desc_attr){.key = "log", .n = 1, .i = {a->log}};
}

const cnn_op_def cnn_op_softmax_axis = {
    .name = "softmax_axis",
    .shape = sma_shape,
    .forward = sma_forward,
    .backward = sma_backward,
    .describe = sma_describe,
};

cnn_node *cnn_softmax_axis(cnn_graph *g, cnn_node *x, int axis, bool log)
{
    sma_attr a = {.axis = axis, .log = log};
    return cnn_node_make(g, &cnn_op_softmax_axis, log ? "log_softmax" : "softmax", 1, &x, &a,
                         sizeof a);
}

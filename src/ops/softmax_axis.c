/* softmax_axis — softmax or log-softmax along any one axis (ONNX Softmax /
   LogSoftmax at opset 13, torch.softmax / log_softmax with dim). The backend's
   softmax entry, which softmax.c also calls (axis 1 gives its bits). On a batched node the batch
   (axis 0) cannot be the axis. Backward from the output: softmax
   dx = y (dy - sum dy y), log-softmax dx = dy - exp(y) sum dy.
   See docs/architecture.md, "General tensor ops". */
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
    cnn_out_like(n, x);
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
    cnn_backend_get()->softmax_forward(outer, K, S, a->log, n->in[0]->out.data, n->out.data);
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
    cnn_backend_get()->softmax_backward(outer, K, S, a->log, n->out.data, n->grad.data, dx);
    return CNN_OK;
}

static void sma_describe(const cnn_node *n, cnn_op_desc *d)
{
    const sma_attr *a = n->attr;
    d->n_attrs = 2;
    d->attrs[0] = (cnn_desc_attr){.key = "axis", .n = 1, .i = {a->axis}};
    d->attrs[1] = (cnn_desc_attr){.key = "log", .n = 1, .i = {a->log}};
}

CNN_OP_DEF(softmax_axis, .shape = sma_shape, .forward = sma_forward, .backward = sma_backward,
           .describe = sma_describe);

cnn_node *cnn_softmax_axis(cnn_graph *g, cnn_node *x, int axis, bool log)
{
    sma_attr a = {.axis = axis, .log = log};
    return cnn_node_make(g, &cnn_op_softmax_axis, log ? "log_softmax" : "softmax", 1, &x, &a,
                         sizeof a);
}

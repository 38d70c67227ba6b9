/* reduce — mean / sum / max / min over a set of axes, keepdims or not (ONNX
   ReduceMean ... ReduceMin, torch.mean / sum / amax / amin with dim). naxes 0 reduces
   every axis but a batched node's batch; a batched node's batch cannot be reduced.
   Reducing everything without keepdims gives shape (1). Sums accumulate in double;
   max/min propagate NaN. Backward: mean spreads g / count, sum g, max/min split g
   equally among the elements equal to the result (torch.amax's rule).
   See docs/architecture.md, "General tensor ops". */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "nd.h"

typedef struct red_attr {
    cnn_reduce_op op;
    int naxes;
    int axes[CNN_MAX_DIMS]; /* as given */
    bool keepdims;
    bool null_axes;
    bool reduced[CNN_MAX_DIMS]; /* resolved by shape() */
} red_attr;

static const char *const red_names[] = {[CNN_REDUCE_MEAN] = "mean", [CNN_REDUCE_SUM] = "sum",
    [CNN_REDUCE_MAX] = "max", [CNN_REDUCE_MIN] = "min"};
static const char *red_name(cnn_reduce_op op) { return CNN_ENUM_NAME(red_names, op); }

static cnn_status red_shape(cnn_node *n)
{
    red_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    int r = x->out.ndim;
    if (!red_name(a->op))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "unknown reduce op %d", (int)a->op);
    if (a->naxes < 0 || a->naxes > r)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "%d axes for the %d dimensions of %s",
                              a->naxes, r, cnn_node_shape_str(x));
    if (a->naxes > 0 && a->null_axes) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "axes is NULL");
    memset(a->reduced, 0, sizeof a->reduced);
    for (int i = 0; i < a->naxes; i++) {
        int ax = cnn_nd_axis(a->axes[i], r);
        if (ax < 0)
            return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                                  "axis %d is outside the %d dimensions of %s",
                                  a->axes[i], r, cnn_node_shape_str(x));
        if (a->reduced[ax])
            return cnn_node_error(n, CNN_ERR_INVALID_ARG, "axis %d is given twice", a->axes[i]);
        if (x->batched && ax == 0)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "axis %d is the batch of %s: it cannot be reduced",
                                  a->axes[i], cnn_node_shape_str(x));
        a->reduced[ax] = true;
    }
    if (a->naxes == 0)
        for (int i = x->batched ? 1 : 0; i < r; i++) a->reduced[i] = true;
    int m = 0;
    for (int i = 0; i < r; i++) {
        if (!a->reduced[i]) n->out.dims[m++] = x->out.dims[i];
        else if (a->keepdims) n->out.dims[m++] = 1;
    }
    if (m == 0) n->out.dims[m++] = 1;
    n->out.ndim = m;
    n->batched = x->batched;
    return CNN_OK;
}

static void red_desc(const cnn_node *n, const cnn_ctx *ctx, cnn_reduce_desc *d)
{
    const red_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    d->op = a->op;
    d->r = x->out.ndim;
    for (int i = 0; i < d->r; i++) {
        d->dims[i] = x->out.dims[i];
        d->reduced[i] = a->reduced[i];
    }
}

CNN_DESC_FORWARD(red_forward, cnn_reduce_desc, red_desc, reduce_forward,
                 n->in[0]->out.data, n->out.data);

CNN_DESC_BACKWARD(red_backward, cnn_reduce_desc, red_desc, reduce_backward,
                  n->in[0]->out.data, n->out.data, n->grad.data, dx);

static void red_describe(const cnn_node *n, cnn_op_desc *d)
{
    const red_attr *a = n->attr;
    d->n_attrs = 3;
    d->attrs[0] = (cnn_desc_attr){.key = "op", .n = 1, .i = {a->op}};
    d->attrs[1] = (cnn_desc_attr){.key = "axes"}; /* resolved: every reduced axis */
    for (int i = 0; i < n->in[0]->out.ndim; i++)
        if (a->reduced[i]) d->attrs[1].i[d->attrs[1].n++] = i;
    d->attrs[2] = (cnn_desc_attr){.key = "keepdims", .n = 1, .i = {a->keepdims}};
}

CNN_OP_DEF(reduce, .shape = red_shape, .forward = red_forward, .backward = red_backward,
           .describe = red_describe);

cnn_node *cnn_reduce(cnn_graph *g, cnn_node *x, cnn_reduce_op op, int naxes, const int *axes,
                     bool keepdims)
{
    red_attr a = {.op = op, .naxes = naxes, .keepdims = keepdims, .null_axes = axes == NULL};
    if (axes && naxes > 0 && naxes <= CNN_MAX_DIMS)
        memcpy(a.axes, axes, (size_t)naxes * sizeof(int));
    return cnn_node_make(g, &cnn_op_reduce, NULL, 1, &x, &a, sizeof a);
}

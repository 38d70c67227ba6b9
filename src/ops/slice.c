/* slice — elements start, start+step, ... before end along one axis, as ONNX Slice on
   one axis (and Python's x[start:end:step]): negative start/end count from the end,
   then both are clamped to the axis ([0, d] for step > 0, [-1, d-1] for step < 0),
   so INT_MAX / INT_MIN mean open ends; step != 0 and may be negative. On a batched
   node the batch (axis 0) cannot be sliced. Backward scatters into the picked
   elements (each once). See docs/architecture.md, "General tensor ops". */
#include <stdint.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "nd.h"

typedef struct slice_attr {
    int axis, start, end, step; /* as given */
    int ax;                     /* resolved by shape(): the axis, first index, count */
    int64_t first, count;
} slice_attr;

static cnn_status slice_shape(cnn_node *n)
{
    slice_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    int r = x->out.ndim;
    a->ax = cnn_nd_axis(a->axis, r);
    if (a->ax < 0)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "axis %d is outside the %d dimensions of %s",
                              a->axis, r, cnn_node_shape_str(x));
    if (x->batched && a->ax == 0)
        return cnn_node_error(n, CNN_ERR_SHAPE, "axis %d is the batch of %s: it cannot be sliced",
                              a->axis, cnn_node_shape_str(x));
    if (a->step == 0) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "step is 0");
    int64_t d = x->out.dims[a->ax], s = a->start, e = a->end, step = a->step;
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (step > 0) {
        s = s < 0 ? 0 : (s > d ? d : s);
        e = e < 0 ? 0 : (e > d ? d : e);
        a->count = e > s ? (e - s + step - 1) / step : 0;
    } else {
        s = s < 0 ? 0 : (s > d - 1 ? d - 1 : s);
        e = e < -1 ? -1 : (e > d - 1 ? d - 1 : e);
        a->count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
    }
    a->first = s;
    if (a->count == 0)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "[%d:%d:%d] selects no element of axis %d (size %lld) of %s",
                              a->start, a->end, a->step, a->axis, (long long)d,
                              cnn_node_shape_str(x));
    n->batched = x->batched;
    n->out.ndim = r;
    for (int i = 0; i < r; i++) n->out.dims[i] = x->out.dims[i];
    n->out.dims[a->ax] = (int)a->count;
    return CNN_OK;
}

/* x as (outer: dims before the axis at the current batch, the axis, inner) */
static void slice_desc(const cnn_node *n, const cnn_ctx *ctx, cnn_slice_desc *d)
{
    const slice_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    d->outer = d->inner = 1;
    for (int i = 0; i < a->ax; i++)
        d->outer *= x->out.dims[i];
    for (int i = a->ax + 1; i < x->out.ndim; i++)
        d->inner *= x->out.dims[i];
    d->d = x->out.dims[a->ax];
    d->first = a->first;
    d->step = a->step;
    d->count = a->count;
}

CNN_DESC_FORWARD(slice_forward, cnn_slice_desc, slice_desc, slice_forward,
                 n->in[0]->out.data, n->out.data);

CNN_DESC_BACKWARD(slice_backward, cnn_slice_desc, slice_desc, slice_backward, n->grad.data, dx);

static void slice_describe(const cnn_node *n, cnn_op_desc *d)
{
    const slice_attr *a = n->attr;
    static const char *keys[4] = {"axis", "start", "end", "step"};
    const int v[4] = {a->axis, a->start, a->end, a->step};
    d->n_attrs = 4;
    for (int i = 0; i < 4; i++) d->attrs[i] = (cnn_desc_attr){.key = keys[i], .n = 1, .i = {v[i]}};
}

CNN_OP_DEF(slice, .shape = slice_shape, .forward = slice_forward, .backward = slice_backward,
           .describe = slice_describe);

cnn_node *cnn_slice(cnn_graph *g, cnn_node *x, int axis, int start, int end, int step)
{
    slice_attr a = {.axis = axis, .start = start, .end = end, .step = step};
    return cnn_node_make(g, &cnn_op_slice, NULL, 1, &x, &a, sizeof a);
}

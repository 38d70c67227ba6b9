/* add — a + b, same shape (residual connections); as torch.add without broadcasting.
   a and b may be the same node (x + x): each appearance adds its gradient. */
#include <string.h>

#include "../graph/graph_internal.h"

static cnn_status add_shape(cnn_node *n)
{
    const cnn_node *a = n->in[0], *b = n->in[1];
    bool ok = a->out.ndim == b->out.ndim && a->batched == b->batched;
    for (int d = 0; ok && d < a->out.ndim; d++)
        if (a->out.dims[d] != b->out.dims[d]) ok = false;
    if (!ok)
        return cnn_node_error(n, CNN_ERR_SHAPE, "shapes %s and %s differ", cnn_node_shape_str(a),
                              cnn_node_shape_str(b));
    n->out.ndim = a->out.ndim;
    memcpy(n->out.dims, a->out.dims, sizeof n->out.dims);
    n->batched = a->batched;
    return CNN_OK;
}

static cnn_status add_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const float *a = n->in[0]->out.data, *b = n->in[1]->out.data;
    float *y = n->out.data;
    size_t len = cnn_node_numel(n);
    for (size_t i = 0; i < len; i++) y[i] = a[i] + b[i];
    return CNN_OK;
}

static cnn_status add_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const float *dy = n->grad.data;
    size_t len = cnn_node_numel(n);
    for (int k = 0; k < 2; k++) {
        float *dx = n->in[k]->grad.data;
        if (!dx) continue;
        for (size_t i = 0; i < len; i++) dx[i] += dy[i];
    }
    return CNN_OK;
}

const cnn_op_def cnn_op_add = {
    .name = "add",
    .shape = add_shape,
    .forward = add_forward,
    .backward = add_backward,
};

cnn_node *cnn_add(cnn_graph *g, cnn_node *a, cnn_node *b)
{
    cnn_node *in[2] = {a, b};
    return cnn_node_make(g, &cnn_op_add, NULL, 2, in, NULL, 0);
}

/* binary — element-wise a (op) b with NumPy broadcasting: add, sub, mul, div, max,
   min, pow (as torch.add / sub / mul / div / maximum / minimum / pow and ONNX's
   Add ... Pow). Shapes align from the right; a dimension of 1 (or a missing one)
   repeats. A batched operand keeps the batch in dimension 0: it must have the
   output's rank, and an unbatched operand of that rank must have 1 there (it is
   broadcast over the batch). Backward sums the gradient over the broadcast
   dimensions; max/min split a tie's gradient equally, pow differentiates both
   operands (torch's rules: d/dexponent is 0 where base == 0 and exponent >= 0).
   See docs/architecture.md, "General tensor ops". */
#include <stdio.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"
#include "nd.h"

typedef struct bin_attr {
    cnn_binary_op op;
} bin_attr;

static const char *const bin_names[] = {[CNN_BIN_ADD] = "add", [CNN_BIN_SUB] = "sub",
    [CNN_BIN_MUL] = "mul", [CNN_BIN_DIV] = "div", [CNN_BIN_MAX] = "max", [CNN_BIN_MIN] = "min",
    [CNN_BIN_POW] = "pow"};
static const char *bin_name(cnn_binary_op op) { return CNN_ENUM_NAME(bin_names, op); }

/* dims of operand x aligned to rank r (missing leading dimensions are 1) */
static int aligned_dim(const cnn_node *x, int r, int i)
{
    int lead = r - x->out.ndim;
    return i < lead ? 1 : x->out.dims[i - lead];
}

static cnn_status bin_shape(cnn_node *n)
{
    const bin_attr *at = n->attr;
    const cnn_node *a = n->in[0], *b = n->in[1];
    if (!bin_name(at->op))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "unknown binary op %d", (int)at->op);
    int r = a->out.ndim > b->out.ndim ? a->out.ndim : b->out.ndim;
    for (int i = 0; i < r; i++) {
        int da = aligned_dim(a, r, i), db = aligned_dim(b, r, i);
        if (da != db && da != 1 && db != 1)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "shapes %s and %s do not broadcast (dimension %d of the "
                                  "result: %d vs %d)",
                                  cnn_node_shape_str(a), cnn_node_shape_str(b), i, da, db);
        n->out.dims[i] = da > db ? da : db;
    }
    n->out.ndim = r;
    n->batched = a->batched || b->batched;
    for (int k = 0; k < 2 && n->batched; k++) {
        const cnn_node *x = n->in[k];
        if (x->batched && x->out.ndim != r)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "the batched operand %s must have the result's rank %d (%s "
                                  "and %s would move the batch out of dimension 0)",
                                  cnn_node_shape_str(x), r, cnn_node_shape_str(a),
                                  cnn_node_shape_str(b));
        if (!x->batched && x->out.ndim == r && x->out.dims[0] != 1)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "the unbatched operand %s must have 1 in dimension 0 to "
                                  "broadcast over the batch of %s",
                                  cnn_node_shape_str(x), cnn_node_shape_str(n->in[1 - k]));
    }
    return CNN_OK;
}

/* The index space of the output at the current batch: operand 0 = a, 1 = b (stride 0
   where broadcast), 2 = out. */
static void bin_desc(const cnn_node *n, cnn_nd_desc *d)
{
    int r = n->out.ndim;
    d->r = r;
    for (int i = 0; i < r; i++)
        d->dims[i] = n->out.dims[i];
    for (int k = 0; k < 2; k++) {
        const cnn_node *x = n->in[k];
        int64_t sx[CNN_MAX_DIMS];
        cnn_nd_strides(x->out.ndim, x->out.dims, sx);
        int lead = r - x->out.ndim;
        for (int i = 0; i < r; i++)
            d->st[k][i] = (i < lead || x->out.dims[i - lead] == 1) ? 0 : sx[i - lead];
    }
    cnn_nd_strides(r, n->out.dims, d->st[2]);
}

static cnn_status bin_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const bin_attr *at = n->attr;
    cnn_nd_desc d;
    bin_desc(n, &d);
    cnn_backend_get()->binary_forward(at->op, &d, n->in[0]->out.data, n->in[1]->out.data,
                                      n->out.data);
    return CNN_OK;
}

static cnn_status bin_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const bin_attr *at = n->attr;
    cnn_nd_desc d;
    bin_desc(n, &d);
    for (int k = 0; k < 2; k++)
        if (n->in[k]->grad.data)
            cnn_backend_get()->binary_backward(at->op, &d, k, n->in[0]->out.data,
                                               n->in[1]->out.data, n->out.data, n->grad.data,
                                               n->in[k]->grad.data);
    return CNN_OK;
}

CNN_OP_DESCRIBE(bin_describe, bin_attr, cnn_desc_int(d, "op", a->op));

CNN_OP_DEF(binary, .shape = bin_shape, .forward = bin_forward, .backward = bin_backward,
           .describe = bin_describe);

cnn_node *cnn_binary(cnn_graph *g, cnn_node *a, cnn_node *b, cnn_binary_op op)
{
    bin_attr at = {.op = op};
    cnn_node *in[2] = {a, b};
    /* default names per kind, "add0", "mul1", ... as activations do */
    char name[32];
    const char *kind = CNN_KIND_NAME(g, &cnn_op_binary, bin_name(op), &at, op, name);
    return cnn_node_make(g, &cnn_op_binary, kind, 2, in, &at, sizeof at);
}

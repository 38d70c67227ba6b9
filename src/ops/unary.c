/* unary — element-wise maths: neg, abs, exp, log, sqrt, reciprocal (ONNX Neg ...
   Reciprocal, torch's functions of the same names; libm's float functions). Any shape
   -> same shape. Backward: -g; g sign(x) (0 at 0, as torch); g y; g / x; g / (2 y);
   -g y^2. See docs/architecture.md, "General tensor ops". */
#include <stdio.h>

#include "../graph/graph_internal.h"

typedef struct un_attr {
    cnn_unary_op op;
} un_attr;

static const char *un_name(cnn_unary_op op)
{
    switch (op) {
    case CNN_UN_NEG: return "neg";
    case CNN_UN_ABS: return "abs";
    case CNN_UN_EXP: return "exp";
    case CNN_UN_LOG: return "log";
    case CNN_UN_SQRT: return "sqrt";
    case CNN_UN_RECIPROCAL: return "reciprocal";
    default: return NULL;
    }
}

static cnn_status un_shape(cnn_node *n)
{
    const un_attr *a = n->attr;
    if (!un_name(a->op))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "unknown unary op %d", (int)a->op);
    const cnn_node *x = n->in[0];
    n->batched = x->batched;
    n->out.ndim = x->out.ndim;
    for (int i = 0; i < x->out.ndim; i++) n->out.dims[i] = x->out.dims[i];
    return CNN_OK;
}

static cnn_status un_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const un_attr *a = n->attr;
    cnn_backend_get()->unary_forward(a->op, cnn_node_numel(n), n->in[0]->out.data, n->out.data);
    return CNN_OK;
}

static cnn_status un_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    const un_attr *a = n->attr;
    cnn_backend_get()->unary_backward(a->op, cnn_node_numel(n), n->in[0]->out.data, n->out.data,
                                      n->grad.data, dx);
    return CNN_OK;
}

static void un_describe(const cnn_node *n, cnn_op_desc *d)
{
    const un_attr *a = n->attr;
    d->n_attrs = 1;
    d->attrs[0] = (cnn_desc_attr){.key = "op", .n = 1, .i = {a->op}};
}

const cnn_op_def cnn_op_unary = {
    .name = "unary",
    .shape = un_shape,
    .forward = un_forward,
    .backward = un_backward,
    .describe = un_describe,
};

cnn_node *cnn_unary(cnn_graph *g, cnn_node *x, cnn_unary_op op)
{
    un_attr a = {.op = op};
    /* default names per kind, "exp0", "log1", ... as binary ops and activations */
    char name[32];
    const char *kind = un_name(op);
    if (g && kind) {
        int k = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i]->op == &cnn_op_unary && ((const un_attr *)g->nodes[i]->attr)->op == op)
                k++;
        snprintf(name, sizeof name, "%s%d", kind, k);
        kind = name;
    }
    return cnn_node_make(g, &cnn_op_unary, kind, 1, &x, &a, sizeof a);
}

/* unary — element-wise maths: neg, abs, exp, log, sqrt, reciprocal (ONNX Neg ...
   Reciprocal, torch's functions of the same names; libm's float functions). Any shape
   -> same shape. Backward: -g; g sign(x) (0 at 0, as torch); g y; g / x; g / (2 y);
   -g y^2. See docs/architecture.md, "General tensor ops". */
#include <stdio.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

typedef struct un_attr {
    cnn_unary_op op;
} un_attr;

static const char *const un_names[] = {[CNN_UN_NEG] = "neg", [CNN_UN_ABS] = "abs",
    [CNN_UN_EXP] = "exp", [CNN_UN_LOG] = "log", [CNN_UN_SQRT] = "sqrt",
    [CNN_UN_RECIPROCAL] = "reciprocal"};
static const char *un_name(cnn_unary_op op) { return CNN_ENUM_NAME(un_names, op); }

static cnn_status un_shape(cnn_node *n)
{
    const un_attr *a = n->attr;
    if (!un_name(a->op))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "unknown unary op %d", (int)a->op);
    const cnn_node *x = n->in[0];
    n->batched = x->batched;
    cnn_out_like(n, x);
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

CNN_OP_DESCRIBE(un_describe, un_attr, cnn_desc_int(d, "op", a->op));

CNN_OP_DEF(unary, .shape = un_shape, .forward = un_forward, .backward = un_backward,
           .describe = un_describe);

cnn_node *cnn_unary(cnn_graph *g, cnn_node *x, cnn_unary_op op)
{
    un_attr a = {.op = op};
    /* default names per kind, "exp0", "log1", ... as binary ops and activations */
    char name[32];
    const char *kind = CNN_KIND_NAME(g, &cnn_op_unary, un_name(op), &a, op, name);
    return cnn_node_make(g, &cnn_op_unary, kind, 1, &x, &a, sizeof a);
}

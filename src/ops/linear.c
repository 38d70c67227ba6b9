/* linear — x: (N, ...) taken as (N, in) -> (N, out); as torch.nn.Linear
   (y = x W^T + b, weight (out, in), bias (out)). */
#include <math.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

typedef struct linear_attr {
    int in, out;
    bool bias;
} linear_attr;

static cnn_status linear_shape(cnn_node *n)
{
    linear_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    CNN_CHECK(cnn_input_batched(n, 2, "(N, features)"));
    if (a->out < 1) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "out_features %d must be >= 1", a->out);
    if (x->out.ndim != 2)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input %s is not flat: add cnn_flatten before it",
                              cnn_node_shape_str(x));
    a->in = (int)cnn_node_per_example(x);
    n->out.ndim = 2;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = a->out;
    float bound = 1.0f / sqrtf((float)a->in);
    int wd[2] = {a->out, a->in};
    if (!cnn_node_param(n, "weight", 2, wd, CNN_PARAM_WEIGHT, 1, bound)) return CNN_ERR_INVALID_ARG;
    if (a->bias && !cnn_node_param(n, "bias", 1, &a->out, CNN_PARAM_BIAS, 1, bound))
        return CNN_ERR_INVALID_ARG;
    return CNN_OK;
}

static int64_t linear_cost(const cnn_node *n)
{
    const linear_attr *a = n->attr;
    return (int64_t)a->in * a->out;
}

static cnn_status linear_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const linear_attr *a = n->attr;
    float *y = n->out.data;
    int N = ctx->batch;
    if (a->bias) /* y = b in every row, then y += x W^T */
        ctx->be->copy_blocks((size_t)N, (size_t)a->out, n->params[1]->value.data, 0, y,
                             (size_t)a->out);
    ctx->be->gemm(0, 1, N, a->out, a->in, 1.0f, n->in[0]->out.data, a->in,
                  n->params[0]->value.data, a->in, a->bias ? 1.0f : 0.0f, y, a->out);
    return CNN_OK;
}

static cnn_status linear_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const linear_attr *a = n->attr;
    int N = ctx->batch;
    const float *dy = n->grad.data, *x = n->in[0]->out.data;
    /* dW (out, in) += dy^T (out, N) x (N, in) */
    ctx->be->gemm(1, 0, a->out, a->in, N, 1.0f, dy, a->out, x, a->in, 1.0f,
                  n->params[0]->grad.data, a->in);
    if (a->bias) /* db += every row of dy, in order */
        ctx->be->add_blocks((size_t)N, (size_t)a->out, dy, (size_t)a->out, n->params[1]->grad.data,
                            0);
    /* dx (N, in) += dy (N, out) W (out, in) */
    if (n->in[0]->grad.data)
        ctx->be->gemm(0, 0, N, a->in, a->out, 1.0f, dy, a->out, n->params[0]->value.data, a->in,
                      1.0f, n->in[0]->grad.data, a->in);
    return CNN_OK;
}

/* int8: a 1x1 convolution of (N, in, 1, 1, 1) */
static void linear_int8(const cnn_node *n, cnn_conv_desc *d)
{
    const linear_attr *a = n->attr;
    *d = (cnn_conv_desc){.n = n->g->max_batch, .c_in = a->in, .c_out = a->out, .groups = 1,
                         .in = {1, 1, 1}, .out = {1, 1, 1}, .k = {1, 1, 1}, .s = {1, 1, 1},
                         .d = {1, 1, 1}};
}

CNN_OP_DESCRIBE(linear_describe, linear_attr,
                cnn_desc_int(d, "out_features", a->out);
                cnn_desc_int(d, "bias", a->bias));

CNN_OP_DEF(linear, .kernel_name = cnn_gemm_kernel_name, .int8_conv = linear_int8,
           .shape = linear_shape, .cost = linear_cost, .forward = linear_forward,
           .backward = linear_backward, .describe = linear_describe);

cnn_node *cnn_linear_(cnn_graph *g, cnn_node *x, int out_features, const cnn_linear_opts *o)
{
    linear_attr a = {.out = out_features, .bias = !o->no_bias};
    return cnn_node_make(g, &cnn_op_linear, o->name, 1, &x, &a, sizeof a);
}

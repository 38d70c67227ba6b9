/* conv2d — x: (N, C_in, H, W) -> (N, C_out, H', W'), as torch.nn.Conv2d:
   H' = floor((H + 2*pad_h - dil_h*(k_h-1) - 1) / stride_h) + 1.
   Weight (C_out, C_in/groups, k_h, k_w), bias (C_out). Depthwise is groups = C_in;
   pointwise is a 1x1 kernel; rectangular kernels set kernel_h/kernel_w. */
#include <math.h>

#include "../graph/graph_internal.h"

typedef struct conv2d_attr {
    int out;
    int kh, kw, sh, sw, ph, pw, dh, dw, groups;
    bool bias;
    cnn_conv_desc desc; /* at the maximum batch */
} conv2d_attr;

static int pick(int specific, int general, int dflt)
{
    if (specific) return specific;
    if (general) return general;
    return dflt;
}

static cnn_status conv2d_shape(cnn_node *n)
{
    conv2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (x->out.ndim != 4)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, H, W), got %s",
                              cnn_node_shape_str(x));
    int c_in = x->out.dims[1], h = x->out.dims[2], w = x->out.dims[3];
    if (a->out < 1) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "out_channels %d must be >= 1", a->out);
    if (a->kh < 1 || a->kw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "kernel %dx%d must be >= 1 (set .kernel)",
                              a->kh, a->kw);
    if (a->sh < 1 || a->sw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "stride %dx%d must be >= 1", a->sh, a->sw);
    if (a->dh < 1 || a->dw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "dilation %dx%d must be >= 1", a->dh, a->dw);
    if (a->groups < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d must be >= 1", a->groups);
    if (c_in % a->groups)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d does not divide %d input channels",
                              a->groups, c_in);
    if (a->out % a->groups)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d does not divide %d output channels",
                              a->groups, a->out);
    if (a->ph < 0 || a->pw < 0)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "padding %dx%d must be >= 0", a->ph, a->pw);
    int oh = (h + 2 * a->ph - a->dh * (a->kh - 1) - 1) / a->sh + 1;
    int ow = (w + 2 * a->pw - a->dw * (a->kw - 1) - 1) / a->sw + 1;
    if (h + 2 * a->ph < a->dh * (a->kh - 1) + 1 || w + 2 * a->pw < a->dw * (a->kw - 1) + 1)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "kernel %dx%d (dilation %dx%d) is larger than the padded input %s",
                              a->kh, a->kw, a->dh, a->dw, cnn_node_shape_str(x));
    n->out.ndim = 4;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = a->out;
    n->out.dims[2] = oh;
    n->out.dims[3] = ow;

    int cg = c_in / a->groups;
    int fan_in = cg * a->kh * a->kw;
    float bound = 1.0f / sqrtf((float)fan_in); /* kaiming_uniform(a=sqrt(5)) */
    int wd[4] = {a->out, cg, a->kh, a->kw};
    if (!cnn_node_param(n, "weight", 4, wd, CNN_PARAM_WEIGHT, 1, bound)) return CNN_ERR_INVALID_ARG;
    if (a->bias && !cnn_node_param(n, "bias", 1, &a->out, CNN_PARAM_BIAS, 1, bound))
        return CNN_ERR_INVALID_ARG;

    a->desc = (cnn_conv_desc){
        .n = x->out.dims[0], .c_in = c_in, .c_out = a->out, .groups = a->groups,
        .in = {1, h, w}, .out = {1, oh, ow},
        .k = {1, a->kh, a->kw}, .s = {1, a->sh, a->sw}, .p = {0, a->ph, a->pw}, .d = {1, a->dh, a->dw},
    };
    n->scratch_bytes = cnn_conv_scratch_bytes(&a->desc);
    return CNN_OK;
}

static int64_t conv2d_cost(const cnn_node *n)
{
    const conv2d_attr *a = n->attr;
    int64_t per_out = (int64_t)(a->desc.c_in / a->groups) * a->kh * a->kw;
    return per_out * a->out * n->out.dims[2] * n->out.dims[3];
}

static cnn_status conv2d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const conv2d_attr *a = n->attr;
    cnn_conv_desc d = a->desc;
    d.n = ctx->batch;
    ctx->be->conv_forward(&d, n->in[0]->out.data, n->params[0]->value.data,
                          a->bias ? n->params[1]->value.data : NULL, n->out.data, ctx->scratch);
    return CNN_OK;
}

static cnn_status conv2d_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const conv2d_attr *a = n->attr;
    cnn_conv_desc d = a->desc;
    d.n = ctx->batch;
    cnn_node *x = n->in[0];
    ctx->be->conv_backward_weights(&d, x->out.data, n->grad.data, n->params[0]->grad.data,
                                   a->bias ? n->params[1]->grad.data : NULL, ctx->scratch);
    if (x->grad.data)
        ctx->be->conv_backward_data(&d, n->grad.data, n->params[0]->value.data, x->grad.data,
                                    ctx->scratch);
    return CNN_OK;
}

const cnn_op_def cnn_op_conv2d = {
    .name = "conv2d",
    .shape = conv2d_shape,
    .cost = conv2d_cost,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
};

cnn_node *cnn_conv2d_(cnn_graph *g, cnn_node *x, int out_channels, const cnn_conv2d_opts *o)
{
    conv2d_attr a = {
        .out = out_channels,
        .kh = pick(o->kernel_h, o->kernel, 0),
        .kw = pick(o->kernel_w, o->kernel, 0),
        .sh = pick(o->stride_h, o->stride, 1),
        .sw = pick(o->stride_w, o->stride, 1),
        .ph = pick(o->padding_h, o->padding, 0),
        .pw = pick(o->padding_w, o->padding, 0),
        .dh = pick(o->dilation_h, o->dilation, 1),
        .dw = pick(o->dilation_w, o->dilation, 1),
        .groups = o->groups ? o->groups : 1,
        .bias = !o->no_bias,
    };
    return cnn_node_make(g, &cnn_op_conv2d, o->name, 1, &x, &a, sizeof a);
}

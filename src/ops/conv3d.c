/* conv3d — x: (N, C_in, D, H, W) -> (N, C_out, D', H', W'), as torch.nn.Conv3d:
   D' = floor((D + 2*pad_d - dil_d*(k_d-1) - 1) / stride_d) + 1, likewise H', W'.
   Weight (C_out, C_in/groups, k_d, k_h, k_w), bias (C_out). Anisotropic kernels
   (HybridSN's 7x3x3) set kernel_d/kernel_h/kernel_w. */
#include <math.h>

#include "../graph/graph_internal.h"

typedef struct conv3d_attr {
    int out;
    int k[3], s[3], p[3], d[3]; /* per axis (D, H, W) */
    int groups;
    bool bias;
    cnn_conv_desc desc; /* at the maximum batch */
} conv3d_attr;

static int pick(int specific, int general, int dflt)
{
    if (specific) return specific;
    if (general) return general;
    return dflt;
}

static cnn_status conv3d_shape(cnn_node *n)
{
    conv3d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (x->out.ndim != 5)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, D, H, W), got %s",
                              cnn_node_shape_str(x));
    int c_in = x->out.dims[1];
    const int *in = &x->out.dims[2];
    if (a->out < 1) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "out_channels %d must be >= 1", a->out);
    if (a->k[0] < 1 || a->k[1] < 1 || a->k[2] < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "kernel %dx%dx%d must be >= 1 (set .kernel)",
                              a->k[0], a->k[1], a->k[2]);
    if (a->s[0] < 1 || a->s[1] < 1 || a->s[2] < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "stride %dx%dx%d must be >= 1", a->s[0],
                              a->s[1], a->s[2]);
    if (a->d[0] < 1 || a->d[1] < 1 || a->d[2] < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "dilation %dx%dx%d must be >= 1", a->d[0],
                              a->d[1], a->d[2]);
    if (a->p[0] < 0 || a->p[1] < 0 || a->p[2] < 0)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "padding %dx%dx%d must be >= 0", a->p[0],
                              a->p[1], a->p[2]);
    if (a->groups < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d must be >= 1", a->groups);
    if (c_in % a->groups)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d does not divide %d input channels",
                              a->groups, c_in);
    if (a->out % a->groups)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d does not divide %d output channels",
                              a->groups, a->out);
    int o[3];
    for (int i = 0; i < 3; i++) {
        int span = a->d[i] * (a->k[i] - 1) + 1; /* extent of the dilated kernel */
        if (in[i] + 2 * a->p[i] < span)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "kernel %dx%dx%d (dilation %dx%dx%d) is larger than the padded "
                                  "input %s",
                                  a->k[0], a->k[1], a->k[2], a->d[0], a->d[1], a->d[2],
                                  cnn_node_shape_str(x));
        o[i] = (in[i] + 2 * a->p[i] - span) / a->s[i] + 1;
    }
    n->out.ndim = 5;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = a->out;
    for (int i = 0; i < 3; i++) n->out.dims[2 + i] = o[i];

    int cg = c_in / a->groups;
    int fan_in = cg * a->k[0] * a->k[1] * a->k[2];
    float bound = 1.0f / sqrtf((float)fan_in); /* kaiming_uniform(a=sqrt(5)) */
    int wd[5] = {a->out, cg, a->k[0], a->k[1], a->k[2]};
    if (!cnn_node_param(n, "weight", 5, wd, CNN_PARAM_WEIGHT, 1, bound)) return CNN_ERR_INVALID_ARG;
    if (a->bias && !cnn_node_param(n, "bias", 1, &a->out, CNN_PARAM_BIAS, 1, bound))
        return CNN_ERR_INVALID_ARG;

    a->desc = (cnn_conv_desc){
        .n = x->out.dims[0], .c_in = c_in, .c_out = a->out, .groups = a->groups,
        .in = {in[0], in[1], in[2]}, .out = {o[0], o[1], o[2]},
        .k = {a->k[0], a->k[1], a->k[2]}, .s = {a->s[0], a->s[1], a->s[2]},
        .p = {a->p[0], a->p[1], a->p[2]}, .d = {a->d[0], a->d[1], a->d[2]},
    };
    n->scratch_bytes = cnn_conv_scratch_bytes(&a->desc);
    return CNN_OK;
}

/* out elements * (C_in/groups * kD * kH * kW) */
static int64_t conv3d_cost(const cnn_node *n)
{
    const conv3d_attr *a = n->attr;
    int64_t per_out = (int64_t)(a->desc.c_in / a->groups) * a->k[0] * a->k[1] * a->k[2];
    return per_out * a->out * n->out.dims[2] * n->out.dims[3] * n->out.dims[4];
}

static cnn_status conv3d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const conv3d_attr *a = n->attr;
    cnn_conv_desc d = a->desc;
    d.n = ctx->batch;
    ctx->be->conv_forward(&d, n->in[0]->out.data, n->params[0]->value.data,
                          a->bias ? n->params[1]->value.data : NULL, n->out.data, ctx->scratch);
    return CNN_OK;
}

static cnn_status conv3d_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const conv3d_attr *a = n->attr;
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

const cnn_op_def cnn_op_conv3d = {
    .name = "conv3d",
    .shape = conv3d_shape,
    .cost = conv3d_cost,
    .forward = conv3d_forward,
    .backward = conv3d_backward,
};

cnn_node *cnn_conv3d_(cnn_graph *g, cnn_node *x, int out_channels, const cnn_conv3d_opts *o)
{
    conv3d_attr a = {
        .out = out_channels,
        .k = {pick(o->kernel_d, o->kernel, 0), pick(o->kernel_h, o->kernel, 0),
              pick(o->kernel_w, o->kernel, 0)},
        .s = {pick(o->stride_d, o->stride, 1), pick(o->stride_h, o->stride, 1),
              pick(o->stride_w, o->stride, 1)},
        .p = {pick(o->padding_d, o->padding, 0), pick(o->padding_h, o->padding, 0),
              pick(o->padding_w, o->padding, 0)},
        .d = {pick(o->dilation_d, o->dilation, 1), pick(o->dilation_h, o->dilation, 1),
              pick(o->dilation_w, o->dilation, 1)},
        .groups = o->groups ? o->groups : 1,
        .bias = !o->no_bias,
    };
    return cnn_node_make(g, &cnn_op_conv3d, o->name, 1, &x, &a, sizeof a);
}

/* conv_transpose2d — x: (N, C_in, H, W) -> (N, C_out, H', W'), as
   torch.nn.ConvTranspose2d:
   H' = (H-1)*stride_h - 2*pad_h + dil_h*(k_h-1) + output_padding_h + 1.
   Weight (C_in, C_out/groups, k_h, k_w), bias (C_out).

   Computed with the backend's regular conv kernels: a transposed conv is the data
   gradient of the conv that maps its output back to its input. `desc` describes that
   conv (c_in = C_out, c_out = C_in, in = (H', W'), out = (H, W)); its weight layout
   (c_out, c_in/groups, k_h, k_w) is ours. So
     forward:    y  = conv_backward_data(desc, x, w) (+ bias)
     backward:   dx += conv_forward(desc, dy, w)
                 dw += conv_backward_weights(desc, dy, x)   (dy plays the conv's input)
   When output_padding >= stride (allowed if < dilation) desc's out is smaller than its
   formula gives; the ref kernels take out as given, so the extra rows are just zero. */
#include <math.h>
#include <string.h>

#include "conv_common.h"
#include "op_describe.h"
#include "ops_common.h"

typedef struct conv_transpose2d_attr {
    int out;
    int kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, groups;
    bool bias;
    cnn_conv_desc desc; /* the equivalent regular conv, at the maximum batch */
    size_t tmp_bytes;   /* scratch head: dx of the current batch before it is added */
} conv_transpose2d_attr;

static cnn_status conv_transpose2d_shape(cnn_node *n)
{
    conv_transpose2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    CNN_CHECK(cnn_spatial_input_check(n, 2));
    int c_in = x->out.dims[1], h = x->out.dims[2], w = x->out.dims[3];
    cnn_conv_geom geom = {.nd = 2, .out = a->out, .k = {a->kh, a->kw}, .s = {a->sh, a->sw},
                          .p = {a->ph, a->pw}, .d = {a->dh, a->dw}, .groups = a->groups};
    CNN_CHECK(cnn_conv_check(n, &geom, c_in));
    if (a->oph < 0 || a->opw < 0)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "output_padding %dx%d must be >= 0", a->oph,
                              a->opw);
    /* PyTorch's rule: output_padding must be smaller than either stride or dilation */
    if ((a->oph >= a->sh && a->oph >= a->dh) || (a->opw >= a->sw && a->opw >= a->dw))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "output_padding %dx%d must be smaller than stride %dx%d or "
                              "dilation %dx%d",
                              a->oph, a->opw, a->sh, a->sw, a->dh, a->dw);
    int64_t oh = (int64_t)(h - 1) * a->sh - 2 * (int64_t)a->ph + (int64_t)a->dh * (a->kh - 1) +
                 a->oph + 1;
    int64_t ow = (int64_t)(w - 1) * a->sw - 2 * (int64_t)a->pw + (int64_t)a->dw * (a->kw - 1) +
                 a->opw + 1;
    if (oh < 1 || ow < 1)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "padding %dx%d leaves no output for kernel %dx%d (dilation %dx%d) "
                              "on input %s",
                              a->ph, a->pw, a->kh, a->kw, a->dh, a->dw, cnn_node_shape_str(x));
    if (oh > INT32_MAX || ow > INT32_MAX)
        return cnn_node_error(n, CNN_ERR_SHAPE, "output %lldx%lld is too large for input %s",
                              (long long)oh, (long long)ow, cnn_node_shape_str(x));
    cnn_spatial_set_out(n, a->out, 2, (const int[]){(int)oh, (int)ow});

    /* PyTorch's fan_in of this weight is weight.size(1) * kh * kw */
    int og = a->out / a->groups;
    int fan_in = og * a->kh * a->kw;
    float bound = 1.0f / sqrtf((float)fan_in); /* kaiming_uniform(a=sqrt(5)) */
    int wd[4] = {c_in, og, a->kh, a->kw};
    if (!cnn_node_param(n, "weight", 4, wd, CNN_PARAM_WEIGHT, 1, bound)) return CNN_ERR_INVALID_ARG;
    if (a->bias && !cnn_node_param(n, "bias", 1, &a->out, CNN_PARAM_BIAS, 1, bound))
        return CNN_ERR_INVALID_ARG;

    a->desc = (cnn_conv_desc){
        .n = x->out.dims[0], .c_in = a->out, .c_out = c_in, .groups = a->groups,
        .in = {1, (int)oh, (int)ow}, .out = {1, h, w},
        .k = {1, a->kh, a->kw}, .s = {1, a->sh, a->sw}, .p = {0, a->ph, a->pw}, .d = {1, a->dh, a->dw},
    };
    a->tmp_bytes = (cnn_node_numel_max(x) * sizeof(float) + 63) / 64 * 64;
    n->scratch_bytes = a->tmp_bytes + cnn_conv_scratch_bytes(&a->desc);
    return CNN_OK;
}

/* input elements * (C_out/groups * kh * kw), as PyTorch-style counters do */
static int64_t conv_transpose2d_cost(const cnn_node *n)
{
    const conv_transpose2d_attr *a = n->attr;
    int64_t per_in = (int64_t)(a->out / a->groups) * a->kh * a->kw;
    return per_in * a->desc.c_out * a->desc.out[1] * a->desc.out[2];
}

static cnn_status conv_transpose2d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const conv_transpose2d_attr *a = n->attr;
    cnn_conv_desc d = a->desc;
    d.n = ctx->batch;
    float *y = n->out.data;
    memset(y, 0, cnn_node_numel(n) * sizeof *y); /* conv_backward_data accumulates */
    ctx->be->conv_backward_data(&d, n->in[0]->out.data, n->params[0]->value.data, y, ctx->scratch);
    if (a->bias)
        ctx->be->bias_add((size_t)ctx->batch, (size_t)a->out, (size_t)d.in[1] * (size_t)d.in[2],
                          n->params[1]->value.data, y);
    return CNN_OK;
}

static cnn_status conv_transpose2d_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const conv_transpose2d_attr *a = n->attr;
    cnn_conv_desc d = a->desc;
    d.n = ctx->batch;
    cnn_node *x = n->in[0];
    const float *dy = n->grad.data;
    void *conv_scratch = (char *)ctx->scratch + a->tmp_bytes;
    /* dy is the equivalent conv's input, x its output gradient */
    ctx->be->conv_backward_weights(&d, dy, x->out.data, n->params[0]->grad.data, NULL, conv_scratch);
    if (a->bias)
        ctx->be->bias_grad((size_t)ctx->batch, (size_t)a->out, (size_t)d.in[1] * (size_t)d.in[2],
                           dy, n->params[1]->grad.data);
    if (x->grad.data) {
        float *tmp = ctx->scratch; /* conv_forward overwrites: go through tmp, then add */
        ctx->be->conv_forward(&d, dy, n->params[0]->value.data, NULL, tmp, conv_scratch);
        ctx->be->add_blocks(1, cnn_node_numel(x), tmp, 0, x->grad.data, 0);
    }
    return CNN_OK;
}

static void conv_transpose2d_describe(const cnn_node *n, cnn_op_desc *d)
{
    const conv_transpose2d_attr *a = n->attr;
    cnn_desc_int(d, "out_channels", a->out);
    cnn_desc_ints(d, "kernel", 2, (const int[]){a->kh, a->kw});
    cnn_desc_ints(d, "stride", 2, (const int[]){a->sh, a->sw});
    cnn_desc_ints(d, "padding", 2, (const int[]){a->ph, a->pw});
    cnn_desc_ints(d, "output_padding", 2, (const int[]){a->oph, a->opw});
    cnn_desc_ints(d, "dilation", 2, (const int[]){a->dh, a->dw});
    cnn_desc_int(d, "groups", a->groups);
    cnn_desc_int(d, "bias", a->bias);
}

CNN_OP_DEF(conv_transpose2d, .shape = conv_transpose2d_shape, .cost = conv_transpose2d_cost,
           .forward = conv_transpose2d_forward, .backward = conv_transpose2d_backward,
           .describe = conv_transpose2d_describe);

cnn_node *cnn_conv_transpose2d_(cnn_graph *g, cnn_node *x, int out_channels,
                                const cnn_conv_transpose2d_opts *o)
{
    conv_transpose2d_attr a = {
        .out = out_channels,
        .kh = cnn_opt_pick(o->kernel_h, o->kernel, 0),
        .kw = cnn_opt_pick(o->kernel_w, o->kernel, 0),
        .sh = cnn_opt_pick(o->stride_h, o->stride, 1),
        .sw = cnn_opt_pick(o->stride_w, o->stride, 1),
        .ph = cnn_opt_pick(o->padding_h, o->padding, 0),
        .pw = cnn_opt_pick(o->padding_w, o->padding, 0),
        .oph = cnn_opt_pick(o->output_padding_h, o->output_padding, 0),
        .opw = cnn_opt_pick(o->output_padding_w, o->output_padding, 0),
        .dh = cnn_opt_pick(o->dilation_h, o->dilation, 1),
        .dw = cnn_opt_pick(o->dilation_w, o->dilation, 1),
        .groups = o->groups ? o->groups : 1,
        .bias = !o->no_bias,
    };
    return cnn_node_make(g, &cnn_op_conv_transpose2d, o->name, 1, &x, &a, sizeof a);
}

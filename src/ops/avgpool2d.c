/* avgpool2d — x: (N, C, H, W) -> (N, C, H', W'); as torch.nn.AvgPool2d:
   H' = floor((H + 2*pad - k + (ceil ? stride-1 : 0)) / stride) + 1, and in ceil mode a
   last window that starts in the right padding is dropped. The divisor is the window
   clipped to the padded input (H + pad) with count_include_pad (the default), or the
   real elements in it with .exclude_pad (count_include_pad=False). */
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"
#include "pool_common.h"

typedef struct avgpool2d_attr {
    int kh, kw, sh, sw, ph, pw;
    int dilation; /* only to reject it: a max pool option */
    bool ceil_mode;
    bool exclude_pad;
} avgpool2d_attr;

static cnn_status avgpool2d_shape(cnn_node *n)
{
    avgpool2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (x->out.ndim != 4)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, H, W), got %s",
                              cnn_node_shape_str(x));
    if (a->kh < 1 || a->kw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "kernel %dx%d must be >= 1 (set .kernel)",
                              a->kh, a->kw);
    if (a->sh < 1 || a->sw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "stride %dx%d must be >= 1", a->sh, a->sw);
    if (a->ph < 0 || a->pw < 0)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "padding %dx%d must be >= 0", a->ph, a->pw);
    if (a->ph > a->kh / 2 || a->pw > a->kw / 2)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "padding %dx%d must be at most half the kernel %dx%d", a->ph, a->pw,
                              a->kh, a->kw);
    if (a->dilation != 0 && a->dilation != 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "dilation %d is not supported (AvgPool2d has none)", a->dilation);
    int h = x->out.dims[2], w = x->out.dims[3];
    int oh = cnn_pool_out_size(h, a->kh, a->sh, a->ph, 1, a->ceil_mode);
    int ow = cnn_pool_out_size(w, a->kw, a->sw, a->pw, 1, a->ceil_mode);
    if (oh < 1 || ow < 1)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "output %dx%d is smaller than 1x1: kernel %dx%d (padding %dx%d) "
                              "does not fit the input %s",
                              oh, ow, a->kh, a->kw, a->ph, a->pw, cnn_node_shape_str(x));
    n->out.ndim = 4;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = x->out.dims[1];
    n->out.dims[2] = oh;
    n->out.dims[3] = ow;
    return CNN_OK;
}

static cnn_pool_desc pool_desc(const cnn_node *n, const cnn_ctx *ctx)
{
    const avgpool2d_attr *a = n->attr;
    cnn_pool_desc d = cnn_pool2d_desc(n, ctx, (const int[]){a->kh, a->kw},
                                      (const int[]){a->sh, a->sw}, (const int[]){a->ph, a->pw},
                                      (const int[]){1, 1});
    d.exclude_pad = a->exclude_pad;
    return d;
}

static cnn_status avgpool2d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_pool_desc d = pool_desc(n, ctx);
    if (cnn_pool2d_blocked(n, ctx, &d)) ctx->be->avgpool2d_blocked_forward(&d, n->in[0]->out.data, n->out.data);
    else cnn_backend_get()->avgpool2d_forward(&d, n->in[0]->out.data, n->out.data);
    return CNN_OK;
}

static cnn_status avgpool2d_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const cnn_pool_desc d = pool_desc(n, ctx);
    cnn_backend_get()->avgpool2d_backward(&d, n->grad.data, x->grad.data);
    return CNN_OK;
}

static void avgpool2d_describe(const cnn_node *n, cnn_op_desc *d)
{
    const avgpool2d_attr *a = n->attr;
    cnn_desc_ints(d, "kernel", 2, (const int[]){a->kh, a->kw});
    cnn_desc_ints(d, "stride", 2, (const int[]){a->sh, a->sw});
    cnn_desc_ints(d, "padding", 2, (const int[]){a->ph, a->pw});
    cnn_desc_ints(d, "dilation", 2, (const int[]){1, 1}); /* shape() rejects others */
    cnn_desc_int(d, "ceil_mode", a->ceil_mode);
    cnn_desc_int(d, "exclude_pad", a->exclude_pad);
}

const cnn_op_def cnn_op_avgpool2d = {
    .name = "avgpool2d",
    .shape = avgpool2d_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = avgpool2d_forward,
    .backward = avgpool2d_backward,
    .describe = avgpool2d_describe,
    .layout_trait = cnn_pool2d_layout_trait,
};

cnn_node *cnn_avgpool2d_(cnn_graph *g, cnn_node *x, const cnn_pool2d_opts *o)
{
    int kh = cnn_opt_pick(o->kernel_h, o->kernel, 0), kw = cnn_opt_pick(o->kernel_w, o->kernel, 0);
    avgpool2d_attr a = {
        .kh = kh,
        .kw = kw,
        .sh = cnn_opt_pick(o->stride_h, o->stride, kh),
        .sw = cnn_opt_pick(o->stride_w, o->stride, kw),
        .ph = cnn_opt_pick(o->padding_h, o->padding, 0),
        .pw = cnn_opt_pick(o->padding_w, o->padding, 0),
        .dilation = o->dilation,
        .ceil_mode = o->ceil_mode,
        .exclude_pad = o->exclude_pad,
    };
    return cnn_node_make(g, &cnn_op_avgpool2d, o->name, 1, &x, &a, sizeof a);
}

/* maxpool2d — x: (N, C, H, W) -> (N, C, H', W'); as torch.nn.MaxPool2d:
   H' = floor((H + 2*pad - dil*(k-1) - 1 + (ceil ? stride-1 : 0)) / stride) + 1, and in
   ceil mode a last window that starts in the right padding is dropped. Padded
   positions count as -inf. The argmax of each output (h*W + w in its input plane,
   like return_indices=True; ties -> the first max, NaN wins as in PyTorch) is saved
   as int32 for backward and for cnn_maxpool2d_indices. */
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"
#include "pool_common.h"

typedef struct maxpool2d_attr {
    int kh, kw, sh, sw, ph, pw, dh, dw;
    bool ceil_mode;
    bool exclude_pad; /* only to reject it: an avg pool option */
    bool ran;         /* forward has filled n->saved */
} maxpool2d_attr;

static cnn_status maxpool2d_shape(cnn_node *n)
{
    maxpool2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (x->out.ndim != 4)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, H, W), got %s",
                              cnn_node_shape_str(x));
    if (a->kh < 1 || a->kw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "kernel %dx%d must be >= 1 (set .kernel)",
                              a->kh, a->kw);
    if (a->sh < 1 || a->sw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "stride %dx%d must be >= 1", a->sh, a->sw);
    if (a->dh < 1 || a->dw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "dilation %dx%d must be >= 1", a->dh, a->dw);
    if (a->ph < 0 || a->pw < 0)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "padding %dx%d must be >= 0", a->ph, a->pw);
    if (a->ph > a->kh / 2 || a->pw > a->kw / 2)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "padding %dx%d must be at most half the kernel %dx%d", a->ph, a->pw,
                              a->kh, a->kw);
    if (a->exclude_pad)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "exclude_pad applies to avgpool2d only");
    int h = x->out.dims[2], w = x->out.dims[3];
    if ((int64_t)h * w > INT32_MAX)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input plane %s too large for int32 indices",
                              cnn_node_shape_str(x));
    int oh = cnn_pool_out_size(h, a->kh, a->sh, a->ph, a->dh, a->ceil_mode);
    int ow = cnn_pool_out_size(w, a->kw, a->sw, a->pw, a->dw, a->ceil_mode);
    if (oh < 1 || ow < 1)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "output %dx%d is smaller than 1x1: kernel %dx%d (dilation %dx%d, "
                              "padding %dx%d) does not fit the input %s",
                              oh, ow, a->kh, a->kw, a->dh, a->dw, a->ph, a->pw,
                              cnn_node_shape_str(x));
    n->out.ndim = 4;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = x->out.dims[1];
    n->out.dims[2] = oh;
    n->out.dims[3] = ow;
    n->saved_bytes = (size_t)x->out.dims[0] * x->out.dims[1] * oh * ow * sizeof(int32_t);
    return CNN_OK;
}

static cnn_pool_desc pool_desc(const cnn_node *n, const cnn_ctx *ctx)
{
    const maxpool2d_attr *a = n->attr;
    return cnn_pool2d_desc(n, ctx, (const int[]){a->kh, a->kw}, (const int[]){a->sh, a->sw},
                           (const int[]){a->ph, a->pw}, (const int[]){a->dh, a->dw});
}

static cnn_status maxpool2d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    maxpool2d_attr *a = n->attr;
    cnn_pool_desc d = pool_desc(n, ctx);
    if (cnn_pool2d_blocked(n, ctx, &d)) { /* eval, blocked: no indices */
        ctx->be->maxpool2d_blocked_forward(&d, n->in[0]->out.data, n->out.data);
        /* a window of padding only gives -inf, in the padded lanes too: 0 there */
        cnn_blocked_zero_tail(ctx->batch, n->out.dims[1], (size_t)n->out.dims[2] * n->out.dims[3], n->out.data);
        return CNN_OK;
    }
    cnn_backend_get()->maxpool2d_forward(&d, n->in[0]->out.data, n->out.data, n->saved);
    a->ran = true;
    return CNN_OK;
}

static cnn_status maxpool2d_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const cnn_pool_desc d = pool_desc(n, ctx);
    cnn_backend_get()->maxpool_backward(&d, n->grad.data, n->saved, x->grad.data);
    return CNN_OK;
}

static void maxpool2d_describe(const cnn_node *n, cnn_op_desc *d)
{
    const maxpool2d_attr *a = n->attr;
    cnn_desc_ints(d, "kernel", 2, (const int[]){a->kh, a->kw});
    cnn_desc_ints(d, "stride", 2, (const int[]){a->sh, a->sw});
    cnn_desc_ints(d, "padding", 2, (const int[]){a->ph, a->pw});
    cnn_desc_ints(d, "dilation", 2, (const int[]){a->dh, a->dw});
    cnn_desc_int(d, "ceil_mode", a->ceil_mode);
    cnn_desc_int(d, "exclude_pad", 0);
}

const cnn_op_def cnn_op_maxpool2d = {
    .name = "maxpool2d",
    .shape = maxpool2d_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = maxpool2d_forward,
    .backward = maxpool2d_backward,
    .describe = maxpool2d_describe,
    .layout_trait = cnn_pool2d_layout_trait,
};

cnn_node *cnn_maxpool2d_(cnn_graph *g, cnn_node *x, const cnn_pool2d_opts *o)
{
    int kh = cnn_opt_pick(o->kernel_h, o->kernel, 0), kw = cnn_opt_pick(o->kernel_w, o->kernel, 0);
    maxpool2d_attr a = {
        .kh = kh,
        .kw = kw,
        .sh = cnn_opt_pick(o->stride_h, o->stride, kh),
        .sw = cnn_opt_pick(o->stride_w, o->stride, kw),
        .ph = cnn_opt_pick(o->padding_h, o->padding, 0),
        .pw = cnn_opt_pick(o->padding_w, o->padding, 0),
        .dh = o->dilation ? o->dilation : 1,
        .dw = o->dilation ? o->dilation : 1,
        .ceil_mode = o->ceil_mode,
        .exclude_pad = o->exclude_pad,
    };
    return cnn_node_make(g, &cnn_op_maxpool2d, o->name, 1, &x, &a, sizeof a);
}

cnn_status cnn_maxpool2d_indices(const cnn_node *pool, const int32_t **indices)
{
    if (!indices) return cnn_set_error(CNN_ERR_INVALID_ARG, "maxpool2d_indices: indices is NULL");
    *indices = NULL;
    if (!pool) return cnn_set_error(CNN_ERR_INVALID_ARG, "maxpool2d_indices: node is NULL");
    if (pool->op != &cnn_op_maxpool2d)
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "maxpool2d_indices: '%s' is a %s, not a maxpool2d", pool->name,
                             pool->op ? pool->op->name : "node");
    const maxpool2d_attr *a = pool->attr;
    if (!a->ran || !pool->saved)
        return cnn_node_error(pool, CNN_ERR_STATE, "no indices before forward has run");
    *indices = pool->saved;
    return CNN_OK;
}

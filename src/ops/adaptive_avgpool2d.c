/* adaptive_avgpool2d — x: (N, C, H, W) -> (N, C, out_h, out_w); as
   torch.nn.AdaptiveAvgPool2d: output i averages rows [floor(i*H/out_h),
   ceil((i+1)*H/out_h)), the same for columns; bins may overlap when out does not
   divide the input, and out may exceed it.
   global_avgpool — (N, C, H, W) -> (N, C, 1, 1): the mean of each plane, the
   AdaptiveAvgPool2d(1) / x.mean((2, 3), keepdim=True) idiom, as its own op. */
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"
#include "pool_common.h"
#include "spatial.h"

typedef struct adaptive_attr {
    int oh, ow;
} adaptive_attr;

static cnn_status adaptive_shape(cnn_node *n)
{
    const adaptive_attr *a = n->attr;
    CNN_CHECK(cnn_spatial_input_check(n, 2));
    if (a->oh < 1 || a->ow < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "output size %dx%d must be >= 1x1", a->oh,
                              a->ow);
    cnn_spatial_set_out(n, n->in[0]->out.dims[1], 2, (const int[]){a->oh, a->ow});
    return CNN_OK;
}

/* k, s, p and d do not apply: 1 (the bins come from the sizes). */
static void pool_desc(const cnn_node *n, const cnn_ctx *ctx, cnn_pool_desc *d)
{
    static const cnn_pool_win w = {.nd = 2, .k = {1, 1}, .s = {1, 1}, .d = {1, 1}};
    *d = cnn_pool_desc_of(n, ctx, &w);
}

/* Blocked layout: a blocked input (N, C, H, W) averaged over each plane into the plain
   (N, C, 1, 1) output (global pooling, and adaptive pooling to 1x1, whose mean then
   multiplies by 1 / (H W) instead of dividing: float rounding apart). */
static bool global_blocked(const cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_node *x = n->in[0];
    if (!ctx->layout || !x->layout) return false;
    ctx->be->global_avgpool_blocked_forward((size_t)ctx->batch, (size_t)x->out.dims[1],
                                            (size_t)x->out.dims[2] * x->out.dims[3], x->out.data, n->out.data);
    return true;
}
static int global_trait(const cnn_node *n)
{
    (void)n;
    return CNN_LAYOUT_READS;
}
static int adaptive_trait(const cnn_node *n)
{
    const adaptive_attr *a = n->attr;
    return a->oh == 1 && a->ow == 1 ? CNN_LAYOUT_READS : 0;
}

static cnn_status adaptive_forward(cnn_node *n, const cnn_ctx *ctx)
{
    if (global_blocked(n, ctx)) return CNN_OK;
    cnn_pool_desc d;
    pool_desc(n, ctx, &d);
    cnn_backend_get()->adaptive_avgpool2d_forward(&d, n->in[0]->out.data, n->out.data);
    return CNN_OK;
}

CNN_DESC_BACKWARD(adaptive_backward, cnn_pool_desc, pool_desc, adaptive_avgpool2d_backward,
                  n->grad.data, dx);

CNN_OP_DESCRIBE(adaptive_describe, adaptive_attr,
                cnn_desc_ints(d, "output", 2, (const int[]){a->oh, a->ow}));

CNN_OP_DEF(adaptive_avgpool2d, .shape = adaptive_shape,
           .cost = NULL, /* no multiply-adds */
           .forward = adaptive_forward, .backward = adaptive_backward,
           .describe = adaptive_describe, .layout_trait = adaptive_trait);

cnn_node *cnn_adaptive_avgpool2d(cnn_graph *g, cnn_node *x, int out_h, int out_w)
{
    adaptive_attr a = {.oh = out_h, .ow = out_w};
    return cnn_node_make(g, &cnn_op_adaptive_avgpool2d, NULL, 1, &x, &a, sizeof a);
}

/* ---------------------------------------------------------------- global */
static cnn_status global_shape(cnn_node *n)
{
    CNN_CHECK(cnn_spatial_input_check(n, 2));
    cnn_spatial_set_out(n, n->in[0]->out.dims[1], 2, (const int[]){1, 1});
    return CNN_OK;
}

static cnn_status global_forward(cnn_node *n, const cnn_ctx *ctx)
{
    if (global_blocked(n, ctx)) return CNN_OK;
    const cnn_node *x = n->in[0];
    const size_t hw = (size_t)x->out.dims[2] * x->out.dims[3];
    cnn_backend_get()->global_avgpool_forward((size_t)ctx->batch * x->out.dims[1], hw,
                                              x->out.data, n->out.data);
    return CNN_OK;
}

static cnn_status global_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const size_t hw = (size_t)x->out.dims[2] * x->out.dims[3];
    cnn_backend_get()->global_avgpool_backward((size_t)ctx->batch * x->out.dims[1], hw,
                                               n->grad.data, x->grad.data);
    return CNN_OK;
}

CNN_OP_DEF(global_avgpool, .shape = global_shape,
           .cost = NULL, /* no multiply-adds */
           .forward = global_forward, .backward = global_backward, .layout_trait = global_trait);

CNN_OP_BUILDER_X(global_avgpool)

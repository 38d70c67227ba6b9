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
    cnn_pool_win w; /* dilation 1 */
    int dilation;   /* only to reject it: a max pool option */
    bool exclude_pad;
} avgpool2d_attr;

static cnn_status avgpool2d_shape(cnn_node *n)
{
    avgpool2d_attr *a = n->attr;
    if (a->dilation != 0 && a->dilation != 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "dilation %d is not supported (AvgPool2d has none)", a->dilation);
    return cnn_pool_shape(n, &a->w, false);
}

static void pool_desc(const cnn_node *n, const cnn_ctx *ctx, cnn_pool_desc *d)
{
    const avgpool2d_attr *a = n->attr;
    *d = cnn_pool_desc_of(n, ctx, &a->w);
    d->exclude_pad = a->exclude_pad;
}

static cnn_status avgpool2d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_pool_desc d;
    pool_desc(n, ctx, &d);
    if (cnn_pool2d_blocked(n, ctx, &d)) ctx->be->avgpool2d_blocked_forward(&d, n->in[0]->out.data, n->out.data);
    else cnn_backend_get()->avgpool2d_forward(&d, n->in[0]->out.data, n->out.data);
    return CNN_OK;
}

CNN_DESC_BACKWARD(avgpool2d_backward, cnn_pool_desc, pool_desc, avgpool2d_backward,
                  n->grad.data, dx);

static void avgpool2d_describe(const cnn_node *n, cnn_op_desc *d)
{
    const avgpool2d_attr *a = n->attr;
    cnn_pool_describe(&a->w, d); /* dilation 1: shape() rejects others */
    cnn_desc_int(d, "exclude_pad", a->exclude_pad);
}

CNN_OP_DEF(avgpool2d, .shape = avgpool2d_shape,
           .cost = NULL, /* no multiply-adds */
           .forward = avgpool2d_forward, .backward = avgpool2d_backward,
           .describe = avgpool2d_describe, .layout_trait = cnn_pool2d_layout_trait);

cnn_node *cnn_avgpool2d_(cnn_graph *g, cnn_node *x, const cnn_pool2d_opts *o)
{
    avgpool2d_attr a = {.w = cnn_pool2d_win(o), .dilation = o->dilation, .exclude_pad = o->exclude_pad};
    a.w.d[0] = a.w.d[1] = 1;
    return cnn_node_make(g, &cnn_op_avgpool2d, o->name, 1, &x, &a, sizeof a);
}

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
    cnn_pool_win w; /* first: cnn_maxpool_backward reads it */
    bool exclude_pad; /* only to reject it: an avg pool option */
    bool ran;         /* forward has filled n->saved */
} maxpool2d_attr;

static cnn_status maxpool2d_shape(cnn_node *n)
{
    const maxpool2d_attr *a = n->attr;
    if (a->exclude_pad)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "exclude_pad applies to avgpool2d only");
    return cnn_maxpool_shape(n, true);
}

static cnn_pool_desc pool_desc(const cnn_node *n, const cnn_ctx *ctx)
{
    const maxpool2d_attr *a = n->attr;
    return cnn_pool_desc_of(n, ctx, &a->w);
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

CNN_OP_DEF(maxpool2d, .shape = maxpool2d_shape,
           .cost = NULL, /* no multiply-adds */
           .forward = maxpool2d_forward, .backward = cnn_maxpool_backward,
           .describe = cnn_maxpool_describe, .layout_trait = cnn_pool2d_layout_trait);

cnn_node *cnn_maxpool2d_(cnn_graph *g, cnn_node *x, const cnn_pool2d_opts *o)
{
    maxpool2d_attr a = {.w = cnn_pool2d_win(o), .exclude_pad = o->exclude_pad};
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

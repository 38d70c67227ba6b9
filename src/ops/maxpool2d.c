/* maxpool2d — x: (N, C, H, W) -> (N, C, H', W'); as torch.nn.MaxPool2d:
   H' = floor((H + 2*pad - dil*(k-1) - 1 + (ceil ? stride-1 : 0)) / stride) + 1, and in
   ceil mode a last window that starts in the right padding is dropped. Padded
   positions count as -inf. The argmax of each output (h*W + w in its input plane,
   like return_indices=True; ties -> the first max, NaN wins as in PyTorch) is saved
   as int32 for backward and for cnn_maxpool2d_indices. */
#include "../graph/graph_internal.h"
#include "op_describe.h"
#include "pool_common.h"

typedef struct maxpool2d_attr {
    cnn_pool_win w; /* first: cnn_maxpool_backward reads it */
    bool exclude_pad; /* only to reject it: an avg pool option */
    bool ran;         /* forward has filled n->saved */
} maxpool2d_attr;

static cnn_status maxpool2d_shape(cnn_node *n)
{
    maxpool2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (a->exclude_pad)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "exclude_pad applies to avgpool2d only");
    CNN_CHECK(cnn_pool_shape(n, &a->w, true));
    if ((int64_t)x->out.dims[2] * x->out.dims[3] > INT32_MAX)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input plane %s too large for int32 indices",
                              cnn_node_shape_str(x));
    n->saved_bytes = cnn_tensor_numel(&n->out) * sizeof(int32_t);
    return CNN_OK;
}

static cnn_pool_desc pool_desc(const cnn_node *n, const cnn_ctx *ctx)
{
    const maxpool2d_attr *a = n->attr;
    return cnn_pool_desc_of(n, ctx, &a->w);
}

static cnn_status maxpool2d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    maxpool2d_attr *a = n->attr;
    const cnn_pool_desc d = pool_desc(n, ctx);
    cnn_backend_get()->maxpool2d_forward(&d, n->in[0]->out.data, n->out.data, n->saved);
    a->ran = true;
    return CNN_OK;
}

static void maxpool2d_describe(const cnn_node *n, cnn_op_desc *d)
{
    const maxpool2d_attr *a = n->attr;
    cnn_pool_describe(&a->w, d);
    cnn_desc_int(d, "exclude_pad", 0);
}

const cnn_op_def cnn_op_maxpool2d = {
    .name = "maxpool2d",
    .shape = maxpool2d_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = maxpool2d_forward,
    .backward = cnn_maxpool_backward,
    .describe = maxpool2d_describe,
};

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

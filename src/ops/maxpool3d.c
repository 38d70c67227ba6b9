/* maxpool3d — x: (N, C, D, H, W) -> (N, C, D', H', W'); as torch.nn.MaxPool3d
   (dilation 1): per axis D' = floor((D + 2*pad - k + (ceil ? stride-1 : 0)) / stride)
   + 1, and in ceil mode a last window that starts in the right padding is dropped.
   Padded positions count as -inf. The argmax of each output (d*H*W + h*W + w in its
   input volume, like return_indices=True; ties -> the first max) is saved as int32
   for backward. */
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"
#include "pool_common.h"

typedef struct maxpool3d_attr {
    cnn_pool_win w; /* first (cnn_maxpool_backward); (D, H, W), dilation 1 */
} maxpool3d_attr;

static cnn_status maxpool3d_shape(cnn_node *n) { return cnn_maxpool_shape(n, false); }

static cnn_status maxpool3d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const maxpool3d_attr *a = n->attr;
    const cnn_pool_desc d = cnn_pool_desc_of(n, ctx, &a->w);
    cnn_backend_get()->maxpool3d_forward(&d, n->in[0]->out.data, n->out.data, n->saved);
    return CNN_OK;
}

CNN_OP_DEF(maxpool3d, .shape = maxpool3d_shape,
           .cost = NULL, /* no multiply-adds */
           .forward = maxpool3d_forward, .backward = cnn_maxpool_backward,
           .describe = cnn_maxpool_describe);

cnn_node *cnn_maxpool3d_(cnn_graph *g, cnn_node *x, const cnn_pool3d_opts *o)
{
    maxpool3d_attr a = {.w = cnn_pool3d_win(o)};
    return cnn_node_make(g, &cnn_op_maxpool3d, o->name, 1, &x, &a, sizeof a);
}

/* The backend's geometry (cnn_pool_desc) of a 2D pooling node over the batch being
   run: planes N * C of the input's (H, W) to the node's (H', W'). And what the pooling
   ops share (docs/architecture.md, "Operators"): the window of a max or average pool
   resolved from its options, its shape checks with the messages users see, its
   describe() keys, its backend geometry and the max pools' backward. */
#ifndef CNN_OPS_POOL_COMMON_H
#define CNN_OPS_POOL_COMMON_H
#include "../graph/graph_internal.h"
#include "op_describe.h"

/* A pooling window over nd spatial axes (2: H, W; 3: D, H, W). */
typedef struct cnn_pool_win {
    int nd;
    int k[3], s[3], p[3], d[3]; /* kernel, stride (default the kernel), padding, dilation */
    bool ceil_mode;
} cnn_pool_win;

/* From the builders' options; dilation 0 is 1. */
cnn_pool_win cnn_pool2d_win(const cnn_pool2d_opts *o);
cnn_pool_win cnn_pool3d_win(const cnn_pool3d_opts *o);
/* A pooling node's shape, as PyTorch's pools: the input check, the window check,
   padding at most half the kernel, the output size (cnn_pool_out_size) at least 1
   per axis, then the output (N, C, *out). The errors name the dilation when
   name_dilation (a pool that has one). */
cnn_status cnn_pool_shape(cnn_node *n, const cnn_pool_win *w, bool name_dilation);
/* describe(): kernel, stride, padding, dilation (nd values each), ceil_mode. */
void cnn_pool_describe(const cnn_pool_win *w, cnn_op_desc *d);
/* shape() and describe() of either max pool (its attr begins with its cnn_pool_win):
   cnn_pool_shape, then room saved for the int32 argmax of every output, whose input
   plane (2D) or volume (3D) must fit int32; cnn_pool_describe and exclude_pad 0. */
cnn_status cnn_maxpool_shape(cnn_node *n, bool name_dilation);
void cnn_maxpool_describe(const cnn_node *n, cnn_op_desc *d);
/* backward of either max pool: dx[idx] += dy with the argmax saved by forward; the
   node's attr begins with its cnn_pool_win. */
cnn_status cnn_maxpool_backward(cnn_node *n, const cnn_ctx *ctx);
/* The backend's geometry of a pooling node over the batch being run: planes N * C of
   the input's spatial axes to the node's; a 2D window has the leading axis 1
   (cnn_pool2d_desc below). */
cnn_pool_desc cnn_pool_desc_of(const cnn_node *n, const cnn_ctx *ctx, const cnn_pool_win *w);
/* k, s, p, d: (H, W) kernel, stride, padding and dilation. */
static inline cnn_pool_desc cnn_pool2d_desc(const cnn_node *n, const cnn_ctx *ctx, const int k[2],
                                            const int s[2], const int p[2], const int d[2])
{
    const cnn_node *x = n->in[0];
    return (cnn_pool_desc){.planes = (size_t)ctx->batch * x->out.dims[1],
                           .in = {1, x->out.dims[2], x->out.dims[3]},
                           .out = {1, n->out.dims[2], n->out.dims[3]},
                           .k = {1, k[0], k[1]},
                           .s = {1, s[0], s[1]},
                           .p = {0, p[0], p[1]},
                           .d = {1, d[0], d[1]}};
}
/* Blocked layout (docs/architecture.md, "Blocked layout"): a 2D pooling keeps its
   input's layout (the SAME trait); blocked, a plane is a block of 16 channels. */
static inline int cnn_pool2d_layout_trait(const cnn_node *n)
{
    return n->in[0]->out.ndim == 4 ? CNN_LAYOUT_SAME : 0;
}
static inline bool cnn_pool2d_blocked(const cnn_node *n, const cnn_ctx *ctx, cnn_pool_desc *d)
{
    if (!ctx->layout || !n->layout) return false;
    d->planes = (size_t)ctx->batch * (cnn_blocked_c((size_t)n->out.dims[1]) / 16);
    return true;
}
#endif

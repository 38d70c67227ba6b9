/* The backend's geometry (cnn_pool_desc) of a 2D pooling node over the batch being
   run: planes N * C of the input's (H, W) to the node's (H', W'). */
#ifndef CNN_OPS_POOL_COMMON_H
#define CNN_OPS_POOL_COMMON_H
#include "../graph/graph_internal.h"

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

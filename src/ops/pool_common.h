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
#endif

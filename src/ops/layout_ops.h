/* Helpers of the ops that copy channels between the plain and blocked layouts
   (concat, channel shuffle, channel slice; docs/architecture.md, "Blocked layout"). */
#ifndef CNN_OPS_LAYOUT_OPS_H
#define CNN_OPS_LAYOUT_OPS_H
#include "../graph/graph_internal.h"

/* Blocked layout (docs/architecture.md, "Blocked layout"): copies channels of x into
   y between their layouts with the backend's channel_copy (y channel y0 + k = x
   channel x0 + (k % groups) * cg + k / groups, k < cnt), when this run keeps either
   blocked; false when both are plain (the caller's plain path). A blocked y gets its
   padded lanes cleared by the caller once every copy is done (cnn_blocked_zero_tail). */
static inline bool cnn_layout_copy(const cnn_ctx *ctx, const cnn_node *x, int x0, int groups, int cg,
                                   const cnn_node *y, int y0, int cnt)
{
    if (!ctx->layout || (!x->layout && !y->layout)) return false;
    size_t S = 1;
    for (int d = 2; d < y->out.ndim; d++) S *= (size_t)y->out.dims[d];
    cnn_chan_copy c = {.n = (size_t)ctx->batch, .spatial = S, .xc = x->out.dims[1], .x0 = x0,
                       .groups = groups, .cg = cg, .yc = y->out.dims[1], .y0 = y0, .cnt = cnt,
                       .xb = x->layout != 0, .yb = y->layout != 0};
    ctx->be->channel_copy(&c, x->out.data, y->out.data);
    return true;
}
/* The ANY trait of concat, channel shuffle and channel slice on 4-D values. */
static inline int cnn_layout_any_4d(const cnn_node *n) { return n->out.ndim == 4 ? CNN_LAYOUT_ANY : 0; }
static inline void cnn_layout_clear_tail(const cnn_ctx *ctx, const cnn_node *y)
{
    if (ctx->layout && y->layout)
        cnn_blocked_zero_tail(ctx->batch, y->out.dims[1], (size_t)y->out.dims[2] * y->out.dims[3], y->out.data);
}
#endif

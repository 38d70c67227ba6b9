/* channel_slice — (N, C, H, W) -> (N, count, H, W): channels [start, start+count), as
   x[:, start:start+count] (ShuffleNet V2's x.chunk(2, dim=1)). */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "layout_ops.h"
#include "nd.h"
#include "op_describe.h"

typedef struct slice_attr {
    int start, count;
} slice_attr;

static cnn_status slice_shape(cnn_node *n)
{
    const slice_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    CNN_CHECK(cnn_input_batched(n, 2, "(N, C, H, W)"));
    int c = x->out.dims[1];
    if (a->start < 0 || a->count < 1 || a->start > c - a->count)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "channels [%d, %d) (start %d, count %d) are not within the %d "
                              "channels of %s",
                              a->start, a->start + a->count, a->start, a->count, c,
                              cnn_node_shape_str(x));
    cnn_out_like(n, x);
    n->out.dims[1] = a->count;
    return CNN_OK;
}

/* Elements per channel (of the output; the input's are the same). */
static size_t plane(const cnn_node *n) { return cnn_nd_plane(n->out.ndim, n->out.dims); }

/* per example: count * plane floats from channel start of x's C * plane */
static cnn_status slice_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const slice_attr *a = n->attr;
    if (cnn_layout_copy(ctx, n->in[0], a->start, 1, 1, n, 0, a->count)) {
        cnn_layout_clear_tail(ctx, n);
        return CNN_OK;
    }
    size_t S = plane(n), C = (size_t)n->in[0]->out.dims[1], len = (size_t)a->count * S;
    cnn_backend_get()->copy_blocks((size_t)ctx->batch, len,
                                   n->in[0]->out.data + (size_t)a->start * S, C * S, n->out.data,
                                   len);
    return CNN_OK;
}

static cnn_status slice_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const slice_attr *a = n->attr;
    if (!n->in[0]->grad.data) return CNN_OK;
    size_t S = plane(n), C = (size_t)n->in[0]->out.dims[1], len = (size_t)a->count * S;
    cnn_backend_get()->add_blocks((size_t)ctx->batch, len, n->grad.data, len,
                                  n->in[0]->grad.data + (size_t)a->start * S, C * S);
    return CNN_OK;
}

CNN_OP_DESCRIBE(slice_describe, slice_attr,
                cnn_desc_int(d, "start", a->start);
                cnn_desc_int(d, "count", a->count));

CNN_OP_DEF(channel_slice, .shape = slice_shape, .forward = slice_forward,
           .backward = slice_backward, .describe = slice_describe,
           .layout_trait = cnn_layout_any_4d);

cnn_node *cnn_channel_slice(cnn_graph *g, cnn_node *x, int start, int count)
{
    slice_attr a = {.start = start, .count = count};
    return cnn_node_make(g, &cnn_op_channel_slice, NULL, 1, &x, &a, sizeof a);
}

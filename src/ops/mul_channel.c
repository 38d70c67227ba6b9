/* mul_channel — x: (N, C, H, W) * s: (N, C, 1, 1) -> (N, C, H, W): one scale per
   example and channel, as x * s in squeeze-and-excitation (Hu et al.; torchvision's
   SqueezeExcitation). s may also be (N, C). 5-D x takes s (N, C, 1, 1, 1). */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "nd.h"

static cnn_status mul_channel_shape(cnn_node *n)
{
    const cnn_node *x = n->in[0], *s = n->in[1];
    CNN_CHECK(cnn_input_batched(n, 3, "(N, C, H, W)"));
    bool ok = s->batched && s->out.ndim >= 2 && s->out.ndim <= x->out.ndim &&
              s->out.dims[0] == x->out.dims[0] && s->out.dims[1] == x->out.dims[1];
    for (int d = 2; ok && d < s->out.ndim; d++)
        if (s->out.dims[d] != 1) ok = false;
    if (!ok)
        return cnn_node_error(n, CNN_ERR_SHAPE, "scale %s does not fit input %s: want (%d, %d, 1, 1)",
                              cnn_node_shape_str(s), cnn_node_shape_str(x), x->out.dims[0],
                              x->out.dims[1]);
    cnn_out_like(n, x);
    return CNN_OK;
}

/* Elements per channel (of the output; the input's are the same). */
static size_t plane(const cnn_node *n) { return cnn_nd_plane(n->out.ndim, n->out.dims); }

static cnn_status mul_channel_forward(cnn_node *n, const cnn_ctx *ctx)
{
    if (ctx->layout && n->layout) { /* blocked x and y, plain gate (layout_trait) */
        ctx->be->mul_channel_blocked_forward((size_t)ctx->batch, (size_t)n->out.dims[1], plane(n),
                                             n->in[0]->out.data, n->in[1]->out.data, n->out.data);
        return CNN_OK;
    }
    size_t rows = (size_t)ctx->batch * (size_t)n->out.dims[1];
    cnn_backend_get()->mul_channel_forward(rows, plane(n), n->in[0]->out.data, n->in[1]->out.data,
                                           n->out.data);
    return CNN_OK;
}

static cnn_status mul_channel_backward(cnn_node *n, const cnn_ctx *ctx)
{
    size_t rows = (size_t)ctx->batch * (size_t)n->out.dims[1];
    cnn_backend_get()->mul_channel_backward(rows, plane(n), n->in[0]->out.data, n->in[1]->out.data,
                                            n->grad.data, n->in[0]->grad.data, n->in[1]->grad.data);
    return CNN_OK;
}

/* Blocked layout: x and the output in one layout, the gate s plain. */
static int mul_channel_trait(const cnn_node *n) { return n->out.ndim == 4 ? CNN_LAYOUT_SAME : 0; }

CNN_OP_DEF(mul_channel, .shape = mul_channel_shape, .forward = mul_channel_forward,
           .backward = mul_channel_backward, .layout_trait = mul_channel_trait, .channel_gate = true);

CNN_OP_BUILDER_AB(mul_channel)

/* mul_spatial — x: (N, C, H, W) * s: (N, 1, H, W) -> (N, C, H, W): one scale per
   example and position, shared by all channels, as x * s in CBAM's spatial attention
   (Woo et al. 2018). 5-D x takes s (N, 1, D, H, W). */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "nd.h"

static cnn_status mul_spatial_shape(cnn_node *n)
{
    const cnn_node *x = n->in[0], *s = n->in[1];
    CNN_CHECK(cnn_input_batched(n, 3, "(N, C, H, W)"));
    bool ok = s->batched && s->out.ndim == x->out.ndim && s->out.dims[1] == 1;
    for (int d = 0; ok && d < x->out.ndim; d++)
        if (d != 1 && s->out.dims[d] != x->out.dims[d]) ok = false;
    if (!ok)
        return cnn_node_error(n, CNN_ERR_SHAPE, "scale %s does not fit input %s: want dim 1 = 1 "
                              "and the others equal",
                              cnn_node_shape_str(s), cnn_node_shape_str(x));
    cnn_out_like(n, x);
    return CNN_OK;
}

/* Elements per channel (of the output; the input's are the same). */
static size_t plane(const cnn_node *n) { return cnn_nd_plane(n->out.ndim, n->out.dims); }

static cnn_status mul_spatial_forward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_backend_get()->mul_spatial_forward((size_t)ctx->batch, (size_t)n->out.dims[1], plane(n),
                                           n->in[0]->out.data, n->in[1]->out.data, n->out.data);
    return CNN_OK;
}

static cnn_status mul_spatial_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_backend_get()->mul_spatial_backward((size_t)ctx->batch, (size_t)n->out.dims[1], plane(n),
                                            n->in[0]->out.data, n->in[1]->out.data, n->grad.data,
                                            n->in[0]->grad.data, n->in[1]->grad.data);
    return CNN_OK;
}

CNN_OP_DEF(mul_spatial, .shape = mul_spatial_shape, .forward = mul_spatial_forward,
           .backward = mul_spatial_backward);

CNN_OP_BUILDER_AB(mul_spatial)

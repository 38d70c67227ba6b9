/* channel_shuffle — (N, g*c, H, W) -> (N, c*g, H, W): viewed as (N, g, c, H, W),
   dims 1 and 2 swapped and flattened back, as ShuffleNet's channel_shuffle
   (torchvision shufflenetv2.py). Output channel j = i*g + k takes input channel
   k*c + i. */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "layout_ops.h"
#include "nd.h"
#include "op_describe.h"

typedef struct shuffle_attr {
    int groups;
} shuffle_attr;

static cnn_status shuffle_shape(cnn_node *n)
{
    CNN_CHECK(cnn_input_batched(n, 2, "(N, C, H, W)"));
    const shuffle_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (a->groups < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d must be >= 1", a->groups);
    if (x->out.dims[1] % a->groups)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d does not divide %d channels of %s",
                              a->groups, x->out.dims[1], cnn_node_shape_str(x));
    cnn_out_like(n, x);
    return CNN_OK;
}

/* Elements per channel (of the output; the input's are the same). */
static size_t plane(const cnn_node *n) { return cnn_nd_plane(n->out.ndim, n->out.dims); }

static cnn_status shuffle_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const shuffle_attr *a = n->attr;
    int c = n->out.dims[1];
    if (cnn_layout_copy(ctx, n->in[0], 0, a->groups, c / a->groups, n, 0, c)) { /* one gather */
        cnn_layout_clear_tail(ctx, n);
        return CNN_OK;
    }
    cnn_backend_get()->channel_shuffle_forward((size_t)ctx->batch, (size_t)n->out.dims[1],
                                               (size_t)a->groups, plane(n), n->in[0]->out.data,
                                               n->out.data);
    return CNN_OK;
}

static cnn_status shuffle_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const shuffle_attr *a = n->attr;
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    cnn_backend_get()->channel_shuffle_backward((size_t)ctx->batch, (size_t)n->out.dims[1],
                                                (size_t)a->groups, plane(n), n->grad.data, dx);
    return CNN_OK;
}

CNN_OP_DESCRIBE(shuffle_describe, shuffle_attr, cnn_desc_int(d, "groups", a->groups));

CNN_OP_DEF(channel_shuffle, .shape = shuffle_shape, .forward = shuffle_forward,
           .backward = shuffle_backward, .describe = shuffle_describe,
           .layout_trait = cnn_layout_any_4d);

cnn_node *cnn_channel_shuffle(cnn_graph *g, cnn_node *x, int groups)
{
    shuffle_attr a = {.groups = groups};
    return cnn_node_make(g, &cnn_op_channel_shuffle, NULL, 1, &x, &a, sizeof a);
}

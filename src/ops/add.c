/* add — a + b, same shape (residual connections); as torch.add without broadcasting.
   a and b may be the same node (x + x): each appearance adds its gradient. The
   arithmetic is the backend's (add_forward / add_backward); an add whose other input
   is computed before a convolution can run as a stage of that convolution's fused
   epilogue (docs/architecture.md, "Fusion"). */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"

static cnn_status add_shape(cnn_node *n)
{
    const cnn_node *a = n->in[0], *b = n->in[1];
    bool ok = a->out.ndim == b->out.ndim && a->batched == b->batched;
    for (int d = 0; ok && d < a->out.ndim; d++)
        if (a->out.dims[d] != b->out.dims[d]) ok = false;
    if (!ok)
        return cnn_node_error(n, CNN_ERR_SHAPE, "shapes %s and %s differ", cnn_node_shape_str(a),
                              cnn_node_shape_str(b));
    n->out.ndim = a->out.ndim;
    memcpy(n->out.dims, a->out.dims, sizeof n->out.dims);
    n->batched = a->batched;
    return CNN_OK;
}

static cnn_status add_forward(cnn_node *n, const cnn_ctx *ctx)
{
    ctx->be->add_forward(n->in[0]->out.data, n->in[1]->out.data, n->out.data, cnn_node_numel(n));
    return CNN_OK;
}

static cnn_status add_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *da = n->in[0]->grad.data, *db = n->in[1]->grad.data;
    if (da || db) ctx->be->add_backward(n->grad.data, da, db, cnn_node_numel(n));
    return CNN_OK;
}

/* As the residual stage of a fused epilogue: the chain's value plus the other input. */
static void add_stage(const cnn_node *n, int chain_in, const cnn_ctx *ctx, cnn_epi_stage *st)
{
    (void)ctx;
    st->other = n->in[1 - chain_in]->out.data;
}

CNN_OP_DEF(add, .shape = add_shape, .forward = add_forward, .backward = add_backward,
           .epilogue_kind = CNN_EPI_ADD, .epilogue_stage = add_stage);

CNN_OP_BUILDER_AB(add)

/* cross_entropy — logits (N, K), labels (N) -> scalar (1): the mean over the batch of
   -sum_k q_k log softmax(z)_k with q = (1-eps) onehot + eps/K, as
   torch.nn.CrossEntropyLoss(label_smoothing=eps). Saves softmax for backward. */
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

typedef struct ce_attr {
    float smoothing;
} ce_attr;

static cnn_status ce_shape(cnn_node *n)
{
    const ce_attr *a = n->attr;
    const cnn_node *z = n->in[0], *y = n->in[1];
    if (z->out.ndim != 2)
        return cnn_node_error(n, CNN_ERR_SHAPE, "logits must be (N, classes), got %s",
                              cnn_node_shape_str(z));
    if (y->out.ndim != 1 || y->out.dims[0] != z->out.dims[0])
        return cnn_node_error(n, CNN_ERR_SHAPE, "labels %s do not match logits %s",
                              cnn_node_shape_str(y), cnn_node_shape_str(z));
    if (!(a->smoothing >= 0.0f && a->smoothing <= 1.0f))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "label_smoothing %g outside [0, 1]",
                              (double)a->smoothing);
    n->out.ndim = 1;
    n->out.dims[0] = 1;
    n->batched = false;
    n->saved_bytes = cnn_node_numel_max(z) * sizeof(float);
    return CNN_OK;
}

static cnn_status ce_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const ce_attr *a = n->attr;
    int N = ctx->batch, K = n->in[0]->out.dims[1];
    const float *lab = n->in[1]->out.data;
    for (int i = 0; i < N; i++) {
        int y = (int)lab[i];
        if (y < 0 || y >= K || (float)y != lab[i])
            return cnn_node_error(n, CNN_ERR_INVALID_ARG, "label %g of example %d is not a class in 0..%d",
                                  (double)lab[i], i, K - 1);
    }
    n->out.data[0] = cnn_backend_get()->cross_entropy_forward(N, K, a->smoothing,
                                                              n->in[0]->out.data, lab, n->saved);
    return CNN_OK;
}

static cnn_status ce_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const ce_attr *a = n->attr;
    float *dz = n->in[0]->grad.data;
    if (!dz) return CNN_OK;
    int N = ctx->batch, K = n->in[0]->out.dims[1];
    float scale = n->grad.data[0] / (float)N;
    cnn_backend_get()->cross_entropy_backward(N, K, a->smoothing, scale, n->saved,
                                              n->in[1]->out.data, dz);
    return CNN_OK;
}

CNN_OP_DESCRIBE(ce_describe, ce_attr, cnn_desc_float(d, "label_smoothing", a->smoothing));

CNN_OP_DEF(cross_entropy, .shape = ce_shape, .forward = ce_forward, .backward = ce_backward,
           .describe = ce_describe);

cnn_node *cnn_cross_entropy_(cnn_graph *g, cnn_node *logits, cnn_node *labels,
                             const cnn_cross_entropy_opts *o)
{
    ce_attr a = {.smoothing = o->label_smoothing};
    cnn_node *in[2] = {logits, labels};
    return cnn_node_make(g, &cnn_op_cross_entropy, o->name ? o->name : "loss", 2, in, &a, sizeof a);
}

/* cross_entropy — logits (N, K), labels (N) -> scalar (1): the mean over the batch of
   -sum_k q_k log softmax(z)_k with q = (1-eps) onehot + eps/K, as
   torch.nn.CrossEntropyLoss(label_smoothing=eps). Saves softmax for backward. */
#include <math.h>

#include "../graph/graph_internal.h"
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
    const float *z = n->in[0]->out.data, *lab = n->in[1]->out.data;
    float *p = n->saved;
    double total = 0.0;
    for (int i = 0; i < N; i++) {
        const float *zi = z + (size_t)i * K;
        float *pi = p + (size_t)i * K;
        int y = (int)lab[i];
        if (y < 0 || y >= K || (float)y != lab[i])
            return cnn_node_error(n, CNN_ERR_INVALID_ARG, "label %g of example %d is not a class in 0..%d",
                                  (double)lab[i], i, K - 1);
        /* one expf per logit (not two exp in double): the exponentials go into p and
           are scaled by 1 / sum afterwards; sums stay in double */
        float m = zi[0];
        for (int k = 1; k < K; k++) m = zi[k] > m ? zi[k] : m;
        double s = 0.0, sz = 0.0;
        for (int k = 0; k < K; k++) {
            float e = expf(zi[k] - m);
            pi[k] = e;
            s += e;
            sz += zi[k];
        }
        double lse = (double)m + log(s);
        float inv = (float)(1.0 / s);
#pragma omp simd
        for (int k = 0; k < K; k++) pi[k] *= inv;
        double mean_logp = sz - (double)K * lse; /* sum_k log p_k */
        double nll = lse - (double)zi[y];
        total += (1.0 - a->smoothing) * nll - a->smoothing * mean_logp / K;
    }
    n->out.data[0] = (float)(total / N);
    return CNN_OK;
}

static cnn_status ce_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const ce_attr *a = n->attr;
    float *dz = n->in[0]->grad.data;
    if (!dz) return CNN_OK;
    int N = ctx->batch, K = n->in[0]->out.dims[1];
    const float *p = n->saved, *lab = n->in[1]->out.data;
    float scale = n->grad.data[0] / (float)N;
    float off = a->smoothing / (float)K;
    for (int i = 0; i < N; i++) {
        int y = (int)lab[i];
        for (int k = 0; k < K; k++) {
            float q = off + (k == y ? 1.0f - a->smoothing : 0.0f);
            dz[(size_t)i * K + k] += scale * (p[(size_t)i * K + k] - q);
        }
    }
    return CNN_OK;
}

static void ce_describe(const cnn_node *n, cnn_op_desc *d)
{
    const ce_attr *a = n->attr;
    cnn_desc_float(d, "label_smoothing", a->smoothing);
}

const cnn_op_def cnn_op_cross_entropy = {
    .name = "cross_entropy",
    .shape = ce_shape,
    .forward = ce_forward,
    .backward = ce_backward,
    .describe = ce_describe,
};

cnn_node *cnn_cross_entropy_(cnn_graph *g, cnn_node *logits, cnn_node *labels,
                             const cnn_cross_entropy_opts *o)
{
    ce_attr a = {.smoothing = o->label_smoothing};
    cnn_node *in[2] = {logits, labels};
    return cnn_node_make(g, &cnn_op_cross_entropy, o->name ? o->name : "loss", 2, in, &a, sizeof a);
}

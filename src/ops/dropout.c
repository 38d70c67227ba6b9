/* dropout — any batched shape -> same shape, as torch.nn.Dropout(p) (inverted dropout):
   training zeroes each element with probability p (drawn from the graph RNG, so one
   seed gives one mask) and scales the kept ones by 1 / (1 - p); eval is the identity.
   Saved: the keep mask, one byte per element. */
#include <stdint.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

typedef struct dropout_attr {
    float p;
} dropout_attr;

static cnn_status dropout_shape(cnn_node *n)
{
    const dropout_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (!(a->p >= 0.0f && a->p < 1.0f))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "p %g outside [0, 1)", (double)a->p);
    cnn_out_like(n, x);
    n->batched = x->batched;
    n->saved_bytes = cnn_node_numel_max(x); /* uint8 keep mask */
    return CNN_OK;
}

/* The mask is drawn here, from the graph's RNG in element order, so one seed gives one
   mask on every backend; the backend applies it. */
static cnn_status dropout_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const dropout_attr *a = n->attr;
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
    uint8_t *keep = n->saved;
    size_t len = cnn_node_numel(n);
    if (!ctx->training || a->p == 0.0f) {
        memcpy(y, x, len * sizeof(float));
        memset(keep, 1, len);
        return CNN_OK;
    }
    float scale = 1.0f / (1.0f - a->p);
    for (size_t i = 0; i < len; i++)
        keep[i] = cnn_rng_uniform(ctx->rng) >= a->p;
    cnn_backend_get()->dropout_forward(len, x, keep, scale, y);
    return CNN_OK;
}

static cnn_status dropout_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const dropout_attr *a = n->attr;
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    float scale = (ctx->training && a->p > 0.0f) ? 1.0f / (1.0f - a->p) : 1.0f;
    cnn_backend_get()->dropout_backward(cnn_node_numel(n), n->grad.data, n->saved, scale, dx);
    return CNN_OK;
}

CNN_OP_DESCRIBE(dropout_describe, dropout_attr, cnn_desc_float(d, "p", a->p));

CNN_OP_DEF(dropout, .shape = dropout_shape, .forward = dropout_forward,
           .backward = dropout_backward, .describe = dropout_describe);

cnn_node *cnn_dropout_(cnn_graph *g, cnn_node *x, float p, const cnn_dropout_opts *o)
{
    dropout_attr a = {.p = p};
    return cnn_node_make(g, &cnn_op_dropout, o->name, 1, &x, &a, sizeof a);
}

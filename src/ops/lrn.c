/* lrn — x: (N, C, ...) -> same shape, as torch.nn.LocalResponseNorm(size, alpha, beta, k):
     y_c = x_c / s_c^beta,  s_c = k + alpha / size * sum_{c' = c - size/2}^{c + (size-1)/2} x_c'^2
   (channels outside 0..C-1 count as zero, PyTorch's padding of size/2 before and
   (size-1)/2 after). Saved: s (N, C, ...) for backward. */
#include <math.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

typedef struct lrn_attr {
    int size;
    float alpha, beta, k;
} lrn_attr;

static cnn_status lrn_shape(cnn_node *n)
{
    const lrn_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    CNN_CHECK(cnn_input_batched(n, 3, "(N, C, H, W) (3 or more dims)"));
    if (a->size < 1) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "size %d must be >= 1 (set .size)", a->size);
    if (!isfinite(a->alpha) || !isfinite(a->beta) || !(a->k > 0.0f) || !isfinite(a->k))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "alpha %g, beta %g and k %g must be finite with k > 0",
                              (double)a->alpha, (double)a->beta, (double)a->k);
    if (a->alpha < 0.0f)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "alpha %g must be >= 0", (double)a->alpha);
    cnn_out_like(n, x);
    n->saved_bytes = cnn_node_numel_max(x) * sizeof(float);
    /* backward: t_c = dy_c y_c / s_c for one example */
    n->scratch_bytes = cnn_node_per_example(x) * sizeof(float);
    return CNN_OK;
}

/* Per output: size multiply-adds for the sum of squares, one for k + scale * sum,
   one for the product with s^-beta. */
static int64_t lrn_cost(const cnn_node *n)
{
    const lrn_attr *a = n->attr;
    return (int64_t)cnn_node_per_example(n) * (a->size + 2);
}

/* The backend's geometry of this node over the batch being run. */
static cnn_lrn_desc lrn_desc(const cnn_node *n, const cnn_ctx *ctx)
{
    const lrn_attr *a = n->attr;
    cnn_lrn_desc d = {.n = ctx->batch, .c = n->out.dims[1], .s = 1, .size = a->size,
                      .alpha = a->alpha, .beta = a->beta, .k = a->k};
    for (int i = 2; i < n->out.ndim; i++) d.s *= (size_t)n->out.dims[i];
    return d;
}

static cnn_status lrn_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_lrn_desc d = lrn_desc(n, ctx);
    cnn_backend_get()->lrn_forward(&d, n->in[0]->out.data, n->out.data, n->saved);
    return CNN_OK;
}

/* Backward (scratch: t_c = dy_c y_c / s_c for one example) in the backend. */
static cnn_status lrn_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    const cnn_lrn_desc d = lrn_desc(n, ctx);
    cnn_backend_get()->lrn_backward(&d, n->in[0]->out.data, n->out.data, n->saved, n->grad.data,
                                    dx, ctx->scratch);
    return CNN_OK;
}

static void lrn_describe(const cnn_node *n, cnn_op_desc *d)
{
    const lrn_attr *a = n->attr;
    cnn_desc_int(d, "size", a->size);
    cnn_desc_float(d, "alpha", a->alpha);
    cnn_desc_float(d, "beta", a->beta);
    cnn_desc_float(d, "k", a->k);
}

CNN_OP_DEF(lrn, .shape = lrn_shape, .cost = lrn_cost, .forward = lrn_forward,
           .backward = lrn_backward, .describe = lrn_describe);

cnn_node *cnn_lrn_(cnn_graph *g, cnn_node *x, const cnn_lrn_opts *o)
{
    lrn_attr a = {
        .size = o->size,
        .alpha = o->alpha != 0.0f ? o->alpha : 1e-4f,
        .beta = o->beta != 0.0f ? o->beta : 0.75f,
        .k = o->k != 0.0f ? o->k : 1.0f,
    };
    return cnn_node_make(g, &cnn_op_lrn, o->name, 1, &x, &a, sizeof a);
}

/* lrn — x: (N, C, ...) -> same shape, as torch.nn.LocalResponseNorm(size, alpha, beta, k):
     y_c = x_c / s_c^beta,  s_c = k + alpha / size * sum_{c' = c - size/2}^{c + (size-1)/2} x_c'^2
   (channels outside 0..C-1 count as zero, PyTorch's padding of size/2 before and
   (size-1)/2 after). Saved: s (N, C, ...) for backward. */
#include <math.h>

#include "../graph/graph_internal.h"
#include "op_describe.h"

typedef struct lrn_attr {
    int size;
    float alpha, beta, k;
} lrn_attr;

static cnn_status lrn_shape(cnn_node *n)
{
    const lrn_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (!x->batched || x->out.ndim < 3)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, H, W) (3 or more dims), got %s",
                              cnn_node_shape_str(x));
    if (a->size < 1) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "size %d must be >= 1 (set .size)", a->size);
    if (!isfinite(a->alpha) || !isfinite(a->beta) || !(a->k > 0.0f) || !isfinite(a->k))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "alpha %g, beta %g and k %g must be finite with k > 0",
                              (double)a->alpha, (double)a->beta, (double)a->k);
    if (a->alpha < 0.0f)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "alpha %g must be >= 0", (double)a->alpha);
    n->out.ndim = x->out.ndim;
    for (int i = 0; i < x->out.ndim; i++) n->out.dims[i] = x->out.dims[i];
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

static size_t inner_of(const cnn_node *n)
{
    size_t s = 1;
    for (int i = 2; i < n->out.ndim; i++) s *= (size_t)n->out.dims[i];
    return s;
}

static cnn_status lrn_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const lrn_attr *a = n->attr;
    int N = ctx->batch, C = n->out.dims[1];
    size_t S = inner_of(n);
    int before = a->size / 2, after = (a->size - 1) / 2;
    float scale = a->alpha / (float)a->size;
    const float *x = n->in[0]->out.data;
    float *y = n->out.data, *s = n->saved;
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C * S;
        float *yi = y + (size_t)i * C * S, *si = s + (size_t)i * C * S;
        for (int c = 0; c < C; c++) {
            int lo = CNN_MAX(c - before, 0), hi = CNN_MIN(c + after, C - 1);
            for (size_t p = 0; p < S; p++) {
                float sum = 0.0f;
                for (int q = lo; q <= hi; q++) {
                    float v = xi[(size_t)q * S + p];
                    sum += v * v;
                }
                float sc = a->k + scale * sum;
                si[(size_t)c * S + p] = sc;
                yi[(size_t)c * S + p] = xi[(size_t)c * S + p] * powf(sc, -a->beta);
            }
        }
    }
    return CNN_OK;
}

/* dx_j = dy_j s_j^-beta - 2 alpha beta / size * x_j * sum_{c: j in window(c)} dy_c y_c / s_c,
   where j in window(c) <=> j - (size-1)/2 <= c <= j + size/2. */
static cnn_status lrn_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const lrn_attr *a = n->attr;
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    int N = ctx->batch, C = n->out.dims[1];
    size_t S = inner_of(n);
    int before = a->size / 2, after = (a->size - 1) / 2;
    float coef = 2.0f * a->alpha * a->beta / (float)a->size;
    const float *x = n->in[0]->out.data, *y = n->out.data, *s = n->saved, *dy = n->grad.data;
    float *t = ctx->scratch;
    for (int i = 0; i < N; i++) {
        size_t base = (size_t)i * C * S;
        for (size_t e = 0; e < (size_t)C * S; e++) t[e] = dy[base + e] * y[base + e] / s[base + e];
        for (int j = 0; j < C; j++) {
            int lo = CNN_MAX(j - after, 0), hi = CNN_MIN(j + before, C - 1);
            for (size_t p = 0; p < S; p++) {
                float sum = 0.0f;
                for (int c = lo; c <= hi; c++) sum += t[(size_t)c * S + p];
                size_t e = base + (size_t)j * S + p;
                dx[e] += dy[e] * powf(s[e], -a->beta) - coef * x[e] * sum;
            }
        }
    }
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

const cnn_op_def cnn_op_lrn = {
    .name = "lrn",
    .shape = lrn_shape,
    .cost = lrn_cost,
    .forward = lrn_forward,
    .backward = lrn_backward,
    .describe = lrn_describe,
};

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

/* batchnorm2d / batchnorm3d — x: (N, C, H, W) or (N, C, D, H, W) -> same shape, as
   torch.nn.BatchNorm2d / BatchNorm3d (affine, track_running_stats):
     y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per channel over
   (N, spatial). Training uses the batch mean and biased variance and updates
     running_mean = (1 - momentum) running_mean + momentum mean,
     running_var  = (1 - momentum) running_var  + momentum var * m / (m - 1)
   (m = N * spatial values per channel, the unbiased variance). Eval uses the running
   statistics. Parameters weight (1), bias (0); buffers running_mean (0), running_var (1),
   in PyTorch's state_dict order. Saved: per-channel mean and 1/sqrt(var + eps). */
#include <math.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"

typedef struct bn_attr {
    int spatial_dims; /* 2 or 3 */
    float eps, momentum;
    int c;
} bn_attr;

static cnn_status bn_shape(cnn_node *n)
{
    bn_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    int want = a->spatial_dims + 2;
    if (!x->batched || x->out.ndim != want)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be %s, got %s",
                              a->spatial_dims == 3 ? "(N, C, D, H, W)" : "(N, C, H, W)",
                              cnn_node_shape_str(x));
    if (!(a->eps > 0.0f) || !isfinite(a->eps))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "eps %g must be > 0", (double)a->eps);
    if (!(a->momentum > 0.0f && a->momentum <= 1.0f))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "momentum %g outside (0, 1]",
                              (double)a->momentum);
    n->out.ndim = x->out.ndim;
    for (int i = 0; i < x->out.ndim; i++) n->out.dims[i] = x->out.dims[i];
    a->c = x->out.dims[1];
    if (!cnn_node_param(n, "weight", 1, &a->c, CNN_PARAM_NORM_WEIGHT, 0, 1.0f) ||
        !cnn_node_param(n, "bias", 1, &a->c, CNN_PARAM_NORM_BIAS, 0, 0.0f) ||
        !cnn_node_param(n, "running_mean", 1, &a->c, CNN_PARAM_BUFFER, 0, 0.0f) ||
        !cnn_node_param(n, "running_var", 1, &a->c, CNN_PARAM_BUFFER, 0, 1.0f))
        return CNN_ERR_INVALID_ARG;
    n->saved_bytes = 2 * (size_t)a->c * sizeof(float); /* mean (C), inv_std (C) */
    return CNN_OK;
}

/* Values per channel per example (H*W or D*H*W). */
static size_t bn_spatial(const cnn_node *n)
{
    size_t s = 1;
    for (int i = 2; i < n->out.ndim; i++) s *= (size_t)n->out.dims[i];
    return s;
}

static cnn_status bn_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const bn_attr *a = n->attr;
    int N = ctx->batch, C = a->c;
    size_t S = bn_spatial(n);
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
    const float *w = n->params[0]->value.data, *b = n->params[1]->value.data;
    float *rmean = n->params[2]->value.data, *rvar = n->params[3]->value.data;
    float *mean = n->saved, *inv_std = mean + C;
    size_t m = (size_t)N * S;
    if (ctx->training && m < 2)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "expected more than 1 value per channel when training, got input %s",
                              cnn_node_shape_str(n->in[0]));
    /* channels are independent: one thread per channel keeps results thread-count free */
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(m * (size_t)C))
    for (int c = 0; c < C; c++) {
        float mu, is;
        if (ctx->training) {
            double sum = 0.0;
            for (int i = 0; i < N; i++) {
                const float *xc = x + ((size_t)i * C + c) * S;
#pragma omp simd reduction(+ : sum)
                for (size_t k = 0; k < S; k++) sum += xc[k];
            }
            double dmu = sum / (double)m, sq = 0.0;
            for (int i = 0; i < N; i++) {
                const float *xc = x + ((size_t)i * C + c) * S;
#pragma omp simd reduction(+ : sq)
                for (size_t k = 0; k < S; k++) {
                    double d = (double)xc[k] - dmu;
                    sq += d * d;
                }
            }
            double var = sq / (double)m; /* biased: normalises the batch */
            mu = (float)dmu;
            is = (float)(1.0 / sqrt(var + (double)a->eps));
            mean[c] = mu;
            inv_std[c] = is;
            double mom = a->momentum;
            rmean[c] = (float)((1.0 - mom) * rmean[c] + mom * dmu);
            rvar[c] = (float)((1.0 - mom) * rvar[c] + mom * var * (double)m / (double)(m - 1));
        } else {
            mu = rmean[c];
            is = (float)(1.0 / sqrt((double)rvar[c] + (double)a->eps));
        }
        float scale = w[c] * is, shift = b[c] - mu * scale;
        for (int i = 0; i < N; i++) {
            const float *xc = x + ((size_t)i * C + c) * S;
            float *yc = y + ((size_t)i * C + c) * S;
#pragma omp simd
            for (size_t k = 0; k < S; k++) yc[k] = xc[k] * scale + shift;
        }
    }
    return CNN_OK;
}

/* Training: with xh = (x - mean) inv_std over the m values of a channel,
   dx = weight inv_std / m (m dy - sum dy - xh sum(dy xh)); eval: dx = weight inv_std dy
   with the running statistics (constants). */
static cnn_status bn_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const bn_attr *a = n->attr;
    int N = ctx->batch, C = a->c;
    size_t S = bn_spatial(n);
    const float *x = n->in[0]->out.data, *dy = n->grad.data;
    float *dx = n->in[0]->grad.data;
    const float *w = n->params[0]->value.data;
    float *dw = n->params[0]->grad.data, *db = n->params[1]->grad.data;
    const float *rmean = n->params[2]->value.data, *rvar = n->params[3]->value.data;
    const float *mean = n->saved, *inv_std = mean + C;
    double m = (double)N * (double)S;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads((size_t)N * S * (size_t)C))
    for (int c = 0; c < C; c++) {
        float mu = ctx->training ? mean[c] : rmean[c];
        float is = ctx->training ? inv_std[c] : (float)(1.0 / sqrt((double)rvar[c] + (double)a->eps));
        double sdy = 0.0, sdyxh = 0.0;
        for (int i = 0; i < N; i++) {
            const float *xc = x + ((size_t)i * C + c) * S, *gc = dy + ((size_t)i * C + c) * S;
#pragma omp simd reduction(+ : sdy, sdyxh)
            for (size_t k = 0; k < S; k++) {
                sdy += gc[k];
                sdyxh += (double)gc[k] * ((double)(xc[k] - mu) * is);
            }
        }
        if (db) db[c] += (float)sdy;
        if (dw) dw[c] += (float)sdyxh;
        if (!dx) continue;
        float k1 = w[c] * is;
        float mdy = ctx->training ? (float)(sdy / m) : 0.0f;
        float mdyxh = ctx->training ? (float)(sdyxh / m) : 0.0f;
        for (int i = 0; i < N; i++) {
            const float *xc = x + ((size_t)i * C + c) * S, *gc = dy + ((size_t)i * C + c) * S;
            float *dc = dx + ((size_t)i * C + c) * S;
#pragma omp simd
            for (size_t k = 0; k < S; k++) {
                float xh = (xc[k] - mu) * is;
                dc[k] += k1 * (gc[k] - mdy - xh * mdyxh);
            }
        }
    }
    return CNN_OK;
}

const cnn_op_def cnn_op_batchnorm2d = {
    .name = "batchnorm2d",
    .shape = bn_shape,
    .forward = bn_forward,
    .backward = bn_backward,
};

const cnn_op_def cnn_op_batchnorm3d = {
    .name = "batchnorm3d",
    .shape = bn_shape,
    .forward = bn_forward,
    .backward = bn_backward,
};

static cnn_node *bn_make(cnn_graph *g, cnn_node *x, const cnn_batchnorm_opts *o, int spatial_dims)
{
    bn_attr a = {
        .spatial_dims = spatial_dims,
        .eps = o->eps != 0.0f ? o->eps : 1e-5f,
        .momentum = o->momentum != 0.0f ? o->momentum : 0.1f,
    };
    return cnn_node_make(g, spatial_dims == 3 ? &cnn_op_batchnorm3d : &cnn_op_batchnorm2d,
                         o->name, 1, &x, &a, sizeof a);
}

cnn_node *cnn_batchnorm2d_(cnn_graph *g, cnn_node *x, const cnn_batchnorm_opts *o)
{
    return bn_make(g, x, o, 2);
}

cnn_node *cnn_batchnorm3d_(cnn_graph *g, cnn_node *x, const cnn_batchnorm_opts *o)
{
    return bn_make(g, x, o, 3);
}

/* Eval-mode y = x * scale + shift with exactly bn_forward's eval arithmetic, so a
   convolution that applies it in its epilogue (graph/fuse.c) gives the same bits. */
void cnn_bn_eval_affine(const cnn_node *n, float *scale, float *shift)
{
    const bn_attr *a = n->attr;
    const float *w = n->params[0]->value.data, *b = n->params[1]->value.data;
    const float *rmean = n->params[2]->value.data, *rvar = n->params[3]->value.data;
    for (int c = 0; c < a->c; c++) {
        float is = (float)(1.0 / sqrt((double)rvar[c] + (double)a->eps));
        scale[c] = w[c] * is;
        shift[c] = b[c] - rmean[c] * scale[c];
    }
}

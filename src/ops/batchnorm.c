/* batchnorm2d / batchnorm3d — x: (N, C, H, W) or (N, C, D, H, W) -> same shape, as
   torch.nn.BatchNorm2d / BatchNorm3d (affine, track_running_stats):
     y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per channel over
   (N, spatial). Training uses the batch mean and biased variance and updates
     running_mean = (1 - momentum) running_mean + momentum mean,
     running_var  = (1 - momentum) running_var  + momentum var * m / (m - 1)
   (m = N * spatial values per channel, the unbiased variance). Eval uses the running
   statistics. Parameters weight (1), bias (0); buffers running_mean (0), running_var (1),
   in PyTorch's state_dict order. Saved: per-channel mean and 1/sqrt(var + eps). */
#include "../core/clones.h"
#include <math.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

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

/* The passes below are memory-bound. Channels go in blocks whose N planes fit in L2 at
   once, so the second pass over a block (output, input gradient) reads it from cache:
   one trip to memory for forward, one for backward's two inputs. Each channel's sums
   run in one thread in an order fixed by the shape alone (plane by plane in batch
   order, or position-wise for small planes), so results depend on neither the block
   size nor the thread count. Cloned for AVX-512 / AVX2 / baseline: the
   double accumulators need wide vectors to keep up with memory. */
#define BLOCK_BYTES ((size_t)256 << 10) /* input bytes per block, per stream */
#define MAX_CB 256                      /* channels per block */
#define SMALL_S 32                      /* planes up to this size sum position-wise */

/* Channels [c0, c0 + cb): s1[j] += sum (x - sh[j]), s2[j] += sum (x - sh[j])^2 in
   double. The shift (a value of the channel) keeps sum - sum^2/m from cancelling when
   the mean is large against the spread, so one pass is as accurate as two. */
CNN_CLONES static void stats_block(const float *x, int N, int C, size_t S, int c0, int cb,
                               const double *sh, double *s1, double *s2)
{
    if (S <= SMALL_S) {
        /* small planes (3x3, 4x4, 1x1): a per-plane vector reduction would cost more than
           the plane, so lane k sums position k over the batch and the lanes are added
           once per channel */
        for (int j = 0; j < cb; j++) {
            double a[SMALL_S] = {0}, q[SMALL_S] = {0}, h = sh[j];
            for (int i = 0; i < N; i++) {
                const float *restrict xc = x + ((size_t)i * C + c0 + j) * S;
#pragma omp simd
                for (size_t k = 0; k < S; k++) {
                    double d = (double)xc[k] - h;
                    a[k] += d;
                    q[k] += d * d;
                }
            }
            for (size_t k = 0; k < S; k++) {
                s1[j] += a[k];
                s2[j] += q[k];
            }
        }
        return;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < cb; j++) {
            const float *restrict xc = x + ((size_t)i * C + c0 + j) * S;
            double h = sh[j], a = 0.0, q = 0.0;
#pragma omp simd reduction(+ : a, q)
            for (size_t k = 0; k < S; k++) {
                double d = (double)xc[k] - h;
                a += d;
                q += d * d;
            }
            s1[j] += a;
            s2[j] += q;
        }
}

/* y = x * scale + shift per channel (the eval arithmetic of cnn_bn_eval_affine). May
   run in place (y == x: a fused chain run unfused, graph/fuse.c): no restrict. */
CNN_CLONES static void affine_block(const float *x, float *y, int N, int C, size_t S, int c0, int cb,
                                const float *scale, const float *shift)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < cb; j++) {
            size_t o = ((size_t)i * C + c0 + j) * S;
            const float *xc = x + o;
            float *yc = y + o;
            float sc = scale[j], sf = shift[j];
#pragma omp simd
            for (size_t k = 0; k < S; k++) yc[k] = xc[k] * sc + sf;
        }
}

/* Channels per block: N planes of S values per channel within BLOCK_BYTES (backward
   passes 2N for its two inputs), and at least two blocks per thread for balance. */
static int bn_block(int N, int C, size_t S, int threads)
{
    size_t per = (size_t)N * S * sizeof(float);
    size_t cb = per ? BLOCK_BYTES / per : MAX_CB;
    if (cb > MAX_CB) cb = MAX_CB;
    size_t bal = ((size_t)C + 2 * (size_t)threads - 1) / (2 * (size_t)threads);
    if (threads > 1 && cb > bal) cb = bal;
    return cb < 1 ? 1 : (int)cb;
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
    const bool training = ctx->training;
    const double eps = a->eps, mom = a->momentum, dm = (double)m;
    int nt = cnn_par_threads(m * (size_t)C), cb = bn_block(N, C, S, nt);
    int nb = (C + cb - 1) / cb;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int bi = 0; bi < nb; bi++) {
        int c0 = bi * cb, nc = C - c0 < cb ? C - c0 : cb;
        double sh[MAX_CB], s1[MAX_CB], s2[MAX_CB];
        float scale[MAX_CB], shift[MAX_CB];
        if (training) {
            for (int j = 0; j < nc; j++) {
                sh[j] = x[(size_t)(c0 + j) * S];
                s1[j] = s2[j] = 0.0;
            }
            stats_block(x, N, C, S, c0, nc, sh, s1, s2);
        }
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            float mu, is;
            if (training) {
                double d = s1[j] / dm;
                double var = s2[j] / dm - d * d; /* biased: normalises the batch */
                if (var < 0.0) var = 0.0;
                double dmu = sh[j] + d;
                mu = (float)dmu;
                is = (float)(1.0 / sqrt(var + eps));
                mean[c] = mu;
                inv_std[c] = is;
                rmean[c] = (float)((1.0 - mom) * rmean[c] + mom * dmu);
                rvar[c] = (float)((1.0 - mom) * rvar[c] + mom * var * dm / (dm - 1.0));
            } else {
                mu = rmean[c];
                is = (float)(1.0 / sqrt((double)rvar[c] + eps));
            }
            scale[j] = w[c] * is;
            shift[j] = b[c] - mu * scale[j];
        }
        affine_block(x, y, N, C, S, c0, nc, scale, shift);
    }
    return CNN_OK;
}

/* Channels [c0, c0 + cb): sdy[j] += sum dy, sdyx[j] += sum dy (x - mu[j]), in double. */
CNN_CLONES static void bwd_sums_block(const float *x, const float *dy, int N, int C, size_t S, int c0,
                                  int cb, const float *mu, double *sdy, double *sdyx)
{
    if (S <= SMALL_S) { /* as in stats_block */
        for (int j = 0; j < cb; j++) {
            double a[SMALL_S] = {0}, q[SMALL_S] = {0};
            float u = mu[j];
            for (int i = 0; i < N; i++) {
                size_t o = ((size_t)i * C + c0 + j) * S;
                const float *restrict xc = x + o, *restrict gc = dy + o;
#pragma omp simd
                for (size_t k = 0; k < S; k++) {
                    a[k] += gc[k];
                    q[k] += (double)gc[k] * (double)(xc[k] - u);
                }
            }
            for (size_t k = 0; k < S; k++) {
                sdy[j] += a[k];
                sdyx[j] += q[k];
            }
        }
        return;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < cb; j++) {
            size_t o = ((size_t)i * C + c0 + j) * S;
            const float *restrict xc = x + o, *restrict gc = dy + o;
            float u = mu[j];
            double a = 0.0, q = 0.0;
#pragma omp simd reduction(+ : a, q)
            for (size_t k = 0; k < S; k++) {
                a += gc[k];
                q += (double)gc[k] * (double)(xc[k] - u);
            }
            sdy[j] += a;
            sdyx[j] += q;
        }
}

/* dx += k1 (dy - mdy - xh mdyxh), xh = (x - mu) is, per channel. */
CNN_CLONES static void bwd_apply_block(const float *x, const float *dy, float *dx, int N, int C,
                                   size_t S, int c0, int cb, const float *mu, const float *is,
                                   const float *k1, const float *mdy, const float *mdyxh)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < cb; j++) {
            size_t o = ((size_t)i * C + c0 + j) * S;
            const float *restrict xc = x + o, *restrict gc = dy + o;
            float *restrict dc = dx + o;
            float u = mu[j], s = is[j], k = k1[j], a = mdy[j], q = mdyxh[j];
#pragma omp simd
            for (size_t e = 0; e < S; e++) {
                float xh = (xc[e] - u) * s;
                dc[e] += k * (gc[e] - a - xh * q);
            }
        }
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
    const bool training = ctx->training;
    const double m = (double)N * (double)S;
    /* blocks sized for the two input streams (x, dy) */
    int nt = cnn_par_threads((size_t)N * S * (size_t)C), cb = bn_block(2 * N, C, S, nt);
    int nb = (C + cb - 1) / cb;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int bi = 0; bi < nb; bi++) {
        int c0 = bi * cb, nc = C - c0 < cb ? C - c0 : cb;
        double sdy[MAX_CB], sdyx[MAX_CB];
        float mu[MAX_CB], is[MAX_CB], k1[MAX_CB], mdy[MAX_CB], mdyxh[MAX_CB];
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            mu[j] = training ? mean[c] : rmean[c];
            is[j] = training ? inv_std[c] : (float)(1.0 / sqrt((double)rvar[c] + (double)a->eps));
            sdy[j] = sdyx[j] = 0.0;
        }
        if (db || dw || (dx && training)) bwd_sums_block(x, dy, N, C, S, c0, nc, mu, sdy, sdyx);
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            double sdyxh = sdyx[j] * (double)is[j];
            if (db) db[c] += (float)sdy[j];
            if (dw) dw[c] += (float)sdyxh;
            k1[j] = w[c] * is[j];
            mdy[j] = training ? (float)(sdy[j] / m) : 0.0f;
            mdyxh[j] = training ? (float)(sdyxh / m) : 0.0f;
        }
        if (dx) bwd_apply_block(x, dy, dx, N, C, S, c0, nc, mu, is, k1, mdy, mdyxh);
    }
    return CNN_OK;
}

static void bn_describe(const cnn_node *n, cnn_op_desc *d)
{
    const bn_attr *a = n->attr;
    cnn_desc_float(d, "eps", a->eps);
    cnn_desc_float(d, "momentum", a->momentum);
}

const cnn_op_def cnn_op_batchnorm2d = {
    .name = "batchnorm2d",
    .shape = bn_shape,
    .forward = bn_forward,
    .backward = bn_backward,
    .describe = bn_describe,
};

const cnn_op_def cnn_op_batchnorm3d = {
    .name = "batchnorm3d",
    .shape = bn_shape,
    .forward = bn_forward,
    .backward = bn_backward,
    .describe = bn_describe,
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

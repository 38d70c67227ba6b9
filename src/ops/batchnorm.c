/* batchnorm2d / batchnorm3d — x: (N, C, H, W) or (N, C, D, H, W) -> same shape, as
   torch.nn.BatchNorm2d / BatchNorm3d (affine, track_running_stats):
     y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per channel over
   (N, spatial). Training uses the batch mean and biased variance and updates
     running_mean = (1 - momentum) running_mean + momentum mean,
     running_var  = (1 - momentum) running_var  + momentum var * m / (m - 1)
   (m = N * spatial values per channel, the unbiased variance). Eval uses the running
   statistics. Parameters weight (1), bias (0); buffers running_mean (0), running_var (1),
   in PyTorch's state_dict order. Saved: per-channel mean and 1/sqrt(var + eps).
   The arithmetic is the backend's (bn_forward, bn_backward, the bn_sync_* steps); in
   eval mode a batch norm after a convolution runs as the affine stage of its fused
   epilogue (docs/architecture.md, "Fusion"). */
#include <math.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

typedef struct bn_attr {
    int spatial_dims; /* 2 or 3 */
    float eps, momentum;
    int c;
    double sync_m; /* synchronised training: values per channel over all ranks */
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
    cnn_out_like(n, x);
    a->c = x->out.dims[1];
    if (!cnn_node_param(n, "weight", 1, &a->c, CNN_PARAM_NORM_WEIGHT, 0, 1.0f) ||
        !cnn_node_param(n, "bias", 1, &a->c, CNN_PARAM_NORM_BIAS, 0, 0.0f) ||
        !cnn_node_param(n, "running_mean", 1, &a->c, CNN_PARAM_BUFFER, 0, 0.0f) ||
        !cnn_node_param(n, "running_var", 1, &a->c, CNN_PARAM_BUFFER, 0, 1.0f))
        return CNN_ERR_INVALID_ARG;
    n->saved_bytes = 2 * (size_t)a->c * sizeof(float); /* mean (C), inv_std (C) */
    n->scratch_bytes = (4 * (size_t)a->c + 2) * sizeof(double); /* synchronised statistics */
    return CNN_OK;
}

/* Values per channel per example (H*W or D*H*W). */
static size_t bn_spatial(const cnn_node *n)
{
    size_t s = 1;
    for (int i = 2; i < n->out.ndim; i++) s *= (size_t)n->out.dims[i];
    return s;
}

/* The kernel arguments of node n at batch N (gradients: those that are wanted). */
static cnn_bn_args bn_args(const cnn_node *n, int N)
{
    const bn_attr *a = n->attr;
    float *saved = n->saved;
    cnn_bn_args r = {
        .n = N,
        .c = a->c,
        .s = bn_spatial(n),
        .eps = a->eps,
        .momentum = a->momentum,
        .x = n->in[0]->out.data,
        .w = n->params[0]->value.data,
        .b = n->params[1]->value.data,
        .y = n->out.data,
        .rmean = n->params[2]->value.data,
        .rvar = n->params[3]->value.data,
        .mean = saved,
        .inv_std = saved ? saved + a->c : NULL,
        .dy = n->grad.data,
        .dx = n->in[0]->grad.data,
        .dw = n->params[0]->grad.data,
        .db = n->params[1]->grad.data,
    };
    return r;
}

/* Synchronised batch norm (--sync-bn, docs/architecture.md "Distributed training"):
   the statistics of the global batch over all ranks. Each rank's per-channel count,
   mean and centred sum of squares (bn_sync_stats) are combined exactly as Chan et al.'s
   parallel variance: two all-reduces (the means, then the centred sums around the
   global mean), so no large-mean cancellation. */
static cnn_status bn_forward_sync(cnn_node *n, const cnn_ctx *ctx)
{
    bn_attr *a = n->attr;
    cnn_bn_args k = bn_args(n, ctx->batch);
    int C = a->c;
    double *sum = ctx->scratch;           /* C + 1: m mean_r, then m */
    double *m2 = sum + C + 1;             /* C + 1: centred sums around the global mean */
    double *lmean = m2 + C + 1, *lm2 = lmean + C; /* this rank's mean and centred sum */
    const double lm = (double)k.n * (double)k.s;
    ctx->be->bn_sync_stats(&k, lmean, lm2);
    for (int c = 0; c < C; c++) sum[c] = lm * lmean[c];
    sum[C] = lm;
    cnn_status s = cnn_comm_allreduce_f64(ctx->sync, sum, (size_t)C + 1, CNN_REDUCE_SUM);
    if (s != CNN_OK) return s;
    const double M = sum[C];
    a->sync_m = M;
    for (int c = 0; c < C; c++) {
        double dmu = lmean[c] - sum[c] / M;
        m2[c] = lm2[c] + lm * dmu * dmu;
    }
    m2[C] = 0.0;
    s = cnn_comm_allreduce_f64(ctx->sync, m2, (size_t)C, CNN_REDUCE_SUM);
    if (s != CNN_OK) return s;
    ctx->be->bn_sync_apply(&k, sum, m2, M);
    return CNN_OK;
}

static cnn_status bn_forward(cnn_node *n, const cnn_ctx *ctx)
{
    if (ctx->training && ctx->sync) return bn_forward_sync(n, ctx);
    cnn_bn_args k = bn_args(n, ctx->batch);
    if (ctx->training && (size_t)k.n * k.s < 2)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "expected more than 1 value per channel when training, got input %s",
                              cnn_node_shape_str(n->in[0]));
    ctx->be->bn_forward(&k, ctx->training);
    return CNN_OK;
}

/* Synchronised backward: the weight and bias gradients from this rank's values (the
   trainer's gradient all-reduce adds the ranks), the input gradient with the sums of
   dy and dy xh over the global batch (one all-reduce). */
static cnn_status bn_backward_sync(cnn_node *n, const cnn_ctx *ctx)
{
    const bn_attr *a = n->attr;
    cnn_bn_args k = bn_args(n, ctx->batch);
    double *tot = ctx->scratch; /* sum dy (C), sum dy xh (C) */
    ctx->be->bn_sync_bwd_sums(&k, tot);
    if (!k.dx) return CNN_OK;
    cnn_status s = cnn_comm_allreduce_f64(ctx->sync, tot, 2 * (size_t)a->c, CNN_REDUCE_SUM);
    if (s != CNN_OK) return s;
    ctx->be->bn_sync_bwd_apply(&k, tot, a->sync_m);
    return CNN_OK;
}

static cnn_status bn_backward(cnn_node *n, const cnn_ctx *ctx)
{
    if (ctx->training && ctx->sync) return bn_backward_sync(n, ctx);
    cnn_bn_args k = bn_args(n, ctx->batch);
    ctx->be->bn_backward(&k, ctx->training);
    return CNN_OK;
}

/* As the affine stage of a fused epilogue: the eval coefficients into st's arrays. */
static void bn_stage(const cnn_node *n, int chain_in, const cnn_ctx *ctx, cnn_epi_stage *st)
{
    (void)chain_in;
    cnn_bn_args k = bn_args(n, ctx->batch);
    ctx->be->bn_eval_affine(&k, st->scale, st->shift);
}

CNN_OP_DESCRIBE(bn_describe, bn_attr,
                cnn_desc_float(d, "eps", a->eps);
                cnn_desc_float(d, "momentum", a->momentum));

/* batchnorm2d and batchnorm3d: the same op over 2 or 3 spatial axes, two names */
#define BN_OP_DEF(op_name)                                                                   \
    {                                                                                        \
        .name = op_name, .shape = bn_shape, .forward = bn_forward, .backward = bn_backward,  \
        .describe = bn_describe, .epilogue_kind = CNN_EPI_AFFINE, .epilogue_stage = bn_stage, \
    }
const cnn_op_def cnn_op_batchnorm2d = BN_OP_DEF("batchnorm2d");
const cnn_op_def cnn_op_batchnorm3d = BN_OP_DEF("batchnorm3d");

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

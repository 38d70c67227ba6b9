/* maxpool2d — x: (N, C, H, W) -> (N, C, H', W'); as torch.nn.MaxPool2d:
   H' = floor((H + 2*pad - dil*(k-1) - 1 + (ceil ? stride-1 : 0)) / stride) + 1, and in
   ceil mode a last window that starts in the right padding is dropped. Padded
   positions count as -inf. The argmax of each output (h*W + w in its input plane,
   like return_indices=True; ties -> the first max, NaN wins as in PyTorch) is saved
   as int32 for backward and for cnn_maxpool2d_indices. */
#include <math.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"

typedef struct maxpool2d_attr {
    int kh, kw, sh, sw, ph, pw, dh, dw;
    bool ceil_mode;
    bool exclude_pad; /* only to reject it: an avg pool option */
    bool ran;         /* forward has filled n->saved */
} maxpool2d_attr;

static cnn_status maxpool2d_shape(cnn_node *n)
{
    maxpool2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (x->out.ndim != 4)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, H, W), got %s",
                              cnn_node_shape_str(x));
    if (a->kh < 1 || a->kw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "kernel %dx%d must be >= 1 (set .kernel)",
                              a->kh, a->kw);
    if (a->sh < 1 || a->sw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "stride %dx%d must be >= 1", a->sh, a->sw);
    if (a->dh < 1 || a->dw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "dilation %dx%d must be >= 1", a->dh, a->dw);
    if (a->ph < 0 || a->pw < 0)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "padding %dx%d must be >= 0", a->ph, a->pw);
    if (a->ph > a->kh / 2 || a->pw > a->kw / 2)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "padding %dx%d must be at most half the kernel %dx%d", a->ph, a->pw,
                              a->kh, a->kw);
    if (a->exclude_pad)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "exclude_pad applies to avgpool2d only");
    int h = x->out.dims[2], w = x->out.dims[3];
    if ((int64_t)h * w > INT32_MAX)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input plane %s too large for int32 indices",
                              cnn_node_shape_str(x));
    int oh = cnn_pool_out_size(h, a->kh, a->sh, a->ph, a->dh, a->ceil_mode);
    int ow = cnn_pool_out_size(w, a->kw, a->sw, a->pw, a->dw, a->ceil_mode);
    if (oh < 1 || ow < 1)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "output %dx%d is smaller than 1x1: kernel %dx%d (dilation %dx%d, "
                              "padding %dx%d) does not fit the input %s",
                              oh, ow, a->kh, a->kw, a->dh, a->dw, a->ph, a->pw,
                              cnn_node_shape_str(x));
    n->out.ndim = 4;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = x->out.dims[1];
    n->out.dims[2] = oh;
    n->out.dims[3] = ow;
    n->saved_bytes = (size_t)x->out.dims[0] * x->out.dims[1] * oh * ow * sizeof(int32_t);
    return CNN_OK;
}

static cnn_status maxpool2d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    maxpool2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    const int h = x->out.dims[2], w = x->out.dims[3];
    const int oh = n->out.dims[2], ow = n->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(planes * (size_t)h * w))
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x->out.data + p * h * w;
        float *yp = n->out.data + p * oh * ow;
        int32_t *ip = (int32_t *)n->saved + p * oh * ow;
        for (int i = 0; i < oh; i++) {
            int h0 = i * a->sh - a->ph;
            int h1 = CNN_MIN(h0 + (a->kh - 1) * a->dh + 1, h);
            while (h0 < 0) h0 += a->dh;
            for (int j = 0; j < ow; j++) {
                int w0 = j * a->sw - a->pw;
                int w1 = CNN_MIN(w0 + (a->kw - 1) * a->dw + 1, w);
                while (w0 < 0) w0 += a->dw;
                float best = -INFINITY;
                /* a window of padding only (possible with dilation) has no argmax: -1 */
                int32_t bi = (h0 < h1 && w0 < w1) ? h0 * w + w0 : -1;
                for (int u = h0; u < h1; u += a->dh)
                    for (int v = w0; v < w1; v += a->dw) {
                        float val = xp[u * w + v];
                        if (val > best || isnan(val)) {
                            best = val;
                            bi = u * w + v;
                        }
                    }
                yp[i * ow + j] = best;
                ip[i * ow + j] = bi;
            }
        }
    }
    a->ran = true;
    return CNN_OK;
}

static cnn_status maxpool2d_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const size_t hw = (size_t)x->out.dims[2] * x->out.dims[3];
    const size_t ohw = (size_t)n->out.dims[2] * n->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
    const int32_t *idx = n->saved;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(planes * hw))
    for (size_t p = 0; p < planes; p++) {
        float *dx = x->grad.data + p * hw;
        const float *dy = n->grad.data + p * ohw;
        const int32_t *ip = idx + p * ohw;
        for (size_t o = 0; o < ohw; o++)
            if (ip[o] >= 0) dx[ip[o]] += dy[o];
    }
    return CNN_OK;
}

const cnn_op_def cnn_op_maxpool2d = {
    .name = "maxpool2d",
    .shape = maxpool2d_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = maxpool2d_forward,
    .backward = maxpool2d_backward,
};

cnn_node *cnn_maxpool2d_(cnn_graph *g, cnn_node *x, const cnn_pool2d_opts *o)
{
    int kh = cnn_opt_pick(o->kernel_h, o->kernel, 0), kw = cnn_opt_pick(o->kernel_w, o->kernel, 0);
    maxpool2d_attr a = {
        .kh = kh,
        .kw = kw,
        .sh = cnn_opt_pick(o->stride_h, o->stride, kh),
        .sw = cnn_opt_pick(o->stride_w, o->stride, kw),
        .ph = cnn_opt_pick(o->padding_h, o->padding, 0),
        .pw = cnn_opt_pick(o->padding_w, o->padding, 0),
        .dh = o->dilation ? o->dilation : 1,
        .dw = o->dilation ? o->dilation : 1,
        .ceil_mode = o->ceil_mode,
        .exclude_pad = o->exclude_pad,
    };
    return cnn_node_make(g, &cnn_op_maxpool2d, o->name, 1, &x, &a, sizeof a);
}

cnn_status cnn_maxpool2d_indices(const cnn_node *pool, const int32_t **indices)
{
    if (!indices) return cnn_set_error(CNN_ERR_INVALID_ARG, "maxpool2d_indices: indices is NULL");
    *indices = NULL;
    if (!pool) return cnn_set_error(CNN_ERR_INVALID_ARG, "maxpool2d_indices: node is NULL");
    if (pool->op != &cnn_op_maxpool2d)
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "maxpool2d_indices: '%s' is a %s, not a maxpool2d", pool->name,
                             pool->op ? pool->op->name : "node");
    const maxpool2d_attr *a = pool->attr;
    if (!a->ran || !pool->saved)
        return cnn_node_error(pool, CNN_ERR_STATE, "no indices before forward has run");
    *indices = pool->saved;
    return CNN_OK;
}

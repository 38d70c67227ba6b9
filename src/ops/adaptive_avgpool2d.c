/* adaptive_avgpool2d — x: (N, C, H, W) -> (N, C, out_h, out_w); as
   torch.nn.AdaptiveAvgPool2d: output i averages rows [floor(i*H/out_h),
   ceil((i+1)*H/out_h)), the same for columns; bins may overlap when out does not
   divide the input, and out may exceed it.
   global_avgpool — (N, C, H, W) -> (N, C, 1, 1): the mean of each plane, the
   AdaptiveAvgPool2d(1) / x.mean((2, 3), keepdim=True) idiom, as its own op. */
#include "../graph/graph_internal.h"

typedef struct adaptive_attr {
    int oh, ow;
} adaptive_attr;

static cnn_status adaptive_shape(cnn_node *n)
{
    const adaptive_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (x->out.ndim != 4)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, H, W), got %s",
                              cnn_node_shape_str(x));
    if (a->oh < 1 || a->ow < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "output size %dx%d must be >= 1x1", a->oh,
                              a->ow);
    n->out.ndim = 4;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = x->out.dims[1];
    n->out.dims[2] = a->oh;
    n->out.dims[3] = a->ow;
    return CNN_OK;
}

/* PyTorch's bin bounds: [floor(i*in/out), ceil((i+1)*in/out)). */
static int bin_start(int i, int in, int out) { return (int)((int64_t)i * in / out); }
static int bin_end(int i, int in, int out)
{
    return (int)(((int64_t)(i + 1) * in + out - 1) / out);
}

static cnn_status adaptive_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const adaptive_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    const int h = x->out.dims[2], w = x->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x->out.data + p * h * w;
        float *yp = n->out.data + p * a->oh * a->ow;
        for (int i = 0; i < a->oh; i++) {
            int h0 = bin_start(i, h, a->oh), h1 = bin_end(i, h, a->oh);
            for (int j = 0; j < a->ow; j++) {
                int w0 = bin_start(j, w, a->ow), w1 = bin_end(j, w, a->ow);
                float sum = 0.0f;
                for (int u = h0; u < h1; u++)
                    for (int v = w0; v < w1; v++) sum += xp[u * w + v];
                yp[i * a->ow + j] = sum / (float)((h1 - h0) * (w1 - w0));
            }
        }
    }
    return CNN_OK;
}

static cnn_status adaptive_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const adaptive_attr *a = n->attr;
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const int h = x->out.dims[2], w = x->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
    for (size_t p = 0; p < planes; p++) {
        float *dx = x->grad.data + p * h * w;
        const float *dy = n->grad.data + p * a->oh * a->ow;
        for (int i = 0; i < a->oh; i++) {
            int h0 = bin_start(i, h, a->oh), h1 = bin_end(i, h, a->oh);
            for (int j = 0; j < a->ow; j++) {
                int w0 = bin_start(j, w, a->ow), w1 = bin_end(j, w, a->ow);
                float gv = dy[i * a->ow + j] / (float)((h1 - h0) * (w1 - w0));
                for (int u = h0; u < h1; u++)
                    for (int v = w0; v < w1; v++) dx[u * w + v] += gv;
            }
        }
    }
    return CNN_OK;
}

const cnn_op_def cnn_op_adaptive_avgpool2d = {
    .name = "adaptive_avgpool2d",
    .shape = adaptive_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = adaptive_forward,
    .backward = adaptive_backward,
};

cnn_node *cnn_adaptive_avgpool2d(cnn_graph *g, cnn_node *x, int out_h, int out_w)
{
    adaptive_attr a = {.oh = out_h, .ow = out_w};
    return cnn_node_make(g, &cnn_op_adaptive_avgpool2d, NULL, 1, &x, &a, sizeof a);
}

/* ---------------------------------------------------------------- global */
static cnn_status global_shape(cnn_node *n)
{
    const cnn_node *x = n->in[0];
    if (x->out.ndim != 4)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, H, W), got %s",
                              cnn_node_shape_str(x));
    n->out.ndim = 4;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = x->out.dims[1];
    n->out.dims[2] = 1;
    n->out.dims[3] = 1;
    return CNN_OK;
}

static cnn_status global_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_node *x = n->in[0];
    const size_t hw = (size_t)x->out.dims[2] * x->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
    const float inv = 1.0f / (float)hw;
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x->out.data + p * hw;
        float sum = 0.0f;
        for (size_t k = 0; k < hw; k++) sum += xp[k];
        n->out.data[p] = sum * inv;
    }
    return CNN_OK;
}

static cnn_status global_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const size_t hw = (size_t)x->out.dims[2] * x->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
    const float inv = 1.0f / (float)hw;
    for (size_t p = 0; p < planes; p++) {
        float *dx = x->grad.data + p * hw;
        const float gv = n->grad.data[p] * inv;
        for (size_t k = 0; k < hw; k++) dx[k] += gv;
    }
    return CNN_OK;
}

const cnn_op_def cnn_op_global_avgpool = {
    .name = "global_avgpool",
    .shape = global_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = global_forward,
    .backward = global_backward,
};

cnn_node *cnn_global_avgpool(cnn_graph *g, cnn_node *x)
{
    return cnn_node_make(g, &cnn_op_global_avgpool, NULL, 1, &x, NULL, 0);
}

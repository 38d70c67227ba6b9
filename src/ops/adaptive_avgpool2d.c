/* adaptive_avgpool2d — x: (N, C, H, W) -> (N, C, out_h, out_w); as
   torch.nn.AdaptiveAvgPool2d: output i averages rows [floor(i*H/out_h),
   ceil((i+1)*H/out_h)), the same for columns; bins may overlap when out does not
   divide the input, and out may exceed it.
   global_avgpool — (N, C, H, W) -> (N, C, 1, 1): the mean of each plane, the
   AdaptiveAvgPool2d(1) / x.mean((2, 3), keepdim=True) idiom, as its own op. */
#include "../core/clones.h"
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"


/* sums[q] = x[q*hw] + ... + x[q*hw + hw-1] for q < np planes, each added in order
   from 0 (the reference's order). A single sum is latency-bound (one add per ~4
   cycles); eight planes at a time keep eight independent chains in flight. */
CNN_CLONES static void plane_sums(const float *restrict x, size_t hw, size_t np, float *restrict sums)
{
    size_t q = 0;
    for (; q + 8 <= np; q += 8) {
        const float *p0 = x + q * hw, *p1 = p0 + hw, *p2 = p1 + hw, *p3 = p2 + hw;
        const float *p4 = p3 + hw, *p5 = p4 + hw, *p6 = p5 + hw, *p7 = p6 + hw;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        float s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;
        for (size_t k = 0; k < hw; k++) {
            s0 += p0[k];
            s1 += p1[k];
            s2 += p2[k];
            s3 += p3[k];
            s4 += p4[k];
            s5 += p5[k];
            s6 += p6[k];
            s7 += p7[k];
        }
        sums[q] = s0;
        sums[q + 1] = s1;
        sums[q + 2] = s2;
        sums[q + 3] = s3;
        sums[q + 4] = s4;
        sums[q + 5] = s5;
        sums[q + 6] = s6;
        sums[q + 7] = s7;
    }
    for (; q < np; q++) {
        const float *p = x + q * hw;
        float s = 0.0f;
        for (size_t k = 0; k < hw; k++)
            s += p[k];
        sums[q] = s;
    }
}

/* dx[q*hw + k] += g[q] for q < np planes. */
CNN_CLONES static void plane_bcast_add(const float *restrict g, size_t hw, size_t np,
                                   float *restrict dx)
{
    for (size_t q = 0; q < np; q++) {
        float *restrict d = dx + q * hw;
        const float gv = g[q];
#pragma omp simd
        for (size_t k = 0; k < hw; k++)
            d[k] += gv;
    }
}

/* planes per parallel work item of the whole-plane paths (a multiple of 8) */
#define PLANE_CHUNK ((size_t)64)

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

/* Reference loop for planes [p0, p1). */
static void adaptive_fwd_planes(const adaptive_attr *a, int h, int w, const float *x, float *y,
                                size_t p0, size_t p1)
{
    for (size_t p = p0; p < p1; p++) {
        const float *xp = x + p * h * w;
        float *yp = y + p * a->oh * a->ow;
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
}

/* Planes in parallel. Fast paths with the reference's arithmetic: the output size of
   the input (each bin one element: y = 0 + x), and 1x1 (ResNet's, DenseNet's head:
   whole-plane sums). */
static cnn_status adaptive_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const adaptive_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    const int h = x->out.dims[2], w = x->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1], hw = (size_t)h * w;
    const size_t chunks = (planes + PLANE_CHUNK - 1) / PLANE_CHUNK;
    const float *xd = x->out.data;
    float *yd = n->out.data;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(planes *hw))
    for (size_t c = 0; c < chunks; c++) {
        size_t p0 = c * PLANE_CHUNK, p1 = CNN_MIN(p0 + PLANE_CHUNK, planes);
        if (a->oh == h && a->ow == w) {
#pragma omp simd
            for (size_t k = p0 * hw; k < p1 * hw; k++)
                yd[k] = 0.0f + xd[k];
        } else if (a->oh == 1 && a->ow == 1) {
            plane_sums(xd + p0 * hw, hw, p1 - p0, yd + p0);
            for (size_t p = p0; p < p1; p++)
                yd[p] /= (float)hw;
        } else {
            adaptive_fwd_planes(a, h, w, xd, yd, p0, p1);
        }
    }
    return CNN_OK;
}

static void adaptive_bwd_planes(const adaptive_attr *a, int h, int w, const float *dy, float *dx,
                                size_t p0, size_t p1)
{
    for (size_t p = p0; p < p1; p++) {
        float *dxp = dx + p * h * w;
        const float *dyp = dy + p * a->oh * a->ow;
        for (int i = 0; i < a->oh; i++) {
            int h0 = bin_start(i, h, a->oh), h1 = bin_end(i, h, a->oh);
            for (int j = 0; j < a->ow; j++) {
                int w0 = bin_start(j, w, a->ow), w1 = bin_end(j, w, a->ow);
                float gv = dyp[i * a->ow + j] / (float)((h1 - h0) * (w1 - w0));
                for (int u = h0; u < h1; u++)
                    for (int v = w0; v < w1; v++)
                        dxp[u * w + v] += gv;
            }
        }
    }
}

static cnn_status adaptive_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const adaptive_attr *a = n->attr;
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const int h = x->out.dims[2], w = x->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1], hw = (size_t)h * w;
    const size_t chunks = (planes + PLANE_CHUNK - 1) / PLANE_CHUNK;
    const float *dy = n->grad.data;
    float *dx = x->grad.data;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(planes *hw))
    for (size_t c = 0; c < chunks; c++) {
        size_t p0 = c * PLANE_CHUNK, p1 = CNN_MIN(p0 + PLANE_CHUNK, planes);
        if (a->oh == h && a->ow == w) {
#pragma omp simd
            for (size_t k = p0 * hw; k < p1 * hw; k++)
                dx[k] += dy[k] / 1.0f;
        } else if (a->oh == 1 && a->ow == 1) {
            float g[PLANE_CHUNK];
            for (size_t p = p0; p < p1; p++)
                g[p - p0] = dy[p] / (float)hw;
            plane_bcast_add(g, hw, p1 - p0, dx + p0 * hw);
        } else {
            adaptive_bwd_planes(a, h, w, dy, dx, p0, p1);
        }
    }
    return CNN_OK;
}

static void adaptive_describe(const cnn_node *n, cnn_op_desc *d)
{
    const adaptive_attr *a = n->attr;
    cnn_desc_ints(d, "output", 2, (const int[]){a->oh, a->ow});
}

const cnn_op_def cnn_op_adaptive_avgpool2d = {
    .name = "adaptive_avgpool2d",
    .shape = adaptive_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = adaptive_forward,
    .backward = adaptive_backward,
    .describe = adaptive_describe,
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

/* Planes in parallel, PLANE_CHUNK at a time; each plane summed in order from 0. */
static cnn_status global_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_node *x = n->in[0];
    const size_t hw = (size_t)x->out.dims[2] * x->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
    const size_t chunks = (planes + PLANE_CHUNK - 1) / PLANE_CHUNK;
    const float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(planes *hw))
    for (size_t c = 0; c < chunks; c++) {
        size_t p0 = c * PLANE_CHUNK, p1 = CNN_MIN(p0 + PLANE_CHUNK, planes);
        plane_sums(x->out.data + p0 * hw, hw, p1 - p0, n->out.data + p0);
        for (size_t p = p0; p < p1; p++)
            n->out.data[p] *= inv;
    }
    return CNN_OK;
}

static cnn_status global_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const size_t hw = (size_t)x->out.dims[2] * x->out.dims[3];
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
    const size_t chunks = (planes + PLANE_CHUNK - 1) / PLANE_CHUNK;
    const float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(planes *hw))
    for (size_t c = 0; c < chunks; c++) {
        size_t p0 = c * PLANE_CHUNK, p1 = CNN_MIN(p0 + PLANE_CHUNK, planes);
        float g[PLANE_CHUNK];
        for (size_t p = p0; p < p1; p++)
            g[p - p0] = n->grad.data[p] * inv;
        plane_bcast_add(g, hw, p1 - p0, x->grad.data + p0 * hw);
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

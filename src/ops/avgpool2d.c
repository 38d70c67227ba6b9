/* avgpool2d — x: (N, C, H, W) -> (N, C, H', W'); as torch.nn.AvgPool2d:
   H' = floor((H + 2*pad - k + (ceil ? stride-1 : 0)) / stride) + 1, and in ceil mode a
   last window that starts in the right padding is dropped. The divisor is the window
   clipped to the padded input (H + pad) with count_include_pad (the default), or the
   real elements in it with .exclude_pad (count_include_pad=False). */
#include "../core/clones.h"
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

typedef struct avgpool2d_attr {
    int kh, kw, sh, sw, ph, pw;
    int dilation; /* only to reject it: a max pool option */
    bool ceil_mode;
    bool exclude_pad;
} avgpool2d_attr;

static cnn_status avgpool2d_shape(cnn_node *n)
{
    avgpool2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (x->out.ndim != 4)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be (N, C, H, W), got %s",
                              cnn_node_shape_str(x));
    if (a->kh < 1 || a->kw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "kernel %dx%d must be >= 1 (set .kernel)",
                              a->kh, a->kw);
    if (a->sh < 1 || a->sw < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "stride %dx%d must be >= 1", a->sh, a->sw);
    if (a->ph < 0 || a->pw < 0)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "padding %dx%d must be >= 0", a->ph, a->pw);
    if (a->ph > a->kh / 2 || a->pw > a->kw / 2)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "padding %dx%d must be at most half the kernel %dx%d", a->ph, a->pw,
                              a->kh, a->kw);
    if (a->dilation != 0 && a->dilation != 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "dilation %d is not supported (AvgPool2d has none)", a->dilation);
    int h = x->out.dims[2], w = x->out.dims[3];
    int oh = cnn_pool_out_size(h, a->kh, a->sh, a->ph, 1, a->ceil_mode);
    int ow = cnn_pool_out_size(w, a->kw, a->sw, a->pw, 1, a->ceil_mode);
    if (oh < 1 || ow < 1)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "output %dx%d is smaller than 1x1: kernel %dx%d (padding %dx%d) "
                              "does not fit the input %s",
                              oh, ow, a->kh, a->kw, a->ph, a->pw, cnn_node_shape_str(x));
    n->out.ndim = 4;
    n->out.dims[0] = x->out.dims[0];
    n->out.dims[1] = x->out.dims[1];
    n->out.dims[2] = oh;
    n->out.dims[3] = ow;
    return CNN_OK;
}

/* One output's window [*h0, *h1) x [*w0, *w1) clipped to the input, and its divisor
   (0 when the window holds no input element). */
typedef struct window {
    int h0, h1, w0, w1;
    float inv; /* 1 / divisor */
} window;

static window avg_window(const avgpool2d_attr *a, int h, int w, int i, int j)
{
    window r;
    int h0 = i * a->sh - a->ph, w0 = j * a->sw - a->pw;
    int h1 = CNN_MIN(h0 + a->kh, h + a->ph), w1 = CNN_MIN(w0 + a->kw, w + a->pw);
    int padded = (h1 - h0) * (w1 - w0);
    r.h0 = CNN_MAX(h0, 0);
    r.w0 = CNN_MAX(w0, 0);
    r.h1 = CNN_MIN(h1, h);
    r.w1 = CNN_MIN(w1, w);
    int real = (r.h1 - r.h0) * (r.w1 - r.w0);
    if (r.h0 >= r.h1 || r.w0 >= r.w1) {
        r.h1 = r.h0; /* empty: contributes 0, as PyTorch */
        r.inv = 0.0f;
    } else {
        r.inv = 1.0f / (float)(a->exclude_pad ? real : padded);
    }
    return r;
}

/* Fast paths, one (n, c) plane at a time. Each output row splits into columns whose
   windows lie inside the input horizontally, [j0, j1), where the divisor is one
   number for the row, and border columns, which take avg_window per output. The
   interior is vectorised over output columns: 2x2 and 3x3 windows with stride 1 or 2
   (full rows) sum in registers; other kernels and rows clipped at the top / bottom
   make one pass over the row per tap. Sums add the taps in the reference's (row,
   column) order starting from 0, and backward adds each output's share to an input
   in the reference's output order, so every path gives the reference's values. */
typedef struct ap_geom {
    const avgpool2d_attr *a;
    int h, w, oh, ow;
    int j0, j1; /* output columns whose windows lie inside [0, w) */
} ap_geom;


/* Output columns [j0, j1) whose windows (k taps from j*s - p) lie in [0, in). */
static void interior_cols(int in, int out, int k, int s, int p, int *j0, int *j1)
{
    int lo = (p + s - 1) / s;
    int num = in - 1 + p - (k - 1);
    int hi = num < 0 ? 0 : num / s + 1;
    *j0 = CNN_MIN(lo, out);
    *j1 = CNN_MAX(CNN_MIN(hi, out), *j0);
}

/* Row i's tap rows inside the input, [*u0, *u1) (relative to the window top), and
   1 / divisor of its interior columns (kw columns, all inside the input). */
static float row_taps(const ap_geom *g, int i, int *u0, int *u1)
{
    const avgpool2d_attr *a = g->a;
    int h0 = i * a->sh - a->ph;
    int hp1 = CNN_MIN(h0 + a->kh, g->h + a->ph); /* clipped to the padded input */
    *u0 = h0 < 0 ? -h0 : 0;
    *u1 = CNN_MIN(h0 + a->kh, g->h) - h0;
    if (*u1 <= *u0) {
        *u1 = *u0;
        return 0.0f;
    }
    int rows = a->exclude_pad ? *u1 - *u0 : hp1 - h0;
    return 1.0f / (float)(rows * a->kw);
}

/* y[j0, j1) of a row whose window (K x K, all rows inside) starts at input offset o
   for column 0; constant stride SW. */
static inline __attribute__((always_inline)) void ap_row_fixed(const float *restrict x, int w,
                                                               int o, int k, int sw, int j0, int j1,
                                                               float inv, float *restrict yr)
{
    /* rows from column j0's window, so no pointer leaves the plane */
    const float *r0 = x + (o + sw * j0), *r1 = r0 + w, *r2 = r1 + w;
    if (k == 2) {
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            float sum = 0.0f;
            sum += r0[sw * (j - j0)];
            sum += r0[sw * (j - j0) + 1];
            sum += r1[sw * (j - j0)];
            sum += r1[sw * (j - j0) + 1];
            yr[j] = sum * inv;
        }
    } else {
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            float sum = 0.0f;
            sum += r0[sw * (j - j0)];
            sum += r0[sw * (j - j0) + 1];
            sum += r0[sw * (j - j0) + 2];
            sum += r1[sw * (j - j0)];
            sum += r1[sw * (j - j0) + 1];
            sum += r1[sw * (j - j0) + 2];
            sum += r2[sw * (j - j0)];
            sum += r2[sw * (j - j0) + 1];
            sum += r2[sw * (j - j0) + 2];
            yr[j] = sum * inv;
        }
    }
}

CNN_CLONES static void ap_fwd_plane(const ap_geom *g, const float *restrict x, float *restrict y)
{
    const avgpool2d_attr *a = g->a;
    const int w = g->w, ow = g->ow, j0 = g->j0, j1 = g->j1, sw = a->sw, kw = a->kw;
    for (int i = 0; i < g->oh; i++) {
        float *restrict yr = y + (size_t)i * ow;
        int u0, u1;
        const float inv = row_taps(g, i, &u0, &u1);
        const int h0 = i * a->sh - a->ph;
        const int o = (h0 + u0) * w - a->pw; /* first tap of column 0 */
        const int full = u0 == 0 && u1 == a->kh;
        if (j0 < j1 && u0 < u1) {
            if (full && a->kh == 2 && kw == 2 && sw == 2)
                ap_row_fixed(x, w, o, 2, 2, j0, j1, inv, yr);
            else if (full && a->kh == 2 && kw == 2 && sw == 1)
                ap_row_fixed(x, w, o, 2, 1, j0, j1, inv, yr);
            else if (full && a->kh == 3 && kw == 3 && sw == 2)
                ap_row_fixed(x, w, o, 3, 2, j0, j1, inv, yr);
            else if (full && a->kh == 3 && kw == 3 && sw == 1)
                ap_row_fixed(x, w, o, 3, 1, j0, j1, inv, yr);
            else {
                for (int j = j0; j < j1; j++)
                    yr[j] = 0.0f;
                for (int u = u0; u < u1; u++)
                    for (int v = 0; v < kw; v++) {
                        const float *xr = x + ((h0 + u) * w - a->pw + v + j0 * sw);
#pragma omp simd
                        for (int j = j0; j < j1; j++)
                            yr[j] += xr[(j - j0) * sw];
                    }
#pragma omp simd
                for (int j = j0; j < j1; j++)
                    yr[j] *= inv;
            }
        }
        for (int j = 0; j < ow; j++) {
            if (j == j0 && j0 < j1 && u0 < u1) j = j1;
            if (j >= ow) break;
            window r = avg_window(a, g->h, w, i, j);
            float sum = 0.0f;
            for (int u = r.h0; u < r.h1; u++)
                for (int v = r.w0; v < r.w1; v++)
                    sum += x[u * w + v];
            yr[j] = sum * r.inv;
        }
    }
}

/* Reference backward for output columns [jlo, jhi) of row i. */
static void bwd_cols(const ap_geom *g, int i, int jlo, int jhi, const float *dyr, float *dx)
{
    for (int j = jlo; j < jhi; j++) {
        window r = avg_window(g->a, g->h, g->w, i, j);
        float gv = dyr[j] * r.inv;
        for (int u = r.h0; u < r.h1; u++)
            for (int v = r.w0; v < r.w1; v++)
                dx[u * g->w + v] += gv;
    }
}

/* dx += each output's dy * inv over its window. Per output row, tap row and tap
   column v (descending), the outputs' shares go to distinct inputs, so each pass
   vectorises; v descending makes an input receive its shares in increasing output
   column order, as the reference. Non-overlapping 2x2 / 3x3 windows (stride =
   kernel) write all taps in one pass. */
CNN_CLONES static void ap_bwd_plane(const ap_geom *g, const float *restrict dy, float *restrict dx)
{
    const avgpool2d_attr *a = g->a;
    const int w = g->w, ow = g->ow, j0 = g->j0, j1 = g->j1, sw = a->sw, kw = a->kw;
    for (int i = 0; i < g->oh; i++) {
        const float *restrict dyr = dy + (size_t)i * ow;
        int u0, u1;
        const float inv = row_taps(g, i, &u0, &u1);
        const int h0 = i * a->sh - a->ph;
        const int full = u0 == 0 && u1 == a->kh, interior = j0 < j1 && u0 < u1;
        /* left border columns first: an input shared with the interior gets their
           shares first, as in the reference */
        if (interior) bwd_cols(g, i, 0, j0, dyr, dx);
        if (interior && full && kw == sw && a->kh == kw && (kw == 2 || kw == 3)) {
            float *r0 = dx + (h0 * w - a->pw + sw * j0), *r1 = r0 + w, *r2 = r1 + w;
            if (kw == 2) {
#pragma omp simd
                for (int j = j0; j < j1; j++) {
                    float gv = dyr[j] * inv;
                    r0[2 * (j - j0)] += gv;
                    r0[2 * (j - j0) + 1] += gv;
                    r1[2 * (j - j0)] += gv;
                    r1[2 * (j - j0) + 1] += gv;
                }
            } else {
#pragma omp simd
                for (int j = j0; j < j1; j++) {
                    float gv = dyr[j] * inv;
                    r0[3 * (j - j0)] += gv;
                    r0[3 * (j - j0) + 1] += gv;
                    r0[3 * (j - j0) + 2] += gv;
                    r1[3 * (j - j0)] += gv;
                    r1[3 * (j - j0) + 1] += gv;
                    r1[3 * (j - j0) + 2] += gv;
                    r2[3 * (j - j0)] += gv;
                    r2[3 * (j - j0) + 1] += gv;
                    r2[3 * (j - j0) + 2] += gv;
                }
            }
        } else if (interior) {
            for (int u = u0; u < u1; u++)
                for (int v = kw - 1; v >= 0; v--) {
                    float *dxr = dx + ((h0 + u) * w - a->pw + v + j0 * sw);
                    if (sw == 1) {
#pragma omp simd
                        for (int j = j0; j < j1; j++)
                            dxr[j - j0] += dyr[j] * inv;
                    } else {
                        for (int j = j0; j < j1; j++)
                            dxr[(j - j0) * sw] += dyr[j] * inv;
                    }
                }
        }
        bwd_cols(g, i, interior ? j1 : 0, ow, dyr, dx); /* right border (all if none inside) */
    }
}

static ap_geom geom(const cnn_node *n)
{
    const avgpool2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    ap_geom g = {.a = a,
                 .h = x->out.dims[2],
                 .w = x->out.dims[3],
                 .oh = n->out.dims[2],
                 .ow = n->out.dims[3]};
    interior_cols(g.w, g.ow, a->kw, a->sw, a->pw, &g.j0, &g.j1);
    return g;
}

static cnn_status avgpool2d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_node *x = n->in[0];
    const ap_geom g = geom(n);
    const size_t hw = (size_t)g.h * g.w, ohw = (size_t)g.oh * g.ow;
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(planes *hw))
    for (size_t p = 0; p < planes; p++)
        ap_fwd_plane(&g, x->out.data + p * hw, n->out.data + p * ohw);
    return CNN_OK;
}

static cnn_status avgpool2d_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const ap_geom g = geom(n);
    const size_t hw = (size_t)g.h * g.w, ohw = (size_t)g.oh * g.ow;
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(planes *hw))
    for (size_t p = 0; p < planes; p++)
        ap_bwd_plane(&g, n->grad.data + p * ohw, x->grad.data + p * hw);
    return CNN_OK;
}

static void avgpool2d_describe(const cnn_node *n, cnn_op_desc *d)
{
    const avgpool2d_attr *a = n->attr;
    cnn_desc_ints(d, "kernel", 2, (const int[]){a->kh, a->kw});
    cnn_desc_ints(d, "stride", 2, (const int[]){a->sh, a->sw});
    cnn_desc_ints(d, "padding", 2, (const int[]){a->ph, a->pw});
    cnn_desc_ints(d, "dilation", 2, (const int[]){1, 1}); /* shape() rejects others */
    cnn_desc_int(d, "ceil_mode", a->ceil_mode);
    cnn_desc_int(d, "exclude_pad", a->exclude_pad);
}

const cnn_op_def cnn_op_avgpool2d = {
    .name = "avgpool2d",
    .shape = avgpool2d_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = avgpool2d_forward,
    .backward = avgpool2d_backward,
    .describe = avgpool2d_describe,
};

cnn_node *cnn_avgpool2d_(cnn_graph *g, cnn_node *x, const cnn_pool2d_opts *o)
{
    int kh = cnn_opt_pick(o->kernel_h, o->kernel, 0), kw = cnn_opt_pick(o->kernel_w, o->kernel, 0);
    avgpool2d_attr a = {
        .kh = kh,
        .kw = kw,
        .sh = cnn_opt_pick(o->stride_h, o->stride, kh),
        .sw = cnn_opt_pick(o->stride_w, o->stride, kw),
        .ph = cnn_opt_pick(o->padding_h, o->padding, 0),
        .pw = cnn_opt_pick(o->padding_w, o->padding, 0),
        .dilation = o->dilation,
        .ceil_mode = o->ceil_mode,
        .exclude_pad = o->exclude_pad,
    };
    return cnn_node_make(g, &cnn_op_avgpool2d, o->name, 1, &x, &a, sizeof a);
}

/* maxpool2d — x: (N, C, H, W) -> (N, C, H', W'); as torch.nn.MaxPool2d:
   H' = floor((H + 2*pad - dil*(k-1) - 1 + (ceil ? stride-1 : 0)) / stride) + 1, and in
   ceil mode a last window that starts in the right padding is dropped. Padded
   positions count as -inf. The argmax of each output (h*W + w in its input plane,
   like return_indices=True; ties -> the first max, NaN wins as in PyTorch) is saved
   as int32 for backward and for cnn_maxpool2d_indices. */
#include "../core/clones.h"
#include <math.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

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

/* Forward, one (n, c) plane at a time. Each output row is split into columns whose
   windows lie inside the input horizontally, [j0, j1), and border columns. The
   interior is vectorised over output columns: common kernels (2x2, 3x3, stride 1 or
   2, full window) keep the running max and index in registers; any other kernel or
   a row whose window is clipped at the top / bottom runs one pass over the row per
   tap, keeping the running max in the output row. Border columns take the
   reference loop. Every path visits taps in the same (row, column) order with the
   same rule (a larger value or a NaN replaces the best, so ties keep the first max
   and the last NaN wins, as PyTorch), so all give identical values and indices. */
typedef struct mp_geom {
    int h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
    int j0, j1; /* output columns whose windows lie inside [0, w) */
} mp_geom;


/* one tap (value p_, input offset q) into the running best / bi; val != val: NaN */
#define MP_TAP(p_, q)                                                                              \
    do {                                                                                           \
        float val_ = (p_);                                                                         \
        int q_ = (q);                                                                              \
        int take_ = (val_ > best) | (val_ != val_);                                                \
        best = take_ ? val_ : best;                                                                \
        bi = take_ ? q_ : bi;                                                                      \
    } while (0)

/* Interior of a row with a full K x K window (K = 2 or 3, dilation 1), constant
   stride SW: o is the input offset of the window of column 0. Loads through row
   pointers with SW * j so gcc sees strided streams (permutes, not element inserts). */
static inline __attribute__((always_inline)) void mp_row_fixed(const float *restrict x, int w,
                                                               int o, int k, int sw, int j0, int j1,
                                                               float *restrict yr,
                                                               int32_t *restrict ir)
{
    /* rows from column j0's window, so no pointer leaves the plane */
    const float *r0 = x + (o + sw * j0), *r1 = r0 + w, *r2 = r1 + w;
    if (k == 2) {
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            int q = o + sw * j;
            float best = r0[sw * (j - j0)];
            int bi = q;
            MP_TAP(r0[sw * (j - j0) + 1], q + 1);
            MP_TAP(r1[sw * (j - j0)], q + w);
            MP_TAP(r1[sw * (j - j0) + 1], q + w + 1);
            yr[j] = best;
            ir[j] = bi;
        }
    } else {
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            int q = o + sw * j;
            float best = r0[sw * (j - j0)];
            int bi = q;
            MP_TAP(r0[sw * (j - j0) + 1], q + 1);
            MP_TAP(r0[sw * (j - j0) + 2], q + 2);
            MP_TAP(r1[sw * (j - j0)], q + w);
            MP_TAP(r1[sw * (j - j0) + 1], q + w + 1);
            MP_TAP(r1[sw * (j - j0) + 2], q + w + 2);
            MP_TAP(r2[sw * (j - j0)], q + 2 * w);
            MP_TAP(r2[sw * (j - j0) + 1], q + 2 * w + 1);
            MP_TAP(r2[sw * (j - j0) + 2], q + 2 * w + 2);
            yr[j] = best;
            ir[j] = bi;
        }
    }
}

/* The reference for output (i, j): taps in (row, column) order, padding skipped. */
static void mp_ref(const mp_geom *g, const float *x, int i, int j, float *y, int32_t *ix)
{
    int h0 = i * g->sh - g->ph, w0 = j * g->sw - g->pw;
    int h1 = CNN_MIN(h0 + (g->kh - 1) * g->dh + 1, g->h);
    int w1 = CNN_MIN(w0 + (g->kw - 1) * g->dw + 1, g->w);
    while (h0 < 0)
        h0 += g->dh;
    while (w0 < 0)
        w0 += g->dw;
    float best = -INFINITY;
    /* a window of padding only (possible with dilation) has no argmax: -1 */
    int32_t bi = (h0 < h1 && w0 < w1) ? h0 * g->w + w0 : -1;
    for (int u = h0; u < h1; u += g->dh)
        for (int v = w0; v < w1; v += g->dw) {
            float val = x[u * g->w + v];
            if (val > best || isnan(val)) {
                best = val;
                bi = u * g->w + v;
            }
        }
    *y = best;
    *ix = bi;
}

/* Small planes, stride 1 or 2, 2x2 / 3x3 (GoogLeNet's branch pools on 28, 14 and 7
   wide planes, a CIFAR ResNet's stem pool on 16x16): rows that short leave vectors
   mostly empty, so the plane is copied into a buffer padded with -inf and all outputs
   are computed as one flat run over it: flat output m = i * P + j has its window at
   s * m, i.e. padded row s * i, column s * j (columns past ow are computed and
   dropped). Padding can only win a window whose max is -inf; those outputs are redone
   by the reference. */
#define MP_SMALL 2048 /* floats in the padded plane buffer */

/* Row pitch of the padded buffer: room for the right padding and, in ceil mode, for
   a last window hanging past it. */
static int mp_small_pitch(const mp_geom *g)
{
    int p = g->w + 2 * g->pw, q = g->sw * (g->ow - 1) + g->kw;
    return p > q ? p : q;
}

/* Floats of buffer the flat run reads (0 when it does not apply). */
static int mp_small_need(const mp_geom *g)
{
    const int s = g->sh, k = g->kh, P = mp_small_pitch(g);
    if (g->sw != s || (s != 1 && s != 2) || g->dh != 1 || g->dw != 1 || g->kw != k ||
        (k != 2 && k != 3) || g->ow >= 32)
        return 0;
    int len = (g->oh - 1) * P + g->ow;
    int need = s * (len - 1) + (k - 1) * P + k; /* last tap read, + 1 */
    int plane = (g->h + 2 * g->ph) * P;
    if (need < plane) need = plane;
    return need <= MP_SMALL ? need : 0;
}

static inline __attribute__((always_inline)) void
mp_small(const mp_geom *g, int need, const float *restrict x, float *restrict y,
         int32_t *restrict ix)
{
    float xb[MP_SMALL], yb[MP_SMALL];
    int32_t ib[MP_SMALL];
    const int w = g->w, ph = g->ph, pw = g->pw, P = mp_small_pitch(g), ow = g->ow, s = g->sh;
    for (int k = 0; k < ph * P; k++)
        xb[k] = -INFINITY;
    for (int r = 0; r < g->h; r++) {
        float *d = xb + (r + ph) * P;
        for (int c = 0; c < pw; c++)
            d[c] = -INFINITY;
        for (int c = pw + w; c < P; c++)
            d[c] = -INFINITY;
        memcpy(d + pw, x + (size_t)r * w, (size_t)w * sizeof *d);
    }
    for (int k = (g->h + ph) * P; k < need; k++)
        xb[k] = -INFINITY;
    const int len = (g->oh - 1) * P + ow;
    if (s == 1) {
        if (g->kh == 3)
            mp_row_fixed(xb, P, 0, 3, 1, 0, len, yb, ib);
        else
            mp_row_fixed(xb, P, 0, 2, 1, 0, len, yb, ib);
    } else {
        if (g->kh == 3)
            mp_row_fixed(xb, P, 0, 3, 2, 0, len, yb, ib);
        else
            mp_row_fixed(xb, P, 0, 2, 2, 0, len, yb, ib);
    }
    for (int i = 0; i < g->oh; i++) {
#pragma omp simd
        for (int j = 0; j < ow; j++) {
            int o = i * P + j, d = ib[o] - s * o; /* window offset u * P + v */
            int u = (d >= 2 * P) + (d >= P), v = d - u * P;
            y[i * ow + j] = yb[o];
            ix[i * ow + j] = (s * i + u - ph) * w + s * j + v - pw;
        }
        for (int j = 0; j < ow; j++)
            if (y[i * ow + j] == -INFINITY) mp_ref(g, x, i, j, y + i * ow + j, ix + i * ow + j);
    }
}

CNN_CLONES static void mp_fwd_plane(const mp_geom *g, const float *restrict x, float *restrict y,
                                int32_t *restrict ix)
{
    const int w = g->w, ow = g->ow, j0 = g->j0, j1 = g->j1;
    const int sw = g->sw, dw = g->dw;
    const int need = mp_small_need(g);
    if (need) {
        mp_small(g, need, x, y, ix);
        return;
    }
    for (int i = 0; i < g->oh; i++) {
        float *restrict yr = y + (size_t)i * ow;
        int32_t *restrict ir = ix + (size_t)i * ow;
        const int h0 = i * g->sh - g->ph;
        int u0 = 0, u1 = g->kh; /* taps rows inside [0, h) */
        while (u0 < u1 && h0 + u0 * g->dh < 0)
            u0++;
        while (u1 > u0 && h0 + (u1 - 1) * g->dh >= g->h)
            u1--;
        if (j0 < j1 && u0 < u1) {
            const int full = u0 == 0 && u1 == g->kh && g->dh == 1 && dw == 1;
            const int o = (h0 + u0 * g->dh) * w - g->pw; /* first tap of column 0 */
            if (full && g->kh == 3 && g->kw == 3 && sw == 2)
                mp_row_fixed(x, w, o, 3, 2, j0, j1, yr, ir);
            else if (full && g->kh == 3 && g->kw == 3 && sw == 1)
                mp_row_fixed(x, w, o, 3, 1, j0, j1, yr, ir);
            else if (full && g->kh == 2 && g->kw == 2 && sw == 2)
                mp_row_fixed(x, w, o, 2, 2, j0, j1, yr, ir);
            else if (full && g->kh == 2 && g->kw == 2 && sw == 1)
                mp_row_fixed(x, w, o, 2, 1, j0, j1, yr, ir);
            else {
                /* the first tap initialises the row, the others update it */
#pragma omp simd
                for (int j = j0; j < j1; j++) {
                    yr[j] = x[o + j * sw];
                    ir[j] = o + j * sw;
                }
                for (int u = u0; u < u1; u++)
                    for (int v = 0; v < g->kw; v++) {
                        if (u == u0 && v == 0) continue;
                        const int t = (h0 + u * g->dh) * w - g->pw + v * dw;
#pragma omp simd
                        for (int j = j0; j < j1; j++) {
                            float val = x[t + j * sw], b = yr[j];
                            int take = (val > b) | (val != val);
                            yr[j] = take ? val : b;
                            ir[j] = take ? t + j * sw : ir[j];
                        }
                    }
            }
        }
        /* border columns (all columns when no tap row is inside) */
        const int inside = j0 < j1 && u0 < u1;
        for (int j = 0; j < (inside ? j0 : ow); j++)
            mp_ref(g, x, i, j, yr + j, ir + j);
        if (inside)
            for (int j = j1; j < ow; j++)
                mp_ref(g, x, i, j, yr + j, ir + j);
    }
}

/* Output columns [j0, j1) whose windows (k taps dil apart from j*s - p) lie in [0, in). */
static void interior_cols(int in, int out, int k, int s, int p, int d, int *j0, int *j1)
{
    int lo = (p + s - 1) / s;
    int num = in - 1 + p - (k - 1) * d;
    int hi = num < 0 ? 0 : num / s + 1;
    *j0 = CNN_MIN(lo, out);
    *j1 = CNN_MAX(CNN_MIN(hi, out), *j0);
}

static cnn_status maxpool2d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    maxpool2d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    mp_geom g = {.h = x->out.dims[2],
                 .w = x->out.dims[3],
                 .oh = n->out.dims[2],
                 .ow = n->out.dims[3],
                 .kh = a->kh,
                 .kw = a->kw,
                 .sh = a->sh,
                 .sw = a->sw,
                 .ph = a->ph,
                 .pw = a->pw,
                 .dh = a->dh,
                 .dw = a->dw};
    interior_cols(g.w, g.ow, g.kw, g.sw, g.pw, g.dw, &g.j0, &g.j1);
    const size_t hw = (size_t)g.h * g.w, ohw = (size_t)g.oh * g.ow;
    const size_t planes = (size_t)ctx->batch * x->out.dims[1];
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(planes *hw))
    for (size_t p = 0; p < planes; p++)
        mp_fwd_plane(&g, x->out.data + p * hw, n->out.data + p * ohw,
                     (int32_t *)n->saved + p * ohw);
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

static void maxpool2d_describe(const cnn_node *n, cnn_op_desc *d)
{
    const maxpool2d_attr *a = n->attr;
    cnn_desc_ints(d, "kernel", 2, (const int[]){a->kh, a->kw});
    cnn_desc_ints(d, "stride", 2, (const int[]){a->sh, a->sw});
    cnn_desc_ints(d, "padding", 2, (const int[]){a->ph, a->pw});
    cnn_desc_ints(d, "dilation", 2, (const int[]){a->dh, a->dw});
    cnn_desc_int(d, "ceil_mode", a->ceil_mode);
    cnn_desc_int(d, "exclude_pad", 0);
}

const cnn_op_def cnn_op_maxpool2d = {
    .name = "maxpool2d",
    .shape = maxpool2d_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = maxpool2d_forward,
    .backward = maxpool2d_backward,
    .describe = maxpool2d_describe,
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

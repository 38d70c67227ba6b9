/* The cpu backend's pooling kernels (docs/architecture.md, "Kernels"): planes in
   parallel (the pool), vectorised interiors compiled per ISA (CNN_CLONES), and the ref
   kernel for borders and the cases without a fast path. Every path visits taps and
   adds in ref's order, so results equal ref's to the bit. */
#include "../../core/clones.h"
#include <math.h>
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "../ref/ref.h"
#include "cpu_internal.h"

/* Output columns [j0, j1) whose windows (k taps dil apart from j*s - p) lie in [0, in). */
static void interior_cols(int in, int out, int k, int s, int p, int d, int *j0, int *j1)
{
    int lo = (p + s - 1) / s;
    int num = in - 1 + p - (k - 1) * d;
    int hi = num < 0 ? 0 : num / s + 1;
    *j0 = CNN_MIN(lo, out);
    *j1 = CNN_MAX(CNN_MIN(hi, out), *j0);
}

/* ---------------------------------------------------------------- max pool 2D */
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
    const cnn_pool_desc *d;
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

/* The reference for output (i, j) (ref's kernel: the same taps, order and rule). */
static void mp_ref(const mp_geom *g, const float *x, int i, int j, float *y, int32_t *ix)
{
    cnn_ref_maxpool2d_at(g->d, x, i, j, y, ix);
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

static inline __attribute__((always_inline)) void mp_small(const mp_geom *g, int need,
                                                           const float *restrict x,
                                                           float *restrict y, int32_t *restrict ix)
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

/* Arguments of the parallel loops below (the pool: one plane, or one PLANE_CHUNK of
   planes, a chunk). */
typedef struct pl_args {
    const cnn_pool_desc *d;
    const void *g;
    const float *x, *dy;
    float *y, *dx;
    int32_t *idx;
    const int32_t *cidx;
    size_t hw, ohw, planes;
    float inv;
    void (*chunk)(const struct pl_args *a, size_t p0, size_t p1); /* run_plane_chunks' */
} pl_args;

static void mp_fwd_one(void *ctx, long p, int slot)
{
    (void)slot;
    const pl_args *a = ctx;
    mp_fwd_plane(a->g, a->x + p * a->hw, a->y + p * a->ohw, a->idx + p * a->ohw);
}

void cnn_cpu_maxpool2d_forward(const cnn_pool_desc *d, const float *x, float *y, int32_t *idx)
{
    mp_geom g = {.d = d,
                 .h = d->in[1],
                 .w = d->in[2],
                 .oh = d->out[1],
                 .ow = d->out[2],
                 .kh = d->k[1],
                 .kw = d->k[2],
                 .sh = d->s[1],
                 .sw = d->s[2],
                 .ph = d->p[1],
                 .pw = d->p[2],
                 .dh = d->d[1],
                 .dw = d->d[2]};
    interior_cols(g.w, g.ow, g.kw, g.sw, g.pw, g.dw, &g.j0, &g.j1);
    const size_t hw = (size_t)g.h * g.w, ohw = (size_t)g.oh * g.ow;
    const size_t planes = d->planes;
    pl_args a = {.g = &g, .x = x, .y = y, .idx = idx, .hw = hw, .ohw = ohw};
    cnn_parallel_for_n((long)planes, cnn_threads_for((double)planes * hw), mp_fwd_one, &a);
}

static void mp_bwd_one(void *ctx, long p, int slot)
{
    (void)slot;
    const pl_args *a = ctx;
    cnn_pool_desc one = *a->d;
    one.planes = 1;
    cnn_ref_maxpool_backward(&one, a->dy + p * a->ohw, a->cidx + p * a->ohw, a->dx + p * a->hw);
}

/* Either max pool: planes in parallel, each by ref's kernel. */
void cnn_cpu_maxpool_backward(const cnn_pool_desc *d, const float *dy, const int32_t *idx,
                              float *dx)
{
    const size_t vin = (size_t)d->in[0] * d->in[1] * d->in[2];
    const size_t vout = (size_t)d->out[0] * d->out[1] * d->out[2];
    const size_t planes = d->planes;
    pl_args a = {.d = d, .dy = dy, .dx = dx, .cidx = idx, .hw = vin, .ohw = vout};
    cnn_parallel_for_n((long)planes, cnn_threads_for((double)planes * vin), mp_bwd_one, &a);
}

/* ---------------------------------------------------------------- average pool 2D */
/* Fast paths, one (n, c) plane at a time. Each output row splits into columns whose
   windows lie inside the input horizontally, [j0, j1), where the divisor is one
   number for the row, and border columns, which take ref's kernel per output. The
   interior is vectorised over output columns: 2x2 and 3x3 windows with stride 1 or 2
   (full rows) sum in registers; other kernels and rows clipped at the top / bottom
   make one pass over the row per tap. Sums add the taps in the reference's (row,
   column) order starting from 0, and backward adds each output's share to an input
   in the reference's output order, so every path gives the reference's values. */
typedef struct avgpool2d_attr {
    int kh, kw, sh, sw, ph, pw;
    bool exclude_pad;
} avgpool2d_attr;

typedef struct ap_geom {
    const cnn_pool_desc *d;
    const avgpool2d_attr *a;
    int h, w, oh, ow;
    int j0, j1; /* output columns whose windows lie inside [0, w) */
} ap_geom;

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
            yr[j] = cnn_ref_avgpool2d_at(g->d, x, i, j);
        }
    }
}

/* ref's backward for output columns [jlo, jhi) of row i. */
static void bwd_cols(const ap_geom *g, int i, int jlo, int jhi, const float *dyr, float *dx)
{
    for (int j = jlo; j < jhi; j++)
        cnn_ref_avgpool2d_at_backward(g->d, dyr[j], i, j, dx);
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

static ap_geom geom(const cnn_pool_desc *d, const avgpool2d_attr *a)
{
    ap_geom g = {.d = d, .a = a, .h = d->in[1], .w = d->in[2], .oh = d->out[1], .ow = d->out[2]};
    interior_cols(g.w, g.ow, a->kw, a->sw, a->pw, 1, &g.j0, &g.j1);
    return g;
}

static avgpool2d_attr attr_of(const cnn_pool_desc *d)
{
    return (avgpool2d_attr){.kh = d->k[1],
                            .kw = d->k[2],
                            .sh = d->s[1],
                            .sw = d->s[2],
                            .ph = d->p[1],
                            .pw = d->p[2],
                            .exclude_pad = d->exclude_pad};
}

static void ap_fwd_one(void *ctx, long p, int slot)
{
    (void)slot;
    const pl_args *a = ctx;
    ap_fwd_plane(a->g, a->x + p * a->hw, a->y + p * a->ohw);
}

static void ap_bwd_one(void *ctx, long p, int slot)
{
    (void)slot;
    const pl_args *a = ctx;
    ap_bwd_plane(a->g, a->dy + p * a->ohw, a->dx + p * a->hw);
}

void cnn_cpu_avgpool2d_forward(const cnn_pool_desc *d, const float *x, float *y)
{
    const avgpool2d_attr a = attr_of(d);
    const ap_geom g = geom(d, &a);
    const size_t hw = (size_t)g.h * g.w, ohw = (size_t)g.oh * g.ow;
    const size_t planes = d->planes;
    pl_args pa = {.g = &g, .x = x, .y = y, .hw = hw, .ohw = ohw};
    cnn_parallel_for_n((long)planes, cnn_threads_for((double)planes * hw), ap_fwd_one, &pa);
}

void cnn_cpu_avgpool2d_backward(const cnn_pool_desc *d, const float *dy, float *dx)
{
    const avgpool2d_attr a = attr_of(d);
    const ap_geom g = geom(d, &a);
    const size_t hw = (size_t)g.h * g.w, ohw = (size_t)g.oh * g.ow;
    const size_t planes = d->planes;
    pl_args pa = {.g = &g, .dy = dy, .dx = dx, .hw = hw, .ohw = ohw};
    cnn_parallel_for_n((long)planes, cnn_threads_for((double)planes * hw), ap_bwd_one, &pa);
}

/* ---------------------------------------------------------------- adaptive and global average */
/* sums[q] = x[q*hw] + ... + x[q*hw + hw-1] for q < np planes, each added in order
   from 0 (the reference's order). A single sum is latency-bound (one add per ~4
   cycles); eight planes at a time keep eight independent chains in flight. */
CNN_CLONES static void plane_sums(const float *restrict x, size_t hw, size_t np,
                                  float *restrict sums)
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

static void plane_chunk(void *ctx, long ci, int slot)
{
    (void)slot;
    const pl_args *a = ctx;
    size_t p0 = (size_t)ci * PLANE_CHUNK, p1 = CNN_MIN(p0 + PLANE_CHUNK, a->planes);
    a->chunk(a, p0, p1);
}

/* chunk(a, p0, p1) for the planes [0, a->planes) PLANE_CHUNK at a time, in parallel. */
static void run_plane_chunks(pl_args *a, void (*chunk)(const pl_args *a, size_t p0, size_t p1))
{
    a->chunk = chunk;
    const size_t chunks = (a->planes + PLANE_CHUNK - 1) / PLANE_CHUNK;
    cnn_parallel_for_n((long)chunks, cnn_threads_for((double)a->planes * a->hw), plane_chunk, a);
}

/* Fast paths with ref's arithmetic: the output size of the input (each bin one
   element: y = 0 + x), and 1x1 (ResNet's, DenseNet's head: whole-plane sums); ref's
   kernel on the chunk otherwise. */
static void aap_fwd(const pl_args *a, size_t p0, size_t p1)
{
    const cnn_pool_desc *d = a->d;
    const size_t hw = a->hw;
    const float *xd = a->x;
    float *yd = a->y;
    if (d->out[1] == d->in[1] && d->out[2] == d->in[2]) {
#pragma omp simd
        for (size_t k = p0 * hw; k < p1 * hw; k++)
            yd[k] = 0.0f + xd[k];
    } else if (d->out[1] == 1 && d->out[2] == 1) {
        plane_sums(xd + p0 * hw, hw, p1 - p0, yd + p0);
        for (size_t p = p0; p < p1; p++)
            yd[p] /= (float)hw;
    } else {
        cnn_pool_desc part = *d;
        part.planes = p1 - p0;
        cnn_ref_adaptive_avgpool2d_forward(&part, xd + p0 * hw, yd + p0 * a->ohw);
    }
}

static void aap_bwd(const pl_args *a, size_t p0, size_t p1)
{
    const cnn_pool_desc *d = a->d;
    const size_t hw = a->hw;
    const float *dy = a->dy;
    float *dx = a->dx;
    if (d->out[1] == d->in[1] && d->out[2] == d->in[2]) {
#pragma omp simd
        for (size_t k = p0 * hw; k < p1 * hw; k++)
            dx[k] += dy[k] / 1.0f;
    } else if (d->out[1] == 1 && d->out[2] == 1) {
        float g[PLANE_CHUNK];
        for (size_t p = p0; p < p1; p++)
            g[p - p0] = dy[p] / (float)hw;
        plane_bcast_add(g, hw, p1 - p0, dx + p0 * hw);
    } else {
        cnn_pool_desc part = *d;
        part.planes = p1 - p0;
        cnn_ref_adaptive_avgpool2d_backward(&part, dy + p0 * a->ohw, dx + p0 * hw);
    }
}

/* Planes in parallel (aap_fwd, aap_bwd). */
void cnn_cpu_adaptive_avgpool2d_forward(const cnn_pool_desc *d, const float *xd, float *yd)
{
    pl_args a = {.d = d, .x = xd, .y = yd, .hw = (size_t)d->in[1] * d->in[2],
                 .ohw = (size_t)d->out[1] * d->out[2], .planes = d->planes};
    run_plane_chunks(&a, aap_fwd);
}

void cnn_cpu_adaptive_avgpool2d_backward(const cnn_pool_desc *d, const float *dy, float *dx)
{
    pl_args a = {.d = d, .dy = dy, .dx = dx, .hw = (size_t)d->in[1] * d->in[2],
                 .ohw = (size_t)d->out[1] * d->out[2], .planes = d->planes};
    run_plane_chunks(&a, aap_bwd);
}

static void gap_fwd(const pl_args *a, size_t p0, size_t p1)
{
    plane_sums(a->x + p0 * a->hw, a->hw, p1 - p0, a->y + p0);
    for (size_t p = p0; p < p1; p++)
        a->y[p] *= a->inv;
}

static void gap_bwd(const pl_args *a, size_t p0, size_t p1)
{
    float g[PLANE_CHUNK];
    for (size_t p = p0; p < p1; p++)
        g[p - p0] = a->dy[p] * a->inv;
    plane_bcast_add(g, a->hw, p1 - p0, a->dx + p0 * a->hw);
}

/* Planes in parallel, PLANE_CHUNK at a time; each plane summed in order from 0. */
void cnn_cpu_global_avgpool_forward(size_t planes, size_t hw, const float *x, float *y)
{
    pl_args a = {.x = x, .y = y, .hw = hw, .planes = planes, .inv = 1.0f / (float)hw};
    run_plane_chunks(&a, gap_fwd);
}

void cnn_cpu_global_avgpool_backward(size_t planes, size_t hw, const float *dy, float *dx)
{
    pl_args a = {.dy = dy, .dx = dx, .hw = hw, .planes = planes, .inv = 1.0f / (float)hw};
    run_plane_chunks(&a, gap_bwd);
}

/* ---------------------------------------------------------------- global max */
static void gmp_fwd_one(void *ctx, long p, int slot)
{
    (void)slot;
    const pl_args *a = ctx;
    cnn_ref_global_maxpool_forward(1, a->hw, a->x + p * a->hw, a->y + p);
}

static void gmp_bwd_one(void *ctx, long p, int slot)
{
    (void)slot;
    const pl_args *a = ctx;
    cnn_ref_global_maxpool_backward(1, a->hw, a->x + p * a->hw, a->dy + p, a->dx + p * a->hw);
}

/* Planes in parallel, each by ref's kernel. */
void cnn_cpu_global_maxpool_forward(size_t planes, size_t hw, const float *x, float *y)
{
    pl_args a = {.x = x, .y = y, .hw = hw};
    cnn_parallel_for_n((long)planes, cnn_threads_for((double)planes * hw), gmp_fwd_one, &a);
}

void cnn_cpu_global_maxpool_backward(size_t planes, size_t hw, const float *x, const float *dy,
                                     float *dx)
{
    pl_args a = {.x = x, .dy = dy, .dx = dx, .hw = hw};
    cnn_parallel_for_n((long)planes, cnn_threads_for((double)planes * hw), gmp_bwd_one, &a);
}

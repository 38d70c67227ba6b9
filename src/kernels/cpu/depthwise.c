/* Depthwise 2D convolution (groups == C_in == C_out) on plain NCHW, any kernel,
   stride, padding and dilation. Memory-bound (PERF-NOTES §3): per (n, c) plane, each
   kernel tap runs one pass over an output row, split into a border part with bounds
   tests and an interior [lo, hi) where every tap is inside the input, so the inner
   loop has none and vectorises. Cloned for AVX-512 / AVX2 / baseline and picked at
   load time (target_clones), so one binary runs everywhere. The pool (src/core/pool.h)
   runs chunks of (n, c) planes for forward and backward-data, of channels for
   backward-weights (no reduction races; the
   sum order is fixed, so results do not depend on the thread count). Planes up to
   ~50x50 (forward) / 128x128 (backward) take the stacked path further down instead. */
#include "../../core/clones.h"
#include <stdint.h>
#include <string.h>

#include "../../core/pool.h"
#include "cpu_internal.h"

/* Geometry of one plane. */
typedef struct dw_geom {
    int h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
    int lo, hi; /* interior output columns: all kw taps in [0, w) */
} dw_geom;

bool cnn_cpu_is_depthwise(const cnn_conv_desc *c)
{
    return c->groups > 1 && c->groups == c->c_in && c->groups == c->c_out && c->in[0] == 1 &&
           c->out[0] == 1 && c->k[0] == 1;
}

static dw_geom geom(const cnn_conv_desc *c)
{
    dw_geom g = {c->in[1], c->in[2], c->out[1], c->out[2], c->k[1], c->k[2], c->s[1],
                 c->s[2],  c->p[1],  c->p[2],   c->d[1],   c->d[2], 0,      0};
    /* ow * sw - pw >= 0 and ow * sw - pw + (kw - 1) * dw <= w - 1 */
    g.lo = (g.pw + g.sw - 1) / g.sw;
    int num = g.w - 1 + g.pw - (g.kw - 1) * g.dw;
    g.hi = num < 0 ? 0 : num / g.sw + 1;
    if (g.hi > g.ow) g.hi = g.ow;
    if (g.lo > g.hi) g.lo = g.hi;
    return g;
}


/* y (oh, ow) = bias + depthwise correlation of x (h, w) with k (kh, kw). */
CNN_CLONES static void fwd_plane(const dw_geom *g, const float *restrict x, const float *restrict k,
                             float bias, float *restrict y)
{
    for (int oh = 0; oh < g->oh; oh++) {
        float *restrict yr = y + (size_t)oh * g->ow;
        for (int ow = 0; ow < g->ow; ow++) yr[ow] = bias;
        for (int i = 0; i < g->kh; i++) {
            int ih = oh * g->sh - g->ph + i * g->dh;
            if (ih < 0 || ih >= g->h) continue;
            const float *restrict xr = x + (size_t)ih * g->w;
            if (g->kw == 3 && g->sw == 1) { /* the common 3x3 / stride 1: one pass per row */
                const float *ki = k + i * 3;
                float w0 = ki[0], w1 = ki[1], w2 = ki[2];
                int o0 = -g->pw, o1 = g->dw - g->pw, o2 = 2 * g->dw - g->pw;
#pragma omp simd
                for (int ow = g->lo; ow < g->hi; ow++)
                    yr[ow] += w0 * xr[ow + o0] + w1 * xr[ow + o1] + w2 * xr[ow + o2];
                for (int j = 0; j < 3; j++) {
                    int off = j * g->dw - g->pw;
                    for (int ow = 0; ow < g->lo; ow++) {
                        int iw = ow + off;
                        if (iw >= 0 && iw < g->w) yr[ow] += ki[j] * xr[iw];
                    }
                    for (int ow = g->hi; ow < g->ow; ow++) {
                        int iw = ow + off;
                        if (iw >= 0 && iw < g->w) yr[ow] += ki[j] * xr[iw];
                    }
                }
                continue;
            }
            for (int j = 0; j < g->kw; j++) {
                float wv = k[i * g->kw + j];
                int off = j * g->dw - g->pw;
                for (int ow = 0; ow < g->lo; ow++) {
                    int iw = ow * g->sw + off;
                    if (iw >= 0 && iw < g->w) yr[ow] += wv * xr[iw];
                }
                if (g->sw == 1) {
#pragma omp simd
                    for (int ow = g->lo; ow < g->hi; ow++) yr[ow] += wv * xr[ow + off];
                } else {
                    const int s = g->sw;
#pragma omp simd
                    for (int ow = g->lo; ow < g->hi; ow++) yr[ow] += wv * xr[ow * s + off];
                }
                for (int ow = g->hi; ow < g->ow; ow++) {
                    int iw = ow * g->sw + off;
                    if (iw >= 0 && iw < g->w) yr[ow] += wv * xr[iw];
                }
            }
        }
    }
}

/* dx (h, w) += transposed depthwise convolution of dy (oh, ow) with k. */
CNN_CLONES static void bwd_data_plane(const dw_geom *g, const float *restrict dy,
                                  const float *restrict k, float *restrict dx)
{
    for (int oh = 0; oh < g->oh; oh++) {
        const float *restrict dyr = dy + (size_t)oh * g->ow;
        for (int i = 0; i < g->kh; i++) {
            int ih = oh * g->sh - g->ph + i * g->dh;
            if (ih < 0 || ih >= g->h) continue;
            float *restrict dxr = dx + (size_t)ih * g->w;
            for (int j = 0; j < g->kw; j++) {
                float wv = k[i * g->kw + j];
                int off = j * g->dw - g->pw;
                for (int ow = 0; ow < g->lo; ow++) {
                    int iw = ow * g->sw + off;
                    if (iw >= 0 && iw < g->w) dxr[iw] += wv * dyr[ow];
                }
                if (g->sw == 1) {
#pragma omp simd
                    for (int ow = g->lo; ow < g->hi; ow++) dxr[ow + off] += wv * dyr[ow];
                } else {
                    /* distinct ow write distinct dx columns (stride > 0) */
                    const int s = g->sw;
#pragma omp simd
                    for (int ow = g->lo; ow < g->hi; ow++) dxr[ow * s + off] += wv * dyr[ow];
                }
                for (int ow = g->hi; ow < g->ow; ow++) {
                    int iw = ow * g->sw + off;
                    if (iw >= 0 && iw < g->w) dxr[iw] += wv * dyr[ow];
                }
            }
        }
    }
}

/* dk (kh, kw) += correlation of x (h, w) with dy (oh, ow); returns sum(dy). */
CNN_CLONES static float bwd_weights_plane(const dw_geom *g, const float *restrict x,
                                      const float *restrict dy, float *restrict dk)
{
    float db = 0.0f;
    for (int oh = 0; oh < g->oh; oh++) {
        const float *restrict dyr = dy + (size_t)oh * g->ow;
        float s0 = 0.0f;
#pragma omp simd reduction(+ : s0)
        for (int ow = 0; ow < g->ow; ow++) s0 += dyr[ow];
        db += s0;
        for (int i = 0; i < g->kh; i++) {
            int ih = oh * g->sh - g->ph + i * g->dh;
            if (ih < 0 || ih >= g->h) continue;
            const float *restrict xr = x + (size_t)ih * g->w;
            for (int j = 0; j < g->kw; j++) {
                int off = j * g->dw - g->pw;
                float acc = 0.0f;
                for (int ow = 0; ow < g->lo; ow++) {
                    int iw = ow * g->sw + off;
                    if (iw >= 0 && iw < g->w) acc += dyr[ow] * xr[iw];
                }
                const int s = g->sw;
#pragma omp simd reduction(+ : acc)
                for (int ow = g->lo; ow < g->hi; ow++) acc += dyr[ow] * xr[ow * s + off];
                for (int ow = g->hi; ow < g->ow; ow++) {
                    int iw = ow * g->sw + off;
                    if (iw >= 0 && iw < g->w) acc += dyr[ow] * xr[iw];
                }
                dk[i * g->kw + j] += acc;
            }
        }
    }
    return db;
}

/* Small planes (the rows above are 3-24 floats there, mostly loop overhead): the planes
   of one channel across several images are copied whole into a "stack" with G zero rows
   above, between and below them, and the convolution runs on the input grid (stride 1)
   as ONE flattened loop over the stack, where a tap (i, j) is a constant offset. A read
   past a row's left/right edge wraps into the neighbouring row; a per-column mask
   zeroes it (a select, so a wrapped NaN cannot leak); a read past the top/bottom lands
   in the zero rows. Stride > 1 computes every grid position and keeps (oh*sh, ow*sw)
   (forward), or puts dy there with zeros between (zero insertion, backward). Needs
   2p <= (k-1)d (pads up to "same"), so every output sits on the input grid. */
enum {
    DW_KMAX = 7,           /* larger kernels take the row path */
    DW_STACK_TARGET = 4096, /* floats per stack: with the masks the working set stays in L2 */
    DW_BUF_MAX = 65536,    /* floats per thread (stack VLA, 256 KiB) */
    DW_PLANE_MAX = 16384,  /* larger planes take the row path */
    DW_FWD_PLANE_MAX = 2500, /* forward: from 56x56 on the rows are as fast, with no copies */
    DW_DIRECT = 256,       /* planes this large run one loop each, straight into y / dx */
};

typedef struct dw_stk {
    int G;      /* zero rows above, between and below planes */
    int P;      /* planes (images) per stack */
    long first; /* offset of plane 0's first row: E slack floats + G rows */
    long pitch; /* floats from one plane's first row to the next's: (h + G) w */
    long size;  /* floats of one stack: E + (G + P (h + G)) w + E */
    long len;   /* grid positions computed for P planes: (P (h + G) - G) w */
    long nbuf;  /* 4-byte words per thread: two stacks and kw masks of len */
} dw_stk;

static bool stk_plan(const cnn_conv_desc *c, const dw_geom *g, long plane_max, dw_stk *st)
{
    if (2 * g->ph > (g->kh - 1) * g->dh || 2 * g->pw > (g->kw - 1) * g->dw) return false;
    if (g->kh > DW_KMAX || g->kw > DW_KMAX || (long)g->h * g->w > plane_max) return false;
    st->G = (g->kh - 1) * g->dh - g->ph; /* >= ph: forward reads reach ph rows out, backward G */
    long E = (long)(g->kw - 1) * g->dw;  /* column reads reach at most this far past a row */
    st->pitch = (long)(g->h + st->G) * g->w;
    long P = DW_STACK_TARGET / st->pitch;
    if (P < 1) P = 1;
    if (P > c->n) P = c->n;
    st->P = (int)P;
    st->first = E + (long)st->G * g->w;
    st->size = 2 * E + (st->G + P * (g->h + st->G)) * (long)g->w;
    st->len = P * st->pitch - (long)st->G * g->w;
    st->nbuf = 2 * st->size + g->kw * st->len;
    return st->nbuf <= DW_BUF_MAX;
}

/* m[j * len + s] = all ones where grid column (s mod w) + coff[j] is inside [0, w), else
   0: ANDed into a float's bits it keeps or zeroes it. (A select `m ? v : 0` does not
   vectorise without AVX-512: under -ftrapping-math GCC will not if-convert the FP ops it
   sinks into the branch.) */
static void stk_masks(const dw_geom *g, long len, const int *coff, int32_t *m)
{
    for (int j = 0; j < g->kw; j++)
        for (long s0 = 0; s0 < len; s0 += g->w)
            for (int col = 0; col < g->w && s0 + col < len; col++) {
                int cc = col + coff[j];
                m[j * len + s0 + col] = cc >= 0 && cc < g->w ? -1 : 0;
            }
}

/* v where m is all ones, +0 where m is 0 (m from stk_masks). */
static inline float keep(float v, int32_t m)
{
    int32_t u;
    memcpy(&u, &v, sizeof u);
    u &= m;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* stk_conv's 3x3 case: all nine taps in one pass. ADD is a constant at each call, so
   the loop carries no condition. */
static inline __attribute__((always_inline)) void stk_conv3(const float *restrict X,
                                                            const int32_t *restrict m, long mlen,
                                                            long len, const float *restrict k,
                                                            const long *restrict off, float bias,
                                                            const bool ADD, float *restrict Y)
{
    const float k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6],
                k7 = k[7], k8 = k[8];
    const float *restrict x0 = X + off[0], *restrict x1 = X + off[1], *restrict x2 = X + off[2];
    const float *restrict x3 = X + off[3], *restrict x4 = X + off[4], *restrict x5 = X + off[5];
    const float *restrict x6 = X + off[6], *restrict x7 = X + off[7], *restrict x8 = X + off[8];
    const int32_t *restrict m0 = m, *restrict m1 = m + mlen, *restrict m2 = m + 2 * mlen;
#pragma omp simd
    for (long s = 0; s < len; s++) {
        float a0 = k0 * x0[s] + k3 * x3[s] + k6 * x6[s];
        float a1 = k1 * x1[s] + k4 * x4[s] + k7 * x7[s];
        float a2 = k2 * x2[s] + k5 * x5[s] + k8 * x8[s];
        float v = keep(a0, m0[s]) + keep(a1, m1[s]) + keep(a2, m2[s]);
        if (ADD)
            Y[s] += v;
        else
            Y[s] = bias + v;
    }
}

/* Y[s] = bias + sum over taps (i, j) of k[i][j] * X[s + off[i][j]], the read zeroed
   where mask j is 0; s in [0, len). 3x3 in one pass (taps in registers); other kernels
   one pass per kernel column (5 rows unrolled) or per tap. add: Y[s] += instead (bias
   unused). */
CNN_CLONES static void stk_conv(const dw_geom *g, const float *restrict X, const int32_t *restrict m,
                            long mlen, long len, const float *restrict k, const long *restrict off,
                            float bias, bool add, float *restrict Y)
{
    if (g->kh == 3 && g->kw == 3) {
        if (add)
            stk_conv3(X, m, mlen, len, k, off, bias, true, Y);
        else
            stk_conv3(X, m, mlen, len, k, off, bias, false, Y);
        return;
    }
    if (!add)
#pragma omp simd
        for (long s = 0; s < len; s++) Y[s] = bias;
    for (int j = 0; j < g->kw; j++) {
        const int32_t *restrict mj = m + j * mlen;
        if (g->kh == 5) {
            const int kw = g->kw;
            const float k0 = k[j], k1 = k[kw + j], k2 = k[2 * kw + j], k3 = k[3 * kw + j],
                        k4 = k[4 * kw + j];
            const float *restrict x0 = X + off[j], *restrict x1 = X + off[kw + j];
            const float *restrict x2 = X + off[2 * kw + j], *restrict x3 = X + off[3 * kw + j];
            const float *restrict x4 = X + off[4 * kw + j];
#pragma omp simd
            for (long s = 0; s < len; s++) {
                float a = k0 * x0[s] + k1 * x1[s] + k2 * x2[s] + k3 * x3[s] + k4 * x4[s];
                Y[s] += keep(a, mj[s]);
            }
            continue;
        }
        for (int i = 0; i < g->kh; i++) {
            const float kv = k[i * g->kw + j];
            const float *restrict xs = X + off[i * g->kw + j];
#pragma omp simd
            for (long s = 0; s < len; s++) Y[s] += keep(kv * xs[s], mj[s]);
        }
    }
}

/* dk[i][j] = sum over s in [0, len) of DY[s] * X[s + off[i][j]] (masked as above);
   returns sum(DY). One fixed-order vector reduction per tap. */
CNN_CLONES static float stk_dot(const dw_geom *g, const float *restrict X, const float *restrict DY,
                            const int32_t *restrict m, long mlen, long len,
                            const long *restrict off, float *restrict dk)
{
    float db = 0.0f;
    if (g->kh == 3 && g->kw == 3) { /* one pass, nine accumulators */
        const float *restrict x0 = X + off[0], *restrict x1 = X + off[1], *restrict x2 = X + off[2];
        const float *restrict x3 = X + off[3], *restrict x4 = X + off[4], *restrict x5 = X + off[5];
        const float *restrict x6 = X + off[6], *restrict x7 = X + off[7], *restrict x8 = X + off[8];
        const int32_t *restrict m0 = m, *restrict m1 = m + mlen, *restrict m2 = m + 2 * mlen;
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, a4 = 0.0f, a5 = 0.0f, a6 = 0.0f,
              a7 = 0.0f, a8 = 0.0f;
#pragma omp simd reduction(+ : db, a0, a1, a2, a3, a4, a5, a6, a7, a8)
        for (long s = 0; s < len; s++) {
            float d = DY[s], d0 = keep(d, m0[s]), d1 = keep(d, m1[s]), d2 = keep(d, m2[s]);
            db += d;
            a0 += d0 * x0[s], a3 += d0 * x3[s], a6 += d0 * x6[s];
            a1 += d1 * x1[s], a4 += d1 * x4[s], a7 += d1 * x7[s];
            a2 += d2 * x2[s], a5 += d2 * x5[s], a8 += d2 * x8[s];
        }
        dk[0] = a0, dk[1] = a1, dk[2] = a2, dk[3] = a3, dk[4] = a4;
        dk[5] = a5, dk[6] = a6, dk[7] = a7, dk[8] = a8;
        return db;
    }
#pragma omp simd reduction(+ : db)
    for (long s = 0; s < len; s++) db += DY[s];
    for (int j = 0; j < g->kw; j++) {
        const int32_t *restrict mj = m + j * mlen;
        for (int i = 0; i < g->kh; i++) {
            const float *restrict xs = X + off[i * g->kw + j];
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (long s = 0; s < len; s++) acc += keep(DY[s], mj[s]) * xs[s];
            dk[i * g->kw + j] = acc;
        }
    }
    return db;
}

/* Tap offsets on the stack and column offsets for the masks: forward / backward-weights
   read x at (r - ph + i dh, c - pw + j dw); backward-data reads dy at (r + ph - i dh,
   c + pw - j dw). */
static void stk_offsets(const dw_geom *g, bool backward_data, long *off, int *coff)
{
    int sg = backward_data ? -1 : 1;
    for (int j = 0; j < g->kw; j++) coff[j] = sg * (j * g->dw - g->pw);
    for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++)
            off[i * g->kw + j] = (long)sg * (i * g->dh - g->ph) * g->w + coff[j];
}

/* Puts dy's plane (oh, ow) at grid positions (oh*sh, ow*sw) of a stack plane (the
   positions between stay zero from the memset: every plane writes the same ones). */
static void stk_put_dy(const dw_geom *g, const float *restrict dy, float *restrict dst)
{
    if (g->sh == 1 && g->sw == 1 && g->ow == g->w) {
        memcpy(dst, dy, (size_t)g->oh * g->ow * sizeof *dst);
        return;
    }
    for (int oh = 0; oh < g->oh; oh++) {
        float *restrict d = dst + (size_t)oh * g->sh * g->w;
        const float *restrict s = dy + (size_t)oh * g->ow;
        for (int ow = 0; ow < g->ow; ow++) d[ow * g->sw] = s[ow];
    }
}

/* The arguments of one call, for the pool's chunks. */
typedef struct dw_args {
    const cnn_conv_desc *c;
    const dw_geom *g;
    const dw_stk *st;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db;
    long off[DW_KMAX * DW_KMAX];
    int coff[DW_KMAX];
    const int32_t *m; /* stk_masks, built once per call and shared */
    bool same;
} dw_args;

/* Stacked tasks per chunk: each chunk zeroes its two stacks once (about one task's
   stores), so a chunk of 16 spends nearly all its time on them; which thread runs a
   task never changes its result. */
#define DW_TASK_GRAIN 16

static void stk_forward_tasks(void *arg, long t0, long t1, int slot)
{
    const dw_args *a = arg;
    const cnn_conv_desc *c = a->c;
    const dw_geom *g = a->g;
    const dw_stk *st = a->st;
    size_t ip = (size_t)g->h * g->w, op = (size_t)g->oh * g->ow, kp = (size_t)g->kh * g->kw;
    int C = c->c_in, nch = (c->n + st->P - 1) / st->P;
    float buf[2 * st->size];
    const int32_t *m = a->m;
    memset(buf, 0, sizeof buf);
    float *X = buf, *Y = buf + st->size + st->first;
    for (long t = t0; t < t1; t++) {
        int ch = (int)(t / nch), n0 = (int)(t % nch) * st->P;
        int np = c->n - n0 < st->P ? c->n - n0 : st->P;
        for (int q = 0; q < np; q++)
            memcpy(X + st->first + q * st->pitch, a->x + ((size_t)(n0 + q) * C + ch) * ip,
                   ip * sizeof *X);
        float bias = a->b ? a->b[ch] : 0.0f;
        if (a->same && ip >= DW_DIRECT) { /* long enough alone: straight into y */
            for (int q = 0; q < np; q++)
                stk_conv(g, X + st->first + q * st->pitch, m, st->len, (long)ip, a->w + ch * kp,
                         a->off, bias, false, a->y + ((size_t)(n0 + q) * C + ch) * op);
            continue;
        }
        long len = np * st->pitch - (long)st->G * g->w;
        stk_conv(g, X + st->first, m, st->len, len, a->w + ch * kp, a->off, bias, false, Y);
        for (int q = 0; q < np; q++) {
            float *yp = a->y + ((size_t)(n0 + q) * C + ch) * op;
            const float *Yp = Y + q * st->pitch;
            if (a->same) {
                memcpy(yp, Yp, op * sizeof *yp);
                continue;
            }
            for (int oh = 0; oh < g->oh; oh++)
                for (int ow = 0; ow < g->ow; ow++)
                    yp[(size_t)oh * g->ow + ow] = Yp[(size_t)oh * g->sh * g->w + ow * g->sw];
        }
    }
}

static void stk_forward(const cnn_conv_desc *c, const dw_geom *g, const dw_stk *st,
                        const float *x, const float *w, const float *b, float *y)
{
    dw_args a = {.c = c, .g = g, .st = st, .x = x, .w = w, .b = b, .y = y,
                 .same = g->sh == 1 && g->sw == 1 && g->ow == g->w};
    stk_offsets(g, false, a.off, a.coff);
    int32_t m[g->kw * st->len];
    stk_masks(g, st->len, a.coff, m);
    a.m = m;
    long tasks = (long)c->c_in * ((c->n + st->P - 1) / st->P);
    cnn_parallel_range(tasks, DW_TASK_GRAIN, 0, stk_forward_tasks, &a);
}

CNN_CLONES static void add_plane(float *restrict dx, const float *restrict src, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) dx[i] += src[i];
}

static void stk_backward_data_tasks(void *arg, long t0, long t1, int slot)
{
    const dw_args *a = arg;
    const cnn_conv_desc *c = a->c;
    const dw_geom *g = a->g;
    const dw_stk *st = a->st;
    size_t ip = (size_t)g->h * g->w, op = (size_t)g->oh * g->ow, kp = (size_t)g->kh * g->kw;
    int C = c->c_in, nch = (c->n + st->P - 1) / st->P;
    float buf[2 * st->size];
    const int32_t *m = a->m;
    memset(buf, 0, sizeof buf);
    float *D = buf, *Y = buf + st->size + st->first;
    for (long t = t0; t < t1; t++) {
        int ch = (int)(t / nch), n0 = (int)(t % nch) * st->P;
        int np = c->n - n0 < st->P ? c->n - n0 : st->P;
        for (int q = 0; q < np; q++)
            stk_put_dy(g, a->dy + ((size_t)(n0 + q) * C + ch) * op, D + st->first + q * st->pitch);
        if (ip >= DW_DIRECT) { /* long enough alone: accumulate straight into dx */
            for (int q = 0; q < np; q++)
                stk_conv(g, D + st->first + q * st->pitch, m, st->len, (long)ip, a->w + ch * kp,
                         a->off, 0.0f, true, a->dx + ((size_t)(n0 + q) * C + ch) * ip);
            continue;
        }
        long len = np * st->pitch - (long)st->G * g->w;
        stk_conv(g, D + st->first, m, st->len, len, a->w + ch * kp, a->off, 0.0f, false, Y);
        for (int q = 0; q < np; q++)
            add_plane(a->dx + ((size_t)(n0 + q) * C + ch) * ip, Y + q * st->pitch, ip);
    }
}

static void stk_backward_data(const cnn_conv_desc *c, const dw_geom *g, const dw_stk *st,
                              const float *dy, const float *w, float *dx)
{
    dw_args a = {.c = c, .g = g, .st = st, .dy = dy, .w = w, .dx = dx};
    stk_offsets(g, true, a.off, a.coff);
    int32_t m[g->kw * st->len];
    stk_masks(g, st->len, a.coff, m);
    a.m = m;
    long tasks = (long)c->c_in * ((c->n + st->P - 1) / st->P);
    cnn_parallel_range(tasks, DW_TASK_GRAIN, 0, stk_backward_data_tasks, &a);
}

/* Channels [c0, c1), images in a fixed order: no dependence on the thread count. */
static void stk_backward_weights_channels(void *arg, long c0, long c1, int slot)
{
    const dw_args *a = arg;
    const cnn_conv_desc *c = a->c;
    const dw_geom *g = a->g;
    const dw_stk *st = a->st;
    size_t ip = (size_t)g->h * g->w, op = (size_t)g->oh * g->ow, kp = (size_t)g->kh * g->kw;
    int C = c->c_in;
    float buf[2 * st->size];
    const int32_t *m = a->m;
    memset(buf, 0, sizeof buf);
    float *X = buf, *D = buf + st->size;
    for (int ch = (int)c0; ch < (int)c1; ch++) {
        float tot[DW_KMAX * DW_KMAX] = {0}, part[DW_KMAX * DW_KMAX], bsum = 0.0f;
        for (int n0 = 0; n0 < c->n; n0 += st->P) {
            int np = c->n - n0 < st->P ? c->n - n0 : st->P;
            for (int q = 0; q < np; q++) {
                size_t pl = (size_t)(n0 + q) * C + ch;
                memcpy(X + st->first + q * st->pitch, a->x + pl * ip, ip * sizeof *X);
                stk_put_dy(g, a->dy + pl * op, D + st->first + q * st->pitch);
            }
            long len = np * st->pitch - (long)st->G * g->w;
            bsum += stk_dot(g, X + st->first, D + st->first, m, st->len, len, a->off, part);
            for (size_t q = 0; q < kp; q++) tot[q] += part[q];
        }
        for (size_t q = 0; q < kp; q++) a->dw[ch * kp + q] += tot[q];
        if (a->db) a->db[ch] += bsum;
    }
}

static void stk_backward_weights(const cnn_conv_desc *c, const dw_geom *g, const dw_stk *st,
                                 const float *x, const float *dy, float *dw, float *db)
{
    dw_args a = {.c = c, .g = g, .st = st, .x = x, .dy = dy, .dw = dw, .db = db};
    stk_offsets(g, false, a.off, a.coff);
    int32_t m[g->kw * st->len];
    stk_masks(g, st->len, a.coff, m);
    a.m = m;
    long grain = DW_TASK_GRAIN / ((c->n + st->P - 1) / st->P);
    cnn_parallel_range(c->c_in, grain < 1 ? 1 : grain, 0, stk_backward_weights_channels, &a);
}

static void fwd_planes(void *arg, long p0, long p1, int slot)
{
    const dw_args *a = arg;
    const dw_geom *g = a->g;
    size_t ip = (size_t)g->h * g->w, op = (size_t)g->oh * g->ow, kp = (size_t)g->kh * g->kw;
    for (long q = p0; q < p1; q++) {
        int ch = (int)(q % a->c->c_in);
        fwd_plane(g, a->x + (size_t)q * ip, a->w + (size_t)ch * kp, a->b ? a->b[ch] : 0.0f,
                  a->y + (size_t)q * op);
    }
}

/* Planes per chunk of the row path: at least ~16k outputs each. */
static long plane_grain(const dw_geom *g)
{
    long op = (long)g->oh * g->ow;
    return op >= 16384 ? 1 : 16384 / (op > 0 ? op : 1);
}

static void dw_forward_rows(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                            float *y)
{
    dw_geom g = geom(c);
    dw_args a = {.c = c, .g = &g, .x = x, .w = w, .b = b, .y = y};
    cnn_parallel_range((long)c->n * c->c_in, plane_grain(&g), 0, fwd_planes, &a);
}

static void bwd_data_planes(void *arg, long p0, long p1, int slot)
{
    const dw_args *a = arg;
    const dw_geom *g = a->g;
    size_t ip = (size_t)g->h * g->w, op = (size_t)g->oh * g->ow, kp = (size_t)g->kh * g->kw;
    for (long q = p0; q < p1; q++) {
        int ch = (int)(q % a->c->c_in);
        bwd_data_plane(g, a->dy + (size_t)q * op, a->w + (size_t)ch * kp, a->dx + (size_t)q * ip);
    }
}

static void dw_backward_data_rows(const cnn_conv_desc *c, const float *dy, const float *w,
                                  float *dx)
{
    dw_geom g = geom(c);
    dw_args a = {.c = c, .g = &g, .dy = dy, .w = w, .dx = dx};
    cnn_parallel_range((long)c->n * c->c_in, plane_grain(&g), 0, bwd_data_planes, &a);
}

static void bwd_weights_channels(void *arg, long c0, long c1, int slot)
{
    const dw_args *a = arg;
    const dw_geom *g = a->g;
    size_t ip = (size_t)g->h * g->w, op = (size_t)g->oh * g->ow, kp = (size_t)g->kh * g->kw;
    int C = a->c->c_in;
    for (int ch = (int)c0; ch < (int)c1; ch++) {
        float bsum = 0.0f;
        for (int n = 0; n < a->c->n; n++) {
            size_t q = (size_t)n * C + (size_t)ch;
            bsum += bwd_weights_plane(g, a->x + q * ip, a->dy + q * op, a->dw + (size_t)ch * kp);
        }
        if (a->db) a->db[ch] += bsum;
    }
}

static void dw_backward_weights_rows(const cnn_conv_desc *c, const float *x, const float *dy,
                                     float *dw, float *db)
{
    dw_geom g = geom(c);
    dw_args a = {.c = c, .g = &g, .x = x, .dy = dy, .dw = dw, .db = db};
    long per = plane_grain(&g) / (c->n > 0 ? c->n : 1);
    cnn_parallel_range(c->c_in, per < 1 ? 1 : per, 0, bwd_weights_channels, &a);
}

void cnn_dw_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                    float *y)
{
    dw_geom g = geom(c);
    dw_stk st;
    if (stk_plan(c, &g, DW_FWD_PLANE_MAX, &st))
        stk_forward(c, &g, &st, x, w, b, y);
    else
        dw_forward_rows(c, x, w, b, y);
}

void cnn_dw_backward_data(const cnn_conv_desc *c, const float *dy, const float *w, float *dx)
{
    dw_geom g = geom(c);
    dw_stk st;
    if (stk_plan(c, &g, DW_PLANE_MAX, &st))
        stk_backward_data(c, &g, &st, dy, w, dx);
    else
        dw_backward_data_rows(c, dy, w, dx);
}

void cnn_dw_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy, float *dw,
                             float *db)
{
    dw_geom g = geom(c);
    dw_stk st;
    if (stk_plan(c, &g, DW_PLANE_MAX, &st))
        stk_backward_weights(c, &g, &st, x, dy, dw, db);
    else
        dw_backward_weights_rows(c, x, dy, dw, db);
}

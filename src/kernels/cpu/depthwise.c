/* Depthwise 2D convolution (groups == C_in == C_out) on plain NCHW, any kernel,
   stride, padding and dilation. Memory-bound (PERF-NOTES §3): per (n, c) plane, each
   kernel tap runs one pass over an output row, split into a border part with bounds
   tests and an interior [lo, hi) where every tap is inside the input, so the inner
   loop has none and vectorises. Cloned for AVX-512 / AVX2 / baseline and picked at
   load time (target_clones), so one binary runs everywhere. OpenMP over (n, c) for
   forward and backward-data, over c for backward-weights (no reduction races; the
   sum order is fixed, so results do not depend on the thread count). */
#include <string.h>

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

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

/* y (oh, ow) = bias + depthwise correlation of x (h, w) with k (kh, kw). */
CLONES static void fwd_plane(const dw_geom *g, const float *restrict x, const float *restrict k,
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
CLONES static void bwd_data_plane(const dw_geom *g, const float *restrict dy,
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
CLONES static float bwd_weights_plane(const dw_geom *g, const float *restrict x,
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

void cnn_dw_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                    float *y)
{
    dw_geom g = geom(c);
    size_t ip = (size_t)g.h * g.w, op = (size_t)g.oh * g.ow, kp = (size_t)g.kh * g.kw;
    long planes = (long)c->n * c->c_in;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++) {
        int ch = (int)(p % c->c_in);
        fwd_plane(&g, x + (size_t)p * ip, w + (size_t)ch * kp, b ? b[ch] : 0.0f, y + (size_t)p * op);
    }
}

void cnn_dw_backward_data(const cnn_conv_desc *c, const float *dy, const float *w, float *dx)
{
    dw_geom g = geom(c);
    size_t ip = (size_t)g.h * g.w, op = (size_t)g.oh * g.ow, kp = (size_t)g.kh * g.kw;
    long planes = (long)c->n * c->c_in;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++) {
        int ch = (int)(p % c->c_in);
        bwd_data_plane(&g, dy + (size_t)p * op, w + (size_t)ch * kp, dx + (size_t)p * ip);
    }
}

void cnn_dw_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy, float *dw,
                             float *db)
{
    dw_geom g = geom(c);
    size_t ip = (size_t)g.h * g.w, op = (size_t)g.oh * g.ow, kp = (size_t)g.kh * g.kw;
    int C = c->c_in;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < C; ch++) {
        float bsum = 0.0f;
        for (int n = 0; n < c->n; n++) {
            size_t p = (size_t)n * C + (size_t)ch;
            bsum += bwd_weights_plane(&g, x + p * ip, dy + p * op, dw + (size_t)ch * kp);
        }
        if (db) db[ch] += bsum;
    }
}

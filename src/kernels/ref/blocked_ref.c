/* Reference kernels of the blocked layout nChw16c (docs/architecture.md, "Blocked
   layout"): one lane at a time, the plain entries' arithmetic in the same order, so a
   blocked tensor gives the plain kernels' values channel for channel. They are the
   oracle of the cpu backend's vector versions (cpu/blocked_ops.c). */
#include <math.h>

#include "ref.h"

enum { B = 16 };

/* Offset of (image b, channel c, position s) in a tensor of C channels and S
   positions, blocked or plain. */
static size_t at(bool blocked, size_t C, size_t S, size_t b, size_t c, size_t s)
{
    if (!blocked) return (b * C + c) * S + s;
    size_t CB = (C + B - 1) / B;
    return ((b * CB + c / B) * S + s) * B + c % B;
}

void cnn_ref_maxpool2d_blocked_forward(const cnn_pool_desc *d, const float *x, float *y)
{
    const int W = d->in[2], OH = d->out[1], OW = d->out[2];
    const size_t hw = (size_t)d->in[1] * W, ohw = (size_t)OH * OW;
    for (size_t p = 0; p < d->planes; p++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                int win[4];
                cnn_ref_maxpool2d_window(d, i, j, win);
                for (int l = 0; l < B; l++) {
                    float best = -INFINITY;
                    for (int u = win[0]; u < win[1]; u += d->d[1])
                        for (int v = win[2]; v < win[3]; v += d->d[2]) {
                            float val = x[(p * hw + (size_t)u * W + v) * B + l];
                            if (val > best || isnan(val)) best = val;
                        }
                    y[(p * ohw + (size_t)i * OW + j) * B + l] = best;
                }
            }
}

void cnn_ref_avgpool2d_blocked_forward(const cnn_pool_desc *d, const float *x, float *y)
{
    const int W = d->in[2], OH = d->out[1], OW = d->out[2];
    const size_t hw = (size_t)d->in[1] * W, ohw = (size_t)OH * OW;
    for (size_t p = 0; p < d->planes; p++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                int win[4];
                float inv = cnn_ref_avgpool2d_window(d, i, j, win);
                for (int l = 0; l < B; l++) {
                    float sum = 0.0f;
                    for (int u = win[0]; u < win[1]; u++)
                        for (int v = win[2]; v < win[3]; v++) sum += x[(p * hw + (size_t)u * W + v) * B + l];
                    y[(p * ohw + (size_t)i * OW + j) * B + l] = sum * inv;
                }
            }
}

void cnn_ref_global_avgpool_blocked_forward(size_t n, size_t c, size_t hw, const float *x, float *y)
{
    const float inv = 1.0f / (float)hw;
    for (size_t b = 0; b < n; b++)
        for (size_t ch = 0; ch < c; ch++) {
            float sum = 0.0f;
            for (size_t k = 0; k < hw; k++) sum += x[at(true, c, hw, b, ch, k)];
            y[b * c + ch] = sum * inv;
        }
}

void cnn_ref_mul_channel_blocked_forward(size_t n, size_t c, size_t hw, const float *x, const float *s,
                                         float *y)
{
    const size_t CB = (c + B - 1) / B;
    for (size_t b = 0; b < n; b++)
        for (size_t ch = 0; ch < CB * B; ch++)
            for (size_t k = 0; k < hw; k++) {
                size_t o = at(true, c, hw, b, ch, k);
                y[o] = ch < c ? x[o] * s[b * c + ch] : 0.0f;
            }
}

void cnn_ref_channel_copy(const cnn_chan_copy *d, const float *x, float *y)
{
    for (size_t b = 0; b < d->n; b++)
        for (int k = 0; k < d->cnt; k++) {
            size_t src = (size_t)(d->x0 + (k % d->groups) * d->cg + k / d->groups);
            size_t dst = (size_t)(d->y0 + k);
            for (size_t s = 0; s < d->spatial; s++)
                y[at(d->yb, (size_t)d->yc, d->spatial, b, dst, s)] = x[at(d->xb, (size_t)d->xc, d->spatial, b, src, s)];
        }
}

/* The blocked layout's non-convolution kernels on nChw16c (docs/architecture.md,
   "Blocked layout"): max / average pooling, global average pooling into a plain
   (N, C) vector, the squeeze-and-excitation channel gate, and the channel copies of
   concat, channel shuffle and channel slice between layouts. The 16 channels of a
   block are one vector: every loop below runs over whole blocks, 16 lanes at a time,
   with the reference kernels' arithmetic per lane (ref/blocked_ref.c: the same sums in
   the same order, no contraction), so results equal them bit for bit. Threads split
   (image, channel block, output row) items, so batch 1 keeps every core busy. */
#include <math.h>
#include <string.h>

#include "../../core/clones.h"
#include "../ref/ref.h"
#include "cpu_internal.h"

enum { B = 16 };

CNN_CLONES static void maxpool_row(const cnn_pool_desc *d, const float *restrict xp, int i,
                                   float *restrict yr)
{
    const int W = d->in[2], OW = d->out[2];
    for (int j = 0; j < OW; j++) {
        int win[4];
        cnn_ref_maxpool2d_window(d, i, j, win);
        float best[B];
        for (int l = 0; l < B; l++) best[l] = -INFINITY;
        for (int u = win[0]; u < win[1]; u += d->d[1])
            for (int v = win[2]; v < win[3]; v += d->d[2]) {
                const float *q = xp + ((size_t)u * W + v) * B;
                for (int l = 0; l < B; l++)
                    if (q[l] > best[l] || q[l] != q[l]) best[l] = q[l];
            }
        memcpy(yr + (size_t)j * B, best, sizeof best);
    }
}

void cnn_cpu_maxpool2d_blocked_forward(const cnn_pool_desc *d, const float *x, float *y)
{
    const int OH = d->out[1];
    const size_t hw = (size_t)d->in[1] * d->in[2], ohw = (size_t)OH * d->out[2];
    const long items = (long)d->planes * OH;
#pragma omp parallel for schedule(static)
    for (long it = 0; it < items; it++) {
        size_t p = (size_t)(it / OH);
        int i = (int)(it % OH);
        maxpool_row(d, x + p * hw * B, i, y + (p * ohw + (size_t)i * d->out[2]) * B);
    }
}

CNN_CLONES static void avgpool_row(const cnn_pool_desc *d, const float *restrict xp, int i,
                                   float *restrict yr)
{
    const int W = d->in[2], OW = d->out[2];
    for (int j = 0; j < OW; j++) {
        int win[4];
        float inv = cnn_ref_avgpool2d_window(d, i, j, win);
        float sum[B] = {0};
        for (int u = win[0]; u < win[1]; u++)
            for (int v = win[2]; v < win[3]; v++) {
                const float *q = xp + ((size_t)u * W + v) * B;
                for (int l = 0; l < B; l++) sum[l] += q[l];
            }
        for (int l = 0; l < B; l++) yr[(size_t)j * B + l] = sum[l] * inv;
    }
}

void cnn_cpu_avgpool2d_blocked_forward(const cnn_pool_desc *d, const float *x, float *y)
{
    const int OH = d->out[1];
    const size_t hw = (size_t)d->in[1] * d->in[2], ohw = (size_t)OH * d->out[2];
    const long items = (long)d->planes * OH;
#pragma omp parallel for schedule(static)
    for (long it = 0; it < items; it++) {
        size_t p = (size_t)(it / OH);
        int i = (int)(it % OH);
        avgpool_row(d, x + p * hw * B, i, y + (p * ohw + (size_t)i * d->out[2]) * B);
    }
}

CNN_CLONES static void gap_block(size_t hw, const float *restrict xp, float inv, float *restrict out)
{
    float sum[B] = {0};
    for (size_t k = 0; k < hw; k++)
        for (int l = 0; l < B; l++) sum[l] += xp[k * B + l];
    for (int l = 0; l < B; l++) out[l] = sum[l] * inv;
}

void cnn_cpu_global_avgpool_blocked_forward(size_t n, size_t c, size_t hw, const float *x, float *y)
{
    const size_t CB = (c + B - 1) / B;
    const float inv = 1.0f / (float)hw;
    const long items = (long)(n * CB);
#pragma omp parallel for schedule(static)
    for (long it = 0; it < items; it++) {
        size_t b = (size_t)it / CB, cb = (size_t)it % CB;
        float m[B];
        gap_block(hw, x + (size_t)it * hw * B, inv, m);
        size_t lanes = c - cb * B < B ? c - cb * B : B;
        memcpy(y + b * c + cb * B, m, lanes * sizeof(float));
    }
}

CNN_CLONES static void scale_rows(size_t len, const float *restrict x, const float *restrict s,
                                  float *restrict y)
{
    for (size_t k = 0; k < len; k++)
        for (int l = 0; l < B; l++) y[k * B + l] = x[k * B + l] * s[l];
}

void cnn_cpu_mul_channel_blocked_forward(size_t n, size_t c, size_t hw, const float *x, const float *s,
                                         float *y)
{
    const size_t CB = (c + B - 1) / B, piece = 256; /* positions per item: 16 KiB */
    const size_t pieces = (hw + piece - 1) / piece;
    const long items = (long)(n * CB * pieces);
#pragma omp parallel for schedule(static)
    for (long it = 0; it < items; it++) {
        size_t blk = (size_t)it / pieces, k0 = (size_t)it % pieces * piece;
        size_t b = blk / CB, cb = blk % CB, k1 = k0 + piece < hw ? k0 + piece : hw;
        float sv[B];
        for (int l = 0; l < B; l++) sv[l] = cb * B + l < c ? s[b * c + cb * B + l] : 0.0f;
        size_t o = (blk * hw + k0) * B;
        scale_rows(k1 - k0, x + o, sv, y + o);
    }
}

/* Offset of channel ch's position 0 of image b, and the step between positions. */
static size_t chan_at(bool blocked, size_t C, size_t S, size_t b, size_t ch, size_t *step)
{
    *step = blocked ? B : 1;
    if (!blocked) return (b * C + ch) * S;
    return (b * ((C + B - 1) / B) + ch / B) * S * B + ch % B;
}

void cnn_cpu_channel_copy(const cnn_chan_copy *d, const float *x, float *y)
{
    const size_t S = d->spatial;
    /* whole blocks onto whole blocks: one copy per block plane */
    bool whole = d->xb && d->yb && d->groups == 1 && d->x0 % B == 0 && d->y0 % B == 0 &&
                 (d->cnt % B == 0 || (d->x0 + d->cnt == d->xc && d->y0 + d->cnt == d->yc));
    if (whole) {
        const size_t nb = ((size_t)d->cnt + B - 1) / B, xcb = ((size_t)d->xc + B - 1) / B,
                     ycb = ((size_t)d->yc + B - 1) / B;
        const long items = (long)(d->n * nb);
#pragma omp parallel for schedule(static)
        for (long it = 0; it < items; it++) {
            size_t b = (size_t)it / nb, k = (size_t)it % nb;
            memcpy(y + ((b * ycb + (size_t)d->y0 / B + k) * S) * B,
                   x + ((b * xcb + (size_t)d->x0 / B + k) * S) * B, S * B * sizeof(float));
        }
        return;
    }
    const long items = (long)d->n * d->cnt;
#pragma omp parallel for schedule(static)
    for (long it = 0; it < items; it++) {
        size_t b = (size_t)it / (size_t)d->cnt;
        int k = (int)(it % d->cnt);
        size_t src = (size_t)(d->x0 + (k % d->groups) * d->cg + k / d->groups), sx, sy;
        size_t xo = chan_at(d->xb, (size_t)d->xc, S, b, src, &sx);
        size_t yo = chan_at(d->yb, (size_t)d->yc, S, b, (size_t)(d->y0 + k), &sy);
        for (size_t s = 0; s < S; s++) y[yo + s * sy] = x[xo + s * sx];
    }
}

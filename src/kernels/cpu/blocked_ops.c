/* The blocked layout's non-convolution kernels on nChw16c (docs/architecture.md,
   "Blocked layout"): max / average pooling, global average pooling into a plain
   (N, C) vector, the squeeze-and-excitation channel gate, and the channel copies of
   concat, channel shuffle and channel slice between layouts. The 16 channels of a
   block are one vector: every loop below runs over whole blocks, 16 lanes at a time,
   with the reference kernels' arithmetic per lane (ref/blocked_ref.c: the same sums in
   the same order, no contraction), so results equal them bit for bit. The library's
   pool (core/pool.h) runs (image, channel block, output row) items, so batch 1 keeps
   every core busy. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "../../core/clones.h"
#include "../../core/pool.h"
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
        /* max as `q > best ? q : best` (one vmaxps), a NaN seen noted apart: it wins */
        float best[B];
        int nan[B];
        for (int l = 0; l < B; l++) best[l] = -INFINITY, nan[l] = 0;
        for (int u = win[0]; u < win[1]; u += d->d[1])
            for (int v = win[2]; v < win[3]; v += d->d[2]) {
                const float *q = xp + ((size_t)u * W + v) * B;
                for (int l = 0; l < B; l++) {
                    best[l] = q[l] > best[l] ? q[l] : best[l];
                    nan[l] |= q[l] != q[l];
                }
            }
        for (int l = 0; l < B; l++) yr[(size_t)j * B + l] = nan[l] ? NAN : best[l];
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

/* Max pooling in two passes over an output row, AVX-512: the maxima over the
   window's rows of every input column the row's windows touch (vertical, one vector
   per column, in an L1 buffer), then over each window's columns of those (horizontal).
   Max is exact, so the two passes give the one-pass result: the same `q > best ? q :
   best` (vmaxps(q, best)) per tap, a NaN seen noted apart per lane (it wins). The
   windows' columns are computed once per call (cols: first, end of each output
   column); rows and columns step by the dilation. 9 -> 6 vector loads per output of a
   3x3 stride-1 pool, and no window arithmetic per output. */
enum { MP_COLS = 512 }; /* the fast path's widest input row */
#define MP_TARGET __attribute__((target("avx512f")))
MP_TARGET static void maxpool_row_2pass(const cnn_pool_desc *d, const int *cols, const float *restrict xp,
                                        int i, float *restrict yr)
{
    const int W = d->in[2], OW = d->out[2], dv = d->d[2];
    int win[4];
    cnn_ref_maxpool2d_window(d, i, 0, win);
    __m512 vm[MP_COLS];
    __mmask16 vn[MP_COLS];
    const int c0 = cols[0], c1 = cols[2 * OW - 1]; /* the columns any window reads */
    for (int v = c0; v < c1; v++) {
        __m512 best = _mm512_set1_ps(-INFINITY);
        __mmask16 nan = 0;
        for (int u = win[0]; u < win[1]; u += d->d[1]) {
            __m512 q = _mm512_loadu_ps(xp + ((size_t)u * W + v) * B);
            best = _mm512_max_ps(q, best);
            nan |= _mm512_cmp_ps_mask(q, q, _CMP_UNORD_Q);
        }
        vm[v] = best;
        vn[v] = nan;
    }
    const __m512 qnan = _mm512_set1_ps(NAN);
    for (int j = 0; j < OW; j++) {
        __m512 best = _mm512_set1_ps(-INFINITY);
        __mmask16 nan = 0;
        for (int v = cols[2 * j]; v < cols[2 * j + 1]; v += dv) {
            best = _mm512_max_ps(vm[v], best);
            nan |= vn[v];
        }
        _mm512_storeu_ps(yr + (size_t)j * B, _mm512_mask_mov_ps(best, nan, qnan));
    }
}

typedef struct pool_args {
    const cnn_pool_desc *d;
    const float *x;
    float *y;
    bool max;
    const int *cols; /* maxpool_row_2pass's column windows, or NULL */
} pool_args;

/* Item it: output row it % OH of block plane it / OH. */
CNN_POOL_ITEM(pool_item, pool_args, a, it)
{
    const cnn_pool_desc *d = a->d;
    const int OH = d->out[1];
    const size_t hw = (size_t)d->in[1] * d->in[2], ohw = (size_t)OH * d->out[2];
    size_t p = (size_t)(it / OH);
    int i = (int)(it % OH);
    float *yr = a->y + (p * ohw + (size_t)i * d->out[2]) * B;
    if (a->cols) maxpool_row_2pass(d, a->cols, a->x + p * hw * B, i, yr);
    else if (a->max) maxpool_row(d, a->x + p * hw * B, i, yr);
    else avgpool_row(d, a->x + p * hw * B, i, yr);
}

static void pool_run(const cnn_pool_desc *d, const float *x, float *y, bool max)
{
    int cols[2 * MP_COLS];
    pool_args a = {d, x, y, max, NULL};
    if (max && d->in[2] <= MP_COLS && d->out[2] <= MP_COLS && __builtin_cpu_supports("avx512f")) {
        for (int j = 0; j < d->out[2]; j++) {
            int win[4];
            cnn_ref_maxpool2d_window(d, 0, j, win);
            cols[2 * j] = win[2];
            cols[2 * j + 1] = win[3];
        }
        a.cols = cols;
    }
    size_t work = d->planes * B * (size_t)d->in[1] * d->in[2];
    cnn_parallel_for_n((long)d->planes * d->out[1], cnn_threads_for((double)(work)), pool_item, &a);
}

void cnn_cpu_maxpool2d_blocked_forward(const cnn_pool_desc *d, const float *x, float *y)
{
    pool_run(d, x, y, true);
}

void cnn_cpu_avgpool2d_blocked_forward(const cnn_pool_desc *d, const float *x, float *y)
{
    pool_run(d, x, y, false);
}

CNN_CLONES static void gap_block(size_t hw, const float *restrict xp, float inv, float *restrict out)
{
    float sum[B] = {0};
    for (size_t k = 0; k < hw; k++)
        for (int l = 0; l < B; l++) sum[l] += xp[k * B + l];
    for (int l = 0; l < B; l++) out[l] = sum[l] * inv;
}

typedef struct plane_args {
    size_t c, hw, pieces;
    const float *x, *s;
    float *y;
} plane_args;

CNN_POOL_ITEM(gap_item, plane_args, a, it)
{
    const size_t CB = (a->c + B - 1) / B, b = (size_t)it / CB, cb = (size_t)it % CB;
    float m[B];
    gap_block(a->hw, a->x + (size_t)it * a->hw * B, 1.0f / (float)a->hw, m);
    size_t lanes = a->c - cb * B < B ? a->c - cb * B : B;
    memcpy(a->y + b * a->c + cb * B, m, lanes * sizeof(float));
}

void cnn_cpu_global_avgpool_blocked_forward(size_t n, size_t c, size_t hw, const float *x, float *y)
{
    plane_args a = {c, hw, 1, x, NULL, y};
    size_t CB = (c + B - 1) / B;
    cnn_parallel_for_n((long)(n * CB), cnn_threads_for((double)(n * CB * B * hw)), gap_item, &a);
}

CNN_CLONES static void scale_rows(size_t len, const float *restrict x, const float *restrict s,
                                  float *restrict y)
{
    for (size_t k = 0; k < len; k++)
        for (int l = 0; l < B; l++) y[k * B + l] = x[k * B + l] * s[l];
}

enum { PIECE = 256 }; /* positions per item of the gate: 16 KiB */

CNN_POOL_ITEM(gate_item, plane_args, a, it)
{
    const size_t CB = (a->c + B - 1) / B, c = a->c;
    size_t blk = (size_t)it / a->pieces, k0 = (size_t)it % a->pieces * PIECE;
    size_t b = blk / CB, cb = blk % CB, k1 = k0 + PIECE < a->hw ? k0 + PIECE : a->hw;
    float sv[B];
    for (int l = 0; l < B; l++) sv[l] = cb * B + l < c ? a->s[b * c + cb * B + l] : 0.0f;
    size_t o = (blk * a->hw + k0) * B;
    scale_rows(k1 - k0, a->x + o, sv, a->y + o);
}

void cnn_cpu_mul_channel_blocked_forward(size_t n, size_t c, size_t hw, const float *x, const float *s,
                                         float *y)
{
    const size_t CB = (c + B - 1) / B;
    plane_args a = {c, hw, (hw + PIECE - 1) / PIECE, x, s, y};
    cnn_parallel_for_n((long)(n * CB * a.pieces), cnn_threads_for((double)(n * CB * B * hw)), gate_item, &a);
}

/* Offset of channel ch's position 0 of image b, and the step between positions. */
static size_t chan_at(bool blocked, size_t C, size_t S, size_t b, size_t ch, size_t *step)
{
    *step = blocked ? B : 1;
    if (!blocked) return (b * C + ch) * S;
    return (b * ((C + B - 1) / B) + ch / B) * S * B + ch % B;
}

/* y (S, 16) of one block: lane l of position s = x[off[l] + s * sx] where on[l] (on
   NULL: every lane); a gather per position. */
CNN_CLONES static void gather_rows(size_t S, size_t sx, const float *restrict x, const int *restrict off,
                                   const int *restrict on, float *restrict y)
{
    if (!on) {
        for (size_t s = 0; s < S; s++)
            for (int l = 0; l < B; l++) y[s * B + l] = x[(size_t)off[l] + s * sx];
        return;
    }
    for (size_t s = 0; s < S; s++)
        for (int l = 0; l < B; l++)
            if (on[l]) y[s * B + l] = x[(size_t)off[l] + s * sx];
}

typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));

/* A y block from blocked x: for each pair of source block planes, the lanes it gives
   (mask) and where they sit among the pair's 32 lanes (idx). */
typedef struct permute_plan {
    int np;
    bool partial; /* lanes outside every mask keep y's values */
    const float *src[B];
    v16i idx[B / 2], mask[B / 2];
} permute_plan;

CNN_CLONES static void permute_rows(size_t S, const permute_plan *p, float *restrict y)
{
    const v16 zero = {0};
    for (size_t s = 0; s < S; s++) {
        v16 acc = zero;
        if (p->partial) acc = *(const v16u *)(y + s * B);
        for (int q = 0; q < p->np; q++) {
            v16 lo = *(const v16u *)(p->src[2 * q] + s * B), hi = *(const v16u *)(p->src[2 * q + 1] + s * B);
#if defined(__clang__) /* clang has no two-input variable shuffle: the same, lane by lane */
            v16 v;
            for (int l = 0; l < B; l++) {
                int k = p->idx[q][l] & (2 * B - 1);
                v[l] = k < B ? lo[k] : hi[k - B];
            }
#else
            v16 v = __builtin_shuffle(lo, hi, p->idx[q]);
#endif
            acc = (v16)(((v16i)acc & ~p->mask[q]) | ((v16i)v & p->mask[q]));
        }
        *(v16u *)(y + s * B) = acc;
    }
}

typedef struct copy_args {
    const cnn_chan_copy *d;
    const float *x;
    float *y;
    int mode;     /* 0: channel by channel (plain y), 1: whole blocks, 2: y block by block */
    size_t units; /* items per image */
} copy_args;

CNN_POOL_ITEM(copy_item, copy_args, a, it)
{
    const cnn_chan_copy *d = a->d;
    const size_t S = d->spatial, b = (size_t)it / a->units, u = (size_t)it % a->units;
    const size_t xcb = ((size_t)d->xc + B - 1) / B, ycb = ((size_t)d->yc + B - 1) / B;
    if (a->mode == 1) { /* one block plane onto another */
        memcpy(a->y + ((b * ycb + (size_t)d->y0 / B + u) * S) * B,
               a->x + ((b * xcb + (size_t)d->x0 / B + u) * S) * B, S * B * sizeof(float));
        return;
    }
    if (a->mode == 2) { /* the lanes of y block y0 / 16 + u that the copy writes, position by position */
        size_t blk = (size_t)d->y0 / B + u, sx = 1, x_img = b * (d->xb ? xcb * B : (size_t)d->xc) * S;
        float *yb = a->y + (b * ycb + blk) * S * B;
        int off[B], on[B], all = 1, sblk[B], slane[B];
        for (int l = 0; l < B; l++) {
            int k = (int)(blk * B) + l - d->y0;
            on[l] = k >= 0 && k < d->cnt;
            all &= on[l];
            int src = on[l] ? d->x0 + (k % d->groups) * d->cg + k / d->groups : 0;
            off[l] = (int)(chan_at(d->xb, (size_t)d->xc, S, b, (size_t)src, &sx) - x_img);
            sblk[l] = src / B, slane[l] = src % B;
        }
        if (d->xb) { /* blocked x: two source blocks per permute */
            permute_plan pl = {.np = 0, .partial = !all};
            int seen[B], ns = 0;
            for (int l = 0; l < B; l++) {
                if (!on[l]) continue;
                int j = 0;
                while (j < ns && seen[j] != sblk[l]) j++;
                if (j == ns) seen[ns++] = sblk[l];
            }
            for (int j = 0; j < ns; j += 2) {
                int q = pl.np++, b1 = j + 1 < ns ? seen[j + 1] : seen[j];
                pl.src[2 * q] = a->x + x_img + (size_t)seen[j] * S * B;
                pl.src[2 * q + 1] = a->x + x_img + (size_t)b1 * S * B;
                for (int l = 0; l < B; l++) {
                    bool first = on[l] && sblk[l] == seen[j], second = on[l] && j + 1 < ns && sblk[l] == b1;
                    pl.idx[q][l] = second ? B + slane[l] : first ? slane[l] : 0;
                    pl.mask[q][l] = first || second ? -1 : 0;
                }
            }
            permute_rows(S, &pl, yb);
            return;
        }
        gather_rows(S, sx, a->x + x_img, off, all ? NULL : on, yb);
        return;
    }
    int k = (int)u; /* one channel of a plain y */
    size_t src = (size_t)(d->x0 + (k % d->groups) * d->cg + k / d->groups), sx, sy;
    size_t xo = chan_at(d->xb, (size_t)d->xc, S, b, src, &sx);
    size_t yo = chan_at(d->yb, (size_t)d->yc, S, b, (size_t)(d->y0 + k), &sy);
    for (size_t s = 0; s < S; s++) a->y[yo + s * sy] = a->x[xo + s * sx];
}

void cnn_cpu_channel_copy(const cnn_chan_copy *d, const float *x, float *y)
{
    /* whole blocks onto whole blocks: one copy per block plane */
    bool whole = d->xb && d->yb && d->groups == 1 && d->x0 % B == 0 && d->y0 % B == 0 &&
                 (d->cnt % B == 0 || (d->x0 + d->cnt == d->xc && d->y0 + d->cnt == d->yc));
    copy_args a = {d, x, y, whole ? 1 : d->yb ? 2 : 0, 0};
    if (whole) a.units = ((size_t)d->cnt + B - 1) / B;
    else if (d->yb) a.units = (size_t)((d->y0 + d->cnt - 1) / B - d->y0 / B + 1);
    else a.units = (size_t)d->cnt;
    cnn_parallel_for_n((long)(d->n * a.units), cnn_threads_for((double)(d->n * (size_t)d->cnt * d->spatial)), copy_item,
                       &a);
}

/* Depthwise 2D convolution on the blocked layout nChw16c (docs/architecture.md,
   "Blocked layout"): x (N, C/16, H, W, 16) -> y (N, C/16, OH, OW, 16), C % 16 == 0,
   any kernel, stride, padding and dilation. The 16 channels of a block are one vector,
   so every tap is one FMA on a whole vector with no gathers, and stride 2 reads only
   the columns it needs. An output row is computed into y and its epilogue (folded
   batch norm, residual add, activation) applied while it is still in L1. Threads split
   (image, channel block, output row) items, so batch 1 keeps every core busy. */
/* multiply-adds as FMAs (ISO C mode leaves them apart): this file's sums are its own,
   compared with the reference within float rounding, never bit for bit */
#pragma GCC optimize("fp-contract=fast")
#include "../../core/clones.h"
#include "cpu_internal.h"

/* 16 floats; the unaligned alias of it reads and writes any float address */
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
#define ld(p) (*(const v16u *)(p))
#define st(p, v) (*(v16u *)(p) = (v))
enum { B = 16, KMAX = 121 }; /* up to 11x11 taps in the per-block weight copy */

bool cnn_blocked_dw_ok(const cnn_conv_desc *c)
{
    return cnn_cpu_is_depthwise(c) && c->k[1] * c->k[2] <= KMAX; /* C padded to whole blocks */
}

/* The epilogue on one row of `len` floats of channel block cb (blocked: lane = channel
   within the block); res points at the same row of the residual. */
static inline __attribute__((always_inline)) void epi_row(const cnn_blocked_epi *e, int cb, float *y,
                                                          const float *res, size_t len)
{
    if (e->scale) {
        v16 sc = ld(e->scale + (size_t)cb * B), sh = ld(e->shift + (size_t)cb * B);
        for (size_t i = 0; i < len; i += B) st(y + i, ld(y + i) * sc + sh);
    }
    if (res)
        for (size_t i = 0; i < len; i += B) st(y + i, ld(y + i) + ld(res + i));
    if (e->act) e->act(e->act_arg, y, len);
}

/* One output row oh of channel block cb of one image: xb (H, W, 16), wb (kh*kw, 16)
   taps, bias vector. Columns [lo, hi) read only inside the row: no tests there. */
CNN_CLONES static void dw_row(const cnn_conv_desc *c, const float *restrict xb,
                              const float *restrict wb, const float *restrict bias, int oh,
                              int lo, int hi, float *restrict yr, const cnn_blocked_epi *epi, int cb,
                              const float *res)
{
    const int H = c->in[1], W = c->in[2], OW = c->out[2], kh = c->k[1], kw = c->k[2];
    const int sh = c->s[1], sw = c->s[2], ph = c->p[1], pw = c->p[2], dh = c->d[1], dw = c->d[2];
    const v16 b = ld(bias);
    /* the border columns, with bounds tests */
    for (int ow = 0; ow < OW; ow++) {
        if (ow == lo && lo < hi) ow = hi;
        if (ow >= OW) break;
        v16 acc = b;
        for (int i = 0; i < kh; i++) {
            int ih = oh * sh - ph + i * dh;
            if (ih < 0 || ih >= H) continue;
            for (int j = 0; j < kw; j++) {
                int iw = ow * sw - pw + j * dw;
                if (iw < 0 || iw >= W) continue;
                acc += ld(xb + ((size_t)ih * W + iw) * B) * ld(wb + (i * kw + j) * B);
            }
        }
        st(yr + (size_t)ow * B, acc);
    }
    /* the interior, four columns at a time (four independent accumulators) */
    int ow = lo;
    for (; ow + 4 <= hi; ow += 4) {
        v16 a0 = b, a1 = b, a2 = b, a3 = b;
        for (int i = 0; i < kh; i++) {
            int ih = oh * sh - ph + i * dh;
            if (ih < 0 || ih >= H) continue;
            const float *xr = xb + ((size_t)ih * W + (size_t)ow * sw - pw) * B;
            for (int j = 0; j < kw; j++) {
                const v16 wv = ld(wb + (i * kw + j) * B);
                const float *xp = xr + (size_t)j * dw * B;
                a0 += ld(xp) * wv;
                a1 += ld(xp + (size_t)sw * B) * wv;
                a2 += ld(xp + (size_t)2 * sw * B) * wv;
                a3 += ld(xp + (size_t)3 * sw * B) * wv;
            }
        }
        st(yr + (size_t)ow * B, a0);
        st(yr + (size_t)(ow + 1) * B, a1);
        st(yr + (size_t)(ow + 2) * B, a2);
        st(yr + (size_t)(ow + 3) * B, a3);
    }
    for (; ow < hi; ow++) {
        v16 acc = b;
        for (int i = 0; i < kh; i++) {
            int ih = oh * sh - ph + i * dh;
            if (ih < 0 || ih >= H) continue;
            const float *xr = xb + ((size_t)ih * W + (size_t)ow * sw - pw) * B;
            for (int j = 0; j < kw; j++) acc += ld(xr + (size_t)j * dw * B) * ld(wb + (i * kw + j) * B);
        }
        st(yr + (size_t)ow * B, acc);
    }
    if (epi) epi_row(epi, cb, yr, res, (size_t)OW * B);
}

void cnn_blocked_dw_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                            float *y, const cnn_blocked_epi *epi)
{
    const int H = c->in[1], W = c->in[2], OH = c->out[1], OW = c->out[2];
    const int kk = c->k[1] * c->k[2], CB = (c->c_in + B - 1) / B;
    /* interior output columns: every tap inside [0, W) */
    int lo = (c->p[2] + c->s[2] - 1) / c->s[2];
    int num = W - 1 + c->p[2] - (c->k[2] - 1) * c->d[2];
    int hi = num < 0 ? 0 : num / c->s[2] + 1;
    if (hi > OW) hi = OW;
    if (lo > hi) lo = hi;
    const size_t xplane = (size_t)H * W * B, yplane = (size_t)OH * OW * B;
    const long items = (long)c->n * CB * OH;
#pragma omp parallel
    {
        float wb[KMAX * B] __attribute__((aligned(64))), bias[B] __attribute__((aligned(64)));
        int cur = -1;
#pragma omp for schedule(static)
        for (long it = 0; it < items; it++) {
            int oh = (int)(it % OH);
            long p = it / OH; /* plane: image * CB + channel block */
            int cb = (int)(p % CB);
            if (cb != cur) { /* this block's taps as (kh*kw, 16) vectors */
                for (int q = 0; q < kk; q++) /* padded lanes: 0 taps and bias, 0 out */
                    for (int l = 0; l < B; l++)
                        wb[q * B + l] = cb * B + l < c->c_in ? w[(size_t)(cb * B + l) * kk + q] : 0.0f;
                for (int l = 0; l < B; l++) bias[l] = b && cb * B + l < c->c_in ? b[cb * B + l] : 0.0f;
                cur = cb;
            }
            size_t yo = (size_t)p * yplane + (size_t)oh * OW * B;
            dw_row(c, x + (size_t)p * xplane, wb, bias, oh, lo, hi, y + yo, epi, cb,
                   epi && epi->res ? epi->res + yo : NULL);
        }
    }
}

CNN_CLONES static void epi_piece(const cnn_blocked_epi *e, int cb, float *y, const float *res, size_t len)
{
    epi_row(e, cb, y, res, len);
}

/* The epilogue over a whole blocked tensor (N, C/16, S, 16), after a oneDNN forward. */
void cnn_blocked_epilogue(const cnn_blocked_epi *e, int n, int c, size_t spatial, float *y)
{
    const int CB = (c + B - 1) / B;
    const size_t plane = spatial * B, rows = (spatial + 63) / 64; /* ~4 KiB pieces */
    const long items = (long)n * CB * (long)rows;
#pragma omp parallel for schedule(static)
    for (long it = 0; it < items; it++) {
        long p = it / (long)rows;
        size_t r0 = (size_t)(it % (long)rows) * 64, r1 = r0 + 64 < spatial ? r0 + 64 : spatial;
        float *yr = y + (size_t)p * plane + r0 * B;
        epi_piece(e, (int)(p % CB), yr, e->res ? e->res + (size_t)p * plane + r0 * B : NULL, (r1 - r0) * B);
    }
}

/* Depthwise 2D convolution on the blocked layout nChw16c (docs/architecture.md,
   "Blocked layout"): x (N, C/16, H, W, 16) -> y (N, C/16, OH, OW, 16), C % 16 == 0,
   any kernel, stride, padding and dilation. The 16 channels of a block are one vector,
   so every tap is one FMA on a whole vector with no gathers, and stride 2 reads only
   the columns it needs. An output row is computed into y and its epilogue (folded
   batch norm, residual add, activation: one pass, the activation in registers where
   blocked_act.h has it) applied while it is still in L1. The interior
   of a row runs eight output columns at a time (eight accumulators, each tap's weights
   loaded once for them); the border columns too, with taps outside the row reading a
   zero vector (no per-tap branch, no single dependent chain). The pool's threads (src/core/pool.c) split (image, channel
   block, band of output rows) chunks, so batch 1 keeps every core busy. */
#include "blocked_kernel.h"

#include <string.h>

#include "../../core/clones.h"
enum { B = 16, KMAX = 121 /* up to 11x11 taps in the per-block weight copy */,
       PADMAX = 8192 /* floats of the zero-padded input rows of a small plane: 32 KiB */ };

bool cnn_blocked_dw_ok(const cnn_conv_desc *c)
{
    return cnn_cpu_is_depthwise(c) && c->k[1] * c->k[2] <= KMAX; /* C padded to whole blocks */
}

/* The epilogue on one row of `len` floats of channel block cb (blocked: lane = channel
   within the block); res points at the same row of the residual. One pass over the
   row (in L1), the activation in registers where blocked_act.h has it, else the
   epilogue's act function after. */
static inline __attribute__((always_inline)) void epi_row(const cnn_blocked_epi *e, int cb, float *y,
                                                          const float *res, size_t len)
{
    const int act = cnn_bact_kind(e);
    const bool affine = e->scale != NULL;
    const v16 sc = affine ? (v16)ld(e->scale + (size_t)cb * B) : (v16){0};
    const v16 sh = affine ? (v16)ld(e->shift + (size_t)cb * B) : (v16){0};
    if (affine || res || (act != CNN_BACT_NONE && act != CNN_BACT_CALL))
        for (size_t i = 0; i < len; i += B) {
            v16 v = ld(y + i);
            if (affine) v = v * sc + sh;
            if (res) v += ld(res + i);
            if (act != CNN_BACT_CALL) cnn_bact_apply(&v, act);
            st(y + i, v);
        }
    if (act == CNN_BACT_CALL) e->act(e->act_arg, y, len);
}

static const float g_zero[B] __attribute__((aligned(64)));

/* NB output columns from ow on: NB independent accumulators, each tap's weight vector
   loaded once for all of them. GUARD: some taps fall outside the row (the border
   columns), and read a zero vector there instead; else every tap is inside. KW > 0:
   the kernel width as a constant (the 3x3 and 5x5 loops unroll fully), 0: c's. */
static inline __attribute__((always_inline)) void dw_cols(const cnn_conv_desc *c, const float *restrict xb,
                                                          const float *restrict wb, v16 b, int oh, int ow,
                                                          float *restrict yr, const int NB, const int KW,
                                                          const int SW, const bool GUARD)
{
    const int H = c->in[1], W = c->in[2], kh = c->k[1], kw = KW ? KW : c->k[2];
    const int sh = c->s[1], ph = c->p[1], pw = c->p[2], dh = c->d[1];
    const int sw = SW ? SW : c->s[2], dw = SW ? 1 : c->d[2];
    v16 a[8];
#pragma GCC unroll 8
    for (int q = 0; q < NB; q++) a[q] = b;
    for (int i = 0; i < kh; i++) {
        int ih = oh * sh - ph + i * dh;
        if (ih < 0 || ih >= H) continue;
        const float *xrow = xb + (size_t)ih * W * B;
        const float *wr = wb + (size_t)i * kw * B;
        if (!GUARD) { /* offsets from one base: constants when KW and SW are */
            const float *xr = xrow + (ptrdiff_t)(ow * sw - pw) * B;
#pragma GCC unroll 5
            for (int j = 0; j < kw; j++) {
                const v16 wv = ld(wr + (size_t)j * B);
#pragma GCC unroll 8
                for (int q = 0; q < NB; q++) a[q] += ld(xr + (ptrdiff_t)(q * sw + j * dw) * B) * wv;
            }
            continue;
        }
#pragma GCC unroll 5
        for (int j = 0; j < kw; j++) {
            const v16 wv = ld(wr + (size_t)j * B);
            const int iw0 = ow * sw - pw + j * dw;
#pragma GCC unroll 8
            for (int q = 0; q < NB; q++) {
                const int iw = iw0 + q * sw;
                const float *xp = (unsigned)iw < (unsigned)W ? xrow + (ptrdiff_t)iw * B : g_zero;
                a[q] += ld(xp) * wv;
            }
        }
    }
#pragma GCC unroll 8
    for (int q = 0; q < NB; q++) st(yr + (size_t)(ow + q) * B, a[q]);
}

/* Columns [ow, ow + NB): without tests where every tap of them is inside [lo, hi). */
static inline __attribute__((always_inline)) void dw_piece(const cnn_conv_desc *c, const float *restrict xb,
                                                           const float *restrict wb, v16 b, int oh, int ow,
                                                           int lo, int hi, float *restrict yr, const int NB,
                                                           const int KW, const int SW)
{
    if (ow >= lo && ow + NB <= hi) dw_cols(c, xb, wb, b, oh, ow, yr, NB, KW, SW, false);
    else dw_cols(c, xb, wb, b, oh, ow, yr, NB, KW, SW, true);
}

/* One output row: eight columns at a time, then 4, 2, 1. */
static inline __attribute__((always_inline)) void dw_cols_all(const cnn_conv_desc *c, const float *restrict xb,
                                                              const float *restrict wb, v16 b, int oh,
                                                              int lo, int hi, float *restrict yr, const int KW,
                                                              const int SW)
{
    const int OW = c->out[2];
    int ow = 0;
    for (; ow + 8 <= OW; ow += 8) dw_piece(c, xb, wb, b, oh, ow, lo, hi, yr, 8, KW, SW);
    if (ow + 4 <= OW) {
        dw_piece(c, xb, wb, b, oh, ow, lo, hi, yr, 4, KW, SW);
        ow += 4;
    }
    if (ow + 2 <= OW) {
        dw_piece(c, xb, wb, b, oh, ow, lo, hi, yr, 2, KW, SW);
        ow += 2;
    }
    if (ow < OW) dw_piece(c, xb, wb, b, oh, ow, lo, hi, yr, 1, KW, SW);
}

/* One output row oh of channel block cb of one image: xb (H, W, 16), wb (kh*kw, 16)
   taps, bias vector. Columns [lo, hi) read only inside the row. */
CNN_CLONES static void dw_row(const cnn_conv_desc *c, const float *restrict xb,
                              const float *restrict wb, const float *restrict bias, int oh,
                              int lo, int hi, float *restrict yr, const cnn_blocked_epi *epi, int cb,
                              const float *res)
{
    const int kw = c->k[2], sw = c->d[2] == 1 ? c->s[2] : 0;
    const v16 b = ld(bias);
    if (kw == 3 && sw == 1) dw_cols_all(c, xb, wb, b, oh, lo, hi, yr, 3, 1);
    else if (kw == 3 && sw == 2) dw_cols_all(c, xb, wb, b, oh, lo, hi, yr, 3, 2);
    else if (kw == 5 && sw == 1) dw_cols_all(c, xb, wb, b, oh, lo, hi, yr, 5, 1);
    else if (kw == 5 && sw == 2) dw_cols_all(c, xb, wb, b, oh, lo, hi, yr, 5, 2);
    else dw_cols_all(c, xb, wb, b, oh, lo, hi, yr, 0, 0);
    if (epi) epi_row(epi, cb, yr, res, (size_t)c->out[2] * B);
}

/* Input rows [ih0, ih0 + nrows) of one plane (H, W, 16) as (nrows, wp, 16), input
   column iw at iw + pw, zeros outside the plane. */
CNN_CLONES static void pad_rows(const float *restrict xp, int H, int W, int ih0, int nrows, int pw, int wp,
                                float *restrict pad)
{
    int c0 = pw < wp ? pw : wp, c1 = W + pw < wp ? W + pw : wp; /* [c0, c1): inside */
    for (int r = 0; r < nrows; r++) {
        int ih = ih0 + r;
        float *dst = pad + (size_t)r * wp * B;
        if (ih < 0 || ih >= H || c1 <= c0) {
            memset(dst, 0, (size_t)wp * B * sizeof *dst);
            continue;
        }
        memset(dst, 0, (size_t)c0 * B * sizeof *dst);
        memcpy(dst + (size_t)c0 * B, xp + (size_t)ih * W * B, (size_t)(c1 - c0) * B * sizeof *dst);
        memset(dst + (size_t)c1 * B, 0, (size_t)(wp - c1) * B * sizeof *dst);
    }
}

typedef struct dw_job {
    const cnn_conv_desc *c;
    const float *x, *w, *b;
    float *y;
    const cnn_blocked_epi *epi;
    int lo, hi, rows, bands; /* a chunk: `rows` output rows of one (image, channel block) */
} dw_job;

/* One chunk: a band of output rows of one (image, channel block) plane. */
static void dw_chunk(void *ctx, long chunk, int slot)
{
    (void)slot;
    const dw_job *j = ctx;
    const cnn_conv_desc *c = j->c;
    const int H = c->in[1], W = c->in[2], OH = c->out[1], OW = c->out[2];
    const int kk = c->k[1] * c->k[2], CB = (c->c_in + B - 1) / B;
    float wb[KMAX * B] __attribute__((aligned(64))), bias[B] __attribute__((aligned(64)));
    long p = chunk / j->bands; /* plane: image * CB + channel block */
    int cb = (int)(p % CB), r0 = (int)(chunk % j->bands) * j->rows;
    int r1 = r0 + j->rows < OH ? r0 + j->rows : OH;
    /* this block's taps as (kh*kw, 16) vectors */
    for (int q = 0; q < kk; q++) /* padded lanes: 0 taps and bias, 0 out */
        for (int l = 0; l < B; l++)
            wb[q * B + l] = cb * B + l < c->c_in ? j->w[(size_t)(cb * B + l) * kk + q] : 0.0f;
    for (int l = 0; l < B; l++) bias[l] = j->b && cb * B + l < c->c_in ? j->b[cb * B + l] : 0.0f;
    const float *xp = j->x + (size_t)p * H * W * B;
    float *yp = j->y + (size_t)p * OH * OW * B;
    const float *rp = j->epi && j->epi->res ? j->epi->res + (size_t)p * OH * OW * B : NULL;
    /* Small planes are mostly border columns: the band's input rows are copied into a
       zero-padded buffer (in L1) and every column runs without tests. */
    const int kh = c->k[1], sh = c->s[1], ph = c->p[1], pw = c->p[2];
    const int nrows = (r1 - 1 - r0) * sh + (kh - 1) * c->d[1] + 1;
    const int wp = (OW - 1) * c->s[2] + (c->k[2] - 1) * c->d[2] + 1;
    if ((size_t)nrows * wp * B <= PADMAX) {
        float pad[PADMAX] __attribute__((aligned(64)));
        pad_rows(xp, H, W, r0 * sh - ph, nrows, pw, wp, pad);
        cnn_conv_desc c2 = *c;
        c2.in[1] = nrows;
        c2.in[2] = wp;
        c2.p[1] = c2.p[2] = 0;
        for (int oh = r0; oh < r1; oh++) {
            size_t yo = (size_t)oh * OW * B;
            dw_row(&c2, pad, wb, bias, oh - r0, 0, OW, yp + yo, j->epi, cb, rp ? rp + yo : NULL);
        }
        return;
    }
    for (int oh = r0; oh < r1; oh++) {
        size_t yo = (size_t)oh * OW * B;
        dw_row(c, xp, wb, bias, oh, j->lo, j->hi, yp + yo, j->epi, cb, rp ? rp + yo : NULL);
    }
}

void cnn_blocked_dw_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                            float *y, const cnn_blocked_epi *epi)
{
    const int W = c->in[2], OH = c->out[1], OW = c->out[2], CB = (c->c_in + B - 1) / B;
    dw_job j = {.c = c, .x = x, .w = w, .b = b, .y = y, .epi = epi};
    /* interior output columns: every tap inside [0, W) */
    j.lo = (c->p[2] + c->s[2] - 1) / c->s[2];
    int num = W - 1 + c->p[2] - (c->k[2] - 1) * c->d[2];
    j.hi = num < 0 ? 0 : num / c->s[2] + 1;
    if (j.hi > OW) j.hi = OW;
    if (j.lo > j.hi) j.lo = j.hi;
    /* Bands of consecutive output rows: whole planes where there are at least 8 per
       thread, else each plane cut into as many bands as make 8 chunks per thread; at
       batch 1 the channel blocks and the rows share out the work, and each thread
       streams through long runs of rows. Each output is computed the same way whatever
       the bands, so results do not depend on them. */
    long planes = (long)c->n * CB, want = 8L * cnn_pool_threads();
    long bands = planes >= want ? 1 : (want + planes - 1) / planes;
    if (bands > OH) bands = OH;
    int rows = (int)((OH + bands - 1) / bands);
    j.rows = rows;
    j.bands = (OH + rows - 1) / rows;
    cnn_parallel_for(planes * j.bands, dw_chunk, &j);
}

CNN_CLONES static void epi_piece(const cnn_blocked_epi *e, int cb, float *y, const float *res, size_t len)
{
    epi_row(e, cb, y, res, len);
}

typedef struct epi_job {
    const cnn_blocked_epi *e;
    float *y;
    int CB;
    size_t spatial, rows;
} epi_job;

static void epi_chunk(void *ctx, long it, int slot)
{
    (void)slot;
    const epi_job *j = ctx;
    long p = it / (long)j->rows;
    size_t plane = j->spatial * B;
    size_t r0 = (size_t)(it % (long)j->rows) * 64, r1 = r0 + 64 < j->spatial ? r0 + 64 : j->spatial;
    float *yr = j->y + (size_t)p * plane + r0 * B;
    const float *res = j->e->res ? j->e->res + (size_t)p * plane + r0 * B : NULL;
    epi_piece(j->e, (int)(p % j->CB), yr, res, (r1 - r0) * B);
}

/* The epilogue over a whole blocked tensor (N, C/16, S, 16), after a oneDNN forward:
   pieces of 64 pixels (4 KiB) on the pool. */
void cnn_blocked_epilogue(const cnn_blocked_epi *e, int n, int c, size_t spatial, float *y)
{
    epi_job j = {.e = e, .y = y, .CB = (c + B - 1) / B, .spatial = spatial, .rows = (spatial + 63) / 64};
    long items = (long)n * j.CB * (long)j.rows;
    /* a piece is cheap: small tensors run inline rather than wake the other threads */
    cnn_parallel_for_n(items, items * 64 * B < 32768 ? 1 : 0, epi_chunk, &j);
}

/* A network's first convolution on the blocked layout (docs/architecture.md, "Blocked
   layout"): x plain NCHW with 1-4 channels (the image), y nChw16c (channels padded to
   whole blocks), 2D, groups 1, kernels up to 3x3 (MobileNet's and ShuffleNet's 3x3
   stride-2 stems), any stride and padding, dilation 1. The reduction is short (C_in x
   kh x kw <= 36 taps), so the output stays in registers: a tile of up to four 16-channel
   output blocks x a few output columns of one row (24 zmm accumulators), each input
   value broadcast once into the tile's FMAs, the taps' weight vectors packed per call
   into scratch (tap, padded C_out: a few KiB). The epilogue (folded batch norm,
   residual, the activations of blocked_act.h) is applied to the registers before the
   single store, another activation on the row right after. Columns whose taps all
   fall inside the row run without tests; the few border columns read 0 outside it.
   The pool's threads split (image, output group, band of rows) chunks. oneDNN ran these
   layers from a plain to a blocked tensor at 20-25% of the FMA peak at batch 1. */
#include "blocked_kernel.h"

#include <stdlib.h>
#include <immintrin.h>
enum { B = 16, G = 4 /* output blocks per group */, CMAX = 4, KMAX = 3 };
#define STEM_TARGET __attribute__((target("avx512f")))

static int up16(int v) { return (v + B - 1) / B * B; }

bool cnn_blocked_stem_ok(const cnn_conv_desc *c)
{
    return __builtin_cpu_supports("avx512f") && c->groups == 1 && c->c_in >= 1 && c->c_in <= CMAX &&
           c->in[0] == 1 && c->k[0] == 1 && c->out[0] == 1 && c->k[1] <= KMAX && c->k[2] <= KMAX &&
           c->d[1] == 1 && c->d[2] == 1 && c->s[1] >= 1 && c->s[2] >= 1;
}

size_t cnn_blocked_stem_scratch(const cnn_conv_desc *c)
{
    if (!cnn_blocked_stem_ok(c)) return 0;
    return ((size_t)c->c_in * c->k[1] * c->k[2] + 1) * (size_t)up16(c->c_out) * sizeof(float) + 128;
}

typedef struct stem_job {
    const cnn_conv_desc *c;
    const float *x;
    float *y, *wp, *bp; /* packed weights (tap, COP), bias (COP) */
    const cnn_blocked_epi *epi;
    int act, cop, groups, rows, bands;
    int lo, hi; /* output columns whose taps are all inside the row */
} stem_job;

/* NO output blocks x NP columns from ow of output row oh, image n, first block ob0. */
STEM_TARGET static inline __attribute__((always_inline)) void stem_tile(const stem_job *j, int n, int oh, int ow,
                                                                         int ob0, const int NO, const int NP,
                                                                         const bool GUARD)
{
    const cnn_conv_desc *c = j->c;
    const int H = c->in[1], W = c->in[2], kh = c->k[1], kw = c->k[2], sw = c->s[2], pw = c->p[2];
    const int OH = c->out[1], OW = c->out[2], cop = j->cop;
    v16 a[G][12];
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++) {
        const v16 bv = ld(j->bp + (ob0 + o) * B);
#pragma GCC unroll 12
        for (int q = 0; q < NP; q++) a[o][q] = bv;
    }
    for (int ci = 0; ci < c->c_in; ci++) {
        const float *xc = j->x + ((size_t)n * c->c_in + ci) * H * W;
        for (int i = 0; i < kh; i++) {
            const int ih = oh * c->s[1] - c->p[1] + i;
            if (ih < 0 || ih >= H) continue;
            const float *xr = xc + (size_t)ih * W;
            const float *wt = j->wp + (size_t)((ci * kh + i) * kw) * cop + ob0 * B;
            for (int t = 0; t < kw; t++, wt += cop) {
                v16 wv[G];
#pragma GCC unroll 4
                for (int o = 0; o < NO; o++) wv[o] = ld(wt + o * B);
                const int iw0 = ow * sw - pw + t;
#pragma GCC unroll 12
                for (int q = 0; q < NP; q++) {
                    const int iw = iw0 + q * sw;
                    float s = GUARD ? ((unsigned)iw < (unsigned)W ? xr[iw] : 0.0f) : xr[iw];
                    v16 xv = (v16)_mm512_set1_ps(s);
                    __asm__("" : "+v"(xv)); /* one broadcast feeds the NO FMAs */
#pragma GCC unroll 4
                    for (int o = 0; o < NO; o++) a[o][q] += wv[o] * xv;
                }
            }
        }
    }
    const cnn_blocked_epi *e = j->epi;
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++) {
        const size_t off = (((size_t)n * (cop / B) + ob0 + o) * OH + oh) * OW * B + (size_t)ow * B;
        float *yo = j->y + off;
        const float *ro = e && e->res ? e->res + off : NULL;
        const bool affine = e && e->scale;
        const v16 sc = affine ? (v16)ld(e->scale + (ob0 + o) * B) : (v16){0};
        const v16 sh = affine ? (v16)ld(e->shift + (ob0 + o) * B) : (v16){0};
#pragma GCC unroll 12
        for (int q = 0; q < NP; q++) {
            v16 v = a[o][q];
            if (affine) v = v * sc + sh;
            if (ro) v += ld(ro + q * B);
            if (j->act) cnn_bact_apply(&v, j->act);
            st(yo + q * B, v);
        }
    }
}

/* Output columns [ow, ow + NP): without tests where every tap is inside the row. */
STEM_TARGET static inline __attribute__((always_inline)) void stem_cols(const stem_job *j, int n, int oh, int ow,
                                                                         int ob0, const int NO, const int NP)
{
    if (ow >= j->lo && ow + NP <= j->hi) stem_tile(j, n, oh, ow, ob0, NO, NP, false);
    else stem_tile(j, n, oh, ow, ob0, NO, NP, true);
}

/* One output row of NO blocks: NP columns at a time, then 4, 2, 1. */
STEM_TARGET static inline __attribute__((always_inline)) void stem_row(const stem_job *j, int n, int oh, int ob0,
                                                                        const int NO, const int NP)
{
    const int OW = j->c->out[2];
    int ow = 0;
    for (; ow + NP <= OW; ow += NP) stem_cols(j, n, oh, ow, ob0, NO, NP);
    for (; ow + 4 <= OW; ow += 4) stem_cols(j, n, oh, ow, ob0, NO, 4);
    if (ow + 2 <= OW) {
        stem_cols(j, n, oh, ow, ob0, NO, 2);
        ow += 2;
    }
    if (ow < OW) stem_cols(j, n, oh, ow, ob0, NO, 1);
}

STEM_TARGET static void stem_piece(const stem_job *j, int n, int g, int r0, int r1)
{
    const int ob0 = g * G, nb = j->cop / B - ob0 < G ? j->cop / B - ob0 : G;
    const int OW = j->c->out[2];
    for (int oh = r0; oh < r1; oh++) {
        switch (nb) {
        case 4: stem_row(j, n, oh, ob0, 4, 6); break;
        case 3: stem_row(j, n, oh, ob0, 3, 8); break;
        case 2: stem_row(j, n, oh, ob0, 2, 12); break;
        default: stem_row(j, n, oh, ob0, 1, 12); break;
        }
        if (j->act == CNN_BACT_CALL) /* the row of each block, while it is in L1 */
            for (int o = 0; o < nb; o++) {
                size_t off = (((size_t)n * (j->cop / B) + ob0 + o) * j->c->out[1] + oh) * OW * B;
                j->epi->act(j->epi->act_arg, j->y + off, (size_t)OW * B);
            }
    }
}

static void stem_chunk(void *ctx, long chunk, int slot)
{
    (void)slot;
    const stem_job *j = ctx;
    int band = (int)(chunk % j->bands);
    long ng = chunk / j->bands;
    int g = (int)(ng % j->groups), n = (int)(ng / j->groups);
    int r0 = band * j->rows, r1 = r0 + j->rows < j->c->out[1] ? r0 + j->rows : j->c->out[1];
    stem_piece(j, n, g, r0, r1);
}

void cnn_blocked_stem_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b, float *y,
                              const cnn_blocked_epi *epi, void *scratch)
{
    stem_job j = {.c = c, .x = x, .y = y, .epi = epi};
    const int kk = c->c_in * c->k[1] * c->k[2], OH = c->out[1];
    j.act = cnn_bact_kind(epi);
    j.cop = up16(c->c_out);
    j.wp = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    j.bp = j.wp + (size_t)kk * j.cop;
    /* (tap, C_out) from (C_out, C_in, kh, kw); padded output channels 0 */
    for (int t = 0; t < kk; t++)
        for (int o = 0; o < j.cop; o++) j.wp[(size_t)t * j.cop + o] = o < c->c_out ? w[(size_t)o * kk + t] : 0.0f;
    for (int o = 0; o < j.cop; o++) j.bp[o] = b && o < c->c_out ? b[o] : 0.0f;
    /* interior output columns: every tap inside [0, W) */
    const int W = c->in[2], OW = c->out[2];
    j.lo = (c->p[2] + c->s[2] - 1) / c->s[2];
    int num = W - 1 + c->p[2] - (c->k[2] - 1);
    j.hi = num < 0 ? 0 : num / c->s[2] + 1;
    if (j.hi > OW) j.hi = OW;
    if (j.lo > j.hi) j.lo = j.hi;
    /* bands of output rows: 8 chunks per thread where there are enough rows; each
       output is computed the same way whatever the bands */
    j.groups = (j.cop / B + G - 1) / G;
    long per = (long)c->n * j.groups, want = 8L * cnn_pool_threads();
    long bands = per >= want ? 1 : (want + per - 1) / per;
    if (bands > OH) bands = OH;
    j.rows = (int)((OH + bands - 1) / bands);
    j.bands = (OH + j.rows - 1) / j.rows;
    double macs = (double)c->n * OH * OW * j.cop * kk;
    cnn_parallel_for_n(per * j.bands, macs < 262144.0 ? 1 : 0, stem_chunk, &j);
}

/* Whether the blocked layout runs c with this kernel rather than oneDNN: at two or more
   output blocks (measured at batch 1 on the stems, bench/RESULTS.md: 3->32 and 3->24
   ran 25-30% faster on two threads and level on one; 3->16, one block, level on two
   and slower on one, so it stays with oneDNN); CNN_CPU_STEM=0 / 1 forces it, for
   benchmarks. */
bool cnn_blocked_stem_use(const cnn_conv_desc *c)
{
    static int env = -2;
    if (env == -2) {
        const char *v = getenv("CNN_CPU_STEM");
        env = v && *v ? atoi(v) != 0 : -1;
    }
    if (!cnn_blocked_stem_ok(c)) return false;
    return env >= 0 ? env == 1 : up16(c->c_out) >= 2 * B;
}

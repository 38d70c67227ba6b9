/* Dense direct convolution on the blocked layout nChw16c (docs/architecture.md, "Blocked
   layout", dense layers): x (N, Ci/16, H, W, 16) -> y (N, Co/16, OH, OW, 16), any
   kernel size, stride and padding, groups 1, dilation 1, channels padded to whole blocks
   (padded lanes of x are 0, padded weights are packed as 0); or a plain RGB x (N, 3, H,
   W), first transposed to (N, H, W, 3) in the scratch. The output is held in registers
   as a tile of up to four 16-channel output blocks x a few output pixels (consecutive in
   the flattened plane, so tiles cross rows and a 7x7 plane is not cut into 7-wide
   pieces); per kernel tap each pixel's input pointer is worked out once (a zero vector
   where the tap falls into the padding), then for each input channel of a block one
   broadcast per pixel feeds the tile's FMAs. The reduction runs in chunks of (input
   block, kernel row) rows whose packed weights fit in L1 (two rows of a 3x3 layer, eight
   blocks of a 1x1): a pixel range is swept once per chunk, partial sums kept in y, so
   each weight is read from L2 once per range instead of once per tile. The last chunk
   applies the epilogue (folded batch norm, residual, activation: blocked_act.h) to the
   registers before its store. Weights are packed to (group of up to four output blocks,
   Ci/16, KH, KW, 16, 16 x blocks); under constant weights (a generation) the packed copy
   is kept (kept.c), else packed into the call's scratch. Threads split (image, output
   group, pixel range) chunks; the order of every sum depends only on the shape, never on
   the thread count. */
#include "blocked_kernel.h"

#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

#include "../../core/core.h"
enum { B = 16, G = 4 /* output blocks per group */, NPMAX = 12 };
/* AVX-512 only: the blocked layout exists only there (cnn_blocked_width) */
#define DC_TARGET __attribute__((target("avx512f")))

static long up16(long v) { return (v + B - 1) / B * B; }

/* x plain: only an RGB first layer (3 channels), transposed to (H, W, 3) in the scratch */
bool cnn_blocked_conv_ok_io(const cnn_conv_desc *c, bool x_blocked)
{
    return cnn_blocked_conv_ok(c) && (x_blocked || c->c_in == 3);
}

bool cnn_blocked_conv_ok(const cnn_conv_desc *c)
{
    return __builtin_cpu_supports("avx512f") && c->groups == 1 && c->in[0] == 1 && c->k[0] == 1 &&
           c->out[0] == 1 && c->d[1] == 1 && c->d[2] == 1 && c->k[1] >= 1 && c->k[2] >= 1 &&
           c->s[1] >= 1 && c->s[2] >= 1 && c->out[1] >= 1 && c->out[2] >= 1 && c->c_in >= 1 && c->c_out >= 1;
}

/* (a plain x's 3 channels are packed as they are) */
static size_t packed_floats(const cnn_conv_desc *c)
{
    size_t ci = c->c_in == 3 ? 16 : (size_t)up16(c->c_in); /* the larger of both forms */
    return (size_t)up16(c->c_out) * ci * (size_t)c->k[1] * (size_t)c->k[2];
}

/* the packed weights (when not kept), the bias padded with zeros and a plain RGB x
   transposed to (N, H, W, 3) */
size_t cnn_blocked_conv_scratch(const cnn_conv_desc *c)
{
    if (!cnn_blocked_conv_ok(c)) return 0;
    size_t xt = c->c_in == 3 ? (size_t)c->n * 3 * (size_t)c->in[1] * (size_t)c->in[2] + 16 : 0;
    return (packed_floats(c) + (size_t)up16(c->c_out) + xt) * sizeof(float) + 192;
}

typedef struct dc_job {
    CNN_BK_CONV_JOB
    int cbi, cbo; /* input / output channel blocks */
    int lanes;    /* input channels per block: 16, or a plain x's 3 */
    bool xb;      /* x nChw16c, else NCHW with 3 channels (an RGB stem) */
    int taps;     /* KH * KW */
    int chunk;    /* (input block, kernel row) rows per reduction chunk */
    long Sin;     /* input pixels per image */
} dc_job;

/* Group g's panel: (Ci/16, KH, KW, 16 input channels, nb * 16 output channels) at
   wp + g * G * 16 * Cip * KH * KW. */
static void pack_group(const dc_job *j, long g)
{
    const cnn_conv_desc *c = j->c;
    const int ci = c->c_in, co = c->c_out, taps = j->taps, cop = j->cbo * B;
    const int o0 = (int)g * G * B, nb = (cop - o0) / B < G ? (cop - o0) / B : G, wd = nb * B;
    float *dst = j->wp + (size_t)o0 * (size_t)j->cbi * j->lanes * (size_t)taps;
    for (int cb = 0; cb < j->cbi; cb++)
        for (int t = 0; t < taps; t++)
            for (int l = 0; l < j->lanes; l++, dst += wd) {
                const int i = cb * j->lanes + l;
                for (int q = 0; q < wd; q++) {
                    const int o = o0 + q;
                    dst[q] = i < ci && o < co ? j->w[((size_t)o * ci + i) * taps + t] : 0.0f;
                }
            }
}

CNN_POOL_ITEM(pack_chunk, dc_job, j, g) { pack_group(j, g); }

static const float g_zero[B] __attribute__((aligned(64)));

/* NO output blocks x NP pixels from pixel p of one image, input blocks [cb0, cb1): xi the
   image's x, wg the group's panel, yg / resg the image's y / residual at the group's
   first block. first: start from the bias, else from the partial sums in y; last: apply
   the epilogue. */
DC_TARGET static inline __attribute__((always_inline)) void
dc_tile(const dc_job *j, const float *restrict xi, const float *restrict wg, const float *bias, float *yg,
        const float *resg, const float *scale, const float *shift, long p, int cb0, int cb1, const int NO,
        const int NP, const int NL)
{
    const cnn_conv_desc *c = j->c;
    const int KH = c->k[1], KW = c->k[2], H = c->in[1], W = c->in[2], OW = c->out[2];
    const long S = j->S, Sin = j->Sin;
    const bool first = cb0 == 0, last = cb1 == j->cbi * KH;
    int ih0[NPMAX], iw0[NPMAX];
#pragma GCC unroll 12
    for (int q = 0; q < NP; q++) {
        const long pq = p + q;
        ih0[q] = (int)(pq / OW) * c->s[1] - c->p[1];
        iw0[q] = (int)(pq % OW) * c->s[2] - c->p[2];
    }
    v16 a[G][NPMAX];
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++) {
        const float *yo = yg + (size_t)o * S * B + p * B;
        v16 bv = bias ? (v16)ld(bias + o * B) : (v16){0};
#pragma GCC unroll 12
        for (int q = 0; q < NP; q++) a[o][q] = first ? bv : (v16)ld(yo + q * B);
    }
    /* x[channel cb * NL + l][pixel i] at (cb * S + i) * NL + l: nChw16c, or a plain RGB x
       transposed to (H, W, 3) */
    /* reduction rows r = (input block, kernel row) in [cb0, cb1) */
    const float *wk = wg + (size_t)cb0 * (size_t)KW * NL * NO * B;
    for (int r = cb0; r < cb1; r++) {
        const int cb = r / KH, kh = r % KH;
        const float *xc = xi + (size_t)cb * Sin * NL;
        for (int kw = 0; kw < KW; kw++, wk += NL * NO * B) {
                const float *xq[NPMAX];
#pragma GCC unroll 12
                for (int q = 0; q < NP; q++) {
                    const int ih = ih0[q] + kh, iw = iw0[q] + kw;
                    xq[q] = (unsigned)ih < (unsigned)H && (unsigned)iw < (unsigned)W
                                ? xc + ((long)ih * W + iw) * NL
                                : g_zero;
                }
#pragma GCC unroll 2
                for (int l = 0; l < NL; l++) {
                    v16 wv[G];
#pragma GCC unroll 4
                    for (int o = 0; o < NO; o++) wv[o] = ld(wk + l * NO * B + o * B);
#pragma GCC unroll 12
                    for (int q = 0; q < NP; q++) {
                        v16 xv; /* one broadcast load feeds the NO FMAs (not NO loads) */
                        __asm__("vbroadcastss %1, %0" : "=v"(xv) : "m"(xq[q][l]));
#pragma GCC unroll 4
                        for (int o = 0; o < NO; o++) a[o][q] += wv[o] * xv;
                    }
                }
            }
    }
    const int act = j->act;
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++) {
        float *yo = yg + (size_t)o * S * B + p * B;
        const float *ro = last && resg ? resg + (size_t)o * S * B + p * B : NULL;
        v16 sc = last && scale ? (v16)ld(scale + o * B) : (v16){0};
        v16 sh = last && scale ? (v16)ld(shift + o * B) : (v16){0};
#pragma GCC unroll 12
        for (int q = 0; q < NP; q++) {
            v16 v = a[o][q];
            if (last && scale) v = v * sc + sh;
            if (ro) v += ld(ro + q * B);
            if (last && act && act != CNN_BACT_CALL) cnn_bact_apply(&v, act);
            st(yo + q * B, v);
        }
    }
}

/* Pixels [p0, p1), input blocks [cb0, cb1), of NO output blocks: tiles of NP pixels,
   then of 4, 2, 1. */
DC_TARGET static inline __attribute__((always_inline)) void
dc_range(const dc_job *j, const float *xi, const float *wg, const float *bias, float *yg, const float *resg,
         const float *scale, const float *shift, long p0, long p1, int cb0, int cb1, const int NO, const int NP,
         const int NL)
{
    long p = p0;
    for (; p + NP <= p1; p += NP) dc_tile(j, xi, wg, bias, yg, resg, scale, shift, p, cb0, cb1, NO, NP, NL);
    for (; p + 4 <= p1; p += 4) dc_tile(j, xi, wg, bias, yg, resg, scale, shift, p, cb0, cb1, NO, 4, NL);
    if (p + 2 <= p1) {
        dc_tile(j, xi, wg, bias, yg, resg, scale, shift, p, cb0, cb1, NO, 2, NL);
        p += 2;
    }
    if (p < p1) dc_tile(j, xi, wg, bias, yg, resg, scale, shift, p, cb0, cb1, NO, 1, NL);
}

/* one reduction chunk of NO output blocks, for x blocked (NL 16) or plain RGB (NL 3) */
#define DC_RANGES(NL)                                                                                \
    switch (nb) {                                                                                    \
    case 4: dc_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, cb0, cb1, 4, 6, NL); break;    \
    case 3: dc_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, cb0, cb1, 3, 8, NL); break;    \
    case 2: dc_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, cb0, cb1, 2, 12, NL); break;   \
    default: dc_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, cb0, cb1, 1, 12, NL); break;  \
    }

DC_TARGET static void dc_piece(const dc_job *j, long n, int g, long p0, long p1)
{
    const int o0 = g * G * B, nb = j->cbo - g * G < G ? j->cbo - g * G : G;
    const long S = j->S;
    const float *xi = j->x + (size_t)n * j->cbi * j->lanes * (size_t)j->Sin;
    const float *wg = j->wp + (size_t)o0 * (size_t)j->cbi * j->lanes * (size_t)j->taps;
    const size_t yoff = ((size_t)n * j->cbo * B + o0) * S;
    float *yg = j->y + yoff;
    const cnn_blocked_epi *e = j->epi;
    const float *resg = e && e->res ? e->res + yoff : NULL;
    const float *scale = e && e->scale ? e->scale + o0 : NULL, *shift = e && e->scale ? e->shift + o0 : NULL;
    const float *bias = j->b ? j->b + o0 : NULL;
    const int rows = j->cbi * j->c->k[1];
    for (int cb0 = 0; cb0 < rows; cb0 += j->chunk) {
        const int cb1 = cb0 + j->chunk < rows ? cb0 + j->chunk : rows;
        if (j->xb)
            DC_RANGES(16)
        else
            DC_RANGES(3)
    }
    if (j->act == CNN_BACT_CALL)
        for (int o = 0; o < nb; o++) e->act(e->act_arg, yg + ((size_t)o * S + p0) * B, (size_t)(p1 - p0) * B);
}

CNN_POOL_ITEM(dc_chunk, dc_job, j, i)
{
    cnn_bk_item t = cnn_bk_item_at(i, j->groups, j->ranges, j->range, j->S);
    dc_piece(j, t.n, t.g, t.p0, t.p1);
}

typedef struct tr_job {
    const float *x;
    float *xt;
    long S;
} tr_job;

/* image n's (3, S) -> (S, 3) */
CNN_POOL_ITEM(tr_chunk, tr_job, t, n)
{
    const float *x = t->x + (size_t)n * 3 * t->S;
    float *d = t->xt + (size_t)n * 3 * t->S;
    for (long i = 0; i < t->S; i++) {
        d[3 * i] = x[i];
        d[3 * i + 1] = x[t->S + i];
        d[3 * i + 2] = x[2 * t->S + i];
    }
}

void cnn_blocked_conv_forward(const cnn_conv_desc *c, const float *x, bool x_blocked, const float *w,
                              const float *b, float *y, const cnn_blocked_epi *epi, void *scratch, uint64_t wgen)
{
    dc_job j = {.c = c, .x = x, .w = w, .y = y, .epi = epi, .xb = x_blocked, .lanes = x_blocked ? B : 3};
    j.act = cnn_bact_kind(epi);
    j.cbi = x_blocked ? (int)(up16(c->c_in) / B) : 1;
    j.cbo = (int)(up16(c->c_out) / B);
    j.taps = c->k[1] * c->k[2];
    j.S = (long)c->out[1] * c->out[2];
    j.Sin = (long)c->in[1] * c->in[2];
    j.groups = (j.cbo + G - 1) / G;
    /* a chunk's weights ((input block, kernel row) rows x KW x 16 x 64 floats) within 32
       KiB of L1 */
    j.chunk = 32768 / (c->k[2] * j.lanes * G * B * (int)sizeof(float));
    if (j.chunk < 1) j.chunk = 1;
    float *sp = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    if (b && c->c_out % B) { /* the bias padded with zeros, after the packed weights */
        float *bp = sp + packed_floats(c);
        for (int o = 0; o < j.cbo * B; o++) bp[o] = o < c->c_out ? b[o] : 0.0f;
        b = bp;
    }
    if (!x_blocked) { /* after the bias */
        tr_job t = {x, sp + packed_floats(c) + up16(c->c_out), j.Sin};
        cnn_parallel_for_n(c->n, 0, tr_chunk, &t);
        j.x = t.xt;
    }
    j.b = b;
    /* kept under constant weights (kept.c; tag: this kernel's layout, blocked or RGB x) */
    bool fill = true;
    cnn_cpu_kept_lock();
    float *kp = wgen ? cnn_cpu_kept_get(w, x_blocked ? 2 : 3, packed_floats(c) * sizeof(float), wgen, &fill)
                     : NULL;
    j.wp = kp ? kp : sp;
    if (!kp) fill = true;
    if (fill) cnn_parallel_for_n(j.groups, 0, pack_chunk, &j);
    j.range = cnn_bk_plan_ranges(c->n, j.groups, j.S, &j.ranges);
    double macs = (double)c->n * (double)j.S * c->c_in * c->c_out * j.taps;
    cnn_parallel_for_n((long)c->n * j.groups * j.ranges, macs < 262144.0 ? 1 : 0, dc_chunk, &j);
    /* the lock covers the kept panel's use: another graph's call cannot repack it meanwhile */
    cnn_cpu_kept_unlock();
}

static int g_mode = -2; /* -2: CNN_CPU_DENSE not read yet; -1 measured rule; 0 / 1 forced */

void cnn_cpu_set_dense(int mode) { g_mode = mode; }

bool cnn_blocked_conv_use(const cnn_conv_desc *c, bool x_blocked)
{
    if (g_mode == -2) {
        const char *v = getenv("CNN_CPU_DENSE");
        g_mode = v && *v ? atoi(v) != 0 : -1;
    }
    if (!cnn_blocked_conv_ok_io(c, x_blocked)) return false;
    if (g_mode >= 0) return g_mode == 1;
    return false;
}

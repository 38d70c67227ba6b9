/* Pointwise (1x1, stride 1, no padding, groups 1) convolution on the blocked layout
   nChw16c (docs/architecture.md, "Blocked layout"): x (N, Ci/16, S, 16) -> y (N,
   Co/16, S, 16), channels padded to whole blocks (an x off the 16 grid only blocked,
   its padded lanes 0; the padded weights are packed as 0). A matrix product per image, y[p][o] =
   sum_k x[p][k] w[o][k], with the output held in registers: a tile of up to four
   16-channel output blocks x a few pixels (24 zmm accumulators for 4 x 6), each input
   channel broadcast from x and multiplied by the tile's weight vectors. The weights
   are first packed (one pass on the pool, into the call's scratch; under constant
   weights once, into a panel kept between calls: kept.c) to (group of up to four
   output blocks, Ci, 16 x blocks), so the inner loop reads one stream. The whole
   reduction stays in registers, and the epilogue (folded batch norm, residual add)
   and the activation (ReLU, ReLU6, hard-swish, hard-sigmoid: blocked_act.h) are applied
   to the registers before the single store; another activation runs on the chunk's
   rows right after, while they are in L1. Threads split (image, output group, pixel
   range) chunks. */
#include "blocked_kernel.h"

#include <stdlib.h>
#include <immintrin.h>
enum { B = 16, G = 4 /* output blocks per group */ };
/* AVX-512 only: the blocked layout exists only there (cnn_blocked_width) */
#define PW_TARGET __attribute__((target("avx512f")))

static long up16(long v) { return (v + B - 1) / B * B; }

bool cnn_blocked_pw_ok(const cnn_conv_desc *c)
{
    return __builtin_cpu_supports("avx512f") && c->groups == 1 && c->in[0] == 1 && c->k[0] == 1 &&
           c->k[1] == 1 && c->k[2] == 1 && c->s[1] == 1 && c->s[2] == 1 && c->p[1] == 0 && c->p[2] == 0 &&
           c->out[1] == c->in[1] && c->out[2] == c->in[2];
}

/* x plain: its channels must fill whole blocks (a plain x has no padded lanes). */
bool cnn_blocked_pw_ok_io(const cnn_conv_desc *c, bool x_blocked)
{
    return cnn_blocked_pw_ok(c) && (x_blocked || c->c_in % B == 0);
}

/* the packed weights (padded to whole blocks) and the bias padded with zeros */
size_t cnn_blocked_pw_scratch(const cnn_conv_desc *c)
{
    if (!cnn_blocked_pw_ok(c)) return 0;
    return ((size_t)up16(c->c_out) * (size_t)up16(c->c_in) + (size_t)up16(c->c_out)) * sizeof(float) + 128;
}

typedef struct pw_job {
    CNN_BK_CONV_JOB
    int cip, cop;   /* channels padded to whole blocks */
    bool x_blocked; /* x nChw16c, else NCHW */
} pw_job;

/* Packing: group g's panel is (Cip, nb * 16) at wp + g * G * 16 * Cip; each 16 output
   channels of one input channel are one gather of a weight column (padded output
   channels and input channels: 0). */
PW_TARGET static void pack_group(const pw_job *j, long g)
{
    const int ci = j->c->c_in, co = j->c->c_out, cip = j->cip, cop = j->cop;
    const int o0 = (int)g * G * B, nb = (cop - o0) / B < G ? (cop - o0) / B : G, wd = nb * B;
    float *dst = j->wp + (size_t)o0 * cip;
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(ci));
    for (int ob = 0; ob < nb; ob++) {
        const int orow = o0 + ob * B, real = co - orow < B ? co - orow : B;
        const __mmask16 m = (__mmask16)((1u << real) - 1u);
        const float *src = j->w + (size_t)orow * ci;
        for (int k = 0; k < ci; k++)
            _mm512_storeu_ps(dst + (size_t)k * wd + ob * B,
                             _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, src + k, 4));
        for (int k = ci; k < cip; k++) _mm512_storeu_ps(dst + (size_t)k * wd + ob * B, _mm512_setzero_ps());
    }
}

CNN_POOL_ITEM(pack_chunk, pw_job, j, g) { pack_group(j, g); }

/* NO output blocks x NP pixels from pixel p of one image: xi (Ci/16, S, 16) (XB) or
   (Ci, S), wg the
   group's panel (Ci, NO * 16), y (Co/16, S, 16) at the group's first block. */
PW_TARGET static inline __attribute__((always_inline)) void pw_tile(const pw_job *j, const float *restrict xi,
                                                          const float *restrict wg, const float *bias,
                                                          float *restrict yg, const float *resg,
                                                          const float *scale, const float *shift, long p,
                                                          const int NO, const int NP, const bool XB)
{
    const long S = j->S;
    const int CBI = j->cip / B, act = j->act;
    /* x[channel cb * 16 + l][pixel p]: blocked at cb * S * 16 + p * 16 + l, plain at
       cb * 16 * S + l * S + p */
    const long ps = XB ? B : 1, ls = XB ? 1 : S;
    v16 a[G][6 * 2];
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++) {
        v16 bv = bias ? (v16)ld(bias + o * B) : (v16){0};
#pragma GCC unroll 12
        for (int q = 0; q < NP; q++) a[o][q] = bv;
    }
    const float *xp = xi + p * ps;
    const float *wk = wg;
    for (int cb = 0; cb < CBI; cb++, xp += S * B) {
#pragma GCC unroll 16
        for (int l = 0; l < B; l++, wk += NO * B) {
            v16 wv[G];
#pragma GCC unroll 4
            for (int o = 0; o < NO; o++) wv[o] = ld(wk + o * B);
#pragma GCC unroll 12
            for (int q = 0; q < NP; q++) {
                v16 xv = (v16)_mm512_set1_ps(xp[q * ps + l * ls]);
                __asm__("" : "+v"(xv)); /* one broadcast feeds the NO FMAs (not NO loads) */
#pragma GCC unroll 4
                for (int o = 0; o < NO; o++) a[o][q] += wv[o] * xv;
            }
        }
    }
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++) {
        float *yo = yg + (size_t)o * S * B + p * B;
        const float *ro = resg ? resg + (size_t)o * S * B + p * B : NULL;
        v16 sc = scale ? (v16)ld(scale + o * B) : (v16){0}, sh = scale ? (v16)ld(shift + o * B) : (v16){0};
#pragma GCC unroll 12
        for (int q = 0; q < NP; q++) {
            v16 v = a[o][q];
            if (scale) v = v * sc + sh;
            if (ro) v += ld(ro + q * B);
            if (act) cnn_bact_apply(&v, act);
            st(yo + q * B, v);
        }
    }
}

/* Pixels [p0, p1) of NO output blocks: full tiles of NP pixels, then of 4, 2, 1. */
PW_TARGET static inline __attribute__((always_inline)) void pw_range(const pw_job *j, const float *xi, const float *wg,
                                                           const float *bias, float *yg, const float *resg,
                                                           const float *scale, const float *shift, long p0,
                                                           long p1, const int NO, const int NP, const bool XB)
{
    long p = p0;
    for (; p + NP <= p1; p += NP) pw_tile(j, xi, wg, bias, yg, resg, scale, shift, p, NO, NP, XB);
    for (; p + 4 <= p1; p += 4) pw_tile(j, xi, wg, bias, yg, resg, scale, shift, p, NO, 4, XB);
    if (p + 2 <= p1) {
        pw_tile(j, xi, wg, bias, yg, resg, scale, shift, p, NO, 2, XB);
        p += 2;
    }
    if (p < p1) pw_tile(j, xi, wg, bias, yg, resg, scale, shift, p, NO, 1, XB);
}

PW_TARGET static void pw_piece(const pw_job *j, long n, int g, long p0, long p1)
{
    const int ci = j->cip, co = j->cop, o0 = g * G * B;
    const int nb = (co - o0) / B < G ? (co - o0) / B : G;
    const long S = j->S;
    const float *xi = j->x + (size_t)n * ci * S;
    const float *wg = j->wp + (size_t)o0 * ci;
    const size_t yoff = ((size_t)n * co + o0) * S;
    float *yg = j->y + yoff;
    const cnn_blocked_epi *e = j->epi;
    const float *resg = e && e->res ? e->res + yoff : NULL;
    const float *scale = e && e->scale ? e->scale + o0 : NULL, *shift = e && e->scale ? e->shift + o0 : NULL;
    const float *bias = j->b ? j->b + o0 : NULL;
    if (j->x_blocked) switch (nb) {
        case 4: pw_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, 4, 6, true); break;
        case 3: pw_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, 3, 8, true); break;
        case 2: pw_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, 2, 12, true); break;
        default: pw_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, 1, 12, true); break;
        }
    else switch (nb) {
        case 4: pw_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, 4, 6, false); break;
        case 3: pw_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, 3, 8, false); break;
        case 2: pw_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, 2, 12, false); break;
        default: pw_range(j, xi, wg, bias, yg, resg, scale, shift, p0, p1, 1, 12, false); break;
        }
    if (j->act == CNN_BACT_CALL)
        for (int o = 0; o < nb; o++) e->act(e->act_arg, yg + ((size_t)o * S + p0) * B, (size_t)(p1 - p0) * B);
}

CNN_POOL_ITEM(pw_chunk, pw_job, j, i)
{
    cnn_bk_item t = cnn_bk_item_at(i, j->groups, j->ranges, j->range, j->S);
    pw_piece(j, t.n, t.g, t.p0, t.p1);
}

void cnn_blocked_pw_forward(const cnn_conv_desc *c, const float *x, bool x_blocked, const float *w,
                            const float *b, float *y, const cnn_blocked_epi *epi, void *scratch,
                            uint64_t wgen)
{
    pw_job j = {.c = c, .x = x, .w = w, .y = y, .epi = epi, .x_blocked = x_blocked};
    j.act = cnn_bact_kind(epi);
    j.cip = (int)up16(c->c_in);
    j.cop = (int)up16(c->c_out);
    j.groups = (j.cop / B + G - 1) / G;
    float *sp = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    if (b && c->c_out % B) { /* the bias padded with zeros, after the packed weights */
        float *bp = sp + (size_t)j.cop * j.cip;
        for (int o = 0; o < j.cop; o++) bp[o] = o < c->c_out ? b[o] : 0.0f;
        b = bp;
    }
    j.b = b;
    j.S = (long)c->out[1] * c->out[2];
    /* Constant weights: the packed panel is kept (kept.c) and packed again only when
       the generation changes; the lock is held until the call is done with it.
       Otherwise packed into the scratch on every call. The same packing either way, so
       the same numbers. */
    bool fill = true;
    if (wgen) cnn_cpu_kept_lock();
    j.wp = wgen ? cnn_cpu_kept_get(w, 1, (size_t)j.cop * j.cip * sizeof(float), wgen, &fill) : NULL;
    if (!j.wp) {
        j.wp = sp;
        fill = true;
    }
    if (fill) cnn_parallel_for_n(j.groups, (long)j.cop * j.cip < 32768 ? 1 : 0, pack_chunk, &j);
    j.range = cnn_bk_plan_ranges(c->n, j.groups, j.S, &j.ranges);
    double macs = (double)c->n * j.S * c->c_in * c->c_out;
    cnn_parallel_for_n((long)c->n * j.groups * j.ranges, macs < 262144.0 ? 1 : 0, pw_chunk, &j);
    if (wgen) cnn_cpu_kept_unlock();
}

bool cnn_blocked_pw_use(const cnn_conv_desc *c, bool x_blocked, uint64_t wgen)
{
    static int env = -2;
    if (env == -2) {
        const char *v = getenv("CNN_CPU_PW");
        env = v && *v ? atoi(v) : -1; /* 0 never, 1 always, 2 the rule without kept weights */
    }
    if (!cnn_blocked_pw_ok_io(c, x_blocked)) return false;
    if (env == 0 || env == 1) return env == 1;
    if (env == 2) wgen = 0;
    /* Weights kept packed (constant weights): at batch 1 and 2 threads the own kernel
       was as fast as oneDNN's blocked primitive (its weights kept too) or faster on every
       MobileNet V2 / V3 and ShuffleNet V2 1x1 shape, the wide 7x7 ones included (up to
       1280 x 320 weights, C_in up to 960), and within 8% on GoogLeNet's and ResNet-50's
       of that size; oneDNN was faster on the wider ResNet-50 ones (C_in 1024 and 2048,
       2048 x 512 weights) (bench/blocked_layers.c ... kept, bench/RESULTS.md). */
    if (wgen && cnn_cpu_kept_on()) return up16(c->c_in) <= 960 && up16(c->c_in) * up16(c->c_out) <= 409600;
    /* Packed per call: measured against oneDNN's blocked primitive at batch 1 (bench/blocked_layers.c,
       bench/RESULTS.md): with planes of 14x14 and more and up to ~40k weights the own
       kernel is as fast on one thread and faster on two (its epilogue fused, its split
       over output groups and pixel ranges); on 7x7 planes with wide layers oneDNN is
       faster (the per-call weight packing weighs more there). */
    return (long)c->out[1] * c->out[2] >= 196 && up16(c->c_in) * up16(c->c_out) <= 40000;
}

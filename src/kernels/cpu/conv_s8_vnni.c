/* int8 convolutions of the cpu backend with AVX-512 VNNI (docs/architecture.md, "int8
   precision"), exact integer sums like the reference kernel, so the same bits:

   dense 2D convolutions (any stride / padding / dilation / groups): the int8 input
   is packed per (image, group) as columns [K/4][P][4] (K = C_in/groups * kH * kW, P
   output pixels rounded up to 16; padding and the K tail are the value 0), i.e. the
   im2col matrix with 4 consecutive reduction rows interleaved, as vpdpbusd reads
   them. A micro-kernel keeps 8 output channels x 48 pixels of int32 accumulators in
   registers; vpdpbusd multiplies unsigned by signed bytes, so the weights go in as
   w + 128 (a byte xor) and the pixel's column sum times 128, computed while packing,
   is taken off again: acc = sum (w + 128) x - 128 sum x = sum w x, exact in int32.
   The dequantisation (float)(acc + b) * m and the fused epilogue (batch norm, residual,
   ReLU / ReLU6: cnn_s8_epilogue) are the store. One pass over all images of
   the batch (no per-image GEMM).

   depthwise 2D with AVX-512 VBMI (dw_vbmi): straight from the int8 input, a vpermb
   and a vpdpbusd per 4 taps of an input row; without VBMI, or when a vector's input
   span passes 64 bytes:
   depthwise 2D: 16 output pixels per vector, each tap a (masked) byte load widened
   to float and an FMA: every product and partial sum is an integer below 2^24 while
   kH * kW <= 1040, so float arithmetic is exact here and acc converts back to int32
   exactly.

   linear (1x1 pixels): dot products along the reduction (lin_chunks).

   Parallel loops run on the library's pool (core/pool.h). Used where the CPU has
   AVX-512 VNNI (cnn_vnni_s8_use); the caller keeps its other paths elsewhere. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/pool.h"
#include "cpu_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define VNNI_OK 1
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define TGT_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi")))
#define INL __attribute__((always_inline)) inline
#endif

#define MR 8  /* output channels per micro-kernel */
#define NV 3  /* 16-pixel vectors per micro-kernel */

static size_t rup(size_t v, size_t a) { return (v + a - 1) / a * a; }

static bool is_2d(const cnn_conv_desc *c)
{
    return c->in[0] == 1 && c->k[0] == 1 && c->out[0] == 1;
}

static bool is_dw(const cnn_conv_desc *c)
{
    return c->groups == c->c_in && c->c_in == c->c_out && is_2d(c);
}

static bool g_off, g_no_vbmi, g_dw_flat = true;
void cnn_vnni_s8_enable(bool on) { g_off = !on; }
void cnn_vnni_s8_dw_flat_enable(bool on) { g_dw_flat = on; }
void cnn_vnni_s8_vbmi_enable(bool on) { g_no_vbmi = !on; }

bool cnn_vnni_s8_available(void)
{
#ifdef VNNI_OK
    static int v = -1;
    if (g_off) return false;
    if (v < 0) {
        const char *e = getenv("CNN_CPU_VNNI"); /* 0: off, for benchmarks */
        v = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            !(e && strcmp(e, "0") == 0);
    }
    return v == 1;
#else
    return false;
#endif
}

bool cnn_vnni_s8_use(const cnn_conv_desc *c)
{
    if (!cnn_vnni_s8_available() || !is_2d(c)) return false;
    if (is_dw(c)) return c->k[1] * c->k[2] <= 1040; /* float sums stay exact integers */
    return true;
}

static size_t kdim(const cnn_conv_desc *c) { return (size_t)(c->c_in / c->groups) * c->k[1] * c->k[2]; }

size_t cnn_vnni_s8_scratch(const cnn_conv_desc *c)
{
    if (!is_2d(c) || is_dw(c)) return 0;
    size_t K4 = (kdim(c) + 3) / 4, Pp = rup((size_t)c->out[1] * c->out[2], 16);
    size_t panels = (size_t)c->n * c->groups;
    return rup(panels * K4 * Pp * 4, 64) + rup((size_t)c->c_out * sizeof(int32_t), 64);
}

#ifdef VNNI_OK
/* 16 bytes of input row `row` (W bytes) at columns iw0 + l * s for lanes l < nl;
   0 outside the row. */
TGT static INL __m128i load_lanes(const int8_t *row, int W, int iw0, int s, int nl)
{
    if (s == 1) {
        int lo = iw0 < 0 ? -iw0 : 0, hi = W - iw0 < nl ? W - iw0 : nl;
        if (hi <= lo) return _mm_setzero_si128();
        __mmask16 mk = (__mmask16)(((1u << (hi - lo)) - 1u) << lo);
        return _mm_maskz_loadu_epi8(mk, row + iw0);
    }
    int lo = iw0 < 0 ? (-iw0 + s - 1) / s : 0;
    int hi = W - 1 - iw0 >= 0 ? (W - 1 - iw0) / s + 1 : 0;
    if (hi > nl) hi = nl;
    if (hi <= lo) return _mm_setzero_si128();
    if (s == 2) { /* even bytes of 32: vpmovwb keeps each word's low byte */
        int b0 = 2 * lo, b1 = 2 * (hi - 1); /* odd bytes are dropped: not read past b1 */
        __mmask32 mk = (__mmask32)(((1u << (b1 - b0 + 1)) - 1u) << b0);
        __m256i v = _mm256_maskz_loadu_epi8(mk, row + iw0);
        return _mm256_cvtepi16_epi8(v);
    }
    int8_t t[16] = {0};
    for (int l = lo; l < hi; l++) t[l] = row[iw0 + l * s];
    return _mm_loadu_si128((const __m128i *)t);
}

/* the epilogue on 16 lanes with cnn_s8_epilogue_apply's operations (channel o; res:
   the residual at these lanes or NULL) */
TGT static INL __m512 epilogue(const cnn_s8_epilogue *ep, int o, __m512 f, const float *res, __mmask16 mk)
{
    if (!ep) return f;
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    if (ep->bias) f = _mm512_add_ps(f, _mm512_set1_ps(ep->bias[o]));
    if (ep->scale) f = _mm512_mul_ps(f, _mm512_set1_ps(ep->scale[o]));
    if (ep->shift) f = _mm512_add_ps(f, _mm512_set1_ps(ep->shift[o]));
    if (res) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mk, res));
    if (ep->act == 1) {
        f = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(f, zero, _CMP_GT_OQ), f);
    } else if (ep->act == 2) {
        f = _mm512_mask_mov_ps(f, _mm512_cmp_ps_mask(f, zero, _CMP_LT_OQ), zero);
        f = _mm512_mask_mov_ps(f, _mm512_cmp_ps_mask(f, six, _CMP_GT_OQ), six);
    }
    return f;
}

/* cnn_q8(f, s) on 16 lanes without a division (docs/architecture.md, "int8
   precision"): t = f * (1/s) is within 3 float roundings of the exact quotient, so
   for |f / s| <= 256 it differs from cnn_q8's d = f / s (one rounding) by less than
   2^-14. Unless a lane's t lies within 2^-12 of a half-integer, t and d round to the
   same integer (no half-integer lies between them); such a vector (about one in 256
   lanes) takes cnn_q8's division instead. Lanes beyond 256 clamp to +-127 either way,
   NaN gives 0. Needs s and 1/s normal (q8v_make says so; otherwise always the
   division). */
typedef struct q8v {
    float s, inv;
    bool fast;
} q8v;

static q8v q8v_make(float s)
{
    q8v q = {.s = s, .inv = 1.0f / s};
    q.fast = s >= 0x1p-100f && s <= 0x1p100f;
    return q;
}

TGT static INL __m512i q8v_apply(const q8v *q, __m512 f)
{
    const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    __m512 v;
    if (q->fast) {
        __m512 t = _mm512_mul_ps(f, _mm512_set1_ps(q->inv));
        /* t - roundeven(t) (vreduceps), in [-0.5, 0.5]: a tie is near when beyond
           0.5 - 2^-12 in magnitude */
        __m512 fr = _mm512_abs_ps(_mm512_reduce_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if (__builtin_expect(_mm512_cmp_ps_mask(fr, _mm512_set1_ps(0.5f - 0x1p-12f), _CMP_GT_OQ) != 0, 0))
            goto exact;
        /* clamped, then rounded half to even by the conversion; vminps / vmaxps return
           their second operand when one is NaN: a NaN lane stays NaN, converts to
           0x80000000, whose low byte (vpmovdb) is 0 */
        return _mm512_cvt_roundps_epi32(_mm512_max_ps(lo, _mm512_min_ps(hi, t)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
exact:;
    /* cnn_quantize_s8's operations: the division, clamps, NaN -> 0, 1.5 * 2^23 */
    const __m512 rc = _mm512_set1_ps(12582912.0f);
    v = _mm512_div_ps(f, _mm512_set1_ps(q->s));
    __mmask16 ok = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
    v = _mm512_max_ps(_mm512_min_ps(v, hi), lo);
    v = _mm512_sub_ps(_mm512_add_ps(v, rc), rc);
    v = _mm512_maskz_mov_ps(ok, v);
    return _mm512_cvttps_epi32(v);
}

/* The direct store (cnn_s8_epilogue.direct; docs/architecture.md, "int8 precision"):
   f = (float)acc * m, plus b (the channel's folded bias, 0 without), rounded half to
   even by the conversion, narrowed with saturation and clamped to [lo, hi] as bytes:
   clamping the integer equals rounding the clamped float (lo, hi are integers), and
   quant.c stores directly only where |f| < 2^30, so the conversion never overflows.
   A full vector as a plain 16-byte store (the masked narrowing store is slow). */
TGT static INL void direct_store(__m512 f, __m512 b, __m128i lo, __m128i hi, void *y, size_t i, __mmask16 mk)
{
    __m512i r = _mm512_cvt_roundps_epi32(_mm512_add_ps(f, b), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m128i q = _mm_min_epi8(_mm_max_epi8(_mm512_cvtsepi32_epi8(r), lo), hi);
    if (mk == 0xffff) _mm_storeu_si128((__m128i *)((int8_t *)y + i), q);
    else _mm_mask_storeu_epi8((int8_t *)y + i, mk, q);
}

/* The epilogue every kernel here gets: the caller's, plus the output quantiser's
   reciprocal (made once per call by cnn_vnni_s8_forward). Kernels take a pointer to
   .e, the first member, and store16 converts it back. */
typedef struct vep {
    cnn_s8_epilogue e;
    q8v q;
} vep;

/* Stores 16 lanes of output element i (of the whole output y): floats, or with
   ep->q_out > 0 their cnn_q8 as bytes (q8v_apply: the same integers). */
TGT static INL void store16(const cnn_s8_epilogue *ep, void *y, size_t i, __m512 f, __mmask16 mk)
{
    if (ep && ep->q_out > 0.0f) {
        const vep *v = (const vep *)ep;
        _mm_mask_storeu_epi8((int8_t *)y + i, mk, _mm512_cvtepi32_epi8(q8v_apply(&v->q, f)));
    } else {
        _mm512_mask_storeu_ps((float *)y + i, mk, f);
    }
}

/* The epilogue as values, copied once per kernel call or job (the int8 stores could
   alias the caller's struct, so reading it through the pointer reloads every field per
   vector), and one output channel's factors broadcast once (epc). */
typedef struct epk {
    const float *bias, *scale, *shift, *res;
    int act; /* 0 none, 1 relu, 2 relu6 */
    bool q;  /* int8 output through qv */
    bool d;  /* the direct store */
    float lo, hi;
    q8v qv;
} epk;

static INL epk epk_of(const cnn_s8_epilogue *ep)
{
    epk e = {0};
    if (!ep) return e;
    if (ep->direct) return (epk){.bias = ep->bias, .d = true, .lo = ep->q_lo, .hi = ep->q_hi};
    e = (epk){.bias = ep->bias, .scale = ep->scale, .shift = ep->shift, .res = ep->res, .act = ep->act,
              .q = ep->q_out > 0.0f};
    if (e.q) e.qv = ((const vep *)ep)->q;
    return e;
}

typedef struct epc {
    __m512 m, bias, scale, shift;
    __m128i lo, hi;
} epc;

TGT static INL epc epc_of(const epk *e, float m, int o)
{
    epc c = {.m = _mm512_set1_ps(m), .bias = _mm512_setzero_ps()};
    if (e->d) c.lo = _mm_set1_epi8((char)(int)e->lo), c.hi = _mm_set1_epi8((char)(int)e->hi);
    if (e->bias) c.bias = _mm512_set1_ps(e->bias[o]);
    if (e->scale) c.scale = _mm512_set1_ps(e->scale[o]);
    if (e->shift) c.shift = _mm512_set1_ps(e->shift[o]);
    return c;
}

/* (float)acc * m, then the epilogue (epilogue()'s operations, the same roundings),
   stored as floats or int8 at output element i */
TGT static INL void epi_store(const epk *e, const epc *c, __m512i acc, const float *res, void *y, size_t i,
                              __mmask16 mk)
{
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), c->m);
    if (e->d) {
        direct_store(f, c->bias, c->lo, c->hi, y, i, mk);
        return;
    }
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    if (e->bias) f = _mm512_add_ps(f, c->bias);
    if (e->scale) f = _mm512_mul_ps(f, c->scale);
    if (e->shift) f = _mm512_add_ps(f, c->shift);
    if (res) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mk, res));
    /* ReLU f > 0 ? f : 0 is vmaxps(f, 0) exactly (its second operand for NaN and for
       -0); ReLU6 too when the result is requantised (NaN and -0 give the integer 0
       either way), else compare and blend to keep NaN and -0 as the reference does */
    if (e->act == 1) {
        f = _mm512_max_ps(f, zero);
    } else if (e->act == 2 && e->q) {
        f = _mm512_min_ps(_mm512_max_ps(f, zero), six);
    } else if (e->act == 2) {
        f = _mm512_mask_mov_ps(f, _mm512_cmp_ps_mask(f, zero, _CMP_LT_OQ), zero);
        f = _mm512_mask_mov_ps(f, _mm512_cmp_ps_mask(f, six, _CMP_GT_OQ), six);
    }
    if (e->q) {
        /* a full vector as a plain 16-byte store: the masked narrowing store is slow */
        __m128i q = _mm512_cvtepi32_epi8(q8v_apply(&e->qv, f));
        if (mk == 0xffff) _mm_storeu_si128((__m128i *)((int8_t *)y + i), q);
        else _mm_mask_storeu_epi8((int8_t *)y + i, mk, q);
    } else {
        _mm512_mask_storeu_ps((float *)y + i, mk, f);
    }
}

/* cnn_quantize_s8 with q8v_apply (tests compare it with cnn_q8) */
TGT static void quantize_fast(const float *x, size_t n, float s, int8_t *q)
{
    q8v qv = q8v_make(s);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mk = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        __m512i v = q8v_apply(&qv, _mm512_maskz_loadu_ps(mk, x + i));
        _mm_mask_storeu_epi8(q + i, mk, _mm512_cvtepi32_epi8(v));
    }
}

/* The packed columns hold each input byte as x + 128 (unsigned, as vpdpbusd's first
   operand reads it; padding, the value 0, is 128), 4 reduction rows k = 4 kq + j per
   pixel dword: xp[(kq Pp + p) 4 + j]. Rows past K are 0 (their weights are 0 too).
   The sum over k of (x + 128) w[o] is sum x w + 128 sum_k w[o]: the second term is a
   constant of the output channel, taken off with the bias (bias_comp). */

/* General packing (any stride / padding / dilation): one panel's output rows
   [oh0, oh1), 16 pixels of a row per vector. */
TGT static void pack_rows(const cnn_conv_desc *c, const int8_t *xg, int K, size_t Pp, int8_t *xp,
                          int oh0, int oh1)
{
    int H = c->in[1], W = c->in[2], OW = c->out[2], KH = c->k[1], KW = c->k[2];
    int sh = c->s[1], sw = c->s[2], ph = c->p[1], pw = c->p[2], dh = c->d[1], dw = c->d[2];
    int K4 = (K + 3) / 4;
    const __m128i x80 = _mm_set1_epi8(-128);
    for (int oh = oh0; oh < oh1; oh++)
        for (int ow0 = 0; ow0 < OW; ow0 += 16) {
            int nl = OW - ow0 < 16 ? OW - ow0 : 16;
            __mmask16 mk = (__mmask16)((1u << nl) - 1u);
            size_t p = (size_t)oh * OW + ow0;
            /* k = (ci, kh, kw) walked by counters (no divisions per row) */
            int kh = 0, kw = 0, ih0 = oh * sh - ph, iw0 = ow0 * sw - pw;
            const int8_t *plane = xg;
            for (int kq = 0; kq < K4; kq++) {
                __m512i v = _mm512_setzero_si512();
                for (int j = 0; j < 4; j++) {
                    int k = 4 * kq + j;
                    if (k >= K) break;
                    int ih = ih0 + kh * dh;
                    __m128i bt = x80; /* a padding row: 0 + 128 */
                    if (ih >= 0 && ih < H)
                        bt = _mm_xor_si128(load_lanes(plane + (size_t)ih * W, W, iw0 + kw * dw, sw, nl), x80);
                    v = _mm512_or_si512(v, _mm512_slli_epi32(_mm512_cvtepu8_epi32(bt), 8 * j));
                    if (++kw == KW) {
                        kw = 0;
                        if (++kh == KH) {
                            kh = 0;
                            plane += (size_t)H * W;
                        }
                    }
                }
                _mm512_mask_storeu_epi32(xp + ((size_t)kq * Pp + p) * 4, mk, v);
            }
        }
}

/* Stride 1 with output rows as wide as the input's (OW == W: "same" padding across,
   pointwise): output pixel p reads, at tap (kh, kw), input element p + off(kh, kw)
   of its channel plane, off = (kh dh - ph) W + kw dw - pw, where the tap is inside the
   image. So 64 pixels of one tap are one masked 64-byte load (the mask: taps inside
   the image, per tap from a row mask and a column mask), whatever the row width; four
   reduction rows are interleaved into pixel dwords by byte and word unpacks and a 4x4
   transpose of 128-bit lanes. Packs pixels [p0, p0 + 64) (nl of them real) and
   reduction quads [kq0, kq1). */
static bool taps_ok(const cnn_conv_desc *c)
{
    return c->s[1] == 1 && c->s[2] == 1 && c->out[2] == c->in[2] && c->k[1] * c->k[2] <= 64;
}

TGT static void pack_taps(const cnn_conv_desc *c, const int8_t *xg, int K, size_t Pp, int8_t *xp,
                          size_t p0, int nl, int kq0, int kq1)
{
    int H = c->in[1], W = c->in[2], OW = c->out[2], KH = c->k[1], KW = c->k[2], T = KH * KW;
    int ph = c->p[1], pw = c->p[2], dh = c->d[1], dw = c->d[2];
    size_t HW = (size_t)H * W;
    __mmask64 tmask[64];
    ptrdiff_t toff[64];
    {
        /* lanes' output row and column, 16 per vector */
        __m512i ohv[4], owv[4];
        for (int q = 0; q < 4; q++) {
            int32_t a[16], b[16];
            for (int l = 0; l < 16; l++) {
                size_t p = p0 + (size_t)(16 * q + l);
                a[l] = (int32_t)(p / (size_t)OW);
                b[l] = (int32_t)(p % (size_t)OW);
            }
            ohv[q] = _mm512_loadu_si512(a);
            owv[q] = _mm512_loadu_si512(b);
        }
        __mmask64 live = nl >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << nl) - 1);
        __mmask64 rm[64], cm[64];
        const __m512i zero = _mm512_setzero_si512(), vh = _mm512_set1_epi32(H), vw = _mm512_set1_epi32(W);
        for (int kh = 0; kh < KH; kh++) {
            __m512i d = _mm512_set1_epi32(kh * dh - ph);
            uint64_t m = 0;
            for (int q = 0; q < 4; q++) {
                __m512i t = _mm512_add_epi32(ohv[q], d);
                m |= (uint64_t)(_mm512_cmpge_epi32_mask(t, zero) & _mm512_cmplt_epi32_mask(t, vh)) << (16 * q);
            }
            rm[kh] = m & live;
        }
        for (int kw = 0; kw < KW; kw++) {
            __m512i d = _mm512_set1_epi32(kw * dw - pw);
            uint64_t m = 0;
            for (int q = 0; q < 4; q++) {
                __m512i t = _mm512_add_epi32(owv[q], d);
                m |= (uint64_t)(_mm512_cmpge_epi32_mask(t, zero) & _mm512_cmplt_epi32_mask(t, vw)) << (16 * q);
            }
            cm[kw] = m;
        }
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) {
                tmask[kh * KW + kw] = rm[kh] & cm[kw];
                toff[kh * KW + kw] = (ptrdiff_t)(kh * dh - ph) * W + (kw * dw - pw);
            }
    }
    const __m512i x80 = _mm512_set1_epi8(-128);
    __mmask16 sm[4];
    for (int q = 0; q < 4; q++) {
        int n = nl - 16 * q;
        sm[q] = n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u);
    }
    int k = 4 * kq0, ci = k / T, t = k % T;
    const int8_t *base = xg + (size_t)ci * HW + p0;
    for (int kq = kq0; kq < kq1; kq++) {
        __m512i r[4];
        for (int j = 0; j < 4; j++, k++) {
            if (k >= K) {
                r[j] = _mm512_setzero_si512();
                continue;
            }
            /* masked-off lanes (padding) read nothing and become 0 + 128 */
            r[j] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(tmask[t], base + toff[t]), x80);
            if (++t == T) {
                t = 0;
                base += HW;
            }
        }
        /* per 128-bit lane L: c0 = pixels 16L + 0..3 as dwords (r0, r1, r2, r3), c1 = 4..7, ... */
        __m512i a0 = _mm512_unpacklo_epi8(r[0], r[1]), a1 = _mm512_unpackhi_epi8(r[0], r[1]);
        __m512i b0 = _mm512_unpacklo_epi8(r[2], r[3]), b1 = _mm512_unpackhi_epi8(r[2], r[3]);
        __m512i c0 = _mm512_unpacklo_epi16(a0, b0), c1 = _mm512_unpackhi_epi16(a0, b0);
        __m512i c2 = _mm512_unpacklo_epi16(a1, b1), c3 = _mm512_unpackhi_epi16(a1, b1);
        /* 4x4 transpose of lanes: o_m = (c0.m, c1.m, c2.m, c3.m) = pixels 16m .. 16m + 15 */
        __m512i t0 = _mm512_shuffle_i32x4(c0, c1, 0x44), t1 = _mm512_shuffle_i32x4(c2, c3, 0x44);
        __m512i t2 = _mm512_shuffle_i32x4(c0, c1, 0xee), t3 = _mm512_shuffle_i32x4(c2, c3, 0xee);
        int8_t *dst = xp + ((size_t)kq * Pp + p0) * 4;
        _mm512_mask_storeu_epi32(dst, sm[0], _mm512_shuffle_i32x4(t0, t1, 0x88));
        if (sm[1]) _mm512_mask_storeu_epi32(dst + 64, sm[1], _mm512_shuffle_i32x4(t0, t1, 0xdd));
        if (sm[2]) _mm512_mask_storeu_epi32(dst + 128, sm[2], _mm512_shuffle_i32x4(t2, t3, 0x88));
        if (sm[3]) _mm512_mask_storeu_epi32(dst + 192, sm[3], _mm512_shuffle_i32x4(t2, t3, 0xdd));
    }
}

/* bc[o] = b[o] - 128 sum_k w[o][k] for output channels [o0, o1) (the packed columns'
   + 128, taken off); the sums from wsum when the caller has them (cnn_s8_epilogue) */
TGT static void bias_comp(const int8_t *w, int K, const int32_t *b, const int32_t *wsum, int32_t *bc, int o0,
                          int o1)
{
    const __m512i ones = _mm512_set1_epi8(1);
    if (wsum) {
        for (int o = o0; o < o1; o++) bc[o] = (b ? b[o] : 0) - 128 * wsum[o];
        return;
    }
    for (int o = o0; o < o1; o++) {
        const int8_t *wo = w + (size_t)o * K;
        __m512i s = _mm512_setzero_si512();
        for (int k = 0; k < K; k += 64) {
            __mmask64 mk = K - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - k)) - 1);
            s = _mm512_dpbusd_epi32(s, ones, _mm512_maskz_loadu_epi8(mk, wo + k));
        }
        bc[o] = (b ? b[o] : 0) - 128 * _mm512_reduce_add_epi32(s);
    }
}

/* 4 weights of row w from k = 4 kq (0 past K), as a dword */
static INL int32_t wword(const int8_t *w, int K, int kq)
{
    uint32_t u = 0;
    int k = 4 * kq, n = K - k < 4 ? K - k : 4;
    if (n == 4) memcpy(&u, w + k, 4);
    else
        for (int j = 0; j < n; j++) u |= (uint32_t)(uint8_t)w[k + j] << (8 * j);
    return (int32_t)u;
}

/* mr x nv accumulators over the panel; stores (float)(acc + bc) * m for lanes < P. */
TGT static INL void micro(int mr, int nv, const int8_t *w, int K, const int8_t *xp, size_t Pp,
                          size_t p0, size_t P, const int32_t *bc, const float *m,
                          const cnn_s8_epilogue *ep, int oc, const float *res, void *y, size_t yo)
{
    __m512i acc[MR][NV];
    _Pragma("GCC unroll 8")
    for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 4")
        for (int j = 0; j < nv; j++) acc[i][j] = _mm512_setzero_si512();
    int K4 = (K + 3) / 4, Kf = K / 4;
    const int8_t *xq = xp + p0 * 4;
    for (int kq = 0; kq < Kf; kq++, xq += Pp * 4) {
        __m512i xv[NV];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < nv; j++) xv[j] = _mm512_loadu_si512(xq + 64 * j);
        _Pragma("GCC unroll 8")
        for (int i = 0; i < mr; i++) {
            int32_t u;
            memcpy(&u, w + (size_t)i * K + 4 * kq, 4);
            __m512i wb = _mm512_set1_epi32(u);
            _Pragma("GCC unroll 4")
            for (int j = 0; j < nv; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], xv[j], wb);
        }
    }
    if (Kf < K4) {
        __m512i xv[NV];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < nv; j++) xv[j] = _mm512_loadu_si512(xq + 64 * j);
        _Pragma("GCC unroll 8")
        for (int i = 0; i < mr; i++) {
            __m512i wb = _mm512_set1_epi32(wword(w + (size_t)i * K, K, Kf));
            _Pragma("GCC unroll 4")
            for (int j = 0; j < nv; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], xv[j], wb);
        }
    }
    const epk e = epk_of(ep);
    _Pragma("GCC unroll 8")
    for (int i = 0; i < mr; i++) {
        epc ec = epc_of(&e, m[i], oc + i);
        __m512i bi = _mm512_set1_epi32(bc[i]);
        _Pragma("GCC unroll 4")
        for (int j = 0; j < nv; j++) {
            size_t p = p0 + 16 * (size_t)j;
            if (p >= P) break;
            __mmask16 mk = P - p >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (P - p)) - 1u);
            epi_store(&e, &ec, _mm512_add_epi32(acc[i][j], bi), res ? res + (size_t)i * P + p : NULL, y,
                      yo + (size_t)i * P + p, mk);
        }
    }
}

#define MICRO_NV(mr)                                                                        \
    switch (nv) {                                                                           \
    case 1: micro(mr, 1, w, K, xp, Pp, p0, P, bc, m, ep, oc, res, y, yo); break;             \
    case 2: micro(mr, 2, w, K, xp, Pp, p0, P, bc, m, ep, oc, res, y, yo); break;             \
    default: micro(mr, 3, w, K, xp, Pp, p0, P, bc, m, ep, oc, res, y, yo); break;            \
    }

TGT static void micro_any(int mr, int nv, const int8_t *w, int K, const int8_t *xp, size_t Pp,
                          size_t p0, size_t P, const int32_t *bc, const float *m,
                          const cnn_s8_epilogue *ep, int oc, const float *res, void *y, size_t yo)
{
    switch (mr) {
    case 8: MICRO_NV(8); break;
    case 7: MICRO_NV(7); break;
    case 6: MICRO_NV(6); break;
    case 5: MICRO_NV(5); break;
    case 4: MICRO_NV(4); break;
    case 3: MICRO_NV(3); break;
    case 2: MICRO_NV(2); break;
    default: MICRO_NV(1); break;
    }
}

/* one (panel, pixel block, channel block) of the GEMM */
TGT static INL void gemm_block(const cnn_conv_desc *c, const int8_t *w, const int8_t *xpn, const int32_t *bc,
                               const float *m, const cnn_s8_epilogue *ep, float *y, long pn, long pbi, long obi)
{
    int G = c->groups, og = c->c_out / G, K = (int)kdim(c);
    size_t P = (size_t)c->out[1] * c->out[2], Pp = rup(P, 16);
    int n = (int)(pn / G), g = (int)(pn % G);
    int o0 = (int)obi * MR, mr = og - o0 < MR ? og - o0 : MR;
    size_t p0 = (size_t)pbi * NV * 16;
    int nv = (int)((Pp - p0) / 16 < NV ? (Pp - p0) / 16 : NV);
    int oc = g * og + o0;
    size_t yo = ((size_t)n * c->c_out + oc) * P;
    micro_any(mr, nv, w + (size_t)oc * K, K, xpn, Pp, p0, P, bc + oc, m + oc, ep, oc,
              ep && ep->res ? ep->res + yo : NULL, y, yo);
}

/* Runs fn over jobs [0, n) in ranges: on the library's pool (docs/architecture.md,
   "Threads on a busy machine": on a quiet machine its loops run on the OpenMP team; on
   a busy one chunks are claimed, so no barrier waits for a descheduled thread) in
   ranges of `grain` jobs (0: an eighth of them, contiguous, so a thread keeps the
   weights / columns its neighbouring jobs share), or with CNN_INT8_OMP=1 as an OpenMP
   region with one static range per thread (the loops as they were, for comparison).
   Every job writes outputs of its own only, so the bits do not depend on the split.
   par false: inline. */
static int g_omp = -1;
static void run_jobs(long n, long grain, bool par, cnn_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (!par || n == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    if (g_omp < 0) {
        const char *e = getenv("CNN_INT8_OMP");
        g_omp = e && e[0] == '1';
    }
#ifdef _OPENMP
    if (g_omp) {
#pragma omp parallel
        {
            long T = omp_get_num_threads(), t = omp_get_thread_num();
            long lo = n * t / T, hi = n * (t + 1) / T;
            if (lo < hi) fn(ctx, lo, hi, (int)t);
        }
        return;
    }
#endif
    cnn_parallel_range(n, grain > 0 ? grain : (n + 7) / 8, 0, fn, ctx);
}

/* the arguments of one cnn_vnni_s8_forward call, for the job loops of its kernels */
typedef struct s8call {
    const cnn_conv_desc *c;
    const int8_t *x, *w;
    const int32_t *b;
    const float *m;
    const cnn_s8_epilogue *ep;
    float *y;
} s8call;

/* one dense call's arguments and shape, for its job loops */
typedef struct djob {
    s8call a;
    int8_t *xp;
    int32_t *bc;
    int G, cg, og, K, OH;
    size_t K4, P, Pp, in_sp, panel;
    long pb, ob, chunks, slices, kqs, pjobs, spans, sb;
    bool taps;
} djob;

/* a batch (or groups): one (image, group) panel per job, packed and multiplied at
   once, so its columns are still in this core's cache when the micro-kernel reads them
   (all panels packed first leave the caches at batch 16) */
TGT static void dense_panels(void *arg, long lo, long hi, int slot)
{
    (void)slot;
    const djob *j = arg;
    const cnn_conv_desc *c = j->a.c;
    for (long pn = lo; pn < hi; pn++) {
        int n = (int)(pn / j->G), g = (int)(pn % j->G);
        int8_t *xpn = j->xp + (size_t)pn * j->panel;
        const int8_t *xg = j->a.x + ((size_t)n * c->c_in + (size_t)g * j->cg) * j->in_sp;
        if (j->taps)
            for (long ch = 0; ch < j->chunks; ch++) {
                size_t p0 = (size_t)ch * 64;
                pack_taps(c, xg, j->K, j->Pp, xpn, p0, j->P - p0 < 64 ? (int)(j->P - p0) : 64, 0, (int)j->K4);
            }
        else
            pack_rows(c, xg, j->K, j->Pp, xpn, 0, j->OH);
        for (long pbi = 0; pbi < j->pb; pbi++)
            for (long obi = 0; obi < j->ob; obi++) gemm_block(c, j->a.w, xpn, j->bc, j->a.m, j->a.ep, j->a.y, pn, pbi, obi);
    }
}

/* pack jobs: (panel, 64-pixel chunk, slice of the reduction) with taps, else (panel,
   output row); then bias_comp jobs of 64 output channels */
TGT static void dense_pack(void *arg, long lo, long hi, int slot)
{
    (void)slot;
    const djob *j = arg;
    const cnn_conv_desc *c = j->a.c;
    for (long r = lo; r < hi; r++) {
        if (r >= j->pjobs) {
            int o0 = (int)(r - j->pjobs) * 64, o1 = o0 + 64 < c->c_out ? o0 + 64 : c->c_out;
            bias_comp(j->a.w, j->K, j->a.b, j->a.ep ? j->a.ep->wsum : NULL, j->bc, o0, o1);
            continue;
        }
        if (j->taps) {
            long pn = r / (j->chunks * j->slices), rest = r % (j->chunks * j->slices);
            long ch = rest / j->slices, sl = rest % j->slices;
            int n = (int)(pn / j->G), g = (int)(pn % j->G), K4 = (int)j->K4;
            size_t p0 = (size_t)ch * 64;
            int kq0 = (int)(sl * j->kqs), kq1 = kq0 + (int)j->kqs < K4 ? kq0 + (int)j->kqs : K4;
            if (kq0 < kq1)
                pack_taps(c, j->a.x + ((size_t)n * c->c_in + (size_t)g * j->cg) * j->in_sp, j->K, j->Pp,
                          j->xp + (size_t)pn * j->panel, p0, j->P - p0 < 64 ? (int)(j->P - p0) : 64, kq0, kq1);
            continue;
        }
        long pn = r / j->OH;
        int oh = (int)(r % j->OH);
        int n = (int)(pn / j->G), g = (int)(pn % j->G);
        pack_rows(c, j->a.x + ((size_t)n * c->c_in + (size_t)g * j->cg) * j->in_sp, j->K, j->Pp,
                  j->xp + (size_t)pn * j->panel, oh, oh + 1);
    }
}

/* GEMM: (panel, channel block, pixel block) jobs, pixel blocks innermost, so equal
   ranges of jobs hold equal work (the last pixel block of a plane is short: a 7x7
   plane is 48 + 1 pixels) */
TGT static void dense_gemm(void *arg, long lo, long hi, int slot)
{
    (void)slot;
    const djob *j = arg;
    for (long jb = lo; jb < hi; jb++) {
        long pn = jb / (j->pb * j->ob), rest = jb % (j->pb * j->ob);
        gemm_block(j->a.c, j->a.w, j->xp + (size_t)pn * j->panel, j->bc, j->a.m, j->a.ep, j->a.y, pn, rest % j->pb,
                   rest / j->pb);
    }
}

/* The one-loop form of a layer with fewer than 4 panels whose columns pack by taps:
   (panel, span) jobs, each packing its span's columns (64-pixel chunks, all of the
   reduction) and running every channel block over them at once, while they are in
   this core's cache. No job reads columns another writes, so one parallel loop does
   the layer (one barrier instead of two, and no columns cross cores). A span is 4, 2
   or 1 GEMM pixel blocks (192, 96, 48 pixels), the longest giving at least 2 spans per
   thread (batch 1 on 2 threads: 192 from 24x24 up, 48 on 14x14); a plane with fewer
   (7x7 on 2 threads) takes the two loops (pack, then GEMM by channel x pixel blocks).
   Splitting by channels as well would pack each span again per channel group: that
   cost more than the barrier it saves (MobileNet V2's 14x14 and 7x7 1x1 layers, 1
   thread: 10-50% slower). The bits do not depend on the split. */
static long fused_spans(djob *j, long panels)
{
    if (panels >= 4 || !j->taps) return 0;
    for (long sb = 4; sb >= 1; sb /= 2) {
        long ns = (long)((j->P + (size_t)sb * NV * 16 - 1) / ((size_t)sb * NV * 16));
        /* 48-pixel spans only where there are 4 or more: a 7x7 plane (48 + 1) packs
           48 of each vector's 64 lanes and was ~5% slower so than in two loops */
        if (panels * ns >= 2 * (long)cnn_pool_threads() && (sb > 1 || panels * ns >= 4)) {
            j->sb = sb;
            return ns;
        }
    }
    return 0;
}

TGT static void dense_fused(void *arg, long lo, long hi, int slot)
{
    (void)slot;
    const djob *j = arg;
    const cnn_conv_desc *c = j->a.c;
    for (long jb = lo; jb < hi; jb++) {
        long si = jb % j->spans, pn = jb / j->spans;
        int n = (int)(pn / j->G), g = (int)(pn % j->G);
        int8_t *xpn = j->xp + (size_t)pn * j->panel;
        const int8_t *xg = j->a.x + ((size_t)n * c->c_in + (size_t)g * j->cg) * j->in_sp;
        size_t span = (size_t)j->sb * NV * 16;
        size_t p0 = (size_t)si * span, p1 = p0 + span < j->P ? p0 + span : j->P;
        for (size_t p = p0; p < p1; p += 64)
            pack_taps(c, xg, j->K, j->Pp, xpn, p, p1 - p < 64 ? (int)(p1 - p) : 64, 0, (int)j->K4);
        long b0 = si * j->sb, b1 = b0 + j->sb < j->pb ? b0 + j->sb : j->pb;
        for (long obi = 0; obi < j->ob; obi++)
            for (long pbi = b0; pbi < b1; pbi++)
                gemm_block(c, j->a.w, xpn, j->bc, j->a.m, j->a.ep, j->a.y, pn, pbi, obi);
    }
}

TGT static void dense(const cnn_conv_desc *c, const int8_t *x, const int8_t *w, const int32_t *b,
                      const float *m, const cnn_s8_epilogue *ep, float *y, void *scratch)
{
    djob j = {.a = {.c = c, .x = x, .w = w, .b = b, .m = m, .ep = ep, .y = y}, .G = c->groups};
    j.cg = c->c_in / j.G, j.og = c->c_out / j.G, j.K = (int)kdim(c), j.OH = c->out[1];
    j.K4 = (size_t)(j.K + 3) / 4, j.P = (size_t)j.OH * c->out[2], j.Pp = rup(j.P, 16);
    j.in_sp = (size_t)c->in[1] * c->in[2], j.panel = j.K4 * j.Pp * 4;
    long panels = (long)c->n * j.G;
    j.xp = scratch;
    j.bc = (int32_t *)((char *)scratch + rup((size_t)panels * j.panel, 64));
    j.pb = (long)((j.Pp / 16 + NV - 1) / NV), j.ob = (j.og + MR - 1) / MR;
    j.taps = taps_ok(c);
    j.chunks = (long)((j.P + 63) / 64);
    double macs = (double)panels * (double)j.P * (double)j.K * (double)j.og;
    if (panels >= 4) {
        bias_comp(w, j.K, b, ep ? ep->wsum : NULL, j.bc, 0, c->c_out);
        run_jobs(panels, 1, macs > 262144.0, dense_panels, &j);
        return;
    }
    j.spans = fused_spans(&j, panels);
    if (j.spans > 0) {
        bias_comp(w, j.K, b, ep ? ep->wsum : NULL, j.bc, 0, c->c_out);
        run_jobs(panels * j.spans, 0, macs > 262144.0, dense_fused, &j);
        return;
    }
    j.slices = 1;
    if (j.taps)
        while (panels * j.chunks * j.slices < 8 && (size_t)j.slices * 64 < j.K4) j.slices *= 2;
    j.kqs = (long)(j.K4 + (size_t)j.slices - 1) / j.slices;
    j.pjobs = j.taps ? panels * j.chunks * j.slices : panels * j.OH;
    long bjobs = (c->c_out + 63) / 64, jobs = panels * j.pb * j.ob;
    /* small layers run on one thread: a parallel loop costs more than they do */
    run_jobs(j.pjobs + bjobs, 0, (double)panels * (double)j.P * (double)j.K4 > 16384.0, dense_pack, &j);
    run_jobs(jobs, 0, jobs > 1 && macs > 262144.0, dense_gemm, &j);
}

/* linear (a 1x1 convolution of 1x1 pixels, every image one pixel): the dense path
   would fill one lane of 16 per vector. Instead dot products along the reduction:
   per 64 bytes of K, the rows of 4 output channels (as w + 128, unsigned) times the
   inputs of up to 4 images (signed), 16 vpdpbusd into 16 accumulators, each summed
   across its lanes at the end, minus 128 times the image's input sum: exact int32
   as in the dense kernel. A chunk is 16 output channels for all images; their
   epilogue and store run as one vector per image. */
#define LIN_OB 16
typedef struct ljob {
    s8call a;
    const int32_t *sx; /* per image: sum of its inputs */
} ljob;

static bool is_linear(const cnn_conv_desc *c)
{
    return is_2d(c) && c->groups == 1 && c->in[1] == 1 && c->in[2] == 1 && c->k[1] == 1 &&
           c->k[2] == 1 && c->p[1] == 0 && c->p[2] == 0 && c->out[1] == 1 && c->out[2] == 1;
}

/* sums of channels o0 .. o0 + no - 1 (no <= 4) x images n0 .. n0 + NI - 1 into
   t[i][o - o0 + oo] */
TGT static INL void lin_block(const ljob *j, int NI, int n0, int o0, int no, int32_t t[][LIN_OB], int ob0)
{
    int K = j->a.c->c_in;
    const int8_t *x = j->a.x + (size_t)n0 * K, *w = j->a.w + (size_t)o0 * K;
    __m512i acc[4][4];
    _Pragma("GCC unroll 4")
    for (int q = 0; q < 4; q++)
        _Pragma("GCC unroll 4")
        for (int i = 0; i < 4; i++) acc[q][i] = _mm512_setzero_si512();
    const __m512i x80 = _mm512_set1_epi8(-128);
    for (int k = 0; k < K; k += 64) {
        __mmask64 mk = K - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - k)) - 1);
        __m512i xv[4];
        _Pragma("GCC unroll 4")
        for (int i = 0; i < NI; i++) xv[i] = _mm512_maskz_loadu_epi8(mk, x + (size_t)i * K + k);
        _Pragma("GCC unroll 4")
        for (int q = 0; q < 4; q++) {
            if (q >= no) break;
            __m512i wv = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, w + (size_t)q * K + k), x80);
            _Pragma("GCC unroll 4")
            for (int i = 0; i < NI; i++) acc[q][i] = _mm512_dpbusd_epi32(acc[q][i], wv, xv[i]);
        }
    }
    for (int q = 0; q < no; q++)
        for (int i = 0; i < NI; i++)
            t[i][ob0 + q] = _mm512_reduce_add_epi32(acc[q][i]) - 128 * j->sx[n0 + i];
}

/* chunks of LIN_OB output channels [lo, hi) */
TGT static void lin_chunks(void *arg, long lo, long hi, int slot)
{
    (void)slot;
    const ljob *j = arg;
    const cnn_conv_desc *c = j->a.c;
    const cnn_s8_epilogue *ep = j->a.ep;
    int O = c->c_out, N = c->n;
    for (long ch = lo; ch < hi; ch++) {
        int o0 = (int)ch * LIN_OB, nob = O - o0 < LIN_OB ? O - o0 : LIN_OB;
        __mmask16 mk = (__mmask16)((1u << nob) - 1u);
        __m512i bv = j->a.b ? _mm512_maskz_loadu_epi32(mk, j->a.b + o0) : _mm512_setzero_si512();
        __m512 mv = _mm512_maskz_loadu_ps(mk, j->a.m + o0);
        for (int n0 = 0; n0 < N; n0 += 4) {
            int ni = N - n0 < 4 ? N - n0 : 4;
            int32_t t[4][LIN_OB];
            for (int q0 = 0; q0 < nob; q0 += 4) {
                int no = nob - q0 < 4 ? nob - q0 : 4;
                switch (ni) {
                case 4: lin_block(j, 4, n0, o0 + q0, no, t, q0); break;
                case 3: lin_block(j, 3, n0, o0 + q0, no, t, q0); break;
                case 2: lin_block(j, 2, n0, o0 + q0, no, t, q0); break;
                default: lin_block(j, 1, n0, o0 + q0, no, t, q0); break;
                }
            }
            for (int i = 0; i < ni; i++) {
                size_t yo = (size_t)(n0 + i) * O + o0;
                __m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(mk, t[i]), bv);
                __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a), mv);
                if (ep && ep->direct) {
                    direct_store(f, ep->bias ? _mm512_maskz_loadu_ps(mk, ep->bias + o0) : _mm512_setzero_ps(),
                                 _mm_set1_epi8((char)(int)ep->q_lo), _mm_set1_epi8((char)(int)ep->q_hi), j->a.y,
                                 yo, mk);
                    continue;
                }
                if (ep) { /* cnn_s8_epilogue_apply's operations, channel per lane */
                    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
                    if (ep->bias) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mk, ep->bias + o0));
                    if (ep->scale) f = _mm512_mul_ps(f, _mm512_maskz_loadu_ps(mk, ep->scale + o0));
                    if (ep->shift) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mk, ep->shift + o0));
                    if (ep->res) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mk, ep->res + yo));
                    if (ep->act == 1) {
                        f = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(f, zero, _CMP_GT_OQ), f);
                    } else if (ep->act == 2) {
                        f = _mm512_mask_mov_ps(f, _mm512_cmp_ps_mask(f, zero, _CMP_LT_OQ), zero);
                        f = _mm512_mask_mov_ps(f, _mm512_cmp_ps_mask(f, six, _CMP_GT_OQ), six);
                    }
                }
                store16(ep, j->a.y, yo, f, mk);
            }
        }
    }
}

TGT static void linear_s8(const cnn_conv_desc *c, const int8_t *x, const int8_t *w, const int32_t *b,
                          const float *m, const cnn_s8_epilogue *ep, float *y, void *scratch)
{
    int K = c->c_in, N = c->n;
    int32_t *sx = scratch;
    const __m512i ones = _mm512_set1_epi8(1);
    for (int n = 0; n < N; n++) {
        __m512i s = _mm512_setzero_si512();
        for (int k = 0; k < K; k += 64) {
            __mmask64 mk = K - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - k)) - 1);
            s = _mm512_dpbusd_epi32(s, ones, _mm512_maskz_loadu_epi8(mk, x + (size_t)n * K + k));
        }
        sx[n] = _mm512_reduce_add_epi32(s);
    }
    ljob j = {.a = {.c = c, .x = x, .w = w, .b = b, .m = m, .ep = ep, .y = y}, .sx = sx};
    long chunks = (c->c_out + LIN_OB - 1) / LIN_OB;
    double macs = (double)N * K * c->c_out;
    cnn_parallel_range(chunks, 1, chunks > 1 && macs > 262144.0 ? 0 : 1, lin_chunks, &j);
}

static bool have_vbmi(void)
{
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx512vbmi") != 0;
    return v == 1 && !g_no_vbmi;
}

/* depthwise straight from the int8 input with vpdpbusd (AVX-512 VBMI + VNNI): per
   input row kh and 16 output pixels one masked 64-byte load of the row window (bytes
   outside the row are the padding 0), each byte x stored as x + 128 (xor 0x80, so
   unsigned as vpdpbusd reads it; a padding 0 becomes 128 too), then per 4 taps of the
   row a byte permutation (vpermb) that puts the 4 input bytes of each output pixel
   into its dword and one vpdpbusd with the 4 weights (0 past kW). The accumulator
   starts at b - 128 * (sum of all weights), which takes the 128s off again; a row
   outside the image is read from a row of zeros (0 + 128 alike). Exact int32. Runs
   when the 16 outputs of a vector read one 64-byte window of a row
   (dw_vbmi_fits). */
/* One (image, channel) plane of dw_vbmi; KH and G4 are constants where inlined (3x3:
   the whole tap loop unrolled). A row outside the image reads zrow, W zero bytes:
   its 0 + 128 per tap is what init takes off, as for padding columns. mks / m16s:
   the window load mask and the output lane mask of each 16-output block of a row. */
typedef struct dwg {
    int H, W, OH, OW, sh, sw, ph, pw, dh, nb;
    const __m512i *idx;
    const __mmask64 *mks;
    const __mmask16 *m16s;
    const int8_t *zrow;
} dwg;

TGT_VBMI static INL void dw_plane(const dwg *d, const int KH, const int G4, const int8_t *xp, const int8_t *wp,
                                  int KW, int32_t b, float m, const epk *e, int ch, const float *rp, void *y,
                                  size_t yp)
{
    const __m512i x80 = _mm512_set1_epi8(-128);
    __m512i wv[64]; /* [kh][g] */
    int32_t all = 0;
    for (int kh = 0; kh < KH; kh++)
        for (int g = 0; g < G4; g++) {
            uint32_t u = 0;
            for (int q = 0; q < 4 && 4 * g + q < KW; q++) {
                int8_t v = wp[kh * KW + 4 * g + q];
                u |= (uint32_t)(uint8_t)v << (8 * q);
                all += v;
            }
            wv[kh * G4 + g] = _mm512_set1_epi32((int)u);
        }
    __m512i idx[4];
    for (int g = 0; g < G4; g++) idx[g] = d->idx[g];
    const __m512i init = _mm512_set1_epi32(b - 128 * all);
    const epc ec = epc_of(e, m, ch);
    for (int oh = 0; oh < d->OH; oh++) {
        const int8_t *rows[16];
        for (int kh = 0; kh < KH; kh++) {
            int ih = oh * d->sh - d->ph + kh * d->dh;
            rows[kh] = ih >= 0 && ih < d->H ? xp + (size_t)ih * d->W : d->zrow;
        }
        size_t yo = yp + (size_t)oh * d->OW;
        for (int v = 0; v < d->nb; v++) {
            int base = 16 * v * d->sw - d->pw;
            __mmask64 mk = d->mks[v];
            __m512i acc = init;
            for (int kh = 0; kh < KH; kh++) {
                __m512i win = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, rows[kh] + base), x80);
                for (int g = 0; g < G4; g++)
                    acc = _mm512_dpbusd_epi32(acc, _mm512_permutexvar_epi8(idx[g], win), wv[kh * G4 + g]);
            }
            epi_store(e, &ec, acc, rp ? rp + (size_t)oh * d->OW + 16 * v : NULL, y, yo + 16 * (size_t)v,
                      d->m16s[v]);
        }
    }
}

/* Stride 1 with rows as wide as the input's, 3 rows of up to 4 taps, small planes
   (up to 1024 outputs): 16 consecutive outputs of the plane per vector, across rows
   (a 7x7 plane is 4 vectors instead of 7 row vectors of 7 lanes). Per vector v and
   kernel row kh one 64-byte load of the plane from output v's first tap (lm: bytes
   inside the plane) and a vpermb whose zero mask (pm) drops the taps outside the
   image, which the xor then makes 0 + 128 like padding. */
#define DWF_MAXB 64
typedef struct dwf {
    ptrdiff_t off[DWF_MAXB][3];
    __mmask64 lm[DWF_MAXB][3], pm[DWF_MAXB][3];
    __mmask16 m16[DWF_MAXB];
    int nb;
} dwf;

static bool dw_flat_ok(const cnn_conv_desc *c)
{
    int P = c->out[1] * c->out[2];
    return c->s[1] == 1 && c->s[2] == 1 && c->out[2] == c->in[2] && c->k[1] == 3 && c->k[2] <= 4 &&
           P <= 16 * DWF_MAXB && 15 + (c->k[2] - 1) * c->d[2] + 1 <= 64;
}

static void dwf_make(const cnn_conv_desc *c, dwf *f)
{
    int H = c->in[1], W = c->in[2], OW = c->out[2], KW = c->k[2], P = c->out[1] * OW;
    long HW = (long)H * W;
    f->nb = (P + 15) / 16;
    for (int v = 0; v < f->nb; v++) {
        int nl = P - 16 * v < 16 ? P - 16 * v : 16;
        f->m16[v] = (__mmask16)((1u << nl) - 1u);
        for (int kh = 0; kh < 3; kh++) {
            long start = 16L * v + (long)(kh * c->d[1] - c->p[1]) * W - c->p[2];
            uint64_t lm = 0, pm = 0;
            for (int b = 0; b < 64; b++)
                if (start + b >= 0 && start + b < HW) lm |= (uint64_t)1 << b;
            for (int j = 0; j < nl; j++) {
                int p = 16 * v + j, oh = p / OW, ow = p % OW, ih = oh + kh * c->d[1] - c->p[1];
                if (ih < 0 || ih >= H) continue;
                for (int q = 0; q < KW; q++) {
                    int iw = ow + q * c->d[2] - c->p[2];
                    if (iw >= 0 && iw < W) pm |= (uint64_t)1 << (4 * j + q);
                }
            }
            f->off[v][kh] = start;
            f->lm[v][kh] = lm;
            f->pm[v][kh] = pm;
        }
    }
}

TGT_VBMI static INL void dw_plane_flat(const dwf *f, __m512i idx, const int8_t *xp, const int8_t *wp, int KW,
                                       int32_t b, float m, const epk *e, int ch, const float *rp, void *y,
                                       size_t yp)
{
    const __m512i x80 = _mm512_set1_epi8(-128);
    __m512i wv[3];
    int32_t all = 0;
    for (int kh = 0; kh < 3; kh++) {
        uint32_t u = 0;
        for (int q = 0; q < KW; q++) {
            int8_t v = wp[kh * KW + q];
            u |= (uint32_t)(uint8_t)v << (8 * q);
            all += v;
        }
        wv[kh] = _mm512_set1_epi32((int)u);
    }
    const __m512i init = _mm512_set1_epi32(b - 128 * all);
    const epc ec = epc_of(e, m, ch);
    for (int v = 0; v < f->nb; v++) {
        __m512i acc = init;
        for (int kh = 0; kh < 3; kh++) {
            __m512i win = _mm512_maskz_loadu_epi8(f->lm[v][kh], xp + f->off[v][kh]);
            __m512i t = _mm512_xor_si512(_mm512_maskz_permutexvar_epi8(f->pm[v][kh], idx, win), x80);
            acc = _mm512_dpbusd_epi32(acc, t, wv[kh]);
        }
        epi_store(e, &ec, acc, rp ? rp + 16 * (size_t)v : NULL, y, yp + 16 * (size_t)v, f->m16[v]);
    }
}

#define DW_MAXB 64   /* 16-output blocks per row (OW <= 1024) */
#define DW_ZROW 4096 /* the zero row's bytes (W <= 4096) */
static bool dw_vbmi_fits(const cnn_conv_desc *c)
{
    return c->k[1] <= 16 && c->k[2] <= 16 && (c->out[2] + 15) / 16 <= DW_MAXB && c->in[2] <= DW_ZROW &&
           15 * c->s[2] + (c->k[2] - 1) * c->d[2] + 1 <= 64;
}

/* dw_vbmi's (image, channel) planes [lo, hi): flat (f) or by rows */
typedef struct dwjob {
    s8call a;
    const dwg *d;
    const dwf *f;
    __m512i idx;
    int KH, KW, G4;
} dwjob;

TGT_VBMI static void dw_jobs(void *arg, long lo, long hi, int slot)
{
    (void)slot;
    const dwjob *j = arg;
    const cnn_conv_desc *c = j->a.c;
    int KH = j->KH, KW = j->KW, G4 = j->G4;
    size_t in_sp = (size_t)c->in[1] * c->in[2], out_sp = (size_t)c->out[1] * c->out[2];
    const epk e = epk_of(j->a.ep);
    for (long job = lo; job < hi; job++) {
        int ch = (int)(job % c->c_in);
        const int8_t *xp = j->a.x + (size_t)job * in_sp, *wp = j->a.w + (size_t)ch * KH * KW;
        size_t yp = (size_t)job * out_sp;
        const float *rp = e.res ? e.res + yp : NULL;
        int32_t bo = j->a.b ? j->a.b[ch] : 0;
        if (j->f) dw_plane_flat(j->f, j->idx, xp, wp, KW, bo, j->a.m[ch], &e, ch, rp, j->a.y, yp);
        else if (KH == 3 && G4 == 1) dw_plane(j->d, 3, 1, xp, wp, KW, bo, j->a.m[ch], &e, ch, rp, j->a.y, yp);
        else dw_plane(j->d, KH, G4, xp, wp, KW, bo, j->a.m[ch], &e, ch, rp, j->a.y, yp);
    }
}

TGT_VBMI static void dw_vbmi(const cnn_conv_desc *c, const int8_t *x, const int8_t *w, const int32_t *b,
                             const float *m, const cnn_s8_epilogue *ep, float *y)
{
    static const int8_t zrow[DW_ZROW];
    int H = c->in[1], W = c->in[2], OH = c->out[1], OW = c->out[2], KH = c->k[1], KW = c->k[2];
    int sw = c->s[2], dw = c->d[2];
    int G4 = (KW + 3) / 4;
    __m512i idx[4];
    for (int g = 0; g < G4; g++) {
        int8_t t[64];
        for (int j = 0; j < 16; j++)
            for (int q = 0; q < 4; q++) {
                int k = 4 * g + q;
                t[4 * j + q] = (int8_t)(k < KW ? j * sw + k * dw : 0);
            }
        idx[g] = _mm512_loadu_si512(t);
    }
    __mmask64 mks[DW_MAXB];
    __mmask16 m16s[DW_MAXB];
    int nb = (OW + 15) / 16;
    for (int v = 0; v < nb; v++) {
        int ow0 = 16 * v, nl = OW - ow0 < 16 ? OW - ow0 : 16;
        int base = ow0 * sw - c->p[2], lo = base < 0 ? -base : 0, hi = W - base < 64 ? W - base : 64;
        mks[v] = hi <= lo ? 0
                          : (hi == 64 ? ~(__mmask64)0 : (((__mmask64)1 << hi) - 1)) & ~(((__mmask64)1 << lo) - 1);
        m16s[v] = (__mmask16)((1u << nl) - 1u);
    }
    dwg d = {.H = H, .W = W, .OH = OH, .OW = OW, .sh = c->s[1], .sw = sw, .ph = c->p[1], .pw = c->p[2],
             .dh = c->d[1], .nb = nb, .idx = idx, .mks = mks, .m16s = m16s, .zrow = zrow};
    long jobs = (long)c->n * c->c_in;
    bool par = (double)jobs * OH * OW * KH * KW > 65536.0;
    dwjob j = {.a = {.c = c, .x = x, .w = w, .b = b, .m = m, .ep = ep, .y = y}, .d = &d, .idx = idx[0], .KH = KH,
               .KW = KW, .G4 = G4};
    dwf f;
    if (dw_flat_ok(c) && g_dw_flat) {
        dwf_make(c, &f);
        j.f = &f;
    }
    run_jobs(jobs, 0, par, dw_jobs, &j);
}

/* depthwise, strides 1 and 2: per output row, the kH input rows it reads widened to
   float once (zero padded left and right), then per 16 outputs one unmasked load and
   an FMA per tap. Other strides, or rows too wide for the row buffer: masked byte loads
   per tap. One (image, channel) plane per job. */
#define DW_ROWBUF 8192 /* floats */
/* depthwise()'s store of the integer sums a of nl outputs at output element i:
   (float)a * m, then the direct store or the epilogue (rp: the residual there) */
TGT static INL void dw_store(const cnn_s8_epilogue *ep, int ch, __m512i a, __m512 mo, __m512 db, __m128i lo,
                             __m128i hi, const float *rp, void *y, size_t i, int nl)
{
    __mmask16 mk = (__mmask16)((1u << nl) - 1u);
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a), mo);
    if (ep && ep->direct) {
        direct_store(f, db, lo, hi, y, i, mk);
        return;
    }
    store16(ep, y, i, epilogue(ep, ch, f, rp, mk), mk);
}

TGT static void depthwise(const cnn_conv_desc *c, const int8_t *x, const int8_t *w, const int32_t *b,
                          const float *m, const cnn_s8_epilogue *ep, float *y)
{
    int H = c->in[1], W = c->in[2], OH = c->out[1], OW = c->out[2], KH = c->k[1], KW = c->k[2];
    int sh = c->s[1], sw = c->s[2], ph = c->p[1], pw = c->p[2], dh = c->d[1], dw = c->d[2];
    /* a padded row: pw zeros, W values, zeros up to the last lane any vector reads */
    int OWv = (OW + 15) / 16 * 16;
    int RW = (OWv - 1) * sw + (KW - 1) * dw + 1 + 32;
    if (RW < pw + W) RW = pw + W;
    bool rows = (sw == 1 || sw == 2) && KH * RW <= DW_ROWBUF && KH * KW <= 64;
    long jobs = (long)c->n * c->c_in;
    bool par = (double)jobs * OH * OW * KH * KW > 65536.0;
#pragma omp parallel for schedule(static) if (par)
    for (long job = 0; job < jobs; job++) {
        int ch = (int)(job % c->c_in);
        const int8_t *xp = x + (size_t)job * H * W, *wp = w + (size_t)ch * KH * KW;
        size_t yp = (size_t)job * OH * OW; /* output element of the plane */
        const float *rp = ep && ep->res ? ep->res + (size_t)job * OH * OW : NULL;
        __m512i bo = _mm512_set1_epi32(b ? b[ch] : 0);
        __m512 mo = _mm512_set1_ps(m[ch]);
        const bool dir = ep && ep->direct;
        const __m512 dbias = dir && ep->bias ? _mm512_set1_ps(ep->bias[ch]) : _mm512_setzero_ps();
        const __m128i dlo = _mm_set1_epi8((char)(dir ? (int)ep->q_lo : 0)),
                      dhi = _mm_set1_epi8((char)(dir ? (int)ep->q_hi : 0));
        float wf[64];
        bool small = KH * KW <= 64;
        if (small)
            for (int t = 0; t < KH * KW; t++) wf[t] = (float)wp[t];
        if (rows) {
            float buf[DW_ROWBUF] __attribute__((aligned(64)));
            const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            for (int oh = 0; oh < OH; oh++) {
                for (int kh = 0; kh < KH; kh++) {
                    float *r = buf + (size_t)kh * RW;
                    int ih = oh * sh - ph + kh * dh;
                    if (ih < 0 || ih >= H) {
                        memset(r, 0, (size_t)RW * sizeof *r);
                        continue;
                    }
                    memset(r, 0, (size_t)pw * sizeof *r);
                    memset(r + pw + W, 0, (size_t)(RW - pw - W) * sizeof *r);
                    const int8_t *src = xp + (size_t)ih * W;
                    for (int i = 0; i < W; i += 16) {
                        int nl = W - i < 16 ? W - i : 16;
                        __m128i bt = _mm_maskz_loadu_epi8((__mmask16)((1u << nl) - 1u), src + i);
                        _mm512_mask_storeu_ps(r + pw + i, (__mmask16)((1u << nl) - 1u),
                                              _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bt)));
                    }
                }
                for (int ow0 = 0; ow0 < OW; ow0 += 16) {
                    int nl = OW - ow0 < 16 ? OW - ow0 : 16;
                    __m512 acc = _mm512_setzero_ps();
                    for (int kh = 0; kh < KH; kh++) {
                        const float *r = buf + (size_t)kh * RW + (size_t)ow0 * sw;
                        for (int kw = 0; kw < KW; kw++) {
                            __m512 xv;
                            if (sw == 1) xv = _mm512_loadu_ps(r + kw * dw);
                            else
                                xv = _mm512_permutex2var_ps(_mm512_loadu_ps(r + kw * dw), even,
                                                            _mm512_loadu_ps(r + kw * dw + 16));
                            acc = _mm512_fmadd_ps(xv, _mm512_set1_ps(wf[kh * KW + kw]), acc);
                        }
                    }
                    dw_store(ep, ch, _mm512_add_epi32(_mm512_cvtps_epi32(acc), bo), mo, dbias, dlo, dhi,
                             rp ? rp + (size_t)oh * OW + ow0 : NULL, y, yp + (size_t)oh * OW + ow0, nl);
                }
            }
            continue;
        }
        for (int oh = 0; oh < OH; oh++)
            for (int ow0 = 0; ow0 < OW; ow0 += 16) {
                int nl = OW - ow0 < 16 ? OW - ow0 : 16;
                __m512 acc = _mm512_setzero_ps();
                for (int kh = 0; kh < KH; kh++) {
                    int ih = oh * sh - ph + kh * dh;
                    if (ih < 0 || ih >= H) continue;
                    const int8_t *row = xp + (size_t)ih * W;
                    for (int kw = 0; kw < KW; kw++) {
                        __m128i bt = load_lanes(row, W, ow0 * sw - pw + kw * dw, sw, nl);
                        __m512 xv = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bt));
                        float wv = small ? wf[kh * KW + kw] : (float)wp[kh * KW + kw];
                        acc = _mm512_fmadd_ps(xv, _mm512_set1_ps(wv), acc);
                    }
                }
                dw_store(ep, ch, _mm512_add_epi32(_mm512_cvtps_epi32(acc), bo), mo, dbias, dlo, dhi,
                         rp ? rp + (size_t)oh * OW + ow0 : NULL, y, yp + (size_t)oh * OW + ow0, nl);
            }
    }
}
#endif

void cnn_vnni_s8_quantize(const float *x, size_t n, float s, int8_t *q)
{
#ifdef VNNI_OK
    if (cnn_vnni_s8_available()) {
        quantize_fast(x, n, s, q);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) q[i] = cnn_q8(x[i], s);
}

void cnn_vnni_s8_forward(const cnn_conv_desc *c, const int8_t *x, const int8_t *w, const int32_t *b,
                         const float *m, const cnn_s8_epilogue *ep0, float *y, void *scratch)
{
#ifdef VNNI_OK
    vep v = {.e = ep0 ? *ep0 : (cnn_s8_epilogue){0}};
    if (ep0 && ep0->q_out > 0.0f && !ep0->direct) v.q = q8v_make(ep0->q_out);
    const cnn_s8_epilogue *ep = ep0 ? &v.e : NULL;
    if (is_linear(c)) linear_s8(c, x, w, b, m, ep, y, scratch);
    else if (is_dw(c) && dw_vbmi_fits(c) && have_vbmi()) dw_vbmi(c, x, w, b, m, ep, y);
    else if (is_dw(c)) depthwise(c, x, w, b, m, ep, y);
    else dense(c, x, w, b, m, ep, y, scratch);
#else
    (void)c, (void)x, (void)w, (void)b, (void)m, (void)ep0, (void)y, (void)scratch;
#endif
}

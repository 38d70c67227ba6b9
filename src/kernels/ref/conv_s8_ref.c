/* Reference int8 convolution (1-3 spatial dims, any stride/padding/dilation/groups):
   direct loops with an int32 accumulator per output, the oracle for every int8
   kernel (docs/architecture.md, "int8 precision"). Plain C; OpenMP over
   (example, output channel) only, which changes no arithmetic: integer sums are
   exact in any order. */
#include "../../core/pool.h"
#include "ref.h"

size_t cnn_ref_conv_s8_scratch(const cnn_conv_desc *c)
{
    (void)c;
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
/* cnn_q8 on 16 lanes, operation for operation: the same division, clamps, NaN -> 0
   and 1.5 * 2^23 rounding, so the same integers as the scalar definition. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void q8_avx512(const float *x, size_t n,
                                                                             float s, int8_t *q)
{
    const __m512 vs = _mm512_set1_ps(s), hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    const __m512 rc = _mm512_set1_ps(12582912.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mk = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(mk, x + i), vs);
        __mmask16 ok = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
        v = _mm512_max_ps(_mm512_min_ps(v, hi), lo);
        v = _mm512_sub_ps(_mm512_add_ps(v, rc), rc);
        v = _mm512_maskz_mov_ps(ok, v);
        _mm_mask_storeu_epi8(q + i, mk, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
    }
}
static bool have_avx512bw(void)
{
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    return v == 1;
}
#else
static bool have_avx512bw(void) { return false; }
#endif

typedef struct q8_job {
    const float *x;
    size_t n;
    float s;
    int8_t *q;
} q8_job;

/* chunks [k0, k1) of 65536 elements */
static void q8_chunks(void *arg, long k0, long k1, int slot)
{
    (void)slot;
    const q8_job *j = arg;
    bool vec = have_avx512bw();
    for (long k = k0; k < k1; k++) {
        size_t lo = (size_t)k * 65536, hi = lo + 65536 < j->n ? lo + 65536 : j->n;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
        if (vec) {
            q8_avx512(j->x + lo, hi - lo, j->s, j->q + lo);
            continue;
        }
#endif
        for (size_t i = lo; i < hi; i++) j->q[i] = cnn_q8(j->x[i], j->s);
    }
    (void)vec;
}

/* on the library's pool (both backends' int8 nodes quantise their inputs here: an
   OpenMP barrier would wait for a descheduled thread on a busy machine); element-wise,
   so the same bytes for any split */
void cnn_quantize_s8(const float *x, size_t n, float s, int8_t *q)
{
    q8_job j = {.x = x, .n = n, .s = s, .q = q};
    cnn_parallel_range((long)((n + 65535) / 65536), 1, 0, q8_chunks, &j);
}

void cnn_quantize_s8_inplace(float *y, size_t n, float s)
{
    int8_t *q = (int8_t *)y;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    if (have_avx512bw()) { /* 16 floats read before their 16 bytes are stored */
        q8_avx512(y, n, s, q);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) q[i] = cnn_q8(y[i], s);
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
void cnn_s8_epilogue_apply(const cnn_conv_desc *c, const cnn_s8_epilogue *ep, float *y)
{
    if (!ep || (!ep->bias && !ep->scale && !ep->shift && !ep->res && !ep->act && !(ep->q_out > 0.0f) &&
                !ep->direct))
        return;
    size_t S = (size_t)c->out[0] * c->out[1] * c->out[2];
    long planes = (long)c->n * c->c_out;
    if (ep->direct) {
        /* y = (float)acc * m + bias, clamped to [q_lo, q_hi] (integers within +-127),
           rounded half to even by the 1.5 * 2^23 trick; then the bytes, in order on
           one thread (each lands on floats already read) */
#pragma omp parallel for schedule(static) if (planes * (long)S > 65536)
        for (long pl = 0; pl < planes; pl++) {
            int o = (int)(pl % c->c_out);
            float *yp = y + (size_t)pl * S;
            for (size_t i = 0; i < S; i++) {
                float v = yp[i];
                if (ep->bias) v = v + ep->bias[o];
                v = v > ep->q_hi ? ep->q_hi : v;
                v = v < ep->q_lo ? ep->q_lo : v;
                yp[i] = (v + 12582912.0f) - 12582912.0f;
            }
        }
        int8_t *q = (int8_t *)y;
        for (size_t i = 0; i < (size_t)planes * S; i++) q[i] = (int8_t)(int)y[i];
        return;
    }
#pragma omp parallel for schedule(static) if (planes * (long)S > 65536)
    for (long pl = 0; pl < planes; pl++) {
        int o = (int)(pl % c->c_out);
        float *yp = y + (size_t)pl * S;
        const float *rp = ep->res ? ep->res + (size_t)pl * S : NULL;
        for (size_t i = 0; i < S; i++) {
            float v = yp[i];
            if (ep->bias) v = v + ep->bias[o];
            if (ep->scale) v = v * ep->scale[o];
            if (ep->shift) v = v + ep->shift[o];
            if (rp) v = v + rp[i];
            if (ep->act == 1) v = v > 0.0f ? v : 0.0f;
            else if (ep->act == 2) {
                v = v < 0.0f ? 0.0f : v;
                v = v > 6.0f ? 6.0f : v;
            }
            yp[i] = v;
        }
    }
    if (ep->q_out > 0.0f) cnn_quantize_s8_inplace(y, (size_t)planes * S, ep->q_out);
}

void cnn_ref_conv_forward_s8(const cnn_conv_desc *c, const int8_t *x, const int8_t *w,
                             const int32_t *b, const float *m, const cnn_s8_epilogue *ep, float *y,
                             void *scratch)
{
    (void)scratch;
    int cg = c->c_in / c->groups, og = c->c_out / c->groups;
    size_t in_sp = (size_t)c->in[0] * c->in[1] * c->in[2];
    size_t out_sp = (size_t)c->out[0] * c->out[1] * c->out[2];
    size_t kvol = (size_t)c->k[0] * c->k[1] * c->k[2];
    long jobs = (long)c->n * c->c_out;
#pragma omp parallel for schedule(static)
    for (long job = 0; job < jobs; job++) {
        int n = (int)(job / c->c_out), o = (int)(job % c->c_out), grp = o / og;
        const int8_t *wo = w + (size_t)o * cg * kvol;
        float *yo = y + ((size_t)n * c->c_out + o) * out_sp;
        for (int od = 0; od < c->out[0]; od++)
            for (int oh = 0; oh < c->out[1]; oh++)
                for (int ow = 0; ow < c->out[2]; ow++) {
                    int32_t acc = b ? b[o] : 0;
                    for (int ci = 0; ci < cg; ci++) {
                        const int8_t *xc = x + ((size_t)n * c->c_in + (size_t)grp * cg + ci) * in_sp;
                        const int8_t *wc = wo + (size_t)ci * kvol;
                        for (int kd = 0; kd < c->k[0]; kd++) {
                            int id = od * c->s[0] - c->p[0] + kd * c->d[0];
                            if (id < 0 || id >= c->in[0]) continue;
                            for (int kh = 0; kh < c->k[1]; kh++) {
                                int ih = oh * c->s[1] - c->p[1] + kh * c->d[1];
                                if (ih < 0 || ih >= c->in[1]) continue;
                                for (int kw = 0; kw < c->k[2]; kw++) {
                                    int iw = ow * c->s[2] - c->p[2] + kw * c->d[2];
                                    if (iw < 0 || iw >= c->in[2]) continue;
                                    acc += (int32_t)xc[((size_t)id * c->in[1] + ih) * c->in[2] + iw] *
                                           (int32_t)wc[((size_t)kd * c->k[1] + kh) * c->k[2] + kw];
                                }
                            }
                        }
                    }
                    yo[((size_t)od * c->out[1] + oh) * c->out[2] + ow] = (float)acc * m[o];
                }
    }
    cnn_s8_epilogue_apply(c, ep, y);
}

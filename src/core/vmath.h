/* Vectorisable float sigmoid and tanh. libm's expf / tanhf are calls, which keep the
   element-wise loops around them scalar (~2.5 ns per element); these are inline
   arithmetic and selects only, so `#pragma omp simd` loops over them vectorise.
   exp: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, and Cephes' degree-7
   expf polynomial (e^r - 1 = r + r^2 P(r), ~1 ulp); 2^n is built in the exponent
   bits. Accuracy against libm (tests/ops/test_activation.c): a few ulp.
   Special values as torch: NaN -> NaN, sigmoid(-inf..-87.3) = 0, sigmoid(+large) = 1,
   tanh(+-large) = +-1, tanh(-0) = -0. */
#ifndef CNN_VMATH_H
#define CNN_VMATH_H
#include <stdint.h>
#include <string.h>

static inline uint32_t cnn_vm_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float cnn_vm_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* e^a - 1 = scale * p + (scale - 1) for a in [-87.3, 88.3] (callers clamp; NaN
   propagates through p). p = e^r - 1 keeps full relative precision near 0, which
   tanh needs for small inputs. */
static inline float cnn_vm_expm1_parts(float a, float *scale)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = a * 1.44269504088896341f + magic;
    float nf = t - magic;
    /* ln2 split in two: nf * 0.693359375 is exact for |n| < 2^15 */
    float r = a - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    int32_t n = (int32_t)(cnn_vm_bits(t) - cnn_vm_bits(magic)); /* low bits of t: n */
    *scale = cnn_vm_float((uint32_t)(n + 127) << 23);
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    return r + (r * r) * q;
}

/* 1 / (1 + e^-x), computed from e = e^-|x| <= 1 so nothing overflows. */
static inline float cnn_vm_sigmoid(float x)
{
    float a = -(x < 0.0f ? -x : x); /* -|x|; NaN stays NaN */
    int tiny = a < -87.3f;          /* e^a below the normal range: 0 */
    a = tiny ? -87.3f : a;
    float scale, p = cnn_vm_expm1_parts(a, &scale);
    float e = scale * p + scale; /* e^a = scale * (1 + p) */
    e = tiny ? 0.0f : e;
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e); /* e / (1 + e) for x < 0 */
}

/* tanh |x| = -m / (2 + m) with m = e^(-2|x|) - 1, then x's sign. */
static inline float cnn_vm_tanh(float x)
{
    uint32_t sign = cnn_vm_bits(x) & 0x80000000u;
    float a = -2.0f * cnn_vm_float(cnn_vm_bits(x) & 0x7fffffffu);
    a = a < -40.0f ? -40.0f : a; /* tanh is 1 in float well before |x| = 20 */
    float scale, p = cnn_vm_expm1_parts(a, &scale);
    float m = scale * p + (scale - 1.0f);
    float t = -m / (2.0f + m);
    return cnn_vm_float((cnn_vm_bits(t) & 0x7fffffffu) | sign);
}
#endif

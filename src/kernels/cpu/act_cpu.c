/* Activations, forward and backward: element-wise loops in chunks shared among threads
   (the pool; element-wise, so the results do not depend on the thread count), vectorised with
   `#pragma omp simd`; sigmoid and tanh through vmath.h's inline polynomials. Picked at
   load time: AVX-512 / AVX2 / baseline from one binary (CNN_CLONES). */
#include "../../core/clones.h"
#include <math.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "../../core/vmath.h"
#include "../../ops/ops_common.h"
#include "cnn.h"
#include "cpu_internal.h"

/* elements per parallel work item */
#define CHUNK ((size_t)16384)

/* hard-sigmoid with torch's constants: the (x + 3) / 6 form, bit for bit as before */
static bool hsig_default(float alpha, float beta) { return alpha == 1.0f / 6.0f && beta == 0.5f; }

/* clamp to [0, 6] with comparisons (NaN passes through, as torch.nn.Hardtanh): fminf /
   fmaxf are library calls without -ffast-math and kept these loops scalar */
static inline float clamp06(float v)
{
    v = v < 0.0f ? 0.0f : v;
    return v > 6.0f ? 6.0f : v;
}

/* sigmoid / tanh through vmath.h (inline, so the loops vectorise; libm's expf /
   tanhf calls kept them scalar at ~2.5 ns per element) */
CNN_CLONES static void sigmoid_apply(const float *x, float *y, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        y[i] = cnn_vm_sigmoid(x[i]);
}

CNN_CLONES static void tanh_apply(const float *x, float *y, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        y[i] = cnn_vm_tanh(x[i]);
}

/* cloned too: the fused epilogues call it on short rows, and its baseline build was
   SSE2 code (one in six samples of a MobileNet V2 profile); static, as a cloned
   function of the library's would export its resolver */
CNN_CLONES static void act_apply(const cnn_act_desc *a, const float *x, float *y, size_t n)
{
    const float alpha = a->alpha, beta = a->beta;
    switch (a->act) {
    case CNN_ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case CNN_ACT_RELU6:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = clamp06(x[i]);
        break;
    case CNN_ACT_SIGMOID: sigmoid_apply(x, y, n); break;
    case CNN_ACT_TANH: tanh_apply(x, y, n); break;
    case CNN_ACT_HARDSWISH:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] * clamp06(x[i] + 3.0f) / 6.0f;
        break;
    case CNN_ACT_HARDSIGMOID:
        if (hsig_default(alpha, beta)) {
#pragma omp simd
            for (size_t i = 0; i < n; i++) y[i] = clamp06(x[i] + 3.0f) / 6.0f;
        } else {
            for (size_t i = 0; i < n; i++) {
                float t = alpha * x[i] + beta;
                t = t < 0.0f ? 0.0f : t;
                y[i] = t > 1.0f ? 1.0f : t;
            }
        }
        break;
    case CNN_ACT_LEAKY_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : x[i] * alpha;
        break;
    case CNN_ACT_ELU:
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
        break;
    case CNN_ACT_CLIP: /* comparisons: NaN passes through, as torch.clamp */
        for (size_t i = 0; i < n; i++) {
            float v = x[i] < alpha ? alpha : x[i];
            y[i] = v > beta ? beta : v;
        }
        break;
    default:
        for (size_t i = 0; i < n; i++) y[i] = x[i];
        break;
    }
}

void cnn_cpu_act_apply(const cnn_act_desc *a, const float *x, float *y, size_t n) { act_apply(a, x, y, n); }

typedef struct {
    const cnn_act_desc *a;
    const float *x, *y, *dy;
    float *out;
    size_t len;
} act_args;

CNN_POOL_ITEM(act_fwd_chunk, act_args, p, c)
{
    size_t lo = (size_t)c * CHUNK, m = CNN_MIN(CHUNK, p->len - lo);
    cnn_cpu_act_apply(p->a, p->x + lo, p->out + lo, m);
}

void cnn_cpu_act_forward(const cnn_act_desc *a, const float *x, float *y, size_t len)
{
    size_t chunks = (len + CHUNK - 1) / CHUNK;
    act_args p = {a, x, NULL, NULL, y, len};
    cnn_parallel_for_n((long)chunks, cnn_threads_for((double)len), act_fwd_chunk, &p);
}

/* dx[0, len) += dy * act'(x) (y = act(x) where the derivative is cheaper from it). */
CNN_CLONES static void act_grad(const cnn_act_desc *a, const float *x, const float *y,
                                const float *dy, float *dx, size_t len)
{
    const int act = a->act;
    const float alpha = a->alpha, beta = a->beta;
    /* loads stay unconditional so the selects vectorise (a load under a condition may
       not be speculated) */
    switch (act) {
    case CNN_ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float g = dy[i], v = x[i];
            dx[i] += v > 0.0f ? g : 0.0f;
        }
        break;
    case CNN_ACT_RELU6: /* PyTorch: gradient 0 at both ends (x <= 0, x >= 6) */
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float g = dy[i], v = x[i];
            dx[i] += (v > 0.0f) & (v < 6.0f) ? g : 0.0f;
        }
        break;
    case CNN_ACT_SIGMOID:
#pragma omp simd
        for (size_t i = 0; i < len; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case CNN_ACT_TANH:
#pragma omp simd
        for (size_t i = 0; i < len; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    case CNN_ACT_HARDSWISH: /* PyTorch: 0 below -3, 1 above 3, (2x+3)/6 between */
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float v = x[i], g = dy[i];
            float d = v < -3.0f ? 0.0f : (v > 3.0f ? 1.0f : (2.0f * v + 3.0f) / 6.0f);
            dx[i] += g * d;
        }
        break;
    case CNN_ACT_HARDSIGMOID:
        if (hsig_default(alpha, beta)) {
#pragma omp simd
            for (size_t i = 0; i < len; i++) {
                float v = x[i], g = dy[i] / 6.0f;
                dx[i] += (v > -3.0f) & (v < 3.0f) ? g : 0.0f;
            }
        } else { /* alpha where 0 < alpha x + beta < 1 */
            for (size_t i = 0; i < len; i++) {
                float t = alpha * x[i] + beta;
                dx[i] += (t > 0.0f) & (t < 1.0f) ? dy[i] * alpha : 0.0f;
            }
        }
        break;
    case CNN_ACT_LEAKY_RELU: /* torch: slope alpha at x <= 0 */
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float g = dy[i], v = x[i];
            dx[i] += v > 0.0f ? g : g * alpha;
        }
        break;
    case CNN_ACT_ELU: /* alpha e^x = y + alpha below 0 */
        for (size_t i = 0; i < len; i++) dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * (y[i] + alpha);
        break;
    case CNN_ACT_CLIP: /* torch.clamp: gradient where min <= x <= max */
        for (size_t i = 0; i < len; i++) {
            float v = x[i];
            dx[i] += (v >= alpha) & (v <= beta) ? dy[i] : 0.0f;
        }
        break;
    default:
        break;
    }
}

CNN_POOL_ITEM(act_bwd_chunk, act_args, p, c)
{
    size_t lo = (size_t)c * CHUNK, m = CNN_MIN(CHUNK, p->len - lo);
    act_grad(p->a, p->x + lo, p->y + lo, p->dy + lo, p->out + lo, m);
}

void cnn_cpu_act_backward(const cnn_act_desc *a, const float *x, const float *y, const float *dy,
                          float *dx, size_t len)
{
    size_t chunks = (len + CHUNK - 1) / CHUNK;
    act_args p = {a, x, y, dy, dx, len};
    cnn_parallel_for_n((long)chunks, cnn_threads_for((double)len), act_bwd_chunk, &p);
}

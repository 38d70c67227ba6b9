/* Per-element arithmetic of the general tensor ops, one definition for every backend
   (docs/architecture.md, "Kernels"): ref calls these in its plain loops, cpu in its
   vectorised and threaded ones, so the two differ in loop order only. */
#ifndef CNN_KERNELS_TENSOR_MATH_H
#define CNN_KERNELS_TENSOR_MATH_H
#include <math.h>
#include <stdint.h>

#include "cnn.h"

/* max / min: a NaN operand wins (torch.maximum / minimum) */
static inline float cnn_k_max(float x, float y)
{
    return (x > y || isnan(x)) ? x : y;
}
static inline float cnn_k_min(float x, float y)
{
    return (x < y || isnan(x)) ? x : y;
}

static inline float cnn_k_binary(cnn_binary_op op, float x, float v)
{
    switch (op) {
    case CNN_BIN_ADD: return x + v;
    case CNN_BIN_SUB: return x - v;
    case CNN_BIN_MUL: return x * v;
    case CNN_BIN_DIV: return x / v;
    case CNN_BIN_MAX: return cnn_k_max(x, v);
    case CNN_BIN_MIN: return cnn_k_min(x, v);
    case CNN_BIN_POW: return powf(x, v);
    }
    return 0.0f;
}

/* d out / d operand k at one element, times g (x = a, v = b, z = out) */
static inline float cnn_k_binary_grad(cnn_binary_op op, int k, float g, float x, float v, float z)
{
    switch (op) {
    case CNN_BIN_ADD: return g;
    case CNN_BIN_SUB: return k ? -g : g;
    case CNN_BIN_MUL: return k ? g * x : g * v;
    case CNN_BIN_DIV: return k ? -g * x / (v * v) : g / v;
    case CNN_BIN_MAX:
        if (x == v) return g * 0.5f;
        return (k ? v < x : x < v) ? 0.0f : g;
    case CNN_BIN_MIN:
        if (x == v) return g * 0.5f;
        return (k ? v > x : x > v) ? 0.0f : g;
    case CNN_BIN_POW:
        if (k) return (x == 0.0f && v >= 0.0f) ? 0.0f : g * z * logf(x);
        return v == 0.0f ? 0.0f : g * v * powf(x, v - 1.0f);
    }
    return 0.0f;
}

static inline float cnn_k_unary(cnn_unary_op op, float v)
{
    switch (op) {
    case CNN_UN_NEG: return -v;
    case CNN_UN_ABS: return fabsf(v);
    case CNN_UN_EXP: return expf(v);
    case CNN_UN_LOG: return logf(v);
    case CNN_UN_SQRT: return sqrtf(v);
    case CNN_UN_RECIPROCAL: return 1.0f / v;
    }
    return 0.0f;
}

/* g * d op / d x at x = v, z = op(v) */
static inline float cnn_k_unary_grad(cnn_unary_op op, float g, float v, float z)
{
    switch (op) {
    case CNN_UN_NEG: return -g;
    case CNN_UN_ABS: return v > 0.0f ? g : (v < 0.0f ? -g : 0.0f);
    case CNN_UN_EXP: return g * z;
    case CNN_UN_LOG: return g / v;
    case CNN_UN_SQRT: return g / (2.0f * z);
    case CNN_UN_RECIPROCAL: return -g * z * z;
    }
    return 0.0f;
}

/* pad: source index along an axis of size d for output position o, `before` padded
   positions first (-1: the constant). Reflect mirrors without repeating the edge and
   keeps reflecting past the axis, as numpy.pad. */
static inline int64_t cnn_k_pad_src(cnn_pad_mode mode, int64_t o, int64_t before, int64_t d)
{
    int64_t s = o - before;
    if (s >= 0 && s < d) return s;
    if (mode == CNN_PAD_CONSTANT) return -1;
    if (mode == CNN_PAD_EDGE) return s < 0 ? 0 : d - 1;
    int64_t period = 2 * (d - 1); /* reflect: ... 2 1 [0 1 2 ... d-1] d-2 ... */
    s %= period;
    if (s < 0) s += period;
    return s < d ? s : period - s;
}
#endif

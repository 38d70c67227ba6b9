/* Activations, plain scalar C (the oracle): one function per element, straight from
   the definitions in include/cnn.h (torch.nn's). Sigmoid, tanh and ELU go through
   double libm, so they are correctly rounded or nearly. */
#include <math.h>

#include "cnn.h"
#include "ref.h"

static float act1(const cnn_act_desc *a, float x)
{
    switch (a->act) {
    case CNN_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case CNN_ACT_RELU6: return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x); /* NaN passes */
    case CNN_ACT_SIGMOID: return (float)(1.0 / (1.0 + exp(-(double)x)));
    case CNN_ACT_TANH: return (float)tanh((double)x);
    case CNN_ACT_HARDSWISH: {
        float t = x + 3.0f;
        t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
        return x * t / 6.0f;
    }
    case CNN_ACT_HARDSIGMOID:
        if (a->alpha == 1.0f / 6.0f && a->beta == 0.5f) { /* torch's (x + 3) / 6 */
            float t = x + 3.0f;
            t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
            return t / 6.0f;
        } else {
            float t = a->alpha * x + a->beta;
            return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
        }
    case CNN_ACT_LEAKY_RELU: return x > 0.0f ? x : x * a->alpha;
    case CNN_ACT_ELU: return x > 0.0f ? x : (float)((double)a->alpha * expm1((double)x));
    case CNN_ACT_CLIP: { /* comparisons: NaN passes through, as torch.clamp */
        float v = x < a->alpha ? a->alpha : x;
        return v > a->beta ? a->beta : v;
    }
    default: return x;
    }
}

/* d act / d x at input x, output y (as torch defines it at the kinks) */
static float dact1(const cnn_act_desc *a, float x, float y)
{
    switch (a->act) {
    case CNN_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case CNN_ACT_RELU6: return x > 0.0f && x < 6.0f ? 1.0f : 0.0f; /* 0 at both ends */
    case CNN_ACT_SIGMOID: return y * (1.0f - y);
    case CNN_ACT_TANH: return 1.0f - y * y;
    case CNN_ACT_HARDSWISH: return x < -3.0f ? 0.0f : (x > 3.0f ? 1.0f : (2.0f * x + 3.0f) / 6.0f);
    case CNN_ACT_HARDSIGMOID:
        if (a->alpha == 1.0f / 6.0f && a->beta == 0.5f) { /* torch's (x + 3) / 6 */
            return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f;
        } else {
            float t = a->alpha * x + a->beta;
            return t > 0.0f && t < 1.0f ? a->alpha : 0.0f;
        }
    case CNN_ACT_LEAKY_RELU: return x > 0.0f ? 1.0f : a->alpha; /* slope alpha at x <= 0 */
    case CNN_ACT_ELU: return x > 0.0f ? 1.0f : y + a->alpha;    /* alpha e^x = y + alpha */
    case CNN_ACT_CLIP: return x >= a->alpha && x <= a->beta ? 1.0f : 0.0f;
    default: return 0.0f;
    }
}

void cnn_ref_act_forward(const cnn_act_desc *a, const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = act1(a, x[i]);
}

void cnn_ref_act_backward(const cnn_act_desc *a, const float *x, const float *y, const float *dy,
                          float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * dact1(a, x[i], y[i]);
}

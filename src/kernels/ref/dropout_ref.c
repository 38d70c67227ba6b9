/* Reference dropout: applies a keep mask the op drew (docs/architecture.md, "Kernels"). */
#include "ref.h"

void cnn_ref_dropout_forward(size_t n, const float *x, const uint8_t *keep, float scale, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = keep[i] ? x[i] * scale : 0.0f;
}

void cnn_ref_dropout_backward(size_t n, const float *dy, const uint8_t *keep, float scale,
                              float *dx)
{
    for (size_t i = 0; i < n; i++)
        if (keep[i]) dx[i] += dy[i] * scale;
}

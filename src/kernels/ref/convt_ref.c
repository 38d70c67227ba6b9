/* Reference kernels of a per-channel bias on (N, C, plane) tensors, as transposed
   convolutions add it after their data-gradient convolution (docs/architecture.md,
   "Kernels"). */
#include "ref.h"

void cnn_ref_bias_add(size_t n, size_t c, size_t plane, const float *bias, float *y)
{
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < c; o++) {
            float *yp = y + (i * c + o) * plane;
            for (size_t q = 0; q < plane; q++)
                yp[q] += bias[o];
        }
}

void cnn_ref_bias_grad(size_t n, size_t c, size_t plane, const float *dy, float *db)
{
    for (size_t o = 0; o < c; o++) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) {
            const float *dp = dy + (i * c + o) * plane;
            for (size_t q = 0; q < plane; q++)
                s += dp[q];
        }
        db[o] += (float)s;
    }
}

/* Reference kernels of the per-channel ops (mul_channel, mul_spatial, channel_mean /
   max, channel_shuffle) and the block copies behind concat, channel_slice, reshape,
   constant and linear's bias: plain loops in index order (docs/architecture.md,
   "Kernels"). NC... layouts: `plane` elements per channel. */
#include <string.h>

#include "ref.h"

void cnn_ref_mul_channel_forward(size_t rows, size_t plane, const float *x, const float *s,
                                 float *y)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < plane; k++)
            y[r * plane + k] = x[r * plane + k] * s[r];
}

void cnn_ref_mul_channel_backward(size_t rows, size_t plane, const float *x, const float *s,
                                  const float *dy, float *dx, float *ds)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * plane, *gr = dy + r * plane;
        if (ds) {
            double acc = 0.0;
            for (size_t k = 0; k < plane; k++)
                acc += (double)gr[k] * xr[k];
            ds[r] += (float)acc;
        }
        if (dx)
            for (size_t k = 0; k < plane; k++)
                dx[r * plane + k] += gr[k] * s[r];
    }
}

void cnn_ref_mul_spatial_forward(size_t n, size_t c, size_t plane, const float *x, const float *s,
                                 float *y)
{
    for (size_t b = 0; b < n; b++)
        for (size_t ch = 0; ch < c; ch++) {
            size_t o = (b * c + ch) * plane;
            for (size_t k = 0; k < plane; k++)
                y[o + k] = x[o + k] * s[b * plane + k];
        }
}

void cnn_ref_mul_spatial_backward(size_t n, size_t c, size_t plane, const float *x, const float *s,
                                  const float *dy, float *dx, float *ds)
{
    for (size_t b = 0; b < n; b++) {
        const float *sb = s + b * plane;
        if (ds)
            for (size_t k = 0; k < plane; k++) { /* over channels at one position */
                double acc = 0.0;
                for (size_t ch = 0; ch < c; ch++) {
                    size_t o = (b * c + ch) * plane + k;
                    acc += (double)dy[o] * x[o];
                }
                ds[b * plane + k] += (float)acc;
            }
        if (dx)
            for (size_t ch = 0; ch < c; ch++) {
                size_t o = (b * c + ch) * plane;
                for (size_t k = 0; k < plane; k++)
                    dx[o + k] += dy[o + k] * sb[k];
            }
    }
}

void cnn_ref_channel_mean_forward(size_t n, size_t c, size_t plane, const float *x, float *y)
{
    for (size_t b = 0; b < n; b++) {
        const float *xb = x + b * c * plane;
        float *yb = y + b * plane;
        for (size_t k = 0; k < plane; k++)
            yb[k] = 0.0f;
        for (size_t ch = 0; ch < c; ch++)
            for (size_t k = 0; k < plane; k++)
                yb[k] += xb[ch * plane + k];
        for (size_t k = 0; k < plane; k++)
            yb[k] /= (float)c;
    }
}

void cnn_ref_channel_mean_backward(size_t n, size_t c, size_t plane, const float *dy, float *dx)
{
    float inv = 1.0f / (float)c;
    for (size_t b = 0; b < n; b++)
        for (size_t ch = 0; ch < c; ch++) {
            float *d = dx + (b * c + ch) * plane;
            const float *g = dy + b * plane;
            for (size_t k = 0; k < plane; k++)
                d[k] += g[k] * inv;
        }
}

void cnn_ref_channel_max_forward(size_t n, size_t c, size_t plane, const float *x, float *y,
                                 int32_t *arg)
{
    for (size_t b = 0; b < n; b++)
        for (size_t k = 0; k < plane; k++) {
            const float *xk = x + b * c * plane + k;
            float m = xk[0];
            int32_t am = 0;
            for (size_t ch = 1; ch < c; ch++)
                if (xk[ch * plane] > m) { /* strictly: the first of equals stays */
                    m = xk[ch * plane];
                    am = (int32_t)ch;
                }
            y[b * plane + k] = m;
            arg[b * plane + k] = am;
        }
}

void cnn_ref_channel_max_backward(size_t n, size_t c, size_t plane, const int32_t *arg,
                                  const float *dy, float *dx)
{
    for (size_t b = 0; b < n; b++)
        for (size_t k = 0; k < plane; k++) {
            size_t i = b * plane + k;
            dx[(b * c + (size_t)arg[i]) * plane + k] += dy[i];
        }
}

void cnn_ref_channel_shuffle_forward(size_t n, size_t c, size_t groups, size_t plane,
                                     const float *x, float *y)
{
    size_t cg = c / groups;
    for (size_t b = 0; b < n; b++)
        for (size_t k = 0; k < groups; k++)
            for (size_t i = 0; i < cg; i++)
                memcpy(y + (b * c + i * groups + k) * plane, x + (b * c + k * cg + i) * plane,
                       plane * sizeof(float));
}

void cnn_ref_channel_shuffle_backward(size_t n, size_t c, size_t groups, size_t plane,
                                      const float *dy, float *dx)
{
    size_t cg = c / groups;
    for (size_t b = 0; b < n; b++)
        for (size_t k = 0; k < groups; k++)
            for (size_t i = 0; i < cg; i++) {
                float *d = dx + (b * c + k * cg + i) * plane;
                const float *g = dy + (b * c + i * groups + k) * plane;
                for (size_t t = 0; t < plane; t++)
                    d[t] += g[t];
            }
}

void cnn_ref_copy_blocks(size_t nb, size_t len, const float *src, size_t ss, float *dst, size_t ds)
{
    for (size_t i = 0; i < nb; i++)
        if (src + i * ss != dst + i * ds) memcpy(dst + i * ds, src + i * ss, len * sizeof(float));
}

void cnn_ref_add_blocks(size_t nb, size_t len, const float *src, size_t ss, float *dst, size_t ds)
{
    for (size_t i = 0; i < nb; i++) {
        const float *s = src + i * ss;
        float *d = dst + i * ds;
        for (size_t k = 0; k < len; k++)
            d[k] += s[k];
    }
}

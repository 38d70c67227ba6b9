/* Reference local response normalisation (torch.nn.LocalResponseNorm): channels
   outside 0..c-1 count as zero, size/2 before and (size-1)/2 after. */
#include <math.h>

#include "../../core/core.h"
#include "ref.h"

void cnn_ref_lrn_forward(const cnn_lrn_desc *d, const float *x, float *y, float *sc)
{
    const int C = d->c;
    const size_t S = d->s;
    const int before = d->size / 2, after = (d->size - 1) / 2;
    const float scale = d->alpha / (float)d->size;
    for (int i = 0; i < d->n; i++) {
        const float *xi = x + (size_t)i * C * S;
        float *yi = y + (size_t)i * C * S, *si = sc + (size_t)i * C * S;
        for (int c = 0; c < C; c++) {
            int lo = CNN_MAX(c - before, 0), hi = CNN_MIN(c + after, C - 1);
            for (size_t p = 0; p < S; p++) {
                float sum = 0.0f;
                for (int q = lo; q <= hi; q++) {
                    float v = xi[(size_t)q * S + p];
                    sum += v * v;
                }
                float s = d->k + scale * sum;
                si[(size_t)c * S + p] = s;
                yi[(size_t)c * S + p] = xi[(size_t)c * S + p] * powf(s, -d->beta);
            }
        }
    }
}

/* dx_j = dy_j s_j^-beta - 2 alpha beta / size * x_j * sum_{c: j in window(c)} dy_c y_c / s_c,
   where j in window(c) <=> j - (size-1)/2 <= c <= j + size/2. */
void cnn_ref_lrn_backward(const cnn_lrn_desc *d, const float *x, const float *y, const float *sc,
                          const float *dy, float *dx, float *t)
{
    const int C = d->c;
    const size_t S = d->s;
    const int before = d->size / 2, after = (d->size - 1) / 2;
    const float coef = 2.0f * d->alpha * d->beta / (float)d->size;
    for (int i = 0; i < d->n; i++) {
        size_t base = (size_t)i * C * S;
        for (size_t e = 0; e < (size_t)C * S; e++)
            t[e] = dy[base + e] * y[base + e] / sc[base + e];
        for (int j = 0; j < C; j++) {
            int lo = CNN_MAX(j - after, 0), hi = CNN_MIN(j + before, C - 1);
            for (size_t p = 0; p < S; p++) {
                float sum = 0.0f;
                for (int c = lo; c <= hi; c++)
                    sum += t[(size_t)c * S + p];
                size_t e = base + (size_t)j * S + p;
                dx[e] += dy[e] * powf(sc[e], -d->beta) - coef * x[e] * sum;
            }
        }
    }
}

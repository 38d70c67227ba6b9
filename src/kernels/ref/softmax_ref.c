/* Reference softmax / log-softmax along the middle axis of (outer, k, s), and the
   cross-entropy loss. Max-subtracted, sums of exponentials in double. */
#include <math.h>

#include "ref.h"

void cnn_ref_softmax_forward(int64_t outer, int64_t K, int64_t S, bool log_, const float *x,
                             float *y)
{
    for (int64_t i = 0; i < outer; i++) {
        const float *xi = x + i * K * S;
        float *yi = y + i * K * S;
        for (int64_t p = 0; p < S; p++) {
            float m = xi[p];
            for (int64_t k = 1; k < K; k++)
                m = fmaxf(m, xi[k * S + p]);
            double sum = 0.0;
            for (int64_t k = 0; k < K; k++) {
                float e = expf(xi[k * S + p] - m);
                if (!log_) yi[k * S + p] = e;
                sum += e;
            }
            if (log_) {
                float ls = (float)log(sum);
                for (int64_t k = 0; k < K; k++)
                    yi[k * S + p] = (xi[k * S + p] - m) - ls;
            } else {
                float inv = (float)(1.0 / sum);
                for (int64_t k = 0; k < K; k++)
                    yi[k * S + p] *= inv;
            }
        }
    }
}

void cnn_ref_softmax_backward(int64_t outer, int64_t K, int64_t S, bool log_, const float *y,
                              const float *dy, float *dx)
{
    for (int64_t i = 0; i < outer; i++) {
        const size_t base = (size_t)(i * K * S);
        for (int64_t p = 0; p < S; p++) {
            double dot = 0.0;
            for (int64_t k = 0; k < K; k++) {
                size_t e = base + (size_t)(k * S + p);
                dot += log_ ? (double)dy[e] : (double)dy[e] * y[e];
            }
            for (int64_t k = 0; k < K; k++) {
                size_t e = base + (size_t)(k * S + p);
                if (log_)
                    dx[e] += dy[e] - expf(y[e]) * (float)dot;
                else
                    dx[e] += y[e] * (dy[e] - (float)dot);
            }
        }
    }
}

/* Per example: one expf per logit into p, scaled by 1 / sum afterwards;
   loss = (1 - eps) (lse - z_y) - eps / K * sum_k log p_k, sums in double. */
float cnn_ref_cross_entropy_forward(int n, int K, float smoothing, const float *z,
                                    const float *labels, float *p)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * K;
        float *pi = p + (size_t)i * K;
        int y = (int)labels[i];
        float m = zi[0];
        for (int k = 1; k < K; k++)
            m = zi[k] > m ? zi[k] : m;
        double s = 0.0, sz = 0.0;
        for (int k = 0; k < K; k++) {
            float e = expf(zi[k] - m);
            pi[k] = e;
            s += e;
            sz += zi[k];
        }
        double lse = (double)m + log(s);
        float inv = (float)(1.0 / s);
        for (int k = 0; k < K; k++)
            pi[k] *= inv;
        double mean_logp = sz - (double)K * lse; /* sum_k log p_k */
        double nll = lse - (double)zi[y];
        total += (1.0 - smoothing) * nll - smoothing * mean_logp / K;
    }
    return (float)(total / n);
}

void cnn_ref_cross_entropy_backward(int n, int K, float smoothing, float scale, const float *p,
                                    const float *labels, float *dz)
{
    const float off = smoothing / (float)K;
    for (int i = 0; i < n; i++) {
        int y = (int)labels[i];
        for (int k = 0; k < K; k++) {
            float q = off + (k == y ? 1.0f - smoothing : 0.0f);
            dz[(size_t)i * K + k] += scale * (p[(size_t)i * K + k] - q);
        }
    }
}

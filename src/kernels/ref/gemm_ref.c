/* Reference GEMM: plain loops ordered so the innermost one runs over contiguous
   memory. `omp simd` lets the compiler vectorise them, the dot products included
   (a reduction it may reorder: float rounding only). Row-major,
   C = alpha * op(A) op(B) + beta * C. */
#include "ref.h"

void cnn_ref_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++) {
        float *ci = c + (size_t)i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < n; j++) ci[j] = 0.0f;
        else if (beta != 1.0f)
            for (int j = 0; j < n; j++) ci[j] *= beta;
    }
    if (!trans_b) {
        /* C[i, :] += A(i, p) * B[p, :] */
        for (int i = 0; i < m; i++) {
            float *ci = c + (size_t)i * ldc;
            for (int p = 0; p < k; p++) {
                float av = alpha * (trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]);
                if (av == 0.0f) continue;
                const float *bp = b + (size_t)p * ldb;
#pragma omp simd
                for (int j = 0; j < n; j++) ci[j] += av * bp[j];
            }
        }
    } else {
        /* C[i, j] += dot(A(i, :), B[j, :]) */
        for (int i = 0; i < m; i++) {
            float *ci = c + (size_t)i * ldc;
            for (int j = 0; j < n; j++) {
                const float *bj = b + (size_t)j * ldb;
                float acc = 0.0f;
                if (!trans_a) {
                    const float *ai = a + (size_t)i * lda;
#pragma omp simd reduction(+ : acc)
                    for (int p = 0; p < k; p++) acc += ai[p] * bj[p];
                } else {
#pragma omp simd reduction(+ : acc)
                    for (int p = 0; p < k; p++) acc += a[(size_t)p * lda + i] * bj[p];
                }
                ci[j] += alpha * acc;
            }
        }
    }
}

/* Row-major SGEMM, C = alpha * op(A) op(B) + beta * C, for the cpu backend.
   Every C element is computed by the same sequence of fmaf() steps whatever M, the
   tile it falls in, the thread count or the ISA clone: a layer's output for one
   example does not depend on the batch it runs in (tests/graph checks this bit for
   bit). dnnl_sgemm does not give that (its M = 1 path differs), so this kernel is
   used instead; its speed on the model zoo's linear layers is in bench/RESULTS.md.
     op(B) = B   : C[i, j..j+32) accumulates A(i, p) * B[p, j..) over p in order,
                   4 rows at a time sharing the B loads.
     op(B) = B^T : C[i, j] = 16-lane dot product of A(i, :) and B[j, :], lanes summed
                   in a fixed tree. */
#include "../../core/clones.h"
#include <math.h>

#include "cpu_internal.h"

void cnn_ref_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

#define JB 32
#define RB 4
#define LANES 16

static inline float store(float acc, float alpha, float beta, float old)
{
    return beta == 0.0f ? alpha * acc : alpha * acc + beta * old;
}

/* Rows [i0, i0 + nr) x columns [j0, j0 + nj) of C, op(B) = B; nr <= RB, nj <= JB. */
static inline __attribute__((always_inline)) void tile_nn(int ta, int nr, int nj, int k, float alpha,
                                                           const float *a, int lda, const float *b,
                                                           int ldb, float beta, float *c, int ldc)
{
    float acc[RB][JB] = {{0}};
    for (int p = 0; p < k; p++) {
        const float *bp = b + (size_t)p * ldb;
        for (int r = 0; r < nr; r++) {
            float av = ta ? a[(size_t)p * lda + r] : a[(size_t)r * lda + p];
            if (nj == JB) {
#pragma omp simd
                for (int l = 0; l < JB; l++) acc[r][l] = fmaf(av, bp[l], acc[r][l]);
            } else {
                for (int l = 0; l < nj; l++) acc[r][l] = fmaf(av, bp[l], acc[r][l]);
            }
        }
    }
    for (int r = 0; r < nr; r++)
        for (int l = 0; l < nj; l++)
            c[(size_t)r * ldc + l] = store(acc[r][l], alpha, beta, c[(size_t)r * ldc + l]);
}

CNN_CLONES static void gemm_nn(int ta, int m, int n, int k, float alpha, const float *a, int lda,
                           const float *b, int ldb, float beta, float *c, int ldc)
{
    int mb = (m + RB - 1) / RB, nb = (n + JB - 1) / JB;
    long tiles = (long)mb * nb;
    double work = (double)m * n * k;
#pragma omp parallel for schedule(static) if (work > 1e5)
    for (long t = 0; t < tiles; t++) {
        int i0 = (int)(t / nb) * RB, j0 = (int)(t % nb) * JB;
        int nr = m - i0 < RB ? m - i0 : RB, nj = n - j0 < JB ? n - j0 : JB;
        const float *ai = ta ? a + i0 : a + (size_t)i0 * lda;
        float *ct = c + (size_t)i0 * ldc + j0;
        if (nr == RB && nj == JB)
            tile_nn(ta, RB, JB, k, alpha, ai, lda, b + j0, ldb, beta, ct, ldc);
        else
            tile_nn(ta, nr, nj, k, alpha, ai, lda, b + j0, ldb, beta, ct, ldc);
    }
}

/* Fixed-order sum of the 16 lanes. */
static inline float lanes_sum(const float *v)
{
    float s8[8], s4[4];
    for (int l = 0; l < 8; l++) s8[l] = v[l] + v[l + 8];
    for (int l = 0; l < 4; l++) s4[l] = s8[l] + s8[l + 4];
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

CNN_CLONES static void gemm_nt(int ta, int m, int n, int k, float alpha, const float *a, int lda,
                           const float *b, int ldb, float beta, float *c, int ldc)
{
    double work = (double)m * n * k;
    int kv = k / LANES * LANES;
#pragma omp parallel for schedule(static) if (work > 1e5)
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            const float *bj = b + (size_t)j * ldb;
            float acc[LANES] = {0};
            if (!ta) {
                const float *ai = a + (size_t)i * lda;
                for (int p = 0; p < kv; p += LANES)
#pragma omp simd
                    for (int l = 0; l < LANES; l++) acc[l] = fmaf(ai[p + l], bj[p + l], acc[l]);
                for (int p = kv; p < k; p++) acc[p - kv] = fmaf(ai[p], bj[p], acc[p - kv]);
            } else {
                for (int p = 0; p < kv; p += LANES)
                    for (int l = 0; l < LANES; l++)
                        acc[l] = fmaf(a[(size_t)(p + l) * lda + i], bj[p + l], acc[l]);
                for (int p = kv; p < k; p++)
                    acc[p - kv] = fmaf(a[(size_t)p * lda + i], bj[p], acc[p - kv]);
            }
            float *cij = c + (size_t)i * ldc + j;
            *cij = store(lanes_sum(acc), alpha, beta, *cij);
        }
    }
}

void cnn_cpu_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        cnn_ref_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (trans_b)
        gemm_nt(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        gemm_nn(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

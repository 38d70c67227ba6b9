/* Row-major SGEMM, C = alpha * op(A) op(B) + beta * C, for the cpu backend.
   Every C element is computed by the same sequence of fmaf() steps whatever M, the
   tile it falls in, the thread count or the ISA clone: a layer's output for one
   example does not depend on the batch it runs in (tests/graph checks this bit for
   bit). dnnl_sgemm does not give that (its M = 1 path differs), so this kernel is
   used instead; its speed on the model zoo's linear layers is in bench/RESULTS.md.
     op(B) = B   : C[i, j..j+32) accumulates A(i, p) * B[p, j..) over p in order,
                   4 rows at a time sharing the B loads; tiles in column-panel order
                   when B is the larger operand.
     op(B) = B^T : C[i, j] = 16-lane dot product of A(i, :) and B[j, :], lanes summed
                   in a fixed tree; 4 x 4 blocks of such products share their loads,
                   column-block major (a linear layer's weight is read from memory
                   once per pass, not once per example). */
#include "../../core/clones.h"
#include <math.h>

#include "../ref/ref.h"
#include "cpu_internal.h"

#define JB 32
#define RB 4
#define LANES 16
#define NT 4 /* gemm_nt register block: NT x NT dot products */

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
    /* when B is the big operand (k > m: a linear layer's dx, whose B is the weight),
       column-panel major: consecutive tiles (one thread's share) reuse the k x 32 panel
       of B from cache across every row block, so it streams once, not once per 4 rows;
       otherwise row major, so C (a weight gradient) is written row after row */
    bool col_major = k > m;
#pragma omp parallel for schedule(static) if (work > 1e5)
    for (long t = 0; t < tiles; t++) {
        int j0 = (int)(col_major ? t / mb : t % nb) * JB, i0 = (int)(col_major ? t % mb : t / nb) * RB;
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

/* C[i, j] for i in [i0, i1), j in [j0, j1): one 16-lane dot product each. */
CNN_CLONES static void gemm_nt_rows(int ta, int i0, int i1, int j0, int j1, int k, int kv, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc)
{
    double work = (double)(i1 - i0) * (j1 - j0) * k;
#pragma omp parallel for schedule(static) if (work > 1e5)
    for (int i = i0; i < i1; i++) {
        for (int j = j0; j < j1; j++) {
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

/* A 4 x 4 block of C (op(A) = A): the same per-element lane sequence as the general
   loop below, with each 16-float chunk of A and B loaded once for four dot products. */
static inline __attribute__((always_inline)) void nt_block4(int k, int kv, float alpha, const float *a,
                                                             int lda, const float *b, int ldb,
                                                             float beta, float *c, int ldc)
{
    float acc[NT][NT][LANES];
    for (int r = 0; r < NT; r++)
        for (int s = 0; s < NT; s++)
            for (int l = 0; l < LANES; l++) acc[r][s][l] = 0.0f;
    for (int p = 0; p < kv; p += LANES)
        for (int r = 0; r < NT; r++)
            for (int s = 0; s < NT; s++) {
                const float *ar = a + (size_t)r * lda + p, *bs = b + (size_t)s * ldb + p;
#pragma omp simd
                for (int l = 0; l < LANES; l++) acc[r][s][l] = fmaf(ar[l], bs[l], acc[r][s][l]);
            }
    for (int p = kv; p < k; p++)
        for (int r = 0; r < NT; r++)
            for (int s = 0; s < NT; s++)
                acc[r][s][p - kv] = fmaf(a[(size_t)r * lda + p], b[(size_t)s * ldb + p], acc[r][s][p - kv]);
    for (int r = 0; r < NT; r++)
        for (int s = 0; s < NT; s++) {
            float *cij = c + (size_t)r * ldc + s;
            *cij = store(lanes_sum(acc[r][s]), alpha, beta, *cij);
        }
}

CNN_CLONES static void gemm_nt(int ta, int m, int n, int k, float alpha, const float *a, int lda,
                           const float *b, int ldb, float beta, float *c, int ldc)
{
    double work = (double)m * n * k;
    int kv = k / LANES * LANES;
    if (!ta && m >= NT && n >= NT) {
        /* 4 x 4 blocks, column-block major so that the four rows of B (a linear layer's
           weights) stay in cache across every row block: the weight streams from
           memory once per pass instead of once per example */
        int mb = m / NT, nb = n / NT;
        long tiles = (long)mb * nb;
#pragma omp parallel for schedule(static) if (work > 1e5)
        for (long t = 0; t < tiles; t++) {
            int j0 = (int)(t / mb) * NT, i0 = (int)(t % mb) * NT;
            nt_block4(k, kv, alpha, a + (size_t)i0 * lda, lda, b + (size_t)j0 * ldb, ldb, beta,
                      c + (size_t)i0 * ldc + j0, ldc);
        }
        /* the edges (rows past mb * 4, columns past nb * 4) by the general loop */
        if (mb * NT < m) gemm_nt_rows(ta, mb * NT, m, 0, n, k, kv, alpha, a, lda, b, ldb, beta, c, ldc);
        if (nb * NT < n) gemm_nt_rows(ta, 0, mb * NT, nb * NT, n, k, kv, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    gemm_nt_rows(ta, 0, m, 0, n, k, kv, alpha, a, lda, b, ldb, beta, c, ldc);
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

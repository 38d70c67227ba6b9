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
                   once per pass, not once per example); below 4 rows (batch 1) a
                   row's columns are split over the threads, four at a time. */
#include "../../core/clones.h"
#include <math.h>

#include "../../core/pool.h"
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

/* The arguments of one product, for the pool's chunks. */
typedef struct gemm_args {
    int ta, m, n, k, lda, ldb, ldc, kv, mb, nb, i0, i1, j0, j1;
    float alpha, beta;
    const float *a, *b;
    float *c;
    bool col_major;
} gemm_args;

/* Threads: cnn_threads_for (parallel from ~1e5 multiply-adds); a chunk of a parallel
   loop is at least ~2.6e5 (a few microseconds: the claim costs ~0.1 us, and a chunk
   held by a thread that loses its core delays the loop by at most one chunk's work). */
#define CHUNK_WORK 262144.0

static int gemm_threads(double work)
{
    return cnn_threads_for(work * CNN_WORK_GEMM_MAC);
}

static long grain_of(double per_item)
{
    double g = CHUNK_WORK / (per_item > 1 ? per_item : 1);
    return g < 1 ? 1 : (long)g;
}

CNN_CLONES static void gemm_nn_tiles(void *arg, long t0, long t1, int slot)
{
    const gemm_args *g = arg;
    int ta = g->ta, m = g->m, n = g->n, k = g->k, mb = g->mb;
    for (long t = t0; t < t1; t++) {
        int j0 = (int)(g->col_major ? t / mb : t % g->nb) * JB;
        int i0 = (int)(g->col_major ? t % mb : t / g->nb) * RB;
        int nr = m - i0 < RB ? m - i0 : RB, nj = n - j0 < JB ? n - j0 : JB;
        const float *ai = ta ? g->a + i0 : g->a + (size_t)i0 * g->lda;
        float *ct = g->c + (size_t)i0 * g->ldc + j0;
        if (nr == RB && nj == JB)
            tile_nn(ta, RB, JB, k, g->alpha, ai, g->lda, g->b + j0, g->ldb, g->beta, ct, g->ldc);
        else
            tile_nn(ta, nr, nj, k, g->alpha, ai, g->lda, g->b + j0, g->ldb, g->beta, ct, g->ldc);
    }
}

static void gemm_nn(int ta, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc)
{
    int mb = (m + RB - 1) / RB, nb = (n + JB - 1) / JB;
    long tiles = (long)mb * nb;
    double work = (double)m * n * k;
    /* when B is the big operand (k > m: a linear layer's dx, whose B is the weight),
       column-panel major: consecutive tiles (one chunk) reuse the k x 32 panel of B
       from cache across every row block, so it streams once, not once per 4 rows;
       otherwise row major, so C (a weight gradient) is written row after row */
    gemm_args g = {.ta = ta, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc,
                   .mb = mb, .nb = nb, .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c,
                   .col_major = k > m};
    cnn_parallel_range(tiles, grain_of((double)RB * JB * k), gemm_threads(work), gemm_nn_tiles, &g);
}

/* Fixed-order sum of the 16 lanes. */
static inline float lanes_sum(const float *v)
{
    float s8[8], s4[4];
    for (int l = 0; l < 8; l++) s8[l] = v[l] + v[l + 8];
    for (int l = 0; l < 4; l++) s4[l] = s8[l] + s8[l + 4];
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* C[i, j] for j in [j0, j1): one 16-lane dot product each; with op(A) = A, four columns
   at a time share the loads of A(i, :) (each element keeps its own lane sequence). */
static inline __attribute__((always_inline)) void nt_row(const gemm_args *g, int i, int j0, int j1)
{
    int ta = g->ta, k = g->k, kv = g->kv, lda = g->lda, ldb = g->ldb;
    const float *a = g->a, *b = g->b;
    float *ci = g->c + (size_t)i * g->ldc;
    int j = j0;
    if (!ta) {
        const float *ai = a + (size_t)i * lda;
        for (; j + NT <= j1; j += NT) {
            float acc[NT][LANES];
            for (int s = 0; s < NT; s++)
                for (int l = 0; l < LANES; l++) acc[s][l] = 0.0f;
            for (int p = 0; p < kv; p += LANES)
                for (int s = 0; s < NT; s++) {
                    const float *bs = b + (size_t)(j + s) * ldb + p;
#pragma omp simd
                    for (int l = 0; l < LANES; l++) acc[s][l] = fmaf(ai[p + l], bs[l], acc[s][l]);
                }
            for (int p = kv; p < k; p++)
                for (int s = 0; s < NT; s++)
                    acc[s][p - kv] = fmaf(ai[p], b[(size_t)(j + s) * ldb + p], acc[s][p - kv]);
            for (int s = 0; s < NT; s++)
                ci[j + s] = store(lanes_sum(acc[s]), g->alpha, g->beta, ci[j + s]);
        }
    }
    for (; j < j1; j++) {
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
        ci[j] = store(lanes_sum(acc), g->alpha, g->beta, ci[j]);
    }
}

/* Chunks of (row, NT columns), column-group major: a single row (a linear layer at
   batch 1, whose weight streams from memory) is split over the threads by columns. */
CNN_CLONES static void gemm_nt_rows_part(void *arg, long t0, long t1, int slot)
{
    const gemm_args *g = arg;
    int rows = g->i1 - g->i0;
    for (long t = t0; t < t1; t++) {
        int i = g->i0 + (int)(t % rows), j0 = g->j0 + (int)(t / rows) * NT;
        int j1 = j0 + NT < g->j1 ? j0 + NT : g->j1;
        nt_row(g, i, j0, j1);
    }
}

static void gemm_nt_rows(const gemm_args *g0, int i0, int i1, int j0, int j1)
{
    gemm_args g = *g0;
    g.i0 = i0, g.i1 = i1, g.j0 = j0, g.j1 = j1;
    long groups = (j1 - j0 + NT - 1) / NT;
    double work = (double)(i1 - i0) * (j1 - j0) * g.k;
    cnn_parallel_range((long)(i1 - i0) * groups, grain_of((double)NT * g.k), gemm_threads(work),
                       gemm_nt_rows_part, &g);
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

CNN_CLONES static void gemm_nt_blocks(void *arg, long t0, long t1, int slot)
{
    const gemm_args *g = arg;
    for (long t = t0; t < t1; t++) {
        int j0 = (int)(t / g->mb) * NT, i0 = (int)(t % g->mb) * NT;
        nt_block4(g->k, g->kv, g->alpha, g->a + (size_t)i0 * g->lda, g->lda,
                  g->b + (size_t)j0 * g->ldb, g->ldb, g->beta, g->c + (size_t)i0 * g->ldc + j0,
                  g->ldc);
    }
}

static void gemm_nt(int ta, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc)
{
    double work = (double)m * n * k;
    gemm_args g = {.ta = ta, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc,
                   .kv = k / LANES * LANES, .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c};
    if (!ta && m >= NT && n >= NT) {
        /* 4 x 4 blocks, column-block major so that the four rows of B (a linear layer's
           weights) stay in cache across every row block: the weight streams from
           memory once per pass instead of once per example */
        int mb = m / NT, nb = n / NT;
        g.mb = mb;
        cnn_parallel_range((long)mb * nb, grain_of((double)NT * NT * k), gemm_threads(work),
                           gemm_nt_blocks, &g);
        /* the edges (rows past mb * 4, columns past nb * 4) by the general loop */
        if (mb * NT < m) gemm_nt_rows(&g, mb * NT, m, 0, n);
        if (nb * NT < n) gemm_nt_rows(&g, 0, mb * NT, nb * NT, n);
        return;
    }
    gemm_nt_rows(&g, 0, m, 0, n);
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

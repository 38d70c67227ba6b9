/* Batch norm, forward (training and eval), backward and the synchronised variants'
   per-rank steps (docs/architecture.md, "Distributed training"): the blocked, cloned
   kernels of the cpu backend, one channel block a chunk of the pool. */
#include "../../core/clones.h"
#include <math.h>

#include "../../core/pool.h"
#include "../../ops/ops_common.h"
#include "cpu_internal.h"

/* The passes below are memory-bound. Channels go in blocks whose N planes fit in L2 at
   once, so the second pass over a block (output, input gradient) reads it from cache:
   one trip to memory for forward, one for backward's two inputs. Each channel's sums
   run in one thread in an order fixed by the shape alone (plane by plane in batch
   order, or position-wise for small planes), so results depend on neither the block
   size nor the thread count. Cloned for AVX-512 / AVX2 / baseline: the
   double accumulators need wide vectors to keep up with memory. */
#define BLOCK_BYTES ((size_t)256 << 10) /* input bytes per block, per stream */
#define MAX_CB 256                      /* channels per block */
#define SMALL_S 32                      /* planes up to this size sum position-wise */

/* Channels [c0, c0 + cb): s1[j] += sum (x - sh[j]), s2[j] += sum (x - sh[j])^2 in
   double. The shift (a value of the channel) keeps sum - sum^2/m from cancelling when
   the mean is large against the spread, so one pass is as accurate as two. */
CNN_CLONES static void stats_block(const float *x, int N, int C, size_t S, int c0, int cb,
                               const double *sh, double *s1, double *s2)
{
    if (S <= SMALL_S) {
        /* small planes (3x3, 4x4, 1x1): a per-plane vector reduction would cost more than
           the plane, so lane k sums position k over the batch and the lanes are added
           once per channel */
        for (int j = 0; j < cb; j++) {
            double a[SMALL_S] = {0}, q[SMALL_S] = {0}, h = sh[j];
            for (int i = 0; i < N; i++) {
                const float *restrict xc = x + ((size_t)i * C + c0 + j) * S;
#pragma omp simd
                for (size_t k = 0; k < S; k++) {
                    double d = (double)xc[k] - h;
                    a[k] += d;
                    q[k] += d * d;
                }
            }
            for (size_t k = 0; k < S; k++) {
                s1[j] += a[k];
                s2[j] += q[k];
            }
        }
        return;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < cb; j++) {
            const float *restrict xc = x + ((size_t)i * C + c0 + j) * S;
            double h = sh[j], a = 0.0, q = 0.0;
#pragma omp simd reduction(+ : a, q)
            for (size_t k = 0; k < S; k++) {
                double d = (double)xc[k] - h;
                a += d;
                q += d * d;
            }
            s1[j] += a;
            s2[j] += q;
        }
}

/* y = x * scale + shift per channel (the eval arithmetic of cnn_cpu_bn_eval_affine).
   May run in place (y == x: a fused chain run unfused): no restrict. */
CNN_CLONES static void affine_block(const float *x, float *y, int N, int C, size_t S, int c0, int cb,
                                const float *scale, const float *shift)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < cb; j++) {
            size_t o = ((size_t)i * C + c0 + j) * S;
            const float *xc = x + o;
            float *yc = y + o;
            float sc = scale[j], sf = shift[j];
#pragma omp simd
            for (size_t k = 0; k < S; k++) yc[k] = xc[k] * sc + sf;
        }
}

/* Channels per block: N planes of S values per channel within BLOCK_BYTES (backward
   passes 2N for its two inputs), and at least two blocks per thread for balance. */
static int bn_block(int N, int C, size_t S, int threads)
{
    size_t per = (size_t)N * S * sizeof(float);
    size_t cb = per ? BLOCK_BYTES / per : MAX_CB;
    if (cb > MAX_CB) cb = MAX_CB;
    size_t bal = ((size_t)C + 2 * (size_t)threads - 1) / (2 * (size_t)threads);
    if (threads > 1 && cb > bal) cb = bal;
    return cb < 1 ? 1 : (int)cb;
}

/* Eval-mode per-channel scale and shift from the running statistics: the coefficients
   bn_forward's eval applies and a fused epilogue's affine stage runs. */
static void eval_coef(const cnn_bn_args *a, int c, float *scale, float *shift)
{
    float mu = a->rmean[c];
    float is = (float)(1.0 / sqrt((double)a->rvar[c] + (double)a->eps));
    *scale = a->w[c] * is;
    *shift = a->b[c] - mu * *scale;
}

/* Cloned and vectorised (double square roots and divisions are correctly rounded in
   any width, so the coefficients are the same): every eval forward computes them for
   each batch norm of the graph. */
CNN_CLONES static void eval_affine(const cnn_bn_args *a, float *scale, float *shift)
{
#pragma omp simd
    for (int c = 0; c < a->c; c++) eval_coef(a, c, &scale[c], &shift[c]);
}

/* (the clones are static: a cloned function of the library's would export its resolver) */
void cnn_cpu_bn_eval_affine(const cnn_bn_args *a, float *scale, float *shift) { eval_affine(a, scale, shift); }

/* Arguments of the block loops below (one block of channels a chunk). */
typedef struct {
    const cnn_bn_args *a;
    bool training;
    double *lmean, *lm2, *tot;
    const double *sum, *m2, *ctot;
    double M;
    int cb; /* channels per block */
} bn_job;

/* Synchronised batch norm, step 1: this rank's per-channel mean and centred sum of
   squares, from the shifted one-pass sums. */
static void bn_sync_stats_blk(void *ctx, long blk, int slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const cnn_bn_args *a = job->a;
    double *lmean = job->lmean;
    double *lm2 = job->lm2;
    int N = a->n, C = a->c;
    size_t S = a->s;
    const float *x = a->x;
    const double lm = (double)N * (double)S;
    const int cb = job->cb;
    const int bi = (int)blk;
    {
        int c0 = bi * cb, nc = C - c0 < cb ? C - c0 : cb;
        if (nc <= 0) return;
        double sh[MAX_CB], s1[MAX_CB], s2[MAX_CB];
        for (int j = 0; j < nc; j++) {
            sh[j] = x[(size_t)(c0 + j) * S];
            s1[j] = s2[j] = 0.0;
        }
        stats_block(x, N, C, S, c0, nc, sh, s1, s2);
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            double d = s1[j] / lm;
            lmean[c] = sh[j] + d;
            lm2[c] = s2[j] - s1[j] * d; /* sum (x - mean_r)^2 */
            if (lm2[c] < 0.0) lm2[c] = 0.0;
        }
    }
}

void cnn_cpu_bn_sync_stats(const cnn_bn_args *a, double *lmean, double *lm2)
{
    int N = a->n, C = a->c;
    size_t S = a->s;
    int nt = cnn_threads_for((double)(size_t)N * S * (size_t)C), cb = bn_block(N, C, S, nt);
    int nb = (C + cb - 1) / cb;
    bn_job job = {.a = a, .cb = cb, .lmean = lmean, .lm2 = lm2};
    cnn_parallel_for_n(nb, nt, bn_sync_stats_blk, &job);
}

/* Step 2: the global statistics (sum[c] = M mean, m2[c] centred sums over M values)
   -> saved mean / inv_std, running statistics, y. */
static void bn_sync_apply_blk(void *ctx, long blk, int slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const cnn_bn_args *a = job->a;
    const double *sum = job->sum;
    const double *m2 = job->m2;
    double M = job->M;
    int N = a->n, C = a->c;
    size_t S = a->s;
    const float *x = a->x;
    float *y = a->y;
    const float *w = a->w, *b = a->b;
    float *rmean = a->rmean, *rvar = a->rvar;
    float *mean = a->mean, *inv_std = a->inv_std;
    const double eps = a->eps, mom = a->momentum;
    const int cb = job->cb;
    const int bi = (int)blk;
    {
        int c0 = bi * cb, nc = C - c0 < cb ? C - c0 : cb;
        if (nc <= 0) return;
        float scale[MAX_CB], shift[MAX_CB];
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            double dmu = sum[c] / M, var = m2[c] / M;
            float mu = (float)dmu, is = (float)(1.0 / sqrt(var + eps));
            mean[c] = mu;
            inv_std[c] = is;
            rmean[c] = (float)((1.0 - mom) * rmean[c] + mom * dmu);
            rvar[c] = (float)((1.0 - mom) * rvar[c] + mom * var * M / (M - 1.0));
            scale[j] = w[c] * is;
            shift[j] = b[c] - mu * scale[j];
        }
        affine_block(x, y, N, C, S, c0, nc, scale, shift);
    }
}

void cnn_cpu_bn_sync_apply(const cnn_bn_args *a, const double *sum, const double *m2, double M)
{
    int N = a->n, C = a->c;
    size_t S = a->s;
    int nt = cnn_threads_for((double)(size_t)N * S * (size_t)C), cb = bn_block(N, C, S, nt);
    int nb = (C + cb - 1) / cb;
    bn_job job = {.a = a, .cb = cb, .sum = sum, .m2 = m2, .M = M};
    cnn_parallel_for_n(nb, nt, bn_sync_apply_blk, &job);
}

static void bn_forward_blk(void *ctx, long blk, int slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const cnn_bn_args *a = job->a;
    bool training = job->training;
    int N = a->n, C = a->c;
    size_t S = a->s;
    const float *x = a->x;
    float *y = a->y;
    const float *w = a->w, *b = a->b;
    float *rmean = a->rmean, *rvar = a->rvar;
    float *mean = a->mean, *inv_std = a->inv_std;
    size_t m = (size_t)N * S;
    const double eps = a->eps, mom = a->momentum, dm = (double)m;
    const int cb = job->cb;
    const int bi = (int)blk;
    {
        int c0 = bi * cb, nc = C - c0 < cb ? C - c0 : cb;
        if (nc <= 0) return;
        double sh[MAX_CB], s1[MAX_CB], s2[MAX_CB];
        float scale[MAX_CB], shift[MAX_CB];
        if (training) {
            for (int j = 0; j < nc; j++) {
                sh[j] = x[(size_t)(c0 + j) * S];
                s1[j] = s2[j] = 0.0;
            }
            stats_block(x, N, C, S, c0, nc, sh, s1, s2);
        }
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            if (training) {
                double d = s1[j] / dm;
                double var = s2[j] / dm - d * d; /* biased: normalises the batch */
                if (var < 0.0) var = 0.0;
                double dmu = sh[j] + d;
                float mu = (float)dmu;
                float is = (float)(1.0 / sqrt(var + eps));
                mean[c] = mu;
                inv_std[c] = is;
                rmean[c] = (float)((1.0 - mom) * rmean[c] + mom * dmu);
                rvar[c] = (float)((1.0 - mom) * rvar[c] + mom * var * dm / (dm - 1.0));
                scale[j] = w[c] * is;
                shift[j] = b[c] - mu * scale[j];
            } else {
                eval_coef(a, c, &scale[j], &shift[j]);
            }
        }
        affine_block(x, y, N, C, S, c0, nc, scale, shift);
    }
}

void cnn_cpu_bn_forward(const cnn_bn_args *a, bool training)
{
    int N = a->n, C = a->c;
    size_t S = a->s;
    size_t m = (size_t)N * S;
    int nt = cnn_threads_for((double)m * (size_t)C), cb = bn_block(N, C, S, nt);
    int nb = (C + cb - 1) / cb;
    bn_job job = {.a = a, .cb = cb, .training = training};
    cnn_parallel_for_n(nb, nt, bn_forward_blk, &job);
}

/* Channels [c0, c0 + cb): sdy[j] += sum dy, sdyx[j] += sum dy (x - mu[j]), in double. */
CNN_CLONES static void bwd_sums_block(const float *x, const float *dy, int N, int C, size_t S, int c0,
                                  int cb, const float *mu, double *sdy, double *sdyx)
{
    if (S <= SMALL_S) { /* as in stats_block */
        for (int j = 0; j < cb; j++) {
            double a[SMALL_S] = {0}, q[SMALL_S] = {0};
            float u = mu[j];
            for (int i = 0; i < N; i++) {
                size_t o = ((size_t)i * C + c0 + j) * S;
                const float *restrict xc = x + o, *restrict gc = dy + o;
#pragma omp simd
                for (size_t k = 0; k < S; k++) {
                    a[k] += gc[k];
                    q[k] += (double)gc[k] * (double)(xc[k] - u);
                }
            }
            for (size_t k = 0; k < S; k++) {
                sdy[j] += a[k];
                sdyx[j] += q[k];
            }
        }
        return;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < cb; j++) {
            size_t o = ((size_t)i * C + c0 + j) * S;
            const float *restrict xc = x + o, *restrict gc = dy + o;
            float u = mu[j];
            double a = 0.0, q = 0.0;
#pragma omp simd reduction(+ : a, q)
            for (size_t k = 0; k < S; k++) {
                a += gc[k];
                q += (double)gc[k] * (double)(xc[k] - u);
            }
            sdy[j] += a;
            sdyx[j] += q;
        }
}

/* dx += k1 (dy - mdy - xh mdyxh), xh = (x - mu) is, per channel. */
CNN_CLONES static void bwd_apply_block(const float *x, const float *dy, float *dx, int N, int C,
                                   size_t S, int c0, int cb, const float *mu, const float *is,
                                   const float *k1, const float *mdy, const float *mdyxh)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < cb; j++) {
            size_t o = ((size_t)i * C + c0 + j) * S;
            const float *restrict xc = x + o, *restrict gc = dy + o;
            float *restrict dc = dx + o;
            float u = mu[j], s = is[j], k = k1[j], a = mdy[j], q = mdyxh[j];
#pragma omp simd
            for (size_t e = 0; e < S; e++) {
                float xh = (xc[e] - u) * s;
                dc[e] += k * (gc[e] - a - xh * q);
            }
        }
}

/* Training: with xh = (x - mean) inv_std over the m values of a channel,
   dx = weight inv_std / m (m dy - sum dy - xh sum(dy xh)); eval: dx = weight inv_std dy
   with the running statistics (constants). */
static void bn_backward_blk(void *ctx, long blk, int slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const cnn_bn_args *a = job->a;
    bool training = job->training;
    int N = a->n, C = a->c;
    size_t S = a->s;
    const float *x = a->x, *dy = a->dy;
    float *dx = a->dx;
    const float *w = a->w;
    float *dw = a->dw, *db = a->db;
    const float *rmean = a->rmean, *rvar = a->rvar;
    const float *mean = a->mean, *inv_std = a->inv_std;
    const double m = (double)N * (double)S;
    /* blocks sized for the two input streams (x, dy) */
    const int cb = job->cb;
    const int bi = (int)blk;
    {
        int c0 = bi * cb, nc = C - c0 < cb ? C - c0 : cb;
        if (nc <= 0) return;
        double sdy[MAX_CB], sdyx[MAX_CB];
        float mu[MAX_CB], is[MAX_CB], k1[MAX_CB], mdy[MAX_CB], mdyxh[MAX_CB];
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            mu[j] = training ? mean[c] : rmean[c];
            is[j] = training ? inv_std[c] : (float)(1.0 / sqrt((double)rvar[c] + (double)a->eps));
            sdy[j] = sdyx[j] = 0.0;
        }
        if (db || dw || (dx && training)) bwd_sums_block(x, dy, N, C, S, c0, nc, mu, sdy, sdyx);
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            double sdyxh = sdyx[j] * (double)is[j];
            if (db) db[c] += (float)sdy[j];
            if (dw) dw[c] += (float)sdyxh;
            k1[j] = w[c] * is[j];
            mdy[j] = training ? (float)(sdy[j] / m) : 0.0f;
            mdyxh[j] = training ? (float)(sdyxh / m) : 0.0f;
        }
        if (dx) bwd_apply_block(x, dy, dx, N, C, S, c0, nc, mu, is, k1, mdy, mdyxh);
    }
}

void cnn_cpu_bn_backward(const cnn_bn_args *a, bool training)
{
    int N = a->n, C = a->c;
    size_t S = a->s;
    int nt = cnn_threads_for((double)(size_t)N * S * (size_t)C), cb = bn_block(2 * N, C, S, nt);
    int nb = (C + cb - 1) / cb;
    bn_job job = {.a = a, .cb = cb, .training = training};
    cnn_parallel_for_n(nb, nt, bn_backward_blk, &job);
}

/* Synchronised backward, step 1: the weight and bias gradients from this rank's values
   (the trainer's gradient all-reduce adds the ranks) and tot = this rank's sum dy (C),
   sum dy xh (C), which the caller all-reduces. */
static void bn_sync_bwd_sums_blk(void *ctx, long blk, int slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const cnn_bn_args *a = job->a;
    double *tot = job->tot;
    int N = a->n, C = a->c;
    size_t S = a->s;
    const float *x = a->x, *dy = a->dy;
    float *dw = a->dw, *db = a->db;
    const float *mean = a->mean, *inv_std = a->inv_std;
    const int cb = job->cb;
    const int bi = (int)blk;
    {
        int c0 = bi * cb, nc = C - c0 < cb ? C - c0 : cb;
        if (nc <= 0) return;
        double sdy[MAX_CB], sdyx[MAX_CB];
        for (int j = 0; j < nc; j++) sdy[j] = sdyx[j] = 0.0;
        bwd_sums_block(x, dy, N, C, S, c0, nc, mean + c0, sdy, sdyx);
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            double sdyxh = sdyx[j] * (double)inv_std[c];
            if (db) db[c] += (float)sdy[j];
            if (dw) dw[c] += (float)sdyxh;
            tot[c] = sdy[j];
            tot[C + c] = sdyxh;
        }
    }
}

void cnn_cpu_bn_sync_bwd_sums(const cnn_bn_args *a, double *tot)
{
    int N = a->n, C = a->c;
    size_t S = a->s;
    int nt = cnn_threads_for((double)(size_t)N * S * (size_t)C), cb = bn_block(2 * N, C, S, nt);
    int nb = (C + cb - 1) / cb;
    bn_job job = {.a = a, .cb = cb, .tot = tot};
    cnn_parallel_for_n(nb, nt, bn_sync_bwd_sums_blk, &job);
}

/* Step 2: the input gradient with the sums over the global batch of M values. */
static void bn_sync_bwd_apply_blk(void *ctx, long blk, int slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const cnn_bn_args *a = job->a;
    const double *tot = job->ctot;
    double M = job->M;
    int N = a->n, C = a->c;
    size_t S = a->s;
    const float *x = a->x, *dy = a->dy;
    float *dx = a->dx;
    const float *w = a->w;
    const float *mean = a->mean, *inv_std = a->inv_std;
    const int cb = job->cb;
    const int bi = (int)blk;
    {
        int c0 = bi * cb, nc = C - c0 < cb ? C - c0 : cb;
        if (nc <= 0) return;
        float k1[MAX_CB], mdy[MAX_CB], mdyxh[MAX_CB];
        for (int j = 0; j < nc; j++) {
            int c = c0 + j;
            k1[j] = w[c] * inv_std[c];
            mdy[j] = (float)(tot[c] / M);
            mdyxh[j] = (float)(tot[C + c] / M);
        }
        bwd_apply_block(x, dy, dx, N, C, S, c0, nc, mean + c0, inv_std + c0, k1, mdy, mdyxh);
    }
}

void cnn_cpu_bn_sync_bwd_apply(const cnn_bn_args *a, const double *tot, double M)
{
    int N = a->n, C = a->c;
    size_t S = a->s;
    int nt = cnn_threads_for((double)(size_t)N * S * (size_t)C), cb = bn_block(2 * N, C, S, nt);
    int nb = (C + cb - 1) / cb;
    bn_job job = {.a = a, .cb = cb, .ctot = tot, .M = M};
    cnn_parallel_for_n(nb, nt, bn_sync_bwd_apply_blk, &job);
}

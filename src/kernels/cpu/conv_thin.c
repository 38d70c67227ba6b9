/* Dense 2D convolutions with a short reduction (C_in/groups * kH * kW small: LeNet's
   layers, the 3-channel first layers of image networks) on plain NCHW. oneDNN's
   plain-layout path runs these at ~10% of peak (its blocked kernels want 16-channel
   blocks); here each image is cut into chunks of output rows, a chunk is unrolled
   (im2col) into a per-thread buffer small enough for L2, and a register-blocked
   micro-kernel multiplies it:
     forward          y_chunk (og, P)   = W_g (og, K) * col (K, P) + b
     backward-data    col (K, P)        = W_g^T (K, og) * dy_chunk (og, P); col2im += dx
     backward-weights dW_g (og, K)     += dy_chunk (og, P) * col (K, P)^T
   Forward runs (image, chunk) items in parallel; backward-data whole images (the
   col2im of neighbouring chunks overlap). Backward-weights splits its items (a chunk,
   or several whole small images side by side) into NSLOT fixed contiguous ranges, each summed in order into its own
   16-lane partial dW, and adds the slots in a fixed order at the end: the result
   does not depend on the thread count. Cloned for AVX-512 / AVX2 / baseline. */
#include "../../core/clones.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cnn.h"

#include "../../core/pool.h"
#include "cpu_internal.h"

/* a * b + c in the micro-kernels below may fuse into FMA (ISO C mode turns
   contraction off; the tests' tolerance covers either rounding); the short copy
   loops stay loops (GCC would turn them into memmove calls, which cost more than
   copying tens of floats). */
#pragma GCC optimize("fp-contract=fast", "no-tree-loop-distribute-patterns")

#define INLINE static inline __attribute__((always_inline))
#define V 16           /* lanes of one vector (AVX-512) */
#define MR 8           /* micro-kernel rows (output channels, or K rows for backward-data) */
#define NSLOT 8        /* fixed partial-sum slots of backward-weights */
#define CHUNK_BYTES (192 * 1024) /* col buffer per thread: stays in L2 */
#define ITEM_BYTES (448 * 1024)  /* backward-weights: several small images per col */
#define KMAX 400       /* longest reduction this path takes (dispatch rule) */

/* Every buffer a thread works in: a zero-padded copy of the input rows a chunk reads
   (so the unrolling has no bounds tests), col, and a copy of dy's chunk whose rows
   are padded like col's (so the micro-kernels read whole vectors). */
typedef struct geom {
    int n, g, cg, og, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
    int K;        /* cg * kh * kw: one group's reduction length */
    int rows;     /* output rows per chunk */
    int chunks;   /* chunks per image */
    int ipi;      /* images per backward-weights item (chunks == 1), else 1 */
    int xrows, xw; /* padded input rows of a chunk, and their length (+ V of slack) */
    size_t P;     /* oh * ow */
    size_t seg;   /* col columns of one image's chunk: rows * ow rounded up to V */
    size_t ldcol; /* col and dy-copy row stride: ipi * seg + V of slack */
    size_t per_thread, xp_off, dyp_off; /* floats */
} geom;

static size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

/* budget: col bytes of one item (CHUNK_BYTES, or ITEM_BYTES for backward-weights,
   whose micro-kernel loads and stores its accumulators once per item). */
static geom make_geom(const cnn_conv_desc *c, size_t budget)
{
    geom g = {.n = c->n, .g = c->groups, .cg = c->c_in / c->groups, .og = c->c_out / c->groups,
              .h = c->in[1], .w = c->in[2], .oh = c->out[1], .ow = c->out[2],
              .kh = c->k[1], .kw = c->k[2], .sh = c->s[1], .sw = c->s[2],
              .ph = c->p[1], .pw = c->p[2], .dh = c->d[1], .dw = c->d[2]};
    g.K = g.cg * g.kh * g.kw;
    g.P = (size_t)g.oh * (size_t)g.ow;
    size_t row_bytes = (size_t)g.K * (size_t)g.ow * sizeof(float);
    size_t r = budget / (row_bytes ? row_bytes : 1);
    if (r < 1) r = 1;
    if (r > (size_t)g.oh) r = (size_t)g.oh;
    g.rows = (int)r;
    g.chunks = (g.oh + g.rows - 1) / g.rows;
    g.seg = round_up((size_t)g.rows * (size_t)g.ow, V);
    g.ipi = 1;
    if (g.chunks == 1) {
        size_t b = budget / ((size_t)g.K * g.seg * sizeof(float) + 1);
        g.ipi = b < 1 ? 1 : (int)b;
    }
    g.ldcol = (size_t)g.ipi * g.seg + V;
    g.xrows = (g.rows - 1) * g.sh + (g.kh - 1) * g.dh + 1;
    g.xw = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1 + V;
    g.xp_off = round_up((size_t)g.K * g.ldcol, V);
    g.dyp_off = g.xp_off + round_up((size_t)g.cg * g.xrows * g.xw, V);
    g.per_thread = g.dyp_off + round_up((size_t)g.og * g.ldcol, V);
    return g;
}

/* Threads to use now: the configured count capped by the buffers in scratch
   (cnn_threads_capped), and 1 below ~1M multiply-adds (LeNet at batch 1: 0.1-0.3M), where waking the
   second thread costs more than it saves: the policy of cnn_threads_for. */
static int par_threads(const cnn_conv_desc *c)
{
    double macs = (double)c->n * c->c_out * c->out[0] * c->out[1] * c->out[2] *
                  (double)(c->c_in / c->groups) * c->k[0] * c->k[1] * c->k[2];
    return cnn_threads_for(macs * CNN_WORK_CONV_MAC) == 1 ? 1 : cnn_threads_capped();
}

/* Measured against oneDNN on one thread (kernel CPU time; LeNet's layers, the first
   layers of AlexNet / VGG / ResNet / MobileNet / ShuffleNet at 224 batch 1 and 16 and
   at 32 batch 128, mid-size plain layers): this path won forward, backward-data and
   backward-weights by 1.2-5x wherever oneDNN takes its plain layout, except 1x1
   kernels (oneDNN runs those as one GEMM, 1.5x faster) and reductions past ~400
   (AlexNet's 3 x 11 x 11 = 363 still wins forward and at batch 16, 40 x 3 x 3 = 360
   breaks even). Where channels fill 16-wide blocks oneDNN's blocked JIT kernels are
   1.3-2x faster. 3D stays with oneDNN. */
bool cnn_thin_conv_use(const cnn_conv_desc *c)
{
    static int env = -1;
    if (env < 0) {
        const char *v = getenv("CNN_CPU_THIN");
        env = !(v && v[0] == '0');
    }
    if (!env) return false;
    if (c->in[0] != 1 || c->out[0] != 1 || c->k[0] != 1) return false; /* 2D only */
    if (cnn_cpu_is_depthwise(c) || c->k[1] * c->k[2] == 1) return false;
    int cg = c->c_in / c->groups, og = c->c_out / c->groups;
    if (cg % 16 == 0 && og % 16 == 0) return false; /* oneDNN's blocked layout */
    return cg * c->k[1] * c->k[2] <= KMAX;
}

/* Scratch layout (floats): [per-thread buffers x max_threads] [W^T for backward-data:
   C_out x K] [NSLOT x (C_out x K + C_out) x V partials of backward-weights]. */
typedef struct layout {
    size_t wt, part, total;
} layout;

static layout make_layout(const cnn_conv_desc *c)
{
    layout l;
    geom g1 = make_geom(c, CHUNK_BYTES), g2 = make_geom(c, ITEM_BYTES);
    size_t per = g1.per_thread > g2.per_thread ? g1.per_thread : g2.per_thread;
    size_t ck = (size_t)c->c_out * (size_t)g1.K;
    l.wt = (size_t)cnn_threads_max() * per;
    l.part = l.wt + round_up(ck, V);
    l.total = l.part + (size_t)NSLOT * (ck + (size_t)c->c_out) * V;
    return l;
}

size_t cnn_thin_conv_scratch(const cnn_conv_desc *c)
{
    return make_layout(c).total * sizeof(float);
}

/* Forward alone uses only the per-thread buffers at its own chunk size. */
size_t cnn_thin_conv_scratch_forward(const cnn_conv_desc *c)
{
    return (size_t)cnn_threads_max() * make_geom(c, CHUNK_BYTES).per_thread * sizeof(float);
}

typedef float vf __attribute__((vector_size(V * sizeof(float))));
typedef float vfu __attribute__((vector_size(V * sizeof(float)), aligned(sizeof(float))));
typedef int vi __attribute__((vector_size(V * sizeof(int))));
#define LOADU(p) (*(const vfu *)(p))
#define STOREU(p, v) (*(vfu *)(p) = (v))

/* Short copies and fills inline: rows here are tens of floats, where a libc call
   costs more than the copy; tails go 8 and 4 floats at a time. */
typedef float v8u __attribute__((vector_size(8 * sizeof(float)), aligned(sizeof(float))));
typedef float v4u __attribute__((vector_size(4 * sizeof(float)), aligned(sizeof(float))));

INLINE void copy_f(float *restrict d, const float *restrict src, int n)
{
    int q = 0;
    for (; q + V <= n; q += V) STOREU(d + q, LOADU(src + q));
    if (q + 8 <= n) {
        *(v8u *)(d + q) = *(const v8u *)(src + q);
        q += 8;
    }
    if (q + 4 <= n) {
        *(v4u *)(d + q) = *(const v4u *)(src + q);
        q += 4;
    }
    for (; q < n; q++) d[q] = src[q];
}

INLINE void zero_f(float *d, int n)
{
    int q = 0;
    for (; q + V <= n; q += V) STOREU(d + q, (vf){0});
    if (q + 8 <= n) {
        *(v8u *)(d + q) = (v8u){0};
        q += 8;
    }
    if (q + 4 <= n) {
        *(v4u *)(d + q) = (v4u){0};
        q += 4;
    }
    for (; q < n; q++) d[q] = 0.0f;
}

/* Padded input rows of output rows [r0, r1) of one group x (cg, h, w) into xp
   (cg, xrows, xw); xp column q is input column q - pw. */
INLINE void pad_rows(const geom *g, const float *restrict x, int r0, int r1, float *restrict xp)
{
    int nr = (r1 - r0 - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    int c0 = g->pw < g->xw ? g->pw : g->xw;
    int c1 = g->pw + g->w < g->xw ? g->pw + g->w : g->xw;
    if (c1 < c0) c1 = c0;
    for (int ci = 0; ci < g->cg; ci++)
        for (int rr = 0; rr < nr; rr++) {
            int ih = r0 * g->sh - g->ph + rr;
            float *d = xp + ((size_t)ci * g->xrows + rr) * g->xw;
            if (ih < 0 || ih >= g->h) {
                zero_f(d, g->xw);
                continue;
            }
            const float *src = x + ((size_t)ci * g->h + ih) * g->w;
            zero_f(d, c0);
            copy_f(d + c0, src + (c0 - g->pw), c1 - c0);
            zero_f(d + c1, g->xw - c1);
        }
}

/* The micro-kernels use GCC vector types (one vf = 16 floats: a zmm register with
   AVX-512, two ymm / four xmm in the other clones) with loops of constant trip count
   unrolled, so the accumulators live in registers; arrays of floats under omp simd
   were kept on the stack. */
/* col (K, nro * ow) = patches of nro output rows from the padded rows xp. With stride
   1 a row is copied in whole vectors that may run up to V - 1 floats past its end:
   into the next row's place (written after it) or the slack of xp and col. */
INLINE void im2col(const geom *g, const float *restrict xp, int nro, float *restrict col)
{
    size_t r = 0;
    for (int ci = 0; ci < g->cg; ci++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++, r++) {
                const float *s0 = xp + ((size_t)ci * g->xrows + (size_t)i * g->dh) * g->xw +
                                  (size_t)j * g->dw;
                float *d = col + r * g->ldcol;
                for (int t = 0; t < nro; t++, d += g->ow) {
                    const float *src = s0 + (size_t)t * g->sh * g->xw;
                    if (g->sw == 1) {
                        for (int q = 0; q < g->ow; q += V) STOREU(d + q, LOADU(src + q));
                    } else if (g->sw == 2) {
#pragma omp simd
                        for (int q = 0; q < g->ow; q++) d[q] = src[2 * q];
                    } else {
                        const int sw = g->sw;
                        for (int q = 0; q < g->ow; q++) d[q] = src[q * sw];
                    }
                }
            }
}

/* dxp (cg, xrows, xw) += col (K, nro * ow) scattered back (im2col's transpose). With
   stride-1 columns, each padded row and kernel column j first sums its kh
   contributions in registers and then updates dxp once: dxp rows are updated at
   shifted offsets for successive j, and a load straddling two recent stores waits
   for both to retire, so fewer, farther-apart updates keep it from stalling. The
   last partial vector of a row adds col's values only in its first lanes. */
INLINE void col2im(const geom *g, const float *restrict col, int nro, float *restrict dxp)
{
    int nr = (nro - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    if (g->sw != 1) {
        size_t r = 0;
        for (int ci = 0; ci < g->cg; ci++)
            for (int i = 0; i < g->kh; i++)
                for (int j = 0; j < g->kw; j++, r++) {
                    float *d0 = dxp + ((size_t)ci * g->xrows + (size_t)i * g->dh) * g->xw +
                                (size_t)j * g->dw;
                    const float *src = col + r * g->ldcol;
                    const int sw = g->sw;
                    for (int t = 0; t < nro; t++, src += g->ow) {
                        float *d = d0 + (size_t)t * g->sh * g->xw;
                        /* distinct q hit distinct columns (stride > 0) */
#pragma omp simd
                        for (int q = 0; q < g->ow; q++) d[q * sw] += src[q];
                    }
                }
        return;
    }
    int rem = g->ow % V;
    vi mask;
    for (int l = 0; l < V; l++) mask[l] = l < rem ? -1 : 0;
    for (int ci = 0; ci < g->cg; ci++)
        for (int j = 0; j < g->kw; j++)
            for (int R = 0; R < nr; R++) {
                float *d = dxp + ((size_t)ci * g->xrows + (size_t)R) * g->xw + (size_t)j * g->dw;
                for (int q = 0; q < g->ow; q += V) {
                    vf acc = {0};
                    for (int i = 0; i < g->kh; i++) {
                        int u = R - i * g->dh;
                        if (u < 0 || u % g->sh) continue;
                        int t = u / g->sh;
                        if (t >= nro) continue;
                        const float *src = col +
                                           (((size_t)ci * g->kh + (size_t)i) * g->kw + (size_t)j) * g->ldcol +
                                           (size_t)t * g->ow + (size_t)q;
                        vf v = LOADU(src);
                        acc += q + V <= g->ow ? v : (vf)((vi)v & mask);
                    }
                    STOREU(d + q, LOADU(d + q) + acc);
                }
            }
}

/* C (mr, NV*V) = init + A (mr, k) * B (k, NV*V); A row-major (lda), B rows ldb apart.
   init: per-row start value (bias) or NULL for zero. mr and NV are constants at every
   call site. */
INLINE void nn_tile(const int mr, const int NV, int k, const float *restrict a, int lda,
                    const float *restrict b, size_t ldb, const float *init, float *restrict c,
                    size_t ldc)
{
    vf acc[MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[i][v] = (vf){0} + (init ? init[i] : 0.0f);
    for (int p = 0; p < k; p++) {
        vf bv[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) bv[v] = LOADU(b + (size_t)p * ldb + (size_t)v * V);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            float av = a[(size_t)i * lda + p];
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[i][v] += av * bv[v];
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) STOREU(c + (size_t)i * ldc + (size_t)v * V, acc[i][v]);
}

/* The same for a last tile of nj < V columns: B rows are readable a vector past them
   (slack), C gets only nj. */
INLINE void nn_tail(const int mr, int nj, int k, const float *restrict a, int lda,
                    const float *restrict b, size_t ldb, const float *init, float *restrict c,
                    size_t ldc)
{
    vf acc[MR];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) acc[i] = (vf){0} + (init ? init[i] : 0.0f);
    for (int p = 0; p < k; p++) {
        vf bv = LOADU(b + (size_t)p * ldb);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) acc[i] += a[(size_t)i * lda + p] * bv;
    }
    for (int i = 0; i < mr; i++)
        for (int l = 0; l < nj; l++) c[(size_t)i * ldc + l] = acc[i][l];
}

#define NN_CASE(R, NV)                                                                  \
    case R:                                                                             \
        nn_tile(R, NV, k, ai, lda, b + j, ldb, ini, c + (size_t)i * ldc + j, ldc);     \
        break;
#define NT_CASE(R)                                                                      \
    case R:                                                                             \
        nn_tail(R, n - j, k, ai, lda, b + j, ldb, ini, c + (size_t)i * ldc + j, ldc);  \
        break;

/* C (m, n) = init + A (m, k) * B (k, n), B rows readable V floats past n: column
   tiles outer (a B tile stays in L1 across the row blocks), MR-row blocks inner. */
INLINE void gemm_nn(int m, int n, int k, const float *a, int lda, const float *b, size_t ldb,
                    const float *init, float *c, size_t ldc)
{
    int j = 0;
    for (; j + 2 * V <= n; j += 2 * V)
        for (int i = 0; i < m; i += MR) {
            const float *ai = a + (size_t)i * lda, *ini = init ? init + i : NULL;
            switch (m - i < MR ? m - i : MR) {
                NN_CASE(1, 2) NN_CASE(2, 2) NN_CASE(3, 2) NN_CASE(4, 2)
                NN_CASE(5, 2) NN_CASE(6, 2) NN_CASE(7, 2) NN_CASE(8, 2)
            }
        }
    for (; j + V <= n; j += V)
        for (int i = 0; i < m; i += MR) {
            const float *ai = a + (size_t)i * lda, *ini = init ? init + i : NULL;
            switch (m - i < MR ? m - i : MR) {
                NN_CASE(1, 1) NN_CASE(2, 1) NN_CASE(3, 1) NN_CASE(4, 1)
                NN_CASE(5, 1) NN_CASE(6, 1) NN_CASE(7, 1) NN_CASE(8, 1)
            }
        }
    if (j < n)
        for (int i = 0; i < m; i += MR) {
            const float *ai = a + (size_t)i * lda, *ini = init ? init + i : NULL;
            switch (m - i < MR ? m - i : MR) {
                NT_CASE(1) NT_CASE(2) NT_CASE(3) NT_CASE(4)
                NT_CASE(5) NT_CASE(6) NT_CASE(7) NT_CASE(8)
            }
        }
}

/* part (m, kk, V) += lane-wise products of A (m, n) rows and B (kk, n) rows, n a
   multiple of V, 4 x 4 rows at a time. */
INLINE void nt_lanes(int m, int kk, int n, const float *restrict a, size_t lda,
                     const float *restrict b, size_t ldb, float *restrict part)
{
    for (int i0 = 0; i0 < m; i0 += 4)
        for (int p0 = 0; p0 < kk; p0 += 4) {
            int mi = m - i0 < 4 ? m - i0 : 4, mp = kk - p0 < 4 ? kk - p0 : 4;
            /* rows past mi / mp repeat the last valid row: full 4 x 4 tiles whose extra
               results are discarded */
            const float *ar[4], *br[4];
            float *pr[4][4];
            vf acc[4][4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) ar[i] = a + (size_t)(i0 + (i < mi ? i : mi - 1)) * lda;
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++) br[p] = b + (size_t)(p0 + (p < mp ? p : mp - 1)) * ldb;
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
                for (int p = 0; p < 4; p++) {
                    pr[i][p] = part + ((size_t)(i0 + (i < mi ? i : mi - 1)) * kk +
                                       (size_t)(p0 + (p < mp ? p : mp - 1))) * V;
                    acc[i][p] = LOADU(pr[i][p]);
                }
            for (int q = 0; q < n; q += V) {
                vf av[4], bv[4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) av[i] = LOADU(ar[i] + q);
#pragma GCC unroll 4
                for (int p = 0; p < 4; p++) bv[p] = LOADU(br[p] + q);
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
                    for (int p = 0; p < 4; p++) acc[i][p] += av[i] * bv[p];
            }
            for (int i = 0; i < mi; i++)
                for (int p = 0; p < mp; p++) STOREU(pr[i][p], acc[i][p]);
        }
}

/* pdb (m, V) += lane-wise sums of A (m, n) rows, n a multiple of V. */
INLINE void row_lanes(int m, int n, const float *restrict a, size_t lda, float *restrict pdb)
{
    for (int i = 0; i < m; i++) {
        const float *ar = a + (size_t)i * lda;
        vf acc = LOADU(pdb + (size_t)i * V);
        for (int q = 0; q < n; q += V) acc += LOADU(ar + q);
        STOREU(pdb + (size_t)i * V, acc);
    }
}

/* Fixed-order sum of V lanes. */
static inline float lanes_sum(const float *v)
{
    float s8[8], s4[4];
    for (int l = 0; l < 8; l++) s8[l] = v[l] + v[l + 8];
    for (int l = 0; l < 4; l++) s4[l] = s8[l] + s8[l + 4];
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

static void chunk_rows(const geom *g, int ch, int *r0, int *r1)
{
    *r0 = ch * g->rows;
    *r1 = *r0 + g->rows < g->oh ? *r0 + g->rows : g->oh;
}

CNN_CLONES static void fwd_item(const geom *g, const float *xn, const float *w, const float *b,
                            float *yn, int ch, float *buf)
{
    int r0, r1;
    chunk_rows(g, ch, &r0, &r1);
    float *col = buf, *xp = buf + g->xp_off;
    for (int gi = 0; gi < g->g; gi++) {
        pad_rows(g, xn + (size_t)gi * g->cg * g->h * g->w, r0, r1, xp);
        im2col(g, xp, r1 - r0, col);
        gemm_nn(g->og, (r1 - r0) * g->ow, g->K, w + (size_t)gi * g->og * g->K, g->K, col,
                g->ldcol, b ? b + (size_t)gi * g->og : NULL,
                yn + (size_t)gi * g->og * g->P + (size_t)r0 * g->ow, g->P);
    }
}

/* The arguments of one call, for the pool's chunks (slot: the per-thread buffers). */
typedef struct thin_args {
    const geom *g;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db, *part, *scratch;
    size_t xs, ys, cK, per;
    long items;
    int slots;
} thin_args;

static void fwd_chunk(void *arg, long it, int slot)
{
    const thin_args *a = arg;
    const geom *g = a->g;
    int n = (int)(it / g->chunks), ch = (int)(it % g->chunks);
    fwd_item(g, a->x + (size_t)n * a->xs, a->w, a->b, a->y + (size_t)n * a->ys, ch,
             a->scratch + (size_t)slot * g->per_thread);
}

void cnn_thin_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                           float *y, void *scratch)
{
    geom g = make_geom(c, CHUNK_BYTES);
    thin_args a = {.g = &g, .x = x, .w = w, .b = b, .y = y, .scratch = scratch,
                   .xs = (size_t)c->c_in * g.h * g.w, .ys = (size_t)c->c_out * g.P};
    cnn_parallel_for_n((long)g.n * g.chunks, par_threads(c), fwd_chunk, &a);
}

/* One image: per chunk and group, col = W_g^T dy_chunk into padded rows, which are
   then added to dx (chunks overlap in dx rows, so an image stays on one thread). */
CNN_CLONES static void bwd_data_image(const geom *g, const float *dyn, const float *wt, float *dxn,
                                  float *buf)
{
    float *col = buf, *dxp = buf + g->xp_off, *dyp = buf + g->dyp_off;
    for (int ch = 0; ch < g->chunks; ch++) {
        int r0, r1;
        chunk_rows(g, ch, &r0, &r1);
        int np = (r1 - r0) * g->ow;
        int nr = (r1 - r0 - 1) * g->sh + (g->kh - 1) * g->dh + 1;
        for (int gi = 0; gi < g->g; gi++) {
            for (int o = 0; o < g->og; o++)
                copy_f(dyp + (size_t)o * g->ldcol,
                       dyn + ((size_t)gi * g->og + o) * g->P + (size_t)r0 * g->ow, np);
            gemm_nn(g->K, np, g->og, wt + (size_t)gi * g->K * g->og, g->og, dyp, g->ldcol, NULL,
                    col, g->ldcol);
            memset(dxp, 0, (size_t)g->cg * g->xrows * g->xw * sizeof *dxp);
            col2im(g, col, r1 - r0, dxp);
            int lo = g->pw, hi = g->pw + g->w < g->xw ? g->pw + g->w : g->xw;
            for (int ci = 0; ci < g->cg; ci++)
                for (int rr = 0; rr < nr; rr++) {
                    int ih = r0 * g->sh - g->ph + rr;
                    if (ih < 0 || ih >= g->h) continue;
                    float *d = dxn + (((size_t)gi * g->cg + ci) * g->h + ih) * g->w - g->pw;
                    const float *s = dxp + ((size_t)ci * g->xrows + rr) * g->xw;
#pragma omp simd
                    for (int q = lo; q < hi; q++) d[q] += s[q];
                }
        }
    }
}

static void bwd_data_chunk(void *arg, long n, int slot)
{
    const thin_args *a = arg;
    bwd_data_image(a->g, a->dy + (size_t)n * a->ys, a->w, a->dx + (size_t)n * a->xs,
                   a->scratch + (size_t)slot * a->g->per_thread);
}

void cnn_thin_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w,
                                 float *dx, void *scratch)
{
    geom g = make_geom(c, CHUNK_BYTES);
    layout l = make_layout(c);
    float *wt = (float *)scratch + l.wt;
    /* W_g^T (K, og) per group */
    for (int gi = 0; gi < g.g; gi++)
        for (int o = 0; o < g.og; o++)
            for (int r = 0; r < g.K; r++)
                wt[((size_t)gi * g.K + r) * g.og + o] = w[((size_t)gi * g.og + o) * g.K + r];
    thin_args a = {.g = &g, .dy = dy, .w = wt, .dx = dx, .scratch = scratch,
                   .xs = (size_t)c->c_in * g.h * g.w, .ys = (size_t)c->c_out * g.P};
    cnn_parallel_for_n(g.n, par_threads(c), bwd_data_chunk, &a);
}

/* Items [i0, i1) of one slot into its partials (zeroed here). An item is ipi whole
   images side by side in col (ipi > 1 only when an image is one chunk), or one chunk;
   each image's columns are padded to a multiple of V with zeros in col and dy. */
CNN_CLONES static void bwd_weights_slot(const geom *g, const float *x, const float *dy, bool want_db,
                                    long i0, long i1, float *buf, float *pdw, float *pdb)
{
    float *col = buf, *xp = buf + g->xp_off, *dyp = buf + g->dyp_off;
    memset(pdw, 0, (size_t)g->g * g->og * g->K * V * sizeof *pdw);
    memset(pdb, 0, (size_t)g->g * g->og * V * sizeof *pdb);
    size_t xs = (size_t)g->g * g->cg * g->h * g->w, ys = (size_t)g->g * g->og * g->P;
    for (long it = i0; it < i1; it++) {
        int n0, n1, ch;
        if (g->chunks == 1) {
            n0 = (int)(it * g->ipi);
            n1 = n0 + g->ipi < g->n ? n0 + g->ipi : g->n;
            ch = 0;
        } else {
            n0 = (int)(it / g->chunks);
            n1 = n0 + 1;
            ch = (int)(it % g->chunks);
        }
        int r0, r1;
        chunk_rows(g, ch, &r0, &r1);
        size_t np = (size_t)(r1 - r0) * g->ow;
        for (int gi = 0; gi < g->g; gi++) {
            for (int n = n0; n < n1; n++) {
                size_t off = (size_t)(n - n0) * g->seg;
                pad_rows(g, x + (size_t)n * xs + (size_t)gi * g->cg * g->h * g->w, r0, r1, xp);
                im2col(g, xp, r1 - r0, col + off);
                /* zero the padding up to a multiple of V: one vector, running into
                   the next image's place (written after) or the slack */
                if (np % V)
                    for (int r = 0; r < g->K; r++) STOREU(col + r * g->ldcol + off + np, (vf){0});
                for (int o = 0; o < g->og; o++) {
                    float *d = dyp + (size_t)o * g->ldcol + off;
                    copy_f(d, dy + (size_t)n * ys + ((size_t)gi * g->og + o) * g->P +
                                  (size_t)r0 * g->ow, (int)np);
                    if (np % V) STOREU(d + np, (vf){0});
                }
            }
            /* several images: each fills its seg (np is then oh * ow); one image's
               last chunk may be shorter than seg */
            int nc = (int)((size_t)(n1 - n0 - 1) * g->seg + round_up(np, V));
            nt_lanes(g->og, g->K, nc, dyp, g->ldcol, col, g->ldcol,
                     pdw + (size_t)gi * g->og * g->K * V);
            if (want_db) row_lanes(g->og, nc, dyp, g->ldcol, pdb + (size_t)gi * g->og * V);
        }
    }
}

/* Sum of one element's partials: slots in order, then its V lanes in a fixed tree. */
CNN_CLONES static float reduce_slots(const float *p, size_t per, int slots)
{
    vf acc = {0};
    for (int s = 0; s < slots; s++) acc += LOADU(p + (size_t)s * per);
    float lanes[V];
    STOREU(lanes, acc);
    return lanes_sum(lanes);
}

/* Partial slot s: a fixed range of items, whichever thread runs it. */
static void bwd_weights_chunk(void *arg, long s, int slot)
{
    const thin_args *a = arg;
    float *pdw = a->part + (size_t)s * a->per;
    bwd_weights_slot(a->g, a->x, a->dy, a->db != NULL, a->items * s / a->slots,
                     a->items * (s + 1) / a->slots, a->scratch + (size_t)slot * a->g->per_thread,
                     pdw, pdw + a->cK * V);
}

static void reduce_chunk(void *arg, long e0, long e1, int slot)
{
    const thin_args *a = arg;
    for (long e = e0; e < e1; e++) {
        float v = reduce_slots(a->part + (size_t)e * V, a->per, a->slots);
        if (e < (long)a->cK)
            a->dw[e] += v;
        else if (a->db)
            a->db[e - (long)a->cK] += v;
    }
}

void cnn_thin_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                    float *dw, float *db, void *scratch)
{
    geom g = make_geom(c, ITEM_BYTES);
    layout l = make_layout(c);
    float *part = (float *)scratch + l.part;
    size_t cK = (size_t)c->c_out * g.K, per = (cK + (size_t)c->c_out) * V;
    long items = g.chunks == 1 ? (g.n + g.ipi - 1) / g.ipi : (long)g.n * g.chunks;
    int slots = items < NSLOT ? (int)items : NSLOT;
    thin_args a = {.g = &g, .x = x, .dy = dy, .dw = dw, .db = db, .part = part,
                   .scratch = scratch, .cK = cK, .per = per, .items = items, .slots = slots};
    cnn_parallel_for_n(slots, par_threads(c), bwd_weights_chunk, &a);
    /* slots in order, then lanes in a fixed tree */
    cnn_parallel_range((long)(cK + (size_t)c->c_out), 256, par_threads(c), reduce_chunk, &a);
}

/* The cpu backend's general tensor ops (binary, unary, reduce, matmul, pad, slice,
   transpose): the index space walked as rows over dimensions merged where every
   operand is contiguous (nd_iter.h), the stride patterns of the common broadcasts as
   their own vectorisable loops, rows in parallel (the pool, in ranges of rows). Each output element
   is computed by the same operations in the same order as in ref (tensor_math.h); an operand
   broadcast over the output takes its gradient on one thread in order, so results do not depend on
   the thread count (docs/architecture.md, "Kernels"). */
#include <string.h>

#include "../../core/pool.h"
#include "../nd_iter.h"
#include "../tensor_math.h"
#include "tensor_cpu.h"

/* Rows per range of a parallel loop whose rows each take `per_row` elements of work:
   about 16k elements a range (which rows go together never changes a result). */
static long row_grain(int64_t per_row)
{
    int64_t g = per_row > 0 ? 16384 / per_row : 16384;
    return g < 1 ? 1 : (long)g;
}

/* Arguments of the parallel loops below. */
typedef struct {
    const void *d;
    const cnn_nd_iter *it, *red;
    const float *a, *b, *y, *dy;
    float *out;
    int op, k;
    int64_t count, s, inner;
    int64_t *const *map;
} tc_args;

static void iter_of(const cnn_nd_desc *d, int nops, cnn_nd_iter *it)
{
    int64_t st[CNN_ND_OPS][CNN_MAX_DIMS];
    memcpy(st, d->st, sizeof st);
    cnn_nd_iter_init(it, d->r, d->dims, nops, st);
}

/* one row: y[j] = a[j*sa] op b[j*sb] */
static inline void bin_row_s(cnn_binary_op op, const float *a, int64_t sa, const float *b,
                             int64_t sb, float *y, int64_t m)
{
#define BIN_LOOP(EXPR)                                                                             \
    for (int64_t j = 0; j < m; j++) {                                                              \
        const float x = a[j * sa], v = b[j * sb];                                                  \
        y[j] = (EXPR);                                                                             \
    }
    switch (op) {
    case CNN_BIN_ADD: BIN_LOOP(x + v) break;
    case CNN_BIN_SUB: BIN_LOOP(x - v) break;
    case CNN_BIN_MUL: BIN_LOOP(x * v) break;
    case CNN_BIN_DIV: BIN_LOOP(x / v) break;
    case CNN_BIN_MAX: BIN_LOOP(cnn_k_max(x, v)) break;
    case CNN_BIN_MIN: BIN_LOOP(cnn_k_min(x, v)) break;
    case CNN_BIN_POW: BIN_LOOP(powf(x, v)) break;
    }
#undef BIN_LOOP
}

/* the common stride pairs with constant strides, so those loops vectorise */
static void bin_row(cnn_binary_op op, const float *a, int64_t sa, const float *b, int64_t sb,
                    float *y, int64_t m)
{
    if (sa == 1 && sb == 1)
        bin_row_s(op, a, 1, b, 1, y, m);
    else if (sa == 1 && sb == 0)
        bin_row_s(op, a, 1, b, 0, y, m);
    else if (sa == 0 && sb == 1)
        bin_row_s(op, a, 0, b, 1, y, m);
    else
        bin_row_s(op, a, sa, b, sb, y, m);
}

static void bin_fwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_nd_iter *it = t->it;
    for (int64_t row = lo; row < hi; row++) {
        int64_t off[3];
        cnn_nd_row(it, row, 3, off);
        bin_row((cnn_binary_op)t->op, t->a + off[0], it->st[0][it->r - 1], t->b + off[1],
                it->st[1][it->r - 1], t->out + off[2], it->inner);
    }
}

void cnn_cpu_binary_forward(cnn_binary_op op, const cnn_nd_desc *d, const float *a, const float *b,
                            float *y)
{
    cnn_nd_iter it;
    iter_of(d, 3, &it);
    tc_args t = {.it = &it, .a = a, .b = b, .out = y, .op = (int)op};
    cnn_parallel_range((long)it.rows, row_grain(it.inner),
                       cnn_threads_for((double)(size_t)(it.rows * it.inner)), bin_fwd_rows, &t);
}

static void grad_rows(cnn_binary_op op, const cnn_nd_iter *it, int k, const float *a,
                      const float *b, const float *z, const float *dy, float *dx, int64_t r0,
                      int64_t r1)
{
    const int64_t sa = it->st[0][it->r - 1], sb = it->st[1][it->r - 1];
    const int64_t sx = it->st[k][it->r - 1];
    for (int64_t row = r0; row < r1; row++) {
        int64_t off[3];
        cnn_nd_row(it, row, 3, off);
        const float *pa = a + off[0], *pb = b + off[1], *pz = z + off[2], *pg = dy + off[2];
        float *px = dx + off[k];
        for (int64_t j = 0; j < it->inner; j++)
            px[j * sx] += cnn_k_binary_grad(op, k, pg[j], pa[j * sa], pb[j * sb], pz[j]);
    }
}

static void bin_bwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    grad_rows((cnn_binary_op)t->op, t->it, t->k, t->a, t->b, t->y, t->dy, t->out, lo, hi);
}

void cnn_cpu_binary_backward(cnn_binary_op op, const cnn_nd_desc *d, int k, const float *a,
                             const float *b, const float *y, const float *dy, float *dx)
{
    cnn_nd_iter it;
    iter_of(d, 3, &it);
    size_t total = 1, own = 1; /* elements of the output and of operand k */
    for (int i = 0; i < d->r; i++) {
        total *= (size_t)d->dims[i];
        own *= d->st[k][i] ? (size_t)d->dims[i] : 1;
    }
    /* an operand as large as the output takes each row once: rows in parallel;
       a broadcast one accumulates rows into shared elements: one thread, in order */
    if (own == total) {
        tc_args t = {.it = &it, .a = a, .b = b, .y = y, .dy = dy, .out = dx, .op = (int)op, .k = k};
        cnn_parallel_range((long)it.rows, row_grain(it.inner), cnn_threads_for((double)total), bin_bwd_rows,
                           &t);
    } else {
        grad_rows(op, &it, k, a, b, y, dy, dx, 0, it.rows);
    }
}

static void un_fwd_range(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const float *x = t->a;
    float *y = t->out;
#define UN_LOOP(EXPR)                                                                              \
    for (long i = lo; i < hi; i++) {                                                               \
        const float v = x[i];                                                                      \
        y[i] = (EXPR);                                                                             \
    }
    switch ((cnn_unary_op)t->op) {
    case CNN_UN_NEG: UN_LOOP(-v) break;
    case CNN_UN_ABS: UN_LOOP(fabsf(v)) break;
    case CNN_UN_EXP: UN_LOOP(expf(v)) break;
    case CNN_UN_LOG: UN_LOOP(logf(v)) break;
    case CNN_UN_SQRT: UN_LOOP(sqrtf(v)) break;
    case CNN_UN_RECIPROCAL: UN_LOOP(1.0f / v) break;
    }
#undef UN_LOOP
}

void cnn_cpu_unary_forward(cnn_unary_op op, size_t n, const float *x, float *y)
{
    tc_args t = {.a = x, .out = y, .op = (int)op};
    cnn_parallel_range((long)n, 16384, cnn_threads_for((double)n), un_fwd_range, &t);
}

static void un_bwd_range(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const float *x = t->a, *y = t->y, *dy = t->dy;
    float *dx = t->out;
#define UN_LOOP(EXPR)                                                                              \
    for (long i = lo; i < hi; i++) {                                                               \
        const float g = dy[i], v = x[i], z = y[i];                                                 \
        (void)v, (void)z;                                                                          \
        dx[i] += (EXPR);                                                                           \
    }
    switch ((cnn_unary_op)t->op) {
    case CNN_UN_NEG: UN_LOOP(-g) break;
    case CNN_UN_ABS: UN_LOOP(v > 0.0f ? g : (v < 0.0f ? -g : 0.0f)) break;
    case CNN_UN_EXP: UN_LOOP(g * z) break;
    case CNN_UN_LOG: UN_LOOP(g / v) break;
    case CNN_UN_SQRT: UN_LOOP(g / (2.0f * z)) break;
    case CNN_UN_RECIPROCAL: UN_LOOP(-g * z * z) break;
    }
#undef UN_LOOP
}

void cnn_cpu_unary_backward(cnn_unary_op op, size_t n, const float *x, const float *y,
                            const float *dy, float *dx)
{
    tc_args t = {.a = x, .y = y, .dy = dy, .out = dx, .op = (int)op};
    cnn_parallel_range((long)n, 16384, cnn_threads_for((double)n), un_bwd_range, &t);
}

/* kept axes: operand 0 = x, 1 = out (contiguous); reduced axes: x only */
static void red_iters(const cnn_reduce_desc *d, cnn_nd_iter *kept, cnn_nd_iter *red, int64_t *count)
{
    int r = d->r, nk = 0, nr = 0;
    int64_t sx[CNN_MAX_DIMS], sk[2][CNN_MAX_DIMS], sr[1][CNN_MAX_DIMS];
    int dk[CNN_MAX_DIMS], dr[CNN_MAX_DIMS];
    cnn_nd_strides(r, d->dims, sx);
    for (int i = 0; i < r; i++) {
        if (d->reduced[i]) {
            dr[nr] = d->dims[i];
            sr[0][nr++] = sx[i];
        } else {
            dk[nk] = d->dims[i];
            sk[0][nk++] = sx[i];
        }
    }
    int64_t so = 1; /* out strides over the kept axes, row-major */
    for (int i = nk - 1; i >= 0; i--) {
        sk[1][i] = so;
        so *= dk[i];
    }
    cnn_nd_iter_init(kept, nk, dk, 2, sk);
    cnn_nd_iter_init(red, nr, dr, 1, sr);
    *count = red->rows * red->inner;
}

static size_t red_numel(const cnn_reduce_desc *d)
{
    size_t n = 1;
    for (int i = 0; i < d->r; i++)
        n *= (size_t)d->dims[i];
    return n;
}

static float reduce_one(cnn_reduce_op op, const float *x, const cnn_nd_iter *red, int64_t count)
{
    const int64_t s = red->st[0][red->r - 1];
    if (op == CNN_REDUCE_MEAN || op == CNN_REDUCE_SUM) {
        double acc = 0.0;
        for (int64_t row = 0; row < red->rows; row++) {
            int64_t off;
            cnn_nd_row(red, row, 1, &off);
            for (int64_t j = 0; j < red->inner; j++)
                acc += x[off + j * s];
        }
        return (float)(op == CNN_REDUCE_MEAN ? acc / (double)count : acc);
    }
    float m = x[0];
    for (int64_t row = 0; row < red->rows; row++) {
        int64_t off;
        cnn_nd_row(red, row, 1, &off);
        for (int64_t j = 0; j < red->inner; j++) {
            float v = x[off + j * s];
            if (isnan(v) || (op == CNN_REDUCE_MAX ? v > m : v < m)) m = v;
            if (isnan(m)) return m;
        }
    }
    return m;
}

static void red_fwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_reduce_desc *d = t->d;
    const cnn_nd_iter kept = *t->it, red = *t->red;
    const int64_t count = t->count;
    const float *x = t->a;
    float *y = t->out;
    for (int64_t row = lo; row < hi; row++) {
        int64_t off[2];
        cnn_nd_row(&kept, row, 2, off);
        for (int64_t j = 0; j < kept.inner; j++)
            y[off[1] + j] = reduce_one(d->op, x + off[0] + j * kept.st[0][kept.r - 1], &red, count);
    }
}

void cnn_cpu_reduce_forward(const cnn_reduce_desc *d, const float *x, float *y)
{
    cnn_nd_iter kept, red;
    int64_t count;
    red_iters(d, &kept, &red, &count);
    tc_args t = {.d = d, .it = &kept, .red = &red, .count = count, .a = x, .out = y};
    cnn_parallel_range((long)kept.rows, row_grain(kept.inner * count), cnn_threads_for((double)red_numel(d)),
                       red_fwd_rows, &t);
}

static void red_bwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_reduce_desc *d = t->d;
    const cnn_nd_iter kept = *t->it, red = *t->red;
    const int64_t count = t->count, s = t->s;
    const float *x = t->a, *y = t->y, *dy = t->dy;
    float *dx = t->out;
    for (int64_t row = lo; row < hi; row++) {
        int64_t off[2];
        cnn_nd_row(&kept, row, 2, off);
        for (int64_t j = 0; j < kept.inner; j++) {
            int64_t base = off[0] + j * kept.st[0][kept.r - 1];
            float g = dy[off[1] + j], target = y[off[1] + j];
            bool pick = d->op == CNN_REDUCE_MAX || d->op == CNN_REDUCE_MIN;
            if (d->op == CNN_REDUCE_MEAN) g = (float)((double)g / (double)count);
            if (pick) { /* ties share: count them first */
                int64_t ties = 0;
                for (int64_t rr = 0; rr < red.rows; rr++) {
                    int64_t o;
                    cnn_nd_row(&red, rr, 1, &o);
                    for (int64_t k = 0; k < red.inner; k++)
                        ties += x[base + o + k * s] == target;
                }
                if (ties == 0) continue; /* NaN result: no element equals it */
                g = g / (float)ties;
            }
            for (int64_t rr = 0; rr < red.rows; rr++) {
                int64_t o;
                cnn_nd_row(&red, rr, 1, &o);
                for (int64_t k = 0; k < red.inner; k++) {
                    int64_t e = base + o + k * s;
                    if (!pick || x[e] == target) dx[e] += g;
                }
            }
        }
    }
}

void cnn_cpu_reduce_backward(const cnn_reduce_desc *d, const float *x, const float *y,
                             const float *dy, float *dx)
{
    cnn_nd_iter kept, red;
    int64_t count;
    red_iters(d, &kept, &red, &count);
    const int64_t s = red.st[0][red.r - 1];
    tc_args t = {.d = d,
                 .it = &kept,
                 .red = &red,
                 .count = count,
                 .s = s,
                 .a = x,
                 .y = y,
                 .dy = dy,
                 .out = dx};
    cnn_parallel_range((long)kept.rows, row_grain(kept.inner * count), cnn_threads_for((double)red_numel(d)),
                       red_bwd_rows, &t);
}

static void stack_offsets(const cnn_matmul_desc *g, int64_t s, int64_t *oa, int64_t *ob)
{
    *oa = *ob = 0;
    for (int i = g->nb - 1; i >= 0; i--) {
        int64_t c = s % g->stack[i];
        s /= g->stack[i];
        *oa += c * g->sa[i];
        *ob += c * g->sb[i];
    }
}

/* Plain loops (i, k, j order, so the inner loop runs along rows), rows in parallel. */
static void mm_fwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_matmul_desc *g = t->d;
    const int64_t M = g->M, K = g->K, N = g->N;
    const float *A = t->a, *B = t->b;
    float *Y = t->out;
    for (int64_t row = lo; row < hi; row++) {
        int64_t s = row / M, i = row % M, oa, ob;
        stack_offsets(g, s, &oa, &ob);
        const float *a = A + oa + i * K, *b = B + ob;
        float *y = Y + row * N;
        for (int64_t j = 0; j < N; j++)
            y[j] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const float aik = a[k];
            const float *bk = b + k * N;
            for (int64_t j = 0; j < N; j++)
                y[j] += aik * bk[j];
        }
    }
}

void cnn_cpu_matmul_forward(const cnn_matmul_desc *g, const float *A, const float *B, float *Y)
{
    const int64_t M = g->M, K = g->K, N = g->N;
    int64_t rows = g->nstack * M;
    tc_args t = {.d = g, .a = A, .b = B, .out = Y};
    cnn_parallel_range((long)rows, row_grain(K * N), cnn_threads_for((double)(size_t)(rows * K * N)),
                       mm_fwd_rows, &t);
}

/* dA[s][i, :] += dY[s][i, :] B[s]^T for stacks s0..s1 (rows i in parallel) */
static void mm_grad_a_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_matmul_desc *g = t->d;
    const int64_t M = g->M, K = g->K, N = g->N, s0 = t->count;
    const float *B = t->b, *dY = t->dy;
    float *dA = t->out;
    for (int64_t r = lo; r < hi; r++) {
        int64_t s = s0 + r / M, i = r % M, oa, ob;
        stack_offsets(g, s, &oa, &ob);
        const float *dy = dY + (s * M + i) * N, *b = B + ob;
        float *da = dA + oa + i * K;
        for (int64_t k = 0; k < K; k++) {
            const float *bk = b + k * N;
            float acc = 0.0f;
            for (int64_t j = 0; j < N; j++)
                acc += dy[j] * bk[j];
            da[k] += acc;
        }
    }
}

static void grad_a(const cnn_matmul_desc *g, const float *B, const float *dY, float *dA, int64_t s0,
                   int64_t s1)
{
    const int64_t M = g->M, K = g->K, N = g->N;
    int64_t rows = (s1 - s0) * M;
    tc_args t = {.d = g, .count = s0, .b = B, .dy = dY, .out = dA};
    cnn_parallel_range((long)rows, row_grain(K * N), cnn_threads_for((double)(size_t)(rows * K * N)),
                       mm_grad_a_rows, &t);
}

/* dB[s][k, :] += sum_i A[s][i, k] dY[s][i, :] for stacks s0..s1 (rows k in parallel) */
static void mm_grad_b_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_matmul_desc *g = t->d;
    const int64_t M = g->M, K = g->K, N = g->N, s0 = t->count;
    const float *A = t->a, *dY = t->dy;
    float *dB = t->out;
    for (int64_t r = lo; r < hi; r++) {
        int64_t s = s0 + r / K, k = r % K, oa, ob;
        stack_offsets(g, s, &oa, &ob);
        const float *a = A + oa;
        float *db = dB + ob + k * N;
        for (int64_t i = 0; i < M; i++) {
            const float aik = a[i * K + k];
            const float *dy = dY + (s * M + i) * N;
            for (int64_t j = 0; j < N; j++)
                db[j] += aik * dy[j];
        }
    }
}

static void grad_b(const cnn_matmul_desc *g, const float *A, const float *dY, float *dB, int64_t s0,
                   int64_t s1)
{
    const int64_t M = g->M, K = g->K, N = g->N;
    int64_t rows = (s1 - s0) * K;
    tc_args t = {.d = g, .count = s0, .a = A, .dy = dY, .out = dB};
    cnn_parallel_range((long)rows, row_grain(M * N), cnn_threads_for((double)(size_t)(rows * M * N)),
                       mm_grad_b_rows, &t);
}

/* an operand is broadcast over stacks when one of its stack strides is 0 */
static bool mm_shared(const cnn_matmul_desc *g, const int64_t *st)
{
    for (int i = 0; i < g->nb; i++)
        if (g->stack[i] > 1 && st[i] == 0) return true;
    return false;
}

/* a broadcast operand accumulates its stacks one after another */
void cnn_cpu_matmul_backward_a(const cnn_matmul_desc *g, const float *B, const float *dY, float *dA)
{
    if (mm_shared(g, g->sa))
        for (int64_t s = 0; s < g->nstack; s++)
            grad_a(g, B, dY, dA, s, s + 1);
    else
        grad_a(g, B, dY, dA, 0, g->nstack);
}

void cnn_cpu_matmul_backward_b(const cnn_matmul_desc *g, const float *A, const float *dY, float *dB)
{
    if (mm_shared(g, g->sb))
        for (int64_t s = 0; s < g->nstack; s++)
            grad_b(g, A, dY, dB, s, s + 1);
    else
        grad_b(g, A, dY, dB, 0, g->nstack);
}

/* per axis: element offset into x of each output position (or -1), into scratch;
   the crop (negative pads) comes first, then the padding maps into what is left */
static void pad_maps(const cnn_pad_desc *d, void *scratch, int64_t **map)
{
    int r = d->r;
    int64_t *p = scratch, stride = 1;
    int64_t strides[CNN_MAX_DIMS];
    for (int i = r - 1; i >= 0; i--) {
        strides[i] = stride;
        stride *= d->in[i];
    }
    for (int i = 0; i < r; i++) {
        int64_t pb = d->pads[i], pe = d->pads[r + i];
        int64_t crop_b = pb < 0 ? -pb : 0, crop_e = pe < 0 ? -pe : 0;
        int64_t kept = d->in[i] - crop_b - crop_e;
        map[i] = p;
        for (int64_t o = 0; o < d->out[i]; o++) {
            int64_t s = cnn_k_pad_src(d->mode, o, pb > 0 ? pb : 0, kept);
            p[o] = s < 0 ? -1 : (s + crop_b) * strides[i];
        }
        p += d->out[i];
    }
}

/* x offset of the start of output row `row` (all axes but the last), -1 if in padding */
static int64_t row_src(const cnn_pad_desc *d, int64_t *const *map, int64_t row)
{
    int64_t off = 0;
    for (int i = d->r - 2; i >= 0; i--) {
        int64_t c = row % d->out[i];
        row /= d->out[i];
        if (map[i][c] < 0) return -1;
        off += map[i][c];
    }
    return off;
}

static size_t pad_numel(const cnn_pad_desc *d)
{
    size_t n = 1;
    for (int i = 0; i < d->r; i++)
        n *= (size_t)d->out[i];
    return n;
}

/* a source index per output position and axis (in scratch), copied row by row */
static void pad_fwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_pad_desc *d = t->d;
    int64_t *const *map = t->map;
    const int64_t inner = t->inner;
    const int64_t *last = map[d->r - 1];
    const float v = d->value;
    const float *x = t->a;
    float *y = t->out;
    for (int64_t row = lo; row < hi; row++) {
        int64_t off = row_src(d, map, row);
        float *py = y + row * inner;
        if (off < 0) {
            for (int64_t j = 0; j < inner; j++)
                py[j] = v;
            continue;
        }
        const float *px = x + off;
        for (int64_t j = 0; j < inner; j++)
            py[j] = last[j] < 0 ? v : px[last[j]];
    }
}

void cnn_cpu_pad_forward(const cnn_pad_desc *d, const float *x, float *y, void *scratch)
{
    int64_t *map[CNN_MAX_DIMS];
    pad_maps(d, scratch, map);
    int r = d->r;
    int64_t inner = d->out[r - 1], rows = (int64_t)pad_numel(d) / inner;
    tc_args t = {.d = d, .map = map, .inner = inner, .a = x, .out = y};
    cnn_parallel_range((long)rows, row_grain(inner), cnn_threads_for((double)pad_numel(d)), pad_fwd_rows, &t);
}

void cnn_cpu_pad_backward(const cnn_pad_desc *d, const float *dy, float *dx, void *scratch)
{
    int64_t *map[CNN_MAX_DIMS];
    pad_maps(d, scratch, map);
    int r = d->r;
    int64_t inner = d->out[r - 1], rows = (int64_t)pad_numel(d) / inner;
    const int64_t *last = map[r - 1];
    /* reflect / edge: several outputs share a source; one thread, in order */
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = row_src(d, map, row);
        if (off < 0) continue;
        const float *pg = dy + row * inner;
        float *px = dx + off;
        for (int64_t j = 0; j < inner; j++)
            if (last[j] >= 0) px[last[j]] += pg[j];
    }
}

static void slice_fwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_slice_desc *d = t->d;
    const int64_t cnt = d->count, inner = d->inner;
    const float *x = t->a;
    float *y = t->out;
    for (int64_t o = lo; o < hi; o++)
        for (int64_t k = 0; k < cnt; k++) {
            const float *src = x + (o * d->d + d->first + k * d->step) * inner;
            float *dst = y + (o * cnt + k) * inner;
            for (int64_t i = 0; i < inner; i++)
                dst[i] = src[i];
        }
}

void cnn_cpu_slice_forward(const cnn_slice_desc *d, const float *x, float *y)
{
    const int64_t outer = d->outer, cnt = d->count, inner = d->inner;
    tc_args t = {.d = d, .a = x, .out = y};
    cnn_parallel_range((long)outer, row_grain(cnt * inner),
                       cnn_threads_for((double)(size_t)(outer * cnt * inner)), slice_fwd_rows, &t);
}

static void slice_bwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_slice_desc *d = t->d;
    const int64_t cnt = d->count, inner = d->inner;
    const float *dy = t->dy;
    float *dx = t->out;
    for (int64_t o = lo; o < hi; o++)
        for (int64_t k = 0; k < cnt; k++) {
            float *dst = dx + (o * d->d + d->first + k * d->step) * inner;
            const float *src = dy + (o * cnt + k) * inner;
            for (int64_t i = 0; i < inner; i++)
                dst[i] += src[i];
        }
}

void cnn_cpu_slice_backward(const cnn_slice_desc *d, const float *dy, float *dx)
{
    const int64_t outer = d->outer, cnt = d->count, inner = d->inner;
    tc_args t = {.d = d, .dy = dy, .out = dx};
    cnn_parallel_range((long)outer, row_grain(cnt * inner),
                       cnn_threads_for((double)(size_t)(outer * cnt * inner)), slice_bwd_rows, &t);
}

/* gathers over the output with the permuted strides (dimensions that stay adjacent
   are copied as one run); backward scatters, each input element once */
static void tr_fwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_nd_iter it = *t->it;
    const int64_t s = t->s;
    const float *x = t->a;
    float *y = t->out;
    for (int64_t row = lo; row < hi; row++) {
        int64_t off[2];
        cnn_nd_row(&it, row, 2, off);
        const float *px = x + off[0];
        float *py = y + off[1];
        for (int64_t j = 0; j < it.inner; j++)
            py[j] = px[j * s];
    }
}

void cnn_cpu_transpose_forward(const cnn_nd_desc *d, const float *x, float *y)
{
    cnn_nd_iter it;
    iter_of(d, 2, &it);
    const int64_t s = it.st[0][it.r - 1];
    tc_args t = {.it = &it, .s = s, .a = x, .out = y};
    cnn_parallel_range((long)it.rows, row_grain(it.inner),
                       cnn_threads_for((double)(size_t)(it.rows * it.inner)), tr_fwd_rows, &t);
}

static void tr_bwd_rows(void *ctx, long lo, long hi, int slot)
{
    (void)slot;
    const tc_args *t = ctx;
    const cnn_nd_iter it = *t->it;
    const int64_t s = t->s;
    const float *dy = t->dy;
    float *dx = t->out;
    for (int64_t row = lo; row < hi; row++) {
        int64_t off[2];
        cnn_nd_row(&it, row, 2, off);
        float *px = dx + off[0];
        const float *pg = dy + off[1];
        for (int64_t j = 0; j < it.inner; j++)
            px[j * s] += pg[j];
    }
}

void cnn_cpu_transpose_backward(const cnn_nd_desc *d, const float *dy, float *dx)
{
    cnn_nd_iter it;
    iter_of(d, 2, &it);
    const int64_t s = it.st[0][it.r - 1];
    tc_args t = {.it = &it, .s = s, .dy = dy, .out = dx};
    cnn_parallel_range((long)it.rows, row_grain(it.inner),
                       cnn_threads_for((double)(size_t)(it.rows * it.inner)), tr_bwd_rows, &t);
}

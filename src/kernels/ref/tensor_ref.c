/* Reference kernels of the general tensor ops (binary, unary, reduce, matmul, pad,
   slice, transpose): one element at a time, its operands found by decomposing the
   element's row-major index into a multi-index. Slow and plain on purpose: the oracle
   the cpu backend is tested against (docs/architecture.md, "Kernels"). Every loop runs
   in index order, so a sum into one element adds its terms in the order the contracts
   in kernels.h state. */
#include <math.h>
#include <stdbool.h>

#include "../nd_iter.h"
#include "../tensor_math.h"
#include "ref.h"

/* elements of d's index space */
static int64_t nd_count(const cnn_nd_desc *d)
{
    int64_t n = 1;
    for (int a = 0; a < d->r; a++)
        n *= d->dims[a];
    return n;
}

/* offset of operand k at row-major index i of d's index space */
static int64_t nd_offset(const cnn_nd_desc *d, int k, int64_t i)
{
    int64_t off = 0;
    for (int a = d->r - 1; a >= 0; a--) {
        off += (i % d->dims[a]) * d->st[k][a];
        i /= d->dims[a];
    }
    return off;
}

void cnn_ref_binary_forward(cnn_binary_op op, const cnn_nd_desc *d, const float *a, const float *b,
                            float *y)
{
    for (int64_t i = 0, n = nd_count(d); i < n; i++)
        y[nd_offset(d, 2, i)] = cnn_k_binary(op, a[nd_offset(d, 0, i)], b[nd_offset(d, 1, i)]);
}

void cnn_ref_binary_backward(cnn_binary_op op, const cnn_nd_desc *d, int k, const float *a,
                             const float *b, const float *y, const float *dy, float *dx)
{
    for (int64_t i = 0, n = nd_count(d); i < n; i++) {
        int64_t oy = nd_offset(d, 2, i);
        dx[nd_offset(d, k, i)] +=
            cnn_k_binary_grad(op, k, dy[oy], a[nd_offset(d, 0, i)], b[nd_offset(d, 1, i)], y[oy]);
    }
}

void cnn_ref_unary_forward(cnn_unary_op op, size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = cnn_k_unary(op, x[i]);
}

void cnn_ref_unary_backward(cnn_unary_op op, size_t n, const float *x, const float *y,
                            const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += cnn_k_unary_grad(op, dy[i], x[i], y[i]);
}

/* reduce: the kept and the reduced axes of x as two index spaces over x's strides */
typedef struct red_split {
    cnn_nd_desc kept, red;
    int64_t count; /* elements reduced into each output */
} red_split;

static void red_split_of(const cnn_reduce_desc *d, red_split *s)
{
    int64_t st[CNN_MAX_DIMS];
    cnn_nd_strides(d->r, d->dims, st);
    s->kept.r = s->red.r = 0;
    s->count = 1;
    for (int i = 0; i < d->r; i++) {
        cnn_nd_desc *t = d->reduced[i] ? &s->red : &s->kept;
        t->dims[t->r] = d->dims[i];
        t->st[0][t->r++] = st[i];
        if (d->reduced[i]) s->count *= d->dims[i];
    }
}

void cnn_ref_reduce_forward(const cnn_reduce_desc *d, const float *x, float *y)
{
    red_split s;
    red_split_of(d, &s);
    const bool add = d->op == CNN_REDUCE_MEAN || d->op == CNN_REDUCE_SUM;
    for (int64_t o = 0, ny = nd_count(&s.kept); o < ny; o++) {
        const float *xo = x + nd_offset(&s.kept, 0, o);
        double acc = 0.0;
        float m = xo[0];
        for (int64_t j = 0; j < s.count; j++) {
            float v = xo[nd_offset(&s.red, 0, j)];
            if (add) {
                acc += v;
            } else if (isnan(v)) {
                m = v;
                break;
            } else if (d->op == CNN_REDUCE_MAX ? v > m : v < m) {
                m = v;
            }
        }
        if (d->op == CNN_REDUCE_MEAN)
            y[o] = (float)(acc / (double)s.count);
        else
            y[o] = add ? (float)acc : m;
    }
}

void cnn_ref_reduce_backward(const cnn_reduce_desc *d, const float *x, const float *y,
                             const float *dy, float *dx)
{
    red_split s;
    red_split_of(d, &s);
    const bool pick = d->op == CNN_REDUCE_MAX || d->op == CNN_REDUCE_MIN;
    for (int64_t o = 0, ny = nd_count(&s.kept); o < ny; o++) {
        int64_t base = nd_offset(&s.kept, 0, o);
        float g = dy[o];
        if (d->op == CNN_REDUCE_MEAN) g = (float)((double)g / (double)s.count);
        if (pick) { /* the elements equal to the result share g */
            int64_t ties = 0;
            for (int64_t j = 0; j < s.count; j++)
                ties += x[base + nd_offset(&s.red, 0, j)] == y[o];
            if (ties == 0) continue; /* a NaN result */
            g = g / (float)ties;
        }
        for (int64_t j = 0; j < s.count; j++) {
            int64_t e = base + nd_offset(&s.red, 0, j);
            if (!pick || x[e] == y[o]) dx[e] += g;
        }
    }
}

/* matmul: where stack s of A and of B start */
static void mm_stack(const cnn_matmul_desc *d, int64_t s, int64_t *oa, int64_t *ob)
{
    *oa = *ob = 0;
    for (int i = d->nb - 1; i >= 0; i--) {
        *oa += (s % d->stack[i]) * d->sa[i];
        *ob += (s % d->stack[i]) * d->sb[i];
        s /= d->stack[i];
    }
}

void cnn_ref_matmul_forward(const cnn_matmul_desc *d, const float *a, const float *b, float *y)
{
    const int64_t M = d->M, K = d->K, N = d->N;
    for (int64_t s = 0; s < d->nstack; s++) {
        int64_t oa, ob;
        mm_stack(d, s, &oa, &ob);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                float acc = 0.0f;
                for (int64_t k = 0; k < K; k++)
                    acc += a[oa + i * K + k] * b[ob + k * N + j];
                y[(s * M + i) * N + j] = acc;
            }
    }
}

void cnn_ref_matmul_backward_a(const cnn_matmul_desc *d, const float *b, const float *dy, float *da)
{
    const int64_t M = d->M, K = d->K, N = d->N;
    for (int64_t s = 0; s < d->nstack; s++) {
        int64_t oa, ob;
        mm_stack(d, s, &oa, &ob);
        for (int64_t i = 0; i < M; i++)
            for (int64_t k = 0; k < K; k++) {
                float acc = 0.0f; /* dA[i, k] = sum_j dY[i, j] B[k, j] */
                for (int64_t j = 0; j < N; j++)
                    acc += dy[(s * M + i) * N + j] * b[ob + k * N + j];
                da[oa + i * K + k] += acc;
            }
    }
}

void cnn_ref_matmul_backward_b(const cnn_matmul_desc *d, const float *a, const float *dy, float *db)
{
    const int64_t M = d->M, K = d->K, N = d->N;
    for (int64_t s = 0; s < d->nstack; s++) {
        int64_t oa, ob;
        mm_stack(d, s, &oa, &ob);
        for (int64_t i = 0; i < M; i++) /* dB[k, j] += A[i, k] dY[i, j], i in order */
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < N; j++)
                    db[ob + k * N + j] += a[oa + i * K + k] * dy[(s * M + i) * N + j];
    }
}

/* pad: x offset of output element e (row-major over d->out), -1 where it is padding */
static int64_t pad_source(const cnn_pad_desc *d, int64_t e)
{
    int64_t off = 0, stride = 1;
    for (int i = d->r - 1; i >= 0; i--) {
        int64_t o = e % d->out[i], pb = d->pads[i], pe = d->pads[d->r + i];
        e /= d->out[i];
        int64_t crop_b = pb < 0 ? -pb : 0, crop_e = pe < 0 ? -pe : 0;
        int64_t s = cnn_k_pad_src(d->mode, o, pb > 0 ? pb : 0, d->in[i] - crop_b - crop_e);
        if (s < 0) return -1;
        off += (s + crop_b) * stride;
        stride *= d->in[i];
    }
    return off;
}

static int64_t pad_count(const cnn_pad_desc *d)
{
    int64_t n = 1;
    for (int i = 0; i < d->r; i++)
        n *= d->out[i];
    return n;
}

void cnn_ref_pad_forward(const cnn_pad_desc *d, const float *x, float *y, void *scratch)
{
    (void)scratch;
    for (int64_t e = 0, n = pad_count(d); e < n; e++) {
        int64_t s = pad_source(d, e);
        y[e] = s < 0 ? d->value : x[s];
    }
}

void cnn_ref_pad_backward(const cnn_pad_desc *d, const float *dy, float *dx, void *scratch)
{
    (void)scratch;
    for (int64_t e = 0, n = pad_count(d); e < n; e++) {
        int64_t s = pad_source(d, e);
        if (s >= 0) dx[s] += dy[e];
    }
}

/* slice: x offset of output element e of (outer, count, inner) */
static int64_t slice_source(const cnn_slice_desc *d, int64_t e)
{
    int64_t i = e % d->inner, k = (e / d->inner) % d->count, o = e / (d->inner * d->count);
    return (o * d->d + d->first + k * d->step) * d->inner + i;
}

void cnn_ref_slice_forward(const cnn_slice_desc *d, const float *x, float *y)
{
    for (int64_t e = 0, n = d->outer * d->count * d->inner; e < n; e++)
        y[e] = x[slice_source(d, e)];
}

void cnn_ref_slice_backward(const cnn_slice_desc *d, const float *dy, float *dx)
{
    for (int64_t e = 0, n = d->outer * d->count * d->inner; e < n; e++)
        dx[slice_source(d, e)] += dy[e];
}

void cnn_ref_transpose_forward(const cnn_nd_desc *d, const float *x, float *y)
{
    for (int64_t i = 0, n = nd_count(d); i < n; i++)
        y[nd_offset(d, 1, i)] = x[nd_offset(d, 0, i)];
}

void cnn_ref_transpose_backward(const cnn_nd_desc *d, const float *dy, float *dx)
{
    for (int64_t i = 0, n = nd_count(d); i < n; i++)
        dx[nd_offset(d, 0, i)] += dy[nd_offset(d, 1, i)];
}

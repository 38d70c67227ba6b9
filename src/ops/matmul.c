/* matmul — NumPy / ONNX MatMul: (..., M, K) x (..., K, N) -> (..., M, N), the leading
   ("stack") dimensions broadcast; a 1-D first operand is a row (1, K) and a 1-D
   second one a column (K, 1), the added dimension removed from the result. Batched
   operands: the result's dimension 0 must be each batched operand's batch, which
   holds for (N, K) x (K, M) (the batch as the rows: a linear layer) and for stacks
   of the result's rank; a batched 1-D operand or a batched second operand of rank 2
   would contract over the batch and is a shape error. Plain loops (i, k, j order, so
   the inner loop runs along rows), rows in parallel; backward dA = dY B^T,
   dB = A^T dY, summed over broadcast stacks in order. cost: M K N per example.
   See docs/architecture.md, "General tensor ops". */
#include <string.h>

#include "../graph/graph_internal.h"
#include "nd.h"
#include "ops_common.h"

/* Shapes at the current batch, with 1-D operands promoted. */
typedef struct mm_geom {
    int64_t M, K, N;
    int nb;                        /* stack dimensions of the result */
    int stack[CNN_MAX_DIMS];
    int64_t sa[CNN_MAX_DIMS], sb[CNN_MAX_DIMS]; /* matrix strides per stack index (0: broadcast) */
    int64_t nstack;
} mm_geom;

static int mm_geom_of(const cnn_node *a, const cnn_node *b, mm_geom *g, int *bad_dim)
{
    int ra = a->out.ndim, rb = b->out.ndim;
    const int *da = a->out.dims, *db = b->out.dims;
    g->M = ra >= 2 ? da[ra - 2] : 1;
    g->K = da[ra - 1];
    int64_t kb = rb >= 2 ? db[rb - 2] : db[0];
    g->N = rb >= 2 ? db[rb - 1] : 1;
    if (kb != g->K) return -1;
    int na = ra > 2 ? ra - 2 : 0, nb_ = rb > 2 ? rb - 2 : 0;
    g->nb = na > nb_ ? na : nb_;
    int64_t ma = g->M * g->K, mb = g->K * g->N, sta = ma, stb = mb;
    g->nstack = 1;
    for (int i = g->nb - 1; i >= 0; i--) {
        int ia = i - (g->nb - na), ib = i - (g->nb - nb_);
        int xa = ia >= 0 ? da[ia] : 1, xb = ib >= 0 ? db[ib] : 1;
        if (xa != xb && xa != 1 && xb != 1) {
            *bad_dim = i;
            return -2;
        }
        g->stack[i] = xa > xb ? xa : xb;
        g->sa[i] = xa == 1 ? 0 : sta;
        g->sb[i] = xb == 1 ? 0 : stb;
        sta *= xa;
        stb *= xb;
        g->nstack *= g->stack[i];
    }
    return 0;
}

static cnn_status mm_shape(cnn_node *n)
{
    const cnn_node *a = n->in[0], *b = n->in[1];
    int ra = a->out.ndim, rb = b->out.ndim, bad = 0;
    mm_geom g;
    int s = mm_geom_of(a, b, &g, &bad);
    if (s == -1)
        return cnn_node_error(n, CNN_ERR_SHAPE, "%s x %s: inner dimensions %lld and %d differ",
                              cnn_node_shape_str(a), cnn_node_shape_str(b), (long long)g.K,
                              rb >= 2 ? b->out.dims[rb - 2] : b->out.dims[0]);
    if (s == -2)
        return cnn_node_error(n, CNN_ERR_SHAPE, "%s x %s: stack dimension %d does not broadcast",
                              cnn_node_shape_str(a), cnn_node_shape_str(b), bad);
    int r = 0;
    for (int i = 0; i < g.nb; i++) n->out.dims[r++] = g.stack[i];
    if (ra >= 2) n->out.dims[r++] = (int)g.M;
    if (rb >= 2) n->out.dims[r++] = (int)g.N;
    if (r == 0) n->out.dims[r++] = 1; /* vector . vector */
    n->out.ndim = r;
    n->batched = a->batched || b->batched;
    /* every batched operand's dimension 0 must become the result's dimension 0 */
    if (a->batched && !(ra == 2 ? g.nb == 0 : (ra > 2 && ra - 2 == g.nb)))
        return cnn_node_error(n, CNN_ERR_SHAPE, "%s x %s would move the batch of the first operand "
                              "out of dimension 0", cnn_node_shape_str(a), cnn_node_shape_str(b));
    if (b->batched && !(rb > 2 && rb - 2 == g.nb))
        return cnn_node_error(n, CNN_ERR_SHAPE, "%s x %s would %s the batch of the second operand",
                              cnn_node_shape_str(a), cnn_node_shape_str(b),
                              rb <= 2 ? "contract over" : "move");
    for (int k = 0; k < 2 && n->batched && g.nb > 0; k++) {
        const cnn_node *x = n->in[k];
        int rx = x->out.ndim;
        if (!x->batched && rx - 2 == g.nb && x->out.dims[0] != 1)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "the unbatched operand %s must have 1 in dimension 0 to "
                                  "broadcast over the batch", cnn_node_shape_str(x));
    }
    return CNN_OK;
}

static int64_t mm_cost(const cnn_node *n)
{
    mm_geom g;
    int bad;
    if (mm_geom_of(n->in[0], n->in[1], &g, &bad) != 0) return 0;
    int64_t total = g.nstack * g.M * g.K * g.N; /* shapes at the maximum batch */
    return n->batched && n->g->max_batch > 0 ? total / n->g->max_batch : total;
}

static void stack_offsets(const mm_geom *g, int64_t s, int64_t *oa, int64_t *ob)
{
    *oa = *ob = 0;
    for (int i = g->nb - 1; i >= 0; i--) {
        int64_t c = s % g->stack[i];
        s /= g->stack[i];
        *oa += c * g->sa[i];
        *ob += c * g->sb[i];
    }
}

static cnn_status mm_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    mm_geom g;
    int bad;
    mm_geom_of(n->in[0], n->in[1], &g, &bad);
    const float *A = n->in[0]->out.data, *B = n->in[1]->out.data;
    float *Y = n->out.data;
    const int64_t M = g.M, K = g.K, N = g.N;
    int64_t rows = g.nstack * M;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads((size_t)(rows * K * N)))
    for (int64_t row = 0; row < rows; row++) {
        int64_t s = row / M, i = row % M, oa, ob;
        stack_offsets(&g, s, &oa, &ob);
        const float *a = A + oa + i * K, *b = B + ob;
        float *y = Y + row * N;
        for (int64_t j = 0; j < N; j++) y[j] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const float aik = a[k];
            const float *bk = b + k * N;
            for (int64_t j = 0; j < N; j++) y[j] += aik * bk[j];
        }
    }
    return CNN_OK;
}

/* dA[s][i, :] += dY[s][i, :] B[s]^T for stacks s0..s1 (rows i in parallel) */
static void grad_a(const mm_geom *g, const float *B, const float *dY, float *dA, int64_t s0,
                   int64_t s1)
{
    const int64_t M = g->M, K = g->K, N = g->N;
    int64_t rows = (s1 - s0) * M;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads((size_t)(rows * K * N)))
    for (int64_t r = 0; r < rows; r++) {
        int64_t s = s0 + r / M, i = r % M, oa, ob;
        stack_offsets(g, s, &oa, &ob);
        const float *dy = dY + (s * M + i) * N, *b = B + ob;
        float *da = dA + oa + i * K;
        for (int64_t k = 0; k < K; k++) {
            const float *bk = b + k * N;
            float acc = 0.0f;
            for (int64_t j = 0; j < N; j++) acc += dy[j] * bk[j];
            da[k] += acc;
        }
    }
}

/* dB[s][k, :] += sum_i A[s][i, k] dY[s][i, :] for stacks s0..s1 (rows k in parallel) */
static void grad_b(const mm_geom *g, const float *A, const float *dY, float *dB, int64_t s0,
                   int64_t s1)
{
    const int64_t M = g->M, K = g->K, N = g->N;
    int64_t rows = (s1 - s0) * K;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads((size_t)(rows * M * N)))
    for (int64_t r = 0; r < rows; r++) {
        int64_t s = s0 + r / K, k = r % K, oa, ob;
        stack_offsets(g, s, &oa, &ob);
        const float *a = A + oa;
        float *db = dB + ob + k * N;
        for (int64_t i = 0; i < M; i++) {
            const float aik = a[i * K + k];
            const float *dy = dY + (s * M + i) * N;
            for (int64_t j = 0; j < N; j++) db[j] += aik * dy[j];
        }
    }
}

static cnn_status mm_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    mm_geom g;
    int bad;
    mm_geom_of(n->in[0], n->in[1], &g, &bad);
    const float *A = n->in[0]->out.data, *B = n->in[1]->out.data, *dY = n->grad.data;
    float *dA = n->in[0]->grad.data, *dB = n->in[1]->grad.data;
    /* an operand broadcast over stacks accumulates them one after another */
    if (dA) {
        bool shared = (int64_t)cnn_node_numel(n->in[0]) != g.nstack * g.M * g.K;
        if (shared)
            for (int64_t s = 0; s < g.nstack; s++) grad_a(&g, B, dY, dA, s, s + 1);
        else
            grad_a(&g, B, dY, dA, 0, g.nstack);
    }
    if (dB) {
        bool shared = (int64_t)cnn_node_numel(n->in[1]) != g.nstack * g.K * g.N;
        if (shared)
            for (int64_t s = 0; s < g.nstack; s++) grad_b(&g, A, dY, dB, s, s + 1);
        else
            grad_b(&g, A, dY, dB, 0, g.nstack);
    }
    return CNN_OK;
}

const cnn_op_def cnn_op_matmul = {
    .name = "matmul",
    .shape = mm_shape,
    .cost = mm_cost,
    .forward = mm_forward,
    .backward = mm_backward,
};

cnn_node *cnn_matmul(cnn_graph *g, cnn_node *a, cnn_node *b)
{
    cnn_node *in[2] = {a, b};
    return cnn_node_make(g, &cnn_op_matmul, NULL, 2, in, NULL, 0);
}

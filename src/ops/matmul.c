/* matmul — NumPy / ONNX MatMul: (..., M, K) x (..., K, N) -> (..., M, N), the leading
   ("stack") dimensions broadcast; a 1-D first operand is a row (1, K) and a 1-D
   second one a column (K, 1), the added dimension removed from the result. Batched
   operands: the result's dimension 0 must be each batched operand's batch, which
   holds for (N, K) x (K, M) (the batch as the rows: a linear layer) and for stacks
   of the result's rank; a batched 1-D operand or a batched second operand of rank 2
   would contract over the batch and is a shape error. Backward dA = dY B^T,
   dB = A^T dY, summed over broadcast stacks in order (the backend's matmul entries).
   cost: M K N per example.
   See docs/architecture.md, "General tensor ops". */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "nd.h"
#include "op_describe.h"

/* Shapes at the current batch, with 1-D operands promoted. */
static int mm_geom_of(const cnn_node *a, const cnn_node *b, cnn_matmul_desc *g, int *bad_dim)
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
    cnn_matmul_desc g;
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
    cnn_matmul_desc g;
    int bad;
    if (mm_geom_of(n->in[0], n->in[1], &g, &bad) != 0) return 0;
    int64_t total = g.nstack * g.M * g.K * g.N; /* shapes at the maximum batch */
    return n->batched && n->g->max_batch > 0 ? total / n->g->max_batch : total;
}

static cnn_status mm_forward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_matmul_desc g;
    int bad;
    mm_geom_of(n->in[0], n->in[1], &g, &bad);
    cnn_backend_get()->matmul_forward(&g, n->in[0]->out.data, n->in[1]->out.data, n->out.data);
    return CNN_OK;
}

static cnn_status mm_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_matmul_desc g;
    int bad;
    mm_geom_of(n->in[0], n->in[1], &g, &bad);
    const float *A = n->in[0]->out.data, *B = n->in[1]->out.data, *dY = n->grad.data;
    float *dA = n->in[0]->grad.data, *dB = n->in[1]->grad.data;
    if (dA) cnn_backend_get()->matmul_backward_a(&g, B, dY, dA);
    if (dB) cnn_backend_get()->matmul_backward_b(&g, A, dY, dB);
    return CNN_OK;
}

CNN_OP_DEF(matmul, .kernel_name = cnn_gemm_kernel_name, .shape = mm_shape, .cost = mm_cost,
           .forward = mm_forward, .backward = mm_backward);

CNN_OP_BUILDER_AB(matmul)

/* transpose — permutes dimensions: out.dims[i] = x.dims[perm[i]] (torch.permute, ONNX
   Transpose). On a batched node perm[0] must be 0 (the batch stays dimension 0).
   Forward gathers over the output with the permuted strides; backward scatters,
   each input element once.
   See docs/architecture.md, "General tensor ops". */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "nd.h"

typedef struct tr_attr {
    int ndim;
    int perm[CNN_MAX_DIMS];
    bool null_perm;
} tr_attr;

static cnn_status tr_shape(cnn_node *n)
{
    const tr_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    int r = x->out.ndim;
    if (a->null_perm) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "perm is NULL");
    if (a->ndim != r)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "perm has %d entries, the input %s has %d "
                              "dimensions", a->ndim, cnn_node_shape_str(x), r);
    bool seen[CNN_MAX_DIMS] = {false};
    for (int i = 0; i < r; i++) {
        int p = a->perm[i];
        if (p < 0 || p >= r || seen[p])
            return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                                  "perm is not a permutation of 0..%d (entry %d is %d)", r - 1, i,
                                  p);
        seen[p] = true;
    }
    if (x->batched && a->perm[0] != 0)
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "perm[0] = %d would move the batch of %s out of dimension 0",
                              a->perm[0], cnn_node_shape_str(x));
    n->batched = x->batched;
    n->out.ndim = r;
    for (int i = 0; i < r; i++) n->out.dims[i] = x->out.dims[a->perm[i]];
    return CNN_OK;
}

/* over the output index space: operand 0 = x (permuted strides), 1 = out */
static void tr_desc(const cnn_node *n, const cnn_ctx *ctx, cnn_nd_desc *d)
{
    const tr_attr *a = n->attr;
    int r = n->out.ndim;
    int64_t sx[CNN_MAX_DIMS];
    cnn_nd_strides(r, n->in[0]->out.dims, sx);
    d->r = r;
    for (int i = 0; i < r; i++) {
        d->dims[i] = n->out.dims[i];
        d->st[0][i] = sx[a->perm[i]];
    }
    cnn_nd_strides(r, n->out.dims, d->st[1]);
}

CNN_DESC_FORWARD(tr_forward, cnn_nd_desc, tr_desc, transpose_forward,
                 n->in[0]->out.data, n->out.data);

CNN_DESC_BACKWARD(tr_backward, cnn_nd_desc, tr_desc, transpose_backward, n->grad.data, dx);

static void tr_describe(const cnn_node *n, cnn_op_desc *d)
{
    const tr_attr *a = n->attr;
    d->n_attrs = 1;
    d->attrs[0] = (cnn_desc_attr){.key = "perm", .n = a->ndim};
    for (int i = 0; i < a->ndim; i++) d->attrs[0].i[i] = a->perm[i];
}

CNN_OP_DEF(transpose, .shape = tr_shape, .forward = tr_forward, .backward = tr_backward,
           .describe = tr_describe);

cnn_node *cnn_transpose(cnn_graph *g, cnn_node *x, int ndim, const int *perm)
{
    tr_attr a = {.ndim = ndim, .null_perm = perm == NULL};
    if (ndim >= 0 && ndim <= CNN_MAX_DIMS && perm) memcpy(a.perm, perm, (size_t)ndim * sizeof(int));
    return cnn_node_make(g, &cnn_op_transpose, NULL, 1, &x, &a, sizeof a);
}

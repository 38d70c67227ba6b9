/* reshape / flatten — (N, ...) -> (N, dims...), same elements in the same order
   (torch.flatten(x, 1), x.view(N, ...)). */
#include <stdio.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

typedef struct reshape_attr {
    int ndim; /* excluding the batch */
    int dims[CNN_MAX_DIMS - 1];
    bool flatten; /* made by cnn_flatten (for default names) */
} reshape_attr;

static cnn_status reshape_shape(cnn_node *n)
{
    reshape_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    if (!x->batched) return cnn_node_error(n, CNN_ERR_SHAPE, "input has no batch dimension");
    if (a->ndim < 1 || a->ndim > CNN_MAX_DIMS - 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "%d target dimensions (1 to %d allowed)",
                              a->ndim, CNN_MAX_DIMS - 1);
    size_t total = cnn_node_per_example(x), known = 1;
    int infer = -1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->dims[i] == -1) {
            if (infer >= 0) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "more than one -1 in the shape");
            infer = i;
        } else if (a->dims[i] < 1) {
            return cnn_node_error(n, CNN_ERR_INVALID_ARG, "dimension %d is %d", i, a->dims[i]);
        } else {
            known *= (size_t)a->dims[i];
        }
    }
    if (infer >= 0) {
        if (total % known)
            return cnn_node_error(n, CNN_ERR_SHAPE, "cannot reshape %s: %zu elements per example",
                                  cnn_node_shape_str(x), total);
        a->dims[infer] = (int)(total / known);
        known = total;
    }
    if (known != total)
        return cnn_node_error(n, CNN_ERR_SHAPE, "cannot reshape %s (%zu per example) into %zu",
                              cnn_node_shape_str(x), total, known);
    n->out.ndim = a->ndim + 1;
    n->out.dims[0] = x->out.dims[0];
    memcpy(n->out.dims + 1, a->dims, (size_t)a->ndim * sizeof(int));
    return CNN_OK;
}

static cnn_status reshape_forward(cnn_node *n, const cnn_ctx *ctx)
{
    return cnn_identity_forward(n, n->in[0]->out.data);
}

static cnn_status reshape_backward(cnn_node *n, const cnn_ctx *ctx)
{
    return cnn_identity_backward(n, n->in[0]->grad.data);
}

/* dims: shape() has resolved a -1 */
CNN_OP_DESCRIBE(reshape_describe, reshape_attr, cnn_desc_ints(d, "dims", a->ndim, a->dims));

CNN_OP_DEF(reshape, .shape = reshape_shape, .forward = reshape_forward,
           .backward = reshape_backward, .describe = reshape_describe);

cnn_node *cnn_reshape(cnn_graph *g, cnn_node *x, int ndim, const int *dims)
{
    reshape_attr a = {.ndim = ndim};
    if (ndim > 0 && ndim < CNN_MAX_DIMS && dims) memcpy(a.dims, dims, (size_t)ndim * sizeof(int));
    else a.ndim = dims ? ndim : -1;
    return cnn_node_make(g, &cnn_op_reshape, NULL, 1, &x, &a, sizeof a);
}

cnn_node *cnn_flatten(cnn_graph *g, cnn_node *x)
{
    reshape_attr a = {.ndim = 1, .dims = {-1}, .flatten = true};
    /* unique default names "flatten0", "flatten1", ... like other ops' "<op><k>" */
    char buf[32];
    const char *name = CNN_KIND_NAME(g, &cnn_op_reshape, "flatten", &a, flatten, buf);
    return cnn_node_make(g, &cnn_op_reshape, name, 1, &x, &a, sizeof a);
}

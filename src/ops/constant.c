/* constant and parameter — unbatched nodes whose value is data rather than a function
   of inputs (docs/architecture.md, "General tensor ops"). A constant holds a private
   copy of fixed data (no gradient). A parameter node's value is one parameter named
   as the node: trainable (a weight; rank 1: a bias) or a buffer; initialised to zero
   unless cnn_graph_set_initial gives values; its gradient goes to the parameter's.
   Both are written into their planned buffer by every forward (a copy: cheap next to
   the ops that read them, and the plan stays the same for every node). */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"

typedef struct const_attr {
    int ndim;
    int dims[CNN_MAX_DIMS];
    int bad;                /* 0, or what the builder found wrong (see const_check) */
    bool trainable;         /* parameter */
    size_t n;
    float data[];           /* n values (constant only) */
} const_attr;

enum { BAD_NONE = 0, BAD_RANK, BAD_DIM, BAD_DATA, BAD_TOO_BIG, BAD_NOMEM };

/* Validates rank and dims before anything is sized by them. */
static int const_check(int ndim, const int *dims, size_t *n)
{
    if (ndim < 1 || ndim > CNN_MAX_DIMS) return BAD_RANK;
    if (!dims) return BAD_DIM;
    size_t total = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1) return BAD_DIM;
        if (total > ((size_t)1 << 40) / (size_t)dims[i]) return BAD_TOO_BIG;
        total *= (size_t)dims[i];
    }
    *n = total;
    return BAD_NONE;
}

static cnn_status const_shape(cnn_node *n)
{
    const const_attr *a = n->attr;
    switch (a->bad) {
    case BAD_RANK:
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "%d dimensions (1 to %d allowed)", a->ndim,
                              CNN_MAX_DIMS);
    case BAD_DIM: return cnn_node_error(n, CNN_ERR_INVALID_ARG, "every dimension must be >= 1");
    case BAD_DATA: return cnn_node_error(n, CNN_ERR_INVALID_ARG, "data is NULL");
    case BAD_TOO_BIG: return cnn_node_error(n, CNN_ERR_INVALID_ARG, "more than 2^40 elements");
    case BAD_NOMEM: return cnn_node_error(n, CNN_ERR_NOMEM, "out of memory copying the data");
    default: break;
    }
    n->batched = false;
    n->out.ndim = a->ndim;
    memcpy(n->out.dims, a->dims, sizeof a->dims);
    return CNN_OK;
}

static cnn_status const_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const const_attr *a = n->attr;
    cnn_backend_get()->copy_blocks(1, a->n, a->data, 0, n->out.data, 0);
    return CNN_OK;
}

CNN_OP_DEF(constant, .shape = const_shape, .forward = const_forward);

cnn_node *cnn_constant(cnn_graph *g, const char *name, int ndim, const int *dims,
                       const float *data)
{
    size_t n = 0;
    const_attr head = {.ndim = ndim};
    head.bad = const_check(ndim, dims, &n);
    if (!head.bad && !data) head.bad = BAD_DATA;
    if (head.bad) return cnn_node_make(g, &cnn_op_constant, name, 0, NULL, &head, sizeof head);
    memcpy(head.dims, dims, (size_t)ndim * sizeof(int));
    head.n = n;
    size_t bytes = sizeof head + n * sizeof(float);
    const_attr *a = cnn_malloc(bytes);
    if (!a) {
        head.bad = BAD_NOMEM; /* recorded in the graph through a failing build */
        return cnn_node_make(g, &cnn_op_constant, name, 0, NULL, &head, sizeof head);
    }
    memcpy(a, &head, sizeof head);
    memcpy(a->data, data, n * sizeof(float));
    cnn_node *node = cnn_node_make(g, &cnn_op_constant, name, 0, NULL, a, bytes);
    cnn_free(a);
    return node;
}

/* ---------------------------------------------------------------- parameter */
static cnn_status param_shape(cnn_node *n)
{
    const const_attr *a = n->attr;
    cnn_status s = const_shape(n);
    if (s != CNN_OK) return s;
    cnn_param_role role = !a->trainable ? CNN_PARAM_BUFFER
                          : (a->ndim >= 2 ? CNN_PARAM_WEIGHT : CNN_PARAM_BIAS);
    if (!cnn_node_param(n, NULL, a->ndim, a->dims, role, 0, 0.0f)) return CNN_ERR_INVALID_ARG;
    return CNN_OK;
}

static cnn_status param_forward(cnn_node *n, const cnn_ctx *ctx)
{
    return cnn_identity_forward(n, n->params[0]->value.data);
}

static cnn_status param_backward(cnn_node *n, const cnn_ctx *ctx)
{
    return cnn_identity_backward(n, n->params[0]->grad.data);
}

CNN_OP_DEF(parameter, .shape = param_shape, .forward = param_forward, .backward = param_backward);

cnn_node *cnn_parameter(cnn_graph *g, const char *name, int ndim, const int *dims, bool trainable)
{
    size_t n = 0;
    const_attr a = {.ndim = ndim};
    a.bad = const_check(ndim, dims, &n);
    if (!a.bad) memcpy(a.dims, dims, (size_t)ndim * sizeof(int));
    a.trainable = trainable;
    return cnn_node_make(g, &cnn_op_parameter, name, 0, NULL, &a, sizeof a);
}

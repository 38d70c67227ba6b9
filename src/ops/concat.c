/* concat — xs[i]: (N, C_i, ...) -> (N, sum C_i, ...), along channels (dim 1) as
   torch.cat(xs, 1). Every other dimension must agree; n == 1 is a copy. The same node
   may appear more than once (DenseNet, Inception): backward adds into its gradient
   once per appearance. */
#include <stdio.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "layout_ops.h"
#include "nd.h"

typedef struct concat_attr {
    int n; /* as given by the caller, for the error message */
} concat_attr;

static cnn_status concat_shape(cnn_node *n)
{
    const concat_attr *a = n->attr;
    if (n->n_in < 1)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "needs at least 1 input, got %d", a->n);
    const cnn_node *x0 = n->in[0];
    if (!x0->batched || x0->out.ndim < 2)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input 0 must be (N, C, ...), got %s",
                              cnn_node_shape_str(x0));
    int c = 0;
    for (int i = 0; i < n->n_in; i++) {
        const cnn_node *x = n->in[i];
        bool ok = x->batched && x->out.ndim == x0->out.ndim;
        for (int d = 0; ok && d < x0->out.ndim; d++)
            if (d != 1 && x->out.dims[d] != x0->out.dims[d]) ok = false;
        if (!ok)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "input %d has shape %s, input 0 has %s: all dimensions but 1 "
                                  "must agree",
                                  i, cnn_node_shape_str(x), cnn_node_shape_str(x0));
        c += x->out.dims[1];
    }
    n->out.ndim = x0->out.ndim;
    memcpy(n->out.dims, x0->out.dims, sizeof n->out.dims);
    n->out.dims[1] = c;
    return CNN_OK;
}

/* Elements per channel (of the output; the input's are the same). */
static size_t plane(const cnn_node *n) { return cnn_nd_plane(n->out.ndim, n->out.dims); }

/* input i's per-example block at offset `off` of each example's block of the output;
   inputs planned in place (graph/fuse.c) are there already and skipped */
static cnn_status concat_forward(cnn_node *n, const cnn_ctx *ctx)
{
    size_t S = plane(n), ctot = (size_t)n->out.dims[1], off = 0;
    if (ctx->layout && n->layout) { /* blocked output: each input copied into it ... */
        for (int i = 0, c0 = 0; i < n->n_in; c0 += n->in[i]->out.dims[1], i++) {
            /* ... except a blocked one computed in place, a whole-block slice at batch 1
               (graph/layout.c, blocked_slice) */
            if (n->in[i]->layout && ctx->batch == 1 && n->in[i]->out.data == n->out.data + (size_t)c0 * S)
                continue;
            cnn_layout_copy(ctx, n->in[i], 0, 1, 1, n, c0, n->in[i]->out.dims[1]);
        }
        cnn_layout_clear_tail(ctx, n);
        return CNN_OK;
    }
    for (int i = 0; i < n->n_in; i++) {
        size_t len = (size_t)n->in[i]->out.dims[1] * S;
        if (cnn_layout_copy(ctx, n->in[i], 0, 1, 1, n, (int)(off / S), n->in[i]->out.dims[1])) {
            off += len; /* a blocked input into the plain output */
            continue;
        }
        cnn_backend_get()->copy_blocks((size_t)ctx->batch, len, n->in[i]->out.data, len,
                                       n->out.data + off, ctot * S);
        off += len;
    }
    return CNN_OK;
}

static cnn_status concat_backward(cnn_node *n, const cnn_ctx *ctx)
{
    size_t S = plane(n), ctot = (size_t)n->out.dims[1], off = 0;
    for (int i = 0; i < n->n_in; i++) {
        size_t len = (size_t)n->in[i]->out.dims[1] * S;
        if (n->in[i]->grad.data)
            cnn_backend_get()->add_blocks((size_t)ctx->batch, len, n->grad.data + off, ctot * S,
                                          n->in[i]->grad.data, len);
        off += len;
    }
    return CNN_OK;
}

/* For profilers: "in place" when every input is computed inside the output's buffer
   (planned at batch 1, graph/fuse.c and graph/layout.c), so the forward copies nothing;
   "ops, K of N in place" when some are. */
static const char *concat_kernel(const cnn_node *n, int batch, char *buf, size_t size)
{
    (void)batch;
    int k = 0;
    for (int i = 0; i < n->n_in; i++) {
        const cnn_node *x = n->in[i], *r = x->fused_into ? x->fused_into : x;
        k += r->alias == n;
    }
    if (k == 0) return "ops";
    if (k == n->n_in) return "in place";
    snprintf(buf, size, "ops, %d of %d in place", k, n->n_in);
    return buf;
}

CNN_OP_DEF(concat, .kernel_name = concat_kernel, .shape = concat_shape, .forward = concat_forward,
           .backward = concat_backward,
           .inputs_in_place = true, /* along dim 1: planned in place at batch 1 (graph/fuse.c) */
           .layout_trait = cnn_layout_any_4d);

cnn_node *cnn_concat(cnn_graph *g, int n, cnn_node *const *xs)
{
    concat_attr a = {.n = n};
    return cnn_node_make(g, &cnn_op_concat, NULL, (n > 0 && xs) ? n : 0, xs, &a, sizeof a);
}

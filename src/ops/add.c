/* add — a + b, same shape (residual connections); as torch.add without broadcasting.
   a and b may be the same node (x + x): each appearance adds its gradient.
   Memory-bound: chunks shared among threads (element-wise, so the results do not
   depend on the thread count), loops cloned for AVX-512 / AVX2 / baseline; backward
   reads dy once for both inputs. */
#include "../core/clones.h"
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"

/* elements per parallel work item */
#define CHUNK ((size_t)16384)

static cnn_status add_shape(cnn_node *n)
{
    const cnn_node *a = n->in[0], *b = n->in[1];
    bool ok = a->out.ndim == b->out.ndim && a->batched == b->batched;
    for (int d = 0; ok && d < a->out.ndim; d++)
        if (a->out.dims[d] != b->out.dims[d]) ok = false;
    if (!ok)
        return cnn_node_error(n, CNN_ERR_SHAPE, "shapes %s and %s differ", cnn_node_shape_str(a),
                              cnn_node_shape_str(b));
    n->out.ndim = a->out.ndim;
    memcpy(n->out.dims, a->out.dims, sizeof n->out.dims);
    n->batched = a->batched;
    return CNN_OK;
}

/* may run in place (y == a or b: a fused chain run unfused, graph/fuse.c): no restrict */
CNN_CLONES static void add_chunk(const float *a, const float *b, float *y, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* da += dy and db += dy (either may be NULL) in one pass; da == db (x + x) adds twice
   in the same order as two separate passes would. */
CNN_CLONES static void add_grad_chunk(const float *restrict dy, float *da, float *db, size_t n)
{
    if (da && db && da == db) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) da[i] = (da[i] + dy[i]) + dy[i];
    } else if (da && db) {
        float *restrict pa = da, *restrict pb = db;
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            pa[i] += dy[i];
            pb[i] += dy[i];
        }
    } else {
        float *restrict p = da ? da : db;
#pragma omp simd
        for (size_t i = 0; i < n; i++) p[i] += dy[i];
    }
}

static cnn_status add_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const float *a = n->in[0]->out.data, *b = n->in[1]->out.data;
    float *y = n->out.data;
    size_t len = cnn_node_numel(n);
    long nch = (long)((len + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(len))
    for (long c = 0; c < nch; c++) {
        size_t o = (size_t)c * CHUNK;
        add_chunk(a + o, b + o, y + o, len - o < CHUNK ? len - o : CHUNK);
    }
    return CNN_OK;
}

static cnn_status add_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const float *dy = n->grad.data;
    float *da = n->in[0]->grad.data, *db = n->in[1]->grad.data;
    if (!da && !db) return CNN_OK;
    size_t len = cnn_node_numel(n);
    long nch = (long)((len + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(len))
    for (long c = 0; c < nch; c++) {
        size_t o = (size_t)c * CHUNK;
        add_grad_chunk(dy + o, da ? da + o : NULL, db ? db + o : NULL,
                       len - o < CHUNK ? len - o : CHUNK);
    }
    return CNN_OK;
}

const cnn_op_def cnn_op_add = {
    .name = "add",
    .shape = add_shape,
    .forward = add_forward,
    .backward = add_backward,
};

cnn_node *cnn_add(cnn_graph *g, cnn_node *a, cnn_node *b)
{
    cnn_node *in[2] = {a, b};
    return cnn_node_make(g, &cnn_op_add, NULL, 2, in, NULL, 0);
}

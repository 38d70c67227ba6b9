/* reduce — mean / sum / max / min over a set of axes, keepdims or not (ONNX
   ReduceMean ... ReduceMin, torch.mean / sum / amax / amin with dim). naxes 0 reduces
   every axis but a batched node's batch; a batched node's batch cannot be reduced.
   Reducing everything without keepdims gives shape (1). Sums accumulate in double;
   max/min propagate NaN. Backward: mean spreads g / count, sum g, max/min split g
   equally among the elements equal to the result (torch.amax's rule).
   See docs/architecture.md, "General tensor ops". */
#include <math.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "nd.h"
#include "ops_common.h"

typedef struct red_attr {
    cnn_reduce_op op;
    int naxes;
    int axes[CNN_MAX_DIMS]; /* as given */
    bool keepdims;
    bool null_axes;
    bool reduced[CNN_MAX_DIMS]; /* resolved by shape() */
} red_attr;

static const char *red_name(cnn_reduce_op op)
{
    switch (op) {
    case CNN_REDUCE_MEAN: return "mean";
    case CNN_REDUCE_SUM: return "sum";
    case CNN_REDUCE_MAX: return "max";
    case CNN_REDUCE_MIN: return "min";
    default: return NULL;
    }
}

static cnn_status red_shape(cnn_node *n)
{
    red_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    int r = x->out.ndim;
    if (!red_name(a->op))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "unknown reduce op %d", (int)a->op);
    if (a->naxes < 0 || a->naxes > r)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "%d axes for the %d dimensions of %s",
                              a->naxes, r, cnn_node_shape_str(x));
    if (a->naxes > 0 && a->null_axes) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "axes is NULL");
    memset(a->reduced, 0, sizeof a->reduced);
    for (int i = 0; i < a->naxes; i++) {
        int ax = cnn_nd_axis(a->axes[i], r);
        if (ax < 0)
            return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                                  "axis %d is outside the %d dimensions of %s",
                                  a->axes[i], r, cnn_node_shape_str(x));
        if (a->reduced[ax])
            return cnn_node_error(n, CNN_ERR_INVALID_ARG, "axis %d is given twice", a->axes[i]);
        if (x->batched && ax == 0)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "axis %d is the batch of %s: it cannot be reduced",
                                  a->axes[i], cnn_node_shape_str(x));
        a->reduced[ax] = true;
    }
    if (a->naxes == 0)
        for (int i = x->batched ? 1 : 0; i < r; i++) a->reduced[i] = true;
    int m = 0;
    for (int i = 0; i < r; i++) {
        if (!a->reduced[i]) n->out.dims[m++] = x->out.dims[i];
        else if (a->keepdims) n->out.dims[m++] = 1;
    }
    if (m == 0) n->out.dims[m++] = 1;
    n->out.ndim = m;
    n->batched = x->batched;
    return CNN_OK;
}

/* kept axes: operand 0 = x, 1 = out (contiguous); reduced axes: x only */
static void red_iters(const cnn_node *n, cnn_nd_iter *kept, cnn_nd_iter *red, int64_t *count)
{
    const red_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    int r = x->out.ndim, nk = 0, nr = 0;
    int64_t sx[CNN_MAX_DIMS], sk[2][CNN_MAX_DIMS], sr[1][CNN_MAX_DIMS];
    int dk[CNN_MAX_DIMS], dr[CNN_MAX_DIMS];
    cnn_nd_strides(r, x->out.dims, sx);
    for (int i = 0; i < r; i++) {
        if (a->reduced[i]) {
            dr[nr] = x->out.dims[i];
            sr[0][nr++] = sx[i];
        } else {
            dk[nk] = x->out.dims[i];
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

static float reduce_one(cnn_reduce_op op, const float *x, const cnn_nd_iter *red, int64_t count)
{
    const int64_t s = red->st[0][red->r - 1];
    if (op == CNN_REDUCE_MEAN || op == CNN_REDUCE_SUM) {
        double acc = 0.0;
        for (int64_t row = 0; row < red->rows; row++) {
            int64_t off;
            cnn_nd_row(red, row, 1, &off);
            for (int64_t j = 0; j < red->inner; j++) acc += x[off + j * s];
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

static cnn_status red_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const red_attr *a = n->attr;
    cnn_nd_iter kept, red;
    int64_t count;
    red_iters(n, &kept, &red, &count);
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(cnn_node_numel(n->in[0])))
    for (int64_t row = 0; row < kept.rows; row++) {
        int64_t off[2];
        cnn_nd_row(&kept, row, 2, off);
        for (int64_t j = 0; j < kept.inner; j++)
            y[off[1] + j] = reduce_one(a->op, x + off[0] + j * kept.st[0][kept.r - 1], &red, count);
    }
    return CNN_OK;
}

static cnn_status red_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    const red_attr *a = n->attr;
    cnn_nd_iter kept, red;
    int64_t count;
    red_iters(n, &kept, &red, &count);
    const float *x = n->in[0]->out.data, *y = n->out.data, *dy = n->grad.data;
    const int64_t s = red.st[0][red.r - 1];
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(cnn_node_numel(n->in[0])))
    for (int64_t row = 0; row < kept.rows; row++) {
        int64_t off[2];
        cnn_nd_row(&kept, row, 2, off);
        for (int64_t j = 0; j < kept.inner; j++) {
            int64_t base = off[0] + j * kept.st[0][kept.r - 1];
            float g = dy[off[1] + j], target = y[off[1] + j];
            bool pick = a->op == CNN_REDUCE_MAX || a->op == CNN_REDUCE_MIN;
            if (a->op == CNN_REDUCE_MEAN) g = (float)((double)g / (double)count);
            if (pick) { /* ties share: count them first */
                int64_t ties = 0;
                for (int64_t rr = 0; rr < red.rows; rr++) {
                    int64_t o;
                    cnn_nd_row(&red, rr, 1, &o);
                    for (int64_t k = 0; k < red.inner; k++) ties += x[base + o + k * s] == target;
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
    return CNN_OK;
}

static void red_describe(const cnn_node *n, cnn_op_desc *d)
{
    const red_attr *a = n->attr;
    d->n_attrs = 3;
    d->attrs[0] = (cnn_desc_attr){.key = "op", .n = 1, .i = {a->op}};
    d->attrs[1] = (cnn_desc_attr){.key = "axes"}; /* resolved: every reduced axis */
    for (int i = 0; i < n->in[0]->out.ndim; i++)
        if (a->reduced[i]) d->attrs[1].i[d->attrs[1].n++] = i;
    d->attrs[2] = (cnn_desc_attr){.key = "keepdims", .n = 1, .i = {a->keepdims}};
}

const cnn_op_def cnn_op_reduce = {
    .name = "reduce",
    .shape = red_shape,
    .forward = red_forward,
    .backward = red_backward,
    .describe = red_describe,
};

cnn_node *cnn_reduce(cnn_graph *g, cnn_node *x, cnn_reduce_op op, int naxes, const int *axes,
                     bool keepdims)
{
    red_attr a = {.op = op, .naxes = naxes, .keepdims = keepdims, .null_axes = axes == NULL};
    if (axes && naxes > 0 && naxes <= CNN_MAX_DIMS)
        memcpy(a.axes, axes, (size_t)naxes * sizeof(int));
    return cnn_node_make(g, &cnn_op_reduce, NULL, 1, &x, &a, sizeof a);
}

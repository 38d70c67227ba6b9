/* binary — element-wise a (op) b with NumPy broadcasting: add, sub, mul, div, max,
   min, pow (as torch.add / sub / mul / div / maximum / minimum / pow and ONNX's
   Add ... Pow). Shapes align from the right; a dimension of 1 (or a missing one)
   repeats. A batched operand keeps the batch in dimension 0: it must have the
   output's rank, and an unbatched operand of that rank must have 1 there (it is
   broadcast over the batch). Backward sums the gradient over the broadcast
   dimensions; max/min split a tie's gradient equally, pow differentiates both
   operands (torch's rules: d/dexponent is 0 where base == 0 and exponent >= 0).
   See docs/architecture.md, "General tensor ops". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "nd.h"
#include "ops_common.h"

typedef struct bin_attr {
    cnn_binary_op op;
} bin_attr;

static const char *bin_name(cnn_binary_op op)
{
    switch (op) {
    case CNN_BIN_ADD: return "add";
    case CNN_BIN_SUB: return "sub";
    case CNN_BIN_MUL: return "mul";
    case CNN_BIN_DIV: return "div";
    case CNN_BIN_MAX: return "max";
    case CNN_BIN_MIN: return "min";
    case CNN_BIN_POW: return "pow";
    default: return NULL;
    }
}

/* dims of operand x aligned to rank r (missing leading dimensions are 1) */
static int aligned_dim(const cnn_node *x, int r, int i)
{
    int lead = r - x->out.ndim;
    return i < lead ? 1 : x->out.dims[i - lead];
}

static cnn_status bin_shape(cnn_node *n)
{
    const bin_attr *at = n->attr;
    const cnn_node *a = n->in[0], *b = n->in[1];
    if (!bin_name(at->op))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "unknown binary op %d", (int)at->op);
    int r = a->out.ndim > b->out.ndim ? a->out.ndim : b->out.ndim;
    for (int i = 0; i < r; i++) {
        int da = aligned_dim(a, r, i), db = aligned_dim(b, r, i);
        if (da != db && da != 1 && db != 1)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "shapes %s and %s do not broadcast (dimension %d of the "
                                  "result: %d vs %d)",
                                  cnn_node_shape_str(a), cnn_node_shape_str(b), i, da, db);
        n->out.dims[i] = da > db ? da : db;
    }
    n->out.ndim = r;
    n->batched = a->batched || b->batched;
    for (int k = 0; k < 2 && n->batched; k++) {
        const cnn_node *x = n->in[k];
        if (x->batched && x->out.ndim != r)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "the batched operand %s must have the result's rank %d (%s "
                                  "and %s would move the batch out of dimension 0)",
                                  cnn_node_shape_str(x), r, cnn_node_shape_str(a),
                                  cnn_node_shape_str(b));
        if (!x->batched && x->out.ndim == r && x->out.dims[0] != 1)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "the unbatched operand %s must have 1 in dimension 0 to "
                                  "broadcast over the batch of %s",
                                  cnn_node_shape_str(x), cnn_node_shape_str(n->in[1 - k]));
    }
    return CNN_OK;
}

/* Iteration over the output at the current batch: operand 0 = a, 1 = b, 2 = out. */
static void bin_iter(const cnn_node *n, cnn_nd_iter *it)
{
    int r = n->out.ndim;
    int64_t st[3][CNN_MAX_DIMS], so[CNN_MAX_DIMS];
    for (int k = 0; k < 2; k++) {
        const cnn_node *x = n->in[k];
        int64_t sx[CNN_MAX_DIMS];
        cnn_nd_strides(x->out.ndim, x->out.dims, sx);
        int lead = r - x->out.ndim;
        for (int i = 0; i < r; i++)
            st[k][i] = (i < lead || x->out.dims[i - lead] == 1) ? 0 : sx[i - lead];
    }
    cnn_nd_strides(r, n->out.dims, so);
    memcpy(st[2], so, sizeof so);
    cnn_nd_iter_init(it, r, n->out.dims, 3, st);
}

static inline float bin_max(float x, float y) { return (x > y || isnan(x)) ? x : y; }
static inline float bin_min(float x, float y) { return (x < y || isnan(x)) ? x : y; }

/* one row: y[j] = a[j*sa] op b[j*sb] */
static inline void bin_row_s(cnn_binary_op op, const float *a, int64_t sa, const float *b,
                             int64_t sb, float *y, int64_t m)
{
#define BIN_LOOP(EXPR)                                   \
    for (int64_t j = 0; j < m; j++) {                    \
        const float x = a[j * sa], v = b[j * sb];        \
        y[j] = (EXPR);                                   \
    }
    switch (op) {
    case CNN_BIN_ADD: BIN_LOOP(x + v) break;
    case CNN_BIN_SUB: BIN_LOOP(x - v) break;
    case CNN_BIN_MUL: BIN_LOOP(x * v) break;
    case CNN_BIN_DIV: BIN_LOOP(x / v) break;
    case CNN_BIN_MAX: BIN_LOOP(bin_max(x, v)) break;
    case CNN_BIN_MIN: BIN_LOOP(bin_min(x, v)) break;
    case CNN_BIN_POW: BIN_LOOP(powf(x, v)) break;
    }
#undef BIN_LOOP
}

/* the common stride pairs with constant strides, so those loops vectorise */
static void bin_row(cnn_binary_op op, const float *a, int64_t sa, const float *b, int64_t sb,
                    float *y, int64_t m)
{
    if (sa == 1 && sb == 1) bin_row_s(op, a, 1, b, 1, y, m);
    else if (sa == 1 && sb == 0) bin_row_s(op, a, 1, b, 0, y, m);
    else if (sa == 0 && sb == 1) bin_row_s(op, a, 0, b, 1, y, m);
    else bin_row_s(op, a, sa, b, sb, y, m);
}

static cnn_status bin_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const bin_attr *at = n->attr;
    cnn_nd_iter it;
    bin_iter(n, &it);
    const float *a = n->in[0]->out.data, *b = n->in[1]->out.data;
    float *y = n->out.data;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads((size_t)(it.rows * it.inner)))
    for (int64_t row = 0; row < it.rows; row++) {
        int64_t off[3];
        cnn_nd_row(&it, row, 3, off);
        bin_row(at->op, a + off[0], it.st[0][it.r - 1], b + off[1], it.st[1][it.r - 1],
                y + off[2], it.inner);
    }
    return CNN_OK;
}

/* d out / d operand k at one element (x = a, v = b, z = out) */
static inline float bin_grad(cnn_binary_op op, int k, float g, float x, float v, float z)
{
    switch (op) {
    case CNN_BIN_ADD: return g;
    case CNN_BIN_SUB: return k ? -g : g;
    case CNN_BIN_MUL: return k ? g * x : g * v;
    case CNN_BIN_DIV: return k ? -g * x / (v * v) : g / v;
    case CNN_BIN_MAX:
        if (x == v) return g * 0.5f;
        return (k ? v < x : x < v) ? 0.0f : g;
    case CNN_BIN_MIN:
        if (x == v) return g * 0.5f;
        return (k ? v > x : x > v) ? 0.0f : g;
    case CNN_BIN_POW:
        if (k) return (x == 0.0f && v >= 0.0f) ? 0.0f : g * z * logf(x);
        return v == 0.0f ? 0.0f : g * v * powf(x, v - 1.0f);
    }
    return 0.0f;
}

static void grad_rows(const cnn_node *n, const cnn_nd_iter *it, int k, int64_t r0, int64_t r1)
{
    const bin_attr *at = n->attr;
    const float *a = n->in[0]->out.data, *b = n->in[1]->out.data;
    const float *z = n->out.data, *dy = n->grad.data;
    float *dx = n->in[k]->grad.data;
    const int64_t sa = it->st[0][it->r - 1], sb = it->st[1][it->r - 1];
    const int64_t sx = it->st[k][it->r - 1];
    for (int64_t row = r0; row < r1; row++) {
        int64_t off[3];
        cnn_nd_row(it, row, 3, off);
        const float *pa = a + off[0], *pb = b + off[1], *pz = z + off[2], *pg = dy + off[2];
        float *px = dx + off[k];
        for (int64_t j = 0; j < it->inner; j++)
            px[j * sx] += bin_grad(at->op, k, pg[j], pa[j * sa], pb[j * sb], pz[j]);
    }
}

static cnn_status bin_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    cnn_nd_iter it;
    bin_iter(n, &it);
    for (int k = 0; k < 2; k++) {
        if (!n->in[k]->grad.data) continue;
        /* an operand as large as the output takes each row once: rows in parallel;
           a broadcast one accumulates rows into shared elements: one thread, in order */
        if (cnn_node_numel(n->in[k]) == cnn_node_numel(n)) {
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(cnn_node_numel(n)))
            for (int64_t row = 0; row < it.rows; row++) grad_rows(n, &it, k, row, row + 1);
        } else {
            grad_rows(n, &it, k, 0, it.rows);
        }
    }
    return CNN_OK;
}

static void bin_describe(const cnn_node *n, cnn_op_desc *d)
{
    const bin_attr *at = n->attr;
    d->n_attrs = 1;
    d->attrs[0] = (cnn_desc_attr){.key = "op", .n = 1, .i = {at->op}};
}

const cnn_op_def cnn_op_binary = {
    .name = "binary",
    .shape = bin_shape,
    .forward = bin_forward,
    .backward = bin_backward,
    .describe = bin_describe,
};

cnn_node *cnn_binary(cnn_graph *g, cnn_node *a, cnn_node *b, cnn_binary_op op)
{
    bin_attr at = {.op = op};
    cnn_node *in[2] = {a, b};
    /* default names per kind, "add0", "mul1", ... as activations do */
    char name[32];
    const char *kind = bin_name(op);
    if (g && kind) {
        int k = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i]->op == &cnn_op_binary &&
                ((const bin_attr *)g->nodes[i]->attr)->op == op)
                k++;
        snprintf(name, sizeof name, "%s%d", kind, k);
        kind = name;
    }
    return cnn_node_make(g, &cnn_op_binary, kind, 2, in, &at, sizeof at);
}

/* pad — ONNX Pad (and numpy.pad): pads has 2 * rank entries, all begins then all
   ends; negative entries crop. Modes: constant (value, may be -INFINITY), reflect
   (mirror without repeating the edge; pads longer than the axis keep reflecting,
   as numpy does) and edge (repeat the border). Negative pads crop first and the
   positive ones pad what remains (reflect / edge read the cropped borders), as ONNX
   Runtime does. On a batched
   node the batch's pads must be 0. Backward adds each output gradient to its source
   (reflect / edge sources take several). The scratch holds one source index per
   output position and axis (the backend's pad entries). See docs/architecture.md,
   "General tensor ops". */
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"

typedef struct pad_attr {
    int ndim;               /* entries in pads / 2 (the input's rank) */
    int pads[2 * CNN_MAX_DIMS];
    cnn_pad_mode mode;
    float value;
    bool null_pads;
} pad_attr;

static const char *const mode_names[] = {[CNN_PAD_CONSTANT] = "constant",
    [CNN_PAD_REFLECT] = "reflect", [CNN_PAD_EDGE] = "edge"};
static const char *mode_name(cnn_pad_mode m) { return CNN_ENUM_NAME(mode_names, m); }

static cnn_status pad_shape(cnn_node *n)
{
    const pad_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    int r = x->out.ndim;
    if (a->null_pads) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "pads is NULL");
    if (!mode_name(a->mode))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "unknown pad mode %d", (int)a->mode);
    if (x->batched && (a->pads[0] != 0 || a->pads[r] != 0))
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "pads %d and %d of axis 0 would pad the batch of %s (must be 0)",
                              a->pads[0], a->pads[r], cnn_node_shape_str(x));
    size_t idx = 0;
    for (int i = 0; i < r; i++) {
        int64_t d = x->out.dims[i], o = d + a->pads[i] + a->pads[r + i];
        int64_t kept = d - (a->pads[i] < 0 ? -(int64_t)a->pads[i] : 0) -
                       (a->pads[r + i] < 0 ? -(int64_t)a->pads[r + i] : 0);
        if (kept < 1)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "pads %d and %d crop all %lld elements of axis %d of %s",
                                  a->pads[i], a->pads[r + i], (long long)d, i,
                                  cnn_node_shape_str(x));
        if (o > INT32_MAX)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "pads %d and %d make axis %d %lld long (at most 2^31 - 1)",
                                  a->pads[i], a->pads[r + i], i, (long long)o);
        if (a->mode == CNN_PAD_REFLECT && kept == 1 && (a->pads[i] > 0 || a->pads[r + i] > 0))
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "reflect padding needs at least 2 elements on axis %d of %s "
                                  "(after cropping)", i, cnn_node_shape_str(x));
        n->out.dims[i] = (int)o;
        idx += (size_t)o;
    }
    n->out.ndim = r;
    n->batched = x->batched;
    n->scratch_bytes = idx * sizeof(int64_t);
    return CNN_OK;
}

static void pad_desc(const cnn_node *n, const cnn_ctx *ctx, cnn_pad_desc *d)
{
    const pad_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    d->r = n->out.ndim;
    for (int i = 0; i < d->r; i++) {
        d->in[i] = x->out.dims[i];
        d->out[i] = n->out.dims[i];
        d->pads[i] = a->pads[i];
        d->pads[d->r + i] = a->pads[d->r + i];
    }
    d->mode = a->mode;
    d->value = a->value;
}

CNN_DESC_FORWARD(pad_forward, cnn_pad_desc, pad_desc, pad_forward,
                 n->in[0]->out.data, n->out.data, ctx->scratch);

CNN_DESC_BACKWARD(pad_backward, cnn_pad_desc, pad_desc, pad_backward,
                  n->grad.data, dx, ctx->scratch);

static void pad_describe(const cnn_node *n, cnn_op_desc *d)
{
    const pad_attr *a = n->attr;
    d->n_attrs = 3;
    d->attrs[0] = (cnn_desc_attr){.key = "pads", .n = 2 * a->ndim};
    for (int i = 0; i < 2 * a->ndim; i++) d->attrs[0].i[i] = a->pads[i];
    d->attrs[1] = (cnn_desc_attr){.key = "mode", .n = 1, .i = {a->mode}};
    d->attrs[2] = (cnn_desc_attr){.key = "value", .is_float = true, .n = 1, .f = {a->value}};
}

CNN_OP_DEF(pad, .shape = pad_shape, .forward = pad_forward, .backward = pad_backward,
           .describe = pad_describe);

cnn_node *cnn_pad(cnn_graph *g, cnn_node *x, const int *pads, cnn_pad_mode mode, float value)
{
    pad_attr a = {.mode = mode, .value = value, .null_pads = pads == NULL};
    if (x && pads) {
        a.ndim = x->out.ndim;
        memcpy(a.pads, pads, 2 * (size_t)a.ndim * sizeof(int));
    }
    return cnn_node_make(g, &cnn_op_pad, NULL, 1, &x, &a, sizeof a);
}

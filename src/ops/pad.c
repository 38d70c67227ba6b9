/* pad — ONNX Pad (and numpy.pad): pads has 2 * rank entries, all begins then all
   ends; negative entries crop. Modes: constant (value, may be -INFINITY), reflect
   (mirror without repeating the edge; pads longer than the axis keep reflecting,
   as numpy does) and edge (repeat the border). Negative pads crop first and the
   positive ones pad what remains (reflect / edge read the cropped borders), as ONNX
   Runtime does. On a batched
   node the batch's pads must be 0. Forward builds a source index per output position
   and axis (in scratch) and copies row by row; backward adds each output gradient to
   its source (reflect / edge sources take several). See docs/architecture.md,
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

static const char *mode_name(cnn_pad_mode m)
{
    switch (m) {
    case CNN_PAD_CONSTANT: return "constant";
    case CNN_PAD_REFLECT: return "reflect";
    case CNN_PAD_EDGE: return "edge";
    default: return NULL;
    }
}

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

/* source index along an axis of size d for output position o (-1: the constant) */
static int64_t src_index(cnn_pad_mode mode, int64_t o, int64_t before, int64_t d)
{
    int64_t s = o - before;
    if (s >= 0 && s < d) return s;
    if (mode == CNN_PAD_CONSTANT) return -1;
    if (mode == CNN_PAD_EDGE) return s < 0 ? 0 : d - 1;
    int64_t period = 2 * (d - 1); /* reflect: ... 2 1 [0 1 2 ... d-1] d-2 ... */
    s %= period;
    if (s < 0) s += period;
    return s < d ? s : period - s;
}

/* per axis: element offset into x of each output position (or -1), into scratch;
   the crop (negative pads) comes first, then the padding maps into what is left */
static int64_t *pad_maps(const cnn_node *n, void *scratch, int64_t **map)
{
    const pad_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    int r = n->out.ndim;
    int64_t *p = scratch, stride = 1;
    int64_t strides[CNN_MAX_DIMS];
    for (int i = r - 1; i >= 0; i--) {
        strides[i] = stride;
        stride *= x->out.dims[i];
    }
    for (int i = 0; i < r; i++) {
        int64_t pb = a->pads[i], pe = a->pads[r + i];
        int64_t crop_b = pb < 0 ? -pb : 0, crop_e = pe < 0 ? -pe : 0;
        int64_t kept = x->out.dims[i] - crop_b - crop_e;
        map[i] = p;
        for (int64_t o = 0; o < n->out.dims[i]; o++) {
            int64_t s = src_index(a->mode, o, pb > 0 ? pb : 0, kept);
            p[o] = s < 0 ? -1 : (s + crop_b) * strides[i];
        }
        p += n->out.dims[i];
    }
    return p;
}

/* x offset of the start of output row `row` (all axes but the last), -1 if in padding */
static int64_t row_src(const cnn_node *n, int64_t *const *map, int64_t row)
{
    int64_t off = 0;
    for (int i = n->out.ndim - 2; i >= 0; i--) {
        int64_t c = row % n->out.dims[i];
        row /= n->out.dims[i];
        if (map[i][c] < 0) return -1;
        off += map[i][c];
    }
    return off;
}

static cnn_status pad_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const pad_attr *a = n->attr;
    int64_t *map[CNN_MAX_DIMS];
    pad_maps(n, ctx->scratch, map);
    int r = n->out.ndim;
    int64_t inner = n->out.dims[r - 1], rows = (int64_t)cnn_node_numel(n) / inner;
    const int64_t *last = map[r - 1];
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
    const float v = a->value;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(cnn_node_numel(n)))
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = row_src(n, map, row);
        float *py = y + row * inner;
        if (off < 0) {
            for (int64_t j = 0; j < inner; j++) py[j] = v;
            continue;
        }
        const float *px = x + off;
        for (int64_t j = 0; j < inner; j++) py[j] = last[j] < 0 ? v : px[last[j]];
    }
    return CNN_OK;
}

static cnn_status pad_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    int64_t *map[CNN_MAX_DIMS];
    pad_maps(n, ctx->scratch, map);
    int r = n->out.ndim;
    int64_t inner = n->out.dims[r - 1], rows = (int64_t)cnn_node_numel(n) / inner;
    const int64_t *last = map[r - 1];
    const float *dy = n->grad.data;
    /* reflect / edge: several outputs share a source; one thread, in order */
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = row_src(n, map, row);
        if (off < 0) continue;
        const float *pg = dy + row * inner;
        float *px = dx + off;
        for (int64_t j = 0; j < inner; j++)
            if (last[j] >= 0) px[last[j]] += pg[j];
    }
    return CNN_OK;
}

static void pad_describe(const cnn_node *n, cnn_op_desc *d)
{
    const pad_attr *a = n->attr;
    d->n_attrs = 3;
    d->attrs[0] = (cnn_desc_attr){.key = "pads", .n = 2 * a->ndim};
    for (int i = 0; i < 2 * a->ndim; i++) d->attrs[0].i[i] = a->pads[i];
    d->attrs[1] = (cnn_desc_attr){.key = "mode", .n = 1, .i = {a->mode}};
    d->attrs[2] = (cnn_desc_attr){.key = "value", .is_float = true, .n = 1, .f = {a->value}};
}

const cnn_op_def cnn_op_pad = {
    .name = "pad",
    .shape = pad_shape,
    .forward = pad_forward,
    .backward = pad_backward,
    .describe = pad_describe,
};

cnn_node *cnn_pad(cnn_graph *g, cnn_node *x, const int *pads, cnn_pad_mode mode, float value)
{
    pad_attr a = {.mode = mode, .value = value, .null_pads = pads == NULL};
    if (x && pads) {
        a.ndim = x->out.ndim;
        memcpy(a.pads, pads, 2 * (size_t)a.ndim * sizeof(int));
    }
    return cnn_node_make(g, &cnn_op_pad, NULL, 1, &x, &a, sizeof a);
}

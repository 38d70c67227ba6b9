/* Small helpers several op files share: the op table and builder macros, option
   resolution and PyTorch's pooling output size. */
#ifndef CNN_OPS_COMMON_H
#define CNN_OPS_COMMON_H
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "cnn.h"
#include "../graph/graph_internal.h"

/* An op's table (docs/architecture.md, "Operators"): const cnn_op_def cnn_op_<id>, named
   "<id>", with the entries given as designated initialisers:
     CNN_OP_DEF(softmax, .shape = softmax_shape, .forward = softmax_forward, ...); */
#define CNN_OP_DEF(id, ...) const cnn_op_def cnn_op_##id = {.name = #id, __VA_ARGS__}
/* The public builder of an op without attributes or default name: cnn_<id>(g, x) on one
   input, cnn_<id>(g, a, b) on two. */
#define CNN_OP_BUILDER_X(id)                                                               \
    cnn_node *cnn_##id(cnn_graph *g, cnn_node *x)                                          \
    {                                                                                      \
        return cnn_node_make(g, &cnn_op_##id, NULL, 1, &x, NULL, 0);                       \
    }
#define CNN_OP_BUILDER_AB(id)                                                              \
    cnn_node *cnn_##id(cnn_graph *g, cnn_node *a, cnn_node *b)                             \
    {                                                                                      \
        return cnn_node_make(g, &cnn_op_##id, NULL, 2, (cnn_node *[]){a, b}, NULL, 0);     \
    }

/* The forward and backward of an op whose arithmetic is one backend entry over a kernel
   descriptor (docs/architecture.md, "Operators"): fn fills a D d by fill(n, ctx, &d) and
   calls the entry with &d and the arguments given, which may name the node n, the
   context ctx and, in a backward, dx: the input's gradient (the backward does nothing
   when it is NULL: no gradient wanted). */
#define CNN_DESC_FORWARD(fn, D, fill, entry, ...)                                          \
    static cnn_status fn(cnn_node *n, const cnn_ctx *ctx)                                  \
    {                                                                                      \
        D d;                                                                               \
        fill(n, ctx, &d);                                                                  \
        cnn_backend_get()->entry(&d, __VA_ARGS__);                                         \
        return CNN_OK;                                                                     \
    }
#define CNN_DESC_BACKWARD(fn, D, fill, entry, ...)                                         \
    static cnn_status fn(cnn_node *n, const cnn_ctx *ctx)                                  \
    {                                                                                      \
        float *dx = n->in[0]->grad.data;                                                   \
        if (!dx) return CNN_OK;                                                            \
        D d;                                                                               \
        fill(n, ctx, &d);                                                                  \
        cnn_backend_get()->entry(&d, __VA_ARGS__);                                         \
        return CNN_OK;                                                                     \
    }

/* The default name of a node of an op with several kinds (activations, unary and binary
   ops, flatten): "<kind><k>" into buf, k counting the nodes of op already in g whose
   attr holds the same key as attr (key_size bytes at key_offset), like other ops'
   "<op><k>"; a kind ending in a digit takes an underscore ("relu6_4", not "relu64").
   kind itself when g or kind is NULL. CNN_KIND_NAME names the key by its member. */
const char *cnn_kind_name(const cnn_graph *g, const cnn_op_def *op, const char *kind,
                          const void *attr, size_t key_offset, size_t key_size, char *buf,
                          size_t size);
#define CNN_KIND_NAME(g, op, kind, a, member, buf)                                           \
    cnn_kind_name(g, op, kind, a, (size_t)((const char *)&(a)->member - (const char *)(a)), \
                  sizeof (a)->member, buf, sizeof buf)

/* n's input must be batched with at least min_ndim dims; the error names the shape the
   op wants ("input must be (N, C, H, W), got (3, 4)"). */
static inline cnn_status cnn_input_batched(cnn_node *n, int min_ndim, const char *want)
{
    const cnn_node *x = n->in[0];
    if (!x->batched || x->out.ndim < min_ndim)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be %s, got %s", want,
                              cnn_node_shape_str(x));
    return CNN_OK;
}
/* n's output takes x's dims (ops whose output has their input's shape). */
static inline void cnn_out_like(cnn_node *n, const cnn_node *x)
{
    n->out.ndim = x->out.ndim;
    memcpy(n->out.dims, x->out.dims, (size_t)x->out.ndim * sizeof(int));
}

/* An identity's arithmetic over the node's elements at this batch (reshape: src its
   input; parameter: its value): y = src by the backend's copy_blocks, and dsrc += dy by
   its add_blocks (nothing when dsrc is NULL: no gradient wanted). */
static inline cnn_status cnn_identity_forward(cnn_node *n, const float *src)
{
    cnn_backend_get()->copy_blocks(1, cnn_node_numel(n), src, 0, n->out.data, 0);
    return CNN_OK;
}
static inline cnn_status cnn_identity_backward(cnn_node *n, float *dsrc)
{
    if (dsrc) cnn_backend_get()->add_blocks(1, cnn_node_numel(n), n->grad.data, 0, dsrc, 0);
    return CNN_OK;
}

/* The name of an op's kind v from a table indexed by its enum ({[CNN_BIN_ADD] = "add",
   ...}): NULL for a value outside the table or without a name there. */
static inline const char *cnn_enum_name(const char *const *names, int count, int v)
{
    return v >= 0 && v < count ? names[v] : NULL;
}
#define CNN_ENUM_NAME(names, v) \
    cnn_enum_name(names, (int)(sizeof(names) / sizeof((names)[0])), (int)(v))

/* An option that may be given per axis (specific), for all axes (general), or not. */
static inline int cnn_opt_pick(int specific, int general, int dflt)
{
    if (specific) return specific;
    if (general) return general;
    return dflt;
}

/* PyTorch's pooling_output_shape: floor (or ceil) of (in + 2p - d(k-1) - 1) / s + 1;
   in ceil mode a last window starting in the right padding is dropped. */
static inline int cnn_pool_out_size(int in, int k, int s, int p, int d, bool ceil_mode)
{
    int num = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1; /* floor division */
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

#endif

/* cnn/describe.h: part of the public API of cnn.c (include it through cnn.h).
   A read-only description of a built graph's nodes, for exporters (ONNX, generated C)
   and tools: each node's position, its op's options, the convolution it computes, its
   eval-mode affine form, a constant's data (docs/architecture.md, "Describing a
   graph"). Nodes are found with cnn_graph_node / cnn_node_input / cnn_node_param_at
   (graph.h); int8 state with cnn_node_quant_info (train.h). */
#ifndef CNN_API_DESCRIBE_H
#define CNN_API_DESCRIBE_H

#include "core.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/* A convolution in 1-3 spatial dimensions, stored as (D, H, W); a 2D convolution
   has D = 1, k[0] = 1, s[0] = 1, p[0] = 0, d[0] = 1 (and a linear layer is a 1x1
   convolution of its flattened input).
   x: (N, C_in, D, H, W), w: (C_out, C_in/groups, kD, kH, kW), y: (N, C_out, D', H', W').
   The kernel table uses the same struct (docs/architecture.md, "Kernels"). */
typedef struct cnn_conv_desc {
    int n, c_in, c_out, groups;
    int in[3], out[3];
    int k[3], s[3], p[3], d[3];
} cnn_conv_desc;

/* A node's options in a format-neutral form: its op lists them as named integer or
   float lists ("kernel" {3, 3}, "stride", "padding", "groups", "act", "alpha", ...), in
   the terms of the public builder that made it, so an exporter can rebuild the call.
   The keys of every op are listed in docs/architecture.md, "Operators". */
#define CNN_DESC_MAX_ATTRS 16
#define CNN_DESC_MAX_VALUES 12
typedef struct cnn_desc_attr {
    const char *key;                   /* a static string */
    bool is_float;
    int n;                             /* values used */
    int64_t i[CNN_DESC_MAX_VALUES];    /* when !is_float */
    float f[CNN_DESC_MAX_VALUES];      /* when is_float */
} cnn_desc_attr;
typedef struct cnn_op_desc {
    int n_attrs;
    cnn_desc_attr attrs[CNN_DESC_MAX_ATTRS];
} cnn_op_desc;

/* Fills d with n's options (d is cleared first; ops without options, such as add or
   concat, list none). */
void cnn_node_describe(const cnn_node *n, cnn_op_desc *d);
/* The attribute named key, or NULL. */
const cnn_desc_attr *cnn_desc_find(const cnn_op_desc *d, const char *key);

/* n's topological index: cnn_graph_node(g, cnn_node_index(n)) == n; producers come
   before their consumers. -1 for NULL. */
int cnn_node_index(const cnn_node *n);
/* Elements of one example of n's value (dims 1.. of a batched node, all dims of an
   unbatched one). */
size_t cnn_node_per_example(const cnn_node *n);
/* "(N, C, H, W)" of n's value, in one of a few thread-local buffers (valid until the
   fourth next call on the same thread). */
const char *cnn_node_shape_str(const cnn_node *n);
/* The convolution n computes (conv2d, conv3d; linear as a 1x1 convolution) at the
   graph's maximum batch, with its weight as parameter 0 and its optional bias as
   parameter 1. false (d untouched) for every other op. */
bool cnn_node_conv(const cnn_node *n, cnn_conv_desc *d);
/* Whether n computes, in eval mode, y = x * scale[c] + shift[c] per channel c of its
   input (batch norm with its running statistics); if so and scale / shift are not
   NULL, fills C floats each with the coefficients the backend in use computes with. */
bool cnn_node_eval_affine(const cnn_node *n, float *scale, float *shift);
/* The value of a node whose value is data (no inputs, unbatched: a constant, a
   parameter node), written into dst (cnn_node_per_example(n) floats); the graph need
   not have run. CNN_ERR_INVALID_ARG for any other node. */
cnn_status cnn_node_data(const cnn_node *n, float *dst);

/* Records error s with the message "<op> '<name>': <fmt ...>" (what every op reports
   its errors with) and returns s: for tools reporting a problem with a node. */
cnn_status cnn_node_error(const cnn_node *n, cnn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_DESCRIBE_H */

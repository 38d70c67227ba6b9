/* What conv2d, conv3d and conv_transpose2d share: option resolution, validation with
   the messages users see, and (for the regular convolutions) shape, cost, forward and
   backward over 1-3 spatial dims, and their op table (CNN_CONV_OP_DEF). Each op file
   keeps its own builder.
   The regular convolutions take a fused epilogue (cnn_op_def.takes_epilogue): their
   forward hands ctx->epi to the backend (docs/architecture.md, "Fusion"). */
#ifndef CNN_CONV_COMMON_H
#define CNN_CONV_COMMON_H
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "spatial.h"

/* A convolution's options along its nd spatial axes (2: H, W; 3: D, H, W). */
typedef struct cnn_conv_geom {
    int nd;
    int out; /* output channels */
    int k[3], s[3], p[3], d[3];
    int groups;
    bool bias;
    cnn_conv_desc desc; /* the kernel descriptor, at the maximum batch */
} cnn_conv_geom;

/* Validates out_channels, kernel, stride, dilation, padding and groups against c_in
   input channels; the error names the op, the layer, the option and its value. */
cnn_status cnn_conv_check(cnn_node *n, const cnn_conv_geom *c, int c_in);

/* The regular convolution (conv2d, conv3d): x (N, C, *spatial) -> (N, out, *spatial'),
   its geometry the node's attr: the cnn_op_def entries of both. */
cnn_status cnn_conv_shape(cnn_node *n);
int64_t cnn_conv_cost(const cnn_node *n);
cnn_status cnn_conv_forward(cnn_node *n, const cnn_ctx *ctx);
cnn_status cnn_conv_backward(cnn_node *n, const cnn_ctx *ctx);
/* cnn_op_def.int8_conv of the regular convolutions. */
void cnn_conv_int8(const cnn_node *n, cnn_conv_desc *d);
/* The kernel a convolution's eval forward runs at this batch (op kernel_name hook,
   for cnn_graph_profile): the backend's choice, or the blocked kernel with the
   layouts it reads and writes ("cpu dw 16c>nchw"). */
const char *cnn_conv_kernel_name(const cnn_node *n, int batch, char *buf, size_t size);
/* describe(): out_channels, kernel, stride, padding, dilation (nd values each), groups,
   bias (0/1). */
void cnn_conv_describe(const cnn_node *n, cnn_op_desc *d);
/* The op table of a regular convolution (conv2d, conv3d): the entries above. */
#define CNN_CONV_OP_DEF(id)                                                                 \
    CNN_OP_DEF(id, .int8_conv = cnn_conv_int8, .kernel_name = cnn_conv_kernel_name,         \
               .takes_epilogue = true, .shape = cnn_conv_shape, .cost = cnn_conv_cost,      \
               .forward = cnn_conv_forward, .backward = cnn_conv_backward,                  \
               .describe = cnn_conv_describe)
#endif

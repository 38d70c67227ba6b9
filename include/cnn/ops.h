/* cnn/ops.h: part of the public API of cnn.c (include it through cnn.h).
   The operators: layers (convolution, pooling, normalisation, activations, ...),
   general tensor ops (what imported networks need) and the loss. */
#ifndef CNN_API_OPS_H
#define CNN_API_OPS_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Declarations here are the shared library's interface; it is built with
   -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

/* ---------------------------------------------------------------- operators
 * Each returns the new node, or NULL with the graph's error set. .name is the
 * layer's name inside the current scope (its parameters are "<scope>.<name>.weight").
 */

/* x: (N, C, H, W) -> (N, out, H', W'); as torch.nn.Conv2d. kernel/stride/padding/
   dilation set both axes; the _h/_w forms override one axis (5x3 kernels). */
typedef struct cnn_conv2d_opts {
    const char *name;
    int kernel, kernel_h, kernel_w;
    int stride, stride_h, stride_w;       /* default 1 */
    int padding, padding_h, padding_w;    /* default 0 */
    int dilation, dilation_h, dilation_w; /* default 1 */
    int groups;                           /* default 1 */
    bool no_bias;                         /* bias=False */
} cnn_conv2d_opts;
cnn_node *cnn_conv2d_(cnn_graph *g, cnn_node *x, int out_channels, const cnn_conv2d_opts *o);
#define cnn_conv2d(g, x, out, ...) cnn_conv2d_(g, x, out, &(cnn_conv2d_opts){__VA_ARGS__})

/* x: (N, C, D, H, W) -> (N, out, D', H', W'); as torch.nn.Conv3d. */
typedef struct cnn_conv3d_opts {
    const char *name;
    int kernel, kernel_d, kernel_h, kernel_w;
    int stride, stride_d, stride_h, stride_w;
    int padding, padding_d, padding_h, padding_w;
    int dilation, dilation_d, dilation_h, dilation_w;
    int groups;
    bool no_bias;
} cnn_conv3d_opts;
cnn_node *cnn_conv3d_(cnn_graph *g, cnn_node *x, int out_channels, const cnn_conv3d_opts *o);
#define cnn_conv3d(g, x, out, ...) cnn_conv3d_(g, x, out, &(cnn_conv3d_opts){__VA_ARGS__})

/* As torch.nn.ConvTranspose2d: H' = (H-1)*stride - 2*padding + dilation*(k-1)
   + output_padding + 1. Weight (C_in, out/groups, kh, kw). */
typedef struct cnn_conv_transpose2d_opts {
    const char *name;
    int kernel, kernel_h, kernel_w;
    int stride, stride_h, stride_w;
    int padding, padding_h, padding_w;
    int output_padding, output_padding_h, output_padding_w;
    int dilation, dilation_h, dilation_w;
    int groups;
    bool no_bias;
} cnn_conv_transpose2d_opts;
cnn_node *cnn_conv_transpose2d_(cnn_graph *g, cnn_node *x, int out_channels,
                                const cnn_conv_transpose2d_opts *o);
#define cnn_conv_transpose2d(g, x, out, ...) \
    cnn_conv_transpose2d_(g, x, out, &(cnn_conv_transpose2d_opts){__VA_ARGS__})

/* Pooling as torch.nn.MaxPool2d / AvgPool2d (stride defaults to kernel). */
typedef struct cnn_pool2d_opts {
    const char *name;
    int kernel, kernel_h, kernel_w;
    int stride, stride_h, stride_w;
    int padding, padding_h, padding_w;
    int dilation; /* max pool only; default 1 */
    bool ceil_mode;
    bool exclude_pad; /* avg pool: count_include_pad=False */
} cnn_pool2d_opts;
cnn_node *cnn_maxpool2d_(cnn_graph *g, cnn_node *x, const cnn_pool2d_opts *o);
#define cnn_maxpool2d(g, x, ...) cnn_maxpool2d_(g, x, &(cnn_pool2d_opts){__VA_ARGS__})
cnn_node *cnn_avgpool2d_(cnn_graph *g, cnn_node *x, const cnn_pool2d_opts *o);
#define cnn_avgpool2d(g, x, ...) cnn_avgpool2d_(g, x, &(cnn_pool2d_opts){__VA_ARGS__})
/* The argmax of each output of a max pool node, as flat indices into each input
   plane (h * W + w), like return_indices=True. Valid after forward in either mode. */
cnn_status cnn_maxpool2d_indices(const cnn_node *pool, const int32_t **indices);

typedef struct cnn_pool3d_opts {
    const char *name;
    int kernel, kernel_d, kernel_h, kernel_w;
    int stride, stride_d, stride_h, stride_w;
    int padding, padding_d, padding_h, padding_w;
    bool ceil_mode;
} cnn_pool3d_opts;
cnn_node *cnn_maxpool3d_(cnn_graph *g, cnn_node *x, const cnn_pool3d_opts *o);
#define cnn_maxpool3d(g, x, ...) cnn_maxpool3d_(g, x, &(cnn_pool3d_opts){__VA_ARGS__})

/* (N, C, H, W) -> (N, C, out_h, out_w), PyTorch's adaptive bins. */
cnn_node *cnn_adaptive_avgpool2d(cnn_graph *g, cnn_node *x, int out_h, int out_w);
/* (N, C, H, W) -> (N, C, 1, 1). */
cnn_node *cnn_global_avgpool(cnn_graph *g, cnn_node *x);

/* Batch norm over (N, H, W) per channel (3D: over N, D, H, W). Training uses batch
   statistics and updates running mean / unbiased var with momentum; eval uses the
   running statistics. Parameters weight, bias; buffers running_mean, running_var. */
typedef struct cnn_batchnorm_opts {
    const char *name;
    float eps;      /* default 1e-5 */
    float momentum; /* default 0.1 */
} cnn_batchnorm_opts;
cnn_node *cnn_batchnorm2d_(cnn_graph *g, cnn_node *x, const cnn_batchnorm_opts *o);
#define cnn_batchnorm2d(g, x, ...) cnn_batchnorm2d_(g, x, &(cnn_batchnorm_opts){__VA_ARGS__})
cnn_node *cnn_batchnorm3d_(cnn_graph *g, cnn_node *x, const cnn_batchnorm_opts *o);
#define cnn_batchnorm3d(g, x, ...) cnn_batchnorm3d_(g, x, &(cnn_batchnorm_opts){__VA_ARGS__})

/* Local response normalisation across channels, as torch.nn.LocalResponseNorm. */
typedef struct cnn_lrn_opts {
    const char *name;
    int size;    /* required */
    float alpha; /* default 1e-4 */
    float beta;  /* default 0.75 */
    float k;     /* default 1 */
} cnn_lrn_opts;
cnn_node *cnn_lrn_(cnn_graph *g, cnn_node *x, const cnn_lrn_opts *o);
#define cnn_lrn(g, x, ...) cnn_lrn_(g, x, &(cnn_lrn_opts){__VA_ARGS__})

/* (N, ..., in) flattened to (N, in) -> (N, out); weight (out, in). */
typedef struct cnn_linear_opts {
    const char *name;
    bool no_bias;
} cnn_linear_opts;
cnn_node *cnn_linear_(cnn_graph *g, cnn_node *x, int out_features, const cnn_linear_opts *o);
#define cnn_linear(g, x, out, ...) cnn_linear_(g, x, out, &(cnn_linear_opts){__VA_ARGS__})

/* Inverted dropout: train mode zeroes with probability p and scales by 1/(1-p). */
typedef struct cnn_dropout_opts {
    const char *name;
} cnn_dropout_opts;
cnn_node *cnn_dropout_(cnn_graph *g, cnn_node *x, float p, const cnn_dropout_opts *o);
#define cnn_dropout(g, x, p, ...) cnn_dropout_(g, x, p, &(cnn_dropout_opts){__VA_ARGS__})

/* Element-wise activations. */
typedef enum cnn_act {
    CNN_ACT_NONE = 0,
    CNN_ACT_RELU,
    CNN_ACT_RELU6,
    CNN_ACT_SIGMOID,
    CNN_ACT_TANH,
    CNN_ACT_HARDSWISH,
    CNN_ACT_HARDSIGMOID,
    CNN_ACT_LEAKY_RELU, /* the kinds below take parameters: cnn_activation_p */
    CNN_ACT_ELU,
    CNN_ACT_CLIP,
} cnn_act;
cnn_node *cnn_activation(cnn_graph *g, cnn_node *x, cnn_act act);
#define cnn_relu(g, x) cnn_activation(g, x, CNN_ACT_RELU)
#define cnn_relu6(g, x) cnn_activation(g, x, CNN_ACT_RELU6)
#define cnn_sigmoid(g, x) cnn_activation(g, x, CNN_ACT_SIGMOID)
#define cnn_tanh(g, x) cnn_activation(g, x, CNN_ACT_TANH)
#define cnn_hardswish(g, x) cnn_activation(g, x, CNN_ACT_HARDSWISH)
#define cnn_hardsigmoid(g, x) cnn_activation(g, x, CNN_ACT_HARDSIGMOID)

/* Softmax over dimension 1 (classes / channels). */
cnn_node *cnn_softmax(cnn_graph *g, cnn_node *x);

/* (N, ...) -> (N, prod(...)). */
cnn_node *cnn_flatten(cnn_graph *g, cnn_node *x);
/* (N, ...) -> (N, dims...): dims exclude the batch; one entry may be -1. */
cnn_node *cnn_reshape(cnn_graph *g, cnn_node *x, int ndim, const int *dims);

/* Concatenation along channels (dim 1); all other dims must agree. */
cnn_node *cnn_concat(cnn_graph *g, int n, cnn_node *const *xs);
/* a + b, same shape. */
cnn_node *cnn_add(cnn_graph *g, cnn_node *a, cnn_node *b);
/* x: (N, C, H, W) * s: (N, C, 1, 1) (SE channel attention). */
cnn_node *cnn_mul_channel(cnn_graph *g, cnn_node *x, cnn_node *s);
/* x: (N, C, H, W) * s: (N, 1, H, W) (CBAM spatial attention). */
cnn_node *cnn_mul_spatial(cnn_graph *g, cnn_node *x, cnn_node *s);
/* (N, C, H, W) -> (N, 1, H, W): mean or max over channels (CBAM). */
cnn_node *cnn_channel_mean(cnn_graph *g, cnn_node *x);
cnn_node *cnn_channel_max(cnn_graph *g, cnn_node *x);
/* ShuffleNet's channel shuffle: (N, g*c, H, W) viewed (N, g, c, H, W), transposed. */
cnn_node *cnn_channel_shuffle(cnn_graph *g, cnn_node *x, int groups);
/* Channels [start, start+count) of x (ShuffleNet V2's split). */
cnn_node *cnn_channel_slice(cnn_graph *g, cnn_node *x, int start, int count);

/* ---------------------------------------------------------------- general tensor ops
 * What imported networks (ONNX) need beyond the zoo's layers. Axes count every
 * dimension, the batch included (axis 0); a negative axis counts from the end, as in
 * ONNX / NumPy. On a batched node the batch must stay dimension 0 and may not be
 * reduced, sliced, padded or moved: those are shape errors naming the node. Every op
 * has forward and backward.
 */
/* A node holding fixed data (copied), not trained: dims are the whole shape, no batch. */
cnn_node *cnn_constant(cnn_graph *g, const char *name, int ndim, const int *dims,
                       const float *data);
/* A node whose value is a parameter named `name` (trainable, or a buffer when not),
   initialised to zero unless cnn_graph_set_initial gives it values. No batch. */
cnn_node *cnn_parameter(cnn_graph *g, const char *name, int ndim, const int *dims,
                        bool trainable);
/* Values a parameter (or buffer) takes at compile instead of its default
   initialisation (e.g. weights read from a file); data is copied, n must equal the
   parameter's element count. Later cnn_graph_init calls still override it. */
cnn_status cnn_graph_set_initial(cnn_graph *g, const char *param, const float *data, size_t n);

/* Element-wise binary ops with NumPy broadcasting (a batched operand keeps the batch
   in dimension 0; the other must broadcast over it). */
typedef enum cnn_binary_op {
    CNN_BIN_ADD = 0,
    CNN_BIN_SUB,
    CNN_BIN_MUL,
    CNN_BIN_DIV,
    CNN_BIN_MAX,
    CNN_BIN_MIN,
    CNN_BIN_POW,
} cnn_binary_op;
cnn_node *cnn_binary(cnn_graph *g, cnn_node *a, cnn_node *b, cnn_binary_op op);

/* Element-wise unary maths. */
typedef enum cnn_unary_op {
    CNN_UN_NEG = 0,
    CNN_UN_ABS,
    CNN_UN_EXP,
    CNN_UN_LOG,
    CNN_UN_SQRT,
    CNN_UN_RECIPROCAL,
} cnn_unary_op;
cnn_node *cnn_unary(cnn_graph *g, cnn_node *x, cnn_unary_op op);

/* Activations with parameters: CNN_ACT_LEAKY_RELU (alpha = negative slope),
   CNN_ACT_ELU (alpha), CNN_ACT_CLIP (min = alpha, max = beta),
   CNN_ACT_HARDSIGMOID (max(0, min(1, alpha * x + beta)); cnn_hardsigmoid is
   alpha 1/6, beta 1/2). The kinds without parameters ignore alpha and beta. */
cnn_node *cnn_activation_p(cnn_graph *g, cnn_node *x, cnn_act act, float alpha, float beta);

/* Permutes dimensions: out.dims[i] = x.dims[perm[i]]; perm has x's rank. */
cnn_node *cnn_transpose(cnn_graph *g, cnn_node *x, int ndim, const int *perm);
/* Elements start, start+step, ... before end along one axis (ONNX Slice on one axis:
   start/end clamped as ONNX does, INT_MAX/INT_MIN for open ends; step != 0, may be
   negative). */
cnn_node *cnn_slice(cnn_graph *g, cnn_node *x, int axis, int start, int end, int step);

typedef enum cnn_pad_mode { CNN_PAD_CONSTANT = 0, CNN_PAD_REFLECT, CNN_PAD_EDGE } cnn_pad_mode;
/* pads: 2 * rank entries, ONNX order (all begins, then all ends); negative pads crop.
   value: the constant (may be -INFINITY, e.g. before a max pool). */
cnn_node *cnn_pad(cnn_graph *g, cnn_node *x, const int *pads, cnn_pad_mode mode, float value);

typedef enum cnn_reduce_op {
    CNN_REDUCE_MEAN = 0,
    CNN_REDUCE_SUM,
    CNN_REDUCE_MAX,
    CNN_REDUCE_MIN,
} cnn_reduce_op;
/* Reduces over the given axes (naxes 0 = all but the batch of a batched node). */
cnn_node *cnn_reduce(cnn_graph *g, cnn_node *x, cnn_reduce_op op, int naxes, const int *axes,
                     bool keepdims);

/* NumPy matmul: (..., M, K) x (..., K, N) -> (..., M, N), leading dims broadcast;
   1-D operands as NumPy treats them. */
cnn_node *cnn_matmul(cnn_graph *g, cnn_node *a, cnn_node *b);
/* Softmax / log-softmax along one axis (cnn_softmax is axis 1). */
cnn_node *cnn_softmax_axis(cnn_graph *g, cnn_node *x, int axis, bool log);
/* (N, C, H, W) -> (N, C, 1, 1): the maximum of each plane (also 3-D: N, C, D, H, W). */
cnn_node *cnn_global_maxpool(cnn_graph *g, cnn_node *x);

/* Mean cross-entropy of logits (N, K) against labels (cnn_labels), with optional
   label smoothing as torch.nn.CrossEntropyLoss. Output: a scalar of shape (1). */
typedef struct cnn_cross_entropy_opts {
    const char *name;
    float label_smoothing;
} cnn_cross_entropy_opts;
cnn_node *cnn_cross_entropy_(cnn_graph *g, cnn_node *logits, cnn_node *labels,
                             const cnn_cross_entropy_opts *o);
#define cnn_cross_entropy(g, logits, labels, ...) \
    cnn_cross_entropy_(g, logits, labels, &(cnn_cross_entropy_opts){__VA_ARGS__})

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_OPS_H */

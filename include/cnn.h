/* cnn.h — the one public header of cnn.c.
 *
 * A model is a static graph built once through a functional API. Every builder
 * call checks and infers shapes at once and returns a node; on error it returns
 * NULL, records the first error in the graph (cnn_graph_status) and every later
 * builder call given a NULL input returns NULL too, so model code needs no checks
 * between layers:
 *
 *     cnn_graph *g = cnn_graph_new();
 *     cnn_node *x = cnn_input(g, "input", 4, (int[]){256, 1, 28, 28});
 *     x = cnn_conv2d(g, x, 6, .kernel = 5, .padding = 2);
 *     x = cnn_sigmoid(g, x);
 *     ...
 *     if (cnn_graph_status(g) != CNN_OK) puts(cnn_error_message());
 *
 * Tensors are dense float32, NCHW (NCDHW in 3D), like PyTorch. Dimension 0 of every
 * batched node is the batch: the graph is built for a maximum batch and may run any
 * smaller one. Parameter and buffer names are PyTorch state_dict keys, made from the
 * scope stack (cnn_scope_push) and each layer's .name.
 */
#ifndef CNN_H
#define CNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Everything declared here is the shared library's interface; the library is built
   with -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

#define CNN_VERSION "0.1.0"
#define CNN_MAX_DIMS 6

/* ---------------------------------------------------------------- errors */
typedef enum cnn_status {
    CNN_OK = 0,
    CNN_ERR_INVALID_ARG, /* an option out of range, a NULL where a value is needed */
    CNN_ERR_SHAPE,       /* shapes that do not fit together */
    CNN_ERR_NOMEM,       /* an allocation failed */
    CNN_ERR_IO,          /* a file could not be opened, read or written */
    CNN_ERR_FORMAT,      /* a file's content is not what its format says */
    CNN_ERR_NOT_FOUND,   /* a name (model, parameter, layer, key) is unknown */
    CNN_ERR_UNSUPPORTED, /* valid, but not implemented by this build */
    CNN_ERR_STATE,       /* call out of order (e.g. backward before forward) */
    CNN_ERR_INTERRUPTED, /* stopped on request (Ctrl-C) */
} cnn_status;

/* The message of the last error set on this thread ("" if none). */
const char *cnn_error_message(void);
const char *cnn_status_name(cnn_status s);
/* Sets the thread's last error (used by the library; available to extensions). */
cnn_status cnn_set_error(cnn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void cnn_clear_error(void);
/* The status of the last error set on this thread (CNN_OK after cnn_clear_error):
   for calls that return a pointer (NULL on failure), e.g. cnn_optimizer_new. */
cnn_status cnn_error_status(void);

/* ---------------------------------------------------------------- memory */
/* Fault injection for tests: the k-th allocation from now (1-based) fails; 0 turns
   it off. Every allocation of the library goes through this hook. */
void cnn_alloc_fail_after(long k);
long cnn_alloc_count(void);

/* ---------------------------------------------------------------- tensors */
typedef struct cnn_tensor {
    int ndim;
    int dims[CNN_MAX_DIMS];
    float *data; /* dense, row-major; owned by whoever made it */
} cnn_tensor;

size_t cnn_tensor_numel(const cnn_tensor *t);
/* "(2, 3, 28, 28)" into buf. */
const char *cnn_shape_str(int ndim, const int *dims, char *buf, size_t size);
/* A tensor that owns its data (zeroed). Free with cnn_tensor_free. */
cnn_status cnn_tensor_alloc(cnn_tensor *t, int ndim, const int *dims);
void cnn_tensor_free(cnn_tensor *t);

/* ---------------------------------------------------------------- RNG */
/* One generator drives init, shuffling, dropout and augmentation. */
typedef struct cnn_rng {
    uint64_t s[4];
} cnn_rng;
void cnn_rng_seed(cnn_rng *r, uint64_t seed);
uint64_t cnn_rng_u64(cnn_rng *r);
uint32_t cnn_rng_below(cnn_rng *r, uint32_t n); /* uniform in [0, n) */
float cnn_rng_uniform(cnn_rng *r);              /* [0, 1) */
float cnn_rng_normal(cnn_rng *r);               /* N(0, 1) */

/* ---------------------------------------------------------------- threads */
/* Threads used by kernels (OpenMP). 0 = CNN_THREADS env var, else all cores. */
void cnn_set_threads(int n);
int cnn_get_threads(void);

/* ---------------------------------------------------------------- clock */
/* Seconds on the monotonic clock (differences are elapsed time): what the library's
   timings (profiling, epoch times, collectives) and the CLI's reports use. */
double cnn_now_s(void);

/* ---------------------------------------------------------------- backends */
/* "ref" (portable C, the oracle) or "cpu" (fast) when compiled in; the default is
   the fastest compiled in, or the CNN_BACKEND environment variable. */
cnn_status cnn_set_backend(const char *name);
const char *cnn_backend_name(void);

/* ---------------------------------------------------------------- graph */
typedef struct cnn_graph cnn_graph;
typedef struct cnn_node cnn_node;

typedef struct cnn_param {
    char *name;       /* state_dict key, e.g. "layer1.0.conv1.weight" */
    cnn_tensor value; /* points into the graph's parameter block */
    cnn_tensor grad;  /* zero-size (data NULL) for buffers */
    bool trainable;   /* false for buffers (running_mean, running_var) */
    bool no_decay;    /* biases and norm parameters: optimizers may skip weight decay */
    int role;         /* cnn_param_role */
} cnn_param;

typedef enum cnn_param_role {
    CNN_PARAM_WEIGHT = 0, /* conv / linear weight */
    CNN_PARAM_BIAS,
    CNN_PARAM_NORM_WEIGHT, /* batch norm gamma */
    CNN_PARAM_NORM_BIAS,   /* batch norm beta */
    CNN_PARAM_BUFFER,      /* running statistics */
} cnn_param_role;

cnn_graph *cnn_graph_new(void);
void cnn_graph_free(cnn_graph *g);
/* First error met while building (CNN_OK if none); its message is in the graph too. */
cnn_status cnn_graph_status(const cnn_graph *g);
const char *cnn_graph_error(const cnn_graph *g);

/* Scopes give parameters PyTorch names: push "layer1", push "0", then a conv with
   .name = "conv1" owns "layer1.0.conv1.weight". */
void cnn_scope_push(cnn_graph *g, const char *name);
void cnn_scope_pushf(cnn_graph *g, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void cnn_scope_pop(cnn_graph *g);

/* A graph input: dims[0] is the (maximum) batch. */
cnn_node *cnn_input(cnn_graph *g, const char *name, int ndim, const int *dims);
/* Ask for d loss / d input in backward; call before building on the input. */
void cnn_input_requires_grad(cnn_node *input);
/* Class labels for a loss: shape (N), integer class ids stored as float. */
cnn_node *cnn_labels(cnn_graph *g, const char *name, int batch);

/* Node access. Shapes reflect the batch of the last run (the maximum before). */
const char *cnn_node_name(const cnn_node *n);
const char *cnn_node_op(const cnn_node *n);
/* What the node computes, for listings: cnn_node_op, except that activation nodes say
   which activation ("relu6", "hardswish"). */
const char *cnn_node_kind(const cnn_node *n);
cnn_tensor cnn_node_value(const cnn_node *n); /* data NULL before planning */
cnn_tensor cnn_node_grad(const cnn_node *n);  /* data NULL if no gradient */
int cnn_graph_num_nodes(const cnn_graph *g);
cnn_node *cnn_graph_node(const cnn_graph *g, int i); /* topological order */
cnn_node *cnn_graph_find(const cnn_graph *g, const char *name);
/* Marks a node as an output (kept alive to the end of forward in eval mode). */
void cnn_graph_mark_output(cnn_graph *g, cnn_node *n);
cnn_node *cnn_graph_output(const cnn_graph *g); /* last marked, else last node */

/* Parameters and buffers, in creation order (PyTorch's state_dict order). */
int cnn_graph_num_params(const cnn_graph *g);
cnn_param *cnn_graph_param(const cnn_graph *g, int i);
cnn_param *cnn_graph_find_param(const cnn_graph *g, const char *name);
size_t cnn_graph_param_count(const cnn_graph *g); /* trainable elements */

/* Cost of one example (batch 1) per node and in total. */
typedef struct cnn_cost {
    int64_t params; /* trainable parameter elements */
    int64_t macs;   /* multiply-adds of the forward pass, one example */
} cnn_cost;
cnn_cost cnn_node_cost(const cnn_node *n);
cnn_cost cnn_graph_cost(const cnn_graph *g);

/* Allocate parameters (initialised as PyTorch's defaults, from seed) and plan
   activation memory. Called once after building; forward/backward call it if needed. */
cnn_status cnn_graph_compile(cnn_graph *g, uint64_t seed);
/* Bytes of the activation arena for training / inference at the maximum batch. */
size_t cnn_graph_arena_bytes(cnn_graph *g, bool training);
/* Everything compile plans (bytes, at the maximum batch): parameters and buffers,
   their gradients, the activation arena and the scratch the kernels share (reordered
   tensors, oneDNN's working memory, im2col) of each mode, the per-node saved block
   (pool indices, batch-norm statistics, dropout masks). Inference uses params +
   arena_inference + scratch + saved. Compiles if needed; all zero on error. */
typedef struct cnn_memory_plan {
    size_t params, grads, arena_inference, arena_training, scratch, scratch_training, saved;
} cnn_memory_plan;
cnn_memory_plan cnn_graph_memory_plan(cnn_graph *g);

/* Inference graph passes (default on; eval mode only): a convolution followed by
   batch norm, a residual add and/or an activation computes them in its own epilogue
   (same arithmetic, same bits), and at a maximum batch of 1 the inputs of a concat
   are planned in place. Nodes inside such a chain share the convolution's buffer, so
   after an eval forward their value is the chain's result; forward_until(node) still
   gives a node's own value, and a node marked with cnn_graph_mark_output keeps it.
   Off: every node keeps its own value (more memory). */
cnn_status cnn_graph_set_fusion(cnn_graph *g, bool on);

void cnn_graph_set_training(cnn_graph *g, bool training);
bool cnn_graph_training(const cnn_graph *g);
/* The generator dropout uses during training. */
cnn_rng *cnn_graph_rng(cnn_graph *g);

/* Structure of a built graph, for code outside the graph layer (model builders,
   exporters, tools; docs/architecture.md, "Layers and who includes what"). Each
   accepts NULL and an index out of range (0 or NULL then). */
int cnn_node_ndim(const cnn_node *n);
/* Dimension i of the node's value (negative i counts from the end); dim 0 of a
   batched node is the batch of the last run (the maximum before). */
int cnn_node_dim(const cnn_node *n, int i);
int cnn_node_num_inputs(const cnn_node *n);
cnn_node *cnn_node_input(const cnn_node *n, int i);
/* The node's parameters and buffers (weight, bias, running statistics ...). */
int cnn_node_num_params(const cnn_node *n);
cnn_param *cnn_node_param_at(const cnn_node *n, int i);
bool cnn_graph_compiled(const cnn_graph *g);
/* Fails the graph as a builder call would: the first error is kept (status and
   message, cnn_graph_status / cnn_graph_error) and later builder calls given NULL
   return NULL. Also sets the thread's error; returns s. For model builders that
   find a problem themselves (an option out of range, an input too small). */
cnn_status cnn_graph_fail(cnn_graph *g, cnn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Weight sharing: the same layer applied again. A new node computing what `layer`
   computes (same operator, same options) on new inputs (as many as layer has, of
   the same shapes), with layer's parameters: no new parameter is made, both nodes
   read the same values and backward adds both nodes' gradients into them, as a
   PyTorch module called twice. name: the node's name in the current scope (NULL:
   "<layer's name>_<k>"). cnn_node_cost counts the parameters at `layer` only. */
cnn_node *cnn_apply_shared(cnn_graph *g, const cnn_node *layer, int n_in, cnn_node *const *in,
                           const char *name);
/* The node a shared node takes its parameters from, or NULL. */
const cnn_node *cnn_node_shares(const cnn_node *n);

/* Copy batch data in: `batch` examples (<= the built batch), dense NCHW. */
cnn_status cnn_graph_set_input(cnn_graph *g, cnn_node *input, const float *data, int batch);
/* Runs forward over every node, for the batch given to the inputs. */
cnn_status cnn_graph_forward(cnn_graph *g);
/* Per-node timing (for `cnn bench --layers`): on resets the counters. */
typedef struct cnn_node_profile {
    double forward_s, backward_s; /* accumulated seconds */
    int64_t calls;                /* forward passes timed */
} cnn_node_profile;
void cnn_graph_set_profiling(cnn_graph *g, bool on);
cnn_node_profile cnn_node_profile_get(const cnn_node *n);
/* Runs forward only up to and including `last` (e.g. logits, skipping the loss). */
cnn_status cnn_graph_forward_until(cnn_graph *g, cnn_node *last);
/* Backward from a scalar loss node (d loss = 1): fills every parameter's grad
   (overwritten, not accumulated across calls) and inputs' grads if requested. */
cnn_status cnn_graph_backward(cnn_graph *g, cnn_node *loss);
/* Backward from an arbitrary node with the given upstream gradient (same shape as
   the node's value at the current batch). Used by gradient checks. */
cnn_status cnn_graph_backward_from(cnn_graph *g, cnn_node *n, const float *dout);

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

/* ---------------------------------------------------------------- initialisers */
typedef enum cnn_init_kind {
    CNN_INIT_DEFAULT = 0, /* PyTorch's layer defaults */
    CNN_INIT_XAVIER_UNIFORM,
    CNN_INIT_XAVIER_NORMAL,
    CNN_INIT_KAIMING_UNIFORM,
    CNN_INIT_KAIMING_NORMAL,
    CNN_INIT_NORMAL,
    CNN_INIT_CONSTANT,
} cnn_init_kind;
typedef struct cnn_init {
    cnn_init_kind kind;
    bool fan_out;     /* kaiming: mode="fan_out" (default fan_in) */
    float gain;       /* xavier gain (default 1); kaiming: 0 = relu gain sqrt(2) */
    float mean, std;  /* normal */
    float value;      /* constant */
} cnn_init;
/* Fill one tensor as the initialiser says; fan-in/out from a conv/linear weight shape. */
cnn_status cnn_init_tensor(cnn_tensor *t, const cnn_init *init, cnn_rng *rng);
/* Apply to every parameter of the given role (e.g. all conv/linear weights);
   biases of those layers are zeroed when zero_bias is set. */
cnn_status cnn_graph_init(cnn_graph *g, cnn_param_role role, const cnn_init *init,
                          bool zero_bias, uint64_t seed);

/* ---------------------------------------------------------------- optimizers */
typedef enum cnn_optim_kind { CNN_OPTIM_SGD = 0, CNN_OPTIM_ADAM, CNN_OPTIM_ADAMW } cnn_optim_kind;
typedef struct cnn_optim_opts {
    cnn_optim_kind kind;
    float lr;
    float momentum;     /* sgd */
    bool nesterov;      /* sgd */
    float weight_decay; /* sgd/adam: L2 added to the gradient; adamw: decoupled */
    float beta1, beta2, eps; /* adam defaults 0.9, 0.999, 1e-8 */
} cnn_optim_opts;
typedef struct cnn_optimizer cnn_optimizer;
/* State buffers are allocated here, once; step allocates nothing. */
cnn_optimizer *cnn_optimizer_new(cnn_graph *g, const cnn_optim_opts *o);
void cnn_optimizer_free(cnn_optimizer *opt);
void cnn_optimizer_set_lr(cnn_optimizer *opt, float lr);
float cnn_optimizer_lr(const cnn_optimizer *opt);
cnn_status cnn_optimizer_step(cnn_optimizer *opt);
/* Optimizer state as named tensors (for checkpoints): "momentum_buffer.<param>",
   "exp_avg.<param>", "exp_avg_sq.<param>"; and the step counter. */
int cnn_optimizer_num_states(const cnn_optimizer *opt);
cnn_tensor *cnn_optimizer_state(cnn_optimizer *opt, int i, const char **name);
int64_t cnn_optimizer_steps(const cnn_optimizer *opt);
void cnn_optimizer_set_steps(cnn_optimizer *opt, int64_t steps);

typedef enum cnn_schedule_kind {
    CNN_SCHED_CONSTANT = 0,
    CNN_SCHED_STEP,   /* lr * gamma^(epoch / step_size) */
    CNN_SCHED_COSINE, /* cosine from lr to min_lr over total epochs */
} cnn_schedule_kind;
typedef struct cnn_schedule {
    cnn_schedule_kind kind;
    int step_size;
    float gamma;
    float min_lr;
    int total;        /* cosine: number of epochs (or steps) */
    int warmup;       /* linear warm-up from 0 over this many epochs (or steps) */
} cnn_schedule;
/* Learning rate at (fractional) epoch t >= 0 for base rate lr. Step: gamma 0 = 0.1.
   Warm-up: lr_t = base(t) * t / warmup while t < warmup (0 at t = 0, rising linearly
   to meet the base schedule, which counts from t = 0), base(t) after. */
float cnn_schedule_lr(const cnn_schedule *s, float base_lr, float t);

/* ---------------------------------------------------------------- io: safetensors
 * The checkpoint and weight format (docs/architecture.md, "safetensors"). Files are validated fully at
 * load (header JSON, dtypes, offsets, sizes); F32, F64, F16, BF16, I64 and I32 tensors
 * are read and converted to float32. Writes go to a temporary file and are renamed. */
typedef struct cnn_tensor_file cnn_tensor_file;
cnn_status cnn_safetensors_load(const char *path, cnn_tensor_file **out);
void cnn_tensor_file_free(cnn_tensor_file *f);
int cnn_tensor_file_count(const cnn_tensor_file *f);
const char *cnn_tensor_file_name(const cnn_tensor_file *f, int i);
/* A view of the named tensor (float32; owned by the file). CNN_ERR_NOT_FOUND if absent. */
cnn_status cnn_tensor_file_get(const cnn_tensor_file *f, const char *name, cnn_tensor *view);
/* The "__metadata__" value for key, or NULL. */
const char *cnn_tensor_file_meta(const cnn_tensor_file *f, const char *key);

typedef struct cnn_named_tensor {
    const char *name;
    const cnn_tensor *tensor; /* written as F32 */
} cnn_named_tensor;
/* meta: n_meta key/value pairs as meta[2*i], meta[2*i+1]. Atomic (temp + rename). */
cnn_status cnn_safetensors_save(const char *path, int n, const cnn_named_tensor *tensors,
                                int n_meta, const char *const *meta);
/* As cnn_safetensors_save, but tensor i is written as I8 where as_int8[i] (its values
   must be integers in -128..127). */
cnn_status cnn_safetensors_save_i8(const char *path, int n, const cnn_named_tensor *tensors,
                                   const bool *as_int8, int n_meta, const char *const *meta);
/* Parameters and buffers by state_dict name. strict: every parameter must be present
   and extra keys are an error too (num_batches_tracked is always ignored, and so is
   the optimizer state "optim.*" of a cnn.c checkpoint, metadata cnn.model). A wrong
   shape or missing key is an error naming the key and both shapes. Compiles g first. */
cnn_status cnn_graph_load_weights(cnn_graph *g, const char *path, bool strict);
cnn_status cnn_graph_save_weights(cnn_graph *g, const char *path, int n_meta,
                                  const char *const *meta);

/* ---------------------------------------------------------------- io: ONNX export
 * A graph as an ONNX model (opset 17): one ONNX node per cnn.c node, named after it;
 * parameters and buffers (batch-norm running statistics too) as initializers under
 * their state_dict names; each graph input with a symbolic batch dimension "N"; the
 * output is o->output, else the graph's output (the logits when that is a loss).
 * Compiles g (seed 0) if it is not compiled. Written to a temporary file, fsync'ed and
 * renamed: nothing is written on failure. CNN_ERR_UNSUPPORTED without ONNX support
 * (build option CNN_WITH_ONNX) or for an op ONNX cannot express, naming the node. */
typedef struct cnn_onnx_export_opts {
    cnn_node *output;       /* NULL: see above */
    const char *graph_name; /* NULL: "cnn" */
} cnn_onnx_export_opts;
cnn_status cnn_onnx_export(cnn_graph *g, const char *path, const cnn_onnx_export_opts *o);

/* ---------------------------------------------------------------- data
 * (owned by src/data/; declarations for datasets, transforms and the loader go here) */
/* CNN-DATA-BEGIN */
/* A labelled data set held in memory. Examples are dense CHW (CDHW when d > 0); pixel
   data is kept as bytes (u8, scaled to [0, 1] when read), other data as floats. */
typedef struct cnn_dataset {
    int n;                 /* examples */
    int c, d, h, w;        /* example shape; d = 0 for images (3D data: (c, d, h, w)) */
    int classes;
    uint8_t *u8;           /* n*c*h*w pixels 0..255 (images), or NULL */
    float *f32;            /* n*example values (e.g. hyperspectral patches), or NULL */
    int32_t *labels;       /* n class ids in [0, classes) */
    char **class_names;    /* classes names, or NULL */
    char source[512];      /* where it came from, for messages */
} cnn_dataset;
/* spec: "fashion-mnist[:DIR]" (Debian's dataset-fashion-mnist in
   /usr/share/datasets/fashion-mnist by default, with the 10 class names), "mnist:DIR"
   (10 classes), "idx:DIR" (classes = largest label + 1), each reading
   {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; "cifar10:DIR" (data_batch_1..5.bin
   / test_batch.bin, names from batches.meta.txt; DIR may also hold them in
   cifar-10-batches-bin/); "folder:DIR" (one sub-folder per class, PNG/JPEG, sorted
   names, as torchvision's ImageFolder; DIR/train and DIR/test (or DIR/val) are used
   for train/test when both exist). Every file is validated fully at load: a wrong
   magic number, size or label is CNN_ERR_FORMAT naming the file and the problem.
   On error *out is left empty (safe to cnn_dataset_free). */
cnn_status cnn_dataset_open(const char *spec, bool train, cnn_dataset *out);
/* IDX pair (raw or gzip'd, detected by content): images magic 0x00000803 (n, h, w),
   labels 0x00000801 (n); classes = largest label + 1. */
cnn_status cnn_dataset_open_idx(const char *images, const char *labels, cnn_dataset *out);
cnn_status cnn_dataset_open_cifar10(const char *dir, bool train, cnn_dataset *out);
/* c, h, w: the size every image is converted / resized to; 0 = the first image's. */
cnn_status cnn_dataset_open_folder(const char *dir, int c, int h, int w, cnn_dataset *out);
void cnn_dataset_free(cnn_dataset *d);
/* Values of one example (c*max(d,1)*h*w) as floats: pixels scaled to [0, 1]. */
size_t cnn_dataset_example_size(const cnn_dataset *d);
cnn_status cnn_dataset_example(const cnn_dataset *d, int i, float *out);

/* Images: load PNG/JPEG (libpng / libjpeg; format from the file's content), convert to
   c channels (1 = luminance 0.299 R + 0.587 G + 0.114 B, 3 = RGB; alpha is dropped;
   2 = luminance + alpha, 4 = RGBA, with alpha 1 where the file has none),
   bilinear-resize to (h, w), values in [0, 1], CHW float (out: c*h*w). */
cnn_status cnn_image_load(const char *path, int c, int h, int w, float *out);
/* The stored size of an image: channels (1 for gray, 3 for colour), height, width. */
cnn_status cnn_image_info(const char *path, int *c, int *h, int *w);
/* Write 8-bit PNG (1 or 3 channels, HWC), atomically (temp + rename). */
cnn_status cnn_png_write(const char *path, int w, int h, int channels, const uint8_t *pixels);
/* Bilinear resize of a CHW float image, align_corners=False as
   torch.nn.functional.interpolate(mode="bilinear") (no antialiasing). */
void cnn_resize_bilinear(const float *src, int c, int h, int w, float *dst, int oh, int ow);

/* Per-example pipeline, in torchvision's usual order: Resize -> RandomCrop(size,
   padding) -> RandomHorizontalFlip -> ToTensor -> Normalize. For 3D data (d > 0) each
   (c, d) plane is treated as an image. */
typedef struct cnn_transform {
    int resize_h, resize_w;   /* 0 = keep */
    int crop_padding;         /* random crop back to size after zero padding (0 = off) */
    bool hflip;               /* random horizontal flip, p = 0.5 */
    bool normalize;           /* (x - mean[c]) / std[c] after scaling to [0, 1] */
    float mean[4], std[4];    /* per channel (c <= 4 when normalize is set) */
} cnn_transform;
typedef struct cnn_loader cnn_loader;
/* Batches of (x: batch*example floats, y: batch labels as float class ids for
   cnn_labels). Augmentation (crop/flip) only when augment is true. The order of an
   epoch is a function of (seed, epoch) only, an example's augmentation of (seed,
   epoch, example index) only. Batches are prepared on one background thread, one
   ahead of the caller; all buffers are allocated here. d must outlive the loader.
   t may be NULL (no transform). */
cnn_status cnn_loader_new(const cnn_dataset *d, int batch, bool shuffle, bool augment,
                          const cnn_transform *t, uint64_t seed, cnn_loader **out);
void cnn_loader_shape(const cnn_loader *l, int *c, int *d, int *h, int *w); /* after transforms */
int cnn_loader_num_batches(const cnn_loader *l);
/* From the next cnn_loader_start_epoch on, yield only shard k of K of every batch
   (cnn_shard_range: a rank's part of the global batch); n may then be 0 for a batch
   (x, y non-NULL) while the epoch goes on. */
cnn_status cnn_loader_set_shard(cnn_loader *l, int k, int shards);
/* Begins epoch `epoch` (any order: resuming at epoch k gives epoch k's order),
   abandoning what is left of the previous one. */
cnn_status cnn_loader_start_epoch(cnn_loader *l, int epoch);
/* Next batch of the epoch; *n = 0 at the end (the last batch may be partial). The
   pointers stay valid until the next call. */
cnn_status cnn_loader_next(cnn_loader *l, const float **x, const float **y, int *n);
/* Stops the background thread (also mid-epoch) and frees everything. */
void cnn_loader_free(cnn_loader *l);
/* Hyperspectral scenes (HybridSN, seeds 000/004): a cube (H, W, bands) and its ground
   truth (H, W; class ids, 0 = unlabelled) from MATLAB .mat files (v5 or v7.3, through
   matio; any numeric class) or .npy files (the format is read from the content).
   The spectra are reduced by PCA to K components (whitened as sklearn's
   PCA(whiten=True) unless no_whiten), zero-padded, and every labelled pixel becomes one
   example: the S x S patch around it laid out as (1, K, S, S), label = gt - 1. A
   stratified split by test_ratio (with seed) gives the train and test sets; classes =
   the largest label. */
typedef struct cnn_hsi_opts {
    const char *cube;     /* .mat / .npy: (H, W, bands) */
    const char *gt;       /* .mat / .npy: (H, W); NULL = the cube's name with _corrected
                             replaced by _gt, or with _gt added */
    const char *cube_var; /* .mat variable; NULL = indian_pines_corrected, salinas_corrected,
                             paviaU, ... else the only 3-D numeric variable */
    const char *gt_var;   /* NULL = indian_pines_gt, salinas_gt, paviaU_gt, ... else the
                             only 2-D numeric variable */
    int pca;              /* components K; 0 = 30 */
    int patch;            /* window S; 0 = 25 */
    float test_ratio;     /* fraction of each class held out; 0 = 0.7 (seed 000) */
    uint64_t seed;        /* of the split */
    bool no_whiten;       /* plain projection instead of unit-variance components */
} cnn_hsi_opts;
/* spec form: "hsi:CUBE?gt=GT&pca=30&patch=25&test=0.7&seed=0&cube-var=V&gt-var=V&whiten=1"
   (the "hsi:" prefix is optional). Strings of o point into buf (a copy of spec). */
cnn_status cnn_hsi_parse_spec(const char *spec, cnn_hsi_opts *o, char *buf, size_t size);
/* The train or test split as a data set of (1, K, S, S) float examples (c=1, d=K). */
cnn_status cnn_dataset_open_hsi(const cnn_hsi_opts *o, bool train, cnn_dataset *out);

/* A loaded scene after PCA. */
typedef struct cnn_hsi_scene {
    int h, w, bands, k; /* image size, bands in the file, components kept */
    float *pcs;         /* (h, w, k): the components of every pixel */
    int32_t *gt;        /* (h, w) class ids, 0 = unlabelled */
    int classes;        /* largest label */
    int labelled;       /* pixels with a label */
    double *explained;  /* k explained variance ratios, largest first */
    char source[512];   /* "FILE:VAR" of the cube, for messages */
} cnn_hsi_scene;
cnn_status cnn_hsi_scene_load(const cnn_hsi_opts *o, cnn_hsi_scene *out);
void cnn_hsi_scene_free(cnn_hsi_scene *s);
/* A cube (h, w, bands) and labels (h, w) as floats from a .mat / .npy file (var as
   cube_var / gt_var; rank 3 or 2). *data is cnn_malloc'd; free with cnn_tensor_free. */
cnn_status cnn_hsi_read(const char *path, const char *var, int rank, cnn_tensor *out);
/* PCA of n spectra x (n, bands) to k components: out (n, k) projections of the centred
   spectra (divided by sqrt(eigenvalue) when whiten), components (k, bands) orthonormal
   rows or NULL, explained (k) variance ratios or NULL. Covariance in double, Jacobi
   eigen-decomposition; each component's largest-magnitude entry is positive. */
cnn_status cnn_hsi_pca(const float *x, size_t n, int bands, int k, bool whiten, float *out,
                       float *components, double *explained);
/* The S x S patch centred on (y, x) of an (h, w, k) array, zeros outside (the seed's
   padWithZeros + createImageCubes), as (k, S, S): out[c][i][j] = a[y-r+i][x-r+j][c],
   r = (S-1)/2. */
void cnn_hsi_patch(const float *a, int h, int w, int k, int s, int y, int x, float *out);
/* Stratified split of the labelled pixels: split[i] = 0 unlabelled, 1 train, 2 test.
   Per class round(test_ratio * count) pixels, drawn by seed, go to test (at least one
   pixel stays in each side when the class has two or more). */
cnn_status cnn_hsi_split(const int32_t *gt, int n, float test_ratio, uint64_t seed,
                         uint8_t *split);
/* The predicted and the ground-truth maps side by side (gap of 4 white pixels), each
   pixel scale x scale, with a fixed 17-colour palette (0 = unlabelled, black). */
cnn_status cnn_hsi_map_png(const char *path, int h, int w, const int32_t *pred,
                           const int32_t *gt, int scale);

/* A synthetic scene: classes regions (irregular Voronoi cells), each class a smooth
   spectrum (sum of Gaussians over the bands) with spatial texture and noise, borders and
   a background class unlabelled (0). cube (h, w, bands), gt (h, w). */
typedef struct cnn_hsi_synth_opts {
    int height, width, bands, classes; /* 0 = 145, 145, 200, 16 */
    uint64_t seed;
    bool v73;                          /* write MATLAB v7.3 (HDF5) instead of v5 */
} cnn_hsi_synth_opts;
cnn_status cnn_hsi_synthesize(const cnn_hsi_synth_opts *o, float *cube, int32_t *gt);
/* Writes dir/synthetic.mat ("synthetic", single) and dir/synthetic_gt.mat
   ("synthetic_gt", uint8), atomically. */
cnn_status cnn_hsi_synth_write(const char *dir, const cnn_hsi_synth_opts *o);

/* NumPy .npy (format 1-3): bool, (u)int 8-64, float 16/32/64, either byte order, C or
   Fortran order, read as float32 (at most 6 dims). Save writes float32, C order. */
cnn_status cnn_npy_load(const char *path, cnn_tensor *out);
cnn_status cnn_npy_save(const char *path, const cnn_tensor *t);
/* CNN-DATA-END */

/* ---------------------------------------------------------------- model zoo */
typedef struct cnn_model_opts {
    int batch;          /* default 1 */
    int channels;       /* input channels; 0 = the model's default */
    int depth;          /* 3D models (hybridsn): spectral depth; 0 = default */
    int height, width;  /* input size; 0 = the model's default */
    int classes;        /* 0 = the model's default */
    float width_mult;   /* 0 = 1.0 (MobileNet alpha, ShuffleNet scale, ...) */
    const char *set;    /* family options "key=value,key=value" (e.g. "groups=3") */
} cnn_model_opts;

typedef struct cnn_model_info {
    const char *name;
    const char *description;  /* one line */
    int channels, depth, height, width, classes; /* defaults (depth 0 for 2D models) */
} cnn_model_info;

int cnn_model_count(void);
const cnn_model_info *cnn_model_at(int i);
const cnn_model_info *cnn_model_find(const char *name);
/* The model's options in one line: its family options ("--set key=value") with their
   defaults, and whether it takes a width multiplier ("--width"); "" when it has none,
   NULL for an unknown model. */
const char *cnn_model_options(const char *name);
/* Builds the named model into an empty graph; *input is its image input and *logits
   its (N, classes) output (marked as the graph output). Unknown names, bad options
   and inputs too small are errors naming what is wrong. */
cnn_status cnn_model_build(cnn_graph *g, const char *name, const cnn_model_opts *o,
                           cnn_node **input, cnn_node **logits);

/* ---------------------------------------------------------------- ONNX
 * Import: an .onnx file (protobuf, read with the code protobuf-c generates from
 * Debian's onnx.proto) becomes an ordinary graph built through this API: ONNX node
 * names, initializers as parameters under their ONNX names starting from the file's
 * values (cnn_graph_set_initial), BatchNormalization statistics as buffers. Dimension 0
 * of every graph input is the batch. Builds without ONNX return CNN_ERR_UNSUPPORTED
 * ("not built with ONNX"). See docs/architecture.md, "ONNX import". */
typedef struct cnn_onnx_import_opts {
    int batch;                          /* dim 0 of every input; 0 = 1 */
    int channels, depth, height, width; /* symbolic dims of the first input (0 = the file's);
                                           a value that contradicts a fixed dim is an error */
} cnn_onnx_import_opts;
/* *input = the first graph input, *output = the first graph output (every graph output
   is marked; the other inputs are found by name with cnn_graph_find). */
cnn_status cnn_onnx_import(cnn_graph *g, const char *path, const cnn_onnx_import_opts *o,
                           cnn_node **input, cnn_node **output);
/* true when a model name is a path to an ONNX file (ends in ".onnx"). */
bool cnn_onnx_is_path(const char *name);
/* ---------------------------------------------------------------- distributed
 * (owned by src/dist/; see docs/architecture.md "Distributed training")
 * A communicator joins the processes (ranks) of one data-parallel run. The
 * single-process one (rank 0 of 1) is the default; the MPI one needs a build with
 * CNN_WITH_MPI and a launch by mpirun. Collectives are blocking, called by every rank
 * in the same order, and fail with a message (never hang) when they do not complete
 * within the timeout (a rank died or stopped answering). */
/* CNN-DIST-BEGIN */
typedef struct cnn_comm cnn_comm;
typedef enum cnn_comm_kind {
    CNN_COMM_AUTO = 0, /* MPI when started by mpirun (and built with it), else single */
    CNN_COMM_SINGLE,
    CNN_COMM_MPI,      /* "not built with MPI" (CNN_ERR_UNSUPPORTED) in a build without it */
} cnn_comm_kind;
/* Initialises MPI for CNN_COMM_MPI (once per process). */
cnn_status cnn_comm_init(cnn_comm_kind kind, cnn_comm **out);
/* Finalises (MPI_Finalize for the MPI communicator) and frees. NULL is fine. */
void cnn_comm_free(cnn_comm *c);
int cnn_comm_rank(const cnn_comm *c);
int cnn_comm_size(const cnn_comm *c);
const char *cnn_comm_name(const cnn_comm *c); /* "single" or "mpi" */
bool cnn_comm_built_with_mpi(void);
/* In-place all-reduce of n values. The result is the same on every rank and is
   ((x_0 + x_1) + x_2) + ... in rank order for every element, whatever the transport
   (each rank adds its slice of the buffer in rank order, then the slices are gathered),
   so it does not depend on MPI's choice of algorithm. op: CNN_REDUCE_SUM, or
   CNN_REDUCE_MEAN (the sum divided by size); MAX/MIN are not supported. */
cnn_status cnn_comm_allreduce(cnn_comm *c, float *buf, size_t n, cnn_reduce_op op);
cnn_status cnn_comm_allreduce_f64(cnn_comm *c, double *buf, size_t n, cnn_reduce_op op);
/* Root's bytes to every rank. */
cnn_status cnn_comm_bcast(cnn_comm *c, void *buf, size_t bytes, int root);
cnn_status cnn_comm_barrier(cnn_comm *c);
/* Seconds a collective may wait (default 300, or CNN_DIST_TIMEOUT); <= 0: forever. */
void cnn_comm_set_timeout(cnn_comm *c, double seconds);
/* True once a collective failed or timed out: the run cannot continue in step and
   should end with cnn_comm_abort. */
bool cnn_comm_broken(const cnn_comm *c);
/* Ends every rank of the run at once (MPI_Abort) with this exit code; for programs
   (the CLI), never called by the library. The single communicator returns. */
void cnn_comm_abort(cnn_comm *c, int code);
/* Time spent in collectives and bytes contributed, since creation. */
typedef struct cnn_comm_stats {
    double seconds;     /* waiting for and moving data (includes waiting for slower ranks) */
    uint64_t bytes;     /* payload bytes passed to all-reduce / broadcast */
    int64_t calls;
} cnn_comm_stats;
cnn_comm_stats cnn_comm_get_stats(const cnn_comm *c);
/* Shard k of K of n items: the contiguous [*lo, *hi), the first n % K shards one
   larger. How a global batch is split among ranks. */
void cnn_shard_range(int n, int shards, int k, int *lo, int *hi);
/* CNN-DIST-END */

/* ---------------------------------------------------------------- training
 * (owned by src/train/; the trainer loop, metrics and checkpoints go here) */
/* CNN-TRAIN-BEGIN */
/* Classification metrics: the confusion matrix and what the HybridSN paper reports. */
typedef struct cnn_metrics {
    int classes;
    int64_t *confusion;      /* classes x classes, [true][predicted] */
    int64_t total, correct;
    double loss;             /* mean cross-entropy, if computed */
    double overall_acc;      /* OA = correct / total */
    double average_acc;      /* AA = mean of per-class recall (classes with examples) */
    double kappa;            /* Cohen's kappa */
} cnn_metrics;
cnn_status cnn_metrics_init(cnn_metrics *m, int classes);
void cnn_metrics_add(cnn_metrics *m, int truth, int predicted);
void cnn_metrics_finish(cnn_metrics *m); /* fills the accuracies and kappa */
double cnn_metrics_class_acc(const cnn_metrics *m, int c); /* recall; -1 if no examples */
void cnn_metrics_free(cnn_metrics *m);

/* A model with everything needed to run it again: the zoo name and options it was
   built with, its preprocessing and class names. Saved as checkpoint metadata. */
typedef struct cnn_model {
    cnn_graph *g;
    cnn_node *input, *logits, *labels, *loss;
    char name[512];          /* zoo name, or the path of an .onnx model */
    cnn_model_opts opts;     /* opts.set points into set_buf */
    char set_buf[256];
    cnn_transform transform; /* preprocessing used in training (no augmentation) */
    int classes;
    char **class_names;      /* may be NULL */
} cnn_model;
/* Builds a zoo model with a labels input and a cross-entropy loss (label smoothing). */
cnn_status cnn_model_new(const char *name, const cnn_model_opts *o, float label_smoothing,
                         cnn_model *m);
/* Builds the model a checkpoint names (at the given batch) and loads its weights. A
   path ending in ".onnx" is imported instead, with the file's weights. */
cnn_status cnn_model_load(const char *checkpoint, int batch, cnn_model *m);
void cnn_model_free(cnn_model *m);
/* Loads a PNG/JPEG as the model's input: resized to its (C, H, W) and normalised as in
   training (out: C*H*W floats). 2D image models only. */
cnn_status cnn_model_load_image(const cnn_model *m, const char *path, float *out);
/* Index of the largest of x[0..n) (the first of equal ones): a predicted class. */
int cnn_argmax(const float *x, int n);
/* Argmax predictions and metrics over a dataset in eval mode. */
cnn_status cnn_evaluate(cnn_model *m, const cnn_dataset *d, int limit, cnn_metrics *out);

typedef struct cnn_epoch_stats {
    int epoch;               /* 1-based */
    double train_loss, train_acc, test_acc, images_per_s, seconds;
    float lr;
} cnn_epoch_stats;

typedef struct cnn_train_config {
    int epochs, batch;
    cnn_optim_opts optim;
    cnn_schedule schedule;   /* in epochs */
    cnn_init init;           /* applied to conv/linear weights unless kind is DEFAULT */
    uint64_t seed;
    cnn_transform transform; /* resize / normalize (train and test) */
    bool augment;            /* random crop (transform.crop_padding) / flip in training */
    int limit_train, limit_test; /* first N examples only (0 = all) */
    const char *checkpoint;  /* saved after each epoch and on stop (atomic) */
    const char *resume;      /* continue from this checkpoint */
    const char *log_csv;     /* epoch,train_loss,train_acc,test_acc,images_per_s,seconds */
    const char *plot;        /* .svg or .png of loss / train acc / test acc */
    volatile int *stop;      /* set non-zero (e.g. from SIGINT) to stop after the step */
    void (*on_batch)(void *user, int epoch, int batch, int batches, double loss, double acc,
                     double images_per_s);
    void (*on_epoch)(void *user, const cnn_epoch_stats *s);
    void *user;
    /* Data-parallel (docs/architecture.md "Distributed training"): with more than one
       shard, batch is the global batch (0: the model's batch times shards), split into
       `shards` contiguous shards (0 = one per rank; one shard: the model's batch is the
       batch); each rank
       computes its shard's gradient, summed over ranks in rank order. One process with
       shards = K gives the numbers of K ranks bit for bit. The model's batch must hold
       a shard. Callbacks, logs, plots and checkpoints happen on rank 0 only. */
    cnn_comm *comm;          /* NULL = single process */
    int shards;
    bool sync_bn;            /* batch norm statistics over the global batch (ranks) */
} cnn_train_config;

/* Trains m on train (evaluating on test after each epoch when test != NULL). Returns
   CNN_ERR_INTERRUPTED after saving a checkpoint if *stop was set. */
cnn_status cnn_train(cnn_model *m, const cnn_dataset *train, const cnn_dataset *test,
                     const cnn_train_config *c, cnn_epoch_stats *last);
/* Writes the model (weights, metadata, optimizer state when opt != NULL) atomically. */
cnn_status cnn_checkpoint_save(const cnn_model *m, const cnn_optimizer *opt, int epoch,
                               const char *path);
/* Plots per-epoch curves as SVG (by extension .svg) or PNG (.png). */
cnn_status cnn_plot_curves(const char *path, const cnn_epoch_stats *s, int n);
/* Curves with points inside the epoch, as d2l's Animator draws them: x is the epoch
   reached (fractional inside one, e.g. 2.25 after a quarter of the third), a NaN value
   is no point of that series (train loss and accuracy several times per epoch, test
   accuracy once). Each series is a line through its points in order of x. */
typedef struct cnn_curve_point {
    double epoch;
    double train_loss, train_acc, test_acc;
} cnn_curve_point;
cnn_status cnn_plot_points(const char *path, const cnn_curve_point *p, int n);
/* Transfer learning (docs/architecture.md, "Transfer learning"). Copies every tensor
   of a safetensors file (a cnn.c checkpoint or a PyTorch state_dict, the same names),
   or initializer of an ONNX file (path ending in ".onnx", imported with
   cnn_onnx_import), whose name and shape match a parameter or buffer of g, compiling g first; the others
   keep the values they have (a fresh classifier for another class count). note (may
   be NULL) is told each parameter not loaded and each unused tensor of the file, with
   the reason; the optimizer state of a checkpoint is not counted as unused. Fails
   (changing nothing) when nothing matches. */
typedef struct cnn_transfer_stats {
    int loaded, not_loaded; /* parameters and buffers of g */
    int unused;             /* tensors of the file no parameter took */
} cnn_transfer_stats;
cnn_status cnn_graph_load_matching(cnn_graph *g, const char *path, cnn_transfer_stats *stats,
                                   void (*note)(void *user, const char *name, const char *why),
                                   void *user);
/* Marks every trainable parameter whose name matches one of the comma-separated
   glob patterns (fnmatch: "layer1.*,conv1.*") as not trainable: optimizers made after
   this leave it alone (backward still computes its gradient). g must be compiled. *n
   (may be NULL) receives the count; a pattern that matches nothing is an error naming
   it. */
cnn_status cnn_graph_freeze(cnn_graph *g, const char *patterns, int *n);
/* CNN-TRAIN-END */

/* ---------------------------------------------------------------- int8 quantization
 * Post-training quantization (docs/architecture.md, "int8 precision"): symmetric int8
 * weights per output channel, symmetric int8 activations with one scale per tensor
 * (the input of each conv / linear), calibrated on examples. Ops without an int8
 * kernel stay float. Precision is a property of the node's tensors; a quantized model
 * saves as an ordinary checkpoint (int8 weights as I8, scales as F32 tensors
 * "<layer>.weight_scale" / "<layer>.input_scale", metadata cnn.quant = int8) that
 * cnn_model_load reads back quantized. */
typedef enum cnn_calib_method {
    CNN_CALIB_MINMAX = 0,  /* threshold = max |x| */
    CNN_CALIB_PERCENTILE,  /* threshold = that percentile of |x| */
    CNN_CALIB_ENTROPY      /* threshold minimising KL(P || Q) (TensorRT / ncnn) */
} cnn_calib_method;
typedef struct cnn_quant_opts {
    cnn_calib_method method;
    float percentile;       /* CNN_CALIB_PERCENTILE: 0 means 99.99 */
    const char *keep_float; /* comma-separated layer names kept in float, or NULL */
} cnn_quant_opts;
/* Calibrates on the first n examples of d (the model's transform applied) and
   quantizes every conv / linear layer not kept in float. Errors: data that does not
   fit the model, n outside 1..d->n, an unknown layer name, NaN/Inf weights (the model
   is left unchanged). */
cnn_status cnn_model_quantize(cnn_model *m, const cnn_dataset *d, int n, const cnn_quant_opts *o);
/* Writes a quantized model's checkpoint atomically (metadata as cnn_checkpoint_save). */
cnn_status cnn_model_save_quantized(const cnn_model *m, const char *path);
/* Makes the layers of m->g whose "<layer>.input_scale" f holds int8 with the file's
   scales (the weights already loaded: cnn_graph_load_weights); path names f in
   messages. cnn_model_load does this for a quantized checkpoint. */
cnn_status cnn_model_quant_load(cnn_model *m, const cnn_tensor_file *f, const char *path);
/* A node's precision: int8 (with its scales) or float. */
typedef struct cnn_node_quant {
    bool int8;
    bool capable;              /* the op has an int8 kernel */
    float input_scale;
    int channels;              /* output channels (weight_scale entries) */
    const float *weight_scale;
    size_t weight_elems;       /* int8 weight elements */
} cnn_node_quant;
cnn_node_quant cnn_node_quant_info(const cnn_node *n);
/* Layers computed in int8 in g. */
int cnn_graph_num_int8(const cnn_graph *g);

/* ---------------------------------------------------------------- export: C source
 * The graph from input to output as DIR/NAME.h + DIR/NAME.c (docs/architecture.md,
 * "C export"): const weights, one static arena, int NAME_run(const float *input,
 * float *output) at batch 1 in eval mode; C99, <math.h> only, no allocation or
 * threads. An op without a generator is CNN_ERR_UNSUPPORTED naming the node; nothing
 * is left half-written. */
typedef struct cnn_c_export_info {
    size_t weight_bytes; /* const data (flash, besides code) */
    size_t arena_bytes;  /* the static arena and int8 input buffer (RAM) */
    int nodes;
} cnn_c_export_info;
/* int8: the model's int8 layers as integer kernels with cnn.c's int8 definition (the
   same integers as the library's int8 kernels); false: float code throughout. */
cnn_status cnn_export_c(cnn_graph *g, cnn_node *input, cnn_node *output, const char *dir,
                        const char *name, bool int8, cnn_c_export_info *info);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_H */

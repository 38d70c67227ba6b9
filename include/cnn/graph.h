/* cnn/graph.h: part of the public API of cnn.c (include it through cnn.h).
   The static graph: building, node and parameter access, weight sharing, compile,
   forward and backward, memory plan, fusion, profiling. */
#ifndef CNN_API_GRAPH_H
#define CNN_API_GRAPH_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Declarations here are the shared library's interface; it is built with
   -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

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
   (Between two int8 layers of a quantized model the value is kept as int8 bytes.)
   Off: every node keeps its own value (more memory). */
cnn_status cnn_graph_set_fusion(cnn_graph *g, bool on);

/* Constant weights for inference (off by default). On, the cpu backend keeps the
   blocked layout's convolution weights packed (reordered, Winograd-transformed)
   between eval forwards instead of packing them on every call, as ONNX Runtime does
   with its initializers. The library's own writes (cnn_graph_load_weights,
   cnn_graph_load_matching, optimizer steps) repack; a caller that writes parameter
   values itself while it is on calls cnn_graph_weights_changed(g) before the next
   forward. */
void cnn_graph_set_const_weights(cnn_graph *g, bool on);
void cnn_graph_weights_changed(cnn_graph *g);

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
/* Whether dimension 0 of the node's value is the batch (inputs and what is computed
   from them; constants and parameters are not batched). */
bool cnn_node_batched(const cnn_node *n);
/* Renames a node (its parameters keep their names): for importers that name nodes
   after another format's graph. CNN_ERR_INVALID_ARG when another node of the graph
   has the name. */
cnn_status cnn_node_set_name(cnn_node *n, const char *name);
int cnn_node_num_inputs(const cnn_node *n);
cnn_node *cnn_node_input(const cnn_node *n, int i);
/* The node's parameters and buffers (weight, bias, running statistics ...). */
int cnn_node_num_params(const cnn_node *n);
cnn_param *cnn_node_param_at(const cnn_node *n, int i);
bool cnn_graph_compiled(const cnn_graph *g);
/* Fails the graph as a builder call would: the first error is kept (status and
   message, cnn_graph_status / cnn_graph_error) and later builder calls given NULL
   return NULL. Also sets the thread's error; returns s (CNN_OK is taken as
   CNN_ERR_STATE: a failure needs a status). For model builders that
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
   "<layer's name>_<k>"). cnn_node_cost counts the parameters at `layer` only. A layer
   without parameters is simply applied again. */
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
/* A layer as the eval executor runs it, for profilers (`cnn bench --layers`; docs/
   architecture.md, "Describing a graph"), valid while the graph's plan is unchanged:
   the node's timing, the fusion chain it computes in its epilogue, how its value is
   stored and which kernel computes it. */
#define CNN_PROFILE_MAX_CHAIN 8
typedef struct cnn_layer_profile {
    cnn_node_profile time;
    /* the nodes computed in this node's epilogue, in order (their forward is skipped,
       the chain's value is the last one's), and which input of each carries the chain */
    int n_chain;
    const cnn_node *chain[CNN_PROFILE_MAX_CHAIN];
    int chain_in[CNN_PROFILE_MAX_CHAIN];
    const cnn_node *fused_into;  /* the node whose epilogue computes this one (or, an SE gate,
                                    the 1x1 conv that applies it as it reads), or NULL */
    const char *layout;          /* storage of the layer's value: "NCHW", "nChw16c", ... */
    /* what computes the forward: a convolution kernel ("cpu dw", "dnnl wino", with
       "16c>nchw" when it reads or writes the blocked layout), the backend providing
       the table entry (gemm, int8 convolution), or "ops" (the op's own dispatch) */
    char kernel[64];
} cnn_layer_profile;
/* Fills p for node n of g with the kernel choice at this batch. */
cnn_status cnn_graph_profile(const cnn_graph *g, const cnn_node *n, int batch, cnn_layer_profile *p);
/* Calls fn(arg, node) before each forward of a node, its inputs computed (calibration
   of int8 scales reads them: cnn_node_value of its inputs). While an observer is set
   the executor keeps every value observable (no blocked layout); call with fn NULL to
   remove it. Together with cnn_graph_set_fusion(g, false) it sees every node run. */
typedef void (*cnn_observe_fn)(void *arg, const cnn_node *n);
void cnn_graph_set_observer(cnn_graph *g, cnn_observe_fn fn, void *arg);
/* Whether eval forwards run fused chains (cnn_graph_set_fusion; on by default). */
bool cnn_graph_fusion(const cnn_graph *g);
/* Runs forward only up to and including `last` (e.g. logits, skipping the loss). */
cnn_status cnn_graph_forward_until(cnn_graph *g, cnn_node *last);
/* Backward from a scalar loss node (d loss = 1): fills every parameter's grad
   (overwritten, not accumulated across calls) and inputs' grads if requested. */
cnn_status cnn_graph_backward(cnn_graph *g, cnn_node *loss);
/* Backward from an arbitrary node with the given upstream gradient (same shape as
   the node's value at the current batch). Used by gradient checks. */
cnn_status cnn_graph_backward_from(cnn_graph *g, cnn_node *n, const float *dout);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_GRAPH_H */

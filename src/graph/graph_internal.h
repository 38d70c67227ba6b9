/* Internal graph structures, shared by graph/ and ops/. Not part of the public API. */
#ifndef CNN_GRAPH_INTERNAL_H
#define CNN_GRAPH_INTERNAL_H
#include "../core/core.h"
#include "../kernels/kernels.h"
#include "graph_api.h"

#define CNN_MAX_NODE_PARAMS 6

typedef struct cnn_op_def cnn_op_def;

/* What an op's forward/backward see besides its node. */
typedef struct cnn_ctx {
    bool training;
    bool fused;             /* eval with fusion: planned chains run as epilogues (fuse.c) */
    const cnn_node *unfused; /* ... except this one's (forward_until stops inside it) */
    /* The epilogue the node's forward applies to its output with be->epilogue after
       computing it (an op declaring takes_epilogue; set by the executor), or NULL. */
    const cnn_epilogue *epi;
    int batch;              /* examples in this run (dims[0] of batched tensors) */
    void *scratch;          /* n->scratch_bytes of temporary space, shared by all ops */
    const cnn_backend *be;  /* kernels */
    cnn_rng *rng;           /* dropout */
    cnn_comm *sync;         /* training: batch norm statistics over these ranks (NULL: local) */
    bool layout;            /* blocked values are stored blocked this run (layout.c) */
    const cnn_node *last;   /* forward_until's node (its value stays float), or NULL */
    /* the forward of a conv whose input or output is blocked (cnn_layout_conv_forward):
       handed to the ops through the context, so src/ops calls nothing in src/graph */
    cnn_status (*layout_conv)(cnn_node *n, const struct cnn_ctx *ctx, const cnn_conv_desc *d,
                              const float *b);
} cnn_ctx;

/* A parameter with the default initialisation of its layer (PyTorch's). */
typedef struct cnn_param_entry {
    cnn_param p;            /* first member: a cnn_param* is a cnn_param_entry* */
    enum { CNN_PINIT_UNIFORM, CNN_PINIT_CONST } init_kind;
    float init_value;       /* uniform bound, or the constant */
    int fan_in, fan_out;
} cnn_param_entry;

struct cnn_node {
    const cnn_op_def *op;
    cnn_graph *g;
    int id;                 /* topological index */
    char *name;             /* scoped name, e.g. "layer1.0.conv1" */
    int n_in;
    cnn_node **in;
    cnn_tensor out;         /* value; dims[0] = batch when batched */
    cnn_tensor grad;        /* d loss / d value; data NULL if not needed */
    bool batched;           /* dims[0] is the batch dimension */
    bool needs_grad;        /* a gradient flows through this node */
    bool requires_grad;     /* inputs: user asked for d loss / d input */
    bool is_output;
    bool grad_live;         /* backward: gradient reached this node */
    double prof_fwd, prof_bwd; /* seconds, when profiling */
    int64_t prof_calls;
    int n_params;
    cnn_param *params[CNN_MAX_NODE_PARAMS];
    void *attr;             /* op's own attribute struct (a private copy) */
    size_t attr_size;
    const cnn_node *shares; /* cnn_apply_shared: the node whose parameters this one uses */
    size_t saved_bytes;     /* kept from forward to backward, at the maximum batch */
    void *saved;
    size_t scratch_bytes;   /* temporary space forward/backward need (training) */
    size_t scratch_eval_bytes; /* ... an eval forward needs (shape() may set it lower;
                                  default: scratch_bytes) */
    /* inference graph passes (fuse.c); used by eval-mode forwards only */
    struct cnn_fusion *fusion; /* producer: the nodes its epilogue computes, or NULL */
    cnn_node *fused_into;   /* computed by that producer's epilogue: forward skips it */
    cnn_node *alias;        /* eval plan: value stored inside alias's buffer ... */
    size_t alias_off;       /* ... this many bytes from its start */
    struct cnn_qnode *q;    /* int8 precision (quant.c), or NULL: float */
    unsigned char layout;   /* eval: 16 = value stored nChw16c (layout.c), 0 = plain */
    /* blocked layout (layout.c): a channel gate read by its only consumer, a blocked
       1x1 conv, as it reads the gate's input (forward skips the gate), and that conv's
       gate */
    cnn_node *gated_into, *gate;
    /* planner bookkeeping */
    int last_use;           /* highest id of a consumer */
    size_t off_eval, off_train, off_grad;
};

/* cnn_op_desc, a node's options as an op's describe() lists them: include/cnn/describe.h. */

struct cnn_op_def {
    const char *name;
    /* Validate inputs and attributes; set n->out dims (maximum batch), declare
       parameters (cnn_node_param), saved_bytes and scratch_bytes. */
    cnn_status (*shape)(cnn_node *n);
    /* Multiply-adds of one example (params are counted from n->params). */
    int64_t (*cost)(const cnn_node *n);
    cnn_status (*forward)(cnn_node *n, const cnn_ctx *ctx);
    /* Accumulate (+=) into in[i]->grad where in[i]->grad.data != NULL and into
       every trainable parameter's grad. n->grad holds d loss / d out. */
    cnn_status (*backward)(cnn_node *n, const cnn_ctx *ctx);
    /* Fills d with the node's attributes (d is zeroed by the caller). NULL for ops
       that have none (add, concat, ...). */
    void (*describe)(const cnn_node *n, cnn_op_desc *d);
    /* What the node computes, for listings (cnn_node_kind): NULL means the op's name.
       The activation op says which activation ("relu6"). */
    const char *(*kind)(const cnn_node *n);
    /* int8 precision (quant.c): the convolution that computes this op (linear: 1x1),
       whose weight is params[0] and optional bias params[1]. NULL: no int8 kernel,
       the op stays float. */
    void (*int8_conv)(const cnn_node *n, cnn_conv_desc *d);
    /* Fusion traits (docs/architecture.md, "Fusion"); graph/ plans from these alone.
       takes_epilogue: the eval forward applies ctx->epi (when set) to the output,
       (N, C, spatial), with ctx->be->epilogue, so point-wise ops after it can run
       there. */
    bool takes_epilogue;
    /* An op that can run as a stage of another op's epilogue: the kind of stage it is
       (CNN_EPI_AFFINE / ADD / ACT, kernels.h), or 0. It is point-wise and keeps its
       input's shape; an ADD's other inputs must be computed before the chain starts. */
    int epilogue_kind;
    /* Describes node n as that stage at forward time, in[chain_in] being the chain's
       value: AFFINE fills st->scale and st->shift (C floats each, given), ADD sets
       st->other, ACT st->act. */
    void (*epilogue_stage)(const cnn_node *n, int chain_in, const cnn_ctx *ctx,
                           cnn_epi_stage *st);
    /* The output is the inputs laid one after another along dim 1 (concat): at batch 1
       each input may be computed in place inside the output's buffer. */
    bool inputs_in_place;
    /* Blocked layout trait (layout.c, docs/architecture.md "Blocked layout"): what the
       node's eval forward does with nChw16c values when ctx->layout is set (it reads
       n->layout and in[i]->layout): CNN_LAYOUT_SAME, in[0] and the output in one
       layout, other inputs plain; CNN_LAYOUT_READS, in[0] in either layout, the output
       plain; CNN_LAYOUT_ANY, every input and the output each in either layout. NULL or
       0: plain only. A callback: it may depend on the node (its rank, its options). */
    int (*layout_trait)(const cnn_node *n);
    /* The op is y = in[0] * in[1] with in[1] one value per (example, channel) (the SE
       gate, mul_channel): under the blocked layout a 1x1 convolution reading y may
       read in[0] and in[1] instead (layout.c). */
    bool channel_gate;
    /* For profiles (cnn_graph_profile): the kernel n's eval forward runs at this batch,
       as a short name, possibly written into buf. NULL: "ops". */
    const char *(*kernel_name)(const cnn_node *n, int batch, char *buf, size_t size);
};
enum { CNN_LAYOUT_SAME = 1, CNN_LAYOUT_READS, CNN_LAYOUT_ANY };

#define CNN_MAX_SCOPE 512
struct cnn_graph {
    cnn_node **nodes;
    int n_nodes, cap_nodes;
    cnn_param_entry **params;
    int n_params, cap_params;
    char scope[CNN_MAX_SCOPE];
    int scope_len[64];
    int scope_depth;
    cnn_status status;
    char error[1024];
    bool training;
    bool compiled;
    int max_batch, batch;
    float *param_block, *grad_block;
    void *saved_block;
    void *scratch;
    size_t scratch_bytes;
    size_t param_bytes, grad_bytes, saved_total; /* for cnn_graph_memory_plan */
    size_t scratch_eval, scratch_train; /* planned per mode; scratch_bytes is allocated */
    float *arena;
    size_t arena_bytes;     /* allocated */
    size_t plan_eval_bytes, plan_train_bytes;
    size_t inputs_bytes;    /* inputs occupy [0, inputs_bytes) in both plans */
    int plan_applied;       /* -1 none, 0 eval, 1 train */
    bool forward_done;      /* a training forward ran and backward may follow */
    cnn_rng rng;
    cnn_node *output;
    bool profiling;         /* time every node's forward/backward */
    bool no_fusion;         /* cnn_graph_set_fusion(g, false) */
    float *fuse_block;      /* folded batch-norm scale/shift of fused convolutions */
    /* called before each node's forward with its inputs computed (calibration) */
    cnn_observe_fn observe;
    void *observe_arg;
    struct cnn_initial *initials; /* cnn_graph_set_initial: applied at compile */
    int n_initials;
    cnn_comm *sync_comm;    /* set by the trainer for --sync-bn (docs/architecture.md) */
    const cnn_node *share_src; /* cnn_apply_shared: the node being applied again */
    /* cnn_graph_set_const_weights: generation of the weights the backend may keep packed
       between forwards (unique across graphs); 0: packed on every call */
    uint64_t wgen;
    bool wkept; /* wgen was ever set: the backend may hold packed copies of the params */
};

/* Values a parameter takes at compile instead of its default init (exec.c). */
typedef struct cnn_initial {
    cnn_param_entry *param;
    float *data;            /* a private copy */
} cnn_initial;

/* Builder helper used by every op: checks inputs (NULL propagates the graph's error),
   makes the node, copies attr, runs op->shape. Returns NULL with the error recorded. */
cnn_node *cnn_node_make(cnn_graph *g, const cnn_op_def *op, const char *name, int n_in,
                        cnn_node *const *in, const void *attr, size_t attr_size);
/* Declares a parameter "<node name>.<suffix>" during shape(). Default init: uniform
   in [-init_value, init_value] or the constant init_value. suffix NULL: the
   parameter is named as the node (cnn_parameter). */
cnn_param *cnn_node_param(cnn_node *n, const char *suffix, int ndim, const int *dims,
                          cnn_param_role role, int init_uniform, float init_value);
/* cnn_node_param while g->share_src is set: the shared parameter (graph_api.c). */
cnn_param *cnn_node_param_shared(cnn_node *n, const char *suffix, int ndim, const int *dims,
                                 cnn_param_role role);
/* cnn_node_error (include/cnn/describe.h): an error naming the node. */
size_t cnn_node_numel(const cnn_node *n);          /* at the current batch */
size_t cnn_node_numel_max(const cnn_node *n);      /* at the maximum batch */

/* Inference fusion (fuse.c, docs/architecture.md "Fusion"). A fusion chain: a node
   whose op takes_epilogue, then stages of increasing epilogue_kind ([affine] ->
   [add of values computed before the chain] -> [activation]), each link the only
   consumer of the previous. In eval mode the producer applies the whole chain in one
   pass over its output (the backend's epilogue, the same arithmetic in the same order
   as the separate ops: bit-identical), the other links are skipped and share the
   producer's buffer. With a maximum batch of 1, the inputs of an op declaring
   inputs_in_place are also planned inside its buffer, so it copies nothing. */
typedef struct cnn_fusion {
    int n_links;
    cnn_node *link[CNN_EPI_MAX_STAGES]; /* the stages' nodes, in order */
    int chain_in[CNN_EPI_MAX_STAGES];   /* which input of each carries the chain */
    float *coef[CNN_EPI_MAX_STAGES];    /* affine stages: scale and shift (2 C floats,
                                           in g->fuse_block), else NULL */
    cnn_node *tail;                     /* last link: holds the chain's value */
} cnn_fusion;
/* Sets every node's last_use (highest id of a consumer, its own id if none) and, when
   uses != NULL, uses[id] = how many inputs name the node (fuse.c). */
void cnn_graph_last_uses(cnn_graph *g, int *uses);
/* Byte offset of v inside its outermost alias (eval plan); sets *root (v if none). */
size_t cnn_alias_root(cnn_node *v, cnn_node **root);
/* Recomputes fusion chains and aliases (compile, cnn_graph_set_fusion). */
cnn_status cnn_graph_plan_fusion(cnn_graph *g);
/* Redoes fusion and both plans of a compiled graph (an output was marked). */
cnn_status cnn_graph_replan(cnn_graph *g);
void cnn_graph_fusion_free(cnn_graph *g);
/* Blocked layout (layout.c, docs/architecture.md "Blocked layout"): assigns each
   value's layout (after fusion); whether a forward (to `last`, NULL: all) may use it;
   the forward of a conv whose input or output is blocked (fused epilogue included);
   a value's layout by name ("NCHW", "nChw16c"). */
cnn_status cnn_graph_plan_layout(cnn_graph *g);
bool cnn_layout_active(const cnn_graph *g, const cnn_node *last, const cnn_node *unfused);
cnn_status cnn_layout_conv_forward(cnn_node *n, const cnn_ctx *ctx, const cnn_conv_desc *d,
                                   const float *b);
const char *cnn_layout_name(const cnn_node *n);
/* Describes producer n's planned chain as an epilogue for its forward (each link's
   epilogue_stage, at the current batch). */
void cnn_fusion_describe(const cnn_node *n, const cnn_ctx *ctx, cnn_epilogue *e);
/* int8 precision of a node (quant.c, docs/architecture.md "int8 precision"). */
typedef struct cnn_qnode {
    cnn_conv_desc desc;  /* at the maximum batch */
    float in_scale;      /* per-tensor scale of the input activation */
    float *w_scale;      /* per output channel: weight = w_scale * int8 */
    float *m;            /* in_scale * w_scale: int32 accumulator -> float */
    float *fm, *fb;      /* this forward's folded multiplier and bias (quant.c) */
    int8_t *w;           /* int8 weights, the layout of params[0] */
    int32_t *wsum;       /* per output channel: sum of its int8 weights */
    size_t x_bytes;      /* the quantized input's scratch bytes (64-byte multiple) */
    float q_out;         /* this forward: > 0 if the value was stored as int8 at this
                            scale for int8 readers (quant.c), else 0 (float) */
} cnn_qnode;
/* cnn_node_set_int8 (include/cnn/train.h) makes a node int8; cnn_calib_threshold
   (graph_api.h) turns calibration histograms into thresholds. */
/* Forward of an int8 node: quantizes its input into scratch, runs conv_forward_s8. */
cnn_status cnn_qnode_forward(cnn_node *n, const cnn_ctx *ctx);
/* int8 activations between int8 layers (quant.c): on by default (also CNN_INT8_CHAIN=0). */
void cnn_int8_chain_enable(bool on);

#endif

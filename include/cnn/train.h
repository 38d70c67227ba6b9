/* cnn/train.h: part of the public API of cnn.c (include it through cnn.h).
   Training: initialisers, optimizers, schedules, metrics, the model wrapper, the
   trainer, plots, transfer learning and int8 post-training quantization. */
#ifndef CNN_API_TRAIN_H
#define CNN_API_TRAIN_H

#include "graph.h"
#include "ops.h"
#include "io.h"
#include "data.h"
#include "models.h"
#include "dist.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Declarations here are the shared library's interface; it is built with
   -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

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
    /* what the int8 kernel computes with (docs/architecture.md, "int8 precision"),
       unfused: y[c] = (float)(sum of int8 weight * int8 input) * multiplier[c]
       + float_bias[c] (two roundings; no bias: + 0); fused: cnn_node_int8_output */
    const int8_t *weight;      /* weight_elems integers, in the layout of the weight */
    const int32_t *bias;       /* NULL: the bias is float_bias */
    const float *multiplier;   /* per output channel: input_scale * weight_scale */
    const float *float_bias;   /* the layer's bias, or NULL (none) */
} cnn_node_quant;
cnn_node_quant cnn_node_quant_info(const cnn_node *n);
/* How an eval forward with fusion up to `last` (NULL: the whole graph) computes int8
   node n's output (docs/architecture.md, "int8 precision"): per output channel c
   y = (float)acc * m[c] + b[c] (two roundings, no FMA; m, b: c_out floats each, filled
   here) of the exact int32 sum acc, with the nodes in `folded` (n's fused batch norm;
   when direct also its ReLU / ReLU6) computed by it; the rest of n's fusion chain
   (residual add, activation) then runs in float. direct: the value is stored as int8
   for its int8 readers, q = clamp(round_half_even(y), lo, hi), and they read those
   integers as their quantised input. */
typedef struct cnn_int8_output {
    bool direct;
    float lo, hi;      /* integers */
    float out_scale;   /* the readers' input scale when the value is stored as int8
                          (direct, or cnn_q8 of the float result after a residual add:
                          the integers a reader computes itself), else 0 */
    int n_folded;
    const cnn_node *folded[4];
} cnn_int8_output;
cnn_status cnn_node_int8_output(cnn_node *n, const cnn_node *last, float *m, float *b, cnn_int8_output *o);
/* Makes node n (an op with an int8 kernel: cnn_node_quant_info(n).capable) int8 with
   the per-tensor input scale input_scale: its weights quantized per output channel
   from its float weight, or, with weights and weight_scale given (a quantized
   checkpoint), taken as those integer values and scales; the float weight then holds
   the dequantized values. The graph must be compiled. */
cnn_status cnn_node_set_int8(cnn_node *n, float input_scale, const float *weights,
                             const float *weight_scale);
/* Makes an int8 node float again (its weight keeps the dequantized values). */
void cnn_node_clear_int8(cnn_node *n);
/* Layers computed in int8 in g. */
int cnn_graph_num_int8(const cnn_graph *g);

/* ---------------------------------------------------------------- the trainer's graph interface */
/* What a trainer driving the executor uses (docs/architecture.md, "Layers and who
   includes what"; the optimizer entries: "Kernels"). */
/* One contiguous piece of a parameter for the optimizer entries: value w, gradient g,
   state m (momentum buffer / exp_avg; NULL for plain SGD) and v (exp_avg_sq). */
typedef struct cnn_optim_seg {
    float *w;
    const float *g;
    float *m, *v;
    size_t n;
} cnn_optim_seg;

/* One step's hyper-parameters. SGD: d = g + wd w; b = first ? d : momentum b + d;
   d = nesterov ? d + momentum b : b; w -= lr d. Adam: g += wd w (AdamW instead
   w *= decay); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   w -= step_size * m / (sqrt(v) / bc2_sqrt + eps). */
typedef struct cnn_optim_hyper {
    float lr, wd, momentum;
    bool first, nesterov;
    float b1, b2, eps, step_size, bc2_sqrt, decay;
    bool decoupled;
} cnn_optim_hyper;

/* The contiguous block of every parameter and buffer of compiled g (NULL, 0 before). */
float *cnn_graph_param_block(cnn_graph *g, size_t *bytes);
/* The contiguous block of every trainable parameter's gradient (NULL, 0 before compile). */
float *cnn_graph_grad_block(cnn_graph *g, size_t *bytes);
/* Batch-norm statistics of training forwards over the ranks of c (NULL: this process). */
void cnn_graph_set_sync(cnn_graph *g, cnn_comm *c);
/* Fills p (a parameter of a graph) with its layer's declared default initialisation. */
void cnn_param_init_default(cnn_param *p, cnn_rng *rng);
/* One SGD update of n_seg segments by the backend table's sgd_step (element-wise). */
void cnn_graph_sgd_step(cnn_graph *g, const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h);
/* One Adam(W) update of n_seg segments by the backend table's adam_step (element-wise). */
void cnn_graph_adam_step(cnn_graph *g, const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h);
/* int8 calibration threshold in |x| units from a histogram of |x| over [0, amax) in
   `bins` bins: method 1 percentile, 2 entropy (KL divergence), otherwise amax. */
float cnn_calib_threshold(const double *hist, int bins, float amax, int method, float percentile);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_TRAIN_H */

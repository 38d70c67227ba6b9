/* Element-wise activations: ReLU, ReLU6, sigmoid, tanh, hard-swish, hard-sigmoid,
   as torch.nn. Any shape -> same shape. Backward uses the input (hard-swish) or the
   output (sigmoid, tanh), both kept by the training plan. */
#include "../core/clones.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/vmath.h"
#include "../graph/graph_internal.h"
#include "ops_common.h"

/* picked at load time: AVX-512 / AVX2 / baseline from one binary */

typedef struct act_attr {
    cnn_act act;
} act_attr;

static const char *act_name(cnn_act a)
{
    switch (a) {
    case CNN_ACT_RELU: return "relu";
    case CNN_ACT_RELU6: return "relu6";
    case CNN_ACT_SIGMOID: return "sigmoid";
    case CNN_ACT_TANH: return "tanh";
    case CNN_ACT_HARDSWISH: return "hardswish";
    case CNN_ACT_HARDSIGMOID: return "hardsigmoid";
    default: return NULL;
    }
}

/* elements per parallel work item */
#define CHUNK ((size_t)16384)

static cnn_status act_shape(cnn_node *n)
{
    const act_attr *a = n->attr;
    if (!act_name(a->act))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "unknown activation %d", (int)a->act);
    n->out.ndim = n->in[0]->out.ndim;
    for (int i = 0; i < n->out.ndim; i++) n->out.dims[i] = n->in[0]->out.dims[i];
    n->batched = n->in[0]->batched;
    return CNN_OK;
}

/* Applies the activation to a buffer; shared with fused epilogues of other ops. */
/* clamp to [0, 6] with comparisons (NaN passes through, as torch.nn.Hardtanh): fminf /
   fmaxf are library calls without -ffast-math and kept these loops scalar */
static inline float clamp06(float v)
{
    v = v < 0.0f ? 0.0f : v;
    return v > 6.0f ? 6.0f : v;
}

/* sigmoid / tanh through vmath.h (inline, so the loops vectorise; libm's expf /
   tanhf calls kept them scalar at ~2.5 ns per element) */
CNN_CLONES static void sigmoid_apply(const float *x, float *y, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        y[i] = cnn_vm_sigmoid(x[i]);
}

CNN_CLONES static void tanh_apply(const float *x, float *y, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        y[i] = cnn_vm_tanh(x[i]);
}

void cnn_act_apply(cnn_act act, const float *x, float *y, size_t n)
{
    switch (act) {
    case CNN_ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case CNN_ACT_RELU6:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = clamp06(x[i]);
        break;
    case CNN_ACT_SIGMOID: sigmoid_apply(x, y, n); break;
    case CNN_ACT_TANH: tanh_apply(x, y, n); break;
    case CNN_ACT_HARDSWISH:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] * clamp06(x[i] + 3.0f) / 6.0f;
        break;
    case CNN_ACT_HARDSIGMOID:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = clamp06(x[i] + 3.0f) / 6.0f;
        break;
    default:
        for (size_t i = 0; i < n; i++) y[i] = x[i];
        break;
    }
}

static cnn_status act_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const act_attr *a = n->attr;
    const float *x = n->in[0]->out.data;
    float *y = n->out.data;
    size_t len = cnn_node_numel(n), chunks = (len + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(len))
    for (size_t c = 0; c < chunks; c++) {
        size_t lo = c * CHUNK, m = CNN_MIN(CHUNK, len - lo);
        cnn_act_apply(a->act, x + lo, y + lo, m);
    }
    return CNN_OK;
}

/* dx[0, len) += dy * act'(x) (y = act(x) where the derivative is cheaper from it). */
CNN_CLONES static void act_grad(cnn_act act, const float *x, const float *y, const float *dy, float *dx,
                            size_t len)
{
    /* loads stay unconditional so the selects vectorise (a load under a condition may
       not be speculated) */
    switch (act) {
    case CNN_ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float g = dy[i], v = x[i];
            dx[i] += v > 0.0f ? g : 0.0f;
        }
        break;
    case CNN_ACT_RELU6: /* PyTorch: gradient 0 at both ends (x <= 0, x >= 6) */
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float g = dy[i], v = x[i];
            dx[i] += (v > 0.0f) & (v < 6.0f) ? g : 0.0f;
        }
        break;
    case CNN_ACT_SIGMOID:
#pragma omp simd
        for (size_t i = 0; i < len; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case CNN_ACT_TANH:
#pragma omp simd
        for (size_t i = 0; i < len; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    case CNN_ACT_HARDSWISH: /* PyTorch: 0 below -3, 1 above 3, (2x+3)/6 between */
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float v = x[i], g = dy[i];
            float d = v < -3.0f ? 0.0f : (v > 3.0f ? 1.0f : (2.0f * v + 3.0f) / 6.0f);
            dx[i] += g * d;
        }
        break;
    case CNN_ACT_HARDSIGMOID:
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float v = x[i], g = dy[i] / 6.0f;
            dx[i] += (v > -3.0f) & (v < 3.0f) ? g : 0.0f;
        }
        break;
    default:
        break;
    }
}

static cnn_status act_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)ctx;
    const act_attr *a = n->attr;
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    const float *x = n->in[0]->out.data, *y = n->out.data, *dy = n->grad.data;
    size_t len = cnn_node_numel(n), chunks = (len + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(len))
    for (size_t c = 0; c < chunks; c++) {
        size_t lo = c * CHUNK, m = CNN_MIN(CHUNK, len - lo);
        act_grad(a->act, x + lo, y + lo, dy + lo, dx + lo, m);
    }
    return CNN_OK;
}

static const char *act_kind(const cnn_node *n) { return act_name(((const act_attr *)n->attr)->act); }

const cnn_op_def cnn_op_activation = {
    .name = "activation",
    .kind = act_kind,
    .shape = act_shape,
    .forward = act_forward,
    .backward = act_backward,
};

cnn_node *cnn_activation(cnn_graph *g, cnn_node *x, cnn_act act)
{
    act_attr a = {.act = act};
    /* unique default names per kind: "relu0", "relu1", ... (like other ops' "<op><k>");
       a kind ending in a digit takes an underscore ("relu6_4", not "relu64") */
    char name[32];
    const char *kind = act_name(act);
    if (g && kind) {
        int k = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i]->op == &cnn_op_activation &&
                ((const act_attr *)g->nodes[i]->attr)->act == act)
                k++;
        size_t kl = strlen(kind);
        bool digit = kl && kind[kl - 1] >= '0' && kind[kl - 1] <= '9';
        snprintf(name, sizeof name, "%s%s%d", kind, digit ? "_" : "", k);
        kind = name;
    }
    return cnn_node_make(g, &cnn_op_activation, kind, 1, &x, &a, sizeof a);
}

/* For graph passes (graph/fuse.c): the activation an activation node applies. */
cnn_act cnn_activation_kind(const cnn_node *n) { return ((const act_attr *)n->attr)->act; }

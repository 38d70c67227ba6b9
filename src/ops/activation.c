/* Element-wise activations: ReLU, ReLU6, sigmoid, tanh, hard-swish, hard-sigmoid,
   as torch.nn, and with parameters alpha/beta (cnn_activation_p): leaky ReLU
   (alpha = negative slope), ELU (alpha), clip (min alpha, max beta) and hard-sigmoid
   max(0, min(1, alpha x + beta)) (ONNX HardSigmoid; alpha 1/6, beta 1/2 is torch's and
   runs torch's arithmetic). Any shape -> same shape. Backward uses the input
   (hard-swish, ...) or the output (sigmoid, tanh), both kept by the training plan. */
#include "../core/clones.h"
#include <math.h>
#include <stdio.h>

#include "../core/vmath.h"
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

/* picked at load time: AVX-512 / AVX2 / baseline from one binary */

typedef struct act_attr {
    cnn_act act;
    float alpha, beta;
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
    case CNN_ACT_LEAKY_RELU: return "leaky_relu";
    case CNN_ACT_ELU: return "elu";
    case CNN_ACT_CLIP: return "clip";
    default: return NULL;
    }
}

/* alpha / beta of cnn_activation (torch's defaults; clip: no bounds) */
static void act_defaults(cnn_act a, float *alpha, float *beta)
{
    *alpha = *beta = 0.0f;
    switch (a) {
    case CNN_ACT_HARDSIGMOID: *alpha = 1.0f / 6.0f, *beta = 0.5f; break;
    case CNN_ACT_LEAKY_RELU: *alpha = 0.01f; break;
    case CNN_ACT_ELU: *alpha = 1.0f; break;
    case CNN_ACT_CLIP: *alpha = -INFINITY, *beta = INFINITY; break;
    default: break;
    }
}

/* hard-sigmoid with torch's constants: the (x + 3) / 6 form, bit for bit as before */
static bool hsig_default(float alpha, float beta) { return alpha == 1.0f / 6.0f && beta == 0.5f; }

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
    float alpha, beta;
    act_defaults(act, &alpha, &beta);
    cnn_act_apply_p(act, alpha, beta, x, y, n);
}

void cnn_act_apply_p(cnn_act act, float alpha, float beta, const float *x, float *y, size_t n)
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
        if (hsig_default(alpha, beta)) {
#pragma omp simd
            for (size_t i = 0; i < n; i++) y[i] = clamp06(x[i] + 3.0f) / 6.0f;
        } else {
            for (size_t i = 0; i < n; i++) {
                float t = alpha * x[i] + beta;
                t = t < 0.0f ? 0.0f : t;
                y[i] = t > 1.0f ? 1.0f : t;
            }
        }
        break;
    case CNN_ACT_LEAKY_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : x[i] * alpha;
        break;
    case CNN_ACT_ELU:
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
        break;
    case CNN_ACT_CLIP: /* comparisons: NaN passes through, as torch.clamp */
        for (size_t i = 0; i < n; i++) {
            float v = x[i] < alpha ? alpha : x[i];
            y[i] = v > beta ? beta : v;
        }
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
        cnn_act_apply_p(a->act, a->alpha, a->beta, x + lo, y + lo, m);
    }
    return CNN_OK;
}

/* dx[0, len) += dy * act'(x) (y = act(x) where the derivative is cheaper from it). */
CNN_CLONES static void act_grad(const act_attr *a, const float *x, const float *y,
                                const float *dy, float *dx, size_t len)
{
    const cnn_act act = a->act;
    const float alpha = a->alpha, beta = a->beta;
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
        if (hsig_default(alpha, beta)) {
#pragma omp simd
            for (size_t i = 0; i < len; i++) {
                float v = x[i], g = dy[i] / 6.0f;
                dx[i] += (v > -3.0f) & (v < 3.0f) ? g : 0.0f;
            }
        } else { /* alpha where 0 < alpha x + beta < 1 */
            for (size_t i = 0; i < len; i++) {
                float t = alpha * x[i] + beta;
                dx[i] += (t > 0.0f) & (t < 1.0f) ? dy[i] * alpha : 0.0f;
            }
        }
        break;
    case CNN_ACT_LEAKY_RELU: /* torch: slope alpha at x <= 0 */
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float g = dy[i], v = x[i];
            dx[i] += v > 0.0f ? g : g * alpha;
        }
        break;
    case CNN_ACT_ELU: /* alpha e^x = y + alpha below 0 */
        for (size_t i = 0; i < len; i++) dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * (y[i] + alpha);
        break;
    case CNN_ACT_CLIP: /* torch.clamp: gradient where min <= x <= max */
        for (size_t i = 0; i < len; i++) {
            float v = x[i];
            dx[i] += (v >= alpha) & (v <= beta) ? dy[i] : 0.0f;
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
        act_grad(a, x + lo, y + lo, dy + lo, dx + lo, m);
    }
    return CNN_OK;
}

static void act_describe(const cnn_node *n, cnn_op_desc *d)
{
    const act_attr *a = n->attr;
    cnn_desc_int(d, "act", a->act);
    cnn_desc_float(d, "alpha", a->alpha);
    cnn_desc_float(d, "beta", a->beta);
}

const cnn_op_def cnn_op_activation = {
    .name = "activation",
    .shape = act_shape,
    .forward = act_forward,
    .backward = act_backward,
    .describe = act_describe,
};

cnn_node *cnn_activation(cnn_graph *g, cnn_node *x, cnn_act act)
{
    float alpha, beta;
    act_defaults(act, &alpha, &beta);
    return cnn_activation_p(g, x, act, alpha, beta);
}

cnn_node *cnn_activation_p(cnn_graph *g, cnn_node *x, cnn_act act, float alpha, float beta)
{
    /* the kinds without parameters ignore them (stored as 0: describe shows no noise) */
    if (act_name(act) && act != CNN_ACT_HARDSIGMOID && act < CNN_ACT_LEAKY_RELU)
        alpha = beta = 0.0f;
    act_attr a = {.act = act, .alpha = alpha, .beta = beta};
    /* unique default names per kind: "relu0", "relu1", ... (like other ops' "<op><k>") */
    char name[32];
    const char *kind = act_name(act);
    if (g && kind) {
        int k = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i]->op == &cnn_op_activation &&
                ((const act_attr *)g->nodes[i]->attr)->act == act)
                k++;
        snprintf(name, sizeof name, "%s%d", kind, k);
        kind = name;
    }
    return cnn_node_make(g, &cnn_op_activation, kind, 1, &x, &a, sizeof a);
}

/* For graph passes (graph/fuse.c): the activation an activation node applies. */
cnn_act cnn_activation_kind(const cnn_node *n) { return ((const act_attr *)n->attr)->act; }

void cnn_activation_params(const cnn_node *n, float *alpha, float *beta)
{
    const act_attr *a = n->attr;
    *alpha = a->alpha;
    *beta = a->beta;
}

/* Element-wise activations: ReLU, ReLU6, sigmoid, tanh, hard-swish, hard-sigmoid,
   as torch.nn, and with parameters alpha/beta (cnn_activation_p): leaky ReLU
   (alpha = negative slope), ELU (alpha), clip (min alpha, max beta) and hard-sigmoid
   max(0, min(1, alpha x + beta)) (ONNX HardSigmoid; alpha 1/6, beta 1/2 is torch's and
   runs torch's arithmetic). Any shape -> same shape. Backward uses the input
   (hard-swish, ...) or the output (sigmoid, tanh), both kept by the training plan.
   The arithmetic is the backend's (act_forward / act_backward); an activation can run
   as the last stage of a fused epilogue (docs/architecture.md, "Fusion"). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"

typedef struct act_attr {
    cnn_act act;
    float alpha, beta;
} act_attr;

static cnn_act_desc act_desc(const act_attr *a)
{
    return (cnn_act_desc){.act = (int)a->act, .alpha = a->alpha, .beta = a->beta};
}

static const char *const act_names[] = {[CNN_ACT_RELU] = "relu", [CNN_ACT_RELU6] = "relu6",
    [CNN_ACT_SIGMOID] = "sigmoid", [CNN_ACT_TANH] = "tanh", [CNN_ACT_HARDSWISH] = "hardswish",
    [CNN_ACT_HARDSIGMOID] = "hardsigmoid", [CNN_ACT_LEAKY_RELU] = "leaky_relu",
    [CNN_ACT_ELU] = "elu", [CNN_ACT_CLIP] = "clip"};
static const char *act_name(cnn_act a) { return CNN_ENUM_NAME(act_names, a); }

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

static cnn_status act_forward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_act_desc d = act_desc(n->attr);
    if (ctx->layout && n->layout) { /* blocked: the padded lanes too, then 0 again */
        size_t c = (size_t)n->out.dims[1], per = cnn_node_numel(n) / c;
        ctx->be->act_forward(&d, n->in[0]->out.data, n->out.data, per * cnn_blocked_c(c));
        cnn_blocked_zero_tail(ctx->batch, (int)c, per / (size_t)ctx->batch, n->out.data);
        return CNN_OK;
    }
    ctx->be->act_forward(&d, n->in[0]->out.data, n->out.data, cnn_node_numel(n));
    return CNN_OK;
}

/* Blocked layout: point-wise, in the input's layout (4-D values). */
static int act_trait(const cnn_node *n) { return n->out.ndim == 4 ? CNN_LAYOUT_SAME : 0; }

static cnn_status act_backward(cnn_node *n, const cnn_ctx *ctx)
{
    float *dx = n->in[0]->grad.data;
    if (!dx) return CNN_OK;
    cnn_act_desc d = act_desc(n->attr);
    ctx->be->act_backward(&d, n->in[0]->out.data, n->out.data, n->grad.data, dx, cnn_node_numel(n));
    return CNN_OK;
}

/* As the activation stage of a fused epilogue. */
static void act_stage(const cnn_node *n, int chain_in, const cnn_ctx *ctx, cnn_epi_stage *st)
{
    (void)chain_in, (void)ctx;
    st->act = act_desc(n->attr);
}

static void act_describe(const cnn_node *n, cnn_op_desc *d)
{
    const act_attr *a = n->attr;
    cnn_desc_int(d, "act", a->act);
    cnn_desc_float(d, "alpha", a->alpha);
    cnn_desc_float(d, "beta", a->beta);
}

static const char *act_kind(const cnn_node *n) { return act_name(((const act_attr *)n->attr)->act); }

CNN_OP_DEF(activation, .kind = act_kind, .shape = act_shape, .forward = act_forward,
           .backward = act_backward, .describe = act_describe, .epilogue_kind = CNN_EPI_ACT,
           .epilogue_stage = act_stage, .layout_trait = act_trait);

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
    /* unique default names per kind: "relu0", "relu1", "relu6_0", ... */
    char name[32];
    const char *kind = CNN_KIND_NAME(g, &cnn_op_activation, act_name(act), &a, act, name);
    return cnn_node_make(g, &cnn_op_activation, kind, 1, &x, &a, sizeof a);
}


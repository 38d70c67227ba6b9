/* int8 precision of conv / linear nodes (DESIGN decision 12; docs/architecture.md,
   "int8 precision"). A quantized node keeps its op; its tensors carry int8 data and
   scales (cnn_qnode) and its forward runs the backend's conv_forward_s8:

     weights  w_q = clamp(round_half_even(w / s_w[o]), -127, 127),
              s_w[o] = max |w[o, ...]| / 127 per output channel (1 if all zero);
     input    x_q = cnn_q8(x, s_x), s_x per tensor from calibration;
     bias     b_q[o] = round_half_even(b[o] / (s_x * s_w[o])) (int32) when every
              |b_q| < 2^30; else the layer keeps its bias in float;
     output   y = (float)(b_q[o] + sum x_q * w_q) * (s_x * s_w[o]), or with a float
              bias y = (float)(sum x_q * w_q) * (s_x * s_w[o]) + b[o] (two roundings).

   Zero points are 0 everywhere (symmetric). The float weights of the node are
   replaced by s_w * w_q, so anything still reading them (backward, exporters) sees
   the values the int8 kernel uses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

#define ALIGN_B 64
static size_t align_b(size_t n) { return (n + ALIGN_B - 1) / ALIGN_B * ALIGN_B; }

static size_t per_oc(const cnn_conv_desc *d)
{
    return (size_t)(d->c_in / d->groups) * d->k[0] * d->k[1] * d->k[2];
}

/* Grows the graph's scratch so an eval forward of n has x_bytes + the kernel's. */
static cnn_status grow_scratch(cnn_graph *g, cnn_node *n, size_t need)
{
    if (need > n->scratch_eval_bytes) n->scratch_eval_bytes = need;
    if (need > n->scratch_bytes) n->scratch_bytes = need;
    if (need > g->scratch_eval) g->scratch_eval = need;
    if (need > g->scratch_train) g->scratch_train = need;
    if (g->scratch && need <= g->scratch_bytes) return CNN_OK;
    void *sc = cnn_malloc_aligned(need);
    if (!sc) return cnn_set_error(CNN_ERR_NOMEM, "quantize: cannot allocate %zu scratch bytes", need);
    cnn_free_aligned(g->scratch);
    g->scratch = sc;
    g->scratch_bytes = need;
    return CNN_OK;
}

/* Quantizes node n with input scale in_scale. wq: int8 weights already known (a
   quantized checkpoint, with w_scale), or NULL to quantize params[0]. */
cnn_status cnn_node_set_int8(cnn_node *n, float in_scale, const float *wq, const float *w_scale)
{
    char what[64];
    if (!n || (wq && !w_scale))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "set_int8: %s is NULL", n ? "weight_scale" : "node");
    if (!n->op->int8_conv) return cnn_node_error(n, CNN_ERR_UNSUPPORTED, "no int8 kernel");
    if (!n->g->compiled) return cnn_node_error(n, CNN_ERR_STATE, "quantize: compile the graph first");
    if (!(in_scale > 0.0f) || !isfinite(in_scale))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "input scale %g must be positive and finite",
                              (double)in_scale);
    cnn_conv_desc d;
    n->op->int8_conv(n, &d);
    size_t K = per_oc(&d), C = (size_t)d.c_out, numel = C * K;
    cnn_param *w = n->params[0], *b = n->n_params > 1 ? n->params[1] : NULL;
    if (cnn_tensor_numel(&w->value) != numel)
        return cnn_node_error(n, CNN_ERR_STATE, "weight has %zu elements, int8 kernel expects %zu",
                              cnn_tensor_numel(&w->value), numel);
    for (size_t i = 0; i < numel; i++)
        if (!isfinite(w->value.data[i]))
            return cnn_set_error(CNN_ERR_INVALID_ARG, "'%s' element %zu is %g: refusing to quantize",
                                 w->name, i, (double)w->value.data[i]);
    if (b)
        for (size_t i = 0; i < C; i++)
            if (!isfinite(b->value.data[i]))
                return cnn_set_error(CNN_ERR_INVALID_ARG, "'%s' element %zu is %g: refusing to quantize",
                                     b->name, i, (double)b->value.data[i]);
    size_t bytes = align_b(sizeof(cnn_qnode)) + align_b(C * sizeof(float)) * 2 +
                   align_b(C * sizeof(int32_t)) * 2 + align_b(numel);
    cnn_qnode *q = cnn_calloc(1, bytes);
    if (!q) return cnn_node_error(n, CNN_ERR_NOMEM, "out of memory quantizing");
    char *p = (char *)q + align_b(sizeof *q);
    q->w_scale = (float *)p, p += align_b(C * sizeof(float));
    q->m = (float *)p, p += align_b(C * sizeof(float));
    q->b = b ? (int32_t *)p : NULL, p += align_b(C * sizeof(int32_t));
    q->wsum = (int32_t *)p, p += align_b(C * sizeof(int32_t));
    q->w = (int8_t *)p;
    q->desc = d;
    q->in_scale = in_scale;
    bool fbias = false; /* a bias beyond int32 at this scale: kept in float */
    for (size_t o = 0; o < C; o++) {
        const float *wo = w->value.data + o * K;
        float s;
        if (wq) {
            s = w_scale[o];
            if (!(s > 0.0f) || !isfinite(s)) {
                cnn_free(q);
                snprintf(what, sizeof what, "%g", (double)s);
                return cnn_node_error(n, CNN_ERR_FORMAT, "weight scale %zu is %s", o, what);
            }
            for (size_t k = 0; k < K; k++) {
                float v = wq[o * K + k];
                if (!(v >= -127.0f && v <= 127.0f) || v != (float)(int)v) {
                    cnn_free(q);
                    return cnn_node_error(n, CNN_ERR_FORMAT,
                                          "int8 weight %zu is %g, not an integer in -127..127",
                                          o * K + k, (double)v);
                }
                q->w[o * K + k] = (int8_t)(int)v;
            }
        } else {
            float amax = 0.0f;
            for (size_t k = 0; k < K; k++) amax = fmaxf(amax, fabsf(wo[k]));
            s = amax > 0.0f ? amax / 127.0f : 1.0f;
            for (size_t k = 0; k < K; k++) q->w[o * K + k] = cnn_q8(wo[k], s);
        }
        q->w_scale[o] = s;
        q->m[o] = in_scale * s;
        if (b) {
            double bq = nearbyint((double)b->value.data[o] / ((double)in_scale * (double)s));
            if (!(fabs(bq) < 1073741824.0)) fbias = true; /* 2^30: leaves room for the sum */
            else q->b[o] = (int32_t)bq;
        }
    }
    if (fbias) q->b = NULL; /* the executor adds params[1] after the multiplier */
    for (size_t o = 0; o < C; o++) {
        int32_t t = 0;
        for (size_t k = 0; k < K; k++) t += q->w[o * K + k];
        q->wsum[o] = t;
    }
    q->float_bias = fbias;
    /* the float weights become what the int8 kernel computes with */
    for (size_t o = 0; o < C; o++)
        for (size_t k = 0; k < K; k++)
            w->value.data[o * K + k] = (float)q->w[o * K + k] * q->w_scale[o];
    q->x_bytes = align_b(cnn_node_numel_max(n->in[0]));
    cnn_status s = grow_scratch(n->g, n, q->x_bytes + cnn_conv_s8_scratch_bytes(&d));
    if (s != CNN_OK) {
        cnn_free(q);
        return s;
    }
    cnn_free(n->q);
    n->q = q;
    return CNN_OK;
}

/* int8 activations between int8 layers (docs/architecture.md, "int8 precision"): a
   producer whose value is read only by int8 nodes with one input scale stores
   cnn_q8(y, that scale) in its kernel's store instead of y, and those consumers take
   the integers as they are instead of quantizing y themselves: the same integers, one
   pass over memory less. Decided at each eval forward with fusion (the executor's
   ctx), never for a value the caller reads (an output, the last node, forward_until's
   node) or while calibrating. On by default; cnn_int8_chain_enable(false) or
   CNN_INT8_CHAIN=0 turn it off (tests, benchmarks). */
static int g_chain = -1;
void cnn_int8_chain_enable(bool on) { g_chain = on; }

static bool chain_on(void)
{
    if (g_chain < 0) {
        const char *e = getenv("CNN_INT8_CHAIN");
        g_chain = !(e && strcmp(e, "0") == 0);
    }
    return g_chain == 1;
}

/* The input scale every reader of n's value shares when all of them are int8 nodes
   taking it as their input, else 0. */
static float readers_scale(const cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_graph *g = n->g;
    const cnn_node *t = n->fusion ? n->fusion->tail : n;
    if (!ctx->fused || ctx->unfused || g->observe || !chain_on() || n->alias) return 0.0f;
    if (t == ctx->last || t->is_output || t == g->output || t->id == g->n_nodes - 1) return 0.0f;
    float s = 0.0f;
    for (int i = t->id + 1; i <= t->last_use && i < g->n_nodes; i++) {
        const cnn_node *u = g->nodes[i];
        for (int j = 0; j < u->n_in; j++) {
            if (u->in[j] != t) continue;
            if (!u->q || u->fused_into || j != 0) return 0.0f;
            if (s == 0.0f) s = u->q->in_scale;
            else if (u->q->in_scale != s) return 0.0f;
        }
    }
    return s;
}

/* Runs the node and the epilogue the executor planned for it (ctx->epi: batch norm's
   affine, residual add, activation): in the int8 kernel's store when its activation is
   none / ReLU / ReLU6, else with the backend's float epilogue after it. */
cnn_status cnn_qnode_forward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_qnode *q = n->q;
    const cnn_node *x = n->in[0], *xr = x->fused_into ? x->fused_into : x;
    const int8_t *xq;
    if (xr->q && xr->q->q_out > 0.0f) { /* the producer stored our integers */
        xq = (const int8_t *)x->out.data;
    } else {
        cnn_quantize_s8(x->out.data, cnn_node_numel(x), q->in_scale, ctx->scratch);
        xq = ctx->scratch;
    }
    cnn_conv_desc d = q->desc;
    d.n = ctx->batch;
    const cnn_epilogue *e = ctx->epi;
    const cnn_epi_parts p = cnn_epi_split(e);
    cnn_s8_epilogue ep = {.bias = q->float_bias ? n->params[1]->value.data : NULL,
                          .wsum = q->wsum, .scale = p.scale, .shift = p.shift, .res = p.res};
    /* the store applies ReLU and ReLU6 only */
    bool in_store = !p.act || p.act->act == CNN_ACT_RELU || p.act->act == CNN_ACT_RELU6;
    if (p.act && in_store) ep.act = p.act->act == CNN_ACT_RELU ? 1 : 2;
    q->q_out = in_store ? readers_scale(n, ctx) : 0.0f;
    ep.q_out = q->q_out;
    if (!in_store) /* only the float bias in the store; the rest after it */
        ep = (cnn_s8_epilogue){.bias = ep.bias, .wsum = ep.wsum};
    ctx->be->conv_forward_s8(&d, xq, q->w, q->b, q->m, &ep, n->out.data, (char *)ctx->scratch + q->x_bytes);
    if (e && !in_store) ctx->be->epilogue(e, n->out.data);
    return CNN_OK;
}

cnn_node_quant cnn_node_quant_info(const cnn_node *n)
{
    cnn_node_quant r = {0};
    if (!n) return r;
    r.capable = n->op->int8_conv != NULL;
    if (n->q) {
        r.int8 = true;
        r.input_scale = n->q->in_scale;
        r.channels = n->q->desc.c_out;
        r.weight_scale = n->q->w_scale;
        r.weight_elems = cnn_tensor_numel(&n->params[0]->value);
        r.weight = n->q->w;
        r.bias = n->q->b;
        r.multiplier = n->q->m;
        r.float_bias = n->q->float_bias ? n->params[1]->value.data : NULL;
    }
    return r;
}

void cnn_node_clear_int8(cnn_node *n)
{
    if (!n) return;
    cnn_free(n->q);
    n->q = NULL;
}

int cnn_graph_num_int8(const cnn_graph *g)
{
    int k = 0;
    for (int i = 0; g && i < g->n_nodes; i++) k += g->nodes[i]->q != NULL;
    return k;
}

/* ---------------------------------------------------------------- calibration */
/* Threshold (in |x| units) from a histogram of |x| over [0, amax) in `bins` bins. */
float cnn_calib_threshold(const double *hist, int bins, float amax, int method, float percentile)
{
    double bw = (double)amax / bins, total = 0.0;
    for (int i = 0; i < bins; i++) total += hist[i];
    if (total <= 0.0 || amax <= 0.0f) return amax;
    if (method == 1) { /* percentile */
        double want = total * (double)percentile / 100.0, c = 0.0;
        for (int i = 0; i < bins; i++) {
            c += hist[i];
            if (c >= want) return (float)((i + 1) * bw);
        }
        return amax;
    }
    /* entropy: TensorRT's KL-divergence calibration (as ncnn implements it): for each
       candidate threshold bin i >= 128, P = hist[0..i) with the clipped tail added to
       its last bin, Q = hist[0..i) (without the tail) merged into 128 levels and
       spread back evenly over the non-empty bins; both smoothed by 1e-4 per bin and
       normalised. The i minimising KL(P || Q) gives the threshold (i + 0.5) bins. */
    const int target = 128;
    if (bins <= target) return amax;
    double best_kl = INFINITY;
    int best = bins;
    double *P = cnn_malloc((size_t)bins * sizeof *P), *Q = cnn_malloc((size_t)bins * sizeof *Q);
    if (!P || !Q) {
        cnn_free(P), cnn_free(Q);
        return amax;
    }
    double tail = 0.0;
    for (int i = target; i < bins; i++) tail += hist[i];
    for (int i = target; i <= bins; i++) {
        /* tail = sum hist[i..bins) */
        memcpy(P, hist, (size_t)i * sizeof *P);
        P[i - 1] += tail;
        double ratio = (double)i / target;
        for (int j = 0; j < target; j++) {
            int lo = (int)(j * ratio), hi = (int)((j + 1) * ratio);
            if (j == target - 1) hi = i;
            double sum = 0.0;
            int nz = 0;
            for (int k = lo; k < hi; k++) {
                sum += hist[k];
                nz += hist[k] != 0.0;
            }
            for (int k = lo; k < hi; k++) Q[k] = (hist[k] != 0.0 && nz) ? sum / nz : 0.0;
        }
        double ps = 0.0, qs = 0.0;
        for (int k = 0; k < i; k++) {
            P[k] += 1e-4;
            Q[k] += 1e-4;
            ps += P[k], qs += Q[k];
        }
        double kl = 0.0;
        for (int k = 0; k < i; k++) {
            double pk = P[k] / ps, qk = Q[k] / qs;
            kl += pk * log(pk / qk);
        }
        if (kl < best_kl) {
            best_kl = kl;
            best = i;
        }
        if (i < bins) tail -= hist[i];
    }
    cnn_free(P);
    cnn_free(Q);
    float t = (float)((best + 0.5) * bw);
    return t < amax ? t : amax;
}

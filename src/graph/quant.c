/* int8 precision of conv / linear nodes (DESIGN decision 12; docs/architecture.md,
   "int8 precision"). A quantized node keeps its op; its tensors carry int8 data and
   scales (cnn_qnode) and its forward runs the backend's conv_forward_s8:

     weights  w_q = clamp(round_half_even(w / s_w[o]), -127, 127),
              s_w[o] = max |w[o, ...]| / 127 per output channel (1 if all zero);
     input    x_q = cnn_q8(x, s_x), s_x per tensor from calibration;
     output   acc = sum x_q * w_q exactly (int32), then one multiply-add per output
              y = (float)acc * M[o] + B[o] (two roundings, no FMA) with
              M[o] = s_x * s_w[o] and B[o] = b[o] (0 without a bias), or with a fused
              batch norm (scale, shift) M[o] = s_x s_w[o] scale[o], B[o] = b[o] scale[o]
              + shift[o]; a residual add and ReLU / ReLU6 after it in float. Stored as
              int8 for int8 readers of input scale s (no residual add): M / s, B / s
              and q = clamp(round_half_even(y), lo, hi), lo / hi from the activation
              (none -127 / 127, ReLU 0 / 127, ReLU6 0 / min(127, round(6 / s))).

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
    size_t bytes = align_b(sizeof(cnn_qnode)) + align_b(C * sizeof(float)) * 4 +
                   align_b(C * sizeof(int32_t)) + align_b(numel);
    cnn_qnode *q = cnn_calloc(1, bytes);
    if (!q) return cnn_node_error(n, CNN_ERR_NOMEM, "out of memory quantizing");
    char *p = (char *)q + align_b(sizeof *q);
    q->w_scale = (float *)p, p += align_b(C * sizeof(float));
    q->m = (float *)p, p += align_b(C * sizeof(float));
    q->fm = (float *)p, p += align_b(C * sizeof(float));
    q->fb = (float *)p, p += align_b(C * sizeof(float));
    q->wsum = (int32_t *)p, p += align_b(C * sizeof(int32_t));
    q->w = (int8_t *)p;
    q->desc = d;
    q->in_scale = in_scale;
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
    }
    for (size_t o = 0; o < C; o++) {
        int32_t t = 0;
        for (size_t k = 0; k < K; k++) t += q->w[o * K + k];
        q->wsum[o] = t;
    }
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

/* The per-channel M, B of the one multiply-add (top of this file; docs/architecture.md,
   "int8 precision") into q->fm / q->fb: the dequantiser, the bias and, with scale /
   shift (a fused batch norm), its affine; with s_out > 0 (stored as int8) divided by
   s_out, and *lo / *hi from the activation act (0 none, 1 ReLU, 2 ReLU6). Each
   operation rounded on its own (no FMA): every implementation (ref, cpu, the C
   export through cnn_node_int8_output) uses these floats. False when some folded
   constant is not finite (then not stored as int8 directly). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
static bool fold(const cnn_node *n, const float *scale, const float *shift, int act, float s_out,
                 float *lo, float *hi)
{
    const cnn_qnode *q = n->q;
    const float *bias = n->n_params > 1 ? n->params[1]->value.data : NULL;
    bool ok = true;
    /* |acc| <= 127 * 127 * K: direct only where |y| stays below 2^30 (the cpu store
       converts y to int32 before it clamps) */
    double amax = 16129.0 * (double)per_oc(&q->desc);
    for (int o = 0; o < q->desc.c_out; o++) {
        float mo = q->m[o], bo = bias ? bias[o] : 0.0f;
        if (scale) {
            mo = mo * scale[o];
            bo = bo * scale[o];
            bo = bo + shift[o];
        }
        if (s_out > 0.0f) {
            mo = mo / s_out;
            bo = bo / s_out;
            ok = ok && isfinite(mo) && isfinite(bo) && amax * fabs((double)mo) + fabs((double)bo) < 1073741824.0;
        }
        q->fm[o] = mo;
        q->fb[o] = bo;
    }
    if (s_out > 0.0f) {
        *lo = act ? 0.0f : -127.0f;
        *hi = 127.0f;
        if (act == 2) {
            float t = 6.0f / s_out;
            if (t < 127.0f) *hi = (t + 12582912.0f) - 12582912.0f; /* round half to even */
        }
    }
    return ok;
}

/* How int8 node n stores its output under epilogue e (NULL: none) when its int8
   readers share input scale s_out (0: a float output): ep for conv_forward_s8, the
   multiplier / bias in q->fm / q->fb; *in_store false when e's activation cannot run
   in the store (it then runs after, with the float epilogue: only the dequantiser and
   the bias are folded). o (may be NULL) says what is folded. */
static void plan_store(const cnn_node *n, const cnn_epilogue *e, float s_out, cnn_s8_epilogue *ep,
                       bool *in_store, cnn_int8_output *o)
{
    const cnn_epi_parts p = cnn_epi_split(e);
    *in_store = !p.act || p.act->act == CNN_ACT_RELU || p.act->act == CNN_ACT_RELU6;
    int act = p.act && *in_store ? (p.act->act == CNN_ACT_RELU ? 1 : 2) : 0;
    *ep = (cnn_s8_epilogue){.bias = n->q->fb, .wsum = n->q->wsum};
    if (o) *o = (cnn_int8_output){0};
    if (!*in_store) {
        fold(n, NULL, NULL, 0, 0.0f, NULL, NULL);
        return;
    }
    float lo = 0.0f, hi = 0.0f;
    if (s_out > 0.0f && !p.res && fold(n, p.scale, p.shift, act, s_out, &lo, &hi)) {
        ep->direct = true, ep->q_lo = lo, ep->q_hi = hi;
    } else {
        fold(n, p.scale, p.shift, act, 0.0f, NULL, NULL);
        *ep = (cnn_s8_epilogue){.bias = n->q->fb, .wsum = n->q->wsum, .res = p.res, .act = act, .q_out = s_out};
    }
    if (!o) return;
    o->direct = ep->direct, o->lo = lo, o->hi = hi, o->out_scale = s_out;
    const cnn_fusion *f = n->fusion;
    for (int j = 0; e && f && j < f->n_links; j++) {
        const cnn_node *v = f->link[j];
        if (v->op->epilogue_kind == CNN_EPI_AFFINE || (ep->direct && v->op->epilogue_kind == CNN_EPI_ACT))
            o->folded[o->n_folded++] = v;
    }
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
    cnn_s8_epilogue ep;
    bool in_store;
    float s_out = readers_scale(n, ctx);
    plan_store(n, e, s_out, &ep, &in_store, NULL);
    q->q_out = in_store ? s_out : 0.0f;
    ctx->be->conv_forward_s8(&d, xq, q->w, NULL, q->fm, &ep, n->out.data, (char *)ctx->scratch + q->x_bytes);
    if (e && !in_store) ctx->be->epilogue(e, n->out.data);
    return CNN_OK;
}

cnn_status cnn_node_int8_output(cnn_node *n, const cnn_node *last, float *m, float *b, cnn_int8_output *o)
{
    if (!n || !o || !m || !b)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "int8 output: %s is NULL", n ? "an argument" : "node");
    if (!n->q) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "int8 output: the node is not int8");
    cnn_graph *g = n->g;
    /* the context of an eval forward_until(last) (exec.c) */
    cnn_ctx ctx = {.fused = !g->no_fusion, .batch = 1, .be = cnn_backend_get(), .last = last};
    if (ctx.fused && last) {
        const cnn_node *root = last->fusion ? last : last->fused_into;
        if (root && root->fusion->tail != last) ctx.unfused = root;
    }
    cnn_epilogue epi;
    const cnn_epilogue *e = NULL;
    if (ctx.fused && n->fusion && n != ctx.unfused) {
        cnn_fusion_describe(n, &ctx, &epi);
        e = &epi;
    }
    cnn_s8_epilogue ep;
    bool in_store;
    plan_store(n, e, readers_scale(n, &ctx), &ep, &in_store, o);
    memcpy(m, n->q->fm, (size_t)n->q->desc.c_out * sizeof *m);
    memcpy(b, n->q->fb, (size_t)n->q->desc.c_out * sizeof *b);
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
        r.bias = NULL;
        r.multiplier = n->q->m;
        r.float_bias = n->n_params > 1 ? n->params[1]->value.data : NULL;
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

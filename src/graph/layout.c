/* The blocked layout pass (docs/architecture.md, "Blocked layout"). After fusion, each
   value of an eval-mode graph is given a layout: plain (N, C, H, W) or nChw16c, (N,
   ceil(C/16), H, W, 16), when the backend in use has a 16-channel blocked path
   (cnn_blocked_width). A value is blocked when its producer can write it blocked (a
   convolution chain, conv + fused epilogue, or an op whose layout_trait says so) and
   every consumer reads it blocked: a convolution, the fused residual add of a chain
   that is itself blocked, or an op by its trait. Depthwise convolutions and ops with
   the SAME trait (pooling, activation, the SE gate) keep their input's layout; READS
   ops (global average pooling) write plain; ANY ops (concat, channel shuffle, channel
   slice) copy between layouts. Everything else (linear, the outputs, the graph's last
   node, values a forward_until stops at) stays plain, so public tensors are NCHW
   (DESIGN decision 4): reorders happen only at the edges of a blocked run. The
   decision starts with every candidate blocked and only ever unblocks, so it reaches a
   fixed point. CNN_LAYOUT=0 in the environment turns the pass off (for benchmarks).
   A channel gate (SE) whose only reader is a blocked 1x1 convolution is applied by
   that convolution as it reads x (plan_gates; CNN_LAYOUT_GATE=0 turns that off). */
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* The value a conv chain computes (its fused tail, or the conv itself). */
static cnn_node *tail_of(cnn_node *n) { return n->fusion ? n->fusion->tail : n; }

/* Marks the conv chain rooted at n (the conv and the links sharing its buffer). */
static void mark_chain(cnn_node *n, unsigned char layout)
{
    n->layout = layout;
    for (int j = 0; n->fusion && j < n->fusion->n_links; j++) n->fusion->link[j]->layout = layout;
}

/* The residual-add stage of chain f and (*other) the value it adds, or NULL. */
static cnn_node *chain_add(const cnn_fusion *f, cnn_node **other)
{
    for (int j = 0; f && j < f->n_links; j++)
        if (f->link[j]->op->epilogue_kind == CNN_EPI_ADD) {
            *other = f->link[j]->in[1 - f->chain_in[j]];
            return f->link[j];
        }
    return NULL;
}

/* Channels off the B grid are padded with zero lanes; worth it while the padding adds
   at most half (24 -> 32, 40 -> 48 yes; 3, 8 or 20 channels stay plain). */
static bool pad_ok(int c, int B) { return 2 * ((c + B - 1) / B * B) <= 3 * c; }

static bool env_off(void)
{
    const char *v = getenv("CNN_LAYOUT");
    return v && v[0] == '0';
}

/* Whether conv node n (float, 2D) can run blocked; *dw: depthwise. */
static bool conv_ok(const cnn_node *n, bool *dw)
{
    *dw = false;
    /* a 2D convolution: takes an epilogue, has a kernel descriptor, (N, C, H, W) */
    if (!n->op->takes_epilogue || !n->op->int8_conv || n->out.ndim != 4 || n->q || n->fused_into)
        return false;
    cnn_conv_desc d;
    n->op->int8_conv(n, &d); /* the kernel descriptor, at the maximum batch */
    return cnn_conv_blocked_ok(&d, dw);
}

/* What node v (run by the executor, not a fused link) does with blocked values. */
enum { K_PLAIN, K_CONV, K_DW, K_SAME, K_READS, K_ANY };
static int kind_of(const cnn_node *v)
{
    bool dw;
    if (conv_ok(v, &dw)) return dw ? K_DW : K_CONV;
    if (v->fused_into || v->fusion || v->q || !v->op->layout_trait) return K_PLAIN;
    switch (v->op->layout_trait(v)) {
    case CNN_LAYOUT_SAME: return K_SAME;
    case CNN_LAYOUT_READS: return K_READS;
    case CNN_LAYOUT_ANY: return K_ANY;
    default: return K_PLAIN;
    }
}

/* Whether value x (an input of some node) is blocked under the decision out[]. */
static bool value_blocked(const cnn_node *x, const bool *out)
{
    const cnn_node *p = x->fused_into ? x->fused_into : x;
    return out[p->id] && tail_of((cnn_node *)p) == x;
}

/* Whether root u, planned inside the buffer of an op with inputs_in_place (concat,
   batch 1, fuse.c) can stay there with both blocked: its value (u's chain tail) starts
   on a 16-channel block boundary of the concat's channels and fills whole blocks, so
   at batch 1 its nChw16c values are the concat's blocked slice at the same byte offset
   as the plain one. The concat then copies nothing (concat.c skips such inputs). */
static bool blocked_slice(cnn_node *u, int B)
{
    const cnn_node *k = u->alias, *x = tail_of(u);
    if (k->out.ndim != 4 || x->out.dims[1] % B) return false;
    int c0 = 0;
    for (int i = 0; i < k->n_in; i++) {
        if (k->in[i] == x) return c0 % B == 0;
        c0 += k->in[i]->out.dims[1];
    }
    return false;
}

/* The fixed point: out[i] for every node, from all-candidates-blocked down. With
   `aliases`, values planned inside another's buffer (concat inputs in place) and
   those buffers stay plain, except the pairs keep[] names (an input computed in place
   inside a blocked concat, see blocked_slice); without, they are ignored (a first look
   at which concats would rather be blocked). */
static void decide(cnn_graph *g, bool *out, const int *kind, int B, bool aliases, const bool *keep)
{
    int n = g->n_nodes;
    for (int i = 0; i < n; i++) {
        cnn_node *v = g->nodes[i];
        cnn_node *t = tail_of(v);
        out[i] = kind[i] != K_PLAIN && kind[i] != K_READS && !t->is_output && t != g->output &&
                 t->id != n - 1 && !(aliases && v->alias && !keep[i]) && t->out.ndim == 4 &&
                 pad_ok(t->out.dims[1], B);
    }
    for (int i = 0; aliases && i < n; i++) { /* a buffer others are planned in (not its chain's links) */
        cnn_node *u = g->nodes[i];
        if (u->alias && !u->fused_into && !keep[i]) out[u->alias->id] = false;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = 0; i < n; i++) {
            if (!out[i]) continue;
            cnn_node *v = g->nodes[i], *t = tail_of(v);
            bool ok = true;
            /* a blocked residual needs the chain adding it to be blocked, and the reverse */
            cnn_node *r = NULL;
            if (chain_add(v->fusion, &r)) {
                cnn_node *rr = r->fused_into ? r->fused_into : r;
                if (!out[rr->id] || tail_of(rr) != r) ok = false;
            }
            /* a node keeping its input's layout: blocked only with a blocked input */
            if ((kind[i] == K_DW || kind[i] == K_SAME) && !value_blocked(v->in[0], out)) ok = false;
            /* every consumer of t reads it blocked */
            for (int k = t->id + 1; ok && k < n; k++) {
                cnn_node *c = g->nodes[k];
                for (int j = 0; ok && j < c->n_in; j++) {
                    if (c->in[j] != t) continue;
                    if (c->fused_into) { /* a link of another chain: only its residual add */
                        cnn_node *q = c->fused_into;
                        cnn_node *qr = NULL;
                        ok = c == chain_add(q->fusion, &qr) && qr == t && out[q->id];
                        continue;
                    }
                    switch (kind[k]) {
                    case K_CONV:
                    case K_READS: ok = j == 0; break;
                    case K_ANY: ok = true; break;
                    case K_DW:
                    case K_SAME: ok = j == 0 && out[k]; break;
                    default: ok = false;
                    }
                }
            }
            if (!ok) {
                out[i] = false;
                changed = true;
            }
        }
    }
}

/* Channel gates (an op declaring channel_gate: the SE gate x * s) whose value only a
   blocked 1x1 convolution reads, as in[0], with the backend able to scale x as it reads
   it (cnn_conv_blocked_gate_use): the conv reads x and s, the gate's pass over memory
   (read x, write y) goes. Both values blocked; the executor skips the gate while the
   layout is active, and the plan keeps x and s alive until the conv. */
static cnn_status plan_gates(cnn_graph *g)
{
    const char *env = getenv("CNN_LAYOUT_GATE"); /* 0: gates run on their own (A/B runs) */
    if (env && env[0] == '0') return CNN_OK;
    int n = g->n_nodes;
    int *uses = cnn_malloc((size_t)n * sizeof *uses);
    if (!uses) return cnn_set_error(CNN_ERR_NOMEM, "layout: out of memory");
    cnn_graph_last_uses(g, uses);
    for (int i = 0; i < n; i++) {
        cnn_node *v = g->nodes[i];
        if (!v->op->channel_gate || !v->layout || v->fused_into || v->fusion || v->alias || v->is_output ||
            v == g->output || i == n - 1 || uses[i] != 1 || v->n_in != 2 || !v->in[0]->layout ||
            v->in[1]->layout)
            continue;
        cnn_node *c = g->nodes[v->last_use];
        bool dw;
        if (c->n_in != 1 || c->in[0] != v || !c->layout || !conv_ok(c, &dw) || dw || c->gate) continue;
        cnn_conv_desc d;
        c->op->int8_conv(c, &d);
        if (!cnn_conv_blocked_gate_use(&d)) continue;
        v->gated_into = c;
        c->gate = v;
    }
    cnn_free(uses);
    return CNN_OK;
}

cnn_status cnn_graph_plan_layout(cnn_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        g->nodes[i]->layout = 0;
        g->nodes[i]->gated_into = g->nodes[i]->gate = NULL;
    }
    int B = cnn_blocked_width();
    if (g->no_fusion || B == 0 || env_off()) return CNN_OK;
    int n = g->n_nodes;
    /* out[i]: the value of node i (its chain's tail) is blocked; kind[i]: kind_of */
    bool *out = cnn_calloc((size_t)n, sizeof *out), *keep = cnn_calloc((size_t)n, sizeof *keep);
    int *kind = cnn_calloc((size_t)n, sizeof *kind);
    if (!out || !kind || !keep) {
        cnn_free(out), cnn_free(kind), cnn_free(keep);
        return cnn_set_error(CNN_ERR_NOMEM, "layout: out of memory");
    }
    for (int i = 0; i < n; i++) kind[i] = kind_of(g->nodes[i]);
    /* A concat (an op with inputs_in_place) that would be blocked copies its inputs
       into its blocked buffer instead of having them computed in place (fuse.c, batch
       1): its inputs get buffers of their own, in whichever layout suits them.
       Except an input whose channels are a whole-block slice of the concat's
       (blocked_slice): it stays in place when both end up blocked (its blocked values
       are then the concat's blocked slice) and gets its own buffer when they disagree. */
    decide(g, out, kind, B, false, NULL);
    for (int i = 0; i < n; i++) {
        cnn_node *u = g->nodes[i];
        if (u->alias && !u->fused_into && u->alias->op->inputs_in_place && out[u->alias->id]) {
            keep[i] = blocked_slice(u, B);
            if (!keep[i]) {
                u->alias = NULL;
                u->alias_off = 0;
            }
        }
    }
    for (bool again = true; again;) {
        decide(g, out, kind, B, true, keep);
        again = false;
        for (int i = 0; i < n; i++) {
            cnn_node *u = g->nodes[i];
            if (keep[i] && out[i] != out[u->alias->id]) {
                keep[i] = false;
                u->alias = NULL;
                u->alias_off = 0;
                again = true;
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (out[i]) mark_chain(g->nodes[i], (unsigned char)B);
    cnn_free(out);
    cnn_free(kind);
    cnn_free(keep);
    return plan_gates(g);
}

bool cnn_layout_active(const cnn_graph *g, const cnn_node *last, const cnn_node *unfused)
{
    if (g->training || g->no_fusion || g->observe || unfused) return false;
    if (last && last->layout) return false; /* the caller reads last: keep it plain */
    if (cnn_blocked_width() == 0) return false; /* the backend was switched since planning */
    bool any = false;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i]->q) return false; /* quantized after planning: its input is plain */
        any |= g->nodes[i]->layout != 0;
    }
    return any;
}

/* The activation stage of the blocked epilogue: the backend's act_forward. */
static void act_apply(const void *arg, float *y, size_t len)
{
    cnn_backend_get()->act_forward(arg, y, y, len);
}

cnn_status cnn_layout_conv_forward(cnn_node *n, const cnn_ctx *ctx, const cnn_conv_desc *d, const float *b)
{
    bool xb = n->in[0]->layout != 0, yb = n->layout != 0;
    const cnn_epilogue *f = ctx->epi;
    const cnn_epi_parts p = cnn_epi_split(yb ? f : NULL);
    cnn_blocked_epi e = {.scale = p.scale, .shift = p.shift, .res = p.res};
    if (p.act) {
        e.act = act_apply;
        e.act_arg = e.act_desc = p.act;
    }
    /* a gate the executor skipped (plan_gates): read its input, scaled as it is read */
    const float *x = n->in[0]->out.data;
    cnn_node *gate = n->gate;
    if (gate && !cnn_conv_blocked_gate_use(d)) { /* not at this batch (or another backend): run the gate */
        cnn_ctx gc = *ctx;
        gc.epi = NULL;
        CNN_CHECK(gate->op->forward(gate, &gc));
        gate = NULL;
    }
    if (gate) {
        x = gate->in[0]->out.data;
        e.gate = gate->in[1]->out.data;
    }
    if (!cnn_conv_forward_blocked(d, x, xb, n->params[0]->value.data, b, n->out.data, yb,
                                  (f || gate) && yb ? &e : NULL, ctx->scratch, n->g->wgen))
        return cnn_node_error(n, CNN_ERR_NOMEM,
                              "the blocked layout's convolution could not be set up (out of memory, or "
                              "the backend refused it); CNN_LAYOUT=0 runs the graph plain");
    if (f && !yb) ctx->be->epilogue(f, n->out.data);
    /* padded channels: an activation with act(0) != 0 (sigmoid, hardsigmoid) wrote the
       padded lanes; they are 0 again for the consumers that sum over lanes */
    if (yb && e.act && d->c_out % n->layout) {
        float z = 0.0f;
        e.act(e.act_arg, &z, 1);
        if (z != 0.0f) cnn_blocked_zero_tail(ctx->batch, d->c_out, (size_t)d->out[1] * d->out[2], n->out.data);
    }
    return CNN_OK;
}

const char *cnn_layout_name(const cnn_node *n)
{
    static const char *plain[] = {"scalar", "N", "NC", "NCL", "NCHW", "NCDHW"};
    /* the layout the node runs in: a graph quantized after planning runs plain */
    if (n->layout == 16 && cnn_layout_active(n->g, NULL, NULL)) return "nChw16c";
    int nd = n->out.ndim;
    return nd >= 0 && nd <= 5 ? plain[nd] : "plain";
}

/* Inference graph passes (issue 6): fold batch norm, residual add and activation into
 * the epilogue of the convolution before them, and plan concat inputs inside the
 * concat's buffer. Eval mode only; training runs every node as built.
 *
 * Numerics: the epilogue runs the separate ops' own arithmetic (cnn_bn_eval_affine,
 * a + b, cnn_act_apply) on the conv output in the same order, so fused and unfused
 * inference give the same bits. What fusion saves is passes over memory: one read and
 * write of the output (while it is still in cache) instead of one per op, and the
 * intermediate buffers.
 *
 * A node inside a chain shares the conv's buffer: after a full eval forward its value
 * is the chain's result. cnn_graph_forward_until(g, node) stopping inside a chain runs
 * that chain unfused (in place), and cnn_graph_set_fusion(g, false) turns the passes
 * off, for looking at every node's own value. */
#include <string.h>

#include "graph_internal.h"
#include "../ops/ops_common.h"

void cnn_graph_fusion_free(cnn_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        cnn_node *v = g->nodes[i];
        cnn_free(v->fusion);
        v->fusion = NULL;
        v->fused_into = NULL;
        v->alias = NULL;
        v->alias_off = 0;
    }
    cnn_free_aligned(g->fuse_block);
    g->fuse_block = NULL;
}

static bool is_conv(const cnn_node *v) { return v->op == &cnn_op_conv2d || v->op == &cnn_op_conv3d; }
static bool is_bn(const cnn_node *v)
{
    return v->op == &cnn_op_batchnorm2d || v->op == &cnn_op_batchnorm3d;
}

/* The only consumer of v (counting repeated inputs), or NULL. Outputs have none here:
   their own value must survive the forward. */
static cnn_node *sole_consumer(cnn_graph *g, const cnn_node *v, const int *uses)
{
    if (v->is_output || v == g->output || uses[v->id] != 1 || v->id == g->n_nodes - 1) return NULL;
    return g->nodes[v->last_use];
}

void cnn_graph_last_uses(cnn_graph *g, int *uses)
{
    for (int i = 0; i < g->n_nodes; i++) {
        g->nodes[i]->last_use = i;
        if (uses) uses[i] = 0;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_in; j++) {
            cnn_node *p = g->nodes[i]->in[j];
            if (uses) uses[p->id]++;
            if (p->last_use < i) p->last_use = i;
        }
}

/* Follows a chain from conv c; returns the fusion or NULL when nothing follows. */
static cnn_fusion *chain(cnn_graph *g, cnn_node *c, const int *uses, cnn_status *st)
{
    cnn_fusion f = {0};
    cnn_node *tail = c, *next = sole_consumer(g, c, uses);
    if (next && is_bn(next) && next->in[0] == tail) {
        f.bn = next;
        tail = next;
        next = sole_consumer(g, tail, uses);
    }
    if (next && next->op == &cnn_op_add) {
        cnn_node *other = next->in[0] == tail ? next->in[1] : next->in[0];
        /* the residual must exist when the conv runs (ResNet's downsample branch is
           computed after the main branch's last conv: that add goes with the branch) */
        if (other != tail && other->id < c->id) {
            f.residual = other;
            f.add_node = next;
            tail = next;
            next = sole_consumer(g, tail, uses);
        }
    }
    if (next && next->op == &cnn_op_activation) {
        f.act_node = next;
        tail = next;
    }
    if (tail == c) return NULL;
    f.tail = tail;
    cnn_fusion *p = cnn_malloc(sizeof *p);
    if (!p) {
        *st = cnn_set_error(CNN_ERR_NOMEM, "fusion: out of memory");
        return NULL;
    }
    *p = f;
    return p;
}

size_t cnn_alias_root(cnn_node *v, cnn_node **root)
{
    size_t off = 0;
    while (v->alias) {
        off += v->alias_off;
        v = v->alias;
    }
    *root = v;
    return off;
}

/* Concat inputs written in place: batch 1 only (with N > 1 an input's slices are not
   contiguous in the concat), each input used once and only by the concat. */
static void plan_concat(cnn_graph *g, cnn_node *k, const int *uses)
{
    if (g->max_batch != 1) return;
    size_t plane = sizeof(float);
    for (int d = 2; d < k->out.ndim; d++) plane *= (size_t)k->out.dims[d];
    size_t off = 0;
    for (int i = 0; i < k->n_in; i++) {
        cnn_node *x = k->in[i];
        size_t bytes = (size_t)x->out.dims[1] * plane;
        cnn_node *root;
        cnn_alias_root(x, &root);
        /* an input's buffer must start 64-byte aligned for the kernels writing it */
        if (x->n_in > 0 && sole_consumer(g, x, uses) == k && root != k && off % 64 == 0) {
            /* x may be the tail of a conv chain: then the chain's conv buffer moves */
            cnn_node *r = x->fused_into ? x->fused_into : x;
            if (!r->alias) {
                r->alias = k;
                r->alias_off = off;
            }
        }
        off += bytes;
    }
}

cnn_status cnn_graph_plan_fusion(cnn_graph *g)
{
    cnn_graph_fusion_free(g);
    if (g->no_fusion) return CNN_OK;
    int *uses = cnn_malloc((size_t)g->n_nodes * sizeof *uses);
    if (!uses) return cnn_set_error(CNN_ERR_NOMEM, "fusion: out of memory");
    cnn_graph_last_uses(g, uses);
    cnn_status st = CNN_OK;
    size_t floats = 0;
    for (int i = 0; i < g->n_nodes && st == CNN_OK; i++) {
        cnn_node *c = g->nodes[i];
        if (!is_conv(c) || c->fused_into) continue;
        cnn_fusion *f = chain(g, c, uses, &st);
        if (!f) continue;
        c->fusion = f;
        cnn_node *links[3] = {f->bn, f->add_node, f->act_node};
        for (int j = 0; j < 3; j++)
            if (links[j]) {
                links[j]->fused_into = c;
                links[j]->alias = c;
                links[j]->alias_off = 0;
            }
        if (f->bn) floats += 2 * (size_t)c->out.dims[1];
    }
    for (int i = 0; i < g->n_nodes && st == CNN_OK; i++)
        if (g->nodes[i]->op == &cnn_op_concat) plan_concat(g, g->nodes[i], uses);
    cnn_free(uses);
    if (st == CNN_OK && floats) {
        g->fuse_block = cnn_malloc_aligned(floats * sizeof(float));
        if (!g->fuse_block) st = cnn_set_error(CNN_ERR_NOMEM, "fusion: out of memory");
        float *p = g->fuse_block;
        for (int i = 0; st == CNN_OK && i < g->n_nodes; i++) {
            cnn_fusion *f = g->nodes[i]->fusion;
            if (!f || !f->bn) continue;
            f->scale = p;
            f->shift = p + g->nodes[i]->out.dims[1];
            p += 2 * (size_t)g->nodes[i]->out.dims[1];
        }
    }
    if (st != CNN_OK) cnn_graph_fusion_free(g);
    return st;
}

void cnn_fusion_apply(cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_fusion *f = n->fusion;
    const int C = n->out.dims[1];
    size_t S = 1;
    for (int d = 2; d < n->out.ndim; d++) S *= (size_t)n->out.dims[d];
    if (f->bn) cnn_bn_eval_affine(f->bn, f->scale, f->shift);
    const float *scale = f->bn ? f->scale : NULL, *shift = f->bn ? f->shift : NULL;
    const float *res = f->residual ? f->residual->out.data : NULL;
    cnn_act act = f->act_node ? cnn_activation_kind(f->act_node) : CNN_ACT_NONE;
    float alpha = 0.0f, beta = 0.0f; /* parametric activations (leaky relu, clip, ...) */
    if (f->act_node) cnn_activation_params(f->act_node, &alpha, &beta);
    float *y = n->out.data;
    long planes = (long)ctx->batch * C;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads((size_t)planes * S))
    for (long p = 0; p < planes; p++) {
        float *yp = y + (size_t)p * S;
        if (scale) {
            const float sc = scale[p % C], sh = shift[p % C];
#pragma omp simd
            for (size_t k = 0; k < S; k++) yp[k] = yp[k] * sc + sh;
        }
        if (res) {
            const float *rp = res + (size_t)p * S;
#pragma omp simd
            for (size_t k = 0; k < S; k++) yp[k] = yp[k] + rp[k];
        }
        if (act != CNN_ACT_NONE) cnn_act_apply_p(act, alpha, beta, yp, yp, S);
    }
}

/* Inference graph passes (docs/architecture.md, "Fusion"): fold the point-wise ops
 * after a producer (an op declaring takes_epilogue: the convolutions) into its
 * epilogue, and plan the inputs of an op declaring inputs_in_place (concat) inside its
 * buffer. Eval mode only; training runs every node as built. The passes read only the
 * ops' declarations in cnn_op_def, never which op a node is.
 *
 * A chain: the producer, then stages of increasing epilogue_kind (affine, residual add,
 * activation; each at most once), each the only consumer of the previous. At forward
 * time each stage describes itself (epilogue_stage: an affine stage's per-channel
 * scale and shift, an add's other input, an activation and its parameters); the
 * producer hands the list to the backend's epilogue, which runs the separate ops' own
 * arithmetic on the output in the same order, so fused and unfused inference give the
 * same bits. What fusion saves is passes over memory: one read and write of the
 * output (while it is still in cache) instead of one per op, and the intermediate
 * buffers.
 *
 * A node inside a chain shares the producer's buffer: after a full eval forward its
 * value is the chain's result. cnn_graph_forward_until(g, node) stopping inside a chain
 * runs that chain unfused (in place), and cnn_graph_set_fusion(g, false) turns the
 * passes off, for looking at every node's own value. */
#include <string.h>

#include "graph_internal.h"

void cnn_graph_fusion_free(cnn_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        cnn_node *v = g->nodes[i];
        cnn_free(v->fusion);
        v->fusion = NULL;
        v->fused_into = NULL;
        v->alias = NULL;
        v->alias_off = 0;
        v->gated_into = v->gate = NULL;
    }
    cnn_free_aligned(g->fuse_block);
    g->fuse_block = NULL;
}

/* The only consumer of v (counting repeated inputs), or NULL. Outputs have none here:
   their own value must survive the forward. */
/* Floats of each of an affine stage's scale and shift: C padded to whole 16-channel
   blocks, so the blocked layout's epilogue reads whole vectors (docs/architecture.md,
   "Blocked layout"); the padded lanes are 0. */
static size_t coef_len(const cnn_node *c) { return ((size_t)c->out.dims[1] + 15) / 16 * 16; }

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

/* Where the chain's value tail enters stage node v: the input index if tail is
   exactly one of v's inputs and every other input is computed before the chain's
   producer c (the residual of an add must exist when c runs: ResNet's downsample
   branch is computed after the main branch's last conv, so that add goes with the
   branch); -1 otherwise. */
static int chain_input(const cnn_node *v, const cnn_node *tail, const cnn_node *c)
{
    int at = -1;
    for (int i = 0; i < v->n_in; i++) {
        if (v->in[i] == tail) {
            if (at >= 0) return -1; /* x + x: not a stage of one chain */
            at = i;
        } else if (v->in[i]->id >= c->id) {
            return -1;
        }
    }
    return at;
}

/* Follows a chain from producer c; returns the fusion or NULL when nothing follows. */
static cnn_fusion *chain(cnn_graph *g, cnn_node *c, const int *uses, cnn_status *st)
{
    cnn_fusion f = {0};
    cnn_node *tail = c, *next = sole_consumer(g, c, uses);
    int last_kind = CNN_EPI_NONE;
    while (next && f.n_links < CNN_EPI_MAX_STAGES) {
        int kind = next->op->epilogue_kind, at;
        if (kind <= last_kind || !next->op->epilogue_stage || (at = chain_input(next, tail, c)) < 0)
            break;
        f.link[f.n_links] = next;
        f.chain_in[f.n_links++] = at;
        last_kind = kind;
        tail = next;
        next = sole_consumer(g, tail, uses);
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

/* Inputs written in place inside k's buffer (an op declaring inputs_in_place: the
   inputs one after another along dim 1): batch 1 only (with N > 1 an input's slices
   are not contiguous), each input used once and only by k. */
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
            /* x may be the tail of a chain: then the producer's buffer moves */
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
        if (!c->op->takes_epilogue || c->fused_into) continue;
        cnn_fusion *f = chain(g, c, uses, &st);
        if (!f) continue;
        c->fusion = f;
        for (int j = 0; j < f->n_links; j++) {
            cnn_node *v = f->link[j];
            v->fused_into = c;
            v->alias = c;
            v->alias_off = 0;
            if (v->op->epilogue_kind == CNN_EPI_AFFINE) floats += 2 * coef_len(c);
        }
    }
    for (int i = 0; i < g->n_nodes && st == CNN_OK; i++)
        if (g->nodes[i]->op->inputs_in_place) plan_concat(g, g->nodes[i], uses);
    cnn_free(uses);
    if (st == CNN_OK && floats) {
        g->fuse_block = cnn_malloc_aligned(floats * sizeof(float));
        if (!g->fuse_block) st = cnn_set_error(CNN_ERR_NOMEM, "fusion: out of memory");
        else memset(g->fuse_block, 0, floats * sizeof(float)); /* the padded lanes stay 0 */
        float *p = g->fuse_block;
        for (int i = 0; st == CNN_OK && i < g->n_nodes; i++) {
            cnn_fusion *f = g->nodes[i]->fusion;
            for (int j = 0; f && j < f->n_links; j++)
                if (f->link[j]->op->epilogue_kind == CNN_EPI_AFFINE) {
                    f->coef[j] = p;
                    p += 2 * coef_len(g->nodes[i]);
                }
        }
    }
    if (st != CNN_OK) cnn_graph_fusion_free(g);
    return st;
}

void cnn_fusion_describe(const cnn_node *n, const cnn_ctx *ctx, cnn_epilogue *e)
{
    const cnn_fusion *f = n->fusion;
    memset(e, 0, sizeof *e);
    e->n = ctx->batch;
    e->c = n->out.dims[1];
    e->s = 1;
    for (int d = 2; d < n->out.ndim; d++) e->s *= (size_t)n->out.dims[d];
    for (int j = 0; j < f->n_links; j++) {
        cnn_epi_stage *st = &e->st[e->n_stages++];
        const cnn_node *v = f->link[j];
        st->kind = v->op->epilogue_kind;
        if (f->coef[j]) {
            st->scale = f->coef[j];
            st->shift = f->coef[j] + coef_len(n);
        }
        v->op->epilogue_stage(v, f->chain_in[j], ctx, st);
    }
}

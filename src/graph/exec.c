/* Compile, memory plan and executor (docs/architecture.md, "Graph" and "Memory").
 *
 * Parameters live in one block and their gradients in another (llm.c style).
 * Activations live in one arena with two plans:
 *   eval:  a value lives from its producer to its last consumer; buffers are reused.
 *   train: every value is kept for backward; gradients are packed by their own
 *          lifetimes in reverse order and zeroed when they come alive.
 * Per-node saved state (pool indices, BN statistics, dropout masks) has its own block
 * and all ops share one scratch block. Nothing is allocated in forward or backward
 * once a plan exists for the mode in use. */
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "graph_internal.h"
#include "../core/pool.h"

#define ALIGN_F 16 /* floats: 64 bytes */

static double now_s(void) { return cnn_now_s(); } /* the library's clock (src/core/clock.c) */

void cnn_graph_set_profiling(cnn_graph *g, bool on)
{
    if (!g) return;
    g->profiling = on;
    for (int i = 0; i < g->n_nodes; i++) {
        g->nodes[i]->prof_fwd = g->nodes[i]->prof_bwd = 0.0;
        g->nodes[i]->prof_calls = 0;
    }
}

cnn_node_profile cnn_node_profile_get(const cnn_node *n)
{
    cnn_node_profile p = {0, 0, 0};
    if (n) {
        p.forward_s = n->prof_fwd;
        p.backward_s = n->prof_bwd;
        p.calls = n->prof_calls;
    }
    return p;
}

static size_t align_up(size_t n) { return (n + ALIGN_F - 1) / ALIGN_F * ALIGN_F; }

/* ---------------------------------------------------------------- params */
static cnn_status alloc_params(cnn_graph *g, uint64_t seed)
{
    size_t total = 0, total_grad = 0;
    for (int i = 0; i < g->n_params; i++) {
        size_t n = align_up(cnn_tensor_numel(&g->params[i]->p.value));
        total += n;
        if (g->params[i]->p.trainable) total_grad += n;
    }
    /* more than the machine's memory: refused with what it would need, before an
       allocation that overcommit would grant and the first touch would kill
       (docs/architecture.md, "Strict options") */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double need = ((double)total + (double)total_grad) * sizeof(float);
    if (pages > 0 && page > 0 && need > (double)pages * (double)page)
        return cnn_set_error(CNN_ERR_NOMEM,
                             "compile: %zu parameters and their gradients would need %.2f GiB, "
                             "more than the %.2f GiB of memory of this machine",
                             total, need / 1073741824.0, (double)pages * (double)page / 1073741824.0);
    g->param_block = cnn_malloc_aligned((total ? total : 1) * sizeof(float));
    g->grad_block = cnn_malloc_aligned((total_grad ? total_grad : 1) * sizeof(float));
    if (!g->param_block || !g->grad_block)
        return cnn_set_error(CNN_ERR_NOMEM, "compile: cannot allocate %zu parameters", total);
    memset(g->grad_block, 0, (total_grad ? total_grad : 1) * sizeof(float));
    g->param_bytes = total * sizeof(float);
    g->grad_bytes = total_grad * sizeof(float);
    cnn_rng rng;
    cnn_rng_seed(&rng, seed);
    size_t off = 0, goff = 0;
    for (int i = 0; i < g->n_params; i++) {
        cnn_param_entry *e = g->params[i];
        size_t n = align_up(cnn_tensor_numel(&e->p.value));
        e->p.value.data = g->param_block + off;
        off += n;
        if (e->p.trainable) {
            e->p.grad.data = g->grad_block + goff;
            goff += n;
        }
        cnn_param_init_default(&e->p, &rng);
    }
    for (int i = 0; i < g->n_initials; i++) /* after the default init: it draws the same */
        memcpy(g->initials[i].param->p.value.data, g->initials[i].data,
               cnn_tensor_numel(&g->initials[i].param->p.value) * sizeof(float));
    return CNN_OK;
}

cnn_status cnn_graph_set_initial(cnn_graph *g, const char *param, const float *data, size_t n)
{
    if (!g) return cnn_set_error(CNN_ERR_INVALID_ARG, "set_initial: graph is NULL");
    if (!param || !data)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "set_initial: %s is NULL",
                             param ? "data" : "parameter name");
    cnn_param_entry *e = NULL;
    for (int i = 0; i < g->n_params && !e; i++)
        if (strcmp(g->params[i]->p.name, param) == 0) e = g->params[i];
    if (!e)
        return cnn_set_error(CNN_ERR_NOT_FOUND, "set_initial: the graph has no parameter '%s'",
                             param);
    size_t want = cnn_tensor_numel(&e->p.value);
    if (n != want) {
        char buf[96];
        return cnn_set_error(CNN_ERR_SHAPE,
                             "set_initial '%s': %zu values given, the parameter %s holds %zu",
                             param, n,
                             cnn_shape_str(e->p.value.ndim, e->p.value.dims, buf, sizeof buf), want);
    }
    if (g->compiled) { /* the values are in place already: write them directly */
        memcpy(e->p.value.data, data, n * sizeof(float));
        return CNN_OK;
    }
    cnn_initial *slot = NULL;
    for (int i = 0; i < g->n_initials && !slot; i++)
        if (g->initials[i].param == e) slot = &g->initials[i];
    float *copy = cnn_malloc((n ? n : 1) * sizeof(float));
    if (!copy) return cnn_set_error(CNN_ERR_NOMEM, "set_initial '%s': out of memory", param);
    memcpy(copy, data, n * sizeof(float));
    if (!slot) {
        cnn_initial *ni = cnn_realloc(g->initials, (size_t)(g->n_initials + 1) * sizeof *ni);
        if (!ni) {
            cnn_free(copy);
            return cnn_set_error(CNN_ERR_NOMEM, "set_initial '%s': out of memory", param);
        }
        g->initials = ni;
        slot = &g->initials[g->n_initials++];
        slot->param = e;
        slot->data = NULL;
    }
    cnn_free(slot->data);
    slot->data = copy;
    return CNN_OK;
}

/* ---------------------------------------------------------------- planning */
typedef struct interval {
    size_t off, size;
    int end; /* last step it is alive */
} interval;

/* First-fit placement of `size` among the live intervals; returns the offset. */
static size_t place(interval *live, int n_live, size_t size)
{
    size_t off = 0;
    for (;;) {
        int moved = 0;
        for (int i = 0; i < n_live; i++) {
            if (off < live[i].off + live[i].size && live[i].off < off + size) {
                off = live[i].off + live[i].size;
                moved = 1;
            }
        }
        if (!moved) return off;
    }
}

/* Floats of v's value in the eval plan: a blocked value's channels padded to whole
   blocks (docs/architecture.md, "Blocked layout"). */
static size_t eval_numel(const cnn_node *v)
{
    size_t n = cnn_node_numel_max(v);
    if (!v->layout) return n;
    size_t c = (size_t)v->out.dims[1], cp = (c + v->layout - 1) / v->layout * v->layout;
    return n / c * cp;
}

static cnn_status plan(cnn_graph *g)
{
    int n = g->n_nodes;
    cnn_graph_last_uses(g, NULL);
    /* a gate read by its consumer (layout.c): the gate's inputs live until it runs */
    for (int i = 0; i < n; i++) {
        const cnn_node *v = g->nodes[i];
        for (int j = 0; v->gated_into && j < v->n_in; j++)
            if (v->in[j]->last_use < v->gated_into->id) v->in[j]->last_use = v->gated_into->id;
    }
    interval *live = cnn_malloc((size_t)(n + 1) * sizeof *live);
    if (!live) return cnn_set_error(CNN_ERR_NOMEM, "plan: out of memory");

    /* eval: values die after their last consumer, except outputs. A group of values
       sharing one buffer (fuse.c: a conv chain, concat inputs) is placed when its first
       member runs and lives until the last member's last use. */
    size_t *group_end = cnn_malloc((size_t)n * sizeof *group_end);
    bool *placed = cnn_malloc((size_t)n * sizeof *placed);
    if (!group_end || !placed) {
        cnn_free(live), cnn_free(group_end), cnn_free(placed);
        return cnn_set_error(CNN_ERR_NOMEM, "plan: out of memory");
    }
    for (int i = 0; i < n; i++) {
        group_end[i] = 0;
        placed[i] = false;
    }
    for (int i = 0; i < n; i++) {
        cnn_node *v = g->nodes[i], *r;
        cnn_alias_root(v, &r);
        size_t end = (v->is_output || i == n - 1) ? (size_t)n : (size_t)v->last_use;
        if (end > group_end[r->id]) group_end[r->id] = end;
    }
    int n_live = 0;
    size_t peak = 0;
    /* inputs are written before the pass starts: they live from step 0 to the end */
    for (int i = 0; i < n; i++) {
        cnn_node *v = g->nodes[i];
        if (v->n_in) continue;
        size_t size = align_up(cnn_node_numel_max(v)) * sizeof(float);
        v->off_eval = place(live, n_live, size);
        placed[i] = true;
        live[n_live++] = (interval){v->off_eval, size, n};
        if (v->off_eval + size > peak) peak = v->off_eval + size;
    }
    for (int i = 0; i < n; i++) {
        cnn_node *v = g->nodes[i];
        if (v->n_in == 0) continue;
        int k = 0;
        for (int j = 0; j < n_live; j++)
            if (live[j].end >= i) live[k++] = live[j];
        n_live = k;
        cnn_node *r;
        size_t off = cnn_alias_root(v, &r);
        if (!placed[r->id]) {
            size_t size = align_up(eval_numel(r)) * sizeof(float);
            r->off_eval = place(live, n_live, size);
            placed[r->id] = true;
            live[n_live++] = (interval){r->off_eval, size, (int)group_end[r->id]};
            if (r->off_eval + size > peak) peak = r->off_eval + size;
        }
        v->off_eval = r->off_eval + off;
    }
    cnn_free(group_end);
    cnn_free(placed);
    g->plan_eval_bytes = peak;

    /* train: all values kept, then gradients by reverse lifetime */
    /* inputs first, at the same offsets as in the eval plan (both pack them from 0 in
       node order), so input data survives a switch between training and eval */
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if ((g->nodes[i]->n_in == 0) != (pass == 0)) continue;
            g->nodes[i]->off_train = off;
            off += align_up(cnn_node_numel_max(g->nodes[i])) * sizeof(float);
        }
    size_t values_end = off;
    g->inputs_bytes = 0;
    for (int i = 0; i < n; i++)
        if (g->nodes[i]->n_in == 0) {
            size_t end = g->nodes[i]->off_eval + align_up(cnn_node_numel_max(g->nodes[i])) * sizeof(float);
            if (g->nodes[i]->off_eval != g->nodes[i]->off_train) {
                cnn_free(live);
                return cnn_set_error(CNN_ERR_STATE, "plan: input offsets differ between plans");
            }
            if (end > g->inputs_bytes) g->inputs_bytes = end;
        }
    peak = 0;
    /* Gradients, in reverse time: step t runs the backward of node n-1-t. The grad of
       node v is born at its last consumer's step and dies after its own step. */
    n_live = 0;
    for (int t = 0; t < n; t++) {
        int k = 0;
        for (int j = 0; j < n_live; j++)
            if (live[j].end >= t) live[k++] = live[j];
        n_live = k;
        for (int i = 0; i < n; i++) {
            cnn_node *v = g->nodes[i];
            if (!v->needs_grad || n - 1 - v->last_use != t) continue;
            size_t size = align_up(cnn_node_numel_max(v)) * sizeof(float);
            v->off_grad = place(live, n_live, size);
            live[n_live++] = (interval){v->off_grad, size, n - 1 - i};
            if (v->off_grad + size > peak) peak = v->off_grad + size;
        }
    }
    for (int i = 0; i < n; i++) g->nodes[i]->off_grad += values_end;
    g->plan_train_bytes = values_end + peak;
    cnn_free(live);
    return CNN_OK;
}

static cnn_status apply_plan(cnn_graph *g, bool training)
{
    int want = training ? 1 : 0;
    if (g->plan_applied == want) return CNN_OK;
    size_t need = training ? g->plan_train_bytes : g->plan_eval_bytes;
    size_t need_s = training ? g->scratch_train : g->scratch_eval;
    if (need_s > g->scratch_bytes) { /* contents are temporary: no copy */
        void *sc = cnn_malloc_aligned(need_s);
        if (!sc) return cnn_set_error(CNN_ERR_NOMEM, "plan: cannot allocate %zu scratch bytes", need_s);
        cnn_free_aligned(g->scratch);
        g->scratch = sc;
        g->scratch_bytes = need_s;
    }
    if (need > g->arena_bytes) {
        float *a = cnn_malloc_aligned(need);
        if (!a)
            return cnn_set_error(CNN_ERR_NOMEM, "plan: cannot allocate a %zu-byte arena", need);
        if (g->arena) memcpy(a, g->arena, g->inputs_bytes); /* keep the inputs' data */
        cnn_free_aligned(g->arena);
        g->arena = a;
        g->arena_bytes = need;
    }
    char *base = (char *)g->arena;
    for (int i = 0; i < g->n_nodes; i++) {
        cnn_node *v = g->nodes[i];
        v->out.data = (float *)(base + (training ? v->off_train : v->off_eval));
        v->grad.ndim = v->out.ndim;
        memcpy(v->grad.dims, v->out.dims, sizeof v->out.dims);
        v->grad.data = (training && v->needs_grad) ? (float *)(base + v->off_grad) : NULL;
    }
    g->plan_applied = want;
    g->forward_done = false;
    return CNN_OK;
}

cnn_status cnn_graph_compile(cnn_graph *g, uint64_t seed)
{
    if (!g) return cnn_set_error(CNN_ERR_INVALID_ARG, "compile: graph is NULL");
    if (g->status != CNN_OK) return cnn_set_error(g->status, "%s", g->error);
    if (g->compiled) return CNN_OK;
    if (g->n_nodes == 0) return cnn_set_error(CNN_ERR_STATE, "compile: the graph is empty");
    /* a compile that failed (out of memory) may have left blocks behind: start over */
    cnn_free_aligned(g->param_block);
    cnn_free_aligned(g->grad_block);
    cnn_free_aligned(g->saved_block);
    cnn_free_aligned(g->scratch);
    g->param_block = g->grad_block = NULL;
    g->saved_block = g->scratch = NULL;
    CNN_CHECK(alloc_params(g, seed));
    /* scratch: sized for eval at first, grown when a training plan is applied */
    size_t saved = 0, scratch = 0, scratch_train = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        saved += (g->nodes[i]->saved_bytes + 63) / 64 * 64;
        if (g->nodes[i]->scratch_eval_bytes > scratch) scratch = g->nodes[i]->scratch_eval_bytes;
        if (g->nodes[i]->scratch_bytes > scratch_train) scratch_train = g->nodes[i]->scratch_bytes;
    }
    g->scratch_eval = scratch;
    g->scratch_train = scratch_train > scratch ? scratch_train : scratch;
    g->saved_block = cnn_malloc_aligned(saved ? saved : 64);
    g->scratch = cnn_malloc_aligned(scratch ? scratch : 64);
    if (!g->saved_block || !g->scratch)
        return cnn_set_error(CNN_ERR_NOMEM, "compile: cannot allocate %zu saved + %zu scratch bytes",
                             saved, scratch);
    memset(g->saved_block, 0, saved ? saved : 64);
    g->scratch_bytes = scratch;
    g->saved_total = saved;
    char *s = g->saved_block;
    for (int i = 0; i < g->n_nodes; i++) {
        g->nodes[i]->saved = g->nodes[i]->saved_bytes ? s : NULL;
        s += (g->nodes[i]->saved_bytes + 63) / 64 * 64;
    }
    CNN_CHECK(cnn_graph_plan_fusion(g));
    CNN_CHECK(cnn_graph_plan_layout(g));
    CNN_CHECK(plan(g));
    cnn_rng_seed(&g->rng, seed ^ 0x5eedd20u);
    g->compiled = true;
    return CNN_OK;
}

size_t cnn_graph_arena_bytes(cnn_graph *g, bool training)
{
    if (!g || (!g->compiled && cnn_graph_compile(g, 0) != CNN_OK)) return 0;
    return training ? g->plan_train_bytes : g->plan_eval_bytes;
}

cnn_memory_plan cnn_graph_memory_plan(cnn_graph *g)
{
    cnn_memory_plan m = {0, 0, 0, 0, 0, 0, 0};
    if (!g || (!g->compiled && cnn_graph_compile(g, 0) != CNN_OK)) return m;
    m.params = g->param_bytes;
    m.grads = g->grad_bytes;
    m.arena_inference = g->plan_eval_bytes;
    m.arena_training = g->plan_train_bytes;
    m.scratch = g->scratch_eval;
    m.scratch_training = g->scratch_train;
    m.saved = g->saved_total;
    return m;
}

static cnn_status ensure_ready(cnn_graph *g)
{
    if (!g) return cnn_set_error(CNN_ERR_INVALID_ARG, "graph is NULL");
    if (!g->compiled) CNN_CHECK(cnn_graph_compile(g, 0));
    return apply_plan(g, g->training);
}

static void set_batch(cnn_graph *g, int batch)
{
    g->batch = batch;
    for (int i = 0; i < g->n_nodes; i++) {
        cnn_node *v = g->nodes[i];
        if (v->batched) {
            v->out.dims[0] = batch;
            v->grad.dims[0] = batch;
        }
    }
}

cnn_status cnn_graph_set_input(cnn_graph *g, cnn_node *input, const float *data, int batch)
{
    CNN_CHECK(ensure_ready(g));
    if (!input || (input->op->forward != NULL && input->n_in != 0))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "set_input: not an input node");
    if (batch < 1 || batch > g->max_batch)
        return cnn_set_error(CNN_ERR_SHAPE, "set_input '%s': batch %d outside 1..%d", input->name,
                             batch, g->max_batch);
    if (!data) return cnn_set_error(CNN_ERR_INVALID_ARG, "set_input '%s': data is NULL", input->name);
    if (batch != g->batch) set_batch(g, batch);
    memcpy(input->out.data, data, cnn_node_numel(input) * sizeof(float));
    return CNN_OK;
}

/* Redoes the graph passes and both plans of a compiled graph (the inputs keep their
   offsets, so their data survives). */
static cnn_status replan(cnn_graph *g)
{
    if (!g->compiled) return CNN_OK;
    CNN_CHECK(cnn_graph_plan_fusion(g));
    CNN_CHECK(cnn_graph_plan_layout(g));
    CNN_CHECK(plan(g));
    g->plan_applied = -1;
    return CNN_OK;
}

cnn_status cnn_graph_set_fusion(cnn_graph *g, bool on)
{
    if (!g) return cnn_set_error(CNN_ERR_INVALID_ARG, "set_fusion: graph is NULL");
    if (g->no_fusion == !on) return CNN_OK;
    g->no_fusion = !on;
    return replan(g);
}

cnn_status cnn_graph_replan(cnn_graph *g) { return replan(g); }

/* Generations are unique across graphs, so packed weights a backend kept for a freed
   graph are never taken for another's at the same address. */
static uint64_t next_wgen(void)
{
    static uint64_t gen;
    return __atomic_add_fetch(&gen, 1, __ATOMIC_RELAXED);
}

void cnn_graph_set_const_weights(cnn_graph *g, bool on)
{
    if (!g) return;
    g->wgen = on ? next_wgen() : 0;
    g->wkept |= on;
}

void cnn_graph_weights_changed(cnn_graph *g)
{
    if (g && g->wgen) g->wgen = next_wgen();
}

static cnn_ctx make_ctx(cnn_graph *g)
{
    cnn_ctx c = {
        .training = g->training,
        .fused = !g->training && !g->no_fusion,
        .batch = g->batch,
        .scratch = g->scratch,
        .be = cnn_backend_get(),
        .layout_conv = cnn_layout_conv_forward,
        .rng = &g->rng,
        .sync = g->training && g->sync_comm && cnn_comm_size(g->sync_comm) > 1 ? g->sync_comm : NULL,
    };
    return c;
}

cnn_status cnn_graph_forward(cnn_graph *g)
{
    return cnn_graph_forward_until(g, NULL);
}

cnn_status cnn_graph_forward_until(cnn_graph *g, cnn_node *last)
{
    CNN_CHECK(ensure_ready(g));
    if (last && last->g != g)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "forward: node is not in this graph");
    cnn_ctx ctx = make_ctx(g);
    /* stopping inside a fused chain: run that chain as separate ops (in place) */
    if (ctx.fused && last) {
        cnn_node *root = last->fusion ? last : last->fused_into;
        if (root && root->fusion->tail != last) ctx.unfused = root;
    }
    ctx.layout = ctx.fused && cnn_layout_active(g, last, ctx.unfused);
    ctx.last = last;
    int end = last ? last->id + 1 : g->n_nodes;
    cnn_epilogue epi;
    for (int i = 0; i < end; i++) {
        cnn_node *v = g->nodes[i];
        if (ctx.fused && v->fused_into && v->fused_into != ctx.unfused) continue;
        /* a channel gate its consumer reads (layout.c) */
        if (ctx.layout && v->gated_into && v->gated_into->id < end) continue;
        if (g->observe) g->observe(g->observe_arg, v);
        double t0 = g->profiling ? now_s() : 0.0;
        /* a planned chain goes to the producer as an epilogue (fuse.c) */
        ctx.epi = NULL;
        if (ctx.fused && v->fusion && v != ctx.unfused) {
            cnn_fusion_describe(v, &ctx, &epi);
            ctx.epi = &epi;
        }
        /* int8 precision (quant.c): the executor runs the node's int8 conv */
        cnn_status s = v->q ? cnn_qnode_forward(v, &ctx) : v->op->forward(v, &ctx);
        if (s != CNN_OK) return s;
        if (g->profiling) {
            v->prof_fwd += now_s() - t0;
            v->prof_calls++;
        }
    }
    g->forward_done = g->training && end == g->n_nodes;
    return CNN_OK;
}

/* memset to 0 over both cores for large blocks: a training step zeroes every
   gradient once (hundreds of MB for MobileNet at batch 64), one thread alone reaches
   about half the machine's bandwidth. */
static void zero_range(void *arg, long lo, long hi, int slot)
{
    memset((float *)arg + lo, 0, (size_t)(hi - lo) * sizeof(float));
}

static void zero_floats(float *p, size_t n)
{
    const size_t chunk = (size_t)1 << 16;
    if (n < 4 * chunk) {
        memset(p, 0, n * sizeof *p);
        return;
    }
    cnn_parallel_range((long)n, (long)chunk, 0, zero_range, p);
}

static cnn_status run_backward(cnn_graph *g, cnn_node *from, const float *dout)
{
    if (!g || !from || from->g != g)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "backward: no such node in this graph");
    if (!g->training || g->plan_applied != 1 || !g->forward_done)
        return cnn_set_error(CNN_ERR_STATE,
                             "backward: run forward in training mode first (cnn_graph_set_training)");
    if (!from->needs_grad)
        return cnn_set_error(CNN_ERR_STATE, "backward: nothing trainable leads to '%s'", from->name);
    /* parameter gradients are one block: zero it at once */
    size_t total_grad = g->grad_bytes / sizeof(float);
    if (total_grad) zero_floats(g->grad_block, total_grad);
    for (int i = 0; i <= from->id; i++) g->nodes[i]->grad_live = false;
    memcpy(from->grad.data, dout, cnn_node_numel(from) * sizeof(float));
    from->grad_live = true;
    cnn_ctx ctx = make_ctx(g);
    /* A gradient comes alive (and is zeroed) when the first consumer in reverse order
       runs; nodes no gradient reached are skipped. The planned lifetimes cover this. */
    for (int i = from->id; i >= 0; i--) {
        cnn_node *v = g->nodes[i];
        if (!v->grad_live || !v->op->backward) continue;
        for (int j = 0; j < v->n_in; j++) {
            cnn_node *p = v->in[j];
            if (p->grad.data && !p->grad_live) {
                zero_floats(p->grad.data, cnn_node_numel(p));
                p->grad_live = true;
            }
        }
        double t0 = g->profiling ? now_s() : 0.0;
        cnn_status s = v->op->backward(v, &ctx);
        if (s != CNN_OK) return s;
        if (g->profiling) v->prof_bwd += now_s() - t0;
    }
    return CNN_OK;
}

cnn_status cnn_graph_backward_from(cnn_graph *g, cnn_node *n, const float *dout)
{
    return run_backward(g, n, dout);
}

cnn_status cnn_graph_backward(cnn_graph *g, cnn_node *loss)
{
    if (!loss) return cnn_set_error(CNN_ERR_INVALID_ARG, "backward: loss is NULL");
    if (cnn_node_numel(loss) != 1)
        return cnn_set_error(CNN_ERR_SHAPE, "backward: '%s' is not a scalar loss", loss->name);
    static const float one = 1.0f;
    return run_backward(g, loss, &one);
}

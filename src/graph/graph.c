/* The static graph builder: nodes in topological order, scope-named parameters,
   shape inference at every call (docs/architecture.md, "Graph"). */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "graph_internal.h"

cnn_graph *cnn_graph_new(void)
{
    cnn_graph *g = cnn_calloc(1, sizeof *g);
    if (!g) {
        cnn_set_error(CNN_ERR_NOMEM, "graph: out of memory");
        return NULL;
    }
    g->plan_applied = -1;
    g->training = false;
    cnn_rng_seed(&g->rng, 0);
    return g;
}

static void node_free(cnn_node *n)
{
    if (!n) return;
    cnn_free(n->name);
    cnn_free(n->in);
    cnn_free(n->attr);
    cnn_free(n);
}

void cnn_graph_free(cnn_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) cnn_free(g->nodes[i]->fusion);
    for (int i = 0; i < g->n_nodes; i++) cnn_free(g->nodes[i]->q);
    for (int i = 0; i < g->n_nodes; i++) node_free(g->nodes[i]);
    for (int i = 0; i < g->n_params; i++) {
        cnn_free(g->params[i]->p.name);
        cnn_free(g->params[i]);
    }
    for (int i = 0; i < g->n_initials; i++) cnn_free(g->initials[i].data);
    if (g->wkept && g->param_block) cnn_conv_forget_kept(g->param_block, g->param_bytes);
    CNN_FREE_ALIGNED_ALL(g->param_block, g->grad_block, g->saved_block, g->scratch, g->arena,
                         g->fuse_block);
    CNN_FREE_ALL(g->initials, g->nodes, g->params, g);
}

cnn_status cnn_graph_status(const cnn_graph *g)
{
    return g ? g->status : CNN_ERR_INVALID_ARG;
}

const char *cnn_graph_error(const cnn_graph *g) { return g ? g->error : "no graph"; }

/* Records the first error in the graph; later ones are usually consequences. */
static void graph_fail(cnn_graph *g, cnn_status s)
{
    if (g->status == CNN_OK) {
        g->status = s;
        snprintf(g->error, sizeof g->error, "%s", cnn_error_message());
    } else {
        /* keep the first message visible through cnn_error_message() too */
        cnn_set_error(g->status, "%s", g->error);
    }
}

/* ---------------------------------------------------------------- scopes */
void cnn_scope_push(cnn_graph *g, const char *name)
{
    if (!g) return;
    if (g->scope_depth >= 64) {
        cnn_set_error(CNN_ERR_INVALID_ARG, "scope: nested deeper than 64");
        graph_fail(g, CNN_ERR_INVALID_ARG);
        return;
    }
    size_t len = strlen(g->scope);
    g->scope_len[g->scope_depth++] = (int)len;
    size_t room = sizeof g->scope - len;
    int w = snprintf(g->scope + len, room, "%s%s", len ? "." : "", name);
    if (w < 0 || (size_t)w >= room) {
        g->scope[len] = '\0';
        cnn_set_error(CNN_ERR_INVALID_ARG, "scope: name too long at '%s'", name);
        graph_fail(g, CNN_ERR_INVALID_ARG);
    }
}

void cnn_scope_pushf(cnn_graph *g, const char *fmt, ...)
{
    char buf[256];
    CNN_VFORMAT(buf, fmt);
    cnn_scope_push(g, buf);
}

void cnn_scope_pop(cnn_graph *g)
{
    if (!g || g->scope_depth == 0) return;
    g->scope[g->scope_len[--g->scope_depth]] = '\0';
}

/* ---------------------------------------------------------------- nodes */
static cnn_status add_node(cnn_graph *g, cnn_node *n)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        cnn_node **nn = cnn_realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return cnn_set_error(CNN_ERR_NOMEM, "graph: out of memory adding a node");
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    n->id = g->n_nodes;
    g->nodes[g->n_nodes++] = n;
    return CNN_OK;
}

/* A unique default name: "<op><k>" within the scope. */
static char *make_name(cnn_graph *g, const cnn_op_def *op, const char *name)
{
    char buf[CNN_MAX_SCOPE + 128];
    size_t sl = strlen(g->scope);
    if (name && *name) {
        snprintf(buf, sizeof buf, "%s%s%s", g->scope, sl ? "." : "", name);
    } else {
        int k = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i]->op == op) k++;
        snprintf(buf, sizeof buf, "%s%s%s%d", g->scope, sl ? "." : "", op ? op->name : "node", k);
    }
    return cnn_strdup(buf);
}

/* Set when cnn_node_param runs out of memory inside an op's shape(): ops return a
   generic status then, and the builder reports CNN_ERR_NOMEM instead. */
static _Thread_local bool g_param_nomem;

/* Parameter-free layers may share a name (one nn.ReLU used twice): such a node gets a
   "_<k>" suffix so every node can be found by name. Layers with parameters keep their
   name, and a clash is reported by cnn_node_param. */
static cnn_status unique_name(cnn_graph *g, cnn_node *n)
{
    char buf[CNN_MAX_SCOPE + 160];
    snprintf(buf, sizeof buf, "%s", n->name);
    size_t len = strlen(buf);
    for (int k = 1;; k++) {
        bool taken = false;
        for (int i = 0; i < g->n_nodes && !taken; i++) taken = strcmp(g->nodes[i]->name, buf) == 0;
        if (!taken) break;
        snprintf(buf + len, sizeof buf - len, "_%d", k);
    }
    if (len == strlen(buf)) return CNN_OK;
    char *nn = cnn_strdup(buf);
    if (!nn) return cnn_set_error(CNN_ERR_NOMEM, "graph: out of memory naming a node");
    cnn_free(n->name);
    n->name = nn;
    return CNN_OK;
}

cnn_node *cnn_node_make(cnn_graph *g, const cnn_op_def *op, const char *name, int n_in,
                        cnn_node *const *in, const void *attr, size_t attr_size)
{
    if (!g) {
        cnn_set_error(CNN_ERR_INVALID_ARG, "%s: graph is NULL", op->name);
        return NULL;
    }
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) {
            if (g->status == CNN_OK) {
                cnn_set_error(CNN_ERR_INVALID_ARG, "%s: input %d is NULL", op->name, i);
                graph_fail(g, CNN_ERR_INVALID_ARG);
            } else {
                cnn_set_error(g->status, "%s", g->error);
            }
            return NULL;
        }
        if (in[i]->g != g) {
            cnn_set_error(CNN_ERR_INVALID_ARG, "%s: input %d belongs to another graph", op->name, i);
            graph_fail(g, CNN_ERR_INVALID_ARG);
            return NULL;
        }
    }
    if (g->compiled) {
        cnn_set_error(CNN_ERR_STATE, "%s: graph already compiled; build before compiling",
                      op->name);
        graph_fail(g, CNN_ERR_STATE);
        return NULL;
    }
    cnn_node *n = cnn_calloc(1, sizeof *n);
    if (!n) goto nomem;
    n->op = op;
    n->g = g;
    n->id = g->n_nodes;
    n->name = make_name(g, op, name);
    if (!n->name) goto nomem;
    n->n_in = n_in;
    if (n_in) {
        n->in = cnn_malloc((size_t)n_in * sizeof *n->in);
        if (!n->in) goto nomem;
        memcpy(n->in, in, (size_t)n_in * sizeof *n->in);
    }
    if (attr_size) {
        n->attr = cnn_malloc(attr_size);
        if (!n->attr) goto nomem;
        memcpy(n->attr, attr, attr_size);
        n->attr_size = attr_size;
    }
    n->batched = true;
    int params_before = g->n_params;
    g_param_nomem = false;
    n->scratch_eval_bytes = SIZE_MAX;
    cnn_status s = op->shape(n);
    if (n->scratch_eval_bytes == SIZE_MAX) n->scratch_eval_bytes = n->scratch_bytes;
    if (s != CNN_OK && g_param_nomem) s = CNN_ERR_NOMEM;
    if (s == CNN_OK) {
        for (int d = 0; d < n->out.ndim; d++)
            if (n->out.dims[d] < 1) {
                char buf[96];
                s = cnn_node_error(n, CNN_ERR_SHAPE, "output %s is empty (input %s too small?)",
                                   cnn_shape_str(n->out.ndim, n->out.dims, buf, sizeof buf),
                                   n_in ? cnn_node_shape_str(in[0]) : "()");
                break;
            }
    }
    if (s == CNN_OK) {
        /* sizes checked before anything is allocated: kernels index an example with
           int (docs/architecture.md, "Strict options") */
        double per = 1.0;
        for (int d = n->batched ? 1 : 0; d < n->out.ndim; d++) per *= (double)n->out.dims[d];
        if (per > (double)INT32_MAX) {
            char buf[96];
            s = cnn_node_error(n, CNN_ERR_SHAPE,
                               "output %s has %.0f elements per example, more than 2^31-1 "
                               "(it would need %.2f GiB per example)",
                               cnn_shape_str(n->out.ndim, n->out.dims, buf, sizeof buf), per,
                               per * sizeof(float) / 1073741824.0);
        }
    }
    if (s == CNN_OK && (n->n_params == 0 || n->shares)) s = unique_name(g, n);
    if (s == CNN_OK) s = add_node(g, n);
    if (s != CNN_OK) {
        /* drop parameters this node declared */
        for (int i = params_before; i < g->n_params; i++) {
            cnn_free(g->params[i]->p.name);
            cnn_free(g->params[i]);
        }
        g->n_params = params_before;
        node_free(n);
        graph_fail(g, s);
        return NULL;
    }
    n->needs_grad = false;
    for (int i = 0; i < n->n_params; i++)
        if (n->params[i]->trainable) n->needs_grad = true;
    for (int i = 0; i < n_in; i++)
        if (in[i]->needs_grad) n->needs_grad = true;
    g->batch = g->max_batch;
    return n;
nomem:
    node_free(n);
    cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory building the node", op->name);
    graph_fail(g, CNN_ERR_NOMEM);
    return NULL;
}

cnn_status cnn_node_error(const cnn_node *n, cnn_status s, const char *fmt, ...)
{
    char msg[768];
    CNN_VFORMAT(msg, fmt);
    return cnn_set_error(s, "%s '%s': %s", n->op ? n->op->name : "node", n->name ? n->name : "?",
                         msg);
}

cnn_param *cnn_node_param(cnn_node *n, const char *suffix, int ndim, const int *dims,
                          cnn_param_role role, int init_uniform, float init_value)
{
    cnn_graph *g = n->g;
    if (g->share_src) return cnn_node_param_shared(n, suffix, ndim, dims, role);
    if (n->n_params >= CNN_MAX_NODE_PARAMS) {
        cnn_node_error(n, CNN_ERR_INVALID_ARG, "too many parameters");
        return NULL;
    }
    if (g->n_params == g->cap_params) {
        int cap = g->cap_params ? g->cap_params * 2 : 64;
        cnn_param_entry **np = cnn_realloc(g->params, (size_t)cap * sizeof *np);
        if (!np) {
            g_param_nomem = true;
            cnn_node_error(n, CNN_ERR_NOMEM, "out of memory adding parameter '%s'",
                           suffix ? suffix : n->name);
            return NULL;
        }
        g->params = np;
        g->cap_params = cap;
    }
    cnn_param_entry *e = cnn_calloc(1, sizeof *e);
    if (!e) {
        g_param_nomem = true;
        cnn_node_error(n, CNN_ERR_NOMEM, "out of memory adding parameter '%s'",
                       suffix ? suffix : n->name);
        return NULL;
    }
    char buf[CNN_MAX_SCOPE + 160];
    if (suffix)
        snprintf(buf, sizeof buf, "%s.%s", n->name, suffix);
    else
        snprintf(buf, sizeof buf, "%s", n->name);
    e->p.name = cnn_strdup(buf);
    if (!e->p.name) {
        cnn_free(e);
        g_param_nomem = true;
        cnn_node_error(n, CNN_ERR_NOMEM, "out of memory adding parameter '%s'",
                       suffix ? suffix : n->name);
        return NULL;
    }
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i]->p.name, e->p.name) == 0) {
            cnn_node_error(n, CNN_ERR_INVALID_ARG,
                           "parameter name '%s' is already used (give the layer a .name or "
                           "push a scope)",
                           e->p.name);
            cnn_free(e->p.name);
            cnn_free(e);
            return NULL;
        }
    e->p.value.ndim = ndim;
    memcpy(e->p.value.dims, dims, (size_t)ndim * sizeof(int));
    e->p.grad = e->p.value;
    e->p.grad.data = NULL;
    e->p.role = role;
    e->p.trainable = role != CNN_PARAM_BUFFER;
    e->p.no_decay = role == CNN_PARAM_BIAS || role == CNN_PARAM_NORM_WEIGHT ||
                    role == CNN_PARAM_NORM_BIAS || role == CNN_PARAM_BUFFER;
    e->init_kind = init_uniform ? CNN_PINIT_UNIFORM : CNN_PINIT_CONST;
    e->init_value = init_value;
    g->params[g->n_params++] = e;
    n->params[n->n_params++] = &e->p;
    return &e->p;
}

const char *cnn_node_shape_str(const cnn_node *n)
{
    static _Thread_local char ring[4][96];
    static _Thread_local int k;
    char *b = ring[k++ & 3];
    return cnn_shape_str(n->out.ndim, n->out.dims, b, 96);
}

size_t cnn_node_numel(const cnn_node *n) { return cnn_tensor_numel(&n->out); }

size_t cnn_node_per_example(const cnn_node *n)
{
    size_t e = 1;
    for (int i = n->batched ? 1 : 0; i < n->out.ndim; i++) e *= (size_t)n->out.dims[i];
    return e;
}

size_t cnn_node_numel_max(const cnn_node *n)
{
    size_t e = cnn_node_per_example(n);
    return n->batched ? e * (size_t)n->g->max_batch : e;
}

/* ---------------------------------------------------------------- inputs */
typedef struct input_attr {
    int ndim;
    int dims[CNN_MAX_DIMS];
} input_attr;

static cnn_status input_shape(cnn_node *n)
{
    const input_attr *a = n->attr;
    n->out.ndim = a->ndim;
    memcpy(n->out.dims, a->dims, sizeof a->dims);
    return CNN_OK;
}

static cnn_status input_forward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)n;
    (void)ctx;
    return CNN_OK; /* data was copied in by cnn_graph_set_input */
}

static cnn_status input_backward(cnn_node *n, const cnn_ctx *ctx)
{
    (void)n;
    (void)ctx;
    return CNN_OK;
}

static const cnn_op_def input_op = {
    .name = "input",
    .shape = input_shape,
    .forward = input_forward,
    .backward = input_backward,
};

static const cnn_op_def labels_op = {
    .name = "labels",
    .shape = input_shape,
    .forward = input_forward,
    .backward = input_backward,
};

static cnn_node *make_input(cnn_graph *g, const cnn_op_def *op, const char *name, int ndim,
                            const int *dims)
{
    if (!g) {
        cnn_set_error(CNN_ERR_INVALID_ARG, "input: graph is NULL");
        return NULL;
    }
    input_attr a = {.ndim = ndim};
    if (ndim < 1 || ndim > CNN_MAX_DIMS || !dims) {
        cnn_set_error(CNN_ERR_INVALID_ARG, "%s '%s': %d dimensions (1 to %d allowed)", op->name,
                      name ? name : "", ndim, CNN_MAX_DIMS);
        graph_fail(g, CNN_ERR_INVALID_ARG);
        return NULL;
    }
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1) {
            char buf[96];
            cnn_set_error(CNN_ERR_INVALID_ARG, "%s '%s': dimension %d of %s must be >= 1",
                          op->name, name ? name : "", i, cnn_shape_str(ndim, dims, buf, sizeof buf));
            graph_fail(g, CNN_ERR_INVALID_ARG);
            return NULL;
        }
        a.dims[i] = dims[i];
    }
    if (g->max_batch && dims[0] != g->max_batch) {
        cnn_set_error(CNN_ERR_SHAPE, "%s '%s': batch %d differs from the graph's batch %d",
                      op->name, name ? name : "", dims[0], g->max_batch);
        graph_fail(g, CNN_ERR_SHAPE);
        return NULL;
    }
    /* inputs are named outside any scope */
    char saved[CNN_MAX_SCOPE];
    memcpy(saved, g->scope, sizeof saved);
    g->scope[0] = '\0';
    cnn_node *n = cnn_node_make(g, op, name, 0, NULL, &a, sizeof a);
    memcpy(g->scope, saved, sizeof saved);
    if (n) {
        g->max_batch = dims[0];
        g->batch = dims[0];
    }
    return n;
}

cnn_node *cnn_input(cnn_graph *g, const char *name, int ndim, const int *dims)
{
    return make_input(g, &input_op, name ? name : "input", ndim, dims);
}

void cnn_input_requires_grad(cnn_node *input)
{
    if (!input || input->op != &input_op) return;
    input->requires_grad = true;
    input->needs_grad = true;
}

cnn_node *cnn_labels(cnn_graph *g, const char *name, int batch)
{
    return make_input(g, &labels_op, name ? name : "labels", 1, &batch);
}

/* ---------------------------------------------------------------- access */
const char *cnn_node_name(const cnn_node *n) { return n ? n->name : ""; }
const char *cnn_node_op(const cnn_node *n) { return n ? n->op->name : ""; }
const char *cnn_node_kind(const cnn_node *n)
{
    const char *k = n && n->op->kind ? n->op->kind(n) : NULL;
    return k ? k : cnn_node_op(n);
}
cnn_tensor cnn_node_value(const cnn_node *n) { return n->out; }
cnn_tensor cnn_node_grad(const cnn_node *n) { return n->grad; }
int cnn_graph_num_nodes(const cnn_graph *g) { return g ? g->n_nodes : 0; }

cnn_node *cnn_graph_node(const cnn_graph *g, int i)
{
    return (g && i >= 0 && i < g->n_nodes) ? g->nodes[i] : NULL;
}

cnn_node *cnn_graph_find(const cnn_graph *g, const char *name)
{
    if (!g || !name) return NULL;
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0) return g->nodes[i];
    return NULL;
}

void cnn_graph_mark_output(cnn_graph *g, cnn_node *n)
{
    if (!g || !n) return;
    n->is_output = true;
    g->output = n;
    cnn_status s;
    if (g->compiled && (s = cnn_graph_replan(g)) != CNN_OK) graph_fail(g, s);
}

cnn_node *cnn_graph_output(const cnn_graph *g)
{
    if (!g || g->n_nodes == 0) return NULL;
    return g->output ? g->output : g->nodes[g->n_nodes - 1];
}

int cnn_graph_num_params(const cnn_graph *g) { return g ? g->n_params : 0; }

cnn_param *cnn_graph_param(const cnn_graph *g, int i)
{
    return (g && i >= 0 && i < g->n_params) ? &g->params[i]->p : NULL;
}

cnn_param *cnn_graph_find_param(const cnn_graph *g, const char *name)
{
    if (!g || !name) return NULL;
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i]->p.name, name) == 0) return &g->params[i]->p;
    return NULL;
}

size_t cnn_graph_param_count(const cnn_graph *g)
{
    size_t total = 0;
    for (int i = 0; g && i < g->n_params; i++)
        if (g->params[i]->p.trainable) total += cnn_tensor_numel(&g->params[i]->p.value);
    return total;
}

cnn_cost cnn_node_cost(const cnn_node *n)
{
    cnn_cost c = {0, 0};
    if (!n) return c;
    for (int i = 0; !n->shares && i < n->n_params; i++)
        if (n->params[i]->trainable) c.params += (int64_t)cnn_tensor_numel(&n->params[i]->value);
    if (n->op->cost) c.macs = n->op->cost(n);
    return c;
}

cnn_cost cnn_graph_cost(const cnn_graph *g)
{
    cnn_cost t = {0, 0};
    for (int i = 0; g && i < g->n_nodes; i++) {
        cnn_cost c = cnn_node_cost(g->nodes[i]);
        t.params += c.params;
        t.macs += c.macs;
    }
    return t;
}

void cnn_graph_set_training(cnn_graph *g, bool training)
{
    if (g) g->training = training;
}

bool cnn_graph_training(const cnn_graph *g) { return g && g->training; }
cnn_rng *cnn_graph_rng(cnn_graph *g) { return &g->rng; }

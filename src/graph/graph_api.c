/* Accessors for the layers above graph/ (include/cnn.h, "Structure of a built graph",
   and graph_api.h), graph failure for model builders, and weight sharing
   (cnn_apply_shared). docs/architecture.md, "Layers and who includes what". */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph_internal.h"

int cnn_node_ndim(const cnn_node *n)
{
    return n ? n->out.ndim : 0;
}

int cnn_node_dim(const cnn_node *n, int i)
{
    if (!n) return 0;
    if (i < 0) i += n->out.ndim;
    return i >= 0 && i < n->out.ndim ? n->out.dims[i] : 0;
}

bool cnn_node_batched(const cnn_node *n)
{
    return n && n->batched;
}

cnn_status cnn_node_set_name(cnn_node *n, const char *name)
{
    if (!n || !name || !*name)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "set_name: NULL or empty name");
    cnn_node *other = cnn_graph_find(n->g, name);
    if (other == n) return CNN_OK;
    if (other)
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "set_name: %s '%s' cannot be named '%s': %s '%s' has the name",
                             n->op->name, n->name, name, other->op->name, other->name);
    char *copy = cnn_strdup(name);
    if (!copy) return cnn_set_error(CNN_ERR_NOMEM, "set_name: out of memory");
    cnn_free(n->name);
    n->name = copy;
    return CNN_OK;
}

int cnn_node_num_inputs(const cnn_node *n)
{
    return n ? n->n_in : 0;
}

cnn_node *cnn_node_input(const cnn_node *n, int i)
{
    return n && i >= 0 && i < n->n_in ? n->in[i] : NULL;
}

int cnn_node_num_params(const cnn_node *n)
{
    return n ? n->n_params : 0;
}

cnn_param *cnn_node_param_at(const cnn_node *n, int i)
{
    return n && i >= 0 && i < n->n_params ? n->params[i] : NULL;
}

bool cnn_graph_compiled(const cnn_graph *g)
{
    return g && g->compiled;
}

cnn_status cnn_graph_fail(cnn_graph *g, cnn_status s, const char *fmt, ...)
{
    char msg[768];
    CNN_VFORMAT(msg, fmt);
    if (s == CNN_OK) s = CNN_ERR_STATE;
    cnn_set_error(s, "%s", msg);
    if (g && g->status == CNN_OK) {
        g->status = s;
        snprintf(g->error, sizeof g->error, "%s", msg);
    }
    return s;
}

/* ---------------------------------------------------------------- weight sharing */
const cnn_node *cnn_node_shares(const cnn_node *n)
{
    return n ? n->shares : NULL;
}

/* Inputs of a shared node have the shapes of the layer's inputs (the batch aside). */
static bool same_inputs(cnn_graph *g, const cnn_node *layer, int n_in, cnn_node *const *in)
{
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) continue; /* cnn_node_make reports it */
        const cnn_tensor *a = &in[i]->out, *b = &layer->in[i]->out;
        bool same = a->ndim == b->ndim && in[i]->batched == layer->in[i]->batched;
        for (int d = in[i]->batched ? 1 : 0; same && d < a->ndim; d++)
            same = a->dims[d] == b->dims[d];
        if (!same) {
            char sa[96], sb[96];
            cnn_graph_fail(g, CNN_ERR_SHAPE,
                           "apply_shared: input %d %s of %s '%s' applied again does not have "
                           "the shape of its first input %s",
                           i, cnn_shape_str(a->ndim, a->dims, sa, sizeof sa), layer->op->name,
                           layer->name, cnn_shape_str(b->ndim, b->dims, sb, sizeof sb));
            return false;
        }
    }
    return true;
}

cnn_node *cnn_apply_shared(cnn_graph *g, const cnn_node *layer, int n_in, cnn_node *const *in,
                           const char *name)
{
    if (!g) {
        cnn_set_error(CNN_ERR_INVALID_ARG, "apply_shared: graph is NULL");
        return NULL;
    }
    if (g->status != CNN_OK) {
        cnn_set_error(g->status, "%s", g->error);
        return NULL;
    }
    if (!layer || layer->g != g) {
        cnn_graph_fail(g, CNN_ERR_INVALID_ARG, "apply_shared: %s",
                       layer ? "the layer belongs to another graph" : "layer is NULL");
        return NULL;
    }
    while (layer->shares)
        layer = layer->shares; /* the owner of the parameters */
    if (layer->n_in == 0) {
        cnn_graph_fail(g, CNN_ERR_INVALID_ARG,
                       "apply_shared: %s '%s' has no inputs (a graph input, constant or "
                       "parameter): nothing to apply again",
                       layer->op->name, layer->name);
        return NULL;
    }
    if (n_in != layer->n_in || (n_in && !in)) {
        cnn_graph_fail(g, CNN_ERR_INVALID_ARG, "apply_shared: %s '%s' takes %d inputs, %d given",
                       layer->op->name, layer->name, layer->n_in, n_in);
        return NULL;
    }
    if (!same_inputs(g, layer, n_in, in)) return NULL;
    char buf[CNN_MAX_SCOPE + 160];
    if (!name || !*name) {
        /* the layer's own name inside this scope, made unique by cnn_node_make */
        const char *dot = strrchr(layer->name, '.');
        snprintf(buf, sizeof buf, "%s", dot ? dot + 1 : layer->name);
        name = buf;
    }
    g->share_src = layer;
    cnn_node *n = cnn_node_make(g, layer->op, name, n_in, in, layer->attr, layer->attr_size);
    g->share_src = NULL;
    if (n) n->shares = layer; /* also for a layer without parameters */
    return n;
}

/* cnn_node_param during the shape() of a shared node: the source's parameter at the
   same position, which must have the shape and role the op asks for. */
cnn_param *cnn_node_param_shared(cnn_node *n, const char *suffix, int ndim, const int *dims,
                                 cnn_param_role role)
{
    const cnn_node *src = n->g->share_src;
    cnn_param *p = n->n_params < src->n_params ? src->params[n->n_params] : NULL;
    bool same = p && p->value.ndim == ndim && p->role == (int)role &&
                memcmp(p->value.dims, dims, (size_t)ndim * sizeof *dims) == 0;
    if (!same || n->n_params >= CNN_MAX_NODE_PARAMS) {
        cnn_node_error(n, CNN_ERR_SHAPE, "parameter '%s' does not match %s '%s' it shares",
                       suffix ? suffix : n->name, src->op->name, src->name);
        return NULL;
    }
    n->shares = src;
    n->params[n->n_params++] = p;
    return p;
}

/* ---------------------------------------------------------------- graph_api.h */
float *cnn_graph_param_block(cnn_graph *g, size_t *bytes)
{
    bool ok = g && g->compiled;
    if (bytes) *bytes = ok ? g->param_bytes : 0;
    return ok ? g->param_block : NULL;
}

float *cnn_graph_grad_block(cnn_graph *g, size_t *bytes)
{
    bool ok = g && g->compiled;
    if (bytes) *bytes = ok ? g->grad_bytes : 0;
    return ok ? g->grad_block : NULL;
}

void cnn_graph_set_sync(cnn_graph *g, cnn_comm *c)
{
    if (g) g->sync_comm = c;
}

void cnn_param_init_default(cnn_param *p, cnn_rng *rng)
{
    const cnn_param_entry *e = (const cnn_param_entry *)p; /* p is its first member */
    size_t n = cnn_tensor_numel(&p->value);
    float *d = p->value.data;
    if (e->init_kind == CNN_PINIT_CONST) {
        for (size_t i = 0; i < n; i++)
            d[i] = e->init_value;
    } else {
        float b = e->init_value;
        for (size_t i = 0; i < n; i++)
            d[i] = (2.0f * cnn_rng_uniform(rng) - 1.0f) * b;
    }
}

/* ---------------------------------------------------------------- optimizer update */
void cnn_graph_sgd_step(cnn_graph *g, const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h)
{
    cnn_backend_get()->sgd_step(seg, n_seg, h); /* one backend table per process today */
    cnn_graph_weights_changed(g);
}

void cnn_graph_adam_step(cnn_graph *g, const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h)
{
    cnn_backend_get()->adam_step(seg, n_seg, h);
    cnn_graph_weights_changed(g);
}

/* The public, read-only description of a built graph (include/cnn/describe.h) and its
   per-layer profile (cnn_graph_profile): what exporters and tools above the graph
   read instead of the node structs (docs/architecture.md, "Describing a graph").
   Everything here goes through the op table's hooks and traits; no op is named. */
#include <stdio.h>
#include <string.h>

#include "graph_internal.h"

void cnn_node_describe(const cnn_node *n, cnn_op_desc *d)
{
    if (!d) return;
    memset(d, 0, sizeof *d);
    if (n && n->op->describe) n->op->describe(n, d);
}

const cnn_desc_attr *cnn_desc_find(const cnn_op_desc *d, const char *key)
{
    for (int i = 0; d && key && i < d->n_attrs; i++)
        if (strcmp(d->attrs[i].key, key) == 0) return &d->attrs[i];
    return NULL;
}

int cnn_node_index(const cnn_node *n) { return n ? n->id : -1; }

bool cnn_node_conv(const cnn_node *n, cnn_conv_desc *d)
{
    if (!n || !n->op->int8_conv || !d) return false;
    n->op->int8_conv(n, d);
    return true;
}

bool cnn_node_eval_affine(const cnn_node *n, float *scale, float *shift)
{
    if (!n || n->op->epilogue_kind != CNN_EPI_AFFINE || !n->op->epilogue_stage) return false;
    if (!scale || !shift) return true;
    /* the coefficients the fused epilogue applies (one example: they do not depend on
       the batch) */
    cnn_ctx ctx = {.batch = 1, .be = cnn_backend_get()};
    cnn_epi_stage st = {.kind = CNN_EPI_AFFINE, .scale = scale, .shift = shift};
    n->op->epilogue_stage(n, 0, &ctx, &st);
    return true;
}

cnn_status cnn_node_data(const cnn_node *n, float *dst)
{
    if (!n || !dst)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "node data: %s is NULL", n ? "dst" : "node");
    if (n->n_in != 0 || n->batched || !n->op->forward)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                              "node data: the value is computed from inputs, not data");
    /* the op writes its data into its value: run it into dst (the planned buffer may
       not be placed yet) */
    cnn_node *m = (cnn_node *)n;
    float *planned = m->out.data;
    cnn_ctx ctx = {.batch = 1, .be = cnn_backend_get()};
    m->out.data = dst;
    cnn_status s = m->op->forward(m, &ctx);
    m->out.data = planned;
    return s;
}

/* ---------------------------------------------------------------- profile */
cnn_status cnn_graph_profile(const cnn_graph *g, const cnn_node *n, int batch, cnn_layer_profile *p)
{
    if (!g || !n || !p)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "profile: %s is NULL", !g ? "graph" : !n ? "node" : "p");
    if (n->g != g)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "profile: node '%s' is not in this graph", n->name);
    memset(p, 0, sizeof *p);
    p->time = cnn_node_profile_get(n);
    p->fused_into = n->fused_into;
    if (n->gated_into && cnn_layout_active(g, NULL, NULL)) p->fused_into = n->gated_into; /* read by it */
    const cnn_fusion *f = n->fusion;
    for (int j = 0; f && j < f->n_links && j < CNN_PROFILE_MAX_CHAIN; j++) {
        p->chain[j] = f->link[j];
        p->chain_in[j] = f->chain_in[j];
        p->n_chain = j + 1;
    }
    p->layout = cnn_layout_name(f ? f->tail : n);
    char buf[sizeof p->kernel];
    const char *k = n->q ? cnn_backend_provider(conv_forward_s8)
                    : n->op->kernel_name ? n->op->kernel_name(n, batch > 0 ? batch : 1, buf, sizeof buf)
                                         : "ops";
    snprintf(p->kernel, sizeof p->kernel, "%s", k);
    return CNN_OK;
}

/* ---------------------------------------------------------------- observer, fusion */
void cnn_graph_set_observer(cnn_graph *g, cnn_observe_fn fn, void *arg)
{
    if (!g) return;
    g->observe = fn;
    g->observe_arg = fn ? arg : NULL;
}

bool cnn_graph_fusion(const cnn_graph *g) { return g && !g->no_fusion; }

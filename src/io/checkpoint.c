/* A graph's parameters and buffers as a safetensors file, by state_dict name
   (docs/architecture.md, "safetensors"): through the public API only. */
#include <stdio.h>
#include <string.h>

#include "cnn.h"

/* ---------------------------------------------------------------- graph weights */
static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool same_shape(const cnn_tensor *a, const cnn_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

cnn_status cnn_graph_load_weights(cnn_graph *g, const char *path, bool strict)
{
    if (!g || !path) return cnn_set_error(CNN_ERR_INVALID_ARG, "load_weights: NULL argument");
    if (!cnn_graph_compiled(g)) CNN_CHECK(cnn_graph_compile(g, 0));
    cnn_tensor_file *f = NULL;
    CNN_CHECK(cnn_safetensors_load(path, &f));
    cnn_status s = CNN_OK;
    char sa[96], sb[96];
    /* check everything first so a failed load changes nothing */
    for (int i = 0; i < cnn_graph_num_params(g) && s == CNN_OK; i++) {
        const cnn_param *p = cnn_graph_param(g, i);
        cnn_tensor v;
        if (cnn_tensor_file_get(f, p->name, &v) != CNN_OK) {
            if (strict)
                s = cnn_set_error(CNN_ERR_NOT_FOUND, "%s: missing key '%s' (the model's is %s)",
                                  path, p->name,
                                  cnn_shape_str(p->value.ndim, p->value.dims, sa, sizeof sa));
            continue;
        }
        if (!same_shape(&v, &p->value))
            s = cnn_set_error(CNN_ERR_SHAPE, "%s: '%s' has shape %s in the file, the model's is %s",
                              path, p->name, cnn_shape_str(v.ndim, v.dims, sa, sizeof sa),
                              cnn_shape_str(p->value.ndim, p->value.dims, sb, sizeof sb));
    }
    /* a cnn.c checkpoint also holds the optimizer's state ("optim.<state>.<param>"):
       not weights, so not unexpected */
    bool checkpoint = cnn_tensor_file_meta(f, "cnn.model") != NULL;
    for (int i = 0; strict && s == CNN_OK && i < cnn_tensor_file_count(f); i++) {
        const char *name = cnn_tensor_file_name(f, i);
        if (ends_with(name, "num_batches_tracked")) continue;
        if (checkpoint && strncmp(name, "optim.", 6) == 0) continue;
        cnn_tensor v;
        if (!cnn_graph_find_param(g, name) && cnn_tensor_file_get(f, name, &v) == CNN_OK)
            s = cnn_set_error(CNN_ERR_NOT_FOUND,
                              "%s: unexpected key '%s' (shape %s) not in the model", path, name,
                              cnn_shape_str(v.ndim, v.dims, sa, sizeof sa));
    }
    for (int i = 0; i < cnn_graph_num_params(g) && s == CNN_OK; i++) {
        cnn_param *p = cnn_graph_param(g, i);
        cnn_tensor v;
        if (cnn_tensor_file_get(f, p->name, &v) == CNN_OK)
            memcpy(p->value.data, v.data, cnn_tensor_numel(&v) * sizeof(float));
    }
    cnn_graph_weights_changed(g);
    if (s == CNN_OK) cnn_clear_error();
    cnn_tensor_file_free(f);
    return s;
}

cnn_status cnn_graph_save_weights(cnn_graph *g, const char *path, int n_meta,
                                  const char *const *meta)
{
    if (!g || !path) return cnn_set_error(CNN_ERR_INVALID_ARG, "save_weights: NULL argument");
    if (!cnn_graph_compiled(g)) CNN_CHECK(cnn_graph_compile(g, 0));
    int n = cnn_graph_num_params(g);
    cnn_named_tensor *list = cnn_malloc((size_t)(n ? n : 1) * sizeof *list);
    if (!list) return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        list[i] = (cnn_named_tensor){cnn_graph_param(g, i)->name, &cnn_graph_param(g, i)->value};
    cnn_status s = cnn_safetensors_save(path, n, list, n_meta, meta);
    cnn_free(list);
    return s;
}

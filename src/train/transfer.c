/* Transfer learning: loading the parameters of another model that fit (a safetensors
   checkpoint or state_dict, or an ONNX file's initializers), and freezing parameters
   by name (docs/architecture.md, "Input size and transfer learning"). */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "train_internal.h"

static bool same_shape(const cnn_tensor *a, const cnn_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

/* Where the tensors come from: a safetensors file, or the graph an ONNX file imports
   to (its initializers, under their ONNX names, after compile set their values). */
typedef struct weight_source {
    cnn_tensor_file *f;
    cnn_graph *g;
} weight_source;

static bool source_get(const weight_source *s, const char *name, cnn_tensor *v)
{
    if (s->f) return cnn_tensor_file_get(s->f, name, v) == CNN_OK;
    cnn_param *p = cnn_graph_find_param(s->g, name);
    if (p) *v = p->value;
    return p != NULL;
}

static int source_count(const weight_source *s)
{
    return s->f ? cnn_tensor_file_count(s->f) : cnn_graph_num_params(s->g);
}

static const char *source_name(const weight_source *s, int i)
{
    return s->f ? cnn_tensor_file_name(s->f, i) : cnn_graph_param(s->g, i)->name;
}

static void source_free(weight_source *s)
{
    cnn_tensor_file_free(s->f);
    cnn_graph_free(s->g);
}

static cnn_status source_open(const char *path, weight_source *s)
{
    *s = (weight_source){0};
    if (!cnn_onnx_is_path(path)) return cnn_safetensors_load(path, &s->f);
    s->g = cnn_graph_new();
    if (!s->g) return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
    cnn_node *in = NULL, *out = NULL;
    cnn_status st = cnn_onnx_import(s->g, path, NULL, &in, &out);
    if (st == CNN_OK) st = cnn_graph_compile(s->g, 0);
    if (st != CNN_OK) {
        cnn_graph_free(s->g);
        s->g = NULL;
    }
    return st;
}

cnn_status cnn_graph_load_matching(cnn_graph *g, const char *path, cnn_transfer_stats *stats,
                                   void (*note)(void *user, const char *name, const char *why),
                                   void *user)
{
    if (!g || !path) return cnn_set_error(CNN_ERR_INVALID_ARG, "load_matching: NULL argument");
    CNN_CHECK(cnn_graph_compile(g, 0));
    weight_source src;
    CNN_CHECK(source_open(path, &src));
    cnn_transfer_stats st = {0};
    char why[256], sa[96], sb[96];
    int np = cnn_graph_num_params(g);
    /* count first: a file that fits nothing is an error and changes nothing */
    for (int pass = 0; pass < 2; pass++) {
        st = (cnn_transfer_stats){0};
        for (int i = 0; i < np; i++) {
            cnn_param *p = cnn_graph_param(g, i);
            cnn_tensor v;
            if (!source_get(&src, p->name, &v)) {
                st.not_loaded++;
                if (pass && note) note(user, p->name, "not in the file: initialised afresh");
                continue;
            }
            if (!same_shape(&v, &p->value)) {
                st.not_loaded++;
                if (pass && note) {
                    snprintf(why, sizeof why, "shape %s in the file, %s here: initialised afresh",
                             cnn_shape_str(v.ndim, v.dims, sa, sizeof sa),
                             cnn_shape_str(p->value.ndim, p->value.dims, sb, sizeof sb));
                    note(user, p->name, why);
                }
                continue;
            }
            st.loaded++;
            if (pass) memcpy(p->value.data, v.data, cnn_tensor_numel(&v) * sizeof(float));
        }
        if (pass) cnn_graph_weights_changed(g);
        if (pass == 0 && st.loaded == 0) {
            source_free(&src);
            return cnn_set_error(CNN_ERR_NOT_FOUND,
                                 "%s: no tensor matches a parameter of the model by name and shape "
                                 "(%d parameters and buffers; names are PyTorch's state_dict keys)",
                                 path, np);
        }
    }
    bool checkpoint = src.f && cnn_tensor_file_meta(src.f, "cnn.model") != NULL;
    for (int i = 0; i < source_count(&src); i++) {
        const char *name = source_name(&src, i);
        size_t len = strlen(name);
        if (len >= 19 && strcmp(name + len - 19, "num_batches_tracked") == 0) continue;
        if (checkpoint && strncmp(name, "optim.", 6) == 0) continue;
        if (cnn_graph_find_param(g, name)) continue; /* taken, or reported above with its shape */
        st.unused++;
        if (note) note(user, name, "in the file, not in the model: unused");
    }
    source_free(&src);
    if (stats) *stats = st;
    cnn_clear_error();
    return CNN_OK;
}

cnn_status cnn_graph_freeze(cnn_graph *g, const char *patterns, int *n)
{
    if (n) *n = 0;
    if (!g || !patterns) return cnn_set_error(CNN_ERR_INVALID_ARG, "freeze: NULL argument");
    /* the ops' backward still writes every parameter's gradient: a frozen one keeps the
       buffer compile gave it, and only the optimizer leaves it alone */
    if (!cnn_graph_compiled(g))
        return cnn_set_error(CNN_ERR_STATE, "freeze: compile the graph first (cnn_graph_compile)");
    int total = 0;
    const char *p = patterns;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char pat[256];
        if (len == 0 || len >= sizeof pat)
            return cnn_set_error(CNN_ERR_INVALID_ARG, "freeze: empty or too long pattern in '%s'",
                                 patterns);
        memcpy(pat, p, len);
        pat[len] = '\0';
        int k = 0;
        for (int i = 0; i < cnn_graph_num_params(g); i++) {
            cnn_param *q = cnn_graph_param(g, i);
            if (fnmatch(pat, q->name, 0) != 0) continue;
            if (q->trainable) total++;
            q->trainable = false;
            k++;
        }
        if (k == 0)
            return cnn_set_error(CNN_ERR_NOT_FOUND,
                                 "freeze: pattern '%s' matches no parameter (see cnn summary; names "
                                 "like 'features.0.weight', patterns like 'features.*')",
                                 pat);
        p = end ? end + 1 : p + len;
    }
    if (n) *n = total;
    return CNN_OK;
}

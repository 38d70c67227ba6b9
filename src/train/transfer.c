/* Transfer learning: loading the parameters of another model that fit, and freezing
   parameters by name (docs/architecture.md, "Transfer learning"). */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "train_internal.h"

static bool same_shape(const cnn_tensor *a, const cnn_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

cnn_status cnn_graph_load_matching(cnn_graph *g, const char *path, cnn_transfer_stats *stats,
                                   void (*note)(void *user, const char *name, const char *why),
                                   void *user)
{
    if (!g || !path) return cnn_set_error(CNN_ERR_INVALID_ARG, "load_matching: NULL argument");
    CNN_CHECK(cnn_graph_compile(g, 0));
    cnn_tensor_file *f = NULL;
    CNN_CHECK(cnn_safetensors_load(path, &f));
    cnn_transfer_stats st = {0};
    char why[256], sa[96], sb[96];
    int np = cnn_graph_num_params(g);
    /* count first: a file that fits nothing is an error and changes nothing */
    for (int pass = 0; pass < 2; pass++) {
        st = (cnn_transfer_stats){0};
        for (int i = 0; i < np; i++) {
            cnn_param *p = cnn_graph_param(g, i);
            cnn_tensor v;
            if (cnn_tensor_file_get(f, p->name, &v) != CNN_OK) {
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
        if (pass == 0 && st.loaded == 0) {
            cnn_tensor_file_free(f);
            return cnn_set_error(CNN_ERR_NOT_FOUND,
                                 "%s: no tensor matches a parameter of the model by name and shape "
                                 "(%d parameters and buffers; names are PyTorch's state_dict keys)",
                                 path, np);
        }
    }
    bool checkpoint = cnn_tensor_file_meta(f, "cnn.model") != NULL;
    for (int i = 0; i < cnn_tensor_file_count(f); i++) {
        const char *name = cnn_tensor_file_name(f, i);
        size_t len = strlen(name);
        if (len >= 19 && strcmp(name + len - 19, "num_batches_tracked") == 0) continue;
        if (checkpoint && strncmp(name, "optim.", 6) == 0) continue;
        if (cnn_graph_find_param(g, name)) continue; /* taken, or reported above with its shape */
        st.unused++;
        if (note) note(user, name, "in the file, not in the model: unused");
    }
    cnn_tensor_file_free(f);
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
    if (!g->compiled)
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

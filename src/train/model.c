/* cnn_model: a zoo model with its loss, preprocessing and class names, as trained and
   as reloaded from a checkpoint (whose metadata names the model and its options). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

cnn_status cnn_model_new(const char *name, const cnn_model_opts *o, float label_smoothing,
                         cnn_model *m)
{
    memset(m, 0, sizeof *m);
    if (!name) return cnn_set_error(CNN_ERR_INVALID_ARG, "model: no name");
    if (strlen(name) >= sizeof m->name)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "model name or path too long (%zu bytes)", strlen(name));
    snprintf(m->name, sizeof m->name, "%s", name);
    m->opts = o ? *o : (cnn_model_opts){0};
    snprintf(m->set_buf, sizeof m->set_buf, "%s", m->opts.set ? m->opts.set : "");
    m->opts.set = m->set_buf;
    if (m->opts.batch <= 0) m->opts.batch = 1;
    m->g = cnn_graph_new();
    if (!m->g) return CNN_ERR_NOMEM;
    cnn_status s = cnn_model_build(m->g, name, &m->opts, &m->input, &m->logits);
    if (s != CNN_OK) goto fail;
    /* record the resolved input size so checkpoints rebuild the same model */
    cnn_tensor in = cnn_node_value(m->input);
    m->opts.channels = in.dims[1];
    if (in.ndim == 5) {
        m->opts.depth = in.dims[2];
        m->opts.height = in.dims[3];
        m->opts.width = in.dims[4];
    } else {
        m->opts.height = in.dims[2];
        m->opts.width = in.dims[3];
    }
    if (cnn_node_value(m->logits).ndim != 2 && cnn_onnx_is_path(name))
        return CNN_OK; /* an imported network without (N, classes) logits: inference only
                          (no labels, no loss, classes 0) */
    m->classes = cnn_node_value(m->logits).dims[1];
    m->opts.classes = m->classes;
    m->labels = cnn_labels(m->g, "labels", m->opts.batch);
    m->loss = cnn_cross_entropy(m->g, m->logits, m->labels, .label_smoothing = label_smoothing);
    if (!m->loss) {
        s = cnn_set_error(cnn_graph_status(m->g), "%s", cnn_graph_error(m->g));
        goto fail;
    }
    return CNN_OK;
fail:
    cnn_graph_free(m->g);
    m->g = NULL;
    return s;
}

void cnn_model_free(cnn_model *m)
{
    if (!m) return;
    cnn_graph_free(m->g);
    if (m->class_names) {
        for (int i = 0; i < m->classes; i++) cnn_free(m->class_names[i]);
        cnn_free(m->class_names);
    }
    memset(m, 0, sizeof *m);
}

cnn_status cnn_model_set_class_names(cnn_model *m, char *const *names)
{
    if (!names) return CNN_OK;
    m->class_names = cnn_calloc((size_t)m->classes, sizeof *m->class_names);
    if (!m->class_names) return cnn_set_error(CNN_ERR_NOMEM, "model: out of memory");
    for (int i = 0; i < m->classes; i++) {
        m->class_names[i] = cnn_strdup(names[i] ? names[i] : "");
        if (!m->class_names[i]) return cnn_set_error(CNN_ERR_NOMEM, "model: out of memory");
    }
    return CNN_OK;
}

cnn_status cnn_model_load_image(const cnn_model *m, const char *path, float *out)
{
    cnn_tensor in = cnn_node_value(m->input);
    if (in.ndim != 4)
        return cnn_set_error(CNN_ERR_UNSUPPORTED, "model '%s' does not take 2D images", m->name);
    int C = in.dims[1], H = in.dims[2], W = in.dims[3];
    CNN_CHECK(cnn_image_load(path, C, H, W, out));
    if (!m->transform.normalize) return CNN_OK;
    for (int c = 0; c < C; c++) {
        float mean = m->transform.mean[c < 4 ? c : 0], std = m->transform.std[c < 4 ? c : 0];
        for (size_t k = 0; k < (size_t)H * W; k++) out[(size_t)c * H * W + k] = (out[(size_t)c * H * W + k] - mean) / std;
    }
    return CNN_OK;
}

/* ---------------------------------------------------------------- metadata */
static void put(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

int cnn_model_meta(const cnn_model *m, char meta[][2][CNN_META_LEN], int max)
{
    int k = 0;
#define KV(key, ...)                                         \
    do {                                                     \
        if (k < max) {                                       \
            put(meta[k][0], CNN_META_LEN, "%s", key);        \
            put(meta[k][1], CNN_META_LEN, __VA_ARGS__);      \
            k++;                                             \
        }                                                    \
    } while (0)
    const cnn_model_opts *o = &m->opts;
    KV("format", "pt");
    KV("cnn.version", "%s", CNN_VERSION);
    KV("cnn.model", "%s", m->name);
    KV("cnn.input", "%d,%d,%d,%d", o->channels, o->depth, o->height, o->width);
    KV("cnn.classes", "%d", m->classes);
    KV("cnn.width_mult", "%.9g", (double)(o->width_mult > 0 ? o->width_mult : 1.0f));
    KV("cnn.set", "%s", o->set ? o->set : "");
    const cnn_transform *t = &m->transform;
    KV("cnn.resize", "%d,%d", t->resize_h, t->resize_w);
    KV("cnn.normalize", "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g", t->normalize ? 1 : 0, (double)t->mean[0],
       (double)t->mean[1], (double)t->mean[2], (double)t->std[0], (double)t->std[1], (double)t->std[2]);
    if (m->class_names) {
        char names[CNN_META_LEN];
        size_t pos = 0;
        names[0] = '\0';
        for (int i = 0; i < m->classes && pos < sizeof names - 2; i++)
            pos += (size_t)snprintf(names + pos, sizeof names - pos, "%s%s", i ? "\n" : "",
                                    m->class_names[i]);
        KV("cnn.class_names", "%s", names);
    }
#undef KV
    return k;
}

static int meta_int(const cnn_tensor_file *f, const char *key, int dflt)
{
    const char *v = cnn_tensor_file_meta(f, key);
    return v ? atoi(v) : dflt;
}

cnn_status cnn_model_load(const char *checkpoint, int batch, cnn_model *m)
{
    memset(m, 0, sizeof *m);
    if (cnn_onnx_is_path(checkpoint)) /* the model with the file's weights */
        return cnn_model_new(checkpoint, &(cnn_model_opts){.batch = batch > 0 ? batch : 1}, 0.0f, m);
    cnn_tensor_file *f = NULL;
    CNN_CHECK(cnn_safetensors_load(checkpoint, &f));
    const char *name = cnn_tensor_file_meta(f, "cnn.model");
    const char *input = cnn_tensor_file_meta(f, "cnn.input");
    if (!name || !input) {
        cnn_tensor_file_free(f);
        return cnn_set_error(CNN_ERR_FORMAT,
                             "%s: not a cnn.c checkpoint (no cnn.model / cnn.input metadata); "
                             "use 'cnn forward MODEL --weights' for plain weight files",
                             checkpoint);
    }
    cnn_model_opts o = {.batch = batch > 0 ? batch : 1};
    if (sscanf(input, "%d,%d,%d,%d", &o.channels, &o.depth, &o.height, &o.width) != 4) {
        cnn_tensor_file_free(f);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: bad cnn.input metadata '%s'", checkpoint, input);
    }
    o.classes = meta_int(f, "cnn.classes", 0);
    const char *wm = cnn_tensor_file_meta(f, "cnn.width_mult");
    o.width_mult = wm ? (float)atof(wm) : 1.0f;
    o.set = cnn_tensor_file_meta(f, "cnn.set");
    char model_name[sizeof m->name];
    snprintf(model_name, sizeof model_name, "%s", name);
    cnn_status s = cnn_model_new(model_name, &o, 0.0f, m);
    if (s != CNN_OK) {
        cnn_tensor_file_free(f);
        return s;
    }
    const char *rs = cnn_tensor_file_meta(f, "cnn.resize");
    if (rs) sscanf(rs, "%d,%d", &m->transform.resize_h, &m->transform.resize_w);
    const char *nm = cnn_tensor_file_meta(f, "cnn.normalize");
    if (nm) {
        int on = 0;
        sscanf(nm, "%d,%f,%f,%f,%f,%f,%f", &on, &m->transform.mean[0], &m->transform.mean[1],
               &m->transform.mean[2], &m->transform.std[0], &m->transform.std[1],
               &m->transform.std[2]);
        m->transform.normalize = on != 0;
    }
    const char *cn = cnn_tensor_file_meta(f, "cnn.class_names");
    if (cn) {
        m->class_names = cnn_calloc((size_t)m->classes, sizeof *m->class_names);
        const char *p = cn;
        for (int i = 0; m->class_names && i < m->classes; i++) {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            m->class_names[i] = cnn_malloc(len + 1);
            if (m->class_names[i]) {
                memcpy(m->class_names[i], p, len);
                m->class_names[i][len] = '\0';
            }
            p = e ? e + 1 : p + len;
        }
    }
    s = cnn_graph_load_weights(m->g, checkpoint, false);
    if (s == CNN_OK && cnn_tensor_file_meta(f, "cnn.quant")) s = cnn_model_quant_load(m, f, checkpoint);
    cnn_tensor_file_free(f);
    if (s != CNN_OK) cnn_model_free(m);
    return s;
}

/* ---------------------------------------------------------------- evaluation */
int cnn_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

cnn_status cnn_evaluate(cnn_model *m, const cnn_dataset *d, int limit, cnn_metrics *out)
{
    if (!m->loss)
        return cnn_set_error(CNN_ERR_UNSUPPORTED, "model '%s': its output is not (N, classes) logits",
                             m->name);
    CNN_CHECK(cnn_metrics_init(out, m->classes));
    cnn_dataset view;
    cnn_loader *l = NULL;
    cnn_status s = cnn_model_eval_loader(m, d, limit, &view, &l);
    bool was_training = cnn_graph_training(m->g);
    cnn_graph_set_training(m->g, false);
    double loss_sum = 0.0;
    while (s == CNN_OK) {
        const float *y;
        int n = 0;
        s = cnn_model_next_batch(m, l, &y, &n);
        if (s != CNN_OK || n == 0) break;
        s = cnn_graph_set_input(m->g, m->labels, y, n);
        if (s == CNN_OK) s = cnn_graph_forward(m->g);
        if (s != CNN_OK) break;
        loss_sum += (double)cnn_node_value(m->loss).data[0] * n;
        const float *z = cnn_node_value(m->logits).data;
        for (int i = 0; i < n; i++)
            cnn_metrics_add(out, (int)y[i], cnn_argmax(z + (size_t)i * m->classes, m->classes));
    }
    cnn_graph_set_training(m->g, was_training);
    cnn_loader_free(l);
    if (s != CNN_OK) {
        cnn_metrics_free(out);
        return s;
    }
    out->loss = out->total ? loss_sum / (double)out->total : 0.0;
    cnn_metrics_finish(out);
    return CNN_OK;
}

cnn_status cnn_model_next_batch(cnn_model *m, cnn_loader *l, const float **y, int *n)
{
    const float *x;
    *n = 0;
    cnn_status s = cnn_loader_next(l, &x, y, n);
    if (s != CNN_OK || *n == 0) return s;
    return cnn_graph_set_input(m->g, m->input, x, *n);
}

cnn_status cnn_model_eval_loader(const cnn_model *m, const cnn_dataset *d, int limit,
                                 cnn_dataset *view, cnn_loader **l)
{
    *view = *d;
    if (limit > 0 && limit < view->n) view->n = limit;
    *l = NULL;
    cnn_status s = cnn_loader_new(view, m->opts.batch, false, false, &m->transform, 0, l);
    if (s == CNN_OK) s = cnn_model_check_data(m, *l);
    if (s == CNN_OK) s = cnn_loader_start_epoch(*l, 0);
    return s;
}

cnn_status cnn_model_check_data(const cnn_model *m, const cnn_loader *l)
{
    int c, d, h, w;
    cnn_loader_shape(l, &c, &d, &h, &w);
    cnn_tensor in = cnn_node_value(m->input);
    int mc = in.dims[1], md = in.ndim == 5 ? in.dims[2] : 0;
    int mh = in.dims[in.ndim - 2], mw = in.dims[in.ndim - 1];
    if (c != mc || d != md || h != mh || w != mw)
        return cnn_set_error(CNN_ERR_SHAPE,
                             "model '%s' takes %dx%s%dx%d inputs but the data gives %dx%s%dx%d "
                             "(use --resize HxW or --input CxHxW)",
                             m->name, mc, md ? "D" : "", mh, mw, c, d ? "D" : "", h, w);
    return CNN_OK;
}

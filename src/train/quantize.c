/* Post-training int8 quantization of a model (docs/architecture.md, "int8
   precision"): calibration of per-tensor activation scales over examples of a data
   set, the quantization of every conv / linear node (src/graph/quant.c), and the
   quantized checkpoint (save and load). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "train_internal.h"

#define BINS 2048

typedef struct calib {
    cnn_graph *g;
    bool *want;     /* per node id: quantize this node */
    float *amax;    /* per node id: max |x| of its input */
    double *hist;   /* per node id: BINS counts of |x| (pass 2) */
    int pass;       /* 1: amax, 2: histograms */
    bool bad_input; /* a NaN / Inf activation was seen */
    const char *bad_node;
} calib;

/* The executor's observer (cnn_graph_set_observer): v's input, before v runs. */
static void observe(void *arg, const cnn_node *v)
{
    calib *c = arg;
    int id = cnn_node_index(v);
    if (!c->want[id]) return;
    cnn_tensor in = cnn_node_value(cnn_node_input(v, 0));
    const float *x = in.data;
    size_t n = cnn_tensor_numel(&in);
    if (c->pass == 1) {
        float a = c->amax[id];
        for (size_t i = 0; i < n; i++) {
            float f = fabsf(x[i]);
            if (!isfinite(f)) {
                c->bad_input = true;
                c->bad_node = cnn_node_name(v);
                continue;
            }
            if (f > a) a = f;
        }
        c->amax[id] = a;
        return;
    }
    double *h = c->hist + (size_t)id * BINS;
    float a = c->amax[id];
    if (!(a > 0.0f)) return;
    float scale = (float)BINS / a;
    for (size_t i = 0; i < n; i++) {
        float f = fabsf(x[i]);
        if (f == 0.0f || !isfinite(f)) continue; /* zeros are skipped, as ncnn does */
        int b = (int)(f * scale);
        h[b < BINS ? b : BINS - 1] += 1.0;
    }
}

static bool name_in_list(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == len && strncmp(p, name, l) == 0) return true;
        p = e ? e + 1 : p + l;
    }
    return false;
}

/* Every name of the list must be a layer of g. */
static cnn_status check_names(const cnn_graph *g, const char *list)
{
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)(l < sizeof name - 1 ? l : sizeof name - 1), p);
        if (l && !cnn_graph_find(g, name))
            return cnn_set_error(CNN_ERR_NOT_FOUND,
                                 "keep-float: the model has no layer '%s' (see 'cnn summary' for "
                                 "the names)",
                                 name);
        p = e ? e + 1 : p + l;
    }
    return CNN_OK;
}

static cnn_status run_pass(cnn_model *m, const cnn_dataset *d, int n, calib *c)
{
    cnn_dataset view;
    cnn_loader *l = NULL;
    cnn_status s = cnn_model_eval_loader(m, d, n, &view, &l); /* 1 <= n <= d->n */
    cnn_graph_set_observer(m->g, observe, c);
    while (s == CNN_OK) {
        const float *y;
        int b = 0;
        s = cnn_model_next_batch(m, l, &y, &b);
        if (s != CNN_OK || b == 0) break;
        s = cnn_graph_forward_until(m->g, m->logits);
    }
    cnn_graph_set_observer(m->g, NULL, NULL);
    cnn_loader_free(l);
    return s;
}

cnn_status cnn_model_quantize(cnn_model *m, const cnn_dataset *d, int n, const cnn_quant_opts *o)
{
    cnn_quant_opts opts = o ? *o : (cnn_quant_opts){0};
    if (!m || !m->g || !d) return cnn_set_error(CNN_ERR_INVALID_ARG, "quantize: NULL argument");
    if (n < 1 || n > d->n)
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "quantize: %d calibration examples asked for, the data set (%s) has %d",
                             n, d->source, d->n);
    if (opts.method == CNN_CALIB_PERCENTILE && opts.percentile == 0.0f) opts.percentile = 99.99f;
    if (!(opts.percentile >= 0.0f && opts.percentile <= 100.0f) ||
        (opts.method == CNN_CALIB_PERCENTILE && opts.percentile < 50.0f))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "quantize: percentile %g must be in 50..100",
                             (double)opts.percentile);
    cnn_graph *g = m->g;
    if (!cnn_graph_compiled(g)) CNN_CHECK(cnn_graph_compile(g, 0));
    CNN_CHECK(check_names(g, opts.keep_float));
    if (cnn_graph_num_int8(g))
        return cnn_set_error(CNN_ERR_STATE, "quantize: the model is already quantized");
    /* refuse NaN / Inf anywhere in the weights before any work */
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        const cnn_param *p = cnn_graph_param(g, i);
        size_t k = cnn_tensor_numel(&p->value);
        for (size_t j = 0; j < k; j++)
            if (!isfinite(p->value.data[j]))
                return cnn_set_error(CNN_ERR_INVALID_ARG,
                                     "quantize: '%s' element %zu is %g: refusing to quantize "
                                     "a model with NaN/Inf weights",
                                     p->name, j, (double)p->value.data[j]);
    }
    int nn = cnn_graph_num_nodes(g);
    calib c = {.g = g};
    c.want = cnn_calloc((size_t)nn, sizeof *c.want);
    c.amax = cnn_calloc((size_t)nn, sizeof *c.amax);
    c.hist = opts.method != CNN_CALIB_MINMAX ? cnn_calloc((size_t)nn * BINS, sizeof *c.hist) : NULL;
    cnn_status s = CNN_OK;
    if (!c.want || !c.amax || (opts.method != CNN_CALIB_MINMAX && !c.hist))
        s = cnn_set_error(CNN_ERR_NOMEM, "quantize: out of memory");
    int wanted = 0;
    for (int i = 0; s == CNN_OK && i < nn; i++) {
        cnn_node *v = cnn_graph_node(g, i);
        c.want[i] = cnn_node_quant_info(v).capable && cnn_node_num_params(v) >= 1 &&
                    i <= cnn_node_index(m->logits) && !name_in_list(opts.keep_float, cnn_node_name(v));
        wanted += c.want[i];
    }
    bool was_training = cnn_graph_training(g), fusion = cnn_graph_fusion(g);
    cnn_graph_set_training(g, false);
    if (s == CNN_OK) s = cnn_graph_set_fusion(g, false); /* every value stays observable */
    if (s == CNN_OK && wanted) {
        c.pass = 1;
        s = run_pass(m, d, n, &c);
        if (s == CNN_OK && c.bad_input)
            s = cnn_set_error(CNN_ERR_INVALID_ARG,
                              "quantize: the input of layer '%s' has NaN/Inf values on the "
                              "calibration data",
                              c.bad_node);
        if (s == CNN_OK && c.hist) {
            c.pass = 2;
            s = run_pass(m, d, n, &c);
        }
    }
    /* all scales first, then quantize: a failure leaves the model float */
    float *scale = cnn_calloc((size_t)nn, sizeof *scale);
    if (s == CNN_OK && !scale) s = cnn_set_error(CNN_ERR_NOMEM, "quantize: out of memory");
    for (int i = 0; s == CNN_OK && i < nn; i++) {
        if (!c.want[i]) continue;
        float t = c.amax[i];
        if (c.hist)
            t = cnn_calib_threshold(c.hist + (size_t)i * BINS, BINS, c.amax[i],
                                    opts.method == CNN_CALIB_PERCENTILE ? 1 : 2, opts.percentile);
        scale[i] = t > 0.0f ? t / 127.0f : 1.0f;
    }
    for (int i = 0; s == CNN_OK && i < nn; i++) {
        if (!c.want[i]) continue;
        s = cnn_node_set_int8(cnn_graph_node(g, i), scale[i], NULL, NULL);
    }
    if (s != CNN_OK) /* undo: drop int8 state (weights were only replaced on success) */
        for (int i = 0; i < nn; i++) cnn_node_clear_int8(cnn_graph_node(g, i));
    cnn_free(scale);
    cnn_free(c.want);
    cnn_free(c.amax);
    cnn_free(c.hist);
    cnn_status s2 = cnn_graph_set_fusion(g, fusion);
    cnn_graph_set_training(g, was_training);
    return s != CNN_OK ? s : s2;
}

cnn_status cnn_model_save_quantized(const cnn_model *m, const char *path)
{
    if (!m || !m->g || !path) return cnn_set_error(CNN_ERR_INVALID_ARG, "save: NULL argument");
    cnn_graph *g = m->g;
    static char meta[CNN_META_MAX][2][CNN_META_LEN];
    int k = cnn_model_meta(m, meta, CNN_META_MAX - 2);
    snprintf(meta[k][0], CNN_META_LEN, "cnn.quant");
    snprintf(meta[k++][1], CNN_META_LEN, "int8");
    const char *kv[2 * CNN_META_MAX];
    for (int i = 0; i < k; i++) {
        kv[2 * i] = meta[i][0];
        kv[2 * i + 1] = meta[i][1];
    }
    int nq = cnn_graph_num_int8(g), np = cnn_graph_num_params(g), nt = np + 2 * nq;
    cnn_named_tensor *ts = cnn_calloc((size_t)nt + 1, sizeof *ts);
    bool *i8 = cnn_calloc((size_t)nt + 1, sizeof *i8);
    cnn_tensor *extra = cnn_calloc((size_t)(3 * nq) + 1, sizeof *extra);
    char **names = cnn_calloc((size_t)(2 * nq) + 1, sizeof *names);
    float *in_scales = cnn_calloc((size_t)nq + 1, sizeof *in_scales);
    float *ints = NULL;
    size_t n_ints = 0;
    for (int i = 0; i < cnn_graph_num_nodes(g); i++)
        n_ints += cnn_node_quant_info(cnn_graph_node(g, i)).weight_elems;
    ints = cnn_malloc((n_ints ? n_ints : 1) * sizeof *ints);
    cnn_status s = CNN_OK;
    if (!ts || !i8 || !extra || !names || !in_scales || !ints)
        s = cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
    int t = 0, e = 0, nn = 0;
    size_t off = 0;
    for (int i = 0; s == CNN_OK && i < np; i++) {
        cnn_param *p = cnn_graph_param(g, i);
        ts[t++] = (cnn_named_tensor){p->name, &p->value};
    }
    for (int i = 0; s == CNN_OK && i < cnn_graph_num_nodes(g); i++) {
        const cnn_node *v = cnn_graph_node(g, i);
        cnn_node_quant q = cnn_node_quant_info(v);
        if (!q.int8) continue;
        cnn_param *w = cnn_node_param_at(v, 0);
        size_t numel = cnn_tensor_numel(&w->value);
        const char *vname = cnn_node_name(v);
        /* the weight entry becomes the int8 integers */
        for (int j = 0; j < np; j++)
            if (ts[j].tensor == &w->value) {
                cnn_tensor *iv = &extra[e++];
                *iv = w->value;
                iv->data = ints + off;
                for (size_t w8 = 0; w8 < numel; w8++) ints[off + w8] = (float)q.weight[w8];
                off += numel;
                ts[j].tensor = iv;
                i8[j] = true;
            }
        size_t len = strlen(vname) + 16;
        names[nn] = cnn_malloc(len);
        names[nn + 1] = cnn_malloc(len);
        if (!names[nn] || !names[nn + 1]) {
            s = cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        snprintf(names[nn], len, "%s.weight_scale", vname);
        snprintf(names[nn + 1], len, "%s.input_scale", vname);
        cnn_tensor *ws = &extra[e++], *is = &extra[e++];
        int C = q.channels, one = 1;
        in_scales[nn / 2] = q.input_scale;
        /* written, not modified: the tensor type has no const data */
        *ws = (cnn_tensor){.ndim = 1, .dims = {C}, .data = (float *)q.weight_scale};
        *is = (cnn_tensor){.ndim = 1, .dims = {one}, .data = &in_scales[nn / 2]};
        ts[t++] = (cnn_named_tensor){names[nn], ws};
        ts[t++] = (cnn_named_tensor){names[nn + 1], is};
        nn += 2;
    }
    if (s == CNN_OK) s = cnn_safetensors_save_i8(path, t, ts, i8, k, kv);
    for (int i = 0; names && i < nn + 2 && i < 2 * nq + 1; i++) cnn_free(names[i]);
    cnn_free(names);
    cnn_free(ts);
    cnn_free(i8);
    cnn_free(extra);
    cnn_free(in_scales);
    cnn_free(ints);
    return s;
}

/* After cnn_graph_load_weights of a quantized checkpoint: the weight params hold the
   int8 integers; make those nodes int8 with the file's scales. */
cnn_status cnn_model_quant_load(cnn_model *m, const cnn_tensor_file *f, const char *path)
{
    cnn_graph *g = m->g;
    cnn_status s = CNN_OK;
    char name[1024]; /* node names are shorter (the builder's scope limit) */
    for (int i = 0; s == CNN_OK && i < cnn_graph_num_nodes(g); i++) {
        cnn_node *v = cnn_graph_node(g, i);
        const char *vname = cnn_node_name(v);
        cnn_tensor is, ws;
        snprintf(name, sizeof name, "%s.input_scale", vname);
        if (cnn_tensor_file_get(f, name, &is) != CNN_OK) continue;
        snprintf(name, sizeof name, "%s.weight_scale", vname);
        if (!cnn_node_quant_info(v).capable || cnn_node_num_params(v) < 1)
            s = cnn_set_error(CNN_ERR_FORMAT, "%s: layer '%s' (%s) has an input scale but no int8 kernel",
                              path, vname, cnn_node_op(v));
        else if (cnn_tensor_file_get(f, name, &ws) != CNN_OK)
            s = cnn_set_error(CNN_ERR_FORMAT, "%s: no '%s' for the int8 layer '%s'", path, name,
                              vname);
        else if (cnn_tensor_numel(&is) != 1 || ws.ndim != 1 ||
                 ws.dims[0] != cnn_node_param_at(v, 0)->value.dims[0])
            s = cnn_set_error(CNN_ERR_FORMAT, "%s: scales of '%s' have the wrong shape", path, vname);
        if (s != CNN_OK) break;
        /* the weights as loaded are the integers; copy them out before quantize
           overwrites the param with the dequantized values */
        cnn_param *w = cnn_node_param_at(v, 0);
        size_t numel = cnn_tensor_numel(&w->value);
        float *ints = cnn_malloc(numel * sizeof *ints);
        if (!ints) {
            s = cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        memcpy(ints, w->value.data, numel * sizeof *ints);
        s = cnn_node_set_int8(v, is.data[0], ints, ws.data);
        if (s != CNN_OK) {
            memcpy(w->value.data, ints, numel * sizeof *ints);
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", cnn_error_message());
            s = cnn_set_error(s, "%s: %s", path, msg);
        }
        cnn_free(ints);
    }
    return s;
}

/* The model registry: names -> builders, family options, shared helpers. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "zoo.h"

static const cnn_zoo_entry *const g_families[] = {
    cnn_zoo_lenet,  cnn_zoo_alexnet, cnn_zoo_vgg,      cnn_zoo_nin,
    cnn_zoo_googlenet, cnn_zoo_resnet, cnn_zoo_senet,  cnn_zoo_cbam,
    cnn_zoo_densenet, cnn_zoo_mobilenet, cnn_zoo_shufflenet, cnn_zoo_hybridsn,
    cnn_zoo_squeezenet,
};
#define N_FAMILIES (int)(sizeof g_families / sizeof g_families[0])

static const cnn_zoo_entry *entry_at(int i)
{
    for (int f = 0; f < N_FAMILIES; f++)
        for (const cnn_zoo_entry *e = g_families[f]; e->info.name; e++)
            if (i-- == 0) return e;
    return NULL;
}

int cnn_model_count(void)
{
    int n = 0;
    for (int f = 0; f < N_FAMILIES; f++)
        for (const cnn_zoo_entry *e = g_families[f]; e->info.name; e++) n++;
    return n;
}

const cnn_model_info *cnn_model_at(int i)
{
    const cnn_zoo_entry *e = i >= 0 ? entry_at(i) : NULL;
    return e ? &e->info : NULL;
}

static const cnn_zoo_entry *find(const char *name)
{
    for (int f = 0; name && f < N_FAMILIES; f++)
        for (const cnn_zoo_entry *e = g_families[f]; e->info.name; e++)
            if (strcmp(e->info.name, name) == 0) return e;
    return NULL;
}

const cnn_model_info *cnn_model_find(const char *name)
{
    const cnn_zoo_entry *e = find(name);
    return e ? &e->info : NULL;
}

cnn_status cnn_model_build(cnn_graph *g, const char *name, const cnn_model_opts *o,
                           cnn_node **input, cnn_node **logits)
{
    if (!g) return cnn_set_error(CNN_ERR_INVALID_ARG, "model: graph is NULL");
    if (cnn_onnx_is_path(name)) {
        /* an ONNX file: the options give the batch and symbolic input dims; any output
           shape (docs/architecture.md, "ONNX import") */
        cnn_onnx_import_opts io = {0};
        if (o) io = (cnn_onnx_import_opts){.batch = o->batch, .channels = o->channels,
                                           .depth = o->depth, .height = o->height,
                                           .width = o->width};
        return cnn_onnx_import(g, name, &io, input, logits);
    }
    const cnn_zoo_entry *e = find(name);
    if (!e) {
        char list[2048] = "";
        size_t pos = 0;
        for (int i = 0; i < cnn_model_count() && pos < sizeof list - 40; i++)
            pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s%s", i ? ", " : "",
                                    cnn_model_at(i)->name);
        return cnn_set_error(CNN_ERR_NOT_FOUND, "model '%s' is unknown (known: %s)",
                             name ? name : "(null)", list);
    }
    if (cnn_graph_num_nodes(g)) return cnn_set_error(CNN_ERR_STATE, "model '%s': the graph is not empty", name);
    cnn_model_opts d = o ? *o : (cnn_model_opts){0};
    char opt_error[256] = "";
    cnn_zoo_args a = {
        .opt_error = opt_error,
        .batch = d.batch > 0 ? d.batch : 1,
        .channels = d.channels > 0 ? d.channels : e->info.channels,
        .depth = d.depth > 0 ? d.depth : e->info.depth,
        .height = d.height > 0 ? d.height : e->info.height,
        .width = d.width > 0 ? d.width : e->info.width,
        .classes = d.classes > 0 ? d.classes : e->info.classes,
        .width_mult = d.width_mult > 0 ? d.width_mult : 1.0f,
        .set = d.set ? d.set : "",
        .model = e->info.name,
        .variant = e->variant,
    };
    if (d.batch < 0 || d.channels < 0 || d.height < 0 || d.width < 0 || d.classes < 0 ||
        d.depth < 0 || d.width_mult < 0)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "model '%s': negative option", name);
    cnn_node *x;
    if (a.depth > 0)
        x = cnn_input(g, "input", 5, (int[]){a.batch, a.channels, a.depth, a.height, a.width});
    else
        x = cnn_input(g, "input", 4, (int[]){a.batch, a.channels, a.height, a.width});
    cnn_node *y = x ? e->build(g, x, &a) : NULL;
    if (opt_error[0]) return cnn_set_error(CNN_ERR_INVALID_ARG, "model '%s': %s", name, opt_error);
    if (!y) {
        cnn_status s = cnn_graph_status(g);
        if (s == CNN_OK) s = cnn_set_error(CNN_ERR_STATE, "model '%s': builder failed", name);
        const char *err = cnn_graph_error(g);
        if (strncmp(err, name, strlen(name)) == 0) return cnn_set_error(s, "%s", err);
        return cnn_set_error(s, "model '%s': %s", name, err);
    }
    if (cnn_node_ndim(y) != 2) {
        char shape[96];
        cnn_tensor v = cnn_node_value(y);
        return cnn_set_error(CNN_ERR_SHAPE, "model '%s': output %s is not (N, classes)", name,
                             cnn_shape_str(v.ndim, v.dims, shape, sizeof shape));
    }
    cnn_graph_mark_output(g, y);
    if (input) *input = x;
    if (logits) *logits = y;
    return CNN_OK;
}

/* What `cnn models` and `cnn help MODEL` list; a builder rejects anything else. */
#define DENSENET_OPTS                                                                          \
    "--set growth=K, bottleneck=0|1 (DenseNet-B's 1x1 convs; default 1), theta=F (transition " \
    "compression, DenseNet-C; default 0.5); default growth "
#define V3_OPTS                                                                                \
    "--width ALPHA (widths made divisible by 8; default 1); --set reduced_tail=1 (last stage "  \
    "halved), dilated=1 (last stage at dilation 2)"
static const struct {
    const char *name, *options;
} g_options[] = {
    {"lenet_relu", "--set softmax=0|1 (append the seed's nn.Softmax; default 0)"},
    {"mynet", "--set softmax=0|1 (append the seed's nn.Softmax; default 0)"},
    {"vgg11_d2l", "--set ratio=N (channels divided by N, 1..64; default 4)"},
    {"densenet121", DENSENET_OPTS "32"},
    {"densenet161", DENSENET_OPTS "48"},
    {"densenet169", DENSENET_OPTS "32"},
    {"densenet201", DENSENET_OPTS "32"},
    {"mobilenet_v1", "--width ALPHA (every width int(c * alpha); default 1); --set shallow=1 (the "
                     "paper's Shallow MobileNet), conv=1 (its full-convolution baseline)"},
    {"mobilenet_v1_keras", "--set softmax=0|1 (append the note's softmax; default 0)"},
    {"mobilenet_v2", "--width ALPHA (widths made divisible by 8; default 1); --set seed_last=1 "
                     "(last channels _make_divisible(1280 * alpha) also below 1, as the seed)"},
    {"mobilenet_v3_large", V3_OPTS},
    {"mobilenet_v3_small", V3_OPTS},
    {"shufflenet_v1", "--set groups=1|2|3|4|8 (default 3); --width 0.25|0.5|1|1.5|2 (scale s)"},
    {"hybridsn", "--set dropout=P (default 0.4), bn=0|1 (0: the paper's network without batch "
                 "norm; default 1)"},
};

const char *cnn_model_options(const char *name)
{
    if (!find(name)) return NULL;
    for (size_t i = 0; i < sizeof g_options / sizeof g_options[0]; i++)
        if (!strcmp(g_options[i].name, name)) return g_options[i].options;
    return "";
}

/* ---------------------------------------------------------------- options */
/* Finds key in "k=v,k=v"; copies the value into buf. */
static bool lookup(const char *set, const char *key, char *buf, size_t size)
{
    size_t kl = strlen(key);
    const char *p = set;
    while (p && *p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        const char *eq = strchr(p, '=');
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if (eq && eq < end && (size_t)(eq - p) == kl && strncmp(p, key, kl) == 0) {
            size_t vl = (size_t)(end - eq - 1);
            if (vl >= size) vl = size - 1;
            memcpy(buf, eq + 1, vl);
            buf[vl] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

static void opt_bad(const cnn_zoo_args *a, const char *key, const char *v, const char *what)
{
    if (a->opt_error && !a->opt_error[0])
        snprintf(a->opt_error, 256, "option %s='%s' is not %s", key, v, what);
}

int cnn_zoo_opt_int(const cnn_zoo_args *a, const char *key, int dflt)
{
    char buf[64];
    if (!lookup(a->set, key, buf, sizeof buf)) return dflt;
    char *end = NULL;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (!buf[0] || isspace((unsigned char)buf[0]) || *end || errno || v < INT_MIN || v > INT_MAX) {
        opt_bad(a, key, buf, "an integer in int range");
        return dflt;
    }
    return (int)v;
}

float cnn_zoo_opt_float(const cnn_zoo_args *a, const char *key, float dflt)
{
    char buf[64];
    if (!lookup(a->set, key, buf, sizeof buf)) return dflt;
    char *end = NULL;
    double v = strtod(buf, &end);
    if (!buf[0] || isspace((unsigned char)buf[0]) || *end || !isfinite(v) || fabs(v) > 3.4e38) {
        opt_bad(a, key, buf, "a finite number");
        return dflt;
    }
    return (float)v;
}

cnn_node *cnn_zoo_fail(cnn_graph *g, cnn_status s, const char *fmt, ...)
{
    char msg[768];
    CNN_VFORMAT(msg, fmt);
    cnn_graph_fail(g, s, "%s", msg);
    return NULL;
}

bool cnn_zoo_check_keys(cnn_graph *g, const char *model, const cnn_zoo_args *a,
                        const char *const *keys)
{
    const char *p = a->set;
    while (p && *p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t kl = eq ? (size_t)(eq - p) : (size_t)(end - p);
        bool ok = eq != NULL;
        if (ok) {
            ok = false;
            for (int i = 0; keys && keys[i]; i++)
                if (strlen(keys[i]) == kl && strncmp(keys[i], p, kl) == 0) ok = true;
        }
        if (!ok) {
            char known[256] = "";
            size_t pos = 0;
            for (int i = 0; keys && keys[i] && pos < sizeof known - 32; i++)
                pos += (size_t)snprintf(known + pos, sizeof known - pos, "%s%s", i ? ", " : "", keys[i]);
            cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "%s: option '%.*s' is not key=value with a known key (%s)",
                         model, (int)(end - p), p, pos ? known : "this model has none");
            return false;
        }
        p = end;
    }
    return true;
}

bool cnn_zoo_no_width(cnn_graph *g, const char *model, const cnn_zoo_args *a)
{
    if (a->width_mult > 1.0f - 1e-6f && a->width_mult < 1.0f + 1e-6f) return true;
    cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "%s: width multiplier %g is not supported (only 1)", model,
                 (double)a->width_mult);
    return false;
}

bool cnn_zoo_plain_options(cnn_graph *g, const cnn_zoo_args *a, const char *model)
{
    return cnn_zoo_check_keys(g, model, a, (const char *const[]){NULL}) && cnn_zoo_no_width(g, model, a);
}

int cnn_zoo_make_divisible(float v, int divisor)
{
    int nv = (int)(v + (float)divisor / 2) / divisor * divisor;
    if (nv < divisor) nv = divisor;
    if ((float)nv < 0.9f * v) nv += divisor;
    return nv;
}

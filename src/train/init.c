/* Weight initialisers, as torch.nn.init: xavier_uniform_/normal_, kaiming_uniform_/
 * normal_ (mode fan_in / fan_out), normal_, constant_, and the layers' defaults.
 * All randomness comes from cnn_rng (docs/architecture.md), so values match PyTorch in
 * distribution, not bit for bit. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cnn.h"

/* torch.nn.init._calculate_fan_in_and_fan_out: weight (out, in, *receptive). */
static cnn_status fans(const cnn_tensor *t, const char *what, double *fan_in, double *fan_out)
{
    if (t->ndim < 2) {
        char buf[96];
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "init %s: fan in and fan out need a tensor with at least 2 "
                             "dimensions, got %s",
                             what, cnn_shape_str(t->ndim, t->dims, buf, sizeof buf));
    }
    double receptive = 1.0;
    for (int i = 2; i < t->ndim; i++) receptive *= (double)t->dims[i];
    *fan_in = (double)t->dims[1] * receptive;
    *fan_out = (double)t->dims[0] * receptive;
    return CNN_OK;
}

static void fill_uniform(float *d, size_t n, double bound, cnn_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        d[i] = (float)((2.0 * (double)cnn_rng_uniform(rng) - 1.0) * bound);
}

static void fill_normal(float *d, size_t n, double mean, double std, cnn_rng *rng)
{
    for (size_t i = 0; i < n; i++) d[i] = (float)(mean + std * (double)cnn_rng_normal(rng));
}

static const char *kind_name(cnn_init_kind k)
{
    switch (k) {
    case CNN_INIT_DEFAULT: return "default";
    case CNN_INIT_XAVIER_UNIFORM: return "xavier_uniform";
    case CNN_INIT_XAVIER_NORMAL: return "xavier_normal";
    case CNN_INIT_KAIMING_UNIFORM: return "kaiming_uniform";
    case CNN_INIT_KAIMING_NORMAL: return "kaiming_normal";
    case CNN_INIT_NORMAL: return "normal";
    case CNN_INIT_CONSTANT: return "constant";
    }
    return "?";
}

cnn_status cnn_init_tensor(cnn_tensor *t, const cnn_init *init, cnn_rng *rng)
{
    if (!t || !init || !rng) return cnn_set_error(CNN_ERR_INVALID_ARG, "init: NULL argument");
    if (t->ndim < 0 || t->ndim > CNN_MAX_DIMS)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "init: tensor has %d dimensions", t->ndim);
    size_t n = cnn_tensor_numel(t);
    if (n > 0 && !t->data) return cnn_set_error(CNN_ERR_INVALID_ARG, "init: tensor has no data");
    const char *what = kind_name(init->kind);
    double fin = 0.0, fout = 0.0, gain;
    switch (init->kind) {
    case CNN_INIT_DEFAULT:
        /* conv/linear weights: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), ..) */
        CNN_CHECK(fans(t, what, &fin, &fout));
        fill_uniform(t->data, n, 1.0 / sqrt(fin), rng);
        return CNN_OK;
    case CNN_INIT_XAVIER_UNIFORM:
    case CNN_INIT_XAVIER_NORMAL:
        CNN_CHECK(fans(t, what, &fin, &fout));
        if (init->gain < 0.0f)
            return cnn_set_error(CNN_ERR_INVALID_ARG, "init %s: gain %g must be >= 0", what,
                                 (double)init->gain);
        gain = init->gain != 0.0f ? (double)init->gain : 1.0;
        if (init->kind == CNN_INIT_XAVIER_UNIFORM)
            fill_uniform(t->data, n, gain * sqrt(6.0 / (fin + fout)), rng);
        else
            fill_normal(t->data, n, 0.0, gain * sqrt(2.0 / (fin + fout)), rng);
        return CNN_OK;
    case CNN_INIT_KAIMING_UNIFORM:
    case CNN_INIT_KAIMING_NORMAL: {
        CNN_CHECK(fans(t, what, &fin, &fout));
        if (init->gain < 0.0f)
            return cnn_set_error(CNN_ERR_INVALID_ARG, "init %s: gain %g must be >= 0", what,
                                 (double)init->gain);
        gain = init->gain != 0.0f ? (double)init->gain : sqrt(2.0);
        double std = gain / sqrt(init->fan_out ? fout : fin);
        if (init->kind == CNN_INIT_KAIMING_UNIFORM)
            fill_uniform(t->data, n, sqrt(3.0) * std, rng);
        else
            fill_normal(t->data, n, 0.0, std, rng);
        return CNN_OK;
    }
    case CNN_INIT_NORMAL:
        /* std is taken as given (0 fills with the mean) */
        if (!(init->std >= 0.0f))
            return cnn_set_error(CNN_ERR_INVALID_ARG, "init normal: std %g must be >= 0",
                                 (double)init->std);
        fill_normal(t->data, n, (double)init->mean, (double)init->std, rng);
        return CNN_OK;
    case CNN_INIT_CONSTANT:
        for (size_t i = 0; i < n; i++) t->data[i] = init->value;
        return CNN_OK;
    }
    return cnn_set_error(CNN_ERR_INVALID_ARG, "init: unknown kind %d", (int)init->kind);
}

/* The bias of the layer owning `weight`: same name with "weight" -> "bias". */
static cnn_param *bias_of(cnn_graph *g, const cnn_param *weight)
{
    const char *name = weight->name;
    size_t len = strlen(name);
    if (len < 6 || strcmp(name + len - 6, "weight") != 0) return NULL;
    if (len > 6 && name[len - 7] != '.') return NULL;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *b = cnn_graph_param(g, i);
        if (strncmp(b->name, name, len - 6) == 0 && strcmp(b->name + len - 6, "bias") == 0)
            return b;
    }
    return NULL;
}

cnn_status cnn_graph_init(cnn_graph *g, cnn_param_role role, const cnn_init *init, bool zero_bias,
                          uint64_t seed)
{
    if (!g || !init) return cnn_set_error(CNN_ERR_INVALID_ARG, "graph_init: NULL argument");
    if (!cnn_graph_compiled(g)) CNN_CHECK(cnn_graph_compile(g, seed));
    cnn_rng rng;
    cnn_rng_seed(&rng, seed);
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *e = cnn_graph_param(g, i);
        if (e->role != (int)role) continue;
        if (init->kind == CNN_INIT_DEFAULT) {
            cnn_param_init_default(e, &rng); /* the layer's own default, as compile draws it */
        } else {
            cnn_status s = cnn_init_tensor(&e->value, init, &rng);
            if (s != CNN_OK) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", cnn_error_message());
                return cnn_set_error(s, "graph_init '%s': %s", e->name, msg);
            }
        }
        if (zero_bias) {
            cnn_param *b = bias_of(g, e);
            if (b && b != e)
                memset(b->value.data, 0, cnn_tensor_numel(&b->value) * sizeof(float));
        }
    }
    return CNN_OK;
}

/* Helpers shared by the zoo parity tests of the seeds' and mobile families
   (test_lenet, test_nin, test_mobilenet, test_shufflenet, test_hybridsn).
   Fixtures: tests/fixtures/zoo/<file>.safetensors written by
   tools/fixtures/zoo_seeds*.py (regenerate: /usr/bin/python3 tools/make_fixtures.py
   zoo_seeds zoo_seeds_mobile). */
#ifndef ZOO_CHECK_H
#define ZOO_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static inline cnn_tensor_file *zc_open(const char *file)
{
    const char *root = getenv("CNN_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/zoo/%s.safetensors", root ? root : ".", file);
    cnn_tensor_file *f = NULL;
    if (cnn_safetensors_load(path, &f) != CNN_OK)
        fail_msg("%s: %s (regenerate: /usr/bin/python3 tools/make_fixtures.py zoo_seeds "
                 "zoo_seeds_mobile)", path, cnn_error_message());
    return f;
}

static inline cnn_tensor zc_get(const cnn_tensor_file *f, const char *name)
{
    cnn_tensor t = {0};
    TU_OK(cnn_tensor_file_get(f, name, &t));
    return t;
}

/* Builds `model` for the fixture's input tensor shape (batch, C, [D,] H, W). */
static inline cnn_graph *zc_build(const char *model, const cnn_tensor *input, float width_mult,
                           const char *set, cnn_node **in, cnn_node **out)
{
    cnn_model_opts o = {.batch = input->dims[0], .channels = input->dims[1],
                        .width_mult = width_mult, .set = set};
    if (input->ndim == 5) o.depth = input->dims[2];
    o.height = input->dims[input->ndim - 2];
    o.width = input->dims[input->ndim - 1];
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, model, &o, in, out));
    return g;
}

/* Every parameter and buffer name is a key of PyTorch's state_dict (metadata "keys"),
   both sides have as many, and the trainable count equals PyTorch's ("params"). */
static inline void zc_check_names(cnn_graph *g, const cnn_tensor_file *f, const char *what)
{
    const char *keys = cnn_tensor_file_meta(f, "keys");
    const char *params = cnn_tensor_file_meta(f, "params");
    assert_non_null(keys);
    assert_non_null(params);
    int nkeys = 1;
    for (const char *p = keys; *p; p++) nkeys += *p == ',';
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        const char *name = cnn_graph_param(g, i)->name;
        size_t len = strlen(name);
        bool found = false;
        for (const char *p = keys; p && !found;) {
            const char *end = strchr(p, ',');
            size_t kl = end ? (size_t)(end - p) : strlen(p);
            found = kl == len && strncmp(p, name, len) == 0;
            p = end ? end + 1 : NULL;
        }
        if (!found) fail_msg("%s: parameter '%s' is not in PyTorch's state_dict", what, name);
    }
    if (cnn_graph_num_params(g) != nkeys)
        fail_msg("%s: %d parameters and buffers, PyTorch has %d", what, cnn_graph_num_params(g),
                 nkeys);
    if ((long long)cnn_graph_param_count(g) != atoll(params))
        fail_msg("%s: %zu trainable parameters, PyTorch has %s", what, cnn_graph_param_count(g),
                 params);
}

static inline double zc_maxabs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}

/* Eval forward of the fixture's input: max |ours - torch| <= 1e-4 * max(1, max|torch|)
   (float32 with different summation orders; a wrong layer moves outputs by O(1)). */
static inline void zc_forward_check(cnn_graph *g, cnn_node *in, cnn_node *out, const cnn_tensor_file *f,
                             const char *tensor, const char *what)
{
    cnn_tensor x = zc_get(f, "input"), want = zc_get(f, tensor);
    cnn_graph_set_training(g, false);
    tu_forward(g, in, x.data, x.dims[0]);
    cnn_tensor y = cnn_node_value(out);
    size_t n = cnn_tensor_numel(&want);
    assert_int_equal(cnn_tensor_numel(&y), n);
    double tol = 1e-4 * fmax(1.0, zc_maxabs(want.data, n)), worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)y.data[i] - want.data[i]));
    printf("  %-28s %-8s max|torch| %9.4g  max|diff| %9.3g  (tol %.2g)\n", what, tensor,
           zc_maxabs(want.data, n), worst, tol);
    if (!(worst <= tol)) fail_msg("%s: %s differs from PyTorch by %g > %g", what, tensor, worst, tol);
}

/* Compiles g and copies every parameter and buffer from the fixture's tensor of the
   same name (the real weights of the small models). */
static inline void zc_load_weights(cnn_graph *g, const cnn_tensor_file *f)
{
    TU_OK(cnn_graph_compile(g, 0));
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        cnn_tensor w = zc_get(f, p->name);
        assert_int_equal(cnn_tensor_numel(&w), cnn_tensor_numel(&p->value));
        memcpy(p->value.data, w.data, cnn_tensor_numel(&w) * sizeof(float));
    }
}

/* Builds, checks names and counts, sets the weights (the fixture's real ones when
   weights, else the formula) and compares the eval forward with PyTorch's output
   (and, when probs, the seed's softmax output with set "softmax=1"). */
static inline void zc_parity_ex(const char *file, const char *model, float width_mult, const char *set,
                         bool weights)
{
    cnn_tensor_file *f = zc_open(file);
    cnn_tensor x = zc_get(f, "input");
    cnn_node *in, *out;
    cnn_graph *g = zc_build(model, &x, width_mult, set, &in, &out);
    zc_check_names(g, f, file);
    if (weights) zc_load_weights(g, f);
    else tu_formula_weights(g);
    zc_forward_check(g, in, out, f, "output", file);
    cnn_graph_free(g);
    cnn_tensor_file_free(f);
}

static inline void zc_parity(const char *file, const char *model, float width_mult, const char *set)
{
    cnn_tensor_file *f = zc_open(file);
    cnn_tensor x = zc_get(f, "input");
    cnn_node *in, *out;
    cnn_graph *g = zc_build(model, &x, width_mult, set, &in, &out);
    zc_check_names(g, f, file);
    tu_formula_weights(g);
    zc_forward_check(g, in, out, f, "output", file);
    cnn_graph_free(g);
    cnn_tensor_file_free(f);
}

/* One training step against PyTorch: mean cross-entropy of the logits on the
   fixture's train_input / labels, in training mode; compares the loss and d loss /
   d every trainable parameter. weights: copy the fixture's real weights, else fill by
   formula. Gradients of big tensors are stored at k evenly strided indices
   (i * (n / k)). Tolerance per tensor: max|diff| <= 2e-4 * max|torch grad| + 1e-5 *
   the model's largest gradient element (float32 reductions over up to ~1e5 terms in a
   different order; the floor covers gradients that cancel to rounding noise). */
static inline void zc_train_step(const char *file, const char *model, const char *set, bool weights)
{
    cnn_tensor_file *f = zc_open(file);
    cnn_tensor x = zc_get(f, "train_input"), labels = zc_get(f, "labels"), loss_t = zc_get(f, "loss");
    cnn_node *in, *logits;
    cnn_graph *g = zc_build(model, &x, 1.0f, set, &in, &logits);
    int batch = x.dims[0];
    cnn_node *lab = cnn_labels(g, "labels", batch);
    cnn_node *loss = cnn_cross_entropy(g, logits, lab);
    TU_OK(cnn_graph_status(g));
    zc_check_names(g, f, file);
    if (weights) zc_load_weights(g, f);
    else tu_formula_weights(g);
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, in, x.data, batch));
    TU_OK(cnn_graph_set_input(g, lab, labels.data, batch));
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward(g, loss));
    float l = cnn_node_value(loss).data[0];
    printf("  %-28s loss ours %.7f torch %.7f\n", file, l, loss_t.data[0]);
    assert_true(fabs((double)l - loss_t.data[0]) <= 1e-5 * fmax(1.0, fabs(loss_t.data[0])));
    int checked = 0;
    double gmax = 0; /* the largest gradient element of the model */
    for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        if (!p->trainable) continue;
        char key[512];
        snprintf(key, sizeof key, "grad.%s", p->name);
        cnn_tensor want = zc_get(f, key);
        size_t n = cnn_tensor_numel(&p->grad), k = cnn_tensor_numel(&want);
        assert_true(k >= 1 && k <= n);
        if (pass == 0) {
            gmax = fmax(gmax, zc_maxabs(want.data, k));
            continue;
        }
        size_t stride = n / k;
        /* a conv bias before a training-mode BN has an exactly zero gradient: both sides
           give rounding noise, so the floor is relative to the model's gradient scale */
        double tol = 2e-4 * zc_maxabs(want.data, k) + 1e-5 * gmax, worst = 0;
        for (size_t j = 0; j < k; j++)
            worst = fmax(worst, fabs((double)p->grad.data[j * stride] - want.data[j]));
        if (!(worst <= tol))
            fail_msg("%s: grad of %s differs from PyTorch by %g > %g", file, p->name, worst, tol);
        checked++;
    }
    printf("  %-28s %d parameter gradients match\n", file, checked);
    assert_true(checked > 0);
    cnn_graph_free(g);
    cnn_tensor_file_free(f);
}

/* cnn_model_build must fail with status s and a message containing needle. */
static inline void zc_build_error(const char *model, const cnn_model_opts *o, cnn_status s,
                           const char *needle)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *in = NULL, *out = NULL;
    cnn_status got = cnn_model_build(g, model, o, &in, &out);
    printf("  %s: %s\n", model, cnn_error_message());
    if (got != s)
        fail_msg("%s: status %s, want %s (%s)", model, cnn_status_name(got), cnn_status_name(s),
                 cnn_error_message());
    if (!strstr(cnn_error_message(), needle))
        fail_msg("%s: error '%s' does not mention '%s'", model, cnn_error_message(), needle);
    cnn_graph_free(g);
}

/* MACs and parameters of a model built (not compiled) at the given size. */
static inline cnn_cost zc_cost(const char *model, int size, float width_mult, const char *set)
{
    cnn_model_opts o = {.height = size, .width = size, .width_mult = width_mult, .set = set};
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, model, &o, NULL, NULL));
    cnn_cost c = cnn_graph_cost(g);
    cnn_graph_free(g);
    return c;
}

/* Parameters of conv and linear layers only (weights and biases; no BN), as papers
   count them. */
static inline int64_t zc_params_no_bn(const char *model, int size, float width_mult, const char *set)
{
    cnn_model_opts o = {.height = size, .width = size, .width_mult = width_mult, .set = set};
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, model, &o, NULL, NULL));
    int64_t n = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        if (p->role == CNN_PARAM_WEIGHT || p->role == CNN_PARAM_BIAS)
            n += (int64_t)cnn_tensor_numel(&p->value);
    }
    cnn_graph_free(g);
    return n;
}
#endif

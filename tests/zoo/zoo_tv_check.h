/* Checks shared by the zoo tests of the torchvision-named families (alexnet, vgg,
   googlenet, resnet, senet, cbam, densenet): PyTorch parity from the committed
   fixtures of tools/fixtures/zoo_tv.py, the published-cost table, and builder errors.
   Header-only (static functions); each test_<family>.c includes it once. */
#ifndef ZOO_TV_CHECK_H
#define ZOO_TV_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define ZT_FIXTURE_DIR "tests/fixtures/zoo/"

static cnn_tensor_file *zt_load(const char *model)
{
    char path[256];
    snprintf(path, sizeof path, ZT_FIXTURE_DIR "%s.safetensors", model);
    cnn_tensor_file *f = NULL;
    if (cnn_safetensors_load(path, &f) != CNN_OK)
        fail_msg("%s: %s (regenerate: /usr/bin/python3 tools/make_fixtures.py zoo_tv)", path,
                 cnn_error_message());
    return f;
}

/* True when name is one of the comma-separated keys. */
static int zt_has_key(const char *keys, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = keys; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

static int zt_count_keys(const char *keys)
{
    int n = *keys ? 1 : 0;
    for (const char *p = keys; *p; p++) n += *p == ',';
    return n;
}

/* Builds `model` at the fixture's input size and batch; checks the parameter and
   buffer names against PyTorch's state_dict keys and the trainable count against
   PyTorch's. The caller frees *g and f. */
static cnn_graph *zt_build_fixture(const char *model, cnn_tensor_file *f, cnn_node **in,
                                   cnn_node **out)
{
    cnn_tensor x;
    TU_OK(cnn_tensor_file_get(f, "input", &x));
    const char *meta_params = cnn_tensor_file_meta(f, "params");
    const char *keys = cnn_tensor_file_meta(f, "keys");
    assert_non_null(meta_params);
    assert_non_null(keys);
    cnn_graph *g = cnn_graph_new();
    cnn_model_opts o = {.batch = x.dims[0], .channels = x.dims[1], .height = x.dims[2],
                        .width = x.dims[3]};
    TU_OK(cnn_model_build(g, model, &o, in, out));
    int missing = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        const char *name = cnn_graph_param(g, i)->name;
        if (!zt_has_key(keys, name)) {
            if (missing++ < 5) fprintf(stderr, "  %s: '%s' is not a PyTorch state_dict key\n", model, name);
        }
    }
    assert_int_equal(missing, 0);
    /* every PyTorch key (parameters and BN buffers) has a twin here */
    assert_int_equal(cnn_graph_num_params(g), zt_count_keys(keys));
    long long want = atoll(meta_params);
    if ((long long)cnn_graph_param_count(g) != want)
        fail_msg("%s: %zu trainable parameters, PyTorch has %lld", model, cnn_graph_param_count(g),
                 want);
    return g;
}

/* Eval-mode parity: formula weights on both sides, the fixture's input, logits within
   1e-4 * max(1, max|torch|): float32 sums over up to ~25k-term dot products and
   dozens of layers differ from PyTorch's (blocked, reordered) sums by a few ulps of
   the largest activations, far below a wrong-weight or wrong-layer error (O(1)). */
static void zt_parity(const char *model)
{
    cnn_tensor_file *f = zt_load(model);
    cnn_node *in, *out;
    cnn_graph *g = zt_build_fixture(model, f, &in, &out);
    cnn_tensor x, want;
    TU_OK(cnn_tensor_file_get(f, "input", &x));
    TU_OK(cnn_tensor_file_get(f, "output", &want));
    tu_formula_weights(g);
    /* a fixture may scale some parameters after the formula (metadata says which and
       by how much; zoo_tv.py explains why) */
    const char *suffix = cnn_tensor_file_meta(f, "scale_suffix");
    if (suffix) {
        float factor = (float)atof(cnn_tensor_file_meta(f, "scale"));
        size_t sl = strlen(suffix);
        int scaled = 0;
        for (int i = 0; i < cnn_graph_num_params(g); i++) {
            cnn_param *p = cnn_graph_param(g, i);
            size_t nl = strlen(p->name);
            if (nl < sl || strcmp(p->name + nl - sl, suffix) != 0) continue;
            for (size_t k = 0; k < cnn_tensor_numel(&p->value); k++) p->value.data[k] *= factor;
            scaled++;
        }
        assert_true(scaled > 0);
    }
    cnn_graph_set_training(g, false);
    tu_forward(g, in, x.data, x.dims[0]);
    cnn_tensor y = cnn_node_value(out);
    assert_int_equal(cnn_tensor_numel(&y), cnn_tensor_numel(&want));
    double wmax = 0, dmax = 0;
    size_t n = cnn_tensor_numel(&want);
    for (size_t i = 0; i < n; i++) {
        wmax = fmax(wmax, fabs((double)want.data[i]));
        double d = fabs((double)y.data[i] - (double)want.data[i]);
        if (!(d <= dmax)) dmax = isnan(d) ? INFINITY : d;
    }
    double tol = 1e-4 * fmax(1.0, wmax);
    printf("  %-14s %-9s params %10zu  max|torch| %10.4g  max|diff| %.3g (tol %.3g)\n", model,
           cnn_tensor_file_meta(f, "input"), cnn_graph_param_count(g), wmax, dmax, tol);
    if (!(dmax <= tol)) fail_msg("%s: logits differ from PyTorch by %g (> %g)", model, dmax, tol);
    cnn_graph_free(g);
    cnn_tensor_file_free(f);
}

/* Names and parameter count only (the forward of the largest models is skipped
   under the sanitizer run). */
static void __attribute__((unused)) zt_names_only(const char *model)
{
    cnn_tensor_file *f = zt_load(model);
    cnn_node *in, *out;
    cnn_graph *g = zt_build_fixture(model, f, &in, &out);
    printf("  %-14s names and %zu params match PyTorch (forward skipped: quick run)\n", model,
           cnn_graph_param_count(g));
    cnn_graph_free(g);
    cnn_tensor_file_free(f);
}

/* A published figure: params in millions and multiply-adds in G at 224x224, each
   rounded to the digits given; *_tol is half the last printed digit plus any stated
   allowance. */
typedef struct zt_paper {
    const char *model;
    const char *source;
    double params_m, params_tol;
    double gmacs, gmacs_tol; /* gmacs 0: not checked */
} zt_paper;

/* Builds each model at 3x224x224, batch 1 (building is cheap; nothing runs), prints
   ours beside the published figures and asserts agreement within the rounding. */
static void zt_paper_table(const zt_paper *rows, int n)
{
    printf("  %-14s %12s %10s %9s %9s  %s\n", "model", "params", "published", "GMACs", "published",
           "source");
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const zt_paper *r = &rows[i];
        cnn_graph *g = cnn_graph_new();
        cnn_model_opts o = {.batch = 1, .height = 224, .width = 224};
        TU_OK(cnn_model_build(g, r->model, &o, NULL, NULL));
        cnn_cost c = cnn_graph_cost(g);
        double pm = (double)c.params / 1e6, gm = (double)c.macs / 1e9;
        char pub_g[32] = "-";
        if (r->gmacs > 0) snprintf(pub_g, sizeof pub_g, "%.4g", r->gmacs);
        printf("  %-14s %11.3fM %9.2fM %9.3f %9s  %s\n", r->model, pm, r->params_m, gm, pub_g,
               r->source);
        if (fabs(pm - r->params_m) > r->params_tol) {
            fprintf(stderr, "  %s: %.4fM params vs published %.1fM\n", r->model, pm, r->params_m);
            bad++;
        }
        if (r->gmacs > 0 && fabs(gm - r->gmacs) > r->gmacs_tol) {
            fprintf(stderr, "  %s: %.4f GMACs vs published %.2f\n", r->model, gm, r->gmacs);
            bad++;
        }
        /* the builder's per-example count must not depend on the batch */
        cnn_graph *g4 = cnn_graph_new();
        o.batch = 4;
        TU_OK(cnn_model_build(g4, r->model, &o, NULL, NULL));
        assert_true(cnn_graph_cost(g4).macs == c.macs);
        cnn_graph_free(g4);
        cnn_graph_free(g);
    }
    assert_int_equal(bad, 0);
}

/* cnn_model_build must fail with `status` and a message containing each of the
   NULL-terminated fragments. */
static void zt_expect_error(const char *model, const cnn_model_opts *o, cnn_status status,
                            const char *const *fragments)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *in = NULL, *out = NULL;
    cnn_status s = cnn_model_build(g, model, o, &in, &out);
    const char *msg = cnn_error_message();
    printf("  %s -> %s: %s\n", model, cnn_status_name(s), msg);
    if (s != status) fail_msg("%s: expected %s, got %s", model, cnn_status_name(status), cnn_status_name(s));
    for (int i = 0; fragments && fragments[i]; i++)
        if (!strstr(msg, fragments[i]))
            fail_msg("%s: error '%s' does not mention '%s'", model, msg, fragments[i]);
    cnn_graph_free(g);
}

/* Errors every model of these families shares: an unknown family option and a width
   multiplier they do not have. */
static void zt_common_errors(const char *model)
{
    zt_expect_error(model, &(cnn_model_opts){.set = "bogus=1"}, CNN_ERR_INVALID_ARG,
                    (const char *const[]){"bogus", model, NULL});
    zt_expect_error(model, &(cnn_model_opts){.width_mult = 0.5f}, CNN_ERR_INVALID_ARG,
                    (const char *const[]){"width multiplier", NULL});
}
#endif

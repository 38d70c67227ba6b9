/* Constant weights (cnn_graph_set_const_weights, docs/architecture.md "Blocked
   layout"): the cpu backend keeps the blocked layout's convolution weights packed
   between eval forwards (Winograd ones transformed once). Checked against the same
   graph run plain (CNN_LAYOUT=0) on the ref backend: equal within float rounding
   (1e-4 absolute and relative on logits of magnitude 0.1-40: the Winograd F(4,3)
   layers round differently from direct summation) on the first forward, bit for bit
   on the next ones (the kept weights), and again after every way the weights change: written by
   the caller + cnn_graph_weights_changed, cnn_graph_load_weights, an optimizer step,
   and a new graph built where a freed one was. On the ref backend nothing is kept and
   the same checks hold trivially. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn.h"
#include "kernels/cpu/cpu_internal.h"
#include "testutil.h"

#define N 24 /* planes of 24x24: 576 output pixels, Winograd at batch 1 */

typedef struct net {
    cnn_graph *g;
    cnn_node *x, *out;
} net;

/* x (1, 16, 24, 24) -> conv3x3 16->32 bn relu (Winograd; under constant weights the
   oneDNN layers' batch norm and ReLU run inside their call) -> conv3x3 32->48 + bias
   relu (Winograd, 48 channels) -> conv3x3 stride 2 48->64 bn relu (direct) -> conv3x3
   64->64 (direct: 12x12 planes) -> conv1x1 64->96 bn relu6 -> conv1x1 96->40 (the own
   1x1 kernel with its packed panel kept, cpu/kept.c; 40 channels: a padded block) ->
   global average pool -> linear 10. */
static net build(bool layout, uint64_t seed)
{
    setenv("CNN_LAYOUT", layout ? "1" : "0", 1); /* read when the graph is planned */
    net m;
    cnn_graph *g = m.g = cnn_graph_new();
    m.x = cnn_input(g, "x", 4, (int[]){1, 16, N, N});
    cnn_node *h = cnn_relu(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.x, 32, .kernel = 3, .padding = 1,
                                                           .no_bias = true, .name = "c1"),
                                             .name = "bn1"));
    h = cnn_relu(g, cnn_conv2d(g, h, 48, .kernel = 3, .padding = 1, .name = "c2"));
    h = cnn_relu(g, cnn_batchnorm2d(g, cnn_conv2d(g, h, 64, .kernel = 3, .stride = 2, .padding = 1,
                                                 .no_bias = true, .name = "c3"),
                                   .name = "bn3"));
    h = cnn_conv2d(g, h, 64, .kernel = 3, .padding = 1, .name = "c4");
    h = cnn_relu6(g, cnn_batchnorm2d(g, cnn_conv2d(g, h, 96, .kernel = 1, .no_bias = true, .name = "c5"),
                                     .name = "bn5"));
    h = cnn_conv2d(g, h, 40, .kernel = 1, .name = "c6");
    m.out = cnn_linear(g, cnn_flatten(g, cnn_global_avgpool(g, h)), 10, .name = "fc");
    cnn_graph_mark_output(g, m.out);
    TU_OK(cnn_graph_compile(g, seed));
    cnn_rng r;
    cnn_rng_seed(&r, seed + 7);
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        size_t n = cnn_tensor_numel(&p->value);
        if (strstr(p->name, "running_var")) tu_fill(p->value.data, n, 0.5f, 2.0f, &r);
        else if (strstr(p->name, "bn") || strstr(p->name, "running_mean")) tu_fill(p->value.data, n, -0.5f, 0.5f, &r);
    }
    cnn_graph_set_training(g, false);
    unsetenv("CNN_LAYOUT");
    float xs[16 * N * N];
    cnn_rng_seed(&r, 5);
    tu_fill(xs, sizeof xs / sizeof xs[0], -2, 2, &r);
    TU_OK(cnn_graph_set_input(g, m.x, xs, 1));
    return m;
}

/* Forward both, the plain one on the ref backend (plain C, no packing, no Winograd);
   the kept graph's logits close to its; returns them in y. */
static void forward_close(net *kept, net *plain, float *y, const char *what)
{
    char prev[32];
    snprintf(prev, sizeof prev, "%s", cnn_backend_name());
    TU_OK(cnn_graph_forward(kept->g));
    TU_OK(cnn_set_backend("ref"));
    TU_OK(cnn_graph_forward(plain->g));
    TU_OK(cnn_set_backend(prev));
    memcpy(y, cnn_node_value(kept->out).data, 10 * sizeof *y);
    assert_true(tu_close(y, cnn_node_value(plain->out).data, 10, 1e-4f, 1e-4f, what));
}

/* A change to every convolution weight of g, through the pointers. */
static void scale_conv_weights(cnn_graph *g, float s)
{
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        if (p->name[0] != 'c' || !strstr(p->name, "weight")) continue;
        for (size_t k = 0; k < cnn_tensor_numel(&p->value); k++)
            p->value.data[k] = p->value.data[k] * s + 0.01f * (float)(k % 7);
    }
}

static void test_kept_and_repacked(void **state)
{
    (void)state;
    net kept = build(true, 3), plain = build(false, 3);
    cnn_graph_set_const_weights(kept.g, true);
    float y0[10], y1[10], y2[10];
    forward_close(&kept, &plain, y0, "first forward with constant weights");
    forward_close(&kept, &plain, y1, "second forward (weights kept packed)");
    assert_memory_equal(y0, y1, sizeof y0);

    /* batch-norm statistics written without an announcement: the scale and shift that
       oneDNN's calls fold into the kept weights (cpu/conv_dnnl.c) follow them, as the
       second pass over the output does */
    for (int i = 0; i < cnn_graph_num_params(kept.g); i++) {
        cnn_param *p = cnn_graph_param(kept.g, i), *q = cnn_graph_param(plain.g, i);
        if (!strstr(p->name, "running_var") && !strstr(p->name, "running_mean")) continue;
        for (size_t k = 0; k < cnn_tensor_numel(&p->value); k += 3) {
            p->value.data[k] *= 1.75f;
            q->value.data[k] *= 1.75f;
        }
    }
    forward_close(&kept, &plain, y2, "after batch-norm statistics changed");
    assert_memory_not_equal(y1, y2, sizeof y1);

    /* written by the caller, then announced */
    scale_conv_weights(kept.g, -1.5f);
    scale_conv_weights(plain.g, -1.5f);
    cnn_graph_weights_changed(kept.g);
    forward_close(&kept, &plain, y2, "after cnn_graph_weights_changed");
    assert_memory_not_equal(y1, y2, sizeof y1);

    /* loaded from a file */
    char path[] = "/tmp/cnn_const_weights_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    scale_conv_weights(plain.g, 0.5f); /* plain only: kept learns it from the file */
    TU_OK(cnn_graph_save_weights(plain.g, path, 0, NULL));
    TU_OK(cnn_graph_load_weights(kept.g, path, true));
    unlink(path);
    forward_close(&kept, &plain, y1, "after cnn_graph_load_weights");
    assert_memory_not_equal(y1, y2, sizeof y1);

    /* an optimizer step (gradients set by hand) */
    cnn_optim_opts oo = {.kind = CNN_OPTIM_SGD, .lr = 0.1f};
    cnn_optimizer *ok = cnn_optimizer_new(kept.g, &oo), *op = cnn_optimizer_new(plain.g, &oo);
    assert_non_null(ok);
    assert_non_null(op);
    for (int i = 0; i < cnn_graph_num_params(kept.g); i++) {
        cnn_param *p = cnn_graph_param(kept.g, i), *q = cnn_graph_param(plain.g, i);
        if (!p->grad.data) continue;
        for (size_t k = 0; k < cnn_tensor_numel(&p->grad); k++)
            p->grad.data[k] = q->grad.data[k] = 0.05f * (float)((int)(k % 5) - 2);
    }
    TU_OK(cnn_optimizer_step(ok));
    TU_OK(cnn_optimizer_step(op));
    forward_close(&kept, &plain, y2, "after an optimizer step");
    assert_memory_not_equal(y1, y2, sizeof y1);
    cnn_optimizer_free(ok);
    cnn_optimizer_free(op);

    /* off again: packed per call, the same numbers as kept */
    cnn_graph_set_const_weights(kept.g, false);
    forward_close(&kept, &plain, y1, "constant weights off");
    cnn_graph_free(kept.g);
    cnn_graph_free(plain.g);
}

/* Graphs freed and built again (their weights may land at the same addresses): each
   new one computes with its own weights, never with ones kept for a freed graph, and
   freeing a graph frees what was kept for it. */
/* packed weights kept by oneDNN's forwards and by the own blocked kernels (one keeper) */
static size_t kept_bytes(void) { return cnn_cpu_kept_bytes(); }

static void test_new_graphs(void **state)
{
    (void)state;
    size_t before = kept_bytes(), before_pw = cnn_cpu_kept_bytes();
    for (uint64_t seed = 1; seed <= 3; seed++) {
        net kept = build(true, seed), plain = build(false, seed);
        cnn_graph_set_const_weights(kept.g, true);
        float y[10];
        forward_close(&kept, &plain, y, "a new graph with constant weights");
        forward_close(&kept, &plain, y, "its second forward");
        if (cnn_blocked_width()) {
            assert_true(kept_bytes() > before);
            assert_true(cnn_cpu_kept_bytes() > before_pw); /* the 1x1 layers' panels */
        }
        cnn_graph_free(kept.g);
        cnn_graph_free(plain.g);
        assert_int_equal(kept_bytes(), before);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_and_repacked),
        cmocka_unit_test(test_new_graphs),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

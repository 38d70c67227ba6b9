/* Inference graph passes (graph/fuse.c): a conv followed by batch norm, a residual add
   and an activation computes them in its epilogue, and at batch 1 concat inputs are
   planned in place. Checked against the same graph with the passes off: the same bits
   at every output, fused nodes skipped, less memory, intermediate values still
   reachable through forward_until, and training untouched. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct net {
    cnn_graph *g;
    cnn_node *x, *out, *side, *bn_mid, *relu_mid, *cat_in, *cat;
} net;

/* A ResNet block (conv-bn-relu, conv-bn, downsample conv-bn, add, relu), a
   MobileNetV2-style conv-bn-relu6 and conv-bn-add without activation, conv+bias-bn,
   conv-hardswish without bn, a GoogLeNet-style concat of chains plus a repeated
   input, and a second output marked on a node that would otherwise be fused. */
static net build(int batch, bool fusion)
{
    net m;
    cnn_graph *g = m.g = cnn_graph_new();
    m.x = cnn_input(g, "x", 4, (int[]){batch, 16, 9, 9});
    cnn_node *h = cnn_relu(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.x, 16, .kernel = 3, .padding = 1,
                                                            .no_bias = true, .name = "c1"),
                                              .name = "bn1"));
    m.bn_mid = cnn_graph_find(g, "bn1");
    m.relu_mid = h;
    cnn_node *a = cnn_batchnorm2d(
        g, cnn_conv2d(g, h, 32, .kernel = 3, .stride = 2, .padding = 1, .no_bias = true, .name = "c2"),
        .name = "bn2");
    cnn_node *d = cnn_batchnorm2d(g, cnn_conv2d(g, m.x, 32, .kernel = 1, .stride = 2, .no_bias = true,
                                                .name = "down"),
                                  .name = "bn_down");
    h = cnn_relu(g, cnn_add(g, a, d)); /* residual computed after c2: fuses with "down" */
    cnn_node *e = cnn_relu6(g, cnn_batchnorm2d(g, cnn_conv2d(g, h, 32, .kernel = 1, .name = "c3"),
                                               .name = "bn3"));
    e = cnn_batchnorm2d(g, cnn_conv2d(g, e, 32, .kernel = 3, .padding = 1, .groups = 32, .name = "dw"),
                        .name = "bn_dw");
    h = cnn_add(g, h, e); /* conv-bn-add, no activation */
    m.side = cnn_batchnorm2d(g, cnn_conv2d(g, h, 16, .kernel = 1, .name = "c4"), .name = "bn4");
    cnn_graph_mark_output(g, m.side); /* an output: its own value must survive */
    cnn_node *p = cnn_activation(g, cnn_conv2d(g, m.side, 16, .kernel = 3, .padding = 1, .name = "c5"),
                                 CNN_ACT_HARDSWISH);
    cnn_node *q = cnn_relu(g, cnn_conv2d(g, m.side, 16, .kernel = 1, .name = "c6"));
    m.cat_in = q;
    cnn_node *cat = m.cat = cnn_concat(g, 4, (cnn_node *[]){p, q, m.side, p}); /* p twice */
    cnn_node *s = cnn_sigmoid(g, cnn_conv2d(g, cat, 8, .kernel = 1, .name = "c7"));
    m.out = cnn_linear(g, cnn_flatten(g, s), 5, .name = "fc");
    cnn_graph_mark_output(g, m.out);
    TU_OK(cnn_graph_set_fusion(g, fusion));
    TU_OK(cnn_graph_compile(g, 7));
    /* batch-norm statistics away from the defaults, so folding them matters */
    cnn_rng r;
    cnn_rng_seed(&r, 11);
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *prm = cnn_graph_param(g, i);
        size_t n = cnn_tensor_numel(&prm->value);
        if (strstr(prm->name, "running_var"))
            tu_fill(prm->value.data, n, 0.5f, 2.0f, &r);
        else if (strstr(prm->name, "bn") || strstr(prm->name, "running_mean"))
            tu_fill(prm->value.data, n, -0.5f, 0.5f, &r);
    }
    cnn_graph_set_training(g, false);
    return m;
}

static void run(net *m, const float *xs, int batch)
{
    TU_OK(cnn_graph_set_input(m->g, m->x, xs, batch));
    TU_OK(cnn_graph_forward(m->g));
}

#define same(a, b) same_at(a, b, __LINE__)
static void same_at(const cnn_node *a, const cnn_node *b, int line)
{
    cnn_tensor ta = cnn_node_value(a), tb = cnn_node_value(b);
    assert_int_equal(cnn_tensor_numel(&ta), cnn_tensor_numel(&tb));
    if (memcmp(ta.data, tb.data, cnn_tensor_numel(&ta) * sizeof(float)) != 0)
        print_message("test_fusion.c:%d: node %s differs\n", line, cnn_node_name(a));
    assert_memory_equal(ta.data, tb.data, cnn_tensor_numel(&ta) * sizeof(float));
}

static void check(int max_batch, int batch)
{
    net f = build(max_batch, true), u = build(max_batch, false);
    size_t n = (size_t)batch * 16 * 9 * 9;
    float *xs = malloc(n * sizeof *xs);
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    tu_fill(xs, n, -2, 2, &r);
    run(&f, xs, batch);
    run(&u, xs, batch);
    same(f.out, u.out);
    same(f.side, u.side);
    /* the passes did something: fused nodes skipped, a smaller arena */
    cnn_graph_set_profiling(f.g, true);
    run(&f, xs, batch);
    assert_int_equal(cnn_node_profile_get(f.bn_mid).calls, 0);
    assert_int_equal(cnn_node_profile_get(f.relu_mid).calls, 0);
    assert_int_equal(cnn_node_profile_get(cnn_graph_find(f.g, "c1")).calls, 1);
    assert_true(cnn_graph_arena_bytes(f.g, false) < cnn_graph_arena_bytes(u.g, false));
    assert_int_equal(cnn_graph_arena_bytes(f.g, true), cnn_graph_arena_bytes(u.g, true));
    /* at batch 1, q (input 1, after p's 16 channels of 5x5) is written straight into
       the concat's buffer; p (used twice) and side (an output) are copied */
    float *q_at = cnn_node_value(f.cat).data + 16 * 5 * 5;
    assert_true((cnn_node_value(f.cat_in).data == q_at) == (max_batch == 1));
    assert_true(cnn_node_value(u.cat_in).data != cnn_node_value(u.cat).data + 16 * 5 * 5);
    same(f.out, u.out);
    /* stopping inside a chain gives that node's own value */
    TU_OK(cnn_graph_forward_until(f.g, f.bn_mid));
    TU_OK(cnn_graph_forward_until(u.g, u.bn_mid));
    same(f.bn_mid, u.bn_mid);
    TU_OK(cnn_graph_forward_until(f.g, cnn_graph_find(f.g, "c1")));
    TU_OK(cnn_graph_forward_until(u.g, cnn_graph_find(u.g, "c1")));
    same(cnn_graph_find(f.g, "c1"), cnn_graph_find(u.g, "c1"));
    /* and a full forward after that is fused again, same bits */
    run(&f, xs, batch);
    run(&u, xs, batch); /* its partial runs reused fc's buffer */
    same(f.out, u.out);
    /* marking an inner node as an output after compiling replans: it keeps its value */
    cnn_graph_mark_output(f.g, f.bn_mid);
    cnn_graph_mark_output(f.g, f.out); /* the last marked is the graph's output */
    TU_OK(cnn_graph_status(f.g));
    cnn_graph_mark_output(u.g, u.bn_mid); /* (unfused: only keeps it alive) */
    cnn_graph_mark_output(u.g, u.out);
    run(&f, xs, batch);
    run(&u, xs, batch);
    same(f.bn_mid, u.bn_mid);
    same(f.out, u.out);
    /* turning the passes off after compiling keeps the input and gives every node back */
    TU_OK(cnn_graph_set_fusion(f.g, false));
    TU_OK(cnn_graph_forward(f.g));
    same(f.out, u.out);
    same(f.bn_mid, u.bn_mid);
    TU_OK(cnn_graph_set_fusion(f.g, true));
    /* training ignores the passes: the same gradients */
    cnn_graph_set_training(f.g, true);
    cnn_graph_set_training(u.g, true);
    net *ms[2] = {&f, &u};
    for (int k = 0; k < 2; k++) {
        float *dout = calloc((size_t)batch * 5, sizeof *dout);
        for (int i = 0; i < batch * 5; i++) dout[i] = (float)(i % 3) - 1.0f;
        run(ms[k], xs, batch);
        TU_OK(cnn_graph_backward_from(ms[k]->g, ms[k]->out, dout));
        free(dout);
    }
    for (int i = 0; i < cnn_graph_num_params(f.g); i++) {
        cnn_param *a = cnn_graph_param(f.g, i), *b = cnn_graph_param(u.g, i);
        if (!a->trainable) continue;
        assert_memory_equal(a->grad.data, b->grad.data, cnn_tensor_numel(&a->grad) * sizeof(float));
    }
    free(xs);
    cnn_graph_free(f.g);
    cnn_graph_free(u.g);
}

static void test_fusion_batch1(void **state)
{
    (void)state;
    check(1, 1);
}

static void test_fusion_batched(void **state)
{
    (void)state;
    check(3, 3);
    check(3, 2);
}

int main(void)
{
    /* the fusion pass alone, bit for bit; the blocked layout pass (its own sums) is
       compared within float rounding in test_layout.c */
    setenv("CNN_LAYOUT", "0", 1);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fusion_batch1),
                                       cmocka_unit_test(test_fusion_batched)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

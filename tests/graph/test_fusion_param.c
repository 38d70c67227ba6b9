/* Inference fusion with parametric activations (graph/fuse.c carries alpha/beta into
   the conv epilogue): conv-bn-leaky_relu(0.2), conv-bn-add-clip(-0.5, 0.75),
   conv-elu(0.7) and conv-hardsigmoid(0.2, 0.5) give the same bits fused and unfused,
   and the fused activations are skipped. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct net {
    cnn_graph *g;
    cnn_node *x, *out, *leaky, *clip, *elu, *hsig;
} net;

static net build(int batch, bool fusion)
{
    net m;
    cnn_graph *g = m.g = cnn_graph_new();
    m.x = cnn_input(g, "x", 4, (int[]){batch, 8, 7, 7});
    cnn_node *h = cnn_batchnorm2d(g, cnn_conv2d(g, m.x, 8, .kernel = 3, .padding = 1, .name = "c1"),
                                  .name = "bn1");
    h = m.leaky = cnn_activation_p(g, h, CNN_ACT_LEAKY_RELU, 0.2f, 0.0f);
    cnn_node *a = cnn_batchnorm2d(g, cnn_conv2d(g, h, 8, .kernel = 1, .name = "c2"), .name = "bn2");
    h = m.clip = cnn_activation_p(g, cnn_add(g, a, h), CNN_ACT_CLIP, -0.5f, 0.75f);
    h = m.elu = cnn_activation_p(g, cnn_conv2d(g, h, 8, .kernel = 3, .padding = 1, .name = "c3"),
                                 CNN_ACT_ELU, 0.7f, 0.0f);
    h = m.hsig = cnn_activation_p(g, cnn_conv2d(g, h, 4, .kernel = 1, .name = "c4"),
                                  CNN_ACT_HARDSIGMOID, 0.2f, 0.5f);
    m.out = h;
    TU_OK(cnn_graph_set_fusion(g, fusion));
    TU_OK(cnn_graph_compile(g, 7));
    cnn_rng r;
    cnn_rng_seed(&r, 11);
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *prm = cnn_graph_param(g, i);
        size_t n = cnn_tensor_numel(&prm->value);
        if (strstr(prm->name, "running_var")) tu_fill(prm->value.data, n, 0.5f, 2.0f, &r);
        else if (strstr(prm->name, "bn")) tu_fill(prm->value.data, n, -0.5f, 0.5f, &r);
    }
    cnn_graph_set_training(g, false);
    return m;
}

static void test_fused_equals_unfused(void **state)
{
    (void)state;
    for (int batch = 1; batch <= 2; batch++) {
        net f = build(batch, true), u = build(batch, false);
        size_t n = (size_t)batch * 8 * 7 * 7;
        float *xs = malloc(n * sizeof *xs);
        cnn_rng r;
        cnn_rng_seed(&r, 5);
        tu_fill(xs, n, -2, 2, &r);
        cnn_graph_set_profiling(f.g, true);
        TU_OK(cnn_graph_set_input(f.g, f.x, xs, batch));
        TU_OK(cnn_graph_forward(f.g));
        TU_OK(cnn_graph_set_input(u.g, u.x, xs, batch));
        TU_OK(cnn_graph_forward(u.g));
        cnn_tensor a = cnn_node_value(f.out), b = cnn_node_value(u.out);
        assert_int_equal(cnn_tensor_numel(&a), (size_t)batch * 4 * 7 * 7);
        assert_memory_equal(a.data, b.data, cnn_tensor_numel(&a) * sizeof(float));
        cnn_node *skipped[] = {f.leaky, f.clip, f.elu, f.hsig};
        for (int i = 0; i < 4; i++) assert_int_equal(cnn_node_profile_get(skipped[i]).calls, 0);
        /* each activation's own value, stopping inside the chains */
        cnn_node *fu[] = {f.leaky, f.clip, f.elu}, *un[] = {u.leaky, u.clip, u.elu};
        for (int i = 0; i < 3; i++) {
            TU_OK(cnn_graph_forward_until(f.g, fu[i]));
            TU_OK(cnn_graph_forward_until(u.g, un[i]));
            cnn_tensor p = cnn_node_value(fu[i]), q = cnn_node_value(un[i]);
            assert_memory_equal(p.data, q.data, cnn_tensor_numel(&p) * sizeof(float));
        }
        free(xs);
        cnn_graph_free(f.g);
        cnn_graph_free(u.g);
    }
}

int main(void)
{
    /* the fusion pass alone, bit for bit (the blocked layout pass, with its own sums,
       is compared within float rounding in test_layout.c) */
    setenv("CNN_LAYOUT", "0", 1);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fused_equals_unfused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

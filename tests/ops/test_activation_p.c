/* parametric activations (cnn_activation_p: leaky ReLU, ELU, clip, hard-sigmoid):
   beyond the operator harness (test_backend_ops.c: forward against the ONNX / torch
   formulas, finite differences away from the kinks, every backend against ref): the
   kinks' one-sided gradients (torch's choices); hard-sigmoid at alpha 1/6, beta 1/2
   equal bit for bit to cnn_hardsigmoid; cnn_activation's defaults; describe()
   attributes; the kinds without parameters ignore them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct pcase {
    cnn_act act;
    float alpha, beta;
} pcase;

#define NCASES (sizeof cases / sizeof cases[0])

enum { N = 3, C = 4, H = 5, W = 6, NX = N * C * H * W };

/* exactly at the kinks: leaky relu slope alpha at 0, clip passes at both bounds
   (torch.clamp), hard-sigmoid 0 where alpha x + beta is 0 or 1 */
static void test_kink_gradients(void **state)
{
    (void)state;
    static const struct {
        pcase c;
        float x, want;
    } k[] = {
        {{CNN_ACT_LEAKY_RELU, 0.1f, 0}, 0.0f, 0.1f}, {{CNN_ACT_ELU, 0.5f, 0}, 0.0f, 0.5f},
        {{CNN_ACT_CLIP, -1, 1}, -1.0f, 1.0f},        {{CNN_ACT_CLIP, -1, 1}, 1.0f, 1.0f},
        {{CNN_ACT_CLIP, -1, 1}, 1.5f, 0.0f},         {{CNN_ACT_HARDSIGMOID, 0.25f, 0.5f}, 2.0f, 0.0f},
        {{CNN_ACT_HARDSIGMOID, 0.25f, 0.5f}, -2.0f, 0.0f},
        {{CNN_ACT_HARDSIGMOID, 0.25f, 0.5f}, 1.0f, 0.25f},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 2, (int[]){1, 1});
        cnn_input_requires_grad(x);
        cnn_node *y = cnn_activation_p(g, x, k[i].c.act, k[i].c.alpha, k[i].c.beta);
        TU_OK(cnn_graph_compile(g, 0));
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, x, &k[i].x, 1));
        TU_OK(cnn_graph_forward(g));
        const float one = 1.0f;
        TU_OK(cnn_graph_backward_from(g, y, &one));
        if (cnn_node_grad(x).data[0] != k[i].want)
            fail_msg("kink %zu: grad %g, want %g", i, (double)cnn_node_grad(x).data[0],
                     (double)k[i].want);
        cnn_graph_free(g);
    }
}

/* cnn_hardsigmoid == cnn_activation_p(HARDSIGMOID, 1/6, 1/2) bit for bit; defaults of
   cnn_activation for the parametric kinds (leaky 0.01, elu 1, clip unbounded) */
static void test_defaults_and_describe(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 50});
    cnn_node *h1 = cnn_hardsigmoid(g, x);
    cnn_node *h2 = cnn_activation_p(g, x, CNN_ACT_HARDSIGMOID, 1.0f / 6.0f, 0.5f);
    cnn_node *l1 = cnn_activation(g, x, CNN_ACT_LEAKY_RELU);
    cnn_node *l2 = cnn_activation_p(g, x, CNN_ACT_LEAKY_RELU, 0.01f, 0);
    cnn_node *e1 = cnn_activation(g, x, CNN_ACT_ELU);
    cnn_node *e2 = cnn_activation_p(g, x, CNN_ACT_ELU, 1.0f, 0);
    cnn_node *c1 = cnn_activation(g, x, CNN_ACT_CLIP);
    cnn_node *r1 = cnn_activation_p(g, x, CNN_ACT_RELU, 5.0f, 7.0f); /* ignored */
    cnn_node *outs[] = {h1, h2, l1, l2, e1, e2, c1, r1};
    for (int i = 0; i < 8; i++) cnn_graph_mark_output(g, outs[i]);
    TU_OK(cnn_graph_status(g));
    assert_string_equal(cnn_node_name(l2), "leaky_relu1");
    float xs[100];
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    tu_fill(xs, 100, -5, 5, &r);
    tu_forward(g, x, xs, 2);
    assert_memory_equal(cnn_node_value(h1).data, cnn_node_value(h2).data, 100 * sizeof(float));
    assert_memory_equal(cnn_node_value(l1).data, cnn_node_value(l2).data, 100 * sizeof(float));
    assert_memory_equal(cnn_node_value(e1).data, cnn_node_value(e2).data, 100 * sizeof(float));
    assert_memory_equal(cnn_node_value(c1).data, xs, 100 * sizeof(float));
    for (int i = 0; i < 100; i++) assert_true(cnn_node_value(r1).data[i] == (xs[i] > 0 ? xs[i] : 0));
    /* describe: act, alpha, beta */
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    l2->op->describe(l2, &d);
    assert_int_equal(d.n_attrs, 3);
    assert_string_equal(d.attrs[0].key, "act");
    assert_int_equal(d.attrs[0].i[0], CNN_ACT_LEAKY_RELU);
    assert_string_equal(d.attrs[1].key, "alpha");
    assert_true(d.attrs[1].is_float && d.attrs[1].f[0] == 0.01f);
    assert_string_equal(d.attrs[2].key, "beta");
    memset(&d, 0, sizeof d);
    r1->op->describe(r1, &d);
    assert_true(d.attrs[1].f[0] == 0.0f && d.attrs[2].f[0] == 0.0f);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kink_gradients),
        cmocka_unit_test(test_defaults_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The general tensor ops in a trained network, as an imported graph would use them:
   conv -> binary mul by a (1, C, 1, 1) parameter node -> pad -> global max pool ->
   reshape to (N, C) -> matmul with a (C, K) parameter node + a (K) bias through binary
   add -> leaky relu -> log-softmax, cross-entropy on a fixed batch. SGD steps lower the
   loss, the optimizer updates the parameter nodes' values (the next forward reads
   them), and two runs with the same seed give the same bits. The whole gradient
   passes a finite-difference check with a mean (cnn_reduce) in place of the max pool:
   a maximum over a conv's outputs has near-ties (gaps of 1e-4 occur in this data)
   that central differences cannot step over; test_global_maxpool.c checks it on
   well-separated values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { N = 4, C = 3, H = 6, W = 6, F = 5, K = 3 };

typedef struct net {
    cnn_graph *g;
    cnn_node *x, *y, *loss;
} net;

static net build(bool smooth)
{
    net m;
    cnn_graph *g = m.g = cnn_graph_new();
    m.x = cnn_input(g, "x", 4, (int[]){N, C, H, W});
    m.y = cnn_labels(g, "y", N);
    cnn_node *h = cnn_conv2d(g, m.x, F, .kernel = 3, .name = "conv");
    cnn_node *s = cnn_parameter(g, "scale", 4, (int[]){1, F, 1, 1}, true);
    h = cnn_binary(g, h, s, CNN_BIN_MUL);
    h = cnn_pad(g, h, (int[]){0, 0, 1, 1, 0, 0, 1, 1}, CNN_PAD_REFLECT, 0.0f);
    h = smooth ? cnn_reduce(g, h, CNN_REDUCE_MEAN, 2, (int[]){-2, -1}, true)
               : cnn_global_maxpool(g, h);
    h = cnn_reshape(g, h, 1, (int[]){F});
    cnn_node *w = cnn_parameter(g, "fc.weight", 2, (int[]){F, K}, true);
    cnn_node *b = cnn_parameter(g, "fc.bias", 1, (int[]){K}, true);
    h = cnn_binary(g, cnn_matmul(g, h, w), b, CNN_BIN_ADD);
    h = cnn_activation_p(g, h, CNN_ACT_LEAKY_RELU, 0.1f, 0.0f);
    h = cnn_softmax_axis(g, h, -1, true);
    m.loss = cnn_cross_entropy(g, h, m.y);
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 5));
    float sv[F], wv[F * K];
    cnn_rng r;
    cnn_rng_seed(&r, 6);
    tu_fill(sv, F, 0.5f, 1.5f, &r);
    tu_fill(wv, F * K, -0.5f, 0.5f, &r);
    TU_OK(cnn_graph_set_initial(g, "scale", sv, F));
    TU_OK(cnn_graph_set_initial(g, "fc.weight", wv, F * K));
    cnn_graph_set_training(g, true);
    float xv[N * C * H * W], yv[N] = {0, 1, 2, 1};
    cnn_rng_seed(&r, 7);
    tu_fill(xv, N * C * H * W, -1, 1, &r);
    TU_OK(cnn_graph_set_input(g, m.x, xv, N));
    TU_OK(cnn_graph_set_input(g, m.y, yv, N));
    return m;
}

static float train(net *m, int steps, float *first)
{
    cnn_optimizer *opt = cnn_optimizer_new(m->g, &(cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.1f});
    assert_non_null(opt);
    float loss = 0;
    for (int i = 0; i < steps; i++) {
        TU_OK(cnn_graph_forward(m->g));
        loss = cnn_node_value(m->loss).data[0];
        if (i == 0) *first = loss;
        TU_OK(cnn_graph_backward(m->g, m->loss));
        TU_OK(cnn_optimizer_step(opt));
    }
    cnn_optimizer_free(opt);
    return loss;
}

static void test_training_lowers_loss(void **state)
{
    (void)state;
    net a = build(false), b = build(false);
    float first, f2;
    cnn_param *w = cnn_graph_find_param(a.g, "fc.weight");
    float w0 = w->value.data[0];
    float last = train(&a, 30, &first), last_b = train(&b, 30, &f2);
    if (!(last < 0.7f * first)) fail_msg("loss %g -> %g: not lowered", (double)first, (double)last);
    assert_true(w->value.data[0] != w0);               /* the optimizer moved it */
    assert_memory_equal(&last, &last_b, sizeof last);  /* same seed, same bits */
    assert_memory_equal(cnn_graph_find_param(a.g, "scale")->value.data,
                        cnn_graph_find_param(b.g, "scale")->value.data, F * sizeof(float));
    cnn_graph_free(a.g);
    cnn_graph_free(b.g);
}

static void test_gradcheck(void **state)
{
    (void)state;
    net m = build(true);
    int bad = tu_gradcheck(m.g, m.loss, NULL, 0, 1e-3, 5e-3, 40);
    assert_int_equal(bad, 0);
    cnn_graph_free(m.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_lowers_loss),
        cmocka_unit_test(test_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

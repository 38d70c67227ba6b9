/* End to end: a small CNN built from the core ops learns a synthetic image task that
   chance cannot solve (4 classes of oriented bars at random places under noise:
   chance is 25%) to > 95% held-out accuracy in a few seconds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { S = 12, K = 4, B = 32 };

/* class 0: horizontal bar, 1: vertical, 2: diagonal, 3: anti-diagonal; length 5 */
static void make_example(cnn_rng *r, float *img, float *label)
{
    int c = (int)cnn_rng_below(r, K);
    for (int i = 0; i < S * S; i++) img[i] = 0.3f * cnn_rng_uniform(r);
    int y = 2 + (int)cnn_rng_below(r, S - 6), x = 2 + (int)cnn_rng_below(r, S - 6);
    for (int t = 0; t < 5; t++) {
        int yy = y, xx = x;
        if (c == 0) xx = x + t;
        if (c == 1) yy = y + t;
        if (c == 2) { yy = y + t; xx = x + t; }
        if (c == 3) { yy = y + t; xx = x + 4 - t; }
        if (yy >= 0 && yy < S && xx >= 0 && xx < S) img[yy * S + xx] += 0.8f;
    }
    *label = (float)c;
}

static void test_small_cnn_learns(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "input", 4, (int[]){B, 1, S, S});
    cnn_node *h = cnn_conv2d(g, x, 8, .kernel = 3, .padding = 1, .name = "conv1");
    h = cnn_relu(g, h);
    h = cnn_maxpool2d(g, h, .kernel = 2);
    h = cnn_conv2d(g, h, 16, .kernel = 3, .padding = 1, .name = "conv2");
    h = cnn_relu(g, cnn_batchnorm2d(g, h, .name = "bn2"));
    h = cnn_global_avgpool(g, h);
    cnn_node *logits = cnn_linear(g, cnn_flatten(g, h), K, .name = "fc");
    cnn_node *y = cnn_labels(g, "labels", B);
    cnn_node *loss = cnn_cross_entropy(g, logits, y);
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 42));
    cnn_optimizer *opt = cnn_optimizer_new(g, &(cnn_optim_opts){.kind = CNN_OPTIM_ADAM, .lr = 0.01f});
    assert_non_null(opt);

    cnn_rng r;
    cnn_rng_seed(&r, 7);
    float xb[B * S * S], yb[B];
    float first = 0, last = 0;
    int steps = 400;
    cnn_graph_set_training(g, true);
    for (int step = 0; step < steps; step++) {
        for (int i = 0; i < B; i++) make_example(&r, xb + i * S * S, yb + i);
        TU_OK(cnn_graph_set_input(g, x, xb, B));
        TU_OK(cnn_graph_set_input(g, y, yb, B));
        TU_OK(cnn_graph_forward(g));
        TU_OK(cnn_graph_backward(g, loss));
        TU_OK(cnn_optimizer_step(opt));
        float l = cnn_node_value(loss).data[0];
        if (step < 10) first += l / 10;
        if (step >= steps - 10) last += l / 10;
    }
    /* held-out examples from a different stream, in eval mode */
    cnn_graph_set_training(g, false);
    cnn_rng_seed(&r, 999);
    int correct = 0, total = 0;
    for (int b = 0; b < 16; b++) {
        for (int i = 0; i < B; i++) make_example(&r, xb + i * S * S, yb + i);
        TU_OK(cnn_graph_set_input(g, x, xb, B));
        TU_OK(cnn_graph_forward_until(g, logits));
        const float *z = cnn_node_value(logits).data;
        for (int i = 0; i < B; i++) {
            int best = 0;
            for (int k = 1; k < K; k++)
                if (z[i * K + k] > z[i * K + best]) best = k;
            correct += best == (int)yb[i];
            total++;
        }
    }
    double acc = (double)correct / total;
    printf("loss %.3f -> %.3f, held-out accuracy %.3f (%d examples)\n", first, last, acc, total);
    assert_true(last < first * 0.5f);
    assert_true(acc > 0.95);
    cnn_optimizer_free(opt);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_small_cnn_learns)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

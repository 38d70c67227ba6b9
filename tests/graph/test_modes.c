/* Switching between training and eval keeps the inputs' data: both memory plans put
   inputs at the same offsets, and a larger arena copies them over. */
#include <string.h>

#include "testutil.h"

static void test_inputs_survive_mode_switch(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 6, 6});
    cnn_node *h = cnn_relu(g, cnn_conv2d(g, x, 4, .kernel = 3, .name = "c1"));
    h = cnn_conv2d(g, h, 4, .kernel = 3, .name = "c2");
    cnn_node *y = cnn_linear(g, cnn_flatten(g, h), 3, .name = "fc");
    cnn_node *lab = cnn_labels(g, "labels", 2);
    cnn_node *loss = cnn_cross_entropy(g, y, lab);
    TU_OK(cnn_graph_compile(g, 1));
    float xs[2 * 3 * 6 * 6], ls[2] = {1, 2};
    cnn_rng r;
    cnn_rng_seed(&r, 3);
    tu_fill(xs, sizeof xs / sizeof xs[0], -1, 1, &r);

    /* inputs set in eval mode, then used in training mode (arena grows) */
    cnn_graph_set_training(g, false);
    TU_OK(cnn_graph_set_input(g, x, xs, 2));
    TU_OK(cnn_graph_set_input(g, lab, ls, 2));
    TU_OK(cnn_graph_forward(g));
    float eval_loss = cnn_node_value(loss).data[0];
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_forward(g));
    assert_memory_equal(cnn_node_value(x).data, xs, sizeof xs);
    assert_true(cnn_node_value(loss).data[0] == eval_loss); /* no BN/dropout: same value */
    TU_OK(cnn_graph_backward(g, loss));
    /* and back to eval */
    cnn_graph_set_training(g, false);
    TU_OK(cnn_graph_forward(g));
    assert_true(cnn_node_value(loss).data[0] == eval_loss);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_inputs_survive_mode_switch)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* conv2d: invalid options. Values, shapes, cost, default init and gradients over
   the option matrix are in the operator harness (test_backend_ops.c), exact
   gradients in test_conv_grad_exact.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, h, w, out, kh, kw, sh, sw, ph, pw, dh, dw, groups;
    bool bias;
} cfg;

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){1, 64, 8, 8}))
    FRESH();
    cnn_scope_push(g, "layer1");
    cnn_scope_push(g, "0");
    tu_expect_error(g, cnn_conv2d(g, x, 64, .kernel = 3, .groups = 3, .name = "conv1"),
                 CNN_ERR_INVALID_ARG, "conv2d 'layer1.0.conv1': groups 3 does not divide 64 input channels");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 8), CNN_ERR_INVALID_ARG, "kernel 0x0");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 8, .kernel = 3, .padding = -1), CNN_ERR_INVALID_ARG, "padding");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 8, .kernel = 3, .stride = -2), CNN_ERR_INVALID_ARG, "stride");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 8, .kernel = 11), CNN_ERR_SHAPE, "(1, 64, 8, 8)");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 0, .kernel = 3), CNN_ERR_INVALID_ARG, "out_channels");
    FRESH();
    /* an error propagates: later layers return NULL with the first message */
    cnn_node *bad = cnn_conv2d(g, x, 8, .kernel = 3, .groups = 5);
    cnn_node *next = cnn_relu(g, bad);
    tu_expect_error(g, next, CNN_ERR_INVALID_ARG, "groups 5");
    /* wrong rank */
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){1, 10});
    tu_expect_error(g, cnn_conv2d(g, x, 8, .kernel = 3), CNN_ERR_SHAPE, "(1, 10)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* conv_transpose2d: backward with two consumers; invalid options. Values (a
   scatter loop from the definition), shapes, cost, default init and gradients over the
   option matrix are in the operator harness (test_backend_ops.c), exact gradients in
   test_conv_grad_exact.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, h, w, out, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, groups;
    bool bias;
} cfg;

#define N_CASES (sizeof cases / sizeof cases[0])

/* Gradients accumulate (+=) into an input that feeds two layers. */
static void test_backward_two_consumers(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 4, 3, 4});
    cnn_input_requires_grad(x);
    cnn_node *a = cnn_conv_transpose2d(g, x, 3, .kernel = 3, .stride = 2, .name = "a");
    cnn_node *b = cnn_conv_transpose2d(g, x, 3, .kernel = 3, .stride = 2, .name = "b");
    cnn_node *y = cnn_add(g, a, b);
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 5));
    float xv[2 * 4 * 3 * 4];
    cnn_rng r;
    cnn_rng_seed(&r, 9);
    tu_fill(xv, sizeof xv / sizeof xv[0], -1, 1, &r);
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    int bad = tu_gradcheck(g, y, &x, 1, 1e-2, 1e-2, 60);
    assert_int_equal(bad, 0);
    cnn_graph_free(g);
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){1, 64, 8, 8}))
    FRESH();
    cnn_scope_push(g, "decoder");
    cnn_scope_push(g, "0");
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 32, .kernel = 3, .groups = 3, .name = "up"),
                 CNN_ERR_INVALID_ARG,
                 "conv_transpose2d 'decoder.0.up': groups 3 does not divide 64 input channels");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 6, .kernel = 3, .groups = 4), CNN_ERR_INVALID_ARG,
                 "groups 4 does not divide 6 output channels");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8), CNN_ERR_INVALID_ARG, "kernel 0x0");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .padding_w = -1),
                 CNN_ERR_INVALID_ARG, "padding 0x-1 must be >= 0");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .stride = -2), CNN_ERR_INVALID_ARG,
                 "stride -2x-2");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .dilation_h = -1),
                 CNN_ERR_INVALID_ARG, "dilation -1x1");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 0, .kernel = 3), CNN_ERR_INVALID_ARG,
                 "out_channels 0");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .output_padding = -1),
                 CNN_ERR_INVALID_ARG, "output_padding -1x-1 must be >= 0");
    FRESH();
    /* output_padding must be < stride or < dilation (PyTorch's rule) */
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .stride = 2, .output_padding = 2,
                                         .name = "up"),
                 CNN_ERR_INVALID_ARG,
                 "conv_transpose2d 'up': output_padding 2x2 must be smaller than stride 2x2 or "
                 "dilation 1x1");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .output_padding_w = 1),
                 CNN_ERR_INVALID_ARG, "output_padding 0x1");
    FRESH();
    /* padding larger than the output: (8-1) - 2*10 + 2 + 1 < 1 */
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .padding = 10), CNN_ERR_SHAPE,
                 "input (1, 64, 8, 8)");
    /* wrong rank */
    g = cnn_graph_new();
    x = cnn_input(g, "x", 5, (int[]){1, 3, 4, 8, 8});
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3), CNN_ERR_SHAPE,
                 "input must be (N, C, H, W), got (1, 3, 4, 8, 8)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_two_consumers),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

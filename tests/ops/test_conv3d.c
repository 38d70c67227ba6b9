/* conv3d: HybridSN's layer cost; invalid options. Values, shapes, cost, default
   init and gradients over the option matrix are in the operator harness
   (test_backend_ops.c), exact gradients in test_conv_grad_exact.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, d, h, w, out;
    int k[3], s[3], p[3], dl[3]; /* (D, H, W) */
    int groups;
    bool bias;
} cfg;

#define N_CASES (sizeof cases / sizeof cases[0])

/* HybridSN's first layer at full size: 8 * 24 * 23 * 23 outputs * 63 MACs, 512 params */
static void test_hybridsn_cost(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 5, (int[]){1, 1, 30, 25, 25});
    cnn_node *y = cnn_conv3d(g, x, 8, .kernel_d = 7, .kernel = 3, .name = "conv1");
    TU_OK(cnn_graph_status(g));
    cnn_tensor v = cnn_node_value(y);
    int want[5] = {1, 8, 24, 23, 23};
    assert_memory_equal(v.dims, want, sizeof want);
    cnn_cost c = cnn_node_cost(y);
    assert_int_equal(c.macs, (int64_t)8 * 24 * 23 * 23 * 63);
    assert_int_equal(c.params, 8 * 63 + 8);
    cnn_graph_free(g);
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 5, (int[]){1, 64, 6, 8, 8}))
    FRESH();
    cnn_scope_push(g, "features");
    tu_expect_error(g, cnn_conv3d(g, x, 64, .kernel = 3, .groups = 3, .name = "conv1"),
                 CNN_ERR_INVALID_ARG,
                 "conv3d 'features.conv1': groups 3 does not divide 64 input channels");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 9, .kernel = 3, .groups = 2), CNN_ERR_INVALID_ARG,
                 "groups 2 does not divide 9 output channels");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8), CNN_ERR_INVALID_ARG, "kernel 0x0x0");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .kernel_d = -1), CNN_ERR_INVALID_ARG,
                 "kernel -1x3x3");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .padding = -1), CNN_ERR_INVALID_ARG,
                 "padding -1x-1x-1");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .stride_h = -2), CNN_ERR_INVALID_ARG,
                 "stride 1x-2x1");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .dilation = -1), CNN_ERR_INVALID_ARG,
                 "dilation");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 0, .kernel = 3), CNN_ERR_INVALID_ARG, "out_channels 0");
    FRESH();
    /* depth 6 is too small for a 7-deep kernel even though H, W fit */
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel_d = 7, .kernel = 3, .name = "c"), CNN_ERR_SHAPE,
                 "conv3d 'c': kernel 7x3x3 (dilation 1x1x1) is larger than the padded input "
                 "(1, 64, 6, 8, 8)");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .dilation_w = 4), CNN_ERR_SHAPE,
                 "(1, 64, 6, 8, 8)");
    /* wrong rank: a 4-D (N, C, H, W) input */
    g = cnn_graph_new();
    x = cnn_input(g, "x", 4, (int[]){1, 3, 8, 8});
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3), CNN_ERR_SHAPE,
                 "input must be (N, C, D, H, W), got (1, 3, 8, 8)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hybridsn_cost),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

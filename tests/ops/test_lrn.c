/* lrn beyond the operator harness (test_backend_ops.c: PyTorch's
   LocalResponseNorm in double for sizes 5, 4, 1 and larger than C, gradients, every
   backend against ref): cost and shape; defaults; invalid options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int ndim; /* 3: (N, C, L); 4: (N, C, H, W) */
    int n, c, h, w;
    int size;
    float alpha, beta, k; /* 0 = default */
} cfg;

static void test_cost_and_shape(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){3, 16, 5, 5});
    cnn_node *y = cnn_lrn(g, x, .size = 5);
    TU_OK(cnn_graph_status(g));
    assert_string_equal(cnn_node_op(y), "lrn");
    cnn_tensor v = cnn_node_value(y);
    assert_int_equal(v.ndim, 4);
    assert_int_equal(v.dims[1], 16);
    cnn_cost cost = cnn_node_cost(y);
    assert_int_equal(cost.params, 0);
    assert_int_equal(cost.macs, (int64_t)16 * 5 * 5 * (5 + 2));
    cnn_graph_free(g);
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){1, 8, 4, 4}))
    FRESH();
    tu_expect_error(g, cnn_lrn(g, x, .name = "norm1"), CNN_ERR_INVALID_ARG, "lrn 'norm1': size 0");
    FRESH();
    tu_expect_error(g, cnn_lrn(g, x, .size = -3), CNN_ERR_INVALID_ARG, "size -3");
    FRESH();
    tu_expect_error(g, cnn_lrn(g, x, .size = 5, .alpha = -1.0f), CNN_ERR_INVALID_ARG, "alpha");
    FRESH();
    tu_expect_error(g, cnn_lrn(g, x, .size = 5, .k = -1.0f), CNN_ERR_INVALID_ARG, "k -1");
#undef FRESH
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){1, 10});
    tu_expect_error(g, cnn_lrn(g, x, .size = 3), CNN_ERR_SHAPE, "(1, 10)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_and_shape),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

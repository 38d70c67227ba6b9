/* unary: abs'(0) = 0 as torch; describe(); an unknown op naming the node. Values
   against libm in double and gradients: the operator harness (test_backend_ops.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

#define NOPS (sizeof ops / sizeof ops[0])

static void test_abs_at_zero_describe_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){1, 3});
    cnn_input_requires_grad(x);
    cnn_node *y = cnn_unary(g, x, CNN_UN_ABS);
    TU_OK(cnn_graph_compile(g, 0));
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, x, (float[]){0, -2, 2}, 1));
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward_from(g, y, (float[]){1, 1, 1}));
    const float want[3] = {0, -1, 1};
    assert_memory_equal(cnn_node_grad(x).data, want, sizeof want);
    assert_string_equal(cnn_node_name(y), "abs0");
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_string_equal(d.attrs[0].key, "op");
    assert_int_equal(d.attrs[0].i[0], CNN_UN_ABS);
    cnn_graph_free(g);
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){1, 3});
    tu_expect_error(g, cnn_unary(g, x, (cnn_unary_op)17), CNN_ERR_INVALID_ARG,
                    "unary 'unary0': unknown unary op 17");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abs_at_zero_describe_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

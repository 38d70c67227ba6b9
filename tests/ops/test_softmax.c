/* softmax over dim 1: invalid input. Values (also with large logits), a smaller
   batch and gradients: the operator harness (test_backend_ops.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int ndim, n, c, h, w;
    float lo, hi; /* input range */
} cfg;

static void test_invalid_input(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 1, (int[]){4});
    assert_null(cnn_softmax(g, x));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_graph_error(g), "softmax"));
    assert_non_null(strstr(cnn_graph_error(g), "(4)"));
    cnn_graph_free(g);
    /* a NULL input propagates */
    g = cnn_graph_new();
    assert_null(cnn_softmax(g, NULL));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

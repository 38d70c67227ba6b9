/* mul_channel: shape errors naming both shapes. Values (s (N, C, 1, 1), (N, C),
   5-D) and gradients: the operator harness (test_backend_ops.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int xnd, xd[5];
    int snd, sd[5];
} cfg;

static void expect_error(const int *xd, int snd, const int *sd, const char *needle)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, xd);
    cnn_node *s = cnn_input(g, "s", snd, sd);
    cnn_scope_push(g, "se");
    assert_null(cnn_mul_channel(g, x, s));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    if (!strstr(cnn_graph_error(g), needle))
        fail_msg("error '%s' does not mention '%s'", cnn_graph_error(g), needle);
    cnn_graph_free(g);
}

static void test_invalid_shapes(void **state)
{
    (void)state;
    expect_error((int[]){2, 3, 4, 5}, 4, (int[]){2, 4, 1, 1},
                 "mul_channel 'se.mul_channel0': scale (2, 4, 1, 1) does not fit input "
                 "(2, 3, 4, 5)");
    expect_error((int[]){2, 3, 4, 5}, 4, (int[]){2, 3, 2, 1}, "scale (2, 3, 2, 1)");
    expect_error((int[]){2, 3, 4, 5}, 1, (int[]){2}, "scale (2)");
    /* x of rank 2 */
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 3});
    assert_null(cnn_mul_channel(g, x, x));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_graph_error(g), "got (2, 3)"));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

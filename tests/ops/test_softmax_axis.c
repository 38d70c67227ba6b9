/* softmax_axis beyond the operator harness (test_backend_ops.c: softmax and
   log-softmax along every axis of batched and unbatched tensors against double,
   large inputs, gradients, every backend against ref): axis 1 equals cnn_softmax bit
   for bit; errors naming the node; describe(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct scase {
    int nd, d[5];
    bool batched;
    int axis;
} scase;

#define NCASES (sizeof cases / sizeof cases[0])

static void test_same_as_softmax(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 5, 3, 2});
    cnn_node *a = cnn_softmax(g, x), *b = cnn_softmax_axis(g, x, 1, false);
    cnn_graph_mark_output(g, a);
    cnn_graph_mark_output(g, b);
    float xv[60];
    cnn_rng r;
    cnn_rng_seed(&r, 2);
    tu_fill(xv, 60, -3, 3, &r);
    tu_forward(g, x, xv, 2);
    assert_memory_equal(cnn_node_value(a).data, cnn_node_value(b).data, sizeof xv);
    cnn_graph_free(g);
}

static void test_errors_and_describe(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_softmax_axis(g, x, 0, false), CNN_ERR_SHAPE,
                    "softmax_axis 'softmax': axis 0 is the batch of (2, 3, 4)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_softmax_axis(g, x, -4, true), CNN_ERR_INVALID_ARG,
                    "softmax_axis 'log_softmax': axis -4 is outside the 3 dimensions of (2, 3, 4)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    cnn_node *y = cnn_softmax_axis(g, x, -1, true);
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_string_equal(d.attrs[0].key, "axis");
    assert_int_equal(d.attrs[0].i[0], -1);
    assert_string_equal(d.attrs[1].key, "log");
    assert_int_equal(d.attrs[1].i[0], 1);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_softmax),
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* reduce beyond the operator harness (test_backend_ops.c: every op over axis sets
   with and without keepdims, batched and unbatched, gradients on tie-free data, every
   backend against ref): the tie rule (equal split, torch.amax); NaN propagation;
   errors (batch axis, repeated or bad axis) naming the node; describe() lists the
   resolved axes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct rcase {
    int nd, d[5];
    bool batched;
    int naxes, axes[4];
    bool keep;
} rcase;

#define NCASES (sizeof cases / sizeof cases[0])

/* ties split the gradient equally (amax); a NaN wins and takes no gradient */
static void test_ties_and_nan(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 4});
    cnn_input_requires_grad(x);
    cnn_node *y = cnn_reduce(g, x, CNN_REDUCE_MAX, 1, (int[]){1}, false);
    TU_OK(cnn_graph_compile(g, 0));
    cnn_graph_set_training(g, true);
    const float xv[8] = {1, 3, 3, 2, 0, NAN, 5, 1};
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    TU_OK(cnn_graph_forward(g));
    assert_true(cnn_node_value(y).data[0] == 3.0f);
    assert_true(isnan(cnn_node_value(y).data[1]));
    TU_OK(cnn_graph_backward_from(g, y, (float[]){1, 1}));
    const float want[8] = {0, 0.5f, 0.5f, 0, 0, 0, 0, 0};
    assert_memory_equal(cnn_node_grad(x).data, want, sizeof want);
    cnn_graph_free(g);
}

static void test_errors_and_describe(void **state)
{
    (void)state;
    static const struct {
        int naxes, axes[3];
        cnn_status s;
        const char *needle;
    } bad[] = {
        {1, {0}, CNN_ERR_SHAPE, "reduce 'reduce0': axis 0 is the batch of (2, 3, 4): it cannot be reduced"},
        {2, {1, -3}, CNN_ERR_SHAPE, "axis -3 is the batch"},
        {1, {3}, CNN_ERR_INVALID_ARG, "axis 3 is outside the 3 dimensions of (2, 3, 4)"},
        {2, {1, -2}, CNN_ERR_INVALID_ARG, "axis -2 is given twice"},
        {4, {1, 2, 0}, CNN_ERR_INVALID_ARG, "4 axes for the 3 dimensions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
        tu_expect_error(g, cnn_reduce(g, x, CNN_REDUCE_SUM, bad[i].naxes, bad[i].axes, true),
                        bad[i].s, bad[i].needle);
    }
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_reduce(g, x, (cnn_reduce_op)7, 0, NULL, true), CNN_ERR_INVALID_ARG,
                    "unknown reduce op 7");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 5});
    cnn_node *y = cnn_reduce(g, x, CNN_REDUCE_MAX, 2, (int[]){-1, 2}, false);
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_string_equal(d.attrs[0].key, "op");
    assert_int_equal(d.attrs[0].i[0], CNN_REDUCE_MAX);
    assert_string_equal(d.attrs[1].key, "axes");
    assert_int_equal(d.attrs[1].n, 2);
    assert_int_equal(d.attrs[1].i[0], 2);
    assert_int_equal(d.attrs[1].i[1], 3);
    assert_string_equal(d.attrs[2].key, "keepdims");
    assert_int_equal(d.attrs[2].i[0], 0);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ties_and_nan),
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* linear beyond the operator harness (test_backend_ops.c: values, cost, default
   init, gradients, every backend against ref): backward at a smaller batch; invalid
   inputs and options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, in, out;
    bool bias;
} cfg;

static cnn_node *build(cnn_graph *g, const cfg *c, cnn_node **in)
{
    *in = cnn_input(g, "x", 2, (int[]){c->n, c->in});
    cnn_input_requires_grad(*in);
    return cnn_linear(g, *in, c->out, .no_bias = !c->bias, .name = "fc");
}

static void test_backward_smaller_batch(void **state)
{
    (void)state;
    cfg c = {5, 6, 3, true};
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *y = build(g, &c, &in);
    TU_OK(cnn_graph_compile(g, 3));
    float x[30];
    cnn_rng r;
    cnn_rng_seed(&r, 8);
    tu_fill(x, 30, -1, 1, &r);
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, in, x, 2));
    /* same reasoning as test_backward_gradcheck */
    assert_int_equal(tu_gradcheck(g, y, &in, 1, 1e-2, 2e-3, 60), 0);
    cnn_graph_free(g);
}

static void test_invalid(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 4});
    cnn_scope_push(g, "classifier");
    tu_expect_error(g, cnn_linear(g, x, 10, .name = "6"), CNN_ERR_SHAPE,
                 "linear 'classifier.6': input (2, 3, 4, 4) is not flat");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 8});
    tu_expect_error(g, cnn_linear(g, x, 0, .name = "fc"), CNN_ERR_INVALID_ARG, "out_features 0");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 8});
    tu_expect_error(g, cnn_linear(g, x, -4), CNN_ERR_INVALID_ARG, "out_features -4");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 1, (int[]){8});
    tu_expect_error(g, cnn_linear(g, x, 3), CNN_ERR_SHAPE, "(8)");
    /* flatten first, and it works */
    g = cnn_graph_new();
    x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 4});
    cnn_node *y = cnn_linear(g, cnn_flatten(g, x), 10);
    TU_OK(cnn_graph_status(g));
    assert_int_equal(cnn_node_value(y).dims[1], 10);
    assert_int_equal(cnn_graph_param(g, 0)->value.dims[1], 48);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_smaller_batch),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

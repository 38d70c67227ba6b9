/* constant / parameter / cnn_graph_set_initial: values (copied at build, the source
   may change after), unbatched shapes next to a batched input, parameters named as the
   node (scoped), zero by default, set_initial applied at compile and after it, wrong
   count / unknown name errors, gradients of a parameter node (used twice) by central
   differences, buffers without gradient, bad shapes naming the node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void test_constant_values(void **state)
{
    (void)state;
    float data[2 * 3 * 4];
    for (int i = 0; i < 24; i++) data[i] = (float)i * 0.5f - 3.0f;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){5, 3});
    cnn_node *k = cnn_constant(g, "k", 3, (int[]){2, 3, 4}, data);
    TU_OK(cnn_graph_status(g));
    assert_string_equal(cnn_node_op(k), "constant");
    data[0] = 99.0f; /* copied at build */
    cnn_tensor v = cnn_node_value(k);
    assert_int_equal(v.ndim, 3);
    assert_int_equal(v.dims[0], 2);
    float xv[15] = {0};
    tu_forward(g, x, xv, 3); /* a smaller batch does not touch an unbatched node */
    v = cnn_node_value(k);
    assert_int_equal(v.dims[0], 2);
    assert_true(v.data[0] == -3.0f);
    for (int i = 1; i < 24; i++) assert_true(v.data[i] == (float)i * 0.5f - 3.0f);
    assert_int_equal(cnn_node_cost(k).macs, 0);
    assert_int_equal(cnn_node_cost(k).params, 0);
    cnn_graph_free(g);
}

static void test_parameter_initial(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_scope_push(g, "fc");
    cnn_node *w = cnn_parameter(g, "weight", 2, (int[]){3, 2}, true);
    cnn_node *b = cnn_parameter(g, "bias", 1, (int[]){3}, true);
    cnn_node *m = cnn_parameter(g, "running_mean", 1, (int[]){3}, false);
    cnn_scope_pop(g);
    TU_OK(cnn_graph_status(g));
    assert_string_equal(cnn_node_name(w), "fc.weight");
    cnn_param *pw = cnn_graph_find_param(g, "fc.weight");
    assert_non_null(pw);
    assert_true(pw->trainable);
    assert_int_equal(pw->role, CNN_PARAM_WEIGHT);
    assert_int_equal(cnn_graph_find_param(g, "fc.bias")->role, CNN_PARAM_BIAS);
    assert_false(cnn_graph_find_param(g, "fc.running_mean")->trainable);
    assert_int_equal(cnn_node_cost(w).params, 6);
    const float wv[6] = {1, 2, 3, 4, 5, 6}, mv[3] = {-1, -2, -3};
    TU_OK(cnn_graph_set_initial(g, "fc.weight", wv, 6));
    TU_OK(cnn_graph_set_initial(g, "fc.running_mean", mv, 3));
    /* errors: unknown name, wrong count, NULL */
    assert_int_equal(cnn_graph_set_initial(g, "fc.nope", wv, 6), CNN_ERR_NOT_FOUND);
    assert_non_null(strstr(cnn_error_message(), "fc.nope"));
    assert_int_equal(cnn_graph_set_initial(g, "fc.weight", wv, 5), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_error_message(), "5 values given"));
    assert_non_null(strstr(cnn_error_message(), "(3, 2)"));
    assert_int_equal(cnn_graph_set_initial(g, "fc.weight", NULL, 6), CNN_ERR_INVALID_ARG);
    TU_OK(cnn_graph_compile(g, 7));
    TU_OK(cnn_graph_forward(g));
    for (int i = 0; i < 6; i++) assert_true(cnn_node_value(w).data[i] == wv[i]);
    for (int i = 0; i < 3; i++) assert_true(cnn_node_value(b).data[i] == 0.0f); /* default */
    for (int i = 0; i < 3; i++) assert_true(cnn_node_value(m).data[i] == mv[i]);
    /* after compile: written straight into the parameter */
    const float bv[3] = {0.5f, 0.25f, 0.125f};
    TU_OK(cnn_graph_set_initial(g, "fc.bias", bv, 3));
    TU_OK(cnn_graph_forward(g));
    for (int i = 0; i < 3; i++) assert_true(cnn_node_value(b).data[i] == bv[i]);
    /* cnn_graph_init still overrides */
    cnn_init c = {.kind = CNN_INIT_CONSTANT, .value = 2.0f};
    TU_OK(cnn_graph_init(g, CNN_PARAM_WEIGHT, &c, false, 1));
    TU_OK(cnn_graph_forward(g));
    for (int i = 0; i < 6; i++) assert_true(cnn_node_value(w).data[i] == 2.0f);
    cnn_graph_free(g);
}

/* set_initial called twice keeps the last values; a graph freed before compile frees
   the copies (ASan) */
static void test_initial_replaced(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *p = cnn_parameter(g, "p", 1, (int[]){2}, true);
    TU_OK(cnn_graph_set_initial(g, "p", (float[]){1, 2}, 2));
    TU_OK(cnn_graph_set_initial(g, "p", (float[]){3, 4}, 2));
    TU_OK(cnn_graph_compile(g, 0));
    TU_OK(cnn_graph_forward(g));
    assert_true(cnn_node_value(p).data[0] == 3.0f && cnn_node_value(p).data[1] == 4.0f);
    cnn_graph_free(g);
    g = cnn_graph_new();
    cnn_parameter(g, "q", 1, (int[]){2}, true);
    TU_OK(cnn_graph_set_initial(g, "q", (float[]){1, 2}, 2));
    cnn_graph_free(g);
}

/* a parameter node used twice (tanh(p) + sigmoid(p)): gradients of both uses reach
   the parameter */
static void test_parameter_gradient(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *p = cnn_parameter(g, "p", 2, (int[]){3, 4}, true);
    cnn_node *buf = cnn_parameter(g, "buf", 2, (int[]){3, 4}, false);
    cnn_node *y = cnn_add(g, cnn_tanh(g, p), cnn_sigmoid(g, p));
    cnn_node *z = cnn_add(g, y, cnn_tanh(g, buf));
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 3));
    float v[12];
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    tu_fill(v, 12, -1.5f, 1.5f, &r);
    TU_OK(cnn_graph_set_initial(g, "p", v, 12));
    TU_OK(cnn_graph_set_initial(g, "buf", v, 12));
    assert_int_equal(tu_gradcheck(g, z, NULL, 0, 1e-3, 2e-3, 12), 0);
    assert_null(cnn_node_grad(buf).data); /* a buffer takes no gradient */
    cnn_graph_free(g);
}

/* set_initial on a layer's parameter (what an importer does with a conv / linear
   weight): the layer computes with those values, and the other parameters get the
   same default initialisation as without it (the default init runs first, drawing
   the same random numbers) */
static void test_initial_of_layer(void **state)
{
    (void)state;
    cnn_graph *gs[2];
    for (int k = 0; k < 2; k++) {
        cnn_graph *g = gs[k] = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 3});
        cnn_node *h = cnn_linear(g, x, 2, .name = "fc1");
        cnn_linear(g, h, 4, .name = "fc2");
        if (k) {
            const float w[6] = {1, 0, 0, 0, 1, 0};
            TU_OK(cnn_graph_set_initial(g, "fc1.weight", w, 6));
            TU_OK(cnn_graph_set_initial(g, "fc1.bias", (float[]){0.5f, -0.5f}, 2));
        }
        TU_OK(cnn_graph_compile(g, 42));
    }
    cnn_param *w2a = cnn_graph_find_param(gs[0], "fc2.weight"), *w2b = cnn_graph_find_param(gs[1], "fc2.weight");
    assert_memory_equal(w2a->value.data, w2b->value.data, 8 * sizeof(float));
    const float xv[6] = {1, 2, 3, 4, 5, 6};
    tu_forward(gs[1], cnn_graph_find(gs[1], "x"), xv, 2);
    cnn_tensor h = cnn_node_value(cnn_graph_find(gs[1], "fc1"));
    const float want[4] = {1.5f, 1.5f, 4.5f, 4.5f}; /* (x0 + 0.5, x1 - 0.5) per row */
    assert_memory_equal(h.data, want, sizeof want);
    cnn_graph_free(gs[0]);
    cnn_graph_free(gs[1]);
}

static void test_errors(void **state)
{
    (void)state;
    const float d[4] = {0};
    cnn_graph *g = cnn_graph_new();
    tu_expect_error(g, cnn_constant(g, "k", 0, (int[]){1}, d), CNN_ERR_INVALID_ARG,
                    "constant 'k': 0 dimensions");
    g = cnn_graph_new();
    tu_expect_error(g, cnn_constant(g, "k", 2, (int[]){2, 0}, d), CNN_ERR_INVALID_ARG,
                    "constant 'k': every dimension must be >= 1");
    g = cnn_graph_new();
    tu_expect_error(g, cnn_constant(g, "k", 2, (int[]){2, 2}, NULL), CNN_ERR_INVALID_ARG,
                    "constant 'k': data is NULL");
    g = cnn_graph_new();
    tu_expect_error(g, cnn_constant(g, "k", 2, (int[]){1 << 30, 1 << 30}, d),
                    CNN_ERR_INVALID_ARG, "more than 2^40");
    g = cnn_graph_new();
    tu_expect_error(g, cnn_parameter(g, "w", 7, (int[]){1, 1, 1, 1, 1, 1, 1}, true),
                    CNN_ERR_INVALID_ARG, "parameter 'w': 7 dimensions");
    g = cnn_graph_new();
    cnn_parameter(g, "w", 1, (int[]){2}, true);
    tu_expect_error(g, cnn_parameter(g, "w", 1, (int[]){3}, true), CNN_ERR_INVALID_ARG,
                    "parameter name 'w' is already used");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_values),   cmocka_unit_test(test_parameter_initial),
        cmocka_unit_test(test_initial_replaced),  cmocka_unit_test(test_parameter_gradient),
        cmocka_unit_test(test_initial_of_layer), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

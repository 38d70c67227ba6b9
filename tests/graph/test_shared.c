/* Weight sharing (cnn_apply_shared) and the structure accessors of include/cnn.h used
   by layers above the graph (cnn_node_dim, cnn_node_input, cnn_node_param_at,
   cnn_graph_fail): a shared linear/conv layer computes the same function as its
   source with the same parameters, its gradients add into them (finite differences),
   parameters are counted once, and misuse is a clear error. */
#include <math.h>
#include <string.h>

#include "testutil.h"

/* y = W a + b and z = W c + b through one shared linear layer: values against a
   plain computation with the layer's parameters. */
static void test_shared_forward(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 2, (int[]){3, 5});
    cnn_node *c = cnn_input(g, "c", 2, (int[]){3, 5});
    cnn_node *y = cnn_linear(g, a, 4, .name = "fc");
    cnn_node *z = cnn_apply_shared(g, y, 1, &c, NULL);
    assert_non_null(z);
    cnn_node *sum = cnn_add(g, y, z);
    cnn_graph_mark_output(g, y);
    cnn_graph_mark_output(g, z);
    cnn_graph_mark_output(g, sum);
    assert_string_equal(cnn_node_name(z), "fc_1");
    assert_ptr_equal(cnn_node_shares(z), y);
    assert_null(cnn_node_shares(y));
    assert_int_equal(cnn_node_num_params(z), 2);
    assert_ptr_equal(cnn_node_param_at(z, 0), cnn_node_param_at(y, 0));
    assert_ptr_equal(cnn_node_param_at(z, 1), cnn_node_param_at(y, 1));
    assert_null(cnn_node_param_at(z, 2));
    assert_int_equal(cnn_graph_num_params(g), 2); /* fc.weight, fc.bias: no new ones */
    assert_int_equal(cnn_node_cost(z).params, 0); /* counted once, at the source */
    assert_int_equal(cnn_node_cost(y).params, 4 * 5 + 4);
    assert_int_equal(cnn_graph_cost(g).params, 4 * 5 + 4);
    assert_int_equal(cnn_node_cost(z).macs, cnn_node_cost(y).macs);
    TU_OK(cnn_graph_compile(g, 7));
    float xa[15], xc[15];
    cnn_rng r;
    cnn_rng_seed(&r, 3);
    tu_fill(xa, 15, -1, 1, &r);
    tu_fill(xc, 15, -1, 1, &r);
    TU_OK(cnn_graph_set_input(g, a, xa, 3));
    TU_OK(cnn_graph_set_input(g, c, xc, 3));
    TU_OK(cnn_graph_forward(g));
    const float *w = cnn_node_param_at(y, 0)->value.data, *b = cnn_node_param_at(y, 1)->value.data;
    float ey[12], ez[12];
    for (int n = 0; n < 3; n++)
        for (int o = 0; o < 4; o++) {
            double sy = b[o], sz = b[o];
            for (int i = 0; i < 5; i++) {
                sy += (double)w[o * 5 + i] * xa[n * 5 + i];
                sz += (double)w[o * 5 + i] * xc[n * 5 + i];
            }
            ey[n * 4 + o] = (float)sy;
            ez[n * 4 + o] = (float)sz;
        }
    TU_ASSERT_CLOSE(cnn_node_value(y).data, ey, 12, 1e-5f, 1e-5f, "source");
    TU_ASSERT_CLOSE(cnn_node_value(z).data, ez, 12, 1e-5f, 1e-5f, "shared");
    cnn_graph_free(g);
}

/* The shared parameters' gradient is the sum over both uses (finite differences), for
   a conv applied to two inputs and a chain through both (CBAM's shared MLP). */
static void test_shared_gradient(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 5, 5});
    cnn_input_requires_grad(x);
    cnn_node *avg = cnn_global_avgpool(g, x);
    cnn_node *max = cnn_global_maxpool(g, x);
    cnn_node *fc1 = cnn_conv2d(g, avg, 2, .name = "fc1", .kernel = 1);
    cnn_node *fc2 = cnn_conv2d(g, cnn_tanh(g, fc1), 3, .name = "fc2", .kernel = 1);
    cnn_node *m = cnn_tanh(g, cnn_apply_shared(g, fc1, 1, &max, NULL));
    m = cnn_apply_shared(g, fc2, 1, &m, "fc2_again");
    assert_non_null(m);
    assert_string_equal(cnn_node_name(m), "fc2_again");
    cnn_node *s = cnn_mul_channel(g, x, cnn_sigmoid(g, cnn_add(g, fc2, m)));
    TU_OK(cnn_graph_compile(g, 11));
    float xd[2 * 3 * 25];
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    tu_fill(xd, 150, -1, 1, &r);
    TU_OK(cnn_graph_set_input(g, x, xd, 2));
    assert_int_equal(tu_gradcheck(g, s, &x, 1, 1e-2, 2e-2, 40), 0);
    cnn_graph_free(g);
}

/* Applying a shared layer again to a shared node takes the original's parameters. */
static void test_shared_of_shared(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 2, (int[]){1, 3});
    cnn_node *y = cnn_linear(g, a, 3, .name = "fc", .no_bias = true);
    cnn_node *z = cnn_apply_shared(g, y, 1, &y, NULL);
    cnn_node *u = cnn_apply_shared(g, z, 1, &z, NULL);
    assert_non_null(u);
    assert_ptr_equal(cnn_node_shares(u), y);
    assert_string_equal(cnn_node_name(u), "fc_2");
    assert_int_equal(cnn_graph_num_params(g), 1);
    /* a layer without parameters is applied again too */
    cnn_node *r = cnn_relu(g, u);
    cnn_node *r2 = cnn_apply_shared(g, r, 1, &r, NULL);
    assert_non_null(r2);
    assert_ptr_equal(cnn_node_shares(r2), r);
    assert_string_equal(cnn_node_kind(r2), "relu");
    assert_int_equal(cnn_node_num_params(r2), 0);
    cnn_graph_free(g);
}

static void test_shared_errors(void **state)
{
    (void)state;
    /* an input of another shape */
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 2, (int[]){2, 5});
    cnn_node *b = cnn_input(g, "b", 2, (int[]){2, 6});
    cnn_node *y = cnn_linear(g, a, 4, .name = "fc");
    tu_expect_error(g, cnn_apply_shared(g, y, 1, &b, NULL), CNN_ERR_SHAPE, "(2, 6)");
    /* the wrong number of inputs */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 2, (int[]){2, 5});
    y = cnn_linear(g, a, 4, .name = "fc");
    tu_expect_error(g, cnn_apply_shared(g, y, 2, (cnn_node *[]){a, a}, NULL), CNN_ERR_INVALID_ARG,
                    "takes 1 inputs, 2 given");
    /* a layer of another graph */
    g = cnn_graph_new();
    cnn_graph *h = cnn_graph_new();
    a = cnn_input(g, "a", 2, (int[]){2, 5});
    cnn_node *ha = cnn_input(h, "a", 2, (int[]){2, 5});
    cnn_node *hy = cnn_linear(h, ha, 4);
    tu_expect_error(g, cnn_apply_shared(g, hy, 1, &a, NULL), CNN_ERR_INVALID_ARG, "another graph");
    cnn_graph_free(h);
    /* NULL layer, NULL input: the error propagates like any builder call */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 2, (int[]){2, 5});
    tu_expect_error(g, cnn_apply_shared(g, NULL, 1, &a, NULL), CNN_ERR_INVALID_ARG,
                    "layer is NULL");
    g = cnn_graph_new();
    a = cnn_input(g, "a", 2, (int[]){2, 5});
    y = cnn_linear(g, a, 4, .name = "fc");
    cnn_node *none = NULL;
    tu_expect_error(g, cnn_apply_shared(g, y, 1, &none, NULL), CNN_ERR_INVALID_ARG, "NULL");
    /* a node without inputs is not a layer */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 2, (int[]){2, 5});
    tu_expect_error(g, cnn_apply_shared(g, a, 0, NULL, NULL), CNN_ERR_INVALID_ARG, "no inputs");
    /* a compiled graph takes no more nodes */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 2, (int[]){2, 5});
    y = cnn_linear(g, a, 4, .name = "fc");
    TU_OK(cnn_graph_compile(g, 0));
    tu_expect_error(g, cnn_apply_shared(g, y, 1, &a, NULL), CNN_ERR_STATE, "compiled");
    assert_null(cnn_apply_shared(NULL, y, 1, &a, NULL));
}

/* The structure accessors and cnn_graph_fail. */
static void test_accessors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 8, 6});
    cnn_node *y = cnn_conv2d(g, x, 5, .kernel = 3, .name = "conv");
    cnn_node *s = cnn_add(g, y, y);
    assert_int_equal(cnn_node_ndim(y), 4);
    assert_int_equal(cnn_node_dim(y, 0), 2);
    assert_int_equal(cnn_node_dim(y, 1), 5);
    assert_int_equal(cnn_node_dim(y, 2), 6);
    assert_int_equal(cnn_node_dim(y, -1), 4);
    assert_int_equal(cnn_node_dim(y, 4), 0);
    assert_int_equal(cnn_node_dim(y, -5), 0);
    assert_int_equal(cnn_node_dim(NULL, 0), 0);
    assert_int_equal(cnn_node_ndim(NULL), 0);
    assert_int_equal(cnn_node_num_inputs(s), 2);
    assert_ptr_equal(cnn_node_input(s, 0), y);
    assert_ptr_equal(cnn_node_input(s, 1), y);
    assert_null(cnn_node_input(s, 2));
    assert_null(cnn_node_input(x, 0));
    assert_int_equal(cnn_node_num_inputs(NULL), 0);
    assert_int_equal(cnn_node_num_params(y), 2);
    assert_string_equal(cnn_node_param_at(y, 0)->name, "conv.weight");
    assert_string_equal(cnn_node_param_at(y, 1)->name, "conv.bias");
    assert_null(cnn_node_param_at(y, -1));
    assert_int_equal(cnn_node_num_params(NULL), 0);
    assert_true(cnn_node_batched(x));
    assert_true(cnn_node_batched(s));
    assert_false(cnn_node_batched(NULL));
    /* renaming: free names only; the parameters keep theirs */
    TU_OK(cnn_node_set_name(s, "sum"));
    assert_string_equal(cnn_node_name(s), "sum");
    assert_ptr_equal(cnn_graph_find(g, "sum"), s);
    TU_OK(cnn_node_set_name(s, "sum"));
    assert_int_equal(cnn_node_set_name(s, "conv"), CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_error_message(), "'conv'"));
    assert_string_equal(cnn_node_name(s), "sum");
    assert_int_equal(cnn_node_set_name(s, ""), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_node_set_name(NULL, "a"), CNN_ERR_INVALID_ARG);
    TU_OK(cnn_node_set_name(y, "conv_renamed"));
    assert_string_equal(cnn_node_param_at(y, 0)->name, "conv.weight");
    cnn_node *k = cnn_constant(g, "k", 1, (int[]){2}, (const float[]){1, 2});
    assert_false(cnn_node_batched(k));
    /* the graph's output: the last node until one is marked */
    assert_ptr_equal(cnn_graph_output(g), k);
    cnn_graph_mark_output(g, y);
    assert_ptr_equal(cnn_graph_output(g), y);
    assert_false(cnn_graph_compiled(g));
    TU_OK(cnn_graph_compile(g, 1));
    assert_true(cnn_graph_compiled(g));
    assert_false(cnn_graph_compiled(NULL));
    cnn_graph_free(g);

    g = cnn_graph_new();
    assert_null(cnn_graph_output(g));
    assert_null(cnn_graph_output(NULL));
    x = cnn_input(g, "x", 2, (int[]){1, 4});
    assert_int_equal(cnn_graph_fail(g, CNN_ERR_INVALID_ARG, "model 'm': width %d too small", 3),
                     CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
    assert_string_equal(cnn_graph_error(g), "model 'm': width 3 too small");
    assert_string_equal(cnn_error_message(), "model 'm': width 3 too small");
    /* the first error stays; later builder calls return NULL */
    cnn_graph_fail(g, CNN_ERR_SHAPE, "second");
    assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
    assert_string_equal(cnn_graph_error(g), "model 'm': width 3 too small");
    assert_null(cnn_relu(g, cnn_linear(g, NULL, 2)));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_forward),   cmocka_unit_test(test_shared_gradient),
        cmocka_unit_test(test_shared_of_shared), cmocka_unit_test(test_shared_errors),
        cmocka_unit_test(test_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* reshape / flatten: output shapes (explicit, with -1, flatten), values kept in order
   at the built and a smaller batch, the gradient passes through unchanged (explicit
   and by central differences), unique default names, invalid reshapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { N = 3, C = 4, H = 3, W = 2, NX = N * C * H * W };

static void check_shape(cnn_node *y, int ndim, const int *dims)
{
    cnn_tensor v = cnn_node_value(y);
    assert_int_equal(v.ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(v.dims[i], dims[i]);
}

static void test_shapes_and_values(void **state)
{
    (void)state;
    static float x[NX];
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    tu_fill(x, NX, -1, 1, &r);
    cnn_graph *g = cnn_graph_new();
    cnn_node *in = cnn_input(g, "x", 4, (int[]){N, C, H, W});
    cnn_node *f = cnn_flatten(g, in);
    cnn_node *r1 = cnn_reshape(g, in, 2, (int[]){-1, 6});
    cnn_node *r2 = cnn_reshape(g, f, 3, (int[]){2, -1, 3});
    cnn_node *r3 = cnn_reshape(g, r2, 4, (int[]){C, H, W, 1});
    cnn_node *f2 = cnn_flatten(g, r3);
    TU_OK(cnn_graph_status(g));
    check_shape(f, 2, (int[]){N, 24});
    check_shape(r1, 3, (int[]){N, 4, 6});
    check_shape(r2, 4, (int[]){N, 2, 4, 3});
    check_shape(r3, 5, (int[]){N, C, H, W, 1});
    check_shape(f2, 2, (int[]){N, 24});
    assert_string_equal(cnn_node_op(f), "reshape");
    assert_string_equal(cnn_node_name(f), "flatten0");
    assert_string_equal(cnn_node_name(f2), "flatten1");
    assert_string_equal(cnn_node_name(r1), "reshape1"); /* reshape0 is the flatten */
    cnn_graph_mark_output(g, f);
    cnn_graph_mark_output(g, r1);
    cnn_graph_mark_output(g, r2);
    cnn_graph_mark_output(g, f2);
    for (int batch = N; batch >= 1; batch -= 2) {
        tu_forward(g, in, x, batch);
        size_t n = (size_t)batch * C * H * W;
        cnn_node *outs[5] = {f, r1, r2, r3, f2};
        for (int k = 0; k < 5; k++) {
            cnn_tensor v = cnn_node_value(outs[k]);
            assert_int_equal(v.dims[0], batch);
            assert_int_equal(cnn_tensor_numel(&v), n);
            assert_memory_equal(v.data, x, n * sizeof(float));
        }
    }
    assert_int_equal(cnn_node_cost(f).params, 0);
    cnn_graph_free(g);
}

static void test_gradient_passes_through(void **state)
{
    (void)state;
    static float x[NX], dy[NX];
    cnn_rng r;
    cnn_rng_seed(&r, 2);
    tu_fill(x, NX, -1, 1, &r);
    tu_fill(dy, NX, -1, 1, &r);
    cnn_graph *g = cnn_graph_new();
    cnn_node *in = cnn_input(g, "x", 4, (int[]){N, C, H, W});
    cnn_input_requires_grad(in);
    cnn_node *y = cnn_reshape(g, cnn_flatten(g, in), 2, (int[]){6, -1});
    TU_OK(cnn_graph_status(g));
    cnn_graph_set_training(g, true);
    tu_forward(g, in, x, 2);
    TU_OK(cnn_graph_backward_from(g, y, dy));
    assert_memory_equal(cnn_node_grad(in).data, dy, (size_t)2 * C * H * W * sizeof(float));
    /* central differences: the map is the identity on values, so only float rounding
       of L (~1e-6 / 2e-2) remains; 1e-3 is ample */
    TU_OK(cnn_graph_set_input(g, in, x, N));
    assert_int_equal(tu_gradcheck(g, y, &in, 1, 1e-2, 1e-3, 72), 0);
    cnn_graph_free(g);
}

static void test_invalid(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){2, 4, 3, 2}))
    FRESH();
    tu_expect_error(g, cnn_reshape(g, x, 2, (int[]){5, -1}), CNN_ERR_SHAPE,
                 "reshape 'reshape0': cannot reshape (2, 4, 3, 2): 24 elements per example");
    FRESH();
    tu_expect_error(g, cnn_reshape(g, x, 2, (int[]){5, 5}), CNN_ERR_SHAPE, "into 25");
    FRESH();
    tu_expect_error(g, cnn_reshape(g, x, 3, (int[]){-1, 2, -1}), CNN_ERR_INVALID_ARG,
                 "more than one -1");
    FRESH();
    tu_expect_error(g, cnn_reshape(g, x, 2, (int[]){0, 24}), CNN_ERR_INVALID_ARG, "dimension 0 is 0");
    FRESH();
    tu_expect_error(g, cnn_reshape(g, x, 2, (int[]){-2, -12}), CNN_ERR_INVALID_ARG, "is -2");
    FRESH();
    tu_expect_error(g, cnn_reshape(g, x, 0, (int[]){24}), CNN_ERR_INVALID_ARG, "target dimensions");
    FRESH();
    tu_expect_error(g, cnn_reshape(g, x, 6, (int[]){1, 1, 1, 1, 1, 24}), CNN_ERR_INVALID_ARG,
                 "target dimensions");
    FRESH();
    tu_expect_error(g, cnn_reshape(g, x, 2, NULL), CNN_ERR_INVALID_ARG, "target dimensions");
#undef FRESH
    /* a node without a batch dimension (a scalar loss) */
    g = cnn_graph_new();
    x = cnn_input(g, "logits", 2, (int[]){2, 3});
    cnn_node *loss = cnn_cross_entropy(g, x, cnn_labels(g, "labels", 2));
    TU_OK(cnn_graph_status(g));
    tu_expect_error(g, cnn_flatten(g, loss), CNN_ERR_SHAPE, "no batch dimension");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_and_values),
        cmocka_unit_test(test_gradient_passes_through),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

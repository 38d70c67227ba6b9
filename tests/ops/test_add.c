/* add beyond the operator harness (test_backend_ops.c: values, a + a, smaller
   batch, gradients, every backend against ref): shape errors naming both shapes; the
   chunked, multithreaded loops on a large odd-sized tensor (both inputs, one input,
   a + a) exactly, at 1 and 2 threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int ndim;
    int dims[5];
} cfg;

static void test_invalid_shapes(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 4, (int[]){1, 3, 4, 4});
    cnn_node *b = cnn_input(g, "b", 4, (int[]){1, 3, 4, 5});
    cnn_scope_push(g, "layer1");
    assert_null(cnn_add(g, a, b));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_string_equal(cnn_graph_error(g),
                        "add 'layer1.add0': shapes (1, 3, 4, 4) and (1, 3, 4, 5) differ");
    cnn_graph_free(g);

    g = cnn_graph_new();
    a = cnn_input(g, "a", 4, (int[]){2, 12, 1, 1});
    b = cnn_input(g, "b", 2, (int[]){2, 12});
    assert_null(cnn_add(g, a, b));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_graph_error(g), "(2, 12, 1, 1) and (2, 12)"));
    /* the first error stays; later calls given NULL return NULL */
    assert_null(cnn_add(g, NULL, b));
    assert_non_null(strstr(cnn_graph_error(g), "(2, 12, 1, 1) and (2, 12)"));
    cnn_graph_free(g);
}

/* (3, 5, 97, 71): 103305 elements, past the parallel threshold, 7 chunks with a tail.
   Forward is one rounding and backward adds dy to zeroed gradients, so both are exact. */
static void test_large_chunked(void **state)
{
    (void)state;
    const int dims[4] = {3, 5, 97, 71};
    const size_t n = 3 * 5 * 97 * 71;
    float *xa = malloc(n * sizeof(float)), *xb = malloc(n * sizeof(float));
    float *dy = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
    assert_true(xa && xb && dy && want);
    cnn_rng r;
    cnn_rng_seed(&r, 9);
    tu_fill(xa, n, -1, 1, &r);
    tu_fill(xb, n, -1, 1, &r);
    tu_fill(dy, n, -1, 1, &r);
    for (int threads = 1; threads <= 2; threads++) {
        cnn_set_threads(threads);
        for (int mode = 0; mode < 3; mode++) { /* 0: a + b, 1: a + b with b constant, 2: a + a */
            cnn_graph *g = cnn_graph_new();
            cnn_node *a = cnn_input(g, "a", 4, dims);
            cnn_input_requires_grad(a);
            cnn_node *b = mode == 2 ? a : cnn_input(g, "b", 4, dims);
            if (mode == 0) cnn_input_requires_grad(b);
            cnn_node *y = cnn_add(g, a, b);
            TU_OK(cnn_graph_status(g));
            TU_OK(cnn_graph_compile(g, 1));
            cnn_graph_set_training(g, true);
            TU_OK(cnn_graph_set_input(g, a, xa, dims[0]));
            if (mode != 2) TU_OK(cnn_graph_set_input(g, b, xb, dims[0]));
            TU_OK(cnn_graph_forward(g));
            for (size_t i = 0; i < n; i++) want[i] = xa[i] + (mode == 2 ? xa[i] : xb[i]);
            assert_memory_equal(cnn_node_value(y).data, want, n * sizeof(float));
            TU_OK(cnn_graph_backward_from(g, y, dy));
            for (size_t i = 0; i < n; i++) want[i] = mode == 2 ? dy[i] + dy[i] : dy[i];
            assert_memory_equal(cnn_node_grad(a).data, want, n * sizeof(float));
            if (mode == 0) assert_memory_equal(cnn_node_grad(b).data, dy, n * sizeof(float));
            if (mode == 1) assert_null(cnn_node_grad(b).data);
            cnn_graph_free(g);
        }
    }
    cnn_set_threads(0);
    free(xa);
    free(xb);
    free(dy);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_shapes),
        cmocka_unit_test(test_large_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

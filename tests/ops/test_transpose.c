/* transpose beyond the operator harness (test_backend_ops.c: permutations of 2- to
   5-D tensors, batched and unbatched, gradients, every backend against ref): the
   channel shuffle pattern (reshape-transpose-reshape) equals cnn_channel_shuffle;
   errors (batch moved, not a permutation, wrong length, NULL) naming the node;
   describe() gives perm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct tcase {
    int nd, d[6], perm[6];
    bool batched;
} tcase;

#define NCASES (sizeof cases / sizeof cases[0])

/* ShuffleNet's channel shuffle as torch exports it: (N, g*c, H, W) -> reshape
   (N, g, c, H, W) -> transpose (0, 2, 1, 3, 4) -> reshape back (cnn_reshape: dims
   after the batch) */
static void test_channel_shuffle_pattern(void **state)
{
    (void)state;
    const int N = 2, G = 3, Cg = 4, H = 2, W = 3;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){N, G * Cg, H, W});
    cnn_node *a = cnn_reshape(g, x, 4, (int[]){G, Cg, H, W});
    cnn_node *b = cnn_transpose(g, a, 5, (int[]){0, 2, 1, 3, 4});
    cnn_node *y = cnn_reshape(g, b, 3, (int[]){G * Cg, H, W});
    cnn_node *z = cnn_channel_shuffle(g, x, G);
    cnn_graph_mark_output(g, y);
    cnn_graph_mark_output(g, z);
    TU_OK(cnn_graph_status(g));
    float xv[2 * 12 * 2 * 3];
    cnn_rng r;
    cnn_rng_seed(&r, 4);
    tu_fill(xv, sizeof xv / sizeof xv[0], -1, 1, &r);
    tu_forward(g, x, xv, N);
    assert_memory_equal(cnn_node_value(y).data, cnn_node_value(z).data, sizeof xv);
    cnn_graph_free(g);
}

static void test_errors_and_describe(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 3, (int[]){1, 0, 2}), CNN_ERR_SHAPE,
                    "transpose 'transpose0': perm[0] = 1 would move the batch of (2, 3, 4)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 3, (int[]){0, 2, 2}), CNN_ERR_INVALID_ARG,
                    "perm is not a permutation of 0..2 (entry 2 is 2)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 3, (int[]){0, 1, 3}), CNN_ERR_INVALID_ARG,
                    "entry 2 is 3");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 2, (int[]){0, 1}), CNN_ERR_INVALID_ARG,
                    "perm has 2 entries, the input (2, 3, 4) has 3 dimensions");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 3, NULL), CNN_ERR_INVALID_ARG, "perm is NULL");
    /* unbatched: any axis moves */
    g = cnn_graph_new();
    cnn_node *k = cnn_constant(g, "k", 2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    cnn_node *t = cnn_transpose(g, k, 2, (int[]){1, 0});
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    t->op->describe(t, &d);
    assert_string_equal(d.attrs[0].key, "perm");
    assert_int_equal(d.attrs[0].n, 2);
    assert_int_equal(d.attrs[0].i[0], 1);
    assert_int_equal(d.attrs[0].i[1], 0);
    TU_OK(cnn_graph_compile(g, 0));
    TU_OK(cnn_graph_forward(g));
    const float want[6] = {1, 4, 2, 5, 3, 6};
    assert_memory_equal(cnn_node_value(t).data, want, sizeof want);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_shuffle_pattern),
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

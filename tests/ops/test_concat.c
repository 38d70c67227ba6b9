/* concat beyond the operator harness (test_backend_ops.c: values, repeats,
   gradients, every backend against ref): repeated inputs sum their gradients (checked
   by value); shape errors naming the op, node, input index and both shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MAX_SRC 3
#define MAX_CAT 5

typedef struct cfg {
    int ndim;          /* 4 or 5 */
    int n, sp[3];      /* batch, spatial dims (sp[2] only for 5-D) */
    int n_src, c[MAX_SRC];
    int k, idx[MAX_CAT]; /* concat inputs: idx[i] is the source */
} cfg;

/* d/da of sum(r * concat([a, a])) is r[:, :C] + r[:, C:], checked directly. */
static void test_repeated_input_sums_gradients(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 4, (int[]){2, 3, 2, 2});
    cnn_input_requires_grad(a);
    cnn_node *y = cnn_concat(g, 2, (cnn_node *[]){a, a});
    TU_OK(cnn_graph_compile(g, 1));
    cnn_graph_set_training(g, true);
    float x[24], r[48], want[24];
    cnn_rng rng;
    cnn_rng_seed(&rng, 5);
    tu_fill(x, 24, -1, 1, &rng);
    tu_fill(r, 48, -1, 1, &rng);
    TU_OK(cnn_graph_set_input(g, a, x, 2));
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward_from(g, y, r));
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 12; i++) want[b * 12 + i] = r[b * 24 + i] + r[b * 24 + 12 + i];
    cnn_tensor ga = cnn_node_grad(a);
    TU_ASSERT_CLOSE(ga.data, want, 24, 1e-6f, 1e-6f, "d concat([a, a]) / da");
    cnn_graph_free(g);
}

static void test_invalid_shapes(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    cnn_node *b = cnn_input(g, "b", 4, (int[]){2, 3, 5, 4});
    cnn_scope_push(g, "features");
    tu_expect_error(g, cnn_concat(g, 3, (cnn_node *[]){a, a, b}), CNN_ERR_SHAPE,
                 "concat 'features.concat0': input 2 has shape (2, 3, 5, 4), input 0 has "
                 "(2, 4, 4, 4)");
    /* rank differs */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    b = cnn_input(g, "b", 5, (int[]){2, 4, 4, 4, 1});
    tu_expect_error(g, cnn_concat(g, 2, (cnn_node *[]){a, b}), CNN_ERR_SHAPE,
                 "input 1 has shape (2, 4, 4, 4, 1)");
    /* no inputs */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    tu_expect_error(g, cnn_concat(g, 0, (cnn_node *[]){a}), CNN_ERR_INVALID_ARG,
                 "concat 'concat0': needs at least 1 input, got 0");
    g = cnn_graph_new();
    a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    tu_expect_error(g, cnn_concat(g, 2, NULL), CNN_ERR_INVALID_ARG, "needs at least 1 input");
    /* a NULL input (an earlier failure) propagates the first error */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    cnn_node *bad = cnn_channel_shuffle(g, a, 3);
    tu_expect_error(g, cnn_concat(g, 2, (cnn_node *[]){a, bad}), CNN_ERR_INVALID_ARG, "groups 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeated_input_sums_gradients),
        cmocka_unit_test(test_invalid_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

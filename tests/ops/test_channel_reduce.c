/* channel_mean / channel_max beyond the operator harness (test_backend_ops.c:
   values, shapes, gradients on tie-free inputs, every backend against ref): ties send
   the gradient to the first maximal channel; shape errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int nd, d[5];
} cfg;

/* Equal channels: PyTorch's max picks one; ours picks the first, and the whole
   gradient goes there (not split). Also eval mode fills the same argmax. */
static void test_max_ties_first_channel(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){1, 3, 1, 2});
    cnn_input_requires_grad(x);
    cnn_node *y = cnn_channel_max(g, x);
    TU_OK(cnn_graph_compile(g, 1));
    cnn_graph_set_training(g, true);
    /* position 0: all equal; position 1: channels 1 and 2 tie above channel 0 */
    const float xv[6] = {0.5f, -1.0f, 0.5f, 2.0f, 0.5f, 2.0f};
    TU_OK(cnn_graph_set_input(g, x, xv, 1));
    TU_OK(cnn_graph_forward(g));
    cnn_tensor v = cnn_node_value(y);
    assert_true(v.data[0] == 0.5f && v.data[1] == 2.0f);
    TU_OK(cnn_graph_backward_from(g, y, (const float[]){3.0f, 5.0f}));
    cnn_tensor gx = cnn_node_grad(x);
    const float want[6] = {3.0f, 0.0f, 0.0f, 5.0f, 0.0f, 0.0f};
    TU_ASSERT_CLOSE(gx.data, want, 6, 1e-30f, 0.0f, "channel_max tie gradient");
    cnn_graph_free(g);
}

static void test_invalid_shapes(void **state)
{
    (void)state;
    for (int is_max = 0; is_max < 2; is_max++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 2, (int[]){4, 10});
        cnn_scope_push(g, "sa");
        assert_null(is_max ? cnn_channel_max(g, x) : cnn_channel_mean(g, x));
        assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
        const char *want = is_max ? "channel_max 'sa.channel_max0': input must be (N, C, H, W), "
                                    "got (4, 10)"
                                  : "channel_mean 'sa.channel_mean0': input must be (N, C, H, W), "
                                    "got (4, 10)";
        assert_string_equal(cnn_graph_error(g), want);
        /* later calls on the failed node propagate the first message */
        assert_null(cnn_channel_mean(g, NULL));
        assert_string_equal(cnn_graph_error(g), want);
        cnn_graph_free(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_ties_first_channel),
        cmocka_unit_test(test_invalid_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

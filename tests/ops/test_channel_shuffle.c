/* channel_shuffle beyond the operator harness (test_backend_ops.c: the literal
   (N, g, C/g, ...) transpose for groups 1..C, 4-D and 5-D, gradients, every backend
   against ref): known permutations for C = 6, shuffle(g) then shuffle(C/g) is the
   identity; invalid groups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int nd, d[5], groups;
} cfg;

/* torch: x = arange(6).view(1, 6, 1, 1); channel_shuffle(x, 2) -> 0 3 1 4 2 5,
   channel_shuffle(x, 3) -> 0 2 4 1 3 5. Then shuffle(g) o shuffle(C/g) = identity. */
static void test_known_permutations(void **state)
{
    (void)state;
    static const float want2[6] = {0, 3, 1, 4, 2, 5}, want3[6] = {0, 2, 4, 1, 3, 5};
    const float x[6] = {0, 1, 2, 3, 4, 5};
    for (int gsel = 2; gsel <= 3; gsel++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *in = cnn_input(g, "x", 4, (int[]){1, 6, 1, 1});
        cnn_node *y = cnn_channel_shuffle(g, in, gsel);
        cnn_node *back = cnn_channel_shuffle(g, y, 6 / gsel);
        cnn_graph_mark_output(g, y);
        cnn_graph_mark_output(g, back);
        tu_forward(g, in, x, 1);
        TU_ASSERT_CLOSE(cnn_node_value(y).data, gsel == 2 ? want2 : want3, 6, 1e-30f, 0.0f,
                        "shuffle of arange(6)");
        TU_ASSERT_CLOSE(cnn_node_value(back).data, x, 6, 1e-30f, 0.0f, "shuffle inverse");
        cnn_graph_free(g);
    }
}

static void test_invalid_groups(void **state)
{
    (void)state;
    static const struct {
        int groups;
        const char *needle;
    } bad[] = {
        {5, "channel_shuffle 'stage2.0.channel_shuffle0': groups 5 does not divide 12 channels "
            "of (2, 12, 4, 4)"},
        {0, "groups 0 must be >= 1"},
        {-3, "groups -3 must be >= 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 12, 4, 4});
        cnn_scope_push(g, "stage2");
        cnn_scope_push(g, "0");
        assert_null(cnn_channel_shuffle(g, x, bad[i].groups));
        assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
        if (!strstr(cnn_graph_error(g), bad[i].needle))
            fail_msg("error '%s' does not mention '%s'", cnn_graph_error(g), bad[i].needle);
        cnn_graph_free(g);
    }
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_labels(g, "y", 4);
    assert_null(cnn_channel_shuffle(g, x, 1));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_graph_error(g), "got (4)"));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_permutations),
        cmocka_unit_test(test_invalid_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

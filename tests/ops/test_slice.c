/* slice: errors (batch axis, bad axis, step 0, empty selection) naming the node;
   describe() gives the call's values. ONNX Slice values and shapes (clamping, open
   ends, negative steps, unbatched, negative axes) and gradients: the operator harness
   (test_backend_ops.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct scase {
    int nd, d[5];
    bool batched;
    int axis, start, end, step;
} scase;

#define NCASES (sizeof cases / sizeof cases[0])

static void test_errors_and_describe(void **state)
{
    (void)state;
    static const struct {
        int axis, start, end, step;
        cnn_status s;
        const char *needle;
    } bad[] = {
        {0, 0, 1, 1, CNN_ERR_SHAPE, "slice 'slice0': axis 0 is the batch of (2, 6, 3): it cannot be sliced"},
        {-3, 0, 1, 1, CNN_ERR_SHAPE, "axis -3 is the batch"},
        {3, 0, 1, 1, CNN_ERR_INVALID_ARG, "axis 3 is outside the 3 dimensions of (2, 6, 3)"},
        {-4, 0, 1, 1, CNN_ERR_INVALID_ARG, "axis -4 is outside"},
        {1, 0, 4, 0, CNN_ERR_INVALID_ARG, "step is 0"},
        {1, 4, 2, 1, CNN_ERR_SHAPE, "[4:2:1] selects no element of axis 1 (size 6) of (2, 6, 3)"},
        {1, 2, 4, -1, CNN_ERR_SHAPE, "selects no element"},
        {2, 7, INT_MAX, 1, CNN_ERR_SHAPE, "selects no element"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 6, 3});
        tu_expect_error(g, cnn_slice(g, x, bad[i].axis, bad[i].start, bad[i].end, bad[i].step),
                        bad[i].s, bad[i].needle);
    }
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 6, 3});
    cnn_node *y = cnn_slice(g, x, -2, -1, INT_MIN, -2);
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_int_equal(d.n_attrs, 4);
    const char *keys[4] = {"axis", "start", "end", "step"};
    const int64_t vals[4] = {-2, -1, INT_MIN, -2};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(d.attrs[i].key, keys[i]);
        assert_true(d.attrs[i].i[0] == vals[i]);
    }
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* pad beyond the operator harness (test_backend_ops.c: constant / reflect / edge
   with cropping pads on 2- to 5-D tensors, batched and unbatched, gradients, every
   backend against ref): numpy.pad's documented examples; -INFINITY as the constant;
   errors naming the node; describe(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct pcase {
    int nd, d[5];
    bool batched;
    int pads[10];
    cnn_pad_mode mode;
} pcase;

#define NCASES (sizeof cases / sizeof cases[0])

/* numpy.pad's documentation: [1..5] padded (2, 3); cropping first, as ONNX Runtime */
static void test_numpy_examples(void **state)
{
    (void)state;
    static const struct {
        cnn_pad_mode m;
        float v, want[10];
    } ex[] = {
        {CNN_PAD_CONSTANT, 4, {4, 4, 1, 2, 3, 4, 5, 4, 4, 4}},
        {CNN_PAD_EDGE, 0, {1, 1, 1, 2, 3, 4, 5, 5, 5, 5}},
        {CNN_PAD_REFLECT, 0, {3, 2, 1, 2, 3, 4, 5, 4, 3, 2}},
        {CNN_PAD_CONSTANT, -INFINITY, {-INFINITY, -INFINITY, 1, 2, 3, 4, 5, -INFINITY, -INFINITY,
                                       -INFINITY}},
    };
    /* crop then pad: [1..5] with pads (-2, 3): [3 4 5] padded at the end */
    static const struct {
        cnn_pad_mode m;
        float want[6];
    } crop[] = {
        {CNN_PAD_EDGE, {3, 4, 5, 5, 5, 5}},
        {CNN_PAD_REFLECT, {3, 4, 5, 4, 3, 4}},
        {CNN_PAD_CONSTANT, {3, 4, 5, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof crop / sizeof crop[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *k = cnn_constant(g, "k", 1, (int[]){5}, (float[]){1, 2, 3, 4, 5});
        cnn_node *y = cnn_pad(g, k, (int[]){-2, 3}, crop[i].m, 0);
        TU_OK(cnn_graph_compile(g, 0));
        TU_OK(cnn_graph_forward(g));
        assert_int_equal(cnn_node_value(y).dims[0], 6);
        assert_memory_equal(cnn_node_value(y).data, crop[i].want, sizeof crop[i].want);
        cnn_graph_free(g);
    }
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *k = cnn_constant(g, "k", 1, (int[]){5}, (float[]){1, 2, 3, 4, 5});
        cnn_node *y = cnn_pad(g, k, (int[]){2, 3}, ex[i].m, ex[i].v);
        TU_OK(cnn_graph_compile(g, 0));
        TU_OK(cnn_graph_forward(g));
        assert_int_equal(cnn_node_value(y).dims[0], 10);
        assert_memory_equal(cnn_node_value(y).data, ex[i].want, sizeof ex[i].want);
        cnn_graph_free(g);
    }
}

static void test_errors_and_describe(void **state)
{
    (void)state;
    static const struct {
        int pads[6];
        cnn_pad_mode m;
        cnn_status s;
        const char *needle;
    } bad[] = {
        {{1, 0, 0, 0, 0, 0}, CNN_PAD_CONSTANT, CNN_ERR_SHAPE,
         "pad 'pad0': pads 1 and 0 of axis 0 would pad the batch of (2, 3, 1)"},
        {{0, -3, 0, 0, 0, 0}, CNN_PAD_CONSTANT, CNN_ERR_SHAPE,
         "pads -3 and 0 crop all 3 elements of axis 1 of (2, 3, 1)"},
        {{0, 0, 0, 0, 0, 2147483647}, CNN_PAD_CONSTANT, CNN_ERR_SHAPE,
         "pads 0 and 2147483647 make axis 2 2147483648 long"},
        {{0, 0, 1, 0, 0, 0}, CNN_PAD_REFLECT, CNN_ERR_SHAPE,
         "reflect padding needs at least 2 elements on axis 2 of (2, 3, 1)"},
        {{0, -2, 0, 0, 1, 0}, CNN_PAD_REFLECT, CNN_ERR_SHAPE,
         "reflect padding needs at least 2 elements on axis 1 of (2, 3, 1) (after cropping)"},
        {{0, -2, 0, 0, -1, 3}, CNN_PAD_EDGE, CNN_ERR_SHAPE,
         "pads -2 and -1 crop all 3 elements of axis 1 of (2, 3, 1)"},
        {{0, 0, 0, 0, 0, 0}, (cnn_pad_mode)9, CNN_ERR_INVALID_ARG, "unknown pad mode 9"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 1});
        tu_expect_error(g, cnn_pad(g, x, bad[i].pads, bad[i].m, 0), bad[i].s, bad[i].needle);
    }
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 1});
    tu_expect_error(g, cnn_pad(g, x, NULL, CNN_PAD_CONSTANT, 0), CNN_ERR_INVALID_ARG, "pads is NULL");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    cnn_node *y = cnn_pad(g, x, (int[]){0, 1, -1, 0, 2, 3}, CNN_PAD_EDGE, 1.5f);
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_string_equal(d.attrs[0].key, "pads");
    assert_int_equal(d.attrs[0].n, 6);
    assert_int_equal(d.attrs[0].i[2], -1);
    assert_int_equal(d.attrs[0].i[5], 3);
    assert_string_equal(d.attrs[1].key, "mode");
    assert_int_equal(d.attrs[1].i[0], CNN_PAD_EDGE);
    assert_string_equal(d.attrs[2].key, "value");
    assert_true(d.attrs[2].is_float && d.attrs[2].f[0] == 1.5f);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numpy_examples),
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

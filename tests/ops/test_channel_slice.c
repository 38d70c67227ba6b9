/* channel_slice beyond the operator harness (test_backend_ops.c: values over
   several ranges, 4-D and 5-D, every backend against ref): ShuffleNet V2's split and
   re-join (concat of both halves is x); backward by central differences when two
   slices of one tensor both reach the output; out-of-range errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int nd, d[5], start, count;
} cfg;

static const cfg cases[] = {
    {4, {2, 8, 3, 2}, 0, 4},  /* first half */
    {4, {2, 8, 3, 2}, 4, 4},  /* second half */
    {4, {2, 8, 3, 2}, 0, 8},  /* everything */
    {4, {3, 7, 2, 2}, 2, 3},  /* middle */
    {4, {2, 5, 1, 1}, 4, 1},  /* last channel */
    {5, {2, 6, 2, 2, 2}, 1, 4},
};

static size_t plane(const cfg *c)
{
    size_t s = 1;
    for (int i = 2; i < c->nd; i++) s *= (size_t)c->d[i];
    return s;
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const cfg *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in = cnn_input(g, "x", c->nd, c->d);
        cnn_input_requires_grad(in);
        cnn_node *y = cnn_channel_slice(g, in, c->start, c->count);
        TU_OK(cnn_graph_compile(g, 1));
        cnn_graph_set_training(g, true);
        size_t n = (size_t)c->d[0] * c->d[1] * plane(c);
        float *x = malloc(n * sizeof *x);
        cnn_rng r;
        cnn_rng_seed(&r, 80 + t);
        tu_fill(x, n, -1, 1, &r);
        TU_OK(cnn_graph_set_input(g, in, x, c->d[0]));
        /* a copy is linear: exact up to float rounding (~1e-5); channels outside the
           slice must get exactly 0, which the check covers too */
        int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 1e-3, 200);
        if (bad) fprintf(stderr, "slice gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        free(x);
        cnn_graph_free(g);
    }
}

/* ShuffleNet V2 unit without branches: x1, x2 = x.chunk(2, 1); y = cat(x1, relu(x2)),
   then channel_shuffle(2). Both slices read x: gradients add. */
static void test_split_join(void **state)
{
    (void)state;
    const int N = 2, C = 6, H = 2, W = 3;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){N, C, H, W});
    cnn_input_requires_grad(x);
    cnn_node *a = cnn_channel_slice(g, x, 0, C / 2);
    cnn_node *b = cnn_channel_slice(g, x, C / 2, C / 2);
    cnn_node *same = cnn_concat(g, 2, (cnn_node *[]){a, b});
    cnn_node *y = cnn_channel_shuffle(g, cnn_concat(g, 2, (cnn_node *[]){a, cnn_tanh(g, b)}), 2);
    cnn_graph_mark_output(g, same);
    cnn_graph_mark_output(g, y);
    TU_OK(cnn_graph_status(g));
    float xv[2 * 6 * 2 * 3];
    cnn_rng r;
    cnn_rng_seed(&r, 9);
    tu_fill(xv, sizeof xv / sizeof xv[0], -1, 1, &r);
    tu_forward(g, x, xv, N);
    TU_ASSERT_CLOSE(cnn_node_value(same).data, xv, sizeof xv / sizeof xv[0], 1e-30f, 0.0f,
                    "cat(chunk(x, 2)) == x");
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, x, xv, N));
    /* tanh is smooth: eps 1e-3 gives O(1e-7) truncation, rounding ~1e-4 < 2e-3 */
    assert_int_equal(tu_gradcheck(g, y, &x, 1, 1e-3, 2e-3, 100), 0);
    cnn_graph_free(g);
}

static void test_out_of_range(void **state)
{
    (void)state;
    static const struct {
        int start, count;
        const char *needle;
    } bad[] = {
        {6, 4, "channel_slice 'stage2.0.channel_slice0': channels [6, 10) (start 6, count 4) are "
               "not within the 8 channels of (2, 8, 4, 4)"},
        {-1, 2, "start -1"},
        {0, 0, "count 0"},
        {8, 1, "channels [8, 9)"},
        {3, -2, "count -2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 8, 4, 4});
        cnn_scope_push(g, "stage2");
        cnn_scope_push(g, "0");
        assert_null(cnn_channel_slice(g, x, bad[i].start, bad[i].count));
        assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
        if (!strstr(cnn_graph_error(g), bad[i].needle))
            fail_msg("error '%s' does not mention '%s'", cnn_graph_error(g), bad[i].needle);
        cnn_graph_free(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_split_join),
        cmocka_unit_test(test_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

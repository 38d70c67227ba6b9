/* mul_channel: forward against a naive broadcast loop for s (N, C, 1, 1), s (N, C)
   and 5-D x, at the built and a smaller batch; backward by central differences for x
   and s; shape errors naming both shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int xnd, xd[5];
    int snd, sd[5];
} cfg;

static const cfg cases[] = {
    {4, {2, 3, 4, 5}, 4, {2, 3, 1, 1}},      /* SE */
    {4, {3, 5, 2, 3}, 2, {3, 5}},            /* scale straight from a linear layer */
    {5, {2, 2, 3, 2, 2}, 5, {2, 2, 1, 1, 1}},/* 5-D */
    {4, {2, 4, 1, 1}, 4, {2, 4, 1, 1}},      /* 1x1 spatial */
};

static size_t prod(int nd, const int *d, int batch)
{
    size_t n = (size_t)batch;
    for (int i = 1; i < nd; i++) n *= (size_t)d[i];
    return n;
}

static void naive(const cfg *c, int batch, const float *x, const float *s, float *y)
{
    size_t S = prod(c->xnd, c->xd, 1) / (size_t)c->xd[1];
    for (int b = 0; b < batch; b++)
        for (int ch = 0; ch < c->xd[1]; ch++)
            for (size_t k = 0; k < S; k++) {
                size_t i = ((size_t)b * c->xd[1] + ch) * S + k;
                y[i] = x[i] * s[b * c->xd[1] + ch];
            }
}

static void build(cnn_graph *g, const cfg *c, cnn_node **in, cnn_node **y)
{
    in[0] = cnn_input(g, "x", c->xnd, c->xd);
    in[1] = cnn_input(g, "s", c->snd, c->sd);
    cnn_input_requires_grad(in[0]);
    cnn_input_requires_grad(in[1]);
    *y = cnn_mul_channel(g, in[0], in[1]);
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const cfg *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in[2], *y;
        build(g, c, in, &y);
        TU_OK(cnn_graph_status(g));
        assert_int_equal(cnn_node_cost(y).macs, 0);
        TU_OK(cnn_graph_compile(g, 1));
        for (int batch = c->xd[0]; batch >= 1; batch--) {
            size_t nx = prod(c->xnd, c->xd, batch), ns = prod(c->snd, c->sd, batch);
            float *x = malloc(nx * sizeof *x), *s = malloc(ns * sizeof *s);
            float *want = malloc(nx * sizeof *want);
            cnn_rng r;
            cnn_rng_seed(&r, t * 10 + (size_t)batch);
            tu_fill(x, nx, -1, 1, &r);
            tu_fill(s, ns, 0, 1, &r);
            TU_OK(cnn_graph_set_input(g, in[0], x, batch));
            TU_OK(cnn_graph_set_input(g, in[1], s, batch));
            TU_OK(cnn_graph_forward(g));
            naive(c, batch, x, s, want);
            cnn_tensor v = cnn_node_value(y);
            assert_int_equal(v.ndim, c->xnd);
            assert_int_equal(cnn_tensor_numel(&v), nx);
            char what[48];
            snprintf(what, sizeof what, "mul_channel case %zu batch %d", t, batch);
            TU_ASSERT_CLOSE(v.data, want, nx, 1e-30f, 0.0f, what); /* one product: exact */
            free(x);
            free(s);
            free(want);
        }
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const cfg *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in[2], *y;
        build(g, c, in, &y);
        TU_OK(cnn_graph_compile(g, 1));
        cnn_graph_set_training(g, true);
        size_t nx = prod(c->xnd, c->xd, c->xd[0]), ns = prod(c->snd, c->sd, c->sd[0]);
        float *x = malloc(nx * sizeof *x), *s = malloc(ns * sizeof *s);
        cnn_rng r;
        cnn_rng_seed(&r, 70 + t);
        tu_fill(x, nx, -1, 1, &r);
        tu_fill(s, ns, -1, 1, &r);
        TU_OK(cnn_graph_set_input(g, in[0], x, c->xd[0]));
        TU_OK(cnn_graph_set_input(g, in[1], s, c->sd[0]));
        /* linear in each input separately, so central differences are exact up to
           float rounding of the outputs (~1e-5 after / 2e-2): 1e-3 is a wide margin */
        int bad = tu_gradcheck(g, y, in, 2, 1e-2, 1e-3, 200);
        if (bad) fprintf(stderr, "mul_channel gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        free(x);
        free(s);
        cnn_graph_free(g);
    }
}

static void expect_error(const int *xd, int snd, const int *sd, const char *needle)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, xd);
    cnn_node *s = cnn_input(g, "s", snd, sd);
    cnn_scope_push(g, "se");
    assert_null(cnn_mul_channel(g, x, s));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    if (!strstr(cnn_graph_error(g), needle))
        fail_msg("error '%s' does not mention '%s'", cnn_graph_error(g), needle);
    cnn_graph_free(g);
}

static void test_invalid_shapes(void **state)
{
    (void)state;
    expect_error((int[]){2, 3, 4, 5}, 4, (int[]){2, 4, 1, 1},
                 "mul_channel 'se.mul_channel0': scale (2, 4, 1, 1) does not fit input "
                 "(2, 3, 4, 5)");
    expect_error((int[]){2, 3, 4, 5}, 4, (int[]){2, 3, 2, 1}, "scale (2, 3, 2, 1)");
    expect_error((int[]){2, 3, 4, 5}, 1, (int[]){2}, "scale (2)");
    /* x of rank 2 */
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 3});
    assert_null(cnn_mul_channel(g, x, x));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_graph_error(g), "got (2, 3)"));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_invalid_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* linear: forward against a naive y = x W^T + b (bias on / off, a smaller batch than
   built), parameter names, shapes, PyTorch's default init bound and cost; backward by
   central differences for input, weight and bias; invalid inputs and options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, in, out;
    bool bias;
} cfg;

static const cfg cases[] = {
    {3, 7, 5, true},
    {2, 12, 1, false},
    {1, 1, 4, true},
    {4, 33, 10, true},
};

static cnn_node *build(cnn_graph *g, const cfg *c, cnn_node **in)
{
    *in = cnn_input(g, "x", 2, (int[]){c->n, c->in});
    cnn_input_requires_grad(*in);
    return cnn_linear(g, *in, c->out, .no_bias = !c->bias, .name = "fc");
}

static void naive_linear(const cfg *c, int batch, const float *x, const float *w, const float *b,
                         float *y)
{
    for (int i = 0; i < batch; i++)
        for (int o = 0; o < c->out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int k = 0; k < c->in; k++) acc += (double)x[i * c->in + k] * w[o * c->in + k];
            y[i * c->out + o] = (float)acc;
        }
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        const cfg *c = &cases[k];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, &in);
        TU_OK(cnn_graph_status(g));
        TU_OK(cnn_graph_compile(g, 5));
        cnn_param *w = cnn_graph_find_param(g, "fc.weight");
        cnn_param *b = cnn_graph_find_param(g, "fc.bias");
        assert_non_null(w);
        assert_true((b != NULL) == c->bias);
        assert_int_equal(w->value.dims[0], c->out);
        assert_int_equal(w->value.dims[1], c->in);
        /* PyTorch's default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias */
        float bound = 1.0f / sqrtf((float)c->in);
        for (size_t i = 0; i < cnn_tensor_numel(&w->value); i++)
            assert_true(fabsf(w->value.data[i]) <= bound);
        if (b) {
            cnn_rng br;
            cnn_rng_seed(&br, 900);
            tu_fill(b->value.data, (size_t)c->out, -1, 1, &br); /* a visible bias */
        }
        float *x = malloc((size_t)c->n * c->in * sizeof *x);
        float *want = malloc((size_t)c->n * c->out * sizeof *want);
        cnn_rng r;
        cnn_rng_seed(&r, (uint64_t)k);
        tu_fill(x, (size_t)c->n * c->in, -1, 1, &r);
        for (int batch = c->n; batch >= 1; batch = batch > 1 ? batch / 2 : 0) {
            tu_forward(g, in, x, batch);
            cnn_tensor out = cnn_node_value(y);
            assert_int_equal(out.ndim, 2);
            assert_int_equal(out.dims[0], batch);
            assert_int_equal(out.dims[1], c->out);
            naive_linear(c, batch, x, w->value.data, b ? b->value.data : NULL, want);
            char what[64];
            snprintf(what, sizeof what, "linear case %d batch %d", k, batch);
            /* float dot products of <= 33 terms: ~1e-6 */
            TU_ASSERT_CLOSE(out.data, want, (size_t)batch * c->out, 1e-5f, 1e-4f, what);
        }
        cnn_cost cost = cnn_node_cost(y);
        assert_int_equal(cost.macs, (int64_t)c->in * c->out);
        assert_int_equal(cost.params, (int64_t)c->in * c->out + (c->bias ? c->out : 0));
        free(x);
        free(want);
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        const cfg *c = &cases[k];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, &in);
        TU_OK(cnn_graph_compile(g, 3));
        float *x = malloc((size_t)c->n * c->in * sizeof *x);
        cnn_rng r;
        cnn_rng_seed(&r, 100 + (uint64_t)k);
        tu_fill(x, (size_t)c->n * c->in, -1, 1, &r);
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, in, x, c->n));
        /* linear in x, W and b: only float rounding of L (~1e-5 / 2e-2), so 2e-3 */
        int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 2e-3, 60);
        if (bad) fprintf(stderr, "linear gradcheck case %d failed\n", k);
        assert_int_equal(bad, 0);
        free(x);
        cnn_graph_free(g);
    }
}

static void test_backward_smaller_batch(void **state)
{
    (void)state;
    cfg c = {5, 6, 3, true};
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *y = build(g, &c, &in);
    TU_OK(cnn_graph_compile(g, 3));
    float x[30];
    cnn_rng r;
    cnn_rng_seed(&r, 8);
    tu_fill(x, 30, -1, 1, &r);
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, in, x, 2));
    /* same reasoning as test_backward_gradcheck */
    assert_int_equal(tu_gradcheck(g, y, &in, 1, 1e-2, 2e-3, 60), 0);
    cnn_graph_free(g);
}

static void test_invalid(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 4});
    cnn_scope_push(g, "classifier");
    tu_expect_error(g, cnn_linear(g, x, 10, .name = "6"), CNN_ERR_SHAPE,
                 "linear 'classifier.6': input (2, 3, 4, 4) is not flat");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 8});
    tu_expect_error(g, cnn_linear(g, x, 0, .name = "fc"), CNN_ERR_INVALID_ARG, "out_features 0");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 8});
    tu_expect_error(g, cnn_linear(g, x, -4), CNN_ERR_INVALID_ARG, "out_features -4");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 1, (int[]){8});
    tu_expect_error(g, cnn_linear(g, x, 3), CNN_ERR_SHAPE, "(8)");
    /* flatten first, and it works */
    g = cnn_graph_new();
    x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 4});
    cnn_node *y = cnn_linear(g, cnn_flatten(g, x), 10);
    TU_OK(cnn_graph_status(g));
    assert_int_equal(cnn_node_value(y).dims[1], 10);
    assert_int_equal(cnn_graph_param(g, 0)->value.dims[1], 48);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_backward_smaller_batch),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

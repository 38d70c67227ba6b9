/* dropout: eval is the identity; training zeroes a fraction ~p (binomial bound) and
   scales the kept values by 1/(1-p); the same seed gives the same mask and successive
   steps differ; backward routes dy through the mask (explicit check and gradcheck
   with the mask held fixed); p = 0; invalid p. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { N = 4, C = 5, H = 10, W = 10, NX = N * C * H * W };

/* Values bounded away from zero, so a zero output means "dropped". */
static void fill_nonzero(float *x, size_t n, uint64_t seed)
{
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        float v = 0.5f + cnn_rng_uniform(&r);
        x[i] = (cnn_rng_u64(&r) & 1) ? v : -v;
    }
}

static cnn_graph *build(float p, cnn_node **in, cnn_node **y)
{
    cnn_graph *g = cnn_graph_new();
    *in = cnn_input(g, "x", 4, (int[]){N, C, H, W});
    cnn_input_requires_grad(*in);
    *y = cnn_dropout(g, *in, p, .name = "drop");
    TU_OK(cnn_graph_status(g));
    return g;
}

static void test_eval_identity(void **state)
{
    (void)state;
    static float x[NX];
    fill_nonzero(x, NX, 1);
    cnn_node *in, *y;
    cnn_graph *g = build(0.5f, &in, &y);
    cnn_graph_set_training(g, false);
    tu_forward(g, in, x, N);
    assert_memory_equal(cnn_node_value(y).data, x, sizeof x);
    /* a smaller batch too */
    tu_forward(g, in, x, 2);
    assert_int_equal(cnn_node_value(y).dims[0], 2);
    assert_memory_equal(cnn_node_value(y).data, x, (size_t)2 * C * H * W * sizeof(float));
    cnn_graph_free(g);
}

static void check_train(float p, uint64_t seed)
{
    static float x[NX], first[NX];
    fill_nonzero(x, NX, seed);
    cnn_node *in, *y;
    cnn_graph *g = build(p, &in, &y);
    TU_OK(cnn_graph_compile(g, seed));
    cnn_graph_set_training(g, true);
    tu_forward(g, in, x, N);
    const float *out = cnn_node_value(y).data;
    float scale = 1.0f / (1.0f - p);
    int zeros = 0;
    for (int i = 0; i < NX; i++) {
        if (out[i] == 0.0f) {
            zeros++;
        } else if (fabsf(out[i] - x[i] * scale) > 1e-6f * fabsf(x[i] * scale)) {
            fail_msg("p %g: kept value %d is %g, want %g", (double)p, i, (double)out[i],
                     (double)(x[i] * scale));
        }
    }
    /* zeros ~ Binomial(NX, p): 5 standard deviations (a false failure ~ 1e-6) */
    double mean = NX * (double)p, sd = sqrt(NX * (double)p * (1.0 - p));
    if (fabs(zeros - mean) > 5.0 * sd + 1.0)
        fail_msg("p %g: %d of %d zeroed, want %g +- %g", (double)p, zeros, NX, mean, 5.0 * sd);
    memcpy(first, out, sizeof first);

    /* the next step draws a new mask */
    tu_forward(g, in, x, N);
    if (p > 0.0f) assert_memory_not_equal(cnn_node_value(y).data, first, sizeof first);

    /* the same seed in a fresh graph gives the same first mask */
    cnn_node *in2, *y2;
    cnn_graph *g2 = build(p, &in2, &y2);
    TU_OK(cnn_graph_compile(g2, seed));
    cnn_graph_set_training(g2, true);
    tu_forward(g2, in2, x, N);
    assert_memory_equal(cnn_node_value(y2).data, first, sizeof first);
    cnn_graph_free(g2);
    cnn_graph_free(g);
}

static void test_train_mask(void **state)
{
    (void)state;
    check_train(0.5f, 11);
    check_train(0.2f, 12);
    check_train(0.9f, 13);
}

static void test_p_zero_is_identity(void **state)
{
    (void)state;
    static float x[NX];
    fill_nonzero(x, NX, 3);
    cnn_node *in, *y;
    cnn_graph *g = build(0.0f, &in, &y);
    cnn_graph_set_training(g, true);
    tu_forward(g, in, x, N);
    assert_memory_equal(cnn_node_value(y).data, x, sizeof x);
    cnn_graph_free(g);
}

static void test_backward_uses_mask(void **state)
{
    (void)state;
    static float x[NX], dy[NX];
    fill_nonzero(x, NX, 5);
    cnn_rng r;
    cnn_rng_seed(&r, 6);
    tu_fill(dy, NX, -1, 1, &r);
    cnn_node *in, *y;
    cnn_graph *g = build(0.4f, &in, &y);
    cnn_graph_set_training(g, true);
    tu_forward(g, in, x, N);
    TU_OK(cnn_graph_backward_from(g, y, dy));
    const float *out = cnn_node_value(y).data, *dx = cnn_node_grad(in).data;
    for (int i = 0; i < NX; i++) {
        float want = out[i] == 0.0f ? 0.0f : dy[i] / 0.6f;
        assert_float_equal(dx[i], want, 1e-6 * (1.0 + fabs(want)));
    }
    cnn_graph_free(g);

    /* gradcheck: tu_gradcheck restores the graph RNG before every forward, so the mask
       is fixed and dropout is linear in x: eps 1e-2 with tolerance 1e-3 only has to
       absorb float rounding of L (~1e-6 / 2e-2) */
    g = cnn_graph_new();
    in = cnn_input(g, "x", 2, (int[]){3, 40});
    cnn_input_requires_grad(in);
    y = cnn_dropout(g, in, 0.3f);
    TU_OK(cnn_graph_compile(g, 9));
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, in, x, 3));
    assert_int_equal(tu_gradcheck(g, y, &in, 1, 1e-2, 1e-3, 120), 0);
    cnn_graph_free(g);
}

static void test_invalid_p(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 2, (int[]){2, 8}))
    FRESH();
    tu_expect_error(g, cnn_dropout(g, x, 1.0f, .name = "drop"), CNN_ERR_INVALID_ARG,
                 "dropout 'drop': p 1 outside [0, 1)");
    FRESH();
    tu_expect_error(g, cnn_dropout(g, x, -0.1f), CNN_ERR_INVALID_ARG, "p -0.1");
    FRESH();
    tu_expect_error(g, cnn_dropout(g, x, 1.5f), CNN_ERR_INVALID_ARG, "p 1.5");
    FRESH();
    tu_expect_error(g, cnn_dropout(g, x, NAN), CNN_ERR_INVALID_ARG, "outside [0, 1)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_identity),
        cmocka_unit_test(test_train_mask),
        cmocka_unit_test(test_p_zero_is_identity),
        cmocka_unit_test(test_backward_uses_mask),
        cmocka_unit_test(test_invalid_p),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

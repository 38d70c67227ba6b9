/* activations (ReLU, ReLU6, sigmoid, tanh, hard-swish, hard-sigmoid): what the
   operator harness (test_backend_ops.c: forward against the torch.nn formulas in
   double, finite differences away from the kinks, every backend against ref) cannot
   express: PyTorch's one-sided gradients exactly at the kinks; unique default names;
   an unknown activation. Sigmoid and tanh (own vectorised exp, src/core/vmath.h) over
   a dense sweep and the special values against both the exact value and libm's float
   results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const cnn_act acts[] = {CNN_ACT_RELU,      CNN_ACT_RELU6,      CNN_ACT_SIGMOID,
                               CNN_ACT_TANH,      CNN_ACT_HARDSWISH,  CNN_ACT_HARDSIGMOID};
static const char *act_names[] = {"relu", "relu6", "sigmoid", "tanh", "hardswish", "hardsigmoid"};
enum { N_ACTS = 6 };

static double clamp(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static double formula(cnn_act a, double x)
{
    switch (a) {
    case CNN_ACT_RELU: return x > 0 ? x : 0;
    case CNN_ACT_RELU6: return clamp(x, 0, 6);
    case CNN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case CNN_ACT_TANH: return tanh(x);
    case CNN_ACT_HARDSWISH: return x * clamp(x + 3, 0, 6) / 6;
    case CNN_ACT_HARDSIGMOID: return clamp(x + 3, 0, 6) / 6;
    default: return NAN;
    }
}

/* d/dx at the kinks, as PyTorch's backward functions choose them. */
static double kink_grad(cnn_act a, double x)
{
    switch (a) {
    case CNN_ACT_RELU: return x > 0 ? 1 : 0;                   /* relu'(0) = 0 */
    case CNN_ACT_RELU6: return (x > 0 && x < 6) ? 1 : 0;       /* 0 at 0 and 6 */
    case CNN_ACT_HARDSWISH: return x < -3 ? 0 : (x > 3 ? 1 : (2 * x + 3) / 6);
    case CNN_ACT_HARDSIGMOID: return (x > -3 && x < 3) ? 1.0 / 6 : 0;
    default: return NAN;
    }
}

enum { N = 3, C = 4, H = 5, W = 6, NX = N * C * H * W };

static cnn_graph *build(cnn_act a, cnn_node **in, cnn_node **y)
{
    cnn_graph *g = cnn_graph_new();
    *in = cnn_input(g, "x", 4, (int[]){N, C, H, W});
    cnn_input_requires_grad(*in);
    *y = cnn_activation(g, *in, a);
    TU_OK(cnn_graph_status(g));
    return g;
}

static void test_backward_at_kinks(void **state)
{
    (void)state;
    static float x[NX], dy[NX];
    static const float pts[] = {0.0f, 6.0f, -3.0f, 3.0f, -3.5f, 3.5f, -1.0f, 7.0f};
    for (int k = 0; k < N_ACTS; k++) {
        if (acts[k] == CNN_ACT_SIGMOID || acts[k] == CNN_ACT_TANH) continue; /* smooth */
        for (int i = 0; i < NX; i++) {
            x[i] = pts[i % 8];
            dy[i] = 1.0f + (float)(i % 3);
        }
        cnn_node *in, *y;
        cnn_graph *g = build(acts[k], &in, &y);
        cnn_graph_set_training(g, true);
        tu_forward(g, in, x, N);
        TU_OK(cnn_graph_backward_from(g, y, dy));
        const float *dx = cnn_node_grad(in).data;
        for (int i = 0; i < NX; i++) {
            double want = dy[i] * kink_grad(acts[k], x[i]);
            if (fabs(dx[i] - want) > 1e-6 * (1.0 + fabs(want)))
                fail_msg("%s: d/dx at %g is %g, want %g", act_names[k], (double)x[i],
                         (double)dx[i], want);
        }
        cnn_graph_free(g);
    }
}

/* Sigmoid / tanh run through vmath.h's polynomial exp: compare with the exact value
   (double) and with what libm's expf / tanhf give in float, over a dense sweep of
   [-110, 110], tiny and denormal inputs, the saturation points and inf / NaN; more
   elements than one parallel chunk, a length that is no multiple of any vector. */
static void test_sigmoid_tanh_accuracy(void **state)
{
    (void)state;
    enum { L = 70001 };
    static float x[L];
    static float exact[L], libm[L], out[L];
    static const float special[] = {0.0f,    -0.0f,  1e-30f, -1e-30f,  1e-40f,    -1e-40f, 1e-4f,
                                    -1e-4f,  0.5f,   -0.5f,  0.55f,    -0.55f,    9.0f,    -9.0f,
                                    20.0f,   -20.0f, 87.3f,  -87.3f,   88.7f,     -88.7f,  100.0f,
                                    -100.0f, 1e30f,  -1e30f, INFINITY, -INFINITY, NAN};
    const int ns = (int)(sizeof special / sizeof special[0]);
    for (int i = 0; i < L; i++)
        x[i] = -110.0f + 220.0f * (float)i / (float)(L - 1);
    memcpy(x, special, sizeof special);
    for (int k = 0; k < 2; k++) {
        cnn_act act = k ? CNN_ACT_TANH : CNN_ACT_SIGMOID;
        cnn_graph *g = cnn_graph_new();
        cnn_node *in = cnn_input(g, "x", 2, (int[]){1, L});
        cnn_node *y = cnn_activation(g, in, act);
        tu_forward(g, in, x, 1);
        memcpy(out, cnn_node_value(y).data, sizeof out);
        for (int i = 0; i < L; i++) {
            exact[i] = (float)formula(act, x[i]);
            libm[i] = k ? tanhf(x[i]) : 1.0f / (1.0f + expf(-x[i]));
        }
        /* NaN in -> NaN out; the rest must be finite and in range */
        assert_true(isnan(out[ns - 1]));
        exact[ns - 1] = libm[ns - 1] = out[ns - 1] = 0.0f;
        for (int i = 0; i < L; i++)
            if (!(out[i] >= (k ? -1.0f : 0.0f) && out[i] <= 1.0f))
                fail_msg("%s(%g) = %g out of range", act_names[k + 2], (double)x[i],
                         (double)out[i]);
        /* measured: <= 1.7e-7 relative to the exact value (~1.5 ulp), <= 2.6e-7 to
           libm's float formulas (which are off by up to ~2.3 ulp themselves); the
           absolute 1e-37 covers sigmoid below -87.3, flushed to 0 where libm and the
           exact value are subnormal */
        TU_ASSERT_CLOSE(out, exact, L, 1e-37f, 2e-7f, act_names[k + 2]);
        TU_ASSERT_CLOSE(out, libm, L, 1e-37f, 3e-7f, act_names[k + 2]);
        if (k == 0) {
            assert_true(out[20] == 1.0f);                     /* sigmoid(100) */
            assert_true(out[21] >= 0.0f && out[21] < 1e-37f); /* sigmoid(-100) ~ 0 */
            assert_true(out[24] == 1.0f && out[25] == 0.0f);  /* +-inf */
            assert_true(out[0] == 0.5f && out[1] == 0.5f);
        } else {
            assert_true(out[14] == 1.0f && out[15] == -1.0f); /* tanh(+-20) */
            assert_true(out[24] == 1.0f && out[25] == -1.0f); /* +-inf */
            assert_true(out[0] == 0.0f && !signbit(out[0]) && signbit(out[1]));
            assert_true(out[2] == 1e-30f && out[3] == -1e-30f);
        }
        cnn_graph_free(g);
    }
}

static void test_names_and_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 3});
    cnn_node *a = cnn_relu(g, x), *b = cnn_relu(g, a), *c = cnn_sigmoid(g, b);
    TU_OK(cnn_graph_status(g));
    assert_string_equal(cnn_node_name(a), "relu0");
    assert_string_equal(cnn_node_name(b), "relu1");
    assert_string_equal(cnn_node_name(c), "sigmoid0");
    assert_ptr_equal(cnn_graph_find(g, "relu1"), b);
    assert_int_equal(cnn_node_cost(a).params, 0);
    assert_int_equal(cnn_node_value(c).ndim, 2);
    assert_null(cnn_activation(g, c, (cnn_act)99));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_graph_error(g), "unknown activation 99"));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_at_kinks),
        cmocka_unit_test(test_sigmoid_tanh_accuracy),
        cmocka_unit_test(test_names_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

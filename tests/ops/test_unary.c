/* unary: neg, abs, exp, log, sqrt, reciprocal against libm in double over their
   domains, batched (built and smaller batch) and unbatched; backward by central
   differences (away from 0 where the derivative is undefined); abs'(0) = 0 as torch;
   describe(); an unknown op naming the node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

static const cnn_unary_op ops[] = {CNN_UN_NEG, CNN_UN_ABS, CNN_UN_EXP,
                                   CNN_UN_LOG, CNN_UN_SQRT, CNN_UN_RECIPROCAL};
#define NOPS (sizeof ops / sizeof ops[0])

static double ref(cnn_unary_op op, double x)
{
    switch (op) {
    case CNN_UN_NEG: return -x;
    case CNN_UN_ABS: return fabs(x);
    case CNN_UN_EXP: return exp(x);
    case CNN_UN_LOG: return log(x);
    case CNN_UN_SQRT: return sqrt(x);
    case CNN_UN_RECIPROCAL: return 1.0 / x;
    }
    return NAN;
}

/* positive inputs where the op needs them; away from 0 for abs / reciprocal */
static void fill(cnn_unary_op op, float *x, size_t n, cnn_rng *r)
{
    bool pos = op == CNN_UN_LOG || op == CNN_UN_SQRT;
    tu_fill(x, n, pos ? 0.2f : -3.0f, 3.0f, r);
    if (op == CNN_UN_ABS || op == CNN_UN_RECIPROCAL)
        for (size_t i = 0; i < n; i++)
            if (fabsf(x[i]) < 0.2f) x[i] = x[i] < 0 ? -0.2f - x[i] : 0.2f + x[i];
}

static void test_forward(void **state)
{
    (void)state;
    for (size_t o = 0; o < NOPS; o++)
        for (int unb = 0; unb < 2; unb++) {
            cnn_graph *g = cnn_graph_new();
            const int d[4] = {3, 4, 5, 2};
            cnn_node *x = unb ? cnn_parameter(g, "x", 4, d, true) : cnn_input(g, "x", 4, d);
            cnn_node *y = cnn_unary(g, x, ops[o]);
            TU_OK(cnn_graph_status(g));
            TU_OK(cnn_graph_compile(g, 1));
            for (int batch = 3; batch >= (unb ? 3 : 1); batch--) {
                size_t n = (size_t)batch * 40;
                float xv[120], want[120];
                cnn_rng r;
                cnn_rng_seed(&r, o * 10 + (size_t)batch);
                fill(ops[o], xv, n, &r);
                if (unb) TU_OK(cnn_graph_set_initial(g, "x", xv, n));
                else TU_OK(cnn_graph_set_input(g, x, xv, batch));
                TU_OK(cnn_graph_forward(g));
                for (size_t i = 0; i < n; i++) want[i] = (float)ref(ops[o], xv[i]);
                char what[64];
                snprintf(what, sizeof what, "unary op %d batch %d", (int)ops[o], batch);
                TU_ASSERT_CLOSE(cnn_node_value(y).data, want, n, 1e-7f, 1e-6f, what);
            }
            cnn_graph_free(g);
        }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t o = 0; o < NOPS; o++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 3, (int[]){3, 4, 5});
        cnn_input_requires_grad(x);
        cnn_node *p = cnn_parameter(g, "p", 2, (int[]){4, 5}, true);
        cnn_node *y = cnn_unary(g, x, ops[o]), *z = cnn_unary(g, p, ops[o]);
        cnn_node *s = cnn_binary(g, y, z, CNN_BIN_ADD);
        TU_OK(cnn_graph_compile(g, 1));
        float xv[60], pv[20];
        cnn_rng r;
        cnn_rng_seed(&r, 50 + o);
        fill(ops[o], xv, 60, &r);
        fill(ops[o], pv, 20, &r);
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, x, xv, 3));
        TU_OK(cnn_graph_set_initial(g, "p", pv, 20));
        int bad = tu_gradcheck(g, s, &x, 1, 1e-3, 3e-3, 60);
        if (bad) fprintf(stderr, "unary gradcheck op %d failed\n", (int)ops[o]);
        assert_int_equal(bad, 0);
        cnn_graph_free(g);
    }
}

static void test_abs_at_zero_describe_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){1, 3});
    cnn_input_requires_grad(x);
    cnn_node *y = cnn_unary(g, x, CNN_UN_ABS);
    TU_OK(cnn_graph_compile(g, 0));
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, x, (float[]){0, -2, 2}, 1));
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward_from(g, y, (float[]){1, 1, 1}));
    const float want[3] = {0, -1, 1};
    assert_memory_equal(cnn_node_grad(x).data, want, sizeof want);
    assert_string_equal(cnn_node_name(y), "abs0");
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_string_equal(d.attrs[0].key, "op");
    assert_int_equal(d.attrs[0].i[0], CNN_UN_ABS);
    cnn_graph_free(g);
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){1, 3});
    tu_expect_error(g, cnn_unary(g, x, (cnn_unary_op)17), CNN_ERR_INVALID_ARG,
                    "unary 'unary0': unknown unary op 17");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_abs_at_zero_describe_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* binary beyond the operator harness (test_backend_ops.c: every op with NumPy
   broadcasting against double, batched and unbatched operands, gradients by finite
   differences, every backend against ref): max/min tie splitting and x op x; pow at
   its edges; the same bits at 1 and 2 threads; error cases naming the node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct opnd {
    int nd, d[6];
    bool batched;
} opnd;

typedef struct bcase {
    opnd a, b;
} bcase;

#define NCASES (sizeof cases / sizeof cases[0])

static const cnn_binary_op ops[] = {CNN_BIN_ADD, CNN_BIN_SUB, CNN_BIN_MUL, CNN_BIN_DIV,
                                    CNN_BIN_MAX, CNN_BIN_MIN, CNN_BIN_POW};
#define NOPS (sizeof ops / sizeof ops[0])

/* x op x: both gradients land in one tensor; max/min ties split (x max x = x: 1) */
static void test_same_operand_and_ties(void **state)
{
    (void)state;
    for (size_t o = 0; o < NOPS; o++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 3});
        cnn_input_requires_grad(x);
        cnn_node *y = cnn_binary(g, x, x, ops[o]);
        TU_OK(cnn_graph_compile(g, 0));
        cnn_graph_set_training(g, true);
        const float xv[6] = {0.5f, 1.0f, 1.5f, 2.0f, 0.75f, 1.25f};
        TU_OK(cnn_graph_set_input(g, x, xv, 2));
        TU_OK(cnn_graph_forward(g));
        const float ones[6] = {1, 1, 1, 1, 1, 1};
        TU_OK(cnn_graph_backward_from(g, y, ones));
        cnn_tensor gx = cnn_node_grad(x);
        for (int i = 0; i < 6; i++) {
            double v = xv[i], want = 0;
            switch (ops[o]) {
            case CNN_BIN_ADD: want = 2; break;
            case CNN_BIN_SUB: want = 0; break;
            case CNN_BIN_MUL: want = 2 * v; break;
            case CNN_BIN_DIV: want = 0; break;
            case CNN_BIN_MAX:
            case CNN_BIN_MIN: want = 1; break; /* half to each side */
            case CNN_BIN_POW: want = pow(v, v) * (1 + log(v)); break;
            }
            if (fabs(gx.data[i] - want) > 1e-5 * (1 + fabs(want)))
                fail_msg("op %d x=%g: grad %g, want %g", (int)ops[o], v, gx.data[i], want);
        }
        cnn_graph_free(g);
    }
}

/* pow with a negative base follows powf (NaN for a fractional exponent, a sign for
   odd integers); d/d exponent at base 0 is 0 */
static void test_pow_edges(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 2, (int[]){1, 4});
    cnn_node *b = cnn_parameter(g, "b", 2, (int[]){1, 4}, true);
    cnn_input_requires_grad(a);
    cnn_node *y = cnn_binary(g, a, b, CNN_BIN_POW);
    TU_OK(cnn_graph_compile(g, 0));
    TU_OK(cnn_graph_set_initial(g, "b", (float[]){3, 0.5f, 2, 2}, 4));
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, a, (float[]){-2, -2, 0, 3}, 1));
    TU_OK(cnn_graph_forward(g));
    cnn_tensor v = cnn_node_value(y);
    assert_true(v.data[0] == powf(-2.0f, 3.0f));
    assert_true(isnan(v.data[1]));
    assert_true(v.data[2] == 0.0f && v.data[3] == 9.0f);
    TU_OK(cnn_graph_backward_from(g, y, (float[]){1, 1, 1, 1}));
    cnn_tensor gb = cnn_graph_find_param(g, "b")->grad;
    assert_true(gb.data[2] == 0.0f); /* base 0, exponent >= 0 */
    assert_true(fabsf(gb.data[3] - 9.0f * logf(3.0f)) < 1e-5f);
    cnn_graph_free(g);
}

/* large enough for the parallel paths: 1 and 2 threads give the same bits, forward
   and both gradients (the (1, C, 1, 1) one accumulated over the broadcast) */
static void test_threads_same_bits(void **state)
{
    (void)state;
    const size_t nx = 4 * 32 * 24 * 24, nc = 32;
    float *res[2][3];
    for (int th = 0; th < 2; th++) {
        cnn_set_threads(th + 1);
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 4, (int[]){4, 32, 24, 24});
        cnn_input_requires_grad(x);
        cnn_node *c = cnn_parameter(g, "c", 4, (int[]){1, 32, 1, 1}, true);
        cnn_node *y = cnn_binary(g, x, c, CNN_BIN_DIV);
        TU_OK(cnn_graph_compile(g, 3));
        cnn_graph_set_training(g, true);
        float *xv = malloc(nx * sizeof *xv), *dy = malloc(nx * sizeof *dy), cv[32];
        cnn_rng r;
        cnn_rng_seed(&r, 78);
        tu_fill(xv, nx, -1, 1, &r);
        tu_fill(dy, nx, -1, 1, &r);
        tu_fill(cv, nc, 0.5f, 2, &r);
        TU_OK(cnn_graph_set_initial(g, "c", cv, nc));
        TU_OK(cnn_graph_set_input(g, x, xv, 4));
        TU_OK(cnn_graph_forward(g));
        TU_OK(cnn_graph_backward_from(g, y, dy));
        const float *src[3] = {cnn_node_value(y).data, cnn_node_grad(x).data,
                               cnn_graph_find_param(g, "c")->grad.data};
        const size_t sz[3] = {nx, nx, nc};
        for (int k = 0; k < 3; k++) {
            res[th][k] = malloc(sz[k] * sizeof(float));
            memcpy(res[th][k], src[k], sz[k] * sizeof(float));
        }
        free(xv), free(dy);
        cnn_graph_free(g);
    }
    cnn_set_threads(0);
    const size_t sz[3] = {nx, nx, nc};
    for (int k = 0; k < 3; k++) {
        assert_memory_equal(res[0][k], res[1][k], sz[k] * sizeof(float));
        free(res[0][k]), free(res[1][k]);
    }
}

static void test_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 5});
    cnn_node *k = cnn_constant(g, "k", 1, (int[]){4}, (float[]){1, 2, 3, 4});
    tu_expect_error(g, cnn_binary(g, x, k, CNN_BIN_ADD), CNN_ERR_SHAPE,
                    "binary 'add0': shapes (2, 3, 4, 5) and (4) do not broadcast");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 3});
    k = cnn_constant(g, "k", 3, (int[]){1, 1, 3}, (float[]){1, 2, 3});
    cnn_scope_push(g, "blk");
    tu_expect_error(g, cnn_binary(g, x, k, CNN_BIN_MUL), CNN_ERR_SHAPE,
                    "binary 'blk.mul0': the batched operand (2, 3) must have the result's rank 3");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 3});
    k = cnn_constant(g, "k", 2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    tu_expect_error(g, cnn_binary(g, k, x, CNN_BIN_SUB), CNN_ERR_SHAPE,
                    "the unbatched operand (2, 3) must have 1 in dimension 0");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 3});
    tu_expect_error(g, cnn_binary(g, x, x, (cnn_binary_op)42), CNN_ERR_INVALID_ARG,
                    "unknown binary op 42");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 3});
    tu_expect_error(g, cnn_binary(g, x, NULL, CNN_BIN_ADD), CNN_ERR_INVALID_ARG, "input 1 is NULL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_operand_and_ties),
        cmocka_unit_test(test_pow_edges),
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

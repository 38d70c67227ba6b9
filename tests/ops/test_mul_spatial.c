/* mul_spatial beyond the operator harness (test_backend_ops.c: values, 4-D and
   5-D, gradients, every backend against ref): backward through CBAM's chain
   x * sigmoid(channel_max(x)) where x feeds both inputs; shape errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int nd, d[5]; /* x; s has d[1] = 1 */
} cfg;

/* CBAM's spatial gate on one tensor: y = x * sigmoid(max_c x); x reaches y twice. */
static void test_cbam_chain_gradcheck(void **state)
{
    (void)state;
    const int N = 2, C = 4, H = 3, W = 3;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){N, C, H, W});
    cnn_input_requires_grad(x);
    cnn_node *y = cnn_mul_spatial(g, x, cnn_sigmoid(g, cnn_channel_max(g, x)));
    TU_OK(cnn_graph_compile(g, 1));
    cnn_graph_set_training(g, true);
    /* channel values at each position are a permutation of {0, 0.3, 0.6, 0.9} - 0.45
       plus noise below 0.05: the max never changes under a 1e-2 step */
    float xv[2 * 4 * 3 * 3];
    cnn_rng r;
    cnn_rng_seed(&r, 3);
    for (int b = 0; b < N; b++)
        for (int k = 0; k < H * W; k++) {
            int perm[4] = {0, 1, 2, 3};
            for (int i = 3; i > 0; i--) {
                int j = (int)cnn_rng_below(&r, (uint32_t)i + 1), tmp = perm[i];
                perm[i] = perm[j];
                perm[j] = tmp;
            }
            for (int ch = 0; ch < C; ch++)
                xv[(b * C + ch) * H * W + k] =
                    0.3f * (float)perm[ch] - 0.45f + 0.05f * cnn_rng_uniform(&r);
        }
    TU_OK(cnn_graph_set_input(g, x, xv, N));
    /* smooth (sigmoid) times piecewise linear away from kinks: eps 1e-3 keeps the
       O(eps^2) truncation error ~1e-7; float rounding / 2e-3 ~ 1e-4 < 2e-3 */
    int bad = tu_gradcheck(g, y, &x, 1, 1e-3, 2e-3, 100);
    assert_int_equal(bad, 0);
    cnn_graph_free(g);
}

static void test_invalid_shapes(void **state)
{
    (void)state;
    static const struct {
        int sd[4];
        const char *needle;
    } bad[] = {
        {{2, 2, 4, 5}, "mul_spatial 'cbam.mul_spatial0': scale (2, 2, 4, 5) does not fit input "
                       "(2, 3, 4, 5)"},
        {{2, 1, 4, 4}, "scale (2, 1, 4, 4)"},
        {{2, 3, 1, 1}, "scale (2, 3, 1, 1)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 5});
        cnn_node *s = cnn_input(g, "s", 4, bad[i].sd);
        cnn_scope_push(g, "cbam");
        assert_null(cnn_mul_spatial(g, x, s));
        assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
        if (!strstr(cnn_graph_error(g), bad[i].needle))
            fail_msg("error '%s' does not mention '%s'", cnn_graph_error(g), bad[i].needle);
        cnn_graph_free(g);
    }
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 3});
    assert_null(cnn_mul_spatial(g, x, x));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_graph_error(g), "got (2, 3)"));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cbam_chain_gradcheck),
        cmocka_unit_test(test_invalid_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

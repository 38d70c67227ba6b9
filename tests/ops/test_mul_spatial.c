/* mul_spatial: forward against a naive broadcast loop (4-D and 5-D, built and smaller
   batch); backward by central differences for x and s, also through CBAM's chain
   x * sigmoid(channel_max(x)) where x feeds both inputs; shape errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int nd, d[5]; /* x; s has d[1] = 1 */
} cfg;

static const cfg cases[] = {
    {4, {2, 3, 4, 5}},
    {4, {3, 1, 3, 3}},   /* one channel */
    {5, {2, 3, 2, 3, 2}},
    {4, {2, 6, 1, 1}},
};

static size_t prod(int nd, const int *d, int batch, int c)
{
    size_t n = (size_t)batch * (size_t)c;
    for (int i = 2; i < nd; i++) n *= (size_t)d[i];
    return n;
}

static void naive(const cfg *c, int batch, const float *x, const float *s, float *y)
{
    size_t S = prod(c->nd, c->d, 1, 1);
    for (int b = 0; b < batch; b++)
        for (int ch = 0; ch < c->d[1]; ch++)
            for (size_t k = 0; k < S; k++) {
                size_t i = ((size_t)b * c->d[1] + ch) * S + k;
                y[i] = x[i] * s[(size_t)b * S + k];
            }
}

static void build(cnn_graph *g, const cfg *c, cnn_node **in, cnn_node **y)
{
    int sd[5];
    memcpy(sd, c->d, sizeof sd);
    sd[1] = 1;
    in[0] = cnn_input(g, "x", c->nd, c->d);
    in[1] = cnn_input(g, "s", c->nd, sd);
    cnn_input_requires_grad(in[0]);
    cnn_input_requires_grad(in[1]);
    *y = cnn_mul_spatial(g, in[0], in[1]);
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
        for (int batch = c->d[0]; batch >= 1; batch--) {
            size_t nx = prod(c->nd, c->d, batch, c->d[1]), ns = prod(c->nd, c->d, batch, 1);
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
            assert_int_equal(cnn_tensor_numel(&v), nx);
            char what[48];
            snprintf(what, sizeof what, "mul_spatial case %zu batch %d", t, batch);
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
        size_t nx = prod(c->nd, c->d, c->d[0], c->d[1]), ns = prod(c->nd, c->d, c->d[0], 1);
        float *x = malloc(nx * sizeof *x), *s = malloc(ns * sizeof *s);
        cnn_rng r;
        cnn_rng_seed(&r, 90 + t);
        tu_fill(x, nx, -1, 1, &r);
        tu_fill(s, ns, -1, 1, &r);
        TU_OK(cnn_graph_set_input(g, in[0], x, c->d[0]));
        TU_OK(cnn_graph_set_input(g, in[1], s, c->d[0]));
        /* linear in each input separately: exact up to float rounding (~1e-5) */
        int bad = tu_gradcheck(g, y, in, 2, 1e-2, 1e-3, 200);
        if (bad) fprintf(stderr, "mul_spatial gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        free(x);
        free(s);
        cnn_graph_free(g);
    }
}

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
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_cbam_chain_gradcheck),
        cmocka_unit_test(test_invalid_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* lrn: forward against a naive reference built as PyTorch's LocalResponseNorm does it
   (zero-pad the squared input by size/2 channels before and (size-1)/2 after, average
   over a window of `size`), for sizes 5, 4 (even), 1 and larger than C; AlexNet's
   alpha 1e-4 beta 0.75 k 2 and larger alphas that make the normalisation visible;
   defaults; backward by central differences; invalid options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int ndim; /* 3: (N, C, L); 4: (N, C, H, W) */
    int n, c, h, w;
    int size;
    float alpha, beta, k; /* 0 = default */
} cfg;

static void naive_lrn(const cfg *c, const float *x, float *y)
{
    double alpha = c->alpha != 0.0f ? c->alpha : 1e-4;
    double beta = c->beta != 0.0f ? c->beta : 0.75;
    double k = c->k != 0.0f ? c->k : 1.0;
    int S = c->h * c->w, C = c->c, pre = c->size / 2, post = (c->size - 1) / 2;
    int P = C + pre + post;
    double *sq = malloc((size_t)P * sizeof *sq);
    for (int n = 0; n < c->n; n++)
        for (int p = 0; p < S; p++) {
            for (int q = 0; q < P; q++) {
                int ch = q - pre;
                double v = (ch >= 0 && ch < C) ? x[((size_t)n * C + ch) * S + p] : 0.0;
                sq[q] = v * v;
            }
            for (int ch = 0; ch < C; ch++) {
                double avg = 0.0;
                for (int t = 0; t < c->size; t++) avg += sq[ch + t];
                avg /= c->size;
                size_t e = ((size_t)n * C + ch) * S + p;
                y[e] = (float)(x[e] / pow(k + alpha * avg, beta));
            }
        }
    free(sq);
}

static cnn_node *build(cnn_graph *g, const cfg *c, cnn_node **in)
{
    if (c->ndim == 3) *in = cnn_input(g, "x", 3, (int[]){c->n, c->c, c->w});
    else *in = cnn_input(g, "x", 4, (int[]){c->n, c->c, c->h, c->w});
    cnn_input_requires_grad(*in);
    return cnn_lrn(g, *in, .size = c->size, .alpha = c->alpha, .beta = c->beta, .k = c->k,
                   .name = "lrn");
}

static const cfg cases[] = {
    /* nd n  c  h  w size alpha  beta   k */
    {4, 2, 7, 3, 4, 5, 1e-4f, 0.75f, 2.0f}, /* AlexNet (torchvision) */
    {4, 2, 7, 3, 3, 5, 1.0f, 0.75f, 2.0f},  /* visible normalisation */
    {4, 2, 6, 2, 3, 4, 0.5f, 0.75f, 1.0f},  /* even size: 2 before, 1 after */
    {4, 1, 5, 3, 3, 1, 0.8f, 0.5f, 1.5f},   /* size 1: own channel only */
    {4, 2, 3, 2, 2, 7, 2.0f, 0.6f, 1.0f},   /* window wider than C */
    {4, 2, 8, 2, 2, 3, 0.0f, 0.0f, 0.0f},   /* defaults 1e-4, 0.75, 1 */
    {3, 2, 6, 1, 5, 2, 1.5f, 1.0f, 1.0f},   /* (N, C, L), even size 2 */
};

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const cfg *c = &cases[k];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, &in);
        TU_OK(cnn_graph_status(g));
        size_t nx = (size_t)c->n * c->c * c->h * c->w;
        float *x = malloc(nx * sizeof *x), *want = malloc(nx * sizeof *want);
        cnn_rng r;
        cnn_rng_seed(&r, k);
        tu_fill(x, nx, -2, 2, &r);
        tu_forward(g, in, x, c->n);
        cnn_tensor out = cnn_node_value(y);
        assert_int_equal(cnn_tensor_numel(&out), nx);
        naive_lrn(c, x, want);
        char what[64];
        snprintf(what, sizeof what, "lrn case %zu", k);
        /* float sums of <= 7 squares and one powf: ~1e-6 relative */
        TU_ASSERT_CLOSE(out.data, want, nx, 1e-6f, 1e-5f, what);
        if (c->alpha >= 0.5f) {
            /* the normalisation must matter here: compare with x / k^beta */
            double worst = 0.0;
            for (size_t e = 0; e < nx; e++) {
                double plain = x[e] / pow(c->k, c->beta);
                worst = fmax(worst, fabs(plain - out.data[e]));
            }
            assert_true(worst > 0.1);
        }
        free(x);
        free(want);
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const cfg *c = &cases[k];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, &in);
        TU_OK(cnn_graph_compile(g, 3));
        size_t nx = (size_t)c->n * c->c * c->h * c->w;
        float *x = malloc(nx * sizeof *x);
        cnn_rng r;
        cnn_rng_seed(&r, 100 + k);
        tu_fill(x, nx, -1.5f, 1.5f, &r);
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, in, x, c->n));
        /* LRN is smooth (k > 0 keeps the base >= 1): with eps 1e-2 the O(eps^2)
           truncation is ~1e-4 for alpha <= 2 and float rounding of L adds ~1e-5, so a
           1e-2 relative tolerance has margin; a wrong window gives O(alpha) errors. */
        int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 1e-2, 80);
        if (bad) fprintf(stderr, "lrn gradcheck case %zu failed\n", k);
        assert_int_equal(bad, 0);
        free(x);
        cnn_graph_free(g);
    }
}

static void test_cost_and_shape(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){3, 16, 5, 5});
    cnn_node *y = cnn_lrn(g, x, .size = 5);
    TU_OK(cnn_graph_status(g));
    assert_string_equal(cnn_node_op(y), "lrn");
    cnn_tensor v = cnn_node_value(y);
    assert_int_equal(v.ndim, 4);
    assert_int_equal(v.dims[1], 16);
    cnn_cost cost = cnn_node_cost(y);
    assert_int_equal(cost.params, 0);
    assert_int_equal(cost.macs, (int64_t)16 * 5 * 5 * (5 + 2));
    cnn_graph_free(g);
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){1, 8, 4, 4}))
    FRESH();
    tu_expect_error(g, cnn_lrn(g, x, .name = "norm1"), CNN_ERR_INVALID_ARG, "lrn 'norm1': size 0");
    FRESH();
    tu_expect_error(g, cnn_lrn(g, x, .size = -3), CNN_ERR_INVALID_ARG, "size -3");
    FRESH();
    tu_expect_error(g, cnn_lrn(g, x, .size = 5, .alpha = -1.0f), CNN_ERR_INVALID_ARG, "alpha");
    FRESH();
    tu_expect_error(g, cnn_lrn(g, x, .size = 5, .k = -1.0f), CNN_ERR_INVALID_ARG, "k -1");
#undef FRESH
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){1, 10});
    tu_expect_error(g, cnn_lrn(g, x, .size = 3), CNN_ERR_SHAPE, "(1, 10)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_cost_and_shape),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

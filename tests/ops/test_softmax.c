/* softmax over dim 1: (N, K) and (N, C, H, W) (per position over channels) against a
   double-precision naive reference, stability with large logits, a smaller batch than
   built, gradcheck, invalid input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int ndim, n, c, h, w;
    float lo, hi; /* input range */
} cfg;

/* softmax over dim 1 of (n, c, s) in double, the plain formula exp(x) / sum exp(x)
   with the max subtracted (which does not change the value). */
static void naive_softmax(int n, int c, int s, const float *x, float *y)
{
    for (int i = 0; i < n; i++)
        for (int p = 0; p < s; p++) {
            double m = -INFINITY, sum = 0.0;
            for (int k = 0; k < c; k++) m = fmax(m, x[((size_t)i * c + k) * s + p]);
            for (int k = 0; k < c; k++) sum += exp(x[((size_t)i * c + k) * s + p] - m);
            for (int k = 0; k < c; k++) {
                size_t e = ((size_t)i * c + k) * s + p;
                y[e] = (float)(exp(x[e] - m) / sum);
            }
        }
}

static cnn_node *build(cnn_graph *g, const cfg *c, cnn_node **in)
{
    if (c->ndim == 2) *in = cnn_input(g, "x", 2, (int[]){c->n, c->c});
    else *in = cnn_input(g, "x", 4, (int[]){c->n, c->c, c->h, c->w});
    cnn_input_requires_grad(*in);
    return cnn_softmax(g, *in);
}

static const cfg cases[] = {
    {2, 3, 10, 1, 1, -3, 3},        /* (N, K) classifier output */
    {2, 2, 1, 1, 1, -3, 3},         /* a single class: all ones */
    {4, 2, 5, 3, 4, -2, 2},         /* per position over channels */
    {2, 2, 6, 1, 1, 995, 1005},     /* large logits: exp overflows without the max */
    {4, 1, 4, 2, 2, -1000, -990},   /* very negative logits */
};

static void run_forward(const cfg *c, int batch, int k)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *y = build(g, c, &in);
    TU_OK(cnn_graph_status(g));
    int s = c->ndim == 2 ? 1 : c->h * c->w;
    size_t nx = (size_t)batch * c->c * s;
    float *x = malloc(nx * sizeof *x), *want = malloc(nx * sizeof *want);
    cnn_rng r;
    cnn_rng_seed(&r, (uint64_t)k);
    tu_fill(x, nx, c->lo, c->hi, &r);
    tu_forward(g, in, x, batch);
    cnn_tensor out = cnn_node_value(y);
    assert_int_equal(out.dims[0], batch);
    assert_int_equal(cnn_tensor_numel(&out), nx);
    naive_softmax(batch, c->c, s, x, want);
    char what[64];
    snprintf(what, sizeof what, "softmax case %d batch %d", k, batch);
    /* one expf per value and a float normalisation: ~1e-6 relative */
    TU_ASSERT_CLOSE(out.data, want, nx, 1e-7f, 1e-5f, what);
    for (int i = 0; i < batch; i++)
        for (int p = 0; p < s; p++) {
            double sum = 0.0;
            for (int q = 0; q < c->c; q++) sum += out.data[((size_t)i * c->c + q) * s + p];
            assert_float_equal(sum, 1.0, 1e-5);
        }
    free(x);
    free(want);
    cnn_graph_free(g);
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) run_forward(&cases[k], cases[k].n, k);
    /* a smaller batch than built */
    cfg c = {4, 5, 3, 2, 3, -2, 2};
    run_forward(&c, 2, 99);
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const cfg *c = &cases[k];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, &in);
        TU_OK(cnn_graph_compile(g, 3));
        int s = c->ndim == 2 ? 1 : c->h * c->w;
        size_t nx = (size_t)c->n * c->c * s;
        float *x = malloc(nx * sizeof *x);
        cnn_rng r;
        cnn_rng_seed(&r, 100 + k);
        /* large offsets make a float32 step of 1e-2 inexact (ulp(1000) = 6e-5), so the
           check uses the same spreads around 0 */
        float mid = 0.5f * (c->lo + c->hi);
        tu_fill(x, nx, c->lo - mid, c->hi - mid, &r);
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, in, x, c->n));
        /* outputs in (0, 1) with second derivatives <= 1/4: eps 1e-2 gives truncation
           <~ 1e-5 and rounding of L ~1e-5, well inside 5e-3 relative */
        int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 5e-3, 80);
        if (bad) fprintf(stderr, "softmax gradcheck case %zu failed\n", k);
        assert_int_equal(bad, 0);
        free(x);
        cnn_graph_free(g);
    }
}

static void test_invalid_input(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 1, (int[]){4});
    assert_null(cnn_softmax(g, x));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_graph_error(g), "softmax"));
    assert_non_null(strstr(cnn_graph_error(g), "(4)"));
    cnn_graph_free(g);
    /* a NULL input propagates */
    g = cnn_graph_new();
    assert_null(cnn_softmax(g, NULL));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_invalid_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

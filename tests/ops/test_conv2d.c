/* conv2d: forward against a naive 7-loop reference over the option matrix (kernel
   incl. 5x3, stride, padding, dilation, groups incl. depthwise, bias on/off), backward
   by central differences, and invalid options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, h, w, out, kh, kw, sh, sw, ph, pw, dh, dw, groups;
    bool bias;
} cfg;

static void naive_conv(const cfg *c, const float *x, const float *wt, const float *b, float *y,
                       int oh, int ow)
{
    int cg = c->c / c->groups, og = c->out / c->groups;
    for (int n = 0; n < c->n; n++)
        for (int o = 0; o < c->out; o++) {
            int g = o / og;
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    double acc = c->bias ? b[o] : 0.0;
                    for (int ci = 0; ci < cg; ci++)
                        for (int u = 0; u < c->kh; u++)
                            for (int v = 0; v < c->kw; v++) {
                                int ih = i * c->sh - c->ph + u * c->dh;
                                int iw = j * c->sw - c->pw + v * c->dw;
                                if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w) continue;
                                acc += (double)x[((n * c->c + g * cg + ci) * c->h + ih) * c->w + iw] *
                                       wt[((o * cg + ci) * c->kh + u) * c->kw + v];
                            }
                    y[((n * c->out + o) * oh + i) * ow + j] = (float)acc;
                }
        }
}

static cnn_node *build(cnn_graph *g, const cfg *c, cnn_node **in)
{
    *in = cnn_input(g, "x", 4, (int[]){c->n, c->c, c->h, c->w});
    cnn_input_requires_grad(*in);
    return cnn_conv2d(g, *in, c->out, .kernel_h = c->kh, .kernel_w = c->kw, .stride_h = c->sh,
                      .stride_w = c->sw, .padding_h = c->ph, .padding_w = c->pw,
                      .dilation_h = c->dh, .dilation_w = c->dw, .groups = c->groups,
                      .no_bias = !c->bias, .name = "conv");
}

static const cfg cases[] = {
    /* n  c  h  w out kh kw sh sw ph pw dh dw  g  bias */
    {2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},   /* 3x3 same, odd sizes */
    {2, 3, 9, 8, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, true},   /* stride 2 */
    {1, 4, 10, 9, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1, false}, /* dilation 2 */
    {2, 6, 7, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6, true},   /* depthwise */
    {2, 6, 6, 5, 9, 3, 3, 2, 1, 1, 0, 1, 1, 3, true},   /* groups = 3 */
    {2, 5, 6, 7, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, false},  /* pointwise 1x1 */
    {1, 2, 11, 8, 3, 5, 3, 1, 2, 2, 1, 1, 1, 1, true},  /* rectangular 5x3 */
    {1, 2, 8, 9, 3, 1, 5, 1, 1, 0, 2, 1, 1, 1, true},   /* spatially separable 1x5 */
    {1, 3, 12, 12, 4, 7, 7, 2, 2, 3, 3, 1, 1, 1, false},/* 7x7 stride 2 (ResNet stem) */
    {3, 4, 5, 5, 8, 2, 2, 2, 2, 0, 0, 1, 1, 2, true},   /* even kernel, groups 2 */
};

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const cfg *c = &cases[k];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, &in);
        TU_OK(cnn_graph_status(g));
        TU_OK(cnn_graph_compile(g, 7));
        size_t nx = (size_t)c->n * c->c * c->h * c->w;
        float *x = malloc(nx * sizeof *x);
        cnn_rng r;
        cnn_rng_seed(&r, k);
        tu_fill(x, nx, -1, 1, &r);
        tu_forward(g, in, x, c->n);
        cnn_tensor out = cnn_node_value(y);
        int oh = out.dims[2], ow = out.dims[3];
        assert_int_equal(oh, (c->h + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1);
        assert_int_equal(ow, (c->w + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1);
        size_t ny = cnn_tensor_numel(&out);
        float *want = malloc(ny * sizeof *want);
        cnn_param *w = cnn_graph_find_param(g, "conv.weight");
        cnn_param *b = cnn_graph_find_param(g, "conv.bias");
        assert_non_null(w);
        assert_true(c->bias == (b != NULL));
        naive_conv(c, x, w->value.data, b ? b->value.data : NULL, want, oh, ow);
        char what[64];
        snprintf(what, sizeof what, "conv2d case %zu", k);
        TU_ASSERT_CLOSE(out.data, want, ny, 1e-5f, 1e-4f, what);
        /* cost: MACs = out elements * (C_in/groups * kh * kw) */
        cnn_cost cost = cnn_node_cost(y);
        assert_int_equal(cost.macs, (int64_t)(ny / c->n) * (c->c / c->groups) * c->kh * c->kw);
        assert_int_equal(cost.params, (int64_t)c->out * (c->c / c->groups) * c->kh * c->kw +
                                          (c->bias ? c->out : 0));
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
        tu_fill(x, nx, -1, 1, &r);
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, in, x, c->n));
        /* conv is linear in x and w: float rounding is the only error, so eps 1e-2
           and a 1e-2 relative tolerance leave a wide margin over rounding (~1e-4) */
        int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 1e-2, 60);
        if (bad) fprintf(stderr, "conv2d gradcheck case %zu failed\n", k);
        assert_int_equal(bad, 0);
        free(x);
        cnn_graph_free(g);
    }
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){1, 64, 8, 8}))
    FRESH();
    cnn_scope_push(g, "layer1");
    cnn_scope_push(g, "0");
    tu_expect_error(g, cnn_conv2d(g, x, 64, .kernel = 3, .groups = 3, .name = "conv1"),
                 CNN_ERR_INVALID_ARG, "conv2d 'layer1.0.conv1': groups 3 does not divide 64 input channels");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 8), CNN_ERR_INVALID_ARG, "kernel 0x0");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 8, .kernel = 3, .padding = -1), CNN_ERR_INVALID_ARG, "padding");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 8, .kernel = 3, .stride = -2), CNN_ERR_INVALID_ARG, "stride");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 8, .kernel = 11), CNN_ERR_SHAPE, "(1, 64, 8, 8)");
    FRESH();
    tu_expect_error(g, cnn_conv2d(g, x, 0, .kernel = 3), CNN_ERR_INVALID_ARG, "out_channels");
    FRESH();
    /* an error propagates: later layers return NULL with the first message */
    cnn_node *bad = cnn_conv2d(g, x, 8, .kernel = 3, .groups = 5);
    cnn_node *next = cnn_relu(g, bad);
    tu_expect_error(g, next, CNN_ERR_INVALID_ARG, "groups 5");
    /* wrong rank */
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){1, 10});
    tu_expect_error(g, cnn_conv2d(g, x, 8, .kernel = 3), CNN_ERR_SHAPE, "(1, 10)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

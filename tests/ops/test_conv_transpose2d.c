/* conv_transpose2d: forward against a naive scatter loop written from the definition
   (each input pixel adds x * w[c, o] to the output window at i*stride - padding +
   u*dilation) over the option matrix (odd sizes, stride 2/3, padding, output_padding,
   dilation 2, groups incl. depthwise, 1x1, rectangular kernels), also at a batch below
   the built one; params, MACs, init bound; backward by central differences; invalid
   options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, h, w, out, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, groups;
    bool bias;
} cfg;

static int out_size(int in, int k, int s, int p, int op, int d)
{
    return (in - 1) * s - 2 * p + d * (k - 1) + op + 1;
}

/* y = bias; then y[n, g*og + oc, i*sh - ph + u*dh, j*sw - pw + v*dw] +=
   x[n, c, i, j] * w[c, oc, u, v] for c in group g; positions outside y are dropped */
static void naive_conv_transpose(const cfg *c, int batch, const float *x, const float *wt,
                                 const float *b, float *y, int oh, int ow)
{
    int cg = c->c / c->groups, og = c->out / c->groups;
    double *acc = calloc((size_t)batch * c->out * oh * ow, sizeof *acc);
    for (int n = 0; n < batch; n++)
        for (int ci = 0; ci < c->c; ci++) {
            int g = ci / cg;
            for (int i = 0; i < c->h; i++)
                for (int j = 0; j < c->w; j++) {
                    double xv = x[(((size_t)n * c->c + ci) * c->h + i) * c->w + j];
                    for (int oc = 0; oc < og; oc++)
                        for (int u = 0; u < c->kh; u++)
                            for (int v = 0; v < c->kw; v++) {
                                int yh = i * c->sh - c->ph + u * c->dh;
                                int yw = j * c->sw - c->pw + v * c->dw;
                                if (yh < 0 || yh >= oh || yw < 0 || yw >= ow) continue;
                                int o = g * og + oc;
                                acc[(((size_t)n * c->out + o) * oh + yh) * ow + yw] +=
                                    xv * wt[(((size_t)ci * og + oc) * c->kh + u) * c->kw + v];
                            }
                }
        }
    for (int n = 0; n < batch; n++)
        for (int o = 0; o < c->out; o++)
            for (int q = 0; q < oh * ow; q++) {
                size_t i = ((size_t)n * c->out + o) * oh * ow + q;
                y[i] = (float)(acc[i] + (c->bias ? b[o] : 0.0));
            }
    free(acc);
}

static cnn_node *build(cnn_graph *g, const cfg *c, cnn_node **in)
{
    *in = cnn_input(g, "x", 4, (int[]){c->n, c->c, c->h, c->w});
    cnn_input_requires_grad(*in);
    return cnn_conv_transpose2d(g, *in, c->out, .kernel_h = c->kh, .kernel_w = c->kw,
                                .stride_h = c->sh, .stride_w = c->sw, .padding_h = c->ph,
                                .padding_w = c->pw, .output_padding_h = c->oph,
                                .output_padding_w = c->opw, .dilation_h = c->dh,
                                .dilation_w = c->dw, .groups = c->groups, .no_bias = !c->bias,
                                .name = "up");
}

static const cfg cases[] = {
    /* n  c  h  w out kh kw sh sw ph pw oph opw dh dw g bias */
    {2, 3, 5, 6, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, true},  /* odd sizes, stride 1 */
    {2, 3, 4, 5, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true},  /* stride 2, output_padding 1 */
    {1, 4, 5, 4, 3, 3, 3, 1, 1, 2, 2, 0, 0, 2, 2, 1, false}, /* dilation 2 */
    {2, 4, 5, 5, 4, 3, 3, 2, 2, 1, 1, 0, 1, 1, 1, 4, true},  /* depthwise, output_padding_w */
    {1, 6, 4, 5, 9, 3, 2, 2, 1, 1, 0, 1, 0, 1, 1, 3, true},  /* groups 3, 3x2 */
    {2, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, false}, /* 1x1 */
    {1, 2, 5, 4, 3, 5, 3, 3, 2, 2, 1, 2, 0, 1, 1, 1, true},  /* 5x3, stride 3, op 2 */
    {1, 2, 4, 4, 3, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, true},  /* 2x2 stride 2 (U-Net up) */
    {1, 3, 4, 5, 2, 3, 3, 1, 1, 1, 0, 1, 1, 2, 2, 1, true},  /* op >= stride, < dilation */
    {3, 4, 3, 3, 6, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 2, true},  /* DCGAN 4x4/2/1, groups 2 */
    {1, 3, 3, 4, 2, 3, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1, true},  /* padding crops the border */
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void check_forward(const cfg *c, size_t k, cnn_graph *g, cnn_node *in, cnn_node *y,
                          int batch, uint64_t seed)
{
    size_t nx = (size_t)batch * c->c * c->h * c->w;
    float *x = malloc(nx * sizeof *x);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    tu_fill(x, nx, -1, 1, &r);
    tu_forward(g, in, x, batch);
    cnn_tensor out = cnn_node_value(y);
    int oh = out_size(c->h, c->kh, c->sh, c->ph, c->oph, c->dh);
    int ow = out_size(c->w, c->kw, c->sw, c->pw, c->opw, c->dw);
    assert_int_equal(out.ndim, 4);
    assert_int_equal(out.dims[0], batch);
    assert_int_equal(out.dims[1], c->out);
    assert_int_equal(out.dims[2], oh);
    assert_int_equal(out.dims[3], ow);
    size_t ny = cnn_tensor_numel(&out);
    float *want = malloc(ny * sizeof *want);
    cnn_param *w = cnn_graph_find_param(g, "up.weight");
    cnn_param *b = cnn_graph_find_param(g, "up.bias");
    naive_conv_transpose(c, batch, x, w->value.data, b ? b->value.data : NULL, want, oh, ow);
    char what[80];
    snprintf(what, sizeof what, "conv_transpose2d case %zu batch %d", k, batch);
    /* float sums of <= 54 products of magnitude <= 1 against a double reference */
    TU_ASSERT_CLOSE(out.data, want, ny, 1e-5f, 1e-4f, what);
    free(x);
    free(want);
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
        const cfg *c = &cases[k];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, &in);
        TU_OK(cnn_graph_status(g));
        TU_OK(cnn_graph_compile(g, 7));
        cnn_param *w = cnn_graph_find_param(g, "up.weight");
        cnn_param *b = cnn_graph_find_param(g, "up.bias");
        assert_non_null(w);
        assert_true(c->bias == (b != NULL));
        int og = c->out / c->groups;
        int wd[4] = {c->c, og, c->kh, c->kw}; /* (C_in, out/groups, kh, kw) */
        assert_int_equal(w->value.ndim, 4);
        assert_memory_equal(w->value.dims, wd, sizeof wd);
        /* PyTorch init: bound 1/sqrt(fan_in) with fan_in = weight.size(1) * kh * kw */
        float bound = 1.0f / sqrtf((float)(og * c->kh * c->kw));
        size_t nw = cnn_tensor_numel(&w->value);
        float wmax = 0.0f;
        for (size_t i = 0; i < nw; i++) wmax = fmaxf(wmax, fabsf(w->value.data[i]));
        assert_true(wmax <= bound);
        if (nw >= 20) assert_true(wmax > 0.7f * bound);

        check_forward(c, k, g, in, y, c->n, k);
        if (c->n > 1) check_forward(c, k, g, in, y, c->n - 1, 50 + k); /* smaller run batch */

        /* MACs as PyTorch-style counters: input elements * (out/groups) * kh * kw */
        cnn_cost cost = cnn_node_cost(y);
        assert_int_equal(cost.macs, (int64_t)c->c * c->h * c->w * og * c->kh * c->kw);
        assert_int_equal(cost.params, (int64_t)c->c * og * c->kh * c->kw + (c->bias ? c->out : 0));
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
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
        /* linear in x, w and b: float rounding is the only error in the central
           difference (~1e-4 relative with eps 1e-2), so a 1e-2 tolerance is safe and
           still catches a wrong index or a missing term */
        int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 1e-2, 60);
        if (bad) fprintf(stderr, "conv_transpose2d gradcheck case %zu failed\n", k);
        assert_int_equal(bad, 0);
        free(x);
        cnn_graph_free(g);
    }
}

/* Gradients accumulate (+=) into an input that feeds two layers. */
static void test_backward_two_consumers(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 4, 3, 4});
    cnn_input_requires_grad(x);
    cnn_node *a = cnn_conv_transpose2d(g, x, 3, .kernel = 3, .stride = 2, .name = "a");
    cnn_node *b = cnn_conv_transpose2d(g, x, 3, .kernel = 3, .stride = 2, .name = "b");
    cnn_node *y = cnn_add(g, a, b);
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 5));
    float xv[2 * 4 * 3 * 4];
    cnn_rng r;
    cnn_rng_seed(&r, 9);
    tu_fill(xv, sizeof xv / sizeof xv[0], -1, 1, &r);
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    int bad = tu_gradcheck(g, y, &x, 1, 1e-2, 1e-2, 60);
    assert_int_equal(bad, 0);
    cnn_graph_free(g);
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){1, 64, 8, 8}))
    FRESH();
    cnn_scope_push(g, "decoder");
    cnn_scope_push(g, "0");
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 32, .kernel = 3, .groups = 3, .name = "up"),
                 CNN_ERR_INVALID_ARG,
                 "conv_transpose2d 'decoder.0.up': groups 3 does not divide 64 input channels");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 6, .kernel = 3, .groups = 4), CNN_ERR_INVALID_ARG,
                 "groups 4 does not divide 6 output channels");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8), CNN_ERR_INVALID_ARG, "kernel 0x0");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .padding_w = -1),
                 CNN_ERR_INVALID_ARG, "padding 0x-1 must be >= 0");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .stride = -2), CNN_ERR_INVALID_ARG,
                 "stride -2x-2");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .dilation_h = -1),
                 CNN_ERR_INVALID_ARG, "dilation -1x1");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 0, .kernel = 3), CNN_ERR_INVALID_ARG,
                 "out_channels 0");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .output_padding = -1),
                 CNN_ERR_INVALID_ARG, "output_padding -1x-1 must be >= 0");
    FRESH();
    /* output_padding must be < stride or < dilation (PyTorch's rule) */
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .stride = 2, .output_padding = 2,
                                         .name = "up"),
                 CNN_ERR_INVALID_ARG,
                 "conv_transpose2d 'up': output_padding 2x2 must be smaller than stride 2x2 or "
                 "dilation 1x1");
    FRESH();
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .output_padding_w = 1),
                 CNN_ERR_INVALID_ARG, "output_padding 0x1");
    FRESH();
    /* padding larger than the output: (8-1) - 2*10 + 2 + 1 < 1 */
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3, .padding = 10), CNN_ERR_SHAPE,
                 "input (1, 64, 8, 8)");
    /* wrong rank */
    g = cnn_graph_new();
    x = cnn_input(g, "x", 5, (int[]){1, 3, 4, 8, 8});
    tu_expect_error(g, cnn_conv_transpose2d(g, x, 8, .kernel = 3), CNN_ERR_SHAPE,
                 "input must be (N, C, H, W), got (1, 3, 4, 8, 8)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_backward_two_consumers),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* conv3d: forward against a naive 9-loop reference over the option matrix (odd sizes,
   stride 2, padding, dilation 2, groups incl. depthwise, 1x1x1, anisotropic 3x5x3 and
   HybridSN's 7x3x3 / 5x3x3), also at a batch below the built one; params, MACs and
   the default init bound; backward by central differences; invalid options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, d, h, w, out;
    int k[3], s[3], p[3], dl[3]; /* (D, H, W) */
    int groups;
    bool bias;
} cfg;

static int out_size(int in, int k, int s, int p, int d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

/* y[n, o, i] = b[o] + sum_{ci, u} x[n, g*cg + ci, i*s - p + u*d] w[o, ci, u], 3 axes */
static void naive_conv3d(const cfg *c, int batch, const float *x, const float *wt, const float *b,
                         float *y, const int *od)
{
    int cg = c->c / c->groups, og = c->out / c->groups;
    int in[3] = {c->d, c->h, c->w};
    for (int n = 0; n < batch; n++)
        for (int o = 0; o < c->out; o++) {
            int g = o / og;
            for (int i0 = 0; i0 < od[0]; i0++)
                for (int i1 = 0; i1 < od[1]; i1++)
                    for (int i2 = 0; i2 < od[2]; i2++) {
                        double acc = c->bias ? b[o] : 0.0;
                        for (int ci = 0; ci < cg; ci++)
                            for (int u0 = 0; u0 < c->k[0]; u0++)
                                for (int u1 = 0; u1 < c->k[1]; u1++)
                                    for (int u2 = 0; u2 < c->k[2]; u2++) {
                                        int z = i0 * c->s[0] - c->p[0] + u0 * c->dl[0];
                                        int yy = i1 * c->s[1] - c->p[1] + u1 * c->dl[1];
                                        int xx = i2 * c->s[2] - c->p[2] + u2 * c->dl[2];
                                        if (z < 0 || z >= in[0] || yy < 0 || yy >= in[1] ||
                                            xx < 0 || xx >= in[2])
                                            continue;
                                        size_t xi = ((((size_t)n * c->c + (size_t)(g * cg + ci)) *
                                                          in[0] + (size_t)z) * in[1] + (size_t)yy) *
                                                        in[2] + (size_t)xx;
                                        size_t wi = ((((size_t)o * cg + (size_t)ci) * c->k[0] +
                                                      (size_t)u0) * c->k[1] + (size_t)u1) *
                                                        c->k[2] + (size_t)u2;
                                        acc += (double)x[xi] * wt[wi];
                                    }
                        size_t yi = ((((size_t)n * c->out + (size_t)o) * od[0] + (size_t)i0) *
                                         od[1] + (size_t)i1) * od[2] + (size_t)i2;
                        y[yi] = (float)acc;
                    }
        }
}

static cnn_node *build(cnn_graph *g, const cfg *c, cnn_node **in)
{
    *in = cnn_input(g, "x", 5, (int[]){c->n, c->c, c->d, c->h, c->w});
    cnn_input_requires_grad(*in);
    return cnn_conv3d(g, *in, c->out, .kernel_d = c->k[0], .kernel_h = c->k[1],
                      .kernel_w = c->k[2], .stride_d = c->s[0], .stride_h = c->s[1],
                      .stride_w = c->s[2], .padding_d = c->p[0], .padding_h = c->p[1],
                      .padding_w = c->p[2], .dilation_d = c->dl[0], .dilation_h = c->dl[1],
                      .dilation_w = c->dl[2], .groups = c->groups, .no_bias = !c->bias,
                      .name = "conv");
}

static const cfg cases[] = {
    /* n c  d  h  w out  kernel    stride    padding   dilation  g  bias */
    {2, 3, 5, 6, 7, 4, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, true},  /* odd sizes, same */
    {2, 2, 7, 6, 5, 3, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 1, true},  /* stride 2 */
    {1, 2, 7, 7, 6, 3, {3, 3, 3}, {1, 1, 1}, {2, 2, 2}, {2, 2, 2}, 1, false}, /* dilation 2 */
    {2, 4, 5, 5, 5, 4, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 4, true},  /* depthwise */
    {1, 6, 4, 5, 6, 9, {3, 1, 3}, {1, 2, 1}, {1, 0, 1}, {1, 1, 1}, 3, true},  /* groups 3 */
    {2, 5, 3, 4, 5, 3, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1, false}, /* 1x1x1 */
    {1, 2, 6, 9, 7, 3, {3, 5, 3}, {1, 2, 1}, {0, 2, 1}, {1, 1, 2}, 1, true},  /* 3x5x3 mixed */
    {3, 4, 4, 4, 4, 8, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}, 2, true},  /* even, groups 2 */
    /* HybridSN: 1 band-cube of 30 bands, 25x25 patch -> 8 maps by 7x3x3, then 5x3x3 */
    {1, 1, 30, 25, 25, 8, {7, 3, 3}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1, true},
    {1, 8, 12, 11, 11, 16, {5, 3, 3}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1, true},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* The HybridSN cases shrink under the sanitizer run. */
static cfg get_case(size_t k)
{
    cfg c = cases[k];
    if (tu_quick() && c.d * c.h * c.w > 500) {
        c.d = c.k[0] + 2;
        c.h = c.k[1] + 3;
        c.w = c.k[2] + 3;
    }
    return c;
}

static void check_forward(const cfg *c, size_t k, cnn_graph *g, cnn_node *in, cnn_node *y,
                          int batch, uint64_t seed)
{
    size_t nx = (size_t)batch * c->c * c->d * c->h * c->w;
    float *x = malloc(nx * sizeof *x);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    tu_fill(x, nx, -1, 1, &r);
    tu_forward(g, in, x, batch);
    cnn_tensor out = cnn_node_value(y);
    int od[3];
    int in_sz[3] = {c->d, c->h, c->w};
    for (int i = 0; i < 3; i++) {
        od[i] = out_size(in_sz[i], c->k[i], c->s[i], c->p[i], c->dl[i]);
        assert_int_equal(out.dims[2 + i], od[i]);
    }
    assert_int_equal(out.ndim, 5);
    assert_int_equal(out.dims[0], batch);
    assert_int_equal(out.dims[1], c->out);
    size_t ny = cnn_tensor_numel(&out);
    float *want = malloc(ny * sizeof *want);
    cnn_param *w = cnn_graph_find_param(g, "conv.weight");
    cnn_param *b = cnn_graph_find_param(g, "conv.bias");
    naive_conv3d(c, batch, x, w->value.data, b ? b->value.data : NULL, want, od);
    char what[64];
    snprintf(what, sizeof what, "conv3d case %zu batch %d", k, batch);
    /* float sums of <= 63 products of magnitude <= 1 against a double reference */
    TU_ASSERT_CLOSE(out.data, want, ny, 1e-5f, 1e-4f, what);
    free(x);
    free(want);
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
        cfg c = get_case(k);
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, &c, &in);
        TU_OK(cnn_graph_status(g));
        TU_OK(cnn_graph_compile(g, 7));
        cnn_param *w = cnn_graph_find_param(g, "conv.weight");
        cnn_param *b = cnn_graph_find_param(g, "conv.bias");
        assert_non_null(w);
        assert_true(c.bias == (b != NULL));
        int cg = c.c / c.groups;
        int wd[5] = {c.out, cg, c.k[0], c.k[1], c.k[2]};
        assert_int_equal(w->value.ndim, 5);
        assert_memory_equal(w->value.dims, wd, sizeof wd);
        /* PyTorch init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C/groups * kD*kH*kW */
        float bound = 1.0f / sqrtf((float)(cg * c.k[0] * c.k[1] * c.k[2]));
        size_t nw = cnn_tensor_numel(&w->value);
        float wmax = 0.0f;
        for (size_t i = 0; i < nw; i++) wmax = fmaxf(wmax, fabsf(w->value.data[i]));
        assert_true(wmax <= bound);
        if (nw >= 20) assert_true(wmax > 0.7f * bound);

        check_forward(&c, k, g, in, y, c.n, k);
        if (c.n > 1) check_forward(&c, k, g, in, y, c.n - 1, 50 + k); /* smaller run batch */

        /* cost: MACs = out elements * (C_in/groups * kD * kH * kW) per example */
        cnn_tensor out = cnn_node_value(y);
        size_t per_ex = cnn_tensor_numel(&out) / (size_t)out.dims[0];
        cnn_cost cost = cnn_node_cost(y);
        assert_int_equal(cost.macs, (int64_t)per_ex * cg * c.k[0] * c.k[1] * c.k[2]);
        assert_int_equal(cost.params,
                         (int64_t)c.out * cg * c.k[0] * c.k[1] * c.k[2] + (c.bias ? c.out : 0));
        cnn_graph_free(g);
    }
}

/* HybridSN's first layer at full size: 8 * 24 * 23 * 23 outputs * 63 MACs, 512 params */
static void test_hybridsn_cost(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 5, (int[]){1, 1, 30, 25, 25});
    cnn_node *y = cnn_conv3d(g, x, 8, .kernel_d = 7, .kernel = 3, .name = "conv1");
    TU_OK(cnn_graph_status(g));
    cnn_tensor v = cnn_node_value(y);
    int want[5] = {1, 8, 24, 23, 23};
    assert_memory_equal(v.dims, want, sizeof want);
    cnn_cost c = cnn_node_cost(y);
    assert_int_equal(c.macs, (int64_t)8 * 24 * 23 * 23 * 63);
    assert_int_equal(c.params, 8 * 63 + 8);
    cnn_graph_free(g);
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
        cfg c = get_case(k);
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, &c, &in);
        TU_OK(cnn_graph_compile(g, 3));
        size_t nx = (size_t)c.n * c.c * c.d * c.h * c.w;
        float *x = malloc(nx * sizeof *x);
        cnn_rng r;
        cnn_rng_seed(&r, 100 + k);
        tu_fill(x, nx, -1, 1, &r);
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, in, x, c.n));
        /* conv is linear in x and w: float rounding is the only error. With eps 1e-2
           the rounding of L (a double sum of <= 1e5 float outputs, each off by ~1e-7
           relative) moves the numeric slope by ~1e-3 at most; a 1e-2 relative
           tolerance leaves a wide margin and still catches any wrong index. Big cases
           probe fewer elements to stay quick. */
        int checks = c.d * c.h * c.w > 1000 ? 12 : tu_quick() ? 20 : 40;
        int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 1e-2, checks);
        if (bad) fprintf(stderr, "conv3d gradcheck case %zu failed\n", k);
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
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 5, (int[]){1, 64, 6, 8, 8}))
    FRESH();
    cnn_scope_push(g, "features");
    tu_expect_error(g, cnn_conv3d(g, x, 64, .kernel = 3, .groups = 3, .name = "conv1"),
                 CNN_ERR_INVALID_ARG,
                 "conv3d 'features.conv1': groups 3 does not divide 64 input channels");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 9, .kernel = 3, .groups = 2), CNN_ERR_INVALID_ARG,
                 "groups 2 does not divide 9 output channels");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8), CNN_ERR_INVALID_ARG, "kernel 0x0x0");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .kernel_d = -1), CNN_ERR_INVALID_ARG,
                 "kernel -1x3x3");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .padding = -1), CNN_ERR_INVALID_ARG,
                 "padding -1x-1x-1");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .stride_h = -2), CNN_ERR_INVALID_ARG,
                 "stride 1x-2x1");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .dilation = -1), CNN_ERR_INVALID_ARG,
                 "dilation");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 0, .kernel = 3), CNN_ERR_INVALID_ARG, "out_channels 0");
    FRESH();
    /* depth 6 is too small for a 7-deep kernel even though H, W fit */
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel_d = 7, .kernel = 3, .name = "c"), CNN_ERR_SHAPE,
                 "conv3d 'c': kernel 7x3x3 (dilation 1x1x1) is larger than the padded input "
                 "(1, 64, 6, 8, 8)");
    FRESH();
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3, .dilation_w = 4), CNN_ERR_SHAPE,
                 "(1, 64, 6, 8, 8)");
    /* wrong rank: a 4-D (N, C, H, W) input */
    g = cnn_graph_new();
    x = cnn_input(g, "x", 4, (int[]){1, 3, 8, 8});
    tu_expect_error(g, cnn_conv3d(g, x, 8, .kernel = 3), CNN_ERR_SHAPE,
                 "input must be (N, C, D, H, W), got (1, 3, 8, 8)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_hybridsn_cost),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

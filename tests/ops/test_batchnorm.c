/* batchnorm2d / batchnorm3d: training output and running-statistic updates against a
   double-precision naive reference (momentum 0.1 and 0.5, two steps), eval output
   from running statistics, parameter names / order / defaults, batch 1, running at a
   smaller batch than built, gradcheck in training mode, invalid options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int dims3; /* 0: (N, C, H, W); 1: (N, C, D, H, W) */
    int n, c, d, h, w;
    float momentum; /* 0 = default (0.1) */
    float eps;      /* 0 = default (1e-5) */
} cfg;

static size_t spatial(const cfg *c) { return (size_t)(c->dims3 ? c->d : 1) * c->h * c->w; }

/* PyTorch BatchNorm in training mode, in double: y from batch statistics (biased
   variance), running stats updated with the unbiased variance. Uses `batch` examples. */
static void naive_bn_train(const cfg *c, int batch, const float *x, const float *w,
                           const float *b, float *rm, float *rv, float *y)
{
    size_t S = spatial(c);
    double mom = c->momentum != 0.0f ? c->momentum : 0.1;
    double eps = c->eps != 0.0f ? c->eps : 1e-5;
    double m = (double)batch * (double)S;
    for (int ch = 0; ch < c->c; ch++) {
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < batch; i++)
            for (size_t k = 0; k < S; k++) sum += x[((size_t)i * c->c + ch) * S + k];
        double mean = sum / m;
        for (int i = 0; i < batch; i++)
            for (size_t k = 0; k < S; k++) {
                double d = x[((size_t)i * c->c + ch) * S + k] - mean;
                sq += d * d;
            }
        double var = sq / m;
        for (int i = 0; i < batch; i++)
            for (size_t k = 0; k < S; k++) {
                size_t e = ((size_t)i * c->c + ch) * S + k;
                y[e] = (float)((x[e] - mean) / sqrt(var + eps) * w[ch] + b[ch]);
            }
        rm[ch] = (float)((1.0 - mom) * rm[ch] + mom * mean);
        rv[ch] = (float)((1.0 - mom) * rv[ch] + mom * sq / (m - 1.0));
    }
}

static void naive_bn_eval(const cfg *c, int batch, const float *x, const float *w, const float *b,
                          const float *rm, const float *rv, float *y)
{
    size_t S = spatial(c);
    double eps = c->eps != 0.0f ? c->eps : 1e-5;
    for (int i = 0; i < batch; i++)
        for (int ch = 0; ch < c->c; ch++)
            for (size_t k = 0; k < S; k++) {
                size_t e = ((size_t)i * c->c + ch) * S + k;
                y[e] = (float)((x[e] - (double)rm[ch]) / sqrt((double)rv[ch] + eps) * w[ch] + b[ch]);
            }
}

static cnn_node *build(cnn_graph *g, const cfg *c, cnn_node **in)
{
    if (c->dims3) {
        *in = cnn_input(g, "x", 5, (int[]){c->n, c->c, c->d, c->h, c->w});
        cnn_input_requires_grad(*in);
        return cnn_batchnorm3d(g, *in, .name = "bn", .momentum = c->momentum, .eps = c->eps);
    }
    *in = cnn_input(g, "x", 4, (int[]){c->n, c->c, c->h, c->w});
    cnn_input_requires_grad(*in);
    return cnn_batchnorm2d(g, *in, .name = "bn", .momentum = c->momentum, .eps = c->eps);
}

static const cfg cases[] = {
    /* 3d  n  c  d  h  w  momentum eps */
    {0, 4, 3, 1, 5, 6, 0.0f, 0.0f},  /* defaults: momentum 0.1, eps 1e-5 */
    {0, 3, 5, 1, 4, 3, 0.5f, 0.0f},  /* momentum 0.5 */
    {0, 1, 4, 1, 3, 5, 0.0f, 1e-3f}, /* batch 1 with spatial > 1, eps 1e-3 */
    {0, 5, 2, 1, 1, 1, 0.1f, 0.0f},  /* spatial 1 (after global pooling) */
    {1, 2, 3, 3, 4, 2, 0.0f, 0.0f},  /* 3d, defaults */
    {1, 3, 2, 2, 3, 3, 0.5f, 0.0f},  /* 3d, momentum 0.5 */
};

static void fill_params(cnn_graph *g, cnn_rng *r, float *w, float *b, float *rm, float *rv, int C)
{
    tu_fill(w, (size_t)C, 0.5f, 1.5f, r);
    tu_fill(b, (size_t)C, -0.5f, 0.5f, r);
    tu_fill(rm, (size_t)C, -0.2f, 0.2f, r);
    tu_fill(rv, (size_t)C, 0.5f, 1.5f, r);
    memcpy(cnn_graph_find_param(g, "bn.weight")->value.data, w, (size_t)C * sizeof *w);
    memcpy(cnn_graph_find_param(g, "bn.bias")->value.data, b, (size_t)C * sizeof *b);
    memcpy(cnn_graph_find_param(g, "bn.running_mean")->value.data, rm, (size_t)C * sizeof *rm);
    memcpy(cnn_graph_find_param(g, "bn.running_var")->value.data, rv, (size_t)C * sizeof *rv);
}

/* Runs the case at `batch` (<= c->n): two training steps then eval. */
static void run_case(const cfg *c, int batch, int k)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *y = build(g, c, &in);
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 7));
    int C = c->c;
    size_t nx = (size_t)batch * C * spatial(c);
    float *x = malloc(nx * sizeof *x), *want = malloc(nx * sizeof *want);
    float w[8], b[8], rm[8], rv[8];
    cnn_rng r;
    cnn_rng_seed(&r, 50 + (uint64_t)k);
    fill_params(g, &r, w, b, rm, rv, C);
    cnn_param *prm = cnn_graph_find_param(g, "bn.running_mean");
    cnn_param *prv = cnn_graph_find_param(g, "bn.running_var");
    char what[96];
    cnn_graph_set_training(g, true);
    for (int step = 0; step < 2; step++) {
        /* a per-channel offset and scale so mean and variance differ by channel */
        tu_fill(x, nx, -1, 1, &r);
        for (size_t e = 0; e < nx; e++) {
            int ch = (int)(e / spatial(c)) % C;
            x[e] = x[e] * (1.0f + (float)ch) + 0.3f * (float)ch - 0.4f;
        }
        tu_forward(g, in, x, batch);
        naive_bn_train(c, batch, x, w, b, rm, rv, want);
        cnn_tensor out = cnn_node_value(y);
        assert_int_equal(out.dims[0], batch);
        assert_int_equal(cnn_tensor_numel(&out), nx);
        /* float32 statistics in double, one rounding per output: errors ~1e-6 */
        snprintf(what, sizeof what, "batchnorm case %d batch %d train step %d", k, batch, step);
        TU_ASSERT_CLOSE(out.data, want, nx, 1e-5f, 1e-4f, what);
        snprintf(what, sizeof what, "case %d batch %d running_mean step %d", k, batch, step);
        TU_ASSERT_CLOSE(prm->value.data, rm, (size_t)C, 1e-6f, 1e-5f, what);
        snprintf(what, sizeof what, "case %d batch %d running_var step %d", k, batch, step);
        TU_ASSERT_CLOSE(prv->value.data, rv, (size_t)C, 1e-6f, 1e-5f, what);
    }
    /* eval: normalised by the running statistics, which stay unchanged */
    cnn_graph_set_training(g, false);
    float rm_lib[8], rv_lib[8];
    memcpy(rm_lib, prm->value.data, (size_t)C * sizeof(float));
    memcpy(rv_lib, prv->value.data, (size_t)C * sizeof(float));
    tu_fill(x, nx, -2, 2, &r);
    tu_forward(g, in, x, batch);
    naive_bn_eval(c, batch, x, w, b, rm_lib, rv_lib, want);
    snprintf(what, sizeof what, "batchnorm case %d batch %d eval", k, batch);
    TU_ASSERT_CLOSE(cnn_node_value(y).data, want, nx, 1e-5f, 1e-4f, what);
    assert_memory_equal(prm->value.data, rm_lib, (size_t)C * sizeof(float));
    assert_memory_equal(prv->value.data, rv_lib, (size_t)C * sizeof(float));
    free(x);
    free(want);
    cnn_graph_free(g);
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) run_case(&cases[k], cases[k].n, k);
}

static void test_smaller_batch_than_built(void **state)
{
    (void)state;
    /* statistics must use ctx->batch examples, not the build-time batch */
    cfg c2 = {0, 6, 3, 1, 4, 4, 0.0f, 0.0f};
    run_case(&c2, 2, 100);
    cfg c3 = {1, 5, 2, 2, 3, 3, 0.5f, 0.0f};
    run_case(&c3, 3, 101);
}

static void test_params_and_defaults(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 6, 3, 3});
    cnn_scope_push(g, "layer1");
    cnn_scope_push(g, "0");
    cnn_node *y = cnn_batchnorm2d(g, x, .name = "bn1");
    TU_OK(cnn_graph_status(g));
    assert_string_equal(cnn_node_op(y), "batchnorm2d");
    TU_OK(cnn_graph_compile(g, 3));
    static const char *names[4] = {"layer1.0.bn1.weight", "layer1.0.bn1.bias",
                                   "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var"};
    static const int roles[4] = {CNN_PARAM_NORM_WEIGHT, CNN_PARAM_NORM_BIAS, CNN_PARAM_BUFFER,
                                 CNN_PARAM_BUFFER};
    static const float init[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    assert_int_equal(cnn_graph_num_params(g), 4);
    for (int i = 0; i < 4; i++) {
        cnn_param *p = cnn_graph_param(g, i);
        assert_string_equal(p->name, names[i]);
        assert_int_equal(p->role, roles[i]);
        assert_true(p->trainable == (i < 2));
        assert_true(p->no_decay);
        assert_int_equal(p->value.ndim, 1);
        assert_int_equal(p->value.dims[0], 6);
        for (int c = 0; c < 6; c++) assert_true(p->value.data[c] == init[i]);
    }
    cnn_cost cost = cnn_node_cost(y);
    assert_int_equal(cost.params, 12);
    assert_int_equal(cost.macs, 0);
    assert_int_equal((int)cnn_graph_param_count(g), 12);
    cnn_graph_free(g);

    g = cnn_graph_new();
    x = cnn_input(g, "x", 5, (int[]){2, 4, 3, 3, 3});
    y = cnn_batchnorm3d(g, x);
    TU_OK(cnn_graph_status(g));
    assert_string_equal(cnn_node_op(y), "batchnorm3d");
    assert_int_equal(cnn_node_value(y).ndim, 5);
    assert_int_equal(cnn_graph_num_params(g), 4);
    cnn_graph_free(g);
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    int n_cases = (int)(sizeof cases / sizeof cases[0]);
    for (int k = 0; k < n_cases; k++) {
        const cfg *c = &cases[k];
        if (c->n * (int)spatial(c) < 2) continue;
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, &in);
        TU_OK(cnn_graph_compile(g, 3));
        float w[8], b[8], rm[8], rv[8];
        cnn_rng r;
        cnn_rng_seed(&r, 200 + (uint64_t)k);
        fill_params(g, &r, w, b, rm, rv, c->c);
        size_t nx = (size_t)c->n * c->c * spatial(c);
        float *x = malloc(nx * sizeof *x);
        tu_fill(x, nx, -1, 1, &r);
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, in, x, c->n));
        /* Training-mode BN is smooth (1/sqrt(var + eps) with var ~ 1/3 from U(-1, 1)):
           eps 1e-2 keeps the O(eps^2) truncation below ~1e-4 and the float32 rounding
           of L (~1e-6 / 2e-2) negligible; 1e-2 relative tolerance leaves a wide margin
           while a wrong term (e.g. a missing mean-of-dy) gives O(1) errors. */
        int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 1e-2, 60);
        if (bad) fprintf(stderr, "batchnorm gradcheck case %d failed\n", k);
        assert_int_equal(bad, 0);
        free(x);
        cnn_graph_free(g);
    }
}

static void test_backward_smaller_batch(void **state)
{
    (void)state;
    cfg c = {0, 5, 3, 1, 3, 2, 0.0f, 0.0f};
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *y = build(g, &c, &in);
    TU_OK(cnn_graph_compile(g, 3));
    size_t nx = (size_t)2 * c.c * spatial(&c);
    float *x = malloc(nx * sizeof *x);
    cnn_rng r;
    cnn_rng_seed(&r, 77);
    tu_fill(x, nx, -1, 1, &r);
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, in, x, 2));
    /* same tolerance reasoning as test_backward_gradcheck */
    assert_int_equal(tu_gradcheck(g, y, &in, 1, 1e-2, 1e-2, 60), 0);
    free(x);
    cnn_graph_free(g);
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH4() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){2, 8, 4, 4}))
    FRESH4();
    tu_expect_error(g, cnn_batchnorm2d(g, x, .name = "bn", .eps = -1e-5f), CNN_ERR_INVALID_ARG,
                 "batchnorm2d 'bn': eps");
    FRESH4();
    tu_expect_error(g, cnn_batchnorm2d(g, x, .momentum = 1.5f), CNN_ERR_INVALID_ARG, "momentum 1.5");
    FRESH4();
    tu_expect_error(g, cnn_batchnorm2d(g, x, .momentum = -0.1f), CNN_ERR_INVALID_ARG, "momentum");
    FRESH4();
    tu_expect_error(g, cnn_batchnorm3d(g, x, .name = "bn3"), CNN_ERR_SHAPE,
                 "batchnorm3d 'bn3': input must be (N, C, D, H, W), got (2, 8, 4, 4)");
#undef FRESH4
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 10});
    tu_expect_error(g, cnn_batchnorm2d(g, x), CNN_ERR_SHAPE, "(2, 10)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 5, (int[]){2, 3, 2, 2, 2});
    tu_expect_error(g, cnn_batchnorm2d(g, x), CNN_ERR_SHAPE, "(2, 3, 2, 2, 2)");

    /* training with one value per channel has no variance: an error at forward,
       as PyTorch; eval of the same graph works */
    g = cnn_graph_new();
    x = cnn_input(g, "x", 4, (int[]){1, 3, 1, 1});
    cnn_node *y = cnn_batchnorm2d(g, x, .name = "bn");
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 1));
    float v[3] = {1, 2, 3};
    TU_OK(cnn_graph_set_input(g, x, v, 1));
    cnn_graph_set_training(g, true);
    assert_int_equal(cnn_graph_forward(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_error_message(), "more than 1 value per channel"));
    cnn_graph_set_training(g, false);
    TU_OK(cnn_graph_set_input(g, x, v, 1));
    TU_OK(cnn_graph_forward(g));
    /* defaults: (v - 0) / sqrt(1 + 1e-5) */
    for (int c = 0; c < 3; c++)
        assert_float_equal(cnn_node_value(y).data[c], v[c] / sqrtf(1.0f + 1e-5f), 1e-6);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_smaller_batch_than_built),
        cmocka_unit_test(test_params_and_defaults),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_backward_smaller_batch),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

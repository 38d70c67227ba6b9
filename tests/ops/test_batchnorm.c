/* batchnorm2d / batchnorm3d beyond the operator harness (test_backend_ops.c:
   training and eval output and the running-statistic update against double, finite
   differences in training mode, every backend against ref): a smaller batch than
   built against the naive double reference, parameter names / order / defaults, backward at a smaller batch,
   invalid options; the blocked, multithreaded kernels (many small channels, a few
   large ones, a mean far from 0) against double references for forward and
   backward, same bits at 1 and 2 threads. */
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

/* Training backward in double, PyTorch's formula: xh = (x - mean) / sqrt(var + eps),
   db = sum dy, dw = sum dy xh, dx = w / sqrt(var + eps) (dy - db / m - xh dw / m). */
static void naive_bn_backward(int N, int C, size_t S, const float *x, const float *dy,
                              const float *w, float *dx, float *dw, float *db)
{
    double m = (double)N * (double)S;
    for (int ch = 0; ch < C; ch++) {
        double sum = 0.0, sq = 0.0, sdy = 0.0, sdyxh = 0.0;
        for (int i = 0; i < N; i++)
            for (size_t k = 0; k < S; k++) sum += x[((size_t)i * C + ch) * S + k];
        double mean = sum / m;
        for (int i = 0; i < N; i++)
            for (size_t k = 0; k < S; k++) {
                double d = x[((size_t)i * C + ch) * S + k] - mean;
                sq += d * d;
            }
        double is = 1.0 / sqrt(sq / m + 1e-5);
        for (int i = 0; i < N; i++)
            for (size_t k = 0; k < S; k++) {
                size_t e = ((size_t)i * C + ch) * S + k;
                sdy += dy[e];
                sdyxh += dy[e] * (x[e] - mean) * is;
            }
        db[ch] = (float)sdy;
        dw[ch] = (float)sdyxh;
        for (int i = 0; i < N; i++)
            for (size_t k = 0; k < S; k++) {
                size_t e = ((size_t)i * C + ch) * S + k;
                double xh = (x[e] - mean) * is;
                dx[e] = (float)(w[ch] * is * (dy[e] - sdy / m - xh * sdyxh / m));
            }
    }
}

typedef struct big_out {
    float *y, *rm, *rv, *dx, *dw, *db;
} big_out;

/* One training forward + backward of (N, C, H, W) at `threads` threads from fixed
   parameters, x and dy; results into o (allocated). */
static void big_run(int N, int C, int H, int W, float momentum, const float *x, const float *dy,
                    const float *w, const float *b, const float *rm, const float *rv, int threads,
                    big_out *o)
{
    size_t nx = (size_t)N * C * H * W, nc = (size_t)C * sizeof(float);
    cnn_set_threads(threads);
    cnn_graph *g = cnn_graph_new();
    cnn_node *in = cnn_input(g, "x", 4, (int[]){N, C, H, W});
    cnn_input_requires_grad(in);
    cnn_node *y = cnn_batchnorm2d(g, in, .name = "bn", .momentum = momentum);
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 1));
    cnn_param *pw = cnn_graph_find_param(g, "bn.weight"), *pb = cnn_graph_find_param(g, "bn.bias");
    cnn_param *prm = cnn_graph_find_param(g, "bn.running_mean");
    cnn_param *prv = cnn_graph_find_param(g, "bn.running_var");
    memcpy(pw->value.data, w, nc);
    memcpy(pb->value.data, b, nc);
    memcpy(prm->value.data, rm, nc);
    memcpy(prv->value.data, rv, nc);
    cnn_graph_set_training(g, true);
    tu_forward(g, in, x, N);
    TU_OK(cnn_graph_backward_from(g, y, dy));
    o->y = malloc(nx * sizeof(float));
    o->dx = malloc(nx * sizeof(float));
    o->rm = malloc(nc);
    o->rv = malloc(nc);
    o->dw = malloc(nc);
    o->db = malloc(nc);
    assert_true(o->y && o->dx && o->rm && o->rv && o->dw && o->db);
    memcpy(o->y, cnn_node_value(y).data, nx * sizeof(float));
    memcpy(o->dx, cnn_node_grad(in).data, nx * sizeof(float));
    memcpy(o->rm, prm->value.data, nc);
    memcpy(o->rv, prv->value.data, nc);
    memcpy(o->dw, pw->grad.data, nc);
    memcpy(o->db, pb->grad.data, nc);
    cnn_graph_free(g);
    cnn_set_threads(0);
}

static void big_free(big_out *o)
{
    free(o->y);
    free(o->rm);
    free(o->rv);
    free(o->dx);
    free(o->dw);
    free(o->db);
}

static float max_abs(const float *v, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
    return m;
}

/* x per channel ch: offset (1 + ch % 5) + spread U(-1, 1) (1 + ch % 3). */
static void big_case(int N, int C, int H, int W, float offset, float spread, float momentum,
                     bool check_values, int seed)
{
    size_t S = (size_t)H * W, nx = (size_t)N * C * S, nc = (size_t)C;
    float *x = malloc(nx * sizeof(float)), *dy = malloc(nx * sizeof(float));
    float *w = malloc(nc * sizeof(float)), *b = malloc(nc * sizeof(float));
    float *rm = malloc(nc * sizeof(float)), *rv = malloc(nc * sizeof(float));
    float *want = malloc(nx * sizeof(float)), *dxw = malloc(nx * sizeof(float));
    float *dww = malloc(nc * sizeof(float)), *dbw = malloc(nc * sizeof(float));
    assert_true(x && dy && w && b && rm && rv && want && dxw && dww && dbw);
    cnn_rng r;
    cnn_rng_seed(&r, (uint64_t)seed);
    tu_fill(x, nx, -1, 1, &r);
    for (size_t e = 0; e < nx; e++) {
        int ch = (int)(e / S) % C;
        x[e] = offset * (float)(1 + ch % 5) + spread * x[e] * (float)(1 + ch % 3);
    }
    tu_fill(dy, nx, -1, 1, &r);
    tu_fill(w, nc, 0.5f, 1.5f, &r);
    tu_fill(b, nc, -0.5f, 0.5f, &r);
    tu_fill(rm, nc, -0.2f, 0.2f, &r);
    tu_fill(rv, nc, 0.5f, 1.5f, &r);
    big_out o1, o2;
    big_run(N, C, H, W, momentum, x, dy, w, b, rm, rv, 1, &o1);
    big_run(N, C, H, W, momentum, x, dy, w, b, rm, rv, 2, &o2);
    char what[128];
    snprintf(what, sizeof what, "batchnorm (%d, %d, %d, %d) offset %g", N, C, H, W, (double)offset);
    /* the same bits whatever the thread count */
    assert_memory_equal(o1.y, o2.y, nx * sizeof(float));
    assert_memory_equal(o1.dx, o2.dx, nx * sizeof(float));
    assert_memory_equal(o1.rm, o2.rm, nc * sizeof(float));
    assert_memory_equal(o1.rv, o2.rv, nc * sizeof(float));
    assert_memory_equal(o1.dw, o2.dw, nc * sizeof(float));
    assert_memory_equal(o1.db, o2.db, nc * sizeof(float));
    /* the running statistics from the one-pass sums match the two-pass double ones */
    cfg c = {0, N, C, 1, H, W, momentum, 0.0f};
    naive_bn_train(&c, N, x, w, b, rm, rv, want);
    TU_ASSERT_CLOSE(o2.rm, rm, nc, 1e-6f, 1e-5f, what);
    TU_ASSERT_CLOSE(o2.rv, rv, nc, 1e-6f, 1e-5f, what);
    if (check_values) {
        TU_ASSERT_CLOSE(o2.y, want, nx, 1e-5f, 1e-4f, what);
        naive_bn_backward(N, C, S, x, dy, w, dxw, dww, dbw);
        /* sums of m float products: absolute error ~1e-6 of their largest values */
        TU_ASSERT_CLOSE(o2.dx, dxw, nx, 1e-5f * max_abs(dxw, nx), 1e-4f, what);
        TU_ASSERT_CLOSE(o2.dw, dww, nc, 1e-5f * max_abs(dww, nc) + 1e-5f, 1e-4f, what);
        TU_ASSERT_CLOSE(o2.db, dbw, nc, 1e-5f * max_abs(dbw, nc) + 1e-5f, 1e-4f, what);
    }
    big_free(&o1);
    big_free(&o2);
    free(x);
    free(dy);
    free(w);
    free(b);
    free(rm);
    free(rv);
    free(want);
    free(dxw);
    free(dww);
    free(dbw);
}

static void test_blocked_kernels(void **state)
{
    (void)state;
    /* 3x3 planes, 300 channels: blocks of many channels, more than fit one block */
    big_case(8, 300, 3, 3, 0.5f, 1.0f, 0.1f, true, 1);
    /* odd planes, 37 channels, past the parallel threshold: blocks of 10 and 7 */
    big_case(16, 37, 11, 13, 0.5f, 1.0f, 0.5f, true, 2);
    /* planes bigger than a block: one channel per block, 5 channels on 2 threads */
    big_case(4, 5, 120, 120, -0.5f, 2.0f, 0.1f, true, 3);
    /* mean / std ~ 1e5: a plain one-pass sum of squares would cancel; momentum 1 makes
       running_var the batch's unbiased variance. Outputs are not compared: xh uses the
       float32 mean, whose rounding is already ~1% of the spread here. */
    big_case(16, 37, 11, 13, 1000.0f, 0.01f, 1.0f, false, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smaller_batch_than_built),
        cmocka_unit_test(test_params_and_defaults),
        cmocka_unit_test(test_backward_smaller_batch),
        cmocka_unit_test(test_invalid_options),
        cmocka_unit_test(test_blocked_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

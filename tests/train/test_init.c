/* Initialisers: bounds and moments of every kind on a large conv weight (fan-in and
   fan-out differ by 2x, so a wrong fan is far outside the tolerances), fan modes and
   gains as torch.nn.init, exact constant / normal, errors, and cnn_graph_init over a
   graph (roles, zero_bias, determinism, buffers untouched). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* (128, 64, 3, 3): fan_in 576, fan_out 1152, 73728 values. */
#define O 128
#define I 64
#define K 3
#define N ((size_t)O * I * K * K)
#define FAN_IN 576.0
#define FAN_OUT 1152.0

typedef struct moments {
    double mean, var, maxabs, within1; /* within1: fraction with |x - mean| < std */
} moments;

static moments measure(const float *x, size_t n)
{
    moments m = {0};
    for (size_t i = 0; i < n; i++) m.mean += x[i];
    m.mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - m.mean;
        m.var += d * d;
        if (fabs(x[i]) > m.maxabs) m.maxabs = fabs(x[i]);
    }
    m.var /= (double)(n - 1);
    double sd = sqrt(m.var);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) w += fabs(x[i] - m.mean) < sd;
    m.within1 = (double)w / (double)n;
    return m;
}

/* Sample moments against the distribution's, at 6 standard errors: mean se =
   sd/sqrt(n); variance se = var*sqrt((kurtosis-1)/n), kurtosis 1.8 (uniform) or 3
   (normal); P(|x| < sd) is 0.577 for a uniform, 0.683 for a normal. */
static void check_uniform(const float *x, double bound, const char *what)
{
    moments m = measure(x, N);
    double var = bound * bound / 3.0;
    if (m.maxabs > bound * (1 + 1e-6) || m.maxabs < 0.99 * bound)
        fail_msg("%s: max |x| %g, bound %g", what, m.maxabs, bound);
    if (fabs(m.mean) > 6 * sqrt(var / N)) fail_msg("%s: mean %g", what, m.mean);
    if (fabs(m.var - var) > 6 * var * sqrt(0.8 / N))
        fail_msg("%s: variance %g, want %g", what, m.var, var);
    if (fabs(m.within1 - 1 / sqrt(3.0)) > 6 * sqrt(0.25 / N))
        fail_msg("%s: P(|x| < sd) %g is not uniform's", what, m.within1);
}

static void check_normal(const float *x, double mean, double sd, const char *what)
{
    moments m = measure(x, N);
    double var = sd * sd;
    if (fabs(m.mean - mean) > 6 * sd / sqrt(N))
        fail_msg("%s: mean %g, want %g", what, m.mean, mean);
    if (fabs(m.var - var) > 6 * var * sqrt(2.0 / N))
        fail_msg("%s: variance %g, want %g", what, m.var, var);
    if (fabs(m.within1 - 0.682689) > 6 * sqrt(0.25 / N))
        fail_msg("%s: P(|x - mean| < sd) %g is not normal's", what, m.within1);
}

static float *run(cnn_init init, uint64_t seed)
{
    cnn_tensor t = {.ndim = 4, .dims = {O, I, K, K}};
    t.data = malloc(N * sizeof(float));
    for (size_t i = 0; i < N; i++) t.data[i] = NAN; /* every value must be written */
    cnn_rng rng;
    cnn_rng_seed(&rng, seed);
    TU_OK(cnn_init_tensor(&t, &init, &rng));
    for (size_t i = 0; i < N; i++)
        if (!isfinite(t.data[i])) fail_msg("value %zu not written", i);
    return t.data;
}

static void test_xavier(void **state)
{
    (void)state;
    float *x = run((cnn_init){.kind = CNN_INIT_XAVIER_UNIFORM}, 1);
    check_uniform(x, sqrt(6.0 / (FAN_IN + FAN_OUT)), "xavier_uniform");
    free(x);
    x = run((cnn_init){.kind = CNN_INIT_XAVIER_UNIFORM, .gain = 3.0f}, 2);
    check_uniform(x, 3.0 * sqrt(6.0 / (FAN_IN + FAN_OUT)), "xavier_uniform gain 3");
    free(x);
    x = run((cnn_init){.kind = CNN_INIT_XAVIER_NORMAL}, 3);
    check_normal(x, 0.0, sqrt(2.0 / (FAN_IN + FAN_OUT)), "xavier_normal");
    free(x);
    x = run((cnn_init){.kind = CNN_INIT_XAVIER_NORMAL, .gain = 0.5f}, 4);
    check_normal(x, 0.0, 0.5 * sqrt(2.0 / (FAN_IN + FAN_OUT)), "xavier_normal gain 0.5");
    free(x);
}

static void test_kaiming(void **state)
{
    (void)state;
    /* gain 0 = relu: sqrt(2); bound = gain * sqrt(3 / fan) */
    float *x = run((cnn_init){.kind = CNN_INIT_KAIMING_UNIFORM}, 5);
    check_uniform(x, sqrt(2.0) * sqrt(3.0 / FAN_IN), "kaiming_uniform fan_in");
    free(x);
    x = run((cnn_init){.kind = CNN_INIT_KAIMING_UNIFORM, .fan_out = true, .gain = 1.0f}, 6);
    check_uniform(x, sqrt(3.0 / FAN_OUT), "kaiming_uniform fan_out gain 1");
    free(x);
    x = run((cnn_init){.kind = CNN_INIT_KAIMING_NORMAL}, 7);
    check_normal(x, 0.0, sqrt(2.0 / FAN_IN), "kaiming_normal fan_in");
    free(x);
    x = run((cnn_init){.kind = CNN_INIT_KAIMING_NORMAL, .fan_out = true}, 8);
    check_normal(x, 0.0, sqrt(2.0 / FAN_OUT), "kaiming_normal fan_out");
    free(x);
    /* PyTorch's layer default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) */
    x = run((cnn_init){.kind = CNN_INIT_DEFAULT}, 9);
    check_uniform(x, 1.0 / sqrt(FAN_IN), "default");
    free(x);
}

static void test_normal_constant(void **state)
{
    (void)state;
    float *x = run((cnn_init){.kind = CNN_INIT_NORMAL, .mean = 0.5f, .std = 0.02f}, 10);
    check_normal(x, 0.5, 0.02, "normal(0.5, 0.02)");
    free(x);
    x = run((cnn_init){.kind = CNN_INIT_NORMAL, .mean = -1.5f, .std = 0.0f}, 11);
    for (size_t i = 0; i < N; i++) assert_true(x[i] == -1.5f);
    free(x);
    x = run((cnn_init){.kind = CNN_INIT_CONSTANT, .value = 0.25f}, 12);
    for (size_t i = 0; i < N; i++) assert_true(x[i] == 0.25f);
    free(x);
}

/* Fans of a linear weight (out, in) have no receptive field; same seed, same values. */
static void test_linear_fans_and_seed(void **state)
{
    (void)state;
    float a[300 * 200], b[300 * 200];
    cnn_tensor t = {.ndim = 2, .dims = {300, 200}, .data = a};
    cnn_rng r;
    cnn_rng_seed(&r, 99);
    TU_OK(cnn_init_tensor(&t, &(cnn_init){.kind = CNN_INIT_KAIMING_UNIFORM, .fan_out = true}, &r));
    double bound = sqrt(6.0 / 300.0), mx = 0;
    for (int i = 0; i < 300 * 200; i++) mx = fmax(mx, fabs(a[i]));
    assert_true(mx <= bound * (1 + 1e-6) && mx > 0.99 * bound);
    t.data = b;
    cnn_rng_seed(&r, 99);
    TU_OK(cnn_init_tensor(&t, &(cnn_init){.kind = CNN_INIT_KAIMING_UNIFORM, .fan_out = true}, &r));
    assert_memory_equal(a, b, sizeof a);
    cnn_rng_seed(&r, 100);
    TU_OK(cnn_init_tensor(&t, &(cnn_init){.kind = CNN_INIT_KAIMING_UNIFORM, .fan_out = true}, &r));
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_errors(void **state)
{
    (void)state;
    float v[8];
    cnn_tensor t = {.ndim = 1, .dims = {8}, .data = v};
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    cnn_init_kind need_fans[] = {CNN_INIT_DEFAULT, CNN_INIT_XAVIER_UNIFORM, CNN_INIT_XAVIER_NORMAL,
                                 CNN_INIT_KAIMING_UNIFORM, CNN_INIT_KAIMING_NORMAL};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(cnn_init_tensor(&t, &(cnn_init){.kind = need_fans[i]}, &r),
                         CNN_ERR_INVALID_ARG);
        assert_non_null(strstr(cnn_error_message(), "at least 2 dimensions"));
        assert_non_null(strstr(cnn_error_message(), "(8)"));
    }
    /* 1-D is fine where no fan is needed */
    TU_OK(cnn_init_tensor(&t, &(cnn_init){.kind = CNN_INIT_CONSTANT, .value = 2}, &r));
    TU_OK(cnn_init_tensor(&t, &(cnn_init){.kind = CNN_INIT_NORMAL, .std = 1}, &r));
    assert_int_equal(cnn_init_tensor(&t, &(cnn_init){.kind = CNN_INIT_NORMAL, .std = -1}, &r),
                     CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_error_message(), "std"));
    cnn_tensor w = {.ndim = 2, .dims = {2, 4}, .data = v};
    assert_int_equal(
        cnn_init_tensor(&w, &(cnn_init){.kind = CNN_INIT_XAVIER_UNIFORM, .gain = -1}, &r),
        CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_error_message(), "gain"));
    w.data = NULL;
    assert_int_equal(cnn_init_tensor(&w, &(cnn_init){.kind = CNN_INIT_CONSTANT}, &r),
                     CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_init_tensor(NULL, &(cnn_init){0}, &r), CNN_ERR_INVALID_ARG);
}

/* x (2, 3, 8, 8) -> conv (16, 3, 3, 3) + bias -> bn(16) -> flatten -> fc (10, 1024) + bias */
static cnn_graph *small_net(void)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 8, 8});
    x = cnn_conv2d(g, x, 16, .kernel = 3, .padding = 1, .name = "conv");
    x = cnn_batchnorm2d(g, x, .name = "bn");
    x = cnn_flatten(g, x);
    cnn_linear(g, x, 10, .name = "fc");
    TU_OK(cnn_graph_status(g));
    return g;
}

static float *param(cnn_graph *g, const char *name, size_t *n)
{
    cnn_param *p = cnn_graph_find_param(g, name);
    if (!p) fail_msg("no parameter %s", name);
    if (n) *n = cnn_tensor_numel(&p->value);
    return p->value.data;
}

static void test_graph_init(void **state)
{
    (void)state;
    cnn_graph *g = small_net();
    /* not compiled yet: graph_init compiles it */
    const cnn_init kn = {.kind = CNN_INIT_KAIMING_NORMAL, .fan_out = true};
    TU_OK(cnn_graph_init(g, CNN_PARAM_NORM_BIAS,
                         &(cnn_init){.kind = CNN_INIT_CONSTANT, .value = 0.3f}, false, 1));
    TU_OK(cnn_graph_init(g, CNN_PARAM_WEIGHT, &kn, true, 5));
    size_t n;
    /* the same draws in graph order from the same seed */
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    float want_conv[16 * 27], want_fc[10 * 1024];
    cnn_tensor tc = {.ndim = 4, .dims = {16, 3, 3, 3}, .data = want_conv};
    cnn_tensor tf = {.ndim = 2, .dims = {10, 1024}, .data = want_fc};
    TU_OK(cnn_init_tensor(&tc, &kn, &r));
    TU_OK(cnn_init_tensor(&tf, &kn, &r));
    float *cw = param(g, "conv.weight", &n);
    assert_memory_equal(cw, want_conv, sizeof want_conv);
    assert_memory_equal(param(g, "fc.weight", NULL), want_fc, sizeof want_fc);
    /* std of conv.weight ~ sqrt(2 / fan_out) = sqrt(2 / 144); 432 samples: 15% */
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)cw[i] * cw[i];
    assert_true(fabs(sqrt(ss / (double)n) / sqrt(2.0 / 144.0) - 1.0) < 0.15);
    /* biases of those layers zeroed; bn.bias is not a bias of a WEIGHT layer */
    float *cb = param(g, "conv.bias", &n);
    for (size_t i = 0; i < n; i++) assert_true(cb[i] == 0.0f);
    float *fb = param(g, "fc.bias", &n);
    for (size_t i = 0; i < n; i++) assert_true(fb[i] == 0.0f);
    float *bb = param(g, "bn.bias", &n);
    for (size_t i = 0; i < n; i++) assert_true(bb[i] == 0.3f);

    /* norm weights: bn.bias is zeroed with them; running stats untouched */
    TU_OK(cnn_graph_init(g, CNN_PARAM_NORM_WEIGHT,
                         &(cnn_init){.kind = CNN_INIT_CONSTANT, .value = 0.5f}, true, 2));
    float *bw = param(g, "bn.weight", &n);
    for (size_t i = 0; i < n; i++) assert_true(bw[i] == 0.5f && bb[i] == 0.0f);
    float *rv = param(g, "bn.running_var", &n);
    for (size_t i = 0; i < n; i++) assert_true(rv[i] == 1.0f);
    assert_memory_equal(cw, want_conv, sizeof want_conv);

    /* the layers' defaults again: conv.weight in U(+-1/sqrt(27)), different values */
    TU_OK(cnn_graph_init(g, CNN_PARAM_WEIGHT, &(cnn_init){.kind = CNN_INIT_DEFAULT}, false, 9));
    n = 16 * 27;
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(cw[i]));
    assert_true(mx <= 1.0 / sqrt(27.0) + 1e-7);
    assert_memory_not_equal(cw, want_conv, sizeof want_conv);
    /* errors name the parameter */
    assert_int_equal(
        cnn_graph_init(g, CNN_PARAM_BIAS, &(cnn_init){.kind = CNN_INIT_XAVIER_NORMAL}, false, 1),
        CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_error_message(), "conv.bias"));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xavier),          cmocka_unit_test(test_kaiming),
        cmocka_unit_test(test_normal_constant), cmocka_unit_test(test_linear_fans_and_seed),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_graph_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

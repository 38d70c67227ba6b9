/* cnn export --c (docs/architecture.md, "C export"): LeNet (sigmoid, average pooling),
   LeNet-ReLU (max pooling), MobileNet V2 (depthwise, ReLU6, residual adds, adaptive
   pooling) and ShuffleNet V2 (channel split, shuffle, concat) exported as C, compiled
   warning-free with -std=c99 -Wall -Wextra -pedantic -Werror and run on the host: the
   outputs match the library's ref backend within 1e-5. Then the same files cross-
   compiled for 32-bit ARM and run under qemu-arm against the host's outputs, and built
   for a Cortex-M4 (arm-none-eabi-size reported); each step is skipped with a message
   where its Debian packages (gcc-arm-linux-gnueabihf + qemu-user, gcc-arm-none-eabi)
   are missing. A graph of transposed convolution, LRN, softmax and the general tensor
   ops (binary, unary, transpose, slice, pad, reduce, matmul, constants) the same way.
   Also: an op without a generator and a bad name are refused, nothing
   written. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[64];

static int sh(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t size, const char *fmt, ...)
{
    char cmd[4096], full[4300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "cd %s && (%s) 2>&1", g_dir, cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have(const char *tool)
{
    char out[256];
    return sh(out, sizeof out, "command -v %s", tool) == 0;
}

static float *read_floats(const char *path, size_t n)
{
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(v, sizeof *v, n, f), n);
    fclose(f);
    return v;
}

static double max_err(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(e <= m)) m = e;
    }
    return m;
}

static char g_out[1 << 16];

static void export_and_run(cnn_graph *g, cnn_node *input, cnn_node *output, const char *model,
                           const float *x, size_t in_n, const float *want, size_t n_out, bool int8);

/* model exported as C (int8: quantized first, calibrated on random images, and its
   int8 layers exported as integer code, which must give the library's int8 bits) */
static void check(const char *model, int c, int hw, float wm, bool int8)
{
    cnn_model m;
    cnn_model_opts o = {.batch = 1, .channels = c, .height = hw, .width = hw, .classes = 10,
                        .width_mult = wm};
    TU_OK(cnn_model_new(model, &o, 0.0f, &m));
    TU_OK(cnn_graph_compile(m.g, 11));
    cnn_rng r;
    cnn_rng_seed(&r, 12);
    size_t in_n = (size_t)c * hw * hw;
    float *x = malloc(in_n * sizeof *x);
    assert_non_null(x);
    /* batch-norm statistics from a few training-mode forwards: activations keep their
       size through the random layers */
    cnn_graph_set_training(m.g, true);
    for (int i = 0; i < 5; i++) {
        tu_fill(x, in_n, -1.0f, 1.0f, &r);
        TU_OK(cnn_graph_set_input(m.g, m.input, x, 1));
        TU_OK(cnn_graph_forward_until(m.g, m.logits));
    }
    cnn_graph_set_training(m.g, false);
    if (int8) {
        cnn_dataset d = {.n = 16, .c = c, .h = hw, .w = hw, .classes = 10};
        d.u8 = malloc(16 * in_n);
        d.labels = calloc(16, sizeof *d.labels);
        assert_true(d.u8 && d.labels);
        for (size_t i = 0; i < 16 * in_n; i++) d.u8[i] = (uint8_t)cnn_rng_below(&r, 256);
        snprintf(d.source, sizeof d.source, "random");
        cnn_quant_opts qo = {.method = CNN_CALIB_ENTROPY};
        TU_OK(cnn_model_quantize(&m, &d, 16, &qo));
        free(d.u8);
        free(d.labels);
    }
    tu_fill(x, in_n, -1.0f, 1.0f, &r);
    TU_OK(cnn_set_backend("ref"));
    TU_OK(cnn_graph_set_input(m.g, m.input, x, 1));
    TU_OK(cnn_graph_forward_until(m.g, m.logits));
    float want[10];
    memcpy(want, cnn_node_value(m.logits).data, sizeof want);
    TU_OK(cnn_set_backend("cpu"));
    char name[64];
    snprintf(name, sizeof name, "%s%s", model, int8 ? "_int8" : "");
    export_and_run(m.g, m.input, m.logits, name, x, in_n, want, 10, int8);
    free(x);
    cnn_model_free(&m);
}

/* exports g from input to output as C, builds and runs it on x (host, then qemu-arm and
   Cortex-M4 where installed) and compares with want (the library's ref outputs) */
static void export_and_run(cnn_graph *g, cnn_node *input, cnn_node *output, const char *model,
                           const float *x, size_t in_n, const float *want, size_t n_out, bool int8)
{
    cnn_c_export_info info;
    TU_OK(cnn_export_c(g, input, output, g_dir, model, int8, &info));
    fprintf(stderr, "%s: %zu weight bytes, %zu arena bytes\n", model, info.weight_bytes, info.arena_bytes);
    /* a driver: input.bin -> NAME_run -> output.bin */
    char path[256];
    snprintf(path, sizeof path, "%s/main_%s.c", g_dir, model);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "#include <stdio.h>\n#include \"%s.h\"\n"
            "static float in[%s_INPUT_SIZE], out[%s_OUTPUT_SIZE];\n"
            "int main(int argc, char **argv)\n{\n"
            "    FILE *f = fopen(argv[1], \"rb\");\n"
            "    if (argc < 3 || !f || fread(in, sizeof in[0], %s_INPUT_SIZE, f) != %s_INPUT_SIZE) return 2;\n"
            "    fclose(f);\n"
            "    if (%s_run(in, out) != 0) return 3;\n"
            "    f = fopen(argv[2], \"wb\");\n"
            "    if (!f || fwrite(out, sizeof out[0], %s_OUTPUT_SIZE, f) != %s_OUTPUT_SIZE) return 4;\n"
            "    return fclose(f) != 0;\n}\n",
            model, model, model, model, model, model, model, model);
    fclose(f);
    snprintf(path, sizeof path, "%s/in_%s.bin", g_dir, model);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x, sizeof *x, in_n, f), in_n);
    fclose(f);
    const char *flags = "-std=c99 -Wall -Wextra -pedantic -Werror -O2";
    int rc = sh(g_out, sizeof g_out, "cc %s %s.c main_%s.c -o host_%s -lm && ./host_%s in_%s.bin host_%s.bin",
                flags, model, model, model, model, model, model);
    if (rc != 0) fail_msg("host build/run of %s failed (%d):\n%.4000s", model, rc, g_out);
    snprintf(path, sizeof path, "%s/host_%s.bin", g_dir, model);
    float *host = read_floats(path, n_out);
    double e = max_err(host, want, n_out);
    fprintf(stderr, "%s: host C vs library ref: max |diff| / (1 + |ref|) = %.3g\n", model, e);
    assert_true(e <= 1e-5);
    if (int8) { /* the same integers, so the same floats */
        assert_memory_equal(host, want, n_out * sizeof *want);
        assert_int_equal(sh(g_out, sizeof g_out, "grep -c '#include <math.h>' %s.c", model), 1);
        /* MobileNet V2: layers that store int8 for their int8 readers (batch norm and
           ReLU6 folded into the multiply-add, the readers taking the bytes as they are) */
        if (strstr(model, "mobilenet"))
            assert_int_equal(sh(g_out, sizeof g_out, "grep -q 'static const float qr' %s.c && "
                                "grep -q 'qconv((const signed char \\*)' %s.c", model, model), 0);
    }

    if (have("arm-linux-gnueabihf-gcc") && have("qemu-arm")) {
        rc = sh(g_out, sizeof g_out,
                "arm-linux-gnueabihf-gcc %s -static %s.c main_%s.c -o arm_%s -lm && "
                "qemu-arm ./arm_%s in_%s.bin arm_%s.bin",
                flags, model, model, model, model, model, model);
        if (rc != 0) fail_msg("32-bit ARM build/run of %s failed (%d):\n%.4000s", model, rc, g_out);
        snprintf(path, sizeof path, "%s/arm_%s.bin", g_dir, model);
        float *arm = read_floats(path, n_out);
        double ea = max_err(arm, host, n_out);
        fprintf(stderr, "%s: qemu-arm (armhf) vs host: max |diff| / (1 + |host|) = %.3g\n", model, ea);
        assert_true(ea <= 1e-5);
        if (int8) assert_memory_equal(arm, host, n_out * sizeof *arm);
        free(arm);
    } else {
        fprintf(stderr, "SKIP %s on 32-bit ARM: gcc-arm-linux-gnueabihf / qemu-user not installed\n", model);
    }
    if (have("arm-none-eabi-gcc")) {
        rc = sh(g_out, sizeof g_out,
                "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 %s "
                "-Os -c %s.c -o m4_%s.o && arm-none-eabi-size m4_%s.o",
                flags, model, model, model);
        if (rc != 0) fail_msg("Cortex-M4 build of %s failed (%d):\n%.4000s", model, rc, g_out);
        fprintf(stderr, "%s: Cortex-M4 (arm-none-eabi-size):\n%s", model, g_out);
    } else {
        fprintf(stderr, "SKIP %s for Cortex-M4: gcc-arm-none-eabi not installed\n", model);
    }
    free(host);
}

static void test_lenet(void **state)
{
    (void)state;
    check("lenet", 1, 28, 0.0f, false);
    check("lenet_relu", 1, 32, 0.0f, false);
    check("lenet_relu", 1, 32, 0.0f, true);
}

static void test_mobilenet_shufflenet(void **state)
{
    (void)state;
    check("mobilenet_v2", 3, 64, 0.25f, false);
    check("mobilenet_v2", 3, 64, 0.25f, true);
    if (!tu_quick()) check("shufflenet_v2_x0_5", 3, 64, 0.0f, false);
}

/* the library's ref outputs of g for input x, then the export compared with them */
static void check_graph(cnn_graph *g, cnn_node *in, cnn_node *outn, const char *name, uint64_t seed)
{
    TU_OK(cnn_graph_compile(g, seed));
    cnn_graph_set_training(g, false);
    cnn_tensor ti = cnn_node_value(in), to = cnn_node_value(outn); /* batch 1 */
    size_t in_n = cnn_tensor_numel(&ti), n_out = cnn_tensor_numel(&to);
    float *x = malloc(in_n * sizeof *x), *want = malloc(n_out * sizeof *want);
    assert_true(x && want);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    tu_fill(x, in_n, -1.0f, 1.0f, &r);
    TU_OK(cnn_set_backend("ref"));
    TU_OK(cnn_graph_set_input(g, in, x, 1));
    TU_OK(cnn_graph_forward_until(g, outn));
    memcpy(want, cnn_node_value(outn).data, n_out * sizeof *want);
    for (size_t i = 0; i < n_out; i++) assert_true(isfinite(want[i]));
    TU_OK(cnn_set_backend("cpu"));
    export_and_run(g, in, outn, name, x, in_n, want, n_out, false);
    free(x);
    free(want);
}

/* transposed convolution, LRN, softmax / log-softmax and the general tensor ops
   (binary with broadcasting and constants, unary, transpose, slice with a step, pad in
   every mode incl. -inf and cropping, reduce, matmul with a constant) */
static void test_general_ops(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "input", 4, (int[]){1, 4, 6, 6});
    cnn_node *c = cnn_conv_transpose2d(g, x, 6, .kernel = 3, .stride = 2, .padding = 1, .output_padding = 1);
    cnn_node *l = cnn_lrn(g, c, .size = 3, .alpha = 0.5f);
    float kv[6] = {0.5f, -1.0f, 2.0f, 1.5f, -0.25f, 3.0f};
    cnn_node *b = cnn_binary(g, l, cnn_constant(g, "k", 4, (int[]){1, 6, 1, 1}, kv), CNN_BIN_MUL);
    cnn_node *u = cnn_unary(g, cnn_unary(g, b, CNN_UN_ABS), CNN_UN_SQRT);
    cnn_node *t = cnn_transpose(g, u, 4, (int[]){0, 1, 3, 2});
    cnn_node *sl = cnn_slice(g, t, 3, 1, 11, 2);                                           /* (1,6,12,5) */
    cnn_node *p = cnn_pad(g, sl, (int[]){0, 0, 1, 2, 0, 0, 1, 0}, CNN_PAD_REFLECT, 0.0f); /* (1,6,14,7) */
    cnn_node *rd = cnn_reduce(g, p, CNN_REDUCE_MEAN, 1, (int[]){3}, false);               /* (1,6,14) */
    float mv[14 * 5];
    for (int i = 0; i < 14 * 5; i++) mv[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    cnn_node *mm = cnn_matmul(g, rd, cnn_constant(g, "mk", 2, (int[]){14, 5}, mv));      /* (1,6,5) */
    cnn_node *mx = cnn_reduce(g, mm, CNN_REDUCE_MAX, 1, (int[]){1}, true);                /* (1,1,5) */
    cnn_node *sub = cnn_binary(g, mm, mx, CNN_BIN_SUB);
    cnn_node *ls = cnn_softmax_axis(g, cnn_binary(g, sub, cnn_unary(g, sub, CNN_UN_EXP), CNN_BIN_MAX), 2, true);
    cnn_node *y = cnn_softmax(g, cnn_flatten(g, ls));
    check_graph(g, x, y, "general", 21);
    cnn_graph_free(g);

    cnn_graph *h = cnn_graph_new();
    cnn_node *a = cnn_input(h, "input", 4, (int[]){1, 2, 5, 5});
    cnn_node *p1 = cnn_pad(h, a, (int[]){0, 0, 2, 1, 0, 0, 1, 3}, CNN_PAD_EDGE, 0.0f);     /* (1,2,8,9) */
    cnn_node *p2 = cnn_pad(h, p1, (int[]){0, 0, 1, 1, 0, 0, 1, 1}, CNN_PAD_CONSTANT, -INFINITY);
    cnn_node *p3 = cnn_pad(h, p2, (int[]){0, 0, -1, -1, 0, 0, 0, -2}, CNN_PAD_CONSTANT, 0.5f);
    cnn_node *mxp = cnn_reduce(h, p3, CNN_REDUCE_MAX, 1, (int[]){2}, true);
    cnn_node *mn = cnn_reduce(h, p1, CNN_REDUCE_MIN, 2, (int[]){2, 3}, true);            /* (1,2,1,1) */
    cnn_node *sum = cnn_reduce(h, cnn_binary(h, p1, mn, CNN_BIN_DIV), CNN_REDUCE_SUM, 1, (int[]){3}, false);
    cnn_node *pw = cnn_binary(h, cnn_unary(h, sum, CNN_UN_ABS), sum, CNN_BIN_POW);
    cnn_node *mnm = cnn_binary(h, pw, sum, CNN_BIN_MIN);
    check_graph(h, a, cnn_concat(h, 2, (cnn_node *[]){cnn_flatten(h, mxp), cnn_flatten(h, mnm)}),
                "pads", 22);
    cnn_graph_free(h);
}

static void test_refusals(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "input", 4, (int[]){1, 2, 5, 5});
    cnn_node *y = cnn_global_maxpool(g, cnn_conv2d(g, x, 4, .kernel = 3));
    TU_OK(cnn_graph_compile(g, 1));
    assert_int_equal(cnn_export_c(g, x, y, g_dir, "net", false, NULL), CNN_ERR_UNSUPPORTED);
    assert_non_null(strstr(cnn_error_message(), "no generator for op 'global_maxpool'"));
    assert_int_equal(cnn_export_c(g, x, y, g_dir, "9net", false, NULL), CNN_ERR_INVALID_ARG);
    struct stat st;
    char p[128];
    snprintf(p, sizeof p, "%s/net.c", g_dir);
    assert_int_not_equal(stat(p, &st), 0);
    cnn_graph_free(g);
    /* a folder that cannot be written: an IO error, no file left */
    cnn_graph *h = cnn_graph_new();
    cnn_node *a = cnn_input(h, "input", 2, (int[]){1, 3});
    cnn_node *b = cnn_linear(h, a, 2);
    TU_OK(cnn_graph_compile(h, 1));
    assert_int_equal(cnn_export_c(h, a, b, "/nonexistent/dir", "net", false, NULL), CNN_ERR_IO);
    assert_int_equal(cnn_export_c(h, a, b, g_dir, "net", true, NULL), CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_error_message(), "needs a quantized model"));
    cnn_graph_free(h);
}

/* int8 layers whose bias is beyond int32 at their input scale keep it in float (added
   after the multiplier): exported, the library's int8 ref bits (host and qemu-arm) */
static void test_int8_float_bias(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "input", 4, (int[]){1, 4, 6, 6});
    cnn_node *c = cnn_conv2d(g, x, 8, .kernel = 3, .padding = 1, .name = "conv");
    cnn_node *f = cnn_flatten(g, cnn_relu(g, cnn_batchnorm2d(g, c)));
    cnn_node *l = cnn_linear(g, f, 5, .name = "fc");
    TU_OK(cnn_graph_compile(g, 5));
    cnn_graph_set_training(g, false);
    cnn_param *cb = cnn_graph_find_param(g, "conv.bias"), *lb = cnn_graph_find_param(g, "fc.bias");
    assert_true(cb && lb);
    for (int o = 0; o < 8; o++) cb->value.data[o] = 2.0e4f * (float)(o - 3);
    for (int o = 0; o < 5; o++) lb->value.data[o] = 3.0e8f * (float)(o - 2) + 12345.0f;
    float xv[4 * 6 * 6], want[5];
    cnn_rng r;
    cnn_rng_seed(&r, 4);
    tu_fill(xv, sizeof xv / sizeof xv[0], -1.0f, 1.0f, &r);
    TU_OK(cnn_graph_set_input(g, x, xv, 1));
    TU_OK(cnn_graph_forward_until(g, f));
    float amax = 0.0f;
    for (size_t i = 0; i < 8 * 6 * 6; i++) amax = fmaxf(amax, fabsf(cnn_node_value(f).data[i]));
    TU_OK(cnn_node_set_int8(c, 1.0f / 127.0f, NULL, NULL));
    TU_OK(cnn_node_set_int8(l, amax / 127.0f, NULL, NULL));
    assert_non_null(cnn_node_quant_info(c).float_bias);
    assert_non_null(cnn_node_quant_info(l).float_bias);
    TU_OK(cnn_set_backend("ref"));
    TU_OK(cnn_graph_forward_until(g, l));
    memcpy(want, cnn_node_value(l).data, sizeof want);
    TU_OK(cnn_set_backend("cpu"));
    export_and_run(g, x, l, "fbias_int8", xv, sizeof xv / sizeof xv[0], want, 5, true);
    cnn_graph_free(g);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/cnn_cexport_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet),
        cmocka_unit_test(test_mobilenet_shufflenet),
        cmocka_unit_test(test_general_ops),
        cmocka_unit_test(test_int8_float_bias),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

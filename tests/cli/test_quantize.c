/* cnn quantize / summary / eval / bench / export --c on a quantized checkpoint, and the
   command's refusals (exit 1 with a message naming the problem, exit 2 for usage), no
   output file left behind by a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[64];
static const char *g_bin;

/* Runs a shell command, captures stdout+stderr into out; returns the exit status. */
static int run(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tu_vrun(buf, size, g_dir, 0, fmt, ap);
    va_end(ap);
    return rc;
}

static char out[1 << 16];

static bool exists(const char *name)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return stat(p, &st) == 0;
}

static void test_quantize_end_to_end(void **state)
{
    (void)state;
    tu_write_idx(g_dir, "train", 96, 1);
    tu_write_idx(g_dir, "t10k", 32, 2);
    assert_int_equal(run(out, sizeof out, "%s train lenet_relu --data idx:. --epochs 1 --batch 16 "
                                          "--optimizer adam --lr 0.003 --out f.safetensors", g_bin), 0);
    int rc = run(out, sizeof out, "%s quantize f.safetensors --data idx:. --calib 64 --method percentile "
                                  "--keep-float out.0 --out q.safetensors", g_bin);
    if (rc != 0) fail_msg("quantize: %s", out);
    assert_non_null(strstr(out, "4 layers int8, 1 kept float"));
    assert_non_null(strstr(out, "(--keep-float)"));
    assert_non_null(strstr(out, "float ops (no int8 kernel): activation"));
    assert_int_equal(run(out, sizeof out, "%s summary q.safetensors", g_bin), 0);
    assert_non_null(strstr(out, "int8 x*"));
    assert_non_null(strstr(out, "int8: 4 conv/linear layers"));
    assert_int_equal(run(out, sizeof out, "%s eval q.safetensors --data idx:.", g_bin), 0);
    assert_non_null(strstr(out, "accuracy (OA)"));
    assert_int_equal(run(out, sizeof out, "%s bench q.safetensors --iters 1 --warmup 0", g_bin), 0);
    assert_non_null(strstr(out, "(int8)"));
    assert_int_equal(run(out, sizeof out, "%s export q.safetensors --c . --name qnet --int8", g_bin), 0);
    assert_non_null(strstr(out, "flash:"));
    assert_true(exists("qnet.c") && exists("qnet.h"));
    assert_int_equal(run(out, sizeof out, "%s export f.safetensors --c . --name fnet --int8", g_bin), 1);
    assert_non_null(strstr(out, "needs a quantized model"));
    assert_false(exists("fnet.c"));
}

/* cnn quantize FILE.onnx: the imported network calibrated and written as a quantized
   checkpoint that eval and summary read */
static void test_quantize_onnx(void **state)
{
    (void)state;
    const char *src = getenv("CNN_SOURCE_DIR");
    char abs[4096];
    if (!src || !realpath(src, abs)) snprintf(abs, sizeof abs, "%s", src ? src : ".");
    tu_write_idx(g_dir, "train", 48, 5);
    tu_write_idx(g_dir, "t10k", 16, 6);
#ifndef CNN_HAVE_ONNX
    /* a build without ONNX says so, writes nothing */
    int rc0 = run(out, sizeof out, "%s quantize %s/tests/fixtures/onnx/lenet.eval11.onnx --data idx:. --calib 32 "
                                   "--out onnxq.safetensors", g_bin, abs);
    if (rc0 != 1 || !strstr(out, "ONNX")) fail_msg("quantize onnx without ONNX: exit %d: %s", rc0, out);
    assert_false(exists("onnxq.safetensors"));
    skip();
#endif
    int rc = run(out, sizeof out, "%s quantize %s/tests/fixtures/onnx/lenet.eval11.onnx --data idx:. --calib 32 "
                                  "--method minmax --out onnxq.safetensors", g_bin, abs);
    if (rc != 0) fail_msg("quantize onnx: %s", out);
    assert_non_null(strstr(out, "5 layers int8, 0 kept float"));
    assert_non_null(strstr(out, "float ops (no int8 kernel): activation"));
    assert_int_equal(run(out, sizeof out, "%s summary onnxq.safetensors", g_bin), 0);
    assert_non_null(strstr(out, "int8: 5 conv/linear layers"));
    assert_int_equal(run(out, sizeof out, "%s eval onnxq.safetensors --data idx:.", g_bin), 0);
    assert_non_null(strstr(out, "accuracy (OA)"));
    /* a model whose input the data does not fit: refused, nothing written */
    assert_int_equal(run(out, sizeof out, "%s quantize %s/tests/fixtures/onnx/mobilenet_v2.eval11.onnx "
                                          "--data idx:. --calib 8 --out bad_onnx.safetensors", g_bin, abs), 1);
    if (!strstr(out, "takes 3x32x32 inputs but the data gives 1x28x28")) fail_msg("%s", out);
    assert_false(exists("bad_onnx.safetensors"));
}

static void test_quantize_refusals(void **state)
{
    (void)state;
    tu_write_idx(g_dir, "train", 40, 3);
    tu_write_idx(g_dir, "t10k", 8, 4);
    assert_int_equal(run(out, sizeof out, "%s quantize lenet_relu --input 1x28x28 --data idx:. --calib 41 "
                                          "--out bad.safetensors", g_bin), 1);
    if (!strstr(out, "calibration examples asked for") || !strstr(out, "has 40")) fail_msg("%s", out);
    assert_int_equal(run(out, sizeof out, "%s quantize lenet_relu --input 1x28x28 --data idx:. --calib 8 "
                                          "--keep-float nosuch --out bad.safetensors", g_bin), 1);
    assert_non_null(strstr(out, "no layer 'nosuch'"));
    assert_int_equal(run(out, sizeof out, "%s quantize lenet_relu --data idx:. --calib 8 "
                                          "--out bad.safetensors", g_bin), 1);
    assert_non_null(strstr(out, "takes 1x32x32 inputs but the data gives 1x28x28"));
    assert_int_equal(run(out, sizeof out, "%s quantize lenet_relu --input 1x28x28 --data idx:. "
                                          "--method kl --out bad.safetensors", g_bin), 2);
    assert_non_null(strstr(out, "unknown --method 'kl'"));
    assert_int_equal(run(out, sizeof out, "%s quantize lenet_relu --input 1x28x28 --data idx:.", g_bin), 2);
    assert_false(exists("bad.safetensors"));
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("CNN_BIN");
    if (!g_bin) return -1;
    snprintf(g_dir, sizeof g_dir, "/tmp/cnn-quant-XXXXXX");
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
        cmocka_unit_test(test_quantize_end_to_end),
        cmocka_unit_test(test_quantize_onnx),
        cmocka_unit_test(test_quantize_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

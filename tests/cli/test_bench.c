/* cnn bench end to end: the JSON object's keys and values (no timing assertions), the
   --train --layers table (conv layers listed, per-op totals), and usage errors. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

static const char *g_bin;
static char out[1 << 16];

/* Runs a shell command, captures stdout (stderr too when `err`); returns the exit code. */
static int run(bool err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tu_vrun(out, sizeof out, NULL, !err, fmt, ap);
    va_end(ap);
    return rc;
}

/* The number after "key": in a flat JSON text; fails the test if absent. */
static double json_num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    if (!p) fail_msg("no key %s in: %s", key, json);
    char *end;
    double v = strtod(p + strlen(pat), &end);
    if (end == p + strlen(pat)) fail_msg("key %s is not a number in: %s", key, json);
    return v;
}

static void json_has(const char *json, const char *kv)
{
    if (!strstr(json, kv)) fail_msg("expected %s in: %s", kv, json);
}

static void test_json_inference(void **state)
{
    (void)state;
    assert_int_equal(run(false, "%s bench lenet --iters 2 --warmup 1 --json --threads 1", g_bin), 0);
    const char *j = out;
    /* one object on one line */
    assert_int_equal(j[0], '{');
    assert_non_null(strstr(j, "}\n"));
    assert_null(strchr(strstr(j, "}\n") + 2, '{'));
    json_has(j, "\"model\": \"lenet\"");
    json_has(j, "\"train\": false");
    json_has(j, "\"input\": \"1x28x28\"");
    json_has(j, "\"backend\": \"");
    assert_true(json_num(j, "batch") == 1);
    assert_true(json_num(j, "threads") == 1);
    assert_true(json_num(j, "iters") == 2);
    assert_true(json_num(j, "warmup") == 1);
    double ips = json_num(j, "images_per_s"), ms = json_num(j, "ms_per_batch");
    assert_true(ips > 0 && ms > 0);
    /* images/s is batch / median time: consistent with ms_per_batch to rounding */
    assert_true(ips * ms / 1e3 > 0.99 && ips * ms / 1e3 < 1.01);
    assert_true(json_num(j, "ms_per_batch_mean") >= json_num(j, "ms_per_batch_min"));
    assert_true(json_num(j, "ms_per_batch_min") > 0);
    /* cost of d2l LeNet at 1x28x28: 61706 parameters, 416520 multiply-adds */
    assert_true(json_num(j, "params") == 61706);
    assert_true(json_num(j, "macs_per_example") == 416520);
    assert_true(json_num(j, "arena_bytes") > 0);
    assert_true(json_num(j, "peak_rss_bytes") > 1e6);
    assert_true(json_num(j, "peak_gflops") > 0);
    assert_null(strstr(j, "\"layers\""));
}

static void test_json_train_batch(void **state)
{
    (void)state;
    assert_int_equal(run(false, "%s bench lenet --batch 4 --train --iters 2 --warmup 0 --json --peak 100",
                         g_bin), 0);
    json_has(out, "\"train\": true");
    assert_true(json_num(out, "batch") == 4);
    assert_true(json_num(out, "images_per_s") > 0);
    assert_true(json_num(out, "peak_gflops") == 100);
    /* the training arena keeps activations for backward: larger than inference's */
    double train_arena = json_num(out, "arena_bytes");
    assert_int_equal(run(false, "%s bench lenet --batch 4 --iters 1 --warmup 0 --json --peak 100", g_bin), 0);
    assert_true(train_arena > json_num(out, "arena_bytes"));
}

static void test_layers_train(void **state)
{
    (void)state;
    /* a small model: lenet_relu (conv, relu, max pool, linear) at batch 2 */
    assert_int_equal(run(false, "%s bench lenet_relu --batch 2 --train --layers --iters 2 --warmup 1 "
                                "--peak 50",
                         g_bin), 0);
    assert_non_null(strstr(out, "images/s"));
    assert_non_null(strstr(out, "training"));
    assert_non_null(strstr(out, "bwd ms"));
    assert_non_null(strstr(out, "peak%"));
    assert_non_null(strstr(out, "per op kind"));
    /* both convolutions listed with their output shape (batch 2) */
    int convs = 0;
    for (const char *p = out; (p = strstr(p, "conv2d ")); p++) convs++;
    assert_true(convs >= 3); /* two layer rows + the per-op total */
    assert_non_null(strstr(out, "(2, 6, 28, 28)"));
    assert_non_null(strstr(out, "(2, 16, 10, 10)"));
    assert_non_null(strstr(out, "linear"));
    assert_non_null(strstr(out, "maxpool2d"));
    /* the graph input is not a layer row */
    assert_null(strstr(out, "\ninput "));

    /* JSON form: layer entries with positive forward/backward times for convs */
    assert_int_equal(run(false, "%s bench lenet_relu --batch 2 --train --layers --json --iters 1 "
                                "--warmup 0 --peak 50",
                         g_bin), 0);
    const char *c = strstr(out, "\"op\": \"conv2d\"");
    assert_non_null(c);
    assert_true(json_num(c, "macs") > 0);
    assert_true(json_num(c, "forward_ms") > 0);
    assert_true(json_num(c, "backward_ms") > 0);
    assert_true(json_num(c, "forward_gflops") > 0);
}

/* The string value of "key": in a flat JSON text, into buf; fails the test if absent. */
static const char *json_str_val(const char *json, const char *key, char *buf, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(json, pat);
    if (!p) fail_msg("no string key %s in: %.300s", key, json);
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    if (n >= size) n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* --layers on inference: each row's layout, kernel, bytes moved, GB/s and the limit
   that binds it (roofline between the given --peak and --stream). */
static void test_layers_inference(void **state)
{
    (void)state;
    const char *be = getenv("CNN_BACKEND");
    bool ref = be && !strcmp(be, "ref");
    assert_int_equal(run(false, "%s bench lenet_relu --batch 2 --layers --iters 2 --warmup 1 --peak 50 "
                                "--stream 20",
                         g_bin), 0);
    assert_non_null(strstr(out, "limits: FP32 peak 50.0 GFLOP/s, memory 20.0 GB/s (given)"));
    assert_non_null(strstr(out, "layout"));
    assert_non_null(strstr(out, "kernel"));
    assert_non_null(strstr(out, "GB/s"));
    assert_non_null(strstr(out, "limit%"));
    /* the first conv's row: plain layout, the kernel that ran it */
    const char *row = strstr(out, "\nC1.0 ");
    assert_non_null(row);
    const char *eol = strchr(row + 1, '\n');
    assert_non_null(eol);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(eol - row - 1), row + 1);
    if (!strstr(line, " NCHW ")) fail_msg("no NCHW layout in: %s", line);
    if (!strstr(line, ref ? " ref " : " cpu ")) fail_msg("kernel not %s in: %s", ref ? "ref" : "cpu", line);

    assert_int_equal(run(false, "%s bench lenet_relu --batch 2 --layers --json --iters 1 --warmup 0 "
                                "--peak 50 --stream 20",
                         g_bin), 0);
    assert_true(json_num(out, "stream_gbps") == 20);
    char buf[64];
    const char *c = strstr(out, "\"name\": \"C1.0\"");
    assert_non_null(c);
    assert_string_equal(json_str_val(c, "layout", buf, sizeof buf), "NCHW");
    json_str_val(c, "kernel", buf, sizeof buf);
    if (ref ? strcmp(buf, "ref") : strncmp(buf, "cpu", 3)) fail_msg("C1.0 kernel '%s'", buf);
    /* bytes: input 2x1x32x32 + output 2x6x28x28 + weight 6x1x5x5 + bias 6, as floats */
    assert_true(json_num(c, "bytes") == 4.0 * (2048 + 9408 + 150 + 6));
    double ms = json_num(c, "forward_ms"), gbps = json_num(c, "forward_gbps");
    assert_true(ms > 0);
    assert_true(fabs(gbps - 46448.0 / (ms * 1e-3) / 1e9) <= 0.01 * gbps + 0.002);
    /* 2*117600*2 FLOPs over 46448 bytes = 10.1 FLOP/byte, above 50/20: bound by the peak */
    assert_string_equal(json_str_val(c, "limit", buf, sizeof buf), "peak");
    assert_true(fabs(json_num(c, "limit_pct") - 2.0 * json_num(c, "forward_gflops")) < 0.02);
    /* max pooling does no multiply-adds: bound by memory, its share of --stream */
    const char *p = strstr(out, "\"op\": \"maxpool2d\"");
    assert_non_null(p);
    assert_string_equal(json_str_val(p, "limit", buf, sizeof buf), "STREAM");
    assert_true(fabs(json_num(p, "limit_pct") - 5.0 * json_num(p, "forward_gbps")) < 0.02);
    assert_string_equal(json_str_val(p, "kernel", buf, sizeof buf), "ops");
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_not_equal(run(true, "%s bench nosuchmodel --iters 1", g_bin), 0);
    assert_non_null(strstr(out, "nosuchmodel"));
    assert_int_equal(run(true, "%s bench lenet --iters 0", g_bin), 2);
    assert_int_equal(run(true, "%s bench lenet --stream -1", g_bin), 2);
    assert_non_null(strstr(out, "--stream"));
    assert_int_equal(run(true, "%s bench", g_bin), 2);
    assert_non_null(strstr(out, "usage"));
    assert_int_equal(run(true, "%s bench lenet --input 1x2", g_bin), 2);
    assert_int_not_equal(run(true, "%s bench lenet --backend nosuch --iters 1", g_bin), 0);
    assert_non_null(strstr(out, "nosuch"));
    assert_int_equal(run(true, "%s help bench", g_bin), 0);
    assert_non_null(strstr(out, "--layers"));
}

int main(void)
{
    g_bin = getenv("CNN_BIN");
    if (!g_bin) {
        fprintf(stderr, "CNN_BIN is not set (run through ctest)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_inference),
        cmocka_unit_test(test_json_train_batch),
        cmocka_unit_test(test_layers_train),
        cmocka_unit_test(test_layers_inference),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

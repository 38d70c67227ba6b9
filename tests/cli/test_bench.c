/* cnn bench end to end: the JSON object's keys and values (no timing assertions), the
   --train --layers table (conv layers listed, per-op totals), and usage errors. */
#include <stdio.h>
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

static void test_errors(void **state)
{
    (void)state;
    assert_int_not_equal(run(true, "%s bench nosuchmodel --iters 1", g_bin), 0);
    assert_non_null(strstr(out, "nosuchmodel"));
    assert_int_equal(run(true, "%s bench lenet --iters 0", g_bin), 2);
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
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

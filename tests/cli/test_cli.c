/* The cnn program end to end: train on a small IDX dataset written here, eval,
   predict, features, summary, forward, and clear failures on bad input. */
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

static void test_help_and_models(void **state)
{
    (void)state;
    assert_int_equal(run(out, sizeof out, "%s help", g_bin), 0);
    assert_non_null(strstr(out, "train"));
    assert_int_equal(run(out, sizeof out, "%s train --help", g_bin), 0);
    assert_non_null(strstr(out, "--epochs"));
    assert_int_equal(run(out, sizeof out, "%s models", g_bin), 0);
    assert_non_null(strstr(out, "lenet"));
    assert_int_not_equal(run(out, sizeof out, "%s frobnicate", g_bin), 0);
    assert_non_null(strstr(out, "unknown command"));
}

static void test_summary(void **state)
{
    (void)state;
    assert_int_equal(run(out, sizeof out, "%s summary lenet", g_bin), 0);
    assert_non_null(strstr(out, "(1, 6, 28, 28)"));
    assert_non_null(strstr(out, "61706 parameters"));
    assert_int_equal(run(out, sizeof out, "%s summary lenet --json", g_bin), 0);
    assert_non_null(strstr(out, "\"params\": 61706"));
    assert_non_null(strstr(out, "\"macs\": "));
    assert_int_not_equal(run(out, sizeof out, "%s summary nosuchnet", g_bin), 0);
    assert_non_null(strstr(out, "nosuchnet"));
    assert_int_not_equal(run(out, sizeof out, "%s summary lenet --input 1x4x4", g_bin), 0);
    assert_non_null(strstr(out, "lenet"));
}

static void test_train_eval_predict_features(void **state)
{
    (void)state;
    tu_write_idx(g_dir, "train", 640, 1);
    tu_write_idx(g_dir, "t10k", 128, 2);
    int rc = run(out, sizeof out,
                 "%s train lenet_relu --data idx:. --resize 32 --epochs 3 --batch 32 --optimizer adam --lr 0.003 "
                 "--out m.safetensors --log log.csv --plot curves.svg --seed 3",
                 g_bin);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "epoch"));
    char p[256];
    snprintf(p, sizeof p, "%s/m.safetensors", g_dir);
    assert_int_equal(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/log.csv", g_dir);
    assert_int_equal(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/curves.svg", g_dir);
    assert_int_equal(access(p, R_OK), 0);

    rc = run(out, sizeof out, "%s eval m.safetensors --data idx:.", g_bin);
    printf("%s", out);
    assert_int_equal(rc, 0);
    double oa = 0;
    const char *a = strstr(out, "accuracy (OA) ");
    assert_non_null(a);
    sscanf(a + strlen("accuracy (OA) "), "%lf", &oa);
    assert_true(oa > 0.9);
    assert_non_null(strstr(out, "confusion matrix"));

    if (!TU_HAVE_PNG) {
        /* predict / features on a PNG in a build without libpng: the library's error */
        static const uint8_t head[12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
        snprintf(p, sizeof p, "%s/three.png", g_dir);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(head, 1, sizeof head, f), sizeof head);
        fclose(f);
        assert_int_not_equal(run(out, sizeof out, "%s predict m.safetensors three.png", g_bin), 0);
        assert_non_null(strstr(out, "not built with libpng"));
        tu_skipped_feature("libpng (predict and features on images)");
    } else {
        /* an image of class 3 (bottom-right square) */
        uint8_t img[784];
        memset(img, 20, sizeof img);
        for (int y = 17; y < 25; y++)
            for (int x = 17; x < 25; x++) img[y * 28 + x] = 250;
        snprintf(p, sizeof p, "%s/three.png", g_dir);
        TU_OK(cnn_png_write(p, 28, 28, 1, img));
        rc = run(out, sizeof out, "%s predict m.safetensors three.png", g_bin);
        printf("%s", out);
        assert_int_equal(rc, 0);
        assert_non_null(strstr(out, "1. class 3"));

        /* the first conv layer's name, from --list */
        assert_int_equal(run(out, sizeof out, "%s features m.safetensors --list", g_bin), 0);
        char layer[128] = "";
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            char name[128], op[64];
            if (sscanf(line, "%127s %63s", name, op) == 2 && strcmp(op, "conv2d") == 0) {
                snprintf(layer, sizeof layer, "%s", name);
                break;
            }
        }
        assert_true(layer[0] != '\0');
        rc = run(out, sizeof out, "%s features m.safetensors three.png --layer %s --out maps", g_bin, layer);
        printf("%s", out);
        assert_int_equal(rc, 0);
        assert_non_null(strstr(out, "6 feature maps of 28x28"));
        snprintf(p, sizeof p, "%s/maps/%s.png", g_dir, layer);
        assert_int_equal(access(p, R_OK), 0);
        assert_int_not_equal(run(out, sizeof out, "%s features m.safetensors three.png --layer nope", g_bin), 0);
        assert_non_null(strstr(out, "nope"));
    }

    /* resume continues from the saved epoch */
    rc = run(out, sizeof out,
             "%s train lenet_relu --data idx:. --resize 32 --epochs 4 --batch 32 --optimizer adam --lr 0.003 "
             "--out m.safetensors --resume m.safetensors --seed 3 --quiet",
             g_bin);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_null(strstr(out, "\n    1 "));
    assert_non_null(strstr(out, "\n    4 "));
}

static void test_bad_input(void **state)
{
    (void)state;
    /* missing data, truncated dataset, corrupt checkpoint: clear errors, no crash */
    assert_int_not_equal(run(out, sizeof out, "%s train lenet --data idx:/nonexistent", g_bin), 0);
    assert_non_null(strstr(out, "nonexistent"));
    char p[256];
    snprintf(p, sizeof p, "%s/bad", g_dir);
    mkdir(p, 0755);
    tu_write_idx(g_dir, "bad/train", 10, 1);
    snprintf(p, sizeof p, "%s/bad/train-images-idx3-ubyte", g_dir);
    assert_int_equal(truncate(p, 16 + 784 * 5), 0);
    assert_int_not_equal(run(out, sizeof out, "%s train lenet --data idx:bad", g_bin), 0);
    assert_non_null(strstr(out, "train-images-idx3-ubyte"));
    snprintf(p, sizeof p, "%s/corrupt.safetensors", g_dir);
    FILE *f = fopen(p, "wb");
    fputs("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", f);
    fclose(f);
    int rc = run(out, sizeof out, "%s eval corrupt.safetensors --data idx:.", g_bin);
    assert_true(rc == 1);
    assert_non_null(strstr(out, "corrupt.safetensors"));
    assert_int_not_equal(run(out, sizeof out, "%s train lenet --data idx:. --epochs x", g_bin), 0);
    assert_non_null(strstr(out, "--epochs"));
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("CNN_BIN");
    if (!g_bin) return -1;
    snprintf(g_dir, sizeof g_dir, "/tmp/cnn-cli-XXXXXX");
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
        cmocka_unit_test(test_help_and_models),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_train_eval_predict_features),
        cmocka_unit_test(test_bad_input),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}

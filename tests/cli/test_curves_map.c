/* Curves with points inside the epoch (train --points N with --log / --plot, as d2l's
   Animator draws them) and hsi-map --mask-unlabelled. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[64];
static const char *g_bin;
static char out[1 << 16];

static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tu_vrun(out, sizeof out, g_dir, 0, fmt, ap);
    va_end(ap);
    return rc;
}

/* 64 examples in batches of 16: 4 batches an epoch, --points 4 gives a point after
   each (x = 0.25, 0.5, ...), the test accuracy on the epoch's last point only. */
static void test_points_inside_epoch(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    tu_write_idx(g_dir, "train", 64, 1);
    tu_write_idx(g_dir, "t10k", 16, 2);
    int rc = run("%s train lenet_relu --data idx:. --epochs 2 --batch 16 --points 4 --log c.csv "
                 "--plot c.svg --quiet",
                 g_bin);
    printf("%s", out);
    assert_int_equal(rc, 0);
    char p[256];
    snprintf(p, sizeof p, "%s/c.csv", g_dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "epoch,train_loss,train_acc,test_acc\n");
    int rows = 0, with_test = 0;
    while (fgets(line, sizeof line, f)) {
        double x = 0, loss = 0, acc = 0;
        int k = sscanf(line, "%lf,%lf,%lf", &x, &loss, &acc);
        assert_int_equal(k, 3);
        rows++;
        assert_true(fabs(x - 0.25 * rows) < 1e-6);
        assert_true(loss > 0 && acc >= 0 && acc <= 1);
        const char *last = strrchr(line, ',');
        bool test = last[1] != '\n' && last[1] != '\0';
        with_test += test;
        /* test accuracy once per epoch, at x = 1 and 2 */
        assert_true(test == (rows % 4 == 0));
    }
    fclose(f);
    assert_int_equal(rows, 8);
    assert_int_equal(with_test, 2);
    snprintf(p, sizeof p, "%s/c.svg", g_dir);
    f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    assert_non_null(strstr(out, "<polyline"));
    assert_non_null(strstr(out, "test acc"));
    /* PNG too, and the flag needs somewhere to draw */
    assert_int_equal(run("%s train lenet_relu --data idx:. --epochs 1 --batch 16 --points 2 --plot c.png "
                         "--quiet",
                         g_bin),
                     0);
    snprintf(p, sizeof p, "%s/c.png", g_dir);
    assert_int_equal(access(p, R_OK), 0);
    assert_int_equal(run("%s train lenet_relu --data idx:. --epochs 1 --points 2", g_bin), 2);
    assert_non_null(strstr(out, "--points"));
}

/* the library call: points with NaN series values, a fractional x axis */
static void test_plot_points(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    cnn_curve_point pts[5] = {
        {0.5, 2.0, 0.3, NAN}, {1.0, 1.5, 0.5, 0.55}, {1.5, 1.0, 0.7, NAN}, {2.0, 0.8, 0.8, 0.75},
        {2.5, 0.7, 0.82, NAN},
    };
    char p[256];
    snprintf(p, sizeof p, "%s/pts.svg", g_dir);
    TU_OK(cnn_plot_points(p, pts, 5));
    snprintf(p, sizeof p, "%s/pts.png", g_dir);
    TU_OK(cnn_plot_points(p, pts, 5));
    int c, h, w;
    TU_OK(cnn_image_info(p, &c, &h, &w));
    assert_int_equal(c, 3);
    snprintf(p, sizeof p, "%s/pts.txt", g_dir);
    assert_int_equal(cnn_plot_points(p, pts, 5), CNN_ERR_INVALID_ARG);
}

/* hsi-map --mask-unlabelled: the predicted map is black exactly where the ground truth
   is (an untrained network predicts some class everywhere without it). */
static void test_hsi_map_mask(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG && TU_HAVE_MATIO, "libpng and matio");
    cnn_hsi_synth_opts so = {.height = 20, .width = 20, .bands = 20, .classes = 4, .seed = 3};
    TU_OK(cnn_hsi_synth_write(g_dir, &so));
    cnn_model m;
    TU_OK(cnn_model_new("hybridsn", &(cnn_model_opts){.depth = 13, .height = 9, .width = 9, .classes = 4},
                        0.0f, &m));
    TU_OK(cnn_graph_compile(m.g, 1));
    char p[256];
    snprintf(p, sizeof p, "%s/hsn.safetensors", g_dir);
    TU_OK(cnn_checkpoint_save(&m, NULL, 1, p));
    cnn_model_free(&m);
    const int W = 2 * 20 + 4, H = 20;
    static float img[3 * 20 * 44];
    long masked_black = 0, unlabelled = 0, unmasked_colour = 0;
    for (int pass = 0; pass < 2; pass++) {
        int rc = run("%s hsi-map hsn.safetensors --data hsi:synthetic.mat --out map%d.png%s", g_bin, pass,
                     pass ? " --mask-unlabelled" : "");
        printf("%s", out);
        assert_int_equal(rc, 0);
        if (pass) assert_non_null(strstr(out, "unlabelled masked"));
        snprintf(p, sizeof p, "%s/map%d.png", g_dir, pass);
        TU_OK(cnn_image_load(p, 3, H, W, img));
        for (int y = 0; y < H; y++)
            for (int x = 0; x < 20; x++) {
                size_t pr = (size_t)y * W + x, gt = (size_t)y * W + x + 24, plane = (size_t)H * W;
                bool gt_black = img[gt] + img[gt + plane] + img[gt + 2 * plane] == 0.0f;
                bool pr_black = img[pr] + img[pr + plane] + img[pr + 2 * plane] == 0.0f;
                if (!gt_black) {
                    assert_false(pr_black); /* labelled pixels keep their prediction */
                    continue;
                }
                if (pass) {
                    unlabelled++;
                    masked_black += pr_black;
                } else {
                    unmasked_colour += !pr_black;
                }
            }
    }
    printf("  %ld unlabelled pixels: %ld black with the mask, %ld coloured without\n", unlabelled,
           masked_black, unmasked_colour);
    assert_true(unlabelled > 0);
    assert_int_equal(masked_black, unlabelled);
    assert_int_equal(unmasked_colour, unlabelled);
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("CNN_BIN");
    if (!g_bin) return -1;
    const char *base = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/cnn-curves-XXXXXX", base && *base ? base : "/tmp");
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
        cmocka_unit_test(test_points_inside_epoch),
        cmocka_unit_test(test_plot_points),
        cmocka_unit_test(test_hsi_map_mask),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}

/* The training curves' content (cnn_plot_curves): in the SVG, one polyline per series
   (train loss, train acc, test acc) with one point per epoch, x evenly spaced and
   increasing, y an affine function of the value shared by all series (a larger value
   higher up); in the PNG, each series' colour drawn, and the curves going the way the
   values go (a falling loss: its pixels higher on the left; rising accuracies: lower
   on the left). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static const cnn_epoch_stats S[4] = {
    {1, 2.0, 0.30, 0.25, 100, 1, 0.1f},
    {2, 1.2, 0.55, 0.50, 100, 1, 0.1f},
    {3, 0.8, 0.70, 0.62, 100, 1, 0.1f},
    {4, 0.5, 0.85, 0.70, 100, 1, 0.1f},
};

static double value(int k, int e) { return k == 0 ? S[e].train_loss : k == 1 ? S[e].train_acc : S[e].test_acc; }

static void tmp(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "/tmp/cnn_plot_%ld_%s", (long)getpid(), name);
}

static void test_svg_points(void **state)
{
    (void)state;
    char p[256];
    tmp(p, sizeof p, "c.svg");
    TU_OK(cnn_plot_curves(p, S, 4));
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    static char svg[1 << 16];
    size_t n = fread(svg, 1, sizeof svg - 1, f);
    svg[n] = '\0';
    fclose(f);
    remove(p);
    double x[3][4], y[3][4];
    const char *q = svg;
    for (int k = 0; k < 3; k++) {
        q = strstr(q, "<polyline");
        assert_non_null(q);
        q = strstr(q, "points=\"");
        assert_non_null(q);
        q += strlen("points=\"");
        for (int e = 0; e < 4; e++) {
            int used = 0;
            if (sscanf(q, "%lf,%lf %n", &x[k][e], &y[k][e], &used) != 2) fail_msg("series %d: %d points, want 4", k, e);
            q += used;
        }
        assert_true(*q == '"'); /* exactly 4 points */
    }
    /* x: the same evenly spaced increasing positions in every series */
    double dx = x[0][1] - x[0][0];
    assert_true(dx > 10);
    for (int k = 0; k < 3; k++)
        for (int e = 0; e < 4; e++) assert_true(fabs(x[k][e] - (x[0][0] + e * dx)) < 0.11);
    /* y = a - b * value with one (a, b), b > 0, for all 12 points (to the 0.1 px printed) */
    double b = (y[0][3] - y[0][0]) / (value(0, 0) - value(0, 3)), a = y[0][0] + b * value(0, 0);
    assert_true(b > 50);
    for (int k = 0; k < 3; k++)
        for (int e = 0; e < 4; e++)
            if (fabs(y[k][e] - (a - b * value(k, e))) > 0.11)
                fail_msg("series %d epoch %d: y %.1f, want %.2f", k, e + 1, y[k][e], a - b * value(k, e));
}

static void test_png_curves(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    static const unsigned char RGB[3][3] = {{0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}};
    char p[256];
    tmp(p, sizeof p, "c.png");
    TU_OK(cnn_plot_curves(p, S, 4));
    int c, h, w;
    TU_OK(cnn_image_info(p, &c, &h, &w));
    assert_int_equal(c, 3);
    float *img = malloc((size_t)3 * h * w * sizeof *img);
    TU_OK(cnn_image_load(p, 3, h, w, img));
    remove(p);
    for (int k = 0; k < 3; k++) {
        int count = 0, xmin = w, xmax = -1;
        for (int pass = 0; pass < 2; pass++) {
            double ysum[3] = {0}, cnt[3] = {0};
            for (int yy = 0; yy < h; yy++)
                for (int xx = 0; xx < w; xx++) {
                    bool hit = true;
                    for (int ch = 0; ch < 3; ch++)
                        hit &= (int)lroundf(255.0f * img[(size_t)ch * h * w + (size_t)yy * w + xx]) == RGB[k][ch];
                    if (!hit) continue;
                    if (pass == 0) {
                        count++;
                        xmin = xx < xmin ? xx : xmin;
                        xmax = xx > xmax ? xx : xmax;
                    } else {
                        int third = (int)(3.0 * (xx - xmin) / (xmax - xmin + 1));
                        ysum[third] += yy;
                        cnt[third]++;
                    }
                }
            if (pass == 1) {
                /* the left third is the curve's start, the middle third its middle (the
                   legend sits in the right third) */
                assert_true(cnt[0] > 10 && cnt[1] > 10);
                double left = ysum[0] / cnt[0], mid = ysum[1] / cnt[1];
                if (k == 0) assert_true(left < mid - 5); /* falling loss: starts higher */
                else assert_true(left > mid + 5);        /* rising accuracy: starts lower */
            }
        }
        assert_true(count > 100);
    }
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svg_points),
        cmocka_unit_test(test_png_curves),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

/* Image folders (src/data/folder.c): classes and files in sorted order, mixed PNG/JPEG
   resized to the first image's size or to a given size, train/test sub-folders, and
   errors (empty class, no classes, broken image). */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <sys/stat.h>

#include "datatest.h"

static char g_dir[512];

static int setup(void **state)
{
    (void)state;
    dt_mkdtemp(g_dir, sizeof g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_rmtree(g_dir);
    return 0;
}

static void mkdirs(const char *root, const char *sub)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, sub);
    assert_int_equal(mkdir(p, 0755), 0);
}

/* A w x h PNG whose pixels all equal v (gray) or (v, v/2, 255-v) (colour). */
static void flat_png(const char *root, const char *name, int w, int h, int ch, int v)
{
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    uint8_t px[64 * 64 * 3];
    for (int i = 0; i < w * h; i++)
        for (int k = 0; k < ch; k++) px[i * ch + k] = (uint8_t)(k == 0 ? v : k == 1 ? v / 2 : 255 - v);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, name);
    TU_OK(cnn_png_write(p, w, h, ch, px));
}

static void test_folder(void **state)
{
    (void)state;
    char root[700];
    snprintf(root, sizeof root, "%s/f", g_dir);
    assert_int_equal(mkdir(root, 0755), 0);
    mkdirs(root, "dog");
    mkdirs(root, "cat");
    mkdirs(root, ".hidden");
    flat_png(root, "cat/b.png", 6, 4, 3, 100);
    flat_png(root, "cat/a.PNG", 6, 4, 3, 50); /* first image: 3 x 4 x 6 */
    flat_png(root, "dog/z.png", 12, 8, 1, 200);
    flat_png(root, ".hidden/q.png", 3, 3, 1, 1);
    dt_write(dt_path(root, "cat/notes.txt"), "x", 1);
    dt_write(dt_path(root, "readme.txt"), "x", 1);

    /* a gradient image, to check the resize */
    uint8_t grad[8 * 12];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 12; x++) grad[y * 12 + x] = (uint8_t)(x * 20 + y * 3);
    TU_OK(cnn_png_write(dt_path(root, "dog/y.png"), 12, 8, 1, grad));

    cnn_dataset d;
    TU_OK(cnn_dataset_open_folder(root, 0, 0, 0, &d));
    assert_int_equal(d.n, 4);
    assert_int_equal(d.classes, 2);
    assert_int_equal(d.c, 3);
    assert_int_equal(d.d, 0);
    assert_int_equal(d.h, 4);
    assert_int_equal(d.w, 6);
    assert_string_equal(d.class_names[0], "cat");
    assert_string_equal(d.class_names[1], "dog");
    const int labels[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) assert_int_equal(d.labels[i], labels[i]);
    const size_t m = 3 * 4 * 6;
    /* a.PNG, b.png (sorted), then dog/y.png, dog/z.png */
    assert_int_equal(d.u8[0], 50);
    assert_int_equal(d.u8[m / 3], 25);
    assert_int_equal(d.u8[2 * m / 3], 205);
    assert_int_equal(d.u8[m], 100);
    assert_int_equal(d.u8[3 * m + 5], 200);      /* flat: any resize keeps it */
    assert_int_equal(d.u8[3 * m + m / 3], 200); /* gray replicated */
    /* y.png halved: the mean of each 2x2 block, rounded to a byte */
    float half[4 * 6], src[8 * 12];
    for (int i = 0; i < 96; i++) src[i] = grad[i] / 255.0f;
    cnn_resize_bilinear(src, 1, 8, 12, half, 4, 6);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 24; i++) {
            int y = i / 6, x = i % 6;
            double mean = (grad[2 * y * 12 + 2 * x] + grad[2 * y * 12 + 2 * x + 1] +
                           grad[(2 * y + 1) * 12 + 2 * x] + grad[(2 * y + 1) * 12 + 2 * x + 1]) / 4.0;
            assert_int_equal(d.u8[2 * m + (size_t)k * 24 + i], (int)lrint(mean));
        }
    assert_non_null(strstr(d.source, root));
    cnn_dataset_free(&d);

    /* explicit size and channels */
    TU_OK(cnn_dataset_open_folder(root, 1, 2, 3, &d));
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 2);
    assert_int_equal(d.w, 3);
    /* luminance of (50, 25, 205) */
    assert_int_equal(d.u8[0], (int)lrint(0.299 * 50 + 0.587 * 25 + 0.114 * 205));
    cnn_dataset_free(&d);

    /* via the spec */
    char spec[800];
    snprintf(spec, sizeof spec, "folder:%s", root);
    TU_OK(cnn_dataset_open(spec, true, &d));
    assert_int_equal(d.n, 4);
    cnn_dataset_free(&d);
    DT_FAILS(cnn_dataset_open_folder(root, 2, 0, 0, &d), CNN_ERR_INVALID_ARG, "channels must be 0, 1 or 3");
}

static void test_splits(void **state)
{
    (void)state;
    char root[700], tr[800], te[800];
    snprintf(root, sizeof root, "%s/s", g_dir);
    assert_int_equal(mkdir(root, 0755), 0);
    mkdirs(root, "train");
    mkdirs(root, "val");
    snprintf(tr, sizeof tr, "%s/train", root);
    snprintf(te, sizeof te, "%s/val", root);
    mkdirs(tr, "a");
    mkdirs(tr, "b");
    mkdirs(te, "a");
    mkdirs(te, "b");
    flat_png(tr, "a/1.png", 5, 5, 3, 10);
    flat_png(tr, "b/1.png", 5, 5, 3, 20);
    flat_png(tr, "b/2.png", 5, 5, 3, 30);
    flat_png(te, "a/1.png", 9, 7, 1, 40); /* takes the train split's 3 x 5 x 5 */
    flat_png(te, "b/1.png", 9, 7, 1, 50);
    char spec[800];
    snprintf(spec, sizeof spec, "folder:%s", root);
    cnn_dataset d;
    TU_OK(cnn_dataset_open(spec, true, &d));
    assert_int_equal(d.n, 3);
    assert_int_equal(d.labels[2], 1);
    cnn_dataset_free(&d);
    TU_OK(cnn_dataset_open(spec, false, &d));
    assert_int_equal(d.n, 2);
    assert_int_equal(d.c, 3);
    assert_int_equal(d.h, 5);
    assert_int_equal(d.w, 5);
    assert_int_equal(d.u8[5 * 5 * 3 + 7], 50);
    cnn_dataset_free(&d);
}

static void test_errors(void **state)
{
    (void)state;
    char root[700];
    cnn_dataset d;
    snprintf(root, sizeof root, "%s/e", g_dir);
    DT_FAILS(cnn_dataset_open_folder(root, 0, 0, 0, &d), CNN_ERR_IO, "no such folder");
    assert_int_equal(mkdir(root, 0755), 0);
    DT_FAILS(cnn_dataset_open_folder(root, 0, 0, 0, &d), CNN_ERR_FORMAT, "no class sub-folders");
    mkdirs(root, "a");
    mkdirs(root, "b");
    flat_png(root, "a/1.png", 4, 4, 3, 10);
    DT_FAILS(cnn_dataset_open_folder(root, 0, 0, 0, &d), CNN_ERR_FORMAT,
             "class folder 'b' holds no PNG/JPEG images");
    const char *junk = "not really a jpeg";
    dt_write(dt_path(root, "b/broken.jpg"), junk, strlen(junk));
    DT_FAILS(cnn_dataset_open_folder(root, 0, 0, 0, &d), CNN_ERR_FORMAT, "broken.jpg: not a PNG or JPEG");
    assert_null(d.u8);
    flat_png(root, "b/broken.jpg", 4, 4, 3, 10); /* PNG content, .jpg name: fine */

    int failures = 0;
    for (long k = 1; k < 200; k++) {
        cnn_alloc_fail_after(k);
        cnn_status s = cnn_dataset_open_folder(root, 0, 0, 0, &d);
        cnn_alloc_fail_after(0);
        if (s == CNN_OK) {
            assert_int_equal(d.n, 2);
            cnn_dataset_free(&d);
            break;
        }
        assert_int_equal(s, CNN_ERR_NOMEM);
        failures++;
    }
    assert_true(failures >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder),
        cmocka_unit_test(test_splits),
        cmocka_unit_test(test_errors),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}

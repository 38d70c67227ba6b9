/* Images (src/data/image.c): PNG written by cnn_png_write and by libpng, JPEG written
   by libjpeg, loaded back with channel conversion and resizing; the bilinear resize
   against a naive align_corners=False reference and known torch values; errors and
   truncated files. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include <stdio.h>

#ifdef CNN_HAVE_JPEG
#include <jpeglib.h>
#endif
#ifdef CNN_HAVE_PNG
#include <png.h>
#endif

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

/* Naive torch.nn.functional.interpolate(mode="bilinear", align_corners=False), in
   double: source coordinate (o + 0.5) * in / out - 0.5, negative clamped to 0, the
   upper neighbour clamped to the last pixel. */
static void naive_resize(const float *src, int c, int h, int w, float *dst, int oh, int ow)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                double sy = (y + 0.5) * h / oh - 0.5, sx = (x + 0.5) * w / ow - 0.5;
                if (sy < 0) sy = 0;
                if (sx < 0) sx = 0;
                int y0 = (int)floor(sy), x0 = (int)floor(sx);
                int y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
                double ly = sy - y0, lx = sx - x0;
                const float *s = src + (size_t)ch * h * w;
                double v = (1 - ly) * ((1 - lx) * s[y0 * w + x0] + lx * s[y0 * w + x1]) +
                           ly * ((1 - lx) * s[y1 * w + x0] + lx * s[y1 * w + x1]);
                dst[((size_t)ch * oh + y) * ow + x] = (float)v;
            }
}

static void test_resize(void **state)
{
    (void)state;
    /* torch: F.interpolate(tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode="bilinear") */
    const float src[4] = {0, 1, 2, 3};
    const float want[16] = {0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.75f, 1.25f, 1.5f,
                            1.5f, 1.75f, 2.25f, 2.5f, 2.0f, 2.25f, 2.75f, 3.0f};
    float out[16];
    cnn_resize_bilinear(src, 1, 2, 2, out, 4, 4);
    TU_ASSERT_CLOSE(out, want, 16, 1e-6f, 0, "torch 2x2 -> 4x4");

    /* Halving is the mean of each 2x2 block (source points fall between pixels). */
    float big[2 * 6 * 8], half[2 * 3 * 4], mean[2 * 3 * 4];
    cnn_rng rng;
    cnn_rng_seed(&rng, 7);
    tu_fill(big, 2 * 6 * 8, -1, 1, &rng);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++) {
                const float *b = big + c * 48;
                mean[(c * 3 + y) * 4 + x] = (b[(2 * y) * 8 + 2 * x] + b[(2 * y) * 8 + 2 * x + 1] +
                                             b[(2 * y + 1) * 8 + 2 * x] + b[(2 * y + 1) * 8 + 2 * x + 1]) / 4;
            }
    cnn_resize_bilinear(big, 2, 6, 8, half, 3, 4);
    TU_ASSERT_CLOSE(half, mean, 24, 1e-6f, 1e-6f, "halving = 2x2 mean");

    /* Sizes up, down, mixed and to/from one pixel; float vs double: 1e-5. */
    const int sizes[][4] = {{7, 5, 11, 3}, {28, 28, 96, 96}, {32, 32, 17, 9}, {1, 1, 3, 4},
                            {5, 6, 1, 1},  {3, 3, 3, 3},     {10, 1, 4, 7}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int h = sizes[k][0], w = sizes[k][1], oh = sizes[k][2], ow = sizes[k][3], c = 3;
        float *a = malloc(sizeof(float) * c * h * w), *r = malloc(sizeof(float) * c * oh * ow),
              *e = malloc(sizeof(float) * c * oh * ow);
        tu_fill(a, (size_t)c * h * w, 0, 1, &rng);
        cnn_resize_bilinear(a, c, h, w, r, oh, ow);
        naive_resize(a, c, h, w, e, oh, ow);
        char what[64];
        snprintf(what, sizeof what, "resize %dx%d -> %dx%d", h, w, oh, ow);
        TU_ASSERT_CLOSE(r, e, (size_t)c * oh * ow, 1e-5f, 1e-5f, what);
        free(a);
        free(r);
        free(e);
    }
}

static uint8_t rgb_at(int y, int x, int k) { return (uint8_t)(y * 40 + x * 23 + k * 71 + 5); }

static void test_png(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    enum { H = 4, W = 5 };
    uint8_t rgb[H * W * 3], gray[H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            for (int k = 0; k < 3; k++) rgb[(y * W + x) * 3 + k] = rgb_at(y, x, k);
            gray[y * W + x] = (uint8_t)(y * 60 + x * 11);
        }
    char prgb[1024], pgray[1024];
    snprintf(prgb, sizeof prgb, "%s", dt_path(g_dir, "rgb.png"));
    snprintf(pgray, sizeof pgray, "%s", dt_path(g_dir, "gray.png"));
    TU_OK(cnn_png_write(prgb, W, H, 3, rgb));
    TU_OK(cnn_png_write(pgray, W, H, 1, gray));
    /* atomic write leaves no temporary behind */
    DIR *dp = opendir(g_dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(dp))) files += e->d_name[0] != '.';
    closedir(dp);
    assert_int_equal(files, 2);

    int c, h, w;
    TU_OK(cnn_image_info(prgb, &c, &h, &w));
    assert_int_equal(c, 3);
    assert_int_equal(h, H);
    assert_int_equal(w, W);
    TU_OK(cnn_image_info(pgray, &c, &h, &w));
    assert_int_equal(c, 1);

    float out[3 * H * W], want[3 * H * W];
    /* RGB as CHW, exact */
    TU_OK(cnn_image_load(prgb, 3, H, W, out));
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < H * W; i++) want[k * H * W + i] = rgb[i * 3 + k] / 255.0f;
    TU_ASSERT_CLOSE(out, want, 3 * H * W, 1e-7f, 0, "png rgb");
    /* RGB -> luminance (ITU-R 601-2) */
    TU_OK(cnn_image_load(prgb, 1, H, W, out));
    for (int i = 0; i < H * W; i++)
        want[i] = (float)(0.299 * rgb[i * 3] / 255.0 + 0.587 * rgb[i * 3 + 1] / 255.0 +
                          0.114 * rgb[i * 3 + 2] / 255.0);
    TU_ASSERT_CLOSE(out, want, H * W, 1e-6f, 1e-6f, "png rgb -> gray");
    /* gray exact, and replicated to three channels */
    TU_OK(cnn_image_load(pgray, 1, H, W, out));
    for (int i = 0; i < H * W; i++) want[i] = gray[i] / 255.0f;
    TU_ASSERT_CLOSE(out, want, H * W, 1e-7f, 0, "png gray");
    TU_OK(cnn_image_load(pgray, 3, H, W, out));
    for (int k = 0; k < 3; k++) TU_ASSERT_CLOSE(out + k * H * W, want, H * W, 1e-7f, 0, "png gray -> rgb");

    /* resized on load = resize of the exact values */
    float big[3 * 9 * 7], ref[3 * 9 * 7], exact[3 * H * W];
    TU_OK(cnn_image_load(prgb, 3, H, W, exact));
    TU_OK(cnn_image_load(prgb, 3, 9, 7, big));
    naive_resize(exact, 3, H, W, ref, 9, 7);
    TU_ASSERT_CLOSE(big, ref, 3 * 9 * 7, 1e-5f, 1e-5f, "png resized");

#ifdef CNN_HAVE_PNG
    /* RGBA written by libpng directly: alpha is dropped, colours kept */
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 2;
    pi.height = 1;
    pi.format = PNG_FORMAT_RGBA;
    const uint8_t rgba[8] = {200, 100, 50, 0, 10, 20, 30, 128};
    assert_true(png_image_write_to_file(&pi, dt_path(g_dir, "rgba.png"), 0, rgba, 0, NULL));
    TU_OK(cnn_image_load(dt_path(g_dir, "rgba.png"), 3, 1, 2, out));
    const float want_rgba[6] = {200 / 255.0f, 10 / 255.0f, 100 / 255.0f, 20 / 255.0f, 50 / 255.0f, 30 / 255.0f};
    TU_ASSERT_CLOSE(out, want_rgba, 6, 1e-7f, 0, "png rgba");
    /* asked for 4 channels: RGBA kept, alpha as the fourth plane */
    float out4[8];
    TU_OK(cnn_image_load(dt_path(g_dir, "rgba.png"), 4, 1, 2, out4));
    const float want4[8] = {200 / 255.0f, 10 / 255.0f, 100 / 255.0f, 20 / 255.0f,
                            50 / 255.0f,  30 / 255.0f, 0.0f,         128 / 255.0f};
    TU_ASSERT_CLOSE(out4, want4, 8, 1e-7f, 0, "png rgba -> 4");
    /* 2 channels from RGBA: luminance, alpha */
    TU_OK(cnn_image_load(dt_path(g_dir, "rgba.png"), 2, 1, 2, out4));
    const float want2[4] = {(float)(0.299 * 200 / 255.0 + 0.587 * 100 / 255.0 + 0.114 * 50 / 255.0),
                            (float)(0.299 * 10 / 255.0 + 0.587 * 20 / 255.0 + 0.114 * 30 / 255.0),
                            0.0f, 128 / 255.0f};
    TU_ASSERT_CLOSE(out4, want2, 4, 1e-6f, 1e-6f, "png rgba -> 2");
    /* the stored size still says 3 colour channels (alpha is optional input) */
    TU_OK(cnn_image_info(dt_path(g_dir, "rgba.png"), &c, &h, &w));
    assert_int_equal(c, 3);
    /* gray + alpha: 2 channels as stored, 4 as gray replicated + alpha, 1 drops alpha */
    pi.format = PNG_FORMAT_GA;
    const uint8_t ga[4] = {77, 255, 140, 3};
    assert_true(png_image_write_to_file(&pi, dt_path(g_dir, "ga.png"), 0, ga, 0, NULL));
    TU_OK(cnn_image_load(dt_path(g_dir, "ga.png"), 2, 1, 2, out4));
    const float want_ga[4] = {77 / 255.0f, 140 / 255.0f, 1.0f, 3 / 255.0f};
    TU_ASSERT_CLOSE(out4, want_ga, 4, 1e-7f, 0, "png gray+alpha -> 2");
    TU_OK(cnn_image_load(dt_path(g_dir, "ga.png"), 4, 1, 2, out4));
    const float want_ga4[8] = {77 / 255.0f, 140 / 255.0f, 77 / 255.0f, 140 / 255.0f,
                               77 / 255.0f, 140 / 255.0f, 1.0f,        3 / 255.0f};
    TU_ASSERT_CLOSE(out4, want_ga4, 8, 1e-7f, 0, "png gray+alpha -> 4");
    TU_OK(cnn_image_load(dt_path(g_dir, "ga.png"), 1, 1, 2, out4));
    TU_ASSERT_CLOSE(out4, want_ga, 2, 1e-7f, 0, "png gray+alpha -> 1");
#endif
    /* no alpha in the file: 4 channels get alpha 1 (PIL's convert("RGBA")) */
    float o4[4 * H * W];
    TU_OK(cnn_image_load(prgb, 4, H, W, o4));
    TU_ASSERT_CLOSE(o4, exact, 3 * H * W, 1e-7f, 0, "rgb -> 4 colour");
    for (int i = 0; i < H * W; i++) assert_true(o4[3 * H * W + i] == 1.0f);
    assert_int_equal(cnn_image_load(prgb, 5, H, W, o4), CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_error_message(), "4 (RGBA)"));

    /* overwrite replaces the file */
    memset(gray, 9, sizeof gray);
    TU_OK(cnn_png_write(pgray, W, H, 1, gray));
    TU_OK(cnn_image_load(pgray, 1, H, W, out));
    assert_true(out[7] == 9 / 255.0f);
}

/* A JPEG at quality 100 without chroma subsampling. */
static void write_jpeg(const char *path, int h, int w, int ch, const uint8_t *pix)
{
#ifndef CNN_HAVE_JPEG
    fail_msg("write_jpeg %s (%dx%dx%d %p): this build has no libjpeg", path, h, w, ch, (void *)pix);
#else
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = ch;
    ci.in_color_space = ch == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    for (int k = 0; k < ci.num_components; k++) ci.comp_info[k].h_samp_factor = ci.comp_info[k].v_samp_factor = 1;
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(pix + (size_t)ci.next_scanline * w * ch);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
#endif
}

static void test_jpeg(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_JPEG, "libjpeg");
    enum { H = 16, W = 24 };
    /* 8x8 blocks of one colour each: JPEG at q100 keeps them within a few levels */
    uint8_t rgb[H * W * 3], gray[H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            for (int k = 0; k < 3; k++) rgb[(y * W + x) * 3 + k] = rgb_at(y / 8, x / 8, k);
            gray[y * W + x] = (uint8_t)(40 + 70 * (y / 8) + 30 * (x / 8));
        }
    char pc[1024], pg[1024];
    snprintf(pc, sizeof pc, "%s", dt_path(g_dir, "c.jpg"));
    snprintf(pg, sizeof pg, "%s", dt_path(g_dir, "g.jpeg"));
    write_jpeg(pc, H, W, 3, rgb);
    write_jpeg(pg, H, W, 1, gray);
    int c, h, w;
    TU_OK(cnn_image_info(pc, &c, &h, &w));
    assert_int_equal(c, 3);
    assert_int_equal(h, H);
    assert_int_equal(w, W);
    TU_OK(cnn_image_info(pg, &c, &h, &w));
    assert_int_equal(c, 1);

    /* tolerance 3/255: q100 quantisation + YCbCr round trip of flat blocks */
    const float tol = 3.0f / 255.0f;
    float out[3 * H * W], want[3 * H * W];
    TU_OK(cnn_image_load(pc, 3, H, W, out));
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < H * W; i++) want[k * H * W + i] = rgb[i * 3 + k] / 255.0f;
    TU_ASSERT_CLOSE(out, want, 3 * H * W, tol, 0, "jpeg rgb");
    TU_OK(cnn_image_load(pc, 1, H, W, out));
    for (int i = 0; i < H * W; i++)
        want[i] = (0.299f * rgb[i * 3] + 0.587f * rgb[i * 3 + 1] + 0.114f * rgb[i * 3 + 2]) / 255.0f;
    TU_ASSERT_CLOSE(out, want, H * W, tol, 0, "jpeg rgb -> gray");
    TU_OK(cnn_image_load(pg, 3, H, W, out));
    for (int i = 0; i < H * W; i++) want[i] = gray[i] / 255.0f;
    for (int k = 0; k < 3; k++) TU_ASSERT_CLOSE(out + k * H * W, want, H * W, tol, 0, "jpeg gray");
    /* JPEG has no alpha: gray + alpha 1 for 2 channels */
    float o2[2 * H * W];
    TU_OK(cnn_image_load(pg, 2, H, W, o2));
    TU_ASSERT_CLOSE(o2, want, H * W, tol, 0, "jpeg gray -> 2");
    for (int i = 0; i < H * W; i++) assert_true(o2[H * W + i] == 1.0f);
    /* downscaled on load: each 8x8 block becomes one pixel of its colour */
    TU_OK(cnn_image_load(pg, 1, 2, 3, out));
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++) want[y * 3 + x] = (40 + 70 * y + 30 * x) / 255.0f;
    TU_ASSERT_CLOSE(out, want, 6, tol, 0, "jpeg resized");
}

/* A build without libpng / libjpeg still recognises the formats and says what it
   lacks (and leaves no file behind); one with them reads a header-only file as
   corrupt. */
static void test_not_built(void **state)
{
    (void)state;
    static const uint8_t png_head[12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    static const uint8_t jpeg_head[12] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1};
    float out[4];
    int c, h, w;
    char pp[1024], pj[1024], pw[1024];
    snprintf(pp, sizeof pp, "%s", dt_path(g_dir, "head.png"));
    snprintf(pj, sizeof pj, "%s", dt_path(g_dir, "head.jpg"));
    snprintf(pw, sizeof pw, "%s", dt_path(g_dir, "written.png"));
    dt_write(pp, png_head, sizeof png_head);
    cnn_status st = cnn_image_load(pp, 1, 2, 2, out);
    if (TU_HAVE_PNG)
        DT_FAILS(st, CNN_ERR_FORMAT, "head.png");
    else
        tu_expect_not_built(st, "libpng");
    dt_write(pj, jpeg_head, sizeof jpeg_head);
    st = cnn_image_info(pj, &c, &h, &w);
    if (TU_HAVE_JPEG)
        DT_FAILS(st, CNN_ERR_FORMAT, "head.jpg");
    else
        tu_expect_not_built(st, "libjpeg");
    const uint8_t px[4] = {1, 2, 3, 4};
    st = cnn_png_write(pw, 2, 2, 1, px);
    struct stat sb;
    if (TU_HAVE_PNG) {
        TU_OK(st);
        assert_int_equal(stat(pw, &sb), 0);
    } else {
        tu_expect_not_built(st, "libpng");
        assert_int_not_equal(stat(pw, &sb), 0);
    }
}

static void test_errors(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG && TU_HAVE_JPEG, "libpng and libjpeg");
    float out[64];
    uint8_t px[12] = {0};
    char p[1024];
    snprintf(p, sizeof p, "%s", dt_path(g_dir, "e.png"));
    TU_OK(cnn_png_write(p, 2, 2, 3, px));
    DT_FAILS(cnn_image_load(p, 5, 2, 2, out), CNN_ERR_INVALID_ARG, "channels must be 1, 2 (gray + alpha), 3 or 4");
    DT_FAILS(cnn_image_load(p, 3, 0, 2, out), CNN_ERR_INVALID_ARG, "size positive");
    DT_FAILS(cnn_image_load(dt_path(g_dir, "missing.png"), 3, 2, 2, out), CNN_ERR_IO, "missing.png: cannot open");
    const char *txt = "hello, not an image";
    dt_write(dt_path(g_dir, "t.png"), txt, strlen(txt));
    DT_FAILS(cnn_image_load(dt_path(g_dir, "t.png"), 3, 2, 2, out), CNN_ERR_FORMAT, "t.png: not a PNG or JPEG");
    DT_FAILS(cnn_png_write(p, 2, 2, 2, px), CNN_ERR_INVALID_ARG, "1 or 3 channels");
    DT_FAILS(cnn_png_write(dt_path(g_dir, "no/such/dir.png"), 2, 2, 1, px), CNN_ERR_IO, "cannot create");

    /* every prefix of a PNG and of a JPEG: an error, never a crash */
    uint8_t img[16 * 16 * 3];
    for (int i = 0; i < 16 * 16 * 3; i++) img[i] = (uint8_t)(i * 7);
    TU_OK(cnn_png_write(p, 16, 16, 3, img));
    char pj[1024], pc[1024];
    snprintf(pj, sizeof pj, "%s", dt_path(g_dir, "e.jpg"));
    snprintf(pc, sizeof pc, "%s", dt_path(g_dir, "cut"));
    write_jpeg(pj, 16, 16, 3, img);
    const char *srcs[2] = {p, pj};
    for (int s = 0; s < 2; s++) {
        size_t n;
        uint8_t *b = dt_read(srcs[s], &n);
        float full[16];
        TU_OK(cnn_image_load(srcs[s], 1, 4, 4, full));
        /* every cut through the headers, then a sample of the rest */
        for (size_t cut = 0; cut < n; cut += cut < 128 || cut + 16 > n ? 1 : (tu_quick() ? 13 : 5)) {
            dt_write(pc, b, cut);
            cnn_status st = cnn_image_load(pc, 1, 4, 4, out);
            /* libpng accepts a PNG whose pixel data is complete but whose 12-byte IEND
               chunk is cut: then the pixels must be the full file's */
            if (st == CNN_OK && s == 0 && cut >= n - 12) {
                TU_ASSERT_CLOSE(out, full, 16, 1e-7f, 0, "png without IEND");
                continue;
            }
            if (st != CNN_ERR_FORMAT && st != CNN_ERR_IO)
                fail_msg("%s cut at %zu of %zu: %s", s ? "jpeg" : "png", cut, n, cnn_status_name(st));
        }
        free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_jpeg),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_not_built),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}

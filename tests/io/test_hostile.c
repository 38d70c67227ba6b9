/* Hostile files (docs/limits.md): small files that used to cost minutes or gigabytes
   are opened in linear time or refused before decoding, with a clear message. All
   files are generated here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef CNN_HAVE_JPEG
#include <jpeglib.h>
#endif
#include <zlib.h>

#include "testutil.h"

static char g_dir[64];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void path(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", g_dir, name); }

/* A header of n tensors "t<i>" (F32, shape [1]) or, with meta, n metadata keys and one
   tensor; dup puts a copy of the first name last. */
static void write_many(const char *file, int n, bool meta, bool dup)
{
    size_t cap = (size_t)n * 80 + 256, len = 0;
    char *h = malloc(cap);
    assert_non_null(h);
    len += (size_t)sprintf(h + len, "{");
    if (meta) {
        len += (size_t)sprintf(h + len, "\"__metadata__\":{");
        for (int i = 0; i < n; i++) len += (size_t)sprintf(h + len, "%s\"key%07d\":\"v\"", i ? "," : "", i);
        if (dup) len += (size_t)sprintf(h + len, ",\"key%07d\":\"v\"", 0);
        len += (size_t)sprintf(h + len, "},\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}");
    } else {
        for (int i = 0; i < n; i++)
            len += (size_t)sprintf(h + len, "%s\"t%07d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                                   i ? "," : "", i, 4 * i, 4 * i + 4);
        if (dup)
            len += (size_t)sprintf(h + len, ",\"t%07d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                                   0, 4 * n, 4 * n + 4);
    }
    len += (size_t)sprintf(h + len, "}");
    int tensors = meta ? 1 : n + (dup ? 1 : 0);
    char p[256];
    path(p, sizeof p, file);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    unsigned char lb[8];
    for (int j = 0; j < 8; j++) lb[j] = (unsigned char)((uint64_t)len >> (8 * j));
    fwrite(lb, 1, 8, f);
    fwrite(h, 1, len, f);
    float z = 0.5f;
    for (int i = 0; i < tensors; i++) fwrite(&z, 4, 1, f);
    fclose(f);
    free(h);
}

static void test_safetensors_many_entries(void **state)
{
    (void)state;
    int n = tu_quick() ? 20000 : 80000;
    char p[256];
    /* 80k tensors: opens in well under a second (quadratic checks took 40 s) */
    write_many("many.safetensors", n, false, false);
    path(p, sizeof p, "many.safetensors");
    cnn_tensor_file *tf = NULL;
    double t0 = now();
    TU_OK(cnn_safetensors_load(p, &tf));
    double s = now() - t0;
    print_message("%d tensors: opened in %.3f s\n", n, s);
    assert_int_equal(cnn_tensor_file_count(tf), n);
    cnn_tensor v;
    TU_OK(cnn_tensor_file_get(tf, "t0012345", &v));
    assert_true(v.data[0] == 0.5f);
    assert_int_equal(cnn_tensor_file_get(tf, "t9999999", &v), CNN_ERR_NOT_FOUND);
    cnn_tensor_file_free(tf);
    assert_true(s < 5.0); /* generous for sanitizers and a busy machine */

    /* 80k metadata keys */
    write_many("meta.safetensors", n, true, false);
    path(p, sizeof p, "meta.safetensors");
    t0 = now();
    TU_OK(cnn_safetensors_load(p, &tf));
    s = now() - t0;
    print_message("%d metadata keys: opened in %.3f s\n", n, s);
    assert_string_equal(cnn_tensor_file_meta(tf, "key0000777"), "v");
    assert_null(cnn_tensor_file_meta(tf, "key9999999"));
    cnn_tensor_file_free(tf);
    assert_true(s < 5.0);

    /* duplicates anywhere are still found */
    write_many("dup.safetensors", n, false, true);
    path(p, sizeof p, "dup.safetensors");
    assert_int_equal(cnn_safetensors_load(p, &tf), CNN_ERR_FORMAT);
    assert_non_null(strstr(cnn_error_message(), "duplicate tensor name 't0000000'"));
    write_many("dupmeta.safetensors", n, true, true);
    path(p, sizeof p, "dupmeta.safetensors");
    assert_int_equal(cnn_safetensors_load(p, &tf), CNN_ERR_FORMAT);
    assert_non_null(strstr(cnn_error_message(), "duplicate metadata key 'key0000000'"));
}

static void test_safetensors_header_limit(void **state)
{
    (void)state;
    char p[256];
    path(p, sizeof p, "huge_header.safetensors");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    uint64_t len = (16u << 20) + 8;
    unsigned char lb[8];
    for (int j = 0; j < 8; j++) lb[j] = (unsigned char)(len >> (8 * j));
    fwrite(lb, 1, 8, f);
    fclose(f);
    assert_int_equal(truncate(p, (off_t)(8 + len)), 0); /* sparse: no disk used */
    cnn_tensor_file *tf = NULL;
    assert_int_equal(cnn_safetensors_load(p, &tf), CNN_ERR_FORMAT);
    assert_non_null(strstr(cnn_error_message(), "header length"));
    assert_null(tf);
}

static void put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24), b[1] = (unsigned char)(v >> 16), b[2] = (unsigned char)(v >> 8),
    b[3] = (unsigned char)v;
}

static void chunk(FILE *f, const char *type, const unsigned char *data, uint32_t n)
{
    unsigned char b[8];
    put32(b, n);
    memcpy(b + 4, type, 4);
    fwrite(b, 1, 8, f);
    if (n) fwrite(data, 1, n, f);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (n) crc = crc32(crc, data, n);
    put32(b, (uint32_t)crc);
    fwrite(b, 1, 4, f);
}

/* A PNG that declares w x h 8-bit gray pixels; its IDAT holds only the first rows. */
static void write_png_bomb(const char *p, uint32_t w, uint32_t h)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    fwrite(sig, 1, 8, f);
    unsigned char ihdr[13];
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = 8, ihdr[9] = 0, ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = 0;
    chunk(f, "IHDR", ihdr, 13);
    size_t raw_n = 4 * ((size_t)w + 1);
    unsigned char *raw = calloc(raw_n, 1);
    uLongf zn = compressBound((uLong)raw_n);
    unsigned char *z = malloc(zn);
    assert_true(raw && z);
    assert_int_equal(compress(z, &zn, raw, (uLong)raw_n), Z_OK);
    chunk(f, "IDAT", z, (uint32_t)zn);
    chunk(f, "IEND", NULL, 0);
    fclose(f);
    free(raw);
    free(z);
}

#ifdef CNN_HAVE_JPEG
static void write_jpeg(const char *p, int w, int h)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_start_compress(&ci, TRUE);
    unsigned char row[3 * 64];
    for (int i = 0; i < 3 * w; i++) row[i] = (unsigned char)(i * 7);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
}

/* Rewrites the SOF0 frame size of a JPEG file (a small file declaring a huge image). */
static void patch_jpeg_size(const char *p, int w, int h)
{
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    unsigned char b[4096];
    size_t n = fread(b, 1, sizeof b, f);
    size_t at = 0;
    for (size_t i = 2; i + 9 < n; i++)
        if (b[i] == 0xff && b[i + 1] == 0xc0) {
            at = i;
            break;
        }
    assert_true(at > 0);
    b[at + 5] = (unsigned char)(h >> 8), b[at + 6] = (unsigned char)h;
    b[at + 7] = (unsigned char)(w >> 8), b[at + 8] = (unsigned char)w;
    fseek(f, 0, SEEK_SET);
    fwrite(b, 1, n, f);
    fclose(f);
}
#endif

static void test_image_bombs(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    char p[256];
    float *x = malloc(3 * 64 * 64 * sizeof *x);
    assert_non_null(x);
    /* 16384 x 16384 PNG: refused before decoding (it took 33 s and 1.85 GB) */
    path(p, sizeof p, "bomb.png");
    write_png_bomb(p, 16384, 16384);
    int c, h, w;
    TU_OK(cnn_image_info(p, &c, &h, &w));
    assert_int_equal(h, 16384);
    double t0 = now();
    assert_int_equal(cnn_image_load(p, 1, 28, 28, x), CNN_ERR_FORMAT);
    assert_true(now() - t0 < 1.0);
    assert_non_null(strstr(cnn_error_message(), "decoding budget"));
    free(x);
}

static void test_jpeg_bomb(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_JPEG, "libjpeg");
#ifdef CNN_HAVE_JPEG
    char p[256];
    float *x = malloc(3 * 64 * 64 * sizeof *x);
    assert_non_null(x);
    double t0;
    /* 12000 x 12000 JPEG header on a few hundred bytes */
    path(p, sizeof p, "bomb.jpg");
    write_jpeg(p, 16, 16);
    TU_OK(cnn_image_load(p, 3, 32, 32, x)); /* the honest file loads */
    patch_jpeg_size(p, 12000, 12000);
    t0 = now();
    assert_int_equal(cnn_image_load(p, 3, 32, 32, x), CNN_ERR_FORMAT);
    assert_true(now() - t0 < 1.0);
    assert_non_null(strstr(cnn_error_message(), "decoding budget"));
    /* within the budget of a large requested input the same size is the caller's choice:
       only the budget's formula is checked here, not a 144 M pixel decode */
    free(x);
#endif
}

static void write_npy_gt(const char *name, int h, int w, const float *labels)
{
    char p[256];
    path(p, sizeof p, name);
    cnn_tensor t = {.ndim = 2, .dims = {h, w}, .data = (float *)labels};
    TU_OK(cnn_npy_save(p, &t));
}

static void test_hsi_sparse_labels(void **state)
{
    (void)state;
    enum { H = 8, W = 8, B = 4 };
    float cube[H * W * B], gt[H * W];
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    tu_fill(cube, H * W * B, 0, 1, &r);
    char p[256], g[256];
    path(p, sizeof p, "cube.npy");
    cnn_tensor t = {.ndim = 3, .dims = {H, W, B}, .data = cube};
    TU_OK(cnn_npy_save(p, &t));
    for (int i = 0; i < H * W; i++) gt[i] = (float)(1 + i % 3);
    cnn_hsi_opts o = {.cube = p, .gt = g, .pca = 2, .patch = 3};
    cnn_hsi_scene sc;
    /* dense labels 1..3: fine */
    write_npy_gt("gt_ok.npy", H, W, gt);
    path(g, sizeof g, "gt_ok.npy");
    TU_OK(cnn_hsi_scene_load(&o, &sc));
    assert_int_equal(sc.classes, 3);
    cnn_hsi_scene_free(&sc);
    /* one stray pixel of 32768: refused (was a 32768-class model, an 8.6 GB matrix) */
    gt[5] = 32768.0f;
    write_npy_gt("gt_stray.npy", H, W, gt);
    path(g, sizeof g, "gt_stray.npy");
    double t0 = now();
    assert_int_equal(cnn_hsi_scene_load(&o, &sc), CNN_ERR_FORMAT);
    assert_true(now() - t0 < 2.0);
    assert_non_null(strstr(cnn_error_message(), "largest label 32768"));
    /* sparse ids: 1, 2, 3 and 40 */
    gt[5] = 40.0f;
    write_npy_gt("gt_sparse.npy", H, W, gt);
    path(g, sizeof g, "gt_sparse.npy");
    assert_int_equal(cnn_hsi_scene_load(&o, &sc), CNN_ERR_FORMAT);
    assert_non_null(strstr(cnn_error_message(), "only 4 distinct labels"));
    /* a gap of less than half is a real scene (a class absent from a crop) */
    gt[5] = 5.0f;
    write_npy_gt("gt_gap.npy", H, W, gt);
    path(g, sizeof g, "gt_gap.npy");
    TU_OK(cnn_hsi_scene_load(&o, &sc));
    assert_int_equal(sc.classes, 5);
    cnn_hsi_scene_free(&sc);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/cnn-hostile-XXXXXX");
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
        cmocka_unit_test(test_safetensors_many_entries),
        cmocka_unit_test(test_safetensors_header_limit),
        cmocka_unit_test(test_image_bombs),
        cmocka_unit_test(test_jpeg_bomb),
        cmocka_unit_test(test_hsi_sparse_labels),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}

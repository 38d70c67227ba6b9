/* IDX loading (src/data/idx.c, dataset.c): raw and gzip'd files written here, every
   validation error, fault injection, truncation fuzzing and, when installed, the real
   Fashion-MNIST files. */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>
#include <zlib.h>

#include "datatest.h"

#define N 5
#define H 3
#define W 4

static char g_dir[512];

/* An IDX buffer: magic, dims (big-endian), then body bytes. */
static size_t idx_build(uint8_t *buf, uint32_t magic, int ndim, const uint32_t *dims,
                        const uint8_t *body, size_t body_n)
{
    size_t k = 0;
    uint32_t v[4] = {magic, 0, 0, 0};
    for (int i = 0; i < ndim; i++) v[1 + i] = dims[i];
    for (int i = 0; i <= ndim; i++) {
        buf[k++] = (uint8_t)(v[i] >> 24);
        buf[k++] = (uint8_t)(v[i] >> 16);
        buf[k++] = (uint8_t)(v[i] >> 8);
        buf[k++] = (uint8_t)v[i];
    }
    memcpy(buf + k, body, body_n);
    return k + body_n;
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

static uint8_t g_pix[N * H * W];
static uint8_t g_lab[N] = {3, 0, 7, 1, 3};

/* Images (n_img) and labels (n_lab) files under the given names. */
static void write_pair(const char *img, const char *lab, int n_img, int n_lab, bool gz)
{
    uint8_t buf[1024];
    uint32_t d3[3] = {(uint32_t)n_img, H, W}, d1[1] = {(uint32_t)n_lab};
    size_t k = idx_build(buf, 0x803, 3, d3, g_pix, (size_t)n_img * H * W);
    if (gz) write_gz(dt_path(g_dir, img), buf, k);
    else dt_write(dt_path(g_dir, img), buf, k);
    k = idx_build(buf, 0x801, 1, d1, g_lab, (size_t)n_lab);
    if (gz) write_gz(dt_path(g_dir, lab), buf, k);
    else dt_write(dt_path(g_dir, lab), buf, k);
}

static int setup(void **state)
{
    (void)state;
    dt_mkdtemp(g_dir, sizeof g_dir);
    for (int i = 0; i < N * H * W; i++) g_pix[i] = (uint8_t)(i * 37 + 11);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_rmtree(g_dir);
    return 0;
}

static void check_small(const cnn_dataset *d, int classes)
{
    assert_int_equal(d->n, N);
    assert_int_equal(d->c, 1);
    assert_int_equal(d->d, 0);
    assert_int_equal(d->h, H);
    assert_int_equal(d->w, W);
    assert_int_equal(d->classes, classes);
    assert_non_null(d->u8);
    assert_null(d->f32);
    assert_memory_equal(d->u8, g_pix, sizeof g_pix);
    for (int i = 0; i < N; i++) assert_int_equal(d->labels[i], g_lab[i]);
    float ex[H * W];
    TU_OK(cnn_dataset_example(d, 2, ex));
    for (int k = 0; k < H * W; k++) assert_true(ex[k] == g_pix[2 * H * W + k] / 255.0f);
}

static void test_raw_and_gz(void **state)
{
    (void)state;
    cnn_dataset d;
    write_pair("r-img", "r-lab", N, N, false);
    TU_OK(cnn_dataset_open_idx(dt_path(g_dir, "r-img"), dt_path(g_dir, "r-lab"), &d));
    check_small(&d, 8); /* largest label 7 + 1 */
    assert_non_null(strstr(d.source, "r-img"));
    cnn_dataset_free(&d);
    assert_null(d.u8);
    cnn_dataset_free(&d); /* twice is harmless */

    write_pair("g-img.gz", "g-lab.gz", N, N, true);
    TU_OK(cnn_dataset_open_idx(dt_path(g_dir, "g-img.gz"), dt_path(g_dir, "g-lab.gz"), &d));
    check_small(&d, 8);
    cnn_dataset_free(&d);

    /* gzip recognised by content, whatever the name */
    write_pair("z-img", "z-lab", N, N, true);
    TU_OK(cnn_dataset_open_idx(dt_path(g_dir, "z-img"), dt_path(g_dir, "z-lab"), &d));
    check_small(&d, 8);
    cnn_dataset_free(&d);
}

static void test_mnist_spec(void **state)
{
    (void)state;
    char sub[600], spec[700];
    snprintf(sub, sizeof sub, "%s/mn", g_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_pair("mn/train-images-idx3-ubyte.gz", "mn/train-labels-idx1-ubyte.gz", N, N, true);
    write_pair("mn/t10k-images-idx3-ubyte", "mn/t10k-labels-idx1-ubyte", 2, 2, false);
    cnn_dataset d;
    snprintf(spec, sizeof spec, "mnist:%s", sub);
    TU_OK(cnn_dataset_open(spec, true, &d));
    check_small(&d, 10);
    assert_non_null(strstr(d.source, "train"));
    cnn_dataset_free(&d);
    TU_OK(cnn_dataset_open(spec, false, &d));
    assert_int_equal(d.n, 2);
    assert_int_equal(d.classes, 10);
    cnn_dataset_free(&d);
    snprintf(spec, sizeof spec, "idx:%s", sub);
    TU_OK(cnn_dataset_open(spec, true, &d));
    check_small(&d, 8);
    cnn_dataset_free(&d);
    snprintf(spec, sizeof spec, "fashion-mnist:%s", sub);
    TU_OK(cnn_dataset_open(spec, true, &d));
    check_small(&d, 10);
    assert_string_equal(d.class_names[0], "T-shirt/top");
    assert_string_equal(d.class_names[9], "Ankle boot");
    cnn_dataset_free(&d);

    /* labels beyond MNIST's 10 classes */
    g_lab[3] = 12;
    write_pair("mn/train-images-idx3-ubyte.gz", "mn/train-labels-idx1-ubyte.gz", N, N, true);
    g_lab[3] = 1;
    snprintf(spec, sizeof spec, "mnist:%s", sub);
    DT_FAILS(cnn_dataset_open(spec, true, &d), CNN_ERR_FORMAT, "label 12 of example 3 is out of range for 10 classes");
    assert_null(d.u8);
    assert_null(d.labels);

    snprintf(spec, sizeof spec, "mnist:%s/nowhere", g_dir);
    DT_FAILS(cnn_dataset_open(spec, true, &d), CNN_ERR_IO, "no such directory");
    snprintf(spec, sizeof spec, "mnist:%s", g_dir); /* exists, no files */
    DT_FAILS(cnn_dataset_open(spec, true, &d), CNN_ERR_IO, "train-images-idx3-ubyte");
    DT_FAILS(cnn_dataset_open("nonsense:x", true, &d), CNN_ERR_INVALID_ARG, "unknown dataset");
    DT_FAILS(cnn_dataset_open("mnist", true, &d), CNN_ERR_INVALID_ARG, "unknown dataset");
    DT_FAILS(cnn_dataset_open("mnist:", true, &d), CNN_ERR_INVALID_ARG, "empty directory");
}

static void test_errors(void **state)
{
    (void)state;
    cnn_dataset d;
    uint8_t buf[1024];
    uint32_t d3[3] = {N, H, W}, d1[1] = {N};
    write_pair("e-img", "e-lab", N, N, false);
    char lab[1024];
    snprintf(lab, sizeof lab, "%s", dt_path(g_dir, "e-lab"));

    /* truncated body, raw and gzip'd */
    size_t k = idx_build(buf, 0x803, 3, d3, g_pix, N * H * W - 10);
    dt_write(dt_path(g_dir, "t-img"), buf, k);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "t-img"), lab, &d), CNN_ERR_FORMAT,
             "t-img: truncated: header says 5 images of 3x4 (60 bytes), found 50");
    write_gz(dt_path(g_dir, "t-img.gz"), buf, k);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "t-img.gz"), lab, &d), CNN_ERR_FORMAT,
             "header says 5 images of 3x4 (60 bytes), found 50");
    /* a gzip stream cut short */
    k = idx_build(buf, 0x803, 3, d3, g_pix, N * H * W);
    write_gz(dt_path(g_dir, "c-img.gz"), buf, k);
    size_t gzn;
    uint8_t *gz = dt_read(dt_path(g_dir, "c-img.gz"), &gzn);
    dt_write(dt_path(g_dir, "c-img.gz"), gz, gzn - 12);
    free(gz);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "c-img.gz"), lab, &d), CNN_ERR_FORMAT, "truncated");
    /* header itself cut */
    dt_write(dt_path(g_dir, "h-img"), buf, 9);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "h-img"), lab, &d), CNN_ERR_FORMAT,
             "too short for an IDX images header");
    dt_write(dt_path(g_dir, "empty"), buf, 0);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "empty"), lab, &d), CNN_ERR_FORMAT, "truncated");
    /* bytes beyond what the header declares */
    k = idx_build(buf, 0x803, 3, d3, g_pix, N * H * W);
    buf[k++] = 1;
    dt_write(dt_path(g_dir, "x-img"), buf, k);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "x-img"), lab, &d), CNN_ERR_FORMAT, "1 bytes follow");

    /* bad magic numbers: labels given as images and the reverse, and garbage */
    DT_FAILS(cnn_dataset_open_idx(lab, lab, &d), CNN_ERR_FORMAT,
             "bad magic number 0x00000801, expected 0x00000803");
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "e-img"), dt_path(g_dir, "e-img"), &d),
             CNN_ERR_FORMAT, "expected 0x00000801");
    k = idx_build(buf, 0x12345678, 3, d3, g_pix, N * H * W);
    dt_write(dt_path(g_dir, "m-img"), buf, k);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "m-img"), lab, &d), CNN_ERR_FORMAT, "bad magic");

    /* zero and absurd dimensions */
    uint32_t z3[3] = {N, 0, W}, big[3] = {0x7fffffff, 0x7fffffff, 0x7fffffff};
    k = idx_build(buf, 0x803, 3, z3, g_pix, 0);
    dt_write(dt_path(g_dir, "z-img"), buf, k);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "z-img"), lab, &d), CNN_ERR_FORMAT, "dimension 1 is 0");
    k = idx_build(buf, 0x803, 3, big, g_pix, 10);
    dt_write(dt_path(g_dir, "b-img"), buf, k);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "b-img"), lab, &d), CNN_ERR_FORMAT, "declares more than");

    /* counts that differ */
    d1[0] = N - 1;
    k = idx_build(buf, 0x801, 1, d1, g_lab, N - 1);
    dt_write(dt_path(g_dir, "s-lab"), buf, k);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "e-img"), dt_path(g_dir, "s-lab"), &d),
             CNN_ERR_FORMAT, "has 5 images but");
    assert_non_null(strstr(cnn_error_message(), "has 4 labels"));
    /* truncated labels */
    d1[0] = N;
    k = idx_build(buf, 0x801, 1, d1, g_lab, N - 2);
    dt_write(dt_path(g_dir, "u-lab"), buf, k);
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "e-img"), dt_path(g_dir, "u-lab"), &d),
             CNN_ERR_FORMAT, "header says 5 labels (5 bytes), found 3");

    /* corrupt gzip: a valid gzip header, then garbage */
    uint8_t bad[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    for (int i = 10; i < 64; i++) bad[i] = (uint8_t)(i * 91 + 7);
    dt_write(dt_path(g_dir, "bad.gz"), bad, sizeof bad);
    cnn_status s = cnn_dataset_open_idx(dt_path(g_dir, "bad.gz"), lab, &d);
    assert_int_equal(s, CNN_ERR_FORMAT);
    assert_non_null(strstr(cnn_error_message(), "bad.gz"));

    /* missing file */
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "missing"), lab, &d), CNN_ERR_IO, "missing: cannot open");
    DT_FAILS(cnn_dataset_open_idx(dt_path(g_dir, "e-img"), dt_path(g_dir, "missing"), &d),
             CNN_ERR_IO, "cannot open");
    assert_null(d.u8);
}

/* Every prefix and single-byte corruptions of valid raw and gzip files: each either
   loads or fails cleanly (the sanitizer run catches any bad access). */
static void test_fuzz(void **state)
{
    (void)state;
    uint8_t buf[1024];
    uint32_t d3[3] = {N, H, W};
    size_t k = idx_build(buf, 0x803, 3, d3, g_pix, N * H * W);
    write_gz(dt_path(g_dir, "f-ref.gz"), buf, k);
    size_t gzn;
    uint8_t *gz = dt_read(dt_path(g_dir, "f-ref.gz"), &gzn);
    write_pair("f-img", "f-lab", N, N, false);
    char lab[1024], p[1024];
    snprintf(lab, sizeof lab, "%s", dt_path(g_dir, "f-lab"));
    snprintf(p, sizeof p, "%s", dt_path(g_dir, "f-cut"));
    cnn_dataset d;
    int ok = 0;
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *src = pass ? gz : buf;
        size_t n = pass ? gzn : k;
        for (size_t cut = 0; cut < n; cut++) {
            dt_write(p, src, cut);
            assert_int_not_equal(cnn_dataset_open_idx(p, lab, &d), CNN_OK);
        }
        uint8_t tmp[1024];
        for (size_t i = 0; i < n; i++) {
            memcpy(tmp, src, n);
            tmp[i] ^= (uint8_t)(0x5a + i);
            dt_write(p, tmp, n);
            if (cnn_dataset_open_idx(p, lab, &d) == CNN_OK) {
                ok++; /* a pixel byte changed: still a valid file */
                assert_int_equal(d.n, N);
                cnn_dataset_free(&d);
            }
        }
    }
    assert_true(ok > 0);
    free(gz);
}

/* Every allocation failing in turn: a clean error, no leak. */
static void test_alloc_failures(void **state)
{
    (void)state;
    write_pair("a-img.gz", "a-lab.gz", N, N, true);
    cnn_dataset d;
    int failures = 0;
    for (long k = 1; k < 200; k++) {
        cnn_alloc_fail_after(k);
        cnn_status s = cnn_dataset_open_idx(dt_path(g_dir, "a-img.gz"), dt_path(g_dir, "a-lab.gz"), &d);
        cnn_alloc_fail_after(0);
        if (s == CNN_OK) {
            check_small(&d, 8);
            cnn_dataset_free(&d);
            break;
        }
        assert_int_equal(s, CNN_ERR_NOMEM);
        failures++;
    }
    assert_true(failures >= 3);
}

/* Debian's dataset-fashion-mnist, when installed. */
static void test_fashion_mnist(void **state)
{
    (void)state;
    const char *dir = "/usr/share/datasets/fashion-mnist";
    if (access(dir, R_OK) != 0) {
        tu_skip("fashion-mnist not installed (%s)", dir);
    }
    for (int train = 1; train >= 0; train--) {
        cnn_dataset d;
        TU_OK(cnn_dataset_open("fashion-mnist", train, &d));
        int n = train ? 60000 : 10000;
        assert_int_equal(d.n, n);
        assert_int_equal(d.c, 1);
        assert_int_equal(d.h, 28);
        assert_int_equal(d.w, 28);
        assert_int_equal(d.classes, 10);
        assert_string_equal(d.class_names[7], "Sneaker");
        int hist[10] = {0};
        for (int i = 0; i < n; i++) {
            assert_in_range(d.labels[i], 0, 9);
            hist[d.labels[i]]++;
        }
        for (int c = 0; c < 10; c++) assert_int_equal(hist[c], n / 10);
        /* pixels span the byte range (not all zero) */
        int maxv = 0;
        for (size_t i = 0; i < 28 * 28 * 100; i++) maxv = d.u8[i] > maxv ? d.u8[i] : maxv;
        assert_int_equal(maxv, 255);
        cnn_dataset_free(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_and_gz),     cmocka_unit_test(test_mnist_spec),
        cmocka_unit_test(test_errors),         cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_alloc_failures), cmocka_unit_test(test_fashion_mnist),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}

/* CIFAR-10 binary files (src/data/cifar10.c), written here: record layout, class
   names, the cifar-10-batches-bin/ layout, and every validation error. */
#define _XOPEN_SOURCE 700
#include <sys/stat.h>

#include "datatest.h"

#define REC 3073
#define PER_FILE 3

static char g_dir[512];

/* Record r of file f: label (f + r) % 10, pixels from a formula. */
static uint8_t pixel(int f, int r, int k) { return (uint8_t)(f * 131 + r * 17 + k * 7); }

static void write_batches(const char *dir, int records_test)
{
    uint8_t buf[REC * PER_FILE];
    char name[64];
    for (int f = 0; f <= 5; f++) {
        int n = f < 5 ? PER_FILE : records_test;
        for (int r = 0; r < n; r++) {
            buf[r * REC] = (uint8_t)((f + r) % 10);
            for (int k = 0; k < 3072; k++) buf[r * REC + 1 + k] = pixel(f, r, k);
        }
        if (f < 5) snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        else snprintf(name, sizeof name, "test_batch.bin");
        dt_write(dt_path(dir, name), buf, (size_t)n * REC);
    }
}

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

static void check(const cnn_dataset *d, bool train)
{
    int n = train ? 5 * PER_FILE : 2;
    assert_int_equal(d->n, n);
    assert_int_equal(d->c, 3);
    assert_int_equal(d->d, 0);
    assert_int_equal(d->h, 32);
    assert_int_equal(d->w, 32);
    assert_int_equal(d->classes, 10);
    for (int i = 0; i < n; i++) {
        int f = train ? i / PER_FILE : 5, r = train ? i % PER_FILE : i;
        assert_int_equal(d->labels[i], (f + r) % 10);
        /* CHW as stored: red plane, green plane, blue plane */
        for (int k = 0; k < 3072; k += 97) assert_int_equal(d->u8[(size_t)i * 3072 + k], pixel(f, r, k));
    }
}

static void test_load(void **state)
{
    (void)state;
    char dir[600], spec[700];
    snprintf(dir, sizeof dir, "%s/a", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    write_batches(dir, 2);
    cnn_dataset d;
    TU_OK(cnn_dataset_open_cifar10(dir, true, &d));
    check(&d, true);
    assert_string_equal(d.class_names[0], "airplane"); /* no batches.meta.txt: defaults */
    assert_string_equal(d.class_names[9], "truck");
    cnn_dataset_free(&d);

    /* names from batches.meta.txt (trailing blank lines, CRLF) */
    const char *meta = "c0\nc1\nc2\nc3\r\nc4\nc5\nc6\nc7\nc8\nnine\n\n";
    dt_write(dt_path(dir, "batches.meta.txt"), meta, strlen(meta));
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    TU_OK(cnn_dataset_open(spec, false, &d));
    check(&d, false);
    assert_string_equal(d.class_names[3], "c3");
    assert_string_equal(d.class_names[9], "nine");
    assert_non_null(strstr(d.source, "test"));
    float ex[3072];
    TU_OK(cnn_dataset_example(&d, 1, ex));
    assert_true(ex[5] == pixel(5, 1, 5) / 255.0f);
    cnn_dataset_free(&d);

    /* the archive's own folder, given its parent */
    char sub[700];
    snprintf(sub, sizeof sub, "%s/b/cifar-10-batches-bin", g_dir);
    assert_int_equal(mkdir(dt_path(g_dir, "b"), 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_batches(sub, 1);
    snprintf(spec, sizeof spec, "cifar10:%s/b", g_dir);
    TU_OK(cnn_dataset_open(spec, true, &d));
    check(&d, true);
    cnn_dataset_free(&d);
}

static void test_errors(void **state)
{
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/e", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    write_batches(dir, 2);
    cnn_dataset d;
    uint8_t buf[REC * 2 + 5];
    memset(buf, 1, sizeof buf);

    /* not a multiple of the record size */
    dt_write(dt_path(dir, "test_batch.bin"), buf, REC + 5);
    DT_FAILS(cnn_dataset_open_cifar10(dir, false, &d), CNN_ERR_FORMAT,
             "test_batch.bin: size 3078 is not a positive multiple of the 3073-byte");
    dt_write(dt_path(dir, "test_batch.bin"), buf, 0);
    DT_FAILS(cnn_dataset_open_cifar10(dir, false, &d), CNN_ERR_FORMAT, "size 0");
    /* label out of range in the second record */
    buf[REC] = 10;
    dt_write(dt_path(dir, "test_batch.bin"), buf, 2 * REC);
    DT_FAILS(cnn_dataset_open_cifar10(dir, false, &d), CNN_ERR_FORMAT,
             "test_batch.bin: label 10 of record 1 is out of range for 10 classes");
    assert_null(d.u8);
    /* a missing batch */
    remove(dt_path(dir, "data_batch_4.bin"));
    DT_FAILS(cnn_dataset_open_cifar10(dir, true, &d), CNN_ERR_IO, "data_batch_4.bin: cannot open");
    write_batches(dir, 2);
    /* wrong number of names */
    const char *meta = "a\nb\n";
    dt_write(dt_path(dir, "batches.meta.txt"), meta, strlen(meta));
    DT_FAILS(cnn_dataset_open_cifar10(dir, true, &d), CNN_ERR_FORMAT, "2 class names, expected 10");
    DT_FAILS(cnn_dataset_open_cifar10(dt_path(g_dir, "none"), true, &d), CNN_ERR_IO, "no such directory");
    remove(dt_path(dir, "batches.meta.txt"));

    /* fault injection: every allocation failing in turn */
    int failures = 0;
    for (long k = 1; k < 100; k++) {
        cnn_alloc_fail_after(k);
        cnn_status s = cnn_dataset_open_cifar10(dir, true, &d);
        cnn_alloc_fail_after(0);
        if (s == CNN_OK) {
            check(&d, true);
            cnn_dataset_free(&d);
            break;
        }
        assert_int_equal(s, CNN_ERR_NOMEM);
        failures++;
    }
    assert_true(failures >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

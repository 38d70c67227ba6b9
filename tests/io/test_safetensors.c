/* safetensors: round trip with metadata escapes, files written by tools/fixturelib.py
   (tests/fixtures/safetensors_io.safetensors, optim.safetensors), every dtype's
   conversion, malformed files of every kind (clear errors, never a crash or a leak),
   atomic save (no temporary left, an existing file survives every failure), and
   cnn_graph_load_weights / save_weights (strict and not, missing / unexpected key,
   shape mismatch, num_batches_tracked ignored). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[512];

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/cnn_safetensors_XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            remove(p);
        }
        closedir(d);
    }
    rmdir(g_dir);
    return 0;
}

static const char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 1024, "%s/%s", g_dir, name);
    return b;
}

/* Files in the test directory whose name contains ".tmp." */
static int count_temp_files(void)
{
    int n = 0;
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* A raw file: u64 length (hlen, or strlen(header) when hlen < 0), header, data. */
static void write_raw(const char *path, const char *header, long long hlen, const void *data,
                      size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned long long len = hlen < 0 ? strlen(header) : (unsigned long long)hlen;
    for (int i = 0; i < 8; i++) fputc((int)((len >> (8 * i)) & 0xff), f);
    fwrite(header, 1, strlen(header), f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* Loading must fail with `want` and a message containing each of the words. */
static void expect_load_error(const char *path, cnn_status want, const char *w1, const char *w2)
{
    cnn_tensor_file *f = (cnn_tensor_file *)&f; /* must be reset to NULL */
    cnn_clear_error();
    cnn_status s = cnn_safetensors_load(path, &f);
    const char *m = cnn_error_message();
    if (s != want)
        fail_msg("%s: got %s (%s), want %s", path, cnn_status_name(s), m, cnn_status_name(want));
    assert_null(f);
    if (!strstr(m, path)) fail_msg("message '%s' does not name the file", m);
    if (w1 && !strstr(m, w1)) fail_msg("message '%s' lacks '%s'", m, w1);
    if (w2 && !strstr(m, w2)) fail_msg("message '%s' lacks '%s'", m, w2);
}

/* ---------------------------------------------------------------- round trip */
static void test_round_trip(void **state)
{
    (void)state;
    float a[24], b[3] = {1.5f, -0.0f, INFINITY}, s = 7.25f;
    for (int i = 0; i < 24; i++) a[i] = (float)i * 0.1f - 1.0f;
    a[5] = NAN;
    cnn_tensor ta = {.ndim = 4, .dims = {1, 2, 3, 4}, .data = a};
    cnn_tensor tb = {.ndim = 1, .dims = {3}, .data = b};
    cnn_tensor ts = {.ndim = 0, .data = &s};
    cnn_tensor te = {.ndim = 2, .dims = {0, 5}, .data = NULL};
    cnn_named_tensor list[] = {
        {"layer1.0.conv1.weight", &ta}, {"b \"q\"\\", &tb}, {"scalar", &ts}, {"empty", &te}};
    const char *meta[] = {"model",   "resnet18",
                          "opts",    "{\"classes\": 10}\n\ttab\x01",
                          "unicode", "caf\xc3\xa9 \xf0\x9f\x98\x80",
                          "empty",   ""};
    const char *path = tmp_path("rt.safetensors");
    TU_OK(cnn_safetensors_save(path, 4, list, 4, meta));
    assert_int_equal(count_temp_files(), 0);

    size_t n;
    unsigned char *raw = slurp(path, &n);
    assert_non_null(raw);
    unsigned long long hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (unsigned long long)raw[i] << (8 * i);
    assert_int_equal(hlen % 8, 0); /* data 8-byte aligned */
    assert_int_equal(n, 8 + hlen + 4 * (24 + 3 + 1));
    free(raw);

    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load(path, &f));
    assert_int_equal(cnn_tensor_file_count(f), 4);
    for (int i = 0; i < 4; i++) assert_string_equal(cnn_tensor_file_name(f, i), list[i].name);
    assert_null(cnn_tensor_file_name(f, 4));
    for (int i = 0; i < 4; i++) {
        cnn_tensor v;
        TU_OK(cnn_tensor_file_get(f, list[i].name, &v));
        assert_int_equal(v.ndim, list[i].tensor->ndim);
        assert_memory_equal(v.dims, list[i].tensor->dims, sizeof(int) * (size_t)v.ndim);
        if (cnn_tensor_numel(&v))
            assert_memory_equal(v.data, list[i].tensor->data, cnn_tensor_numel(&v) * sizeof(float));
    }
    for (int i = 0; i < 4; i++)
        assert_string_equal(cnn_tensor_file_meta(f, meta[2 * i]), meta[2 * i + 1]);
    assert_null(cnn_tensor_file_meta(f, "absent"));
    cnn_tensor v;
    assert_int_equal(cnn_tensor_file_get(f, "absent", &v), CNN_ERR_NOT_FOUND);
    assert_non_null(strstr(cnn_error_message(), "absent"));
    cnn_tensor_file_free(f);

    /* no tensors, no metadata */
    TU_OK(cnn_safetensors_save(path, 0, NULL, 0, NULL));
    TU_OK(cnn_safetensors_load(path, &f));
    assert_int_equal(cnn_tensor_file_count(f), 0);
    cnn_tensor_file_free(f);
}

/* ---------------------------------------------------------------- other writers */
static void test_fixturelib_file(void **state)
{
    (void)state;
    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load("tests/fixtures/safetensors_io.safetensors", &f));
    const char *names[] = {"f32", "f64", "i64", "i32", "scalar", "empty"};
    assert_int_equal(cnn_tensor_file_count(f), 6);
    for (int i = 0; i < 6; i++) assert_string_equal(cnn_tensor_file_name(f, i), names[i]);
    cnn_tensor t;
    TU_OK(cnn_tensor_file_get(f, "f32", &t));
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.dims[0], 2);
    assert_int_equal(t.dims[1], 3);
    for (int i = 0; i < 6; i++) assert_true(t.data[i] == (float)i * 0.5f - 1.0f);
    TU_OK(cnn_tensor_file_get(f, "f64", &t));
    assert_true(t.data[0] == (float)1e-3 && t.data[1] == -2.5f && t.data[2] == (float)3.14159);
    TU_OK(cnn_tensor_file_get(f, "i64", &t));
    assert_true(t.data[0] == -3 && t.data[1] == 0 && t.data[2] == 7 && t.data[3] == 123456);
    TU_OK(cnn_tensor_file_get(f, "i32", &t));
    assert_true(t.data[0] == 1 && t.data[1] == -2 && t.data[2] == 3 && t.data[3] == -4);
    TU_OK(cnn_tensor_file_get(f, "scalar", &t));
    assert_true(t.ndim == 1 && t.dims[0] == 1 && t.data[0] == 42.5f);
    TU_OK(cnn_tensor_file_get(f, "empty", &t));
    assert_true(t.ndim == 2 && t.dims[0] == 0 && t.dims[1] == 3);
    assert_string_equal(cnn_tensor_file_meta(f, "name"), "tiny \"quoted\" \\ back\nline");
    /* \u00e9 \u2713 and the surrogate pair \ud83d\ude00, as UTF-8 */
    assert_string_equal(cnn_tensor_file_meta(f, "unicode"),
                        "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
    cnn_tensor_file_free(f);

    TU_OK(cnn_safetensors_load("tests/fixtures/optim.safetensors", &f));
    TU_OK(cnn_tensor_file_get(f, "init.weight", &t));
    for (int i = 0; i < 6; i++) assert_true(t.data[i] == (float)(((double)i - 2.5) * 0.3));
    assert_string_equal(cnn_tensor_file_meta(f, "steps"), "5");
    cnn_tensor_file_free(f);
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)(v >> 8);
}

/* Every dtype's conversion from hand-written little-endian bytes. */
static void test_dtypes(void **state)
{
    (void)state;
    unsigned char d[128] = {0};
    /* F16 [0, 14): 1, -2, 65504, 2^-24 (smallest subnormal), 2^-14 (smallest normal), inf, nan */
    const unsigned f16[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0x7e00};
    for (int i = 0; i < 7; i++) put16(d + 2 * i, f16[i]);
    /* BF16 [14, 18): 1, -5 */
    put16(d + 14, 0x3f80);
    put16(d + 16, 0xc0a0);
    /* U8 [18, 20): 0, 255; I8 [20, 22): -128, 5; BOOL [22, 24): 1, 0 */
    d[19] = 255;
    d[20] = 0x80;
    d[21] = 5;
    d[22] = 1;
    /* I16 [24, 26): -2; I32 [28, 32): -7; I64 [32, 40): -(2^40); F64 [40, 48): 0.1 */
    put16(d + 24, 0xfffe);
    int32_t i32 = -7;
    int64_t i64 = -(1LL << 40);
    double f64 = 0.1;
    memcpy(d + 28, &i32, 4); /* hosts running the tests are little-endian */
    memcpy(d + 32, &i64, 8);
    memcpy(d + 40, &f64, 8);
    const char *h =
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[0,14]},"
        "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[14,18]},"
        "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[18,20]},"
        "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[20,22]},"
        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[22,24]},"
        "\"i16\":{\"dtype\":\"I16\",\"shape\":[1,1],\"data_offsets\":[24,26]},"
        "\"i32\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[28,32]},"
        "\"i64\":{\"shape\":[1],\"data_offsets\":[32,40],\"dtype\":\"I64\"},"
        " \"f64\" : { \"dtype\" : \"F64\" , \"shape\" : [ 1 ] , \"data_offsets\" : [ 40 , 48 ] } }";
    const char *path = tmp_path("dtypes.safetensors");
    write_raw(path, h, -1, d, 48);
    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load(path, &f));
    cnn_tensor t;
    TU_OK(cnn_tensor_file_get(f, "h", &t));
    assert_true(t.data[0] == 1.0f && t.data[1] == -2.0f && t.data[2] == 65504.0f);
    assert_true(t.data[3] == ldexpf(1.0f, -24) && t.data[4] == ldexpf(1.0f, -14));
    assert_true(isinf(t.data[5]) && t.data[5] > 0 && isnan(t.data[6]));
    TU_OK(cnn_tensor_file_get(f, "bf", &t));
    assert_true(t.data[0] == 1.0f && t.data[1] == -5.0f);
    TU_OK(cnn_tensor_file_get(f, "u8", &t));
    assert_true(t.data[0] == 0.0f && t.data[1] == 255.0f);
    TU_OK(cnn_tensor_file_get(f, "i8", &t));
    assert_true(t.data[0] == -128.0f && t.data[1] == 5.0f);
    TU_OK(cnn_tensor_file_get(f, "b", &t));
    assert_true(t.data[0] == 1.0f && t.data[1] == 0.0f);
    TU_OK(cnn_tensor_file_get(f, "i16", &t));
    assert_true(t.ndim == 2 && t.data[0] == -2.0f);
    TU_OK(cnn_tensor_file_get(f, "i32", &t));
    assert_true(t.ndim == 0 && t.data[0] == -7.0f);
    TU_OK(cnn_tensor_file_get(f, "i64", &t));
    assert_true(t.data[0] == -1099511627776.0f);
    TU_OK(cnn_tensor_file_get(f, "f64", &t));
    assert_true(t.data[0] == 0.1f);
    cnn_tensor_file_free(f);
}

/* ---------------------------------------------------------------- bad files */
static void test_bad_files(void **state)
{
    (void)state;
    const char *p = tmp_path("bad.safetensors");
    unsigned char data[64] = {0};

    FILE *fe = fopen(p, "wb");
    fclose(fe);
    expect_load_error(p, CNN_ERR_FORMAT, "0 bytes", "too short");
    fe = fopen(p, "wb");
    fwrite("\x10\x00\x00", 1, 3, fe);
    fclose(fe);
    expect_load_error(p, CNN_ERR_FORMAT, "3 bytes", NULL);

    write_raw(p, "{}", 1LL << 40, NULL, 0);
    expect_load_error(p, CNN_ERR_FORMAT, "header length", "not sane");
    write_raw(p, "{}      ", 4000, NULL, 0);
    expect_load_error(p, CNN_ERR_FORMAT, "truncated", "4000");
    write_raw(p, "{}", 0, NULL, 0);
    expect_load_error(p, CNN_ERR_FORMAT, "header length 0", NULL);

    /* offsets past the end of the data: the truncated message */
    write_raw(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000],\"data_offsets\":[0,4000]}}", -1, data,
              12);
    expect_load_error(p, CNN_ERR_FORMAT, "truncated: header says 4000 bytes of data, file has 12",
                      "'w'");

    static const struct {
        const char *header, *w1, *w2;
    } cases[] = {
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", "malformed header JSON",
         "end of header"},
        {"{\"w\":}", "malformed header JSON", "'}'"},
        {"[1]", "malformed header JSON", "expected '{'"},
        {"{} x", "malformed header JSON", "after the header"},
        {"{\"w\" {}}", "expected ':'", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "integer", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", "leading zero", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}",
         "out of range", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}", "integer", NULL},
        {"{\"w\\q\":{}}", "unknown escape", NULL},
        {"{\"w\\ud800x\":{}}", "surrogate", NULL},
        {"{\"w\\u00\":{}}", "\\u escape", NULL},
        {"{\"w\x01\":{}}", "control character", NULL},
        {"{\"w", "unterminated string", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", "unknown key",
         "\"x\""},
        {"{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         "duplicate key", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         "duplicate tensor name 'w'", NULL},
        {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "'w'", "missing \"dtype\""},
        {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "missing \"shape\"", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", "missing \"data_offsets\"", NULL},
        {"{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", "dtype must be a string",
         NULL},
        {"{\"w\":{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype \"Q8\"",
         "'w'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
         "shape dimension 0 is -1", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
         "7 dimensions", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "hold 8 bytes",
         "needs 12"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}",
         "end before they begin", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", "3 entries", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", "negative", NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         "'a' and 'b' overlap", NULL},
        {"{\"__metadata__\":{\"k\":1}}", "values must be strings", NULL},
        {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", "duplicate metadata key", NULL},
        {"{\"__metadata__\":[]}", "expected '{'", NULL},
        {"", "malformed header JSON", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *h = cases[i].header;
        size_t hl = strlen(h);
        if (hl < 2) { /* header shorter than "{}" is not sane; use a padded blank one */
            write_raw(p, "  ", -1, data, sizeof data);
        } else {
            write_raw(p, h, -1, data, sizeof data);
        }
        expect_load_error(p, CNN_ERR_FORMAT, cases[i].w1, cases[i].w2);
    }

    /* a header that fits but whose NUL byte is inside it */
    write_raw(p, "{}", 3, "\0", 1);
    expect_load_error(p, CNN_ERR_FORMAT, "byte 0x00", NULL);

    /* missing file, a directory */
    expect_load_error(tmp_path("absent.safetensors"), CNN_ERR_IO, "cannot open", NULL);
    expect_load_error(g_dir, CNN_ERR_IO, NULL, NULL);
    cnn_tensor_file *f = NULL;
    assert_int_equal(cnn_safetensors_load(NULL, &f), CNN_ERR_INVALID_ARG);
}

/* Random corruption of a valid file: errors or a valid load, never a crash (ASan). */
static void test_fuzz(void **state)
{
    (void)state;
    size_t n;
    unsigned char *good = slurp("tests/fixtures/safetensors_io.safetensors", &n);
    assert_non_null(good);
    unsigned char *buf = malloc(n);
    const char *p = tmp_path("fuzz.safetensors");
    cnn_rng r;
    cnn_rng_seed(&r, 3);
    int rounds = tu_quick() ? 150 : 600;
    for (int it = 0; it < rounds; it++) {
        memcpy(buf, good, n);
        size_t len = n;
        int kind = (int)cnn_rng_below(&r, 3);
        if (kind == 0) { /* flip bytes */
            for (int k = 0; k < 3; k++)
                buf[cnn_rng_below(&r, (uint32_t)n)] = (unsigned char)cnn_rng_u64(&r);
        } else if (kind == 1) { /* truncate */
            len = cnn_rng_below(&r, (uint32_t)n);
        } else { /* replace a header character with a JSON structural one */
            const char *sym = "{}[],:\"\\0-e ";
            buf[8 + cnn_rng_below(&r, (uint32_t)(n - 8))] =
                (unsigned char)sym[cnn_rng_below(&r, 12)];
        }
        FILE *fp = fopen(p, "wb");
        fwrite(buf, 1, len, fp);
        fclose(fp);
        cnn_tensor_file *f = NULL;
        cnn_status s = cnn_safetensors_load(p, &f);
        if (s == CNN_OK) {
            assert_non_null(f);
            cnn_tensor_file_free(f);
        } else {
            assert_null(f);
            assert_true(strlen(cnn_error_message()) > 0);
        }
    }
    free(buf);
    free(good);
}

/* ---------------------------------------------------------------- atomic save */
static void test_atomic_save(void **state)
{
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {6, 5, 4, 3, 2, 1};
    cnn_tensor ta = {.ndim = 2, .dims = {2, 3}, .data = a},
               tb = {.ndim = 2, .dims = {2, 3}, .data = b};
    const char *path = tmp_path("atomic.safetensors");
    TU_OK(cnn_safetensors_save(path, 1, (cnn_named_tensor[]){{"w", &ta}}, 0, NULL));
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);

    /* into a directory that does not exist: I/O error, nothing created */
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/no/such/dir/w.safetensors", g_dir);
    assert_int_equal(cnn_safetensors_save(missing, 1, (cnn_named_tensor[]){{"w", &ta}}, 0, NULL),
                     CNN_ERR_IO);
    assert_non_null(strstr(cnn_error_message(), missing));

    /* invalid requests change nothing */
    const char *meta[] = {"k", "v", "k", "w"};
    assert_int_equal(
        cnn_safetensors_save(path, 2, (cnn_named_tensor[]){{"w", &tb}, {"w", &tb}}, 0, NULL),
        CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_error_message(), "duplicate tensor name 'w'"));
    assert_int_equal(cnn_safetensors_save(path, 1, (cnn_named_tensor[]){{"w", &tb}}, 2, meta),
                     CNN_ERR_INVALID_ARG);
    assert_int_equal(
        cnn_safetensors_save(path, 1, (cnn_named_tensor[]){{"__metadata__", &tb}}, 0, NULL),
        CNN_ERR_INVALID_ARG);
    cnn_tensor nodata = {.ndim = 1, .dims = {3}};
    assert_int_equal(cnn_safetensors_save(path, 1, (cnn_named_tensor[]){{"w", &nodata}}, 0, NULL),
                     CNN_ERR_INVALID_ARG);

    /* every allocation failing in turn: an error, the old file intact, no temporary */
    int k = 1;
    for (;; k++) {
        cnn_alloc_fail_after(k);
        cnn_status s = cnn_safetensors_save(path, 1, (cnn_named_tensor[]){{"w", &tb}}, 1, meta);
        cnn_alloc_fail_after(0);
        assert_int_equal(count_temp_files(), 0);
        if (s == CNN_OK) break;
        assert_int_equal(s, CNN_ERR_NOMEM);
        unsigned char *now = slurp(path, &n1);
        assert_int_equal(n0, n1);
        assert_memory_equal(before, now, n0);
        free(now);
    }
    assert_true(k > 1);
    /* the successful save replaced it */
    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load(path, &f));
    cnn_tensor v;
    TU_OK(cnn_tensor_file_get(f, "w", &v));
    assert_memory_equal(v.data, b, sizeof b);
    assert_string_equal(cnn_tensor_file_meta(f, "k"), "v");
    cnn_tensor_file_free(f);

    /* a target that cannot be replaced (a non-empty directory): error, temp removed */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/adir", g_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    char inner[1100];
    snprintf(inner, sizeof inner, "%s/x", dir);
    FILE *fx = fopen(inner, "wb");
    fclose(fx);
    assert_int_equal(cnn_safetensors_save(dir, 1, (cnn_named_tensor[]){{"w", &ta}}, 0, NULL),
                     CNN_ERR_IO);
    assert_non_null(strstr(cnn_error_message(), "rename"));
    assert_int_equal(count_temp_files(), 0);
    remove(inner);
    rmdir(dir);
    free(before);
}

/* ---------------------------------------------------------------- graph weights */
/* x (2, 3, 6, 6) -> conv (4, 3, 3, 3) + bias -> bn(4) -> flatten -> fc (classes, 144) */
static cnn_graph *net(int classes, uint64_t seed)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 6, 6});
    x = cnn_conv2d(g, x, 4, .kernel = 3, .padding = 1, .name = "conv");
    x = cnn_batchnorm2d(g, x, .name = "bn");
    x = cnn_flatten(g, x);
    cnn_linear(g, x, classes, .name = "fc");
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, seed));
    return g;
}

static void params_equal(cnn_graph *a, cnn_graph *b, bool want_equal)
{
    bool all = true;
    for (int i = 0; i < cnn_graph_num_params(a); i++) {
        cnn_param *p = cnn_graph_param(a, i), *q = cnn_graph_param(b, i);
        assert_string_equal(p->name, q->name);
        if (memcmp(p->value.data, q->value.data, cnn_tensor_numel(&p->value) * sizeof(float)))
            all = false;
    }
    assert_true(all == want_equal);
}

static void test_graph_weights(void **state)
{
    (void)state;
    const char *path = tmp_path("weights.safetensors");
    cnn_graph *a = net(5, 1), *b = net(5, 2);
    /* make the buffers differ too */
    cnn_graph_find_param(a, "bn.running_mean")->value.data[2] = 0.75f;
    params_equal(a, b, false);
    const char *meta[] = {"model", "tiny"};
    TU_OK(cnn_graph_save_weights(a, path, 1, meta));
    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load(path, &f));
    /* graph order, params and buffers */
    const char *order[] = {"conv.weight",     "conv.bias",      "bn.weight", "bn.bias",
                           "bn.running_mean", "bn.running_var", "fc.weight", "fc.bias"};
    assert_int_equal(cnn_tensor_file_count(f), 8);
    for (int i = 0; i < 8; i++) assert_string_equal(cnn_tensor_file_name(f, i), order[i]);
    assert_string_equal(cnn_tensor_file_meta(f, "model"), "tiny");
    cnn_tensor_file_free(f);
    TU_OK(cnn_graph_load_weights(b, path, true));
    params_equal(a, b, true);

    /* an uncompiled graph is compiled by load */
    cnn_graph *u = cnn_graph_new();
    cnn_node *x = cnn_input(u, "x", 4, (int[]){2, 3, 6, 6});
    x = cnn_conv2d(u, x, 4, .kernel = 3, .padding = 1, .name = "conv");
    x = cnn_batchnorm2d(u, x, .name = "bn");
    cnn_linear(u, cnn_flatten(u, x), 5, .name = "fc");
    TU_OK(cnn_graph_load_weights(u, path, true));
    params_equal(a, u, true);
    cnn_graph_free(u);

    /* a file without fc.bias, with an extra key, and num_batches_tracked */
    float extra[2] = {1, 2}, nbt = 3;
    cnn_tensor te = {.ndim = 1, .dims = {2}, .data = extra}, tn = {.ndim = 0, .data = &nbt};
    cnn_named_tensor list[10];
    int n = 0;
    for (int i = 0; i < cnn_graph_num_params(a); i++) {
        cnn_param *p = cnn_graph_param(a, i);
        if (strcmp(p->name, "fc.bias") != 0) list[n++] = (cnn_named_tensor){p->name, &p->value};
    }
    list[n++] = (cnn_named_tensor){"bn.num_batches_tracked", &tn};
    const char *partial = tmp_path("partial.safetensors");
    TU_OK(cnn_safetensors_save(partial, n, list, 0, NULL));
    cnn_graph *c = net(5, 3);
    cnn_tensor fcb = cnn_graph_find_param(c, "fc.bias")->value;
    float keep[5];
    memcpy(keep, fcb.data, sizeof keep);
    assert_int_equal(cnn_graph_load_weights(c, partial, true), CNN_ERR_NOT_FOUND);
    assert_non_null(strstr(cnn_error_message(), "missing key 'fc.bias'"));
    assert_non_null(strstr(cnn_error_message(), "(5)"));
    params_equal(a, c, false); /* a failed load changes nothing */
    TU_OK(cnn_graph_load_weights(c, partial, false));
    assert_memory_equal(fcb.data, keep, sizeof keep); /* absent: left alone */
    assert_memory_equal(cnn_graph_find_param(c, "fc.weight")->value.data,
                        cnn_graph_find_param(a, "fc.weight")->value.data, 5 * 144 * sizeof(float));

    list[n++] = (cnn_named_tensor){"fc.bias", &cnn_graph_find_param(a, "fc.bias")->value};
    list[n++] = (cnn_named_tensor){"head.extra", &te};
    const char *extra_path = tmp_path("extra.safetensors");
    TU_OK(cnn_safetensors_save(extra_path, n, list, 0, NULL));
    assert_int_equal(cnn_graph_load_weights(c, extra_path, true), CNN_ERR_NOT_FOUND);
    assert_non_null(strstr(cnn_error_message(), "unexpected key 'head.extra'"));
    TU_OK(cnn_graph_load_weights(c, extra_path, false));
    params_equal(a, c, true);
    cnn_graph_free(c);

    /* shape mismatch: an error in both modes, naming the key and both shapes */
    cnn_graph *d = net(7, 4);
    for (int strict = 0; strict < 2; strict++) {
        assert_int_equal(cnn_graph_load_weights(d, path, strict), CNN_ERR_SHAPE);
        const char *m = cnn_error_message();
        assert_non_null(strstr(m, "'fc.weight'"));
        assert_non_null(strstr(m, "(5, 144)"));
        assert_non_null(strstr(m, "(7, 144)"));
    }
    /* errors of the file itself come through */
    assert_int_equal(cnn_graph_load_weights(d, tmp_path("none.safetensors"), false), CNN_ERR_IO);
    cnn_graph_free(d);
    cnn_graph_free(a);
    cnn_graph_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_fixturelib_file),
        cmocka_unit_test(test_dtypes),        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_fuzz),          cmocka_unit_test(test_atomic_save),
        cmocka_unit_test(test_graph_weights),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

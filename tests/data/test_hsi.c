/* Hyperspectral data (src/data/hsi.c, npy.c, hsi_synth.c): .mat v5 / v7.3 and .npy
   round trips, PCA against a double-precision reference, patches at the borders
   against a padded-array reference, the stratified split, the synthetic scene, the
   map PNG, and every validation error. */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <sys/stat.h>

#ifdef CNN_HAVE_MATIO
#include <matio.h>
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

/* A known cube value and label: f(y, x, b), label(y, x). */
static double cube_val(int y, int x, int b) { return 100.0 * y + 10.0 * x + b - 7.0; }
static int label_val(int y, int x) { return (y * 3 + x) % 4; }

#ifdef CNN_HAVE_MATIO
static bool mat73_ok(void)
{
    const char *p = dt_path(g_dir, "probe73.mat");
    mat_t *m = Mat_CreateVer(p, NULL, MAT_FT_MAT73);
    if (!m) return false;
    Mat_Close(m);
    remove(p);
    return true;
}

/* Writes variables into a .mat file: each (name, class, rank, dims, column-major data). */
typedef struct tvar {
    const char *name;
    enum matio_classes cls;
    enum matio_types type;
    int rank;
    size_t dims[3];
    void *data;
} tvar;

static void write_mat(const char *path, bool v73, const tvar *v, int n)
{
    mat_t *m = Mat_CreateVer(path, NULL, v73 ? MAT_FT_MAT73 : MAT_FT_MAT5);
    assert_non_null(m);
    for (int i = 0; i < n; i++) {
        matvar_t *mv;
        static double one = 1.0;
        size_t ed[2] = {1, 1};
        if (v[i].cls == MAT_C_CELL || v[i].cls == MAT_C_STRUCT) { /* every cell (field) holds 1.0 */
            const char *fields[2] = {"alpha", "beta"};
            size_t cells = v[i].dims[0] * v[i].dims[1];
            mv = v[i].cls == MAT_C_CELL
                     ? Mat_VarCreate(v[i].name, MAT_C_CELL, MAT_T_CELL, 2, (size_t *)v[i].dims, NULL, 0)
                     : Mat_VarCreateStruct(v[i].name, 2, (size_t *)v[i].dims, fields, 2);
            assert_non_null(mv);
            for (size_t c = 0; c < cells; c++) {
                if (v[i].cls == MAT_C_CELL)
                    Mat_VarSetCell(mv, (int)c, Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, ed, &one, 0));
                else
                    for (int k = 0; k < 2; k++)
                        Mat_VarSetStructFieldByName(
                            mv, fields[k], c, Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, ed, &one, 0));
            }
        } else {
            mv = Mat_VarCreate(v[i].name, v[i].cls, v[i].type, v[i].rank, (size_t *)v[i].dims, v[i].data, 0);
        }
        assert_non_null(mv);
        /* v5: every other variable compressed, as MATLAB's -v7 writes them */
        assert_int_equal(Mat_VarWrite(m, mv, !v73 && i % 2 ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE), 0);
        Mat_VarFree(mv);
    }
    Mat_Close(m);
}
#endif

enum { TH = 5, TW = 4, TB = 3 };

#ifdef CNN_HAVE_MATIO
/* Column-major (MATLAB) arrays of the known values in several classes. */
static void make_arrays(double *cd, float *cf, int16_t *ci, uint8_t *gu, double *gd)
{
    for (int y = 0; y < TH; y++)
        for (int x = 0; x < TW; x++) {
            gu[y + TH * x] = (uint8_t)label_val(y, x);
            gd[y + TH * x] = label_val(y, x);
            for (int b = 0; b < TB; b++) {
                size_t k = (size_t)y + TH * ((size_t)x + TW * (size_t)b);
                cd[k] = cube_val(y, x, b);
                cf[k] = (float)cube_val(y, x, b);
                ci[k] = (int16_t)cube_val(y, x, b);
            }
        }
}
#endif

static void check_cube(const cnn_tensor *t)
{
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->dims[0], TH);
    assert_int_equal(t->dims[1], TW);
    assert_int_equal(t->dims[2], TB);
    for (int y = 0; y < TH; y++)
        for (int x = 0; x < TW; x++)
            for (int b = 0; b < TB; b++)
                assert_true(t->data[((size_t)y * TW + (size_t)x) * TB + (size_t)b] == (float)cube_val(y, x, b));
}

static void check_gt(const cnn_tensor *t)
{
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->dims[0], TH);
    assert_int_equal(t->dims[1], TW);
    for (int y = 0; y < TH; y++)
        for (int x = 0; x < TW; x++) assert_true(t->data[y * TW + x] == (float)label_val(y, x));
}

#ifdef CNN_HAVE_MATIO
static void mat_roundtrip(bool v73)
{
    double cd[TH * TW * TB], gd[TH * TW];
    float cf[TH * TW * TB];
    int16_t ci[TH * TW * TB];
    uint8_t gu[TH * TW];
    make_arrays(cd, cf, ci, gu, gd);
    char name[64];
    snprintf(name, sizeof name, "rt%s.mat", v73 ? "73" : "5");
    const char *p = dt_path(g_dir, name);
    char text[] = "hello";
    tvar vars[] = {
        {"cube_d", MAT_C_DOUBLE, MAT_T_DOUBLE, 3, {TH, TW, TB}, cd},
        {"cube_f", MAT_C_SINGLE, MAT_T_SINGLE, 3, {TH, TW, TB}, cf},
        {"cube_i", MAT_C_INT16, MAT_T_INT16, 3, {TH, TW, TB}, ci},
        {"gt_u8", MAT_C_UINT8, MAT_T_UINT8, 2, {TH, TW}, gu},
        {"gt_d", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {TH, TW}, gd},
        {"words", MAT_C_CHAR, MAT_T_UINT8, 2, {1, 5}, text},
        {"things", MAT_C_CELL, MAT_T_CELL, 2, {2, 3}, NULL},
        {"meta", MAT_C_STRUCT, MAT_T_STRUCT, 2, {1, 4}, NULL},
    };
    write_mat(p, v73, vars, 8);
    cnn_tensor t;
    static const char *const cubes[] = {"cube_d", "cube_f", "cube_i"};
    for (int i = 0; i < 3; i++) {
        TU_OK(cnn_hsi_read(p, cubes[i], 3, &t));
        check_cube(&t);
        cnn_tensor_free(&t);
    }
    TU_OK(cnn_hsi_read(p, "gt_u8", 2, &t));
    check_gt(&t);
    cnn_tensor_free(&t);
    TU_OK(cnn_hsi_read(p, "gt_d", 2, &t));
    check_gt(&t);
    cnn_tensor_free(&t);
    /* several 3-D numeric variables and no known name: ambiguous without a name */
    DT_FAILS(cnn_hsi_read(p, NULL, 3, &t), CNN_ERR_INVALID_ARG, "several 3-D numeric variables");
    DT_FAILS(cnn_hsi_read(p, "nope", 3, &t), CNN_ERR_NOT_FOUND, "no variable 'nope'");
    DT_FAILS(cnn_hsi_read(p, "nope", 3, &t), CNN_ERR_NOT_FOUND, name);
    DT_FAILS(cnn_hsi_read(p, "words", 2, &t), CNN_ERR_FORMAT, "words (1x5 char)");
    DT_FAILS(cnn_hsi_read(p, "things", 2, &t), CNN_ERR_FORMAT, "is not numeric");
    DT_FAILS(cnn_hsi_read(p, "gt_d", 3, &t), CNN_ERR_SHAPE, "has 2 dimensions, the cube");
    assert_null(t.data);

    /* defaults: a public scene's name wins; else the only variable of the rank */
    snprintf(name, sizeof name, "known%s.mat", v73 ? "73" : "5");
    p = dt_path(g_dir, name);
    tvar known[] = {
        {"other", MAT_C_SINGLE, MAT_T_SINGLE, 3, {TH, TW, TB}, cf},
        {"indian_pines_corrected", MAT_C_DOUBLE, MAT_T_DOUBLE, 3, {TH, TW, TB}, cd},
        {"indian_pines_gt", MAT_C_UINT8, MAT_T_UINT8, 2, {TH, TW}, gu},
    };
    for (int i = 0; i < TH * TW * TB; i++) cf[i] = -1.0f; /* "other" must not be read */
    write_mat(p, v73, known, 3);
    TU_OK(cnn_hsi_read(p, NULL, 3, &t));
    check_cube(&t);
    cnn_tensor_free(&t);
    TU_OK(cnn_hsi_read(p, NULL, 2, &t));
    check_gt(&t);
    cnn_tensor_free(&t);
    snprintf(name, sizeof name, "only%s.mat", v73 ? "73" : "5");
    p = dt_path(g_dir, name);
    tvar only[] = {
        {"scene", MAT_C_INT16, MAT_T_INT16, 3, {TH, TW, TB}, ci},
        {"labels", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {TH, TW}, gd},
        {"note", MAT_C_CHAR, MAT_T_UINT8, 2, {1, 5}, text},
    };
    write_mat(p, v73, only, 3);
    TU_OK(cnn_hsi_read(p, NULL, 3, &t));
    check_cube(&t);
    cnn_tensor_free(&t);
    TU_OK(cnn_hsi_read(p, NULL, 2, &t));
    check_gt(&t);
    cnn_tensor_free(&t);
}

static void test_mat_v5(void **state)
{
    (void)state;
    mat_roundtrip(false);
}

static void test_mat_v73(void **state)
{
    (void)state;
    if (!mat73_ok()) {
        tu_skip("matio cannot write MATLAB v7.3 here");
    }
    mat_roundtrip(true);
}
#else
/* Without matio a .mat file is recognised and refused; .npy files (below) still load. */
static void test_mat_v5(void **state)
{
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s", dt_path(g_dir, "v5.mat"));
    char head[128];
    memset(head, ' ', sizeof head);
    memcpy(head, "MATLAB 5.0 MAT-file", 19);
    dt_write(p, head, sizeof head);
    cnn_tensor t;
    tu_expect_not_built(cnn_hsi_read(p, NULL, 3, &t), "matio");
    assert_null(t.data);
    TU_NEEDS(TU_HAVE_MATIO, "matio");
}

static void test_mat_v73(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_MATIO, "matio");
}
#endif

/* ---------------------------------------------------------------- npy */
/* A .npy file with the given header dict and raw data. */
static void write_npy(const char *path, const char *dict, const void *data, size_t bytes, int version)
{
    char hdr[256];
    int k = snprintf(hdr, sizeof hdr, "%s", dict);
    size_t pre = version == 1 ? 10 : 12;
    while ((pre + (size_t)k + 1) % 64) hdr[k++] = ' ';
    hdr[k++] = '\n';
    uint8_t buf[4096];
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)version;
    buf[7] = 0;
    buf[8] = (uint8_t)(k & 255);
    buf[9] = (uint8_t)(k >> 8);
    if (version > 1) buf[10] = buf[11] = 0;
    memcpy(buf + pre, hdr, (size_t)k);
    memcpy(buf + pre + (size_t)k, data, bytes);
    dt_write(path, buf, pre + (size_t)k + bytes);
}

static void test_npy(void **state)
{
    (void)state;
    /* float32 through the writer */
    cnn_tensor t, u;
    TU_OK(cnn_tensor_alloc(&t, 3, (int[]){TH, TW, TB}));
    for (int y = 0; y < TH; y++)
        for (int x = 0; x < TW; x++)
            for (int b = 0; b < TB; b++) t.data[(y * TW + x) * TB + b] = (float)cube_val(y, x, b);
    const char *p = dt_path(g_dir, "c.npy");
    TU_OK(cnn_npy_save(p, &t));
    cnn_tensor_free(&t);
    TU_OK(cnn_npy_load(p, &u));
    check_cube(&u);
    TU_OK(cnn_hsi_read(p, NULL, 3, &t)); /* through the format detection */
    check_cube(&t);
    cnn_tensor_free(&t);
    cnn_tensor_free(&u);
    size_t sz;
    uint8_t *raw = dt_read(p, &sz);
    assert_int_equal(sz % 64, (size_t)(TH * TW * TB * 4) % 64); /* data aligned to 64 */
    free(raw);

    /* float64, C order, version 2 */
    double d[TH * TW];
    for (int y = 0; y < TH; y++)
        for (int x = 0; x < TW; x++) d[y * TW + x] = label_val(y, x);
    p = dt_path(g_dir, "g64.npy");
    write_npy(p, "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 4), }", d, sizeof d, 2);
    TU_OK(cnn_hsi_read(p, NULL, 2, &t));
    check_gt(&t);
    cnn_tensor_free(&t);
    /* int64 labels, Fortran order (column-major), as scipy / MATLAB exports give */
    int64_t l[TH * TW];
    for (int y = 0; y < TH; y++)
        for (int x = 0; x < TW; x++) l[y + TH * x] = label_val(y, x);
    p = dt_path(g_dir, "gf.npy");
    write_npy(p, "{'descr': '<i8', 'fortran_order': True, 'shape': (5, 4), }", l, sizeof l, 1);
    TU_OK(cnn_hsi_read(p, NULL, 2, &t));
    check_gt(&t);
    cnn_tensor_free(&t);
    /* big-endian int32 and uint8 */
    uint8_t be[TH * TW * 4], u8[TH * TW];
    for (int i = 0; i < TH * TW; i++) {
        int32_t v = label_val(i / TW, i % TW) - 2;
        for (int k = 0; k < 4; k++) be[i * 4 + k] = (uint8_t)((uint32_t)v >> (24 - 8 * k));
        u8[i] = (uint8_t)label_val(i / TW, i % TW);
    }
    p = dt_path(g_dir, "be.npy");
    write_npy(p, "{'descr': '>i4', 'fortran_order': False, 'shape': (5, 4), }", be, sizeof be, 1);
    TU_OK(cnn_npy_load(p, &t));
    for (int i = 0; i < TH * TW; i++) assert_true(t.data[i] == (float)(label_val(i / TW, i % TW) - 2));
    cnn_tensor_free(&t);
    p = dt_path(g_dir, "u8.npy");
    write_npy(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (5, 4), }", u8, sizeof u8, 1);
    TU_OK(cnn_hsi_read(p, NULL, 2, &t));
    check_gt(&t);
    cnn_tensor_free(&t);

    /* errors */
    p = dt_path(g_dir, "short.npy");
    write_npy(p, "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 5), }", d, sizeof d, 1);
    DT_FAILS(cnn_npy_load(p, &t), CNN_ERR_FORMAT, "short.npy");
    DT_FAILS(cnn_npy_load(p, &t), CNN_ERR_FORMAT, "expected");
    p = dt_path(g_dir, "cplx.npy");
    write_npy(p, "{'descr': '<c8', 'fortran_order': False, 'shape': (5, 2), }", d, 80, 1);
    DT_FAILS(cnn_npy_load(p, &t), CNN_ERR_UNSUPPORTED, "'<c8'");
    p = dt_path(g_dir, "bad.npy");
    dt_write(p, "NUMPY but not really", 20);
    DT_FAILS(cnn_npy_load(p, &t), CNN_ERR_FORMAT, "no \\x93NUMPY magic");
    /* a .npy of the wrong rank for a cube */
    p = dt_path(g_dir, "g64.npy");
    DT_FAILS(cnn_hsi_read(p, NULL, 3, &t), CNN_ERR_SHAPE, "(5, 4)");
    DT_FAILS(cnn_hsi_read(p, "var", 2, &t), CNN_ERR_INVALID_ARG, "has no variables");
    DT_FAILS(cnn_npy_load(dt_path(g_dir, "missing.npy"), &t), CNN_ERR_IO, "missing.npy");
}

/* ---------------------------------------------------------------- PCA */
/* Double-precision reference: covariance, then top-k eigenpairs by power iteration
   with deflation (eigenvalues here are well separated). */
static void ref_pca(const float *x, int n, int b, int k, double *vals, double *vecs, double *mean,
                    double *trace)
{
    double *c = calloc((size_t)b * b, sizeof *c);
    assert_non_null(c);
    for (int j = 0; j < b; j++) {
        mean[j] = 0;
        for (int i = 0; i < n; i++) mean[j] += x[i * b + j];
        mean[j] /= n;
    }
    for (int p = 0; p < b; p++)
        for (int q = 0; q < b; q++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += (x[i * b + p] - mean[p]) * (x[i * b + q] - mean[q]);
            c[p * b + q] = s / (n - 1);
        }
    *trace = 0;
    for (int p = 0; p < b; p++) *trace += c[p * b + p];
    for (int e = 0; e < k; e++) {
        double *v = vecs + (size_t)e * b, w[64];
        for (int j = 0; j < b; j++) v[j] = 1.0 + 0.1 * j;
        double lam = 0;
        for (int it = 0; it < 5000; it++) {
            double nrm = 0;
            for (int p = 0; p < b; p++) {
                w[p] = 0;
                for (int q = 0; q < b; q++) w[p] += c[p * b + q] * v[q];
                nrm += w[p] * w[p];
            }
            nrm = sqrt(nrm);
            for (int p = 0; p < b; p++) v[p] = w[p] / nrm;
            lam = nrm;
        }
        vals[e] = lam;
        for (int p = 0; p < b; p++)
            for (int q = 0; q < b; q++) c[p * b + q] -= lam * v[p] * v[q];
    }
    free(c);
}

static void test_pca(void **state)
{
    (void)state;
    enum { N = 400, B = 8, K = 4 };
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    /* random orthonormal basis (Gram-Schmidt) with variances 16, 8, 4, ... along it */
    double basis[B][B];
    for (int i = 0; i < B; i++) {
        for (int j = 0; j < B; j++) basis[i][j] = cnn_rng_normal(&r);
        for (int k = 0; k < i; k++) {
            double d = 0;
            for (int j = 0; j < B; j++) d += basis[i][j] * basis[k][j];
            for (int j = 0; j < B; j++) basis[i][j] -= d * basis[k][j];
        }
        double nn = 0;
        for (int j = 0; j < B; j++) nn += basis[i][j] * basis[i][j];
        for (int j = 0; j < B; j++) basis[i][j] /= sqrt(nn);
    }
    static float x[N * B];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < B; j++) x[i * B + j] = 50.0f + 0.3f * j; /* offset: centring matters */
    for (int i = 0; i < N; i++)
        for (int e = 0; e < B; e++) {
            float z = cnn_rng_normal(&r) * sqrtf(16.0f / (float)(1 << e));
            for (int j = 0; j < B; j++) x[i * B + j] += z * (float)basis[e][j];
        }
    double vals[K], vecs[K * B], mean[B], trace;
    ref_pca(x, N, B, K, vals, vecs, mean, &trace);

    static float out[N * B];
    float comp[B * B];
    double expl[B];
    /* all components: explained ratios sum to 1, components orthonormal */
    TU_OK(cnn_hsi_pca(x, N, B, B, false, out, comp, expl));
    double sum = 0;
    for (int j = 0; j < B; j++) {
        sum += expl[j];
        if (j) assert_true(expl[j] <= expl[j - 1]);
        for (int i = 0; i < B; i++) {
            double d = 0;
            for (int q = 0; q < B; q++) d += (double)comp[j * B + q] * comp[i * B + q];
            assert_true(fabs(d - (i == j)) < 1e-5);
        }
    }
    assert_true(fabs(sum - 1.0) < 1e-9);

    /* top K: explained = reference eigenvalue / trace; projections = reference up to
       sign. float32 data and output: 1e-4 relative on values of size ~4 is ~30 ulps. */
    for (int whiten = 0; whiten < 2; whiten++) {
        TU_OK(cnn_hsi_pca(x, N, B, K, whiten, out, comp, expl));
        for (int e = 0; e < K; e++) {
            assert_true(fabs(expl[e] - vals[e] / trace) < 1e-9);
            double dot = 0;
            for (int q = 0; q < B; q++) dot += comp[e * B + q] * vecs[e * B + q];
            assert_true(fabs(fabs(dot) - 1.0) < 1e-5);
            double sign = dot < 0 ? -1.0 : 1.0, scale = whiten ? 1.0 / sqrt(vals[e]) : 1.0;
            float want[N], got[N];
            double var = 0;
            for (int i = 0; i < N; i++) {
                double s = 0;
                for (int q = 0; q < B; q++) s += (x[i * B + q] - mean[q]) * vecs[e * B + q];
                want[i] = (float)(sign * s * scale);
                got[i] = out[i * K + e];
                var += (double)got[i] * got[i];
            }
            TU_ASSERT_CLOSE(got, want, N, 1e-4f, 1e-4f, whiten ? "whitened projection" : "projection");
            if (whiten) assert_true(fabs(var / (N - 1) - 1.0) < 1e-4); /* unit variance */
        }
    }
    DT_FAILS(cnn_hsi_pca(x, N, B, B + 1, true, out, NULL, NULL), CNN_ERR_INVALID_ARG, "9 components");
}

/* ---------------------------------------------------------------- patches */
/* The seed's way: pad the whole (h, w, k) array with zeros, then slice. */
static void ref_patch(const float *a, int h, int w, int k, int s, int y, int x, float *out)
{
    int lo = (s - 1) / 2, ph = h + s - 1, pw = w + s - 1;
    float *pad = calloc((size_t)ph * pw * k, sizeof *pad);
    assert_non_null(pad);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            for (int c = 0; c < k; c++) pad[((i + lo) * pw + j + lo) * k + c] = a[(i * w + j) * k + c];
    /* pixel (y, x) sits at (y + lo, x + lo): its window starts at (y, x) */
    for (int c = 0; c < k; c++)
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) out[(c * s + i) * s + j] = pad[((y + i) * pw + x + j) * k + c];
    free(pad);
}

static void test_patch(void **state)
{
    (void)state;
    enum { H = 7, W = 6, K = 3 };
    float a[H * W * K], got[K * 9 * 9], want[K * 9 * 9];
    for (int i = 0; i < H * W * K; i++) a[i] = 1.0f + (float)i; /* no zeros inside */
    static const int sizes[] = {1, 3, 4, 5, 9};
    for (int si = 0; si < 5; si++) {
        int s = sizes[si];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                cnn_hsi_patch(a, H, W, K, s, y, x, got);
                ref_patch(a, H, W, K, s, y, x, want);
                char what[64];
                snprintf(what, sizeof what, "patch %d at (%d, %d)", s, y, x);
                if (memcmp(got, want, sizeof(float) * (size_t)(K * s * s)) != 0) fail_msg("%s differs", what);
            }
    }
    /* corner (0, 0), S = 5: rows/cols 0-1 of the window are padding, centre is a[0][0] */
    cnn_hsi_patch(a, H, W, K, 5, 0, 0, got);
    assert_true(got[0] == 0.0f && got[1 * 5 + 4] == 0.0f && got[4 * 5 + 1] == 0.0f);
    assert_true(got[2 * 5 + 2] == a[0] && got[25 + 2 * 5 + 2] == a[1]);
}

/* ---------------------------------------------------------------- split */
static void test_split(void **state)
{
    (void)state;
    enum { N = 600 };
    int32_t gt[N];
    /* class sizes 200, 101, 37, 2, 1, the rest unlabelled, shuffled */
    static const int want_n[6] = {0, 200, 101, 37, 2, 1};
    int k = 0;
    for (int c = 1; c < 6; c++)
        for (int i = 0; i < want_n[c]; i++) gt[k++] = c;
    while (k < N) gt[k++] = 0;
    cnn_rng r;
    cnn_rng_seed(&r, 1);
    for (int i = N - 1; i > 0; i--) {
        int j = (int)cnn_rng_below(&r, (uint32_t)i + 1), t = gt[i];
        gt[i] = gt[j];
        gt[j] = t;
    }

    uint8_t s1[N], s2[N], s3[N];
    TU_OK(cnn_hsi_split(gt, N, 0.7f, 42, s1));
    TU_OK(cnn_hsi_split(gt, N, 0.7f, 42, s2));
    TU_OK(cnn_hsi_split(gt, N, 0.7f, 43, s3));
    assert_memory_equal(s1, s2, N); /* reproducible */
    assert_memory_not_equal(s1, s3, N);
    int test[6] = {0}, train[6] = {0};
    for (int i = 0; i < N; i++) {
        /* every labelled pixel in exactly one side, unlabelled in none */
        assert_int_equal(s1[i] == 0, gt[i] == 0);
        assert_true(s1[i] <= 2);
        if (s1[i] == 1) train[gt[i]]++;
        if (s1[i] == 2) test[gt[i]]++;
    }
    /* round(0.7 n), keeping one pixel on each side when n >= 2 */
    static const int want_test[6] = {0, 140, 71, 26, 1, 0};
    for (int c = 1; c < 6; c++) {
        assert_int_equal(test[c], want_test[c]);
        assert_int_equal(train[c] + test[c], want_n[c]);
    }
    uint8_t s4[N];
    TU_OK(cnn_hsi_split(gt, N, 0.25f, 42, s4));
    int t4 = 0;
    for (int i = 0; i < N; i++) t4 += gt[i] == 1 && s4[i] == 2;
    assert_int_equal(t4, 50);
    DT_FAILS(cnn_hsi_split(gt, N, 1.0f, 0, s4), CNN_ERR_INVALID_ARG, "test ratio 1");
}

/* ---------------------------------------------------------------- scenes */
static void test_synth_and_dataset(void **state)
{
    (void)state;
    enum { H = 24, W = 20, B = 16, C = 4 };
    cnn_hsi_synth_opts so = {.height = H, .width = W, .bands = B, .classes = C, .seed = 3};
    float *c1 = malloc(sizeof(float) * H * W * B), *c2 = malloc(sizeof(float) * H * W * B);
    int32_t g1[H * W], g2[H * W];
    TU_OK(cnn_hsi_synthesize(&so, c1, g1));
    TU_OK(cnn_hsi_synthesize(&so, c2, g2));
    assert_memory_equal(c1, c2, sizeof(float) * H * W * B); /* a function of the seed */
    assert_memory_equal(g1, g2, sizeof g1);
    int per[C + 1] = {0};
    for (int i = 0; i < H * W; i++) {
        assert_true(g1[i] >= 0 && g1[i] <= C);
        per[g1[i]]++;
        for (int b = 0; b < B; b++) assert_true(isfinite(c1[i * B + b]));
    }
    for (int c = 0; c <= C; c++) assert_true(per[c] > 0); /* all classes and some unlabelled */

    if (!TU_HAVE_MATIO) {
        tu_expect_not_built(cnn_hsi_synth_write(g_dir, &so), "matio");
        free(c1);
        free(c2);
        TU_NEEDS(TU_HAVE_MATIO, "matio");
    }
#ifdef CNN_HAVE_MATIO
    TU_OK(cnn_hsi_synth_write(g_dir, &so));
    cnn_tensor t;
    TU_OK(cnn_hsi_read(dt_path(g_dir, "synthetic.mat"), "synthetic", 3, &t));
    assert_memory_equal(t.data, c1, sizeof(float) * H * W * B);
    cnn_tensor_free(&t);
    TU_OK(cnn_hsi_read(dt_path(g_dir, "synthetic_gt.mat"), NULL, 2, &t));
    for (int i = 0; i < H * W; i++) assert_true(t.data[i] == (float)g1[i]);
    cnn_tensor_free(&t);

    /* the data set through a spec: gt found next to the cube, K x S x S examples */
    char spec[1024];
    snprintf(spec, sizeof spec, "hsi:%s?pca=5&patch=7&test=0.6&seed=9", dt_path(g_dir, "synthetic.mat"));
    cnn_dataset tr, te;
    TU_OK(cnn_dataset_open(spec, true, &tr));
    TU_OK(cnn_dataset_open(spec, false, &te));
    int labelled = H * W - per[0];
    assert_int_equal(tr.n + te.n, labelled);
    assert_int_equal(tr.c, 1);
    assert_int_equal(tr.d, 5);
    assert_int_equal(tr.h, 7);
    assert_int_equal(tr.w, 7);
    assert_int_equal(tr.classes, C);
    assert_non_null(strstr(tr.source, "train"));
    /* examples in raster order of their pixels: rebuild them from the scene and split */
    cnn_hsi_opts o = {.cube = dt_path(g_dir, "synthetic.mat"), .pca = 5, .patch = 7};
    cnn_hsi_scene sc;
    TU_OK(cnn_hsi_scene_load(&o, &sc));
    assert_int_equal(sc.labelled, labelled);
    uint8_t split[H * W];
    TU_OK(cnn_hsi_split(sc.gt, H * W, 0.6f, 9, split));
    int e[3] = {0};
    float ex[5 * 7 * 7];
    for (int i = 0; i < H * W; i++) {
        if (!split[i]) continue;
        cnn_dataset *d = split[i] == 1 ? &tr : &te;
        int k = e[split[i]]++;
        assert_int_equal(d->labels[k], sc.gt[i] - 1);
        cnn_hsi_patch(sc.pcs, H, W, 5, 7, i / W, i % W, ex);
        assert_memory_equal(d->f32 + (size_t)k * 245, ex, sizeof ex);
    }
    assert_int_equal(e[1], tr.n);
    assert_int_equal(e[2], te.n);
    cnn_hsi_scene_free(&sc);
    cnn_dataset_free(&tr);
    cnn_dataset_free(&te);

    /* v7.3 files read the same */
    if (mat73_ok()) {
        char d73[600];
        snprintf(d73, sizeof d73, "%s/v73", g_dir);
        so.v73 = true;
        TU_OK(cnn_hsi_synth_write(d73, &so));
        char path[700];
        snprintf(path, sizeof path, "%s/synthetic.mat", d73);
        TU_OK(cnn_hsi_read(path, NULL, 3, &t));
        assert_memory_equal(t.data, c1, sizeof(float) * H * W * B);
        cnn_tensor_free(&t);
    }
    free(c1);
    free(c2);
#endif
}

/* X_corrected.npy finds X_gt.npy; the npy pair works as a scene */
static void test_npy_scene(void **state)
{
    (void)state;
    enum { H = 12, W = 10, B = 6 };
    cnn_tensor c, g;
    TU_OK(cnn_tensor_alloc(&c, 3, (int[]){H, W, B}));
    TU_OK(cnn_tensor_alloc(&g, 2, (int[]){H, W}));
    cnn_rng r;
    cnn_rng_seed(&r, 2);
    for (int i = 0; i < H * W; i++) {
        g.data[i] = (float)((i / W) / 4 + 1) * (i % 7 != 0); /* 3 bands of rows, some unlabelled */
        for (int b = 0; b < B; b++) c.data[i * B + b] = g.data[i] * (float)b + cnn_rng_normal(&r);
    }
    char cube_p[600], gt_p[600], other_p[600];
    snprintf(cube_p, sizeof cube_p, "%s/scene_corrected.npy", g_dir);
    snprintf(gt_p, sizeof gt_p, "%s/scene_gt.npy", g_dir);
    TU_OK(cnn_npy_save(cube_p, &c));
    TU_OK(cnn_npy_save(gt_p, &g));
    cnn_hsi_opts o = {.cube = cube_p, .pca = 3, .patch = 5};
    cnn_hsi_scene sc;
    TU_OK(cnn_hsi_scene_load(&o, &sc));
    assert_int_equal(sc.h, H);
    assert_int_equal(sc.w, W);
    assert_int_equal(sc.bands, B);
    assert_int_equal(sc.classes, 3);
    for (int i = 0; i < H * W; i++) assert_int_equal(sc.gt[i], (int)g.data[i]);
    cnn_hsi_scene_free(&sc);

    /* errors, each naming the file (and variable) at fault */
    cnn_dataset d;
    o.patch = 13;
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_INVALID_ARG, "patch 13 is larger than the 12x10 image");
    o.patch = 5;
    o.pca = 7;
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_INVALID_ARG, "pca 7 is more than its 6 bands");
    o.pca = 3;
    cnn_tensor g2;
    TU_OK(cnn_tensor_alloc(&g2, 2, (int[]){H, W - 1}));
    snprintf(other_p, sizeof other_p, "%s/small_gt.npy", g_dir);
    TU_OK(cnn_npy_save(other_p, &g2));
    o.gt = other_p;
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_SHAPE, "small_gt.npy:npy is 12x9 but the cube");
    cnn_tensor_free(&g2);
    g.data[13] = 2.5f;
    snprintf(other_p, sizeof other_p, "%s/frac_gt.npy", g_dir);
    TU_OK(cnn_npy_save(other_p, &g));
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_FORMAT, "label 2.5 at pixel (1, 3)");
    g.data[13] = -1.0f;
    snprintf(other_p, sizeof other_p, "%s/neg_gt.npy", g_dir);
    TU_OK(cnn_npy_save(other_p, &g));
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_FORMAT, "neg_gt.npy");
    snprintf(other_p, sizeof other_p, "%s/absent_gt.npy", g_dir);
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_IO, "absent_gt.npy: no such file");
    o.gt = NULL;
    snprintf(other_p, sizeof other_p, "%s/lonely.npy", g_dir);
    o.cube = other_p;
    TU_OK(cnn_npy_save(o.cube, &c));
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_NOT_FOUND, "lonely_gt.npy");
    o.cube = o.gt = gt_p; /* a 2-D array as the cube */
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_SHAPE, "cube (H, W, bands) needs 3");
    assert_null(d.f32);
    cnn_tensor_free(&c);
    cnn_tensor_free(&g);
}

static void test_mat_errors(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_MATIO, "matio");
#ifdef CNN_HAVE_MATIO
    double cd[TH * TW * TB], gd[TH * TW], g6[6 * TW];
    float cf[TH * TW * TB];
    int16_t ci[TH * TW * TB];
    uint8_t gu[TH * TW];
    make_arrays(cd, cf, ci, gu, gd);
    for (int i = 0; i < 6 * TW; i++) g6[i] = 1;
    char text[] = "abcde";
    tvar cube[] = {{"paviaU", MAT_C_DOUBLE, MAT_T_DOUBLE, 3, {TH, TW, TB}, cd}};
    tvar gts[] = {
        {"paviaU_gt", MAT_C_UINT8, MAT_T_UINT8, 2, {TH, TW}, gu},
        {"tall", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, {6, TW}, g6},
        {"chars", MAT_C_CHAR, MAT_T_UINT8, 2, {1, 5}, text},
        {"cells", MAT_C_CELL, MAT_T_CELL, 2, {1, 1}, NULL},
    };
    char cube_p[600], junk_p[600];
    snprintf(cube_p, sizeof cube_p, "%s/PaviaU.mat", g_dir);
    snprintf(junk_p, sizeof junk_p, "%s/junk.mat", g_dir);
    write_mat(cube_p, false, cube, 1);
    write_mat(dt_path(g_dir, "PaviaU_gt.mat"), false, gts, 4);
    cnn_hsi_opts o = {.cube = cube_p, .pca = 2, .patch = 3};
    cnn_dataset d;
    TU_OK(cnn_dataset_open_hsi(&o, true, &d)); /* default names and gt file */
    assert_int_equal(d.classes, 3);
    cnn_dataset_free(&d);
    o.gt_var = "tall";
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_SHAPE, "PaviaU_gt.mat:tall is 6x4 but the cube");
    o.gt_var = "chars";
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_FORMAT, "variable chars (1x5 char) is not numeric");
    o.gt_var = "cells";
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_FORMAT, "cells (1x1 cell) is not numeric");
    o.gt_var = "missing";
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_NOT_FOUND, "PaviaU_gt.mat: no variable 'missing'");
    o.gt_var = NULL;
    o.cube_var = "paviaU_cube";
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_NOT_FOUND, "variables: paviaU (5x4x3 double)");
    o.cube_var = NULL;
    o.patch = 6;
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_INVALID_ARG, "PaviaU.mat:paviaU: patch 6 is larger");
    o.patch = 3;
    o.gt = cube_p; /* a file without a 2-D numeric variable */
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_NOT_FOUND, "no 2-D numeric variable");
    dt_write(junk_p, "this is not a mat file at all, really not one", 45);
    o.gt = junk_p;
    DT_FAILS(cnn_dataset_open_hsi(&o, true, &d), CNN_ERR_FORMAT, "junk.mat: not a MATLAB");

    /* specs */
    DT_FAILS(cnn_dataset_open("hsi:x.mat?pca=0", true, &d), CNN_ERR_INVALID_ARG, "pca=0");
    DT_FAILS(cnn_dataset_open("hsi:x.mat?colour=red", true, &d), CNN_ERR_INVALID_ARG, "unknown option 'colour'");
    DT_FAILS(cnn_dataset_open("hsi:x.mat?test=1.5", true, &d), CNN_ERR_INVALID_ARG, "test=1.5");
    DT_FAILS(cnn_dataset_open("hsi:?pca=3", true, &d), CNN_ERR_INVALID_ARG, "no cube file");
    cnn_hsi_opts po;
    char buf[256];
    TU_OK(cnn_hsi_parse_spec("hsi:a/b.mat?gt=c.mat&pca=12&patch=9&test=0.5&seed=4&cube-var=X&gt-var=Y&whiten=0",
                             &po, buf, sizeof buf));
    assert_string_equal(po.cube, "a/b.mat");
    assert_string_equal(po.gt, "c.mat");
    assert_string_equal(po.cube_var, "X");
    assert_string_equal(po.gt_var, "Y");
    assert_int_equal(po.pca, 12);
    assert_int_equal(po.patch, 9);
    assert_true(po.test_ratio == 0.5f);
    assert_int_equal(po.seed, 4);
    assert_true(po.no_whiten);
#endif
}

static void test_map_png(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    enum { H = 6, W = 5 };
    int32_t pred[H * W], gt[H * W];
    for (int i = 0; i < H * W; i++) {
        pred[i] = 1 + i % 16;
        gt[i] = i % 3;
    }
    const char *p = dt_path(g_dir, "map.png");
    TU_OK(cnn_hsi_map_png(p, H, W, pred, gt, 2));
    int c, h, w;
    TU_OK(cnn_image_info(p, &c, &h, &w));
    assert_int_equal(c, 3);
    assert_int_equal(h, H * 2);
    assert_int_equal(w, 2 * W * 2 + 4);
    float *img = malloc(sizeof(float) * 3 * (size_t)h * (size_t)w);
    TU_OK(cnn_image_load(p, 3, h, w, img));
    size_t plane = (size_t)h * w;
    /* pred (0, 0) = class 1 (230, 25, 75); gap white; gt (0, 0) = 0 black; gt (0, 1) = class 1 */
    assert_true(fabsf(img[0] - 230 / 255.0f) < 1e-6f && fabsf(img[plane] - 25 / 255.0f) < 1e-6f);
    assert_true(img[2 * W * 2 / 2 + 1] == 1.0f);                          /* in the gap */
    assert_true(img[2 * W + 4] == 0.0f && img[plane + 2 * W + 4] == 0.0f); /* gt (0, 0) */
    assert_true(fabsf(img[2 * W + 4 + 2] - 230 / 255.0f) < 1e-6f);       /* gt (0, 1) */
    free(img);
    DT_FAILS(cnn_hsi_map_png(p, H, W, pred, gt, 0), CNN_ERR_INVALID_ARG, "scale 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mat_v5),     cmocka_unit_test(test_mat_v73),
        cmocka_unit_test(test_npy),        cmocka_unit_test(test_pca),
        cmocka_unit_test(test_patch),      cmocka_unit_test(test_split),
        cmocka_unit_test(test_synth_and_dataset), cmocka_unit_test(test_npy_scene),
        cmocka_unit_test(test_mat_errors), cmocka_unit_test(test_map_png),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}

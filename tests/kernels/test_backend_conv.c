/* The cpu backend against the reference backend (the oracle), kernel by kernel:
   convolution forward, backward-data (accumulating onto a non-zero dx) and
   backward-weights (accumulating onto non-zero dw / db) over a sweep of kernel,
   stride, padding, dilation, groups (incl. depthwise), odd sizes, batch and bias in
   2D, 3D cases incl. HybridSN's, every oneDNN layout, and GEMM with all transposes.
   On failure every parameter of the case is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "testutil.h"

static cnn_rng g_rng;

static float *rnd(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    tu_fill(p, n, -1.0f, 1.0f, &g_rng);
    return p;
}

static float *dup(const float *a, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    memcpy(p, a, n * sizeof *p);
    return p;
}

static void print_desc(const cnn_conv_desc *c, bool bias, const char *layout, const char *what)
{
    fprintf(stderr,
            "FAILED %s: n=%d c_in=%d c_out=%d groups=%d in=%dx%dx%d out=%dx%dx%d k=%dx%dx%d "
            "s=%dx%dx%d p=%dx%dx%d d=%dx%dx%d bias=%d layout=%s\n",
            what, c->n, c->c_in, c->c_out, c->groups, c->in[0], c->in[1], c->in[2], c->out[0],
            c->out[1], c->out[2], c->k[0], c->k[1], c->k[2], c->s[0], c->s[1], c->s[2], c->p[0],
            c->p[1], c->p[2], c->d[0], c->d[1], c->d[2], bias, layout);
}

/* Fills out[] from in[]; false when the kernel does not fit the padded input. */
static bool finish_desc(cnn_conv_desc *c)
{
    for (int i = 0; i < 3; i++) {
        int ext = c->d[i] * (c->k[i] - 1) + 1;
        if (c->in[i] + 2 * c->p[i] < ext) return false;
        c->out[i] = (c->in[i] + 2 * c->p[i] - ext) / c->s[i] + 1;
    }
    return true;
}

/* Runs one case on both backends; returns the number of failed comparisons.
   Scratch is sized for batch 3 (the graph's build-time batch) and the case may run a
   smaller batch, as the executor does. Tolerance: both backends sum the same products
   in different orders (and oneDNN's kernels use FMA), so results differ by float32
   rounding of a K-term sum of products in [-1, 1]: at most ~K * 6e-8 absolute. atol =
   2e-6 * K stays well below one product (a wrong or missing tap moves a value by
   ~0.3 on average), and rtol = 1e-4 covers the rounding of large sums. */
static int run_case(const cnn_conv_desc *c0, bool bias, const char *layout)
{
    cnn_conv_desc c = *c0, cmax = *c0;
    cmax.n = 3;
    size_t sp_in = (size_t)c.in[0] * c.in[1] * c.in[2], sp_out = (size_t)c.out[0] * c.out[1] * c.out[2];
    size_t kv = (size_t)c.k[0] * c.k[1] * c.k[2];
    size_t xs = (size_t)c.n * c.c_in * sp_in, ys = (size_t)c.n * c.c_out * sp_out;
    size_t ws = (size_t)c.c_out * (c.c_in / c.groups) * kv;
    size_t sb = cnn_conv_scratch_bytes(&cmax);
    if (cnn_backend_cpu.conv_scratch(&c) > sb) { /* scratch must not grow as batch shrinks */
        print_desc(&c, bias, layout, "scratch for a smaller batch exceeds the max batch's");
        return 1;
    }
    void *scratch = aligned_alloc(64, (sb + 63) / 64 * 64 + 64);
    assert_non_null(scratch);
    float *x = rnd(xs), *w = rnd(ws), *b = bias ? rnd((size_t)c.c_out) : NULL, *dy = rnd(ys);
    float *y_ref = rnd(ys), *y_cpu = rnd(ys); /* garbage: forward must overwrite */
    float *dx_ref = rnd(xs), *dx_cpu = dup(dx_ref, xs);
    float *dw_ref = rnd(ws), *dw_cpu = dup(dw_ref, ws);
    float *db_ref = rnd((size_t)c.c_out), *db_cpu = dup(db_ref, (size_t)c.c_out);
    float *dbr = bias ? db_ref : NULL, *dbc = bias ? db_cpu : NULL;

    cnn_backend_ref.conv_forward(&c, x, w, b, y_ref, scratch);
    cnn_backend_cpu.conv_forward(&c, x, w, b, y_cpu, scratch);
    cnn_backend_ref.conv_backward_data(&c, dy, w, dx_ref, scratch);
    cnn_backend_cpu.conv_backward_data(&c, dy, w, dx_cpu, scratch);
    cnn_backend_ref.conv_backward_weights(&c, x, dy, dw_ref, dbr, scratch);
    cnn_backend_cpu.conv_backward_weights(&c, x, dy, dw_cpu, dbc, scratch);

    float kf = (float)((c.c_in / c.groups) * kv);                 /* forward sum length */
    float kd = (float)((c.c_out / c.groups) * kv);                /* backward-data, at most */
    float kw = (float)((size_t)c.n * sp_out);                     /* backward-weights */
    int bad = 0;
    if (!tu_close(y_cpu, y_ref, ys, 2e-6f * kf, 1e-4f, "forward y")) {
        print_desc(&c, bias, layout, "forward");
        bad++;
    }
    if (!tu_close(dx_cpu, dx_ref, xs, 2e-6f * kd, 1e-4f, "backward-data dx")) {
        print_desc(&c, bias, layout, "backward-data");
        bad++;
    }
    if (!tu_close(dw_cpu, dw_ref, ws, 2e-6f * kw, 1e-4f, "backward-weights dw")) {
        print_desc(&c, bias, layout, "backward-weights dw");
        bad++;
    }
    if (!tu_close(db_cpu, db_ref, (size_t)c.c_out, 2e-6f * kw, 1e-4f, "backward-weights db")) {
        print_desc(&c, bias, layout, "backward-weights db");
        bad++;
    }
    free(scratch), free(x), free(w), free(b), free(dy), free(y_ref), free(y_cpu);
    free(dx_ref), free(dx_cpu), free(dw_ref), free(dw_cpu), free(db_ref), free(db_cpu);
    return bad;
}

static cnn_conv_desc desc2d(int n, int ci, int co, int g, int h, int w, int kh, int kw, int s,
                            int p, int d)
{
    cnn_conv_desc c = {.n = n, .c_in = ci, .c_out = co, .groups = g, .in = {1, h, w},
                       .k = {1, kh, kw}, .s = {1, s, s}, .p = {0, p, p}, .d = {1, d, d}};
    return c;
}

/* 2D sweep, as ncnn's test_convolution: kernel 1/3/5/7/5x3, stride 1/2, padding
   0/1/2, dilation 1/2, groups 1/2/3/depthwise (thin channels: plain oneDNN layout;
   multiples of 16: blocked), odd sizes, batch 1/3, bias on/off. */
static void test_conv2d_sweep(void **state)
{
    (void)state;
    static const int ks[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {5, 3}};
    static const int chans[][3] = {/* c_in, c_out, groups (0: depthwise) */
                                   {3, 5, 1}, {16, 32, 1}, {4, 6, 2}, {32, 32, 2},
                                   {6, 9, 3}, {5, 5, 0},   {16, 16, 0}};
    int bad = 0, cases = 0, i = 0;
    int every = tu_quick() ? 5 : 1;
    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++)
        for (int s = 1; s <= 2; s++)
            for (int p = 0; p <= 2; p++)
                for (int d = 1; d <= 2; d++)
                    for (size_t ch = 0; ch < sizeof chans / sizeof chans[0]; ch++) {
                        if (i++ % every) continue;
                        int g = chans[ch][2] ? chans[ch][2] : chans[ch][0];
                        int n = (i % 2) ? 3 : 1;
                        cnn_conv_desc c = desc2d(n, chans[ch][0], chans[ch][1], g, 9 + (i % 3), 11,
                                                 ks[k][0], ks[k][1], s, p, d);
                        if (!finish_desc(&c)) continue;
                        bad += run_case(&c, (i / 2) % 2 == 0, "auto");
                        cases++;
                    }
    fprintf(stderr, "conv2d sweep: %d cases, %d failures\n", cases, bad);
    assert_true(cases > (tu_quick() ? 40 : 250));
    assert_int_equal(bad, 0);
}

/* Each oneDNN layout forced on thin and wide layers: blocked on C = 3 pads the
   channel blocks, plain on C = 32 takes oneDNN's gemm-based kernels. */
static void test_conv2d_layouts(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_DNNL, "oneDNN");
#ifdef CNN_HAVE_DNNL
    cnn_conv_desc cs[] = {desc2d(3, 3, 5, 1, 9, 11, 3, 3, 1, 1, 1),
                          desc2d(2, 32, 48, 1, 8, 7, 3, 3, 2, 1, 1),
                          desc2d(1, 32, 16, 2, 7, 9, 5, 3, 1, 2, 2),
                          desc2d(3, 16, 24, 1, 6, 6, 1, 1, 1, 0, 1)};
    static const char *names[] = {"auto", "plain", "blocked"};
    int bad = 0;
    for (int l = CNN_CPU_LAYOUT_PLAIN; l <= CNN_CPU_LAYOUT_BLOCKED; l++) {
        cnn_cpu_set_layout(l);
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            assert_true(finish_desc(&cs[i]));
            bad += run_case(&cs[i], i % 2 == 0, names[l]);
        }
    }
    cnn_cpu_set_layout(CNN_CPU_LAYOUT_AUTO);
    assert_int_equal(bad, 0);
#endif
}

/* Winograd F(4,3) range: 3x3 stride 1 dense layers of 16-multiple channels with at
   least 512 output pixels per call (padding 0/1/2, odd sizes, a plane that is not a
   multiple of the 4x4 output tile, bias on and off). */
static void test_conv2d_winograd(void **state)
{
    (void)state;
    cnn_conv_desc cs[] = {desc2d(2, 16, 32, 1, 16, 16, 3, 3, 1, 1, 1),
                          desc2d(3, 32, 16, 1, 17, 15, 3, 3, 1, 1, 1),
                          desc2d(1, 16, 16, 1, 27, 29, 3, 3, 1, 0, 1),
                          desc2d(2, 48, 32, 1, 19, 18, 3, 3, 1, 2, 1)};
    int bad = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        assert_true(finish_desc(&cs[i]));
        bad += run_case(&cs[i], i % 2 == 0, "auto (winograd)");
    }
    assert_int_equal(bad, 0);
}

/* A tiny per-call scratch cap splits batches into chunks of images (and a remainder):
   same results as one call, for every kind, blocked and plain, 2D and 3D. */
static void test_conv_chunked(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_DNNL, "oneDNN");
#ifdef CNN_HAVE_DNNL
    cnn_cpu_set_chunk_cap(64 * 1024);
    cnn_conv_desc cs[] = {desc2d(3, 16, 32, 1, 16, 16, 3, 3, 1, 1, 1),
                          desc2d(3, 32, 16, 1, 13, 11, 3, 3, 2, 1, 1),
                          desc2d(3, 3, 8, 1, 40, 40, 5, 5, 1, 2, 1)};
    int bad = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        assert_true(finish_desc(&cs[i]));
        bad += run_case(&cs[i], true, "auto (chunked)");
        bad += run_case(&cs[i], false, "auto (chunked)");
    }
    cnn_cpu_set_chunk_cap(0);
    assert_int_equal(bad, 0);
#endif
}

/* 1x1 planes with "same" padding: every output reads one tap (conv_tap.c's GEMMs):
   1x1 / 3x3 / 5x5 / dilated / rectangular kernels, bias on and off, odd channel counts. */
static void test_conv_one_tap(void **state)
{
    (void)state;
    cnn_conv_desc cs[] = {desc2d(3, 32, 48, 1, 1, 1, 3, 3, 1, 1, 1),
                          desc2d(2, 17, 5, 1, 1, 1, 5, 5, 1, 2, 1),
                          desc2d(1, 64, 64, 1, 1, 1, 3, 3, 1, 2, 2),
                          desc2d(3, 7, 9, 1, 1, 1, 3, 3, 2, 1, 1),
                          /* 1x1 kernels: a squeeze-and-excitation gate's fully connected layers */
                          desc2d(1, 96, 24, 1, 1, 1, 1, 1, 1, 0, 1),
                          desc2d(3, 24, 96, 1, 1, 1, 1, 1, 1, 0, 1),
                          desc2d(2, 58, 13, 1, 1, 1, 1, 1, 2, 0, 1)};
    int bad = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        assert_true(finish_desc(&cs[i]));
        assert_int_equal(cs[i].out[1], 1);
        bad += run_case(&cs[i], true, "auto (one tap)");
        bad += run_case(&cs[i], false, "auto (one tap)");
    }
    assert_int_equal(bad, 0);
}

static cnn_conv_desc desc3d(int n, int ci, int co, int g, int dd, int h, int w, int kd, int kh,
                            int kw, int s, int p, int d)
{
    cnn_conv_desc c = {.n = n, .c_in = ci, .c_out = co, .groups = g, .in = {dd, h, w},
                       .k = {kd, kh, kw}, .s = {s, s, s}, .p = {p, p, p}, .d = {d, d, d}};
    return c;
}

/* 3D: HybridSN's three convolutions (7x3x3, 5x3x3, 3x3x3 on a spectral cube), a
   blocked 16->16, and stride / padding / dilation / groups. */
static void test_conv3d(void **state)
{
    (void)state;
    cnn_conv_desc cs[] = {
        desc3d(2, 1, 8, 1, 15, 9, 9, 7, 3, 3, 1, 0, 1),  desc3d(1, 8, 16, 1, 9, 7, 7, 5, 3, 3, 1, 0, 1),
        desc3d(3, 16, 32, 1, 5, 5, 5, 3, 3, 3, 1, 0, 1), desc3d(2, 16, 16, 1, 6, 7, 5, 3, 3, 3, 1, 1, 1),
        desc3d(3, 4, 6, 2, 7, 9, 8, 3, 3, 3, 2, 1, 1),   desc3d(1, 6, 6, 3, 9, 8, 9, 3, 3, 3, 1, 2, 2),
        desc3d(2, 3, 4, 1, 6, 6, 6, 1, 1, 1, 2, 0, 1),   desc3d(2, 5, 5, 5, 6, 7, 6, 3, 3, 3, 1, 1, 1),
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        assert_true(finish_desc(&cs[i]));
        bad += run_case(&cs[i], i % 2 == 1, "auto");
    }
    assert_int_equal(bad, 0);
}

/* 3D with a different stride, padding and dilation on each axis (depth, height and
   width each take a value the other two do not), dense, grouped, depthwise and blocked:
   a kernel that takes one axis's geometry for another differs from the reference. */
static void test_conv3d_per_axis(void **state)
{
    (void)state;
    static const int geo[][13] = {
        /* n ci co g  D  H  W  kd kh kw  (s, p, d per axis follow in the struct below) */
        {2, 3, 4, 1, 9, 8, 7, 3, 3, 3},  {1, 4, 6, 2, 11, 9, 8, 3, 2, 3},
        {2, 6, 6, 6, 10, 9, 9, 3, 3, 3}, {2, 16, 16, 1, 9, 8, 10, 3, 3, 3},
        {1, 2, 3, 1, 12, 7, 9, 5, 3, 3}, {3, 3, 5, 1, 8, 10, 7, 2, 3, 2},
    };
    static const int spd[][9] = {
        /* s (D, H, W)  p (D, H, W)  d (D, H, W) */
        {2, 1, 3, 1, 0, 2, 1, 2, 1}, {3, 2, 1, 0, 1, 2, 2, 1, 1}, {1, 3, 2, 2, 0, 1, 1, 1, 2},
        {2, 1, 1, 0, 2, 1, 1, 1, 2}, {1, 2, 3, 2, 1, 0, 2, 1, 1}, {3, 1, 2, 1, 2, 0, 1, 2, 1},
    };
    int bad = 0, cases = 0;
    for (size_t i = 0; i < sizeof geo / sizeof geo[0]; i++)
        for (size_t j = 0; j < sizeof spd / sizeof spd[0]; j++) {
            if (tu_quick() && (i + j) % 3) continue;
            const int *a = geo[i], *b = spd[(i + j) % (sizeof spd / sizeof spd[0])];
            cnn_conv_desc c = {.n = a[0], .c_in = a[1], .c_out = a[2], .groups = a[3],
                               .in = {a[4], a[5], a[6]}, .k = {a[7], a[8], a[9]},
                               .s = {b[0], b[1], b[2]}, .p = {b[3], b[4], b[5]}, .d = {b[6], b[7], b[8]}};
            if (!finish_desc(&c)) continue;
            bad += run_case(&c, (i + j) % 2 == 0, "auto (3d per axis)");
            cases++;
        }
    fprintf(stderr, "conv3d per-axis: %d cases, %d failures\n", cases, bad);
    assert_true(cases >= (tu_quick() ? 10 : 30));
    assert_int_equal(bad, 0);
}

/* The same call twice (cached primitives) and after other shapes gives the same bits:
   the cache is keyed by the whole descriptor, not reused across shapes. */
static void test_cache_reuse(void **state)
{
    (void)state;
    cnn_conv_desc a = desc2d(2, 16, 16, 1, 8, 8, 3, 3, 1, 1, 1), b = a;
    b.p[1] = b.p[2] = 0;
    assert_true(finish_desc(&a) && finish_desc(&b));
    size_t xs = 2 * 16 * 64, ws = 16 * 16 * 9, ys = 2 * 16 * 64;
    size_t sb = cnn_conv_scratch_bytes(&a);
    void *scratch = aligned_alloc(64, (sb + 63) / 64 * 64);
    float *x = rnd(xs), *w = rnd(ws), *y1 = rnd(ys), *y2 = rnd(ys), *y3 = rnd(ys);
    cnn_backend_cpu.conv_forward(&a, x, w, NULL, y1, scratch);
    cnn_backend_cpu.conv_forward(&b, x, w, NULL, y3, scratch);
    cnn_backend_cpu.conv_forward(&a, x, w, NULL, y2, scratch);
    assert_memory_equal(y1, y2, ys * sizeof(float));
    assert_memory_not_equal(y1, y3, 36 * sizeof(float)); /* 6x6 output differs from 8x8 */
    free(scratch), free(x), free(w), free(y1), free(y2), free(y3);
}

/* Row-major GEMM, all transposes, leading dimensions above the minimum, alpha and
   beta (beta = 0 must ignore C's old contents, even NaN). Tolerance: K-term float
   sums of products in [-1, 1], as for the convolutions. */
static void test_gemm(void **state)
{
    (void)state;
    /* the last two are large enough to run on several threads: one row split by columns
       (a linear layer at batch 1) and three rows with a ragged column edge */
    static const int sizes[][3] = {{7, 13, 9},  {1, 5, 3},      {64, 70, 130}, {33, 1, 17},
                                   {5, 4, 0},   {1, 1030, 700}, {3, 203, 1500}};
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-1.5f, 0.7f}};
    int bad = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t q = 0; q < sizeof ab / sizeof ab[0]; q++) {
                    int m = sizes[si][0], n = sizes[si][1], k = sizes[si][2];
                    int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
                    size_t as = (size_t)(ta ? k : m) * lda, bs = (size_t)(tb ? n : k) * ldb;
                    size_t cs = (size_t)m * ldc;
                    float *a = rnd(as), *b = rnd(bs), *c_ref = rnd(cs);
                    if (ab[q][1] == 0.0f)
                        for (size_t i = 0; i < cs; i++) c_ref[i] = NAN;
                    float *c_cpu = dup(c_ref, cs);
                    cnn_backend_ref.gemm(ta, tb, m, n, k, ab[q][0], a, lda, b, ldb, ab[q][1], c_ref,
                                         ldc);
                    cnn_backend_cpu.gemm(ta, tb, m, n, k, ab[q][0], a, lda, b, ldb, ab[q][1], c_cpu,
                                         ldc);
                    /* compare the m x n block only (padding columns keep their values) */
                    for (int i = 0; i < m; i++)
                        if (!tu_close(c_cpu + (size_t)i * ldc, c_ref + (size_t)i * ldc, (size_t)n,
                                      2e-6f * (float)(k + 1), 1e-4f, "gemm C")) {
                            fprintf(stderr,
                                    "FAILED gemm: trans_a=%d trans_b=%d m=%d n=%d k=%d alpha=%g "
                                    "beta=%g lda=%d ldb=%d ldc=%d row=%d\n",
                                    ta, tb, m, n, k, ab[q][0], ab[q][1], lda, ldb, ldc, i);
                            bad++;
                            break;
                        }
                    free(a), free(b), free(c_ref), free(c_cpu);
                }
    assert_int_equal(bad, 0);
}

/* A row of C does not depend on how many rows the call has (a linear layer's output
   for one example is the same bits in any batch). */
static void test_gemm_batch_invariant(void **state)
{
    (void)state;
    /* small (one thread) and large enough for the threads to split a row by columns */
    static const int nk[][2] = {{37, 300}, {203, 1500}};
    const int m = 9;
    for (int s = 0; s < 2; s++) {
        int n = nk[s][0], k = nk[s][1];
        float *a = rnd((size_t)m * k), *b = rnd((size_t)n * k), *c9 = rnd((size_t)m * n);
        float *c1 = rnd((size_t)m * n);
        for (int tb = 0; tb < 2; tb++)
            for (int rows = 1; rows < m; rows++) {
                int ldb = tb ? k : n;
                cnn_backend_cpu.gemm(0, tb, m, n, k, 1.0f, a, k, b, ldb, 0.0f, c9, n);
                cnn_backend_cpu.gemm(0, tb, rows, n, k, 1.0f, a, k, b, ldb, 0.0f, c1, n);
                assert_memory_equal(c1, c9, (size_t)n * sizeof(float));
            }
        free(a), free(b), free(c9), free(c1);
    }
}

/* Run-time choice: cpu is the default, ref stays selectable, unknown names fail. */
static void test_backend_choice(void **state)
{
    (void)state;
    const char *env = getenv("CNN_BACKEND");
    if (!env) assert_string_equal(cnn_backend_name(), "cpu");
    assert_int_equal(cnn_set_backend("ref"), CNN_OK);
    assert_string_equal(cnn_backend_name(), "ref");
    assert_int_equal(cnn_set_backend("cpu"), CNN_OK);
    assert_string_equal(cnn_backend_name(), "cpu");
    assert_int_equal(cnn_set_backend("cuda-nope"), CNN_ERR_NOT_FOUND);
    assert_non_null(strstr(cnn_error_message(), "cuda-nope"));
}

int main(void)
{
    cnn_rng_seed(&g_rng, 1234);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_sweep), cmocka_unit_test(test_conv2d_layouts),
        cmocka_unit_test(test_conv2d_winograd), cmocka_unit_test(test_conv_chunked), cmocka_unit_test(test_conv_one_tap), cmocka_unit_test(test_conv3d), cmocka_unit_test(test_conv3d_per_axis),       cmocka_unit_test(test_cache_reuse),
        cmocka_unit_test(test_gemm),         cmocka_unit_test(test_gemm_batch_invariant),
        cmocka_unit_test(test_backend_choice),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

/* The short-reduction convolution kernels (src/kernels/cpu/conv_thin.c) against the
   reference backend, called directly (not through the dispatch rule), so every shape
   of the sweep runs them: kernel 1/3/5/7/11 (and 5x3), stride 1/2/3/4, padding 0-3,
   dilation 1/2, groups 1/2, C_in 1-4, odd sizes, batch 1-5, bias on/off; images
   large enough to be cut into several row chunks and small enough for several
   images per backward-weights item; forward must overwrite y, backward kernels add
   onto non-zero dx / dw / db. Scratch starts as NaN, so a read of memory the kernels
   did not write shows. Backward-weights must give the same bits on 1 and 2 threads.
   On failure every parameter of the case is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "testutil.h"

size_t cnn_ref_conv_scratch(const cnn_conv_desc *c);

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

static void *nan_scratch(size_t bytes)
{
    size_t nf = (bytes + 63) / 64 * 16 + 16;
    float *p = aligned_alloc(64, nf * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < nf; i++) p[i] = NAN;
    return p;
}

static void print_desc(const cnn_conv_desc *c, bool bias, const char *what)
{
    fprintf(stderr,
            "FAILED %s: n=%d c_in=%d c_out=%d groups=%d in=%dx%d out=%dx%d k=%dx%d s=%dx%d "
            "p=%dx%d d=%dx%d bias=%d\n",
            what, c->n, c->c_in, c->c_out, c->groups, c->in[1], c->in[2], c->out[1], c->out[2],
            c->k[1], c->k[2], c->s[1], c->s[2], c->p[1], c->p[2], c->d[1], c->d[2], bias);
}

static cnn_conv_desc desc2d(int n, int ci, int co, int g, int h, int w, int kh, int kw, int s,
                            int p, int d)
{
    cnn_conv_desc c = {.n = n, .c_in = ci, .c_out = co, .groups = g, .in = {1, h, w},
                       .k = {1, kh, kw}, .s = {1, s, s}, .p = {0, p, p}, .d = {1, d, d}};
    return c;
}

/* Fills out[]; false when the kernel does not fit the padded input. */
static bool finish_desc(cnn_conv_desc *c)
{
    c->out[0] = 1;
    for (int i = 1; i < 3; i++) {
        int ext = c->d[i] * (c->k[i] - 1) + 1;
        if (c->in[i] + 2 * c->p[i] < ext) return false;
        c->out[i] = (c->in[i] + 2 * c->p[i] - ext) / c->s[i] + 1;
    }
    return true;
}

/* One case, all three kernels; returns the number of failed comparisons. Tolerance as
   tests/kernels/test_backend_conv.c: float rounding of K-term sums of products in
   [-1, 1] differs by ~K * 6e-8; a wrong or missing tap moves a value by ~0.3. */
static int run_case(const cnn_conv_desc *c0, bool bias)
{
    cnn_conv_desc c = *c0;
    size_t sp_in = (size_t)c.in[1] * c.in[2], sp_out = (size_t)c.out[1] * c.out[2];
    size_t kv = (size_t)c.k[1] * c.k[2];
    size_t xs = (size_t)c.n * c.c_in * sp_in, ys = (size_t)c.n * c.c_out * sp_out;
    size_t ws = (size_t)c.c_out * (c.c_in / c.groups) * kv;
    void *sref = nan_scratch(cnn_ref_conv_scratch(&c));
    void *sthin = nan_scratch(cnn_thin_conv_scratch(&c));
    float *x = rnd(xs), *w = rnd(ws), *b = bias ? rnd((size_t)c.c_out) : NULL, *dy = rnd(ys);
    float *y_ref = rnd(ys), *y_thin = rnd(ys); /* garbage: forward must overwrite */
    float *dx_ref = rnd(xs), *dx_thin = dup(dx_ref, xs);
    float *dw_ref = rnd(ws), *dw_thin = dup(dw_ref, ws);
    float *db_ref = rnd((size_t)c.c_out), *db_thin = dup(db_ref, (size_t)c.c_out);
    float *dbr = bias ? db_ref : NULL, *dbt = bias ? db_thin : NULL;

    cnn_backend_ref.conv_forward(&c, x, w, b, y_ref, sref);
    cnn_thin_conv_forward(&c, x, w, b, y_thin, sthin);
    cnn_backend_ref.conv_backward_data(&c, dy, w, dx_ref, sref);
    cnn_thin_conv_backward_data(&c, dy, w, dx_thin, sthin);
    cnn_backend_ref.conv_backward_weights(&c, x, dy, dw_ref, dbr, sref);
    cnn_thin_conv_backward_weights(&c, x, dy, dw_thin, dbt, sthin);

    float kf = (float)((c.c_in / c.groups) * kv);
    float kd = (float)((c.c_out / c.groups) * kv);
    float kw = (float)((size_t)c.n * sp_out);
    int bad = 0;
    if (!tu_close(y_thin, y_ref, ys, 2e-6f * kf, 1e-4f, "forward y")) {
        print_desc(&c, bias, "forward");
        bad++;
    }
    if (!tu_close(dx_thin, dx_ref, xs, 2e-6f * kd, 1e-4f, "backward-data dx")) {
        print_desc(&c, bias, "backward-data");
        bad++;
    }
    if (!tu_close(dw_thin, dw_ref, ws, 2e-6f * kw, 1e-4f, "backward-weights dw")) {
        print_desc(&c, bias, "backward-weights dw");
        bad++;
    }
    if (!tu_close(db_thin, db_ref, (size_t)c.c_out, 2e-6f * kw, 1e-4f, "backward-weights db")) {
        print_desc(&c, bias, "backward-weights db");
        bad++;
    }
    free(sref), free(sthin), free(x), free(w), free(b), free(dy), free(y_ref), free(y_thin);
    free(dx_ref), free(dx_thin), free(dw_ref), free(dw_thin), free(db_ref), free(db_thin);
    return bad;
}

/* The sweep: every kernel size, stride, padding and dilation, with channels, groups,
   odd sizes, batch and bias varying along it. */
static void test_sweep(void **state)
{
    (void)state;
    static const int ks[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {11, 11}, {5, 3}};
    static const int chans[][3] = {/* c_in, c_out, groups */
                                   {1, 6, 1}, {3, 5, 1}, {2, 3, 1}, {4, 6, 2},
                                   {3, 16, 1}, {2, 4, 2}, {4, 9, 1}};
    int bad = 0, cases = 0, i = 0;
    int every = tu_quick() ? 4 : 1;
    for (int pass = 0; pass < 2; pass++) /* two channel / size mixes per combination */
        for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++)
            for (int s = 1; s <= 4; s++)
                for (int p = 0; p <= 3; p++)
                    for (int d = 1; d <= 2; d++) {
                        size_t ch = (size_t)(i + 3 * pass) % (sizeof chans / sizeof chans[0]);
                        if (i++ % every) continue;
                        int n = 1 + i % 5;
                        cnn_conv_desc c = desc2d(n, chans[ch][0], chans[ch][1], chans[ch][2],
                                                 9 + i % 7 + 6 * pass, 12 + (i / 3) % 9,
                                                 ks[k][0], ks[k][1], s, p, d);
                        if (!finish_desc(&c)) continue;
                        bad += run_case(&c, i % 3 != 0);
                        cases++;
                    }
    fprintf(stderr, "conv_thin sweep: %d cases, %d failures\n", cases, bad);
    assert_true(cases > (tu_quick() ? 80 : 330));
    assert_int_equal(bad, 0);
}

/* Layers of the networks this path is for, and shapes that reach its other branches:
   several row chunks per image (a large plane or a long reduction), several images
   per backward-weights item with a batch that does not fill the last item, rows
   narrower and wider than a vector, stride 3 with dilation. */
static void test_layers(void **state)
{
    (void)state;
    cnn_conv_desc cs[] = {
        desc2d(5, 1, 6, 1, 28, 28, 5, 5, 1, 2, 1),    /* LeNet conv 1 */
        desc2d(5, 6, 16, 1, 14, 14, 5, 5, 1, 0, 1),   /* LeNet conv 2 */
        desc2d(1, 3, 16, 1, 67, 61, 3, 3, 2, 1, 1),   /* MobileNet-style stem, odd plane */
        desc2d(2, 3, 8, 1, 99, 97, 11, 11, 4, 2, 1),  /* AlexNet-style, chunks of rows */
        desc2d(1, 3, 10, 1, 61, 70, 7, 7, 2, 3, 1),   /* ResNet-style stem */
        desc2d(2, 3, 12, 1, 90, 45, 3, 3, 1, 1, 1),   /* VGG-style, several chunks */
        desc2d(37, 2, 5, 1, 8, 9, 3, 3, 1, 1, 1),     /* many images per item */
        desc2d(3, 4, 4, 2, 40, 33, 5, 5, 3, 2, 2),    /* stride 3, dilation 2, groups */
        desc2d(2, 4, 8, 1, 20, 37, 1, 1, 1, 0, 1),    /* 1x1 */
        desc2d(2, 2, 3, 1, 15, 16, 3, 3, 1, 3, 1),    /* padding past the kernel */
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        assert_true(finish_desc(&cs[i]));
        bad += run_case(&cs[i], i % 2 == 0);
    }
    assert_int_equal(bad, 0);
}

/* Backward-weights sums into fixed slots in a fixed order: the same bits on 1 and 2
   threads. Forward and backward-data have no cross-thread sums: also the same bits. */
static void test_thread_invariance(void **state)
{
    (void)state;
    cnn_conv_desc cs[] = {desc2d(23, 6, 16, 1, 14, 14, 5, 5, 1, 0, 1),
                          desc2d(3, 3, 8, 1, 80, 64, 7, 7, 2, 3, 1)};
    int saved = cnn_get_threads();
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        cnn_conv_desc c = cs[i];
        assert_true(finish_desc(&c));
        size_t xs = (size_t)c.n * c.c_in * c.in[1] * c.in[2];
        size_t ys = (size_t)c.n * c.c_out * c.out[1] * c.out[2];
        size_t ws = (size_t)c.c_out * c.c_in * c.k[1] * c.k[2];
        void *sc = nan_scratch(cnn_thin_conv_scratch(&c));
        float *x = rnd(xs), *w = rnd(ws), *dy = rnd(ys), *b = rnd((size_t)c.c_out);
        float *out[2][4];
        for (int t = 0; t < 2; t++) {
            cnn_set_threads(t + 1);
            out[t][0] = calloc(ys, sizeof(float));
            out[t][1] = calloc(xs, sizeof(float));
            out[t][2] = calloc(ws, sizeof(float));
            out[t][3] = calloc((size_t)c.c_out, sizeof(float));
            cnn_thin_conv_forward(&c, x, w, b, out[t][0], sc);
            cnn_thin_conv_backward_data(&c, dy, w, out[t][1], sc);
            cnn_thin_conv_backward_weights(&c, x, dy, out[t][2], out[t][3], sc);
        }
        assert_memory_equal(out[0][0], out[1][0], ys * sizeof(float));
        assert_memory_equal(out[0][1], out[1][1], xs * sizeof(float));
        assert_memory_equal(out[0][2], out[1][2], ws * sizeof(float));
        assert_memory_equal(out[0][3], out[1][3], (size_t)c.c_out * sizeof(float));
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < 4; k++) free(out[t][k]);
        free(sc), free(x), free(w), free(dy), free(b);
    }
    cnn_set_threads(saved);
}

/* The graph sizes scratch at its largest batch and may run smaller ones; the size
   must not depend on the batch. */
static void test_scratch_batch(void **state)
{
    (void)state;
    cnn_conv_desc a = desc2d(64, 3, 16, 1, 32, 32, 3, 3, 2, 1, 1), b = a;
    b.n = 1;
    assert_true(finish_desc(&a) && finish_desc(&b));
    assert_true(cnn_thin_conv_scratch(&b) <= cnn_thin_conv_scratch(&a));
}

/* Forward runs in the smaller forward-only scratch (inference sizes it so): nothing
   past it is written. */
static void test_scratch_forward(void **state)
{
    (void)state;
    cnn_conv_desc cs[] = {desc2d(7, 3, 16, 1, 61, 58, 7, 7, 2, 3, 1),
                          desc2d(9, 6, 16, 1, 14, 14, 5, 5, 1, 0, 1)};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        cnn_conv_desc c = cs[i];
        assert_true(finish_desc(&c));
        size_t fb = cnn_thin_conv_scratch_forward(&c);
        assert_true(fb > 0 && fb <= cnn_thin_conv_scratch(&c));
        size_t xs = (size_t)c.n * c.c_in * c.in[1] * c.in[2];
        size_t ys = (size_t)c.n * c.c_out * c.out[1] * c.out[2];
        size_t ws = (size_t)c.c_out * c.c_in * c.k[1] * c.k[2];
        float *sc = nan_scratch(fb + 64 * sizeof(float)); /* 64 guard floats after fb */
        for (size_t q = 0; q < 64; q++) sc[fb / sizeof(float) + q] = 12345.0f;
        float *x = rnd(xs), *w = rnd(ws), *y = rnd(ys), *y_ref = rnd(ys);
        void *sref = nan_scratch(cnn_ref_conv_scratch(&c));
        cnn_thin_conv_forward(&c, x, w, NULL, y, sc);
        cnn_backend_ref.conv_forward(&c, x, w, NULL, y_ref, sref);
        for (size_t q = 0; q < 64; q++) assert_true(sc[fb / sizeof(float) + q] == 12345.0f);
        TU_ASSERT_CLOSE(y, y_ref, ys, 2e-6f * (float)(c.c_in * c.k[1] * c.k[2]), 1e-4f, "y");
        free(sc), free(x), free(w), free(y), free(y_ref), free(sref);
    }
}

/* The dispatch rule: dense 2D layers with a short reduction take this path;
   depthwise, 1x1, 3D, 16-channel-blocked and long-reduction layers do not. */
static void test_dispatch(void **state)
{
    (void)state;
    cnn_conv_desc lenet = desc2d(1, 6, 16, 1, 14, 14, 5, 5, 1, 0, 1);
    cnn_conv_desc stem = desc2d(1, 3, 64, 1, 224, 224, 7, 7, 2, 3, 1);
    cnn_conv_desc dw = desc2d(1, 16, 16, 16, 14, 14, 3, 3, 1, 1, 1);
    cnn_conv_desc wide = desc2d(1, 256, 256, 1, 14, 14, 3, 3, 1, 1, 1);
    cnn_conv_desc blocked = desc2d(1, 16, 32, 1, 14, 14, 3, 3, 1, 1, 1);
    cnn_conv_desc longk = desc2d(1, 24, 24, 1, 14, 14, 5, 5, 1, 2, 1);
    cnn_conv_desc pw = desc2d(1, 24, 40, 1, 14, 14, 1, 1, 1, 0, 1);
    cnn_conv_desc c3d = {.n = 1, .c_in = 1, .c_out = 8, .groups = 1, .in = {15, 9, 9},
                         .out = {9, 7, 7}, .k = {7, 3, 3}, .s = {1, 1, 1}, .p = {0, 0, 0},
                         .d = {1, 1, 1}};
    assert_true(finish_desc(&lenet) && finish_desc(&stem) && finish_desc(&dw) &&
                finish_desc(&wide) && finish_desc(&blocked) && finish_desc(&longk) &&
                finish_desc(&pw));
    if (getenv("CNN_CPU_THIN") && getenv("CNN_CPU_THIN")[0] == '0')
        tu_skip("CNN_CPU_THIN=0 turns the thin kernels off: their selection is not checked");
    assert_true(cnn_thin_conv_use(&lenet));
    assert_true(cnn_thin_conv_use(&stem));
    assert_false(cnn_thin_conv_use(&dw));
    assert_false(cnn_thin_conv_use(&wide));
    assert_false(cnn_thin_conv_use(&c3d));
    assert_false(cnn_thin_conv_use(&blocked));
    assert_false(cnn_thin_conv_use(&longk));
    assert_false(cnn_thin_conv_use(&pw));
}

int main(void)
{
    cnn_rng_seed(&g_rng, 4321);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),         cmocka_unit_test(test_layers),
        cmocka_unit_test(test_thread_invariance), cmocka_unit_test(test_scratch_batch),
        cmocka_unit_test(test_scratch_forward), cmocka_unit_test(test_dispatch),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

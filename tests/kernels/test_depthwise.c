/* The depthwise kernels (src/kernels/cpu/depthwise.c) against the reference backend:
   forward, backward-data onto a non-zero dx, backward-weights onto non-zero dw / db.
   Cases hit every branch: the stacked small-plane path (3x3 fused, 5-row columns, the
   per-tap generic loop; stride 1 "same" copied or written straight into y / dx,
   stride 2 by subsampling / zero insertion, valid and part padding, dilation, odd and
   non-square planes and kernels, a batch that leaves a partial last stack) and the
   row path (padding past "same", kernels over 7, planes over the limits). Also: the
   thread count does not change a bit, and a non-finite input reaches only the outputs
   whose taps see it (masks select, they do not multiply). */
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

/* Depthwise (N, C, H, W), kernel kh x kw, stride s, padding ph / pw, dilation d. */
static cnn_conv_desc dw_desc(int n, int ch, int h, int w, int kh, int kw, int s, int ph, int pw,
                             int d)
{
    cnn_conv_desc c = {.n = n, .c_in = ch, .c_out = ch, .groups = ch, .in = {1, h, w},
                       .k = {1, kh, kw}, .s = {1, s, s}, .p = {0, ph, pw}, .d = {1, d, d}};
    c.out[0] = 1;
    c.out[1] = (h + 2 * ph - d * (kh - 1) - 1) / s + 1;
    c.out[2] = (w + 2 * pw - d * (kw - 1) - 1) / s + 1;
    return c;
}

static void print_desc(const cnn_conv_desc *c, bool bias, const char *what)
{
    fprintf(stderr,
            "FAILED %s: n=%d c=%d in=%dx%d out=%dx%d k=%dx%d s=%d p=%dx%d d=%d bias=%d\n", what,
            c->n, c->c_in, c->in[1], c->in[2], c->out[1], c->out[2], c->k[1], c->k[2], c->s[1],
            c->p[1], c->p[2], c->d[1], bias);
}

/* The reference backend's scratch (64-byte aligned, as the executor gives it). */
static void *ref_scratch(const cnn_conv_desc *c)
{
    size_t sb = cnn_backend_ref.conv_scratch(c);
    void *p = aligned_alloc(64, (sb + 63) / 64 * 64 + 64);
    assert_non_null(p);
    return p;
}

/* Tolerances as in test_backend_conv.c: float32 rounding of a K-term sum of products in
   [-1, 1] stays below 2e-6 K; a wrong or missing tap moves a value by ~0.3. */
static int run_case(const cnn_conv_desc *c, bool bias)
{
    assert_true(cnn_cpu_is_depthwise(c));
    size_t ip = (size_t)c->in[1] * c->in[2], op = (size_t)c->out[1] * c->out[2];
    size_t kp = (size_t)c->k[1] * c->k[2], C = (size_t)c->c_in;
    size_t xs = (size_t)c->n * C * ip, ys = (size_t)c->n * C * op, ws = C * kp;
    float *x = rnd(xs), *w = rnd(ws), *b = bias ? rnd(C) : NULL, *dy = rnd(ys);
    float *y_ref = rnd(ys), *y_cpu = rnd(ys);
    float *dx_ref = rnd(xs), *dx_cpu = dup(dx_ref, xs);
    float *dw_ref = rnd(ws), *dw_cpu = dup(dw_ref, ws);
    float *db_ref = rnd(C), *db_cpu = dup(db_ref, C);
    void *scratch = ref_scratch(c);
    cnn_backend_ref.conv_forward(c, x, w, b, y_ref, scratch);
    cnn_dw_forward(c, x, w, b, y_cpu);
    cnn_backend_ref.conv_backward_data(c, dy, w, dx_ref, scratch);
    cnn_dw_backward_data(c, dy, w, dx_cpu);
    cnn_backend_ref.conv_backward_weights(c, x, dy, dw_ref, bias ? db_ref : NULL, scratch);
    cnn_dw_backward_weights(c, x, dy, dw_cpu, bias ? db_cpu : NULL);
    float kw = (float)((size_t)c->n * op);
    int bad = 0;
    if (!tu_close(y_cpu, y_ref, ys, 2e-6f * (float)kp, 1e-4f, "forward y"))
        print_desc(c, bias, "forward"), bad++;
    if (!tu_close(dx_cpu, dx_ref, xs, 2e-6f * (float)kp, 1e-4f, "backward-data dx"))
        print_desc(c, bias, "backward-data"), bad++;
    if (!tu_close(dw_cpu, dw_ref, ws, 2e-6f * kw, 1e-4f, "backward-weights dw"))
        print_desc(c, bias, "backward-weights dw"), bad++;
    if (!tu_close(db_cpu, db_ref, C, 2e-6f * kw, 1e-4f, "backward-weights db"))
        print_desc(c, bias, "backward-weights db"), bad++;
    free(scratch), free(x), free(w), free(b), free(dy), free(y_ref), free(y_cpu);
    free(dx_ref), free(dx_cpu), free(dw_ref), free(dw_cpu), free(db_ref), free(db_cpu);
    return bad;
}

/* Sweep of small planes: kernel, stride, padding (0 up to past "same"), dilation, odd
   and non-square sizes, tiny planes (1x1, 2x3), batch 1-3, bias on / off. */
static void test_sweep(void **state)
{
    (void)state;
    static const int ks[][2] = {{3, 3}, {5, 5}, {1, 1}, {2, 2}, {3, 5}, {5, 3}, {7, 7}, {4, 1}};
    static const int sizes[][2] = {{6, 6}, {3, 3}, {7, 5}, {12, 12}, {1, 1}, {2, 3}, {9, 16}};
    int bad = 0, cases = 0, i = 0, every = tu_quick() ? 4 : 1;
    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++)
        for (size_t sz = 0; sz < sizeof sizes / sizeof sizes[0]; sz++)
            for (int s = 1; s <= 3; s++)
                for (int d = 1; d <= 2; d++)
                    for (int p = 0; p <= 3; p++) {
                        if (i++ % every) continue;
                        int ph = p, pw = p > 0 && ks[k][0] != ks[k][1] ? p - 1 : p;
                        cnn_conv_desc c = dw_desc(1 + i % 3, 2 + i % 3, sizes[sz][0],
                                                  sizes[sz][1], ks[k][0], ks[k][1], s, ph, pw, d);
                        if (c.out[1] < 1 || c.out[2] < 1) continue;
                        bad += run_case(&c, i % 2 == 0);
                        cases++;
                    }
    fprintf(stderr, "depthwise sweep: %d cases, %d failures\n", cases, bad);
    assert_true(cases > (tu_quick() ? 150 : 600));
    assert_int_equal(bad, 0);
}

/* Shapes of the zoo's networks and the limits between paths: many images per stack and
   a partial last stack, planes written straight into y / dx (>= 256), forward on rows
   but backward stacked (> 2500), everything on rows (> 16384), kernels over 7. */
static void test_shapes(void **state)
{
    (void)state;
    cnn_conv_desc cs[] = {
        dw_desc(100, 3, 6, 6, 3, 3, 1, 1, 1, 1),    /* 97 planes per stack: partial last */
        dw_desc(70, 2, 3, 3, 3, 3, 1, 1, 1, 1),     dw_desc(9, 4, 12, 12, 3, 3, 2, 1, 1, 1),
        dw_desc(5, 3, 16, 16, 3, 3, 1, 1, 1, 1),    dw_desc(3, 2, 24, 23, 3, 3, 2, 1, 1, 1),
        dw_desc(2, 3, 17, 19, 5, 5, 1, 2, 2, 1),    dw_desc(4, 5, 16, 16, 5, 5, 2, 2, 2, 1),
        dw_desc(3, 2, 20, 18, 3, 3, 1, 2, 2, 2),    dw_desc(2, 2, 70, 64, 3, 3, 1, 1, 1, 1),
        dw_desc(2, 2, 70, 64, 3, 3, 2, 1, 1, 1),    dw_desc(1, 2, 131, 130, 3, 3, 1, 1, 1, 1),
        dw_desc(1, 2, 131, 130, 3, 3, 2, 1, 1, 1),  dw_desc(2, 3, 10, 11, 9, 9, 1, 4, 4, 1),
        dw_desc(2, 3, 14, 14, 3, 3, 1, 0, 0, 1),    dw_desc(3, 2, 14, 14, 7, 7, 1, 3, 3, 1),
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) bad += run_case(&cs[i], i % 2 == 0);
    assert_int_equal(bad, 0);
}

/* 1 and 2 threads give the same bits in all three kernels (backward-weights sums each
   channel's images in a fixed order). */
static void test_thread_invariance(void **state)
{
    (void)state;
    cnn_conv_desc cs[] = {dw_desc(13, 6, 6, 6, 3, 3, 1, 1, 1, 1),
                          dw_desc(5, 7, 12, 11, 3, 3, 2, 1, 1, 1),
                          dw_desc(4, 5, 9, 9, 5, 5, 1, 2, 2, 1)};
    int threads = cnn_get_threads();
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        const cnn_conv_desc *c = &cs[i];
        size_t ip = (size_t)c->in[1] * c->in[2], op = (size_t)c->out[1] * c->out[2];
        size_t C = (size_t)c->c_in, xs = c->n * C * ip, ys = c->n * C * op;
        size_t ws = C * c->k[1] * c->k[2];
        float *x = rnd(xs), *w = rnd(ws), *dy = rnd(ys), *out[2][4];
        for (int t = 0; t < 2; t++) {
            cnn_set_threads(t + 1);
            out[t][0] = calloc(ys, sizeof(float)), out[t][1] = calloc(xs, sizeof(float));
            out[t][2] = calloc(ws, sizeof(float)), out[t][3] = calloc(C, sizeof(float));
            cnn_dw_forward(c, x, w, NULL, out[t][0]);
            cnn_dw_backward_data(c, dy, w, out[t][1]);
            cnn_dw_backward_weights(c, x, dy, out[t][2], out[t][3]);
        }
        assert_memory_equal(out[0][0], out[1][0], ys * sizeof(float));
        assert_memory_equal(out[0][1], out[1][1], xs * sizeof(float));
        assert_memory_equal(out[0][2], out[1][2], ws * sizeof(float));
        assert_memory_equal(out[0][3], out[1][3], C * sizeof(float));
        for (int t = 0; t < 2; t++)
            for (int q = 0; q < 4; q++) free(out[t][q]);
        free(x), free(w), free(dy);
    }
    cnn_set_threads(threads);
}

/* An infinity at the end of one row: the flattened loops also read it (masked) for the
   first column of the next row, which must stay finite, as in the reference. */
static void test_nonfinite_stays_local(void **state)
{
    (void)state;
    cnn_conv_desc c = dw_desc(2, 2, 6, 6, 3, 3, 1, 1, 1, 1);
    size_t n = 2 * 2 * 36;
    float *x = rnd(n), *w = rnd(18), *y_ref = rnd(n), *y_cpu = rnd(n);
    float *dx_ref = calloc(n, sizeof(float)), *dx_cpu = calloc(n, sizeof(float));
    x[36 + 2 * 6 + 5] = INFINITY; /* image 0, channel 1, row 2, last column */
    void *scratch = ref_scratch(&c);
    cnn_backend_ref.conv_forward(&c, x, w, NULL, y_ref, scratch);
    cnn_dw_forward(&c, x, w, NULL, y_cpu);
    cnn_backend_ref.conv_backward_data(&c, x, w, dx_ref, scratch); /* x as dy */
    cnn_dw_backward_data(&c, x, w, dx_cpu);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(isfinite(y_cpu[i]), isfinite(y_ref[i]));
        assert_int_equal(isfinite(dx_cpu[i]), isfinite(dx_ref[i]));
        if (isfinite(y_ref[i])) assert_true(fabsf(y_cpu[i] - y_ref[i]) < 1e-4f);
    }
    assert_true(isfinite(y_cpu[36 + 3 * 6])); /* row 3, column 0: reads row 2's end wrapped */
    free(scratch), free(x), free(w), free(y_ref), free(y_cpu), free(dx_ref), free(dx_cpu);
}

int main(void)
{
    cnn_rng_seed(&g_rng, 4321);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_thread_invariance),
        cmocka_unit_test(test_nonfinite_stays_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

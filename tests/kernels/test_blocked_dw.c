/* The blocked layout's depthwise kernel (cpu/blocked_dw.c) and epilogue against the
   reference backend: x and y converted between NCHW and nChw16c around the kernel,
   swept over kernel (1x1 to 7x7, non-square), stride 1-3, padding 0 to past "same",
   dilation 1-2, planes from 1x1 to 112x112, batch 1-3, 16-160 channels, bias, 1 and 2
   threads; the fused
   epilogue (folded batch norm scale/shift, residual, activation) against the same
   steps on the reference output. On failure every parameter is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "testutil.h"
#include "blocked_test.h"

static void relu6(const void *arg, float *y, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n; i++) y[i] = y[i] < 0.0f ? 0.0f : y[i] > 6.0f ? 6.0f : y[i];
}

/* epi 3, case i: g_acts[i % 6]; the first through the function only (no act_desc) */
static const int g_acts[] = {CNN_ACT_RELU6, CNN_ACT_RELU, CNN_ACT_RELU6, CNN_ACT_HARDSWISH, CNN_ACT_HARDSIGMOID,
                             CNN_ACT_SIGMOID};

static int g_cases;

/* One case; epi: 0 none, 1 scale/shift, 2 + residual, 3 + activation. */
static void run_case(int n, int ch, int h, int w, int kh, int kw, int s, int ph, int pw, int d, bool bias,
                     int epi)
{
    cnn_conv_desc c = {.n = n, .c_in = ch, .c_out = ch, .groups = ch, .in = {1, h, w},
                       .k = {1, kh, kw}, .s = {1, s, s}, .p = {0, ph, pw}, .d = {1, d, d}};
    c.out[0] = 1;
    c.out[1] = (h + 2 * ph - d * (kh - 1) - 1) / s + 1;
    c.out[2] = (w + 2 * pw - d * (kw - 1) - 1) / s + 1;
    if (c.out[1] < 1 || c.out[2] < 1) return;
    assert_true(cnn_blocked_dw_ok(&c));
    const int ai = g_cases % 6;
    const cnn_act_desc ad = {.act = g_acts[ai]};
    g_cases++;
    size_t is = (size_t)h * w, os = (size_t)c.out[1] * c.out[2], xs = (size_t)n * ch * is,
           ys = (size_t)n * ch * os, cp = (size_t)CB(ch) * 16;
    float *x = rnd(xs), *wt = rnd((size_t)ch * kh * kw), *b = bias ? rnd(ch) : NULL;
    /* the graph stores fused coefficients padded to whole blocks, 0 in the pad */
    float *sc = calloc(cp, sizeof *sc), *sh = calloc(cp, sizeof *sh), *res = rnd(ys);
    tu_fill(sc, (size_t)ch, -1.0f, 1.0f, &g_rng);
    tu_fill(sh, (size_t)ch, -1.0f, 1.0f, &g_rng);
    float *y_ref = rnd(ys), *xb = rnd((size_t)n * cp * is), *yb = rnd((size_t)n * cp * os);
    float *resb = rnd((size_t)n * cp * os), *y = rnd(ys);
    size_t sb = cnn_backend_ref.conv_scratch(&c);
    void *scratch = aligned_alloc(64, (sb + 63) / 64 * 64 + 64);
    assert_non_null(scratch);
    cnn_backend_ref.conv_forward(&c, x, wt, b, y_ref, scratch);
    ref_epilogue(y_ref, n, ch, os, epi, sc, sh, res, ad.act);
    to_blocked(x, n, ch, is, xb);
    to_blocked(res, n, ch, os, resb);
    cnn_blocked_epi e = {.scale = epi >= 1 ? sc : NULL, .shift = epi >= 1 ? sh : NULL,
                      .res = epi >= 2 ? resb : NULL, .act = epi >= 3 ? act_fn : NULL, .act_arg = &ad,
                      .act_desc = epi >= 3 && ai ? &ad : NULL};
    cnn_blocked_dw_forward(&c, xb, wt, b, yb, epi ? &e : NULL);
    from_blocked(yb, n, ch, os, y);
    /* channels off the 16 grid: the padded lanes come out act(0) (0 but hard-sigmoid's
       and sigmoid's, which the graph clears) */
    float pad0 = epi >= 3 ? act1(ad.act, 0.0f) : 0.0f;
    for (int i = 0; i < n; i++)
        for (size_t p = 0; p < os; p++)
            for (int l = ch % 16; ch % 16 && l < 16; l++)
                if (yb[(((size_t)i * CB(ch) + CB(ch) - 1) * os + p) * 16 + l] != pad0)
                    fail_msg("blocked dw: padded lane %d not %g (c=%d)", l, pad0, ch);
    /* float32 rounding of a K-term sum of products in [-1, 1]: below 2e-6 K */
    float tol = 2e-6f * (float)(kh * kw + 3);
    if (!tu_close(y, y_ref, ys, tol, tol, "blocked depthwise"))
        fail_msg("blocked dw: n=%d c=%d in=%dx%d k=%dx%d s=%d p=%dx%d d=%d bias=%d epi=%d act=%d", n, ch, h, w,
                 kh, kw, s, ph, pw, d, bias, epi, ai);
    free(x), free(wt), free(b), free(sc), free(sh), free(res), free(y_ref), free(xb), free(yb);
    free(resb), free(y), free(scratch);
}

static void sweep(void)
{
    static const int ks[][2] = {{3, 3}, {5, 5}, {1, 1}, {7, 7}, {3, 5}, {2, 2}};
    static const int sizes[][2] = {{1, 1}, {2, 3}, {7, 7}, {14, 14}, {9, 13}, {28, 28}};
    int i = 0;
    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++)
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
            for (int s = 1; s <= 2; s++)
                for (int p = 0; p <= ks[k][0] / 2 + 1; p++, i++)
                    run_case(1 + i % 2, (int[]){16, 24, 32, 40, 48}[i % 5], sizes[z][0], sizes[z][1], ks[k][0], ks[k][1], s, p,
                             p < ks[k][1] / 2 + 1 ? p : ks[k][1] / 2, 1, i % 2 == 0, i % 4);
    /* dilation, stride 3, a plane larger than the interior fast path's unroll */
    run_case(2, 32, 9, 11, 3, 3, 1, 2, 2, 2, true, 3);
    run_case(1, 16, 17, 17, 5, 5, 3, 2, 2, 2, false, 2);
    run_case(3, 48, 57, 57, 3, 3, 2, 1, 1, 1, true, 3);
    run_case(1, 16, 56, 56, 3, 3, 1, 1, 1, 1, true, 3);
    run_case(2, 24, 28, 28, 3, 3, 2, 1, 1, 1, true, 3); /* MobileNet's padded stages */
    run_case(1, 72, 14, 14, 5, 5, 1, 2, 2, 1, true, 3);
    run_case(1, 40, 28, 28, 5, 5, 2, 2, 2, 1, true, 3);
    /* planes whose bands take the zero-padded row copy and planes too large for it,
       at the MobileNet shapes (3x3 / 5x5, stride 1 / 2) */
    run_case(1, 96, 112, 112, 3, 3, 2, 1, 1, 1, true, 3);
    run_case(1, 32, 112, 112, 3, 3, 1, 1, 1, 1, true, 2);
    run_case(1, 160, 7, 7, 5, 5, 1, 2, 2, 1, true, 3);
    run_case(3, 48, 14, 14, 5, 5, 2, 2, 2, 1, false, 1);
    run_case(1, 64, 28, 28, 5, 5, 1, 2, 2, 1, true, 3);
}

/* The same cases on 1 and 2 threads, on the OpenMP team and the pool's own threads:
   the split over (image, channel block, row band) changes with the thread count. */
static void test_sweep(void **state)
{
    (void)state;
    for (int t = 1; t <= 2; t++)
        for (int busy = 0; busy <= 1; busy++) {
            if (tu_quick() && busy != t - 1) continue; /* sanitizer run: 1 thread quiet, 2 busy */
            cnn_set_threads(t);
            cnn_pool_force_busy(busy);
            g_cases = 0;
            sweep();
            assert_true(g_cases > 200);
        }
    cnn_pool_force_busy(-1);
    cnn_set_threads(0);
}

/* The whole-tensor epilogue (after a oneDNN forward) against the plain steps. */
static void test_epilogue(void **state)
{
    (void)state;
    int n = 2, ch = 32;
    size_t s = 37, len = (size_t)n * ch * s;
    float *y = rnd(len), *res = rnd(len), *sc = rnd(ch), *sh = rnd(ch), *yb = rnd(len), *rb = rnd(len);
    float *want = rnd(len), *got = rnd(len);
    for (int i = 0; i < n; i++)
        for (int q = 0; q < ch; q++)
            for (size_t p = 0; p < s; p++) {
                size_t o = ((size_t)i * ch + q) * s + p;
                want[o] = y[o] * sc[q] + sh[q] + res[o];
                relu6(NULL, &want[o], 1);
            }
    to_blocked(y, n, ch, s, yb);
    to_blocked(res, n, ch, s, rb);
    cnn_blocked_epi e = {.scale = sc, .shift = sh, .res = rb, .act = relu6};
    cnn_blocked_epilogue(&e, n, ch, s, yb);
    from_blocked(yb, n, ch, s, got);
    assert_true(tu_close(got, want, len, 1e-6f, 1e-6f, "blocked epilogue"));
    /* the activation in registers (hard-swish), without the residual */
    const cnn_act_desc hs = {.act = CNN_ACT_HARDSWISH};
    for (int i = 0; i < n; i++)
        for (int q = 0; q < ch; q++)
            for (size_t p = 0; p < s; p++) {
                size_t o = ((size_t)i * ch + q) * s + p;
                want[o] = act1(hs.act, y[o] * sc[q] + sh[q]);
            }
    to_blocked(y, n, ch, s, yb);
    cnn_blocked_epi e2 = {.scale = sc, .shift = sh, .act = act_fn, .act_arg = &hs, .act_desc = &hs};
    cnn_blocked_epilogue(&e2, n, ch, s, yb);
    from_blocked(yb, n, ch, s, got);
    assert_true(tu_close(got, want, len, 1e-6f, 1e-6f, "blocked epilogue, hard-swish"));
    free(y), free(res), free(sc), free(sh), free(yb), free(rb), free(want), free(got);
}

int main(void)
{
    cnn_rng_seed(&g_rng, 19);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_epilogue),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

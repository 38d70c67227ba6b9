/* The blocked layout's own dense kernel (cpu/blocked_conv.c) against the reference
   backend: x nChw16c (or a plain RGB x), y nChw16c, converted around the kernel; swept
   over kernel sizes 1x1 to 7x7 (and 11x11 stride 4), strides 1 to 4, padding 0 to 3,
   channels in / out on and off the 16 grid (output groups of 1-4 blocks, reduction chunks
   and their remainders), planes from 1x1 to 30x30 (pixel tiles crossing rows, borders),
   batch 1 and 3, bias, the fused epilogue (folded batch norm, residual, each activation
   the kernel applies in registers and one it calls), weights packed per call and kept
   under a constant weights generation (a new generation repacks: changed weights give
   new results), 1 and 2 threads on both pool modes. Shapes it must refuse are checked
   too. On failure every parameter is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "testutil.h"
#include "blocked_test.h"

static const int g_acts[] = {CNN_ACT_RELU6, CNN_ACT_RELU, CNN_ACT_RELU6, CNN_ACT_HARDSWISH, CNN_ACT_HARDSIGMOID,
                             CNN_ACT_SIGMOID};

static cnn_conv_desc desc(int n, int ci, int co, int h, int w, int k, int s, int p)
{
    cnn_conv_desc c = {.n = n, .c_in = ci, .c_out = co, .groups = 1, .in = {1, h, w},
                       .out = {1, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1}, .k = {1, k, k},
                       .s = {1, s, s}, .p = {0, p, p}, .d = {1, 1, 1}};
    return c;
}

static int g_cases;
static uint64_t g_gen = 1000;

/* One case; epi: 0 none, 1 scale/shift, 2 + residual, 3 + activation g_acts[ai];
   kept: run with a constant weights generation twice (the second call reads the kept
   panel), then change the weights under a new generation. */
static void run_case(int n, int ci, int co, int h, int w, int k, int s, int p, bool xb, bool bias, int epi,
                     int ai, bool kept)
{
    cnn_conv_desc c = desc(n, ci, co, h, w, k, s, p);
    assert_true(cnn_blocked_conv_ok_io(&c, xb));
    g_cases++;
    size_t si = (size_t)h * w, so = (size_t)c.out[1] * c.out[2];
    size_t xs = (size_t)n * ci * si, ys = (size_t)n * co * so, ws = (size_t)co * ci * k * k;
    size_t xps = (size_t)n * CB(ci) * 16 * si, yps = (size_t)n * CB(co) * 16 * so, cp = (size_t)CB(co) * 16;
    float *x = rnd(xs), *wt = rnd(ws), *b = bias ? rnd(co) : NULL;
    float *sc = calloc(cp, sizeof *sc), *sh = calloc(cp, sizeof *sh), *res = rnd(ys);
    assert_true(sc && sh);
    tu_fill(sc, (size_t)co, -1.0f, 1.0f, &g_rng);
    tu_fill(sh, (size_t)co, -1.0f, 1.0f, &g_rng);
    const cnn_act_desc ad = {.act = g_acts[ai % 6]};
    float *y_ref = rnd(ys), *xbuf = rnd(xb ? xps : xs), *yb = rnd(yps), *resb = rnd(yps), *y = rnd(ys);
    size_t sr = cnn_backend_ref.conv_scratch(&c), sp = cnn_blocked_conv_scratch(&c);
    void *scratch = aligned_alloc(64, ((sr > sp ? sr : sp) + 63) / 64 * 64 + 64);
    assert_non_null(scratch);
    if (xb) to_blocked(x, n, ci, si, xbuf);
    else memcpy(xbuf, x, xs * sizeof *x);
    to_blocked(res, n, co, so, resb);
    cnn_blocked_epi e = {.scale = epi >= 1 ? sc : NULL, .shift = epi >= 1 ? sh : NULL,
                         .res = epi >= 2 ? resb : NULL, .act = epi >= 3 ? act_fn : NULL,
                         .act_arg = &ad, .act_desc = epi >= 3 && ai % 6 ? &ad : NULL};
    uint64_t gen = kept ? ++g_gen : 0;
    for (int round = 0; round < (kept ? 3 : 1); round++) {
        if (round == 2) { /* new weights under a new generation: packed again */
            tu_fill(wt, ws, -1.0f, 1.0f, &g_rng);
            gen = ++g_gen;
        }
        cnn_backend_ref.conv_forward(&c, x, wt, b, y_ref, scratch);
        ref_epilogue(y_ref, n, co, so, epi, sc, sh, res, ad.act);
        memset(yb, 0xff, yps * sizeof *yb); /* NaN: every lane must be written */
        cnn_blocked_conv_forward(&c, xbuf, xb, wt, b, yb, epi ? &e : NULL, scratch, gen);
        from_blocked(yb, n, co, so, y);
        float pad0 = epi >= 3 ? act1(ad.act, 0.0f) : 0.0f;
        for (int i = 0; i < n; i++)
            for (size_t o = 0; o < so; o++)
                for (int l = co % 16; co % 16 && l < 16; l++)
                    if (yb[(((size_t)i * CB(co) + CB(co) - 1) * so + o) * 16 + l] != pad0)
                        fail_msg("blocked conv: padded lane %d not %g (co=%d)", l, pad0, co);
        /* float32 rounding of a K-term sum of products in [-1, 1]: below 2e-6 K */
        float tol = 2e-6f * (float)(ci * k * k + 3);
        if (!tu_close(y, y_ref, ys, tol, tol, "blocked dense conv"))
            fail_msg("blocked conv: n=%d ci=%d co=%d in=%dx%d k=%d s=%d p=%d x_blocked=%d bias=%d epi=%d act=%d "
                     "kept=%d round=%d threads=%d",
                     n, ci, co, h, w, k, s, p, xb, bias, epi, ai, kept, round, cnn_get_threads());
    }
    free(x), free(wt), free(b), free(sc), free(sh), free(res), free(y_ref), free(xbuf), free(yb);
    free(resb), free(y), free(scratch);
}

static void sweep(void)
{
    /* kernel, stride, padding */
    static const int ksp[][3] = {{3, 1, 1}, {3, 2, 1}, {1, 1, 0}, {1, 2, 0}, {5, 1, 2}, {7, 2, 3}, {3, 1, 0}, {2, 2, 0}};
    static const int ch[] = {16, 64, 24, 80, 3, 200};
    static const int sizes[][2] = {{7, 7}, {1, 1}, {14, 14}, {5, 11}, {13, 13}, {3, 2}};
    int i = 0;
    for (size_t t = 0; t < sizeof ksp / sizeof ksp[0]; t++)
        for (size_t a = 0; a < sizeof ch / sizeof ch[0]; a++)
            for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++, i++) {
                int k = ksp[t][0], s = ksp[t][1], p = ksp[t][2], h = sizes[z][0], w = sizes[z][1];
                if (h + 2 * p < k || w + 2 * p < k) continue;
                int co = ch[(a + z + t) % 6] == 3 ? 48 : ch[(a + z + t) % 6];
                run_case(1 + 2 * (i % 7 == 0), ch[a], co, h, w, k, s, p, true, i % 2 == 0, i % 4, i, i % 3 == 0);
            }
    /* RGB first layers from a plain x: ResNet's 7x7/2, AlexNet's 11x11/4, a 3x3 */
    run_case(1, 3, 64, 30, 30, 7, 2, 3, false, false, 1, 1, true);
    run_case(2, 3, 64, 31, 29, 11, 4, 2, false, true, 3, 3, false);
    run_case(1, 3, 40, 9, 12, 3, 1, 1, false, true, 2, 0, true);
    /* ResNet / VGG shapes: deep reductions (several chunks), a 7x7 plane, stride 2 (the
       sanitizer run keeps the first: the same code on fewer multiply-adds) */
    run_case(1, 512, 512, 7, 7, 3, 1, 1, true, false, 3, 1, true);
    if (tu_quick()) return;
    run_case(1, 256, 512, 14, 14, 3, 2, 1, true, false, 2, 1, true);
    run_case(1, 1024, 256, 14, 14, 1, 1, 0, true, false, 3, 1, false);
    run_case(1, 384, 256, 13, 13, 3, 1, 1, true, true, 3, 1, true);
}

static void test_sweep(void **state)
{
    (void)state;
    for (int t = 1; t <= 2; t++)
        for (int busy = 0; busy <= 1; busy++) {
            if (tu_quick() && !(t == 2 && busy)) continue; /* sanitizer run: 2 threads, busy */
            cnn_set_threads(t);
            cnn_pool_force_busy(busy);
            g_cases = 0;
            sweep();
            assert_true(g_cases > 200);
        }
    cnn_pool_force_busy(-1);
    cnn_set_threads(0);
}

/* Same shape, same numbers whatever the thread count (the sums' order depends only on
   the shape). */
static void test_threads_same(void **state)
{
    (void)state;
    cnn_conv_desc c = desc(1, 96, 80, 9, 9, 3, 1, 1);
    size_t xps = (size_t)CB(96) * 16 * 81, yps = (size_t)CB(80) * 16 * 81;
    float *x = rnd(xps), *w = rnd((size_t)80 * 96 * 9), *y1 = rnd(yps), *y2 = rnd(yps);
    void *scratch = aligned_alloc(64, (cnn_blocked_conv_scratch(&c) + 63) / 64 * 64);
    assert_non_null(scratch);
    cnn_set_threads(1);
    cnn_blocked_conv_forward(&c, x, true, w, NULL, y1, NULL, scratch, 0);
    cnn_set_threads(2);
    cnn_blocked_conv_forward(&c, x, true, w, NULL, y2, NULL, scratch, 0);
    cnn_set_threads(0);
    assert_memory_equal(y1, y2, yps * sizeof *y1);
    free(x), free(w), free(y1), free(y2), free(scratch);
}

/* Grouped, dilated, 3D convolutions and a plain x other than RGB stay with oneDNN; the
   kept panels go with the weights they were packed from. */
static void test_refuses(void **state)
{
    (void)state;
    cnn_conv_desc c = desc(1, 32, 32, 8, 8, 3, 1, 1);
    assert_true(cnn_blocked_conv_ok(&c));
    assert_false(cnn_blocked_conv_ok_io(&c, false));
    c.groups = 2;
    assert_false(cnn_blocked_conv_ok(&c));
    c = desc(1, 32, 32, 8, 8, 3, 1, 2);
    c.d[1] = c.d[2] = 2;
    assert_false(cnn_blocked_conv_ok(&c));
    assert_int_equal(cnn_blocked_conv_scratch(&c), 0);
    c = desc(1, 32, 32, 8, 8, 3, 1, 1);
    c.in[0] = c.out[0] = 4, c.k[0] = 3, c.p[0] = 1;
    assert_false(cnn_blocked_conv_ok(&c));
    assert_false(cnn_blocked_conv_use(&c, true));
    c = desc(1, 3, 64, 16, 16, 7, 2, 3);
    assert_true(cnn_blocked_conv_ok_io(&c, false));
    /* a kept panel is freed with its weights */
    float *x = rnd((size_t)3 * 256), *w = rnd((size_t)64 * 3 * 49), *y = rnd((size_t)64 * 64);
    /* w may sit where the sweep's freed weights were, with their panel still kept: forget
       it first, so the forward below adds a panel */
    cnn_cpu_kept_forget(w, (size_t)64 * 3 * 49 * sizeof *w);
    size_t before = cnn_cpu_kept_bytes();
    void *scratch = aligned_alloc(64, (cnn_blocked_conv_scratch(&c) + 63) / 64 * 64);
    assert_non_null(scratch);
    cnn_blocked_conv_forward(&c, x, false, w, NULL, y, NULL, scratch, ++g_gen);
    size_t mid = cnn_cpu_kept_bytes();
    assert_true(mid > before);
    cnn_cpu_kept_forget(w, (size_t)64 * 3 * 49 * sizeof *w);
    assert_true(cnn_cpu_kept_bytes() <= before);
    free(x), free(w), free(y), free(scratch);
}

int main(void)
{
    cnn_rng_seed(&g_rng, 19);
    if (!__builtin_cpu_supports("avx512f")) {
        printf("no AVX-512: the blocked dense kernel is not used on this CPU\n");
        cnn_conv_desc c = desc(1, 32, 32, 8, 8, 3, 1, 1);
        return cnn_blocked_conv_ok(&c) ? 1 : 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_threads_same),
        cmocka_unit_test(test_refuses),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

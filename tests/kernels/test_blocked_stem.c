/* The blocked layout's first-layer kernel (cpu/blocked_stem.c: 1-4 plain input
   channels -> nChw16c) against the reference backend: y converted from nChw16c around
   the kernel; swept over input channels 1-4, output channels on and off the 16 grid
   (8 to 72: one to four blocks per output group and a second group), kernels 1x1 to
   3x3 (rectangular too), stride 1-3, padding 0-2, planes from 1x1 to 33x31 (column
   tiles, their remainders, border columns), batch 1-2, bias, the fused epilogue
   (folded batch norm, residual, each activation applied in registers and one called),
   1 and 2 threads on both pool modes. Shapes it must refuse are checked too. On
   failure every parameter is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "testutil.h"
#include "blocked_test.h"

/* the activation of case i; the first through the function only (no act_desc) */
static const int g_acts[] = {CNN_ACT_RELU6, CNN_ACT_RELU, CNN_ACT_RELU6, CNN_ACT_HARDSWISH, CNN_ACT_HARDSIGMOID,
                             CNN_ACT_SIGMOID};

static int g_cases;

/* One case; epi: 0 none, 1 scale/shift, 2 + residual, 3 + activation. */
static void run_case(int n, int ci, int co, int h, int w, int kh, int kw, int s, int p, bool bias, int epi)
{
    cnn_conv_desc c = {.n = n, .c_in = ci, .c_out = co, .groups = 1, .in = {1, h, w}, .k = {1, kh, kw},
                       .s = {1, s, s}, .p = {0, p, p}, .d = {1, 1, 1}};
    c.out[0] = 1;
    c.out[1] = (h + 2 * p - kh) / s + 1;
    c.out[2] = (w + 2 * p - kw) / s + 1;
    if (c.out[1] < 1 || c.out[2] < 1) return;
    assert_true(cnn_blocked_stem_ok(&c));
    const int ai = g_cases % 6;
    const cnn_act_desc ad = {.act = g_acts[ai]};
    g_cases++;
    size_t is = (size_t)h * w, os = (size_t)c.out[1] * c.out[2], xs = (size_t)n * ci * is, ys = (size_t)n * co * os;
    size_t cp = (size_t)CB(co) * 16, yps = (size_t)n * cp * os;
    float *x = rnd(xs), *wt = rnd((size_t)co * ci * kh * kw), *b = bias ? rnd(co) : NULL;
    float *sc = calloc(cp, sizeof *sc), *sh = calloc(cp, sizeof *sh), *res = rnd(ys);
    assert_true(sc && sh);
    tu_fill(sc, (size_t)co, -1.0f, 1.0f, &g_rng);
    tu_fill(sh, (size_t)co, -1.0f, 1.0f, &g_rng);
    float *y_ref = rnd(ys), *yb = rnd(yps), *resb = rnd(yps), *y = rnd(ys);
    size_t sr = cnn_backend_ref.conv_scratch(&c), sp = cnn_blocked_stem_scratch(&c);
    void *scratch = aligned_alloc(64, ((sr > sp ? sr : sp) + 63) / 64 * 64 + 64);
    assert_non_null(scratch);
    cnn_backend_ref.conv_forward(&c, x, wt, b, y_ref, scratch);
    ref_epilogue(y_ref, n, co, os, epi, sc, sh, res, ad.act);
    to_blocked(res, n, co, os, resb);
    cnn_blocked_epi e = {.scale = epi >= 1 ? sc : NULL, .shift = epi >= 1 ? sh : NULL,
                         .res = epi >= 2 ? resb : NULL, .act = epi >= 3 ? act_fn : NULL, .act_arg = &ad,
                         .act_desc = epi >= 3 && ai ? &ad : NULL};
    cnn_blocked_stem_forward(&c, x, wt, b, yb, epi ? &e : NULL, scratch);
    from_blocked(yb, n, co, os, y);
    float pad0 = epi >= 3 ? act1(ad.act, 0.0f) : 0.0f; /* padded lanes: act(0) */
    for (int i = 0; i < n; i++)
        for (size_t o = 0; o < os; o++)
            for (int l = co % 16; co % 16 && l < 16; l++)
                if (yb[(((size_t)i * CB(co) + CB(co) - 1) * os + o) * 16 + l] != pad0)
                    fail_msg("blocked stem: padded lane %d not %g (co=%d)", l, pad0, co);
    float tol = 2e-6f * (float)(ci * kh * kw + 3);
    if (!tu_close(y, y_ref, ys, tol, tol, "blocked stem"))
        fail_msg("blocked stem: n=%d ci=%d co=%d in=%dx%d k=%dx%d s=%d p=%d bias=%d epi=%d act=%d threads=%d", n,
                 ci, co, h, w, kh, kw, s, p, bias, epi, ai, cnn_get_threads());
    free(x), free(wt), free(b), free(sc), free(sh), free(res), free(y_ref), free(yb), free(resb), free(y);
    free(scratch);
}

static void sweep(void)
{
    static const int ks[][2] = {{3, 3}, {1, 1}, {2, 2}, {3, 1}, {1, 3}};
    static const int sizes[][2] = {{1, 1}, {5, 7}, {15, 15}, {33, 31}};
    static const int cos[] = {16, 32, 24, 8, 48, 64, 72, 40};
    int i = 0;
    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++)
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
            for (int s = 1; s <= 3; s++)
                for (int p = 0; p <= 2; p++, i++)
                    run_case(1 + (i % 5 == 0), 1 + i % 4, cos[i % 8], sizes[z][0], sizes[z][1], ks[k][0], ks[k][1],
                             s, p, i % 2 == 0, i % 4);
    /* the stems of MobileNet V2 / V3 and ShuffleNet V2 at a reduced plane, and at 224 */
    run_case(1, 3, 32, 64, 64, 3, 3, 2, 1, false, 3);
    run_case(2, 3, 16, 57, 57, 3, 3, 2, 1, false, 3);
    run_case(1, 3, 24, 224, 224, 3, 3, 2, 1, true, 3);
}

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
            assert_true(g_cases > 150);
        }
    cnn_pool_force_busy(-1);
    cnn_set_threads(0);
}

/* Shapes that are not a first layer stay with oneDNN. */
static void test_refuses(void **state)
{
    (void)state;
    cnn_conv_desc c = {.n = 1, .c_in = 3, .c_out = 32, .groups = 1, .in = {1, 8, 8}, .out = {1, 4, 4},
                       .k = {1, 3, 3}, .s = {1, 2, 2}, .p = {0, 1, 1}, .d = {1, 1, 1}};
    assert_true(cnn_blocked_stem_ok(&c));
    assert_true(cnn_blocked_stem_scratch(&c) > 0);
    cnn_conv_desc d = c;
    d.c_in = 5;
    assert_false(cnn_blocked_stem_ok(&d));
    d = c;
    d.k[1] = d.k[2] = 7;
    assert_false(cnn_blocked_stem_ok(&d));
    d = c;
    d.d[1] = d.d[2] = 2;
    assert_false(cnn_blocked_stem_ok(&d));
    d = c;
    d.groups = 3, d.c_out = 3;
    assert_false(cnn_blocked_stem_ok(&d));
    assert_int_equal(cnn_blocked_stem_scratch(&d), 0);
}

int main(void)
{
    cnn_rng_seed(&g_rng, 19);
    if (!__builtin_cpu_supports("avx512f")) {
        printf("no AVX-512: the blocked first-layer kernel is not used on this CPU\n");
        cnn_conv_desc c = {.n = 1, .c_in = 3, .c_out = 32, .groups = 1, .in = {1, 8, 8}, .out = {1, 4, 4},
                           .k = {1, 3, 3}, .s = {1, 2, 2}, .p = {0, 1, 1}, .d = {1, 1, 1}};
        return cnn_blocked_stem_ok(&c) ? 1 : 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_refuses),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

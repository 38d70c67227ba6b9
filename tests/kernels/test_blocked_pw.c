/* The blocked layout's own 1x1 kernel (cpu/blocked_pw.c) against the reference
   backend: x plain or nChw16c, y nChw16c, converted around the kernel; swept over
   channels in / out (16 to 320, output groups of 1-4 blocks and their remainders;
   channels off the 16 grid, padded, from a blocked x), planes from 1x1 to 28x28 (pixel
   tiles and their remainders), batch 1 and 3, bias, the fused epilogue (folded batch
   norm, residual, each activation the kernel applies in registers and one it calls),
   1 and 2 threads on both pool modes. Shapes it must refuse (stride 2, padding,
   groups, a plain x off the 16 grid) are checked too, as are the panel kept under
   constant weights (packed once, reused bit for bit, packed again under a new
   generation, freed when forgotten) and which shapes take the kernel. On failure every
   parameter is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "testutil.h"
#include "blocked_test.h"

/* epi 3: the activation of case i; the first kind goes through the function only */
static const int g_acts[] = {CNN_ACT_RELU6, CNN_ACT_RELU, CNN_ACT_RELU6, CNN_ACT_HARDSWISH, CNN_ACT_HARDSIGMOID,
                             CNN_ACT_SIGMOID};

static cnn_conv_desc desc(int n, int ci, int co, int h, int w)
{
    cnn_conv_desc c = {.n = n, .c_in = ci, .c_out = co, .groups = 1, .in = {1, h, w}, .out = {1, h, w},
                       .k = {1, 1, 1}, .s = {1, 1, 1}, .p = {0, 0, 0}, .d = {1, 1, 1}};
    return c;
}

static int g_cases;

/* One case; epi: 0 none, 1 scale/shift, 2 + residual, 3 + activation g_acts[ai]. */
static void run_case_act(int n, int ci, int co, int h, int w, bool xb, bool bias, int epi, int ai)
{
    cnn_conv_desc c = desc(n, ci, co, h, w);
    assert_true(cnn_blocked_pw_ok_io(&c, xb));
    g_cases++;
    size_t s = (size_t)h * w, xs = (size_t)n * ci * s, ys = (size_t)n * co * s;
    size_t xps = (size_t)n * CB(ci) * 16 * s, yps = (size_t)n * CB(co) * 16 * s, cp = (size_t)CB(co) * 16;
    float *x = rnd(xs), *wt = rnd((size_t)co * ci), *b = bias ? rnd(co) : NULL;
    /* the graph stores fused coefficients padded to whole blocks, 0 in the pad */
    float *sc = calloc(cp, sizeof *sc), *sh = calloc(cp, sizeof *sh), *res = rnd(ys);
    assert_true(sc && sh);
    tu_fill(sc, (size_t)co, -1.0f, 1.0f, &g_rng);
    tu_fill(sh, (size_t)co, -1.0f, 1.0f, &g_rng);
    const cnn_act_desc ad = {.act = g_acts[ai % 6]};
    float *y_ref = rnd(ys), *xbuf = rnd(xps), *yb = rnd(yps), *resb = rnd(yps), *y = rnd(ys);
    size_t sr = cnn_backend_ref.conv_scratch(&c), sp = cnn_blocked_pw_scratch(&c);
    void *scratch = aligned_alloc(64, ((sr > sp ? sr : sp) + 63) / 64 * 64 + 64);
    assert_non_null(scratch);
    cnn_backend_ref.conv_forward(&c, x, wt, b, y_ref, scratch);
    ref_epilogue(y_ref, n, co, s, epi, sc, sh, res, ad.act);
    if (xb) to_blocked(x, n, ci, s, xbuf);
    else memcpy(xbuf, x, xs * sizeof *x);
    to_blocked(res, n, co, s, resb);
    cnn_blocked_epi e = {.scale = epi >= 1 ? sc : NULL, .shift = epi >= 1 ? sh : NULL,
                         .res = epi >= 2 ? resb : NULL, .act = epi >= 3 ? act_fn : NULL,
                         .act_arg = &ad, .act_desc = epi >= 3 && ai % 6 ? &ad : NULL};
    cnn_blocked_pw_forward(&c, xbuf, xb, wt, b, yb, epi ? &e : NULL, scratch, 0);
    from_blocked(yb, n, co, s, y);
    /* channels off the 16 grid: the padded lanes come out act(0) (0 but hard-sigmoid's
       and sigmoid's, which the graph clears) */
    float pad0 = epi >= 3 ? act1(ad.act, 0.0f) : 0.0f;
    for (int i = 0; i < n; i++)
        for (size_t p = 0; p < s; p++)
            for (int l = co % 16; co % 16 && l < 16; l++)
                if (yb[(((size_t)i * CB(co) + CB(co) - 1) * s + p) * 16 + l] != pad0)
                    fail_msg("blocked pw: padded lane %d not %g (co=%d)", l, pad0, co);
    /* float32 rounding of a K-term sum of products in [-1, 1]: below 2e-6 K */
    float tol = 2e-6f * (float)(ci + 3);
    if (!tu_close(y, y_ref, ys, tol, tol, "blocked pointwise"))
        fail_msg("blocked pw: n=%d ci=%d co=%d in=%dx%d x_blocked=%d bias=%d epi=%d act=%d threads=%d", n, ci, co,
                 h, w, xb, bias, epi, ai, cnn_get_threads());
    free(x), free(wt), free(b), free(sc), free(sh), free(res), free(y_ref), free(xbuf), free(yb);
    free(resb), free(y), free(scratch);
}

static int g_ai;
static void run_case(int n, int ci, int co, int h, int w, bool xb, bool bias, int epi)
{
    run_case_act(n, ci, co, h, w, xb, bias, epi, g_ai++);
}

static void sweep(void)
{
    static const int ch[] = {16, 32, 48, 64, 96, 160};
    static const int sizes[][2] = {{1, 1}, {2, 3}, {7, 7}, {5, 11}, {14, 14}};
    int i = 0;
    for (size_t a = 0; a < sizeof ch / sizeof ch[0]; a++)
        for (size_t o = 0; o < sizeof ch / sizeof ch[0]; o++)
            for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++, i++)
                run_case(1 + 2 * (i % 5 == 0), ch[a], ch[o], sizes[z][0], sizes[z][1], i % 3 != 0, i % 2 == 0,
                         i % 4);
    /* channels off the 16 grid (x blocked, padded lanes 0): MobileNet's 24 / 40 / 72 /
       120 / 200 / 184, ShuffleNet's 58 / 116 / 232, a few below one block; every
       activation with the full epilogue */
    static const int odd[] = {24, 40, 58, 3, 116, 72, 8, 120, 200, 184, 232, 17};
    for (size_t a = 0; a < sizeof odd / sizeof odd[0]; a++)
        for (size_t o = 0; o < 4; o++, i++)
            run_case_act(1 + (i % 7 == 0), odd[a], (int[]){odd[(a + 3 * o + 1) % 12], 16, 48, 24}[o],
                         (int[]){28, 7, 3, 14}[(a + o) % 4], (int[]){28, 7, 5, 14}[(a + o) % 4], true, i % 2 == 0,
                         (int)(o % 2 ? 3 : 1 + i % 3), (int)(a + o));
    /* MobileNet V2 shapes: a large plane, the widest layers */
    run_case(1, 32, 16, 56, 56, true, true, 1);
    run_case(1, 320, 1280, 7, 7, true, false, 3);
    run_case(1, 960, 160, 7, 7, true, true, 2);
    run_case(1, 32, 192, 28, 28, false, true, 3);
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

/* Constant weights (kept.c): the first call with a generation packs and keeps the
   panel, the second reuses it (the same bits), the third brings new weights under a new
   generation and packs again (the new weights' result); forgetting the weights' range
   frees the kept panel. Channels on and off the 16 grid, 1 and 2 threads. */
static void kept_case(int n, int ci, int co, int h, int w, bool bias)
{
    static uint64_t gen = 5000;
    cnn_conv_desc c = desc(n, ci, co, h, w);
    size_t s = (size_t)h * w, xs = (size_t)n * ci * s, ys = (size_t)n * co * s;
    size_t xps = (size_t)n * CB(ci) * 16 * s, yps = (size_t)n * CB(co) * 16 * s, nw = (size_t)co * ci;
    float *x = rnd(xs), *wt = rnd(nw), *b = bias ? rnd(co) : NULL, *want = rnd(ys), *y = rnd(ys);
    float *xbuf = rnd(xps), *yb = rnd(yps), *first = rnd(yps);
    size_t sr = cnn_backend_ref.conv_scratch(&c), sp = cnn_blocked_pw_scratch(&c);
    void *scratch = aligned_alloc(64, ((sr > sp ? sr : sp) + 63) / 64 * 64 + 64);
    assert_non_null(scratch);
    to_blocked(x, n, ci, s, xbuf);
    size_t before = cnn_cpu_kept_bytes();
    uint64_t g = ++gen;
    float tol = 2e-6f * (float)(ci + 3);
    for (int call = 0; call < 3; call++) {
        if (call == 2) { /* new weights, announced by a new generation */
            tu_fill(wt, nw, -1.0f, 1.0f, &g_rng);
            g = ++gen;
        }
        if (call != 1) cnn_backend_ref.conv_forward(&c, x, wt, b, want, scratch);
        memset(scratch, 0xff, sp); /* the per-call panel's place: kept calls must not read it */
        cnn_blocked_pw_forward(&c, xbuf, true, wt, b, yb, NULL, scratch, g);
        from_blocked(yb, n, co, s, y);
        if (!tu_close(y, want, ys, tol, tol, "blocked pointwise, kept weights"))
            fail_msg("kept call %d: n=%d ci=%d co=%d in=%dx%d bias=%d threads=%d", call, n, ci, co, h, w, bias,
                     cnn_get_threads());
        if (call == 0) memcpy(first, yb, yps * sizeof *yb);
        if (call == 1 && memcmp(first, yb, yps * sizeof *yb) != 0)
            fail_msg("kept weights gave other bits: ci=%d co=%d", ci, co);
        assert_true(cnn_cpu_kept_bytes() >= before + (size_t)CB(co) * CB(ci) * 256 * sizeof(float));
    }
    cnn_cpu_kept_forget(wt, nw * sizeof *wt);
    assert_int_equal(cnn_cpu_kept_bytes(), before);
    free(x), free(wt), free(b), free(want), free(y), free(xbuf), free(yb), free(first), free(scratch);
}

static void test_kept(void **state)
{
    (void)state;
    for (int t = 1; t <= 2; t++) {
        cnn_set_threads(t);
        kept_case(1, 32, 16, 14, 14, true);
        kept_case(1, 24, 144, 7, 7, false);
        kept_case(3, 96, 40, 5, 11, true);
        kept_case(1, 320, 1280, 7, 7, true);
        kept_case(1, 960, 160, 7, 7, false);
    }
    cnn_set_threads(0);
}

/* An SE gate on x (cnn_blocked_epi.gate, the mul_channel op fused into the 1x1 conv
   reading its value): against the reference backend's mul_channel then conv, and bit
   for bit against the cpu backend's blocked mul_channel then the kernel without a gate
   (the same multiplication). Planes from 1x1 to 28x28 (pixel tiles and their
   remainders), channels on and off the 16 grid up to 1024 in, batch 1 and 3, the
   epilogue, per call and kept weights; the rule for which shapes take it. */
static void gate_case(int n, int ci, int co, int h, int w, bool bias, int epi, uint64_t wgen)
{
    cnn_conv_desc c = desc(n, ci, co, h, w);
    assert_true(cnn_blocked_pw_gate_ok(&c));
    g_cases++;
    size_t s = (size_t)h * w, xs = (size_t)n * ci * s, ys = (size_t)n * co * s, cp = (size_t)CB(co) * 16;
    size_t xps = (size_t)n * CB(ci) * 16 * s, yps = (size_t)n * CB(co) * 16 * s;
    float *x = rnd(xs), *gate = rnd((size_t)n * ci), *wt = rnd((size_t)co * ci), *b = bias ? rnd(co) : NULL;
    float *sc = calloc(cp, sizeof *sc), *sh = calloc(cp, sizeof *sh), *res = rnd(ys), *xg = rnd(xs);
    assert_true(sc && sh);
    tu_fill(sc, (size_t)co, -1.0f, 1.0f, &g_rng);
    tu_fill(sh, (size_t)co, -1.0f, 1.0f, &g_rng);
    tu_fill(gate, (size_t)n * ci, 0.0f, 1.0f, &g_rng); /* a hard-sigmoid's range */
    const cnn_act_desc ad = {.act = CNN_ACT_HARDSWISH};
    float *y_ref = rnd(ys), *xbuf = rnd(xps), *xgb = rnd(xps), *yb = rnd(yps), *yb2 = rnd(yps);
    float *resb = rnd(yps), *y = rnd(ys);
    size_t sr = cnn_backend_ref.conv_scratch(&c), sp = cnn_blocked_pw_scratch(&c);
    void *scratch = aligned_alloc(64, ((sr > sp ? sr : sp) + 63) / 64 * 64 + 64);
    assert_non_null(scratch);
    cnn_backend_ref.mul_channel_forward((size_t)n * ci, s, x, gate, xg);
    cnn_backend_ref.conv_forward(&c, xg, wt, b, y_ref, scratch);
    ref_epilogue(y_ref, n, co, s, epi, sc, sh, res, ad.act);
    to_blocked(x, n, ci, s, xbuf);
    to_blocked(res, n, co, s, resb);
    cnn_blocked_epi e = {.scale = epi >= 1 ? sc : NULL, .shift = epi >= 1 ? sh : NULL,
                         .res = epi >= 2 ? resb : NULL, .act = epi >= 3 ? act_fn : NULL,
                         .act_arg = &ad, .act_desc = epi >= 3 ? &ad : NULL, .gate = gate};
    cnn_blocked_pw_forward(&c, xbuf, true, wt, b, yb, &e, scratch, wgen);
    from_blocked(yb, n, co, s, y);
    float tol = 2e-6f * (float)(ci + 3);
    if (!tu_close(y, y_ref, ys, tol, tol, "blocked pointwise, gated"))
        fail_msg("gated pw: n=%d ci=%d co=%d in=%dx%d bias=%d epi=%d threads=%d", n, ci, co, h, w, bias, epi,
                 cnn_get_threads());
    /* the unfused pair on the cpu backend: the same bits */
    cnn_backend_cpu.mul_channel_blocked_forward((size_t)n, (size_t)ci, s, xbuf, gate, xgb);
    e.gate = NULL;
    cnn_blocked_pw_forward(&c, xgb, true, wt, b, yb2, epi ? &e : NULL, scratch, wgen);
    if (memcmp(yb, yb2, yps * sizeof *yb) != 0)
        fail_msg("gated pw: other bits than mul_channel then pw: n=%d ci=%d co=%d in=%dx%d epi=%d", n, ci, co, h,
                 w, epi);
    if (wgen) cnn_cpu_kept_forget(wt, (size_t)co * ci * sizeof *wt);
    free(x), free(gate), free(wt), free(b), free(sc), free(sh), free(res), free(xg), free(y_ref);
    free(xbuf), free(xgb), free(yb), free(yb2), free(resb), free(y), free(scratch);
}

static void test_gate(void **state)
{
    (void)state;
    static const int ci[] = {16, 24, 40, 96, 120, 240, 576, 1024};
    static const int co[] = {16, 40, 96, 24};
    static const int sizes[][2] = {{1, 1}, {7, 7}, {5, 11}, {14, 14}, {28, 28}};
    for (int t = 1; t <= 2; t++) {
        if (tu_quick() && t == 1) continue;
        cnn_set_threads(t);
        g_cases = 0;
        int i = 0;
        for (size_t a = 0; a < sizeof ci / sizeof ci[0]; a++)
            for (size_t o = 0; o < sizeof co / sizeof co[0]; o++, i++)
                gate_case(1 + 2 * (i % 3 == 0), ci[a], co[o], sizes[i % 5][0], sizes[i % 5][1], i % 2 == 0, i % 4,
                          i % 5 == 1 ? 7000 + (uint64_t)i : 0);
        assert_true(g_cases == 32);
    }
    cnn_set_threads(0);
    cnn_conv_desc big = desc(1, 1040, 16, 14, 14), c7 = desc(16, 576, 96, 7, 7), c14 = desc(16, 240, 40, 14, 14);
    assert_false(cnn_blocked_pw_gate_ok(&big)); /* past the tile's buffer */
    assert_false(cnn_blocked_pw_gate_use(&big));
    cnn_conv_desc c7b1 = desc(1, 576, 96, 7, 7), c14b1 = desc(1, 240, 40, 14, 14);
    /* the rule (measured): up to 256 input channels, or a gate tensor out of cache */
    assert_true(cnn_blocked_pw_gate_use(&c7));
    assert_true(cnn_blocked_pw_gate_use(&c14));
    assert_true(cnn_blocked_pw_gate_use(&c14b1));
    assert_false(cnn_blocked_pw_gate_use(&c7b1));
}

/* Which kernel runs a blocked 1x1 layer (bench/RESULTS.md): packed per call, the own
   kernel on planes of 14x14 and more with up to ~40k weights; with the weights kept
   (a generation), also the wide 7x7 MobileNet layers, not ResNet-50's widest. */
static void test_rule(void **state)
{
    (void)state;
    const char *env = getenv("CNN_CPU_PW"), *cap = getenv("CNN_CPU_WCACHE_MB");
    if ((env && *env) || (cap && *cap)) skip(); /* forced: the rule is not asked */
    cnn_conv_desc wide7 = desc(1, 960, 320, 7, 7), mid14 = desc(1, 64, 384, 14, 14);
    cnn_conv_desc r50 = desc(1, 2048, 512, 7, 7), r50b = desc(1, 1024, 256, 14, 14);
    assert_false(cnn_blocked_pw_use(&wide7, true, 0));
    assert_true(cnn_blocked_pw_use(&wide7, true, 7));
    assert_true(cnn_blocked_pw_use(&mid14, true, 0));
    assert_true(cnn_blocked_pw_use(&mid14, true, 7));
    assert_false(cnn_blocked_pw_use(&r50, true, 7));
    assert_false(cnn_blocked_pw_use(&r50b, true, 7));
}

/* The shapes that are not a plain matrix product per image stay with oneDNN. */
static void test_refuses(void **state)
{
    (void)state;
    cnn_conv_desc c = desc(1, 32, 32, 8, 8);
    assert_true(cnn_blocked_pw_ok(&c));
    c.c_in = 24; /* off the 16 grid: from a blocked x only (padded lanes) */
    assert_true(cnn_blocked_pw_ok_io(&c, true));
    assert_false(cnn_blocked_pw_ok_io(&c, false));
    assert_false(cnn_blocked_pw_use(&c, false, 0));
    c = desc(1, 32, 40, 8, 8);
    assert_true(cnn_blocked_pw_ok_io(&c, false));
    c = desc(1, 32, 32, 8, 8);
    c.s[1] = c.s[2] = 2, c.out[1] = c.out[2] = 4;
    assert_false(cnn_blocked_pw_ok(&c));
    c = desc(1, 32, 32, 8, 8);
    c.p[1] = c.p[2] = 1, c.out[1] = c.out[2] = 10;
    assert_false(cnn_blocked_pw_ok(&c));
    c = desc(1, 32, 32, 8, 8);
    c.groups = 2;
    assert_false(cnn_blocked_pw_ok(&c));
    c = desc(1, 32, 32, 8, 8);
    c.k[1] = c.k[2] = 3, c.p[1] = c.p[2] = 1;
    assert_false(cnn_blocked_pw_ok(&c));
    assert_int_equal(cnn_blocked_pw_scratch(&c), 0);
}

int main(void)
{
    cnn_rng_seed(&g_rng, 19);
    if (!__builtin_cpu_supports("avx512f")) {
        printf("no AVX-512: the blocked 1x1 kernel is not used on this CPU\n");
        cnn_conv_desc c = desc(1, 32, 32, 8, 8);
        return cnn_blocked_pw_ok(&c) ? 1 : 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_refuses),
        cmocka_unit_test(test_kept),
        cmocka_unit_test(test_rule),
        cmocka_unit_test(test_gate),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

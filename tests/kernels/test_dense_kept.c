/* Dense convolutions of the blocked layout with constant weights (cpu/conv_dnnl.c,
   wpack_get: oneDNN's packed weights kept between calls, its Winograd F(4,3) as
   forward_inference with the weights transformed once) against the reference backend:
   x and y nChw16c (channels off the 16 grid padded with zeros), converted around the
   call; swept over the Winograd setting (never, the measured rule, wherever oneDNN has
   it), 3x3 stride 1 and 2 and 1x1, channels 16-208 (padded 24 and 40, an odd number of
   output blocks), planes 7x7 to 28x28, batch 1 and 3, bias on and off. Each case runs
   three calls: the first packs (kept.c, the one keeper, holds them), the second reuses
   (the same bits, although w was overwritten meanwhile under the same generation: the
   kept copy is read, not w), the third, with new weights under a new generation, packs
   again (the new weights' result); forgetting w's range frees what was kept. Tolerance
   2e-4 absolute and relative (inputs and weights in [-1, 1), sums of up to 1872 terms:
   Winograd rounds differently from direct summation). On failure every parameter is
   printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#include "testutil.h"

#ifdef CNN_HAVE_DNNL
static cnn_rng g_rng;

static float *rnd(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    tu_fill(p, n, -1.0f, 1.0f, &g_rng);
    return p;
}

/* (N, C, S) <-> (N, ceil(C/16), S, 16), padded lanes 0 */
static void to_blocked(const float *x, int n, int c, size_t s, float *xb)
{
    int cb = (c + 15) / 16;
    memset(xb, 0, (size_t)n * (size_t)cb * 16 * s * sizeof *xb);
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < s; p++)
                xb[(((size_t)i * (size_t)cb + (size_t)(ch / 16)) * s + p) * 16 + (size_t)(ch % 16)] =
                    x[((size_t)i * (size_t)c + (size_t)ch) * s + p];
}
static void from_blocked(const float *xb, int n, int c, size_t s, float *x)
{
    int cb = (c + 15) / 16;
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < s; p++)
                x[((size_t)i * (size_t)c + (size_t)ch) * s + p] =
                    xb[(((size_t)i * (size_t)cb + (size_t)(ch / 16)) * s + p) * 16 + (size_t)(ch % 16)];
}

static int g_cases;
static uint64_t g_gen = 1000;

static void run_case(int wino, int n, int ci, int co, int hw, int k, int stride, bool bias)
{
    int p = k / 2, o = (hw + 2 * p - k) / stride + 1;
    cnn_conv_desc c = {.n = n, .c_in = ci, .c_out = co, .groups = 1, .in = {1, hw, hw}, .out = {1, o, o},
                       .k = {1, k, k}, .s = {1, stride, stride}, .p = {0, p, p}, .d = {1, 1, 1}};
    size_t si = (size_t)hw * (size_t)hw, so = (size_t)o * (size_t)o;
    size_t cbi = (size_t)(ci + 15) / 16 * 16, cbo = (size_t)(co + 15) / 16 * 16;
    size_t nw = (size_t)co * (size_t)ci * (size_t)k * (size_t)k;
    float *x = rnd((size_t)n * (size_t)ci * si), *w = rnd(nw), *b = bias ? rnd((size_t)co) : NULL;
    float *xb = malloc((size_t)n * cbi * si * sizeof *xb), *yb = malloc((size_t)n * cbo * so * sizeof *yb);
    float *y = malloc((size_t)n * (size_t)co * so * sizeof *y), *want = malloc((size_t)n * (size_t)co * so * sizeof *want);
    float *first = malloc((size_t)n * cbo * so * sizeof *first);
    assert_true(xb && yb && y && want && first);
    to_blocked(x, n, ci, si, xb);
    size_t sb = cnn_dnnl_conv_scratch(&c) + cnn_dnnl_conv_scratch_blocked(&c);
    size_t sr = cnn_ref_conv_scratch_forward(&c);
    void *scratch = cnn_malloc_aligned((sb > sr ? sb : sr) + 64);
    assert_non_null(scratch);
    char what[160];
    snprintf(what, sizeof what, "winograd %d, n %d, %d->%d @%d, k %d stride %d, bias %d", wino, n, ci, co, hw, k,
             stride, bias);
    uint64_t gen = ++g_gen;
    const size_t kept0 = cnn_cpu_kept_bytes_tags(CNN_KEPT_DNNL);
    for (int call = 0; call < 3; call++) {
        if (call == 1) tu_fill(w, nw, -1.0f, 1.0f, &g_rng); /* unannounced: not seen */
        if (call == 2) { /* new weights, announced by a new generation */
            tu_fill(w, nw, -1.0f, 1.0f, &g_rng);
            gen = ++g_gen;
        }
        if (call != 1) cnn_ref_conv_forward(&c, x, w, b, want, scratch);
        if (!cnn_dnnl_conv_forward_blocked(&c, xb, true, w, b, yb, true, scratch, gen))
            fail_msg("refused: %s", what);
        from_blocked(yb, n, co, so, y);
        if (!tu_close(y, want, (size_t)n * (size_t)co * so, 2e-4f, 2e-4f, what))
            fail_msg("call %d: %s", call, what);
        if (call == 0) memcpy(first, yb, (size_t)n * cbo * so * sizeof *yb);
        if (call == 0 && cnn_cpu_kept_bytes_tags(CNN_KEPT_DNNL) <= kept0) fail_msg("nothing kept: %s", what);
        if (call == 1 && memcmp(first, yb, (size_t)n * cbo * so * sizeof *yb) != 0)
            fail_msg("kept weights gave other bits: %s", what);
    }
    cnn_cpu_kept_forget(w, nw * sizeof *w);
    if (cnn_cpu_kept_bytes_tags(CNN_KEPT_DNNL) != kept0) fail_msg("kept weights not forgotten: %s", what);
    g_cases++;
    free(x), free(w), free(b), free(xb), free(yb), free(y), free(want), free(first);
    cnn_free_aligned(scratch);
}

static void test_sweep(void **state)
{
    (void)state;
    static const int ch[][2] = {{16, 32}, {24, 64}, {64, 64}, {96, 208}, {40, 48}};
    static const int planes[] = {7, 14, 28};
    for (int wino = 0; wino <= 2; wino++) {
        cnn_cpu_set_winograd(wino);
        for (size_t ci = 0; ci < sizeof ch / sizeof ch[0]; ci++)
            for (size_t pi = 0; pi < sizeof planes / sizeof planes[0]; pi++)
                for (int n = 1; n <= 3; n += 2) {
                    if (tu_quick() && (n == 3 || pi == 2)) continue;
                    run_case(wino, n, ch[ci][0], ch[ci][1], planes[pi], 3, 1, (pi + ci) % 2 == 0);
                    if (wino == 1) {
                        run_case(wino, n, ch[ci][0], ch[ci][1], planes[pi], 3, 2, true);
                        run_case(wino, n, ch[ci][0], ch[ci][1], planes[pi], 1, 1, false);
                    }
                }
    }
    cnn_cpu_set_winograd(-1);
    print_message("%d cases\n", g_cases);
}
#endif

int main(void)
{
#ifdef CNN_HAVE_DNNL
    cnn_rng_seed(&g_rng, 23);
    if (!__builtin_cpu_supports("avx512f")) {
        printf("no AVX-512: the blocked layout (and its kept weights) is not used on this CPU\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
#else
    printf("built without oneDNN: no packed weights to keep\n");
    return 0;
#endif
}

/* The blocked layout's non-convolution kernels (cnn_backend "blocked layout" entries:
   ref/blocked_ref.c and cpu/blocked_ops.c) against the plain reference kernels: x
   converted from NCHW to nChw16c (padded lanes 0), run blocked on the backend in use
   (cpu, or ref with CNN_BACKEND=ref) and on ref, converted back and compared with the
   plain ref entry on the same values. The blocked kernels add in the plain ones'
   order, so every comparison is exact (NaNs and ties included for max pooling); the
   padded lanes must come out 0. Channel counts on and off the 16 grid, batch 1-3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

static cnn_rng g_rng;
#define CB(c) (((c) + 15) / 16)

static float *rnd(size_t n, bool ties)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    tu_fill(p, n, -1.0f, 1.0f, &g_rng);
    for (size_t i = 0; ties && i < n; i++) {
        p[i] = roundf(p[i] * 4.0f) / 4.0f;
        if (cnn_rng_uniform(&g_rng) < 0.01f) p[i] = NAN;
    }
    return p;
}
static float *blk(int n, int c, size_t s) { return calloc((size_t)n * CB(c) * 16 * s + 1, sizeof(float)); }

static size_t at(bool blocked, int C, size_t S, int b, int c, size_t s)
{
    if (!blocked) return ((size_t)b * C + c) * S + s;
    return (((size_t)b * CB(C) + c / 16) * S + s) * 16 + c % 16;
}
static void to_blocked(const float *x, int n, int c, size_t s, float *xb)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < s; p++) xb[at(true, c, s, i, ch, p)] = x[at(false, c, s, i, ch, p)];
}
/* y (plain) from yb; fails when a padded lane is not 0 */
static void from_blocked(const float *yb, int n, int c, size_t s, float *y, const char *what)
{
    for (int i = 0; i < n; i++) {
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < s; p++) y[at(false, c, s, i, ch, p)] = yb[at(true, c, s, i, ch, p)];
        for (int ch = c; ch < CB(c) * 16; ch++)
            for (size_t p = 0; p < s; p++)
                if (yb[(((size_t)i * CB(c) + ch / 16) * s + p) * 16 + ch % 16] != 0.0f)
                    fail_msg("%s: padded lane %d of image %d not 0", what, ch, i);
    }
}
/* bit for bit, NaN == NaN */
static void same(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))))
            fail_msg("%s: element %zu: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
}

static const cnn_backend *both[2];

/* ceil: one more output row and column where ceil_mode gives them (PyTorch: the last
   window starts inside the input or left padding), windows clipped at the end */
static void pool_case_mode(bool max, int n, int c, int h, int w, int k, int s, int p, int d, bool ceil)
{
    int oh = (h + 2 * p - d * (k - 1) - 1) / s + 1, ow = (w + 2 * p - d * (k - 1) - 1) / s + 1;
    if (ceil && (h + 2 * p - d * (k - 1) - 1) % s && oh * s < h + p) oh++;
    if (ceil && (w + 2 * p - d * (k - 1) - 1) % s && ow * s < w + p) ow++;
    if (oh < 1 || ow < 1) return;
    cnn_pool_desc pd = {.planes = (size_t)n * c, .in = {1, h, w}, .out = {1, oh, ow}, .k = {1, k, k},
                        .s = {1, s, s}, .p = {0, p, p}, .d = {1, max ? d : 1, max ? d : 1}};
    size_t is = (size_t)h * w, os = (size_t)oh * ow, ys = (size_t)n * c * os;
    float *x = rnd((size_t)n * c * is, max), *want = rnd(ys, false), *got = rnd(ys, false);
    int32_t *idx = malloc(ys * sizeof *idx);
    if (max) cnn_backend_ref.maxpool2d_forward(&pd, x, want, idx);
    else cnn_backend_ref.avgpool2d_forward(&pd, x, want);
    float *xb = blk(n, c, is), *yb = blk(n, c, os);
    to_blocked(x, n, c, is, xb);
    pd.planes = (size_t)n * CB(c);
    char what[128];
    snprintf(what, sizeof what, "%s pool n=%d c=%d %dx%d k=%d s=%d p=%d d=%d", max ? "max" : "avg", n, c, h, w,
             k, s, p, d);
    for (int b = 0; b < 2; b++) {
        memset(yb, 0xff, (size_t)n * CB(c) * 16 * os * sizeof *yb); /* NaN: every lane written */
        if (max) both[b]->maxpool2d_blocked_forward(&pd, xb, yb);
        else both[b]->avgpool2d_blocked_forward(&pd, xb, yb);
        from_blocked(yb, n, c, os, got, what);
        same(got, want, ys, what);
    }
    free(x), free(want), free(got), free(idx), free(xb), free(yb);
}

static void pool_case(bool max, int n, int c, int h, int w, int k, int s, int p, int d)
{
    pool_case_mode(max, n, c, h, w, k, s, p, d, false);
}

static void test_pooling(void **state)
{
    (void)state;
    static const int cs[] = {16, 24, 40, 64};
    int i = 0;
    for (int k = 1; k <= 3; k++)
        for (int s = 1; s <= 2; s++)
            for (int p = 0; p <= k / 2; p++, i++) {
                pool_case(true, 1 + i % 3, cs[i % 4], 7 + i % 5, 9, k, s, p, 1 + (i % 3 == 2));
                pool_case(false, 1 + i % 2, cs[(i + 1) % 4], 8, 5 + i % 4, k, s, p, 1);
            }
    pool_case(true, 1, 64, 112, 112, 3, 2, 1, 1); /* ResNet's stem pooling */
    /* GoogLeNet's: 3x3 / 2 ceil mode (112 -> 56, 28 -> 14, 14 -> 7), 2x2 / 2 ceil, and the
       inception branches' 3x3 / 1 padded; rows wider than the two-pass buffer (cpu) */
    pool_case_mode(true, 1, 64, 112, 112, 3, 2, 0, 1, true);
    pool_case_mode(true, 1, 48, 28, 28, 3, 2, 0, 1, true);
    pool_case_mode(true, 2, 40, 13, 15, 3, 2, 0, 1, true);
    pool_case_mode(true, 1, 32, 14, 14, 2, 2, 0, 1, true);
    pool_case_mode(true, 1, 24, 7, 9, 2, 2, 0, 1, true);
    pool_case(true, 1, 80, 14, 14, 3, 1, 1, 1);
    pool_case(true, 1, 16, 3, 600, 3, 1, 1, 1);
    pool_case(true, 1, 16, 3, 530, 3, 2, 1, 2);
    pool_case(false, 2, 24, 14, 14, 2, 2, 0, 1);
}

static void test_global_and_gate(void **state)
{
    (void)state;
    static const int cs[] = {16, 24, 72, 120, 576, 8};
    for (int i = 0; i < 6; i++) {
        int n = 1 + i % 3, c = cs[i];
        size_t hw = (size_t)(1 + 7 * i) * (3 + i), xs = (size_t)n * c * hw;
        float *x = rnd(xs, false), *g = rnd((size_t)n * c, false), *want = rnd(xs, false), *got = rnd(xs, false);
        float *xb = blk(n, c, hw), *yb = blk(n, c, hw);
        to_blocked(x, n, c, hw, xb);
        cnn_backend_ref.global_avgpool_forward((size_t)n * c, hw, x, want);
        for (int b = 0; b < 2; b++) {
            both[b]->global_avgpool_blocked_forward((size_t)n, (size_t)c, hw, xb, got);
            same(got, want, (size_t)n * c, "global average pool");
        }
        cnn_backend_ref.mul_channel_forward((size_t)n * c, hw, x, g, want);
        for (int b = 0; b < 2; b++) {
            memset(yb, 0xff, (size_t)n * CB(c) * 16 * hw * sizeof *yb);
            both[b]->mul_channel_blocked_forward((size_t)n, (size_t)c, hw, xb, g, yb);
            from_blocked(yb, n, c, hw, got, "mul_channel");
            same(got, want, xs, "mul_channel");
        }
        free(x), free(g), free(want), free(got), free(xb), free(yb);
    }
}

/* One channel copy in all four layout pairs against the same copy on plain data. */
static void copy_case(int n, size_t S, int xc, int x0, int groups, int yc, int y0, int cnt)
{
    cnn_chan_copy d = {.n = (size_t)n, .spatial = S, .xc = xc, .x0 = x0, .groups = groups,
                       .cg = groups > 1 ? cnt / groups : 1, .yc = yc, .y0 = y0, .cnt = cnt};
    size_t ys = (size_t)n * yc * S;
    float *x = rnd((size_t)n * xc * S, false), *want = calloc(ys, sizeof *want), *got = rnd(ys, false);
    for (int b = 0; b < n; b++) /* the definition, on plain data */
        for (int k = 0; k < cnt; k++)
            for (size_t s = 0; s < S; s++)
                want[at(false, yc, S, b, y0 + k, s)] =
                    x[at(false, xc, S, b, x0 + (k % groups) * d.cg + k / groups, s)];
    float *xb = blk(n, xc, S), *yb = blk(n, yc, S);
    to_blocked(x, n, xc, S, xb);
    char what[128];
    snprintf(what, sizeof what, "channel copy n=%d S=%zu x %d [%d..] g=%d -> y %d [%d..+%d]", n, S, xc, x0,
             groups, yc, y0, cnt);
    for (int b = 0; b < 2; b++)
        for (int m = 0; m < 4; m++) {
            d.xb = m & 1, d.yb = m & 2;
            float *y = d.yb ? yb : got;
            memset(y, 0, (d.yb ? (size_t)n * CB(yc) * 16 * S : ys) * sizeof *y);
            both[b]->channel_copy(&d, d.xb ? xb : x, y);
            if (d.yb) from_blocked(yb, n, yc, S, got, what);
            same(got, want, ys, what);
        }
    free(x), free(want), free(got), free(xb), free(yb);
}

static void test_channel_copy(void **state)
{
    (void)state;
    /* concat pieces: whole blocks, a padded last block, offsets off the grid */
    copy_case(2, 49, 32, 0, 1, 96, 32, 32);
    copy_case(1, 30, 24, 0, 1, 88, 64, 24);
    copy_case(3, 7, 40, 0, 1, 64, 24, 40);
    copy_case(1, 1, 16, 0, 1, 16, 0, 16);
    /* channel shuffle (ShuffleNet V2: 2 groups of 58 and 24), channel slice */
    copy_case(1, 28 * 28, 116, 0, 2, 116, 0, 116);
    copy_case(2, 9, 48, 0, 2, 48, 0, 48);
    copy_case(1, 14 * 14, 116, 58, 1, 58, 0, 58);
    copy_case(2, 10, 48, 16, 1, 32, 0, 32);
}

/* cnn_blocked_zero_tail clears exactly the padded lanes of each image's last block. */
static void test_zero_tail(void **state)
{
    (void)state;
    for (int c = 16; c <= 40; c += 3) {
        int n = 2;
        size_t S = 13, len = (size_t)n * CB(c) * 16 * S;
        float *y = rnd(len, false), *want = malloc(len * sizeof *want);
        memcpy(want, y, len * sizeof *y);
        for (int i = 0; i < n; i++)
            for (int ch = c; ch < CB(c) * 16; ch++)
                for (size_t p = 0; p < S; p++) want[(((size_t)i * CB(c) + ch / 16) * S + p) * 16 + ch % 16] = 0.0f;
        cnn_blocked_zero_tail(n, c, S, y);
        assert_memory_equal(y, want, len * sizeof *y);
        free(y), free(want);
    }
}

int main(void)
{
    cnn_rng_seed(&g_rng, 23);
    both[0] = cnn_backend_get();
    both[1] = &cnn_backend_ref;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pooling),
        cmocka_unit_test(test_global_and_gate),
        cmocka_unit_test(test_channel_copy),
        cmocka_unit_test(test_zero_tail),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

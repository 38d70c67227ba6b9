/* int8 convolution kernels (docs/architecture.md, "int8 precision"): the reference
   kernel against the float reference convolution on integer-valued data (exact: sums
   stay below 2^24), and the cpu backend against the reference bit for bit over a
   sweep of descriptors (dense im2col + oneDNN GEMM, pointwise without im2col, grouped,
   depthwise with every stride / padding / dilation branch, 3-D, linear as 1x1, batch
   > 1), each through the AVX-512 VNNI kernels (depthwise with VBMI and without) and
   without them, with and without the
   fused epilogue (float bias, batch norm, residual, ReLU / ReLU6), storing float or
   requantised int8 output, and the direct int8 store (multiply-add, clamp, round). Also the activation rounding cnn_q8 on its edge cases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "testutil.h"

static cnn_rng g_rng;

static int8_t *rnd_s8(size_t n)
{
    int8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = (int8_t)((int)cnn_rng_below(&g_rng, 255) - 127);
    return p;
}

static void *scratch_for(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    assert_non_null(p);
    return p;
}

static cnn_conv_desc desc3(int n, int ci, int co, int g, int d, int h, int w, int kd, int kh,
                           int kw, int s, int pd, int ph, int pw, int dil)
{
    cnn_conv_desc c = {.n = n, .c_in = ci, .c_out = co, .groups = g, .in = {d, h, w},
                       .k = {kd, kh, kw}, .s = {kd > 1 || d > 1 ? s : 1, s, s},
                       .p = {pd, ph, pw}, .d = {kd > 1 ? dil : 1, dil, dil}};
    for (int i = 0; i < 3; i++)
        c.out[i] = (c.in[i] + 2 * c.p[i] - c.d[i] * (c.k[i] - 1) - 1) / c.s[i] + 1;
    return c;
}

static cnn_conv_desc desc2(int n, int ci, int co, int g, int h, int w, int k, int s, int p, int d)
{
    return desc3(n, ci, co, g, 1, h, w, 1, k, k, s, 0, p, p, d);
}

/* epk: 0 no epilogue; 1..3 scale+shift+residual with act none / relu / relu6 */
static void run_case_ep(const cnn_conv_desc *c, bool bias, int epk)
{
    size_t in_sp = (size_t)c->in[0] * c->in[1] * c->in[2];
    size_t out_sp = (size_t)c->out[0] * c->out[1] * c->out[2];
    size_t K = (size_t)(c->c_in / c->groups) * c->k[0] * c->k[1] * c->k[2];
    size_t xs = (size_t)c->n * c->c_in * in_sp, ys = (size_t)c->n * c->c_out * out_sp;
    size_t ws = (size_t)c->c_out * K;
    int8_t *x = rnd_s8(xs), *w = rnd_s8(ws);
    int32_t *b = NULL;
    float *m = malloc((size_t)c->c_out * sizeof *m);
    assert_non_null(m);
    for (int o = 0; o < c->c_out; o++) m[o] = 1e-4f * (float)(1 + (int)cnn_rng_below(&g_rng, 100));
    if (bias) {
        b = malloc((size_t)c->c_out * sizeof *b);
        assert_non_null(b);
        for (int o = 0; o < c->c_out; o++) b[o] = (int32_t)cnn_rng_below(&g_rng, 20001) - 10000;
    }
    float *y_ref = malloc(ys * sizeof *y_ref), *y_cpu = malloc(ys * sizeof *y_cpu);
    float *y_flt = malloc(ys * sizeof *y_flt);
    assert_true(y_ref && y_cpu && y_flt);
    memset(y_cpu, 0xff, ys * sizeof *y_cpu); /* NaN: every output must be written */
    void *s_ref = scratch_for(cnn_backend_ref.conv_s8_scratch(c));
    void *s_cpu = scratch_for(cnn_backend_cpu.conv_s8_scratch(c));
    cnn_s8_epilogue ep = {0};
    float *sc = NULL, *res = NULL, *fb = NULL;
    int32_t *wsum = NULL;
    if (epk) {
        sc = malloc(2 * (size_t)c->c_out * sizeof *sc);
        res = malloc(ys * sizeof *res);
        assert_true(sc && res);
        tu_fill(sc, 2 * (size_t)c->c_out, -1.5f, 1.5f, &g_rng);
        tu_fill(res, ys, -2.0f, 2.0f, &g_rng);
        ep = (cnn_s8_epilogue){.scale = sc, .shift = sc + c->c_out, .res = res, .act = epk - 1};
        /* the weights' sums per output channel as quant.c gives them (without: the
           kernel computes them, the epk == 0 runs) */
        wsum = calloc((size_t)c->c_out, sizeof *wsum);
        assert_non_null(wsum);
        for (size_t i = 0; i < ws; i++) wsum[i / K] += w[i];
        ep.wsum = wsum;
        if (!bias) { /* a layer whose bias is beyond int32 keeps it in float */
            fb = malloc((size_t)c->c_out * sizeof *fb);
            assert_non_null(fb);
            tu_fill(fb, (size_t)c->c_out, -3.0f, 3.0f, &g_rng);
            ep.bias = fb;
        }
    }
    cnn_backend_ref.conv_forward_s8(c, x, w, b, m, epk ? &ep : NULL, y_ref, s_ref);
    cnn_backend_cpu.conv_forward_s8(c, x, w, b, m, epk ? &ep : NULL, y_cpu, s_cpu);

    /* the float reference convolution on the same integers: exact sums */
    float *xf = malloc(xs * sizeof *xf), *wf = malloc(ws * sizeof *wf), *bf = NULL;
    assert_true(xf && wf);
    for (size_t i = 0; i < xs; i++) xf[i] = x[i];
    for (size_t i = 0; i < ws; i++) wf[i] = w[i];
    if (b) {
        bf = malloc((size_t)c->c_out * sizeof *bf);
        assert_non_null(bf);
        for (int o = 0; o < c->c_out; o++) bf[o] = (float)b[o];
    }
    void *s_flt = scratch_for(cnn_backend_ref.conv_scratch(c));
    cnn_backend_ref.conv_forward(c, xf, wf, bf, y_flt, s_flt);
    size_t bad = 0;
    for (size_t i = 0; i < ys; i++) {
        int o = (int)(i / out_sp % (size_t)c->c_out);
        float want = y_flt[i] * m[o]; /* y_flt is the exact integer sum (< 2^24) */
        if (epk) { /* one rounding per operation */
            volatile float t = want;
            if (fb) t = t + fb[o];
            t = t * sc[o];
            t = t + sc[c->c_out + o];
            t = t + res[i];
            if (epk == 2) t = t > 0.0f ? t : 0.0f;
            if (epk == 3) t = t < 0.0f ? 0.0f : t > 6.0f ? 6.0f : t;
            want = t;
        }
        if (memcmp(&want, &y_ref[i], sizeof want) != 0 || memcmp(&y_ref[i], &y_cpu[i], sizeof want) != 0) {
            if (bad++ < 3)
                fprintf(stderr,
                        "FAILED n=%d ci=%d co=%d g=%d in=%dx%dx%d k=%dx%dx%d s=%d p=%d,%d d=%d bias=%d "
                        "at %zu: float %.9g ref %.9g cpu %.9g\n",
                        c->n, c->c_in, c->c_out, c->groups, c->in[0], c->in[1], c->in[2], c->k[0],
                        c->k[1], c->k[2], c->s[1], c->p[1], c->p[2], c->d[1], bias, i,
                        (double)want, (double)y_ref[i], (double)y_cpu[i]);
        }
    }
    assert_int_equal(bad, 0);
    /* int8 output (the store requantises for an int8 reader): both backends give
       cnn_q8 of the float result, element i at byte i; the scale makes the largest
       values clamp */
    float amax = 0.0f;
    for (size_t i = 0; i < ys; i++) amax = fmaxf(amax, fabsf(y_ref[i]));
    ep.q_out = amax > 0.0f ? amax / 100.0f : 1.0f;
    memset(y_cpu, 0x55, ys * sizeof *y_cpu);
    float *yq_ref = malloc(ys * sizeof *yq_ref);
    assert_non_null(yq_ref);
    memset(yq_ref, 0x55, ys * sizeof *yq_ref);
    cnn_backend_ref.conv_forward_s8(c, x, w, b, m, &ep, yq_ref, s_ref);
    cnn_backend_cpu.conv_forward_s8(c, x, w, b, m, &ep, y_cpu, s_cpu);
    const int8_t *qr = (const int8_t *)yq_ref, *qc = (const int8_t *)y_cpu;
    for (size_t i = 0; i < ys; i++) {
        int8_t want = cnn_q8(y_ref[i], ep.q_out);
        if (qr[i] != want || qc[i] != want) {
            if (bad++ < 3)
                fprintf(stderr, "FAILED int8 output n=%d ci=%d co=%d g=%d k=%d at %zu: want %d ref %d cpu %d\n",
                        c->n, c->c_in, c->c_out, c->groups, c->k[1], i, want, qr[i], qc[i]);
        }
    }
    assert_int_equal(bad, 0);
    /* the direct store (int8 precision's one multiply-add per output): m and a float
       bias scaled so that values reach past the clamps, which cycle through none /
       ReLU / ReLU6 at an odd 6 / s */
    float amax_acc = 0.0f;
    for (size_t i = 0; i < ys; i++) amax_acc = fmaxf(amax_acc, fabsf(y_flt[i]));
    float *md = malloc(2 * (size_t)c->c_out * sizeof *md);
    assert_non_null(md);
    for (int o = 0; o < c->c_out; o++) {
        md[o] = (0.5f + cnn_rng_uniform(&g_rng)) * 300.0f / (amax_acc > 0.0f ? amax_acc : 1.0f);
        md[c->c_out + o] = (cnn_rng_uniform(&g_rng) - 0.5f) * 40.0f;
    }
    static const float los[] = {-127.0f, 0.0f, 0.0f}, his[] = {127.0f, 127.0f, 37.0f};
    static int g_dk;
    int dk = g_dk++ % 3;
    cnn_s8_epilogue ed = {.bias = md + c->c_out, .direct = true, .q_lo = los[dk], .q_hi = his[dk],
                          .wsum = wsum};
    memset(y_cpu, 0x55, ys * sizeof *y_cpu);
    memset(yq_ref, 0x55, ys * sizeof *yq_ref);
    cnn_backend_ref.conv_forward_s8(c, x, w, b, md, &ed, yq_ref, s_ref);
    cnn_backend_cpu.conv_forward_s8(c, x, w, b, md, &ed, y_cpu, s_cpu);
    size_t clamped = 0;
    for (size_t i = 0; i < ys; i++) {
        int o = (int)(i / out_sp % (size_t)c->c_out);
        volatile float t = y_flt[i] * md[o]; /* one rounding per operation */
        t = t + md[c->c_out + o];
        float v = t;
        v = v > his[dk] ? his[dk] : v;
        v = v < los[dk] ? los[dk] : v;
        clamped += v != t;
        int8_t want = (int8_t)lrintf(v); /* half to even in the default rounding mode */
        if (qr[i] != want || qc[i] != want) {
            if (bad++ < 3)
                fprintf(stderr, "FAILED direct n=%d ci=%d co=%d g=%d k=%d at %zu: want %d ref %d cpu %d\n",
                        c->n, c->c_in, c->c_out, c->groups, c->k[1], i, want, qr[i], qc[i]);
        }
    }
    assert_int_equal(bad, 0);
    assert_true(clamped > 0 || ys < 8);
    free(md);
    free(yq_ref);
    free(x), free(w), free(b), free(m), free(y_ref), free(y_cpu), free(y_flt);
    free(xf), free(wf), free(bf), free(s_ref), free(s_cpu), free(s_flt), free(sc), free(res), free(fb);
    free(wsum);
}

static int g_ep; /* cycles the epilogue kinds over the sweep */
static void run_case(const cnn_conv_desc *c, bool bias)
{
    run_case_ep(c, bias, 0);
    run_case_ep(c, bias, 1 + g_ep++ % 3);
}

static void sweep(void)
{
    /* dense 2-D: im2col + GEMM, odd sizes, stride, padding, dilation, groups */
    const int dense[][10] = {
        /* n ci co g  h  w  k s p d */
        {1, 1, 6, 1, 28, 28, 5, 1, 2, 1}, {2, 6, 16, 1, 14, 14, 5, 1, 0, 1},
        {1, 3, 8, 1, 17, 13, 3, 2, 1, 1}, {3, 8, 12, 1, 9, 11, 3, 1, 1, 2},
        {1, 16, 32, 1, 8, 8, 3, 1, 1, 1},  {2, 12, 24, 3, 10, 7, 3, 1, 1, 1},
        {1, 32, 64, 1, 7, 7, 1, 1, 0, 1},  {2, 24, 48, 2, 6, 5, 1, 1, 0, 1},
        {1, 16, 16, 1, 9, 9, 1, 2, 0, 1},  {1, 4, 8, 1, 5, 5, 7, 1, 3, 1},
        {1, 3, 16, 1, 32, 32, 7, 2, 3, 1}, {2, 64, 10, 1, 1, 1, 1, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof dense / sizeof dense[0]; i++) {
        const int *a = dense[i];
        cnn_conv_desc c = desc2(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
        run_case(&c, i % 2 == 0);
        run_case(&c, i % 2 == 1);
    }
    /* depthwise: stride 1/2, kernels 3/5/7, padding none/same/more, dilation, wide rows
       (> 256 columns: the accumulator chunks) */
    const int dw[][8] = {
        /* n  c  h   w  k s p d */
        {1, 8, 14, 14, 3, 1, 1, 1}, {2, 5, 15, 9, 3, 2, 1, 1}, {1, 4, 7, 7, 5, 1, 2, 1},
        {1, 3, 12, 10, 5, 2, 2, 1}, {1, 6, 9, 9, 3, 1, 0, 1}, {1, 2, 11, 13, 3, 1, 2, 2},
        {1, 2, 6, 300, 3, 1, 1, 1}, {1, 3, 5, 520, 3, 2, 1, 1}, {2, 4, 4, 4, 7, 1, 3, 1},
        {1, 1, 8, 8, 3, 1, 4, 1},
        /* stride 1, same width, small planes: 16 outputs of the plane per vector */
        {2, 5, 7, 7, 3, 1, 1, 1}, {1, 3, 28, 28, 3, 1, 1, 1}, {1, 2, 1, 30, 3, 1, 1, 1},
        {1, 2, 5, 3, 3, 1, 1, 1}, {1, 4, 32, 32, 3, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof dw / sizeof dw[0]; i++) {
        const int *a = dw[i];
        cnn_conv_desc c = desc2(a[0], a[1], a[1], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
        run_case(&c, i % 2 == 0);
    }
    /* 3-D (HybridSN's first layers) and linear as a 1x1 convolution */
    cnn_conv_desc c3 = desc3(2, 1, 8, 1, 12, 9, 9, 7, 3, 3, 1, 0, 0, 0, 1);
    run_case(&c3, true);
    cnn_conv_desc c4 = desc3(1, 4, 6, 2, 5, 6, 6, 3, 3, 3, 2, 1, 1, 1, 1);
    run_case(&c4, false);
    const int lins[][3] = {/* n, in, out */
                           {7, 400, 120}, {1, 1280, 1000}, {1, 37, 5}, {16, 130, 21}, {3, 64, 16},
                           {5, 1, 3}, {2, 500, 33}};
    for (size_t i = 0; i < sizeof lins / sizeof lins[0]; i++) {
        cnn_conv_desc lin = {.n = lins[i][0], .c_in = lins[i][1], .c_out = lins[i][2], .groups = 1,
                             .in = {1, 1, 1}, .out = {1, 1, 1}, .k = {1, 1, 1}, .s = {1, 1, 1},
                             .d = {1, 1, 1}};
        run_case(&lin, i % 2 == 0);
        run_case(&lin, i % 2 == 1);
    }
    /* the VNNI micro-kernel's tails: channels not a multiple of 8, pixels not of 48,
       reduction not of 4, groups with batch */
    const int tails[][10] = {
        {1, 13, 21, 1, 10, 9, 1, 1, 0, 1}, {3, 7, 9, 1, 11, 5, 3, 1, 1, 1},
        {2, 18, 30, 3, 9, 13, 3, 2, 1, 1}, {1, 5, 17, 1, 23, 19, 3, 2, 0, 1},
        {2, 64, 40, 1, 7, 7, 3, 1, 1, 1},  {1, 3, 24, 1, 33, 31, 3, 2, 1, 1},
        {1, 9, 8, 1, 16, 48, 1, 1, 0, 1},  {1, 6, 8, 1, 12, 12, 3, 3, 2, 2},
        /* stride 1 with rows as wide as the input's (64 pixels per tap load, across
           rows): dilated, rows wider than 64, 5x5, an odd reduction, a batch, a
           reduction split over threads, 9x9 (more than 64 taps: the row packing) */
        {1, 8, 16, 1, 13, 11, 3, 1, 2, 2}, {1, 5, 9, 1, 6, 70, 3, 1, 1, 1},
        {1, 7, 12, 1, 9, 10, 5, 1, 2, 1},  {1, 3, 8, 1, 20, 21, 3, 1, 1, 1},
        {5, 6, 10, 1, 9, 9, 3, 1, 1, 1},   {1, 160, 24, 1, 3, 5, 3, 1, 1, 1},
        {1, 2, 8, 1, 12, 12, 9, 1, 4, 1},  {4, 40, 8, 2, 5, 5, 1, 1, 0, 1},
        /* batch 1, large enough to run on threads: one loop of 48-, 96- or 192-pixel
           spans (14x14: 4 + 4 pixels; 18x18: 3 + 36; 56x56: 16 + 64; 26x26: 3 + 100),
           two loops on 7x7 (2 threads) */
        {1, 64, 96, 1, 14, 14, 3, 1, 1, 1}, {1, 160, 320, 1, 7, 7, 1, 1, 0, 1},
        {1, 8, 16, 1, 56, 56, 1, 1, 0, 1}, {1, 24, 40, 1, 26, 26, 3, 1, 1, 1},
        {1, 16, 24, 1, 18, 18, 3, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        const int *a = tails[i];
        cnn_conv_desc c = desc2(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
        run_case(&c, i % 2 == 0);
    }
    /* ... and wider than one 64-byte window of the VBMI kernel (stride 4, kernel 7;
       dilation 4, kernel 5), a kernel of 13 taps (4 groups of 4) */
    const int dw2[][8] = {{2, 3, 33, 47, 3, 2, 1, 1}, {1, 2, 9, 17, 3, 3, 1, 1}, {1, 2, 40, 40, 9, 1, 4, 1},
                          {1, 3, 30, 70, 7, 4, 3, 1}, {1, 2, 20, 50, 5, 1, 4, 4}, {1, 2, 20, 37, 13, 1, 6, 1}};
    for (size_t i = 0; i < sizeof dw2 / sizeof dw2[0]; i++) {
        const int *a = dw2[i];
        cnn_conv_desc c = desc2(a[0], a[1], a[1], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
        run_case(&c, true);
    }
}

/* the sweep through every cpu path: AVX-512 VNNI kernels where the CPU has them, and
   the others (im2col + oneDNN GEMM, scalar depthwise) */
static void test_sweep(void **state)
{
    (void)state;
    fprintf(stderr, "cpu int8 with VNNI kernels: %s\n", cnn_vnni_s8_available() ? "yes" : "no (not this CPU)");
    sweep();
    cnn_vnni_s8_dw_flat_enable(false); /* small stride-1 depthwise planes by rows too */
    sweep();
    cnn_vnni_s8_dw_flat_enable(true);
    cnn_vnni_s8_vbmi_enable(false); /* depthwise from float rows (VNNI CPUs without VBMI) */
    sweep();
    cnn_vnni_s8_vbmi_enable(true);
    cnn_vnni_s8_enable(false);
    sweep();
    cnn_vnni_s8_enable(true);
}

/* The rounding every int8 path shares: half to even, clamp to +-127, NaN -> 0. */
static void test_q8_rounding(void **state)
{
    (void)state;
    const float xs[] = {0.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, 126.5f,
                        127.49f, 127.5f, 300.0f, -127.5f, -1e30f, 3.0f, -3.0f};
    const int want[] = {0, 0, 2, 2, 0, -2, -2, 0, 126, 127, 127, 127, -127, -127, 3, -3};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) assert_int_equal(cnn_q8(xs[i], 1.0f), want[i]);
    assert_int_equal(cnn_q8(NAN, 1.0f), 0);
    assert_int_equal(cnn_q8(INFINITY, 1.0f), 127);
    assert_int_equal(cnn_q8(-INFINITY, 1.0f), -127);
    assert_int_equal(cnn_q8(0.3f, 0.1f), 3);  /* 0.3f / 0.1f = 3.0000002 */
    assert_int_equal(cnn_q8(-0.25f, 0.1f), -2); /* -2.5 -> -2 (even) */
    /* the bulk routine (vectorised, threaded) equals the scalar definition */
    size_t n = 200003;
    float *x = malloc(n * sizeof *x);
    int8_t *q = malloc(n);
    assert_true(x && q);
    tu_fill(x, n, -3.0f, 3.0f, &g_rng);
    x[5] = NAN;
    x[77] = 1e9f;
    cnn_quantize_s8(x, n, 0.0173f, q);
    for (size_t i = 0; i < n; i++)
        if (q[i] != cnn_q8(x[i], 0.0173f)) fail_msg("element %zu: %d vs %d", i, q[i], cnn_q8(x[i], 0.0173f));
    free(x);
    free(q);
}

/* The cpu int8 stores' quantiser (a multiplication by 1/s, cnn_q8's division only
   near a rounding tie) against cnn_q8 itself: around every integer and half-integer
   multiple of s up to the clamps (+-64 floats on either side), random values, and the
   special ones, for scales with few and many mantissa bits and at the ends of the fast
   range (tiny and huge scales take the division throughout). */
static void test_q8_fast(void **state)
{
    (void)state;
    const float scales[] = {1.0f, 0.1f, 0.0173f, 3.0517578e-5f, 7777.7f, 0.3333333f, 1.7e-20f,
                            2.9e-30f, 1e-38f, 1e35f, 0x1p-100f, 0x1p100f};
    size_t cap = 300 * 2 * 129 + 4096, bad = 0;
    float *x = malloc(cap * sizeof *x);
    int8_t *q = malloc(cap);
    assert_true(x && q);
    for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
        float s = scales[si];
        size_t n = 0;
        for (int k2 = -300; k2 <= 300; k2++) { /* k2 / 2: the integers and the ties */
            float c = (float)((double)k2 / 2.0 * (double)s);
            for (int j = 0; j < 64; j++) {
                c = nextafterf(c, -INFINITY);
            }
            for (int j = 0; j < 129 && n < cap; j++, c = nextafterf(c, INFINITY)) x[n++] = c;
        }
        for (int j = 0; j < 4000 && n < cap; j++)
            x[n++] = (float)(((double)cnn_rng_uniform(&g_rng) - 0.5) * 300.0 * (double)s);
        const float special[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, 3e38f, -3e38f, 1e-45f, -1e-40f};
        for (size_t j = 0; j < sizeof special / sizeof special[0] && n < cap; j++) x[n++] = special[j];
        cnn_vnni_s8_quantize(x, n, s, q);
        for (size_t i = 0; i < n; i++)
            if (q[i] != cnn_q8(x[i], s) && bad++ < 5)
                fprintf(stderr, "FAILED q8 fast s=%.9g x=%.9g: %d vs cnn_q8 %d\n", (double)s,
                        (double)x[i], q[i], cnn_q8(x[i], s));
    }
    assert_int_equal(bad, 0);
    free(x);
    free(q);
}

int main(void)
{
    cnn_rng_seed(&g_rng, 8);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_rounding),
        cmocka_unit_test(test_q8_fast),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

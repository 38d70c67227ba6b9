/* The blocked layout's kernels at batch 1 (or bN) on MobileNet shapes (docs/architecture.md,
   "Blocked layout"), against the limits measured in the same run: depthwise in GB/s
   against a STREAM triad, pointwise 1x1 in GFLOP/s against an FMA loop, oneDNN's
   blocked primitive beside the own micro-kernel (cpu/blocked_pw.c). Each figure is the
   fastest of `reps` calls (machines are shared: the minimum is the least disturbed).
   Build: cmake --build build --target blocked_layers;
   run: build/blocked_layers [threads] [reps] [filter] [epi] [kept] [bN] [hswish]; epi: the pointwise
   layers with a batch norm + ReLU6 epilogue (oneDNN: a second pass, own: fused);
   kept: the pointwise layers' weights constant (packed once and kept by both, as
   under cnn_graph_set_const_weights), else packed on every call; bN: batch N; hswish:
   the epilogue's activation hard-swish (MobileNet V3) instead of ReLU6. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnn.h"
#include "core/core.h"
#include "kernels/cpu/cpu_internal.h"

typedef struct layer {
    int c_in, c_out, hw, k, s; /* c_in == c_out and k > 1: depthwise */
} layer;

/* MobileNet V2 (3x3) and V3-large-like (5x5) depthwise layers whose channels are
   multiples of 16, MobileNet V2's blocked 1x1 layers */
static const layer LAYERS[] = {
    {32, 32, 112, 3, 1},   {96, 96, 112, 3, 2},   {144, 144, 56, 3, 1}, {144, 144, 56, 3, 2},
    {192, 192, 28, 3, 1},  {192, 192, 28, 3, 2},  {384, 384, 14, 3, 1}, {576, 576, 14, 3, 1},
    {576, 576, 14, 3, 2},  {960, 960, 7, 3, 1},   {480, 480, 14, 5, 1}, {672, 672, 14, 5, 2},
    {960, 960, 7, 5, 1},   {32, 16, 112, 1, 1},   {32, 192, 28, 1, 1},  {192, 32, 28, 1, 1},
    {192, 64, 14, 1, 1},   {64, 384, 14, 1, 1},   {384, 64, 14, 1, 1},  {384, 96, 14, 1, 1},
    {96, 576, 14, 1, 1},   {576, 96, 14, 1, 1},   {576, 160, 7, 1, 1},  {160, 960, 7, 1, 1},
    {960, 160, 7, 1, 1},   {960, 320, 7, 1, 1},   {320, 1280, 7, 1, 1},
    /* channels off the 16 grid (padded blocks): MobileNet V2's 24-channel stage,
       V3's 40 / 72 / 120, ShuffleNet V2's 58 / 116 / 232 branches */
    {16, 96, 112, 1, 1},   {96, 24, 56, 1, 1},    {24, 144, 56, 1, 1},  {144, 24, 56, 1, 1},
    {40, 120, 28, 1, 1},   {120, 40, 28, 1, 1},   {72, 40, 28, 1, 1},   {58, 58, 28, 1, 1},
    {116, 116, 14, 1, 1},  {232, 232, 7, 1, 1},
    /* wide 1x1 layers of ResNet-50's bottlenecks and GoogLeNet's inception blocks */
    {64, 256, 56, 1, 1},   {256, 64, 56, 1, 1},   {512, 128, 28, 1, 1}, {128, 512, 28, 1, 1},
    {1024, 256, 14, 1, 1}, {256, 1024, 14, 1, 1}, {2048, 512, 7, 1, 1}, {512, 2048, 7, 1, 1},
    {192, 64, 28, 1, 1},   {480, 192, 14, 1, 1},  {528, 256, 14, 1, 1}, {832, 384, 7, 1, 1},
    /* first layers (3 plain channels in, nChw16c out): MobileNet V2 / V3, ShuffleNet V2 */
    {3, 32, 224, 3, 2},    {3, 16, 224, 3, 2},    {3, 24, 224, 3, 2},
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *buf(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof *p + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return p;
}

typedef float v16 __attribute__((vector_size(64)));

/* FMA peak: 12 independent vector accumulators per thread (named: kept in registers) */
__attribute__((target("avx512f,fma"), optimize("fp-contract=fast"), noinline)) static float fma_loop(long reps)
{
    v16 m = {0}, k = {0};
    for (int l = 0; l < 16; l++) m[l] = 0.999999f, k[l] = 1e-7f;
    v16 a0 = m, a1 = m + k, a2 = m - k, a3 = k, a4 = m * m, a5 = m + m, a6 = k + k, a7 = m * k, a8 = m - m,
        a9 = m + 2 * k, a10 = m - 2 * k, a11 = 3 * k;
    for (long r = 0; r < reps; r++) {
#define F(a) a = a * m + k
        F(a0), F(a1), F(a2), F(a3), F(a4), F(a5), F(a6), F(a7), F(a8), F(a9), F(a10), F(a11);
#undef F
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),
                         "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    v16 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    return s[0];
}

/* the best rate of each thread on its own, summed: what the cores give when the
   machine lets both run */
static double peak_gflops(int threads)
{
    double sum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sum)
    {
        double best = 0;
        long reps = 1L << 12; /* ~0.1 ms a round: many rounds, the fastest undisturbed */
        volatile float sink = 0;
        for (int round = 0; round < 3000; round++) {
            double t0 = now();
            sink += fma_loop(reps);
            double g = 2.0 * 12 * 16 * (double)reps / (now() - t0) / 1e9;
            if (g > best) best = g;
        }
        sum += best;
    }
    return sum;
}

static double stream_gbps(int threads)
{
    size_t n = (size_t)1 << 24;
    float *a = buf(n), *b = buf(n), *c = buf(n);
    double best = 0;
    for (int round = 0; round < 40; round++) {
        double t0 = now();
#pragma omp parallel for simd schedule(static) num_threads(threads)
        for (long i = 0; i < (long)n; i++) a[i] = b[i] + 0.5f * c[i];
        double g = 12.0 * (double)n / (now() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(a), free(b), free(c);
    return best;
}

#ifdef OLD_DW /* A/B against a previous version of the depthwise kernel, linked in */
void old_blocked_dw_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b, float *y,
                            const cnn_blocked_epi *epi);
#endif

enum { DW_NEW, DW_OLD, PW_DNNL, PW_OWN, STEM_DNNL, STEM_OWN };

static void relu6(const void *arg, float *y, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n; i++) y[i] = y[i] < 0.0f ? 0.0f : y[i] > 6.0f ? 6.0f : y[i];
}

static void hswish(const void *arg, float *y, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n; i++) {
        float t = y[i] + 3.0f;
        y[i] = y[i] * (t < 0.0f ? 0.0f : t > 6.0f ? 6.0f : t) / 6.0f;
    }
}

static const cnn_blocked_epi *epi; /* pointwise: the epilogue (--epi) */
static bool g_hswish;              /* the epilogue's activation: hard-swish, else ReLU6 */
static bool g_kept;
static uint64_t g_wgen; /* kept: a constant weights generation (one per layer), else 0 */

static double best_of(int what, const cnn_conv_desc *c, int reps, float *x, float *w, float *b, float *y,
                      void *scratch)
{
    double best = 1e30;
    for (int r = -2; r < reps; r++) {
        double t0 = now();
        if (what == DW_NEW) cnn_blocked_dw_forward(c, x, w, b, y, NULL);
#ifdef OLD_DW
        else if (what == DW_OLD) old_blocked_dw_forward(c, x, w, b, y, NULL);
#endif
        else if (what == STEM_DNNL) {
            cnn_dnnl_conv_forward_blocked(c, x, false, w, b, y, true, scratch, 0);
            if (epi) cnn_blocked_epilogue(epi, c->n, c->c_out, (size_t)c->out[1] * c->out[2], y);
        } else if (what == STEM_OWN)
            cnn_blocked_stem_forward(c, x, w, b, y, epi, scratch);
        else if (what == PW_DNNL) {
            cnn_dnnl_conv_forward_blocked(c, x, true, w, b, y, true, scratch, g_wgen);
            if (epi) cnn_blocked_epilogue(epi, c->n, c->c_out, (size_t)c->out[1] * c->out[2], y);
        } else
            cnn_blocked_pw_forward(c, x, true, w, b, y, epi, scratch, g_wgen);
        double t = now() - t0;
        if (r >= 0 && t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 200;
    const char *only = argc > 3 ? argv[3] : NULL;
    bool with_epi = argc > 4 && strcmp(argv[4], "epi") == 0;
    int batch = 1;
    for (int i = 4; i < argc; i++)
        if (strcmp(argv[i], "kept") == 0) g_kept = true;
        else if (strcmp(argv[i], "hswish") == 0) g_hswish = true;
        else if (argv[i][0] == 'b' && atoi(argv[i] + 1) > 0) batch = atoi(argv[i] + 1);
    cnn_set_threads(threads);
    double peak = peak_gflops(threads), bw = stream_gbps(threads);
    printf("threads %d, batch %d, best of %d calls%s; FMA peak %.1f GFLOP/s, STREAM triad %.1f GB/s\n", threads,
           batch, reps, g_kept ? ", weights kept packed" : "", peak, bw);
    for (size_t li = 0; li < sizeof LAYERS / sizeof LAYERS[0]; li++) {
        const layer *L = &LAYERS[li];
        bool stem = L->c_in <= 4, dw = L->k > 1 && !stem;
        char name[64];
        snprintf(name, sizeof name, "%s %dx%d/%d %d->%d @%d", stem ? "stem" : dw ? "dw" : "pw", L->k, L->k, L->s, L->c_in,
                 L->c_out, L->hw);
        if (only && !strstr(name, only)) continue;
        int p = L->k / 2, o = (L->hw + 2 * p - L->k) / L->s + 1;
        cnn_conv_desc c = {.n = batch, .c_in = L->c_in, .c_out = L->c_out, .groups = dw ? L->c_in : 1, /* stem: x plain */
                           .in = {1, L->hw, L->hw}, .out = {1, o, o}, .k = {1, L->k, L->k},
                           .s = {1, L->s, L->s}, .p = {0, p, p}, .d = {1, 1, 1}};
        /* blocked tensors: channels padded to whole blocks */
        size_t xs = (size_t)batch * (stem ? (size_t)L->c_in : cnn_blocked_c((size_t)L->c_in)) * L->hw * L->hw;
        size_t ys = (size_t)batch * cnn_blocked_c((size_t)L->c_out) * o * o;
        size_t ws = (size_t)L->c_out * (dw ? 1 : L->c_in) * L->k * L->k;
        double flop = 2.0 * batch * (double)L->c_out * o * o * (dw ? 1 : L->c_in) * L->k * L->k; /* real channels */
        double bytes = 4.0 * (double)(xs + ys + ws + L->c_out);
        float *x = buf(xs), *y = buf(ys), *w = buf(ws), *b = buf((size_t)L->c_out);
        size_t sb = cnn_conv_scratch_bytes(&c) + cnn_blocked_pw_scratch(&c) + cnn_blocked_stem_scratch(&c) +
                    cnn_conv_scratch_forward_bytes(&c) + 64;
        void *scratch = aligned_alloc(64, (sb + 63) / 64 * 64);
        float *sc = buf(cnn_blocked_c((size_t)L->c_out)), *sh = buf(cnn_blocked_c((size_t)L->c_out));
        /* ReLU6 in registers where the kernel can (act_desc), as the graph passes it */
        static const cnn_act_desc r6 = {.act = CNN_ACT_RELU6}, hs = {.act = CNN_ACT_HARDSWISH};
        cnn_blocked_epi e = {.scale = sc, .shift = sh, .act = g_hswish ? hswish : relu6,
                             .act_desc = g_hswish ? &hs : &r6};
        epi = with_epi ? &e : NULL;
        g_wgen = g_kept ? 100 + li : 0; /* each layer's w is new (perhaps at a freed one's address) */
        int runs[2] = {stem ? STEM_DNNL : dw ? DW_NEW : PW_DNNL, stem ? STEM_OWN : dw ? DW_OLD : PW_OWN};
        const char *rn[] = {"own", "old", "dnnl", "own", "dnnl", "own"};
        printf("%-28s", name);
        for (int i = 0; i < 2; i++) {
#ifndef OLD_DW
            if (runs[i] == DW_OLD) continue;
#endif
            double t = best_of(runs[i], &c, reps, x, w, b, y, scratch);
            if (dw)
                printf("  %s %7.3f ms %6.1f GB/s (%3.0f%% STREAM)", rn[runs[i]], t * 1e3, bytes / t / 1e9,
                       100.0 * bytes / t / 1e9 / bw);
            else
                printf("  %s %7.3f ms %6.1f GFLOP/s (%3.0f%% peak)", rn[runs[i]], t * 1e3, flop / t / 1e9,
                       100.0 * flop / t / 1e9 / peak);
        }
        printf("\n");
        fflush(stdout);
        free(x), free(y), free(w), free(b), free(scratch), free(sc), free(sh);
    }
    return 0;
}

/* Dense convolutions of ResNet-18/50, VGG16 and AlexNet on the blocked layout (x and y
   nChw16c, weights kept packed as cnn bench runs inference): oneDNN (direct or
   Winograd, as conv_dnnl.c chooses) against the own kernel of cpu/blocked_conv.c, per
   shape and batch, to place cnn_blocked_conv_use. Timed in CPU time of the calling
   thread at 1 thread (robust to a shared, loaded machine), median and minimum of reps
   calls after two warm-ups, the two alternated per shape; GFLOP/s = 2 * MACs / median.
   Build: cmake --build build --target blocked_dense; run: build/blocked_dense [reps]
   [filter] [batch]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnn.h"
#include "core/core.h"
#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"

typedef struct layer {
    const char *name;
    int c_in, c_out, hw, k, s, p;
    bool plain_x; /* a first layer: x NCHW */
} layer;

static const layer LAYERS[] = {
    {"resnet stem 7x7/2 3->64 @224", 3, 64, 224, 7, 2, 3, true},
    {"alex stem 11x11/4 3->64 @224", 3, 64, 224, 11, 4, 2, true},
    {"vgg stem 3x3 3->64 @224", 3, 64, 224, 3, 1, 1, true},
    {"r50 1x1 64->256 @56", 64, 256, 56, 1, 1, 0, false},
    {"r50 1x1 256->64 @56", 256, 64, 56, 1, 1, 0, false},
    {"r50 1x1 256->128 @56", 256, 128, 56, 1, 1, 0, false},
    {"r50 3x3/2 128->128 @56", 128, 128, 56, 3, 2, 1, false},
    {"r50 1x1/2 256->512 @56", 256, 512, 56, 1, 2, 0, false},
    {"r50 1x1 128->512 @28", 128, 512, 28, 1, 1, 0, false},
    {"r50 1x1 512->128 @28", 512, 128, 28, 1, 1, 0, false},
    {"r50 3x3 128->128 @28", 128, 128, 28, 3, 1, 1, false},
    {"r50 1x1 512->256 @28", 512, 256, 28, 1, 1, 0, false},
    {"r50 3x3/2 256->256 @28", 256, 256, 28, 3, 2, 1, false},
    {"r50 1x1/2 512->1024 @28", 512, 1024, 28, 1, 2, 0, false},
    {"r50 1x1 256->1024 @14", 256, 1024, 14, 1, 1, 0, false},
    {"r50 1x1 1024->256 @14", 1024, 256, 14, 1, 1, 0, false},
    {"r50 3x3 256->256 @14", 256, 256, 14, 3, 1, 1, false},
    {"r50 1x1 1024->512 @14", 1024, 512, 14, 1, 1, 0, false},
    {"r50 3x3/2 512->512 @14", 512, 512, 14, 3, 2, 1, false},
    {"r50 1x1/2 1024->2048 @14", 1024, 2048, 14, 1, 2, 0, false},
    {"r50 1x1 512->2048 @7", 512, 2048, 7, 1, 1, 0, false},
    {"r50 1x1 2048->512 @7", 2048, 512, 7, 1, 1, 0, false},
    {"r50 3x3 512->512 @7", 512, 512, 7, 3, 1, 1, false},
    {"r18 3x3/2 64->128 @56", 64, 128, 56, 3, 2, 1, false},
    {"r18 1x1/2 64->128 @56", 64, 128, 56, 1, 2, 0, false},
    {"r18 3x3/2 128->256 @28", 128, 256, 28, 3, 2, 1, false},
    {"r18 1x1/2 128->256 @28", 128, 256, 28, 1, 2, 0, false},
    {"r18 3x3/2 256->512 @14", 256, 512, 14, 3, 2, 1, false},
    {"r18 1x1/2 256->512 @14", 256, 512, 14, 1, 2, 0, false},
    {"vgg 3x3 64->64 @224", 64, 64, 224, 3, 1, 1, false},
    {"vgg 3x3 128->128 @112", 128, 128, 112, 3, 1, 1, false},
    {"vgg 3x3 512->512 @14", 512, 512, 14, 3, 1, 1, false},
    {"alex 5x5 64->192 @27", 64, 192, 27, 5, 1, 2, false},
    {"alex 3x3 192->384 @13", 192, 384, 13, 3, 1, 1, false},
    {"alex 3x3 384->256 @13", 384, 256, 13, 3, 1, 1, false},
    {"alex 3x3 256->256 @13", 256, 256, 13, 3, 1, 1, false},
    {"goog conv3 3x3 64->192 @56", 64, 192, 56, 3, 1, 1, false},
    {"goog 3a 3x3 96->128 @28", 96, 128, 28, 3, 1, 1, false},
    {"goog 3a 3x3 16->32 @28", 16, 32, 28, 3, 1, 1, false},
    {"goog 3b 3x3 128->192 @28", 128, 192, 28, 3, 1, 1, false},
    {"goog 3b 3x3 32->96 @28", 32, 96, 28, 3, 1, 1, false},
    {"goog 4a 3x3 96->208 @14", 96, 208, 14, 3, 1, 1, false},
    {"goog 4a 3x3 16->48 @14", 16, 48, 14, 3, 1, 1, false},
    {"goog 4b 3x3 112->224 @14", 112, 224, 14, 3, 1, 1, false},
    {"goog 4b 3x3 24->64 @14", 24, 64, 14, 3, 1, 1, false},
    {"goog 4c 3x3 128->256 @14", 128, 256, 14, 3, 1, 1, false},
    {"goog 4d 3x3 144->288 @14", 144, 288, 14, 3, 1, 1, false},
    {"goog 4d 3x3 32->64 @14", 32, 64, 14, 3, 1, 1, false},
    {"goog 4e 3x3 160->320 @14", 160, 320, 14, 3, 1, 1, false},
    {"goog 4e 3x3 32->128 @14", 32, 128, 14, 3, 1, 1, false},
    {"goog 5a 3x3 160->320 @7", 160, 320, 7, 3, 1, 1, false},
    {"goog 5a 3x3 32->128 @7", 32, 128, 7, 3, 1, 1, false},
    {"goog 5b 3x3 192->384 @7", 192, 384, 7, 3, 1, 1, false},
    {"goog 5b 3x3 48->128 @7", 48, 128, 7, 3, 1, 1, false},
};

static int g_threads = 1;

static void act_apply(const void *arg, float *y, size_t len) { cnn_backend_get()->act_forward(arg, y, y, len); }

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(g_threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *buf(size_t n)
{
    float *p = cnn_malloc_aligned(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return p;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 11;
    const char *only = argc > 2 && argv[2][0] ? argv[2] : NULL;
    int batch = argc > 3 ? atoi(argv[3]) : 1;
    int with_epi = argc > 4 ? atoi(argv[4]) : 0, threads = argc > 5 ? atoi(argv[5]) : 1;
    if (reps < 1) reps = 1;
    if (reps > 256) reps = 256;
    if (batch < 1) batch = 1;
    if (threads < 1) threads = 1;
    g_threads = threads;
    cnn_set_threads(threads);
    printf("%d thread(s), batch %d, %s ms per forward (median / min of %d), weights kept packed%s\n", threads, batch,
           threads == 1 ? "CPU" : "wall-clock", reps, with_epi ? ", epilogue (BN scale/shift, residual, ReLU)" : "");
    printf("| layer | oneDNN kernel | oneDNN ms | own ms | oneDNN GF/s | own GF/s | oneDNN / own |\n"
           "|---|---|---|---|---|---|---|\n");
    for (size_t li = 0; li < sizeof LAYERS / sizeof LAYERS[0]; li++) {
        const layer *L = &LAYERS[li];
        if (only && !strstr(L->name, only)) continue;
        int n = batch, oh = (L->hw + 2 * L->p - L->k) / L->s + 1;
        cnn_conv_desc c = {.n = n, .c_in = L->c_in, .c_out = L->c_out, .groups = 1,
                           .in = {1, L->hw, L->hw}, .out = {1, oh, oh}, .k = {1, L->k, L->k},
                           .s = {1, L->s, L->s}, .p = {0, L->p, L->p}, .d = {1, 1, 1}};
        size_t ci = (size_t)(L->c_in + 15) / 16 * 16, co = (size_t)(L->c_out + 15) / 16 * 16;
        float *x = buf((size_t)n * ci * L->hw * L->hw), *y = buf((size_t)n * co * oh * oh);
        float *w = buf((size_t)L->c_out * L->c_in * L->k * L->k), *b = buf((size_t)L->c_out);
        size_t sb = 0;
        for (int m = 0; m <= 1; m++) {
            cnn_cpu_set_dense(m);
            size_t s1 = cnn_conv_scratch_bytes(&c), s2 = cnn_conv_scratch_forward_bytes(&c);
            if (s2 > s1) s1 = s2;
            if (s1 > sb) sb = s1;
        }
        void *scratch = cnn_malloc_aligned(sb ? sb : 64);
        float *sc = buf(co), *sh = buf(co), *res = buf((size_t)n * co * oh * oh);
        const cnn_act_desc relu = {.act = CNN_ACT_RELU};
        cnn_blocked_epi epi = {.scale = sc, .shift = sh, .res = res, .act = act_apply, .act_arg = &relu,
                               .act_desc = &relu};
        double t[2][256];
        const char *kname = "";
        for (int r = -2; r < reps; r++)
            for (int m = 0; m <= 1; m++) {
                cnn_cpu_set_dense(m);
                if (r == -2 && m == 0) kname = cnn_conv_blocked_kernel_io(&c, !L->plain_x, true, 1);
                double t0 = cpu_now();
                if (!cnn_conv_forward_blocked(&c, x, !L->plain_x, w, b, y, true, with_epi ? &epi : NULL, scratch, 1)) {
                    fprintf(stderr, "%s: refused\n", L->name);
                    exit(1);
                }
                if (r >= 0) t[m][r] = (cpu_now() - t0) * 1e3;
            }
        qsort(t[0], (size_t)reps, sizeof t[0][0], cmp);
        qsort(t[1], (size_t)reps, sizeof t[1][0], cmp);
        double gf = 2e-6 * n * (double)oh * oh * L->c_in * L->c_out * L->k * L->k;
        printf("| %s | %s | %.3f / %.3f | %.3f / %.3f | %.0f | %.0f | %.2fx |\n", L->name, kname, t[0][reps / 2],
               t[0][0], t[1][reps / 2], t[1][0], gf / t[0][reps / 2], gf / t[1][reps / 2],
               t[0][reps / 2] / t[1][reps / 2]);
        fflush(stdout);
        cnn_free_aligned(x), cnn_free_aligned(y), cnn_free_aligned(w), cnn_free_aligned(b);
        cnn_free_aligned(scratch), cnn_free_aligned(sc), cnn_free_aligned(sh), cnn_free_aligned(res);
    }
    cnn_cpu_set_dense(-1);
    return 0;
}

/* Dense 3x3 stride-1 convolutions of ResNet-18 and GoogLeNet on the blocked layout with
   constant weights (kept packed, as cnn bench runs inference): oneDNN direct against
   its Winograd F(4,3), per shape and batch, to place the Winograd threshold of
   conv_dnnl.c (use_winograd). Timed in CPU time of the calling thread at 1 thread
   (robust to a shared, loaded machine: waiting for a core is not counted); median and
   minimum of reps calls after two warm-ups.
   Build: cmake --build build --target dense_layers; run: build/dense_layers [reps] [filter]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnn.h"
#include "core/core.h"
#include "kernels/cpu/cpu_internal.h"

typedef struct layer {
    const char *name;
    int c_in, c_out, hw;
} layer;

static const layer LAYERS[] = {
    {"resnet18 layer1 64->64 @56", 64, 64, 56},
    {"resnet18 layer2 128->128 @28", 128, 128, 28},
    {"resnet18 layer3 256->256 @14", 256, 256, 14},
    {"resnet18 layer4 512->512 @7", 512, 512, 7},
    {"googlenet conv3 64->192 @56", 64, 192, 56},
    {"googlenet 3a 96->128 @28", 96, 128, 28},
    {"googlenet 3a 16->32 @28", 16, 32, 28},
    {"googlenet 3b 128->192 @28", 128, 192, 28},
    {"googlenet 3b 32->96 @28", 32, 96, 28},
    {"googlenet 4a 96->208 @14", 96, 208, 14},
    {"googlenet 4b 112->224 @14", 112, 224, 14},
    {"googlenet 4b 24->64 @14", 24, 64, 14},
    {"googlenet 4d 144->288 @14", 144, 288, 14},
    {"googlenet 4e 160->320 @14", 160, 320, 14},
    {"googlenet 5a 160->320 @7", 160, 320, 7},
    {"googlenet 5b 192->384 @7", 192, 384, 7},
    {"googlenet 5b 48->128 @7", 48, 128, 7},
    {"alexnet conv3 192->384 @13", 192, 384, 13},
    {"alexnet conv4 384->256 @13", 384, 256, 13},
    {"alexnet conv5 256->256 @13", 256, 256, 13},
    {"vgg16 conv1 64->64 @224", 64, 64, 224},
    {"vgg16 conv2 128->128 @112", 128, 128, 112},
    {"vgg16 conv3 256->256 @56", 256, 256, 56},
    {"vgg16 conv5 512->512 @14", 512, 512, 14},
    {"vgg16 conv4 256->512 @28", 256, 512, 28},
    {"probe 384->384 @13", 384, 384, 13},
    {"probe 384->256 @14", 384, 256, 14},
    {"probe 320->256 @13", 320, 256, 13},
    {"probe 448->256 @13", 448, 256, 13},
    {"probe 512->256 @13", 512, 256, 13},
    {"probe 384->128 @28", 384, 128, 28},
};

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
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

/* median and min in ms of reps forwards with the weights kept packed (generation 1) */
static void time_mode(int mode, const cnn_conv_desc *c, int reps, const float *x, const float *w,
                      const float *b, float *y, void *scratch, double *med, double *mn)
{
    double t[256];
    if (reps > 256) reps = 256;
    cnn_cpu_set_winograd(mode);
    for (int r = -2; r < reps; r++) {
        double t0 = cpu_now();
        if (!cnn_dnnl_conv_forward_blocked(c, x, true, w, b, y, true, scratch, 1)) {
            fprintf(stderr, "oneDNN refused\n");
            exit(1);
        }
        if (r >= 0) t[r] = (cpu_now() - t0) * 1e3;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp);
    *med = t[reps / 2];
    *mn = t[0];
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    const char *only = argc > 2 ? argv[2] : NULL;
    if (reps < 1) reps = 1;
    cnn_set_threads(1);
    printf("1 thread, CPU ms per forward (median / min of %d), weights kept packed\n", reps);
    printf("| layer | batch | direct | Winograd | direct / Winograd |\n|---|---|---|---|---|\n");
    for (size_t li = 0; li < sizeof LAYERS / sizeof LAYERS[0]; li++) {
        const layer *L = &LAYERS[li];
        if (only && !strstr(L->name, only)) continue;
        for (int n = 1; n <= 16; n += 15) {
            cnn_conv_desc c = {.n = n, .c_in = L->c_in, .c_out = L->c_out, .groups = 1,
                               .in = {1, L->hw, L->hw}, .out = {1, L->hw, L->hw}, .k = {1, 3, 3},
                               .s = {1, 1, 1}, .p = {0, 1, 1}, .d = {1, 1, 1}};
            size_t ci = (size_t)(L->c_in + 15) / 16 * 16, co = (size_t)(L->c_out + 15) / 16 * 16;
            size_t hw = (size_t)L->hw * (size_t)L->hw;
            float *x = buf((size_t)n * ci * hw), *y = buf((size_t)n * co * hw);
            float *w = buf((size_t)L->c_out * (size_t)L->c_in * 9), *b = buf((size_t)L->c_out);
            size_t sb = 0;
            for (int m = 0; m <= 2; m += 2) {
                cnn_cpu_set_winograd(m);
                size_t s1 = cnn_dnnl_conv_scratch_blocked(&c) + cnn_dnnl_conv_scratch(&c);
                if (s1 > sb) sb = s1;
            }
            void *scratch = cnn_malloc_aligned(sb ? sb : 64);
            double dm, dn, wm, wn;
            time_mode(0, &c, reps, x, w, b, y, scratch, &dm, &dn);
            time_mode(2, &c, reps, x, w, b, y, scratch, &wm, &wn);
            printf("| %s | %d | %.3f / %.3f | %.3f / %.3f | %.2fx |\n", L->name, n, dm, dn, wm, wn, dm / wm);
            fflush(stdout);
            cnn_free_aligned(x), cnn_free_aligned(y), cnn_free_aligned(w), cnn_free_aligned(b);
            cnn_free_aligned(scratch);
        }
    }
    cnn_cpu_set_winograd(-1);
    return 0;
}

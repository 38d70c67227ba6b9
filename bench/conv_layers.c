/* Per-layer convolution timings, GFLOP/s of each backend on a few model layers.
   Build: cmake --build build --target conv_layers; run: build/conv_layers [reps].
   A FLOP is 2 per multiply-add, counted over all taps (padding included), as in
   PERF-NOTES.md. Forward, backward-data and backward-weights are timed separately (best of reps);
   "cpu/plain" and "cpu/blocked" force the oneDNN activation layout (auto picks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnn.h"
#include "core/core.h"
#include "kernels/cpu/cpu_internal.h"

typedef struct layer {
    const char *name;
    int n, c_in, c_out, groups, hw, k, s, p;
} layer;

static const layer LAYERS[] = {
    {"ResNet 3x3 64->64 @56", 32, 64, 64, 1, 56, 3, 1, 1},
    {"ResNet 3x3 256->256 @14", 32, 256, 256, 1, 14, 3, 1, 1},
    {"MobileNetV2 dw 3x3 144 @56", 32, 144, 144, 144, 56, 3, 1, 1},
    {"MobileNetV2 dw 3x3/2 144 @56", 32, 144, 144, 144, 56, 3, 2, 1},
    {"MobileNetV2 1x1 144->24 @56", 32, 144, 24, 1, 56, 1, 1, 0},
    {"ResNet stem 7x7/2 3->64 @224", 8, 3, 64, 1, 224, 7, 2, 3},
    {"LeNet 5x5 6->16 @14", 256, 6, 16, 1, 14, 5, 1, 0},
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *buf(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return p;
}

/* fastest of `reps` timings of kernel `which` (0 fwd, 1 bwd-data, 2 bwd-weights):
   machines are shared, the minimum is the least disturbed */
static double time_kernel(const cnn_backend *be, const cnn_conv_desc *c, int which, int reps,
                          float *x, float *w, float *b, float *y, float *dx, float *dw, float *db,
                          void *scratch)
{
    double t[64];
    if (reps > 64) reps = 64;
    for (int r = -1; r < reps; r++) { /* r = -1 warms up (builds primitives) */
        double t0 = now();
        if (which == 0) be->conv_forward(c, x, w, b, y, scratch);
        else if (which == 1) be->conv_backward_data(c, y, w, dx, scratch);
        else be->conv_backward_weights(c, x, y, dw, db, scratch);
        if (r >= 0) t[r] = now() - t0;
    }
    for (int i = 1; i < reps; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double s = t[j];
            t[j] = t[j - 1];
            t[j - 1] = s;
        }
    return t[0];
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    const char *only = argc > 2 ? argv[2] : NULL;
    cnn_set_threads(0);
    printf("threads %d; GFLOP/s (ms) of fwd / bwd-data / bwd-weights, best of %d\n",
           cnn_get_threads(), reps);
    for (size_t li = 0; li < sizeof LAYERS / sizeof LAYERS[0]; li++) {
        const layer *L = &LAYERS[li];
        if (only && !strstr(L->name, only)) continue;
        int o = (L->hw + 2 * L->p - L->k) / L->s + 1;
        cnn_conv_desc c = {.n = L->n, .c_in = L->c_in, .c_out = L->c_out, .groups = L->groups,
                           .in = {1, L->hw, L->hw}, .out = {1, o, o}, .k = {1, L->k, L->k},
                           .s = {1, L->s, L->s}, .p = {0, L->p, L->p}, .d = {1, 1, 1}};
        size_t xs = (size_t)L->n * L->c_in * L->hw * L->hw, ys = (size_t)L->n * L->c_out * o * o;
        size_t ws = (size_t)L->c_out * (L->c_in / L->groups) * L->k * L->k;
        double flop = 2.0 * (double)ys * (double)(L->c_in / L->groups) * L->k * L->k;
        float *x = buf(xs), *dx = buf(xs), *y = buf(ys), *w = buf(ws), *dw = buf(ws);
        float *b = buf((size_t)L->c_out), *db = buf((size_t)L->c_out);
        size_t sb = 0; /* enough for every forced layout */
        for (int l = CNN_CPU_LAYOUT_AUTO; l <= CNN_CPU_LAYOUT_BLOCKED; l++) {
            cnn_cpu_set_layout(l);
            size_t b1 = cnn_conv_scratch_bytes(&c);
            if (b1 > sb) sb = b1;
        }
        cnn_cpu_set_layout(CNN_CPU_LAYOUT_AUTO);
        void *scratch = malloc(sb);
        printf("%s, batch %d (%.2f GFLOP)\n", L->name, L->n, flop * 1e-9);
        struct {
            const char *name;
            const cnn_backend *be;
            int layout;
        } runs[] = {{"ref", &cnn_backend_ref, 0},
                    {"cpu/auto", &cnn_backend_cpu, CNN_CPU_LAYOUT_AUTO},
                    {"cpu/plain", &cnn_backend_cpu, CNN_CPU_LAYOUT_PLAIN},
                    {"cpu/blocked", &cnn_backend_cpu, CNN_CPU_LAYOUT_BLOCKED}};
        int nruns = L->groups == L->c_in ? 2 : 4; /* depthwise has one cpu path */
        for (int r = 0; r < nruns; r++) {
            cnn_cpu_set_layout(runs[r].layout);
            printf("  %-12s", runs[r].name);
            for (int k = 0; k < 3; k++) {
                int rr = runs[r].be == &cnn_backend_ref ? (reps < 2 ? reps : 2) : reps;
                double t = time_kernel(runs[r].be, &c, k, rr, x, w, b, y, dx, dw, db, scratch);
                printf("  %7.1f (%7.2f ms)", flop / t * 1e-9, t * 1e3);
            }
            printf("\n");
            fflush(stdout);
        }
        cnn_cpu_set_layout(CNN_CPU_LAYOUT_AUTO);
        free(x), free(dx), free(y), free(w), free(dw), free(b), free(db), free(scratch);
    }
    return 0;
}

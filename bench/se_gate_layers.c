/* The squeeze-and-excitation gate fused into the blocked 1x1 convolution after it
   (docs/architecture.md, "Blocked layout"; cpu/blocked_pw.c, cnn_blocked_epi.gate) on
   MobileNet V3's SE layers: the gate as its own pass (the cpu backend's blocked
   mul_channel) + the 1x1 kernel, against the gated kernel alone. Weights kept (constant
   weights). Each figure is the fastest of `reps` calls, timed as the calling thread's
   CPU time at 1 thread (machines are shared: preemption does not count then), wall
   time at more threads.
   Build: cmake --build build --target se_gate_layers;
   run: build/se_gate_layers [threads] [reps] [batch] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cnn.h"
#include "core/core.h"
#include "kernels/cpu/cpu_internal.h"

static double now(bool cpu)
{
    struct timespec t;
    clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *buf(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof *p + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 1000) / 1000.0f;
    return p;
}

/* (C_in, C_out, plane) of the 1x1 layer after each SE gate: V3-small, then V3-large */
static const int LAYERS[][3] = {{16, 16, 56},  {96, 40, 14},   {240, 40, 14},  {120, 48, 14},  {144, 48, 14},
                                {288, 96, 7},  {576, 96, 7},   {72, 40, 28},   {120, 40, 28},  {480, 112, 14},
                                {672, 112, 14}, {672, 160, 7}, {960, 160, 7}};

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 30;
    int nb = argc > 3 ? atoi(argv[3]) : 16;
    if (threads < 1 || reps < 1 || nb < 1) {
        fprintf(stderr, "usage: se_gate_layers [threads] [reps] [batch]\n");
        return 2;
    }
    if (!__builtin_cpu_supports("avx512f")) {
        printf("no AVX-512: the blocked layout is not used on this CPU\n");
        return 0;
    }
    cnn_set_threads(threads);
    bool cpu = threads == 1;
    printf("SE gate + 1x1 at batch %d, %d thread(s), fastest of %d (%s), ms:\n", nb, threads, reps,
           cpu ? "thread CPU time" : "wall time");
    printf("%-18s %8s %8s %8s %8s %8s\n", "layer", "gate", "1x1", "sum", "gated", "saved");
    for (size_t li = 0; li < sizeof LAYERS / sizeof LAYERS[0]; li++) {
        int ci = LAYERS[li][0], co = LAYERS[li][1], hw = LAYERS[li][2];
        cnn_conv_desc c = {.n = nb, .c_in = ci, .c_out = co, .groups = 1, .in = {1, hw, hw}, .out = {1, hw, hw},
                           .k = {1, 1, 1}, .s = {1, 1, 1}, .p = {0, 0, 0}, .d = {1, 1, 1}};
        size_t s = (size_t)hw * hw, xp = (size_t)nb * ((ci + 15) / 16 * 16) * s;
        size_t yp = (size_t)nb * ((co + 15) / 16 * 16) * s;
        float *x = buf(xp), *xg = buf(xp), *y = buf(yp), *w = buf((size_t)ci * co), *g = buf((size_t)nb * ci);
        void *scr = aligned_alloc(64, (cnn_blocked_pw_scratch(&c) + 63) / 64 * 64 + 64);
        if (!scr) return 1;
        cnn_blocked_epi e = {.gate = g};
        double best[3] = {1e9, 1e9, 1e9};
        for (int r = 0; r < reps; r++) {
            double t0 = now(cpu);
            cnn_backend_cpu.mul_channel_blocked_forward((size_t)nb, (size_t)ci, s, x, g, xg);
            double t1 = now(cpu);
            cnn_blocked_pw_forward(&c, xg, true, w, NULL, y, NULL, scr, 77);
            double t2 = now(cpu);
            cnn_blocked_pw_forward(&c, x, true, w, NULL, y, &e, scr, 77);
            double t3 = now(cpu);
            if (t1 - t0 < best[0]) best[0] = t1 - t0;
            if (t2 - t1 < best[1]) best[1] = t2 - t1;
            if (t3 - t2 < best[2]) best[2] = t3 - t2;
        }
        char name[32];
        snprintf(name, sizeof name, "%d->%d @%d", ci, co, hw);
        double sum = best[0] + best[1];
        printf("%-18s %8.3f %8.3f %8.3f %8.3f %7.0f%%\n", name, best[0] * 1e3, best[1] * 1e3, sum * 1e3,
               best[2] * 1e3, 100.0 * (sum - best[2]) / sum);
        cnn_cpu_kept_forget(w, (size_t)ci * co * sizeof *w);
        free(x), free(xg), free(y), free(w), free(g), free(scr);
    }
    return 0;
}

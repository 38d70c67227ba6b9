/* The cpu backend against ref (the oracle), entry by entry, for the pooling, softmax
   and optimizer entries cpu provides: max / average / adaptive / global pooling
   forward and backward over a sweep of kernel, stride, padding, dilation, ceil mode,
   exclude_pad and plane sizes (small planes, wide rows, enough planes for threads);
   softmax / log-softmax; SGD (momentum, nesterov, weight decay) and Adam / AdamW
   steps. cpu's paths visit taps and add in ref's order (docs/architecture.md,
   "Kernels"), so every comparison is exact, indices included; inputs hold ties and
   NaNs to pin the tie and NaN rules. On failure the case is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "ops/ops_common.h"
#include "testutil.h"

static cnn_rng g_rng;

/* n floats in [-1, 1]; with ties, values rounded to quarters (many equal maxima);
   with nans, about one in 50 a NaN. */
static float *rnd(size_t n, bool ties, bool nans)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    tu_fill(p, n, -1.0f, 1.0f, &g_rng);
    for (size_t i = 0; i < n; i++) {
        if (ties) p[i] = roundf(p[i] * 4.0f) / 4.0f;
        if (nans && cnn_rng_uniform(&g_rng) < 0.02f) p[i] = NAN;
    }
    return p;
}

static float *dup(const float *a, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    memcpy(p, a, n * sizeof *p);
    return p;
}

/* Bitwise equal (NaNs compare equal to NaNs); prints the first difference. */
static int same(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0 && !(isnan(a[i]) && isnan(b[i]))) {
            fprintf(stderr, "FAILED %s: element %zu ref %.9g cpu %.9g\n", what, i, (double)a[i],
                    (double)b[i]);
            return 1;
        }
    return 0;
}

static void print_pool(const cnn_pool_desc *d, const char *what)
{
    fprintf(stderr,
            "  in case %s: planes=%zu in=%dx%dx%d out=%dx%dx%d k=%dx%dx%d s=%dx%dx%d "
            "p=%dx%dx%d d=%dx%dx%d exclude_pad=%d\n",
            what, d->planes, d->in[0], d->in[1], d->in[2], d->out[0], d->out[1], d->out[2], d->k[0],
            d->k[1], d->k[2], d->s[0], d->s[1], d->s[2], d->p[0], d->p[1], d->p[2], d->d[0],
            d->d[1], d->d[2], d->exclude_pad);
}

typedef void (*pool_fwd)(const cnn_pool_desc *, const float *, float *);
typedef void (*pool_bwd)(const cnn_pool_desc *, const float *, float *);

/* One average-type pooling case: forward onto garbage, backward onto a non-zero dx. */
static int avg_case(const cnn_pool_desc *d, pool_fwd fr, pool_fwd fc, pool_bwd br, pool_bwd bc,
                    const char *what)
{
    size_t xs = d->planes * d->in[1] * d->in[2], ys = d->planes * d->out[1] * d->out[2];
    float *x = rnd(xs, false, false), *dy = rnd(ys, false, false);
    float *yr = rnd(ys, false, false), *yc = rnd(ys, false, false);
    float *dxr = rnd(xs, false, false), *dxc = dup(dxr, xs);
    fr(d, x, yr);
    fc(d, x, yc);
    br(d, dy, dxr);
    bc(d, dy, dxc);
    int bad = same(yr, yc, ys, "forward") + same(dxr, dxc, xs, "backward");
    if (bad) print_pool(d, what);
    free(x), free(dy), free(yr), free(yc), free(dxr), free(dxc);
    return bad;
}

static int max_case(const cnn_pool_desc *d, bool nans)
{
    size_t xs = d->planes * d->in[1] * d->in[2], ys = d->planes * d->out[1] * d->out[2];
    float *x = rnd(xs, true, nans), *dy = rnd(ys, false, false);
    float *yr = rnd(ys, false, false), *yc = rnd(ys, false, false);
    int32_t *ir = malloc(ys * sizeof *ir), *ic = malloc(ys * sizeof *ic);
    assert_non_null(ir), assert_non_null(ic);
    memset(ir, 0x55, ys * sizeof *ir), memset(ic, 0x33, ys * sizeof *ic);
    float *dxr = rnd(xs, false, false), *dxc = dup(dxr, xs);
    cnn_backend_ref.maxpool2d_forward(d, x, yr, ir);
    cnn_backend_cpu.maxpool2d_forward(d, x, yc, ic);
    int bad = same(yr, yc, ys, "maxpool2d forward");
    if (memcmp(ir, ic, ys * sizeof *ir) != 0) {
        fprintf(stderr, "FAILED maxpool2d indices differ\n");
        bad++;
    }
    cnn_backend_ref.maxpool_backward(d, dy, ir, dxr);
    cnn_backend_cpu.maxpool_backward(d, dy, ir, dxc);
    bad += same(dxr, dxc, xs, "maxpool backward");
    if (bad) print_pool(d, nans ? "maxpool2d with NaNs" : "maxpool2d");
    free(x), free(dy), free(yr), free(yc), free(ir), free(ic), free(dxr), free(dxc);
    return bad;
}

static cnn_pool_desc pool2d(size_t planes, int h, int w, int kh, int kw, int s, int p, int dil,
                            bool ceil_mode)
{
    cnn_pool_desc d = {.planes = planes,
                       .in = {1, h, w},
                       .k = {1, kh, kw},
                       .s = {1, s, s},
                       .p = {0, p, p},
                       .d = {1, dil, dil}};
    d.out[0] = 1;
    d.out[1] = cnn_pool_out_size(h, kh, s, p, dil, ceil_mode);
    d.out[2] = cnn_pool_out_size(w, kw, s, p, dil, ceil_mode);
    return d;
}

/* Max pooling: small planes (the padded flat run), rows of several widths, every
   kernel form the fast paths special-case and others, dilation, ceil mode. */
static void test_maxpool2d(void **state)
{
    (void)state;
    static const int sizes[][2] = {{7, 7}, {14, 14}, {16, 16}, {28, 28}, {5, 37}, {40, 33}};
    static const int kernels[][2] = {{1, 1}, {2, 2}, {3, 3}, {3, 2}, {5, 5}};
    int bad = 0, cases = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++)
            for (int s = 1; s <= 3; s++)
                for (int p = 0; p <= kernels[ki][1] / 2; p++)
                    for (int dil = 1; dil <= 2; dil++)
                        for (int ceil_mode = 0; ceil_mode <= 1; ceil_mode++) {
                            cnn_pool_desc d = pool2d(3, sizes[si][0], sizes[si][1], kernels[ki][0],
                                                     kernels[ki][1], s, p, dil, ceil_mode);
                            if (d.out[1] < 1 || d.out[2] < 1) continue;
                            bad += max_case(&d, (cases & 3) == 0);
                            cases++;
                        }
    /* enough planes for the threads */
    cnn_pool_desc d = pool2d(64, 40, 37, 3, 3, 2, 1, 1, true);
    bad += max_case(&d, true);
    print_message("maxpool2d: %d cases\n", cases + 1);
    assert_int_equal(bad, 0);
}

static void test_avgpool2d(void **state)
{
    (void)state;
    static const int sizes[][2] = {{7, 7}, {14, 14}, {5, 37}, {40, 33}};
    static const int kernels[][2] = {{1, 1}, {2, 2}, {3, 3}, {3, 2}, {4, 4}};
    int bad = 0, cases = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++)
            for (int s = 1; s <= 3; s++)
                for (int p = 0; p <= kernels[ki][1] / 2; p++)
                    for (int mode = 0; mode < 4; mode++) {
                        cnn_pool_desc d = pool2d(3, sizes[si][0], sizes[si][1], kernels[ki][0],
                                                 kernels[ki][1], s, p, 1, mode & 1);
                        d.exclude_pad = mode & 2;
                        if (d.out[1] < 1 || d.out[2] < 1) continue;
                        bad += avg_case(&d, cnn_backend_ref.avgpool2d_forward,
                                        cnn_backend_cpu.avgpool2d_forward,
                                        cnn_backend_ref.avgpool2d_backward,
                                        cnn_backend_cpu.avgpool2d_backward, "avgpool2d");
                        cases++;
                    }
    cnn_pool_desc d = pool2d(64, 40, 37, 2, 2, 2, 0, 1, false);
    bad += avg_case(&d, cnn_backend_ref.avgpool2d_forward, cnn_backend_cpu.avgpool2d_forward,
                    cnn_backend_ref.avgpool2d_backward, cnn_backend_cpu.avgpool2d_backward,
                    "avgpool2d, threads");
    print_message("avgpool2d: %d cases\n", cases + 1);
    assert_int_equal(bad, 0);
}

/* Adaptive: the identity size, 1x1 (whole planes), dividing and overlapping bins,
   outputs larger than the input; plane counts around the 64-plane chunk. */
static void test_adaptive(void **state)
{
    (void)state;
    static const int shapes[][4] = {{7, 7, 7, 7}, {7, 7, 1, 1},   {8, 6, 4, 3},   {7, 5, 3, 2},
                                    {3, 4, 5, 7}, {14, 14, 6, 6}, {40, 40, 1, 1}, {9, 1, 2, 1}};
    static const size_t planes[] = {1, 63, 130};
    int bad = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t q = 0; q < sizeof planes / sizeof planes[0]; q++) {
            cnn_pool_desc d = {.planes = planes[q],
                               .in = {1, shapes[i][0], shapes[i][1]},
                               .out = {1, shapes[i][2], shapes[i][3]}};
            bad += avg_case(&d, cnn_backend_ref.adaptive_avgpool2d_forward,
                            cnn_backend_cpu.adaptive_avgpool2d_forward,
                            cnn_backend_ref.adaptive_avgpool2d_backward,
                            cnn_backend_cpu.adaptive_avgpool2d_backward, "adaptive_avgpool2d");
        }
    assert_int_equal(bad, 0);
}

static void test_global(void **state)
{
    (void)state;
    static const size_t hws[] = {1, 7, 49, 300, 1024};
    static const size_t planes[] = {1, 9, 130};
    int bad = 0;
    for (size_t i = 0; i < sizeof hws / sizeof hws[0]; i++)
        for (size_t q = 0; q < sizeof planes / sizeof planes[0]; q++) {
            size_t hw = hws[i], np = planes[q], xs = np * hw;
            for (int nans = 0; nans <= 1; nans++) {
                float *x = rnd(xs, true, nans), *dy = rnd(np, false, false);
                float *yr = rnd(np, false, false), *yc = rnd(np, false, false);
                float *dxr = rnd(xs, false, false), *dxc = dup(dxr, xs);
                int b = 0;
                cnn_backend_ref.global_maxpool_forward(np, hw, x, yr);
                cnn_backend_cpu.global_maxpool_forward(np, hw, x, yc);
                b += same(yr, yc, np, "global_maxpool forward");
                cnn_backend_ref.global_maxpool_backward(np, hw, x, dy, dxr);
                cnn_backend_cpu.global_maxpool_backward(np, hw, x, dy, dxc);
                b += same(dxr, dxc, xs, "global_maxpool backward");
                if (!nans) {
                    cnn_backend_ref.global_avgpool_forward(np, hw, x, yr);
                    cnn_backend_cpu.global_avgpool_forward(np, hw, x, yc);
                    b += same(yr, yc, np, "global_avgpool forward");
                    cnn_backend_ref.global_avgpool_backward(np, hw, dy, dxr);
                    cnn_backend_cpu.global_avgpool_backward(np, hw, dy, dxc);
                    b += same(dxr, dxc, xs, "global_avgpool backward");
                }
                if (b) fprintf(stderr, "  in case planes=%zu hw=%zu nans=%d\n", np, hw, nans);
                bad += b;
                free(x), free(dy), free(yr), free(yc), free(dxr), free(dxc);
            }
        }
    assert_int_equal(bad, 0);
}

static void test_softmax(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {
        {5, 1, 1}, {5, 3, 1}, {7, 10, 4}, {2, 1000, 1}, {600, 10, 16}};
    int bad = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int lg = 0; lg <= 1; lg++) {
            int64_t o = shapes[i][0], k = shapes[i][1], s = shapes[i][2];
            size_t n = (size_t)(o * k * s);
            float *x = rnd(n, false, false), *dy = rnd(n, false, false);
            for (size_t e = 0; e < n; e++)
                x[e] *= 20.0f;
            float *yr = rnd(n, false, false), *yc = rnd(n, false, false);
            float *dxr = rnd(n, false, false), *dxc = dup(dxr, n);
            cnn_backend_ref.softmax_forward(o, k, s, lg, x, yr);
            cnn_backend_cpu.softmax_forward(o, k, s, lg, x, yc);
            int b = same(yr, yc, n, "softmax forward");
            cnn_backend_ref.softmax_backward(o, k, s, lg, yr, dy, dxr);
            cnn_backend_cpu.softmax_backward(o, k, s, lg, yr, dy, dxc);
            b += same(dxr, dxc, n, "softmax backward");
            if (b)
                fprintf(stderr, "  in case outer=%lld k=%lld s=%lld log=%d\n", (long long)o,
                        (long long)k, (long long)s, lg);
            bad += b;
            free(x), free(dy), free(yr), free(yc), free(dxr), free(dxc);
        }
    assert_int_equal(bad, 0);
}

/* Optimizer steps over segments of odd lengths (vector tails) and one past the
   threads' threshold, two steps each (first and later momentum rule). */
static void test_optim(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 17, 100, 70000};
    enum { NSEG = sizeof lens / sizeof lens[0] };
    int bad = 0;
    for (int kind = 0; kind < 8; kind++) {
        bool adam = kind >= 5;
        cnn_optim_hyper h = {.lr = 0.1f, .wd = (kind & 1) ? 0.01f : 0.0f, .momentum = 0.9f};
        if (!adam) {
            h.nesterov = kind >= 3;
            if (kind == 4) h.momentum = 0.0f;
        } else {
            h.b1 = 0.9f, h.b2 = 0.999f, h.eps = 1e-8f, h.step_size = 0.1f / 0.1f;
            h.bc2_sqrt = sqrtf(0.001f), h.decay = 1.0f - 0.1f * 0.01f, h.decoupled = kind == 7;
            h.wd = kind == 5 ? 0.0f : 0.01f;
        }
        cnn_optim_seg sr[NSEG], sc[NSEG];
        for (int s = 0; s < NSEG; s++) {
            size_t n = lens[s];
            bool mom = adam || h.momentum > 0.0f;
            sr[s] = (cnn_optim_seg){.w = rnd(n, false, false),
                                    .g = rnd(n, false, false),
                                    .m = mom ? rnd(n, false, false) : NULL,
                                    .v = adam ? rnd(n, false, false) : NULL,
                                    .n = n};
            if (adam)
                for (size_t i = 0; i < n; i++)
                    sr[s].v[i] = fabsf(sr[s].v[i]);
            sc[s] = (cnn_optim_seg){.w = dup(sr[s].w, n),
                                    .g = sr[s].g,
                                    .m = mom ? dup(sr[s].m, n) : NULL,
                                    .v = adam ? dup(sr[s].v, n) : NULL,
                                    .n = n};
        }
        for (int step = 0; step < 2; step++) {
            h.first = step == 0;
            if (adam) {
                cnn_backend_ref.adam_step(sr, NSEG, &h);
                cnn_backend_cpu.adam_step(sc, NSEG, &h);
            } else {
                cnn_backend_ref.sgd_step(sr, NSEG, &h);
                cnn_backend_cpu.sgd_step(sc, NSEG, &h);
            }
        }
        for (int s = 0; s < NSEG; s++) {
            int b = same(sr[s].w, sc[s].w, lens[s], "optimizer weights");
            if (sr[s].m) b += same(sr[s].m, sc[s].m, lens[s], "optimizer first state");
            if (sr[s].v) b += same(sr[s].v, sc[s].v, lens[s], "optimizer second state");
            if (b) fprintf(stderr, "  in case kind=%d segment %d (n=%zu)\n", kind, s, lens[s]);
            bad += b;
            free(sr[s].w), free((float *)sr[s].g), free(sr[s].m), free(sr[s].v);
            free(sc[s].w), free(sc[s].m), free(sc[s].v);
        }
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    cnn_rng_seed(&g_rng, 4321);
    cnn_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool2d), cmocka_unit_test(test_avgpool2d),
        cmocka_unit_test(test_adaptive),  cmocka_unit_test(test_global),
        cmocka_unit_test(test_softmax),   cmocka_unit_test(test_optim),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

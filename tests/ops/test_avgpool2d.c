/* avgpool2d beyond the operator harness (test_backend_ops.c: forward and output
   shape from the definition over an option sweep incl. ceil mode and
   count_include_pad both ways, finite differences, every backend against ref): the
   ceil-mode divisor corner; invalid options. The fast paths (vectorised interior,
   2x2 / 3x3 stride 1 / 2 in registers, non-overlapping backward, per-tap row passes,
   reference border columns) against a float reference with the original loop order,
   exactly, at 1 and 2 threads, over a sweep that hits each. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, h, w, kh, kw, sh, sw, ph, pw; /* sh/sw 0: default (= kernel) */
    bool ceil;
    int want_oh, want_ow; /* worked out by hand from PyTorch's formula */
} cfg;

#define N_CASES (sizeof cases / sizeof cases[0])

static int stride_h(const cfg *c) { return c->sh ? c->sh : c->kh; }
static int stride_w(const cfg *c) { return c->sw ? c->sw : c->kw; }

static cnn_node *build(cnn_graph *g, const cfg *c, bool exclude_pad, int max_batch, cnn_node **in)
{
    *in = cnn_input(g, "x", 4, (int[]){max_batch, c->c, c->h, c->w});
    cnn_input_requires_grad(*in);
    return cnn_avgpool2d(g, *in, .kernel_h = c->kh, .kernel_w = c->kw, .stride_h = c->sh,
                         .stride_w = c->sw, .padding_h = c->ph, .padding_w = c->pw,
                         .ceil_mode = c->ceil, .exclude_pad = exclude_pad, .name = "pool");
}

/* Hand-worked values of PyTorch's AvgPool2d(3, 2, padding=1, ceil_mode=True) on a 6x6
   of ones (count_include_pad=True): the divisor is the window clipped to H + pad. */
static void test_ceil_divisor_corner(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){1, 1, 6, 6});
    cnn_node *y = cnn_avgpool2d(g, x, .kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true);
    float ones[36];
    for (int i = 0; i < 36; i++) ones[i] = 1.0f;
    tu_forward(g, x, ones, 1);
    cnn_tensor out = cnn_node_value(y);
    assert_int_equal(out.dims[2], 4);
    /* output (3, 3): rows/cols 5, 6 (7 is beyond H + pad = 7) -> divisor 2x2 = 4; the
       one real element (5, 5) holds 1 -> 0.25. Output (0, 0): rows/cols -1..1, all
       inside the padded input -> divisor 9, 4 real ones -> 4/9. */
    assert_float_equal(out.data[15], 0.25f, 1e-7f);
    assert_float_equal(out.data[0], 4.0f / 9.0f, 1e-7f);
    cnn_graph_free(g);
}

/* The original float loops: per output, the clipped window's sum in (row, column)
   order from 0, times 1 / divisor; backward adds dy * (1 / divisor) to the window's
   inputs output by output. */
static void float_avgpool(const cfg *c, bool exclude_pad, int oh, int ow, const float *x, float *y,
                          const float *dy, float *dx)
{
    int sh = stride_h(c), sw = stride_w(c);
    for (int p = 0; p < c->n * c->c; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                int h0 = i * sh - c->ph, w0 = j * sw - c->pw;
                int h1 = h0 + c->kh < c->h + c->ph ? h0 + c->kh : c->h + c->ph;
                int w1 = w0 + c->kw < c->w + c->pw ? w0 + c->kw : c->w + c->pw;
                int padded = (h1 - h0) * (w1 - w0);
                int rh0 = h0 < 0 ? 0 : h0, rw0 = w0 < 0 ? 0 : w0;
                int rh1 = h1 < c->h ? h1 : c->h, rw1 = w1 < c->w ? w1 : c->w;
                float inv = 1.0f / (float)(exclude_pad ? (rh1 - rh0) * (rw1 - rw0) : padded);
                const float *xp = x + (size_t)p * c->h * c->w;
                float sum = 0.0f;
                for (int u = rh0; u < rh1; u++)
                    for (int v = rw0; v < rw1; v++)
                        sum += xp[u * c->w + v];
                size_t o = ((size_t)p * oh + i) * ow + j;
                y[o] = sum * inv;
                float gv = dy[o] * inv;
                for (int u = rh0; u < rh1; u++)
                    for (int v = rw0; v < rw1; v++)
                        dx[(size_t)p * c->h * c->w + u * c->w + v] += gv;
            }
}

/* Kernels, strides, padding, ceil mode and count_include_pad both ways on planes wide
   enough for full AVX-512 vectors plus remainders (37 columns) and with enough
   elements to run in parallel; forward and backward must equal the float reference
   exactly (same additions in the same order), at 1 and 2 threads. */
static void test_fast_paths_match_float_reference(void **state)
{
    (void)state;
    static const int ks[][2] = {{2, 2}, {3, 3}, {3, 2}, {5, 3}, {1, 1}};
    int n_run = 0;
    for (size_t kk = 0; kk < sizeof ks / sizeof ks[0]; kk++)
        for (int s = 1; s <= 3; s++)
            for (int pad = 0; pad <= 1; pad++)
                for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++)
                    for (int excl = 0; excl < 2; excl++) {
                        cfg c = {2, 48, 21,  37,  ks[kk][0],      ks[kk][1],
                                 s, s,  pad, pad, ceil_mode != 0, 0,
                                 0};
                        if (pad > c.kh / 2 || pad > c.kw / 2) continue;
                        if (tu_quick() && s == 3) continue;
                        n_run++;
                        cnn_graph *g = cnn_graph_new();
                        cnn_node *in, *y = build(g, &c, excl, c.n, &in);
                        TU_OK(cnn_graph_compile(g, 1));
                        cnn_graph_set_training(g, true);
                        size_t nx = (size_t)c.n * c.c * c.h * c.w;
                        float *x = malloc(nx * sizeof *x);
                        cnn_rng r;
                        cnn_rng_seed(&r, 500 + (uint64_t)n_run);
                        tu_fill(x, nx, -1, 1, &r);
                        float *got[2] = {NULL, NULL}, *gdx[2] = {NULL, NULL}, *dy = NULL;
                        size_t ny = 0;
                        int oh = 0, ow = 0;
                        for (int t = 0; t < 2; t++) {
                            cnn_set_threads(t + 1);
                            TU_OK(cnn_graph_set_input(g, in, x, c.n));
                            TU_OK(cnn_graph_forward(g));
                            cnn_tensor out = cnn_node_value(y);
                            oh = out.dims[2];
                            ow = out.dims[3];
                            ny = cnn_tensor_numel(&out);
                            if (!dy) {
                                dy = malloc(ny * sizeof *dy);
                                tu_fill(dy, ny, -1, 1, &r);
                            }
                            got[t] = malloc(ny * sizeof *got[t]);
                            memcpy(got[t], out.data, ny * sizeof *got[t]);
                            TU_OK(cnn_graph_backward_from(g, y, dy));
                            gdx[t] = malloc(nx * sizeof *gdx[t]);
                            memcpy(gdx[t], cnn_node_grad(in).data, nx * sizeof *gdx[t]);
                        }
                        cnn_set_threads(0);
                        float *want = malloc(ny * sizeof *want), *ref = calloc(nx, sizeof *ref);
                        float_avgpool(&c, excl, oh, ow, x, want, dy, ref);
                        for (int t = 0; t < 2; t++) {
                            for (size_t o = 0; o < ny; o++)
                                if (got[t][o] != want[o])
                                    fail_msg("avgpool2d %dx%d s%d p%d ceil %d excl %d, %d threads: "
                                             "output %zu is %.9g, want %.9g",
                                             c.kh, c.kw, s, pad, ceil_mode, excl, t + 1, o,
                                             (double)got[t][o], (double)want[o]);
                            for (size_t i = 0; i < nx; i++)
                                if (gdx[t][i] != ref[i])
                                    fail_msg("avgpool2d %dx%d s%d p%d ceil %d excl %d, %d threads: "
                                             "dx %zu is %.9g, want %.9g",
                                             c.kh, c.kw, s, pad, ceil_mode, excl, t + 1, i,
                                             (double)gdx[t][i], (double)ref[i]);
                            free(got[t]);
                            free(gdx[t]);
                        }
                        free(x);
                        free(dy);
                        free(want);
                        free(ref);
                        cnn_graph_free(g);
                    }
    assert_true(n_run >= 40);
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){1, 16, 8, 8}))
    FRESH();
    cnn_scope_push(g, "features");
    tu_expect_error(g, cnn_avgpool2d(g, x, .kernel = 2, .padding = 2, .name = "pool"),
                 CNN_ERR_INVALID_ARG,
                 "avgpool2d 'features.pool': padding 2x2 must be at most half the kernel 2x2");
    FRESH();
    tu_expect_error(g, cnn_avgpool2d(g, x), CNN_ERR_INVALID_ARG, "kernel 0x0");
    FRESH();
    tu_expect_error(g, cnn_avgpool2d(g, x, .kernel_h = 3, .kernel_w = -1), CNN_ERR_INVALID_ARG,
                 "kernel 3x-1");
    FRESH();
    tu_expect_error(g, cnn_avgpool2d(g, x, .kernel = 3, .padding_w = -1), CNN_ERR_INVALID_ARG,
                 "padding 0x-1 must be >= 0");
    FRESH();
    tu_expect_error(g, cnn_avgpool2d(g, x, .kernel = 3, .stride_h = -1), CNN_ERR_INVALID_ARG,
                 "stride -1x3");
    FRESH();
    tu_expect_error(g, cnn_avgpool2d(g, x, .kernel = 3, .dilation = 2), CNN_ERR_INVALID_ARG,
                 "dilation 2");
    FRESH();
    tu_expect_error(g, cnn_avgpool2d(g, x, .kernel_h = 9, .kernel_w = 2), CNN_ERR_SHAPE,
                 "output 0x4 is smaller than 1x1");
    FRESH();
    tu_expect_error(g, cnn_avgpool2d(g, x, .kernel = 11, .padding = 1), CNN_ERR_SHAPE,
                 "(1, 16, 8, 8)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){1, 4, 10});
    tu_expect_error(g, cnn_avgpool2d(g, x, .kernel = 2), CNN_ERR_SHAPE, "(1, 4, 10)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceil_divisor_corner),
        cmocka_unit_test(test_fast_paths_match_float_reference),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

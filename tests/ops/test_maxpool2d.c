/* maxpool2d: forward and argmax indices against a naive reference written from the
   definition (padding = -inf, first max wins) over an option sweep (odd sizes, 3x3/2
   pad 1, 2x2/2, ceil mode incl. a dropped last window, rectangular kernels, dilation,
   default stride), run at a batch below the built one; backward against the
   reference scatter on inputs full of ties; invalid options. The fast paths
   (vectorised interior, 2x2 / 3x3 stride 1 / 2 in registers, per-tap row passes,
   reference border columns) against the reference over a sweep that hits each, with
   ties, NaN and -inf in the input, at 1 and 2 threads. Finite differences and every
   backend against ref: the operator harness (test_backend_ops.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, h, w, kh, kw, sh, sw, ph, pw, dil; /* sh/sw 0: default (= kernel) */
    bool ceil;
    int want_oh, want_ow; /* worked out by hand from PyTorch's formula */
} cfg;

static const cfg cases[] = {
    /* n c  h  w kh kw sh sw ph pw dil ceil   oh ow */
    {2, 3, 7, 9, 3, 3, 2, 2, 1, 1, 1, false, 4, 5},  /* ResNet stem pool, odd sizes */
    {2, 2, 8, 6, 2, 2, 2, 2, 0, 0, 1, false, 4, 3},  /* 2x2 stride 2 */
    {1, 2, 7, 7, 2, 2, 2, 2, 0, 0, 1, true, 4, 4},   /* ceil: floor would give 3 */
    {1, 2, 5, 5, 2, 2, 2, 2, 1, 1, 1, true, 3, 3},   /* ceil: last window (start 5) dropped */
    {1, 1, 6, 6, 3, 3, 2, 2, 1, 1, 1, true, 4, 4},   /* ceil with padding: floor gives 3 */
    {2, 2, 9, 8, 3, 2, 2, 1, 1, 0, 1, false, 5, 7},  /* rectangular 3x2, stride 2x1 */
    {1, 3, 9, 8, 3, 3, 1, 1, 1, 1, 2, false, 7, 6},  /* dilation 2 */
    {1, 2, 10, 9, 3, 3, 2, 2, 1, 1, 2, true, 5, 4},  /* dilation 2, stride 2, ceil */
    {2, 2, 10, 11, 3, 3, 0, 0, 0, 0, 1, true, 4, 4}, /* default stride 3, ceil (GoogLeNet) */
    {1, 2, 4, 5, 1, 1, 1, 1, 0, 0, 1, false, 4, 5},  /* 1x1: identity */
    {1, 1, 3, 3, 4, 4, 2, 2, 0, 0, 1, true, 1, 1},   /* kernel > input, ceil keeps 1 window */
};
#define N_CASES (sizeof cases / sizeof cases[0])

static int stride_h(const cfg *c) { return c->sh ? c->sh : c->kh; }
static int stride_w(const cfg *c) { return c->sw ? c->sw : c->kw; }

/* Output size from the definition, in real arithmetic. */
static int ref_out(int in, int k, int s, int p, int d, bool ceil_mode)
{
    double q = (double)(in + 2 * p - d * (k - 1) - 1) / s;
    int out = (int)(ceil_mode ? ceil(q) : floor(q)) + 1;
    if (ceil_mode && (out - 1) * s >= in + p) out--; /* window would start in right padding */
    return out;
}

/* y = max over the window (padding never wins), idx = first argmax (h*W + w). */
static void naive_maxpool(const cfg *c, int n, int oh, int ow, const float *x, float *y,
                          int32_t *idx)
{
    int sh = stride_h(c), sw = stride_w(c);
    for (int p = 0; p < n * c->c; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float best = -INFINITY;
                int32_t bi = -1;
                for (int u = 0; u < c->kh; u++)
                    for (int v = 0; v < c->kw; v++) {
                        int ih = i * sh - c->ph + u * c->dil, iw = j * sw - c->pw + v * c->dil;
                        if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w) continue;
                        float val = x[(size_t)p * c->h * c->w + ih * c->w + iw];
                        if (bi < 0 || val > best) {
                            best = val;
                            bi = ih * c->w + iw;
                        }
                    }
                y[((size_t)p * oh + i) * ow + j] = best;
                idx[((size_t)p * oh + i) * ow + j] = bi;
            }
}

static cnn_node *build(cnn_graph *g, const cfg *c, int max_batch, cnn_node **in)
{
    *in = cnn_input(g, "x", 4, (int[]){max_batch, c->c, c->h, c->w});
    cnn_input_requires_grad(*in);
    return cnn_maxpool2d(g, *in, .kernel_h = c->kh, .kernel_w = c->kw, .stride_h = c->sh,
                         .stride_w = c->sw, .padding_h = c->ph, .padding_w = c->pw,
                         .dilation = c->dil, .ceil_mode = c->ceil, .name = "pool");
}

/* Values in {-1, 0, 1}: most windows hold ties. */
static void fill_ties(float *x, size_t n, cnn_rng *r)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)cnn_rng_below(r, 3) - 1.0f;
}

static void test_forward_and_indices(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_CASES; k++)
        for (int ties = 0; ties < 2; ties++) {
            const cfg *c = &cases[k];
            /* built for one more example than is run: forward must use the run's batch */
            cnn_graph *g = cnn_graph_new();
            cnn_node *in, *y = build(g, c, c->n + 1, &in);
            TU_OK(cnn_graph_status(g));
            size_t nx = (size_t)c->n * c->c * c->h * c->w;
            float *x = malloc(nx * sizeof *x);
            cnn_rng r;
            cnn_rng_seed(&r, 10 * k + (size_t)ties);
            if (ties)
                fill_ties(x, nx, &r);
            else
                tu_fill(x, nx, -1, 1, &r);
            tu_forward(g, in, x, c->n);
            cnn_tensor out = cnn_node_value(y);
            int oh = out.dims[2], ow = out.dims[3];
            assert_int_equal(out.dims[0], c->n);
            assert_int_equal(out.dims[1], c->c);
            assert_int_equal(oh, c->want_oh);
            assert_int_equal(ow, c->want_ow);
            assert_int_equal(oh, ref_out(c->h, c->kh, stride_h(c), c->ph, c->dil, c->ceil));
            assert_int_equal(ow, ref_out(c->w, c->kw, stride_w(c), c->pw, c->dil, c->ceil));
            size_t ny = cnn_tensor_numel(&out);
            float *want = malloc(ny * sizeof *want);
            int32_t *want_idx = malloc(ny * sizeof *want_idx);
            naive_maxpool(c, c->n, oh, ow, x, want, want_idx);
            char what[64];
            snprintf(what, sizeof what, "maxpool2d case %zu%s", k, ties ? " (ties)" : "");
            /* a max selects one input: exact */
            TU_ASSERT_CLOSE(out.data, want, ny, 1e-30f, 0.0f, what);
            const int32_t *idx = NULL;
            TU_OK(cnn_maxpool2d_indices(y, &idx));
            assert_non_null(idx);
            for (size_t i = 0; i < ny; i++)
                if (idx[i] != want_idx[i])
                    fail_msg("%s: index %zu is %d, want %d", what, i, idx[i], want_idx[i]);
            assert_int_equal(cnn_node_cost(y).macs, 0);
            assert_int_equal(cnn_node_cost(y).params, 0);
            free(x);
            free(want);
            free(want_idx);
            cnn_graph_free(g);
        }
}

/* With ties the gradient must go to the first max only (PyTorch): compare the input
   gradient with the reference argmax scatter. */
static void test_backward_ties(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
        const cfg *c = &cases[k];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, c->n + 1, &in);
        TU_OK(cnn_graph_compile(g, 3));
        size_t nx = (size_t)c->n * c->c * c->h * c->w;
        float *x = malloc(nx * sizeof *x);
        cnn_rng r;
        cnn_rng_seed(&r, 200 + k);
        fill_ties(x, nx, &r);
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, in, x, c->n));
        TU_OK(cnn_graph_forward(g));
        cnn_tensor out = cnn_node_value(y);
        int oh = out.dims[2], ow = out.dims[3];
        size_t ny = cnn_tensor_numel(&out);
        float *dy = malloc(ny * sizeof *dy), *ref = calloc(nx, sizeof *ref);
        float *want = malloc(ny * sizeof *want);
        int32_t *want_idx = malloc(ny * sizeof *want_idx);
        tu_fill(dy, ny, -1, 1, &r);
        naive_maxpool(c, c->n, oh, ow, x, want, want_idx);
        size_t ohw = (size_t)oh * ow, hw = (size_t)c->h * c->w;
        for (size_t o = 0; o < ny; o++) ref[(o / ohw) * hw + (size_t)want_idx[o]] += dy[o];
        TU_OK(cnn_graph_backward_from(g, y, dy));
        cnn_tensor dx = cnn_node_grad(in);
        assert_int_equal(cnn_tensor_numel(&dx), nx);
        char what[64];
        snprintf(what, sizeof what, "maxpool2d ties backward case %zu", k);
        /* same additions in the same order: exact up to 1e-6 */
        TU_ASSERT_CLOSE(dx.data, ref, nx, 1e-6f, 1e-6f, what);
        free(x);
        free(dy);
        free(ref);
        free(want);
        free(want_idx);
        cnn_graph_free(g);
    }
}

/* The reference with PyTorch's NaN rule: a NaN replaces the best (so the last NaN of a
   window gives the index) and nothing replaces a NaN but another NaN. */
static void naive_maxpool_nan(const cfg *c, int n, int oh, int ow, const float *x, float *y,
                              int32_t *idx)
{
    int sh = stride_h(c), sw = stride_w(c);
    for (int p = 0; p < n * c->c; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float best = -INFINITY;
                int32_t bi = -1;
                for (int u = 0; u < c->kh; u++)
                    for (int v = 0; v < c->kw; v++) {
                        int ih = i * sh - c->ph + u * c->dil, iw = j * sw - c->pw + v * c->dil;
                        if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w) continue;
                        float val = x[(size_t)p * c->h * c->w + ih * c->w + iw];
                        if (bi < 0 || val > best || isnan(val)) {
                            best = val;
                            bi = ih * c->w + iw;
                        }
                    }
                y[((size_t)p * oh + i) * ow + j] = best;
                idx[((size_t)p * oh + i) * ow + j] = bi;
            }
}

/* Sweep of kernels, strides, padding, dilation and ceil mode on planes wide enough
   for full AVX-512 vectors plus remainders (37 columns) and on small ones (7x11),
   each with enough elements to run in parallel (> 64k); values in {-1, 0, 1} (ties everywhere) with
   NaN and -inf sprinkled in, one plane all -inf. Values, indices and the backward scatter must
   equal the reference exactly, the same at 1 and 2 threads. */
static void test_fast_paths_match_naive(void **state)
{
    (void)state;
    static const int ks[][2] = {{2, 2}, {3, 3}, {3, 2}, {4, 4}, {1, 3}};
    int n_run = 0;
    /* 21x37: row paths; 7x11: the padded small-plane path for stride 1 */
    static const int sizes[][4] = {{2, 48, 21, 37}, {4, 220, 7, 11}};
    for (int sz = 0; sz < 2; sz++)
        for (size_t kk = 0; kk < sizeof ks / sizeof ks[0]; kk++)
            for (int s = 1; s <= 3; s++)
                for (int pad = 0; pad <= 1; pad++)
                    for (int dil = 1; dil <= 2; dil++)
                        for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++) {
                            cfg c = {sizes[sz][0],
                                     sizes[sz][1],
                                     sizes[sz][2],
                                     sizes[sz][3],
                                     ks[kk][0],
                                     ks[kk][1],
                                     s,
                                     s,
                                     pad,
                                     pad,
                                     dil,
                                     ceil_mode != 0,
                                     0,
                                     0};
                            if (pad > c.kh / 2 || pad > c.kw / 2) continue;
                            if (tu_quick() && (dil == 2 || s == 3)) continue;
                            if (c.w + 2 * pad < (c.kw - 1) * dil + 1 ||
                                c.h + 2 * pad < (c.kh - 1) * dil + 1)
                                continue;
                            n_run++;
                            cnn_graph *g = cnn_graph_new();
                            cnn_node *in, *y = build(g, &c, c.n, &in);
                            TU_OK(cnn_graph_compile(g, 1));
                            cnn_graph_set_training(g, true);
                            size_t nx = (size_t)c.n * c.c * c.h * c.w;
                            float *x = malloc(nx * sizeof *x);
                            cnn_rng r;
                            cnn_rng_seed(&r, 1000 + (uint64_t)n_run);
                            fill_ties(x, nx, &r);
                            for (size_t i = 0; i < nx; i++) {
                                uint32_t q = cnn_rng_below(&r, 64);
                                if (q == 0) x[i] = NAN;
                                if (q == 1) x[i] = -INFINITY;
                            }
                            for (int i = 0; i < c.h * c.w; i++)
                                x[(size_t)5 * c.h * c.w + i] = -INFINITY;
                            float *got[2] = {NULL, NULL}, *gdx[2] = {NULL, NULL};
                            int32_t *gidx[2] = {NULL, NULL};
                            size_t ny = 0;
                            int oh = 0, ow = 0;
                            float *dy = NULL;
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
                                const int32_t *idx = NULL;
                                TU_OK(cnn_maxpool2d_indices(y, &idx));
                                got[t] = malloc(ny * sizeof *got[t]);
                                gidx[t] = malloc(ny * sizeof *gidx[t]);
                                memcpy(got[t], out.data, ny * sizeof *got[t]);
                                memcpy(gidx[t], idx, ny * sizeof *gidx[t]);
                                TU_OK(cnn_graph_backward_from(g, y, dy));
                                gdx[t] = malloc(nx * sizeof *gdx[t]);
                                memcpy(gdx[t], cnn_node_grad(in).data, nx * sizeof *gdx[t]);
                            }
                            cnn_set_threads(0);
                            float *want = malloc(ny * sizeof *want), *ref = calloc(nx, sizeof *ref);
                            int32_t *want_idx = malloc(ny * sizeof *want_idx);
                            naive_maxpool_nan(&c, c.n, oh, ow, x, want, want_idx);
                            size_t ohw = (size_t)oh * ow, hw = (size_t)c.h * c.w;
                            for (size_t o = 0; o < ny; o++)
                                if (want_idx[o] >= 0)
                                    ref[(o / ohw) * hw + (size_t)want_idx[o]] += dy[o];
                            for (int t = 0; t < 2; t++)
                                for (size_t o = 0; o < ny; o++) {
                                    int same = isnan(want[o]) ? isnan(got[t][o]) != 0
                                                              : got[t][o] == want[o];
                                    if (!same || gidx[t][o] != want_idx[o])
                                        fail_msg("maxpool2d %dx%d s%d p%d d%d ceil %d, %d threads: "
                                                 "output %zu is %g at %d, want %g at %d",
                                                 c.kh, c.kw, s, pad, dil, ceil_mode, t + 1, o,
                                                 (double)got[t][o], gidx[t][o], (double)want[o],
                                                 want_idx[o]);
                                }
                            for (int t = 0; t < 2; t++)
                                for (size_t i = 0; i < nx; i++)
                                    if (gdx[t][i] != ref[i])
                                        fail_msg("maxpool2d %dx%d s%d p%d d%d ceil %d, %d threads: "
                                                 "dx %zu is %g, want %g",
                                                 c.kh, c.kw, s, pad, dil, ceil_mode, t + 1, i,
                                                 (double)gdx[t][i], (double)ref[i]);
                            for (int t = 0; t < 2; t++) {
                                free(got[t]);
                                free(gidx[t]);
                                free(gdx[t]);
                            }
                            free(x);
                            free(dy);
                            free(want);
                            free(want_idx);
                            free(ref);
                            cnn_graph_free(g);
                        }
    assert_true(n_run >= 40);
}

static void test_indices_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){1, 2, 4, 4});
    cnn_node *y = cnn_maxpool2d(g, x, .kernel = 2, .name = "pool");
    cnn_node *a = cnn_avgpool2d(g, x, .kernel = 2, .name = "avg");
    const int32_t *idx = (const int32_t *)&idx;
    assert_int_equal(cnn_maxpool2d_indices(y, &idx), CNN_ERR_STATE); /* before forward */
    assert_null(idx);
    if (!strstr(cnn_error_message(), "maxpool2d 'pool'"))
        fail_msg("message '%s' does not name the node", cnn_error_message());
    assert_int_equal(cnn_maxpool2d_indices(a, &idx), CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_error_message(), "not a maxpool2d"));
    assert_int_equal(cnn_maxpool2d_indices(x, &idx), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_maxpool2d_indices(NULL, &idx), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_maxpool2d_indices(y, NULL), CNN_ERR_INVALID_ARG);
    TU_OK(cnn_graph_compile(g, 1));
    assert_int_equal(cnn_maxpool2d_indices(y, &idx), CNN_ERR_STATE); /* compiled, not run */
    float data[32];
    for (int i = 0; i < 32; i++) data[i] = (float)((i * 7) % 32);
    TU_OK(cnn_graph_set_input(g, x, data, 1));
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_maxpool2d_indices(y, &idx));
    /* plane 0, window (0, 0) holds 0, 7, 28, 3 at (0,0), (0,1), (1,0), (1,1) -> 1*4+0 */
    assert_int_equal(idx[0], 4);
    cnn_graph_free(g);
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){1, 64, 8, 8}))
    FRESH();
    cnn_scope_push(g, "features");
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel = 3, .padding = 2, .name = "3"),
                 CNN_ERR_INVALID_ARG,
                 "maxpool2d 'features.3': padding 2x2 must be at most half the kernel 3x3");
    FRESH();
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel_h = 2, .kernel_w = 4, .padding_h = 2),
                 CNN_ERR_INVALID_ARG, "padding 2x0");
    FRESH();
    tu_expect_error(g, cnn_maxpool2d(g, x), CNN_ERR_INVALID_ARG, "kernel 0x0");
    FRESH();
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel = 3, .padding = -1), CNN_ERR_INVALID_ARG,
                 "padding -1x-1 must be >= 0");
    FRESH();
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel = 3, .stride = -2), CNN_ERR_INVALID_ARG, "stride");
    FRESH();
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel = 3, .dilation = -1), CNN_ERR_INVALID_ARG,
                 "dilation");
    FRESH();
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel = 2, .exclude_pad = true), CNN_ERR_INVALID_ARG,
                 "exclude_pad");
    FRESH();
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel = 9), CNN_ERR_SHAPE, "(1, 64, 8, 8)");
    FRESH();
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel = 3, .dilation = 4), CNN_ERR_SHAPE,
                 "smaller than 1x1");
    FRESH();
    cnn_node *bad = cnn_maxpool2d(g, x, .kernel = 0);
    tu_expect_error(g, cnn_maxpool2d(g, bad, .kernel = 2), CNN_ERR_INVALID_ARG, "kernel 0x0");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){1, 10});
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel = 2), CNN_ERR_SHAPE, "(1, 10)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 5, (int[]){1, 2, 4, 4, 4});
    tu_expect_error(g, cnn_maxpool2d(g, x, .kernel = 2), CNN_ERR_SHAPE, "(N, C, H, W)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_and_indices),
        cmocka_unit_test(test_backward_ties),       cmocka_unit_test(test_fast_paths_match_naive),
        cmocka_unit_test(test_indices_errors),      cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

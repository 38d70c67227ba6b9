/* adaptive_avgpool2d and global_avgpool beyond the operator harness
   (test_backend_ops.c: forward against PyTorch's bin definition in double, finite
   differences, every backend against ref): bins worked out by hand; invalid options.
   The parallel paths (output = input size, 1x1 by whole-plane sums eight planes at a
   time, the general loop; global_avgpool) against the original float loops exactly,
   at 1 and 2 threads, on enough planes for several parallel chunks and a remainder of
   eight. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, h, w, oh, ow;
} cfg;

#define N_CASES (sizeof cases / sizeof cases[0])

/* 7 -> 3: bins [0,3), [2,5), [4,7) (hand-worked), on x = column index. */
static void test_adaptive_bins_by_hand(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *in = cnn_input(g, "x", 4, (int[]){1, 1, 1, 7});
    cnn_node *y = cnn_adaptive_avgpool2d(g, in, 1, 3);
    float x[7] = {0, 1, 2, 3, 4, 5, 6};
    tu_forward(g, in, x, 1);
    cnn_tensor out = cnn_node_value(y);
    assert_float_equal(out.data[0], 1.0f, 1e-6f);
    assert_float_equal(out.data[1], 3.0f, 1e-6f);
    assert_float_equal(out.data[2], 5.0f, 1e-6f);
    cnn_graph_free(g);
}

/* Original float loops: bin sum in order from 0, then / count (adaptive) or * 1/hw
   (global); backward adds dy / count (dy * 1/hw) to the bin's inputs. */
static void float_adaptive(bool global, int planes, int h, int w, int oh, int ow, const float *x,
                           float *y, const float *dy, float *dx)
{
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                int h0 = (int)((int64_t)i * h / oh),
                    h1 = (int)(((int64_t)(i + 1) * h + oh - 1) / oh);
                int w0 = (int)((int64_t)j * w / ow),
                    w1 = (int)(((int64_t)(j + 1) * w + ow - 1) / ow);
                const float *xp = x + (size_t)p * h * w;
                float *dxp = dx + (size_t)p * h * w;
                float sum = 0.0f;
                for (int u = h0; u < h1; u++)
                    for (int v = w0; v < w1; v++)
                        sum += xp[u * w + v];
                size_t o = ((size_t)p * oh + i) * ow + j;
                float cnt = (float)((h1 - h0) * (w1 - w0));
                y[o] = global ? sum * (1.0f / cnt) : sum / cnt;
                float gv = global ? dy[o] * (1.0f / cnt) : dy[o] / cnt;
                for (int u = h0; u < h1; u++)
                    for (int v = w0; v < w1; v++)
                        dxp[u * w + v] += gv;
            }
}

static void test_parallel_paths_exact(void **state)
{
    (void)state;
    static const cfg big[] = {
        /* all > 64k elements, so 2 threads do run in parallel */
        {3, 500, 7, 7, 7, 7},   /* output = input (VGG at 224) */
        {3, 500, 7, 7, 1, 1},   /* 1x1 (ResNet head): plane sums */
        {3, 801, 9, 5, 1, 1},   /* 1x1, planes not a multiple of 8 or of a chunk */
        {2, 200, 13, 13, 6, 6}, /* general bins */
        {3, 500, 7, 7, 0, 0},   /* global_avgpool */
        {3, 801, 9, 5, 0, 0},   /* global_avgpool, odd plane count */
    };
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        const cfg *c = &big[k];
        bool global = c->oh == 0;
        int oh = global ? 1 : c->oh, ow = global ? 1 : c->ow;
        cnn_graph *g = cnn_graph_new();
        cnn_node *in = cnn_input(g, "x", 4, (int[]){c->n, c->c, c->h, c->w});
        cnn_input_requires_grad(in);
        cnn_node *y = global ? cnn_global_avgpool(g, in) : cnn_adaptive_avgpool2d(g, in, oh, ow);
        TU_OK(cnn_graph_compile(g, 1));
        cnn_graph_set_training(g, true);
        int planes = c->n * c->c;
        size_t nx = (size_t)planes * c->h * c->w, ny = (size_t)planes * oh * ow;
        float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
        float *want = malloc(ny * sizeof *want), *ref = calloc(nx, sizeof *ref);
        cnn_rng r;
        cnn_rng_seed(&r, 300 + k);
        tu_fill(x, nx, -1, 1, &r);
        tu_fill(dy, ny, -1, 1, &r);
        float_adaptive(global, planes, c->h, c->w, oh, ow, x, want, dy, ref);
        for (int t = 1; t <= 2; t++) {
            cnn_set_threads(t);
            TU_OK(cnn_graph_set_input(g, in, x, c->n));
            TU_OK(cnn_graph_forward(g));
            TU_OK(cnn_graph_backward_from(g, y, dy));
            const float *got = cnn_node_value(y).data, *dx = cnn_node_grad(in).data;
            for (size_t o = 0; o < ny; o++)
                if (got[o] != want[o])
                    fail_msg("case %zu, %d threads: output %zu is %.9g, want %.9g", k, t, o,
                             (double)got[o], (double)want[o]);
            for (size_t i = 0; i < nx; i++)
                if (dx[i] != ref[i])
                    fail_msg("case %zu, %d threads: dx %zu is %.9g, want %.9g", k, t, i,
                             (double)dx[i], (double)ref[i]);
        }
        cnn_set_threads(0);
        free(x);
        free(dy);
        free(want);
        free(ref);
        cnn_graph_free(g);
    }
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 4, (int[]){1, 16, 8, 8}))
    FRESH();
    tu_expect_error(g, cnn_adaptive_avgpool2d(g, x, 0, 3), CNN_ERR_INVALID_ARG,
                 "adaptive_avgpool2d 'adaptive_avgpool2d0': output size 0x3 must be >= 1x1");
    FRESH();
    tu_expect_error(g, cnn_adaptive_avgpool2d(g, x, 2, -1), CNN_ERR_INVALID_ARG, "output size 2x-1");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){1, 10});
    tu_expect_error(g, cnn_adaptive_avgpool2d(g, x, 1, 1), CNN_ERR_SHAPE, "(1, 10)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 5, (int[]){1, 2, 3, 4, 5});
    tu_expect_error(g, cnn_global_avgpool(g, x), CNN_ERR_SHAPE,
                 "global_avgpool 'global_avgpool0': input must be (N, C, H, W), got "
                 "(1, 2, 3, 4, 5)");
    g = cnn_graph_new();
    tu_expect_error(g, cnn_global_avgpool(g, NULL), CNN_ERR_INVALID_ARG, "input 0 is NULL");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adaptive_bins_by_hand),
        cmocka_unit_test(test_parallel_paths_exact), cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* maxpool3d beyond the operator harness (test_backend_ops.c: values and shapes
   from the definition, finite differences on tie-free inputs, every backend against
   ref): backward against the reference argmax scatter on inputs full of ties;
   invalid options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int n, c, dims[3], k[3], s[3], p[3]; /* (D, H, W); s 0: default (= kernel) */
    bool ceil;
    int want[3]; /* worked out by hand from PyTorch's formula */
} cfg;

static const cfg cases[] = {
    {2, 2, {5, 6, 7}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, false, {3, 3, 4}},
    {1, 2, {4, 5, 6}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, false, {2, 2, 3}},
    {1, 2, {5, 5, 5}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, true, {3, 3, 3}},  /* floor gives 2 */
    {1, 1, {5, 4, 6}, {2, 2, 2}, {2, 2, 2}, {1, 1, 1}, true, {3, 3, 4}},  /* D: window at 5 dropped */
    {2, 2, {3, 7, 6}, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, false, {3, 4, 3}}, /* spatial-only 1x3x3 */
    {1, 2, {6, 5, 4}, {3, 2, 2}, {2, 2, 1}, {1, 0, 1}, true, {4, 3, 5}},  /* per-axis, ceil */
    {1, 2, {6, 6, 6}, {3, 3, 3}, {0, 0, 0}, {0, 0, 0}, false, {2, 2, 2}}, /* default stride */
};
#define N_CASES (sizeof cases / sizeof cases[0])

static int stride(const cfg *c, int a) { return c->s[a] ? c->s[a] : c->k[a]; }

static void naive_maxpool3d(const cfg *c, const int *o, const float *x, float *y, int32_t *idx)
{
    const int D = c->dims[0], H = c->dims[1], W = c->dims[2];
    for (int p = 0; p < c->n * c->c; p++)
        for (int t = 0; t < o[0]; t++)
            for (int i = 0; i < o[1]; i++)
                for (int j = 0; j < o[2]; j++) {
                    float best = -INFINITY;
                    int32_t bi = -1;
                    for (int a = 0; a < c->k[0]; a++)
                        for (int u = 0; u < c->k[1]; u++)
                            for (int v = 0; v < c->k[2]; v++) {
                                int id = t * stride(c, 0) - c->p[0] + a;
                                int ih = i * stride(c, 1) - c->p[1] + u;
                                int iw = j * stride(c, 2) - c->p[2] + v;
                                if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                int32_t q = (id * H + ih) * W + iw;
                                float val = x[(size_t)p * D * H * W + q];
                                if (bi < 0 || val > best) {
                                    best = val;
                                    bi = q;
                                }
                            }
                    size_t oi = (((size_t)p * o[0] + t) * o[1] + i) * o[2] + j;
                    y[oi] = best;
                    idx[oi] = bi;
                }
}

static cnn_node *build(cnn_graph *g, const cfg *c, int max_batch, cnn_node **in)
{
    *in = cnn_input(g, "x", 5, (int[]){max_batch, c->c, c->dims[0], c->dims[1], c->dims[2]});
    cnn_input_requires_grad(*in);
    return cnn_maxpool3d(g, *in, .kernel_d = c->k[0], .kernel_h = c->k[1], .kernel_w = c->k[2],
                         .stride_d = c->s[0], .stride_h = c->s[1], .stride_w = c->s[2],
                         .padding_d = c->p[0], .padding_h = c->p[1], .padding_w = c->p[2],
                         .ceil_mode = c->ceil, .name = "pool");
}

static size_t in_numel(const cfg *c)
{
    return (size_t)c->n * c->c * c->dims[0] * c->dims[1] * c->dims[2];
}

static void fill_ties(float *x, size_t n, cnn_rng *r)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)cnn_rng_below(r, 3) - 1.0f;
}

/* With ties the gradient goes to the first max only: the reference argmax scatter. */
static void test_backward_ties(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
        const cfg *c = &cases[k];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *y = build(g, c, c->n + 1, &in);
        TU_OK(cnn_graph_compile(g, 3));
        size_t nx = in_numel(c);
        float *x = malloc(nx * sizeof *x);
        cnn_rng r;
        cnn_rng_seed(&r, 200 + k);
        fill_ties(x, nx, &r);
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, in, x, c->n));
        TU_OK(cnn_graph_forward(g));
        cnn_tensor out = cnn_node_value(y);
        size_t ny = cnn_tensor_numel(&out);
        float *dy = malloc(ny * sizeof *dy), *ref = calloc(nx, sizeof *ref);
        float *want = malloc(ny * sizeof *want);
        int32_t *idx = malloc(ny * sizeof *idx);
        tu_fill(dy, ny, -1, 1, &r);
        naive_maxpool3d(c, c->want, x, want, idx);
        size_t vout = (size_t)c->want[0] * c->want[1] * c->want[2];
        size_t vin = (size_t)c->dims[0] * c->dims[1] * c->dims[2];
        for (size_t o = 0; o < ny; o++) ref[(o / vout) * vin + (size_t)idx[o]] += dy[o];
        TU_OK(cnn_graph_backward_from(g, y, dy));
        cnn_tensor dx = cnn_node_grad(in);
        assert_int_equal(cnn_tensor_numel(&dx), nx);
        char what[64];
        snprintf(what, sizeof what, "maxpool3d ties backward case %zu", k);
        TU_ASSERT_CLOSE(dx.data, ref, nx, 1e-6f, 1e-6f, what);
        free(x);
        free(dy);
        free(ref);
        free(want);
        free(idx);
        cnn_graph_free(g);
    }
}

static void test_invalid_options(void **state)
{
    (void)state;
    cnn_graph *g;
    cnn_node *x;
#define FRESH() (g = cnn_graph_new(), x = cnn_input(g, "x", 5, (int[]){1, 8, 4, 6, 6}))
    FRESH();
    tu_expect_error(g, cnn_maxpool3d(g, x, .kernel = 3, .padding_d = 2, .name = "pool3"),
                 CNN_ERR_INVALID_ARG,
                 "maxpool3d 'pool3': padding 2x0x0 must be at most half the kernel 3x3x3");
    FRESH();
    tu_expect_error(g, cnn_maxpool3d(g, x), CNN_ERR_INVALID_ARG, "kernel 0x0x0");
    FRESH();
    tu_expect_error(g, cnn_maxpool3d(g, x, .kernel = 2, .padding = -1), CNN_ERR_INVALID_ARG,
                 "padding -1x-1x-1 must be >= 0");
    FRESH();
    tu_expect_error(g, cnn_maxpool3d(g, x, .kernel = 2, .stride_w = -1), CNN_ERR_INVALID_ARG,
                 "stride 2x2x-1");
    FRESH();
    tu_expect_error(g, cnn_maxpool3d(g, x, .kernel = 5), CNN_ERR_SHAPE, "(1, 8, 4, 6, 6)");
    FRESH();
    tu_expect_error(g, cnn_maxpool3d(g, x, .kernel_d = 5, .kernel_h = 2, .kernel_w = 2),
                 CNN_ERR_SHAPE, "output 0x3x3 is smaller than 1x1x1");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 4, (int[]){1, 2, 6, 6});
    tu_expect_error(g, cnn_maxpool3d(g, x, .kernel = 2), CNN_ERR_SHAPE,
                 "input must be (N, C, D, H, W), got (1, 2, 6, 6)");
#undef FRESH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_ties),
        cmocka_unit_test(test_invalid_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

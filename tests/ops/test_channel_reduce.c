/* channel_mean / channel_max: forward against naive loops (4-D, 5-D, one channel,
   built and smaller batch); backward by central differences (max on distinct,
   well-separated values so no step crosses a tie); ties send the gradient to the
   first maximal channel; the argmax is int32 state; shape errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int nd, d[5];
} cfg;

static const cfg cases[] = {
    {4, {2, 3, 4, 5}},
    {4, {3, 1, 2, 3}},   /* one channel: identity */
    {5, {2, 4, 2, 3, 2}},
    {4, {2, 7, 1, 1}},
    {3, {2, 5, 6}},      /* (N, C, L) */
};

static size_t plane(const cfg *c)
{
    size_t s = 1;
    for (int i = 2; i < c->nd; i++) s *= (size_t)c->d[i];
    return s;
}

static void naive(const cfg *c, int batch, int is_max, const float *x, float *y)
{
    size_t S = plane(c);
    int C = c->d[1];
    for (int b = 0; b < batch; b++)
        for (size_t k = 0; k < S; k++) {
            double acc = is_max ? x[(size_t)b * C * S + k] : 0.0;
            for (int ch = 0; ch < C; ch++) {
                double v = x[((size_t)b * C + ch) * S + k];
                if (is_max) acc = v > acc ? v : acc;
                else acc += v;
            }
            y[(size_t)b * S + k] = (float)(is_max ? acc : acc / C);
        }
}

/* Distinct channel values at each position: a random permutation of 0..C-1, times
   0.2 (> 2 eps), minus an offset, plus noise < 0.05. */
static void fill_separated(const cfg *c, int batch, float *x, cnn_rng *r)
{
    size_t S = plane(c);
    int C = c->d[1];
    int perm[16];
    for (int b = 0; b < batch; b++)
        for (size_t k = 0; k < S; k++) {
            for (int i = 0; i < C; i++) perm[i] = i;
            for (int i = C - 1; i > 0; i--) {
                int j = (int)cnn_rng_below(r, (uint32_t)i + 1), t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            for (int ch = 0; ch < C; ch++)
                x[((size_t)b * C + ch) * S + k] =
                    0.2f * (float)perm[ch] - 0.1f * (float)C + 0.05f * cnn_rng_uniform(r);
        }
}

static cnn_node *build(cnn_graph *g, const cfg *c, int is_max, cnn_node **in)
{
    *in = cnn_input(g, "x", c->nd, c->d);
    cnn_input_requires_grad(*in);
    return is_max ? cnn_channel_max(g, *in) : cnn_channel_mean(g, *in);
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (int is_max = 0; is_max < 2; is_max++)
        for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
            const cfg *c = &cases[t];
            cnn_graph *g = cnn_graph_new();
            cnn_node *in, *y = build(g, c, is_max, &in);
            TU_OK(cnn_graph_status(g));
            assert_string_equal(cnn_node_op(y), is_max ? "channel_max" : "channel_mean");
            cnn_tensor v = cnn_node_value(y);
            assert_int_equal(v.ndim, c->nd);
            assert_int_equal(v.dims[1], 1);
            for (int i = 2; i < c->nd; i++) assert_int_equal(v.dims[i], c->d[i]);
            assert_int_equal(cnn_node_cost(y).macs, 0);
            TU_OK(cnn_graph_compile(g, 1));
            for (int batch = c->d[0]; batch >= 1; batch--) {
                size_t S = plane(c), nx = (size_t)batch * c->d[1] * S, ny = (size_t)batch * S;
                float *x = malloc(nx * sizeof *x), *want = malloc(ny * sizeof *want);
                cnn_rng r;
                cnn_rng_seed(&r, t * 10 + (size_t)batch);
                tu_fill(x, nx, -2, 2, &r);
                TU_OK(cnn_graph_set_input(g, in, x, batch));
                TU_OK(cnn_graph_forward(g));
                naive(c, batch, is_max, x, want);
                v = cnn_node_value(y);
                assert_int_equal(cnn_tensor_numel(&v), ny);
                char what[64];
                snprintf(what, sizeof what, "%s case %zu batch %d", is_max ? "max" : "mean", t,
                         batch);
                /* max is exact; the mean sums in float against a double reference:
                   C <= 7 terms of |x| <= 2 round to ~1e-6 */
                TU_ASSERT_CLOSE(v.data, want, ny, is_max ? 1e-30f : 1e-5f, 0.0f, what);
                free(x);
                free(want);
            }
            cnn_graph_free(g);
        }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (int is_max = 0; is_max < 2; is_max++)
        for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
            const cfg *c = &cases[t];
            cnn_graph *g = cnn_graph_new();
            cnn_node *in, *y = build(g, c, is_max, &in);
            TU_OK(cnn_graph_compile(g, 1));
            cnn_graph_set_training(g, true);
            size_t nx = (size_t)c->d[0] * c->d[1] * plane(c);
            float *x = malloc(nx * sizeof *x);
            cnn_rng r;
            cnn_rng_seed(&r, 40 + t);
            fill_separated(c, c->d[0], x, &r);
            TU_OK(cnn_graph_set_input(g, in, x, c->d[0]));
            /* mean is linear and max is linear between ties, which the 0.2 spacing
               keeps > 2 eps away: exact up to float rounding (~1e-5) */
            int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 1e-3, 200);
            if (bad) fprintf(stderr, "%s gradcheck case %zu failed\n", is_max ? "max" : "mean", t);
            assert_int_equal(bad, 0);
            free(x);
            cnn_graph_free(g);
        }
}

/* Equal channels: PyTorch's max picks one; ours picks the first, and the whole
   gradient goes there (not split). Also eval mode fills the same argmax. */
static void test_max_ties_first_channel(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){1, 3, 1, 2});
    cnn_input_requires_grad(x);
    cnn_node *y = cnn_channel_max(g, x);
    TU_OK(cnn_graph_compile(g, 1));
    cnn_graph_set_training(g, true);
    /* position 0: all equal; position 1: channels 1 and 2 tie above channel 0 */
    const float xv[6] = {0.5f, -1.0f, 0.5f, 2.0f, 0.5f, 2.0f};
    TU_OK(cnn_graph_set_input(g, x, xv, 1));
    TU_OK(cnn_graph_forward(g));
    cnn_tensor v = cnn_node_value(y);
    assert_true(v.data[0] == 0.5f && v.data[1] == 2.0f);
    TU_OK(cnn_graph_backward_from(g, y, (const float[]){3.0f, 5.0f}));
    cnn_tensor gx = cnn_node_grad(x);
    const float want[6] = {3.0f, 0.0f, 0.0f, 5.0f, 0.0f, 0.0f};
    TU_ASSERT_CLOSE(gx.data, want, 6, 1e-30f, 0.0f, "channel_max tie gradient");
    cnn_graph_free(g);
}

static void test_invalid_shapes(void **state)
{
    (void)state;
    for (int is_max = 0; is_max < 2; is_max++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 2, (int[]){4, 10});
        cnn_scope_push(g, "sa");
        assert_null(is_max ? cnn_channel_max(g, x) : cnn_channel_mean(g, x));
        assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
        const char *want = is_max ? "channel_max 'sa.channel_max0': input must be (N, C, H, W), "
                                    "got (4, 10)"
                                  : "channel_mean 'sa.channel_mean0': input must be (N, C, H, W), "
                                    "got (4, 10)";
        assert_string_equal(cnn_graph_error(g), want);
        /* later calls on the failed node propagate the first message */
        assert_null(cnn_channel_mean(g, NULL));
        assert_string_equal(cnn_graph_error(g), want);
        cnn_graph_free(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_max_ties_first_channel),
        cmocka_unit_test(test_invalid_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

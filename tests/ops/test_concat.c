/* concat: forward against a naive copy loop for 4-D and 5-D inputs, one to four
   inputs with repeats (concat([a, a]), DenseNet-style [a, b, a]), a smaller batch than
   built; backward by central differences (repeated inputs get the sum); and shape
   errors naming the op, node, input index and both shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MAX_SRC 3
#define MAX_CAT 5

typedef struct cfg {
    int ndim;          /* 4 or 5 */
    int n, sp[3];      /* batch, spatial dims (sp[2] only for 5-D) */
    int n_src, c[MAX_SRC];
    int k, idx[MAX_CAT]; /* concat inputs: idx[i] is the source */
} cfg;

static const cfg cases[] = {
    {4, 2, {3, 4, 0}, 1, {3}, 1, {0}},                  /* n == 1: a copy */
    {4, 2, {3, 4, 0}, 2, {2, 5}, 2, {0, 1}},            /* two inputs */
    {4, 3, {2, 3, 0}, 3, {1, 4, 2}, 3, {2, 0, 1}},      /* three, out of order */
    {4, 2, {3, 3, 0}, 1, {3}, 2, {0, 0}},               /* concat([a, a]) */
    {4, 2, {2, 2, 0}, 2, {2, 3}, 5, {0, 1, 0, 1, 0}},   /* a, b, a, b, a */
    {5, 2, {2, 3, 2}, 2, {3, 2}, 3, {0, 1, 0}},         /* 5-D, repeat */
    {4, 1, {1, 1, 0}, 2, {4, 6}, 2, {0, 1}},            /* 1x1 spatial (features) */
};

static size_t plane_of(const cfg *c)
{
    return (size_t)c->sp[0] * c->sp[1] * (c->ndim == 5 ? c->sp[2] : 1);
}

static cnn_node *build(cnn_graph *g, const cfg *c, cnn_node **src)
{
    cnn_node *xs[MAX_CAT];
    for (int s = 0; s < c->n_src; s++) {
        int dims[5] = {c->n, c->c[s], c->sp[0], c->sp[1], c->sp[2]};
        char name[16];
        snprintf(name, sizeof name, "x%d", s);
        src[s] = cnn_input(g, name, c->ndim, dims);
        cnn_input_requires_grad(src[s]);
    }
    for (int i = 0; i < c->k; i++) xs[i] = src[c->idx[i]];
    return cnn_concat(g, c->k, xs);
}

/* y[b, off_i + ch] = x_idx[i][b, ch] */
static void naive_concat(const cfg *c, int batch, float *const *x, float *y)
{
    size_t S = plane_of(c);
    int ctot = 0;
    for (int i = 0; i < c->k; i++) ctot += c->c[c->idx[i]];
    for (int b = 0; b < batch; b++) {
        int off = 0;
        for (int i = 0; i < c->k; i++) {
            int s = c->idx[i];
            for (int ch = 0; ch < c->c[s]; ch++)
                for (size_t p = 0; p < S; p++)
                    y[((size_t)b * ctot + off + ch) * S + p] =
                        x[s][((size_t)b * c->c[s] + ch) * S + p];
            off += c->c[s];
        }
    }
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const cfg *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *src[MAX_SRC];
        cnn_node *y = build(g, c, src);
        TU_OK(cnn_graph_status(g));
        assert_string_equal(cnn_node_op(y), "concat");
        int ctot = 0;
        for (int i = 0; i < c->k; i++) ctot += c->c[c->idx[i]];
        cnn_tensor v = cnn_node_value(y);
        assert_int_equal(v.ndim, c->ndim);
        assert_int_equal(v.dims[1], ctot);
        assert_int_equal(cnn_node_cost(y).macs, 0);
        TU_OK(cnn_graph_compile(g, 1));
        /* the built batch, then a smaller one (ctx->batch, not the built dims) */
        for (int batch = c->n; batch >= 1 && batch >= c->n - 1; batch--) {
            float *x[MAX_SRC];
            cnn_rng r;
            cnn_rng_seed(&r, 10 * t + (size_t)batch);
            for (int s = 0; s < c->n_src; s++) {
                size_t nx = (size_t)batch * c->c[s] * plane_of(c);
                x[s] = malloc(nx * sizeof(float));
                tu_fill(x[s], nx, -1, 1, &r);
                TU_OK(cnn_graph_set_input(g, src[s], x[s], batch));
            }
            TU_OK(cnn_graph_forward(g));
            v = cnn_node_value(y);
            assert_int_equal(v.dims[0], batch);
            size_t ny = (size_t)batch * ctot * plane_of(c);
            assert_int_equal(cnn_tensor_numel(&v), ny);
            float *want = malloc(ny * sizeof *want);
            naive_concat(c, batch, x, want);
            char what[64];
            snprintf(what, sizeof what, "concat case %zu batch %d", t, batch);
            TU_ASSERT_CLOSE(v.data, want, ny, 1e-30f, 0.0f, what); /* a copy: exact */
            free(want);
            for (int s = 0; s < c->n_src; s++) free(x[s]);
            if (c->n == 1) break;
        }
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const cfg *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *src[MAX_SRC];
        cnn_node *y = build(g, c, src);
        TU_OK(cnn_graph_compile(g, 1));
        cnn_graph_set_training(g, true);
        cnn_rng r;
        cnn_rng_seed(&r, 100 + t);
        for (int s = 0; s < c->n_src; s++) {
            size_t nx = (size_t)c->n * c->c[s] * plane_of(c);
            float *x = malloc(nx * sizeof *x);
            tu_fill(x, nx, -1, 1, &r);
            TU_OK(cnn_graph_set_input(g, src[s], x, c->n));
            free(x);
        }
        /* concat is linear: central differences are exact up to float rounding of
           the outputs (~1e-7 relative over <= 200 terms, / 2e-2), far below 1e-3 */
        int bad = tu_gradcheck(g, y, src, c->n_src, 1e-2, 1e-3, 200);
        if (bad) fprintf(stderr, "concat gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        cnn_graph_free(g);
    }
}

/* d/da of sum(r * concat([a, a])) is r[:, :C] + r[:, C:], checked directly. */
static void test_repeated_input_sums_gradients(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 4, (int[]){2, 3, 2, 2});
    cnn_input_requires_grad(a);
    cnn_node *y = cnn_concat(g, 2, (cnn_node *[]){a, a});
    TU_OK(cnn_graph_compile(g, 1));
    cnn_graph_set_training(g, true);
    float x[24], r[48], want[24];
    cnn_rng rng;
    cnn_rng_seed(&rng, 5);
    tu_fill(x, 24, -1, 1, &rng);
    tu_fill(r, 48, -1, 1, &rng);
    TU_OK(cnn_graph_set_input(g, a, x, 2));
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward_from(g, y, r));
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 12; i++) want[b * 12 + i] = r[b * 24 + i] + r[b * 24 + 12 + i];
    cnn_tensor ga = cnn_node_grad(a);
    TU_ASSERT_CLOSE(ga.data, want, 24, 1e-6f, 1e-6f, "d concat([a, a]) / da");
    cnn_graph_free(g);
}

static void test_invalid_shapes(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    cnn_node *b = cnn_input(g, "b", 4, (int[]){2, 3, 5, 4});
    cnn_scope_push(g, "features");
    tu_expect_error(g, cnn_concat(g, 3, (cnn_node *[]){a, a, b}), CNN_ERR_SHAPE,
                 "concat 'features.concat0': input 2 has shape (2, 3, 5, 4), input 0 has "
                 "(2, 4, 4, 4)");
    /* rank differs */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    b = cnn_input(g, "b", 5, (int[]){2, 4, 4, 4, 1});
    tu_expect_error(g, cnn_concat(g, 2, (cnn_node *[]){a, b}), CNN_ERR_SHAPE,
                 "input 1 has shape (2, 4, 4, 4, 1)");
    /* no inputs */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    tu_expect_error(g, cnn_concat(g, 0, (cnn_node *[]){a}), CNN_ERR_INVALID_ARG,
                 "concat 'concat0': needs at least 1 input, got 0");
    g = cnn_graph_new();
    a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    tu_expect_error(g, cnn_concat(g, 2, NULL), CNN_ERR_INVALID_ARG, "needs at least 1 input");
    /* a NULL input (an earlier failure) propagates the first error */
    g = cnn_graph_new();
    a = cnn_input(g, "a", 4, (int[]){2, 4, 4, 4});
    cnn_node *bad = cnn_channel_shuffle(g, a, 3);
    tu_expect_error(g, cnn_concat(g, 2, (cnn_node *[]){a, bad}), CNN_ERR_INVALID_ARG, "groups 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_repeated_input_sums_gradients),
        cmocka_unit_test(test_invalid_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

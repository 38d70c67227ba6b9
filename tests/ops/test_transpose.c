/* transpose: forward against an index-by-index reference for permutations of 2- to
   5-D tensors (batched and unbatched), at the built and a smaller batch; the channel
   shuffle pattern (reshape-transpose-reshape) equals cnn_channel_shuffle; backward by
   central differences (inputs and an unbatched parameter); errors (batch moved, not a
   permutation, wrong length, NULL) naming the node; describe() gives perm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct tcase {
    int nd, d[6], perm[6];
    bool batched;
} tcase;

static const tcase cases[] = {
    {3, {2, 3, 4}, {0, 2, 1}, true},
    {4, {2, 3, 4, 5}, {0, 3, 1, 2}, true},
    {4, {3, 3, 4, 5}, {0, 2, 3, 1}, true},
    {4, {2, 3, 4, 5}, {0, 1, 2, 3}, true},
    {3, {3, 4, 5}, {2, 0, 1}, false},
    {2, {4, 5}, {1, 0}, false},
    {5, {2, 2, 3, 1, 2}, {0, 4, 2, 3, 1}, true},
};
#define NCASES (sizeof cases / sizeof cases[0])

static size_t numel(int nd, const int *d)
{
    size_t s = 1;
    for (int i = 0; i < nd; i++) s *= (size_t)d[i];
    return s;
}

static void reference(const tcase *c, const int *xd, const float *x, float *y)
{
    int od[6];
    for (int i = 0; i < c->nd; i++) od[i] = xd[c->perm[i]];
    size_t total = numel(c->nd, od);
    for (size_t e = 0; e < total; e++) {
        int idx[6]; /* output index -> input index: in[perm[i]] = out[i] */
        size_t rem = e;
        for (int i = c->nd - 1; i >= 0; i--) {
            idx[c->perm[i]] = (int)(rem % (size_t)od[i]);
            rem /= (size_t)od[i];
        }
        size_t xi = 0;
        for (int i = 0; i < c->nd; i++) xi = xi * (size_t)xd[i] + (size_t)idx[i];
        y[e] = x[xi];
    }
}

static cnn_node *make_x(cnn_graph *g, const tcase *c)
{
    if (c->batched) {
        cnn_node *x = cnn_input(g, "x", c->nd, c->d);
        cnn_input_requires_grad(x);
        return x;
    }
    return cnn_parameter(g, "x", c->nd, c->d, true);
}

static void set_x(cnn_graph *g, cnn_node *x, const tcase *c, const float *v, int batch)
{
    if (c->batched) TU_OK(cnn_graph_set_input(g, x, v, batch));
    else TU_OK(cnn_graph_set_initial(g, "x", v, numel(c->nd, c->d)));
}

static void test_forward(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++) {
        const tcase *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = make_x(g, c);
        cnn_node *y = cnn_transpose(g, x, c->nd, c->perm);
        TU_OK(cnn_graph_status(g));
        for (int i = 0; i < c->nd; i++) assert_int_equal(cnn_node_value(y).dims[i], c->d[c->perm[i]]);
        TU_OK(cnn_graph_compile(g, 1));
        for (int batch = c->batched ? c->d[0] : 1; batch >= 1; batch--) {
            int xd[6];
            memcpy(xd, c->d, sizeof xd);
            if (c->batched) xd[0] = batch;
            size_t n = numel(c->nd, xd);
            float *xv = malloc(n * sizeof *xv), *want = malloc(n * sizeof *want);
            cnn_rng r;
            cnn_rng_seed(&r, t * 10 + (size_t)batch);
            tu_fill(xv, n, -1, 1, &r);
            set_x(g, x, c, xv, batch);
            TU_OK(cnn_graph_forward(g));
            reference(c, xd, xv, want);
            char what[64];
            snprintf(what, sizeof what, "transpose case %zu batch %d", t, batch);
            TU_ASSERT_CLOSE(cnn_node_value(y).data, want, n, 1e-30f, 0.0f, what); /* exact */
            free(xv), free(want);
        }
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++) {
        const tcase *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = make_x(g, c);
        cnn_node *y = cnn_tanh(g, cnn_transpose(g, x, c->nd, c->perm)); /* non-linear after */
        TU_OK(cnn_graph_compile(g, 1));
        size_t n = numel(c->nd, c->d);
        float *xv = malloc(n * sizeof *xv);
        cnn_rng r;
        cnn_rng_seed(&r, 70 + t);
        tu_fill(xv, n, -1, 1, &r);
        cnn_graph_set_training(g, true);
        set_x(g, x, c, xv, c->d[0]);
        int bad = tu_gradcheck(g, y, &x, c->batched ? 1 : 0, 1e-3, 2e-3, 100);
        if (bad) fprintf(stderr, "transpose gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        free(xv);
        cnn_graph_free(g);
    }
}

/* ShuffleNet's channel shuffle as torch exports it: (N, g*c, H, W) -> reshape
   (N, g, c, H, W) -> transpose (0, 2, 1, 3, 4) -> reshape back (cnn_reshape: dims
   after the batch) */
static void test_channel_shuffle_pattern(void **state)
{
    (void)state;
    const int N = 2, G = 3, Cg = 4, H = 2, W = 3;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){N, G * Cg, H, W});
    cnn_node *a = cnn_reshape(g, x, 4, (int[]){G, Cg, H, W});
    cnn_node *b = cnn_transpose(g, a, 5, (int[]){0, 2, 1, 3, 4});
    cnn_node *y = cnn_reshape(g, b, 3, (int[]){G * Cg, H, W});
    cnn_node *z = cnn_channel_shuffle(g, x, G);
    cnn_graph_mark_output(g, y);
    cnn_graph_mark_output(g, z);
    TU_OK(cnn_graph_status(g));
    float xv[2 * 12 * 2 * 3];
    cnn_rng r;
    cnn_rng_seed(&r, 4);
    tu_fill(xv, sizeof xv / sizeof xv[0], -1, 1, &r);
    tu_forward(g, x, xv, N);
    assert_memory_equal(cnn_node_value(y).data, cnn_node_value(z).data, sizeof xv);
    cnn_graph_free(g);
}

static void test_errors_and_describe(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 3, (int[]){1, 0, 2}), CNN_ERR_SHAPE,
                    "transpose 'transpose0': perm[0] = 1 would move the batch of (2, 3, 4)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 3, (int[]){0, 2, 2}), CNN_ERR_INVALID_ARG,
                    "perm is not a permutation of 0..2 (entry 2 is 2)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 3, (int[]){0, 1, 3}), CNN_ERR_INVALID_ARG,
                    "entry 2 is 3");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 2, (int[]){0, 1}), CNN_ERR_INVALID_ARG,
                    "perm has 2 entries, the input (2, 3, 4) has 3 dimensions");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_transpose(g, x, 3, NULL), CNN_ERR_INVALID_ARG, "perm is NULL");
    /* unbatched: any axis moves */
    g = cnn_graph_new();
    cnn_node *k = cnn_constant(g, "k", 2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    cnn_node *t = cnn_transpose(g, k, 2, (int[]){1, 0});
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    t->op->describe(t, &d);
    assert_string_equal(d.attrs[0].key, "perm");
    assert_int_equal(d.attrs[0].n, 2);
    assert_int_equal(d.attrs[0].i[0], 1);
    assert_int_equal(d.attrs[0].i[1], 0);
    TU_OK(cnn_graph_compile(g, 0));
    TU_OK(cnn_graph_forward(g));
    const float want[6] = {1, 4, 2, 5, 3, 6};
    assert_memory_equal(cnn_node_value(t).data, want, sizeof want);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_channel_shuffle_pattern),
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

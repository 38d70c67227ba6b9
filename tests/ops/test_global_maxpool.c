/* global_maxpool: 2-D and 3-D, batched and unbatched, against a naive maximum per
   plane, at the built and a smaller batch; equals maxpool2d with the whole plane as
   kernel; NaN wins; backward by central differences on distinct values and the
   first-maximum rule on ties; shape errors naming the node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct gcase {
    int nd, d[5];
    bool batched;
} gcase;

static const gcase cases[] = {
    {4, {2, 3, 4, 5}, true}, {4, {3, 2, 1, 1}, true}, {5, {2, 3, 2, 3, 4}, true},
    {4, {2, 3, 7, 7}, false},
};
#define NCASES (sizeof cases / sizeof cases[0])

static size_t numel(int nd, const int *d)
{
    size_t s = 1;
    for (int i = 0; i < nd; i++) s *= (size_t)d[i];
    return s;
}

static cnn_node *make(cnn_graph *g, const gcase *c)
{
    if (c->batched) {
        cnn_node *x = cnn_input(g, "x", c->nd, c->d);
        cnn_input_requires_grad(x);
        return x;
    }
    return cnn_parameter(g, "x", c->nd, c->d, true);
}

static void test_forward(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++) {
        const gcase *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = make(g, c);
        cnn_node *y = cnn_global_maxpool(g, x);
        TU_OK(cnn_graph_status(g));
        cnn_tensor v = cnn_node_value(y);
        assert_int_equal(v.ndim, c->nd);
        for (int i = 2; i < c->nd; i++) assert_int_equal(v.dims[i], 1);
        TU_OK(cnn_graph_compile(g, 1));
        for (int batch = c->batched ? c->d[0] : 1; batch >= 1; batch--) {
            int xd[5];
            memcpy(xd, c->d, sizeof xd);
            if (c->batched) xd[0] = batch;
            size_t n = numel(c->nd, xd), planes = (size_t)xd[0] * (size_t)xd[1], S = n / planes;
            float *xv = malloc(n * sizeof *xv), *want = malloc(planes * sizeof *want);
            cnn_rng r;
            cnn_rng_seed(&r, t * 10 + (size_t)batch);
            tu_fill(xv, n, -1, 1, &r);
            if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, batch));
            else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
            TU_OK(cnn_graph_forward(g));
            for (size_t p = 0; p < planes; p++) {
                want[p] = xv[p * S];
                for (size_t k = 1; k < S; k++) want[p] = fmaxf(want[p], xv[p * S + k]);
            }
            char what[64];
            snprintf(what, sizeof what, "global_maxpool case %zu batch %d", t, batch);
            TU_ASSERT_CLOSE(cnn_node_value(y).data, want, planes, 1e-30f, 0.0f, what);
            free(xv), free(want);
        }
        cnn_graph_free(g);
    }
}

static void test_same_as_maxpool2d(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 5, 6});
    cnn_node *a = cnn_global_maxpool(g, x);
    cnn_node *b = cnn_maxpool2d(g, x, .kernel_h = 5, .kernel_w = 6);
    cnn_graph_mark_output(g, a);
    cnn_graph_mark_output(g, b);
    TU_OK(cnn_graph_status(g));
    float xv[180];
    cnn_rng r;
    cnn_rng_seed(&r, 8);
    tu_fill(xv, 180, -3, 3, &r);
    tu_forward(g, x, xv, 2);
    assert_memory_equal(cnn_node_value(a).data, cnn_node_value(b).data, 6 * sizeof(float));
    cnn_graph_free(g);
}

static void test_backward(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++) {
        const gcase *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = make(g, c);
        cnn_node *y = cnn_global_maxpool(g, x);
        TU_OK(cnn_graph_compile(g, 1));
        size_t n = numel(c->nd, c->d);
        float *xv = malloc(n * sizeof *xv);
        for (size_t i = 0; i < n; i++) xv[i] = (float)((i * 7919) % n) * 0.01f; /* distinct */
        cnn_graph_set_training(g, true);
        if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, c->d[0]));
        else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
        int bad = tu_gradcheck(g, y, &x, c->batched ? 1 : 0, 1e-3, 2e-3, 200);
        if (bad) fprintf(stderr, "global_maxpool gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        free(xv);
        cnn_graph_free(g);
    }
    /* ties: the first maximum takes the gradient; NaN wins */
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){1, 2, 2, 2});
    cnn_input_requires_grad(x);
    cnn_node *y = cnn_global_maxpool(g, x);
    TU_OK(cnn_graph_compile(g, 0));
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, x, (float[]){1, 4, 2, 4, 1, NAN, 9, 2}, 1));
    TU_OK(cnn_graph_forward(g));
    assert_true(cnn_node_value(y).data[0] == 4.0f);
    assert_true(isnan(cnn_node_value(y).data[1]));
    TU_OK(cnn_graph_backward_from(g, y, (float[]){1, 2}));
    const float want[8] = {0, 1, 0, 0, 0, 2, 0, 0};
    assert_memory_equal(cnn_node_grad(x).data, want, sizeof want);
    cnn_graph_free(g);
}

static void test_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_global_maxpool(g, x), CNN_ERR_SHAPE,
                    "global_maxpool 'global_maxpool0': input must be (N, C, H, W) or (N, C, D, H, W), "
                    "got (2, 3, 4)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_same_as_maxpool2d),
        cmocka_unit_test(test_backward),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

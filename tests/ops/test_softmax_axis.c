/* softmax_axis: softmax and log-softmax along every non-batch axis (negative too) of
   batched and unbatched tensors against a double reference, at the built and a
   smaller batch; axis 1 equals cnn_softmax bit for bit; large inputs stay finite;
   backward by central differences; errors naming the node; describe(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct scase {
    int nd, d[5];
    bool batched;
    int axis;
} scase;

static const scase cases[] = {
    {2, {3, 7}, true, 1},        {2, {3, 7}, true, -1},       {4, {2, 3, 4, 5}, true, 1},
    {4, {2, 3, 4, 5}, true, 2},  {4, {2, 3, 4, 5}, true, -1}, {3, {4, 5, 6}, false, 0},
    {3, {4, 5, 6}, false, 1},    {5, {2, 2, 3, 2, 3}, true, 3},
};
#define NCASES (sizeof cases / sizeof cases[0])

static size_t numel(int nd, const int *d)
{
    size_t s = 1;
    for (int i = 0; i < nd; i++) s *= (size_t)d[i];
    return s;
}

static void reference(const scase *c, const int *xd, bool lg, const float *x, float *y)
{
    int ax = c->axis < 0 ? c->axis + c->nd : c->axis;
    size_t outer = numel(ax, xd), K = (size_t)xd[ax], S = numel(c->nd - ax - 1, xd + ax + 1);
    for (size_t o = 0; o < outer; o++)
        for (size_t s = 0; s < S; s++) {
            double m = -INFINITY, sum = 0;
            for (size_t k = 0; k < K; k++) m = fmax(m, x[(o * K + k) * S + s]);
            for (size_t k = 0; k < K; k++) sum += exp(x[(o * K + k) * S + s] - m);
            for (size_t k = 0; k < K; k++) {
                double v = x[(o * K + k) * S + s] - m;
                y[(o * K + k) * S + s] = (float)(lg ? v - log(sum) : exp(v) / sum);
            }
        }
}

static void test_forward(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++)
        for (int lg = 0; lg < 2; lg++) {
            const scase *c = &cases[t];
            cnn_graph *g = cnn_graph_new();
            cnn_node *x = c->batched ? cnn_input(g, "x", c->nd, c->d)
                                     : cnn_parameter(g, "x", c->nd, c->d, true);
            cnn_node *y = cnn_softmax_axis(g, x, c->axis, lg);
            TU_OK(cnn_graph_status(g));
            TU_OK(cnn_graph_compile(g, 1));
            for (int batch = c->batched ? c->d[0] : 1; batch >= 1; batch--) {
                int xd[5];
                memcpy(xd, c->d, sizeof xd);
                if (c->batched) xd[0] = batch;
                size_t n = numel(c->nd, xd);
                float *xv = malloc(n * sizeof *xv), *want = malloc(n * sizeof *want);
                cnn_rng r;
                cnn_rng_seed(&r, t * 10 + (size_t)batch);
                tu_fill(xv, n, -5, 5, &r);
                xv[0] = 80.0f; /* exp would overflow without the max */
                if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, batch));
                else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
                TU_OK(cnn_graph_forward(g));
                reference(c, xd, lg, xv, want);
                char what[64];
                snprintf(what, sizeof what, "softmax_axis case %zu log %d batch %d", t, lg, batch);
                TU_ASSERT_CLOSE(cnn_node_value(y).data, want, n, 1e-6f, 1e-5f, what);
                free(xv), free(want);
            }
            cnn_graph_free(g);
        }
}

static void test_same_as_softmax(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 5, 3, 2});
    cnn_node *a = cnn_softmax(g, x), *b = cnn_softmax_axis(g, x, 1, false);
    cnn_graph_mark_output(g, a);
    cnn_graph_mark_output(g, b);
    float xv[60];
    cnn_rng r;
    cnn_rng_seed(&r, 2);
    tu_fill(xv, 60, -3, 3, &r);
    tu_forward(g, x, xv, 2);
    assert_memory_equal(cnn_node_value(a).data, cnn_node_value(b).data, sizeof xv);
    cnn_graph_free(g);
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++)
        for (int lg = 0; lg < 2; lg++) {
            const scase *c = &cases[t];
            cnn_graph *g = cnn_graph_new();
            cnn_node *x = c->batched ? cnn_input(g, "x", c->nd, c->d)
                                     : cnn_parameter(g, "x", c->nd, c->d, true);
            if (c->batched) cnn_input_requires_grad(x);
            cnn_node *y = cnn_softmax_axis(g, x, c->axis, lg);
            TU_OK(cnn_graph_compile(g, 1));
            size_t n = numel(c->nd, c->d);
            float *xv = malloc(n * sizeof *xv);
            cnn_rng r;
            cnn_rng_seed(&r, 20 + t);
            tu_fill(xv, n, -2, 2, &r);
            cnn_graph_set_training(g, true);
            if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, c->d[0]));
            else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
            int bad = tu_gradcheck(g, y, &x, c->batched ? 1 : 0, 1e-3, 3e-3, 150);
            if (bad) fprintf(stderr, "softmax_axis gradcheck case %zu log %d failed\n", t, lg);
            assert_int_equal(bad, 0);
            free(xv);
            cnn_graph_free(g);
        }
}

static void test_errors_and_describe(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_softmax_axis(g, x, 0, false), CNN_ERR_SHAPE,
                    "softmax_axis 'softmax': axis 0 is the batch of (2, 3, 4)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_softmax_axis(g, x, -4, true), CNN_ERR_INVALID_ARG,
                    "softmax_axis 'log_softmax': axis -4 is outside the 3 dimensions of (2, 3, 4)");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    cnn_node *y = cnn_softmax_axis(g, x, -1, true);
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_string_equal(d.attrs[0].key, "axis");
    assert_int_equal(d.attrs[0].i[0], -1);
    assert_string_equal(d.attrs[1].key, "log");
    assert_int_equal(d.attrs[1].i[0], 1);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_same_as_softmax),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

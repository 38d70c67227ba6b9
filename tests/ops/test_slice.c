/* slice: ONNX Slice semantics on one axis against a Python-style reference (negative
   start/end, clamping, INT_MAX / INT_MIN open ends, negative steps, steps past the
   end) over batched and unbatched tensors, negative axes, at the built and a smaller
   batch; backward by central differences; errors (batch axis, bad axis, step 0, empty
   selection) naming the node; describe() gives the call's values. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct scase {
    int nd, d[5];
    bool batched;
    int axis, start, end, step;
} scase;

static const scase cases[] = {
    {4, {2, 6, 3, 4}, true, 1, 1, 4, 1},
    {4, {2, 6, 3, 4}, true, -1, 0, INT_MAX, 2},
    {4, {2, 6, 3, 4}, true, 2, -2, INT_MAX, 1},
    {4, {2, 6, 3, 4}, true, 1, INT_MAX, INT_MIN, -1},  /* reverse */
    {4, {2, 6, 3, 4}, true, 1, -1, -5, -2},
    {4, {2, 6, 3, 4}, true, 3, 10, 1, -1},             /* start clamped to d-1 */
    {3, {3, 7, 2}, true, 1, -100, 100, 3},             /* both clamped */
    {3, {3, 7, 2}, true, 1, 2, 3, 10},                 /* step past the end */
    {2, {5, 4}, false, 0, 1, -1, 1},                   /* unbatched: axis 0 allowed */
    {3, {5, 4, 2}, false, -3, 4, INT_MIN, -2},
    {5, {2, 3, 4, 2, 3}, true, 2, 1, 3, 1},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* Python's slice.indices, written independently of the op's clamping */
static int py_indices(int d, int start, int end, int step, int *idx)
{
    int n = 0;
    if (step > 0) {
        long s = start < 0 ? (long)start + d : start, e = end < 0 ? (long)end + d : end;
        if (s < 0) s = 0;
        if (e > d) e = d;
        for (long i = s; i < e; i += step) idx[n++] = (int)i;
    } else {
        long s = start < 0 ? (long)start + d : start, e = end < 0 ? (long)end + d : end;
        if (s > d - 1) s = d - 1;
        if (e < -1) e = -1;
        for (long i = s; i > e; i += step) idx[n++] = (int)i;
    }
    return n;
}

static size_t numel(int nd, const int *d)
{
    size_t s = 1;
    for (int i = 0; i < nd; i++) s *= (size_t)d[i];
    return s;
}

static void test_forward(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++) {
        const scase *c = &cases[t];
        int ax = c->axis < 0 ? c->axis + c->nd : c->axis, idx[128];
        int cnt = py_indices(c->d[ax], c->start, c->end, c->step, idx);
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = c->batched ? cnn_input(g, "x", c->nd, c->d)
                                 : cnn_parameter(g, "x", c->nd, c->d, true);
        cnn_node *y = cnn_slice(g, x, c->axis, c->start, c->end, c->step);
        TU_OK(cnn_graph_status(g));
        assert_int_equal(cnn_node_value(y).dims[ax], cnt);
        TU_OK(cnn_graph_compile(g, 1));
        for (int batch = c->batched ? c->d[0] : 1; batch >= 1; batch--) {
            int xd[5];
            memcpy(xd, c->d, sizeof xd);
            if (c->batched) xd[0] = batch;
            size_t n = numel(c->nd, xd);
            float *xv = malloc(n * sizeof *xv), *want = malloc(n * sizeof *want);
            for (size_t i = 0; i < n; i++) xv[i] = (float)i;
            if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, batch));
            else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
            TU_OK(cnn_graph_forward(g));
            size_t outer = numel(ax, xd), inner = numel(c->nd - ax - 1, xd + ax + 1), m = 0;
            for (size_t o = 0; o < outer; o++)
                for (int k = 0; k < cnt; k++)
                    for (size_t i = 0; i < inner; i++)
                        want[m++] = xv[(o * (size_t)xd[ax] + (size_t)idx[k]) * inner + i];
            assert_int_equal(cnn_node_numel(y), m);
            char what[64];
            snprintf(what, sizeof what, "slice case %zu batch %d", t, batch);
            TU_ASSERT_CLOSE(cnn_node_value(y).data, want, m, 1e-30f, 0.0f, what);
            free(xv), free(want);
        }
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++) {
        const scase *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = c->batched ? cnn_input(g, "x", c->nd, c->d)
                                 : cnn_parameter(g, "x", c->nd, c->d, true);
        if (c->batched) cnn_input_requires_grad(x);
        cnn_node *y = cnn_tanh(g, cnn_slice(g, x, c->axis, c->start, c->end, c->step));
        TU_OK(cnn_graph_compile(g, 1));
        size_t n = numel(c->nd, c->d);
        float *xv = malloc(n * sizeof *xv);
        cnn_rng r;
        cnn_rng_seed(&r, 40 + t);
        tu_fill(xv, n, -1, 1, &r);
        cnn_graph_set_training(g, true);
        if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, c->d[0]));
        else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
        /* elements outside the slice must get exactly 0: the check covers them too */
        int bad = tu_gradcheck(g, y, &x, c->batched ? 1 : 0, 1e-3, 2e-3, 200);
        if (bad) fprintf(stderr, "slice gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        free(xv);
        cnn_graph_free(g);
    }
}

static void test_errors_and_describe(void **state)
{
    (void)state;
    static const struct {
        int axis, start, end, step;
        cnn_status s;
        const char *needle;
    } bad[] = {
        {0, 0, 1, 1, CNN_ERR_SHAPE, "slice 'slice0': axis 0 is the batch of (2, 6, 3): it cannot be sliced"},
        {-3, 0, 1, 1, CNN_ERR_SHAPE, "axis -3 is the batch"},
        {3, 0, 1, 1, CNN_ERR_INVALID_ARG, "axis 3 is outside the 3 dimensions of (2, 6, 3)"},
        {-4, 0, 1, 1, CNN_ERR_INVALID_ARG, "axis -4 is outside"},
        {1, 0, 4, 0, CNN_ERR_INVALID_ARG, "step is 0"},
        {1, 4, 2, 1, CNN_ERR_SHAPE, "[4:2:1] selects no element of axis 1 (size 6) of (2, 6, 3)"},
        {1, 2, 4, -1, CNN_ERR_SHAPE, "selects no element"},
        {2, 7, INT_MAX, 1, CNN_ERR_SHAPE, "selects no element"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 6, 3});
        tu_expect_error(g, cnn_slice(g, x, bad[i].axis, bad[i].start, bad[i].end, bad[i].step),
                        bad[i].s, bad[i].needle);
    }
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 6, 3});
    cnn_node *y = cnn_slice(g, x, -2, -1, INT_MIN, -2);
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_int_equal(d.n_attrs, 4);
    const char *keys[4] = {"axis", "start", "end", "step"};
    const int64_t vals[4] = {-2, -1, INT_MIN, -2};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(d.attrs[i].key, keys[i]);
        assert_true(d.attrs[i].i[0] == vals[i]);
    }
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

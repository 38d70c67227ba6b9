/* reduce: mean / sum / max / min over axis sets (one, several, negative, all) with and
   without keepdims, batched and unbatched, against a double reference, at the built
   and a smaller batch; backward by central differences (max/min on tie-free data) and
   the tie rule (equal split, torch.amax); NaN propagation; errors (batch axis,
   repeated or bad axis) naming the node; describe() lists the resolved axes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct rcase {
    int nd, d[5];
    bool batched;
    int naxes, axes[4];
    bool keep;
} rcase;

static const rcase cases[] = {
    {4, {2, 3, 4, 5}, true, 2, {2, 3}, true},   /* global average pool */
    {4, {2, 3, 4, 5}, true, 2, {-1, -2}, false},
    {4, {2, 3, 4, 5}, true, 1, {1}, true},
    {4, {2, 3, 4, 5}, true, 1, {2}, false},
    {4, {2, 3, 4, 5}, true, 0, {0}, false},     /* all but the batch -> (N) */
    {3, {3, 4, 5}, true, 2, {1, 2}, true},
    {3, {3, 4, 5}, false, 0, {0}, false},       /* unbatched, everything -> (1) */
    {3, {3, 4, 5}, false, 2, {0, 2}, true},
    {5, {2, 2, 3, 2, 3}, true, 3, {2, 4, 3}, false},
};
#define NCASES (sizeof cases / sizeof cases[0])

static const cnn_reduce_op ops[] = {CNN_REDUCE_MEAN, CNN_REDUCE_SUM, CNN_REDUCE_MAX, CNN_REDUCE_MIN};

static bool is_reduced(const rcase *c, int i)
{
    if (c->naxes == 0) return !(c->batched && i == 0);
    for (int k = 0; k < c->naxes; k++)
        if ((c->axes[k] < 0 ? c->axes[k] + c->nd : c->axes[k]) == i) return true;
    return false;
}

/* out[e] over the kept positions, in order: brute force over every input element */
static size_t reference(const rcase *c, cnn_reduce_op op, const int *xd, const float *x, float *y)
{
    size_t nx = 1, ny = 1;
    for (int i = 0; i < c->nd; i++) {
        nx *= (size_t)xd[i];
        if (!is_reduced(c, i)) ny *= (size_t)xd[i];
    }
    double *acc = malloc(ny * sizeof *acc);
    size_t *cnt = calloc(ny, sizeof *cnt);
    for (size_t e = 0; e < nx; e++) {
        size_t rem = e, o = 0, so = 1;
        for (int i = c->nd - 1; i >= 0; i--) {
            size_t ci = rem % (size_t)xd[i];
            rem /= (size_t)xd[i];
            if (!is_reduced(c, i)) {
                o += ci * so;
                so *= (size_t)xd[i];
            }
        }
        double v = x[e];
        if (cnt[o] == 0) acc[o] = (op == CNN_REDUCE_MEAN || op == CNN_REDUCE_SUM) ? 0 : v;
        if (op == CNN_REDUCE_MEAN || op == CNN_REDUCE_SUM) acc[o] += v;
        else if (op == CNN_REDUCE_MAX ? v > acc[o] : v < acc[o]) acc[o] = v;
        cnt[o]++;
    }
    for (size_t o = 0; o < ny; o++) y[o] = (float)(op == CNN_REDUCE_MEAN ? acc[o] / (double)cnt[o] : acc[o]);
    free(acc), free(cnt);
    return ny;
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
    for (size_t t = 0; t < NCASES; t++)
        for (int o = 0; o < 4; o++) {
            const rcase *c = &cases[t];
            cnn_graph *g = cnn_graph_new();
            cnn_node *x = c->batched ? cnn_input(g, "x", c->nd, c->d)
                                     : cnn_parameter(g, "x", c->nd, c->d, true);
            cnn_node *y = cnn_reduce(g, x, ops[o], c->naxes, c->axes, c->keep);
            TU_OK(cnn_graph_status(g));
            /* shape: keepdims keeps 1s, otherwise the kept axes only ((1) if none) */
            cnn_tensor v = cnn_node_value(y);
            int m = 0;
            for (int i = 0; i < c->nd; i++)
                if (!is_reduced(c, i)) assert_int_equal(v.dims[m++], c->d[i]);
                else if (c->keep) assert_int_equal(v.dims[m++], 1);
            assert_int_equal(v.ndim, m ? m : 1);
            TU_OK(cnn_graph_compile(g, 1));
            for (int batch = c->batched ? c->d[0] : 1; batch >= 1; batch--) {
                int xd[5];
                memcpy(xd, c->d, sizeof xd);
                if (c->batched) xd[0] = batch;
                size_t n = numel(c->nd, xd);
                float *xv = malloc(n * sizeof *xv), *want = malloc(n * sizeof *want);
                cnn_rng r;
                cnn_rng_seed(&r, t * 10 + (size_t)batch + 100 * (size_t)o);
                tu_fill(xv, n, -1, 1, &r);
                if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, batch));
                else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
                TU_OK(cnn_graph_forward(g));
                size_t ny = reference(c, ops[o], xd, xv, want);
                assert_int_equal(cnn_node_numel(y), ny);
                char what[64];
                snprintf(what, sizeof what, "reduce case %zu op %d batch %d", t, o, batch);
                TU_ASSERT_CLOSE(cnn_node_value(y).data, want, ny, 1e-6f, 1e-6f, what);
                free(xv), free(want);
            }
            cnn_graph_free(g);
        }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++)
        for (int o = 0; o < 4; o++) {
            const rcase *c = &cases[t];
            cnn_graph *g = cnn_graph_new();
            cnn_node *x = c->batched ? cnn_input(g, "x", c->nd, c->d)
                                     : cnn_parameter(g, "x", c->nd, c->d, true);
            if (c->batched) cnn_input_requires_grad(x);
            cnn_node *y = cnn_reduce(g, x, ops[o], c->naxes, c->axes, c->keep);
            TU_OK(cnn_graph_compile(g, 1));
            size_t n = numel(c->nd, c->d);
            float *xv = malloc(n * sizeof *xv);
            /* distinct values 0.01 apart, shuffled: max/min have no ties within eps */
            for (size_t i = 0; i < n; i++) xv[i] = (float)(i % 2 ? i : n + i) * 0.01f - 1.0f;
            cnn_rng r;
            cnn_rng_seed(&r, 90 + t);
            for (size_t i = n - 1; i > 0; i--) {
                size_t j = (size_t)(cnn_rng_uniform(&r) * (float)(i + 1)) % (i + 1);
                float tmp = xv[i];
                xv[i] = xv[j], xv[j] = tmp;
            }
            cnn_graph_set_training(g, true);
            if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, c->d[0]));
            else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
            int bad = tu_gradcheck(g, y, &x, c->batched ? 1 : 0, 1e-3, 2e-3, 200);
            if (bad) fprintf(stderr, "reduce gradcheck case %zu op %d failed\n", t, o);
            assert_int_equal(bad, 0);
            free(xv);
            cnn_graph_free(g);
        }
}

/* ties split the gradient equally (amax); a NaN wins and takes no gradient */
static void test_ties_and_nan(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 4});
    cnn_input_requires_grad(x);
    cnn_node *y = cnn_reduce(g, x, CNN_REDUCE_MAX, 1, (int[]){1}, false);
    TU_OK(cnn_graph_compile(g, 0));
    cnn_graph_set_training(g, true);
    const float xv[8] = {1, 3, 3, 2, 0, NAN, 5, 1};
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    TU_OK(cnn_graph_forward(g));
    assert_true(cnn_node_value(y).data[0] == 3.0f);
    assert_true(isnan(cnn_node_value(y).data[1]));
    TU_OK(cnn_graph_backward_from(g, y, (float[]){1, 1}));
    const float want[8] = {0, 0.5f, 0.5f, 0, 0, 0, 0, 0};
    assert_memory_equal(cnn_node_grad(x).data, want, sizeof want);
    cnn_graph_free(g);
}

static void test_errors_and_describe(void **state)
{
    (void)state;
    static const struct {
        int naxes, axes[3];
        cnn_status s;
        const char *needle;
    } bad[] = {
        {1, {0}, CNN_ERR_SHAPE, "reduce 'reduce0': axis 0 is the batch of (2, 3, 4): it cannot be reduced"},
        {2, {1, -3}, CNN_ERR_SHAPE, "axis -3 is the batch"},
        {1, {3}, CNN_ERR_INVALID_ARG, "axis 3 is outside the 3 dimensions of (2, 3, 4)"},
        {2, {1, -2}, CNN_ERR_INVALID_ARG, "axis -2 is given twice"},
        {4, {1, 2, 0}, CNN_ERR_INVALID_ARG, "4 axes for the 3 dimensions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
        tu_expect_error(g, cnn_reduce(g, x, CNN_REDUCE_SUM, bad[i].naxes, bad[i].axes, true),
                        bad[i].s, bad[i].needle);
    }
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    tu_expect_error(g, cnn_reduce(g, x, (cnn_reduce_op)7, 0, NULL, true), CNN_ERR_INVALID_ARG,
                    "unknown reduce op 7");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 5});
    cnn_node *y = cnn_reduce(g, x, CNN_REDUCE_MAX, 2, (int[]){-1, 2}, false);
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_string_equal(d.attrs[0].key, "op");
    assert_int_equal(d.attrs[0].i[0], CNN_REDUCE_MAX);
    assert_string_equal(d.attrs[1].key, "axes");
    assert_int_equal(d.attrs[1].n, 2);
    assert_int_equal(d.attrs[1].i[0], 2);
    assert_int_equal(d.attrs[1].i[1], 3);
    assert_string_equal(d.attrs[2].key, "keepdims");
    assert_int_equal(d.attrs[2].i[0], 0);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_ties_and_nan),
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* pad: constant / reflect / edge with positive, zero and negative (cropping) pads on
   2- to 5-D tensors, batched and unbatched, against an independent reference (reflect
   by repeated mirroring), at the built and a smaller batch; numpy.pad's documented
   examples; negative pads crop before padding; -INFINITY as the constant; backward by
   central differences (reflect and edge sources take several gradients); errors
   naming the node; describe(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../src/graph/graph_internal.h"

typedef struct pcase {
    int nd, d[5];
    bool batched;
    int pads[10];
    cnn_pad_mode mode;
} pcase;

static const pcase cases[] = {
    {4, {2, 3, 4, 5}, true, {0, 0, 1, 2, 0, 0, 2, 1}, CNN_PAD_CONSTANT},
    {4, {2, 3, 4, 5}, true, {0, 0, 1, 2, 0, 0, 2, 1}, CNN_PAD_REFLECT},
    {4, {2, 3, 4, 5}, true, {0, 0, 1, 2, 0, 0, 2, 1}, CNN_PAD_EDGE},
    {4, {2, 3, 4, 5}, true, {0, 1, -1, 0, 0, 0, 1, -2}, CNN_PAD_CONSTANT},
    {4, {2, 3, 4, 5}, true, {0, 0, -1, 3, 0, 0, 2, -2}, CNN_PAD_REFLECT},
    {4, {2, 3, 4, 5}, true, {0, 2, 0, -1, 0, 1, 0, 4}, CNN_PAD_EDGE},
    {3, {2, 3, 3}, true, {0, 0, 5, 0, 0, 7}, CNN_PAD_REFLECT},  /* longer than the axis */
    {2, {3, 4}, false, {1, 0, 2, 3}, CNN_PAD_CONSTANT},         /* unbatched: axis 0 too */
    {2, {3, 4}, false, {2, -1, 1, 2}, CNN_PAD_REFLECT},
    {5, {2, 2, 3, 2, 3}, true, {0, 0, 1, 1, 1, 0, 1, 0, 0, 2}, CNN_PAD_EDGE},
};
#define NCASES (sizeof cases / sizeof cases[0])

static int src_kept(cnn_pad_mode m, int o, int before, int d)
{
    int s = o - before;
    if (s >= 0 && s < d) return s;
    if (m == CNN_PAD_CONSTANT) return -1;
    if (m == CNN_PAD_EDGE) return s < 0 ? 0 : d - 1;
    while (s < 0 || s >= d) s = s < 0 ? -s : 2 * (d - 1) - s;
    return s;
}

/* crop first (negative pads), then pad what is left (ONNX Runtime's order) */
static int src_of(cnn_pad_mode m, int o, int pb, int pe, int d)
{
    int crop_b = pb < 0 ? -pb : 0, crop = crop_b + (pe < 0 ? -pe : 0);
    int s = src_kept(m, o, pb > 0 ? pb : 0, d - crop);
    return s < 0 ? -1 : s + crop_b;
}

static size_t reference(const pcase *c, const int *xd, const float *x, float v, float *y, int *od)
{
    int r = c->nd;
    size_t total = 1;
    for (int i = 0; i < r; i++) total *= (size_t)(od[i] = xd[i] + c->pads[i] + c->pads[r + i]);
    for (size_t e = 0; y && e < total; e++) {
        size_t rem = e, xi = 0, st = 1;
        bool in = true;
        for (int i = r - 1; i >= 0; i--) {
            int o = (int)(rem % (size_t)od[i]);
            rem /= (size_t)od[i];
            int s = src_of(c->mode, o, c->pads[i], c->pads[r + i], xd[i]);
            if (s < 0) in = false;
            else xi += (size_t)s * st;
            st *= (size_t)xd[i];
        }
        y[e] = in ? x[xi] : v;
    }
    return total;
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
        const pcase *c = &cases[t];
        const float value = c->mode == CNN_PAD_CONSTANT ? 0.75f : 0.0f;
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = c->batched ? cnn_input(g, "x", c->nd, c->d)
                                 : cnn_parameter(g, "x", c->nd, c->d, true);
        cnn_node *y = cnn_pad(g, x, c->pads, c->mode, value);
        TU_OK(cnn_graph_status(g));
        TU_OK(cnn_graph_compile(g, 1));
        for (int batch = c->batched ? c->d[0] : 1; batch >= 1; batch--) {
            int xd[5], od[5];
            memcpy(xd, c->d, sizeof xd);
            if (c->batched) xd[0] = batch;
            size_t n = numel(c->nd, xd), m = reference(c, xd, NULL, 0, NULL, od);
            float *xv = malloc(n * sizeof *xv), *want = malloc(m * sizeof *want);
            cnn_rng r;
            cnn_rng_seed(&r, t * 10 + (size_t)batch);
            tu_fill(xv, n, -1, 1, &r);
            if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, batch));
            else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
            TU_OK(cnn_graph_forward(g));
            reference(c, xd, xv, value, want, od);
            cnn_tensor v = cnn_node_value(y);
            for (int i = 0; i < c->nd; i++) assert_int_equal(v.dims[i], od[i]);
            char what[64];
            snprintf(what, sizeof what, "pad case %zu batch %d", t, batch);
            TU_ASSERT_CLOSE(v.data, want, m, 1e-30f, 0.0f, what);
            free(xv), free(want);
        }
        cnn_graph_free(g);
    }
}

/* numpy.pad's documentation: [1..5] padded (2, 3); cropping first, as ONNX Runtime */
static void test_numpy_examples(void **state)
{
    (void)state;
    static const struct {
        cnn_pad_mode m;
        float v, want[10];
    } ex[] = {
        {CNN_PAD_CONSTANT, 4, {4, 4, 1, 2, 3, 4, 5, 4, 4, 4}},
        {CNN_PAD_EDGE, 0, {1, 1, 1, 2, 3, 4, 5, 5, 5, 5}},
        {CNN_PAD_REFLECT, 0, {3, 2, 1, 2, 3, 4, 5, 4, 3, 2}},
        {CNN_PAD_CONSTANT, -INFINITY, {-INFINITY, -INFINITY, 1, 2, 3, 4, 5, -INFINITY, -INFINITY,
                                       -INFINITY}},
    };
    /* crop then pad: [1..5] with pads (-2, 3): [3 4 5] padded at the end */
    static const struct {
        cnn_pad_mode m;
        float want[6];
    } crop[] = {
        {CNN_PAD_EDGE, {3, 4, 5, 5, 5, 5}},
        {CNN_PAD_REFLECT, {3, 4, 5, 4, 3, 4}},
        {CNN_PAD_CONSTANT, {3, 4, 5, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof crop / sizeof crop[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *k = cnn_constant(g, "k", 1, (int[]){5}, (float[]){1, 2, 3, 4, 5});
        cnn_node *y = cnn_pad(g, k, (int[]){-2, 3}, crop[i].m, 0);
        TU_OK(cnn_graph_compile(g, 0));
        TU_OK(cnn_graph_forward(g));
        assert_int_equal(cnn_node_value(y).dims[0], 6);
        assert_memory_equal(cnn_node_value(y).data, crop[i].want, sizeof crop[i].want);
        cnn_graph_free(g);
    }
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *k = cnn_constant(g, "k", 1, (int[]){5}, (float[]){1, 2, 3, 4, 5});
        cnn_node *y = cnn_pad(g, k, (int[]){2, 3}, ex[i].m, ex[i].v);
        TU_OK(cnn_graph_compile(g, 0));
        TU_OK(cnn_graph_forward(g));
        assert_int_equal(cnn_node_value(y).dims[0], 10);
        assert_memory_equal(cnn_node_value(y).data, ex[i].want, sizeof ex[i].want);
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++) {
        const pcase *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = c->batched ? cnn_input(g, "x", c->nd, c->d)
                                 : cnn_parameter(g, "x", c->nd, c->d, true);
        if (c->batched) cnn_input_requires_grad(x);
        cnn_node *y = cnn_tanh(g, cnn_pad(g, x, c->pads, c->mode, 0.5f));
        TU_OK(cnn_graph_compile(g, 1));
        size_t n = numel(c->nd, c->d);
        float *xv = malloc(n * sizeof *xv);
        cnn_rng r;
        cnn_rng_seed(&r, 60 + t);
        tu_fill(xv, n, -1, 1, &r);
        cnn_graph_set_training(g, true);
        if (c->batched) TU_OK(cnn_graph_set_input(g, x, xv, c->d[0]));
        else TU_OK(cnn_graph_set_initial(g, "x", xv, n));
        int bad = tu_gradcheck(g, y, &x, c->batched ? 1 : 0, 1e-3, 2e-3, 200);
        if (bad) fprintf(stderr, "pad gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        free(xv);
        cnn_graph_free(g);
    }
}

static void test_errors_and_describe(void **state)
{
    (void)state;
    static const struct {
        int pads[6];
        cnn_pad_mode m;
        cnn_status s;
        const char *needle;
    } bad[] = {
        {{1, 0, 0, 0, 0, 0}, CNN_PAD_CONSTANT, CNN_ERR_SHAPE,
         "pad 'pad0': pads 1 and 0 of axis 0 would pad the batch of (2, 3, 1)"},
        {{0, -3, 0, 0, 0, 0}, CNN_PAD_CONSTANT, CNN_ERR_SHAPE,
         "pads -3 and 0 crop all 3 elements of axis 1 of (2, 3, 1)"},
        {{0, 0, 0, 0, 0, 2147483647}, CNN_PAD_CONSTANT, CNN_ERR_SHAPE,
         "pads 0 and 2147483647 make axis 2 2147483648 long"},
        {{0, 0, 1, 0, 0, 0}, CNN_PAD_REFLECT, CNN_ERR_SHAPE,
         "reflect padding needs at least 2 elements on axis 2 of (2, 3, 1)"},
        {{0, -2, 0, 0, 1, 0}, CNN_PAD_REFLECT, CNN_ERR_SHAPE,
         "reflect padding needs at least 2 elements on axis 1 of (2, 3, 1) (after cropping)"},
        {{0, -2, 0, 0, -1, 3}, CNN_PAD_EDGE, CNN_ERR_SHAPE,
         "pads -2 and -1 crop all 3 elements of axis 1 of (2, 3, 1)"},
        {{0, 0, 0, 0, 0, 0}, (cnn_pad_mode)9, CNN_ERR_INVALID_ARG, "unknown pad mode 9"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 1});
        tu_expect_error(g, cnn_pad(g, x, bad[i].pads, bad[i].m, 0), bad[i].s, bad[i].needle);
    }
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 3, (int[]){2, 3, 1});
    tu_expect_error(g, cnn_pad(g, x, NULL, CNN_PAD_CONSTANT, 0), CNN_ERR_INVALID_ARG, "pads is NULL");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 3, (int[]){2, 3, 4});
    cnn_node *y = cnn_pad(g, x, (int[]){0, 1, -1, 0, 2, 3}, CNN_PAD_EDGE, 1.5f);
    TU_OK(cnn_graph_status(g));
    cnn_op_desc d;
    memset(&d, 0, sizeof d);
    y->op->describe(y, &d);
    assert_string_equal(d.attrs[0].key, "pads");
    assert_int_equal(d.attrs[0].n, 6);
    assert_int_equal(d.attrs[0].i[2], -1);
    assert_int_equal(d.attrs[0].i[5], 3);
    assert_string_equal(d.attrs[1].key, "mode");
    assert_int_equal(d.attrs[1].i[0], CNN_PAD_EDGE);
    assert_string_equal(d.attrs[2].key, "value");
    assert_true(d.attrs[2].is_float && d.attrs[2].f[0] == 1.5f);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_numpy_examples),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_errors_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

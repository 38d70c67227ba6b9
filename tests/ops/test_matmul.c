/* matmul: NumPy rules against a double reference: the linear-layer case (N, K) x
   (K, M), stacks batched on either side or both, stacks broadcast over the batch,
   1-D operands on either side, unbatched x unbatched with broadcast stacks, vector .
   vector; at the built and a smaller batch; cost; backward by central differences for
   both operands (shared operands sum over stacks); errors naming the node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct opnd {
    int nd, d[5];
    bool batched;
} opnd;

typedef struct mcase {
    opnd a, b;
    int ond, od[5]; /* result at the maximum batch */
    long macs;      /* per example */
} mcase;

static const mcase cases[] = {
    {{2, {3, 4}, true}, {2, {4, 5}, false}, 2, {3, 5}, 20},
    {{3, {2, 3, 4}, true}, {2, {4, 5}, false}, 3, {2, 3, 5}, 60},
    {{3, {2, 3, 4}, true}, {3, {2, 4, 5}, true}, 3, {2, 3, 5}, 60},
    {{4, {2, 2, 3, 4}, true}, {3, {2, 4, 5}, false}, 4, {2, 2, 3, 5}, 120},
    {{2, {3, 4}, false}, {3, {2, 4, 5}, true}, 3, {2, 3, 5}, 60},
    {{3, {1, 3, 4}, false}, {3, {2, 4, 5}, true}, 3, {2, 3, 5}, 60},
    {{3, {2, 3, 4}, true}, {1, {4}, false}, 2, {2, 3}, 12},
    {{1, {4}, false}, {3, {2, 4, 5}, true}, 2, {2, 5}, 20},
    {{4, {2, 1, 3, 4}, false}, {3, {5, 4, 2}, false}, 4, {2, 5, 3, 2}, 240},
    {{1, {4}, false}, {1, {4}, false}, 1, {1}, 4},
    {{2, {3, 4}, true}, {1, {4}, false}, 1, {3}, 4},
};
#define NCASES (sizeof cases / sizeof cases[0])

static size_t numel_at(const opnd *o, int batch)
{
    size_t s = 1;
    for (int i = 0; i < o->nd; i++) s *= (size_t)((i == 0 && o->batched) ? batch : o->d[i]);
    return s;
}

/* written from NumPy's description: promote 1-D, broadcast the stacks, multiply */
static size_t reference(const mcase *c, int batch, const float *a, const float *b, float *y)
{
    int ad[6], bd[6], ra = c->a.nd, rb = c->b.nd;
    for (int i = 0; i < ra; i++) ad[i] = (i == 0 && c->a.batched) ? batch : c->a.d[i];
    for (int i = 0; i < rb; i++) bd[i] = (i == 0 && c->b.batched) ? batch : c->b.d[i];
    if (ra == 1) ad[1] = ad[0], ad[0] = 1, ra = 2;
    if (rb == 1) bd[1] = 1, rb = 2;
    int M = ad[ra - 2], K = ad[ra - 1], N = bd[rb - 1];
    int ns = (ra > rb ? ra : rb) - 2, st[4], sa[4], sb[4];
    size_t nst = 1;
    for (int i = 0; i < ns; i++) {
        int ia = i - (ns - (ra - 2)), ib = i - (ns - (rb - 2));
        sa[i] = ia >= 0 ? ad[ia] : 1;
        sb[i] = ib >= 0 ? bd[ib] : 1;
        st[i] = sa[i] > sb[i] ? sa[i] : sb[i];
        nst *= (size_t)st[i];
    }
    for (size_t s = 0; s < nst; s++) {
        size_t rem = s, ia = 0, ib = 0, ma = 1, mb = 1;
        for (int i = ns - 1; i >= 0; i--) {
            size_t ci = rem % (size_t)st[i];
            rem /= (size_t)st[i];
            ia += (sa[i] == 1 ? 0 : ci) * ma;
            ib += (sb[i] == 1 ? 0 : ci) * mb;
            ma *= (size_t)sa[i];
            mb *= (size_t)sb[i];
        }
        const float *A = a + ia * (size_t)(M * K), *B = b + ib * (size_t)(K * N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = 0;
                for (int k = 0; k < K; k++) acc += (double)A[i * K + k] * B[k * N + j];
                y[(s * (size_t)M + (size_t)i) * (size_t)N + (size_t)j] = (float)acc;
            }
    }
    return nst * (size_t)M * (size_t)N;
}

static cnn_node *make(cnn_graph *g, const char *name, const opnd *o)
{
    if (o->batched) {
        cnn_node *x = cnn_input(g, name, o->nd, o->d);
        cnn_input_requires_grad(x);
        return x;
    }
    return cnn_parameter(g, name, o->nd, o->d, true);
}

static void set(cnn_graph *g, cnn_node *x, const opnd *o, const float *v, int batch)
{
    if (o->batched) TU_OK(cnn_graph_set_input(g, x, v, batch));
    else TU_OK(cnn_graph_set_initial(g, cnn_node_name(x), v, numel_at(o, batch)));
}

static int max_batch(const mcase *c)
{
    return c->a.batched ? c->a.d[0] : (c->b.batched ? c->b.d[0] : 1);
}

static void test_forward(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++) {
        const mcase *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *a = make(g, "a", &c->a), *b = make(g, "b", &c->b);
        cnn_node *y = cnn_matmul(g, a, b);
        TU_OK(cnn_graph_status(g));
        cnn_tensor v = cnn_node_value(y);
        assert_int_equal(v.ndim, c->ond);
        for (int i = 0; i < c->ond; i++) assert_int_equal(v.dims[i], c->od[i]);
        assert_int_equal(cnn_node_cost(y).macs, c->macs);
        TU_OK(cnn_graph_compile(g, 1));
        for (int batch = max_batch(c); batch >= 1; batch--) {
            size_t na = numel_at(&c->a, batch), nb = numel_at(&c->b, batch);
            float *av = malloc(na * sizeof *av), *bv = malloc(nb * sizeof *bv);
            float *want = malloc(4096 * sizeof *want);
            cnn_rng r;
            cnn_rng_seed(&r, t * 10 + (size_t)batch);
            tu_fill(av, na, -1, 1, &r);
            tu_fill(bv, nb, -1, 1, &r);
            set(g, a, &c->a, av, batch);
            set(g, b, &c->b, bv, batch);
            TU_OK(cnn_graph_forward(g));
            size_t ny = reference(c, batch, av, bv, want);
            cnn_tensor yv = cnn_node_value(y);
            assert_int_equal(cnn_tensor_numel(&yv), ny);
            char what[64];
            snprintf(what, sizeof what, "matmul case %zu batch %d", t, batch);
            TU_ASSERT_CLOSE(cnn_node_value(y).data, want, ny, 1e-5f, 1e-5f, what);
            free(av), free(bv), free(want);
        }
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++) {
        const mcase *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *a = make(g, "a", &c->a), *b = make(g, "b", &c->b);
        cnn_node *y = cnn_matmul(g, a, b);
        TU_OK(cnn_graph_compile(g, 1));
        int batch = max_batch(c);
        size_t na = numel_at(&c->a, batch), nb = numel_at(&c->b, batch);
        float *av = malloc(na * sizeof *av), *bv = malloc(nb * sizeof *bv);
        cnn_rng r;
        cnn_rng_seed(&r, 300 + t);
        tu_fill(av, na, -1, 1, &r);
        tu_fill(bv, nb, -1, 1, &r);
        cnn_graph_set_training(g, true);
        set(g, a, &c->a, av, batch);
        set(g, b, &c->b, bv, batch);
        cnn_node *ins[2];
        int nin = 0;
        if (c->a.batched) ins[nin++] = a;
        if (c->b.batched) ins[nin++] = b;
        /* bilinear: central differences are exact up to rounding */
        int bad = tu_gradcheck(g, y, ins, nin, 1e-2, 2e-3, 100);
        if (bad) fprintf(stderr, "matmul gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        free(av), free(bv);
        cnn_graph_free(g);
    }
}

/* large enough for the parallel paths: 1 and 2 threads give the same bits, forward
   and both gradients (one operand shared over the stacks) */
static void test_threads_same_bits(void **state)
{
    (void)state;
    float *res[2][3];
    size_t sz[3];
    for (int th = 0; th < 2; th++) {
        cnn_set_threads(th + 1);
        cnn_graph *g = cnn_graph_new();
        cnn_node *a = cnn_input(g, "a", 3, (int[]){4, 32, 96});
        cnn_input_requires_grad(a);
        cnn_node *b = cnn_parameter(g, "b", 2, (int[]){96, 80}, true);
        cnn_node *y = cnn_matmul(g, a, b);
        TU_OK(cnn_graph_compile(g, 3));
        cnn_graph_set_training(g, true);
        size_t na = 4 * 32 * 96, nb = 96 * 80, ny = 4 * 32 * 80;
        float *av = malloc(na * sizeof *av), *bv = malloc(nb * sizeof *bv);
        float *dy = malloc(ny * sizeof *dy);
        cnn_rng r;
        cnn_rng_seed(&r, 77);
        tu_fill(av, na, -1, 1, &r);
        tu_fill(bv, nb, -1, 1, &r);
        tu_fill(dy, ny, -1, 1, &r);
        TU_OK(cnn_graph_set_initial(g, "b", bv, nb));
        TU_OK(cnn_graph_set_input(g, a, av, 4));
        TU_OK(cnn_graph_forward(g));
        TU_OK(cnn_graph_backward_from(g, y, dy));
        const float *src[3] = {cnn_node_value(y).data, cnn_node_grad(a).data,
                               cnn_graph_find_param(g, "b")->grad.data};
        sz[0] = ny, sz[1] = na, sz[2] = nb;
        for (int k = 0; k < 3; k++) {
            res[th][k] = malloc(sz[k] * sizeof(float));
            memcpy(res[th][k], src[k], sz[k] * sizeof(float));
        }
        free(av), free(bv), free(dy);
        cnn_graph_free(g);
    }
    cnn_set_threads(0);
    for (int k = 0; k < 3; k++) {
        assert_memory_equal(res[0][k], res[1][k], sz[k] * sizeof(float));
        free(res[0][k]), free(res[1][k]);
    }
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        opnd a, b;
        const char *needle;
    } bad[] = {
        {{2, {3, 4}, true}, {2, {5, 6}, false}, "matmul 'matmul0': (3, 4) x (5, 6): inner dimensions 4 and 5 differ"},
        {{3, {2, 3, 4}, true}, {3, {3, 4, 5}, false}, "(2, 3, 4) x (3, 4, 5): stack dimension 0 does not broadcast"},
        {{1, {3}, true}, {2, {3, 5}, false}, "would move the batch of the first operand"},
        {{2, {3, 4}, true}, {3, {2, 4, 5}, false}, "would move the batch of the first operand"},
        {{2, {4, 3}, false}, {2, {3, 5}, true}, "would contract over the batch of the second operand"},
        {{3, {2, 3, 4}, false}, {3, {2, 4, 5}, true}, "the unbatched operand (2, 3, 4) must have 1 in dimension 0"},
        {{2, {3, 4}, false}, {4, {3, 2, 4, 5}, true}, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *a = make(g, "a", &bad[i].a), *b = make(g, "b", &bad[i].b);
        cnn_node *y = cnn_matmul(g, a, b);
        if (!bad[i].needle) { /* a stack of rank 2 under a batched rank-4 operand: fine */
            TU_OK(cnn_graph_status(g));
            assert_int_equal(cnn_node_value(y).dims[0], 3);
            cnn_graph_free(g);
            continue;
        }
        tu_expect_error(g, y, CNN_ERR_SHAPE, bad[i].needle);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

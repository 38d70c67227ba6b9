/* matmul beyond the operator harness (test_backend_ops.c: NumPy rules against
   double, batched / unbatched / 1-D operands, gradients, every backend against ref):
   the same bits at 1 and 2 threads; errors naming the node. */
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

#define NCASES (sizeof cases / sizeof cases[0])

static cnn_node *make(cnn_graph *g, const char *name, const opnd *o)
{
    if (o->batched) {
        cnn_node *x = cnn_input(g, name, o->nd, o->d);
        cnn_input_requires_grad(x);
        return x;
    }
    return cnn_parameter(g, name, o->nd, o->d, true);
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
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

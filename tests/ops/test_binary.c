/* binary: every op against a double-precision NumPy-broadcasting reference over a sweep
   of shape pairs (same shape, scalar, (C,1,1) and (1,C,1,1) against a batched
   tensor, batched on either side, both unbatched, both batched with broadcasting),
   at the built and a smaller batch, on the backend in use; gradients of both operands
   (batched inputs and unbatched parameters, summed over broadcast dimensions) by
   central differences; max/min tie splitting; x op x; error cases naming the node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct opnd {
    int nd, d[6];
    bool batched;
} opnd;

typedef struct bcase {
    opnd a, b;
} bcase;

static const bcase cases[] = {
    {{3, {3, 4, 5}, true}, {3, {3, 4, 5}, true}},
    {{4, {2, 3, 4, 5}, true}, {3, {3, 1, 1}, false}},
    {{4, {2, 3, 4, 5}, true}, {4, {1, 3, 1, 1}, false}},
    {{4, {2, 3, 4, 5}, true}, {1, {1}, false}},
    {{1, {5}, false}, {4, {2, 3, 4, 5}, true}},
    {{3, {3, 1, 5}, false}, {2, {4, 1}, false}},
    {{4, {2, 3, 1, 5}, true}, {2, {4, 1}, false}},
    {{3, {2, 1, 4}, true}, {3, {2, 3, 1}, true}},
    {{2, {3, 7}, true}, {2, {1, 7}, false}},
};
#define NCASES (sizeof cases / sizeof cases[0])

static const cnn_binary_op ops[] = {CNN_BIN_ADD, CNN_BIN_SUB, CNN_BIN_MUL, CNN_BIN_DIV,
                                    CNN_BIN_MAX, CNN_BIN_MIN, CNN_BIN_POW};
#define NOPS (sizeof ops / sizeof ops[0])

static double ref_op(cnn_binary_op op, double x, double y)
{
    switch (op) {
    case CNN_BIN_ADD: return x + y;
    case CNN_BIN_SUB: return x - y;
    case CNN_BIN_MUL: return x * y;
    case CNN_BIN_DIV: return x / y;
    case CNN_BIN_MAX: return x > y ? x : y;
    case CNN_BIN_MIN: return x < y ? x : y;
    case CNN_BIN_POW: return pow(x, y);
    }
    return 0;
}

static size_t numel(const opnd *o, int batch)
{
    size_t s = 1;
    for (int i = 0; i < o->nd; i++) s *= (size_t)((i == 0 && o->batched) ? batch : o->d[i]);
    return s;
}

/* NumPy broadcasting, written out: out dims, then every output index mapped back */
static size_t ref_broadcast(const bcase *c, int batch, cnn_binary_op op, const float *a,
                            const float *b, float *y, int *od, int *ord)
{
    const opnd *ab[2] = {&c->a, &c->b};
    int r = c->a.nd > c->b.nd ? c->a.nd : c->b.nd;
    int dd[2][6];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < r; i++) {
            int lead = r - ab[k]->nd, j = i - lead;
            dd[k][i] = j < 0 ? 1 : ((j == 0 && ab[k]->batched) ? batch : ab[k]->d[j]);
        }
    size_t total = 1;
    for (int i = 0; i < r; i++) {
        od[i] = dd[0][i] > dd[1][i] ? dd[0][i] : dd[1][i];
        total *= (size_t)od[i];
    }
    *ord = r;
    for (size_t e = 0; e < total; e++) {
        size_t rem = e, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int i = r - 1; i >= 0; i--) {
            size_t c_i = rem % (size_t)od[i];
            rem /= (size_t)od[i];
            ia += (dd[0][i] == 1 ? 0 : c_i) * sa;
            ib += (dd[1][i] == 1 ? 0 : c_i) * sb;
            sa *= (size_t)dd[0][i];
            sb *= (size_t)dd[1][i];
        }
        if (y) y[e] = (float)ref_op(op, a[ia], b[ib]);
    }
    return total;
}

/* batched operands are inputs, unbatched ones parameters (so gradcheck probes both) */
static cnn_node *make_operand(cnn_graph *g, const char *name, const opnd *o)
{
    if (o->batched) {
        cnn_node *x = cnn_input(g, name, o->nd, o->d);
        cnn_input_requires_grad(x);
        return x;
    }
    return cnn_parameter(g, name, o->nd, o->d, true);
}

static void fill_for(cnn_binary_op op, int k, float *x, size_t n, cnn_rng *r)
{
    if (op == CNN_BIN_POW && k == 0) tu_fill(x, n, 0.5f, 2.0f, r);      /* positive base */
    else if (op == CNN_BIN_DIV && k == 1) tu_fill(x, n, 0.5f, 2.0f, r); /* away from 0 */
    else tu_fill(x, n, -1.5f, 1.5f, r);
    if (op == CNN_BIN_MAX || op == CNN_BIN_MIN) /* a on a 0.1 grid, b halfway: no ties */
        for (size_t i = 0; i < n; i++) x[i] = floorf(x[i] * 10.0f) / 10.0f + (k ? 0.05f : 0.0f);
}

static void set_operand(cnn_graph *g, cnn_node *x, const opnd *o, const float *v, int batch)
{
    if (o->batched) TU_OK(cnn_graph_set_input(g, x, v, batch));
    else TU_OK(cnn_graph_set_initial(g, cnn_node_name(x), v, numel(o, batch)));
}

static void test_forward_matches_reference(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++)
        for (size_t o = 0; o < NOPS; o++) {
            const bcase *c = &cases[t];
            cnn_graph *g = cnn_graph_new();
            cnn_node *a = make_operand(g, "a", &c->a), *b = make_operand(g, "b", &c->b);
            cnn_node *y = cnn_binary(g, a, b, ops[o]);
            TU_OK(cnn_graph_status(g));
            assert_int_equal(cnn_node_cost(y).macs, 0);
            TU_OK(cnn_graph_compile(g, 1));
            int maxb = c->a.batched ? c->a.d[0] : (c->b.batched ? c->b.d[0] : 1);
            for (int batch = maxb; batch >= 1; batch--) {
                size_t na = numel(&c->a, batch), nb = numel(&c->b, batch);
                float *av = malloc(na * sizeof *av), *bv = malloc(nb * sizeof *bv);
                cnn_rng r;
                cnn_rng_seed(&r, t * 100 + o * 10 + (size_t)batch);
                fill_for(ops[o], 0, av, na, &r);
                fill_for(ops[o], 1, bv, nb, &r);
                set_operand(g, a, &c->a, av, batch);
                set_operand(g, b, &c->b, bv, batch);
                TU_OK(cnn_graph_forward(g));
                int od[6], r_;
                size_t ny = ref_broadcast(c, batch, ops[o], av, bv, NULL, od, &r_);
                float *want = malloc(ny * sizeof *want);
                ref_broadcast(c, batch, ops[o], av, bv, want, od, &r_);
                cnn_tensor v = cnn_node_value(y);
                assert_int_equal(v.ndim, r_);
                for (int i = 0; i < r_; i++) assert_int_equal(v.dims[i], od[i]);
                char what[96];
                snprintf(what, sizeof what, "binary case %zu op %d batch %d", t, (int)ops[o], batch);
                TU_ASSERT_CLOSE(v.data, want, ny, 1e-6f, 1e-6f, what);
                free(av), free(bv), free(want);
            }
            cnn_graph_free(g);
        }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < NCASES; t++)
        for (size_t o = 0; o < NOPS; o++) {
            const bcase *c = &cases[t];
            cnn_graph *g = cnn_graph_new();
            cnn_node *a = make_operand(g, "a", &c->a), *b = make_operand(g, "b", &c->b);
            cnn_node *y = cnn_binary(g, a, b, ops[o]);
            TU_OK(cnn_graph_compile(g, 1));
            int batch = c->a.batched ? c->a.d[0] : (c->b.batched ? c->b.d[0] : 1);
            size_t na = numel(&c->a, batch), nb = numel(&c->b, batch);
            float *av = malloc(na * sizeof *av), *bv = malloc(nb * sizeof *bv);
            cnn_rng r;
            cnn_rng_seed(&r, 500 + t * 10 + o);
            fill_for(ops[o], 0, av, na, &r);
            fill_for(ops[o], 1, bv, nb, &r);
            cnn_graph_set_training(g, true);
            set_operand(g, a, &c->a, av, batch);
            set_operand(g, b, &c->b, bv, batch);
            cnn_node *ins[2];
            int nin = 0;
            if (c->a.batched) ins[nin++] = a;
            if (c->b.batched) ins[nin++] = b;
            /* max/min: operands >= 0.05 apart (fill_for), far from the kink at eps 1e-3 */
            int bad = tu_gradcheck(g, y, ins, nin, 1e-3, 5e-3, 60);
            if (bad) fprintf(stderr, "binary gradcheck case %zu op %d failed\n", t, (int)ops[o]);
            assert_int_equal(bad, 0);
            free(av), free(bv);
            cnn_graph_free(g);
        }
}

/* x op x: both gradients land in one tensor; max/min ties split (x max x = x: 1) */
static void test_same_operand_and_ties(void **state)
{
    (void)state;
    for (size_t o = 0; o < NOPS; o++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 2, (int[]){2, 3});
        cnn_input_requires_grad(x);
        cnn_node *y = cnn_binary(g, x, x, ops[o]);
        TU_OK(cnn_graph_compile(g, 0));
        cnn_graph_set_training(g, true);
        const float xv[6] = {0.5f, 1.0f, 1.5f, 2.0f, 0.75f, 1.25f};
        TU_OK(cnn_graph_set_input(g, x, xv, 2));
        TU_OK(cnn_graph_forward(g));
        const float ones[6] = {1, 1, 1, 1, 1, 1};
        TU_OK(cnn_graph_backward_from(g, y, ones));
        cnn_tensor gx = cnn_node_grad(x);
        for (int i = 0; i < 6; i++) {
            double v = xv[i], want = 0;
            switch (ops[o]) {
            case CNN_BIN_ADD: want = 2; break;
            case CNN_BIN_SUB: want = 0; break;
            case CNN_BIN_MUL: want = 2 * v; break;
            case CNN_BIN_DIV: want = 0; break;
            case CNN_BIN_MAX:
            case CNN_BIN_MIN: want = 1; break; /* half to each side */
            case CNN_BIN_POW: want = pow(v, v) * (1 + log(v)); break;
            }
            if (fabs(gx.data[i] - want) > 1e-5 * (1 + fabs(want)))
                fail_msg("op %d x=%g: grad %g, want %g", (int)ops[o], v, gx.data[i], want);
        }
        cnn_graph_free(g);
    }
}

/* pow with a negative base follows powf (NaN for a fractional exponent, a sign for
   odd integers); d/d exponent at base 0 is 0 */
static void test_pow_edges(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *a = cnn_input(g, "a", 2, (int[]){1, 4});
    cnn_node *b = cnn_parameter(g, "b", 2, (int[]){1, 4}, true);
    cnn_input_requires_grad(a);
    cnn_node *y = cnn_binary(g, a, b, CNN_BIN_POW);
    TU_OK(cnn_graph_compile(g, 0));
    TU_OK(cnn_graph_set_initial(g, "b", (float[]){3, 0.5f, 2, 2}, 4));
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, a, (float[]){-2, -2, 0, 3}, 1));
    TU_OK(cnn_graph_forward(g));
    cnn_tensor v = cnn_node_value(y);
    assert_true(v.data[0] == powf(-2.0f, 3.0f));
    assert_true(isnan(v.data[1]));
    assert_true(v.data[2] == 0.0f && v.data[3] == 9.0f);
    TU_OK(cnn_graph_backward_from(g, y, (float[]){1, 1, 1, 1}));
    cnn_tensor gb = cnn_graph_find_param(g, "b")->grad;
    assert_true(gb.data[2] == 0.0f); /* base 0, exponent >= 0 */
    assert_true(fabsf(gb.data[3] - 9.0f * logf(3.0f)) < 1e-5f);
    cnn_graph_free(g);
}

/* large enough for the parallel paths: 1 and 2 threads give the same bits, forward
   and both gradients (the (1, C, 1, 1) one accumulated over the broadcast) */
static void test_threads_same_bits(void **state)
{
    (void)state;
    const size_t nx = 4 * 32 * 24 * 24, nc = 32;
    float *res[2][3];
    for (int th = 0; th < 2; th++) {
        cnn_set_threads(th + 1);
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 4, (int[]){4, 32, 24, 24});
        cnn_input_requires_grad(x);
        cnn_node *c = cnn_parameter(g, "c", 4, (int[]){1, 32, 1, 1}, true);
        cnn_node *y = cnn_binary(g, x, c, CNN_BIN_DIV);
        TU_OK(cnn_graph_compile(g, 3));
        cnn_graph_set_training(g, true);
        float *xv = malloc(nx * sizeof *xv), *dy = malloc(nx * sizeof *dy), cv[32];
        cnn_rng r;
        cnn_rng_seed(&r, 78);
        tu_fill(xv, nx, -1, 1, &r);
        tu_fill(dy, nx, -1, 1, &r);
        tu_fill(cv, nc, 0.5f, 2, &r);
        TU_OK(cnn_graph_set_initial(g, "c", cv, nc));
        TU_OK(cnn_graph_set_input(g, x, xv, 4));
        TU_OK(cnn_graph_forward(g));
        TU_OK(cnn_graph_backward_from(g, y, dy));
        const float *src[3] = {cnn_node_value(y).data, cnn_node_grad(x).data,
                               cnn_graph_find_param(g, "c")->grad.data};
        const size_t sz[3] = {nx, nx, nc};
        for (int k = 0; k < 3; k++) {
            res[th][k] = malloc(sz[k] * sizeof(float));
            memcpy(res[th][k], src[k], sz[k] * sizeof(float));
        }
        free(xv), free(dy);
        cnn_graph_free(g);
    }
    cnn_set_threads(0);
    const size_t sz[3] = {nx, nx, nc};
    for (int k = 0; k < 3; k++) {
        assert_memory_equal(res[0][k], res[1][k], sz[k] * sizeof(float));
        free(res[0][k]), free(res[1][k]);
    }
}

static void test_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 5});
    cnn_node *k = cnn_constant(g, "k", 1, (int[]){4}, (float[]){1, 2, 3, 4});
    tu_expect_error(g, cnn_binary(g, x, k, CNN_BIN_ADD), CNN_ERR_SHAPE,
                    "binary 'add0': shapes (2, 3, 4, 5) and (4) do not broadcast");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 3});
    k = cnn_constant(g, "k", 3, (int[]){1, 1, 3}, (float[]){1, 2, 3});
    cnn_scope_push(g, "blk");
    tu_expect_error(g, cnn_binary(g, x, k, CNN_BIN_MUL), CNN_ERR_SHAPE,
                    "binary 'blk.mul0': the batched operand (2, 3) must have the result's rank 3");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 3});
    k = cnn_constant(g, "k", 2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    tu_expect_error(g, cnn_binary(g, k, x, CNN_BIN_SUB), CNN_ERR_SHAPE,
                    "the unbatched operand (2, 3) must have 1 in dimension 0");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 3});
    tu_expect_error(g, cnn_binary(g, x, x, (cnn_binary_op)42), CNN_ERR_INVALID_ARG,
                    "unknown binary op 42");
    g = cnn_graph_new();
    x = cnn_input(g, "x", 2, (int[]){2, 3});
    tu_expect_error(g, cnn_binary(g, x, NULL, CNN_BIN_ADD), CNN_ERR_INVALID_ARG, "input 1 is NULL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_same_operand_and_ties),
        cmocka_unit_test(test_pow_edges),
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

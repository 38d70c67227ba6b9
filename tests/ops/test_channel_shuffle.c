/* channel_shuffle: forward against the literal view (N, g, C/g, H, W) -> transpose ->
   flatten index map for groups 1..C, 4-D and 5-D, built and smaller batch; known
   permutations for C = 6; shuffle(g) then shuffle(C/g) is the identity; backward by
   central differences; invalid groups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct cfg {
    int nd, d[5], groups;
} cfg;

static const cfg cases[] = {
    {4, {2, 12, 3, 2}, 1}, {4, {2, 12, 3, 2}, 2}, {4, {2, 12, 3, 2}, 3},
    {4, {2, 12, 3, 2}, 4}, {4, {2, 12, 3, 2}, 12}, {5, {2, 6, 2, 2, 3}, 3},
    {4, {3, 8, 1, 1}, 2},
};

static size_t plane(const cfg *c)
{
    size_t s = 1;
    for (int i = 2; i < c->nd; i++) s *= (size_t)c->d[i];
    return s;
}

/* x viewed as (N, g, c, S); y = x.transpose(1, 2) as (N, c, g, S), contiguous. */
static void naive(const cfg *c, int batch, const float *x, float *y)
{
    int G = c->groups, cg = c->d[1] / G;
    size_t S = plane(c);
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < cg; i++)         /* y's dim 1 */
            for (int k = 0; k < G; k++)      /* y's dim 2 */
                for (size_t s = 0; s < S; s++) {
                    size_t yi = (((size_t)b * cg + i) * G + k) * S + s;
                    size_t xi = (((size_t)b * G + k) * cg + i) * S + s;
                    y[yi] = x[xi];
                }
}

static void test_forward_matches_naive(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const cfg *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in = cnn_input(g, "x", c->nd, c->d);
        cnn_node *y = cnn_channel_shuffle(g, in, c->groups);
        TU_OK(cnn_graph_status(g));
        assert_int_equal(cnn_node_cost(y).macs, 0);
        TU_OK(cnn_graph_compile(g, 1));
        for (int batch = c->d[0]; batch >= 1; batch--) {
            size_t n = (size_t)batch * c->d[1] * plane(c);
            float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want);
            cnn_rng r;
            cnn_rng_seed(&r, t * 10 + (size_t)batch);
            tu_fill(x, n, -1, 1, &r);
            TU_OK(cnn_graph_set_input(g, in, x, batch));
            TU_OK(cnn_graph_forward(g));
            naive(c, batch, x, want);
            cnn_tensor v = cnn_node_value(y);
            assert_int_equal(cnn_tensor_numel(&v), n);
            char what[64];
            snprintf(what, sizeof what, "shuffle case %zu batch %d", t, batch);
            TU_ASSERT_CLOSE(v.data, want, n, 1e-30f, 0.0f, what); /* a permutation: exact */
            free(x);
            free(want);
        }
        cnn_graph_free(g);
    }
}

/* torch: x = arange(6).view(1, 6, 1, 1); channel_shuffle(x, 2) -> 0 3 1 4 2 5,
   channel_shuffle(x, 3) -> 0 2 4 1 3 5. Then shuffle(g) o shuffle(C/g) = identity. */
static void test_known_permutations(void **state)
{
    (void)state;
    static const float want2[6] = {0, 3, 1, 4, 2, 5}, want3[6] = {0, 2, 4, 1, 3, 5};
    const float x[6] = {0, 1, 2, 3, 4, 5};
    for (int gsel = 2; gsel <= 3; gsel++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *in = cnn_input(g, "x", 4, (int[]){1, 6, 1, 1});
        cnn_node *y = cnn_channel_shuffle(g, in, gsel);
        cnn_node *back = cnn_channel_shuffle(g, y, 6 / gsel);
        cnn_graph_mark_output(g, y);
        cnn_graph_mark_output(g, back);
        tu_forward(g, in, x, 1);
        TU_ASSERT_CLOSE(cnn_node_value(y).data, gsel == 2 ? want2 : want3, 6, 1e-30f, 0.0f,
                        "shuffle of arange(6)");
        TU_ASSERT_CLOSE(cnn_node_value(back).data, x, 6, 1e-30f, 0.0f, "shuffle inverse");
        cnn_graph_free(g);
    }
}

static void test_backward_gradcheck(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const cfg *c = &cases[t];
        cnn_graph *g = cnn_graph_new();
        cnn_node *in = cnn_input(g, "x", c->nd, c->d);
        cnn_input_requires_grad(in);
        cnn_node *y = cnn_channel_shuffle(g, in, c->groups);
        TU_OK(cnn_graph_compile(g, 1));
        cnn_graph_set_training(g, true);
        size_t n = (size_t)c->d[0] * c->d[1] * plane(c);
        float *x = malloc(n * sizeof *x);
        cnn_rng r;
        cnn_rng_seed(&r, 60 + t);
        tu_fill(x, n, -1, 1, &r);
        TU_OK(cnn_graph_set_input(g, in, x, c->d[0]));
        /* a permutation is linear: exact up to float rounding (~1e-5) */
        int bad = tu_gradcheck(g, y, &in, 1, 1e-2, 1e-3, 200);
        if (bad) fprintf(stderr, "shuffle gradcheck case %zu failed\n", t);
        assert_int_equal(bad, 0);
        free(x);
        cnn_graph_free(g);
    }
}

static void test_invalid_groups(void **state)
{
    (void)state;
    static const struct {
        int groups;
        const char *needle;
    } bad[] = {
        {5, "channel_shuffle 'stage2.0.channel_shuffle0': groups 5 does not divide 12 channels "
            "of (2, 12, 4, 4)"},
        {0, "groups 0 must be >= 1"},
        {-3, "groups -3 must be >= 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 12, 4, 4});
        cnn_scope_push(g, "stage2");
        cnn_scope_push(g, "0");
        assert_null(cnn_channel_shuffle(g, x, bad[i].groups));
        assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
        if (!strstr(cnn_graph_error(g), bad[i].needle))
            fail_msg("error '%s' does not mention '%s'", cnn_graph_error(g), bad[i].needle);
        cnn_graph_free(g);
    }
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_labels(g, "y", 4);
    assert_null(cnn_channel_shuffle(g, x, 1));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_graph_error(g), "got (4)"));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_known_permutations),
        cmocka_unit_test(test_backward_gradcheck),
        cmocka_unit_test(test_invalid_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

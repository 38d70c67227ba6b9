/* cross_entropy: the mean loss against a naive log-softmax in double (label
   smoothing 0 and 0.1, large logits, a smaller batch than built), d loss / d logits
   from cnn_graph_backward against (softmax - q) / N, a label out of range at forward,
   shape and option errors at build; 1000 classes (the ImageNet head) against the same
   reference. Finite differences: the operator harness (test_backend_ops.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* torch.nn.CrossEntropyLoss(label_smoothing=eps), reduction mean, in double. */
static double naive_ce(int n, int K, const float *z, const float *lab, double eps, double *dz)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * K;
        double m = zi[0], s = 0.0;
        for (int k = 1; k < K; k++) m = fmax(m, zi[k]);
        for (int k = 0; k < K; k++) s += exp(zi[k] - m);
        double lse = m + log(s);
        int y = (int)lab[i];
        double li = 0.0;
        for (int k = 0; k < K; k++) {
            double logp = zi[k] - lse;
            double q = eps / K + (k == y ? 1.0 - eps : 0.0);
            li -= q * logp;
            if (dz) dz[(size_t)i * K + k] = (exp(logp) - q) / n;
        }
        total += li;
    }
    return total / n;
}

typedef struct cfg {
    int n, K;
    float smoothing;
    float scale; /* logits in [-scale, scale] */
} cfg;

static const cfg cases[] = {
    {4, 10, 0.0f, 3.0f},
    {4, 10, 0.1f, 3.0f},
    {3, 2, 0.1f, 1.0f},
    {2, 7, 0.0f, 60.0f}, /* large logits: exp overflows float without the max */
    {5, 3, 0.25f, 5.0f},
};

static cnn_graph *build(const cfg *c, cnn_node **z, cnn_node **lab, cnn_node **loss)
{
    cnn_graph *g = cnn_graph_new();
    *z = cnn_input(g, "logits", 2, (int[]){c->n, c->K});
    cnn_input_requires_grad(*z);
    *lab = cnn_labels(g, "labels", c->n);
    *loss = cnn_cross_entropy(g, *z, *lab, .label_smoothing = c->smoothing);
    TU_OK(cnn_graph_status(g));
    return g;
}

static void make_data(const cfg *c, uint64_t seed, float *z, float *lab)
{
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    tu_fill(z, (size_t)c->n * c->K, -c->scale, c->scale, &r);
    for (int i = 0; i < c->n; i++) lab[i] = (float)cnn_rng_below(&r, (uint32_t)c->K);
}

static void test_loss_and_grad_match_naive(void **state)
{
    (void)state;
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        const cfg *c = &cases[k];
        cnn_node *z, *lab, *loss;
        cnn_graph *g = build(c, &z, &lab, &loss);
        float zd[64], ld[8];
        double dz[64];
        make_data(c, (uint64_t)k, zd, ld);
        assert_string_equal(cnn_node_name(loss), "loss");
        assert_int_equal(cnn_node_value(loss).ndim, 1);
        assert_int_equal(cnn_node_value(loss).dims[0], 1);
        for (int batch = c->n; batch >= 1; batch = batch > 1 ? batch / 2 : 0) {
            cnn_graph_set_training(g, true);
            TU_OK(cnn_graph_compile(g, 1));
            TU_OK(cnn_graph_set_input(g, z, zd, batch));
            TU_OK(cnn_graph_set_input(g, lab, ld, batch));
            TU_OK(cnn_graph_forward(g));
            double want = naive_ce(batch, c->K, zd, ld, c->smoothing, dz);
            float got = cnn_node_value(loss).data[0];
            /* double accumulation inside, one float rounding of the result */
            if (fabs(got - want) > 1e-6 * (1.0 + fabs(want)))
                fail_msg("case %d batch %d: loss %.8g, want %.8g", k, batch, (double)got, want);
            TU_OK(cnn_graph_backward(g, loss));
            const float *g_z = cnn_node_grad(z).data;
            for (int i = 0; i < batch * c->K; i++)
                if (fabs(g_z[i] - dz[i]) > 1e-6)
                    fail_msg("case %d batch %d: dlogits[%d] %.8g, want %.8g", k, batch, i,
                             (double)g_z[i], dz[i]);
            /* eval mode gives the same loss */
            cnn_graph_set_training(g, false);
            TU_OK(cnn_graph_set_input(g, z, zd, batch));
            TU_OK(cnn_graph_set_input(g, lab, ld, batch));
            TU_OK(cnn_graph_forward(g));
            assert_float_equal(cnn_node_value(loss).data[0], got, 0.0);
        }
        cnn_graph_free(g);
    }
}

static void test_label_out_of_range(void **state)
{
    (void)state;
    cfg c = {3, 5, 0.0f, 1.0f};
    cnn_node *z, *lab, *loss;
    cnn_graph *g = build(&c, &z, &lab, &loss);
    float zd[15] = {0}, bad_labels[3][3] = {{0, 5, 1}, {-1, 0, 0}, {0, 1, 2.5f}};
    const char *needle[3] = {"label 5 of example 1 is not a class in 0..4", "label -1",
                             "label 2.5 of example 2"};
    for (int t = 0; t < 3; t++) {
        TU_OK(cnn_graph_set_input(g, z, zd, 3));
        TU_OK(cnn_graph_set_input(g, lab, bad_labels[t], 3));
        assert_int_equal(cnn_graph_forward(g), CNN_ERR_INVALID_ARG);
        if (!strstr(cnn_error_message(), needle[t]))
            fail_msg("error '%s' does not mention '%s'", cnn_error_message(), needle[t]);
    }
    /* a label beyond the run's batch is not looked at */
    float ok[3] = {4, 0, 99};
    TU_OK(cnn_graph_set_input(g, z, zd, 2));
    TU_OK(cnn_graph_set_input(g, lab, ok, 2));
    TU_OK(cnn_graph_forward(g));
    assert_float_equal(cnn_node_value(loss).data[0], log(5.0), 1e-6);
    cnn_graph_free(g);
}

static void test_build_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *z = cnn_input(g, "logits", 4, (int[]){2, 10, 1, 1});
    cnn_node *lab = cnn_labels(g, "labels", 2);
    tu_expect_error(g, cnn_cross_entropy(g, z, lab), CNN_ERR_SHAPE,
                 "logits must be (N, classes), got (2, 10, 1, 1)");
    /* labels that are not (N) */
    g = cnn_graph_new();
    z = cnn_input(g, "logits", 2, (int[]){2, 10});
    lab = cnn_input(g, "labels", 2, (int[]){2, 10});
    tu_expect_error(g, cnn_cross_entropy(g, z, lab, .name = "ce"), CNN_ERR_SHAPE,
                 "cross_entropy 'ce': labels (2, 10) do not match logits (2, 10)");
    /* labels of another batch cannot even be made */
    g = cnn_graph_new();
    z = cnn_input(g, "logits", 2, (int[]){2, 10});
    lab = cnn_labels(g, "labels", 3);
    assert_null(lab);
    tu_expect_error(g, cnn_cross_entropy(g, z, lab), CNN_ERR_SHAPE, "batch 3");
    g = cnn_graph_new();
    z = cnn_input(g, "logits", 2, (int[]){2, 10});
    lab = cnn_labels(g, "labels", 2);
    tu_expect_error(g, cnn_cross_entropy(g, z, lab, .label_smoothing = 1.5f), CNN_ERR_INVALID_ARG,
                 "label_smoothing 1.5");
    g = cnn_graph_new();
    z = cnn_input(g, "logits", 2, (int[]){2, 10});
    lab = cnn_labels(g, "labels", 2);
    tu_expect_error(g, cnn_cross_entropy(g, z, lab, .label_smoothing = -0.1f), CNN_ERR_INVALID_ARG,
                 "label_smoothing");
}

/* 1000 classes, odd batch, smoothing 0.1, logits up to +-8: the float exponentials
   (scaled by 1 / sum) against the double reference. */
static void test_many_classes(void **state)
{
    (void)state;
    const cfg c = {7, 1000, 0.1f, 8.0f};
    cnn_node *z, *lab, *loss;
    cnn_graph *g = build(&c, &z, &lab, &loss);
    size_t nz = (size_t)c.n * c.K;
    float *zd = malloc(nz * sizeof(float)), ld[7];
    double *dz = malloc(nz * sizeof(double));
    assert_true(zd && dz);
    make_data(&c, 99, zd, ld);
    TU_OK(cnn_graph_compile(g, 1));
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, z, zd, c.n));
    TU_OK(cnn_graph_set_input(g, lab, ld, c.n));
    TU_OK(cnn_graph_forward(g));
    double want = naive_ce(c.n, c.K, zd, ld, c.smoothing, dz);
    float got = cnn_node_value(loss).data[0];
    if (fabs(got - want) > 1e-6 * (1.0 + fabs(want)))
        fail_msg("1000 classes: loss %.8g, want %.8g", (double)got, want);
    TU_OK(cnn_graph_backward(g, loss));
    const float *g_z = cnn_node_grad(z).data;
    /* gradients are <= 1 / N: a few float roundings of p are ~1e-8 */
    for (size_t i = 0; i < nz; i++)
        if (fabs(g_z[i] - dz[i]) > 1e-7)
            fail_msg("1000 classes: dlogits[%zu] %.8g, want %.8g", i, (double)g_z[i], dz[i]);
    free(zd);
    free(dz);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_and_grad_match_naive),
        cmocka_unit_test(test_label_out_of_range),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_many_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

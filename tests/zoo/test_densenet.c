/* densenet family (densenet121, densenet_d2l): PyTorch parity of names
   ("features.denseblock1.denselayer1.conv1.weight"; d2l: "1.net.0.2.weight"),
   parameter counts and eval logits; one training step of densenet_d2l (batch-statistic
   BN, concat, avg pools, cross-entropy) against PyTorch's loss and every parameter
   gradient; cost against the published figure; builder errors. */
#include "zoo_tv_check.h"

static void test_parity(void **state)
{
    (void)state;
    zt_parity("densenet_d2l");
    zt_parity("densenet121");
}

/* Train-mode step (batch 4): loss and d loss / d param for all 758k parameters.
   Tolerance per tensor: |ours - torch| <= 2e-3 * max|torch grad of the tensor| +
   1e-5 * max|torch grad of any tensor|. The relative part: float32 PyTorch itself
   differs from float64 PyTorch by up to 7e-4 of a tensor's largest gradient here (BN
   weight gradients are sums of many cancelling terms); a wrong or missing gradient
   term is O(1). The absolute floor: the biases of convs feeding a train-mode BN have
   an exactly zero gradient, so both sides hold rounding noise (~1e-9) there. */
static void test_train_step(void **state)
{
    (void)state;
    const char *model = "densenet_d2l";
    cnn_tensor_file *f = zt_load(model);
    cnn_node *in, *out;
    cnn_graph *g = zt_build_fixture(model, f, &in, &out);
    cnn_tensor x, labels, want_loss;
    TU_OK(cnn_tensor_file_get(f, "input", &x));
    TU_OK(cnn_tensor_file_get(f, "labels", &labels));
    TU_OK(cnn_tensor_file_get(f, "loss", &want_loss));
    int batch = x.dims[0];
    cnn_node *lab = cnn_labels(g, "labels", batch);
    cnn_node *loss = cnn_cross_entropy(g, out, lab);
    TU_OK(cnn_graph_status(g));
    tu_formula_weights(g);
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, in, x.data, batch));
    TU_OK(cnn_graph_set_input(g, lab, labels.data, batch));
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward(g, loss));
    float l = cnn_node_value(loss).data[0];
    printf("  %s train step: loss %.6f (torch %.6f)\n", model, (double)l, (double)want_loss.data[0]);
    assert_true(fabsf(l - want_loss.data[0]) <= 1e-5f * (1.0f + fabsf(want_loss.data[0])));
    int checked = 0, bad = 0;
    double worst = 0, gmax = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        if (!p->trainable) continue;
        char key[300];
        snprintf(key, sizeof key, "grad.%s", p->name);
        cnn_tensor want;
        TU_OK(cnn_tensor_file_get(f, key, &want));
        for (size_t k = 0; k < cnn_tensor_numel(&want); k++) gmax = fmax(gmax, fabs((double)want.data[k]));
    }
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        if (!p->trainable) continue;
        char key[300];
        snprintf(key, sizeof key, "grad.%s", p->name);
        cnn_tensor want;
        TU_OK(cnn_tensor_file_get(f, key, &want));
        size_t n = cnn_tensor_numel(&want);
        assert_int_equal(n, cnn_tensor_numel(&p->grad));
        double wmax = 0, dmax = 0;
        for (size_t k = 0; k < n; k++) {
            wmax = fmax(wmax, fabs((double)want.data[k]));
            double d = fabs((double)p->grad.data[k] - (double)want.data[k]);
            if (!(d <= dmax)) dmax = isnan(d) ? INFINITY : d;
        }
        double tol = 2e-3 * wmax + 1e-5 * gmax;
        worst = fmax(worst, dmax / tol);
        if (!(dmax <= tol)) {
            if (bad++ < 5) fprintf(stderr, "  %s: max|diff| %g > %g\n", key, dmax, tol);
        }
        checked++;
    }
    printf("  %d parameter gradients checked, worst |diff|/tol %.3f\n", checked, worst);
    assert_int_equal(bad, 0);
    assert_true(checked > 40);
    cnn_graph_free(g);
    cnn_tensor_file_free(f);
}

/* torchvision's table: DenseNet-121 8.0M params, 2.83 GFLOPS (multiply-adds of convs
   and the classifier at 224x224; BN, ReLU, pooling, concat count 0); Huang et al.
   quote ~2.9 G "FLOPs" (Figure 3) for DenseNet-121. Allowance: the printed rounding. */
static void test_paper_cost(void **state)
{
    (void)state;
    static const zt_paper rows[] = {
        {"densenet121", "torchvision (paper: ~2.9G)", 8.0, 0.05, 2.83, 0.005},
    };
    zt_paper_table(rows, 1);
}

static void test_errors(void **state)
{
    (void)state;
    zt_common_errors("densenet121");
    zt_common_errors("densenet_d2l");
    /* 8x8: stem to 2x2, transition1 to 1x1, transition2's 2x2 average pool fails */
    zt_expect_error("densenet121", &(cnn_model_opts){.height = 8, .width = 8}, CNN_ERR_SHAPE,
                    (const char *const[]){"avgpool2d", "features.transition2.pool", NULL});
    zt_expect_error("densenet_d2l", &(cnn_model_opts){.height = 8, .width = 8}, CNN_ERR_SHAPE,
                    (const char *const[]){"avgpool2d", NULL});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_train_step),
        cmocka_unit_test(test_paper_cost),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* cbam family (cbam_resnet18, cbam_resnet50): PyTorch parity of names ("layer1.0.ca.fc1.weight",
   "layer1.0.sa.conv1.weight"), parameter counts and eval logits (this covers the shared
   channel MLP over avg- and max-pooled descriptors, channel mean/max, the 7x7 spatial
   conv and both multiplications); cost against the published figures; errors. */
#include "zoo_tv_check.h"

static void test_parity(void **state)
{
    (void)state;
    zt_parity("cbam_resnet18");
    if (tu_quick()) zt_names_only("cbam_resnet50");
    else zt_parity("cbam_resnet50");
}

/* Woo et al. 2018, Table 4: ResNet-18 + CBAM 11.78M params / 1.815 GFLOPs (multiply-adds
   of conv + FC layers), ResNet-50 + CBAM 28.09M. Our channel MLP has no biases, as the
   common reference code (bias=False 1x1 convs); the paper's has them: ResNet-50's 16
   Bottlenecks carry sum(C + C/16) = 14,480 biases, so our count is 28.074M and the
   allowance for it is 0.005 (rounding) + 0.0145 (biases). ResNet-50 MACs are not
   compared: the paper's ResNet-50 is V1 (3.86 G), this is torchvision's V1.5 (see
   test_resnet). */
static void test_paper_cost(void **state)
{
    (void)state;
    static const zt_paper rows[] = {
        {"cbam_resnet18", "Woo et al. 2018 Table 4", 11.78, 0.005, 1.815, 0.0005},
        {"cbam_resnet50", "Woo et al. 2018 (+biases)", 28.09, 0.0195, 0, 0},
    };
    zt_paper_table(rows, 2);
}

static void test_errors(void **state)
{
    (void)state;
    zt_common_errors("cbam_resnet18");
    zt_common_errors("cbam_resnet50");
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "cbam_resnet50", &(cnn_model_opts){.height = 32, .width = 32}, NULL, NULL));
    cnn_param *p = cnn_graph_find_param(g, "layer4.2.ca.fc1.weight");
    assert_non_null(p);
    assert_int_equal(p->value.dims[0], 2048 / 16);
    assert_int_equal(p->value.dims[1], 2048);
    p = cnn_graph_find_param(g, "layer1.0.sa.conv1.weight");
    assert_non_null(p);
    assert_int_equal(p->value.dims[1], 2);
    assert_int_equal(p->value.dims[2], 7);
    assert_null(cnn_graph_find_param(g, "layer1.0.ca.fc1.bias"));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_paper_cost),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

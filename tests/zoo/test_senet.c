/* senet family (se_resnet18, se_resnet50): PyTorch parity of names ("layer1.0.se.fc1.weight"
   ...), parameter counts and eval logits; cost against the published figures; errors. */
#include "zoo_tv_check.h"

static void test_parity(void **state)
{
    (void)state;
    zt_parity("se_resnet18");
    if (tu_quick()) zt_names_only("se_resnet50");
    else zt_parity("se_resnet50");
}

/* Params: the SE blocks add 2*C*C/16 weights + C/16 + C biases per block (Hu et al.
   2018: ~2.5M on ResNet-50's 25.6M); Woo et al. 2018 (CBAM, Table 4) list ResNet-18 +
   SE 11.78M / 1.814 GFLOPs and ResNet-50 + SE 28.09M. MACs count conv + linear (the
   SE 1x1 convs add < 0.1%); the ResNet-50 MACs are not compared because the papers'
   ResNet-50 strides on the first 1x1 (3.86 G) while this is torchvision's V1.5 (4.09 G,
   checked in test_resnet). Allowance: the printed rounding. */
static void test_paper_cost(void **state)
{
    (void)state;
    static const zt_paper rows[] = {
        {"se_resnet18", "Woo et al. 2018 Table 4", 11.78, 0.005, 1.814, 0.0005},
        {"se_resnet50", "Woo et al. 2018 Table 4", 28.09, 0.005, 0, 0},
    };
    zt_paper_table(rows, 2);
}

static void test_errors(void **state)
{
    (void)state;
    zt_common_errors("se_resnet18");
    zt_common_errors("se_resnet50");
    /* the SE block of the first stage squeezes 64 channels to 64/16 = 4 */
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "se_resnet18", &(cnn_model_opts){.height = 32, .width = 32}, NULL, NULL));
    cnn_param *p = cnn_graph_find_param(g, "layer1.0.se.fc1.weight");
    assert_non_null(p);
    assert_int_equal(p->value.dims[0], 4);
    assert_int_equal(p->value.dims[1], 64);
    assert_non_null(cnn_graph_find_param(g, "layer4.1.se.fc2.bias"));
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

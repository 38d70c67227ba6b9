/* resnet family (resnet18, resnet34, resnet50, resnet18_d2l): PyTorch parity of names,
   parameter counts and eval logits from committed fixtures; cost against the
   published figures; builder errors. */
#include "zoo_tv_check.h"

static void test_parity(void **state)
{
    (void)state;
    zt_parity("resnet18");
    zt_parity("resnet18_d2l");
    zt_parity("resnet34");
    if (tu_quick()) zt_names_only("resnet50");
    else zt_parity("resnet50");
}

/* MACs of conv + linear layers per 224x224 image (BN, ReLU, pooling, adds: 0), as
   He et al. count "FLOPs" (multiply-adds). Table 1 of the paper gives 1.8, 3.6 and
   3.8 x10^9; torchvision's resnet50 is the "V1.5" variant with the stride of each
   downsampling Bottleneck on its 3x3 conv instead of the first 1x1, so that 3x3 runs
   at the full input resolution of the stage and the count rises to 4.09 G. We check
   torchvision's published figures (acc. table of torchvision.models: 1.81, 3.66,
   4.09 GFLOPS; params 11.7M, 21.8M, 25.6M), to their rounding (+-0.005 G, +-0.05M). */
static void test_paper_cost(void **state)
{
    (void)state;
    static const zt_paper rows[] = {
        {"resnet18", "torchvision / He et al. 2015 (1.8G)", 11.7, 0.05, 1.81, 0.005},
        {"resnet34", "torchvision / He et al. 2015 (3.6G)", 21.8, 0.05, 3.66, 0.005},
        {"resnet50", "torchvision V1.5 (paper V1: 3.8G)", 25.6, 0.05, 4.09, 0.005},
    };
    zt_paper_table(rows, 3);
}

static void test_errors(void **state)
{
    (void)state;
    zt_common_errors("resnet18");
    zt_common_errors("resnet50");
    zt_common_errors("resnet18_d2l");
    /* the d2l model's own options: none either */
    zt_expect_error("resnet18_d2l", &(cnn_model_opts){.set = "ratio=2"}, CNN_ERR_INVALID_ARG,
                    (const char *const[]){"ratio", NULL});
    /* classes and channels follow the options */
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *out;
    TU_OK(cnn_model_build(g, "resnet18", &(cnn_model_opts){.channels = 1, .height = 32, .width = 32,
                                                          .classes = 7},
                          &in, &out));
    assert_int_equal(cnn_node_value(out).dims[1], 7);
    assert_int_equal(cnn_graph_find_param(g, "conv1.weight")->value.dims[1], 1);
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

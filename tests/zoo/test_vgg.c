/* vgg family (vgg11, vgg11_bn, vgg16, vgg16_bn, vgg11_d2l): PyTorch parity of names
   ("features.<i>.weight" with BN indices, "classifier.<0,3,6>.weight"; d2l:
   "<block>.<2i>.weight", "6/9/12.weight"), parameter counts and eval logits (the
   torchvision ones at 32x32, where the adaptive pool expands 1x1 to 7x7); cost
   against the published figures; the d2l `ratio` option; builder errors. */
#include "zoo_tv_check.h"

static void test_parity(void **state)
{
    (void)state;
    const char *models[] = {"vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "vgg11_d2l"};
    for (int i = 0; i < 5; i++) {
        /* quick (sanitizer) run: the 130M-parameter models' forwards are skipped */
        if (tu_quick() && i != 0) zt_names_only(models[i]);
        else zt_parity(models[i]);
    }
}

/* torchvision's table (multiply-adds of convs and FC layers at 224x224): VGG-11
   132.9M / 7.61 G, VGG-16 138.4M / 15.47 G; Simonyan & Zisserman's Table 2 gives
   133M and 138M params. Allowance: the printed rounding. */
static void test_paper_cost(void **state)
{
    (void)state;
    static const zt_paper rows[] = {
        {"vgg11", "torchvision (paper: 133M)", 132.9, 0.05, 7.61, 0.005},
        {"vgg16", "torchvision (paper: 138M)", 138.4, 0.05, 15.47, 0.005},
    };
    zt_paper_table(rows, 2);
}

static void test_ratio(void **state)
{
    (void)state;
    /* ratio 8 divides every width: 8-16-32-32-64-64-64-64 channels, and the first
       linear takes 64*7*7 features at 224x224 */
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "vgg11_d2l", &(cnn_model_opts){.set = "ratio=8"}, NULL, NULL));
    assert_int_equal(cnn_graph_find_param(g, "0.0.weight")->value.dims[0], 8);
    assert_int_equal(cnn_graph_find_param(g, "4.2.weight")->value.dims[0], 64);
    assert_int_equal(cnn_graph_find_param(g, "6.weight")->value.dims[1], 64 * 7 * 7);
    assert_int_equal(cnn_graph_find_param(g, "12.weight")->value.dims[0], 10);
    cnn_graph_free(g);
    /* the default is d2l's small_conv_arch, ratio 4 */
    g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "vgg11_d2l", NULL, NULL, NULL));
    assert_int_equal(cnn_graph_find_param(g, "6.weight")->value.dims[1], 128 * 7 * 7);
    cnn_graph_free(g);
    zt_expect_error("vgg11_d2l", &(cnn_model_opts){.set = "ratio=0"}, CNN_ERR_INVALID_ARG,
                    (const char *const[]){"ratio 0", NULL});
    zt_expect_error("vgg11_d2l", &(cnn_model_opts){.set = "ratio=128"}, CNN_ERR_INVALID_ARG,
                    (const char *const[]){"ratio 128", NULL});
}

static void test_errors(void **state)
{
    (void)state;
    zt_common_errors("vgg11");
    zt_common_errors("vgg16_bn");
    zt_common_errors("vgg11_d2l");
    /* 16x16: the fifth 2x2 max pool meets a 1x1 map */
    zt_expect_error("vgg16", &(cnn_model_opts){.height = 16, .width = 16}, CNN_ERR_SHAPE,
                    (const char *const[]){"maxpool2d", "features", "(1, 512, 1, 1)", NULL});
    zt_expect_error("vgg11_d2l", &(cnn_model_opts){.height = 8, .width = 8}, CNN_ERR_SHAPE,
                    (const char *const[]){"maxpool2d", NULL});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_paper_cost),
        cmocka_unit_test(test_ratio),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* alexnet family (alexnet, alexnet_d2l): PyTorch parity of names ("features.0.weight",
   "classifier.1.weight"; d2l: "0.weight" .. "20.weight"), parameter counts and eval
   logits; cost against torchvision's figure; builder errors incl. inputs too small. */
#include "zoo_tv_check.h"

static void test_parity(void **state)
{
    (void)state;
    zt_parity("alexnet");
    if (tu_quick()) zt_names_only("alexnet_d2l");
    else zt_parity("alexnet_d2l");
}

/* torchvision's table: AlexNet 61.1M params, 0.71 GFLOPS (multiply-adds of the 5 convs
   and 3 FC layers at 224x224; ReLU, pooling, dropout count 0), to its rounding. */
static void test_paper_cost(void **state)
{
    (void)state;
    static const zt_paper rows[] = {
        {"alexnet", "torchvision (Krizhevsky 2014 one-tower)", 61.1, 0.05, 0.71, 0.005},
    };
    zt_paper_table(rows, 1);
}

static void test_errors(void **state)
{
    (void)state;
    zt_common_errors("alexnet");
    zt_common_errors("alexnet_d2l");
    /* 8x8: conv1 (11x11 / 4, pad 2) leaves 1x1 and the first 3x3 max pool cannot fit */
    zt_expect_error("alexnet", &(cnn_model_opts){.height = 8, .width = 8}, CNN_ERR_SHAPE,
                    (const char *const[]){"maxpool2d", "features", NULL});
    zt_expect_error("alexnet_d2l", &(cnn_model_opts){.height = 8, .width = 8}, CNN_ERR_SHAPE,
                    (const char *const[]){"alexnet_d2l", NULL});
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

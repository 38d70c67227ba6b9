/* googlenet family (googlenet, googlenet_d2l): PyTorch parity of names
   ("inception3a.branch2.1.conv.weight", "...bn.running_var"; d2l: "2.0.p3_2.weight"),
   parameter counts and eval logits (ceil-mode pools, BN eps 1e-3, 4-way concats);
   cost against the published figure; builder errors. */
#include "zoo_tv_check.h"

static void test_parity(void **state)
{
    (void)state;
    zt_parity("googlenet");
    zt_parity("googlenet_d2l");
}

/* torchvision's table: GoogLeNet 6.6M params, 1.50 GFLOPS (multiply-adds of convs and
   the FC layer at 224x224). Szegedy et al. quote ~1.5 G multiply-adds and 6.8M params
   for their version with real 5x5 convs and no BN; torchvision's uses 3x3 in that
   branch. Allowance: the printed rounding. */
static void test_paper_cost(void **state)
{
    (void)state;
    static const zt_paper rows[] = {
        {"googlenet", "torchvision (paper: 1.5G)", 6.6, 0.05, 1.50, 0.005},
    };
    zt_paper_table(rows, 1);
}

static void test_errors(void **state)
{
    (void)state;
    zt_common_errors("googlenet");
    zt_common_errors("googlenet_d2l");
    /* 8x8: after conv1 and two ceil-mode pools the map is 1x1; maxpool3 (3x3 / 2)
       has no window left (PyTorch fails there too) */
    zt_expect_error("googlenet", &(cnn_model_opts){.height = 8, .width = 8}, CNN_ERR_SHAPE,
                    (const char *const[]){"maxpool2d", NULL});
    /* the stems' 7x7 convs take any channel count, and the classes follow the option */
    cnn_graph *g = cnn_graph_new();
    cnn_node *out;
    TU_OK(cnn_model_build(g, "googlenet_d2l", &(cnn_model_opts){.channels = 3, .classes = 5}, NULL,
                          &out));
    assert_int_equal(cnn_node_value(out).dims[1], 5);
    assert_int_equal(cnn_graph_find_param(g, "0.0.weight")->value.dims[1], 3);
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

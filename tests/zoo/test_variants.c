/* The torchvision variants beside the families' first members: resnet101, resnet152
   (Bottleneck [3,4,23,3] / [3,8,36,3]), vgg13 / vgg19 with and without BN
   (configurations B and E), squeezenet1_0 / squeezenet1_1 (Fire modules, ceil-mode
   pools, a conv classifier); and the papers' VGG C and A-LRN and AlexNet (LRN, grouped
   two-GPU convs), written on torchvision's layout in the fixture script. PyTorch parity of names, parameter counts and eval
   logits from tools/fixtures/zoo_variants.py; costs against torchvision's table. */
#include "zoo_tv_check.h"

static void test_parity(void **state)
{
    (void)state;
    const char *models[] = {"resnet101", "resnet152",     "vgg13",         "vgg13_bn",
                            "vgg19",     "vgg19_bn",      "vgg16_c",       "vgg11_lrn",
                            "squeezenet1_0", "squeezenet1_1", "alexnet_paper"};
    for (int i = 0; i < 11; i++) {
        /* quick (sanitizer) run: the big models' forwards are skipped; always for
           resnet101 (resnet152's forward runs the same blocks) and the _bn VGGs (vgg13 /
           vgg19 run the same convs; their names check the BN indices), so the naive ref
           backend stays quick */
        bool same_as_run = i == 0 || i == 3 || i == 5;
        if ((tu_quick() && i < 8) || same_as_run) zt_names_only(models[i]);
        else zt_parity(models[i]);
    }
}

/* torchvision 0.14's documented figures (parameters; "GFLOPS" there are multiply-adds
   at 224x224): resnet101 44,549,160 / 7.80, resnet152 60,192,808 / 11.51, vgg13
   133,047,848 / 11.31, vgg19 143,667,240 / 19.63, squeezenet1_0 1,248,424 / 0.82,
   squeezenet1_1 1,235,496 / 0.35. The VGG paper's Table 2 gives 133M (B) and 144M
   (E). Allowance: the printed rounding. */
static void test_paper_cost(void **state)
{
    (void)state;
    static const zt_paper rows[] = {
        {"resnet101", "torchvision", 44.549, 0.0005, 7.80, 0.005},
        {"resnet152", "torchvision", 60.193, 0.0005, 11.51, 0.005},
        {"vgg13", "torchvision (paper: 133M)", 133.048, 0.0005, 11.31, 0.005},
        {"vgg19", "torchvision (paper: 144M)", 143.667, 0.0005, 19.63, 0.005},
        {"squeezenet1_0", "torchvision", 1.248, 0.0005, 0.82, 0.005},
        {"squeezenet1_1", "torchvision", 1.235, 0.0005, 0.35, 0.005},
    };
    zt_paper_table(rows, 6);
}

/* The papers' own networks: VGG Table 2 gives C 134M and A-LRN 133M parameters; the
   AlexNet paper's "60 million" is 60,965,224 by its layer sizes (conv1 34,944, conv2
   307,456, conv3 885,120, conv4 663,936, conv5 442,624, fc6 37,752,832, fc7
   16,781,312, fc8 4,097,000) at its 227x227 input. */
static void test_paper_networks(void **state)
{
    (void)state;
    static const zt_paper rows[] = {
        {"vgg16_c", "VGG paper Table 2 (C)", 134, 0.5, 0, 0},
        {"vgg11_lrn", "VGG paper Table 2 (A-LRN)", 133, 0.5, 0, 0},
    };
    zt_paper_table(rows, 2);
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "alexnet_paper", NULL, NULL, NULL));
    cnn_cost c = cnn_graph_cost(g);
    printf("  alexnet_paper: %lld params, %.1fM multiply-adds at 227x227\n", (long long)c.params,
           (double)c.macs / 1e6);
    assert_int_equal(c.params, 60965224);
    /* the two-GPU halves: conv2, conv4, conv5 see 48 / 192 / 192 input channels */
    assert_int_equal(cnn_graph_find_param(g, "features.4.weight")->value.dims[1], 48);
    assert_int_equal(cnn_graph_find_param(g, "features.8.weight")->value.dims[1], 256);
    assert_int_equal(cnn_graph_find_param(g, "features.10.weight")->value.dims[1], 192);
    assert_int_equal(cnn_graph_find_param(g, "features.12.weight")->value.dims[1], 192);
    assert_string_equal(cnn_node_op(cnn_graph_find(g, "features.2")), "lrn");
    cnn_graph_free(g);
    /* C's 1x1 convs and A-LRN's LRN */
    g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "vgg16_c", NULL, NULL, NULL));
    assert_int_equal(cnn_graph_find_param(g, "features.14.weight")->value.dims[2], 1);
    cnn_graph_free(g);
    g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "vgg11_lrn", NULL, NULL, NULL));
    assert_string_equal(cnn_node_op(cnn_graph_find(g, "features.2")), "lrn");
    cnn_graph_free(g);
}

/* Note 001's Keras MobileNetV1 (mobilenet_v1_keras). Keras' model.summary() figure by
   hand from the note's layer list (every conv with bias; BatchNormalization has gamma,
   beta trainable + moving mean, variance non-trainable):
     conv1 3x3x3x32 + 32 = 896, BN 32
     block (cin -> f): depthwise 9*cin + cin, BN cin, conv11 cin*f + f, BN f
       32->64:     320 +   2,112     64->128:    640 +   8,320
       128->128: 1,280 +  16,512    128->256:  1,280 +  33,024
       256->256: 2,560 +  65,792    256->256:  2,560 +  65,792 (the note's sixth block)
       256->512: 2,560 + 131,584    512->512 x5: 5,120 + 262,656 each
       512->1024: 5,120 + 525,312
     dense 1024 * 1000 + 1000 = 1,025,000
   convs and dense 3,229,544; BN channels 32 + 2 * (sum cin + sum f) = 9,408, i.e.
   18,816 trainable (gamma, beta) and 18,816 non-trainable: Keras "Trainable params:
   3,248,360", "Total params: 3,267,176". cnn.c counts trainable ones (as PyTorch). */
static void test_keras_mobilenet(void **state)
{
    (void)state;
    if (tu_quick()) zt_names_only("mobilenet_v1_keras");
    else zt_parity("mobilenet_v1_keras");
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "mobilenet_v1_keras", NULL, NULL, NULL));
    assert_int_equal(cnn_graph_param_count(g), 3248360);
    /* bias on every conv; 'same' at stride 2 on 224: pad bottom/right only, 224 -> 225,
       then the 3x3 conv without padding gives 112 */
    assert_non_null(cnn_graph_find_param(g, "depthconv.0.depthwiseconv.bias"));
    assert_non_null(cnn_graph_find_param(g, "conv1.bias"));
    cnn_node *c1 = cnn_graph_find(g, "conv1");
    assert_int_equal(cnn_node_value(c1).dims[2], 112);
    int pads = 0;
    for (int i = 0; i < cnn_graph_num_nodes(g); i++)
        pads += !strcmp(cnn_node_op(cnn_graph_node(g, i)), "pad");
    assert_int_equal(pads, 5); /* conv1 and the four stride-2 depthwise convs */
    cnn_graph_free(g);
    /* at 225x225 the five stride-2 convs see odd sizes (225, 113, 57, 29, 15): 'same'
       pads 1 on each side there, as the conv's own padding, so no pad node */
    g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "mobilenet_v1_keras", &(cnn_model_opts){.height = 225, .width = 225},
                          NULL, NULL));
    assert_int_equal(cnn_node_value(cnn_graph_find(g, "conv1")).dims[2], 113);
    pads = 0;
    for (int i = 0; i < cnn_graph_num_nodes(g); i++)
        pads += !strcmp(cnn_node_op(cnn_graph_node(g, i)), "pad");
    assert_int_equal(pads, 0);
    cnn_graph_free(g);
    zt_expect_error("mobilenet_v1_keras", &(cnn_model_opts){.set = "softmax=2"},
                    CNN_ERR_INVALID_ARG, (const char *const[]){"softmax=2", NULL});
    zt_expect_error("mobilenet_v1_keras", &(cnn_model_opts){.width_mult = 0.5f},
                    CNN_ERR_INVALID_ARG, (const char *const[]){"mobilenet_v1_keras", NULL});
}

static void test_errors(void **state)
{
    (void)state;
    const char *models[] = {"resnet101", "vgg19_bn", "squeezenet1_0", "squeezenet1_1"};
    for (int i = 0; i < 4; i++) zt_common_errors(models[i]);
    /* 8x8: the 7x7/2 first conv leaves 1x1 for the first 3x3 pool */
    zt_expect_error("squeezenet1_0", &(cnn_model_opts){.height = 8, .width = 8}, CNN_ERR_SHAPE,
                    (const char *const[]){"squeezenet1_0", NULL});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_paper_cost),
        cmocka_unit_test(test_paper_networks),
        cmocka_unit_test(test_keras_mobilenet),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

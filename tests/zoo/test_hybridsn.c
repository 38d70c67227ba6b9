/* hybridsn (seeds 000/004) against PyTorch at the seed's 1x30x25x25 (30 PCA bands, a
   25x25 patch), formula weights (5.1M, too big to commit): state_dict names, exact
   parameter count, eval forward (batch 2), one training step (batch 3, BN on batch
   statistics, dropout=0 on both sides since torch's dropout RNG cannot be
   reproduced); the multiply-add count against a hand count and the paper's
   parameter total; build errors. */
#include "zoo_check.h"

static void test_parity(void **state)
{
    (void)state;
    if (!tu_quick()) {
        zc_parity("hybridsn", "hybridsn", 1.0f, NULL);
        return;
    }
    /* the sanitizer run: names and counts only (the forward is ~0.5 GMACs of naive 3D
       convolution, too slow under ASan) */
    cnn_tensor_file *f = zc_open("hybridsn");
    cnn_tensor x = zc_get(f, "input");
    cnn_node *in, *out;
    cnn_graph *g = zc_build("hybridsn", &x, 1.0f, NULL, &in, &out);
    zc_check_names(g, f, "hybridsn");
    cnn_graph_free(g);
    cnn_tensor_file_free(f);
    printf("  forward skipped under CNN_TEST_QUICK\n");
}

static void test_train_step(void **state)
{
    (void)state;
    if (tu_quick()) {
        /* the sanitizer run: ~3 GMACs through the naive 3D convs is too slow there */
        tu_skip("under CNN_TEST_QUICK");
    }
    zc_train_step("hybridsn_train", "hybridsn", "dropout=0", false);
}

/* conv3d: out * D' * H' * W' * (in * kd * kh * kw); conv2d and linear likewise. */
static void test_costs(void **state)
{
    (void)state;
    int64_t hand = (int64_t)8 * 24 * 23 * 23 * (1 * 7 * 9) + (int64_t)16 * 20 * 21 * 21 * (8 * 5 * 9) +
                   (int64_t)32 * 18 * 19 * 19 * (16 * 3 * 9) + (int64_t)64 * 17 * 17 * (576 * 9) +
                   (int64_t)18496 * 256 + 256 * 128 + 128 * 16;
    cnn_tensor_file *f = zc_open("hybridsn");
    int64_t params = atoll(cnn_tensor_file_meta(f, "params"));
    cnn_tensor_file_free(f);
    cnn_cost c = zc_cost("hybridsn", 0, 0, NULL);
    /* Roy et al. 2020, Table 1 (Indian Pines, 30x25x25 input, 16 classes): 5,122,176
       trainable parameters in conv and FC layers; the seed adds BN (2 x 120). */
    cnn_model_opts o = {0};
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "hybridsn", &o, NULL, NULL));
    int64_t no_bn = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        if (p->role == CNN_PARAM_WEIGHT || p->role == CNN_PARAM_BIAS)
            no_bn += (int64_t)cnn_tensor_numel(&p->value);
    }
    cnn_graph_free(g);
    printf("  %-24s %14s %14s\n", "hybridsn", "reference", "ours");
    printf("  %-24s %14lld %14lld\n", "MACs (hand count)", (long long)hand, (long long)c.macs);
    printf("  %-24s %14lld %14lld\n", "params (PyTorch, seed)", (long long)params,
           (long long)c.params);
    printf("  %-24s %14lld %14lld\n", "params w/o BN (paper)", 5122176LL, (long long)no_bn);
    assert_int_equal(c.macs, hand);
    assert_int_equal(c.params, params);
    assert_int_equal(no_bn, 5122176);
}

static void test_errors(void **state)
{
    (void)state;
    zc_build_error("hybridsn", &(cnn_model_opts){.set = "bands=30"}, CNN_ERR_INVALID_ARG, "bands");
    zc_build_error("hybridsn", &(cnn_model_opts){.set = "dropout=1.5"}, CNN_ERR_INVALID_ARG,
                   "dropout=1.5");
    /* a 7x7 patch would leave 1x1 maps for the 3x3 conv2d: the builder names the
       smallest patch and the flag */
    zc_build_error("hybridsn", &(cnn_model_opts){.height = 7, .width = 7}, CNN_ERR_SHAPE,
                   "at least 9x9 (use --patch 9");
    /* 12 bands (--pca 12): (7, 3, 3), (5, 3, 3) would leave 2 for the (3, 3, 3) conv */
    zc_build_error("hybridsn", &(cnn_model_opts){.depth = 12}, CNN_ERR_SHAPE,
                   "at least 13 (use --pca 13");
    zc_build_error("hybridsn", &(cnn_model_opts){.depth = 10}, CNN_ERR_SHAPE, "10 spectral bands");
    zc_build_error("hybridsn", &(cnn_model_opts){.width_mult = 0.5f}, CNN_ERR_INVALID_ARG,
                   "width multiplier");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_train_step),
        cmocka_unit_test(test_costs),
        cmocka_unit_test(test_errors),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

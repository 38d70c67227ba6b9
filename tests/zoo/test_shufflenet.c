/* shufflenet family against PyTorch at 3x32x32, batch 2, formula weights: V1 (our
   PyTorch twin in tools/fixtures/zoo_seeds_mobile.py) for groups 1, 2, 3, 4, 8 and
   scale 0.5; torchvision 0.14's V2 x0.5 .. x2.0. State_dict names, exact parameter
   counts, eval forward; the papers' complexity figures; build errors. (Every conv and
   pool is padded, so any input >= 1x1 builds, as in PyTorch.) */
#include "zoo_check.h"

static void test_parity(void **state)
{
    (void)state;
    const char *g1[5] = {"groups=1", "groups=2", "groups=3", "groups=4", "groups=8"};
    const char *f1[5] = {"shufflenet_v1_g1", "shufflenet_v1_g2", "shufflenet_v1_g3",
                         "shufflenet_v1_g4", "shufflenet_v1_g8"};
    for (int i = 0; i < 5; i++) zc_parity(f1[i], "shufflenet_v1", 1.0f, g1[i]);
    zc_parity("shufflenet_v1_g3_w0_5", "shufflenet_v1", 0.5f, "groups=3");
    zc_parity("shufflenet_v2_x0_5", "shufflenet_v2_x0_5", 1.0f, NULL);
    zc_parity("shufflenet_v2_x1_0", "shufflenet_v2_x1_0", 1.0f, NULL);
    zc_parity("shufflenet_v2_x1_5", "shufflenet_v2_x1_5", 1.0f, NULL);
    zc_parity("shufflenet_v2_x2_0", "shufflenet_v2_x2_0", 1.0f, NULL);
}

/* Our MACs count conv and linear layers only (BN, pooling, shuffle, concat: 0). */
static void test_paper_costs(void **state)
{
    (void)state;
    printf("  %-30s %10s %8s\n", "model / figure (MFLOPs)", "ours", "paper");
    /* ShuffleNet V1 Table 2, 1x, g = 1, 2, 3, 4, 8: "FLOPs" are mult-adds of the conv
       layers: the figures round (to 1M) our count without the final FC layer
       (c_stage4 x 1000): 142.50, 140.04, 136.50, 133.25, 136.83. With the FC layer g=4
       and g=8 would be 134.3 and 138.4, off by more than rounding. */
    const int groups[5] = {1, 2, 3, 4, 8}, c4[5] = {576, 800, 960, 1088, 1536};
    const double v1[5] = {143, 140, 137, 133, 137};
    for (int i = 0; i < 5; i++) {
        char set[16], what[64];
        snprintf(set, sizeof set, "groups=%d", groups[i]);
        cnn_cost c = zc_cost("shufflenet_v1", 224, 1.0f, set);
        double conv = (double)(c.macs - (int64_t)c4[i] * 1000) / 1e6;
        bool ok = fabs(conv - v1[i]) <= 0.5;
        snprintf(what, sizeof what, "shufflenet_v1 1x g=%d (no FC)", groups[i]);
        printf("  %-30s %10.3f %8g   round to 1M (Table 2; %.3f with FC) %s\n", what, conv, v1[i],
               c.macs / 1e6, ok ? "ok" : "MISMATCH");
        assert_true(ok);
    }
    /* ShuffleNet V2 Table 5 / torchvision: 0.5x 41, 1x 146, 1.5x 299, 2x 591 MFLOPs.
       torchvision's implementation (matched here layer for layer and by parity) gives
       40.48, 144.91, 295.76, 583.25M by conv + FC count, which is what torchvision
       publishes (0.04, 0.14, 0.30, 0.58 GFLOPS, checked to their 0.01G rounding). The
       paper's figures are 0.75-1.3% higher and no layer set (FC, BN, depthwise) accounts
       for the gap; its counting rule is not published. We require ours <= paper and
       paper - ours <= 1.5% of paper. */
    const char *v2[4] = {"shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                         "shufflenet_v2_x2_0"};
    const double v2_paper[4] = {41, 146, 299, 591}, v2_tv[4] = {0.04, 0.14, 0.30, 0.58};
    for (int i = 0; i < 4; i++) {
        cnn_cost c = zc_cost(v2[i], 224, 1.0f, NULL);
        double m = c.macs / 1e6, rel = (v2_paper[i] - m) / v2_paper[i];
        bool tv = fabs(c.macs / 1e9 - v2_tv[i]) <= 0.005, ok = rel >= 0 && rel <= 0.015;
        printf("  %-30s %10.3f %8g   paper -%.2f%% (<= 1.5%%) %s; torchvision %.2fG %s\n", v2[i], m,
               v2_paper[i], 100 * rel, ok ? "ok" : "MISMATCH", v2_tv[i], tv ? "ok" : "MISMATCH");
        assert_true(ok && tv);
    }
}

static void test_errors(void **state)
{
    (void)state;
    zc_build_error("shufflenet_v1", &(cnn_model_opts){.set = "groups=5"}, CNN_ERR_INVALID_ARG,
                   "groups=5");
    zc_build_error("shufflenet_v1", &(cnn_model_opts){.set = "group=3"}, CNN_ERR_INVALID_ARG,
                   "'group=3'");
    zc_build_error("shufflenet_v1", &(cnn_model_opts){.width_mult = 0.75f}, CNN_ERR_INVALID_ARG,
                   "width_mult (scale) 0.75");
    zc_build_error("shufflenet_v2_x1_0", &(cnn_model_opts){.width_mult = 0.5f},
                   CNN_ERR_INVALID_ARG, "shufflenet_v2_x0_5");
    zc_build_error("shufflenet_v2_x0_5", &(cnn_model_opts){.set = "groups=2"}, CNN_ERR_INVALID_ARG,
                   "groups");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_paper_costs),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

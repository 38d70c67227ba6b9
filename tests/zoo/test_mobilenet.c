/* mobilenet family against PyTorch (seed 002's MobileNetV1; torchvision 0.14's V2 and
   V3) at 3x32x32, batch 2, formula weights: state_dict names, exact parameter counts,
   eval forward; width multipliers; the papers' multiply-add and parameter figures;
   build errors. (MobileNets pad every conv, so any input size >= 1x1 builds, as in
   PyTorch: there is no "input too small" error to test here.) */
#include "zoo_check.h"

static void test_parity(void **state)
{
    (void)state;
    zc_parity("mobilenet_v1", "mobilenet_v1", 1.0f, NULL);
    zc_parity("mobilenet_v1_w0_5", "mobilenet_v1", 0.5f, NULL);
    zc_parity("mobilenet_v2", "mobilenet_v2", 1.0f, NULL);
    zc_parity("mobilenet_v2_w0_5", "mobilenet_v2", 0.5f, NULL);
    zc_parity("mobilenet_v3_large", "mobilenet_v3_large", 1.0f, NULL);
    zc_parity("mobilenet_v3_small", "mobilenet_v3_small", 1.0f, NULL);
    zc_parity("mobilenet_v3_small_w0_75", "mobilenet_v3_small", 0.75f, NULL);
}

/* How a published figure was rounded from the exact count. */
typedef enum { ROUND, TRUNC } rounding;

static bool agrees(double ours, double paper, double unit, rounding r)
{
    if (r == ROUND) return fabs(ours - paper) <= unit / 2;
    return ours >= paper && ours < paper + unit;
}

static void row(const char *what, double ours, double paper, double unit, rounding r, const char *rule)
{
    bool ok = agrees(ours, paper, unit, r);
    printf("  %-34s %10.3f %8g   %-5s %s %s\n", what, ours, paper, r == ROUND ? "round" : "trunc",
           rule, ok ? "ok" : "MISMATCH");
    if (!ok) fail_msg("%s: ours %.3f vs published %g (%s to %g)", what, ours, paper,
                      r == ROUND ? "rounded" : "truncated", unit);
}

/* Counting rules. Our MACs count conv and linear layers only (BN, pooling,
   activations, SE scaling and residual adds are 0). Paper parameter figures count conv
   and FC weights and biases (no BN): compared with zc_params_no_bn; the exact PyTorch
   counts (BN included) are checked in test_parity. */
static void test_paper_costs(void **state)
{
    (void)state;
    printf("  %-34s %10s %8s   rounding\n", "model / figure (M)", "ours", "paper");
    /* MobileNet V1 Table 6 (width, 224x224): mult-adds of conv + FC, rounded to 1M;
       params rounded to 0.1M. */
    const float widths[4] = {1.0f, 0.75f, 0.5f, 0.25f};
    const double v1_macs[4] = {569, 325, 149, 41}, v1_params[4] = {4.2, 2.6, 1.3, 0.5};
    for (int i = 0; i < 4; i++) {
        char what[64];
        cnn_cost c = zc_cost("mobilenet_v1", 224, widths[i], NULL);
        snprintf(what, sizeof what, "mobilenet_v1 %.2f-224 MACs", widths[i]);
        row(what, c.macs / 1e6, v1_macs[i], 1, ROUND, "(Table 6)");
        snprintf(what, sizeof what, "mobilenet_v1 %.2f-224 params", widths[i]);
        row(what, zc_params_no_bn("mobilenet_v1", 224, widths[i], NULL) / 1e6, v1_params[i], 0.1,
            ROUND, "(Table 6)");
    }
    /* Table 7 (resolution, alpha 1): 569 at 224 needs the FC layer (567.7 without) but
       290 at 160 matches only without it (289.65; 290.68 with): the table is not
       consistent. Each row must round (to 1M) to the figure with or without the FC
       layer's 1.024M; the printed value is with. */
    const int res[4] = {224, 192, 160, 128};
    const double v1_res[4] = {569, 418, 290, 186};
    for (int i = 0; i < 4; i++) {
        char what[64];
        cnn_cost c = zc_cost("mobilenet_v1", res[i], 1.0f, NULL);
        double with = c.macs / 1e6, without = (c.macs - 1024 * 1000) / 1e6;
        bool ok = agrees(with, v1_res[i], 1, ROUND) || agrees(without, v1_res[i], 1, ROUND);
        snprintf(what, sizeof what, "mobilenet_v1 1.0-%d MACs", res[i]);
        printf("  %-34s %10.3f %8g   round (Table 7; %.3f without FC) %s\n", what, with, v1_res[i],
               without, ok ? "ok" : "MISMATCH");
        assert_true(ok);
    }
    /* MobileNet V2 Table 4 (1.0-224): 300M MAdds, 3.4M params. Both are our exact
       counts truncated (300.77M MACs with FC: rounding would give 301; 3.47M). */
    cnn_cost c = zc_cost("mobilenet_v2", 224, 1.0f, NULL);
    row("mobilenet_v2 1.0-224 MACs", c.macs / 1e6, 300, 1, TRUNC, "(Table 4)");
    row("mobilenet_v2 1.0-224 params", zc_params_no_bn("mobilenet_v2", 224, 1, NULL) / 1e6, 3.4, 0.1,
        TRUNC, "(Table 4)");
    /* MobileNet V3 Tables 3-4: Small 1.0: 56M MAdds, 2.5M params; Large 1.0: 5.4M
       params, truncated like V2 (56.51M, 2.53M, 5.48M). */
    c = zc_cost("mobilenet_v3_small", 224, 1.0f, NULL);
    row("mobilenet_v3_small 1.0 MACs", c.macs / 1e6, 56, 1, TRUNC, "(Table 4)");
    row("mobilenet_v3_small 1.0 params", zc_params_no_bn("mobilenet_v3_small", 224, 1, NULL) / 1e6,
        2.5, 0.1, TRUNC, "(Table 4)");
    row("mobilenet_v3_large 1.0 params", zc_params_no_bn("mobilenet_v3_large", 224, 1, NULL) / 1e6,
        5.4, 0.1, TRUNC, "(Table 3)");
    /* Large 1.0: the paper's 219M cannot be reached by counting conv + FC layers of its
       Table 1 (torchvision's implementation of it, which we match layer for layer,
       gives 216.59M; the remaining 2.4M (1.1%) are presumably element-wise work the paper
       counts without saying so: h-swish, SE scaling, residual adds). We check
       torchvision's published 0.22 GFLOPS (rounded to 0.01G) and the paper within 1.2%. */
    c = zc_cost("mobilenet_v3_large", 224, 1.0f, NULL);
    row("mobilenet_v3_large 1.0 GMACs", c.macs / 1e9, 0.22, 0.01, ROUND, "(torchvision)");
    double rel = fabs(c.macs / 1e6 - 219) / 219;
    printf("  %-34s %10.3f %8g   within 1.2%% (Table 3; %.2f%%) %s\n", "mobilenet_v3_large 1.0 MACs",
           c.macs / 1e6, 219.0, 100 * rel, rel <= 0.012 ? "ok" : "MISMATCH");
    assert_true(rel <= 0.012);
    /* torchvision's published figures too: V2 0.30, V3 small 0.06 GFLOPS */
    c = zc_cost("mobilenet_v2", 224, 1.0f, NULL);
    row("mobilenet_v2 GMACs", c.macs / 1e9, 0.30, 0.01, ROUND, "(torchvision)");
    c = zc_cost("mobilenet_v3_small", 224, 1.0f, NULL);
    row("mobilenet_v3_small GMACs", c.macs / 1e9, 0.06, 0.01, ROUND, "(torchvision)");
}

static void test_errors(void **state)
{
    (void)state;
    zc_build_error("mobilenet_v1", &(cnn_model_opts){.set = "alpha=0.5"}, CNN_ERR_INVALID_ARG,
                   "alpha");
    zc_build_error("mobilenet_v3_small", &(cnn_model_opts){.set = "groups=2"}, CNN_ERR_INVALID_ARG,
                   "groups");
    zc_build_error("mobilenet_v1", &(cnn_model_opts){.width_mult = 0.01f}, CNN_ERR_INVALID_ARG,
                   "width_mult 0.01");
    zc_build_error("mobilenet_v2", &(cnn_model_opts){.width_mult = 5.0f}, CNN_ERR_INVALID_ARG,
                   "width_mult 5");
    zc_build_error("mobilenet_v3_large", &(cnn_model_opts){.width_mult = -1.0f},
                   CNN_ERR_INVALID_ARG, "negative");
    /* a 1-channel input where the model is built for it works; a wrong-rank input
       cannot arise through cnn_model_build, so check the smallest input builds */
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_model_build(g, "mobilenet_v2", &(cnn_model_opts){.channels = 1, .height = 1, .width = 1},
                          NULL, NULL));
    cnn_graph_free(g);
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

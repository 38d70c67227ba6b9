/* nin (d2l's Network in Network) against PyTorch at 1x96x96 (the smallest size that
   keeps every 3x3/2 pooling window valid), batch 2, formula weights: state_dict
   names ("7.4.weight"), exact parameter count, eval forward; the multiply-add count
   against a hand count at 1x224x224; build errors. */
#include "zoo_check.h"

static void test_parity(void **state)
{
    (void)state;
    zc_parity("nin", "nin", 1.0f, NULL);
}

/* conv: out_c * out_h * out_w * (in_c * k * k) */
static int64_t conv(int out, int side, int in, int k) { return (int64_t)out * side * side * in * k * k; }

static void test_costs(void **state)
{
    (void)state;
    /* 224 -> 11x11/4: 54 -> pool 26 -> 5x5 p2: 26 -> pool 12 -> 3x3 p1: 12 -> pool 5
       -> 3x3 p1: 5; each block adds two 1x1 convs */
    int64_t hand = conv(96, 54, 1, 11) + 2 * conv(96, 54, 96, 1) + conv(256, 26, 96, 5) +
                   2 * conv(256, 26, 256, 1) + conv(384, 12, 256, 3) + 2 * conv(384, 12, 384, 1) +
                   conv(10, 5, 384, 3) + 2 * conv(10, 5, 10, 1);
    cnn_tensor_file *f = zc_open("nin");
    int64_t params = atoll(cnn_tensor_file_meta(f, "params_224"));
    cnn_tensor_file_free(f);
    cnn_cost c = zc_cost("nin", 0, 0, NULL);
    printf("  %-8s %14s %14s %10s %10s\n", "model", "MACs (hand)", "MACs (ours)", "params pt",
           "params ours");
    printf("  %-8s %14lld %14lld %10lld %10lld\n", "nin", (long long)hand, (long long)c.macs,
           (long long)params, (long long)c.params);
    assert_int_equal(c.macs, hand);
    assert_int_equal(c.params, params);
}

static void test_errors(void **state)
{
    (void)state;
    zc_build_error("nin", &(cnn_model_opts){.set = "dropout=0.1"}, CNN_ERR_INVALID_ARG, "dropout");
    /* 1x8x8: the first 11x11 conv does not fit */
    zc_build_error("nin", &(cnn_model_opts){.height = 8, .width = 8}, CNN_ERR_SHAPE, "'0.0'");
    /* 1x64x64: 14 -> pool 6 -> pool 2 -> the third pool's 3x3 window does not fit */
    zc_build_error("nin", &(cnn_model_opts){.height = 64, .width = 64}, CNN_ERR_SHAPE, "'5'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_costs),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

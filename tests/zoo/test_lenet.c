/* lenet family (lenet, lenet_relu, mynet) against PyTorch: state_dict names and
   parameter counts, eval forward with the real weights (lenet, lenet_relu) or the
   formula weights (mynet, 811978 weights at 1x12x12: too big to commit), the seed's
   softmax output (set "softmax=1"), one training step's loss and gradients, the
   multiply-add count against a hand count, and build errors. */
#include "zoo_check.h"

static void test_parity(void **state)
{
    (void)state;
    zc_parity_ex("lenet", "lenet", 1.0f, NULL, true);
    zc_parity_ex("lenet_relu", "lenet_relu", 1.0f, NULL, true);
    zc_parity_ex("mynet", "mynet", 1.0f, NULL, false);
}

/* The seeds end lenet_relu and mynet with nn.Softmax(dim=1): softmax=1 reproduces it. */
static void test_seed_softmax(void **state)
{
    (void)state;
    const char *files[2] = {"lenet_relu", "mynet"};
    for (int i = 0; i < 2; i++) {
        cnn_tensor_file *f = zc_open(files[i]);
        cnn_tensor x = zc_get(f, "input");
        cnn_node *in, *out;
        cnn_graph *g = zc_build(files[i], &x, 1.0f, "softmax=1", &in, &out);
        if (i == 0) zc_load_weights(g, f);
        else tu_formula_weights(g);
        zc_forward_check(g, in, out, f, "probs", files[i]);
        cnn_graph_free(g);
        cnn_tensor_file_free(f);
    }
}

static void test_train_step(void **state)
{
    (void)state;
    zc_train_step("lenet", "lenet", NULL, true);
    zc_train_step("lenet_relu", "lenet_relu", NULL, true);
    zc_train_step("mynet", "mynet", NULL, false);
}

/* Multiply-adds of one example (conv: out elements * C_in * k * k; linear: in * out),
   counted by hand from the layer shapes; parameters exact (PyTorch's count). */
static void test_costs(void **state)
{
    (void)state;
    struct {
        const char *model;
        int64_t macs, params;
    } rows[] = {
        /* conv 6x28x28x25 + 16x10x10x150 + fc 400*120 + 120*84 + 84*10 */
        {"lenet", 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10, 61706},
        /* conv 6x28x28x25 + 16x10x10x150 + the same fc layers */
        {"lenet_relu", 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10,
         61706},
        /* 1x32x32: conv 32x30x30x9 + 128x28x28x288 + 512x26x26x1152 + fc 346112*10 */
        {"mynet",
         (int64_t)32 * 30 * 30 * 9 + (int64_t)128 * 28 * 28 * 288 + (int64_t)512 * 26 * 26 * 1152 +
             (int64_t)512 * 26 * 26 * 10,
         0},
    };
    cnn_tensor_file *f = zc_open("mynet");
    rows[2].params = atoll(cnn_tensor_file_meta(f, "params_32x32"));
    cnn_tensor_file_free(f);
    printf("  %-12s %14s %14s %10s %10s\n", "model", "MACs (hand)", "MACs (ours)", "params pt",
           "params ours");
    for (int i = 0; i < 3; i++) {
        cnn_cost c = zc_cost(rows[i].model, 0, 0, NULL);
        printf("  %-12s %14lld %14lld %10lld %10lld\n", rows[i].model, (long long)rows[i].macs,
               (long long)c.macs, (long long)rows[i].params, (long long)c.params);
        assert_int_equal(c.macs, rows[i].macs);
        assert_int_equal(c.params, rows[i].params);
    }
}

static void test_errors(void **state)
{
    (void)state;
    zc_build_error("lenet", &(cnn_model_opts){.set = "softmax=1"}, CNN_ERR_INVALID_ARG, "softmax");
    zc_build_error("lenet_relu", &(cnn_model_opts){.set = "depth=3"}, CNN_ERR_INVALID_ARG, "depth");
    zc_build_error("mynet", &(cnn_model_opts){.set = "softmax=2"}, CNN_ERR_INVALID_ARG, "softmax=2");
    /* too small: lenet_relu 1x8x8 fails at C3.0 (16 5x5 filters on a 2x2 map) */
    zc_build_error("lenet_relu", &(cnn_model_opts){.height = 8, .width = 8}, CNN_ERR_SHAPE, "C3.0");
    zc_build_error("mynet", &(cnn_model_opts){.height = 5, .width = 5}, CNN_ERR_SHAPE, "conv3");
    zc_build_error("lenet", &(cnn_model_opts){.height = 6, .width = 6}, CNN_ERR_SHAPE, "'3'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),     cmocka_unit_test(test_seed_softmax),
        cmocka_unit_test(test_train_step), cmocka_unit_test(test_costs),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Transfer learning: cnn_graph_load_matching takes every tensor of a weight file
   that fits by name and shape (a zoo checkpoint, a torchvision-named state_dict) and
   leaves the rest as initialised (a new classifier); cnn_graph_freeze keeps the
   matched parameters out of the optimizer's steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char g_path[256];

typedef struct notes {
    int n;
    char text[4096];
} notes;

static void on_note(void *user, const char *name, const char *why)
{
    notes *t = user;
    size_t len = strlen(t->text);
    snprintf(t->text + len, sizeof t->text - len, "%s: %s\n", name, why);
    t->n++;
}

static cnn_graph *build(const char *model, int classes, int size, cnn_node **in, cnn_node **out)
{
    cnn_graph *g = cnn_graph_new();
    cnn_model_opts o = {.batch = 2, .classes = classes, .height = size, .width = size};
    TU_OK(cnn_model_build(g, model, &o, in, out));
    return g;
}

static bool same(const cnn_param *a, const cnn_param *b)
{
    size_t n = cnn_tensor_numel(&a->value);
    return n == cnn_tensor_numel(&b->value) && memcmp(a->value.data, b->value.data, n * sizeof(float)) == 0;
}

/* a 10-class lenet_relu checkpoint into a 4-class one: everything but the classifier */
static void test_zoo_checkpoint(void **state)
{
    (void)state;
    cnn_graph *a = build("lenet_relu", 10, 32, NULL, NULL);
    TU_OK(cnn_graph_compile(a, 1));
    TU_OK(cnn_graph_save_weights(a, g_path, 1, (const char *const[]){"cnn.model", "lenet_relu"}));
    cnn_graph *b = build("lenet_relu", 4, 32, NULL, NULL);
    TU_OK(cnn_graph_compile(b, 2));
    float out_w0 = cnn_graph_find_param(b, "out.0.weight")->value.data[0];
    assert_false(same(cnn_graph_find_param(a, "C1.0.weight"), cnn_graph_find_param(b, "C1.0.weight")));
    cnn_transfer_stats st;
    notes nt = {0};
    TU_OK(cnn_graph_load_matching(b, g_path, &st, on_note, &nt));
    printf("%s", nt.text);
    assert_int_equal(st.loaded, 8); /* C1, C3, FC1, FC2: weight and bias */
    assert_int_equal(st.not_loaded, 2);
    assert_int_equal(st.unused, 0);
    assert_non_null(strstr(nt.text, "out.0.weight: shape (10, 84) in the file, (4, 84) here"));
    const char *names[] = {"C1.0.weight", "C3.0.bias", "FC1.0.weight", "FC2.0.bias"};
    for (int i = 0; i < 4; i++)
        assert_true(same(cnn_graph_find_param(a, names[i]), cnn_graph_find_param(b, names[i])));
    assert_true(cnn_graph_find_param(b, "out.0.weight")->value.data[0] == out_w0);
    cnn_graph_free(a);
    cnn_graph_free(b);
}

/* A torchvision-named resnet18 state_dict (1000 classes, num_batches_tracked, one key
   of another model) into a 10-class resnet18; freeze all but layer4 and fc, and one
   SGD step moves only those. */
static void test_torchvision_state_dict_and_freeze(void **state)
{
    (void)state;
    cnn_graph *src = build("resnet18", 1000, 32, NULL, NULL);
    TU_OK(cnn_graph_compile(src, 3));
    int np = cnn_graph_num_params(src);
    cnn_named_tensor *list = calloc((size_t)np + 2, sizeof *list);
    assert_non_null(list);
    for (int i = 0; i < np; i++)
        list[i] = (cnn_named_tensor){cnn_graph_param(src, i)->name, &cnn_graph_param(src, i)->value};
    float one = 1.0f;
    cnn_tensor scalar = {.ndim = 1, .dims = {1}, .data = &one};
    float extra[3] = {1, 2, 3};
    cnn_tensor vec = {.ndim = 1, .dims = {3}, .data = extra};
    list[np] = (cnn_named_tensor){"bn1.num_batches_tracked", &scalar};
    list[np + 1] = (cnn_named_tensor){"AuxLogits.fc.bias", &vec};
    TU_OK(cnn_safetensors_save(g_path, np + 2, list, 0, NULL));
    free(list);

    cnn_node *in, *logits;
    cnn_graph *g = build("resnet18", 10, 32, &in, &logits);
    cnn_node *lab = cnn_labels(g, "labels", 2);
    cnn_node *loss = cnn_cross_entropy(g, logits, lab);
    TU_OK(cnn_graph_status(g));
    /* freezing needs the gradient buffers compile makes */
    assert_int_equal(cnn_graph_freeze(g, "conv1.*", NULL), CNN_ERR_STATE);
    TU_OK(cnn_graph_compile(g, 4));
    cnn_transfer_stats st;
    notes nt = {0};
    TU_OK(cnn_graph_load_matching(g, g_path, &st, on_note, &nt));
    printf("%s", nt.text);
    assert_int_equal(st.loaded, cnn_graph_num_params(g) - 2);
    assert_int_equal(st.not_loaded, 2);
    assert_int_equal(st.unused, 1);
    assert_non_null(strstr(nt.text, "fc.weight: shape (1000, 512) in the file, (10, 512) here"));
    assert_non_null(strstr(nt.text, "AuxLogits.fc.bias: in the file, not in the model"));
    assert_true(same(cnn_graph_find_param(src, "layer3.1.conv2.weight"),
                     cnn_graph_find_param(g, "layer3.1.conv2.weight")));
    assert_true(same(cnn_graph_find_param(src, "layer2.0.bn1.running_var"),
                     cnn_graph_find_param(g, "layer2.0.bn1.running_var")));

    size_t before = cnn_graph_param_count(g);
    int nf = 0;
    TU_OK(cnn_graph_freeze(g, "conv1.*,bn1.*,layer1.*,layer2.*,layer3.*", &nf));
    printf("  frozen %d parameters; trainable elements %zu -> %zu\n", nf, before, cnn_graph_param_count(g));
    assert_true(nf > 0);
    assert_true(cnn_graph_param_count(g) < before);
    /* layer4 + fc of resnet18 at 10 classes: 8,393,728 + 5,130 */
    assert_int_equal(cnn_graph_param_count(g), 8393728 + 5130);

    cnn_param *frozen = cnn_graph_find_param(g, "layer2.1.conv1.weight");
    cnn_param *trained = cnn_graph_find_param(g, "layer4.1.conv2.weight");
    size_t nfz = cnn_tensor_numel(&frozen->value), ntr = cnn_tensor_numel(&trained->value);
    float *f0 = malloc(nfz * sizeof *f0), *t0 = malloc(ntr * sizeof *t0);
    assert_true(f0 && t0);
    memcpy(f0, frozen->value.data, nfz * sizeof *f0);
    memcpy(t0, trained->value.data, ntr * sizeof *t0);
    cnn_optimizer *opt = cnn_optimizer_new(g, &(cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.1f});
    assert_non_null(opt);
    float x[2 * 3 * 32 * 32], y[2] = {1, 7};
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    tu_fill(x, sizeof x / sizeof x[0], -1, 1, &r);
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, in, x, 2));
    TU_OK(cnn_graph_set_input(g, lab, y, 2));
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward(g, loss));
    TU_OK(cnn_optimizer_step(opt));
    assert_memory_equal(frozen->value.data, f0, nfz * sizeof *f0);
    assert_memory_not_equal(trained->value.data, t0, ntr * sizeof *t0);
    cnn_optimizer_free(opt);
    free(f0);
    free(t0);
    cnn_graph_free(g);
    cnn_graph_free(src);
}

/* An ONNX file exported with its names (training=PRESERVE keeps the state_dict keys
   as initializer names): d2l's sigmoid LeNet into the zoo's lenet, whose names are the
   same Sequential indices. Every parameter is taken, and the eval forward then gives
   PyTorch's output stored beside the file. A file whose names were lost (BN folded,
   training=EVAL) fits nothing and says so. */
static void test_onnx(void **state)
{
    (void)state;
#ifndef CNN_HAVE_ONNX
    skip();
#else
    const char *dir = getenv("CNN_SOURCE_DIR");
    char onnx[1024], ref[1024], folded[1024];
    snprintf(onnx, sizeof onnx, "%s/tests/fixtures/onnx/lenet.train13.onnx", dir ? dir : ".");
    snprintf(ref, sizeof ref, "%s/tests/fixtures/onnx/lenet.safetensors", dir ? dir : ".");
    snprintf(folded, sizeof folded, "%s/tests/fixtures/onnx/resnet.eval11.onnx", dir ? dir : ".");
    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load(ref, &f));
    cnn_tensor x, want;
    TU_OK(cnn_tensor_file_get(f, "input", &x));
    TU_OK(cnn_tensor_file_get(f, "output", &want));
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *out;
    cnn_model_opts o = {.batch = x.dims[0], .channels = 1, .height = 28, .width = 28};
    TU_OK(cnn_model_build(g, "lenet", &o, &in, &out));
    TU_OK(cnn_graph_compile(g, 3));
    cnn_transfer_stats st;
    notes nt = {0};
    TU_OK(cnn_graph_load_matching(g, onnx, &st, on_note, &nt));
    printf("%s", nt.text);
    assert_int_equal(st.loaded, cnn_graph_num_params(g)); /* 5 layers: weight and bias */
    assert_int_equal(st.loaded, 10);
    assert_int_equal(st.not_loaded, 0);
    assert_int_equal(st.unused, 0);
    cnn_graph_set_training(g, false);
    tu_forward(g, in, x.data, x.dims[0]);
    cnn_tensor y = cnn_node_value(out);
    assert_int_equal(cnn_tensor_numel(&y), cnn_tensor_numel(&want));
    TU_ASSERT_CLOSE(y.data, want.data, cnn_tensor_numel(&want), 1e-5f, 1e-5f, "lenet from onnx");
    cnn_tensor_file_free(f);
    /* names lost: nothing fits, nothing changes */
    float w0 = cnn_graph_find_param(g, "0.weight")->value.data[0];
    assert_int_equal(cnn_graph_load_matching(g, folded, NULL, NULL, NULL), CNN_ERR_NOT_FOUND);
    assert_non_null(strstr(cnn_error_message(), "no tensor matches"));
    assert_true(cnn_graph_find_param(g, "0.weight")->value.data[0] == w0);
    /* a broken ONNX file: the importer's error */
    snprintf(folded, sizeof folded, "%s.onnx", g_path);
    FILE *bad = fopen(folded, "wb");
    assert_non_null(bad);
    fputs("not protobuf", bad);
    fclose(bad);
    assert_int_not_equal(cnn_graph_load_matching(g, folded, NULL, NULL, NULL), CNN_OK);
    printf("  %s\n", cnn_error_message());
    unlink(folded);
    cnn_graph_free(g);
#endif
}

static void test_errors(void **state)
{
    (void)state;
    float v[4] = {0};
    cnn_tensor t = {.ndim = 1, .dims = {4}, .data = v};
    cnn_named_tensor nt = {"encoder.weight", &t};
    TU_OK(cnn_safetensors_save(g_path, 1, &nt, 0, NULL));
    cnn_graph *g = build("lenet_relu", 10, 32, NULL, NULL);
    TU_OK(cnn_graph_compile(g, 1));
    assert_int_equal(cnn_graph_load_matching(g, g_path, NULL, NULL, NULL), CNN_ERR_NOT_FOUND);
    assert_non_null(strstr(cnn_error_message(), "no tensor matches"));
    assert_int_equal(cnn_graph_freeze(g, "layer9.*", NULL), CNN_ERR_NOT_FOUND);
    assert_non_null(strstr(cnn_error_message(), "'layer9.*' matches no parameter"));
    assert_int_equal(cnn_graph_freeze(g, "C1.*,,", NULL), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_graph_load_matching(g, "/nonexistent.safetensors", NULL, NULL, NULL),
                     CNN_ERR_IO);
    cnn_graph_free(g);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(g_path, sizeof g_path, "%s/cnn-transfer-%d.safetensors", base && *base ? base : "/tmp",
             (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(g_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zoo_checkpoint),
        cmocka_unit_test(test_torchvision_state_dict_and_freeze),
        cmocka_unit_test(test_onnx),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

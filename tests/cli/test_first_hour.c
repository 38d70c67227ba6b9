/* What a newcomer meets in the first hour with the cnn program, each with the fixed
   behaviour: summary --all and uncut names, activation names and kinds, a model's
   listed input size applied to the data (and said so), --width refused where a model
   has none, family options listed, HybridSN's smallest PCA named, forward taking a
   cnn.c checkpoint, error messages without repetition, totals of small models, and
   the bench's peak labelled as an estimate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#ifdef CNN_HAVE_PNG
#include <png.h>
#endif

static char g_dir[64];
static const char *g_bin;
static char out[1 << 17];

/* Runs a shell command in g_dir, stdout+stderr into out; returns the exit status. */
static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tu_vrun(out, sizeof out, g_dir, 0, fmt, ap);
    va_end(ap);
    return rc;
}

static void has(const char *needle)
{
    if (!strstr(out, needle)) fail_msg("output does not contain '%s':\n%s", needle, out);
}

static void lacks(const char *needle)
{
    if (strstr(out, needle)) fail_msg("output contains '%s':\n%s", needle, out);
}

/* summary hides activations / reshapes / dropout unless --all; names are never cut;
   activations say their kind; small totals are in M, not "0.000 G". */
static void test_summary_all_and_names(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    assert_int_equal(run("%s summary lenet", g_bin), 0);
    has("(1, 6, 28, 28)");
    lacks("sigmoid0");
    has("parameter-free layers not shown");
    has("61706 parameters");
    lacks("(0.000 G)");
    has("multiply-adds (0.4");
    assert_int_equal(run("%s summary lenet --all", g_bin), 0);
    has("sigmoid0");
    has(" sigmoid ");
    has("reshape");
    lacks("not shown");

    /* MobileNet V2's ReLU6 activations: "relu6_4", not "relu64"; the op column says
       relu6 */
    assert_int_equal(run("%s summary mobilenet_v2 --all --input 3x32x32", g_bin), 0);
    has("relu6_4 ");
    lacks("relu64");
    has(" relu6 ");

    /* DenseNet-121's longest layer names (42 characters) are printed whole, and
       features --list and --layer take them */
    assert_int_equal(run("%s summary densenet121 --all --input 3x32x32", g_bin), 0);
    char longest[256] = "";
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char name[256];
        if (sscanf(line, "%255s", name) == 1 && strlen(name) > strlen(longest) && strchr(name, '.'))
            snprintf(longest, sizeof longest, "%s", name);
    }
    printf("  longest layer name: %s (%zu characters)\n", longest, strlen(longest));
    assert_true(strlen(longest) > 40);
    assert_int_equal(run("%s features densenet121 --input 3x32x32 --list", g_bin), 0);
    has(longest);
    uint8_t rgb[32 * 32 * 3];
    for (int i = 0; i < 32 * 32 * 3; i++) rgb[i] = (uint8_t)(i * 7);
    char p[256];
    snprintf(p, sizeof p, "%s/rgb.png", g_dir);
    TU_OK(cnn_png_write(p, 32, 32, 3, rgb));
    int rc = run("%s features densenet121 rgb.png --input 3x32x32 --layer %s --out maps", g_bin, longest);
    printf("%s", out);
    assert_int_equal(rc, 0);
    has(longest);
    snprintf(p, sizeof p, "%s/maps/%s.png", g_dir, longest);
    assert_int_equal(access(p, R_OK), 0);
}

/* An 8-bit RGBA PNG (libpng's simplified writer; cnn_png_write has 1 or 3 channels). */
static void write_rgba(const char *name, int w, int h, const uint8_t *px)
{
#ifdef CNN_HAVE_PNG
    char p[256];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = PNG_FORMAT_RGBA;
    assert_true(png_image_write_to_file(&pi, p, 0, px, 0, NULL));
#else
    fail_msg("%s (%dx%d, %p): this build has no libpng", name, w, h, (const void *)px);
#endif
}

/* features: a MODEL name is built at the image's own size and channels (a 64x48 RGB
   image stays 3x48x64); a tensor file gives any channel count (RGBA) and 3D inputs,
   whose 3D layers give one grid per depth slice or the one --depth names. */
static void test_features_inputs(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    uint8_t rgb[48 * 64 * 3];
    for (int i = 0; i < 48 * 64 * 3; i++) rgb[i] = (uint8_t)(i * 13);
    char p[256];
    snprintf(p, sizeof p, "%s/wide.png", g_dir);
    TU_OK(cnn_png_write(p, 64, 48, 3, rgb));
    assert_int_equal(run("%s features lenet_relu wide.png --list", g_bin), 0);
    has("(1, 3, 48, 64)");
    assert_int_equal(run("%s features lenet_relu wide.png --layer C1.0 --out f", g_bin), 0);
    has("6 feature maps of 44x60");
    /* --input still decides */
    assert_int_equal(run("%s features lenet_relu wide.png --input 1x32x32 --layer C1.0 --out f", g_bin), 0);
    has("6 feature maps of 28x28");

    /* RGBA as a (4, 20, 24) tensor */
    static float rgba[4 * 20 * 24], cube[15 * 11 * 11];
    for (int i = 0; i < 4 * 20 * 24; i++) rgba[i] = (float)(i % 29) / 29.0f;
    for (int i = 0; i < 15 * 11 * 11; i++) cube[i] = (float)(i % 31) / 31.0f - 0.5f;
    cnn_tensor t4 = {.data = rgba, .ndim = 3, .dims = {4, 20, 24}};
    cnn_named_tensor n4 = {"input", &t4};
    snprintf(p, sizeof p, "%s/rgba.safetensors", g_dir);
    TU_OK(cnn_safetensors_save(p, 1, &n4, 0, NULL));
    assert_int_equal(run("%s features lenet_relu rgba.safetensors --layer C1.0 --out f", g_bin), 0);
    has("6 feature maps of 16x20");

    /* an RGBA PNG for a model that takes 4 channels: the alpha plane is its input (two
       images differing only in alpha give different maps); 3 channels drop it */
    {
        static uint8_t px[20 * 24 * 4], px2[20 * 24 * 4];
        for (int i = 0; i < 20 * 24; i++) {
            for (int k = 0; k < 3; k++) px[i * 4 + k] = px2[i * 4 + k] = (uint8_t)(i * 7 + k * 50);
            px[i * 4 + 3] = (uint8_t)(i * 31);
            px2[i * 4 + 3] = 255;
        }
        write_rgba("a.png", 24, 20, px);
        write_rgba("b.png", 24, 20, px2);
        assert_int_equal(run("%s features lenet_relu a.png --input 4x20x24 --layer C1.0 --out fa", g_bin), 0);
        has("6 feature maps of 16x20");
        assert_int_equal(run("%s features lenet_relu b.png --input 4x20x24 --layer C1.0 --out fb", g_bin), 0);
        assert_int_not_equal(run("cmp -s fa/C1.0.png fb/C1.0.png"), 0);
        assert_int_equal(run("%s features lenet_relu a.png --input 3x20x24 --layer C1.0 --out fc", g_bin), 0);
        assert_int_equal(run("%s features lenet_relu b.png --input 3x20x24 --layer C1.0 --out fd", g_bin), 0);
        assert_int_equal(run("cmp -s fc/C1.0.png fd/C1.0.png"), 0);
    }

    /* HybridSN on a (1, 15, 11, 11) patch: conv3d_2.0 is (16, 5, 7, 7) */
    cnn_tensor t3 = {.data = cube, .ndim = 5, .dims = {1, 1, 15, 11, 11}};
    cnn_named_tensor n3 = {"input", &t3};
    snprintf(p, sizeof p, "%s/patch.safetensors", g_dir);
    TU_OK(cnn_safetensors_save(p, 1, &n3, 0, NULL));
    assert_int_equal(run("%s features hybridsn patch.safetensors --layer conv3d_2.0 --out f", g_bin), 0);
    has("wrote 5 grids");
    has("16 feature maps of 7x7 per depth slice (of 5)");
    for (int k = 0; k < 5; k++) {
        snprintf(p, sizeof p, "%s/f/conv3d_2.0_d%d.png", g_dir, k);
        assert_int_equal(access(p, R_OK), 0);
    }
    assert_int_equal(run("%s features hybridsn patch.safetensors --layer conv3d_2.0 --depth 2 --out g", g_bin), 0);
    has("wrote 1 grid g/conv3d_2.0_d2.png");
    snprintf(p, sizeof p, "%s/g/conv3d_2.0_d0.png", g_dir);
    assert_int_not_equal(access(p, R_OK), 0);
    assert_int_not_equal(run("%s features hybridsn patch.safetensors --layer conv3d_2.0 --depth 7", g_bin), 0);
    has("has 5 depth slices (0..4)");
    /* an image for a 3D model: the way to give it input */
    assert_int_not_equal(run("%s features hybridsn wide.png --layer conv3d_2.0", g_bin), 0);
    has("(C,D,H,W)");
}

/* 28x28 data on models listed at 32x32 and 96x96: resized to the listed input, and the
   header says so; --input keeps the data's size. */
static void test_listed_input_applied(void **state)
{
    (void)state;
    tu_write_idx(g_dir, "train", 64, 1);
    tu_write_idx(g_dir, "t10k", 16, 2);
    int rc = run("%s train lenet_relu --data idx:. --epochs 1 --batch 16 --quiet", g_bin);
    printf("%s", out);
    assert_int_equal(rc, 0);
    has("28x28 images resized to 32x32, lenet_relu's listed input");
    has("--input 1x28x28");
    /* at 32x32 lenet_relu is the notes' model (16*5*5 features into FC1; 4 classes
       here): 61,196 parameters, at 28x28 it would have 44,426 */
    has("model: 0.061M parameters");
    rc = run("%s train lenet_relu --data idx:. --input 1x28x28 --epochs 1 --batch 16 --quiet", g_bin);
    assert_int_equal(rc, 0);
    lacks("resized");
    /* resnet18_d2l trains at d2l's 96x96: 319M multiply-adds, not 33M at 28x28 */
    rc = run("%s train resnet18_d2l --data idx:. --epochs 1 --batch 2 --limit-train 2 --limit-test 2 "
             "--quiet",
             g_bin);
    printf("%s", out);
    assert_int_equal(rc, 0);
    has("resized to 96x96");
    const char *m = strstr(out, "parameters, ");
    assert_non_null(m);
    double macs = atof(m + strlen("parameters, "));
    printf("  resnet18_d2l: %.1fM multiply-adds per example\n", macs);
    assert_true(macs > 300.0 && macs < 340.0);
}

/* --width is refused by models without a width multiplier; options are listed. */
static void test_width_and_options(void **state)
{
    (void)state;
    const char *fixed[] = {"lenet", "lenet_relu", "mynet", "nin", "hybridsn"};
    for (int i = 0; i < 5; i++) {
        assert_int_not_equal(run("%s summary %s --width 0.5", g_bin, fixed[i]), 0);
        has(fixed[i]);
        has("width multiplier 0.5 is not supported");
    }
    assert_int_equal(run("%s models", g_bin), 0);
    has("options: --set softmax=0|1");
    has("options: --set groups=1|2|3|4|8");
    has("options: --set ratio=N");
    has("options: --set dropout=P");
    assert_int_equal(run("%s help shufflenet_v1", g_bin), 0);
    has("groups=");
    has("--width");
    has("input: 3x224x224");
    assert_int_equal(run("%s help lenet", g_bin), 0);
    has("options: none");
    assert_int_equal(run("%s help train", g_bin), 0);
    has("--epochs");
}

/* HybridSN with too few PCA components names the smallest and the flag. */
static void test_hybridsn_pca(void **state)
{
    (void)state;
    assert_int_not_equal(run("%s summary hybridsn --input 1x10x25x25", g_bin), 0);
    has("10 spectral bands are too few");
    has("--pca 13");
    assert_int_equal(run("%s summary hybridsn --input 1x13x25x25", g_bin), 0);
}

/* forward --weights takes cnn.c's own Adam checkpoint; errors keep the model name and
   do not repeat the path. */
static void test_checkpoint_and_errors(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_PNG, "libpng");
    tu_write_idx(g_dir, "train", 64, 1);
    tu_write_idx(g_dir, "t10k", 16, 2);
    int rc = run("%s train lenet_relu --data idx:. --epochs 1 --batch 16 --optimizer adam --lr 0.001 "
                 "--out adam.safetensors --quiet",
                 g_bin);
    assert_int_equal(rc, 0);
    float x[2 * 32 * 32];
    for (int i = 0; i < 2 * 32 * 32; i++) x[i] = (float)(i % 17) / 17.0f;
    cnn_tensor t = {.data = x, .ndim = 4, .dims = {2, 1, 32, 32}};
    cnn_named_tensor nt = {"input", &t};
    char p[256];
    snprintf(p, sizeof p, "%s/x.safetensors", g_dir);
    TU_OK(cnn_safetensors_save(p, 1, &nt, 0, NULL));
    rc = run("%s forward lenet_relu --classes 4 --weights adam.safetensors --input x.safetensors "
             "--output y.safetensors",
             g_bin);
    printf("%s", out);
    assert_int_equal(rc, 0);
    cnn_tensor_file *f = NULL;
    snprintf(p, sizeof p, "%s/y.safetensors", g_dir);
    TU_OK(cnn_safetensors_load(p, &f));
    cnn_tensor y;
    TU_OK(cnn_tensor_file_get(f, "output", &y));
    assert_int_equal(y.dims[0], 2);
    assert_int_equal(y.dims[1], 4);
    cnn_tensor_file_free(f);
    /* transfer: the 4-class checkpoint into a 6-class model, the first conv frozen */
    rc = run("%s train lenet_relu --data idx:. --from adam.safetensors --classes 6 --freeze 'C1.*' "
             "--epochs 1 --batch 16",
             g_bin);
    printf("%s", out);
    assert_int_equal(rc, 0);
    has("from adam.safetensors: loaded 8 parameters and buffers, 2 initialised afresh, 0 tensors");
    has("out.0.weight: shape (4, 84) in the file, (6, 84) here");
    has("frozen: 2 parameters matching 'C1.*'");
#ifdef CNN_HAVE_ONNX
    /* an ONNX file's initializers by name: d2l's LeNet exported with its names, into
       the zoo's lenet (same Sequential indices) for 6 classes */
    rc = run("%s train lenet --data idx:. --from %s/tests/fixtures/onnx/lenet.train13.onnx "
             "--classes 6 --epochs 1 --batch 16",
             g_bin, getenv("CNN_SOURCE_DIR") ? getenv("CNN_SOURCE_DIR") : "..");
    printf("%s", out);
    assert_int_equal(rc, 0);
    has("loaded 8 parameters and buffers, 2 initialised afresh, 0 tensors of the file unused");
    has("11.weight: shape (10, 84) in the file, (6, 84) here");
#endif
    assert_int_not_equal(run("%s train lenet_relu --data idx:. --from adam.safetensors --freeze 'nope.*' "
                             "--epochs 1",
                             g_bin),
                         0);
    has("'nope.*' matches no parameter");
    /* the same tensors without the checkpoint's metadata: a plain weight file, whose
       optimizer keys are unexpected */
    snprintf(p, sizeof p, "%s/adam.safetensors", g_dir);
    TU_OK(cnn_safetensors_load(p, &f));
    int nt_all = cnn_tensor_file_count(f);
    cnn_tensor *ts = calloc((size_t)nt_all, sizeof *ts);
    cnn_named_tensor *named = calloc((size_t)nt_all, sizeof *named);
    assert_true(ts && named);
    for (int i = 0; i < nt_all; i++) {
        TU_OK(cnn_tensor_file_get(f, cnn_tensor_file_name(f, i), &ts[i]));
        named[i] = (cnn_named_tensor){cnn_tensor_file_name(f, i), &ts[i]};
    }
    snprintf(p, sizeof p, "%s/stray.safetensors", g_dir);
    TU_OK(cnn_safetensors_save(p, nt_all, named, 0, NULL));
    free(ts);
    free(named);
    cnn_tensor_file_free(f);
    assert_int_not_equal(
        run("%s forward lenet_relu --classes 4 --weights stray.safetensors --input x.safetensors "
            "--output z.safetensors",
            g_bin),
        0);
    has("unexpected key 'optim.");

    /* predict on a 3D model's checkpoint names the model */
    cnn_model m;
    TU_OK(cnn_model_new("hybridsn", &(cnn_model_opts){.depth = 13, .height = 9, .width = 9, .classes = 3},
                        0.0f, &m));
    TU_OK(cnn_graph_compile(m.g, 1));
    snprintf(p, sizeof p, "%s/hsn.safetensors", g_dir);
    TU_OK(cnn_checkpoint_save(&m, NULL, 1, p));
    cnn_model_free(&m);
    uint8_t img[64] = {0};
    snprintf(p, sizeof p, "%s/img.png", g_dir);
    TU_OK(cnn_png_write(p, 8, 8, 1, img));
    assert_int_not_equal(run("%s predict hsn.safetensors img.png", g_bin), 0);
    has("hybridsn is 3D");

    /* the path once, not "cnn: X: X: ..." */
    assert_int_not_equal(run("%s predict missing.safetensors img.png", g_bin), 0);
    has("missing.safetensors");
    lacks("missing.safetensors: missing.safetensors");
}

/* bench --layers: the measured peak is labelled an estimate; a peak below what the
   kernels reach is explained, not silently shown as more than 100%. */
static void test_bench_peak(void **state)
{
    (void)state;
    assert_int_equal(run("%s bench lenet --layers --iters 2 --warmup 1 --batch 4", g_bin), 0);
    has("an estimate");
    assert_int_equal(run("%s bench lenet --layers --iters 2 --warmup 1 --batch 4 --peak 0.0001", g_bin), 0);
    has("peak% above 100");
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("CNN_BIN");
    if (!g_bin) return -1;
    const char *base = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/cnn-first-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_all_and_names),
        cmocka_unit_test(test_listed_input_applied),
        cmocka_unit_test(test_features_inputs),
        cmocka_unit_test(test_width_and_options),
        cmocka_unit_test(test_hybridsn_pca),
        cmocka_unit_test(test_checkpoint_and_errors),
        cmocka_unit_test(test_bench_peak),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}

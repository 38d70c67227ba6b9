/* ONNX import: every fixture of tests/fixtures/onnx/ (small nets and a few blocks of
   each zoo family, exported by torch 1.13 in eval mode and with
   training=PRESERVE, opsets 11, 13 and 17; regenerate with
   /usr/bin/python3 tools/make_onnx_fixtures.py) imports and matches PyTorch's output
   within 1e-4 of the output's scale; node and parameter names are the file's; a
   dynamic batch builds at another batch; a training step runs and changes the
   weights; a checkpoint of an imported model reloads; malformed files are clear
   errors (tests/fixtures/onnx/bad/). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char g_path[1024];

static const char *fixture(const char *file)
{
    const char *root = getenv("CNN_SOURCE_DIR");
    snprintf(g_path, sizeof g_path, "%s/tests/fixtures/onnx/%s", root ? root : ".", file);
    return g_path;
}

/* Builds without ONNX: every test checks the "not built with ONNX" answer instead. */
static bool have_onnx(void)
{
    cnn_graph *g = cnn_graph_new();
    cnn_status s = cnn_onnx_import(g, fixture("bad/good.onnx"), NULL, NULL, NULL);
    cnn_graph_free(g);
    if (s == CNN_ERR_UNSUPPORTED) {
        assert_non_null(strstr(cnn_error_message(), "not built with ONNX"));
        return false;
    }
    TU_OK(s);
    return true;
}

typedef struct fx {
    const char *name;
    const char *variants[4];
} fx;

static const fx g_fixtures[] = {
    {"conv", {"eval11", "train11", "train13", "train17"}},
    {"residual", {"eval11", "train11", "train13"}},
    {"denseblock", {"eval11", "train11", "train13"}},
    {"inception", {"eval11", "train11", "train13"}},
    {"flat", {"eval11", "train11", "train13"}},
    {"lenet", {"eval11", "train11", "train13"}},
    {"resnet", {"eval11", "train11", "train13", "train17"}},
    {"mobilenet_v2", {"eval11", "train11", "train13", "training13"}},
    {"mobilenet_v3", {"eval11", "train11", "train13", "train17"}},
    {"shufflenet_v2", {"eval11", "train11", "train13"}},
    {"shufflenet_v1", {"eval11", "train11", "train13"}},
    {"se", {"eval11", "train11", "train13"}},
    {"cbam", {"eval11", "train11", "train13"}},
    {"googlenet", {"eval11", "train11", "train13"}},
    {"vgg", {"eval11", "train11", "train13", "training13"}},
    {"alexnet", {"eval11", "train11", "train13"}},
    {"lrn", {"train13"}},
    {"same_pad", {"train13"}},
    {"general", {"eval11", "train11", "train13", "train17"}},
    {"extra", {"eval13", "train13", "train17"}},
    {"attention", {"eval11", "train11", "train13", "train17"}},
    {"nin", {"eval11", "train11", "train13"}},
    {"mobilenet_v1", {"eval11", "train11", "train13"}},
    {"hybridsn", {"eval11", "train11", "train13"}},
    {"conv1d", {"eval11", "train11", "train13"}},
};
#define N_FIXTURES (int)(sizeof g_fixtures / sizeof g_fixtures[0])

static cnn_graph *import(const char *file, int batch, cnn_node **in, cnn_node **out)
{
    cnn_graph *g = cnn_graph_new();
    cnn_onnx_import_opts o = {.batch = batch};
    cnn_status s = cnn_onnx_import(g, fixture(file), &o, in, out);
    if (s != CNN_OK) fail_msg("%s: %s", file, cnn_error_message());
    return g;
}

/* Imports name.variant at the fixture's batch (or `batch`), runs the fixture's input
   (repeated to fill a larger batch) and compares with PyTorch. */
static void check_parity(const fx *f, const char *variant, int batch)
{
    char file[256];
    snprintf(file, sizeof file, "%s.safetensors", f->name);
    cnn_tensor_file *tf = NULL;
    TU_OK(cnn_safetensors_load(fixture(file), &tf));
    cnn_tensor x = {0}, y = {0};
    TU_OK(cnn_tensor_file_get(tf, "input", &x));
    TU_OK(cnn_tensor_file_get(tf, "output", &y));
    int fb = x.dims[0];
    if (batch <= 0) batch = fb;
    snprintf(file, sizeof file, "%s.%s.onnx", f->name, variant);
    cnn_node *in, *out;
    cnn_graph *g = import(file, batch, &in, &out);
    size_t per_in = cnn_tensor_numel(&x) / (size_t)fb, per_out = cnn_tensor_numel(&y) / (size_t)fb;
    float *xb = malloc((size_t)batch * per_in * sizeof *xb);
    assert_non_null(xb);
    for (int b = 0; b < batch; b++) memcpy(xb + (size_t)b * per_in, x.data + (size_t)(b % fb) * per_in, per_in * sizeof *xb);
    tu_forward(g, in, xb, batch);
    cnn_tensor o = cnn_node_value(out);
    assert_int_equal(cnn_tensor_numel(&o), (size_t)batch * per_out);
    float scale = 0.0f;
    for (size_t i = 0; i < cnn_tensor_numel(&y); i++) scale = fmaxf(scale, fabsf(y.data[i]));
    char what[300];
    snprintf(what, sizeof what, "%s (batch %d, backend %s)", file, batch, cnn_backend_name());
    for (int b = 0; b < batch; b++)
        TU_ASSERT_CLOSE(o.data + (size_t)b * per_out, y.data + (size_t)(b % fb) * per_out, per_out,
                        1e-4f * fmaxf(scale, 1e-3f), 0.0f, what);
    free(xb);
    cnn_graph_free(g);
    cnn_tensor_file_free(tf);
}

static void test_parity(void **state)
{
    (void)state;
    if (!have_onnx()) return;
    for (int i = 0; i < N_FIXTURES; i++)
        for (int v = 0; v < 4 && g_fixtures[i].variants[v]; v++) check_parity(&g_fixtures[i], g_fixtures[i].variants[v], 0);
}

/* Files exported with a symbolic batch build at any batch; fixed-batch files too
   (dimension 0 is always the batch). */
static void test_other_batch(void **state)
{
    (void)state;
    if (!have_onnx()) return;
    check_parity(&g_fixtures[1], "train13", 5);  /* residual, dynamic batch */
    check_parity(&g_fixtures[6], "eval11", 3);   /* resnet, dynamic */
    check_parity(&g_fixtures[9], "train13", 3);  /* shufflenet_v2: fixed batch 2 in reshapes */
    check_parity(&g_fixtures[4], "train13", 1);  /* flat: x.view(x.size(0), -1) */
}

/* Every PyTorch state_dict entry is a parameter or buffer under its own name in the
   PRESERVE exports; nodes carry the ONNX node names; fast ops were recognised. */
static void test_names(void **state)
{
    (void)state;
    if (!have_onnx()) return;
    const char *models[] = {"residual", "resnet", "mobilenet_v3", "shufflenet_v2", "densenet", "vgg"};
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        char file[256];
        snprintf(file, sizeof file, "%s.safetensors", models[m]);
        cnn_tensor_file *tf = NULL;
        TU_OK(cnn_safetensors_load(fixture(file), &tf));
        const char *params = cnn_tensor_file_meta(tf, "params");
        assert_non_null(params);
        snprintf(file, sizeof file, "%s.train13.onnx", models[m]);
        cnn_graph *g = import(file, 2, NULL, NULL);
        char buf[256];
        int n = 0;
        for (const char *p = params; *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            snprintf(buf, sizeof buf, "%.*s", (int)len, p);
            cnn_param *pp = cnn_graph_find_param(g, buf);
            if (!pp) fail_msg("%s: no parameter '%s'", file, buf);
            if (strstr(buf, "running_")) assert_false(pp->trainable);
            n++;
            p = e ? e + 1 : p + len;
        }
        assert_int_equal(n, cnn_graph_num_params(g));
        cnn_graph_free(g);
        cnn_tensor_file_free(tf);
    }
    /* node names, and the patterns that map to the zoo's ops */
    cnn_graph *g = import("shufflenet_v2.train13.onnx", 2, NULL, NULL);
    int shuffles = 0, slices = 0;
    for (int i = 0; i < cnn_graph_num_nodes(g); i++) {
        const char *op = cnn_node_op(cnn_graph_node(g, i));
        shuffles += strcmp(op, "channel_shuffle") == 0;
        slices += strcmp(op, "channel_slice") == 0;
        assert_true(strcmp(op, "transpose") != 0);
    }
    assert_int_equal(shuffles, 2);
    assert_int_equal(slices, 2);
    cnn_graph_free(g);
    g = import("resnet.train13.onnx", 2, NULL, NULL);
    assert_non_null(cnn_graph_find(g, "/0/Conv"));
    assert_string_equal(cnn_node_op(cnn_graph_find(g, "/0/Conv")), "conv2d");
    assert_string_equal(cnn_node_op(cnn_graph_find(g, "/1/BatchNormalization")), "batchnorm2d");
    cnn_graph_free(g);
    /* a training-mode export keeps its Dropout: active in training, identity in eval */
    cnn_node *din, *dout;
    g = import("vgg.training13.onnx", 2, &din, &dout);
    int drops = 0;
    for (int i = 0; i < cnn_graph_num_nodes(g); i++) drops += strcmp(cnn_node_op(cnn_graph_node(g, i)), "dropout") == 0;
    assert_int_equal(drops, 1);
    {
        float xin[2 * 3 * 8 * 8], a[20], b[20];
        for (int i = 0; i < 2 * 3 * 8 * 8; i++) xin[i] = (float)((i * 37) % 11) / 11.0f;
        TU_OK(cnn_graph_compile(g, 1));
        cnn_graph_set_training(g, true);
        TU_OK(cnn_graph_set_input(g, din, xin, 2));
        TU_OK(cnn_graph_forward(g));
        memcpy(a, cnn_node_value(dout).data, sizeof a);
        TU_OK(cnn_graph_forward(g));
        memcpy(b, cnn_node_value(dout).data, sizeof b);
        assert_true(memcmp(a, b, sizeof a) != 0); /* new masks each step */
        cnn_graph_set_training(g, false);
        TU_OK(cnn_graph_forward(g));
        memcpy(a, cnn_node_value(dout).data, sizeof a);
        TU_OK(cnn_graph_forward(g));
        assert_memory_equal(a, cnn_node_value(dout).data, sizeof a);
    }
    cnn_graph_free(g);
    g = import("alexnet.train13.onnx", 2, NULL, NULL); /* LRN written out by torch */
    assert_non_null(cnn_graph_find(g, "/2/Div"));
    assert_string_equal(cnn_node_op(cnn_graph_find(g, "/2/Div")), "lrn");
    cnn_graph_free(g);
    g = import("mobilenet_v3.train11.onnx", 2, NULL, NULL); /* HardSwish as x * HardSigmoid(x) */
    int hs = 0;
    for (int i = 0; i < cnn_graph_num_nodes(g); i++) {
        hs += strcmp(cnn_node_op(cnn_graph_node(g, i)), "mul_channel") == 0;
        assert_true(strcmp(cnn_node_op(cnn_graph_node(g, i)), "binary") != 0); /* no x * HardSigmoid(x) left */
    }
    assert_true(hs >= 2); /* the SE gates */
    cnn_graph_free(g);
}

/* Fine-tuning: a training step from the file's weights runs, lowers nothing to NaN and
   changes the weights; a checkpoint of the imported model reloads with its values. */
static void test_train_and_reload(void **state)
{
    (void)state;
    if (!have_onnx()) return;
    cnn_model m;
    TU_OK(cnn_model_new(fixture("resnet.train13.onnx"), &(cnn_model_opts){.batch = 4}, 0.0f, &m));
    TU_OK(cnn_graph_compile(m.g, 1));
    cnn_param *w = cnn_graph_find_param(m.g, "4.conv1.weight");
    assert_non_null(w);
    float before = w->value.data[0];
    /* the file's values, not a default initialisation */
    cnn_tensor_file *tf = NULL;
    TU_OK(cnn_safetensors_load(fixture("resnet.safetensors"), &tf));
    cnn_tensor x = {0};
    TU_OK(cnn_tensor_file_get(tf, "input", &x));
    float xb[4 * 3 * 32 * 32], yb[4] = {1, 2, 3, 4};
    memcpy(xb, x.data, 2 * 3 * 32 * 32 * sizeof(float));
    memcpy(xb + 2 * 3 * 32 * 32, x.data, 2 * 3 * 32 * 32 * sizeof(float));
    cnn_graph_set_training(m.g, true);
    cnn_optimizer *opt = cnn_optimizer_new(m.g, &(cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.1f});
    assert_non_null(opt);
    TU_OK(cnn_graph_set_input(m.g, m.input, xb, 4));
    TU_OK(cnn_graph_set_input(m.g, m.labels, yb, 4));
    TU_OK(cnn_graph_forward(m.g));
    float loss = cnn_node_value(m.loss).data[0];
    assert_true(isfinite(loss));
    TU_OK(cnn_graph_backward(m.g, m.loss));
    TU_OK(cnn_optimizer_step(opt));
    assert_true(w->value.data[0] != before);
    float after = w->value.data[0];
    /* checkpoint and reload */
    char path[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/cnn_onnx_ckpt_%d.safetensors", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    TU_OK(cnn_checkpoint_save(&m, NULL, 1, path));
    cnn_model r;
    TU_OK(cnn_model_load(path, 2, &r));
    cnn_param *w2 = cnn_graph_find_param(r.g, "4.conv1.weight");
    assert_non_null(w2);
    assert_true(w2->value.data[0] == after);
    remove(path);
    cnn_model_free(&r);
    cnn_optimizer_free(opt);
    cnn_model_free(&m);
    cnn_tensor_file_free(tf);
    /* an .onnx path loads directly as a model (eval / predict) */
    TU_OK(cnn_model_load(fixture("lenet.train13.onnx"), 2, &r));
    assert_int_equal(r.classes, 10);
    cnn_model_free(&r);
}

static void expect_error(const char *file, cnn_status s, const char *needle)
{
    cnn_graph *g = cnn_graph_new();
    cnn_status got = cnn_onnx_import(g, fixture(file), NULL, NULL, NULL);
    if (got != s || !strstr(cnn_error_message(), needle))
        fail_msg("%s: got %s '%s', expected %s mentioning '%s'", file, cnn_status_name(got),
                 cnn_error_message(), cnn_status_name(s), needle);
    cnn_graph_free(g);
}

static void test_bad_input(void **state)
{
    (void)state;
    if (!have_onnx()) return;
    expect_error("bad/truncated.onnx", CNN_ERR_FORMAT, "truncated or corrupt");
    expect_error("bad/corrupt.onnx", CNN_ERR_FORMAT, "truncated or corrupt");
    expect_error("bad/missing_init.onnx", CNN_ERR_FORMAT, "input 'w'");
    expect_error("bad/duplicate_init.onnx", CNN_ERR_FORMAT, "initializer 'w' is defined twice");
    expect_error("bad/cycle.onnx", CNN_ERR_FORMAT, "cycle");
    expect_error("bad/symbolic.onnx", CNN_ERR_SHAPE, "('height') is symbolic");
    expect_error("bad/huge.onnx", CNN_ERR_SHAPE, "dimension 2 is 1099511627776");
    expect_error("bad/huge_init.onnx", CNN_ERR_FORMAT, "initializer 'w': dimension 0");
    expect_error("bad/unknown_dtype.onnx", CNN_ERR_FORMAT, "data type 99");
    expect_error("bad/external_escape.onnx", CNN_ERR_FORMAT, "leaves the model's folder");
    expect_error("bad/unsupported_op.onnx", CNN_ERR_UNSUPPORTED, "node 'ein' (Einsum, opset 13)");
    expect_error("bad/no_such_file.onnx", CNN_ERR_IO, "cannot open");
    /* constant folding bounded by the file (docs/limits.md): were 97 s and 12 GB */
    expect_error("bad/const_bomb.onnx", CNN_ERR_FORMAT, "constant folding would create 1073741824");
    expect_error("bad/range_bomb.onnx", CNN_ERR_FORMAT, "constant folding would create 2000000000");
    /* the symbolic dim given by the options: fine */
    cnn_graph *g = cnn_graph_new();
    TU_OK(cnn_onnx_import(g, fixture("bad/symbolic.onnx"), &(cnn_onnx_import_opts){.height = 2}, NULL, NULL));
    cnn_graph_free(g);
    /* external data inside the folder is read */
    cnn_node *in, *out;
    g = import("bad/external_ok.onnx", 1, &in, &out);
    float xv[4] = {1, 2, 3, 4};
    tu_forward(g, in, xv, 1);
    cnn_tensor o = cnn_node_value(out);
    assert_int_equal(cnn_tensor_numel(&o), 8);
    assert_true(o.data[4] == 2.0f && o.data[7] == 8.0f);
    cnn_graph_free(g);
    /* corrupted bytes anywhere (every 31st byte of a small model, each set to a few
       values): an error or a graph, never a crash */
    {
        FILE *f = fopen(fixture("residual.train13.onnx"), "rb");
        assert_non_null(f);
        static unsigned char buf[1 << 16];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        assert_true(len > 100 && len < sizeof buf);
        char path[256];
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/cnn_onnx_mut_%d.onnx", tmp && *tmp ? tmp : "/tmp", (int)getpid());
        static const unsigned char vals[] = {0x00, 0xff, 0x7f, 0x80, 0x01};
        int step = tu_quick() ? 127 : 31, failures = 0;
        for (size_t at = 0; at < len; at += (size_t)step)
            for (size_t v = 0; v < sizeof vals; v++) {
                unsigned char old = buf[at];
                buf[at] = vals[v];
                f = fopen(path, "wb");
                assert_non_null(f);
                fwrite(buf, 1, len, f);
                fclose(f);
                buf[at] = old;
                g = cnn_graph_new();
                cnn_onnx_import_opts mopt = {.batch = 2};
                cnn_node *mi = NULL, *mo = NULL;
                if (cnn_onnx_import(g, path, &mopt, &mi, &mo) == CNN_OK) {
                    float xin[2 * 3 * 8 * 8] = {0};
                    cnn_tensor t = cnn_node_value(mi);
                    if (cnn_tensor_numel(&t) <= sizeof xin / sizeof *xin && cnn_graph_compile(g, 1) == CNN_OK &&
                        cnn_graph_set_input(g, mi, xin, 2) == CNN_OK)
                        (void)cnn_graph_forward(g);
                } else {
                    failures++;
                    assert_true(strlen(cnn_error_message()) > 0);
                }
                cnn_graph_free(g);
            }
        remove(path);
        assert_true(failures > 0);
    }
    /* every allocation failing in turn: an error, never a crash or a leak */
    if (tu_quick()) return;
    for (long k = 1; k < 400; k++) {
        g = cnn_graph_new();
        if (!g) continue;
        cnn_alloc_fail_after(k);
        cnn_status s = cnn_onnx_import(g, fixture("residual.train13.onnx"), NULL, NULL, NULL);
        cnn_alloc_fail_after(0);
        cnn_graph_free(g);
        if (s == CNN_OK) break;
    }
}

/* The CLI takes an .onnx path wherever it takes a model: summary lists the ONNX node
   names, bench runs it, a bad file is a clear message and a non-zero exit. */
static void test_cli(void **state)
{
    (void)state;
    const char *bin = getenv("CNN_BIN");
    if (!bin || !have_onnx()) return;
    char cmd[2048], out[1 << 16];
    snprintf(cmd, sizeof cmd, "%s summary %s 2>&1", bin, fixture("resnet.train13.onnx"));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "/4/conv1/Conv"));
    assert_non_null(strstr(out, "conv2d"));
    snprintf(cmd, sizeof cmd, "%s bench %s --iters 1 --warmup 0 2>&1", bin, fixture("se.train13.onnx"));
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "images/s"));
    snprintf(cmd, sizeof cmd, "%s summary %s 2>&1", bin, fixture("bad/cycle.onnx"));
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_true(pclose(p) != 0);
    assert_non_null(strstr(out, "cycle"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_other_batch),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_train_and_reload),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

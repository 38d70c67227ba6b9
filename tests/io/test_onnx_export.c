/* ONNX export (src/io/onnx_export.c): every zoo model at a small input (VGG's 130M
 * parameters only with CNN_TEST_FULL=1) is exported and read back with the generated
 * protobuf-c code: opset 17, the input with a symbolic batch, initializers = the
 * parameters and buffers under their state_dict names with the same bits, one ONNX
 * node named after each cnn.c node. Then, when available, every file passes
 * onnx.checker (full_check, Debian's python3-onnx) and runs in ONNX Runtime
 * (onnxruntime-node, installed by tools/install-ort.sh into <build>/ort) with the
 * outputs of cnn.c's own forward on the same input, within 1e-4 of the output's scale.
 * Bad input: unexportable outputs, unwritable paths; nothing written on failure. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#ifdef CNN_HAVE_ONNX
#include "onnx/onnx.pb-c.h"

typedef struct zoo_case {
    const char *name;
    int c, d, h, w;
    bool big;   /* > 100M parameters: CNN_TEST_FULL only */
    bool quick; /* also in the sanitizer run (covers every exported op) */
    /* the export needs an op the importer may not take yet (alexnet at 64x64: the
       adaptive pool of a 1x1 map to 6x6 is a broadcast Mul): an unsupported import is
       reported as a skip; a successful one is checked like every other */
    bool import_may_lack;
} zoo_case;

static const zoo_case CASES[] = {
    {"lenet", 1, 0, 28, 28, false, true, false},
    {"lenet_relu", 1, 0, 32, 32, false, false, false},
    {"mynet", 1, 0, 32, 32, false, false, false},
    {"alexnet", 3, 0, 64, 64, false, false, false},
    {"alexnet_d2l", 1, 0, 96, 96, false, false, false},
    {"vgg11", 3, 0, 32, 32, true, false, false},
    {"vgg11_bn", 3, 0, 32, 32, true, false, false},
    {"vgg16", 3, 0, 32, 32, true, false, false},
    {"vgg16_bn", 3, 0, 32, 32, true, false, false},
    {"vgg11_d2l", 1, 0, 32, 32, false, false, false},
    {"nin", 1, 0, 96, 96, false, false, false},
    {"googlenet", 3, 0, 32, 32, false, false, false},
    {"googlenet_d2l", 1, 0, 32, 32, false, true, false},
    {"resnet18", 3, 0, 32, 32, false, false, false},
    {"resnet34", 3, 0, 32, 32, false, false, false},
    {"resnet50", 3, 0, 32, 32, false, false, false},
    {"resnet18_d2l", 1, 0, 32, 32, false, false, false},
    {"se_resnet18", 3, 0, 32, 32, false, true, false},
    {"se_resnet50", 3, 0, 32, 32, false, false, false},
    {"cbam_resnet18", 3, 0, 32, 32, false, true, false},
    {"cbam_resnet50", 3, 0, 32, 32, false, false, false},
    {"densenet121", 3, 0, 32, 32, false, false, false},
    {"densenet_d2l", 1, 0, 32, 32, false, false, false},
    {"mobilenet_v1", 3, 0, 32, 32, false, false, false},
    {"mobilenet_v2", 3, 0, 32, 32, false, false, false},
    {"mobilenet_v3_large", 3, 0, 32, 32, false, false, false},
    {"mobilenet_v3_small", 3, 0, 32, 32, false, true, false},
    {"shufflenet_v1", 3, 0, 32, 32, false, true, false},
    {"shufflenet_v2_x0_5", 3, 0, 32, 32, false, true, false},
    {"shufflenet_v2_x1_0", 3, 0, 32, 32, false, false, false},
    {"shufflenet_v2_x1_5", 3, 0, 32, 32, false, false, false},
    {"shufflenet_v2_x2_0", 3, 0, 32, 32, false, false, false},
    {"hybridsn", 1, 30, 25, 25, false, true, false},
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])
#define BATCH 2

static char g_dir[64]; /* temporary folder of this run */

static bool run_case(const zoo_case *zc)
{
    if (zc->big && !getenv("CNN_TEST_FULL")) return false;
    if (tu_quick() && !zc->quick) return false;
    return true;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_raw(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x, sizeof *x, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The file read back: opset, input, initializers (names and bits), node names. */
static void check_structure(const char *path, cnn_graph *g, cnn_node *in, cnn_node *out)
{
    size_t len;
    char *buf = slurp(path, &len);
    assert_non_null(buf);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, (const uint8_t *)buf);
    if (!m) fail_msg("%s: not a valid ModelProto", path);
    assert_int_equal(m->n_opset_import, 1);
    assert_int_equal(m->opset_import[0]->version, 17);
    Onnx__GraphProto *gp = m->graph;
    assert_int_equal(gp->n_input, 1);
    assert_string_equal(gp->input[0]->name, cnn_node_name(in));
    Onnx__TensorShapeProto *sh = gp->input[0]->type->tensor_type->shape;
    cnn_tensor iv = cnn_node_value(in);
    assert_int_equal((int)sh->n_dim, iv.ndim);
    assert_int_equal(sh->dim[0]->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
    for (int i = 1; i < iv.ndim; i++) assert_int_equal(sh->dim[i]->dim_value, iv.dims[i]);
    assert_int_equal(gp->n_output, 1);
    assert_string_equal(gp->output[0]->name, cnn_node_name(out));
    /* every parameter and buffer is an initializer with the same name, shape and bits */
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        Onnx__TensorProto *t = NULL;
        for (size_t k = 0; k < gp->n_initializer && !t; k++)
            if (!strcmp(gp->initializer[k]->name, p->name)) t = gp->initializer[k];
        if (!t) fail_msg("%s: no initializer '%s'", path, p->name);
        assert_int_equal((int)t->n_dims, p->value.ndim);
        for (int d = 0; d < p->value.ndim; d++) assert_int_equal(t->dims[d], p->value.dims[d]);
        assert_int_equal(t->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        size_t bytes = cnn_tensor_numel(&p->value) * sizeof(float);
        assert_int_equal(t->raw_data.len, bytes);
        if (memcmp(t->raw_data.data, p->value.data, bytes) != 0)
            fail_msg("%s: initializer '%s' differs from the parameter", path, p->name);
    }
    /* one ONNX node named after each computing cnn.c node the output depends on */
    for (int i = 0; i < cnn_graph_num_nodes(g); i++) {
        cnn_node *n = cnn_graph_node(g, i);
        const char *op = cnn_node_op(n);
        if (!strcmp(op, "input") || !strcmp(op, "labels") || !strcmp(op, "cross_entropy")) continue;
        bool found = false;
        if (!strcmp(op, "constant") || !strcmp(op, "parameter")) { /* initializers */
            for (size_t k = 0; k < gp->n_initializer && !found; k++)
                found = !strcmp(gp->initializer[k]->name, cnn_node_name(n));
            if (!found) fail_msg("%s: no initializer '%s' for the %s node", path, cnn_node_name(n), op);
            continue;
        }
        for (size_t k = 0; k < gp->n_node && !found; k++) found = !strcmp(gp->node[k]->name, cnn_node_name(n));
        if (!found) fail_msg("%s: no ONNX node named '%s' (%s)", path, cnn_node_name(n), op);
    }
    onnx__model_proto__free_unpacked(m, NULL);
    free(buf);
}

/* cnn.c -> ONNX -> cnn.c: the imported graph has every parameter and buffer under its
   name with the same bits, and its eval forward gives the same bits. */
/* exact: 1 = same bits (ops may change kind: printed); 2 = same bits unless an op changed
   kind; 0 = within 1e-5 */
static void roundtrip(const zoo_case *zc, const char *path, cnn_graph *g, const float *x,
                      const float *want, size_t n, int exact)
{
    const char *name = zc->name;
    cnn_graph *h = cnn_graph_new();
    cnn_node *in, *out;
    cnn_status s = cnn_onnx_import(h, path, &(cnn_onnx_import_opts){.batch = BATCH}, &in, &out);
    if (s == CNN_ERR_UNSUPPORTED && zc->import_may_lack) {
        printf("round trip %-22s SKIP: %s\n", name, cnn_error_message());
        cnn_graph_free(h);
        return;
    }
    TU_OK(s);
    TU_OK(cnn_graph_compile(h, 99)); /* the seed must not matter: the file's values win */
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i), *q = cnn_graph_find_param(h, p->name);
        if (!q) fail_msg("%s: parameter '%s' missing after the round trip", name, p->name);
        size_t k = cnn_tensor_numel(&p->value);
        assert_int_equal(cnn_tensor_numel(&q->value), k);
        bool same_shape = p->value.ndim == q->value.ndim;
        for (int d = 0; same_shape && d < p->value.ndim; d++) same_shape = p->value.dims[d] == q->value.dims[d];
        if (!exact && !same_shape) { /* e.g. a MatMul weight the importer keeps as a linear layer's */
            printf("round trip %-22s parameter '%s' stored re-laid out by the importer\n", name, p->name);
            continue;
        }
        assert_true(same_shape);
        if (memcmp(p->value.data, q->value.data, k * sizeof(float)) != 0)
            fail_msg("%s: parameter '%s' changed in the round trip", name, p->name);
        assert_int_equal(p->trainable, q->trainable);
    }
    /* bit for bit where the importer rebuilds the same ops; an imported model may come
       back with an equivalent zoo op in place of a general one (a ReduceMean over H, W as
       global_avgpool): then within 1e-5, and the changed nodes are named */
    int changed = 0;
    for (int i = 0; i < cnn_graph_num_nodes(g); i++) {
        cnn_node *a = cnn_graph_node(g, i), *b = cnn_graph_find(h, cnn_node_name(a));
        if (b && strcmp(cnn_node_op(a), cnn_node_op(b)) != 0) {
            printf("round trip %-22s node '%s': %s came back as %s\n", name, cnn_node_name(a), cnn_node_op(a),
                   cnn_node_op(b));
            changed++;
        }
    }
    if (exact == 2 && changed) exact = 0;
    cnn_graph_set_training(h, false);
    TU_OK(cnn_graph_set_input(h, in, x, BATCH));
    TU_OK(cnn_graph_forward(h));
    cnn_tensor y = cnn_node_value(out);
    assert_int_equal(cnn_tensor_numel(&y), n);
    size_t differ = 0;
    double diff = 0;
    for (size_t i = 0; i < n; i++) {
        differ += memcmp(&y.data[i], &want[i], sizeof(float)) != 0;
        diff = fmax(diff, fabs((double)y.data[i] - want[i]));
    }
    printf("round trip %-22s %d params, %d nodes -> %d nodes: outputs %s (max |diff| %.3g)\n", name,
           cnn_graph_num_params(g), cnn_graph_num_nodes(g), cnn_graph_num_nodes(h),
           differ ? (exact ? "DIFFER" : "within 1e-5") : "bit-identical", diff);
    if (exact && differ) fail_msg("%s: %zu of %zu outputs differ after the round trip", name, differ, n);
    if (!exact) TU_ASSERT_CLOSE(y.data, want, n, 1e-6f, 1e-5f, name);
    cnn_graph_free(h);
}

static bool python_has_onnx(void)
{
    return access("/usr/bin/python3", X_OK) == 0 &&
           system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") == 0;
}

/* <build>/ort, next to the cnn binary; NULL without CNN_BIN. */
static const char *ort_dir(char *buf, size_t size)
{
    const char *bin = getenv("CNN_BIN");
    if (!bin) return NULL;
    snprintf(buf, size, "%s", bin);
    char *slash = strrchr(buf, '/');
    if (!slash) return NULL;
    snprintf(slash, size - (size_t)(slash - buf), "/ort");
    return buf;
}

static void test_export_zoo(void **state)
{
    (void)state;
    char jobs_path[128], cmd[4096];
    snprintf(jobs_path, sizeof jobs_path, "%s/jobs.txt", g_dir);
    FILE *jobs = fopen(jobs_path, "w");
    assert_non_null(jobs);
    float *want[N_CASES] = {0};
    size_t want_n[N_CASES] = {0};
    char files[N_CASES * 64] = "";
    cnn_rng rng;
    cnn_rng_seed(&rng, 42);
    for (int c = 0; c < N_CASES; c++) {
        const zoo_case *zc = &CASES[c];
        if (!run_case(zc)) continue;
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *out;
        cnn_model_opts mo = {.batch = BATCH, .channels = zc->c, .depth = zc->d, .height = zc->h,
                             .width = zc->w, .classes = 10};
        TU_OK(cnn_model_build(g, zc->name, &mo, &in, &out));
        TU_OK(cnn_graph_compile(g, 7));
        cnn_tensor iv = cnn_node_value(in);
        size_t nin = cnn_tensor_numel(&iv);
        float *x = malloc(nin * sizeof *x);
        assert_non_null(x);
        tu_fill(x, nin, -1.0f, 1.0f, &rng);
        cnn_graph_set_training(g, false);
        TU_OK(cnn_graph_set_input(g, in, x, BATCH));
        TU_OK(cnn_graph_forward(g));
        cnn_tensor ov = cnn_node_value(out);
        want_n[c] = cnn_tensor_numel(&ov);
        want[c] = malloc(want_n[c] * sizeof(float));
        assert_non_null(want[c]);
        memcpy(want[c], ov.data, want_n[c] * sizeof(float));

        char path[128], inpath[128], outpath[128], shape[64] = "";
        snprintf(path, sizeof path, "%s/%s.onnx", g_dir, zc->name);
        snprintf(inpath, sizeof inpath, "%s/%s.in", g_dir, zc->name);
        snprintf(outpath, sizeof outpath, "%s/%s.out", g_dir, zc->name);
        TU_OK(cnn_onnx_export(g, path, NULL));
        check_structure(path, g, in, out);
        roundtrip(zc, path, g, x, want[c], want_n[c], 1);
        write_raw(inpath, x, nin);
        for (int d = 0; d < iv.ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", d ? "x" : "", iv.dims[d]);
        fprintf(jobs, "%s %s %s %s\n", path, inpath, shape, outpath);
        snprintf(files + strlen(files), sizeof files - strlen(files), " %s", path);
        free(x);
        cnn_graph_free(g);
    }
    fclose(jobs);

    if (python_has_onnx()) {
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import onnx, sys\n"
                 "for f in sys.argv[1:]: onnx.checker.check_model(onnx.load(f), full_check=True)\n"
                 "print(\"onnx.checker: %%d models pass\" %% (len(sys.argv) - 1))'%s",
                 files);
        assert_int_equal(system(cmd), 0);
    } else {
        printf("SKIP onnx.checker: /usr/bin/python3 with onnx (Debian python3-onnx) not found\n");
    }

    char ortbuf[4096];
    const char *ort = ort_dir(ortbuf, sizeof ortbuf);
    const char *src = getenv("CNN_SOURCE_DIR") ? getenv("CNN_SOURCE_DIR") : ".";
    if (!ort) {
        printf("SKIP ONNX Runtime: CNN_BIN not set (run through ctest)\n");
    } else {
        /* installs onnxruntime-node (npm) on first use; a failure fails the test */
        snprintf(cmd, sizeof cmd, "%s/tools/install-ort.sh %s", src, ort);
        if (system(cmd) != 0) fail_msg("tools/install-ort.sh %s failed (node, npm, the npm registry)", ort);
        snprintf(cmd, sizeof cmd, "node %s/tests/io/ort_run.js %s %s/node_modules", src, jobs_path, ort);
        int rc = system(cmd);
        int bad = 0;
        printf("%-22s %12s %12s %s\n", "model", "max|diff|", "max|y|", "ONNX Runtime vs cnn.c");
        for (int c = 0; c < N_CASES; c++) {
            if (!want[c]) continue;
            char outpath[128];
            snprintf(outpath, sizeof outpath, "%s/%s.out", g_dir, CASES[c].name);
            size_t len = 0;
            float *got = (float *)slurp(outpath, &len);
            if (!got || len != want_n[c] * sizeof(float)) {
                printf("%-22s no output of the right size from ONNX Runtime\n", CASES[c].name);
                bad++;
                free(got);
                continue;
            }
            double diff = 0, scale = 0;
            for (size_t i = 0; i < want_n[c]; i++) {
                diff = fmax(diff, fabs((double)got[i] - want[c][i]));
                scale = fmax(scale, fabs((double)want[c][i]));
            }
            bool ok = diff <= 1e-4 * fmax(scale, 1e-3);
            printf("%-22s %12.3g %12.3g %s\n", CASES[c].name, diff, scale, ok ? "ok" : "MISMATCH");
            bad += !ok;
            free(got);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(bad, 0);
    }
    for (int c = 0; c < N_CASES; c++) free(want[c]);
}

/* The general tensor ops (what imported networks use) export too: a graph of each of
   them, with a constant and a trainable parameter node, matches ONNX Runtime. */
static void test_export_general_ops(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 6, 5});
    cnn_node *c = cnn_constant(g, "c", 3, (int[]){3, 1, 1}, (float[]){0.5f, -0.25f, 0.125f});
    cnn_node *a = cnn_binary(g, x, c, CNN_BIN_ADD);
    cnn_node *s = cnn_unary(g, cnn_unary(g, a, CNN_UN_ABS), CNN_UN_SQRT);
    s = cnn_binary(g, s, cnn_constant(g, "expo", 3, (int[]){3, 1, 1}, (float[]){1.5f, 2.0f, 0.5f}),
                   CNN_BIN_POW);
    cnn_node *l = cnn_activation_p(g, a, CNN_ACT_LEAKY_RELU, 0.1f, 0.0f);
    cnn_node *e = cnn_activation_p(g, a, CNN_ACT_ELU, 0.7f, 0.0f);
    cnn_node *cl = cnn_activation_p(g, a, CNN_ACT_CLIP, -0.5f, 0.5f);
    cnn_node *hs = cnn_activation_p(g, a, CNN_ACT_HARDSIGMOID, 0.2f, 0.4f);
    cnn_node *m = cnn_binary(g, cnn_binary(g, l, e, CNN_BIN_MUL), cl, CNN_BIN_SUB);
    m = cnn_binary(g, cnn_binary(g, m, s, CNN_BIN_MAX), hs, CNN_BIN_DIV);
    m = cnn_binary(g, m, cnn_unary(g, cnn_unary(g, s, CNN_UN_EXP), CNN_UN_NEG), CNN_BIN_MIN);
    cnn_node *t = cnn_transpose(g, m, 4, (int[]){0, 1, 3, 2});                     /* (2,3,5,6) */
    cnn_node *p = cnn_pad(g, t, (int[]){0, 0, 1, 1, 0, 0, 1, 1}, CNN_PAD_REFLECT, 0.0f); /* 7x8 */
    cnn_node *pc = cnn_pad(g, p, (int[]){0, 0, 0, 1, 0, 0, 2, -1}, CNN_PAD_CONSTANT, 0.5f);
    cnn_node *sl = cnn_slice(g, pc, 3, 1, INT32_MAX, 2);                            /* (2,3,9,4) */
    cnn_node *sm = cnn_softmax_axis(g, sl, 2, false);
    cnn_node *gm = cnn_reshape(g, cnn_global_maxpool(g, sm), 1, (int[]){3});     /* (2,3) */
    cnn_node *r = cnn_reduce(g, sl, CNN_REDUCE_MEAN, 2, (int[]){2, 3}, false);  /* (2,3) */
    cnn_node *r2 = cnn_reduce(g, cnn_reduce(g, sl, CNN_REDUCE_SUM, 1, (int[]){3}, true), CNN_REDUCE_MAX,
                              2, (int[]){2, 3}, false);
    cnn_node *r3 = cnn_reduce(g, sl, CNN_REDUCE_MIN, 2, (int[]){-1, 2}, false);
    r = cnn_binary(g, cnn_binary(g, r, r2, CNN_BIN_ADD), r3, CNN_BIN_ADD);
    cnn_node *w = cnn_parameter(g, "w", 2, (int[]){3, 4}, true);
    cnn_node *y = cnn_binary(g, cnn_matmul(g, r, w), cnn_matmul(g, gm, w), CNN_BIN_ADD);
    cnn_node *one = cnn_constant(g, "one", 1, (int[]){1}, (float[]){1.0f});
    cnn_node *den = cnn_binary(g, cnn_unary(g, y, CNN_UN_ABS), one, CNN_BIN_ADD);
    y = cnn_binary(g, y, cnn_unary(g, cnn_unary(g, den, CNN_UN_LOG), CNN_UN_RECIPROCAL), CNN_BIN_SUB);
    y = cnn_softmax_axis(g, y, 1, true);
    TU_OK(cnn_graph_status(g));
    cnn_graph_mark_output(g, y);
    float wv[12];
    cnn_rng rng;
    cnn_rng_seed(&rng, 3);
    tu_fill(wv, 12, -1.0f, 1.0f, &rng);
    TU_OK(cnn_graph_set_initial(g, "w", wv, 12));
    TU_OK(cnn_graph_compile(g, 1));
    float xv[2 * 3 * 6 * 5];
    tu_fill(xv, 180, -2.0f, 2.0f, &rng);
    cnn_graph_set_training(g, false);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    TU_OK(cnn_graph_forward(g));
    cnn_tensor yv = cnn_node_value(y);
    size_t n = cnn_tensor_numel(&yv);
    assert_int_equal(n, 8);
    float want[8];
    memcpy(want, yv.data, sizeof want);

    char path[128], in[128], out[128], jobs[128], cmd[1024];
    snprintf(path, sizeof path, "%s/general.onnx", g_dir);
    snprintf(in, sizeof in, "%s/general.in", g_dir);
    snprintf(out, sizeof out, "%s/general.out", g_dir);
    snprintf(jobs, sizeof jobs, "%s/general.jobs", g_dir);
    TU_OK(cnn_onnx_export(g, path, NULL));
    check_structure(path, g, x, y);
    static const zoo_case gc = {"general_ops", 3, 0, 6, 5, false, true, true};
    roundtrip(&gc, path, g, xv, want, 8, 0);
    if (python_has_onnx()) {
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), "
                 "full_check=True)' %s", path);
        assert_int_equal(system(cmd), 0);
    }
    char ortbuf[4096];
    const char *ort = ort_dir(ortbuf, sizeof ortbuf);
    const char *src = getenv("CNN_SOURCE_DIR") ? getenv("CNN_SOURCE_DIR") : ".";
    if (!ort) {
        printf("SKIP ONNX Runtime: CNN_BIN not set (run through ctest)\n");
    } else {
        write_raw(in, xv, 180);
        FILE *f = fopen(jobs, "w");
        fprintf(f, "%s %s 2x3x6x5 %s\n", path, in, out);
        fclose(f);
        snprintf(cmd, sizeof cmd, "%s/tools/install-ort.sh %s", src, ort);
        if (system(cmd) != 0) fail_msg("tools/install-ort.sh %s failed (node, npm, the npm registry)", ort);
        snprintf(cmd, sizeof cmd, "node %s/tests/io/ort_run.js %s %s/node_modules", src, jobs, ort);
        assert_int_equal(system(cmd), 0);
        size_t len;
        float *got = (float *)slurp(out, &len);
        assert_non_null(got);
        assert_int_equal(len, sizeof want);
        TU_ASSERT_CLOSE(got, want, 8, 1e-5f, 1e-4f, "general ops: ONNX Runtime vs cnn.c");
        free(got);
    }
    cnn_graph_free(g);
}

/* Imported graphs export too: every ONNX fixture of the importer's tests (PyTorch's
   exports of every zoo family and the notes' snippets, opsets 11 to 17) imported,
   exported, checked, run in ONNX Runtime and imported again bit for bit. */
static void test_export_imported(void **state)
{
    (void)state;
    const char *src = getenv("CNN_SOURCE_DIR") ? getenv("CNN_SOURCE_DIR") : ".";
    char fdir[1024], jobs_path[128], cmd[8192] = "", files[6000] = "";
    snprintf(fdir, sizeof fdir, "%s/tests/fixtures/onnx", src);
    DIR *d = opendir(fdir);
    if (!d) fail_msg("%s: %s", fdir, strerror(errno));
    snprintf(jobs_path, sizeof jobs_path, "%s/imported.jobs", g_dir);
    FILE *jobs = fopen(jobs_path, "w");
    assert_non_null(jobs);
    enum { MAXF = 128 };
    char names[MAXF][96];
    float *want[MAXF] = {0};
    size_t want_n[MAXF] = {0};
    int nf = 0;
    struct dirent *e;
    cnn_rng rng;
    cnn_rng_seed(&rng, 5);
    while ((e = readdir(d)) && nf < MAXF) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".onnx") != 0) continue;
        if (tu_quick() && !strstr(e->d_name, ".train13.")) continue;
        char in_path[1200], path[256], inpath[256], outpath[256], shape[64] = "";
        snprintf(in_path, sizeof in_path, "%s/%s", fdir, e->d_name);
        snprintf(names[nf], sizeof names[nf], "%.*s", (int)(len - 5), e->d_name);
        cnn_graph *g = cnn_graph_new();
        cnn_node *in, *out;
        TU_OK(cnn_onnx_import(g, in_path, &(cnn_onnx_import_opts){.batch = BATCH}, &in, &out));
        TU_OK(cnn_graph_compile(g, 3));
        cnn_tensor iv = cnn_node_value(in);
        size_t nin = cnn_tensor_numel(&iv);
        float *x = malloc(nin * sizeof *x);
        tu_fill(x, nin, -1.0f, 1.0f, &rng);
        cnn_graph_set_training(g, false);
        TU_OK(cnn_graph_set_input(g, in, x, BATCH));
        TU_OK(cnn_graph_forward(g));
        cnn_tensor ov = cnn_node_value(out);
        want_n[nf] = cnn_tensor_numel(&ov);
        want[nf] = malloc(want_n[nf] * sizeof(float));
        memcpy(want[nf], ov.data, want_n[nf] * sizeof(float));
        snprintf(path, sizeof path, "%s/re_%s.onnx", g_dir, names[nf]);
        snprintf(inpath, sizeof inpath, "%s/re_%s.in", g_dir, names[nf]);
        snprintf(outpath, sizeof outpath, "%s/re_%s.out", g_dir, names[nf]);
        TU_OK(cnn_onnx_export(g, path, NULL));
        check_structure(path, g, in, out);
        zoo_case zc = {names[nf], 0, 0, 0, 0, false, true, false};
        roundtrip(&zc, path, g, x, want[nf], want_n[nf], 2);
        write_raw(inpath, x, nin);
        for (int k = 0; k < iv.ndim; k++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", k ? "x" : "", iv.dims[k]);
        fprintf(jobs, "%s %s %s %s\n", path, inpath, shape, outpath);
        snprintf(files + strlen(files), sizeof files - strlen(files), " %s", path);
        free(x);
        cnn_graph_free(g);
        nf++;
    }
    closedir(d);
    fclose(jobs);
    assert_true(nf > 0);
    if (python_has_onnx()) {
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import onnx, sys\n"
                 "for f in sys.argv[1:]: onnx.checker.check_model(onnx.load(f), full_check=True)\n"
                 "print(\"onnx.checker: %%d re-exported models pass\" %% (len(sys.argv) - 1))'%s",
                 files);
        assert_int_equal(system(cmd), 0);
    }
    char ortbuf[4096];
    const char *ort = ort_dir(ortbuf, sizeof ortbuf);
    if (ort) {
        snprintf(cmd, sizeof cmd, "%s/tools/install-ort.sh %s", src, ort);
        if (system(cmd) != 0) fail_msg("tools/install-ort.sh %s failed (node, npm, the npm registry)", ort);
        snprintf(cmd, sizeof cmd, "node %s/tests/io/ort_run.js %s %s/node_modules >/dev/null", src, jobs_path, ort);
        assert_int_equal(system(cmd), 0);
        int bad = 0;
        for (int i = 0; i < nf; i++) {
            char outpath[256];
            snprintf(outpath, sizeof outpath, "%s/re_%s.out", g_dir, names[i]);
            size_t len = 0;
            float *got = (float *)slurp(outpath, &len);
            double diff = 0, scale = 0;
            bool ok = got && len == want_n[i] * sizeof(float);
            for (size_t k = 0; ok && k < want_n[i]; k++) {
                diff = fmax(diff, fabs((double)got[k] - want[i][k]));
                scale = fmax(scale, fabs((double)want[i][k]));
            }
            ok = ok && diff <= 1e-4 * fmax(scale, 1e-3);
            if (!ok) printf("re-exported %s: ONNX Runtime differs (max |diff| %.3g, scale %.3g)\n", names[i], diff, scale);
            bad += !ok;
            free(got);
        }
        printf("ONNX Runtime: %d of %d re-exported imported models match cnn.c\n", nf - bad, nf);
        assert_int_equal(bad, 0);
    } else {
        printf("SKIP ONNX Runtime: CNN_BIN not set (run through ctest)\n");
    }
    for (int i = 0; i < nf; i++) free(want[i]);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Failures write nothing: an existing file keeps its content, no temporary remains. */
static void test_export_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *out;
    TU_OK(cnn_model_build(g, "lenet", &(cnn_model_opts){.batch = 1}, &in, &out));
    cnn_node *labels = cnn_labels(g, "y", 1);
    cnn_node *loss = cnn_cross_entropy(g, out, labels);
    TU_OK(cnn_graph_status(g));
    char path[128];
    snprintf(path, sizeof path, "%s/keep.onnx", g_dir);
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);

    /* the labels are not a model output */
    assert_int_equal(cnn_onnx_export(g, path, &(cnn_onnx_export_opts){.output = labels}),
                     CNN_ERR_UNSUPPORTED);
    assert_non_null(strstr(cnn_error_message(), "labels"));
    size_t len;
    char *content = slurp(path, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(content, "old", 3);
    free(content);

    /* a folder that does not exist */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.onnx", g_dir);
    assert_int_equal(cnn_onnx_export(g, bad, NULL), CNN_ERR_IO);
    assert_non_null(strstr(cnn_error_message(), "x.onnx"));
    assert_int_equal(cnn_onnx_export(g, NULL, NULL), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_onnx_export(NULL, path, NULL), CNN_ERR_INVALID_ARG);

    /* the loss as output exports its logits */
    (void)loss;
    TU_OK(cnn_onnx_export(g, path, NULL));
    check_structure(path, g, in, out);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", g_dir);
    assert_int_not_equal(system(cmd), 0); /* no temporary files left */

    /* out of memory at every allocation: an error, never a crash or a file */
    remove(path);
    for (long k = 1; k < 400; k++) {
        cnn_alloc_fail_after(k);
        cnn_status s = cnn_onnx_export(g, path, NULL);
        cnn_alloc_fail_after(0);
        if (s == CNN_OK) break;
        assert_int_equal(s, CNN_ERR_NOMEM);
        assert_false(exists(path));
    }
    assert_true(exists(path));
    cnn_graph_free(g);

    /* a graph with a build error */
    g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){1, 3, 4, 4});
    assert_null(cnn_conv2d(g, x, 8, .kernel = 9));
    assert_int_not_equal(cnn_onnx_export(g, path, NULL), CNN_OK);
    assert_non_null(strstr(cnn_error_message(), "graph has an error"));
    cnn_graph_free(g);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/cnn_onnx_export_XXXXXX");
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
        cmocka_unit_test(test_export_errors),
        cmocka_unit_test(test_export_general_ops),
        cmocka_unit_test(test_export_zoo),
        cmocka_unit_test(test_export_imported),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
#else
/* Without ONNX support the entry point says so. */
static void test_not_built(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    assert_int_equal(cnn_onnx_export(g, "/tmp/x.onnx", NULL), CNN_ERR_UNSUPPORTED);
    assert_non_null(strstr(cnn_error_message(), "not built with ONNX"));
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_not_built)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif

/* Every option of every command: each option that `cnn COMMAND --help` lists appears
   in at least one row of the table below, and every row runs with the exit status and
   output it expects (a new option without a row fails test_every_option_has_a_row).
   Then the content of what the paths produce: `cnn forward` against the library's
   forward of the same weights; --schedule and --warmup in the checkpoint's
   learning-rate history; --normalize in its metadata and in predict; class names from a
   folder dataset through the checkpoint to predict and eval; hsi-map's PNG size and
   colours, with the ground truth given as .npy; the feature-map grid's pixel values
   against the layer's values. */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[64];
static const char *g_bin;
static char out[1 << 17];

/* Runs a shell command in the test folder ("{B}" is the binary), stdout+stderr into
   out; returns the exit status. */
static int run(const char *fmt, ...)
{
    char cmd[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char expanded[3500] = "";
    for (const char *p = cmd; *p;) {
        if (strncmp(p, "{B}", 3) == 0) {
            strcat(expanded, g_bin);
            p += 3;
        } else {
            size_t k = strlen(expanded);
            expanded[k] = *p++;
            expanded[k + 1] = '\0';
        }
    }
    return tu_run(out, sizeof out, g_dir, "%s", expanded);
}

static void path_of(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", g_dir, name); }

/* 28x28 gray: a bright square in quadrant k */
static void write_square_png(const char *name, int k, int noise_seed)
{
    uint8_t img[784];
    cnn_rng r;
    cnn_rng_seed(&r, (uint64_t)noise_seed);
    for (int j = 0; j < 784; j++) img[j] = (uint8_t)cnn_rng_below(&r, 40);
    int y0 = (k / 2) * 14 + 3, x0 = (k % 2) * 14 + 3;
    for (int y = y0; y < y0 + 8; y++)
        for (int x = x0; x < x0 + 8; x++) img[y * 28 + x] = 250;
    char p[256];
    path_of(p, sizeof p, name);
    TU_OK(cnn_png_write(p, 28, 28, 1, img));
}

/* A little-endian int32 .npy of shape (h, w). */
static void write_npy_i32(const char *name, int h, int w, const int32_t *v)
{
    char p[256], dict[128];
    path_of(p, sizeof p, name);
    snprintf(dict, sizeof dict, "{'descr': '<i4', 'fortran_order': False, 'shape': (%d, %d), }", h, w);
    size_t hl = strlen(dict) + 1, total = 10 + hl;
    size_t pad = (64 - total % 64) % 64;
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    unsigned short len = (unsigned short)(hl + pad);
    fputc(len & 0xff, f);
    fputc(len >> 8, f);
    fputs(dict, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(v, sizeof *v, (size_t)h * w, f);
    fclose(f);
}

typedef struct row {
    const char *cmd;  /* "{B}" is the binary */
    int fails;        /* 0: exit status 0; 1: a non-zero status */
    const char *want; /* substring of the output, or NULL */
} row;

/* In order: later rows use the files earlier ones write. */
static const row rows[] = {
    {"{B} version", 0, "cnn "},
    /* train: every option */
    {"{B} train lenet --data idx:. --epochs 3 --batch 16 --lr 0.2 --optimizer sgd --momentum 0.9 --nesterov "
     "--weight-decay 1e-4 --schedule step:1:0.5 --label-smoothing 0.1 --init xavier --seed 3 --out a.safetensors "
     "--log a.csv --plot a.svg --limit-train 64 --limit-test 32 --quiet --threads 1",
     0, "saved a.safetensors"},
    {"{B} train lenet --data idx:. --epochs 4 --batch 16 --lr 0.2 --schedule step:1:0.5 --seed 3 --out a.safetensors "
     "--resume a.safetensors --limit-train 64 --limit-test 32 --quiet",
     0, NULL},
    {"{B} train lenet_relu --data idx:. --epochs 3 --batch 16 --optimizer adam --lr 0.01 --schedule cosine --warmup 1 "
     "--init kaiming --resize 32 --normalize 0.5:0.25 --crop 2 --flip --limit-train 64 --limit-test 32 "
     "--out n.safetensors --plot n.png --backend ref",
     0, "epoch"},
    {"{B} train lenet --data idx:. --epochs 1 --optimizer adamw --init xavier_normal --input 1x28x28 --classes 4 "
     "--limit-train 32 --limit-test 16 --batch 16 --quiet --out c4.safetensors",
     0, NULL},
    {"{B} train lenet --data idx:. --epochs 1 --init kaiming_uniform --limit-train 16 --limit-test 16 --batch 16 "
     "--quiet",
     0, NULL},
    {"{B} train shufflenet_v1 --data idx:. --set groups=2 --width 0.25 --input 1x32x32 --resize 32 --epochs 1 "
     "--batch 8 --limit-train 16 --limit-test 8 --quiet --init default",
     0, NULL},
    {"{B} train lenet --data folder:folder --epochs 2 --batch 4 --lr 0.1 --out f.safetensors --quiet", 0, NULL},
    {"{B} hsi-synth --out hs --height 10 --width 10 --bands 20 --classes 3 --seed 1 --threads 1 --backend ref", 0,
     "synthetic.mat"},
    {"{B} train hybridsn --data hsi:hs/synthetic.mat --gt hs/synthetic_gt.mat --cube-var synthetic "
     "--gt-var synthetic_gt --pca 16 --patch 9 --test-ratio 0.5 --epochs 1 --batch 16 --set dropout=0.1 "
     "--out hyb.safetensors",
     0, "saved hyb.safetensors"},
    {"{B} train hybridsn --data hsi:hs/synthetic.mat --gt gt.npy --pca 16 --patch 9 --epochs 1 --batch 16 --quiet",
     0, NULL},
    /* eval */
    {"{B} eval a.safetensors --data idx:. --split train --batch 8 --limit 20 --json --threads 1 --backend ref", 0,
     "\"overall_acc\""},
    {"{B} eval hyb.safetensors --data hsi:hs/synthetic.mat --gt hs/synthetic_gt.mat --cube-var synthetic "
     "--gt-var synthetic_gt --pca 16 --patch 9 --test-ratio 0.5",
     0, "accuracy (OA)"},
    {"{B} eval f.safetensors --data folder:folder --split train", 0, "dog"},
    /* predict */
    {"{B} predict a.safetensors img.png --top 3 --threads 1 --backend ref", 0, "3. "},
    {"{B} predict f.safetensors folder/dog/1.png --top 2", 0, "dog"},
    /* summary */
    {"{B} summary lenet --json --all --input 1x28x28 --classes 5 --threads 1 --backend ref", 0, "\"layers\""},
    {"{B} summary shufflenet_v1 --set groups=3 --width 0.5", 0, "stage2"},
    /* forward */
    {"{B} forward lenet --weights a.safetensors --input x.safetensors --output y.safetensors --classes 4 "
     "--threads 1 --backend ref",
     0, NULL},
    {"{B} forward shufflenet_v1 --set groups=2 --width 0.25 --train --seed 1 --input x3.safetensors "
     "--output y3.safetensors",
     0, NULL},
    {"{B} forward lenet --input nosuch.safetensors --output y.safetensors", 1, "nosuch.safetensors"},
    /* features */
    {"{B} features a.safetensors img.png --layer 0 --out maps --threads 1 --backend ref", 0, "feature maps"},
    {"{B} features shufflenet_v1 --list --seed 2 --input 3x32x32 --classes 4 --width 0.25 --set groups=2", 0,
     "conv1"},
    /* hsi-map */
    {"{B} hsi-map hyb.safetensors --data hsi:hs/synthetic.mat --gt hs/synthetic_gt.mat --cube-var synthetic "
     "--gt-var synthetic_gt --pca 16 --patch 9 --test-ratio 0.5 --out map.png --batch 32 --scale 2 --seed 0 "
     "--threads 1 --backend ref",
     0, "predicted | ground truth"},
    {"{B} hsi-map hyb.safetensors --data hsi:hs/synthetic.mat --gt gt.npy --out map1.png", 0, "OA"},
    /* hsi-synth as MATLAB v7.3 (if this matio cannot write it, a clear error) */
    {"{B} hsi-synth --out hs73 --height 6 --width 6 --bands 8 --classes 2 --v73", -1, NULL},
    /* bench */
    {"{B} bench lenet --batch 2 --iters 2 --warmup 1 --json --seed 1 --threads 1 --backend ref", 0,
     "\"images_per_s\""},
    {"{B} bench lenet --train --lr 0.01 --momentum 0.9 --layers --peak 100 --iters 1 --warmup 0 --input 1x28x28 "
     "--classes 4",
     0, "GFLOP/s"},
    {"{B} bench shufflenet_v1 --width 0.25 --set groups=2 --input 3x32x32 --iters 1 --warmup 0 --no-fusion", 0,
     "images/s"},
    {"{B} bench lenet --layers --stream 20 --peak 100 --iters 1 --warmup 0", 0, "memory 20.0 GB/s (given)"},
    /* train: transfer, curves inside the epoch, data-parallel options (one process) */
    {"{B} train lenet --data idx:. --epochs 1 --batch 16 --limit-train 32 --limit-test 16 --from a.safetensors "
     "--freeze '0.*,3.*' --quiet",
     0, "frozen: 4 parameters"},
    {"{B} train lenet --data idx:. --epochs 2 --batch 16 --limit-train 64 --limit-test 16 --points 2 --log pts.csv "
     "--quiet",
     0, NULL},
    {"{B} train lenet --data idx:. --epochs 1 --batch 16 --limit-train 32 --limit-test 16 --dist single --shards 2 "
     "--dist-timeout 30 --quiet",
     0, NULL},
    {"{B} train lenet --data idx:. --epochs 1 --batch 16 --limit-train 32 --limit-test 16 --dist single --sync-bn "
     "--quiet",
     0, NULL},
    {"{B} train lenet --data idx:. --dist sideways", 1, "dist"},
    /* features of a 3-D model: one depth slice */
    {"{B} features hyb.safetensors x5.safetensors --layer conv3d_2.0 --depth 1 --out maps3", 0, "feature maps"},
    /* hsi-map: unlabelled pixels masked */
    {"{B} hsi-map hyb.safetensors --data hsi:hs/synthetic.mat --gt gt.npy --out map2.png --mask-unlabelled", 0, "OA"},
    /* quantize: a checkpoint, every calibration method; a zoo model; hyperspectral data */
    {"{B} quantize a.safetensors --data idx:. --calib 16 --method entropy --keep-float 9 --split train --batch 8 "
     "--seed 1 --threads 1 --backend ref --out q.safetensors",
     0, NULL},
    {"{B} quantize a.safetensors --data idx:. --calib 16 --method percentile --percentile 99.9 --resize 28x28 "
     "--out q2.safetensors",
     0, NULL},
    {"{B} quantize shufflenet_v1 --set groups=2 --width 0.25 --input 1x32x32 --classes 4 --data idx:. --resize 32x32 "
     "--calib 8 --method minmax --out q3.safetensors",
     0, NULL},
    {"{B} quantize hyb.safetensors --data hsi:hs/synthetic.mat --gt hs/synthetic_gt.mat --cube-var synthetic "
     "--gt-var synthetic_gt --pca 16 --patch 9 --test-ratio 0.5 --calib 8 --out qh.safetensors",
     0, NULL},
    {"{B} quantize a.safetensors --data idx:. --calib 100000 --out qbad.safetensors", 1, "calib"},
    /* export: ONNX and C, float and int8, from checkpoints and zoo models */
    {"{B} export a.safetensors --onnx a.onnx --threads 1 --backend ref", 0, NULL},
    {"{B} export shufflenet_v1 --set groups=2 --width 0.25 --input 3x32x32 --classes 4 --seed 1 --onnx s.onnx", 0,
     NULL},
    {"{B} export a.safetensors --c cdir --name lenet_c", 0, NULL},
    {"{B} export q.safetensors --c qdir --name lenet_q --int8", 0, NULL},
    /* errors name the option */
    {"{B} train lenet --data idx:. --schedule sometimes", 1, "schedule"},
    {"{B} train lenet --data idx:. --normalize 0.5", 1, "normalize"},
    {"{B} eval a.safetensors --data idx:. --split sideways", 1, "split"},
};
#define N_ROWS (sizeof rows / sizeof rows[0])

static const char *const commands[] = {"train",   "eval",      "predict", "summary", "models",
                                       "forward", "features",  "hsi-map", "hsi-synth", "bench",
                                       "quantize", "export",   "version"};

/* The options `cnn cmd --help` lists. */
static int help_options(const char *cmd, char opts[][40], int max)
{
    assert_int_equal(run("{B} %s --help", cmd), 0);
    int n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char o[40];
        if (strncmp(line, "  --", 4) == 0 && sscanf(line, " %39s", o) == 1 && n < max) snprintf(opts[n++], 40, "%s", o);
    }
    return n;
}

static bool row_has(const row *r, const char *cmd, const char *opt)
{
    char head[64];
    snprintf(head, sizeof head, "{B} %s ", cmd);
    if (strncmp(r->cmd, head, strlen(head)) != 0) return false;
    size_t k = strlen(opt);
    for (const char *p = strstr(r->cmd, opt); p; p = strstr(p + 1, opt))
        if (p[-1] == ' ' && (p[k] == ' ' || p[k] == '\0')) return true;
    return false;
}

static void test_every_option_has_a_row(void **state)
{
    (void)state;
    int total = 0, missing = 0;
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        char opts[64][40];
        int n = help_options(commands[c], opts, 64);
        for (int i = 0; i < n; i++) {
            if (strcmp(opts[i], "--help") == 0) continue; /* run by help_options itself */
            total++;
            bool found = false;
            for (size_t r = 0; r < N_ROWS && !found; r++) found = row_has(&rows[r], commands[c], opts[i]);
            if (!found) {
                fprintf(stderr, "  cnn %s %s: no row of the table uses it\n", commands[c], opts[i]);
                missing++;
            }
        }
    }
    printf("  %d options listed by --help, %d without a row\n", total, missing);
    assert_true(total > 80);
    assert_int_equal(missing, 0);
}

static void test_rows(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < N_ROWS; i++) {
        int rc = run("%s", rows[i].cmd);
        bool ok = rows[i].fails < 0 ? true : (rows[i].fails ? rc != 0 : rc == 0);
        if (ok && rows[i].want && !strstr(out, rows[i].want)) ok = false;
        if (rows[i].fails < 0) { /* --v73: written, or an error that says why */
            char p[256];
            path_of(p, sizeof p, "hs73/synthetic.mat");
            ok = rc == 0 ? access(p, R_OK) == 0 : (strstr(out, "7.3") != NULL || strstr(out, "v73") != NULL);
        }
        if (!ok) {
            fprintf(stderr, "ROW %zu FAILED (exit %d): %s\n--- output:\n%.3000s\n---\n", i, rc, rows[i].cmd, out);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* `cnn forward` writes what the library computes for the same weights and input. */
static void test_forward_content(void **state)
{
    (void)state;
    char p[256];
    path_of(p, sizeof p, "y.safetensors");
    cnn_tensor_file *f;
    TU_OK(cnn_safetensors_load(p, &f));
    cnn_tensor y;
    TU_OK(cnn_tensor_file_get(f, "output", &y));
    assert_int_equal(y.ndim, 2);
    assert_int_equal(y.dims[0], 2);
    assert_int_equal(y.dims[1], 4);
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *logits;
    TU_OK(cnn_model_build(g, "lenet", &(cnn_model_opts){.batch = 2, .classes = 4}, &in, &logits));
    path_of(p, sizeof p, "a.safetensors");
    TU_OK(cnn_graph_load_weights(g, p, false));
    path_of(p, sizeof p, "x.safetensors");
    cnn_tensor_file *xf;
    TU_OK(cnn_safetensors_load(p, &xf));
    cnn_tensor x;
    TU_OK(cnn_tensor_file_get(xf, "input", &x));
    cnn_graph_set_training(g, false);
    TU_OK(cnn_graph_set_input(g, in, x.data, 2));
    TU_OK(cnn_graph_forward_until(g, logits));
    TU_ASSERT_CLOSE(y.data, cnn_node_value(logits).data, 8, 1e-5f, 1e-5f, "cnn forward output");
    cnn_graph_free(g);
    cnn_tensor_file_free(f);
    cnn_tensor_file_free(xf);
    /* the training-mode forward of a default-initialised model: finite, right shape */
    path_of(p, sizeof p, "y3.safetensors");
    TU_OK(cnn_safetensors_load(p, &f));
    TU_OK(cnn_tensor_file_get(f, "output", &y));
    assert_int_equal(y.dims[0], 2);
    assert_int_equal(y.dims[1], 1000);
    for (int i = 0; i < 2000; i++) assert_true(isfinite(y.data[i]));
    cnn_tensor_file_free(f);
}

/* The learning rate of each epoch, from the checkpoint's history (last field). */
static int history_lrs(const char *ckpt, double *lr, int max)
{
    char p[256];
    path_of(p, sizeof p, ckpt);
    cnn_tensor_file *f;
    TU_OK(cnn_safetensors_load(p, &f));
    const char *h = cnn_tensor_file_meta(f, "cnn.history");
    assert_non_null(h);
    int n = 0;
    for (const char *line = h; *line && n < max;) {
        const char *end = strchr(line, '\n');
        const char *last = line;
        for (const char *q = line; q < (end ? end : line + strlen(line)); q++)
            if (*q == ',') last = q + 1;
        lr[n++] = strtod(last, NULL);
        if (!end) break;
        line = end + 1;
    }
    cnn_tensor_file_free(f);
    return n;
}

static void test_schedule_normalize_classes(void **state)
{
    (void)state;
    double lr[8];
    /* step:1:0.5 from 0.2, resumed to 4 epochs: 0.2, 0.1, 0.05, 0.025 */
    assert_int_equal(history_lrs("a.safetensors", lr, 8), 4);
    for (int e = 0; e < 4; e++) assert_true(fabs(lr[e] - 0.2 * pow(0.5, e)) < 1e-6);
    /* cosine over 3 epochs with 1 warm-up epoch: the warm-up starts below the base
       rate, later epochs decrease */
    assert_int_equal(history_lrs("n.safetensors", lr, 8), 3);
    assert_true(lr[0] < 0.01 - 1e-9 || lr[1] < lr[0]);
    assert_true(lr[2] < lr[1] + 1e-12);
    /* --normalize 0.5:0.25 is in the checkpoint */
    char p[256];
    path_of(p, sizeof p, "n.safetensors");
    cnn_tensor_file *f;
    TU_OK(cnn_safetensors_load(p, &f));
    const char *nm = cnn_tensor_file_meta(f, "cnn.normalize");
    assert_non_null(nm);
    assert_non_null(strstr(nm, "0.5"));
    assert_non_null(strstr(nm, "0.25"));
    cnn_tensor_file_free(f);
    /* and used: the model's image input is (pixel / 255 - 0.5) / 0.25 */
    cnn_model m;
    TU_OK(cnn_model_load(p, 1, &m));
    float *x = malloc(32 * 32 * sizeof *x);
    path_of(p, sizeof p, "flat.png");
    uint8_t flat[784];
    memset(flat, 51, sizeof flat);
    TU_OK(cnn_png_write(p, 28, 28, 1, flat));
    TU_OK(cnn_model_load_image(&m, p, x));
    assert_true(fabsf(x[100] - (51.0f / 255.0f - 0.5f) / 0.25f) < 1e-4f);
    free(x);
    cnn_model_free(&m);
    /* class names: the folder's sub-folder names, through the checkpoint */
    path_of(p, sizeof p, "f.safetensors");
    TU_OK(cnn_model_load(p, 1, &m));
    assert_int_equal(m.classes, 2);
    assert_non_null(m.class_names);
    assert_string_equal(m.class_names[0], "cat");
    assert_string_equal(m.class_names[1], "dog");
    cnn_model_free(&m);
}

/* hsi-map: predicted map | ground truth, each scale x scale per pixel; unlabelled
   pixels black in the ground-truth half. */
static void test_hsi_map_png(void **state)
{
    (void)state;
    char p[256];
    path_of(p, sizeof p, "map.png");
    int c, h, w;
    TU_OK(cnn_image_info(p, &c, &h, &w));
    assert_int_equal(c, 3);
    assert_int_equal(h, 20);
    assert_true(w >= 40 && w <= 48);
    float *img = malloc((size_t)c * h * w * sizeof *img);
    TU_OK(cnn_image_load(p, c, h, w, img));
    /* some colour in each half, and black (unlabelled) in the ground-truth half */
    int coloured_left = 0, black_right = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float r = img[(size_t)y * w + x], gch = img[(size_t)h * w + (size_t)y * w + x],
                  b = img[2 * (size_t)h * w + (size_t)y * w + x];
            if (x < 20 && r + gch + b > 0.1f) coloured_left++;
            if (x >= w - 20 && r + gch + b == 0.0f) black_right++;
        }
    free(img);
    assert_true(coloured_left > 100);
    assert_true(black_right > 0);
}

/* features: tile c of the grid holds channel c of the layer, scaled to its min..max. */
static void test_feature_grid_pixels(void **state)
{
    (void)state;
    char p[256];
    cnn_model m;
    path_of(p, sizeof p, "a.safetensors");
    TU_OK(cnn_model_load(p, 1, &m));
    float x[784];
    path_of(p, sizeof p, "img.png");
    TU_OK(cnn_model_load_image(&m, p, x));
    cnn_node *n = cnn_graph_find(m.g, "0");
    assert_non_null(n);
    cnn_graph_set_training(m.g, false);
    TU_OK(cnn_graph_set_input(m.g, m.input, x, 1));
    TU_OK(cnn_graph_forward_until(m.g, n));
    cnn_tensor v = cnn_node_value(n);
    int ch = v.dims[1], fh = v.dims[2], fw = v.dims[3];
    assert_int_equal(ch, 6);
    path_of(p, sizeof p, "maps/0.png");
    int c, h, w;
    TU_OK(cnn_image_info(p, &c, &h, &w));
    assert_int_equal(c, 1);
    int cols = 3, nrows = 2, scale = 64 / fh; /* 6 channels of 28x28, upscaled to 56 */
    int tw = fw * scale, th = fh * scale;
    assert_int_equal(w, cols * (tw + 1) + 1);
    assert_int_equal(h, nrows * (th + 1) + 1);
    float *img = malloc((size_t)h * w * sizeof *img);
    TU_OK(cnn_image_load(p, 1, h, w, img));
    int bad = 0;
    for (int k = 0; k < ch; k++) {
        const float *q = v.data + (size_t)k * fh * fw;
        float lo = q[0], hi = q[0];
        for (int i = 1; i < fh * fw; i++) lo = fminf(lo, q[i]), hi = fmaxf(hi, q[i]);
        int ox = 1 + (k % cols) * (tw + 1), oy = 1 + (k / cols) * (th + 1);
        for (int yy = 0; yy < fh; yy++)
            for (int xx = 0; xx < fw; xx++) {
                float want = hi > lo ? 255.0f * (q[yy * fw + xx] - lo) / (hi - lo) : 0.0f;
                float got = 255.0f * img[(size_t)(oy + yy * scale) * w + ox + xx * scale];
                if (fabsf(got - want) > 1.01f && bad++ < 5)
                    fprintf(stderr, "  tile %d (%d, %d): pixel %.1f, value scaled %.1f\n", k, yy, xx, got, want);
            }
    }
    free(img);
    cnn_model_free(&m);
    assert_int_equal(bad, 0);
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("CNN_BIN");
    if (!g_bin) {
        fprintf(stderr, "CNN_BIN is not set (run through ctest)\n");
        return -1;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/cnn-cliopt-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    tu_write_idx(g_dir, "train", 96, 1);
    tu_write_idx(g_dir, "t10k", 32, 2);
    write_square_png("img.png", 3, 9);
    char p[256];
    path_of(p, sizeof p, "folder");
    mkdir(p, 0755);
    path_of(p, sizeof p, "folder/cat");
    mkdir(p, 0755);
    path_of(p, sizeof p, "folder/dog");
    mkdir(p, 0755);
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "folder/cat/%d.png", i);
        write_square_png(name, 0, 20 + i);
        snprintf(name, sizeof name, "folder/dog/%d.png", i);
        write_square_png(name, 3, 40 + i);
    }
    /* inputs for cnn forward */
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    cnn_tensor x, x3;
    TU_OK(cnn_tensor_alloc(&x, 4, (int[]){2, 1, 28, 28}));
    TU_OK(cnn_tensor_alloc(&x3, 4, (int[]){2, 3, 32, 32}));
    tu_fill(x.data, cnn_tensor_numel(&x), 0.0f, 1.0f, &r);
    tu_fill(x3.data, cnn_tensor_numel(&x3), -1.0f, 1.0f, &r);
    path_of(p, sizeof p, "x.safetensors");
    TU_OK(cnn_safetensors_save(p, 1, &(cnn_named_tensor){"input", &x}, 0, NULL));
    path_of(p, sizeof p, "x3.safetensors");
    TU_OK(cnn_safetensors_save(p, 1, &(cnn_named_tensor){"input", &x3}, 0, NULL));
    /* a (1, 1, 16, 9, 9) hyperspectral patch for the 3-D model's feature maps */
    cnn_tensor x5;
    TU_OK(cnn_tensor_alloc(&x5, 5, (int[]){1, 1, 16, 9, 9}));
    tu_fill(x5.data, cnn_tensor_numel(&x5), -1.0f, 1.0f, &r);
    path_of(p, sizeof p, "x5.safetensors");
    TU_OK(cnn_safetensors_save(p, 1, &(cnn_named_tensor){"input", &x5}, 0, NULL));
    cnn_tensor_free(&x5);
    cnn_tensor_free(&x);
    cnn_tensor_free(&x3);
    /* a 10x10 ground truth as .npy (int32): 3 classes in bands, a few unlabelled */
    int32_t gt[100];
    for (int i = 0; i < 100; i++) gt[i] = (i % 10 < 3) ? 0 : 1 + (i / 10) % 3;
    write_npy_i32("gt.npy", 10, 10, gt);
    return 0;
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
    if (!TU_HAVE_PNG || !TU_HAVE_MATIO) { /* the table's files are PNGs and .mat scenes */
        printf("skipped: this build has no libpng or matio (docs/architecture.md, \"Build options\")\n");
        return TU_SKIP_CODE;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option_has_a_row),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_forward_content),
        cmocka_unit_test(test_schedule_normalize_classes),
        cmocka_unit_test(test_hsi_map_png),
        cmocka_unit_test(test_feature_grid_pixels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

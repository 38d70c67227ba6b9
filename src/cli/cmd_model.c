/* cnn models / summary / forward / features: inspecting and running zoo models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

int cmd_models(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("%-22s %-14s %s\n", "model", "input", "description");
    for (int i = 0; i < cnn_model_count(); i++) {
        const cnn_model_info *m = cnn_model_at(i);
        char in[48];
        if (m->depth) snprintf(in, sizeof in, "%dx%dx%dx%d", m->channels, m->depth, m->height, m->width);
        else snprintf(in, sizeof in, "%dx%dx%d", m->channels, m->height, m->width);
        printf("%-22s %-14s %s\n", m->name, in, m->description);
        const char *opt = cnn_model_options(m->name);
        if (opt && *opt) printf("%-22s %-14s options: %s\n", "", "", opt);
    }
    printf("\n(cnn help MODEL for one model; options without a line: none, and no --width)\n");
    return 0;
}

int cmd_model_help(const char *name)
{
    const cnn_model_info *m = cnn_model_find(name);
    if (!m) return -1;
    printf("%s: %s\n", m->name, m->description);
    if (m->depth)
        printf("input: %dx%dx%dx%d (CxDxHxW), %d classes\n", m->channels, m->depth, m->height,
               m->width, m->classes);
    else printf("input: %dx%dx%d (CxHxW), %d classes\n", m->channels, m->height, m->width, m->classes);
    const char *opt = cnn_model_options(name);
    printf("options: %s\n", opt && *opt ? opt : "none (no --set keys, no --width)");
    printf("try: cnn summary %s    cnn train %s --data DATA\n", m->name, m->name);
    return 0;
}

static void shape_str(const cnn_tensor *t, char *buf, size_t size)
{
    cnn_shape_str(t->ndim, t->dims, buf, size);
}

static const char SUMMARY_USAGE[] =
    "usage: cnn summary MODEL|CHECKPOINT [--input CxHxW] [--classes N] [--width A] [--set k=v] [--all] [--json]\n"
    "Per layer: name, operator, output shape (batch 1), parameters, multiply-adds; then\n"
    "totals and the planned activation memory. Activations, dropout and reshapes are\n"
    "listed with --all (--json lists every layer). A quantized checkpoint also shows each\n"
    "conv / linear layer's precision (int8 or float) and scales.";

/* precision column of a quantized model's layer: "" for models without int8 layers */
static const char *precision_str(const cnn_graph *g, const cnn_node *n, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!cnn_graph_num_int8(g)) return buf;
    cnn_node_quant q = cnn_node_quant_info(n);
    if (!q.capable) return buf;
    if (!q.int8) {
        snprintf(buf, size, "float");
        return buf;
    }
    float lo = q.weight_scale[0], hi = q.weight_scale[0];
    for (int c = 1; c < q.channels; c++) {
        lo = q.weight_scale[c] < lo ? q.weight_scale[c] : lo;
        hi = q.weight_scale[c] > hi ? q.weight_scale[c] : hi;
    }
    snprintf(buf, size, "int8 x*%.4g w*%.3g..%.3g%s", (double)q.input_scale, (double)lo, (double)hi,
             q.float_bias ? " float bias" : "");
    return buf;
}

int cmd_summary(int argc, char **argv)
{
    bool json = false, all = false;
    cli_model_args ma = {0};
    const cli_opt opts[] = {
        CLI_OPT_JSON(&json, "machine-readable output"),
        {"all", OPT_BOOL, &all, "also list parameter-free layers (activations, reshapes)"},
        CLI_MODEL_OPTS(&ma),
    };
    CLI_PARSE(opts, pos, 1, n_pos, SUMMARY_USAGE);
    if (n_pos != 1) return cli_usage(SUMMARY_USAGE);
    cnn_model_opts mo;
    if (!cli_model_opts(&ma, &mo)) return 2;
    cnn_graph *g = NULL;
    cnn_node *x, *y;
    cnn_model cm = {0};
    struct stat st;
    if (stat(pos[0], &st) == 0) { /* a checkpoint (quantized or not) */
        if (cnn_model_load(pos[0], 1, &cm) != CNN_OK) return cli_fail(pos[0]);
        g = cm.g;
        x = cm.input;
        y = cm.logits;
        mo.batch = 1;
    } else {
        g = cnn_graph_new();
        if (!g || cnn_model_build(g, pos[0], &mo, &x, &y) != CNN_OK) {
            cnn_graph_free(g);
            return cli_fail("summary");
        }
    }
    (void)x;
    (void)y;
    char prec[96];
    cnn_cost total = cnn_graph_cost(g);
    size_t param_b = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        param_b += cnn_tensor_numel(&p->value) * sizeof(float);
    }
    /* planning allocates the parameters: a model too large for this machine is
       reported with what it would need, not planned */
    if (cnn_graph_compile(g, 0) != CNN_OK) {
        fprintf(stderr, "cnn: summary: %s\ncnn: %s would need %lld parameters (%.2f GiB, as much again "
                        "for their gradients) and %lld multiply-adds per example\n",
                cnn_error_message(), pos[0], (long long)total.params, (double)param_b / 1073741824.0,
                (long long)total.macs);
        cnn_graph_free(g);
        return 1;
    }
    size_t eval_b = cnn_graph_arena_bytes(g, false), train_b = cnn_graph_arena_bytes(g, true);
    cnn_memory_plan mp = cnn_graph_memory_plan(g);
    char buf[96];
    if (json) {
        printf("{\"model\": \"%s\", \"params\": %lld, \"macs\": %lld, \"param_bytes\": %zu, "
               "\"arena_bytes_inference\": %zu, \"arena_bytes_training\": %zu, "
               "\"scratch_bytes_inference\": %zu, \"scratch_bytes_training\": %zu, \"saved_bytes\": %zu, \"planned_bytes_inference\": %zu, "
               "\"layers\": [",
               pos[0], (long long)total.params, (long long)total.macs, param_b, eval_b, train_b,
               mp.scratch, mp.scratch_training, mp.saved, mp.params + eval_b + mp.scratch + mp.saved);
        for (int i = 0; i < cnn_graph_num_nodes(g); i++) {
            cnn_node *n = cnn_graph_node(g, i);
            cnn_tensor v = cnn_node_value(n);
            cnn_cost c = cnn_node_cost(n);
            printf("%s\n  {\"name\": \"%s\", \"op\": \"%s\", \"kind\": \"%s\", \"shape\": [", i ? "," : "",
                   cnn_node_name(n), cnn_node_op(n), cnn_node_kind(n));
            for (int d = 0; d < v.ndim; d++) printf("%s%d", d ? ", " : "", v.dims[d]);
            printf("], \"params\": %lld, \"macs\": %lld", (long long)c.params, (long long)c.macs);
            cnn_node_quant q = cnn_node_quant_info(n);
            if (cnn_graph_num_int8(g) && q.capable)
                printf(", \"precision\": \"%s\", \"input_scale\": %.9g", q.int8 ? "int8" : "float",
                       (double)q.input_scale);
            printf("}");
        }
        printf("\n]}\n");
    } else {
        /* without --all, the parameter-free elementwise and reshaping layers
           (activations, dropout, flatten / reshape) are left out; convs, linears, norms,
           pools, adds and concats are always shown. Names are never cut: the column is
           as wide as the longest name. */
        int nn = cnn_graph_num_nodes(g), hidden = 0, namew = 24;
        for (int i = 0; i < nn; i++) {
            int l = (int)strlen(cnn_node_name(cnn_graph_node(g, i)));
            namew = l > namew ? l : namew;
        }
        printf("%-*s %-18s %-22s %12s %14s\n", namew, "layer", "op", "output shape", "params", "mult-adds");
        for (int i = 0; i < nn; i++) {
            cnn_node *n = cnn_graph_node(g, i);
            cnn_tensor v = cnn_node_value(n);
            cnn_cost c = cnn_node_cost(n);
            const char *op = cnn_node_op(n);
            if (!all && i > 0 && i < nn - 1 && c.params == 0 &&
                (!strcmp(op, "activation") || !strcmp(op, "dropout") || !strcmp(op, "reshape"))) {
                hidden++;
                continue;
            }
            shape_str(&v, buf, sizeof buf);
            printf("%-*s %-18s %-22s %12lld %14lld %s\n", namew, cnn_node_name(n), cnn_node_kind(n), buf,
                   (long long)c.params, (long long)c.macs, precision_str(g, n, prec, sizeof prec));
        }
        if (hidden) printf("(%d parameter-free layers not shown: --all lists them)\n", hidden);
        char macs_h[32];
        if (total.macs >= 1000000000LL) snprintf(macs_h, sizeof macs_h, "%.3f G", (double)total.macs / 1e9);
        else snprintf(macs_h, sizeof macs_h, "%.3f M", (double)total.macs / 1e6);
        printf("\ntotal: %lld parameters (%.2f M), %lld multiply-adds (%s) per example\n",
               (long long)total.params, (double)total.params / 1e6, (long long)total.macs, macs_h);
        printf("memory: parameters %.2f MiB; planned activation arena %.2f MiB inference, "
               "%.2f MiB training (batch %d); kernel scratch %.2f MiB inference, %.2f MiB training;\n"
               "saved state %.2f MiB\n"
               "planned for inference in all: %.2f MiB\n",
               (double)param_b / 1048576.0, (double)eval_b / 1048576.0, (double)train_b / 1048576.0,
               mo.batch, (double)mp.scratch / 1048576.0, (double)mp.scratch_training / 1048576.0,
               (double)mp.saved / 1048576.0,
               (double)(mp.params + eval_b + mp.scratch + mp.saved) / 1048576.0);
        if (cnn_graph_num_int8(g))
            printf("int8: %d conv/linear layers (int8 weights per output channel, int8 input per "
                   "tensor); other ops float\n", cnn_graph_num_int8(g));
    }
    if (cm.g) cnn_model_free(&cm);
    else cnn_graph_free(g);
    return 0;
}

static const char FORWARD_USAGE[] =
    "usage: cnn forward MODEL --weights W.safetensors --input X.safetensors --output Y.safetensors\n"
    "                   [--train] [--classes N] [--width A] [--set k=v]\n"
    "Runs one forward pass with the given weights (PyTorch state_dict names) on the\n"
    "tensor named 'input' and writes 'output'. --train uses training mode (batch-norm\n"
    "batch statistics, dropout).";

int cmd_forward(int argc, char **argv)
{
    const char *weights = NULL, *input = NULL, *output = NULL;
    bool train = false;
    int seed = 0;
    cli_model_args ma = {0};
    const cli_opt opts[] = {
        {"weights", OPT_STR, &weights, "weights (.safetensors, state_dict names); default init if absent"},
        {"input", OPT_STR, &input, "input tensor file with a tensor named 'input' (required)"},
        {"output", OPT_STR, &output, "where to write the tensor 'output' (required)"},
        CLI_OPT_TRAIN(&train, "training-mode forward"),
        CLI_OPT_SEED(&seed, "seed for default init / dropout"),
        {"classes", OPT_INT, &ma.classes, "number of classes"},
        {"width", OPT_FLOAT, &ma.width, "width multiplier"},
        {"set", OPT_LIST, ma.set, "family option key=value (repeatable)"},
    };
    CLI_PARSE(opts, pos, 1, n_pos, FORWARD_USAGE);
    if (n_pos != 1 || !input || !output) return cli_usage(FORWARD_USAGE);
    cnn_tensor_file *f = NULL;
    if (cnn_safetensors_load(input, &f) != CNN_OK) return cli_fail("input");
    cnn_tensor x;
    if (cnn_tensor_file_get(f, "input", &x) != CNN_OK || (x.ndim != 4 && x.ndim != 5)) {
        cnn_tensor_file_free(f);
        fprintf(stderr, "cnn: %s: needs a tensor 'input' of shape (N, C, H, W) or (N, C, D, H, W)\n", input);
        return 1;
    }
    cnn_model_opts mo;
    ma.batch = x.dims[0];
    cli_model_opts(&ma, &mo);
    mo.channels = x.dims[1];
    if (x.ndim == 5) mo.depth = x.dims[2];
    mo.height = x.dims[x.ndim - 2];
    mo.width = x.dims[x.ndim - 1];
    int rc = 0;
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *y;
    if (cnn_model_build(g, pos[0], &mo, &in, &y) != CNN_OK || cnn_graph_compile(g, (uint64_t)seed) != CNN_OK) {
        rc = cli_fail("forward");
        goto done;
    }
    if (weights) {
        /* a quantized checkpoint: its layers' scales make them int8 again */
        cnn_tensor_file *wf = NULL;
        bool quant = cnn_safetensors_load(weights, &wf) == CNN_OK && cnn_tensor_file_meta(wf, "cnn.quant");
        cnn_model qm = {.g = g};
        cnn_status ws = cnn_graph_load_weights(g, weights, !quant);
        if (ws == CNN_OK && quant) ws = cnn_model_quant_load(&qm, wf, weights);
        cnn_tensor_file_free(wf);
        if (ws != CNN_OK) {
            rc = cli_fail("weights");
            goto done;
        }
    }
    cnn_graph_set_training(g, train);
    if (cnn_graph_set_input(g, in, x.data, x.dims[0]) != CNN_OK || cnn_graph_forward(g) != CNN_OK) {
        rc = cli_fail("forward");
        goto done;
    }
    cnn_tensor out = cnn_node_value(y);
    cnn_named_tensor nt = {"output", &out};
    const char *meta[4] = {"cnn.model", pos[0], "cnn.mode", train ? "train" : "eval"};
    if (cnn_safetensors_save(output, 1, &nt, 2, meta) != CNN_OK) rc = cli_fail("output");
done:
    cnn_graph_free(g);
    cnn_tensor_file_free(f);
    return rc;
}

/* ---------------------------------------------------------------- features */
static const char FEATURES_USAGE[] =
    "usage: cnn features CHECKPOINT|MODEL IMAGE|TENSOR --layer NAME [--out DIR] [--depth K] [--list]\n"
    "Writes the feature maps of one layer for one input as a PNG grid (DIR/<layer>.png), one\n"
    "tile per channel, each scaled to its own min..max. IMAGE is a PNG/JPEG; TENSOR a\n"
    ".safetensors file with a tensor 'input' (C,H,W), (C,D,H,W) or with a batch of 1, for\n"
    "any channel count and for 3D models (HybridSN). A MODEL name is built at the input's\n"
    "own size and channels unless --input says otherwise; a CHECKPOINT resizes images to\n"
    "its input. 3D layers (N,C,D,H,W) give one grid per depth slice (DIR/<layer>_d<k>.png)\n"
    "or, with --depth K, slice K only. --list prints layer names. An image gives 4 (RGBA)\n"
    "or 2 (gray + alpha) channels when the model takes 4 or 2 (--input 4xHxW); alpha is 1\n"
    "where the file has none.";

/* One grid: ch tiles of fh x fw (ceil(sqrt(ch)) columns, 1-pixel gaps, small maps
   upscaled), each scaled to its own min..max. */
static int write_grid(const char *path, const float *v, int ch, int fh, int fw, size_t tile_stride)
{
    int cols = (int)ceil(sqrt((double)ch)), rows = (ch + cols - 1) / cols;
    int scale = fh < 32 && fw < 32 ? (64 / (fh > fw ? fh : fw)) : 1;
    if (scale < 1) scale = 1;
    int th = fh * scale, tw = fw * scale;
    int gw = cols * (tw + 1) + 1, gh = rows * (th + 1) + 1;
    uint8_t *img = malloc((size_t)gw * gh);
    if (!img) {
        fprintf(stderr, "cnn: features: out of memory for a %dx%d grid\n", gw, gh);
        return 1;
    }
    memset(img, 40, (size_t)gw * gh);
    for (int c = 0; c < ch; c++) {
        const float *p = v + (size_t)c * tile_stride;
        float lo = p[0], hi = p[0];
        for (int k = 1; k < fh * fw; k++) {
            lo = p[k] < lo ? p[k] : lo;
            hi = p[k] > hi ? p[k] : hi;
        }
        int ox = 1 + (c % cols) * (tw + 1), oy = 1 + (c / cols) * (th + 1);
        for (int yy = 0; yy < th; yy++)
            for (int xx = 0; xx < tw; xx++) {
                float val = p[(yy / scale) * fw + xx / scale];
                img[(size_t)(oy + yy) * gw + ox + xx] =
                    (uint8_t)(hi > lo ? 255.0f * (val - lo) / (hi - lo) + 0.5f : 0);
            }
    }
    int rc = cnn_png_write(path, gw, gh, 1, img) != CNN_OK ? cli_fail("features") : 0;
    free(img);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cmd_features(int argc, char **argv)
{
    const char *layer = NULL, *outdir = ".";
    bool list = false;
    int seed = 0, depth = -1;
    cli_model_args ma = {0};
    const cli_opt opts[] = {
        {"layer", OPT_STR, &layer, "layer name as in 'cnn summary' (required)"},
        CLI_OPT_OUT(&outdir, "output folder (default .)"),
        {"depth", OPT_INT, &depth, "3D layers: write only this depth slice (default: every slice)"},
        {"list", OPT_BOOL, &list, "list the layer names and exit"},
        CLI_SEEDED_MODEL_OPTS(&seed, &ma),
    };
    CLI_PARSE(opts, pos, 2, n_pos, FEATURES_USAGE);
    if (n_pos < 1 || (!list && (n_pos != 2 || !layer))) return cli_usage(FEATURES_USAGE);
    /* the input: an image, or a tensor file (any channels, 3D) */
    cnn_tensor_file *tf = NULL;
    cnn_tensor tin = {0};
    int img_c = 0, img_h = 0, img_w = 0;
    if (n_pos == 2 && ends_with(pos[1], ".safetensors")) {
        if (cnn_safetensors_load(pos[1], &tf) != CNN_OK) return cli_fail(pos[1]);
        if (cnn_tensor_file_get(tf, "input", &tin) != CNN_OK || tin.ndim < 3 || tin.ndim > 5 ||
            (tin.ndim == 5 && tin.dims[0] != 1)) {
            fprintf(stderr, "cnn: %s: needs a tensor 'input' of shape (C,H,W), (C,D,H,W), (1,C,H,W) or "
                            "(1,C,D,H,W)\n", pos[1]);
            cnn_tensor_file_free(tf);
            return 1;
        }
        /* drop a batch of 1: (1,C,H,W) -> (C,H,W); a 4-D tensor whose first dim is not 1
           is (C,D,H,W) */
        if (tin.ndim == 5 || (tin.ndim == 4 && tin.dims[0] == 1)) {
            for (int d = 0; d + 1 < tin.ndim; d++) tin.dims[d] = tin.dims[d + 1];
            tin.ndim--;
        }
    } else if (n_pos == 2 && cnn_image_info(pos[1], &img_c, &img_h, &img_w) != CNN_OK) {
        return cli_fail(pos[1]);
    }
    cnn_model m;
    struct stat st;
    bool is_file = stat(pos[0], &st) == 0;
    if (is_file) {
        if (cnn_model_load(pos[0], 1, &m) != CNN_OK) {
            cnn_tensor_file_free(tf);
            return cli_fail(pos[0]);
        }
    } else {
        cnn_model_opts mo;
        ma.batch = 1;
        if (!cli_model_opts(&ma, &mo)) {
            cnn_tensor_file_free(tf);
            return 2;
        }
        if (!ma.input && tin.ndim) { /* the tensor's own shape */
            mo.channels = tin.dims[0];
            mo.depth = tin.ndim == 4 ? tin.dims[1] : 0;
            mo.height = tin.dims[tin.ndim - 2];
            mo.width = tin.dims[tin.ndim - 1];
        } else if (!ma.input && img_c) { /* the image's own size and channels */
            const cnn_model_info *info = cnn_model_find(pos[0]);
            if (info && info->depth == 0) {
                mo.channels = img_c;
                mo.height = img_h;
                mo.width = img_w;
            }
        }
        if (cnn_model_new(pos[0], &mo, 0.0f, &m) != CNN_OK || cnn_graph_compile(m.g, (uint64_t)seed) != CNN_OK) {
            cnn_tensor_file_free(tf);
            return cli_fail(pos[0]);
        }
    }
    int rc = 0;
    float *x = NULL;
    if (list) {
        int namew = 24; /* names are never cut: the column fits the longest */
        for (int i = 0; i < cnn_graph_num_nodes(m.g); i++) {
            int l = (int)strlen(cnn_node_name(cnn_graph_node(m.g, i)));
            namew = l > namew ? l : namew;
        }
        for (int i = 0; i < cnn_graph_num_nodes(m.g); i++) {
            cnn_node *n = cnn_graph_node(m.g, i);
            char buf[96];
            cnn_tensor v = cnn_node_value(n);
            if (n == m.labels || n == m.loss) continue;
            printf("%-*s %-16s %s\n", namew, cnn_node_name(n), cnn_node_kind(n),
                   cnn_shape_str(v.ndim, v.dims, buf, sizeof buf));
        }
        goto done;
    }
    cnn_node *n = cnn_graph_find(m.g, layer);
    cnn_tensor in = cnn_node_value(m.input);
    if (!n || n == m.loss || n == m.labels) {
        fprintf(stderr, "cnn: no layer '%s' in %s (see: cnn features %s --list)\n", layer, m.name, pos[0]);
        rc = 1;
        goto done;
    }
    size_t in_numel = cnn_tensor_numel(&in) / (size_t)in.dims[0];
    char want[96], got[96];
    if (tin.ndim) {
        bool fits = tin.ndim == in.ndim - 1;
        for (int d = 0; fits && d < tin.ndim; d++) fits = tin.dims[d] == in.dims[d + 1];
        if (!fits) {
            cnn_shape_str(in.ndim - 1, in.dims + 1, want, sizeof want);
            cnn_shape_str(tin.ndim, tin.dims, got, sizeof got);
            fprintf(stderr, "cnn: %s: tensor 'input' is %s, %s takes %s%s\n", pos[1], got, m.name, want,
                    is_file ? "" : " (--input sets the model's size)");
            rc = 1;
            goto done;
        }
        x = malloc(in_numel * sizeof *x);
        if (x) memcpy(x, tin.data, in_numel * sizeof *x);
    } else {
        if (in.ndim != 4) {
            fprintf(stderr, "cnn: %s takes 3D input: give a .safetensors file with a tensor 'input' of "
                            "shape (C,D,H,W), e.g. an HSI patch\n", m.name);
            rc = 1;
            goto done;
        }
        x = malloc(in_numel * sizeof *x);
        if (x && cnn_model_load_image(&m, pos[1], x) != CNN_OK) {
            rc = cli_fail(pos[1]);
            goto done;
        }
    }
    if (!x) {
        fprintf(stderr, "cnn: features: out of memory\n");
        rc = 1;
        goto done;
    }
    cnn_graph_set_training(m.g, false);
    if (cnn_graph_set_input(m.g, m.input, x, 1) != CNN_OK || cnn_graph_forward_until(m.g, n) != CNN_OK) {
        rc = cli_fail("features");
        goto done;
    }
    cnn_tensor v = cnn_node_value(n);
    int ch, fh, fw, nd = 0;
    if (v.ndim == 5) {
        ch = v.dims[1];
        nd = v.dims[2];
        fh = v.dims[3];
        fw = v.dims[4];
    } else if (v.ndim == 4) {
        ch = v.dims[1];
        fh = v.dims[2];
        fw = v.dims[3];
    } else if (v.ndim == 2) {
        ch = 1;
        fh = 1;
        fw = v.dims[1];
    } else {
        fprintf(stderr, "cnn: layer '%s' has shape of rank %d; pick a feature-map layer\n", layer, v.ndim);
        rc = 1;
        goto done;
    }
    if (depth >= 0 && (!nd || depth >= nd)) {
        if (nd) fprintf(stderr, "cnn: --depth %d: layer '%s' has %d depth slices (0..%d)\n", depth, layer, nd, nd - 1);
        else fprintf(stderr, "cnn: --depth %d: layer '%s' is not 3D\n", depth, layer);
        rc = 2;
        goto done;
    }
    mkdir(outdir, 0755);
    char path[4096], safe[256];
    snprintf(safe, sizeof safe, "%s", layer);
    for (char *q = safe; *q; q++)
        if (*q == '/') *q = '_';
    if (!nd) {
        snprintf(path, sizeof path, "%s/%s.png", outdir, safe);
        rc = write_grid(path, v.data, ch, fh, fw, (size_t)fh * fw);
        if (!rc)
            printf("wrote %s: %d feature maps of %dx%d from layer '%s' (%s)\n", path, ch, fh, fw, layer,
                   cnn_node_kind(n));
        goto done;
    }
    /* 3D: (C, D, H, W): slice k is channel c's plane at c * D*H*W + k * H*W */
    int written = 0;
    for (int k = depth >= 0 ? depth : 0; k < (depth >= 0 ? depth + 1 : nd) && !rc; k++) {
        snprintf(path, sizeof path, "%s/%s_d%d.png", outdir, safe, k);
        rc = write_grid(path, v.data + (size_t)k * fh * fw, ch, fh, fw, (size_t)nd * fh * fw);
        written += !rc;
    }
    char which[32];
    if (depth >= 0) snprintf(which, sizeof which, "%d.png", depth);
    else snprintf(which, sizeof which, "<k>.png (k = 0..%d)", nd - 1);
    if (!rc)
        printf("wrote %d grid%s %s/%s_d%s: %d feature maps of %dx%d per depth slice (of %d) from "
               "layer '%s' (%s)\n",
               written, written == 1 ? "" : "s", outdir, safe, which, ch, fh, fw, nd, layer,
               cnn_node_kind(n));
done:
    free(x);
    cnn_tensor_file_free(tf);
    cnn_model_free(&m);
    return rc;
}

/* cnn quantize: post-training int8 quantization of a checkpoint (or a zoo model with
   its default initialisation) calibrated on a data set; writes a quantized checkpoint
   that every command taking a checkpoint reads (docs/architecture.md, "int8
   precision"). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

static const char QUANT_USAGE[] =
    "usage: cnn quantize CHECKPOINT|MODEL|FILE.onnx --data DATA --out Q.safetensors [--calib N]\n"
    "                    [--method minmax|percentile|entropy] [--percentile P]\n"
    "                    [--keep-float LAYER[,LAYER...]] [--split train|test] [--batch N]\n"
    "Post-training int8 quantization: symmetric int8 weights per output channel and one\n"
    "int8 scale per activation tensor (the input of every conv / linear), calibrated on\n"
    "the first N examples of DATA (default 512; entropy = the KL-divergence method of\n"
    "TensorRT / ncnn, the default). Layers named by --keep-float and ops without an int8\n"
    "kernel stay float. The output is a checkpoint that eval, predict, forward, bench and\n"
    "summary take. An ONNX file is imported as `cnn eval` imports it.";

int cmd_quantize(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *method = "entropy", *keep = NULL, *split = "train",
               *resize = NULL;
    int calib = 512, batch = 64, seed = 0;
    float pct = 0.0f;
    cli_model_args ma = {0};
    cli_hsi_args ha = {0};
    const cli_opt opts[] = {
        CLI_OPT_DATA(&data, "calibration data set (required)"),
        CLI_OPT_OUT(&out, "quantized checkpoint to write (required)"),
        {"calib", OPT_INT, &calib, "calibration examples (default 512)"},
        {"method", OPT_STR, &method, "minmax, percentile or entropy (default)"},
        {"percentile", OPT_FLOAT, &pct, "percentile method: the percentile of |x| (99.99)"},
        {"keep-float", OPT_STR, &keep, "comma-separated layers to keep in float"},
        CLI_OPT_SPLIT(&split, "calibrate on the train (default) or test split"),
        CLI_OPT_BATCH(&batch, "calibration batch (default 64)"),
        CLI_OPT_RESIZE(&resize, "MODEL name: resize the calibration images to HxW"),
        CLI_SEEDED_MODEL_OPTS(&seed, &ma),
        CLI_HSI_OPTS(&ha),
    };
    CLI_PARSE(opts, pos, 1, n_pos, QUANT_USAGE);
    int r;
    if (n_pos != 1 || !data || !out || batch < 1) return cli_usage(QUANT_USAGE);
    cnn_quant_opts qo = {.percentile = pct, .keep_float = keep};
    if (strcmp(method, "minmax") == 0) qo.method = CNN_CALIB_MINMAX;
    else if (strcmp(method, "percentile") == 0) qo.method = CNN_CALIB_PERCENTILE;
    else if (strcmp(method, "entropy") == 0) qo.method = CNN_CALIB_ENTROPY;
    else {
        fprintf(stderr, "cnn: quantize: unknown --method '%s' (minmax, percentile, entropy)\n", method);
        return 2;
    }
    cnn_model m;
    if ((r = cli_model_open(pos[0], batch, &ma, seed, &m)) >= 0) return r;
    if (resize) {
        int h = 0, w = 0;
        if (sscanf(resize, "%dx%d", &h, &w) != 2 || h < 1 || w < 1) {
            fprintf(stderr, "cnn: quantize: bad --resize '%s' (HxW)\n", resize);
            cnn_model_free(&m);
            return 2;
        }
        m.transform.resize_h = h;
        m.transform.resize_w = w;
    }
    cnn_dataset d = {0};
    if ((r = cli_model_data(&data, &ha, &m, strcmp(split, "test") != 0, &d)) >= 0) return r;
    int rc = 0;
    double t0 = cnn_now_s();
    if (cnn_model_quantize(&m, &d, calib, &qo) != CNN_OK) {
        rc = cli_fail("quantize");
        goto done;
    }
    double t1 = cnn_now_s();
    /* what runs in int8 and what stays float */
    int n_int8 = 0, n_kept = 0;
    size_t w_float = 0, w_int8 = 0;
    printf("%-40s %-10s %-6s %12s %24s\n", "layer", "op", "prec", "input scale", "weight scale min..max");
    for (int i = 0; i < cnn_graph_num_nodes(m.g); i++) {
        cnn_node *n = cnn_graph_node(m.g, i);
        cnn_node_quant q = cnn_node_quant_info(n);
        if (!q.capable || n == m.loss) continue;
        if (q.int8) {
            float lo = q.weight_scale[0], hi = q.weight_scale[0];
            for (int c = 1; c < q.channels; c++) {
                if (q.weight_scale[c] < lo) lo = q.weight_scale[c];
                if (q.weight_scale[c] > hi) hi = q.weight_scale[c];
            }
            printf("%-40.40s %-10s %-6s %12.6g %11.4g..%-11.4g%s\n", cnn_node_name(n), cnn_node_op(n),
                   "int8", (double)q.input_scale, (double)lo, (double)hi,
                   q.float_bias ? " (bias beyond int32: float)" : "");
            n_int8++;
        } else {
            bool kept = keep && strstr(keep, cnn_node_name(n));
            printf("%-40.40s %-10s %-6s %12s %24s\n", cnn_node_name(n), cnn_node_op(n), "float",
                   "-", kept ? "(--keep-float)" : "(not quantized)");
            n_kept++;
        }
    }
    for (int i = 0; i < cnn_graph_num_params(m.g); i++) {
        cnn_param *p = cnn_graph_param(m.g, i);
        w_float += cnn_tensor_numel(&p->value) * 4;
    }
    for (int i = 0; i < cnn_graph_num_nodes(m.g); i++) {
        cnn_node *n = cnn_graph_node(m.g, i);
        cnn_node_quant q = cnn_node_quant_info(n);
        if (q.int8) w_int8 += q.weight_elems;
    }
    /* ops without an int8 kernel, by op name */
    printf("\nfloat ops (no int8 kernel):");
    const char *seen[64];
    int n_seen = 0;
    for (int i = 0; i < cnn_graph_num_nodes(m.g); i++) {
        cnn_node *n = cnn_graph_node(m.g, i);
        if (cnn_node_quant_info(n).capable || n == m.input || n == m.labels || n == m.loss) continue;
        const char *op = cnn_node_op(n);
        bool dup = false;
        for (int k = 0; k < n_seen && !dup; k++) dup = strcmp(seen[k], op) == 0;
        if (dup || n_seen == 64) continue;
        seen[n_seen++] = op;
        int cnt = 0;
        for (int j = i; j < cnn_graph_num_nodes(m.g); j++)
            cnt += strcmp(cnn_node_op(cnn_graph_node(m.g, j)), op) == 0;
        printf(" %s x%d", op, cnt);
    }
    printf("%s\n", n_seen ? "" : " none");
    printf("%d layers int8, %d kept float (%s calibration on %d examples of %s, %.2f s)\n", n_int8,
           n_kept, method, calib, data, t1 - t0);
    if (cnn_model_save_quantized(&m, out) != CNN_OK) {
        rc = cli_fail(out);
        goto done;
    }
    printf("weights: %.1f KiB float -> %.1f KiB (int8 %.1f KiB + float %.1f KiB); wrote %s\n",
           (double)w_float / 1024.0, (double)(w_float - 3 * w_int8) / 1024.0,
           (double)w_int8 / 1024.0, (double)(w_float - 4 * w_int8) / 1024.0, out);
done:
    cnn_dataset_free(&d);
    cnn_model_free(&m);
    return rc;
}

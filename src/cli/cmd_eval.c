/* cnn eval / cnn predict: accuracy, per-class accuracy and the confusion matrix of
   a checkpoint on a dataset; top-5 classes for single images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *class_name(const cnn_model *m, int c, char *buf, size_t size)
{
    if (m->class_names && m->class_names[c] && *m->class_names[c]) return m->class_names[c];
    snprintf(buf, size, "class %d", c);
    return buf;
}

static const char EVAL_USAGE[] =
    "usage: cnn eval CHECKPOINT --data DATA [--split test|train] [--batch N] [--limit N]\n"
    "       (hsi:CUBE.mat data also takes --gt, --pca, --patch, ...; PCA and patch default\n"
    "       to the checkpoint's input)\n"
    "Prints accuracy (OA), average per-class accuracy (AA), Cohen's kappa, per-class\n"
    "accuracy and the confusion matrix (rows: true class, columns: predicted).";

int cmd_eval(int argc, char **argv)
{
    const char *data = NULL, *split = "test";
    int batch = 256, limit = 0;
    bool json = false;
    cli_hsi_args ha = {0};
    const cli_opt opts[] = {
        CLI_OPT_DATA(&data, "dataset (required)"),
        CLI_OPT_SPLIT(&split, "test (default) or train"),
        CLI_OPT_BATCH(&batch, "batch size (default 256)"),
        {"limit", OPT_INT, &limit, "first N examples only"},
        CLI_OPT_JSON(&json, "print the metrics as JSON"),
        CLI_HSI_OPTS(&ha),
    };
    CLI_PARSE(opts, pos, 1, n_pos, EVAL_USAGE);
    int r;
    if (n_pos != 1 || !data || batch < 1) return cli_usage(EVAL_USAGE);
    if (strcmp(split, "test") != 0 && strcmp(split, "train") != 0) {
        fprintf(stderr, "cnn: --split: '%s' is not 'test' or 'train'\n", split);
        return 2;
    }
    cnn_model m;
    if (cnn_model_load(pos[0], batch, &m) != CNN_OK) return cli_fail(pos[0]);
    /* inference only: the weights stay as loaded, so packed copies are kept (docs/architecture.md, "Kernels") */
    cnn_graph_set_const_weights(m.g, true);
    cnn_dataset d = {0};
    if ((r = cli_model_data(&data, &ha, &m, strcmp(split, "train") == 0, &d)) >= 0) return r;
    cnn_metrics mt;
    int rc = 0;
    if (cnn_evaluate(&m, &d, limit, &mt) != CNN_OK) {
        rc = cli_fail("eval");
        goto done;
    }
    char buf[32];
    if (json) {
        printf("{\"model\": \"%s\", \"examples\": %lld, \"loss\": %.6f, \"overall_acc\": %.6f, "
               "\"average_acc\": %.6f, \"kappa\": %.6f, \"class_acc\": [",
               m.name, (long long)mt.total, mt.loss, mt.overall_acc, mt.average_acc, mt.kappa);
        for (int c = 0; c < mt.classes; c++) printf("%s%.6f", c ? ", " : "", cnn_metrics_class_acc(&mt, c));
        printf("], \"confusion\": [");
        for (int i = 0; i < mt.classes; i++) {
            printf("%s[", i ? ", " : "");
            for (int j = 0; j < mt.classes; j++)
                printf("%s%lld", j ? ", " : "", (long long)mt.confusion[(size_t)i * mt.classes + j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("%s on %s (%s split): %lld examples\n", m.name, data, split, (long long)mt.total);
        printf("accuracy (OA) %.4f   average accuracy (AA) %.4f   kappa %.4f   loss %.4f\n\n",
               mt.overall_acc, mt.average_acc, mt.kappa, mt.loss);
        printf("%-4s %-20s %8s %8s\n", "id", "class", "examples", "accuracy");
        for (int c = 0; c < mt.classes; c++) {
            int64_t row = 0;
            for (int j = 0; j < mt.classes; j++) row += mt.confusion[(size_t)c * mt.classes + j];
            double a = cnn_metrics_class_acc(&mt, c);
            if (a < 0) printf("%-4d %-20.20s %8lld %8s\n", c, class_name(&m, c, buf, sizeof buf), (long long)row, "-");
            else printf("%-4d %-20.20s %8lld %8.4f\n", c, class_name(&m, c, buf, sizeof buf), (long long)row, a);
        }
        printf("\nconfusion matrix (rows: true, columns: predicted)\n     ");
        for (int j = 0; j < mt.classes; j++) printf(" %6d", j);
        printf("\n");
        for (int i = 0; i < mt.classes; i++) {
            printf("%4d ", i);
            for (int j = 0; j < mt.classes; j++)
                printf(" %6lld", (long long)mt.confusion[(size_t)i * mt.classes + j]);
            printf("\n");
        }
    }
    cnn_metrics_free(&mt);
done:
    cnn_dataset_free(&d);
    cnn_model_free(&m);
    return rc;
}

static const char PREDICT_USAGE[] =
    "usage: cnn predict CHECKPOINT IMAGE... [--top K]\n"
    "Classifies PNG/JPEG images, resized and normalised as in training; prints the top\n"
    "K (default 5) classes with their probabilities.";

int cmd_predict(int argc, char **argv)
{
    int top = 5;
    const cli_opt opts[] = {{"top", OPT_INT, &top, "classes to show (default 5)"}};
    const char *pos[256];
    int n_pos, r = cli_parse_args(argc, argv, opts, 1, pos, 256, &n_pos, PREDICT_USAGE);
    if (r >= 0) return r;
    if (n_pos < 2 || top < 1) return cli_usage(PREDICT_USAGE);
    cnn_model m;
    if (cnn_model_load(pos[0], 1, &m) != CNN_OK) return cli_fail(pos[0]);
    cnn_tensor in = cnn_node_value(m.input);
    if (in.ndim != 4) {
        fprintf(stderr, "cnn: predict takes 2D image models; %s is 3D (use cnn eval or cnn hsi-map)\n",
                m.name);
        cnn_model_free(&m);
        return 1;
    }
    int C = in.dims[1], H = in.dims[2], W = in.dims[3], rc = 0;
    float *x = malloc((size_t)C * H * W * sizeof *x);
    float *p = malloc((size_t)m.classes * sizeof *p);
    int *order = malloc((size_t)m.classes * sizeof *order);
    cnn_graph_set_training(m.g, false);
    /* inference only: the weights stay as loaded, so packed copies are kept (docs/architecture.md, "Kernels") */
    cnn_graph_set_const_weights(m.g, true);
    for (int i = 1; i < n_pos && x && p && order; i++) {
        if (cnn_model_load_image(&m, pos[i], x) != CNN_OK) {
            rc = cli_fail(pos[i]);
            continue;
        }
        if (cnn_graph_set_input(m.g, m.input, x, 1) != CNN_OK ||
            cnn_graph_forward_until(m.g, m.logits) != CNN_OK) {
            rc = cli_fail(pos[i]);
            continue;
        }
        const float *z = cnn_node_value(m.logits).data;
        float mx = z[0];
        for (int k = 1; k < m.classes; k++) mx = z[k] > mx ? z[k] : mx;
        double sum = 0;
        for (int k = 0; k < m.classes; k++) sum += (double)(p[k] = expf(z[k] - mx));
        for (int k = 0; k < m.classes; k++) {
            p[k] = (float)(p[k] / sum);
            order[k] = k;
        }
        for (int a = 0; a < m.classes; a++) /* partial selection sort: k is small */
            for (int b = a + 1; b < m.classes && a < top; b++)
                if (p[order[b]] > p[order[a]]) {
                    int t = order[a];
                    order[a] = order[b];
                    order[b] = t;
                }
        printf("%s\n", pos[i]);
        char buf[32];
        for (int k = 0; k < top && k < m.classes; k++)
            printf("  %d. %-20s %.4f\n", k + 1, class_name(&m, order[k], buf, sizeof buf), (double)p[order[k]]);
    }
    if (!x || !p || !order) rc = 1;
    free(x);
    free(p);
    free(order);
    cnn_model_free(&m);
    return rc;
}

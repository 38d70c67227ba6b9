/* cnn — the command-line program: thin over libcnn (parses flags, calls, prints).
   Only the CLI exits; the library returns statuses. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} COMMANDS[] = {
    {"train", cmd_train, "train a model on a dataset (per-epoch loss / accuracy / images/s)"},
    {"eval", cmd_eval, "accuracy, per-class accuracy, confusion matrix of a checkpoint"},
    {"predict", cmd_predict, "top-5 classes of images with a checkpoint"},
    {"summary", cmd_summary, "per-layer output shapes, parameters and multiply-adds"},
    {"models", cmd_models, "list the model zoo"},
    {"forward", cmd_forward, "one forward pass: weights + input tensor -> output tensor"},
    {"features", cmd_features, "feature maps of a layer as a PNG grid"},
    {"hsi-map", cmd_hsi_map, "classify every pixel of a hyperspectral scene: map PNG + OA"},
    {"hsi-synth", cmd_hsi_synth, "write a synthetic hyperspectral scene (.mat cube + ground truth)"},
    {"bench", cmd_bench, "images/s of inference or training; --layers: per-layer GFLOP/s"},
    {"quantize", cmd_quantize, "post-training int8 quantization of a checkpoint (calibrated)"},
    {"export", cmd_export, "write a model out of cnn.c: --onnx OUT.onnx"},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static int usage(FILE *f)
{
    fprintf(f, "cnn %s — define, train, evaluate, inspect and deploy convolutional networks\n\n"
               "usage: cnn COMMAND [options]   (cnn COMMAND --help for its options)\n\ncommands:\n",
            CNN_VERSION);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(f, "  %-10s %s\n  %-10s %s\n", "version", "version, backend and threads", "help",
            "this text (cnn help COMMAND for a command, cnn help MODEL for a model)");
    fprintf(f, "\nenvironment: CNN_THREADS (threads), CNN_BACKEND (kernels)\n");
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
    cli_bounded_spin(argv);
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        if (argc > 2)
            for (int i = 0; i < N_COMMANDS; i++)
                if (!strcmp(argv[2], COMMANDS[i].name)) {
                    char *args[] = {argv[0], argv[2], "--help", NULL};
                    return COMMANDS[i].run(3, args);
                }
        if (argc > 2 && cmd_model_help(argv[2]) == 0) return 0;
        return usage(stdout);
    }
    if (!cli_check_env()) return 2;
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("cnn %s (backend %s, %d threads)\n", CNN_VERSION, cnn_backend_name(), cnn_get_threads());
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(cmd, COMMANDS[i].name)) return COMMANDS[i].run(argc, argv);
    fprintf(stderr, "cnn: unknown command '%s' (try: cnn help)\n", cmd);
    return 2;
}

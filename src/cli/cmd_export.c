/* cnn export: a trained (or freshly initialised) model out of cnn.c, as ONNX. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char EXPORT_USAGE[] =
    "usage: cnn export CHECKPOINT|MODEL|FILE.onnx --onnx OUT.onnx [--seed S]\n"
    "                  [--input CxHxW] [--classes N] [--width A] [--set k=v]\n"
    "       cnn export CHECKPOINT|MODEL --c DIR [--name NAME] [--int8]\n"
    "--c writes DIR/NAME.h and DIR/NAME.c (NAME defaults to the model's name): the\n"
    "network as dependency-free C99 (weights as const arrays, one static arena,\n"
    "int NAME_run(const float *input, float *output) at batch 1), and prints the\n"
    "flash (weights) and RAM (arena) bytes it needs. --int8 (a quantized checkpoint)\n"
    "writes its int8 layers as integer code.\n"
    "Writes the model as ONNX (opset 17): parameters and batch-norm statistics as\n"
    "initializers under their state_dict names, node names as in 'cnn summary', input\n"
    "with a symbolic batch dimension, output = the logits. A MODEL name (no such file)\n"
    "exports the zoo model with its default initialisation from --seed.";

int cmd_export(int argc, char **argv)
{
    const char *onnx = NULL, *cdir = NULL, *cname = NULL;
    bool int8 = false;
    int seed = 0;
    cli_model_args ma = {0};
    const cli_opt opts[] = {
        {"onnx", OPT_STR, &onnx, "write the model as ONNX to this file"},
        {"c", OPT_STR, &cdir, "write the model as C source (NAME.h, NAME.c) into this folder"},
        {"name", OPT_STR, &cname, "--c: the C name prefix (default: the model's name)"},
        {"int8", OPT_BOOL, &int8, "--c: int8 layers as integer code (a quantized checkpoint)"},
        CLI_OPT_SEED(&seed, "seed of the default init when given a MODEL name"),
        CLI_MODEL_OPTS(&ma),
    };
    CLI_PARSE(opts, pos, 1, n_pos, EXPORT_USAGE);
    int r;
    if (n_pos != 1 || (!onnx && !cdir)) return cli_usage(EXPORT_USAGE);
    cnn_model m;
    if ((r = cli_model_open(pos[0], 1, &ma, seed, &m)) >= 0) return r;
    int rc = 0;
    if (cdir) {
        cnn_c_export_info ci;
        const char *nm = cname ? cname : m.name;
        /* DIR is made when missing (its parent must exist), like features --out */
        if (mkdir(cdir, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "cnn: export --c %s: %s\n", cdir, strerror(errno));
            cnn_model_free(&m);
            return 1;
        }
        if (cnn_export_c(m.g, m.input, m.logits, cdir, nm, int8, &ci) != CNN_OK) {
            cnn_model_free(&m);
            return cli_fail("export");
        }
        printf("%s/%s.h, %s/%s.c: %s from %d graph nodes (%s)\n"
               "flash: %zu bytes of weights (+ code, see the compiler's size); RAM: %zu bytes of "
               "arena (+ stack)\n",
               cdir, nm, cdir, nm, m.name, ci.nodes,
               int8 ? "int8 layers as integer code"
               : cnn_graph_num_int8(m.g) ? "float arithmetic on the int8 model's dequantized weights"
                                         : "float32",
               ci.weight_bytes, ci.arena_bytes);
        if (!onnx) {
            cnn_model_free(&m);
            return 0;
        }
    }
    cnn_onnx_export_opts eo = {.output = m.logits, .graph_name = m.name};
    if (cnn_onnx_export(m.g, onnx, &eo) != CNN_OK) {
        rc = cli_fail("export");
    } else {
        cnn_cost c = cnn_graph_cost(m.g);
        printf("%s: %s as ONNX (opset 17), %d parameter tensors, %lld parameters\n", onnx, m.name,
               cnn_graph_num_params(m.g), (long long)c.params);
    }
    cnn_model_free(&m);
    return rc;
}

/* libFuzzer target: the ONNX reader and importer (cnn_onnx_import), then, for a graph
   small enough to run in a few milliseconds, compile and one inference forward on a
   zero input — so the values the importer accepted (pads, strides, axes, shapes,
   initializer sizes) are also exercised by the kernels. */
#include "fuzz.h"

/* Bounds for running an imported graph: a hostile file may describe a legal but
   large network; running it would measure the machine, not the reader. */
#define FUZZ_ONNX_MAX_VALUES (1u << 22) /* floats over all node values */
#define FUZZ_ONNX_MAX_MACS 20000000LL

int cnn_fuzz_onnx(const uint8_t *data, size_t size)
{
    const char *p = cnn_fuzz_file(0, "in.onnx", data, size);
    cnn_graph *g = cnn_graph_new();
    if (!g) return 0;
    cnn_node *in = NULL, *out = NULL;
    cnn_onnx_import_opts o = {.batch = 1};
    if (cnn_onnx_import(g, p, &o, &in, &out) == CNN_OK) {
        if (!in || !out) abort(); /* success must give both ends */
        size_t values = 0;
        int n = cnn_graph_num_nodes(g);
        for (int i = 0; i < n && values <= FUZZ_ONNX_MAX_VALUES; i++) {
            cnn_tensor v = cnn_node_value(cnn_graph_node(g, i));
            size_t k = cnn_tensor_numel(&v);
            values = k > FUZZ_ONNX_MAX_VALUES ? FUZZ_ONNX_MAX_VALUES + 1 : values + k;
        }
        cnn_cost c = cnn_graph_cost(g);
        if (values <= FUZZ_ONNX_MAX_VALUES && c.macs <= FUZZ_ONNX_MAX_MACS) {
            cnn_graph_set_training(g, false);
            if (cnn_graph_compile(g, 1) == CNN_OK) {
                cnn_tensor x = cnn_node_value(in);
                size_t k = cnn_tensor_numel(&x);
                float *z = calloc(k ? k : 1, sizeof *z);
                if (z && cnn_graph_set_input(g, in, z, 1) == CNN_OK) (void)cnn_graph_forward(g);
                free(z);
            }
        }
    }
    cnn_graph_free(g);
    return 0;
}
CNN_FUZZ_ENTRY(cnn_fuzz_onnx)

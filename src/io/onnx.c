/* ONNX entry points that exist in every build: recognising an .onnx path, and the
   "not built with ONNX" answer of builds without protobuf-c (the importer itself is
   onnx_import.c, compiled only with CNN_HAVE_ONNX; docs/architecture.md, "ONNX
   import"). */
#include <string.h>

#include "cnn.h"

bool cnn_onnx_is_path(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 5 && strcmp(name + n - 5, ".onnx") == 0;
}

#ifndef CNN_HAVE_ONNX
cnn_status cnn_onnx_import(cnn_graph *g, const char *path, const cnn_onnx_import_opts *o,
                           cnn_node **input, cnn_node **output)
{
    (void)g;
    (void)o;
    (void)input;
    (void)output;
    return cnn_set_error(CNN_ERR_UNSUPPORTED,
                         "%s: this cnn.c was not built with ONNX (needs protobuf-c and "
                         "libonnx-dev; configure with -DCNN_WITH_ONNX=ON)",
                         path ? path : "(null)");
}
#endif

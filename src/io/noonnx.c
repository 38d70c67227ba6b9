/* Builds without ONNX support (CNN_WITH_ONNX=OFF or protobuf-c missing): the ONNX entry
   points say so instead of being absent (docs/architecture.md, "Build options"). */
#include "cnn.h"

#ifndef CNN_HAVE_ONNX
cnn_status cnn_onnx_export(cnn_graph *g, const char *path, const cnn_onnx_export_opts *o)
{
    (void)g;
    (void)o;
    return cnn_set_error(CNN_ERR_UNSUPPORTED,
                         "onnx export: %s: not built with ONNX (needs protobuf-c and libonnx-dev; "
                         "build option CNN_WITH_ONNX)",
                         path ? path : "");
}
#else
typedef int cnn_noonnx_unused; /* ISO C: a translation unit is not empty */
#endif

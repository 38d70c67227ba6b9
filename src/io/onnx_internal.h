/* ONNX import internals: the validated file reader (onnx_read.c) and the decoded
   constants the importer (onnx_import.c) works with. See docs/architecture.md, "ONNX
   import". Compiled only with CNN_HAVE_ONNX. */
#ifndef CNN_ONNX_INTERNAL_H
#define CNN_ONNX_INTERNAL_H
#include "cnn.h"
#include "onnx/onnx.pb-c.h"

#define CNN_ONNX_MAX_RANK 8
/* Largest model file (protobuf's own limit) and largest tensor read. */
#define CNN_ONNX_MAX_FILE_BYTES ((size_t)2147483647)
#define CNN_ONNX_MAX_NUMEL ((int64_t)1 << 31)

/* A constant: float data (f) for floating types, int64 data (i) for integer and
   boolean types. Both owned (cnn_free). */
typedef struct cnn_onnx_const {
    int ndim;
    int64_t dims[CNN_ONNX_MAX_RANK];
    int64_t numel;
    float *f;
    int64_t *i;
} cnn_onnx_const;

/* Reads and unpacks a model file: size limits, protobuf validity, a graph, the
   default-domain opset (returned in *opset). dir receives the model's folder (for
   external data). Free with onnx__model_proto__free_unpacked(m, NULL). */
cnn_status cnn_onnx_read(const char *path, Onnx__ModelProto **out, int64_t *opset, char *dir,
                         size_t dir_size);
/* Decodes a TensorProto (inline, raw or external data inside dir) into c; what names
   the tensor in messages ("initializer 'w'"). Unknown data types, bad dims, sizes
   that do not match and external paths leaving dir are CNN_ERR_FORMAT. */
cnn_status cnn_onnx_decode(const Onnx__TensorProto *t, const char *dir, const char *what,
                           cnn_onnx_const *c);
void cnn_onnx_const_free(cnn_onnx_const *c);
/* Name of an ONNX data type ("FLOAT", "INT64", ...), "type N" for unknown ones. */
const char *cnn_onnx_type_name(int32_t t, char *buf, size_t size);

#endif

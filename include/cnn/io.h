/* cnn/io.h: part of the public API of cnn.c (include it through cnn.h).
   Files in and out: safetensors weights and checkpoints, ONNX import and export,
   the graph as C source. */
#ifndef CNN_API_IO_H
#define CNN_API_IO_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Declarations here are the shared library's interface; it is built with
   -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

/* ---------------------------------------------------------------- io: safetensors
 * The checkpoint and weight format (docs/architecture.md, "safetensors"). Files are validated fully at
 * load (header JSON, dtypes, offsets, sizes); F32, F64, F16, BF16, I64 and I32 tensors
 * are read and converted to float32. Writes go to a temporary file and are renamed. */
typedef struct cnn_tensor_file cnn_tensor_file;
cnn_status cnn_safetensors_load(const char *path, cnn_tensor_file **out);
void cnn_tensor_file_free(cnn_tensor_file *f);
int cnn_tensor_file_count(const cnn_tensor_file *f);
const char *cnn_tensor_file_name(const cnn_tensor_file *f, int i);
/* A view of the named tensor (float32; owned by the file). CNN_ERR_NOT_FOUND if absent. */
cnn_status cnn_tensor_file_get(const cnn_tensor_file *f, const char *name, cnn_tensor *view);
/* The "__metadata__" value for key, or NULL. */
const char *cnn_tensor_file_meta(const cnn_tensor_file *f, const char *key);

typedef struct cnn_named_tensor {
    const char *name;
    const cnn_tensor *tensor; /* written as F32 */
} cnn_named_tensor;
/* meta: n_meta key/value pairs as meta[2*i], meta[2*i+1]. Atomic (temp + rename). */
cnn_status cnn_safetensors_save(const char *path, int n, const cnn_named_tensor *tensors,
                                int n_meta, const char *const *meta);
/* As cnn_safetensors_save, but tensor i is written as I8 where as_int8[i] (its values
   must be integers in -128..127). */
cnn_status cnn_safetensors_save_i8(const char *path, int n, const cnn_named_tensor *tensors,
                                   const bool *as_int8, int n_meta, const char *const *meta);
/* Parameters and buffers by state_dict name. strict: every parameter must be present
   and extra keys are an error too (num_batches_tracked is always ignored, and so is
   the optimizer state "optim.*" of a cnn.c checkpoint, metadata cnn.model). A wrong
   shape or missing key is an error naming the key and both shapes. Compiles g first. */
cnn_status cnn_graph_load_weights(cnn_graph *g, const char *path, bool strict);
cnn_status cnn_graph_save_weights(cnn_graph *g, const char *path, int n_meta,
                                  const char *const *meta);

/* ---------------------------------------------------------------- io: ONNX export
 * A graph as an ONNX model (opset 17): one ONNX node per cnn.c node, named after it;
 * parameters and buffers (batch-norm running statistics too) as initializers under
 * their state_dict names; each graph input with a symbolic batch dimension "N"; the
 * output is o->output, else the graph's output (the logits when that is a loss).
 * Compiles g (seed 0) if it is not compiled. Written to a temporary file, fsync'ed and
 * renamed: nothing is written on failure. CNN_ERR_UNSUPPORTED without ONNX support
 * (build option CNN_WITH_ONNX) or for an op ONNX cannot express, naming the node. */
typedef struct cnn_onnx_export_opts {
    cnn_node *output;       /* NULL: see above */
    const char *graph_name; /* NULL: "cnn" */
} cnn_onnx_export_opts;
cnn_status cnn_onnx_export(cnn_graph *g, const char *path, const cnn_onnx_export_opts *o);


/* ---------------------------------------------------------------- ONNX
 * Import: an .onnx file (protobuf, read with the code protobuf-c generates from
 * Debian's onnx.proto) becomes an ordinary graph built through this API: ONNX node
 * names, initializers as parameters under their ONNX names starting from the file's
 * values (cnn_graph_set_initial), BatchNormalization statistics as buffers. Dimension 0
 * of every graph input is the batch. Builds without ONNX return CNN_ERR_UNSUPPORTED
 * ("not built with ONNX"). See docs/architecture.md, "ONNX import". */
typedef struct cnn_onnx_import_opts {
    int batch;                          /* dim 0 of every input; 0 = 1 */
    int channels, depth, height, width; /* symbolic dims of the first input (0 = the file's);
                                           a value that contradicts a fixed dim is an error */
} cnn_onnx_import_opts;
/* *input = the first graph input, *output = the first graph output (every graph output
   is marked; the other inputs are found by name with cnn_graph_find). */
cnn_status cnn_onnx_import(cnn_graph *g, const char *path, const cnn_onnx_import_opts *o,
                           cnn_node **input, cnn_node **output);
/* true when a model name is a path to an ONNX file (ends in ".onnx"). */
bool cnn_onnx_is_path(const char *name);
/* ---------------------------------------------------------------- export: C source
 * The graph from input to output as DIR/NAME.h + DIR/NAME.c (docs/architecture.md,
 * "C export"): const weights, one static arena, int NAME_run(const float *input,
 * float *output) at batch 1 in eval mode; C99, <math.h> only, no allocation or
 * threads. An op without a generator is CNN_ERR_UNSUPPORTED naming the node; nothing
 * is left half-written. */
typedef struct cnn_c_export_info {
    size_t weight_bytes; /* const data (flash, besides code) */
    size_t arena_bytes;  /* the static arena and int8 input buffer (RAM) */
    int nodes;
} cnn_c_export_info;
/* int8: the model's int8 layers as integer kernels with cnn.c's int8 definition (the
   same integers as the library's int8 kernels); false: float code throughout. */
cnn_status cnn_export_c(cnn_graph *g, cnn_node *input, cnn_node *output, const char *dir,
                        const char *name, bool int8, cnn_c_export_info *info);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_IO_H */

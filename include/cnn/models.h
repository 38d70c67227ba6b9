/* cnn/models.h: part of the public API of cnn.c (include it through cnn.h).
   The model zoo: names, options, building a model into a graph. */
#ifndef CNN_API_MODELS_H
#define CNN_API_MODELS_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Declarations here are the shared library's interface; it is built with
   -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

/* ---------------------------------------------------------------- model zoo */
typedef struct cnn_model_opts {
    int batch;          /* default 1 */
    int channels;       /* input channels; 0 = the model's default */
    int depth;          /* 3D models (hybridsn): spectral depth; 0 = default */
    int height, width;  /* input size; 0 = the model's default */
    int classes;        /* 0 = the model's default */
    float width_mult;   /* 0 = 1.0 (MobileNet alpha, ShuffleNet scale, ...) */
    const char *set;    /* family options "key=value,key=value" (e.g. "groups=3") */
} cnn_model_opts;

typedef struct cnn_model_info {
    const char *name;
    const char *description;  /* one line */
    int channels, depth, height, width, classes; /* defaults (depth 0 for 2D models) */
} cnn_model_info;

int cnn_model_count(void);
const cnn_model_info *cnn_model_at(int i);
const cnn_model_info *cnn_model_find(const char *name);
/* The model's options in one line: its family options ("--set key=value") with their
   defaults, and whether it takes a width multiplier ("--width"); "" when it has none,
   NULL for an unknown model. */
const char *cnn_model_options(const char *name);
/* Builds the named model into an empty graph; *input is its image input and *logits
   its (N, classes) output (marked as the graph output). Unknown names, bad options
   and inputs too small are errors naming what is wrong. */
cnn_status cnn_model_build(cnn_graph *g, const char *name, const cnn_model_opts *o,
                           cnn_node **input, cnn_node **logits);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_MODELS_H */

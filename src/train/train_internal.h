/* Internal helpers shared by the trainer, the model wrapper and the CLI. */
#ifndef CNN_TRAIN_INTERNAL_H
#define CNN_TRAIN_INTERNAL_H
#include <stdarg.h>

#include "cnn.h"

#define CNN_META_MAX 24
#define CNN_META_LEN 4096

/* Fills meta with the model's metadata key/value pairs; returns the count. */
int cnn_model_meta(const cnn_model *m, char meta[][2][CNN_META_LEN], int max);
cnn_status cnn_model_set_class_names(cnn_model *m, char *const *names);
cnn_status cnn_model_check_data(const cnn_model *m, const cnn_loader *l);
int cnn_argmax(const float *x, int n);
/* Makes the layers with "<layer>.input_scale" in f int8 (quantize.c). */
cnn_status cnn_model_quant_load(cnn_model *m, const cnn_tensor_file *f, const char *path);
#endif

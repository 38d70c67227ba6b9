/* Internal helpers shared by the data/ sources. Not part of the public API. */
#ifndef CNN_DATA_INTERNAL_H
#define CNN_DATA_INTERNAL_H
#include "cnn.h"

/* The error of a feature this build left out (docs/architecture.md, "Build options"):
   `what` needs `lib`, which the build was configured without. */
#define CNN_NOT_BUILT(what, lib, package, option)                                               \
    cnn_set_error(CNN_ERR_UNSUPPORTED,                                                          \
                  "%s: not built with " lib " (install " package " and rebuild with -D" option \
                  "=ON)",                                                                       \
                  what)

/* "dir/name" into buf; CNN_ERR_INVALID_ARG if it does not fit. */
cnn_status cnn_data_join(char *buf, size_t size, const char *dir, const char *name);
bool cnn_data_is_dir(const char *path);
bool cnn_data_is_file(const char *path);
/* Copies n names into a fresh NULL-free array of strings (d->class_names). */
cnn_status cnn_data_set_names(cnn_dataset *d, int n, const char *const *names);

/* An IDX image/label pair into out; classes > 0 requires every label < classes,
   0 takes the largest label + 1. */
cnn_status cnn_data_open_idx_pair(const char *images, const char *labels, int classes,
                                  cnn_dataset *out);

/* Channels and size of a folder data set's first image (what open_folder defaults to). */
cnn_status cnn_data_folder_first_size(const char *dir, int *c, int *h, int *w);

/* The per-example transform as the loader runs it. */
typedef struct cnn_xform {
    int c, d, h, w;          /* source example shape (d = 0 for 2D) */
    int oh, ow;              /* after resize (= h, w when none) */
    int pad;                 /* crop padding (0 = no crop) */
    bool hflip, normalize;
    float mean[4], std[4];
} cnn_xform;
/* Validates t against the data set's example shape and fills x. */
cnn_status cnn_xform_init(cnn_xform *x, const cnn_dataset *d, const cnn_transform *t);
/* Floats of scratch space cnn_xform_apply needs. */
size_t cnn_xform_scratch(const cnn_xform *x);
/* Example i of ds into out (c*max(d,1)*oh*ow); augmentation drawn from rng when
   augment is set. Allocates nothing. */
void cnn_xform_apply(const cnn_xform *x, const cnn_dataset *ds, int i, bool augment,
                     cnn_rng *rng, float *scratch, float *out);
#endif

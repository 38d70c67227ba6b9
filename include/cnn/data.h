/* cnn/data.h: part of the public API of cnn.c (include it through cnn.h).
   Data sets, images, transforms, the loader and .npy files. */
#ifndef CNN_API_DATA_H
#define CNN_API_DATA_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Declarations here are the shared library's interface; it is built with
   -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

/* ---------------------------------------------------------------- data
 * (owned by src/data/; declarations for datasets, transforms and the loader go here) */
/* CNN-DATA-BEGIN */
/* A labelled data set held in memory. Examples are dense CHW (CDHW when d > 0); pixel
   data is kept as bytes (u8, scaled to [0, 1] when read), other data as floats. */
typedef struct cnn_dataset {
    int n;                 /* examples */
    int c, d, h, w;        /* example shape; d = 0 for images (3D data: (c, d, h, w)) */
    int classes;
    uint8_t *u8;           /* n*c*h*w pixels 0..255 (images), or NULL */
    float *f32;            /* n*example values (e.g. hyperspectral patches), or NULL */
    int32_t *labels;       /* n class ids in [0, classes) */
    char **class_names;    /* classes names, or NULL */
    char source[512];      /* where it came from, for messages */
} cnn_dataset;
/* spec: "fashion-mnist[:DIR]" (Debian's dataset-fashion-mnist in
   /usr/share/datasets/fashion-mnist by default, with the 10 class names), "mnist:DIR"
   (10 classes), "idx:DIR" (classes = largest label + 1), each reading
   {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; "cifar10:DIR" (data_batch_1..5.bin
   / test_batch.bin, names from batches.meta.txt; DIR may also hold them in
   cifar-10-batches-bin/); "folder:DIR" (one sub-folder per class, PNG/JPEG, sorted
   names, as torchvision's ImageFolder; DIR/train and DIR/test (or DIR/val) are used
   for train/test when both exist). Every file is validated fully at load: a wrong
   magic number, size or label is CNN_ERR_FORMAT naming the file and the problem.
   On error *out is left empty (safe to cnn_dataset_free). */
cnn_status cnn_dataset_open(const char *spec, bool train, cnn_dataset *out);
/* IDX pair (raw or gzip'd, detected by content): images magic 0x00000803 (n, h, w),
   labels 0x00000801 (n); classes = largest label + 1. */
cnn_status cnn_dataset_open_idx(const char *images, const char *labels, cnn_dataset *out);
cnn_status cnn_dataset_open_cifar10(const char *dir, bool train, cnn_dataset *out);
/* c, h, w: the size every image is converted / resized to; 0 = the first image's. */
cnn_status cnn_dataset_open_folder(const char *dir, int c, int h, int w, cnn_dataset *out);
void cnn_dataset_free(cnn_dataset *d);
/* Values of one example (c*max(d,1)*h*w) as floats: pixels scaled to [0, 1]. */
size_t cnn_dataset_example_size(const cnn_dataset *d);
cnn_status cnn_dataset_example(const cnn_dataset *d, int i, float *out);

/* Images: load PNG/JPEG (libpng / libjpeg; format from the file's content), convert to
   c channels (1 = luminance 0.299 R + 0.587 G + 0.114 B, 3 = RGB; alpha is dropped;
   2 = luminance + alpha, 4 = RGBA, with alpha 1 where the file has none),
   bilinear-resize to (h, w), values in [0, 1], CHW float (out: c*h*w). */
cnn_status cnn_image_load(const char *path, int c, int h, int w, float *out);
/* The stored size of an image: channels (1 for gray, 3 for colour), height, width. */
cnn_status cnn_image_info(const char *path, int *c, int *h, int *w);
/* Write 8-bit PNG (1 or 3 channels, HWC), atomically (temp + rename). */
cnn_status cnn_png_write(const char *path, int w, int h, int channels, const uint8_t *pixels);
/* Bilinear resize of a CHW float image, align_corners=False as
   torch.nn.functional.interpolate(mode="bilinear") (no antialiasing). */
void cnn_resize_bilinear(const float *src, int c, int h, int w, float *dst, int oh, int ow);

/* Per-example pipeline, in torchvision's usual order: Resize -> RandomCrop(size,
   padding) -> RandomHorizontalFlip -> ToTensor -> Normalize. For 3D data (d > 0) each
   (c, d) plane is treated as an image. */
typedef struct cnn_transform {
    int resize_h, resize_w;   /* 0 = keep */
    int crop_padding;         /* random crop back to size after zero padding (0 = off) */
    bool hflip;               /* random horizontal flip, p = 0.5 */
    bool normalize;           /* (x - mean[c]) / std[c] after scaling to [0, 1] */
    float mean[4], std[4];    /* per channel (c <= 4 when normalize is set) */
} cnn_transform;
typedef struct cnn_loader cnn_loader;
/* Batches of (x: batch*example floats, y: batch labels as float class ids for
   cnn_labels). Augmentation (crop/flip) only when augment is true. The order of an
   epoch is a function of (seed, epoch) only, an example's augmentation of (seed,
   epoch, example index) only. Batches are prepared on one background thread, one
   ahead of the caller; all buffers are allocated here. d must outlive the loader.
   t may be NULL (no transform). */
cnn_status cnn_loader_new(const cnn_dataset *d, int batch, bool shuffle, bool augment,
                          const cnn_transform *t, uint64_t seed, cnn_loader **out);
void cnn_loader_shape(const cnn_loader *l, int *c, int *d, int *h, int *w); /* after transforms */
int cnn_loader_num_batches(const cnn_loader *l);
/* From the next cnn_loader_start_epoch on, yield only shard k of K of every batch
   (cnn_shard_range: a rank's part of the global batch); n may then be 0 for a batch
   (x, y non-NULL) while the epoch goes on. */
cnn_status cnn_loader_set_shard(cnn_loader *l, int k, int shards);
/* Begins epoch `epoch` (any order: resuming at epoch k gives epoch k's order),
   abandoning what is left of the previous one. */
cnn_status cnn_loader_start_epoch(cnn_loader *l, int epoch);
/* Next batch of the epoch; *n = 0 at the end (the last batch may be partial). The
   pointers stay valid until the next call. */
cnn_status cnn_loader_next(cnn_loader *l, const float **x, const float **y, int *n);
/* Stops the background thread (also mid-epoch) and frees everything. */
void cnn_loader_free(cnn_loader *l);
/* NumPy .npy (format 1-3): bool, (u)int 8-64, float 16/32/64, either byte order, C or
   Fortran order, read as float32 (at most 6 dims). Save writes float32, C order. */
cnn_status cnn_npy_load(const char *path, cnn_tensor *out);
cnn_status cnn_npy_save(const char *path, const cnn_tensor *t);
/* CNN-DATA-END */

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_DATA_H */

/* cnn/hsi.h: part of the public API of cnn.c (include it through cnn.h).
   Hyperspectral scenes (HybridSN): .mat / .npy cubes, PCA, patches, splits, maps,
   synthetic scenes. */
#ifndef CNN_API_HSI_H
#define CNN_API_HSI_H

#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Declarations here are the shared library's interface; it is built with
   -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

/* Hyperspectral scenes (HybridSN, seeds 000/004): a cube (H, W, bands) and its ground
   truth (H, W; class ids, 0 = unlabelled) from MATLAB .mat files (v5 or v7.3, through
   matio; any numeric class) or .npy files (the format is read from the content).
   The spectra are reduced by PCA to K components (whitened as sklearn's
   PCA(whiten=True) unless no_whiten), zero-padded, and every labelled pixel becomes one
   example: the S x S patch around it laid out as (1, K, S, S), label = gt - 1. A
   stratified split by test_ratio (with seed) gives the train and test sets; classes =
   the largest label. */
typedef struct cnn_hsi_opts {
    const char *cube;     /* .mat / .npy: (H, W, bands) */
    const char *gt;       /* .mat / .npy: (H, W); NULL = the cube's name with _corrected
                             replaced by _gt, or with _gt added */
    const char *cube_var; /* .mat variable; NULL = indian_pines_corrected, salinas_corrected,
                             paviaU, ... else the only 3-D numeric variable */
    const char *gt_var;   /* NULL = indian_pines_gt, salinas_gt, paviaU_gt, ... else the
                             only 2-D numeric variable */
    int pca;              /* components K; 0 = 30 */
    int patch;            /* window S; 0 = 25 */
    float test_ratio;     /* fraction of each class held out; 0 = 0.7 (seed 000) */
    uint64_t seed;        /* of the split */
    bool no_whiten;       /* plain projection instead of unit-variance components */
} cnn_hsi_opts;
/* spec form: "hsi:CUBE?gt=GT&pca=30&patch=25&test=0.7&seed=0&cube-var=V&gt-var=V&whiten=1"
   (the "hsi:" prefix is optional). Strings of o point into buf (a copy of spec). */
cnn_status cnn_hsi_parse_spec(const char *spec, cnn_hsi_opts *o, char *buf, size_t size);
/* The train or test split as a data set of (1, K, S, S) float examples (c=1, d=K). */
cnn_status cnn_dataset_open_hsi(const cnn_hsi_opts *o, bool train, cnn_dataset *out);

/* A loaded scene after PCA. */
typedef struct cnn_hsi_scene {
    int h, w, bands, k; /* image size, bands in the file, components kept */
    float *pcs;         /* (h, w, k): the components of every pixel */
    int32_t *gt;        /* (h, w) class ids, 0 = unlabelled */
    int classes;        /* largest label */
    int labelled;       /* pixels with a label */
    double *explained;  /* k explained variance ratios, largest first */
    char source[512];   /* "FILE:VAR" of the cube, for messages */
} cnn_hsi_scene;
cnn_status cnn_hsi_scene_load(const cnn_hsi_opts *o, cnn_hsi_scene *out);
void cnn_hsi_scene_free(cnn_hsi_scene *s);
/* A cube (h, w, bands) and labels (h, w) as floats from a .mat / .npy file (var as
   cube_var / gt_var; rank 3 or 2). *data is cnn_malloc'd; free with cnn_tensor_free. */
cnn_status cnn_hsi_read(const char *path, const char *var, int rank, cnn_tensor *out);
/* PCA of n spectra x (n, bands) to k components: out (n, k) projections of the centred
   spectra (divided by sqrt(eigenvalue) when whiten), components (k, bands) orthonormal
   rows or NULL, explained (k) variance ratios or NULL. Covariance in double, Jacobi
   eigen-decomposition; each component's largest-magnitude entry is positive. */
cnn_status cnn_hsi_pca(const float *x, size_t n, int bands, int k, bool whiten, float *out,
                       float *components, double *explained);
/* The S x S patch centred on (y, x) of an (h, w, k) array, zeros outside (the seed's
   padWithZeros + createImageCubes), as (k, S, S): out[c][i][j] = a[y-r+i][x-r+j][c],
   r = (S-1)/2. */
void cnn_hsi_patch(const float *a, int h, int w, int k, int s, int y, int x, float *out);
/* Stratified split of the labelled pixels: split[i] = 0 unlabelled, 1 train, 2 test.
   Per class round(test_ratio * count) pixels, drawn by seed, go to test (at least one
   pixel stays in each side when the class has two or more). */
cnn_status cnn_hsi_split(const int32_t *gt, int n, float test_ratio, uint64_t seed,
                         uint8_t *split);
/* The predicted and the ground-truth maps side by side (gap of 4 white pixels), each
   pixel scale x scale, with a fixed 17-colour palette (0 = unlabelled, black). */
cnn_status cnn_hsi_map_png(const char *path, int h, int w, const int32_t *pred,
                           const int32_t *gt, int scale);

/* A synthetic scene: classes regions (irregular Voronoi cells), each class a smooth
   spectrum (sum of Gaussians over the bands) with spatial texture and noise, borders and
   a background class unlabelled (0). cube (h, w, bands), gt (h, w). */
typedef struct cnn_hsi_synth_opts {
    int height, width, bands, classes; /* 0 = 145, 145, 200, 16 */
    uint64_t seed;
    bool v73;                          /* write MATLAB v7.3 (HDF5) instead of v5 */
} cnn_hsi_synth_opts;
cnn_status cnn_hsi_synthesize(const cnn_hsi_synth_opts *o, float *cube, int32_t *gt);
/* Writes dir/synthetic.mat ("synthetic", single) and dir/synthetic_gt.mat
   ("synthetic_gt", uint8), atomically. */
cnn_status cnn_hsi_synth_write(const char *dir, const cnn_hsi_synth_opts *o);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_HSI_H */

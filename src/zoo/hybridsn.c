/* HybridSN (Roy et al. 2020) as in seeds 000/004: hyperspectral patch classification.
   x: (N, 1, D, H, W) with D spectral bands after PCA (30) and an HxW patch (25x25).
   conv3d 8 (7,3,3), 16 (5,3,3), 32 (3,3,3), each BatchNorm3d + ReLU; the 3D maps are
   reshaped to 2D with C*D' channels (32*18 = 576); conv2d 64 3x3 + BN + ReLU; then
   fc1 256 -> dropout -> ReLU -> fc2 128 -> dropout -> ReLU -> fc3 (16 classes).
   Keys as the seed's modules: conv3d_1.0 / conv3d_1.1 (BN), ..., conv2d.0, conv2d.1,
   fc1, fc2, fc3. Family options dropout=<p> (default the seed's 0.4) and bn=0, the
   paper's network without batch norm (5,122,176 parameters; the seed's has 5,122,416). */
#include "zoo.h"

static cnn_node *conv3d_bn_relu(cnn_graph *g, cnn_node *x, const char *scope, int out, int kd, bool bn)
{
    cnn_scope_push(g, scope);
    x = cnn_conv3d(g, x, out, .kernel_d = kd, .kernel_h = 3, .kernel_w = 3, .name = "0");
    if (bn) x = cnn_batchnorm3d(g, x, .name = "1");
    x = cnn_relu(g, x);
    cnn_scope_pop(g);
    return x;
}

static cnn_node *build_hybridsn(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    static const char *const keys[] = {"dropout", "bn", NULL};
    if (!cnn_zoo_check_keys(g, "hybridsn", a, keys) || !cnn_zoo_no_width(g, "hybridsn", a))
        return NULL;
    float p = cnn_zoo_opt_float(a, "dropout", 0.4f);
    int bn = cnn_zoo_opt_int(a, "bn", 1);
    if (bn != 0 && bn != 1)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "hybridsn: bn=%d: expected 0 or 1", bn);
    if (!(p >= 0.0f && p < 1.0f))
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "hybridsn: dropout=%g is not in [0, 1)", p);
    /* the valid 3D convolutions take 6 + 4 + 2 bands and the 3x3 convs 2 pixels each
       (three 3D, one 2D): say so before conv3d fails on an empty output */
    if (x && cnn_node_ndim(x) == 5 && cnn_node_dim(x, 2) < 13)
        return cnn_zoo_fail(g, CNN_ERR_SHAPE,
                            "hybridsn: %d spectral bands are too few: the 3D convolutions (depth 7, 5, "
                            "3) need at least 13 (use --pca 13 or more; the paper uses 30)",
                            cnn_node_dim(x, 2));
    if (x && cnn_node_ndim(x) == 5 && (cnn_node_dim(x, 3) < 9 || cnn_node_dim(x, 4) < 9))
        return cnn_zoo_fail(g, CNN_ERR_SHAPE,
                            "hybridsn: patch %dx%d is too small: the four 3x3 convolutions need at "
                            "least 9x9 (use --patch 9 or more; the paper uses 25)",
                            cnn_node_dim(x, 3), cnn_node_dim(x, 4));
    x = conv3d_bn_relu(g, x, "conv3d_1", 8, 7, bn);
    x = conv3d_bn_relu(g, x, "conv3d_2", 16, 5, bn);
    x = conv3d_bn_relu(g, x, "conv3d_3", 32, 3, bn);
    if (!x) return NULL;
    /* (N, C, D, H, W) -> (N, C*D, H, W), as the seed's out.reshape(N, -1, 19, 19) */
    cnn_tensor v = cnn_node_value(x);
    const int *d = v.dims;
    x = cnn_reshape(g, x, 3, (int[]){d[1] * d[2], d[3], d[4]});
    cnn_scope_push(g, "conv2d");
    x = cnn_conv2d(g, x, 64, .kernel = 3, .name = "0");
    if (bn) x = cnn_batchnorm2d(g, x, .name = "1");
    x = cnn_relu(g, x);
    cnn_scope_pop(g);
    x = cnn_flatten(g, x);
    x = cnn_relu(g, cnn_dropout(g, cnn_linear(g, x, 256, .name = "fc1"), p, .name = "dropout"));
    x = cnn_relu(g, cnn_dropout(g, cnn_linear(g, x, 128, .name = "fc2"), p, .name = "dropout"));
    return cnn_linear(g, x, a->classes, .name = "fc3");
}

const cnn_zoo_entry cnn_zoo_hybridsn[] = {
    {{"hybridsn", "HybridSN: 3D-2D CNN for hyperspectral patches (1x30x25x25, 16 classes)", 1, 30,
      25, 25, 16},
     build_hybridsn, NULL},
    {{0}, 0, NULL},
};

/* resnet family: torchvision 0.14's resnet18/34/50/101/152 (He et al. 2015, with the stride
   of a Bottleneck on its 3x3 conv, the "V1.5" variant) and d2l's resnet18 (seeds:
   Residual blocks with biased convs, nn.Sequential keys). */
#include <math.h>

#include "zoo.h"

/* conv (no bias) -> BN named "<conv>" / "<bn>" inside the current scope. */
static cnn_node *conv_bn(cnn_graph *g, cnn_node *x, int out, int k, int stride, const char *conv,
                         const char *bn)
{
    x = cnn_conv2d(g, x, out, .name = conv, .kernel = k, .stride = stride, .padding = k / 2,
                   .no_bias = true);
    return cnn_batchnorm2d(g, x, .name = bn);
}

/* torchvision BasicBlock / Bottleneck: (N, in, H, W) -> (N, planes*expansion, H/s, W/s). */
static cnn_node *block(cnn_graph *g, cnn_node *x, int planes, int stride, bool bottleneck,
                       cnn_zoo_attend_fn attend)
{
    int in = x ? cnn_node_dim(x, 1) : 0;
    int out_c = bottleneck ? planes * 4 : planes;
    cnn_node *y;
    if (bottleneck) {
        y = cnn_relu(g, conv_bn(g, x, planes, 1, 1, "conv1", "bn1"));
        y = cnn_relu(g, conv_bn(g, y, planes, 3, stride, "conv2", "bn2"));
        y = conv_bn(g, y, out_c, 1, 1, "conv3", "bn3");
    } else {
        y = cnn_relu(g, conv_bn(g, x, planes, 3, stride, "conv1", "bn1"));
        y = conv_bn(g, y, planes, 3, 1, "conv2", "bn2");
    }
    if (attend && y) y = attend(g, y, out_c);
    cnn_node *id = x;
    if (stride != 1 || in != out_c) id = conv_bn(g, x, out_c, 1, stride, "downsample.0", "downsample.1");
    return cnn_relu(g, cnn_add(g, y, id));
}

cnn_node *cnn_zoo_resnet_body(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a, const char *name,
                              const int layers[4], bool bottleneck, cnn_zoo_attend_fn attend)
{
    if (!cnn_zoo_plain_options(g, a, name)) return NULL;
    x = cnn_relu(g, conv_bn(g, x, 64, 7, 2, "conv1", "bn1"));
    x = cnn_maxpool2d(g, x, .name = "maxpool", .kernel = 3, .stride = 2, .padding = 1);
    for (int s = 0; s < 4; s++) {
        cnn_scope_pushf(g, "layer%d", s + 1);
        for (int b = 0; b < layers[s]; b++) {
            cnn_scope_pushf(g, "%d", b);
            x = block(g, x, 64 << s, (s > 0 && b == 0) ? 2 : 1, bottleneck, attend);
            cnn_scope_pop(g);
        }
        cnn_scope_pop(g);
    }
    x = cnn_flatten(g, cnn_adaptive_avgpool2d(g, x, 1, 1));
    return cnn_linear(g, x, a->classes, .name = "fc");
}

cnn_node *cnn_zoo_resnet_tv(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    const cnn_zoo_resnet_variant *v = a->variant;
    return cnn_zoo_resnet_body(g, x, a, a->model, v->layers, v->bottleneck, v->attend);
}

/* d2l Residual: conv1 (3x3, stride s) bn1 relu conv2 bn2, optional 1x1 conv3 on the
   shortcut, add, relu. All convs have biases. PyTorch registers conv1, conv2, conv3,
   bn1, bn2; creation order here differs, the names are the same. */
static cnn_node *residual_d2l(cnn_graph *g, cnn_node *x, int channels, bool use_1x1, int stride)
{
    cnn_node *y = cnn_conv2d(g, x, channels, .name = "conv1", .kernel = 3, .padding = 1,
                             .stride = stride);
    y = cnn_relu(g, cnn_batchnorm2d(g, y, .name = "bn1"));
    y = cnn_conv2d(g, y, channels, .name = "conv2", .kernel = 3, .padding = 1);
    y = cnn_batchnorm2d(g, y, .name = "bn2");
    if (use_1x1) x = cnn_conv2d(g, x, channels, .name = "conv3", .kernel = 1, .stride = stride);
    return cnn_relu(g, cnn_add(g, y, x));
}

/* d2l ResNet-18: Sequential(b1, b2..b5, AdaptiveAvgPool2d, Flatten, Linear): keys
   "0.0.weight" (b1 conv), "0.1.*" (b1 BN), "<1..4>.<i>.conv1.weight", "7.weight". */
static cnn_node *resnet18_d2l(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    if (!cnn_zoo_plain_options(g, a, "resnet18_d2l")) return NULL;
    cnn_scope_push(g, "0");
    x = cnn_conv2d(g, x, 64, .name = "0", .kernel = 7, .stride = 2, .padding = 3);
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "1"));
    x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .padding = 1);
    cnn_scope_pop(g);
    for (int s = 0; s < 4; s++) {
        cnn_scope_pushf(g, "%d", s + 1);
        for (int b = 0; b < 2; b++) {
            cnn_scope_pushf(g, "%d", b);
            bool down = s > 0 && b == 0;
            x = residual_d2l(g, x, 64 << s, down, down ? 2 : 1);
            cnn_scope_pop(g);
        }
        cnn_scope_pop(g);
    }
    x = cnn_flatten(g, cnn_adaptive_avgpool2d(g, x, 1, 1));
    return cnn_linear(g, x, a->classes, .name = "7");
}

const cnn_zoo_entry cnn_zoo_resnet[] = {
    CNN_ZOO_RESNET_ENTRY("resnet18",
                         "ResNet-18 (torchvision): BasicBlock [2,2,2,2], 11.7M params",
                         18, NULL),
    CNN_ZOO_RESNET_ENTRY("resnet34",
                         "ResNet-34 (torchvision): BasicBlock [3,4,6,3], 21.8M params",
                         34, NULL),
    CNN_ZOO_RESNET_ENTRY("resnet50",
                         "ResNet-50 (torchvision, stride on 3x3): Bottleneck [3,4,6,3], 25.6M "
                         "params",
                         50, NULL),
    CNN_ZOO_RESNET_ENTRY("resnet101",
                         "ResNet-101 (torchvision, stride on 3x3): Bottleneck [3,4,23,3], 44.5M "
                         "params",
                         101, NULL),
    CNN_ZOO_RESNET_ENTRY("resnet152",
                         "ResNet-152 (torchvision, stride on 3x3): Bottleneck [3,8,36,3], 60.2M "
                         "params",
                         152, NULL),
    {{"resnet18_d2l", "ResNet-18 of d2l (Residual blocks with biased convs), Fashion-MNIST 96x96", 1,
      0, 96, 96, 10},
     resnet18_d2l, NULL},
    {{0}, 0, NULL},
};

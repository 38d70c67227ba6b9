/* densenet family: torchvision 0.14's densenet121 (Huang et al. 2017, DenseNet-BC:
   growth 32, bottleneck 4*32, blocks (6, 12, 24, 16), compression 0.5) and d2l's
   DenseNet from the seeds (growth 32, 4 blocks of 4 BN-ReLU-conv3x3 layers,
   transitions halving channels; 1x96x96, 10 classes). */
#include <math.h>
#include <stdio.h>

#include "zoo.h"

/* Number of channels of a node (0 after an error). */
static int channels(const cnn_node *x) { return x ? cnn_node_dim(x, 1) : 0; }

/* torchvision _DenseLayer: norm1 relu conv1 (1x1 -> 4k) norm2 relu conv2 (3x3 -> k)
   on the concatenation of every earlier feature map; the block keeps concatenating.
   Without the bottleneck (DenseNet / DenseNet-C): norm1 relu conv1 (3x3 -> k). */
static cnn_node *dense_layer_tv(cnn_graph *g, cnn_node *x, int growth, int bn_size, bool bottleneck)
{
    cnn_node *y = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "norm1"));
    if (!bottleneck) {
        y = cnn_conv2d(g, y, growth, .name = "conv1", .kernel = 3, .padding = 1, .no_bias = true);
        return cnn_concat(g, 2, (cnn_node *const[]){x, y});
    }
    y = cnn_conv2d(g, y, bn_size * growth, .name = "conv1", .kernel = 1, .no_bias = true);
    y = cnn_relu(g, cnn_batchnorm2d(g, y, .name = "norm2"));
    y = cnn_conv2d(g, y, growth, .name = "conv2", .kernel = 3, .padding = 1, .no_bias = true);
    return cnn_concat(g, 2, (cnn_node *const[]){x, y});
}

/* torchvision's DenseNet with Huang et al.'s options as family options: growth=k
   (the stem has 2k channels, as torchvision's 64 for k = 32 and 96 for k = 48),
   bottleneck=0|1 (the 1x1 4k conv of DenseNet-B; default 1) and theta=F (the
   transition's compression, floor(theta * C) channels; default 0.5, DenseNet-C/BC;
   1 is none). The defaults are torchvision's DenseNet-BC. */
typedef struct densenet_variant {
    int blocks[4];
    int growth; /* default of the family option */
} densenet_variant;

static cnn_node *densenet_tv(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    const densenet_variant *v = a->variant;
    const char *name = a->model;
    const int *blocks = v->blocks, growth_default = v->growth;
    static const char *const keys[] = {"growth", "bottleneck", "theta", NULL};
    if (!cnn_zoo_check_keys(g, name, a, keys) || !cnn_zoo_no_width(g, name, a)) return NULL;
    int growth = cnn_zoo_opt_int(a, "growth", growth_default);
    int bottleneck = cnn_zoo_opt_int(a, "bottleneck", 1);
    float theta = cnn_zoo_opt_float(a, "theta", 0.5f);
    if (growth < 1 || growth > 1024)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "%s: growth=%d is not in 1..1024", name, growth);
    if (bottleneck != 0 && bottleneck != 1)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "%s: bottleneck=%d: expected 0 or 1", name,
                            bottleneck);
    if (!(theta > 0.0f && theta <= 1.0f))
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "%s: theta=%g is not in (0, 1]", name,
                            (double)theta);
    cnn_scope_push(g, "features");
    x = cnn_conv2d(g, x, 2 * growth, .name = "conv0", .kernel = 7, .stride = 2, .padding = 3,
                   .no_bias = true);
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "norm0"));
    x = cnn_maxpool2d(g, x, .name = "pool0", .kernel = 3, .stride = 2, .padding = 1);
    for (int b = 0; b < 4; b++) {
        cnn_scope_pushf(g, "denseblock%d", b + 1);
        for (int l = 0; l < blocks[b]; l++) {
            cnn_scope_pushf(g, "denselayer%d", l + 1);
            x = dense_layer_tv(g, x, growth, 4, bottleneck != 0);
            cnn_scope_pop(g);
        }
        cnn_scope_pop(g);
        if (b == 3) break;
        cnn_scope_pushf(g, "transition%d", b + 1);
        x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "norm"));
        int out = (int)floorf(theta * (float)channels(x) + 1e-4f);
        x = cnn_conv2d(g, x, out > 0 ? out : 1, .name = "conv", .kernel = 1, .no_bias = true);
        x = cnn_avgpool2d(g, x, .name = "pool", .kernel = 2, .stride = 2);
        cnn_scope_pop(g);
    }
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "norm5"));
    cnn_scope_pop(g);
    x = cnn_flatten(g, cnn_adaptive_avgpool2d(g, x, 1, 1));
    return cnn_linear(g, x, a->classes, .name = "classifier");
}


/* d2l: Sequential(b1, DenseBlock, transition, ..., DenseBlock, BN, ReLU, pool,
   Flatten, Linear): keys "0.0" (conv), "0.1" (BN), "<k>.net.<i>.0" (BN) and
   "<k>.net.<i>.2" (conv) in dense blocks, "<k>.0" / "<k>.2" in transitions, "8.*"
   (BN), "12.weight". */
static cnn_node *densenet_d2l(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    if (!cnn_zoo_plain_options(g, a, "densenet_d2l")) return NULL;
    const int growth = 32, convs = 4;
    cnn_scope_push(g, "0");
    x = cnn_conv2d(g, x, 64, .name = "0", .kernel = 7, .stride = 2, .padding = 3);
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "1"));
    x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .padding = 1);
    cnn_scope_pop(g);
    int k = 1;
    for (int b = 0; b < 4; b++) {
        cnn_scope_pushf(g, "%d.net", k++);
        for (int i = 0; i < convs; i++) {
            cnn_scope_pushf(g, "%d", i);
            cnn_node *y = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "0"));
            y = cnn_conv2d(g, y, growth, .name = "2", .kernel = 3, .padding = 1);
            x = cnn_concat(g, 2, (cnn_node *const[]){x, y});
            cnn_scope_pop(g);
        }
        cnn_scope_pop(g);
        if (b == 3) break;
        cnn_scope_pushf(g, "%d", k++);
        x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "0"));
        x = cnn_conv2d(g, x, channels(x) / 2, .name = "2", .kernel = 1);
        x = cnn_avgpool2d(g, x, .name = "3", .kernel = 2, .stride = 2);
        cnn_scope_pop(g);
    }
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "8"));
    x = cnn_flatten(g, cnn_adaptive_avgpool2d(g, x, 1, 1));
    return cnn_linear(g, x, a->classes, .name = "12");
}

const cnn_zoo_entry cnn_zoo_densenet[] = {
    {{"densenet121", "DenseNet-121 (torchvision): growth 32, blocks 6-12-24-16, 8.0M params", 3, 0,
      224, 224, 1000},
     densenet_tv, &(const densenet_variant){{6, 12, 24, 16}, 32}},
    {{"densenet161", "DenseNet-161 (torchvision): growth 48, blocks 6-12-36-24, 28.7M params", 3, 0,
      224, 224, 1000},
     densenet_tv, &(const densenet_variant){{6, 12, 36, 24}, 48}},
    {{"densenet169", "DenseNet-169 (torchvision): growth 32, blocks 6-12-32-32, 14.1M params", 3, 0,
      224, 224, 1000},
     densenet_tv, &(const densenet_variant){{6, 12, 32, 32}, 32}},
    {{"densenet201", "DenseNet-201 (torchvision): growth 32, blocks 6-12-48-32, 20.0M params", 3, 0,
      224, 224, 1000},
     densenet_tv, &(const densenet_variant){{6, 12, 48, 32}, 32}},
    {{"densenet_d2l", "DenseNet of d2l: growth 32, 4 blocks of 4 convs, Fashion-MNIST 96x96", 1, 0,
      96, 96, 10},
     densenet_d2l, NULL},
    {{0}, 0, NULL},
};

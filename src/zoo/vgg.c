/* vgg family: torchvision 0.14's vgg11, vgg13, vgg16, vgg19 with and without BN
   (Simonyan & Zisserman 2014, configurations A, B, D and E; the paper's C (vgg16_c)
   and A-LRN (vgg11_lrn) with the same layout of keys; adaptive 7x7 average pool before the
   classifier, so inputs smaller than 224 work) and d2l's VGG-11 from the seeds
   (conv_arch ((1,64),(1,128),(2,256),(2,512),(2,512)) with channels divided by the
   family option `ratio`, default 4 as d2l's small_conv_arch; 1x224x224, 10 classes). */
#include <math.h>
#include <stdio.h>

#include "zoo.h"

#define M 0   /* max pool in a configuration */
#define ONE 1 /* a configuration's 1x1 conv: the next entry is its width */
#define LRN 2 /* A-LRN's local response normalisation */
static const int cfg_a[] = {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M, -1};
static const int cfg_b[] = {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M, -1};
static const int cfg_e[] = {64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M,
                            512, 512, 512, 512, M, -1};
/* the paper's configuration C: B with a 1x1 conv third in blocks 3-5 */
static const int cfg_c[] = {64, 64, M, 128, 128, M, 256, 256, ONE, 256, M, 512, 512, ONE, 512, M,
                            512, 512, ONE, 512, M, -1};
/* A-LRN: A with LRN after the first conv's ReLU */
static const int cfg_a_lrn[] = {64, LRN, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M, -1};
static const int cfg_d[] = {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M,
                            512, 512, 512, M, -1};

static bool check_width(cnn_graph *g, const cnn_zoo_args *a, const char *name)
{
    if (fabsf(a->width_mult - 1.0f) > 1e-6f) {
        cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "%s: width multiplier %g is not supported (only 1)",
                     name, (double)a->width_mult);
        return false;
    }
    return true;
}

/* a torchvision entry's variant: its configuration, with or without batch norm */
typedef struct vgg_variant {
    const int *cfg;
    bool bn;
} vgg_variant;

/* torchvision's make_layers + VGG: features.<i> (conv, [bn], relu, ... pools),
   avgpool 7x7, classifier.{0,3,6}. */
static cnn_node *vgg_tv(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    const vgg_variant *var = a->variant;
    const char *name = a->model;
    const int *cfg = var->cfg;
    bool bn = var->bn;
    if (!cnn_zoo_check_keys(g, name, a, (const char *const[]){NULL}) || !check_width(g, a, name))
        return NULL;
    cnn_scope_push(g, "features");
    int idx = 0;
    char l[16];
    for (const int *v = cfg; *v >= 0; v++) {
        if (*v == M) {
            snprintf(l, sizeof l, "%d", idx++);
            x = cnn_maxpool2d(g, x, .name = l, .kernel = 2, .stride = 2);
            continue;
        }
        if (*v == LRN) { /* Krizhevsky's LRN as the paper: k 2, n 5, alpha 1e-4 (sum form) */
            snprintf(l, sizeof l, "%d", idx++);
            x = cnn_lrn(g, x, .name = l, .size = 5, .alpha = 5e-4f, .beta = 0.75f, .k = 2.0f);
            continue;
        }
        int k = 3;
        if (*v == ONE) {
            k = 1;
            v++;
        }
        snprintf(l, sizeof l, "%d", idx++);
        x = cnn_conv2d(g, x, *v, .name = l, .kernel = k, .padding = k / 2);
        if (bn) {
            snprintf(l, sizeof l, "%d", idx++);
            x = cnn_batchnorm2d(g, x, .name = l);
        }
        x = cnn_relu(g, x);
        idx++;
    }
    cnn_scope_pop(g);
    x = cnn_flatten(g, cnn_adaptive_avgpool2d(g, x, 7, 7));
    cnn_scope_push(g, "classifier");
    x = cnn_dropout(g, cnn_relu(g, cnn_linear(g, x, 4096, .name = "0")), 0.5f);
    x = cnn_dropout(g, cnn_relu(g, cnn_linear(g, x, 4096, .name = "3")), 0.5f);
    x = cnn_linear(g, x, a->classes, .name = "6");
    cnn_scope_pop(g);
    return x;
}


/* d2l: Sequential(vgg_block x5, Flatten, Linear, ReLU, Dropout, Linear, ReLU, Dropout,
   Linear): keys "<block>.<2*i>.weight" for the block's convs, then 6, 9, 12. The
   first linear takes (512/ratio)*7*7 features at 224x224 (it adapts to the input). */
static cnn_node *vgg11_d2l(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    static const int arch[5][2] = {{1, 64}, {1, 128}, {2, 256}, {2, 512}, {2, 512}};
    if (!cnn_zoo_check_keys(g, "vgg11_d2l", a, (const char *const[]){"ratio", NULL}) ||
        !check_width(g, a, "vgg11_d2l"))
        return NULL;
    int ratio = cnn_zoo_opt_int(a, "ratio", 4);
    if (ratio < 1 || ratio > 64)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG,
                            "vgg11_d2l: ratio %d must be in 1..64 (it divides 64..512 channels)",
                            ratio);
    char l[16];
    for (int b = 0; b < 5; b++) {
        cnn_scope_pushf(g, "%d", b);
        for (int i = 0; i < arch[b][0]; i++) {
            snprintf(l, sizeof l, "%d", 2 * i);
            x = cnn_relu(g, cnn_conv2d(g, x, arch[b][1] / ratio, .name = l, .kernel = 3,
                                       .padding = 1));
        }
        snprintf(l, sizeof l, "%d", 2 * arch[b][0]);
        x = cnn_maxpool2d(g, x, .name = l, .kernel = 2, .stride = 2);
        cnn_scope_pop(g);
    }
    x = cnn_flatten(g, x);
    x = cnn_dropout(g, cnn_relu(g, cnn_linear(g, x, 4096, .name = "6")), 0.5f);
    x = cnn_dropout(g, cnn_relu(g, cnn_linear(g, x, 4096, .name = "9")), 0.5f);
    return cnn_linear(g, x, a->classes, .name = "12");
}

const cnn_zoo_entry cnn_zoo_vgg[] = {
    {{"vgg11", "VGG-11 (torchvision, configuration A): 132.9M params", 3, 0, 224, 224, 1000},
     vgg_tv, &(const vgg_variant){cfg_a, false}},
    {{"vgg11_bn", "VGG-11 with batch norm (torchvision)", 3, 0, 224, 224, 1000},
     vgg_tv, &(const vgg_variant){cfg_a, true}},
    {{"vgg13", "VGG-13 (torchvision, configuration B): 133.0M params", 3, 0, 224, 224, 1000},
     vgg_tv, &(const vgg_variant){cfg_b, false}},
    {{"vgg13_bn", "VGG-13 with batch norm (torchvision)", 3, 0, 224, 224, 1000},
     vgg_tv, &(const vgg_variant){cfg_b, true}},
    {{"vgg19", "VGG-19 (torchvision, configuration E): 143.7M params", 3, 0, 224, 224, 1000},
     vgg_tv, &(const vgg_variant){cfg_e, false}},
    {{"vgg19_bn", "VGG-19 with batch norm (torchvision)", 3, 0, 224, 224, 1000},
     vgg_tv, &(const vgg_variant){cfg_e, true}},
    {{"vgg16", "VGG-16 (torchvision, configuration D): 138.4M params", 3, 0, 224, 224, 1000},
     vgg_tv, &(const vgg_variant){cfg_d, false}},
    {{"vgg16_c", "VGG-16 configuration C of the paper: 1x1 convs third in blocks 3-5, 133.6M params",
      3, 0, 224, 224, 1000},
     vgg_tv, &(const vgg_variant){cfg_c, false}},
    {{"vgg11_lrn", "VGG-11 configuration A-LRN of the paper: LRN after the first conv", 3, 0, 224,
      224, 1000},
     vgg_tv, &(const vgg_variant){cfg_a_lrn, false}},
    {{"vgg16_bn", "VGG-16 with batch norm (torchvision)", 3, 0, 224, 224, 1000},
     vgg_tv, &(const vgg_variant){cfg_d, true}},
    {{"vgg11_d2l", "VGG-11 of d2l with channels / ratio (set ratio=N, default 4), 224x224", 1, 0,
      224, 224, 10},
     vgg11_d2l, NULL},
    {{0}, 0, NULL},
};

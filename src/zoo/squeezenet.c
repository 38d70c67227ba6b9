/* squeezenet family: torchvision 0.14's squeezenet1_0 and squeezenet1_1 (Iandola et
   al. 2016; 1.1 is the SqueezeNet repository's cheaper variant: a 3x3/64 first conv
   and the pools moved earlier). Fire modules: squeeze 1x1 + ReLU, then 1x1 and 3x3
   expand convs + ReLU concatenated; max pools 3x3/2 with ceil_mode; the classifier is
   dropout 0.5, a 1x1 conv to the classes, ReLU and global average pooling. Keys as
   torchvision: features.<i>.squeeze / expand1x1 / expand3x3, classifier.1. */
#include <stdio.h>

#include "zoo.h"

static cnn_node *fire(cnn_graph *g, cnn_node *x, int idx, int squeeze, int e1, int e3)
{
    cnn_scope_pushf(g, "%d", idx);
    x = cnn_relu(g, cnn_conv2d(g, x, squeeze, .kernel = 1, .name = "squeeze"));
    cnn_node *a = cnn_relu(g, cnn_conv2d(g, x, e1, .kernel = 1, .name = "expand1x1"));
    cnn_node *b = cnn_relu(g, cnn_conv2d(g, x, e3, .kernel = 3, .padding = 1, .name = "expand3x3"));
    cnn_scope_pop(g);
    return a && b ? cnn_concat(g, 2, (cnn_node *const[]){a, b}) : NULL;
}

static cnn_node *pool(cnn_graph *g, cnn_node *x, int idx)
{
    char l[16];
    snprintf(l, sizeof l, "%d", idx);
    return cnn_maxpool2d(g, x, .name = l, .kernel = 3, .stride = 2, .ceil_mode = true);
}

/* version 10: squeezenet1_0, 11: squeezenet1_1 */
static cnn_node *squeezenet(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a, int version)
{
    const char *name = version == 10 ? "squeezenet1_0" : "squeezenet1_1";
    if (!cnn_zoo_check_keys(g, name, a, NULL) || !cnn_zoo_no_width(g, name, a)) return NULL;
    cnn_scope_push(g, "features");
    if (version == 10) {
        x = cnn_relu(g, cnn_conv2d(g, x, 96, .kernel = 7, .stride = 2, .name = "0"));
        x = pool(g, x, 2);
        x = fire(g, x, 3, 16, 64, 64);
        x = fire(g, x, 4, 16, 64, 64);
        x = fire(g, x, 5, 32, 128, 128);
        x = pool(g, x, 6);
        x = fire(g, x, 7, 32, 128, 128);
        x = fire(g, x, 8, 48, 192, 192);
        x = fire(g, x, 9, 48, 192, 192);
        x = fire(g, x, 10, 64, 256, 256);
        x = pool(g, x, 11);
        x = fire(g, x, 12, 64, 256, 256);
    } else {
        x = cnn_relu(g, cnn_conv2d(g, x, 64, .kernel = 3, .stride = 2, .name = "0"));
        x = pool(g, x, 2);
        x = fire(g, x, 3, 16, 64, 64);
        x = fire(g, x, 4, 16, 64, 64);
        x = pool(g, x, 5);
        x = fire(g, x, 6, 32, 128, 128);
        x = fire(g, x, 7, 32, 128, 128);
        x = pool(g, x, 8);
        x = fire(g, x, 9, 48, 192, 192);
        x = fire(g, x, 10, 48, 192, 192);
        x = fire(g, x, 11, 64, 256, 256);
        x = fire(g, x, 12, 64, 256, 256);
    }
    cnn_scope_pop(g);
    cnn_scope_push(g, "classifier");
    x = cnn_dropout(g, x, 0.5f, .name = "0");
    x = cnn_relu(g, cnn_conv2d(g, x, a->classes, .kernel = 1, .name = "1"));
    cnn_scope_pop(g);
    return cnn_flatten(g, cnn_global_avgpool(g, x));
}

static cnn_node *squeezenet1_0(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    return squeezenet(g, x, a, 10);
}

static cnn_node *squeezenet1_1(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    return squeezenet(g, x, a, 11);
}

const cnn_zoo_entry cnn_zoo_squeezenet[] = {
    {{"squeezenet1_0", "SqueezeNet 1.0 (torchvision): Fire modules, 1.25M params", 3, 0, 224, 224,
      1000},
     squeezenet1_0, NULL},
    {{"squeezenet1_1", "SqueezeNet 1.1 (torchvision): 2.4x cheaper than 1.0, 1.24M params", 3, 0,
      224, 224, 1000},
     squeezenet1_1, NULL},
    {{0}, 0, NULL},
};

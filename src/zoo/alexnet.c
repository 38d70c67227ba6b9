/* alexnet family: torchvision 0.14's alexnet (the single-tower "one weird trick"
   variant, 64-192-384-256-256 convs, no LRN), d2l's AlexNet from the seeds
   (96-256-384-384-256 convs, no LRN, 1x224x224 Fashion-MNIST, 10 classes) and the
   paper's (alexnet_paper: LRN and the two-GPU grouped layers). */
#include <math.h>
#include <stdio.h>

#include "zoo.h"

/* Conv (with bias) + ReLU named "<scope>.<idx>". */
static cnn_node *conv_relu(cnn_graph *g, cnn_node *x, int idx, int out, int k, int s, int p)
{
    char name[16];
    snprintf(name, sizeof name, "%d", idx);
    return cnn_relu(g, cnn_conv2d(g, x, out, .name = name, .kernel = k, .stride = s, .padding = p));
}

/* torchvision: features.{0,3,6,8,10}, avgpool 6x6, classifier.{1,4,6}. */
static cnn_node *alexnet(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    if (!cnn_zoo_plain_options(g, a, "alexnet")) return NULL;
    cnn_scope_push(g, "features");
    x = conv_relu(g, x, 0, 64, 11, 4, 2);
    x = cnn_maxpool2d(g, x, .name = "2", .kernel = 3, .stride = 2);
    x = conv_relu(g, x, 3, 192, 5, 1, 2);
    x = cnn_maxpool2d(g, x, .name = "5", .kernel = 3, .stride = 2);
    x = conv_relu(g, x, 6, 384, 3, 1, 1);
    x = conv_relu(g, x, 8, 256, 3, 1, 1);
    x = conv_relu(g, x, 10, 256, 3, 1, 1);
    x = cnn_maxpool2d(g, x, .name = "12", .kernel = 3, .stride = 2);
    cnn_scope_pop(g);
    x = cnn_flatten(g, cnn_adaptive_avgpool2d(g, x, 6, 6));
    cnn_scope_push(g, "classifier");
    x = cnn_dropout(g, x, 0.5f);
    x = cnn_relu(g, cnn_linear(g, x, 4096, .name = "1"));
    x = cnn_dropout(g, x, 0.5f);
    x = cnn_relu(g, cnn_linear(g, x, 4096, .name = "4"));
    x = cnn_linear(g, x, a->classes, .name = "6");
    cnn_scope_pop(g);
    return x;
}

/* d2l: one nn.Sequential; convs at 0, 3, 6, 8, 10, linears at 14, 17, 20. The first
   linear takes 256*5*5 = 6400 features at 224x224 (it adapts to the input here). */
static cnn_node *alexnet_d2l(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    if (!cnn_zoo_plain_options(g, a, "alexnet_d2l")) return NULL;
    x = conv_relu(g, x, 0, 96, 11, 4, 1);
    x = cnn_maxpool2d(g, x, .name = "2", .kernel = 3, .stride = 2);
    x = conv_relu(g, x, 3, 256, 5, 1, 2);
    x = cnn_maxpool2d(g, x, .name = "5", .kernel = 3, .stride = 2);
    x = conv_relu(g, x, 6, 384, 3, 1, 1);
    x = conv_relu(g, x, 8, 384, 3, 1, 1);
    x = conv_relu(g, x, 10, 256, 3, 1, 1);
    x = cnn_flatten(g, cnn_maxpool2d(g, x, .name = "12", .kernel = 3, .stride = 2));
    x = cnn_dropout(g, cnn_relu(g, cnn_linear(g, x, 4096, .name = "14")), 0.5f);
    x = cnn_dropout(g, cnn_relu(g, cnn_linear(g, x, 4096, .name = "17")), 0.5f);
    return cnn_linear(g, x, a->classes, .name = "20");
}

/* Krizhevsky et al. 2012, Fig. 2: the two-GPU network as one graph. The layers that
   see only their own GPU's half are grouped convolutions (groups 2: conv2 48 -> 128
   per half, conv4 192 -> 192, conv5 192 -> 128); conv3 and the FC layers see both
   halves. LRN after the first two ReLUs (k = 2, n = 5, alpha = 1e-4, beta = 0.75 in
   the paper's sum form: torch's alpha = n * 1e-4), overlapping 3x3/2 max pools,
   dropout 0.5 before fc6 and fc7. 3x227x227 (the arithmetic of 55x55 conv1 maps),
   60,965,224 parameters ("60 million"). Keys laid out as torchvision's alexnet:
   features.<i> (convs 0, 4, 8, 10, 12), classifier.{1,4,6}. */
static cnn_node *alexnet_paper(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    if (!cnn_zoo_plain_options(g, a, "alexnet_paper")) return NULL;
    cnn_scope_push(g, "features");
    x = conv_relu(g, x, 0, 96, 11, 4, 0);
    x = cnn_lrn(g, x, .name = "2", .size = 5, .alpha = 5e-4f, .beta = 0.75f, .k = 2.0f);
    x = cnn_maxpool2d(g, x, .name = "3", .kernel = 3, .stride = 2);
    x = cnn_relu(g, cnn_conv2d(g, x, 256, .name = "4", .kernel = 5, .padding = 2, .groups = 2));
    x = cnn_lrn(g, x, .name = "6", .size = 5, .alpha = 5e-4f, .beta = 0.75f, .k = 2.0f);
    x = cnn_maxpool2d(g, x, .name = "7", .kernel = 3, .stride = 2);
    x = conv_relu(g, x, 8, 384, 3, 1, 1);
    x = cnn_relu(g, cnn_conv2d(g, x, 384, .name = "10", .kernel = 3, .padding = 1, .groups = 2));
    x = cnn_relu(g, cnn_conv2d(g, x, 256, .name = "12", .kernel = 3, .padding = 1, .groups = 2));
    x = cnn_maxpool2d(g, x, .name = "14", .kernel = 3, .stride = 2);
    cnn_scope_pop(g);
    x = cnn_flatten(g, x);
    cnn_scope_push(g, "classifier");
    x = cnn_dropout(g, x, 0.5f, .name = "0");
    x = cnn_relu(g, cnn_linear(g, x, 4096, .name = "1"));
    x = cnn_dropout(g, x, 0.5f, .name = "3");
    x = cnn_relu(g, cnn_linear(g, x, 4096, .name = "4"));
    x = cnn_linear(g, x, a->classes, .name = "6");
    cnn_scope_pop(g);
    return x;
}

const cnn_zoo_entry cnn_zoo_alexnet[] = {
    {{"alexnet", "AlexNet (torchvision): 5 convs + 3 FC, 61.1M params", 3, 0, 224, 224, 1000},
     alexnet, NULL},
    {{"alexnet_d2l", "AlexNet of d2l: 96-256-384-384-256 convs, dropout 0.5, Fashion-MNIST 224x224",
      1, 0, 224, 224, 10},
     alexnet_d2l, NULL},
    {{"alexnet_paper", "AlexNet as in Krizhevsky et al. 2012: LRN, two-GPU grouped convs, 61.0M "
      "params, 227x227", 3, 0, 227, 227, 1000},
     alexnet_paper, NULL},
    {{0}, 0, NULL},
};

/* googlenet family: torchvision 0.14's googlenet (Szegedy et al. 2014, with BN after
   every conv, aux_logits=False, transform_input=False; like torchvision, the "5x5"
   branch uses a 3x3 conv) and d2l's GoogLeNet from the seeds (biased convs, no BN,
   a real 5x5 branch; 1x96x96, 10 classes). */
#include <math.h>
#include <stdio.h>

#include "zoo.h"

/* torchvision BasicConv2d "<name>": conv (no bias) -> BN (eps 1e-3) -> relu. */
static cnn_node *basic_conv(cnn_graph *g, cnn_node *x, const char *name, int out, int k, int s,
                            int p)
{
    cnn_scope_push(g, name);
    x = cnn_conv2d(g, x, out, .name = "conv", .kernel = k, .stride = s, .padding = p,
                   .no_bias = true);
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "bn", .eps = 1e-3f));
    cnn_scope_pop(g);
    return x;
}

/* Inception module: c[] = ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj. */
static cnn_node *inception_tv(cnn_graph *g, cnn_node *x, const char *name, const int c[6])
{
    cnn_scope_push(g, name);
    cnn_node *b[4];
    b[0] = basic_conv(g, x, "branch1", c[0], 1, 1, 0);
    b[1] = basic_conv(g, basic_conv(g, x, "branch2.0", c[1], 1, 1, 0), "branch2.1", c[2], 3, 1, 1);
    b[2] = basic_conv(g, basic_conv(g, x, "branch3.0", c[3], 1, 1, 0), "branch3.1", c[4], 3, 1, 1);
    b[3] = cnn_maxpool2d(g, x, .kernel = 3, .stride = 1, .padding = 1, .ceil_mode = true);
    b[3] = basic_conv(g, b[3], "branch4.1", c[5], 1, 1, 0);
    cnn_scope_pop(g);
    return cnn_concat(g, 4, b);
}

static cnn_node *googlenet(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    static const struct { const char *name; int c[6]; } inc[9] = {
        {"inception3a", {64, 96, 128, 16, 32, 32}},    {"inception3b", {128, 128, 192, 32, 96, 64}},
        {"inception4a", {192, 96, 208, 16, 48, 64}},   {"inception4b", {160, 112, 224, 24, 64, 64}},
        {"inception4c", {128, 128, 256, 24, 64, 64}},  {"inception4d", {112, 144, 288, 32, 64, 64}},
        {"inception4e", {256, 160, 320, 32, 128, 128}}, {"inception5a", {256, 160, 320, 32, 128, 128}},
        {"inception5b", {384, 192, 384, 48, 128, 128}},
    };
    if (!cnn_zoo_plain_options(g, a, "googlenet")) return NULL;
    x = basic_conv(g, x, "conv1", 64, 7, 2, 3);
    x = cnn_maxpool2d(g, x, .name = "maxpool1", .kernel = 3, .stride = 2, .ceil_mode = true);
    x = basic_conv(g, x, "conv2", 64, 1, 1, 0);
    x = basic_conv(g, x, "conv3", 192, 3, 1, 1);
    x = cnn_maxpool2d(g, x, .name = "maxpool2", .kernel = 3, .stride = 2, .ceil_mode = true);
    for (int i = 0; i < 9; i++) {
        x = inception_tv(g, x, inc[i].name, inc[i].c);
        if (i == 1)
            x = cnn_maxpool2d(g, x, .name = "maxpool3", .kernel = 3, .stride = 2, .ceil_mode = true);
        if (i == 6)
            x = cnn_maxpool2d(g, x, .name = "maxpool4", .kernel = 2, .stride = 2, .ceil_mode = true);
    }
    x = cnn_flatten(g, cnn_adaptive_avgpool2d(g, x, 1, 1));
    x = cnn_dropout(g, x, 0.2f);
    return cnn_linear(g, x, a->classes, .name = "fc");
}

/* d2l Inception: p1_1; p2_1 -> p2_2 (3x3); p3_1 -> p3_2 (5x5); maxpool -> p4_2; ReLU
   after every conv. c[] = c1, c2[0], c2[1], c3[0], c3[1], c4. */
static cnn_node *inception_d2l(cnn_graph *g, cnn_node *x, const int c[6])
{
    cnn_node *b[4];
    b[0] = cnn_relu(g, cnn_conv2d(g, x, c[0], .name = "p1_1", .kernel = 1));
    b[1] = cnn_relu(g, cnn_conv2d(g, x, c[1], .name = "p2_1", .kernel = 1));
    b[1] = cnn_relu(g, cnn_conv2d(g, b[1], c[2], .name = "p2_2", .kernel = 3, .padding = 1));
    b[2] = cnn_relu(g, cnn_conv2d(g, x, c[3], .name = "p3_1", .kernel = 1));
    b[2] = cnn_relu(g, cnn_conv2d(g, b[2], c[4], .name = "p3_2", .kernel = 5, .padding = 2));
    b[3] = cnn_maxpool2d(g, x, .kernel = 3, .stride = 1, .padding = 1);
    b[3] = cnn_relu(g, cnn_conv2d(g, b[3], c[5], .name = "p4_2", .kernel = 1));
    return cnn_concat(g, 4, b);
}

/* Sequential(b1, b2, b3, b4, b5, Linear): keys "0.0.weight", "1.0", "1.2",
   "<2..4>.<i>.p1_1.weight", "5.weight". */
static cnn_node *googlenet_d2l(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    static const int b3[2][6] = {{64, 96, 128, 16, 32, 32}, {128, 128, 192, 32, 96, 64}};
    static const int b4[5][6] = {{192, 96, 208, 16, 48, 64},   {160, 112, 224, 24, 64, 64},
                                 {128, 128, 256, 24, 64, 64},  {112, 144, 288, 32, 64, 64},
                                 {256, 160, 320, 32, 128, 128}};
    static const int b5[2][6] = {{256, 160, 320, 32, 128, 128}, {384, 192, 384, 48, 128, 128}};
    static const struct { int n; const int (*c)[6]; } stage[3] = {{2, b3}, {5, b4}, {2, b5}};
    if (!cnn_zoo_plain_options(g, a, "googlenet_d2l")) return NULL;
    cnn_scope_push(g, "0");
    x = cnn_relu(g, cnn_conv2d(g, x, 64, .name = "0", .kernel = 7, .stride = 2, .padding = 3));
    x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .padding = 1);
    cnn_scope_pop(g);
    cnn_scope_push(g, "1");
    x = cnn_relu(g, cnn_conv2d(g, x, 64, .name = "0", .kernel = 1));
    x = cnn_relu(g, cnn_conv2d(g, x, 192, .name = "2", .kernel = 3, .padding = 1));
    x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .padding = 1);
    cnn_scope_pop(g);
    for (int s = 0; s < 3; s++) {
        cnn_scope_pushf(g, "%d", s + 2);
        for (int i = 0; i < stage[s].n; i++) {
            cnn_scope_pushf(g, "%d", i);
            x = inception_d2l(g, x, stage[s].c[i]);
            cnn_scope_pop(g);
        }
        if (s < 2) x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .padding = 1);
        cnn_scope_pop(g);
    }
    x = cnn_flatten(g, cnn_adaptive_avgpool2d(g, x, 1, 1));
    return cnn_linear(g, x, a->classes, .name = "5");
}

const cnn_zoo_entry cnn_zoo_googlenet[] = {
    {{"googlenet", "GoogLeNet / Inception v1 (torchvision, BN, no aux heads): 6.6M params", 3, 0,
      224, 224, 1000},
     googlenet, NULL},
    {{"googlenet_d2l", "GoogLeNet of d2l (no BN, 5x5 branch), Fashion-MNIST 96x96", 1, 0, 96, 96, 10},
     googlenet_d2l, NULL},
    {{0}, 0, NULL},
};

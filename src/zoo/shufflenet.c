/* ShuffleNet family.
     shufflenet_v1       Zhang et al. 2018 (ShuffleNet), Table 1: conv1 3x3/2 24, max pool
                         3x3/2, stages 2-4 of 4/8/4 units, global pooling, fc. Family
                         option groups=1|2|3|4|8 (default 3); width_mult = the scale s
                         (0.25, 0.5, 1, 1.5, 2) on the stage widths (Table 1 at 1x: stage 2
                         144/200/240/272/384 for g = 1/2/3/4/8, doubling per stage), each
                         rounded to a multiple of 4g so the bottleneck (1/4 of a unit's
                         output) splits into g groups; conv1 has 12 channels below 1x, 24
                         at 1x and 1.5x, 48 at 2x (the authors' channel table; with it the
                         MFLOPs of 0.25x..2x match the paper). A unit (Fig. 2):
                         1x1 group conv gconv1 + bn1 + ReLU, channel shuffle, 3x3 depthwise
                         dwconv (stride 2 in a stage's first unit) + bn2, 1x1 group conv
                         gconv2 + bn3; identity add (stride 1) or concat with a 3x3/2
                         average-pooled shortcut (stride 2, branch = out - in channels),
                         then ReLU. Stage 2's first gconv1 is not grouped (paper: its input
                         has only 24 channels), and no shuffle follows it. No torchvision
                         model exists; names (no seed gives code): conv1, bn1,
                         stage<s>.<i>.{gconv1, bn1, dwconv, bn2, gconv2, bn3}, fc. All convs
                         without bias. tools/fixtures/zoo_seeds_mobile.py is the PyTorch twin.
     shufflenet_v2_x0_5 .. x2_0   torchvision 0.14. */
#include <math.h>
#include <stdio.h>

#include "zoo.h"

/* ---------------------------------------------------------------- V1 */
static cnn_node *v1_unit(cnn_graph *g, cnn_node *x, int cout, int stride, int groups,
                         bool first_grouped)
{
    int cin = cnn_node_dim(x, 1), mid = cout / 4, branch = stride == 2 ? cout - cin : cout;
    int g1 = first_grouped ? groups : 1;
    cnn_node *y = cnn_conv2d(g, x, mid, .kernel = 1, .groups = g1, .no_bias = true, .name = "gconv1");
    y = cnn_relu(g, cnn_batchnorm2d(g, y, .name = "bn1"));
    if (g1 > 1) y = cnn_channel_shuffle(g, y, g1);
    y = cnn_conv2d(g, y, mid, .kernel = 3, .stride = stride, .padding = 1, .groups = mid,
                   .no_bias = true, .name = "dwconv");
    y = cnn_batchnorm2d(g, y, .name = "bn2");
    y = cnn_conv2d(g, y, branch, .kernel = 1, .groups = groups, .no_bias = true, .name = "gconv2");
    y = cnn_batchnorm2d(g, y, .name = "bn3");
    if (stride == 2) {
        cnn_node *s = cnn_avgpool2d(g, x, .kernel = 3, .stride = 2, .padding = 1, .name = "shortcut");
        return cnn_relu(g, cnn_concat(g, 2, (cnn_node *[]){s, y}));
    }
    return cnn_relu(g, cnn_add(g, x, y));
}

static cnn_node *build_shufflenet_v1(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    static const char *const keys[] = {"groups", NULL};
    if (!cnn_zoo_check_keys(g, "shufflenet_v1", a, keys)) return NULL;
    int groups = cnn_zoo_opt_int(a, "groups", 3), c2;
    switch (groups) {
    case 1: c2 = 144; break;
    case 2: c2 = 200; break;
    case 3: c2 = 240; break;
    case 4: c2 = 272; break;
    case 8: c2 = 384; break;
    default:
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG,
                            "shufflenet_v1: groups=%d is not one of 1, 2, 3, 4, 8 (paper Table 1)",
                            groups);
    }
    float s = a->width_mult;
    if (s != 0.25f && s != 0.5f && s != 1.0f && s != 1.5f && s != 2.0f)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG,
                            "shufflenet_v1: width_mult (scale) %g is not one of 0.25, 0.5, 1, 1.5, 2",
                            s);
    /* conv1 by scale, as the authors' released channel table (12 at 0.5x, 24 at 1x and
       1.5x, 48 at 2x); 0.25x keeps 12, which gives Table 3's 13 MFLOPs */
    int c1 = s < 1.0f ? 12 : s > 1.5f ? 48 : 24;
    x = cnn_conv2d(g, x, c1, .kernel = 3, .stride = 2, .padding = 1, .no_bias = true, .name = "conv1");
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "bn1"));
    x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .padding = 1, .name = "maxpool");
    static const int repeats[3] = {4, 8, 4};
    for (int st = 0; st < 3; st++) {
        int cout = cnn_zoo_make_divisible((float)c2 * s * (float)(1 << st), 4 * groups);
        cnn_scope_pushf(g, "stage%d", st + 2);
        for (int i = 0; i < repeats[st] && x; i++) {
            cnn_scope_pushf(g, "%d", i);
            x = v1_unit(g, x, cout, i == 0 ? 2 : 1, groups, !(st == 0 && i == 0));
            cnn_scope_pop(g);
        }
        cnn_scope_pop(g);
    }
    x = cnn_flatten(g, cnn_global_avgpool(g, x));
    return cnn_linear(g, x, a->classes, .name = "fc");
}

/* ---------------------------------------------------------------- V2 */
/* torchvision's InvertedResidual under the current scope. */
static cnn_node *v2_unit(cnn_graph *g, cnn_node *x, int oup, int stride)
{
    int bf = oup / 2;
    cnn_node *left;
    if (stride > 1) {
        int inp = cnn_node_dim(x, 1);
        cnn_scope_push(g, "branch1");
        left = cnn_conv2d(g, x, inp, .kernel = 3, .stride = stride, .padding = 1, .groups = inp,
                          .no_bias = true, .name = "0");
        left = cnn_batchnorm2d(g, left, .name = "1");
        left = cnn_conv2d(g, left, bf, .kernel = 1, .no_bias = true, .name = "2");
        left = cnn_relu(g, cnn_batchnorm2d(g, left, .name = "3"));
        cnn_scope_pop(g);
    } else {
        left = cnn_channel_slice(g, x, 0, bf);
        x = cnn_channel_slice(g, x, bf, bf);
    }
    cnn_scope_push(g, "branch2");
    cnn_node *y = cnn_conv2d(g, x, bf, .kernel = 1, .no_bias = true, .name = "0");
    y = cnn_relu(g, cnn_batchnorm2d(g, y, .name = "1"));
    y = cnn_conv2d(g, y, bf, .kernel = 3, .stride = stride, .padding = 1, .groups = bf,
                   .no_bias = true, .name = "3");
    y = cnn_batchnorm2d(g, y, .name = "4");
    y = cnn_conv2d(g, y, bf, .kernel = 1, .no_bias = true, .name = "5");
    y = cnn_relu(g, cnn_batchnorm2d(g, y, .name = "6"));
    cnn_scope_pop(g);
    return cnn_channel_shuffle(g, cnn_concat(g, 2, (cnn_node *[]){left, y}), 2);
}

static cnn_node *shufflenet_v2(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a, const char *model,
                               const int ch[5])
{
    if (!cnn_zoo_check_keys(g, model, a, NULL)) return NULL;
    if (a->width_mult != 1.0f)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG,
                            "%s: width_mult %g is fixed by the model (choose shufflenet_v2_x0_5, "
                            "x1_0, x1_5 or x2_0)",
                            model, a->width_mult);
    cnn_scope_push(g, "conv1");
    x = cnn_conv2d(g, x, ch[0], .kernel = 3, .stride = 2, .padding = 1, .no_bias = true, .name = "0");
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "1"));
    cnn_scope_pop(g);
    x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .padding = 1, .name = "maxpool");
    static const int repeats[3] = {4, 8, 4};
    for (int st = 0; st < 3; st++) {
        cnn_scope_pushf(g, "stage%d", st + 2);
        for (int i = 0; i < repeats[st] && x; i++) {
            cnn_scope_pushf(g, "%d", i);
            x = v2_unit(g, x, ch[st + 1], i == 0 ? 2 : 1);
            cnn_scope_pop(g);
        }
        cnn_scope_pop(g);
    }
    cnn_scope_push(g, "conv5");
    x = cnn_conv2d(g, x, ch[4], .kernel = 1, .no_bias = true, .name = "0");
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "1"));
    cnn_scope_pop(g);
    x = cnn_flatten(g, cnn_global_avgpool(g, x));
    return cnn_linear(g, x, a->classes, .name = "fc");
}

#define V2(suffix, c0, c1, c2, c3, c4)                                                     \
    static cnn_node *build_v2_##suffix(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a) \
    {                                                                                    \
        static const int ch[5] = {c0, c1, c2, c3, c4};                                   \
        return shufflenet_v2(g, x, a, "shufflenet_v2_" #suffix, ch);                     \
    }
V2(x0_5, 24, 48, 96, 192, 1024)
V2(x1_0, 24, 116, 232, 464, 1024)
V2(x1_5, 24, 176, 352, 704, 1024)
V2(x2_0, 24, 244, 488, 976, 2048)
#undef V2

const cnn_zoo_entry cnn_zoo_shufflenet[] = {
    {{"shufflenet_v1", "ShuffleNet V1: pointwise group convs + channel shuffle (set groups=g)", 3, 0,
      224, 224, 1000},
     build_shufflenet_v1, NULL},
    {{"shufflenet_v2_x0_5", "ShuffleNet V2 0.5x (torchvision)", 3, 0, 224, 224, 1000}, build_v2_x0_5, NULL},
    {{"shufflenet_v2_x1_0", "ShuffleNet V2 1.0x (torchvision)", 3, 0, 224, 224, 1000}, build_v2_x1_0, NULL},
    {{"shufflenet_v2_x1_5", "ShuffleNet V2 1.5x (torchvision)", 3, 0, 224, 224, 1000}, build_v2_x1_5, NULL},
    {{"shufflenet_v2_x2_0", "ShuffleNet V2 2.0x (torchvision)", 3, 0, 224, 224, 1000}, build_v2_x2_0, NULL},
    {{0}, 0, NULL},
};

/* MobileNet family.
     mobilenet_v1        Howard et al. 2017, Table 1, with width multiplier alpha
                         (width_mult: every width int(c * alpha)) and resolution via the
                         input size. Structure and names from seed 002's PyTorch
                         MobileNetV1: conv1 / bn1, layers.<i>.{depthwise, bn1, pointwise,
                         bn2} (13 depthwise-separable blocks, convs without bias), global
                         average pooling, fc. (Table 1's second-to-last depthwise conv is
                         listed as stride 2 at 7x7; the seed, like every implementation,
                         uses stride 1 there.)
     mobilenet_v1_keras  note 001's Keras (TensorFlow 2.6) MobileNetV1: its own layer list
                         (the sixth block keeps 256 channels at stride 2), bias on every
                         conv, Keras 'same' padding, Dense -> Dropout(0.5) (-> softmax
                         with --set softmax=1). Names from its attributes: conv1,
                         conv1batch, depthconv.<i>.{depthwiseconv, depthbatch, conv11,
                         conv11batch}, dense. See docs/architecture.md (Keras 'same').
     mobilenet_v2        torchvision 0.14 (width_mult with _make_divisible to 8).
     mobilenet_v3_large,
     mobilenet_v3_small  torchvision 0.14 (BN eps 1e-3, momentum 0.01; width_mult). */
#include <stdio.h>

#include "zoo.h"

/* torchvision's Conv2dNormActivation under scope: conv "0" (no bias), BN "1", act. */
static cnn_node *conv_bn_act(cnn_graph *g, cnn_node *x, int scope, int out, int k, int stride,
                             int groups, cnn_act act, float eps, float momentum)
{
    cnn_scope_pushf(g, "%d", scope);
    x = cnn_conv2d(g, x, out, .kernel = k, .stride = stride, .padding = (k - 1) / 2,
                   .groups = groups, .no_bias = true, .name = "0");
    x = cnn_batchnorm2d(g, x, .eps = eps, .momentum = momentum, .name = "1");
    if (act != CNN_ACT_NONE) x = cnn_activation(g, x, act);
    cnn_scope_pop(g);
    return x;
}

static bool check_width(cnn_graph *g, const char *model, float wm)
{
    if (wm > 0.0f && wm <= 4.0f) return true;
    cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "%s: width_mult %g is not in (0, 4]", model, wm);
    return false;
}

/* ---------------------------------------------------------------- V1 */
static cnn_node *build_mobilenet_v1(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    /* (in, out, stride) of the 13 depthwise-separable blocks at alpha = 1 */
    static const int cfg[13][3] = {
        {32, 64, 1},    {64, 128, 2},   {128, 128, 1},  {128, 256, 2},  {256, 256, 1},
        {256, 512, 2},  {512, 512, 1},  {512, 512, 1},  {512, 512, 1},  {512, 512, 1},
        {512, 512, 1},  {512, 1024, 2}, {1024, 1024, 1},
    };
    static const char *const keys[] = {"shallow", "conv", NULL};
    if (!cnn_zoo_check_keys(g, "mobilenet_v1", a, keys)) return NULL;
    int shallow = cnn_zoo_opt_int(a, "shallow", 0), full = cnn_zoo_opt_int(a, "conv", 0);
    if ((shallow != 0 && shallow != 1) || (full != 0 && full != 1))
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "mobilenet_v1: shallow=%d conv=%d: expected 0 or 1",
                            shallow, full);
    float al = a->width_mult;
    if (!check_width(g, "mobilenet_v1", al)) return NULL;
    if ((int)(32 * al) < 1)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG,
                            "mobilenet_v1: width_mult %g leaves conv1 with %d channels", al,
                            (int)(32 * al));
    x = cnn_conv2d(g, x, (int)(32 * al), .kernel = 3, .stride = 2, .padding = 1, .no_bias = true,
                   .name = "conv1");
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "bn1"));
    cnn_scope_push(g, "layers");
    for (int i = 0; i < 13; i++) {
        int cin = (int)(cfg[i][0] * al), cout = (int)(cfg[i][1] * al);
        /* the paper's Shallow MobileNet (Table 5) drops the five 14x14x512 blocks */
        if (shallow && i >= 6 && i <= 10) continue;
        cnn_scope_pushf(g, "%d", i);
        if (full) {
            /* Table 4's baseline: a full 3x3 convolution where the block would be */
            x = cnn_conv2d(g, x, cout, .kernel = 3, .stride = cfg[i][2], .padding = 1, .no_bias = true,
                           .name = "conv");
            x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "bn"));
            cnn_scope_pop(g);
            continue;
        }
        x = cnn_conv2d(g, x, cin, .kernel = 3, .stride = cfg[i][2], .padding = 1, .groups = cin,
                       .no_bias = true, .name = "depthwise");
        x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "bn1"));
        x = cnn_conv2d(g, x, cout, .kernel = 1, .no_bias = true, .name = "pointwise");
        x = cnn_relu(g, cnn_batchnorm2d(g, x, .name = "bn2"));
        cnn_scope_pop(g);
    }
    cnn_scope_pop(g);
    x = cnn_flatten(g, cnn_global_avgpool(g, x));
    return cnn_linear(g, x, a->classes, .name = "fc");
}

/* ---------------------------------------------------------------- V1 (Keras) */
/* Keras padding='same' for a k x k conv at stride s: the output is ceil(in / s) and the
   total padding max((out - 1) * s + k - in, 0) is split with the smaller half before
   (top/left), so a 3x3 stride-2 conv on an even size pads only bottom/right. Written as
   an explicit cnn_pad then the conv with padding 0 when the split is uneven. */
static cnn_node *keras_same_conv(cnn_graph *g, cnn_node *x, int out, int k, int stride, int groups,
                                 const char *name)
{
    if (!x) return NULL;
    int pb[2], pe[2];
    for (int d = 0; d < 2; d++) {
        int in = cnn_node_dim(x, 2 + d), o = (in + stride - 1) / stride;
        int total = (o - 1) * stride + k - in;
        if (total < 0) total = 0;
        pb[d] = total / 2;
        pe[d] = total - pb[d];
    }
    if (pb[0] == pe[0] && pb[1] == pe[1])
        return cnn_conv2d(g, x, out, .kernel = k, .stride = stride, .padding_h = pb[0],
                          .padding_w = pb[1], .groups = groups, .name = name);
    const int pads[8] = {0, 0, pb[0], pb[1], 0, 0, pe[0], pe[1]};
    x = cnn_pad(g, x, pads, CNN_PAD_CONSTANT, 0.0f);
    return cnn_conv2d(g, x, out, .kernel = k, .stride = stride, .groups = groups, .name = name);
}

static cnn_node *build_mobilenet_v1_keras(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    /* (filter, stride) of note 001's DepthWiseConv blocks, in its order */
    static const int cfg[13][2] = {
        {64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1}, {256, 2},  {512, 1},
        {512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 2}, {1024, 1},
    };
    static const char *const keys[] = {"softmax", NULL};
    if (!cnn_zoo_check_keys(g, "mobilenet_v1_keras", a, keys)) return NULL;
    if (!cnn_zoo_no_width(g, "mobilenet_v1_keras", a)) return NULL;
    int softmax = cnn_zoo_opt_int(a, "softmax", 0);
    if (softmax != 0 && softmax != 1)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "mobilenet_v1_keras: softmax=%d: expected 0 or 1",
                            softmax);
    /* Keras BatchNormalization: epsilon 1e-3, momentum 0.99 (PyTorch momentum 0.01) */
    const float eps = 1e-3f, mom = 0.01f;
    x = keras_same_conv(g, x, 32, 3, 2, 1, "conv1");
    x = cnn_relu(g, cnn_batchnorm2d(g, x, .eps = eps, .momentum = mom, .name = "conv1batch"));
    cnn_scope_push(g, "depthconv");
    int cin = 32;
    for (int i = 0; i < 13; i++) {
        cnn_scope_pushf(g, "%d", i);
        x = keras_same_conv(g, x, cin, 3, cfg[i][1], cin, "depthwiseconv");
        x = cnn_relu(g, cnn_batchnorm2d(g, x, .eps = eps, .momentum = mom, .name = "depthbatch"));
        x = cnn_conv2d(g, x, cfg[i][0], .kernel = 1, .name = "conv11");
        x = cnn_relu(g, cnn_batchnorm2d(g, x, .eps = eps, .momentum = mom, .name = "conv11batch"));
        cnn_scope_pop(g);
        cin = cfg[i][0];
    }
    cnn_scope_pop(g);
    x = cnn_flatten(g, cnn_global_avgpool(g, x));
    x = cnn_dropout(g, cnn_linear(g, x, a->classes, .name = "dense"), 0.5f, .name = "dropout");
    return softmax ? cnn_softmax(g, x) : x;
}

/* ---------------------------------------------------------------- V2 */
static cnn_node *build_mobilenet_v2(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    /* t (expansion), c (channels), n (repeats), s (first stride): paper Table 2 */
    static const int cfg[7][4] = {
        {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
        {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
    };
    static const char *const keys[] = {"dropout", "seed_last", NULL};
    if (!cnn_zoo_check_keys(g, "mobilenet_v2", a, keys)) return NULL;
    float p = cnn_zoo_opt_float(a, "dropout", 0.2f); /* the classifier's */
    if (!(p >= 0.0f && p < 1.0f))
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "mobilenet_v2: dropout=%g is not in [0, 1)", p);
    float wm = a->width_mult;
    if (!check_width(g, "mobilenet_v2", wm)) return NULL;
    int seed_last = cnn_zoo_opt_int(a, "seed_last", 0);
    if (seed_last != 0 && seed_last != 1)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "mobilenet_v2: seed_last=%d: expected 0 or 1",
                            seed_last);
    const float eps = 1e-5f, mom = 0.1f;
    int cin = cnn_zoo_make_divisible(32 * wm, 8);
    /* torchvision keeps 1280 last channels below width 1; seed 002 (and the paper's
       reference code) scales them too: _make_divisible(1280 * alpha) */
    int last = cnn_zoo_make_divisible(1280 * (wm > 1.0f || seed_last ? wm : 1.0f), 8);
    cnn_scope_push(g, "features");
    x = conv_bn_act(g, x, 0, cin, 3, 2, 1, CNN_ACT_RELU6, eps, mom);
    int idx = 1;
    for (int b = 0; b < 7; b++) {
        int t = cfg[b][0], cout = cnn_zoo_make_divisible(cfg[b][1] * wm, 8);
        for (int i = 0; i < cfg[b][2]; i++, idx++) {
            int stride = i == 0 ? cfg[b][3] : 1, hidden = cin * t, li = 0;
            cnn_node *res = x;
            cnn_scope_pushf(g, "%d", idx);
            cnn_scope_push(g, "conv");
            if (t != 1) x = conv_bn_act(g, x, li++, hidden, 1, 1, 1, CNN_ACT_RELU6, eps, mom);
            x = conv_bn_act(g, x, li++, hidden, 3, stride, hidden, CNN_ACT_RELU6, eps, mom);
            char conv[16], bn[16]; /* the projection: a bare conv and BN, "conv.<li>" */
            snprintf(conv, sizeof conv, "%d", li);
            snprintf(bn, sizeof bn, "%d", li + 1);
            x = cnn_conv2d(g, x, cout, .kernel = 1, .no_bias = true, .name = conv);
            x = cnn_batchnorm2d(g, x, .name = bn);
            cnn_scope_pop(g);
            cnn_scope_pop(g);
            if (stride == 1 && cin == cout) x = cnn_add(g, res, x);
            cin = cout;
        }
    }
    x = conv_bn_act(g, x, idx, last, 1, 1, 1, CNN_ACT_RELU6, eps, mom);
    cnn_scope_pop(g);
    x = cnn_flatten(g, cnn_global_avgpool(g, x));
    cnn_scope_push(g, "classifier");
    x = cnn_dropout(g, x, p, .name = "0");
    x = cnn_linear(g, x, a->classes, .name = "1");
    cnn_scope_pop(g);
    return x;
}

/* ---------------------------------------------------------------- V3 */
/* One row of torchvision's InvertedResidualConfig (before width scaling). */
typedef struct v3_cfg {
    int in, k, exp, out;
    bool se, hs;
    int stride;
} v3_cfg;

static const v3_cfg v3_large[] = {
    {16, 3, 16, 16, false, false, 1},   {16, 3, 64, 24, false, false, 2},
    {24, 3, 72, 24, false, false, 1},   {24, 5, 72, 40, true, false, 2},
    {40, 5, 120, 40, true, false, 1},   {40, 5, 120, 40, true, false, 1},
    {40, 3, 240, 80, false, true, 2},   {80, 3, 200, 80, false, true, 1},
    {80, 3, 184, 80, false, true, 1},   {80, 3, 184, 80, false, true, 1},
    {80, 3, 480, 112, true, true, 1},   {112, 3, 672, 112, true, true, 1},
    {112, 5, 672, 160, true, true, 2},  {160, 5, 960, 160, true, true, 1},
    {160, 5, 960, 160, true, true, 1},
};
static const v3_cfg v3_small[] = {
    {16, 3, 16, 16, true, false, 2},  {16, 3, 72, 24, false, false, 2},
    {24, 3, 88, 24, false, false, 1}, {24, 5, 96, 40, true, true, 2},
    {40, 5, 240, 40, true, true, 1},  {40, 5, 240, 40, true, true, 1},
    {40, 5, 120, 48, true, true, 1},  {48, 5, 144, 48, true, true, 1},
    {48, 5, 288, 96, true, true, 2},  {96, 5, 576, 96, true, true, 1},
    {96, 5, 576, 96, true, true, 1},
};

static cnn_node *mobilenet_v3(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a, const char *model,
                              const v3_cfg *cfg_in, int n, int last_channel)
{
    static const char *const keys[] = {"reduced_tail", "dilated", NULL};
    if (!cnn_zoo_check_keys(g, model, a, keys)) return NULL;
    float wm = a->width_mult;
    if (!check_width(g, model, wm)) return NULL;
    int reduced = cnn_zoo_opt_int(a, "reduced_tail", 0), dilated = cnn_zoo_opt_int(a, "dilated", 0);
    if ((reduced != 0 && reduced != 1) || (dilated != 0 && dilated != 1))
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "%s: reduced_tail=%d dilated=%d: expected 0 or 1",
                            model, reduced, dilated);
    /* torchvision's options for the last stage (the last three rows): reduced_tail halves
       its widths and the last channels, dilated runs it at dilation 2 and stride 1 */
    v3_cfg cfg[16];
    int dil[16];
    for (int i = 0; i < n; i++) {
        cfg[i] = cfg_in[i];
        dil[i] = 1;
        if (i < n - 3) continue;
        int div = reduced ? 2 : 1;
        if (i > n - 3) cfg[i].in /= div;
        cfg[i].exp = i > n - 3 ? cfg[i].exp / div : cfg[i].exp;
        cfg[i].out /= div;
        if (dilated) {
            dil[i] = 2;
            cfg[i].stride = 1;
        }
    }
    if (reduced) last_channel /= 2;
    const float eps = 1e-3f, mom = 0.01f;
#define ADJ(c) cnn_zoo_make_divisible((float)(c) * wm, 8)
    cnn_scope_push(g, "features");
    x = conv_bn_act(g, x, 0, ADJ(cfg[0].in), 3, 2, 1, CNN_ACT_HARDSWISH, eps, mom);
    for (int i = 0; i < n; i++) {
        const v3_cfg *c = &cfg[i];
        int cin = ADJ(c->in), exp = ADJ(c->exp), cout = ADJ(c->out), li = 0;
        cnn_act act = c->hs ? CNN_ACT_HARDSWISH : CNN_ACT_RELU;
        cnn_node *res = x;
        cnn_scope_pushf(g, "%d", i + 1);
        cnn_scope_push(g, "block");
        if (exp != cin) x = conv_bn_act(g, x, li++, exp, 1, 1, 1, act, eps, mom);
        if (dil[i] > 1) {
            cnn_scope_pushf(g, "%d", li++);
            x = cnn_conv2d(g, x, exp, .kernel = c->k, .stride = 1, .padding = (c->k - 1) / 2 * dil[i],
                           .dilation = dil[i], .groups = exp, .no_bias = true, .name = "0");
            x = cnn_batchnorm2d(g, x, .eps = eps, .momentum = mom, .name = "1");
            x = cnn_activation(g, x, act);
            cnn_scope_pop(g);
        } else {
            x = conv_bn_act(g, x, li++, exp, c->k, c->stride, exp, act, eps, mom);
        }
        if (c->se) {
            /* SqueezeExcitation: avgpool, fc1 (1x1 conv), ReLU, fc2, hardsigmoid, scale */
            int sq = cnn_zoo_make_divisible((float)(exp / 4), 8);
            cnn_scope_pushf(g, "%d", li++);
            cnn_node *s = cnn_global_avgpool(g, x);
            s = cnn_relu(g, cnn_conv2d(g, s, sq, .kernel = 1, .name = "fc1"));
            s = cnn_hardsigmoid(g, cnn_conv2d(g, s, exp, .kernel = 1, .name = "fc2"));
            x = cnn_mul_channel(g, x, s);
            cnn_scope_pop(g);
        }
        x = conv_bn_act(g, x, li, cout, 1, 1, 1, CNN_ACT_NONE, eps, mom);
        cnn_scope_pop(g);
        cnn_scope_pop(g);
        if (cfg_in[i].stride == 1 && cin == cout) x = cnn_add(g, res, x);
    }
    x = conv_bn_act(g, x, n + 1, 6 * ADJ(cfg[n - 1].out), 1, 1, 1, CNN_ACT_HARDSWISH, eps, mom);
    cnn_scope_pop(g);
    x = cnn_flatten(g, cnn_global_avgpool(g, x));
    cnn_scope_push(g, "classifier");
    x = cnn_hardswish(g, cnn_linear(g, x, ADJ(last_channel), .name = "0"));
    x = cnn_dropout(g, x, 0.2f, .name = "2");
    x = cnn_linear(g, x, a->classes, .name = "3");
    cnn_scope_pop(g);
#undef ADJ
    return x;
}

static cnn_node *build_mobilenet_v3_large(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    return mobilenet_v3(g, x, a, "mobilenet_v3_large", v3_large,
                        (int)(sizeof v3_large / sizeof v3_large[0]), 1280);
}

static cnn_node *build_mobilenet_v3_small(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    return mobilenet_v3(g, x, a, "mobilenet_v3_small", v3_small,
                        (int)(sizeof v3_small / sizeof v3_small[0]), 1024);
}

const cnn_zoo_entry cnn_zoo_mobilenet[] = {
    {{"mobilenet_v1", "MobileNet V1: depthwise separable convs; width_mult = alpha (seed names)",
      3, 0, 224, 224, 1000},
     build_mobilenet_v1, NULL},
    {{"mobilenet_v1_keras",
      "MobileNet V1 as note 001's Keras model: conv bias, Keras 'same' padding, its layer list", 3,
      0, 224, 224, 1000},
     build_mobilenet_v1_keras, NULL},
    {{"mobilenet_v2", "MobileNet V2 (torchvision): inverted residuals, linear bottlenecks", 3, 0,
      224, 224, 1000},
     build_mobilenet_v2, NULL},
    {{"mobilenet_v3_large", "MobileNet V3 Large (torchvision): SE, hard-swish", 3, 0, 224, 224,
      1000},
     build_mobilenet_v3_large, NULL},
    {{"mobilenet_v3_small", "MobileNet V3 Small (torchvision): SE, hard-swish", 3, 0, 224, 224,
      1000},
     build_mobilenet_v3_small, NULL},
    {{0}, 0, NULL},
};

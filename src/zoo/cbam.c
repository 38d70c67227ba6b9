/* cbam family: CBAM-ResNet-18/50 (Woo et al. 2018) on torchvision's ResNet. The
   default (cbam_resnet18/50, 28,073,544 parameters for 50) follows the common
   reference code; cbam_resnet18_paper / cbam_resnet50_paper follow the authors' code
   (28,089,624: the paper's 28.09M), see cbam_paper below. Each
   block's residual branch, after its last BN and before the add, is refined by
   channel attention then spatial attention, as the common reference code does:
     ca: sigmoid(fc2(relu(fc1(avgpool(x)))) + fc2(relu(fc1(maxpool(x))))), 1x1 convs
         without bias, C -> C/16 -> C, shared by both pooled descriptors;
     sa: sigmoid(conv1(concat(mean_c(x), max_c(x)))), conv1 7x7 pad 3, no bias.
   Keys: "layer1.0.ca.fc1.weight", "layer1.0.ca.fc2.weight", "layer1.0.sa.conv1.weight". */
#include "zoo.h"

/* The channel MLP (fc1, relu, fc2) is one layer applied to both pooled descriptors:
   the max-pooled one goes through the same fc1 and fc2 again (cnn_apply_shared), so
   both share the weights and their gradients add, as the reference module called
   twice (docs/architecture.md, "Weight sharing"). */
static cnn_node *channel_attention(cnn_graph *g, cnn_node *x, int channels, bool bias)
{
    int h = cnn_node_dim(x, 2), w = cnn_node_dim(x, 3);
    cnn_scope_push(g, "ca");
    cnn_node *avg = cnn_global_avgpool(g, x);
    cnn_node *max = cnn_maxpool2d(g, x, .kernel_h = h, .kernel_w = w);
    cnn_node *fc1 = cnn_conv2d(g, avg, channels / 16, .name = "fc1", .kernel = 1, .no_bias = !bias);
    cnn_node *fc2 = cnn_conv2d(g, cnn_relu(g, fc1), channels, .name = "fc2", .kernel = 1,
                               .no_bias = !bias);
    cnn_node *m = cnn_relu(g, cnn_apply_shared(g, fc1, 1, &max, NULL));
    m = cnn_apply_shared(g, fc2, 1, &m, NULL);
    cnn_node *s = cnn_sigmoid(g, cnn_add(g, fc2, m));
    cnn_scope_pop(g);
    return cnn_mul_channel(g, x, s);
}

/* paper: the CBAM authors' variant (cbam_paper below): concat(max_c, mean_c), and
   BatchNorm (momentum 0.01) before the sigmoid. */
static cnn_node *spatial_attention(cnn_graph *g, cnn_node *x, bool paper)
{
    cnn_scope_push(g, "sa");
    cnn_node *pooled[2];
    if (paper) {
        pooled[0] = cnn_channel_max(g, x);
        pooled[1] = cnn_channel_mean(g, x);
    } else {
        pooled[0] = cnn_channel_mean(g, x);
        pooled[1] = cnn_channel_max(g, x);
    }
    cnn_node *m = cnn_concat(g, 2, pooled);
    m = cnn_conv2d(g, m, 1, .name = "conv1", .kernel = 7, .padding = 3, .no_bias = true);
    if (paper) m = cnn_batchnorm2d(g, m, .momentum = 0.01f, .name = "bn");
    m = cnn_sigmoid(g, m);
    cnn_scope_pop(g);
    return cnn_mul_spatial(g, x, m);
}

static cnn_node *cbam(cnn_graph *g, cnn_node *x, int channels)
{
    return spatial_attention(g, channel_attention(g, x, channels, false), false);
}

/* The CBAM authors' code (the paper's 28.09M for ResNet-50): biases in the channel
   MLP; the spatial map is conv(concat(max_c, mean_c)) then BatchNorm (momentum 0.01),
   then sigmoid. Keys ca.fc1.bias, ca.fc2.bias, sa.bn.* beside the default's. */
static cnn_node *cbam_paper(cnn_graph *g, cnn_node *x, int channels)
{
    return spatial_attention(g, channel_attention(g, x, channels, true), true);
}

const cnn_zoo_entry cnn_zoo_cbam[] = {
    CNN_ZOO_RESNET_ENTRY("cbam_resnet18",
                         "CBAM-ResNet-18: ResNet-18 with channel + spatial attention per block",
                         18, cbam),
    CNN_ZOO_RESNET_ENTRY("cbam_resnet50",
                         "CBAM-ResNet-50: ResNet-50 (torchvision) with channel + spatial attention",
                         50, cbam),
    CNN_ZOO_RESNET_ENTRY("cbam_resnet18_paper",
                         "CBAM-ResNet-18 as the CBAM authors' code: MLP biases, BN after the "
                         "spatial conv",
                         18, cbam_paper),
    CNN_ZOO_RESNET_ENTRY("cbam_resnet50_paper",
                         "CBAM-ResNet-50 as the CBAM authors' code (the paper's 28.09M)",
                         50, cbam_paper),
    {{0}, 0, NULL},
};

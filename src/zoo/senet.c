/* senet family: SE-ResNet-18/50 (Hu et al. 2018) on torchvision's ResNet. The SE
   block is the seeds' SElayer (torchvision.ops.SqueezeExcitation, used by their
   MobileNetV3) with a sigmoid gate and reduction 16: global avgpool -> fc1 (1x1 conv,
   C -> C/16, bias) -> relu -> fc2 (1x1 conv, C/16 -> C, bias) -> sigmoid, times the
   branch; applied after the block's last BN, before the residual add. Keys:
   "layer1.0.se.fc1.weight". */
#include "zoo.h"

/* x: (N, C, H, W) -> (N, C, H, W) scaled per channel. */
static cnn_node *squeeze_excite(cnn_graph *g, cnn_node *x, int channels)
{
    cnn_scope_push(g, "se");
    cnn_node *s = cnn_global_avgpool(g, x);
    s = cnn_relu(g, cnn_conv2d(g, s, channels / 16, .name = "fc1", .kernel = 1));
    s = cnn_sigmoid(g, cnn_conv2d(g, s, channels, .name = "fc2", .kernel = 1));
    cnn_scope_pop(g);
    return cnn_mul_channel(g, x, s);
}

const cnn_zoo_entry cnn_zoo_senet[] = {
    CNN_ZOO_RESNET_ENTRY("se_resnet18",
                         "SE-ResNet-18: ResNet-18 with squeeze-and-excitation (r=16) per block",
                         18, squeeze_excite),
    CNN_ZOO_RESNET_ENTRY("se_resnet50",
                         "SE-ResNet-50: ResNet-50 (torchvision) with squeeze-and-excitation (r=16)",
                         50, squeeze_excite),
    {{0}, 0, NULL},
};

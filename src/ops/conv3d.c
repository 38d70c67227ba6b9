/* conv3d — x: (N, C_in, D, H, W) -> (N, C_out, D', H', W'), as torch.nn.Conv3d:
   D' = floor((D + 2*pad_d - dil_d*(k_d-1) - 1) / stride_d) + 1, likewise H', W'.
   Weight (C_out, C_in/groups, k_d, k_h, k_w), bias (C_out). Anisotropic kernels
   (HybridSN's 7x3x3) set kernel_d/kernel_h/kernel_w. Shape, cost, forward and
   backward are the N-d convolution's of conv_common.c. */
#include "conv_common.h"

CNN_CONV_OP_DEF(conv3d);

cnn_node *cnn_conv3d_(cnn_graph *g, cnn_node *x, int out_channels, const cnn_conv3d_opts *o)
{
    cnn_conv_geom a = {
        .nd = 3,
        .out = out_channels,
        .k = {cnn_opt_pick(o->kernel_d, o->kernel, 0), cnn_opt_pick(o->kernel_h, o->kernel, 0),
              cnn_opt_pick(o->kernel_w, o->kernel, 0)},
        .s = {cnn_opt_pick(o->stride_d, o->stride, 1), cnn_opt_pick(o->stride_h, o->stride, 1),
              cnn_opt_pick(o->stride_w, o->stride, 1)},
        .p = {cnn_opt_pick(o->padding_d, o->padding, 0), cnn_opt_pick(o->padding_h, o->padding, 0),
              cnn_opt_pick(o->padding_w, o->padding, 0)},
        .d = {cnn_opt_pick(o->dilation_d, o->dilation, 1), cnn_opt_pick(o->dilation_h, o->dilation, 1),
              cnn_opt_pick(o->dilation_w, o->dilation, 1)},
        .groups = o->groups ? o->groups : 1,
        .bias = !o->no_bias,
    };
    return cnn_node_make(g, &cnn_op_conv3d, o->name, 1, &x, &a, sizeof a);
}

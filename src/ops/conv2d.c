/* conv2d — x: (N, C_in, H, W) -> (N, C_out, H', W'), as torch.nn.Conv2d:
   H' = floor((H + 2*pad_h - dil_h*(k_h-1) - 1) / stride_h) + 1.
   Weight (C_out, C_in/groups, k_h, k_w), bias (C_out). Depthwise is groups = C_in;
   pointwise is a 1x1 kernel; rectangular kernels set kernel_h/kernel_w. Shape, cost,
   forward and backward are the N-d convolution's of conv_common.c. */
#include "conv_common.h"

CNN_CONV_OP_DEF(conv2d);

cnn_node *cnn_conv2d_(cnn_graph *g, cnn_node *x, int out_channels, const cnn_conv2d_opts *o)
{
    cnn_conv_geom a = {
        .nd = 2,
        .out = out_channels,
        .k = {cnn_opt_pick(o->kernel_h, o->kernel, 0), cnn_opt_pick(o->kernel_w, o->kernel, 0)},
        .s = {cnn_opt_pick(o->stride_h, o->stride, 1), cnn_opt_pick(o->stride_w, o->stride, 1)},
        .p = {cnn_opt_pick(o->padding_h, o->padding, 0), cnn_opt_pick(o->padding_w, o->padding, 0)},
        .d = {cnn_opt_pick(o->dilation_h, o->dilation, 1), cnn_opt_pick(o->dilation_w, o->dilation, 1)},
        .groups = o->groups ? o->groups : 1,
        .bias = !o->no_bias,
    };
    return cnn_node_make(g, &cnn_op_conv2d, o->name, 1, &x, &a, sizeof a);
}

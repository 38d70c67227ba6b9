/* The cpu backend's general tensor ops (tensor_cpu.c); contracts as cnn_backend's
   entries of the same names (kernels.h). */
#ifndef CNN_KERNELS_CPU_TENSOR_H
#define CNN_KERNELS_CPU_TENSOR_H
#include "../entry_fn.h"

cnn_binary_fwd_fn cnn_cpu_binary_forward;
cnn_binary_bwd_fn cnn_cpu_binary_backward;
cnn_unary_fwd_fn cnn_cpu_unary_forward;
cnn_unary_bwd_fn cnn_cpu_unary_backward;
cnn_reduce_fwd_fn cnn_cpu_reduce_forward;
cnn_reduce_bwd_fn cnn_cpu_reduce_backward;
cnn_matmul_fn cnn_cpu_matmul_forward, cnn_cpu_matmul_backward_a, cnn_cpu_matmul_backward_b;
cnn_pad_fn cnn_cpu_pad_forward, cnn_cpu_pad_backward;
cnn_slice_fn cnn_cpu_slice_forward, cnn_cpu_slice_backward;
cnn_transpose_fn cnn_cpu_transpose_forward, cnn_cpu_transpose_backward;
#endif

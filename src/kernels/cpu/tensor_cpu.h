/* The cpu backend's general tensor ops (tensor_cpu.c); contracts as cnn_backend's
   entries of the same names (kernels.h). */
#ifndef CNN_KERNELS_CPU_TENSOR_H
#define CNN_KERNELS_CPU_TENSOR_H
#include "../kernels.h"

void cnn_cpu_binary_forward(cnn_binary_op op, const cnn_nd_desc *d, const float *a, const float *b,
                            float *y);
void cnn_cpu_binary_backward(cnn_binary_op op, const cnn_nd_desc *d, int k, const float *a,
                             const float *b, const float *y, const float *dy, float *dx);
void cnn_cpu_unary_forward(cnn_unary_op op, size_t n, const float *x, float *y);
void cnn_cpu_unary_backward(cnn_unary_op op, size_t n, const float *x, const float *y,
                            const float *dy, float *dx);
void cnn_cpu_reduce_forward(const cnn_reduce_desc *d, const float *x, float *y);
void cnn_cpu_reduce_backward(const cnn_reduce_desc *d, const float *x, const float *y,
                             const float *dy, float *dx);
void cnn_cpu_matmul_forward(const cnn_matmul_desc *d, const float *a, const float *b, float *y);
void cnn_cpu_matmul_backward_a(const cnn_matmul_desc *d, const float *b, const float *dy,
                               float *da);
void cnn_cpu_matmul_backward_b(const cnn_matmul_desc *d, const float *a, const float *dy,
                               float *db);
void cnn_cpu_pad_forward(const cnn_pad_desc *d, const float *x, float *y, void *scratch);
void cnn_cpu_pad_backward(const cnn_pad_desc *d, const float *dy, float *dx, void *scratch);
void cnn_cpu_slice_forward(const cnn_slice_desc *d, const float *x, float *y);
void cnn_cpu_slice_backward(const cnn_slice_desc *d, const float *dy, float *dx);
void cnn_cpu_transpose_forward(const cnn_nd_desc *d, const float *x, float *y);
void cnn_cpu_transpose_backward(const cnn_nd_desc *d, const float *dy, float *dx);
#endif

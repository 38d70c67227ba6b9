/* Prototypes of the ref backend's kernels (plain scalar C, the oracle every test
   trusts; docs/architecture.md, "Kernels"), for the tables that point at them. */
#ifndef CNN_KERNELS_REF_H
#define CNN_KERNELS_REF_H
#include "../kernels.h"

/* general tensor ops */
void cnn_ref_binary_forward(cnn_binary_op op, const cnn_nd_desc *d, const float *a, const float *b,
                            float *y);
void cnn_ref_binary_backward(cnn_binary_op op, const cnn_nd_desc *d, int k, const float *a,
                             const float *b, const float *y, const float *dy, float *dx);
void cnn_ref_unary_forward(cnn_unary_op op, size_t n, const float *x, float *y);
void cnn_ref_unary_backward(cnn_unary_op op, size_t n, const float *x, const float *y,
                            const float *dy, float *dx);
void cnn_ref_reduce_forward(const cnn_reduce_desc *d, const float *x, float *y);
void cnn_ref_reduce_backward(const cnn_reduce_desc *d, const float *x, const float *y,
                             const float *dy, float *dx);
void cnn_ref_matmul_forward(const cnn_matmul_desc *d, const float *a, const float *b, float *y);
void cnn_ref_matmul_backward_a(const cnn_matmul_desc *d, const float *b, const float *dy,
                               float *da);
void cnn_ref_matmul_backward_b(const cnn_matmul_desc *d, const float *a, const float *dy,
                               float *db);
void cnn_ref_pad_forward(const cnn_pad_desc *d, const float *x, float *y, void *scratch);
void cnn_ref_pad_backward(const cnn_pad_desc *d, const float *dy, float *dx, void *scratch);
void cnn_ref_slice_forward(const cnn_slice_desc *d, const float *x, float *y);
void cnn_ref_slice_backward(const cnn_slice_desc *d, const float *dy, float *dx);
void cnn_ref_transpose_forward(const cnn_nd_desc *d, const float *x, float *y);
void cnn_ref_transpose_backward(const cnn_nd_desc *d, const float *dy, float *dx);
void cnn_ref_mul_channel_forward(size_t rows, size_t plane, const float *x, const float *s,
                                 float *y);
void cnn_ref_mul_channel_backward(size_t rows, size_t plane, const float *x, const float *s,
                                  const float *dy, float *dx, float *ds);
void cnn_ref_mul_spatial_forward(size_t n, size_t c, size_t plane, const float *x, const float *s,
                                 float *y);
void cnn_ref_mul_spatial_backward(size_t n, size_t c, size_t plane, const float *x, const float *s,
                                  const float *dy, float *dx, float *ds);
void cnn_ref_channel_mean_forward(size_t n, size_t c, size_t plane, const float *x, float *y);
void cnn_ref_channel_mean_backward(size_t n, size_t c, size_t plane, const float *dy, float *dx);
void cnn_ref_channel_max_forward(size_t n, size_t c, size_t plane, const float *x, float *y,
                                 int32_t *arg);
void cnn_ref_channel_max_backward(size_t n, size_t c, size_t plane, const int32_t *arg,
                                  const float *dy, float *dx);
void cnn_ref_channel_shuffle_forward(size_t n, size_t c, size_t groups, size_t plane,
                                     const float *x, float *y);
void cnn_ref_channel_shuffle_backward(size_t n, size_t c, size_t groups, size_t plane,
                                      const float *dy, float *dx);
void cnn_ref_copy_blocks(size_t nb, size_t len, const float *src, size_t ss, float *dst, size_t ds);
void cnn_ref_add_blocks(size_t nb, size_t len, const float *src, size_t ss, float *dst, size_t ds);
void cnn_ref_bias_add(size_t n, size_t c, size_t plane, const float *bias, float *y);
void cnn_ref_bias_grad(size_t n, size_t c, size_t plane, const float *dy, float *db);
#endif

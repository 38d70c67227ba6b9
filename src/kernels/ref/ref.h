/* The ref backend's kernels (plain scalar C, the oracle: docs/architecture.md,
   "Kernels"); each has the contract of the cnn_backend entry of the same name (its
   signature from entry_fn.h where one is shared). Other backends call them for the
   cases they leave to ref. Internal to src/kernels. */
#ifndef CNN_KERNELS_REF_H
#define CNN_KERNELS_REF_H
#include "../entry_fn.h"

/* convolution, GEMM, int8 */
cnn_conv_scratch_fn cnn_ref_conv_scratch, cnn_ref_conv_scratch_forward;
cnn_conv_fwd_fn cnn_ref_conv_forward;
cnn_conv_bwd_data_fn cnn_ref_conv_backward_data;
cnn_conv_bwd_weights_fn cnn_ref_conv_backward_weights;
cnn_gemm_fn cnn_ref_gemm;
size_t cnn_ref_conv_s8_scratch(const cnn_conv_desc *c);
void cnn_ref_conv_forward_s8(const cnn_conv_desc *c, const int8_t *x, const int8_t *w,
                             const int32_t *b, const float *m, const cnn_s8_epilogue *ep, float *y,
                             void *scratch);

/* pooling (pool_ref.c) */
void cnn_ref_maxpool2d_forward(const cnn_pool_desc *d, const float *x, float *y, int32_t *idx);
/* One output (i, j) of maxpool2d_forward; x is the input plane. */
void cnn_ref_maxpool2d_at(const cnn_pool_desc *d, const float *x, int i, int j, float *y,
                          int32_t *idx);
void cnn_ref_maxpool3d_forward(const cnn_pool_desc *d, const float *x, float *y, int32_t *idx);
void cnn_ref_maxpool_backward(const cnn_pool_desc *d, const float *dy, const int32_t *idx,
                              float *dx);
void cnn_ref_avgpool2d_forward(const cnn_pool_desc *d, const float *x, float *y);
/* Output (i, j)'s window rows [win[0], win[1]) and columns [win[2], win[3]) in the
   input (max pool: step d->d; avg pool: returns 1 / divisor, 0 for an empty window). */
void cnn_ref_maxpool2d_window(const cnn_pool_desc *d, int i, int j, int win[4]);
float cnn_ref_avgpool2d_window(const cnn_pool_desc *d, int i, int j, int win[4]);
/* The blocked layout's kernels (blocked_ref.c; cnn_backend, "blocked layout"). */
cnn_pool_fwd_fn cnn_ref_maxpool2d_blocked_forward, cnn_ref_avgpool2d_blocked_forward;
cnn_blocked_planes_fn cnn_ref_global_avgpool_blocked_forward;
cnn_blocked_scale_fn cnn_ref_mul_channel_blocked_forward;
cnn_chan_copy_fn cnn_ref_channel_copy;
void cnn_ref_avgpool2d_backward(const cnn_pool_desc *d, const float *dy, float *dx);
/* One output (i, j) of avgpool2d_forward / its share of avgpool2d_backward (g = its
   dy); x and dx are one plane. */
float cnn_ref_avgpool2d_at(const cnn_pool_desc *d, const float *x, int i, int j);
void cnn_ref_avgpool2d_at_backward(const cnn_pool_desc *d, float g, int i, int j, float *dx);
void cnn_ref_adaptive_avgpool2d_forward(const cnn_pool_desc *d, const float *x, float *y);
void cnn_ref_adaptive_avgpool2d_backward(const cnn_pool_desc *d, const float *dy, float *dx);
void cnn_ref_global_avgpool_forward(size_t planes, size_t hw, const float *x, float *y);
void cnn_ref_global_avgpool_backward(size_t planes, size_t hw, const float *dy, float *dx);
void cnn_ref_global_maxpool_forward(size_t planes, size_t hw, const float *x, float *y);
void cnn_ref_global_maxpool_backward(size_t planes, size_t hw, const float *x, const float *dy,
                                     float *dx);
/* normalisation (lrn_ref.c) */
void cnn_ref_lrn_forward(const cnn_lrn_desc *d, const float *x, float *y, float *sc);
void cnn_ref_lrn_backward(const cnn_lrn_desc *d, const float *x, const float *y, const float *sc,
                          const float *dy, float *dx, float *scratch);
/* dropout (dropout_ref.c) */
void cnn_ref_dropout_forward(size_t n, const float *x, const uint8_t *keep, float scale, float *y);
void cnn_ref_dropout_backward(size_t n, const float *dy, const uint8_t *keep, float scale,
                              float *dx);
/* softmax and loss (softmax_ref.c) */
cnn_softmax_fwd_fn cnn_ref_softmax_forward;
cnn_softmax_bwd_fn cnn_ref_softmax_backward;
float cnn_ref_cross_entropy_forward(int n, int k, float smoothing, const float *z,
                                    const float *labels, float *p);
void cnn_ref_cross_entropy_backward(int n, int k, float smoothing, float scale, const float *p,
                                    const float *labels, float *dz);
/* optimizer (optim_ref.c) */
cnn_optim_step_fn cnn_ref_sgd_step, cnn_ref_adam_step;
/* general tensor ops */
cnn_binary_fwd_fn cnn_ref_binary_forward;
cnn_binary_bwd_fn cnn_ref_binary_backward;
cnn_unary_fwd_fn cnn_ref_unary_forward;
cnn_unary_bwd_fn cnn_ref_unary_backward;
cnn_reduce_fwd_fn cnn_ref_reduce_forward;
cnn_reduce_bwd_fn cnn_ref_reduce_backward;
cnn_matmul_fn cnn_ref_matmul_forward, cnn_ref_matmul_backward_a, cnn_ref_matmul_backward_b;
cnn_pad_fn cnn_ref_pad_forward, cnn_ref_pad_backward;
cnn_slice_fn cnn_ref_slice_forward, cnn_ref_slice_backward;
cnn_transpose_fn cnn_ref_transpose_forward, cnn_ref_transpose_backward;
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
/* --- fused epilogue, activation, add, batch norm --- */
cnn_epilogue_fn cnn_ref_epilogue;
cnn_act_fwd_fn cnn_ref_act_forward;
cnn_act_bwd_fn cnn_ref_act_backward;
cnn_add_fwd_fn cnn_ref_add_forward;
cnn_add_bwd_fn cnn_ref_add_backward;
cnn_bn_fn cnn_ref_bn_forward, cnn_ref_bn_backward;
cnn_bn_affine_fn cnn_ref_bn_eval_affine;
cnn_bn_sync_stats_fn cnn_ref_bn_sync_stats;
cnn_bn_sync_apply_fn cnn_ref_bn_sync_apply;
cnn_bn_sync_bwd_sums_fn cnn_ref_bn_sync_bwd_sums;
cnn_bn_sync_bwd_apply_fn cnn_ref_bn_sync_bwd_apply;
#endif

/* The ref backend's kernels (plain scalar C, the oracle: docs/architecture.md,
   "Kernels"); each has the contract of the cnn_backend entry of the same name. Other
   backends call them for the cases they leave to ref. Internal to src/kernels. */
/* Prototypes of the ref backend's kernels (plain scalar C, the oracle every test
   trusts), for backend.c's table; same contracts as cnn_backend's entries. */
#ifndef CNN_KERNELS_REF_H
#define CNN_KERNELS_REF_H
#include "../kernels.h"

/* convolution, GEMM, int8 */
size_t cnn_ref_conv_scratch(const cnn_conv_desc *c);
size_t cnn_ref_conv_scratch_forward(const cnn_conv_desc *c);
void cnn_ref_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                          float *y, void *scratch);
void cnn_ref_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w, float *dx,
                                void *scratch);
void cnn_ref_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                   float *dw, float *db, void *scratch);
void cnn_ref_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);
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
void cnn_ref_maxpool2d_blocked_forward(const cnn_pool_desc *d, const float *x, float *y);
void cnn_ref_avgpool2d_blocked_forward(const cnn_pool_desc *d, const float *x, float *y);
void cnn_ref_global_avgpool_blocked_forward(size_t n, size_t c, size_t hw, const float *x, float *y);
void cnn_ref_mul_channel_blocked_forward(size_t n, size_t c, size_t hw, const float *x, const float *s,
                                         float *y);
void cnn_ref_channel_copy(const cnn_chan_copy *d, const float *x, float *y);
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
void cnn_ref_softmax_forward(int64_t outer, int64_t k, int64_t s, bool log, const float *x,
                             float *y);
void cnn_ref_softmax_backward(int64_t outer, int64_t k, int64_t s, bool log, const float *y,
                              const float *dy, float *dx);
float cnn_ref_cross_entropy_forward(int n, int k, float smoothing, const float *z,
                                    const float *labels, float *p);
void cnn_ref_cross_entropy_backward(int n, int k, float smoothing, float scale, const float *p,
                                    const float *labels, float *dz);
/* optimizer (optim_ref.c) */
void cnn_ref_sgd_step(const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h);
void cnn_ref_adam_step(const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h);
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
/* --- fused epilogue, activation, add, batch norm --- */
void cnn_ref_epilogue(const cnn_epilogue *e, float *y);
void cnn_ref_act_forward(const cnn_act_desc *a, const float *x, float *y, size_t n);
void cnn_ref_act_backward(const cnn_act_desc *a, const float *x, const float *y, const float *dy,
                          float *dx, size_t n);
void cnn_ref_add_forward(const float *a, const float *b, float *y, size_t n);
void cnn_ref_add_backward(const float *dy, float *da, float *db, size_t n);
void cnn_ref_bn_forward(const cnn_bn_args *a, bool training);
void cnn_ref_bn_backward(const cnn_bn_args *a, bool training);
void cnn_ref_bn_eval_affine(const cnn_bn_args *a, float *scale, float *shift);
void cnn_ref_bn_sync_stats(const cnn_bn_args *a, double *lmean, double *lm2);
void cnn_ref_bn_sync_apply(const cnn_bn_args *a, const double *sum, const double *m2, double M);
void cnn_ref_bn_sync_bwd_sums(const cnn_bn_args *a, double *tot);
void cnn_ref_bn_sync_bwd_apply(const cnn_bn_args *a, const double *tot, double M);
#endif

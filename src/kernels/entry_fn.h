/* The signatures of cnn_backend's entries (kernels.h) as function types, so that each
   backend declares its kernels by name only ("cnn_pool_fwd_fn cnn_ref_avgpool2d_forward;")
   and every definition is checked against the one signature (docs/architecture.md,
   "Kernels"). Contracts: the entries' comments in kernels.h. Internal to src/kernels. */
#ifndef CNN_KERNELS_ENTRY_FN_H
#define CNN_KERNELS_ENTRY_FN_H
#include "kernels.h"

/* convolution: conv_scratch (and conv_scratch_forward), conv_forward,
   conv_backward_data, conv_backward_weights */
typedef size_t cnn_conv_scratch_fn(const cnn_conv_desc *c);
typedef void cnn_conv_fwd_fn(const cnn_conv_desc *c, const float *x, const float *w,
                             const float *b, float *y, void *scratch);
typedef void cnn_conv_bwd_data_fn(const cnn_conv_desc *c, const float *dy, const float *w,
                                  float *dx, void *scratch);
typedef void cnn_conv_bwd_weights_fn(const cnn_conv_desc *c, const float *x, const float *dy,
                                     float *dw, float *db, void *scratch);
/* gemm */
typedef void cnn_gemm_fn(int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);
/* pooling: avgpool2d and adaptive_avgpool2d forward / backward; global_avgpool
   forward and backward, global_maxpool_forward; global_maxpool_backward */
typedef void cnn_pool_fwd_fn(const cnn_pool_desc *d, const float *x, float *y);
typedef void cnn_pool_bwd_fn(const cnn_pool_desc *d, const float *dy, float *dx);
typedef void cnn_planes_fn(size_t planes, size_t hw, const float *x, float *y);
typedef void cnn_planes_max_bwd_fn(size_t planes, size_t hw, const float *x, const float *dy,
                                   float *dx);
/* the blocked layout: maxpool2d_ and avgpool2d_blocked_forward (cnn_pool_fwd_fn),
   global_avgpool_blocked_forward, mul_channel_blocked_forward, channel_copy */
typedef void cnn_blocked_planes_fn(size_t n, size_t c, size_t hw, const float *x, float *y);
typedef void cnn_blocked_scale_fn(size_t n, size_t c, size_t hw, const float *x, const float *s,
                                  float *y);
typedef void cnn_chan_copy_fn(const cnn_chan_copy *d, const float *x, float *y);
/* softmax_forward, softmax_backward */
typedef void cnn_softmax_fwd_fn(int64_t outer, int64_t k, int64_t s, bool log, const float *x,
                                float *y);
typedef void cnn_softmax_bwd_fn(int64_t outer, int64_t k, int64_t s, bool log, const float *y,
                                const float *dy, float *dx);
/* sgd_step, adam_step */
typedef void cnn_optim_step_fn(const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h);
/* epilogue; act_forward, act_backward; add_forward, add_backward */
typedef void cnn_epilogue_fn(const cnn_epilogue *e, float *y);
typedef void cnn_act_fwd_fn(const cnn_act_desc *a, const float *x, float *y, size_t n);
typedef void cnn_act_bwd_fn(const cnn_act_desc *a, const float *x, const float *y,
                            const float *dy, float *dx, size_t n);
typedef void cnn_add_fwd_fn(const float *a, const float *b, float *y, size_t n);
typedef void cnn_add_bwd_fn(const float *dy, float *da, float *db, size_t n);
/* batch norm: bn_forward / bn_backward, bn_eval_affine, the bn_sync_* steps */
typedef void cnn_bn_fn(const cnn_bn_args *a, bool training);
typedef void cnn_bn_affine_fn(const cnn_bn_args *a, float *scale, float *shift);
typedef void cnn_bn_sync_stats_fn(const cnn_bn_args *a, double *lmean, double *lm2);
typedef void cnn_bn_sync_apply_fn(const cnn_bn_args *a, const double *sum, const double *m2,
                                  double M);
typedef void cnn_bn_sync_bwd_sums_fn(const cnn_bn_args *a, double *tot);
typedef void cnn_bn_sync_bwd_apply_fn(const cnn_bn_args *a, const double *tot, double M);
/* general tensor ops: binary, unary, reduce, matmul (backward_a / backward_b: the
   other operand, dy, the gradient), pad, slice, transpose */
typedef void cnn_binary_fwd_fn(cnn_binary_op op, const cnn_nd_desc *d, const float *a,
                               const float *b, float *y);
typedef void cnn_binary_bwd_fn(cnn_binary_op op, const cnn_nd_desc *d, int k, const float *a,
                               const float *b, const float *y, const float *dy, float *dx);
typedef void cnn_unary_fwd_fn(cnn_unary_op op, size_t n, const float *x, float *y);
typedef void cnn_unary_bwd_fn(cnn_unary_op op, size_t n, const float *x, const float *y,
                              const float *dy, float *dx);
typedef void cnn_reduce_fwd_fn(const cnn_reduce_desc *d, const float *x, float *y);
typedef void cnn_reduce_bwd_fn(const cnn_reduce_desc *d, const float *x, const float *y,
                               const float *dy, float *dx);
typedef void cnn_matmul_fn(const cnn_matmul_desc *d, const float *a, const float *b, float *y);
typedef void cnn_pad_fn(const cnn_pad_desc *d, const float *x, float *y, void *scratch);
typedef void cnn_slice_fn(const cnn_slice_desc *d, const float *x, float *y);
typedef void cnn_transpose_fn(const cnn_nd_desc *d, const float *x, float *y);
#endif

/* Prototypes of the ref backend's kernels (plain scalar C, the oracle every test
   trusts), for backend.c's table; same contracts as cnn_backend's entries. */
#ifndef CNN_KERNELS_REF_H
#define CNN_KERNELS_REF_H
#include "../kernels.h"

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

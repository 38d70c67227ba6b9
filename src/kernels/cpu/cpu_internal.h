/* The fast CPU backend (docs/architecture.md, "Kernels"): oneDNN for dense
   convolutions, own OpenMP C for depthwise convolution, GEMM, pooling, softmax and the
   optimizer update. Internal to src/kernels/cpu and bench/. */
#ifndef CNN_KERNELS_CPU_INTERNAL_H
#define CNN_KERNELS_CPU_INTERNAL_H
#include "../entry_fn.h"

extern const cnn_backend cnn_backend_cpu;

/* Activation layout handed to oneDNN for dense convolutions (the layout and chunk
   knobs exist only in a build with oneDNN, CNN_HAVE_DNNL). AUTO picks per layer
   (see conv_dnnl.c); the others force one, for benchmarks. */
enum { CNN_CPU_LAYOUT_AUTO, CNN_CPU_LAYOUT_PLAIN, CNN_CPU_LAYOUT_BLOCKED };
void cnn_cpu_set_layout(int layout);

/* oneDNN convolutions (conv_dnnl.c); same contracts as cnn_backend's entries. */
size_t cnn_dnnl_conv_scratch(const cnn_conv_desc *c);
/* Scratch of the kinds given as bits (1 forward, 2 backward-data, 4 backward-weights). */
size_t cnn_dnnl_conv_scratch_kinds(const cnn_conv_desc *c, int kinds);
void cnn_dnnl_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                           float *y, void *scratch);
void cnn_dnnl_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w,
                                 float *dx, void *scratch);
void cnn_dnnl_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                    float *dw, float *db, void *scratch);
/* Scratch cap per oneDNN forward above which a batch runs in chunks of images (0: the
   default, 64 MiB); for tests. */
void cnn_cpu_set_chunk_cap(size_t bytes);
/* oneDNN's Winograd for 3x3 layers: 0 never, 1 where it measured faster (the
   default), 2 wherever oneDNN has it; forgets the cached primitives. For benchmarks. */
void cnn_cpu_set_winograd(int mode);
/* Packed weights kept under constant weights (kept.c), the own blocked kernels' and
   oneDNN's (conv_dnnl.c):
   with the lock held, the buffer of `bytes` for (src, tag) under generation gen, and
   *fill true where it must be (re)packed (new, or another generation); NULL where
   nothing is kept (gen 0, over the cap, out of memory): pack per call. The buffer
   stays valid until the lock is released. tag: which packed layout of src (1: the
   1x1 kernel's panel, blocked_pw.c; another kernel takes a number of its own; from
   CNN_KEPT_DNNL on: oneDNN's layouts). cnn_cpu_kept_forget frees what is kept for
   weights in [lo, lo + bytes); cnn_cpu_kept_forget_tags and cnn_cpu_kept_bytes_tags
   free and count the entries of tags >= tag_lo. */
enum { CNN_KEPT_DNNL = 256 };
void cnn_cpu_kept_lock(void);
void cnn_cpu_kept_unlock(void);
void *cnn_cpu_kept_get(const void *src, int tag, size_t bytes, uint64_t gen, bool *fill);
void cnn_cpu_kept_forget(const void *lo, size_t bytes);
size_t cnn_cpu_kept_bytes(void); /* for tests */
void cnn_cpu_kept_forget_tags(int tag_lo);
size_t cnn_cpu_kept_bytes_tags(int tag_lo); /* for tests */
bool cnn_cpu_kept_on(void);       /* the cap (CNN_CPU_WCACHE_MB) is not 0 */
/* Frees every cached primitive (also registered with atexit). */
void cnn_dnnl_release(void);
/* Short name of the oneDNN path a forward of c takes ("dnnl/16c", "dnnl wino/16c",
   "dnnl/nchw", "ref (...)"), and of the cpu kernel (conv_kernel_name.c). */
const char *cnn_dnnl_conv_kernel(const cnn_conv_desc *c);
const char *cnn_cpu_conv_kernel(const cnn_conv_desc *c);

/* The blocked layout's forwards: oneDNN with x / y in nChw16c (conv_dnnl.c) and an
   own depthwise kernel on nChw16c with the epilogue fused (blocked_dw.c). */
bool cnn_dnnl_conv_blocked_ok(const cnn_conv_desc *c);
/* Forward scratch a blocked-layout call of c may take beyond its plain forward's. */
size_t cnn_dnnl_conv_scratch_blocked(const cnn_conv_desc *c);
bool cnn_dnnl_conv_forward_blocked(const cnn_conv_desc *c, const float *x, bool x_blocked,
                                   const float *w, const float *b, float *y, bool y_blocked,
                                   void *scratch, uint64_t wgen);
/* ... with the epilogue (scale / shift, ReLU) inside oneDNN's call under constant
   weights; false where it does not apply (the caller runs the two passes). */
bool cnn_dnnl_conv_forward_blocked_epi(const cnn_conv_desc *c, const float *x, bool x_blocked, const float *w,
                                       const float *b, float *y, const cnn_blocked_epi *epi, void *scratch,
                                       uint64_t wgen);
bool cnn_blocked_dw_ok(const cnn_conv_desc *c);
void cnn_blocked_dw_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                            float *y, const cnn_blocked_epi *epi);
void cnn_blocked_epilogue(const cnn_blocked_epi *e, int n, int c, size_t spatial, float *y);
/* The blocked layout's pooling, SE gate and channel copies (blocked_ops.c). */
cnn_pool_fwd_fn cnn_cpu_maxpool2d_blocked_forward, cnn_cpu_avgpool2d_blocked_forward;
cnn_blocked_planes_fn cnn_cpu_global_avgpool_blocked_forward;
cnn_blocked_scale_fn cnn_cpu_mul_channel_blocked_forward;
cnn_chan_copy_fn cnn_cpu_channel_copy;
/* Pointwise (1x1, stride 1, unpadded, groups 1) convolution writing nChw16c from a
   blocked or plain x (channels padded to whole blocks), with the epilogue fused (blocked_pw.c); scratch:
   cnn_blocked_pw_scratch(c) bytes (the packed weights). cnn_blocked_pw_use: whether the blocked layout runs c with it rather
   than oneDNN (measured per shape; CNN_CPU_PW=0 / 1 forces it, 2 takes the rule of
   weights packed per call, for benchmarks). */
bool cnn_blocked_pw_ok(const cnn_conv_desc *c);
/* A first layer (1-4 plain input channels, kernel up to 3x3, groups 1, dilation 1)
   writing nChw16c, with the epilogue fused (blocked_stem.c); scratch:
   cnn_blocked_stem_scratch(c) bytes (the packed weights, 0: c is not one). */
bool cnn_blocked_stem_ok(const cnn_conv_desc *c);
bool cnn_blocked_stem_use(const cnn_conv_desc *c);
size_t cnn_blocked_stem_scratch(const cnn_conv_desc *c);
void cnn_blocked_stem_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b, float *y,
                              const cnn_blocked_epi *epi, void *scratch);
/* ... for x blocked or plain (a plain x's channels must fill whole blocks) */
bool cnn_blocked_pw_ok_io(const cnn_conv_desc *c, bool x_blocked);
/* ... and with an SE gate on a blocked x (cnn_blocked_epi.gate) */
bool cnn_blocked_pw_gate_ok(const cnn_conv_desc *c);
bool cnn_blocked_pw_gate_use(const cnn_conv_desc *c); /* ... and faster than the gate apart */
bool cnn_blocked_pw_use(const cnn_conv_desc *c, bool x_blocked, uint64_t wgen);
size_t cnn_blocked_pw_scratch(const cnn_conv_desc *c);
/* wgen: the constant weights generation (0 none): the packed weights are kept (kept.c) */
void cnn_blocked_pw_forward(const cnn_conv_desc *c, const float *x, bool x_blocked, const float *w,
                            const float *b, float *y, const cnn_blocked_epi *epi, void *scratch,
                            uint64_t wgen);
/* Dense direct convolution (any kernel, stride, padding; groups 1, dilation 1) from a
   blocked x to a blocked y with the epilogue fused (blocked_conv.c); scratch:
   cnn_blocked_conv_scratch(c) bytes (packed weights, unless kept under a constant
   weights generation wgen: kept.c). cnn_blocked_conv_use: whether the blocked layout runs c
   with it rather than oneDNN (measured per shape; CNN_CPU_DENSE=0 / 1 forces it). */
bool cnn_blocked_conv_ok(const cnn_conv_desc *c);
/* ... from a plain x: only 3 channels (an RGB first layer) */
bool cnn_blocked_conv_ok_io(const cnn_conv_desc *c, bool x_blocked);
bool cnn_blocked_conv_use(const cnn_conv_desc *c, bool x_blocked);
size_t cnn_blocked_conv_scratch(const cnn_conv_desc *c);
void cnn_blocked_conv_forward(const cnn_conv_desc *c, const float *x, bool x_blocked, const float *w,
                              const float *b, float *y, const cnn_blocked_epi *epi, void *scratch, uint64_t wgen);
void cnn_cpu_set_dense(int mode); /* -1: the measured rule, 0 / 1 forced (benchmarks) */
/* Depthwise 2D convolution, groups == C_in == C_out, D = 1 (depthwise.c). */
bool cnn_cpu_is_depthwise(const cnn_conv_desc *c);
void cnn_dw_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                    float *y);
void cnn_dw_backward_data(const cnn_conv_desc *c, const float *dy, const float *w, float *dx);
void cnn_dw_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy, float *dw,
                             float *db);
/* Dense 2D convolutions with a short reduction, C_in/groups * kH * kW (conv_thin.c);
   same contracts as cnn_backend's entries. cnn_thin_conv_use says which layers take
   it (measured against oneDNN; CNN_CPU_THIN=0 turns it off, for benchmarks). */
bool cnn_thin_conv_use(const cnn_conv_desc *c);
/* Dense convolutions whose every output reads one kernel tap (1x1 planes with "same"
   padding) as matrix products (conv_tap.c); same contracts as cnn_backend's. */
bool cnn_tap_conv_use(const cnn_conv_desc *c);
cnn_conv_scratch_fn cnn_tap_conv_scratch;
cnn_conv_fwd_fn cnn_tap_conv_forward;
cnn_conv_bwd_data_fn cnn_tap_conv_backward_data;
cnn_conv_bwd_weights_fn cnn_tap_conv_backward_weights;
cnn_conv_scratch_fn cnn_thin_conv_scratch;
cnn_conv_scratch_fn cnn_thin_conv_scratch_forward; /* forward alone */
cnn_conv_fwd_fn cnn_thin_conv_forward;
cnn_conv_bwd_data_fn cnn_thin_conv_backward_data;
cnn_conv_bwd_weights_fn cnn_thin_conv_backward_weights;
/* Which kernels run convolution c on the cpu backend, decided here once for its
   table's entries and the kernel names of profiles: depthwise, one kernel tap, short
   reduction (above, in that order of precedence), else oneDNN. */
typedef enum {
    CNN_CPU_CONV_DW,
    CNN_CPU_CONV_TAP,
    CNN_CPU_CONV_THIN,
    CNN_CPU_CONV_DNNL
} cnn_cpu_conv_path;
static inline cnn_cpu_conv_path cnn_cpu_conv_path_of(const cnn_conv_desc *c)
{
    if (cnn_cpu_is_depthwise(c)) return CNN_CPU_CONV_DW;
    if (cnn_tap_conv_use(c)) return CNN_CPU_CONV_TAP;
    if (cnn_thin_conv_use(c)) return CNN_CPU_CONV_THIN;
    return CNN_CPU_CONV_DNNL;
}
/* int8 convolutions with AVX-512 VNNI (conv_s8_vnni.c): dense 2D ones as packed
   columns + an own vpdpbusd micro-kernel, depthwise 2D ones vectorised; the contracts
   of conv_forward_s8. cnn_vnni_s8_use says which layers (and whether the CPU can). */
bool cnn_vnni_s8_available(void);
void cnn_vnni_s8_enable(bool on); /* off: the other paths (tests, benchmarks) */
void cnn_vnni_s8_vbmi_enable(bool on); /* off: depthwise without VBMI (tests) */
void cnn_vnni_s8_dw_flat_enable(bool on); /* off: small stride-1 depthwise by rows (tests) */
bool cnn_vnni_s8_use(const cnn_conv_desc *c);
size_t cnn_vnni_s8_scratch(const cnn_conv_desc *c);
void cnn_vnni_s8_forward(const cnn_conv_desc *c, const int8_t *x, const int8_t *w, const int32_t *b,
                         const float *m, const cnn_s8_epilogue *ep, float *y, void *scratch);
/* cnn_quantize_s8 (cnn_q8 per element, same integers) as the VNNI kernels' int8 stores
   compute it: a multiplication by 1/s, the division only near a rounding tie. */
void cnn_vnni_s8_quantize(const float *x, size_t n, float s, int8_t *q);
/* Row-major SGEMM, each element independent of M (gemm_cpu.c). */
cnn_gemm_fn cnn_cpu_gemm;
/* false: the A B^T blocks in zmm registers where the CPU has AVX-512 (default); true:
   the generic loops only (tests compare the two bit for bit) */
void cnn_cpu_gemm_generic(bool on);
/* int8 convolutions (conv_s8_cpu.c); same contracts as cnn_backend's entries. */
size_t cnn_cpu_conv_s8_scratch(const cnn_conv_desc *c);
void cnn_cpu_conv_forward_s8(const cnn_conv_desc *c, const int8_t *x, const int8_t *w,
                             const int32_t *b, const float *m, const cnn_s8_epilogue *ep, float *y,
                             void *scratch);

/* --- pooling, softmax, optimizer (pool_cpu.c, softmax_cpu.c, optim_cpu.c); same
   contracts as cnn_backend's entries --- */
int cnn_get_threads(void);
void cnn_cpu_maxpool2d_forward(const cnn_pool_desc *d, const float *x, float *y, int32_t *idx);
void cnn_cpu_maxpool_backward(const cnn_pool_desc *d, const float *dy, const int32_t *idx,
                              float *dx);
cnn_pool_fwd_fn cnn_cpu_avgpool2d_forward, cnn_cpu_adaptive_avgpool2d_forward;
cnn_pool_bwd_fn cnn_cpu_avgpool2d_backward, cnn_cpu_adaptive_avgpool2d_backward;
cnn_planes_fn cnn_cpu_global_avgpool_forward, cnn_cpu_global_avgpool_backward;
cnn_planes_fn cnn_cpu_global_maxpool_forward;
cnn_planes_max_bwd_fn cnn_cpu_global_maxpool_backward;
cnn_softmax_fwd_fn cnn_cpu_softmax_forward;
cnn_softmax_bwd_fn cnn_cpu_softmax_backward;
cnn_optim_step_fn cnn_cpu_sgd_step, cnn_cpu_adam_step;
/* --- fused epilogue, activation, add, batch norm --- (epilogue_cpu.c, act_cpu.c,
   add_cpu.c, bn_cpu.c); same contracts as cnn_backend's entries. */
cnn_epilogue_fn cnn_cpu_epilogue;
/* The activation loops over n values in the calling thread (act_forward's and the
   epilogue's). */
cnn_act_fwd_fn cnn_cpu_act_apply, cnn_cpu_act_forward;
cnn_act_bwd_fn cnn_cpu_act_backward;
cnn_add_fwd_fn cnn_cpu_add_forward;
cnn_add_bwd_fn cnn_cpu_add_backward;
cnn_bn_fn cnn_cpu_bn_forward, cnn_cpu_bn_backward;
cnn_bn_affine_fn cnn_cpu_bn_eval_affine;
cnn_bn_sync_stats_fn cnn_cpu_bn_sync_stats;
cnn_bn_sync_apply_fn cnn_cpu_bn_sync_apply;
cnn_bn_sync_bwd_sums_fn cnn_cpu_bn_sync_bwd_sums;
cnn_bn_sync_bwd_apply_fn cnn_cpu_bn_sync_bwd_apply;
#endif

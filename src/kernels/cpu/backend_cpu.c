/* The "cpu" backend table: depthwise convolutions by own kernels (depthwise.c),
   dense ones with a short reduction by own kernels (conv_thin.c), those whose
   outputs read one kernel tap (1x1 planes) as matrix products (conv_tap.c), other convolutions
   by oneDNN (conv_dnnl.c), GEMM by an own batch-invariant kernel
   (gemm_cpu.c). All threads come from the one OpenMP pool that oneDNN (Debian's
   build) also uses; cnn_set_threads sets its size. */
#include "cpu_internal.h"
#include "tensor_cpu.h"

/* oneDNN's scratch: its convolution's, and the blocked layout's own 1x1 and first-layer
   kernels' that may run such a layer instead (blocked_pw.c, blocked_stem.c). */
static size_t dnnl_scratch(const cnn_conv_desc *c)
{
    size_t s = cnn_dnnl_conv_scratch(c), pw = cnn_blocked_pw_scratch(c), st = cnn_blocked_stem_scratch(c);
    s = s > pw ? s : pw;
    return s > st ? s : st;
}
/* ... of the forward alone (oneDNN's backward kinds are larger) */
static size_t dnnl_scratch_forward(const cnn_conv_desc *c)
{
    size_t s = cnn_dnnl_conv_scratch_kinds(c, 1), pw = cnn_blocked_pw_scratch(c);
    return s > pw ? s : pw;
}

/* The depthwise kernels take no scratch. */
static size_t dw_scratch(const cnn_conv_desc *c) { return 0; }
static void dw_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                       float *y, void *scratch)
{
    cnn_dw_forward(c, x, w, b, y);
}
static void dw_backward_data(const cnn_conv_desc *c, const float *dy, const float *w, float *dx,
                             void *scratch)
{
    cnn_dw_backward_data(c, dy, w, dx);
}
static void dw_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy, float *dw,
                                float *db, void *scratch)
{
    cnn_dw_backward_weights(c, x, dy, dw, db);
}

/* The convolution kernels of each path (cnn_cpu_conv_path_of): scratch for all three
   directions and for the forward alone, forward, backward data, backward weights. */
static const struct {
    cnn_conv_scratch_fn *scratch, *scratch_forward;
    cnn_conv_fwd_fn *forward;
    cnn_conv_bwd_data_fn *backward_data;
    cnn_conv_bwd_weights_fn *backward_weights;
} conv_kernels[] = {
    [CNN_CPU_CONV_DW] = {dw_scratch, dw_scratch, dw_forward, dw_backward_data, dw_backward_weights},
    [CNN_CPU_CONV_TAP] = {cnn_tap_conv_scratch, cnn_tap_conv_scratch, cnn_tap_conv_forward,
                          cnn_tap_conv_backward_data, cnn_tap_conv_backward_weights},
    [CNN_CPU_CONV_THIN] = {cnn_thin_conv_scratch, cnn_thin_conv_scratch_forward,
                           cnn_thin_conv_forward, cnn_thin_conv_backward_data,
                           cnn_thin_conv_backward_weights},
    [CNN_CPU_CONV_DNNL] = {dnnl_scratch, dnnl_scratch_forward, cnn_dnnl_conv_forward,
                           cnn_dnnl_conv_backward_data, cnn_dnnl_conv_backward_weights},
};

static size_t cpu_conv_scratch(const cnn_conv_desc *c)
{
    return conv_kernels[cnn_cpu_conv_path_of(c)].scratch(c);
}

/* Inference needs only the forward's scratch, and the blocked layout's oneDNN call
   where the plain one is another kernel. */
static size_t cpu_conv_scratch_forward(const cnn_conv_desc *c)
{
    size_t s = conv_kernels[cnn_cpu_conv_path_of(c)].scratch_forward(c);
    size_t b = cnn_cpu_is_depthwise(c) || cnn_tap_conv_use(c) ? 0 : cnn_dnnl_conv_scratch_blocked(c);
    size_t st = cnn_tap_conv_use(c) ? 0 : cnn_blocked_stem_scratch(c); /* the blocked layout's first layer */
    b = b > st ? b : st;
    /* the blocked layout's own dense kernel */
    size_t dc = cnn_cpu_is_depthwise(c) || cnn_tap_conv_use(c) || !(cnn_blocked_conv_use(c, true) || cnn_blocked_conv_use(c, false)) ? 0 : cnn_blocked_conv_scratch(c);
    b = b > dc ? b : dc;
    return b > s ? b : s;
}

static void cpu_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                             float *y, void *scratch)
{
    conv_kernels[cnn_cpu_conv_path_of(c)].forward(c, x, w, b, y, scratch);
}

static void cpu_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w,
                                   float *dx, void *scratch)
{
    conv_kernels[cnn_cpu_conv_path_of(c)].backward_data(c, dy, w, dx, scratch);
}

static void cpu_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                      float *dw, float *db, void *scratch)
{
    conv_kernels[cnn_cpu_conv_path_of(c)].backward_weights(c, x, dy, dw, db, scratch);
}

const cnn_backend cnn_backend_cpu = {
    .name = "cpu",
    .conv_scratch = cpu_conv_scratch,
    .conv_scratch_forward = cpu_conv_scratch_forward,
    .conv_forward = cpu_conv_forward,
    .conv_backward_data = cpu_conv_backward_data,
    .conv_backward_weights = cpu_conv_backward_weights,
    .gemm = cnn_cpu_gemm,
    .conv_s8_scratch = cnn_cpu_conv_s8_scratch,
    .conv_forward_s8 = cnn_cpu_conv_forward_s8,
    /* --- pooling --- (maxpool3d: ref's) */
    .maxpool2d_forward = cnn_cpu_maxpool2d_forward,
    .maxpool_backward = cnn_cpu_maxpool_backward,
    .maxpool2d_blocked_forward = cnn_cpu_maxpool2d_blocked_forward,
    .avgpool2d_blocked_forward = cnn_cpu_avgpool2d_blocked_forward,
    .global_avgpool_blocked_forward = cnn_cpu_global_avgpool_blocked_forward,
    .mul_channel_blocked_forward = cnn_cpu_mul_channel_blocked_forward,
    .channel_copy = cnn_cpu_channel_copy,
    .avgpool2d_forward = cnn_cpu_avgpool2d_forward,
    .avgpool2d_backward = cnn_cpu_avgpool2d_backward,
    .adaptive_avgpool2d_forward = cnn_cpu_adaptive_avgpool2d_forward,
    .adaptive_avgpool2d_backward = cnn_cpu_adaptive_avgpool2d_backward,
    .global_avgpool_forward = cnn_cpu_global_avgpool_forward,
    .global_avgpool_backward = cnn_cpu_global_avgpool_backward,
    .global_maxpool_forward = cnn_cpu_global_maxpool_forward,
    .global_maxpool_backward = cnn_cpu_global_maxpool_backward,
    /* --- normalisation, dropout: ref's --- */
    /* --- softmax and loss --- (cross entropy: ref's) */
    .softmax_forward = cnn_cpu_softmax_forward,
    .softmax_backward = cnn_cpu_softmax_backward,
    /* --- optimizer --- */
    .sgd_step = cnn_cpu_sgd_step,
    .adam_step = cnn_cpu_adam_step,
    /* --- general tensor ops (tensor_cpu.c); the channel ops and copies are ref's --- */
    .binary_forward = cnn_cpu_binary_forward,
    .binary_backward = cnn_cpu_binary_backward,
    .unary_forward = cnn_cpu_unary_forward,
    .unary_backward = cnn_cpu_unary_backward,
    .reduce_forward = cnn_cpu_reduce_forward,
    .reduce_backward = cnn_cpu_reduce_backward,
    .matmul_forward = cnn_cpu_matmul_forward,
    .matmul_backward_a = cnn_cpu_matmul_backward_a,
    .matmul_backward_b = cnn_cpu_matmul_backward_b,
    .pad_forward = cnn_cpu_pad_forward,
    .pad_backward = cnn_cpu_pad_backward,
    .slice_forward = cnn_cpu_slice_forward,
    .slice_backward = cnn_cpu_slice_backward,
    .transpose_forward = cnn_cpu_transpose_forward,
    .transpose_backward = cnn_cpu_transpose_backward,
    /* --- fused epilogue --- */
    .epilogue = cnn_cpu_epilogue,
    /* --- activation --- */
    .act_forward = cnn_cpu_act_forward,
    .act_backward = cnn_cpu_act_backward,
    /* --- add --- */
    .add_forward = cnn_cpu_add_forward,
    .add_backward = cnn_cpu_add_backward,
    /* --- batch norm --- */
    .bn_forward = cnn_cpu_bn_forward,
    .bn_backward = cnn_cpu_bn_backward,
    .bn_eval_affine = cnn_cpu_bn_eval_affine,
    .bn_sync_stats = cnn_cpu_bn_sync_stats,
    .bn_sync_apply = cnn_cpu_bn_sync_apply,
    .bn_sync_bwd_sums = cnn_cpu_bn_sync_bwd_sums,
    .bn_sync_bwd_apply = cnn_cpu_bn_sync_bwd_apply,
};

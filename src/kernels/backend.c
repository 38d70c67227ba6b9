/* Backend table and run-time choice (docs/architecture.md, "Kernels"). */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "cpu/cpu_internal.h"
#include "kernels.h"
#include "ref/ref.h"

const cnn_backend cnn_backend_ref = {
    .name = "ref",
    .conv_scratch = cnn_ref_conv_scratch,
    .conv_scratch_forward = cnn_ref_conv_scratch_forward,
    .conv_forward = cnn_ref_conv_forward,
    .conv_backward_data = cnn_ref_conv_backward_data,
    .conv_backward_weights = cnn_ref_conv_backward_weights,
    .gemm = cnn_ref_gemm,
    .conv_s8_scratch = cnn_ref_conv_s8_scratch,
    .conv_forward_s8 = cnn_ref_conv_forward_s8,
    /* --- pooling --- */
    .maxpool2d_forward = cnn_ref_maxpool2d_forward,
    .maxpool3d_forward = cnn_ref_maxpool3d_forward,
    .maxpool_backward = cnn_ref_maxpool_backward,
    .avgpool2d_forward = cnn_ref_avgpool2d_forward,
    .avgpool2d_backward = cnn_ref_avgpool2d_backward,
    .adaptive_avgpool2d_forward = cnn_ref_adaptive_avgpool2d_forward,
    .adaptive_avgpool2d_backward = cnn_ref_adaptive_avgpool2d_backward,
    .global_avgpool_forward = cnn_ref_global_avgpool_forward,
    .global_avgpool_backward = cnn_ref_global_avgpool_backward,
    .global_maxpool_forward = cnn_ref_global_maxpool_forward,
    .global_maxpool_backward = cnn_ref_global_maxpool_backward,
    /* --- normalisation --- */
    .lrn_forward = cnn_ref_lrn_forward,
    .lrn_backward = cnn_ref_lrn_backward,
    /* --- dropout --- */
    .dropout_forward = cnn_ref_dropout_forward,
    .dropout_backward = cnn_ref_dropout_backward,
    /* --- softmax and loss --- */
    .softmax_forward = cnn_ref_softmax_forward,
    .softmax_backward = cnn_ref_softmax_backward,
    .cross_entropy_forward = cnn_ref_cross_entropy_forward,
    .cross_entropy_backward = cnn_ref_cross_entropy_backward,
    /* --- optimizer --- */
    .sgd_step = cnn_ref_sgd_step,
    .adam_step = cnn_ref_adam_step,
    /* --- general tensor ops, channel ops and copies --- */
    .binary_forward = cnn_ref_binary_forward,
    .binary_backward = cnn_ref_binary_backward,
    .unary_forward = cnn_ref_unary_forward,
    .unary_backward = cnn_ref_unary_backward,
    .reduce_forward = cnn_ref_reduce_forward,
    .reduce_backward = cnn_ref_reduce_backward,
    .matmul_forward = cnn_ref_matmul_forward,
    .matmul_backward_a = cnn_ref_matmul_backward_a,
    .matmul_backward_b = cnn_ref_matmul_backward_b,
    .pad_forward = cnn_ref_pad_forward,
    .pad_backward = cnn_ref_pad_backward,
    .slice_forward = cnn_ref_slice_forward,
    .slice_backward = cnn_ref_slice_backward,
    .transpose_forward = cnn_ref_transpose_forward,
    .transpose_backward = cnn_ref_transpose_backward,
    .mul_channel_forward = cnn_ref_mul_channel_forward,
    .mul_channel_backward = cnn_ref_mul_channel_backward,
    .mul_spatial_forward = cnn_ref_mul_spatial_forward,
    .mul_spatial_backward = cnn_ref_mul_spatial_backward,
    .channel_mean_forward = cnn_ref_channel_mean_forward,
    .channel_mean_backward = cnn_ref_channel_mean_backward,
    .channel_max_forward = cnn_ref_channel_max_forward,
    .channel_max_backward = cnn_ref_channel_max_backward,
    .channel_shuffle_forward = cnn_ref_channel_shuffle_forward,
    .channel_shuffle_backward = cnn_ref_channel_shuffle_backward,
    .copy_blocks = cnn_ref_copy_blocks,
    .add_blocks = cnn_ref_add_blocks,
    .bias_add = cnn_ref_bias_add,
    .bias_grad = cnn_ref_bias_grad,
    /* --- fused epilogue --- */
    .epilogue = cnn_ref_epilogue,
    /* --- activation --- */
    .act_forward = cnn_ref_act_forward,
    .act_backward = cnn_ref_act_backward,
    /* --- add --- */
    .add_forward = cnn_ref_add_forward,
    .add_backward = cnn_ref_add_backward,
    /* --- batch norm --- */
    .bn_forward = cnn_ref_bn_forward,
    .bn_backward = cnn_ref_bn_backward,
    .bn_eval_affine = cnn_ref_bn_eval_affine,
    .bn_sync_stats = cnn_ref_bn_sync_stats,
    .bn_sync_apply = cnn_ref_bn_sync_apply,
    .bn_sync_bwd_sums = cnn_ref_bn_sync_bwd_sums,
    .bn_sync_bwd_apply = cnn_ref_bn_sync_bwd_apply,
};

/* The backends compiled in, fastest first: the first is the default when CNN_BACKEND /
   cnn_set_backend name none (docs/architecture.md, "Build options"). */
static const cnn_backend *const g_backends[] = {
#ifdef CNN_HAVE_CPU_BACKEND
    &cnn_backend_cpu,
#endif
    &cnn_backend_ref,
};
static const cnn_backend *g_current;
/* g_current with every entry it leaves empty taken from ref (docs/architecture.md,
   "Kernel backends"): ops call any entry without checking for NULL. */
static cnn_backend g_resolved;

static void resolve(const cnn_backend *be)
{
    g_resolved = *be;
    const cnn_backend *r = &cnn_backend_ref;
#define FILL(f) if (!g_resolved.f) g_resolved.f = r->f
    FILL(conv_scratch);
    FILL(conv_scratch_forward);
    FILL(conv_forward);
    FILL(conv_backward_data);
    FILL(conv_backward_weights);
    FILL(gemm);
    FILL(conv_s8_scratch);
    FILL(conv_forward_s8);
    /* --- pooling, normalisation, dropout, softmax and loss, optimizer --- */
    FILL(maxpool2d_forward);
    FILL(maxpool3d_forward);
    FILL(maxpool_backward);
    FILL(avgpool2d_forward);
    FILL(avgpool2d_backward);
    FILL(adaptive_avgpool2d_forward);
    FILL(adaptive_avgpool2d_backward);
    FILL(global_avgpool_forward);
    FILL(global_avgpool_backward);
    FILL(global_maxpool_forward);
    FILL(global_maxpool_backward);
    FILL(lrn_forward);
    FILL(lrn_backward);
    FILL(dropout_forward);
    FILL(dropout_backward);
    FILL(softmax_forward);
    FILL(softmax_backward);
    FILL(cross_entropy_forward);
    FILL(cross_entropy_backward);
    FILL(sgd_step);
    FILL(adam_step);
    /* --- general tensor ops, channel ops and copies --- */
    FILL(binary_forward);
    FILL(binary_backward);
    FILL(unary_forward);
    FILL(unary_backward);
    FILL(reduce_forward);
    FILL(reduce_backward);
    FILL(matmul_forward);
    FILL(matmul_backward_a);
    FILL(matmul_backward_b);
    FILL(pad_forward);
    FILL(pad_backward);
    FILL(slice_forward);
    FILL(slice_backward);
    FILL(transpose_forward);
    FILL(transpose_backward);
    FILL(mul_channel_forward);
    FILL(mul_channel_backward);
    FILL(mul_spatial_forward);
    FILL(mul_spatial_backward);
    FILL(channel_mean_forward);
    FILL(channel_mean_backward);
    FILL(channel_max_forward);
    FILL(channel_max_backward);
    FILL(channel_shuffle_forward);
    FILL(channel_shuffle_backward);
    FILL(copy_blocks);
    FILL(add_blocks);
    FILL(bias_add);
    FILL(bias_grad);
    FILL(epilogue);
    FILL(act_forward);
    FILL(act_backward);
    FILL(add_forward);
    FILL(add_backward);
    FILL(bn_forward);
    FILL(bn_backward);
    FILL(bn_eval_affine);
    FILL(bn_sync_stats);
    FILL(bn_sync_apply);
    FILL(bn_sync_bwd_sums);
    FILL(bn_sync_bwd_apply);
    /* one FILL per entry of cnn_backend: keep in the struct's order */
#undef FILL
    g_current = be;
}

const cnn_backend *cnn_backend_get(void)
{
    if (!g_current) {
        const char *e = getenv("CNN_BACKEND");
        if (!e || cnn_set_backend(e) != CNN_OK) resolve(g_backends[0]);
    }
    return &g_resolved;
}

cnn_status cnn_set_backend(const char *name)
{
    for (size_t i = 0; i < sizeof g_backends / sizeof g_backends[0]; i++)
        if (name && strcmp(g_backends[i]->name, name) == 0) {
            resolve(g_backends[i]);
            return CNN_OK;
        }
    char have[128] = "";
    for (size_t i = 0, k = 0; i < sizeof g_backends / sizeof g_backends[0] && k < sizeof have; i++)
        k += (size_t)snprintf(have + k, sizeof have - k, "%s%s", i ? ", " : "",
                              g_backends[i]->name);
    return cnn_set_error(CNN_ERR_NOT_FOUND, "backend '%s' is not compiled in (have: %s)",
                         name ? name : "(null)", have);
}

const char *cnn_backend_name(void) { return cnn_backend_get()->name; }

/* The largest scratch of every compiled-in backend for c (the arena must serve
   whichever one runs): all conv kinds, the forward alone, or int8. */
enum { SCRATCH_ALL, SCRATCH_FORWARD, SCRATCH_S8 };
static size_t max_scratch(const cnn_conv_desc *c, int kind)
{
    size_t m = 0;
    for (size_t i = 0; i < sizeof g_backends / sizeof g_backends[0]; i++) {
        const cnn_backend *be = g_backends[i];
        size_t b;
        if (kind == SCRATCH_S8) b = be->conv_s8_scratch(c);
        else if (kind == SCRATCH_FORWARD && be->conv_scratch_forward) b = be->conv_scratch_forward(c);
        else b = be->conv_scratch(c);
        if (b > m) m = b;
    }
    return m;
}

size_t cnn_conv_scratch_bytes(const cnn_conv_desc *c) { return max_scratch(c, SCRATCH_ALL); }

size_t cnn_conv_s8_scratch_bytes(const cnn_conv_desc *c) { return max_scratch(c, SCRATCH_S8); }

size_t cnn_conv_scratch_forward_bytes(const cnn_conv_desc *c)
{
    return max_scratch(c, SCRATCH_FORWARD);
}

const char *cnn_backend_conv_kernel(const cnn_conv_desc *c)
{
#ifdef CNN_HAVE_CPU_BACKEND
    if (cnn_backend_get()->conv_forward == cnn_backend_cpu.conv_forward) return cnn_cpu_conv_kernel(c);
#endif
    return cnn_backend_provider(conv_forward);
}

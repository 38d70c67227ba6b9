/* Backend table and run-time choice (DESIGN decision 5). */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "cpu/cpu_internal.h"
#include "kernels.h"
#include "ref/ref.h"

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

size_t cnn_conv_scratch_bytes(const cnn_conv_desc *c)
{
    size_t m = 0;
    for (size_t i = 0; i < sizeof g_backends / sizeof g_backends[0]; i++) {
        size_t b = g_backends[i]->conv_scratch(c);
        if (b > m) m = b;
    }
    return m;
}

size_t cnn_conv_s8_scratch_bytes(const cnn_conv_desc *c)
{
    size_t m = 0;
    for (size_t i = 0; i < sizeof g_backends / sizeof g_backends[0]; i++) {
        size_t b = g_backends[i]->conv_s8_scratch(c);
        if (b > m) m = b;
    }
    return m;
}

size_t cnn_conv_scratch_forward_bytes(const cnn_conv_desc *c)
{
    size_t m = 0;
    for (size_t i = 0; i < sizeof g_backends / sizeof g_backends[0]; i++) {
        const cnn_backend *be = g_backends[i];
        size_t b = be->conv_scratch_forward ? be->conv_scratch_forward(c) : be->conv_scratch(c);
        if (b > m) m = b;
    }
    return m;
}

/* The "cpu" backend table: depthwise convolutions by own kernels (depthwise.c),
   other convolutions and GEMM by oneDNN (conv_dnnl.c, dnnl_sgemm). All threads come
   from the one OpenMP pool that oneDNN (Debian's build) also uses; cnn_set_threads
   sets its size. */
#include <dnnl.h>

#include "cpu_internal.h"

void cnn_ref_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

static size_t cpu_conv_scratch(const cnn_conv_desc *c)
{
    return cnn_cpu_is_depthwise(c) ? 0 : cnn_dnnl_conv_scratch(c);
}

static void cpu_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                             float *y, void *scratch)
{
    if (cnn_cpu_is_depthwise(c))
        cnn_dw_forward(c, x, w, b, y);
    else
        cnn_dnnl_conv_forward(c, x, w, b, y, scratch);
}

static void cpu_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w,
                                   float *dx, void *scratch)
{
    if (cnn_cpu_is_depthwise(c))
        cnn_dw_backward_data(c, dy, w, dx);
    else
        cnn_dnnl_conv_backward_data(c, dy, w, dx, scratch);
}

static void cpu_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                      float *dw, float *db, void *scratch)
{
    if (cnn_cpu_is_depthwise(c))
        cnn_dw_backward_weights(c, x, dy, dw, db);
    else
        cnn_dnnl_conv_backward_weights(c, x, dy, dw, db, scratch);
}

/* dnnl_sgemm is row-major with the interface's exact semantics (beta == 0 ignores
   C's old contents); it returns an error only for invalid arguments, for which the
   reference gives the caller the same (defined) behaviour. */
static void cpu_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                     int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    if (dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c,
                   ldc) != dnnl_success)
        cnn_ref_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const cnn_backend cnn_backend_cpu = {
    .name = "cpu",
    .conv_scratch = cpu_conv_scratch,
    .conv_forward = cpu_conv_forward,
    .conv_backward_data = cpu_conv_backward_data,
    .conv_backward_weights = cpu_conv_backward_weights,
    .gemm = cpu_gemm,
};

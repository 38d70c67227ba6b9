/* The cpu backend's oneDNN entries in a build without oneDNN (CNN_WITH_DNNL off; see
   docs/architecture.md, "Build options"): the convolutions conv_dnnl.c would hand to
   oneDNN run the reference kernels instead, while the backend's own kernels
   (depthwise, thin, tap, GEMM) are unchanged. Same contracts as conv_dnnl.c's; the
   oneDNN-only knobs (cnn_cpu_set_layout, cnn_cpu_set_chunk_cap) do not exist here. */
#include "../ref/ref.h"
#include "cpu_internal.h"

size_t cnn_dnnl_conv_scratch_kinds(const cnn_conv_desc *c, int kinds)
{
    return kinds == 1 ? cnn_ref_conv_scratch_forward(c) : cnn_ref_conv_scratch(c);
}

size_t cnn_dnnl_conv_scratch(const cnn_conv_desc *c) { return cnn_ref_conv_scratch(c); }

void cnn_dnnl_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                           float *y, void *scratch)
{
    cnn_ref_conv_forward(c, x, w, b, y, scratch);
}

void cnn_dnnl_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w,
                                 float *dx, void *scratch)
{
    cnn_ref_conv_backward_data(c, dy, w, dx, scratch);
}

void cnn_dnnl_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                    float *dw, float *db, void *scratch)
{
    cnn_ref_conv_backward_weights(c, x, dy, dw, db, scratch);
}

const char *cnn_dnnl_conv_kernel(const cnn_conv_desc *c)
{
    (void)c;
    return "ref (no dnnl)";
}

bool cnn_dnnl_conv_blocked_ok(const cnn_conv_desc *c)
{
    (void)c;
    return false;
}

bool cnn_dnnl_conv_forward_blocked(const cnn_conv_desc *c, const float *x, bool x_blocked,
                                   const float *w, const float *b, float *y, bool y_blocked,
                                   void *scratch, uint64_t wgen)
{
    (void)wgen;
    if (x_blocked || y_blocked) return false;
    cnn_ref_conv_forward(c, x, w, b, y, scratch);
    return true;
}
bool cnn_dnnl_conv_forward_blocked_epi(const cnn_conv_desc *c, const float *x, bool x_blocked, const float *w,
                                       const float *b, float *y, const cnn_blocked_epi *epi, void *scratch,
                                       uint64_t wgen)
{
    (void)c, (void)x, (void)x_blocked, (void)w, (void)b, (void)y, (void)epi, (void)scratch, (void)wgen;
    return false;
}

size_t cnn_dnnl_conv_scratch_blocked(const cnn_conv_desc *c)
{
    (void)c;
    return 0; /* nothing runs blocked here (cnn_dnnl_conv_blocked_ok is false) */
}

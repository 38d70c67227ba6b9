/* The kernel interface (DESIGN decision 5): the arithmetic behind ops, one backend
   per folder. ops/ call only through this table, so a faster backend changes how
   kernels compute, never what. Every backward kernel ACCUMULATES (+=) into its
   outputs (dx, dw, db): a tensor used twice gets the sum of its gradients. */
#ifndef CNN_KERNELS_H
#define CNN_KERNELS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A convolution in 1-3 spatial dimensions, stored as (D, H, W); a 2D convolution
   has D = 1, k[0] = 1, s[0] = 1, p[0] = 0, d[0] = 1.
   x: (N, C_in, D, H, W), w: (C_out, C_in/groups, kD, kH, kW), y: (N, C_out, D', H', W'). */
typedef struct cnn_conv_desc {
    int n, c_in, c_out, groups;
    int in[3], out[3];
    int k[3], s[3], p[3], d[3];
} cnn_conv_desc;

struct cnn_s8_epilogue; /* below, with the int8 helpers */
typedef struct cnn_backend {
    const char *name;
    /* Scratch bytes the conv kernels below need for this descriptor. The scratch
       passed to them must be 64-byte aligned (oneDNN's JIT kernels use aligned
       loads on the buffers placed there). */
    size_t (*conv_scratch)(const cnn_conv_desc *c);
    /* Scratch conv_forward alone needs (inference); NULL: conv_scratch. */
    size_t (*conv_scratch_forward)(const cnn_conv_desc *c);
    /* y = conv(x, w) + b (b may be NULL); y is overwritten. */
    void (*conv_forward)(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                         float *y, void *scratch);
    /* dx += conv_transpose(dy, w). */
    void (*conv_backward_data)(const cnn_conv_desc *c, const float *dy, const float *w, float *dx,
                               void *scratch);
    /* dw += corr(x, dy); db += sum(dy) when db != NULL. */
    void (*conv_backward_weights)(const cnn_conv_desc *c, const float *x, const float *dy,
                                  float *dw, float *db, void *scratch);
    /* C = alpha * op(A) op(B) + beta * C, row-major; op(A) is M x K, op(B) K x N. */
    void (*gemm)(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc);
    /* int8 (docs/architecture.md, "int8 precision"). x: (N, C_in, D, H, W) int8,
       w: (C_out, C_in/groups, kD, kH, kW) int8, b: int32 per output channel (may be
       NULL), m: float per output channel. acc = b[o] + sum x * w, exact in int32;
       y = (float)acc * m[o] (one rounding), NCDHW, then the epilogue ep (may be NULL;
       cnn_s8_epilogue). Every backend gives the same integers and so the same floats. */
    size_t (*conv_s8_scratch)(const cnn_conv_desc *c);
    void (*conv_forward_s8)(const cnn_conv_desc *c, const int8_t *x, const int8_t *w,
                            const int32_t *b, const float *m, const struct cnn_s8_epilogue *ep,
                            float *y, void *scratch);
} cnn_backend;

/* The one activation rounding of int8 precision: q = clamp(round_half_even(x / s),
   -127, 127), NaN -> 0; symmetric, zero point 0. The division (not x * (1/s)) keeps
   compilers from contracting it with the rounding constant into an FMA, so this C
   gives the same integers on every target (also in exported code). */
static inline int8_t cnn_q8(float x, float s)
{
    float v = x / s;
    if (v != v) return 0;
    if (v > 127.0f) v = 127.0f;
    if (v < -127.0f) v = -127.0f;
    v = (v + 12582912.0f) - 12582912.0f; /* 1.5 * 2^23: rounds half to even */
    return (int8_t)(int)v;
}
/* Quantizes n floats with cnn_q8 (OpenMP over chunks for large n). */
void cnn_quantize_s8(const float *x, size_t n, float s, int8_t *q);
/* The fused epilogue of an int8 convolution (batch norm, residual add, activation fused
   into it, docs/architecture.md "int8 precision"), in this order and with these
   roundings (no contraction into FMAs): y = y * scale[o] (if scale), y = y + shift[o],
   y = y + res (if res: same layout as y), then act: 0 none, 1 relu (y > 0 ? y : 0),
   2 relu6 (y < 0 ? 0 : y, then > 6 ? 6). */
typedef struct cnn_s8_epilogue {
    const float *scale, *shift, *res;
    int act;
} cnn_s8_epilogue;
/* Applies ep to the output y of convolution c (reference code, every plane). */
void cnn_s8_epilogue_apply(const cnn_conv_desc *c, const cnn_s8_epilogue *ep, float *y);

extern const cnn_backend cnn_backend_ref;
/* The backend in use (CNN_BACKEND env var or cnn_set_backend; default the fastest),
   resolved: an entry the backend leaves NULL is ref's, so every entry can be called. */
const cnn_backend *cnn_backend_get(void);
/* Name of the backend whose code entry F of the table in use runs ("ref" where the
   backend left it to ref), e.g. for `cnn bench --layers`. */
#define cnn_backend_provider(F) \
    (cnn_backend_get()->F == cnn_backend_ref.F ? cnn_backend_ref.name : cnn_backend_get()->name)
/* Scratch bytes enough for this convolution on every compiled-in backend. */
size_t cnn_conv_scratch_bytes(const cnn_conv_desc *c);
/* ... for conv_forward_s8 (int8 inference). */
size_t cnn_conv_s8_scratch_bytes(const cnn_conv_desc *c);
/* ... for conv_forward alone (what an inference pass needs). */
size_t cnn_conv_scratch_forward_bytes(const cnn_conv_desc *c);
#endif

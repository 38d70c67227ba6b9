/* The kernel interface (docs/architecture.md, "Kernels"): the arithmetic behind ops, one backend
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

/* An activation: kind (a cnn_act value) and its parameters (leaky ReLU's slope, ELU's
   alpha, clip's bounds, hard-sigmoid's alpha x + beta; see cnn_activation_p). */
typedef struct cnn_act_desc {
    int act;
    float alpha, beta;
} cnn_act_desc;

/* A fused epilogue (docs/architecture.md, "Fusion"): point-wise stages applied to a
   producer's output (n, c, s) (s: values per channel plane) while it is in cache.
   The kinds are listed in the order stages may follow each other in one chain. */
enum { CNN_EPI_NONE, CNN_EPI_AFFINE, CNN_EPI_ADD, CNN_EPI_ACT };
#define CNN_EPI_MAX_STAGES 3
typedef struct cnn_epi_stage {
    int kind;
    float *scale, *shift; /* AFFINE: y = y * scale[ch] + shift[ch] (c values each) */
    const float *other;   /* ADD: y = y + other, other laid out as y */
    cnn_act_desc act;     /* ACT: y = act(y) */
} cnn_epi_stage;
typedef struct cnn_epilogue {
    int n, c;
    size_t s;
    int n_stages;
    cnn_epi_stage st[CNN_EPI_MAX_STAGES];
} cnn_epilogue;

/* Batch norm over x (n, c, s): weight w, bias b, running statistics rmean / rvar,
   saved per-channel batch mean and 1/sqrt(var + eps) (training), gradients dx, dw, db
   (backward; NULL: not wanted). */
typedef struct cnn_bn_args {
    int n, c;
    size_t s;
    float eps, momentum;
    const float *x, *w, *b;
    float *y, *rmean, *rvar, *mean, *inv_std;
    const float *dy;
    float *dx, *dw, *db;
} cnn_bn_args;

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
    /* --- fused epilogue --- (docs/architecture.md, "Fusion") */
    /* Runs e's stages, in order, on y (e->n, e->c, e->s) in place, with the same
       arithmetic as the standalone entries below (act_forward, add_forward,
       bn_forward's eval affine), so a fused chain gives the unfused chain's bits. */
    void (*epilogue)(const cnn_epilogue *e, float *y);
    /* --- activation --- */
    /* y = act(x) over n values (y may be x). */
    void (*act_forward)(const cnn_act_desc *a, const float *x, float *y, size_t n);
    /* dx += dy * act'(x) over n values; x is the input, y the output (the derivative of
       sigmoid, tanh and ELU reads y). */
    void (*act_backward)(const cnn_act_desc *a, const float *x, const float *y, const float *dy,
                         float *dx, size_t n);
    /* --- add --- */
    /* y = a + b over n values (y may be a or b). */
    void (*add_forward)(const float *a, const float *b, float *y, size_t n);
    /* da += dy and db += dy (either may be NULL; da == db adds dy twice). */
    void (*add_backward)(const float *dy, float *da, float *db, size_t n);
    /* --- batch norm --- (see cnn_bn_args) */
    /* Eval: y = x * scale + shift per channel from the running statistics. Training:
       batch statistics -> mean, inv_std (saved), running statistics updated, y. */
    void (*bn_forward)(const cnn_bn_args *a, bool training);
    /* dw += sum dy xh, db += sum dy (NULL: skipped), dx += the input gradient (NULL:
       skipped); training with the saved batch statistics, eval with the running ones. */
    void (*bn_backward)(const cnn_bn_args *a, bool training);
    /* Eval-mode per-channel scale and shift, y = x * scale[c] + shift[c]: the
       coefficients bn_forward's eval applies (a fused epilogue's affine stage). */
    void (*bn_eval_affine)(const cnn_bn_args *a, float *scale, float *shift);
    /* Synchronised training (statistics over ranks; the caller all-reduces between
       the steps). Forward: (1) this rank's per-channel mean lmean and centred sum of
       squares lm2; (2) from the global sum[c] = M mean_c and m2[c] = centred sums over
       all M values: mean, inv_std, running statistics and y. */
    void (*bn_sync_stats)(const cnn_bn_args *a, double *lmean, double *lm2);
    void (*bn_sync_apply)(const cnn_bn_args *a, const double *sum, const double *m2, double M);
    /* Backward: (1) tot[c] = sum dy, tot[C + c] = sum dy xh of this rank, dw/db += them;
       (2) dx += with the global tot over M values. */
    void (*bn_sync_bwd_sums)(const cnn_bn_args *a, double *tot);
    void (*bn_sync_bwd_apply)(const cnn_bn_args *a, const double *tot, double M);
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

/* The kernel interface (docs/architecture.md, "Kernels"): the arithmetic behind ops,
   one backend per folder. ops/ call only through this table, so a faster backend
   changes how kernels compute, never what. Every backward kernel ACCUMULATES (+=) into its
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

/* A pooling geometry, (D, H, W) as cnn_conv_desc; 2D pooling has in[0] = out[0] = 1,
   k[0] = s[0] = d[0] = 1, p[0] = 0. planes = N * C, each pooled alone. */
typedef struct cnn_pool_desc {
    size_t planes;
    int in[3], out[3];
    int k[3], s[3], p[3], d[3];
    bool exclude_pad; /* avgpool2d: divide by the input elements of the window only */
} cnn_pool_desc;

/* Local response normalisation of (n, c, s): s positions per channel. */
typedef struct cnn_lrn_desc {
    int n, c;
    size_t s;
    int size;
    float alpha, beta, k;
} cnn_lrn_desc;

/* One contiguous piece of a parameter for the optimizer entries: value w, gradient g,
   state m (momentum buffer / exp_avg; NULL for plain SGD) and v (exp_avg_sq). */
typedef struct cnn_optim_seg {
    float *w;
    const float *g;
    float *m, *v;
    size_t n;
} cnn_optim_seg;

/* One step's hyper-parameters. SGD: d = g + wd w; b = first ? d : momentum b + d;
   d = nesterov ? d + momentum b : b; w -= lr d. Adam: g += wd w (AdamW instead
   w *= decay); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   w -= step_size * m / (sqrt(v) / bc2_sqrt + eps). */
typedef struct cnn_optim_hyper {
    float lr, wd, momentum;
    bool first, nesterov;
    float b1, b2, eps, step_size, bc2_sqrt, decay;
    bool decoupled;
} cnn_optim_hyper;

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
       y = (float)acc * m[o] (one rounding), NCDHW. Every backend gives the same
       integers and so the same floats. */
    size_t (*conv_s8_scratch)(const cnn_conv_desc *c);
    void (*conv_forward_s8)(const cnn_conv_desc *c, const int8_t *x, const int8_t *w,
                            const int32_t *b, const float *m, float *y, void *scratch);

    /* --- pooling --- (docs/architecture.md, "Kernels"). x: planes x in[0]*in[1]*in[2]
       floats, y: planes x out[0]*out[1]*out[2]; forwards overwrite y (and idx),
       backwards accumulate (+=) into dx. */
    /* torch.nn.MaxPool2d (d->in[0] = 1): y = the max of each window, padding -inf, a NaN
       wins, ties keep the first tap in (row, column) order; idx = its offset h*W + w in
       the input plane, -1 for a window of padding only. */
    void (*maxpool2d_forward)(const cnn_pool_desc *d, const float *x, float *y, int32_t *idx);
    /* torch.nn.MaxPool3d (dilation 1), the same rule over (depth, row, column). */
    void (*maxpool3d_forward)(const cnn_pool_desc *d, const float *x, float *y, int32_t *idx);
    /* dx[idx] += dy per output of either max pool; idx < 0 gives nothing. */
    void (*maxpool_backward)(const cnn_pool_desc *d, const float *dy, const int32_t *idx,
                             float *dx);
    /* torch.nn.AvgPool2d: y = (sum of the window's taps, in (row, column) order from 0)
       * (1 / divisor), divisor = the window clipped to the padded input, or to the input
       with d->exclude_pad; a window of no input element gives 0. Backward: each input
       of the window += dy * (1 / divisor), outputs in order. */
    void (*avgpool2d_forward)(const cnn_pool_desc *d, const float *x, float *y);
    void (*avgpool2d_backward)(const cnn_pool_desc *d, const float *dy, float *dx);
    /* torch.nn.AdaptiveAvgPool2d to out[1] x out[2] (k, s, p unused): bin i covers
       [floor(i*in/out), ceil((i+1)*in/out)); y = sum in order / count. */
    void (*adaptive_avgpool2d_forward)(const cnn_pool_desc *d, const float *x, float *y);
    void (*adaptive_avgpool2d_backward)(const cnn_pool_desc *d, const float *dy, float *dx);
    /* Mean of each of `planes` planes of hw floats: y[p] = (sum in order) * (1 / hw);
       backward dx += dy[p] * (1 / hw). */
    void (*global_avgpool_forward)(size_t planes, size_t hw, const float *x, float *y);
    void (*global_avgpool_backward)(size_t planes, size_t hw, const float *dy, float *dx);
    /* Max of each plane (NaN wins, first max); backward finds the first max again in x
       and adds dy[p] there. */
    void (*global_maxpool_forward)(size_t planes, size_t hw, const float *x, float *y);
    void (*global_maxpool_backward)(size_t planes, size_t hw, const float *x, const float *dy,
                                    float *dx);

    /* --- normalisation --- */
    /* torch.nn.LocalResponseNorm over (n, c, s) (s positions per channel):
       sc = k + alpha/size * sum of x^2 over the channel window, y = x * sc^-beta; y and
       sc overwritten. Backward dx += ..., from x, y and sc; scratch: c * s floats. */
    void (*lrn_forward)(const cnn_lrn_desc *d, const float *x, float *y, float *sc);
    void (*lrn_backward)(const cnn_lrn_desc *d, const float *x, const float *y, const float *sc,
                         const float *dy, float *dx, float *scratch);

    /* --- dropout --- */
    /* y = keep ? x * scale : 0 over n floats (the mask comes from the graph's RNG, drawn
       by the op); backward dx += dy * scale where keep. */
    void (*dropout_forward)(size_t n, const float *x, const uint8_t *keep, float scale, float *y);
    void (*dropout_backward)(size_t n, const float *dy, const uint8_t *keep, float scale,
                             float *dx);

    /* --- softmax and loss --- */
    /* Softmax (log-softmax with log) along the middle axis of (outer, k, s): max
       subtracted, the sum of exponentials in double; y overwritten. Backward from y:
       dx += y (dy - sum dy y), log: dx += dy - exp(y) sum dy. */
    void (*softmax_forward)(int64_t outer, int64_t k, int64_t s, bool log, const float *x,
                            float *y);
    void (*softmax_backward)(int64_t outer, int64_t k, int64_t s, bool log, const float *y,
                             const float *dy, float *dx);
    /* torch.nn.CrossEntropyLoss(label_smoothing) of logits z (n, k) and labels (n)
       (classes as floats, checked by the caller): p (n, k) = softmax(z) overwritten;
       returns the mean loss. Backward: dz += scale * (p - q), q the smoothed one-hot. */
    float (*cross_entropy_forward)(int n, int k, float smoothing, const float *z,
                                   const float *labels, float *p);
    void (*cross_entropy_backward)(int n, int k, float smoothing, float scale, const float *p,
                                   const float *labels, float *dz);

    /* --- optimizer --- */
    /* One update of every segment, in place (torch.optim's rules, docs/architecture.md,
       "Training"): SGD with momentum buffer seg->m (NULL without momentum); Adam/AdamW
       with exp_avg seg->m and exp_avg_sq seg->v. Element-wise: results do not depend on
       how the parameters are cut into segments. */
    void (*sgd_step)(const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h);
    void (*adam_step)(const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h);
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

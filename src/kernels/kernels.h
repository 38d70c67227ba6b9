/* The kernel interface (docs/architecture.md, "Kernels"): the arithmetic behind ops, one backend
   per folder. ops/ call only through this table, so a faster backend changes how
   kernels compute, never what. Every backward kernel ACCUMULATES (+=) into its
   outputs (dx, dw, db): a tensor used twice gets the sum of its gradients. */
#ifndef CNN_KERNELS_H
#define CNN_KERNELS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "../core/optim_seg.h"

/* cnn_conv_desc, the geometry of a convolution: include/cnn/describe.h (public: exporters
   read it too). */

/* A pooling geometry, (D, H, W) as cnn_conv_desc; 2D pooling has in[0] = out[0] = 1,
   k[0] = s[0] = d[0] = 1, p[0] = 0. planes = N * C, each pooled alone. */
typedef struct cnn_pool_desc {
    size_t planes;
    int in[3], out[3];
    int k[3], s[3], p[3], d[3];
    bool exclude_pad; /* avgpool2d: divide by the input elements of the window only */
} cnn_pool_desc;

/* A channel copy between layouts (cnn_backend.channel_copy). */
typedef struct cnn_chan_copy {
    size_t n, spatial;
    int xc, x0, groups, cg;
    int yc, y0, cnt;
    bool xb, yb;
} cnn_chan_copy;

/* Local response normalisation of (n, c, s): s positions per channel. */
typedef struct cnn_lrn_desc {
    int n, c;
    size_t s;
    int size;
    float alpha, beta, k;
} cnn_lrn_desc;

/* cnn_optim_seg, cnn_optim_hyper: the optimizer entries' data, core/optim_seg.h. */
/* General tensor ops (docs/architecture.md, "General tensor ops"). A strided index
   space: rank r, shape dims, and the strides (in elements) of up to 3 operands over
   it; a stride of 0 repeats an element (broadcasting). */
typedef struct cnn_nd_desc {
    int r;
    int dims[CNN_MAX_DIMS];
    int64_t st[3][CNN_MAX_DIMS];
} cnn_nd_desc;

/* reduce: x contiguous of shape dims (rank r); the axes with reduced[i] set are
   reduced, y is contiguous over the kept axes in order. */
typedef struct cnn_reduce_desc {
    cnn_reduce_op op;
    int r;
    int dims[CNN_MAX_DIMS];
    bool reduced[CNN_MAX_DIMS];
} cnn_reduce_desc;

/* matmul: nstack products of (M, K) x (K, N); stack index s (over stack[0..nb), row
   major) reads A at sum c_i sa[i] and B at sum c_i sb[i] (0: that operand is broadcast
   along stack dimension i); Y is contiguous, (nstack, M, N). */
typedef struct cnn_matmul_desc {
    int64_t M, K, N;
    int nb;
    int stack[CNN_MAX_DIMS];
    int64_t sa[CNN_MAX_DIMS], sb[CNN_MAX_DIMS];
    int64_t nstack;
} cnn_matmul_desc;

/* pad: x contiguous of shape in (rank r) -> y contiguous of shape out; pads[i] before
   and pads[r + i] after axis i (negative: crop first), mode and value as cnn_pad. */
typedef struct cnn_pad_desc {
    int r;
    int in[CNN_MAX_DIMS], out[CNN_MAX_DIMS];
    int pads[2 * CNN_MAX_DIMS];
    cnn_pad_mode mode;
    float value;
} cnn_pad_desc;

/* slice along one axis: x is (outer, d, inner), y (outer, count, inner); y's k-th
   entry along the axis is x's first + k * step. */
typedef struct cnn_slice_desc {
    int64_t outer, d, inner, first, step, count;
} cnn_slice_desc;
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
/* An epilogue's stages by kind (a chain has at most one of each), for a kernel that
   takes them as its own arguments: NULL where e (may be NULL) has no such stage. */
typedef struct cnn_epi_parts {
    const float *scale, *shift; /* AFFINE */
    const float *res;           /* ADD */
    const cnn_act_desc *act;    /* ACT */
} cnn_epi_parts;
static inline cnn_epi_parts cnn_epi_split(const cnn_epilogue *e)
{
    cnn_epi_parts p = {0};
    for (int k = 0; e && k < e->n_stages; k++) {
        const cnn_epi_stage *st = &e->st[k];
        if (st->kind == CNN_EPI_AFFINE) p.scale = st->scale, p.shift = st->shift;
        else if (st->kind == CNN_EPI_ADD) p.res = st->other;
        else if (st->kind == CNN_EPI_ACT) p.act = &st->act;
    }
    return p;
}

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
    /* --- general tensor ops (docs/architecture.md, "General tensor ops") --- */
    /* y = a (op) b over d's index space: a at d->st[0], b at d->st[1], y at d->st[2]
       (overwritten). NaN wins max / min. */
    void (*binary_forward)(cnn_binary_op op, const cnn_nd_desc *d, const float *a, const float *b,
                           float *y);
    /* dx += dy * d y / d operand k (0: a, 1: b); dx at d->st[k], dy at d->st[2]. An
       element of a broadcast operand sums its gradients in index order. max / min
       split a tie equally; pow's d/dexponent is 0 where a == 0 and b >= 0. */
    void (*binary_backward)(cnn_binary_op op, const cnn_nd_desc *d, int k, const float *a,
                            const float *b, const float *y, const float *dy, float *dx);
    /* y[i] = op(x[i]), i < n (overwritten). */
    void (*unary_forward)(cnn_unary_op op, size_t n, const float *x, float *y);
    /* dx[i] += dy[i] * op'(x[i]) (y: the forward's output; abs' is 0 at 0). */
    void (*unary_backward)(cnn_unary_op op, size_t n, const float *x, const float *y,
                           const float *dy, float *dx);
    /* y = mean / sum / max / min of x over the reduced axes (overwritten); sums in
       double, in row-major order of the reduced axes; max / min propagate NaN. */
    void (*reduce_forward)(const cnn_reduce_desc *d, const float *x, float *y);
    /* dx += mean: dy / count, sum: dy, max / min: dy split equally among the elements
       equal to y (none for a NaN result). */
    void (*reduce_backward)(const cnn_reduce_desc *d, const float *x, const float *y,
                            const float *dy, float *dx);
    /* Y = A B per stack (overwritten); each element sums over k in order from 0. */
    void (*matmul_forward)(const cnn_matmul_desc *d, const float *a, const float *b, float *y);
    /* dA += dY B^T per stack (a broadcast A sums its stacks in order). */
    void (*matmul_backward_a)(const cnn_matmul_desc *d, const float *b, const float *dy, float *da);
    /* dB += A^T dY per stack (a broadcast B sums its stacks in order). */
    void (*matmul_backward_b)(const cnn_matmul_desc *d, const float *a, const float *dy, float *db);
    /* y = pad(x) (overwritten). scratch: room for the sum of d->out int64 values. */
    void (*pad_forward)(const cnn_pad_desc *d, const float *x, float *y, void *scratch);
    /* dx += each output's gradient at its source (reflect / edge sources take several,
       in output order); scratch as pad_forward's. */
    void (*pad_backward)(const cnn_pad_desc *d, const float *dy, float *dx, void *scratch);
    /* y = x[:, first::step][:count] along the axis (overwritten). */
    void (*slice_forward)(const cnn_slice_desc *d, const float *x, float *y);
    /* dx[picked] += dy (each picked element once). */
    void (*slice_backward)(const cnn_slice_desc *d, const float *dy, float *dx);
    /* Strided copy, y[at st[1]] = x[at st[0]] over d's index space (a permutation of
       x's strides is a transpose); every element of y written once. */
    void (*transpose_forward)(const cnn_nd_desc *d, const float *x, float *y);
    /* dx[at st[0]] += dy[at st[1]] (each element of dx once). */
    void (*transpose_backward)(const cnn_nd_desc *d, const float *dy, float *dx);

    /* --- channel ops and copies (NC... layouts, plane = elements per channel) --- */
    /* y[r, :] = x[r, :] * s[r] for rows r = (example, channel) < rows. */
    void (*mul_channel_forward)(size_t rows, size_t plane, const float *x, const float *s,
                                float *y);
    /* ds[r] += sum dy[r, :] x[r, :] (double), dx[r, :] += dy[r, :] s[r]; dx / ds may
       be NULL. */
    void (*mul_channel_backward)(size_t rows, size_t plane, const float *x, const float *s,
                                 const float *dy, float *dx, float *ds);
    /* x, y (n, c, plane), s (n, plane): y[b, c, :] = x[b, c, :] * s[b, :]. */
    void (*mul_spatial_forward)(size_t n, size_t c, size_t plane, const float *x, const float *s,
                                float *y);
    /* ds[b, k] += sum_c dy x (double), dx += dy * s; dx / ds may be NULL. */
    void (*mul_spatial_backward)(size_t n, size_t c, size_t plane, const float *x, const float *s,
                                 const float *dy, float *dx, float *ds);
    /* x (n, c, plane) -> y (n, plane): mean over channels (float sum in channel
       order, then / c); overwritten. */
    void (*channel_mean_forward)(size_t n, size_t c, size_t plane, const float *x, float *y);
    /* dx[b, c, :] += dy[b, :] * (1 / c). */
    void (*channel_mean_backward)(size_t n, size_t c, size_t plane, const float *dy, float *dx);
    /* y = max over channels, arg = its channel (first of equals); overwritten. */
    void (*channel_max_forward)(size_t n, size_t c, size_t plane, const float *x, float *y,
                                int32_t *arg);
    /* dx[b, arg, k] += dy[b, k]. */
    void (*channel_max_backward)(size_t n, size_t c, size_t plane, const int32_t *arg,
                                 const float *dy, float *dx);
    /* (n, g * cg, plane): output channel i * g + k = input channel k * cg + i
       (overwritten). */
    void (*channel_shuffle_forward)(size_t n, size_t c, size_t groups, size_t plane, const float *x,
                                    float *y);
    /* dx[k * cg + i] += dy[i * g + k]. */
    void (*channel_shuffle_backward)(size_t n, size_t c, size_t groups, size_t plane,
                                     const float *dy, float *dx);
    /* nb blocks of len floats: dst + i*ds = src + i*ss (overwritten; a block already in
       place, src == dst, is skipped; ss = 0 repeats one block). */
    void (*copy_blocks)(size_t nb, size_t len, const float *src, size_t ss, float *dst, size_t ds);
    /* dst + i*ds += src + i*ss, blocks in order (ds = 0 sums the blocks into one). */
    void (*add_blocks)(size_t nb, size_t len, const float *src, size_t ss, float *dst, size_t ds);
    /* y (n, c, plane): y[b, o, :] += bias[o]. */
    void (*bias_add)(size_t n, size_t c, size_t plane, const float *bias, float *y);
    /* db[o] += sum of dy[:, o, :] (double, examples then positions in order). */
    void (*bias_grad)(size_t n, size_t c, size_t plane, const float *dy, float *db);
    /* --- blocked layout (nChw16c, docs/architecture.md "Blocked layout") ---
       A blocked tensor (N, C, H, W) is (N, ceil(C/16), H, W, 16); the padded lanes of
       the last block are 0 in every input and these kernels keep them 0 (or finite:
       pooling of zeros is zero). The results equal the plain entries' on the same
       values (same arithmetic per channel, in the same order). */
    /* Max / average pooling of d->planes = N * ceil(C/16) blocks of 16 lanes, x and y
       blocked (no argmax: inference only). */
    void (*maxpool2d_blocked_forward)(const cnn_pool_desc *d, const float *x, float *y);
    void (*avgpool2d_blocked_forward)(const cnn_pool_desc *d, const float *x, float *y);
    /* Mean of each channel of blocked x (n, c, hw) into plain y (n, c), as
       global_avgpool_forward. */
    void (*global_avgpool_blocked_forward)(size_t n, size_t c, size_t hw, const float *x, float *y);
    /* y = x * s[b, ch] with x, y blocked (n, c, hw) and s plain (n, c). */
    void (*mul_channel_blocked_forward)(size_t n, size_t c, size_t hw, const float *x, const float *s,
                                        float *y);
    /* Channel copy between layouts (concat, channel shuffle, channel slice): channel
       y0 + k of y (k < cnt) = channel x0 + (k % groups) * cg + k / groups of x, each of
       the n images' `spatial` positions; x has xc channels, y yc, each plain or blocked
       as xb / yb say. The padded lanes of y are not written. */
    void (*channel_copy)(const cnn_chan_copy *d, const float *x, float *y);
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
/* Every entry of cnn_backend, in its order: CNN_BACKEND_ENTRIES(X) expands X(entry) for
   each (ref's table, the fill of a backend's empty entries from ref). A new entry takes
   its line here too. */
#define CNN_BACKEND_ENTRIES(X)        \
    X(conv_scratch)                   \
    X(conv_scratch_forward)           \
    X(conv_forward)                   \
    X(conv_backward_data)             \
    X(conv_backward_weights)          \
    X(gemm)                           \
    X(conv_s8_scratch)                \
    X(conv_forward_s8)                \
    X(maxpool2d_forward)              \
    X(maxpool3d_forward)              \
    X(maxpool_backward)               \
    X(avgpool2d_forward)              \
    X(avgpool2d_backward)             \
    X(adaptive_avgpool2d_forward)     \
    X(adaptive_avgpool2d_backward)    \
    X(global_avgpool_forward)         \
    X(global_avgpool_backward)        \
    X(global_maxpool_forward)         \
    X(global_maxpool_backward)        \
    X(lrn_forward)                    \
    X(lrn_backward)                   \
    X(dropout_forward)                \
    X(dropout_backward)               \
    X(softmax_forward)                \
    X(softmax_backward)               \
    X(cross_entropy_forward)          \
    X(cross_entropy_backward)         \
    X(sgd_step)                       \
    X(adam_step)                      \
    X(binary_forward)                 \
    X(binary_backward)                \
    X(unary_forward)                  \
    X(unary_backward)                 \
    X(reduce_forward)                 \
    X(reduce_backward)                \
    X(matmul_forward)                 \
    X(matmul_backward_a)              \
    X(matmul_backward_b)              \
    X(pad_forward)                    \
    X(pad_backward)                   \
    X(slice_forward)                  \
    X(slice_backward)                 \
    X(transpose_forward)              \
    X(transpose_backward)             \
    X(mul_channel_forward)            \
    X(mul_channel_backward)           \
    X(mul_spatial_forward)            \
    X(mul_spatial_backward)           \
    X(channel_mean_forward)           \
    X(channel_mean_backward)          \
    X(channel_max_forward)            \
    X(channel_max_backward)           \
    X(channel_shuffle_forward)        \
    X(channel_shuffle_backward)       \
    X(copy_blocks)                    \
    X(add_blocks)                     \
    X(bias_add)                       \
    X(bias_grad)                      \
    X(maxpool2d_blocked_forward)      \
    X(avgpool2d_blocked_forward)      \
    X(global_avgpool_blocked_forward) \
    X(mul_channel_blocked_forward)    \
    X(channel_copy)                   \
    X(epilogue)                       \
    X(act_forward)                    \
    X(act_backward)                   \
    X(add_forward)                    \
    X(add_backward)                   \
    X(bn_forward)                     \
    X(bn_backward)                    \
    X(bn_eval_affine)                 \
    X(bn_sync_stats)                  \
    X(bn_sync_apply)                  \
    X(bn_sync_bwd_sums)               \
    X(bn_sync_bwd_apply)

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
   roundings (no contraction into FMAs): y = y + bias[o] (if bias: a float bias, for a
   layer whose bias does not fit the int32 accumulator), y = y * scale[o] (if scale), y = y + shift[o],
   y = y + res (if res: same layout as y), then act: 0 none, 1 relu (y > 0 ? y : 0),
   2 relu6 (y < 0 ? 0 : y, then > 6 ? 6). With q_out > 0 the result is stored as
   int8 instead, cnn_q8(y, q_out), element i at byte i of the output buffer (int8
   activations between int8 layers: q_out is the consumer's input scale, so the
   consumer reads the integers it would have computed itself).
   direct: the requantising store of int8 precision's definition (one multiply-add per
   output): m and bias already hold the output scale, batch norm and activation
   (quant.c folds them), the store is int8 q = clamp(round_half_even(y), q_lo, q_hi)
   of y = (float)acc * m[o] + bias[o] (two roundings, no FMA), for |y| < 2^30 (the
   caller's bound); scale, shift, res, act and q_out are not read. */
typedef struct cnn_s8_epilogue {
    const float *bias, *scale, *shift, *res;
    int act;
    float q_out;
    bool direct;
    float q_lo, q_hi; /* integers, -127 <= q_lo <= q_hi <= 127 */
    /* optional (NULL: a kernel that needs it computes it): per output channel the sum
       of its int8 weights, a constant of the layer (cpu's unsigned-input kernels) */
    const int32_t *wsum;
} cnn_s8_epilogue;
/* Applies ep to the output y of convolution c (reference code, every plane); with
   ep->q_out > 0 then requantises y in place into int8 (cnn_quantize_s8_inplace). */
void cnn_s8_epilogue_apply(const cnn_conv_desc *c, const cnn_s8_epilogue *ep, float *y);
/* q[i] = cnn_q8(y[i], s) for i < n, written over y itself (byte i of the buffer), in
   increasing order on one thread: each store lands on floats already read. */
void cnn_quantize_s8_inplace(float *y, size_t n, float s);

extern const cnn_backend cnn_backend_ref;
/* The backend in use (CNN_BACKEND env var or cnn_set_backend; default the fastest),
   resolved: an entry the backend leaves NULL is ref's, so every entry can be called. */
const cnn_backend *cnn_backend_get(void);
/* Name of the backend whose code entry F of the table in use runs ("ref" where the
   backend left it to ref), e.g. for `cnn bench --layers`. */
#define cnn_backend_provider(F) \
    (cnn_backend_get()->F == cnn_backend_ref.F ? cnn_backend_ref.name : cnn_backend_get()->name)
/* Which kernel conv_forward of the table in use runs for c, as a short name ("cpu dw",
   "dnnl wino/16c", "ref"...), for `cnn bench --layers`. */
const char *cnn_backend_conv_kernel(const cnn_conv_desc *c);
/* Blocked layout (docs/architecture.md, "Blocked layout"): a planned graph may keep
   a tensor (N, C, H, W) as nChw16c, (N, C/16, H, W, 16), between convolutions that the
   backend in use runs on it directly. cnn_blocked_width(): 16 when it can, else 0. */
int cnn_blocked_width(void);
/* What a convolution forward applies to its output while it is hot: y = act((y *
   scale + shift) + res), each part optional; scale/shift per channel, res in y's
   layout, act elementwise over n floats (any layout). */
typedef struct cnn_blocked_epi {
    const float *scale, *shift;
    const float *res;
    void (*act)(const void *arg, float *y, size_t n);
    const void *act_arg;
    /* the activation act applies, where it is one (NULL: only act says): a kernel may
       then apply it to its registers before the store instead of calling act */
    const cnn_act_desc *act_desc;
    /* Not an output stage: a squeeze-and-excitation gate applied to x as it is read,
       y = conv(x * gate) with gate (N, C_in) plain, x (blocked) times gate[n][c] per
       image and input channel, the mul_channel op's own multiplication
       (docs/architecture.md, "Blocked layout"). NULL: none. Only blocked 1x1
       convolutions take one (else cnn_conv_forward_blocked returns false). */
    const float *gate;
} cnn_blocked_epi;
/* Channels off the 16 grid: the last block of each image's (N, ceil(C/16), S, 16)
   tensor holds C % 16 real lanes, the others are 0 (every blocked kernel keeps them 0
   or writes them 0). cnn_blocked_zero_tail sets them to 0 again. */
void cnn_blocked_zero_tail(int n, int c, size_t spatial, float *y);
static inline size_t cnn_blocked_c(size_t c) { return (c + 15) / 16 * 16; }
/* Whether conv c can read and write blocked tensors (*depthwise: it then must do both;
   a dense one may have either side plain). */
bool cnn_conv_blocked_ok(const cnn_conv_desc *c, bool *depthwise);
/* Whether conv c, x and y blocked, should take an SE gate on x (epi->gate): it can,
   and that measured faster than the gate's own pass. */
bool cnn_conv_blocked_gate_use(const cnn_conv_desc *c);
/* y = epilogue(conv(x, w) + b) with x / y blocked as flagged; epi (NULL: none) only
   with a blocked y (a plain y takes the plain epilogue). wgen: the graph's constant
   weights generation (cnn_graph_set_const_weights; 0: w may have changed since the
   last call), under which the backend may keep w packed. Returns false when the
   backend cannot (the caller reports it). */
bool cnn_conv_forward_blocked(const cnn_conv_desc *c, const float *x, bool x_blocked,
                              const float *w, const float *b, float *y, bool y_blocked,
                              const cnn_blocked_epi *epi, void *scratch, uint64_t wgen);
/* Frees what the backend kept packed for weights in [lo, lo + bytes) (a graph with
   constant weights being freed). */
void cnn_conv_forget_kept(const void *lo, size_t bytes);
/* Which kernel runs a blocked conv ("cpu dw", "dnnl", "dnnl wino"), for cnn bench. */
const char *cnn_conv_blocked_kernel(const cnn_conv_desc *c);
/* ... with x / y blocked as flagged ("cpu pw": the own 1x1 kernel, y blocked only),
   under constant weights generation wgen (0 none) as cnn_conv_forward_blocked. */
const char *cnn_conv_blocked_kernel_io(const cnn_conv_desc *c, bool x_blocked, bool y_blocked, uint64_t wgen);
/* Scratch bytes enough for this convolution on every compiled-in backend. */
size_t cnn_conv_scratch_bytes(const cnn_conv_desc *c);
/* ... for conv_forward_s8 (int8 inference). */
size_t cnn_conv_s8_scratch_bytes(const cnn_conv_desc *c);
/* ... for conv_forward alone (what an inference pass needs). */
size_t cnn_conv_scratch_forward_bytes(const cnn_conv_desc *c);
#endif

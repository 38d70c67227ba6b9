/* The cpu backend's optimizer updates (docs/architecture.md, "Kernels"): segments
   shared out by the pool (one segment a chunk), each update loop specialised per option so it
   vectorises (cloned for AVX-512 / AVX2 / baseline). Element-wise, with ref's operations in ref's
   order: the results are ref's and do not depend on the thread count. */
#include "../../core/clones.h"
#include <math.h>
#include <stdbool.h>

#include "../../core/pool.h"
#include "cpu_internal.h"

#define INLINE static inline __attribute__((always_inline))

/* torch.optim.SGD on n elements; the flags are constants at each call below, so every
   combination is its own branch-free loop. */
INLINE void sgd_loop(float *restrict w, const float *restrict gr, float *restrict buf, size_t n,
                     float lr, float wd, float m, bool has_wd, bool has_buf, bool first,
                     bool nesterov)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float d = gr[i];
        if (has_wd) d += wd * w[i];
        if (has_buf) {
            float b = first ? d : m * buf[i] + d; /* dampening 0 */
            buf[i] = b;
            d = nesterov ? d + m * b : b;
        }
        w[i] -= lr * d;
    }
}

CNN_CLONES static void sgd_chunk(float *restrict w, const float *restrict gr, float *restrict buf,
                                 size_t n, float lr, float wd, float m, bool first, bool nesterov)
{
    if (!buf) {
        if (wd != 0.0f)
            sgd_loop(w, gr, NULL, n, lr, wd, m, true, false, false, false);
        else
            sgd_loop(w, gr, NULL, n, lr, wd, m, false, false, false, false);
    } else if (wd != 0.0f) {
        if (first) {
            if (nesterov)
                sgd_loop(w, gr, buf, n, lr, wd, m, true, true, true, true);
            else
                sgd_loop(w, gr, buf, n, lr, wd, m, true, true, true, false);
        } else {
            if (nesterov)
                sgd_loop(w, gr, buf, n, lr, wd, m, true, true, false, true);
            else
                sgd_loop(w, gr, buf, n, lr, wd, m, true, true, false, false);
        }
    } else {
        if (first) {
            if (nesterov)
                sgd_loop(w, gr, buf, n, lr, wd, m, false, true, true, true);
            else
                sgd_loop(w, gr, buf, n, lr, wd, m, false, true, true, false);
        } else {
            if (nesterov)
                sgd_loop(w, gr, buf, n, lr, wd, m, false, true, false, true);
            else
                sgd_loop(w, gr, buf, n, lr, wd, m, false, true, false, false);
        }
    }
}

typedef struct {
    const cnn_optim_seg *seg;
    const cnn_optim_hyper *h;
} optim_args;

static void sgd_seg(void *ctx, long c, int slot)
{
    (void)slot;
    const optim_args *p = ctx;
    const cnn_optim_seg *seg = p->seg;
    const cnn_optim_hyper *h = p->h;
    sgd_chunk(seg[c].w, seg[c].g, seg[c].m, seg[c].n, h->lr, h->wd, h->momentum, h->first,
              h->nesterov);
}

void cnn_cpu_sgd_step(const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h)
{
    size_t numel = 0;
    for (int c = 0; c < n_seg; c++)
        numel += seg[c].n;
    optim_args p = {seg, h};
    cnn_parallel_for_n(n_seg, cnn_threads_for((double)numel), sgd_seg, &p);
}

/* torch.optim.Adam / AdamW on n elements (sqrtf keeps this loop scalar: without
   -fno-math-errno gcc does not vectorise it; the threads still share the chunks). */
INLINE void adam_loop(float *restrict w, const float *restrict gr, float *restrict m,
                      float *restrict v, size_t n, float wd, float b1, float b2, float eps,
                      float step_size, float bc2_sqrt, float decay, bool decoupled, bool has_wd)
{
    for (size_t i = 0; i < n; i++) {
        float gi = gr[i];
        if (decoupled) {
            if (has_wd) w[i] *= decay;
        } else if (has_wd) {
            gi += wd * w[i];
        }
        m[i] = m[i] * b1 + (1.0f - b1) * gi;
        v[i] = v[i] * b2 + (1.0f - b2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] -= step_size * (m[i] / denom);
    }
}

CNN_CLONES static void adam_chunk(float *restrict w, const float *restrict gr, float *restrict m,
                                  float *restrict v, size_t n, float wd, float b1, float b2,
                                  float eps, float step_size, float bc2_sqrt, float decay,
                                  bool decoupled)
{
    if (wd == 0.0f)
        adam_loop(w, gr, m, v, n, wd, b1, b2, eps, step_size, bc2_sqrt, decay, false, false);
    else if (decoupled)
        adam_loop(w, gr, m, v, n, wd, b1, b2, eps, step_size, bc2_sqrt, decay, true, true);
    else
        adam_loop(w, gr, m, v, n, wd, b1, b2, eps, step_size, bc2_sqrt, decay, false, true);
}

static void adam_seg(void *ctx, long c, int slot)
{
    (void)slot;
    const optim_args *p = ctx;
    const cnn_optim_seg *seg = p->seg;
    const cnn_optim_hyper *h = p->h;
    adam_chunk(seg[c].w, seg[c].g, seg[c].m, seg[c].v, seg[c].n, h->wd, h->b1, h->b2, h->eps,
               h->step_size, h->bc2_sqrt, h->decay, h->decoupled);
}

void cnn_cpu_adam_step(const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h)
{
    size_t numel = 0;
    for (int c = 0; c < n_seg; c++)
        numel += seg[c].n;
    optim_args p = {seg, h};
    cnn_parallel_for_n(n_seg, cnn_threads_for((double)numel), adam_seg, &p);
}

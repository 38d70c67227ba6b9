/* The cpu backend's softmax: rows in parallel (the pool, one row a chunk), each by
   ref's kernel, so the values are ref's to the bit (docs/architecture.md, "Kernels"). */
#include "../../core/pool.h"
#include "../ref/ref.h"
#include "cpu_internal.h"

typedef struct {
    int64_t K, S;
    bool log_;
    const float *x, *y, *dy;
    float *out;
} softmax_args;

static void softmax_fwd_row(void *ctx, long i, int slot)
{
    (void)slot;
    const softmax_args *a = ctx;
    cnn_ref_softmax_forward(1, a->K, a->S, a->log_, a->x + i * a->K * a->S,
                            a->out + i * a->K * a->S);
}

static void softmax_bwd_row(void *ctx, long i, int slot)
{
    (void)slot;
    const softmax_args *a = ctx;
    size_t o = (size_t)i * (size_t)(a->K * a->S);
    cnn_ref_softmax_backward(1, a->K, a->S, a->log_, a->y + o, a->dy + o, a->out + o);
}

void cnn_cpu_softmax_forward(int64_t outer, int64_t K, int64_t S, bool log_, const float *x,
                             float *y)
{
    softmax_args a = {K, S, log_, x, NULL, NULL, y};
    cnn_parallel_for_n((long)outer, cnn_threads_for((double)(size_t)(outer * K * S) * 8), softmax_fwd_row,
                       &a);
}

void cnn_cpu_softmax_backward(int64_t outer, int64_t K, int64_t S, bool log_, const float *y,
                              const float *dy, float *dx)
{
    softmax_args a = {K, S, log_, NULL, y, dy, dx};
    cnn_parallel_for_n((long)outer, cnn_threads_for((double)(size_t)(outer * K * S) * 8), softmax_bwd_row,
                       &a);
}

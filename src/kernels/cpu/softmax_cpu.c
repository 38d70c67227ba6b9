/* The cpu backend's softmax: rows in parallel (OpenMP), each by ref's kernel, so the
   values are ref's to the bit (docs/architecture.md, "Kernels"). */
#include "../ref/ref.h"
#include "cpu_internal.h"

void cnn_cpu_softmax_forward(int64_t outer, int64_t K, int64_t S, bool log_, const float *x,
                             float *y)
{
#pragma omp parallel for schedule(static) num_threads(cnn_cpu_threads((size_t)(outer * K * S) * 8))
    for (int64_t i = 0; i < outer; i++)
        cnn_ref_softmax_forward(1, K, S, log_, x + i * K * S, y + i * K * S);
}

void cnn_cpu_softmax_backward(int64_t outer, int64_t K, int64_t S, bool log_, const float *y,
                              const float *dy, float *dx)
{
#pragma omp parallel for schedule(static) num_threads(cnn_cpu_threads((size_t)(outer * K * S) * 8))
    for (int64_t i = 0; i < outer; i++)
        cnn_ref_softmax_backward(1, K, S, log_, y + i * K * S, dy + i * K * S, dx + i * K * S);
}

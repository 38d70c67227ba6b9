/* Element-wise add and its gradient. Memory-bound: chunks shared among threads
   (element-wise, so the results do not depend on the thread count), loops cloned for
   AVX-512 / AVX2 / baseline; backward reads dy once for both inputs. */
#include "../../core/clones.h"

#include "../../ops/ops_common.h"
#include "cpu_internal.h"

/* elements per parallel work item */
#define CHUNK ((size_t)16384)

/* may run in place (y == a or b: a fused chain run unfused): no restrict */
CNN_CLONES static void add_chunk(const float *a, const float *b, float *y, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* da += dy and db += dy (either may be NULL) in one pass; da == db (x + x) adds twice
   in the same order as two separate passes would. */
CNN_CLONES static void add_grad_chunk(const float *restrict dy, float *da, float *db, size_t n)
{
    if (da && db && da == db) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) da[i] = (da[i] + dy[i]) + dy[i];
    } else if (da && db) {
        float *restrict pa = da, *restrict pb = db;
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            pa[i] += dy[i];
            pb[i] += dy[i];
        }
    } else {
        float *restrict p = da ? da : db;
#pragma omp simd
        for (size_t i = 0; i < n; i++) p[i] += dy[i];
    }
}

void cnn_cpu_add_forward(const float *a, const float *b, float *y, size_t len)
{
    long nch = (long)((len + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(len))
    for (long c = 0; c < nch; c++) {
        size_t o = (size_t)c * CHUNK;
        add_chunk(a + o, b + o, y + o, len - o < CHUNK ? len - o : CHUNK);
    }
}

void cnn_cpu_add_backward(const float *dy, float *da, float *db, size_t len)
{
    if (!da && !db) return;
    long nch = (long)((len + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(len))
    for (long c = 0; c < nch; c++) {
        size_t o = (size_t)c * CHUNK;
        add_grad_chunk(dy + o, da ? da + o : NULL, db ? db + o : NULL,
                       len - o < CHUNK ? len - o : CHUNK);
    }
}

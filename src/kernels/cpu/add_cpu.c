/* Element-wise add and its gradient. Memory-bound: chunks shared among threads (the pool)
   (element-wise, so the results do not depend on the thread count), loops cloned for
   AVX-512 / AVX2 / baseline; backward reads dy once for both inputs. */
#include "../../core/clones.h"

#include "../../core/pool.h"
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

typedef struct {
    const float *a, *b;
    float *y, *da, *db;
    size_t len;
} add_args;

static void add_fwd_chunk(void *ctx, long c, int slot)
{
    (void)slot;
    const add_args *p = ctx;
    size_t o = (size_t)c * CHUNK, len = p->len;
    add_chunk(p->a + o, p->b + o, p->y + o, len - o < CHUNK ? len - o : CHUNK);
}

static void add_bwd_chunk(void *ctx, long c, int slot)
{
    (void)slot;
    const add_args *p = ctx;
    size_t o = (size_t)c * CHUNK, len = p->len;
    add_grad_chunk(p->a + o, p->da ? p->da + o : NULL, p->db ? p->db + o : NULL,
                   len - o < CHUNK ? len - o : CHUNK);
}

void cnn_cpu_add_forward(const float *a, const float *b, float *y, size_t len)
{
    long nch = (long)((len + CHUNK - 1) / CHUNK);
    add_args p = {a, b, y, NULL, NULL, len};
    cnn_parallel_for_n(nch, cnn_threads_for((double)len), add_fwd_chunk, &p);
}

void cnn_cpu_add_backward(const float *dy, float *da, float *db, size_t len)
{
    if (!da && !db) return;
    long nch = (long)((len + CHUNK - 1) / CHUNK);
    add_args p = {dy, NULL, NULL, da, db, len};
    cnn_parallel_for_n(nch, cnn_threads_for((double)len), add_bwd_chunk, &p);
}

/* The library's own thread pool (docs/architecture.md, "Threads on a busy machine").
   Internal to libcnn: the cpu kernels run their parallel loops through it. */
#ifndef CNN_CORE_POOL_H
#define CNN_CORE_POOL_H
#include <stdbool.h>

/* One chunk of a parallel loop. slot identifies the thread running it for per-thread
   buffers: within one cnn_parallel_for call, chunks that run at the same time have
   different slots, all below the call's thread count. A chunk's result must not depend
   on its slot or on which other chunks ran before it (deterministic results: a
   reduction keeps one partial per chunk and combines them in chunk order). */
typedef void (*cnn_chunk_fn)(void *ctx, long chunk, int slot);

/* Defines `name`, a cnn_chunk_fn for a chunk that needs no slot (no per-thread
   buffer), with the body that follows the macro; the body sees the loop's context as
   `const type *arg` and the chunk as `long idx`:
       typedef struct { const float *x; float *y; } half_args;
       CNN_POOL_ITEM(half_chunk, half_args, a, i) { a->y[i] = a->x[i] / 2; }
       ... cnn_parallel_for(n, half_chunk, &(half_args){x, y});
   (a chunk that uses its slot is written as a cnn_chunk_fn itself) */
#define CNN_POOL_ITEM(name, type, arg, idx)                            \
    static void name##_body(const type *arg, long idx);                \
    static void name(void *ctx_, long idx_, int slot_)                 \
    {                                                                  \
        (void)slot_;                                                   \
        name##_body((const type *)ctx_, idx_);                         \
    }                                                                  \
    static void name##_body(const type *arg, long idx)

/* Runs fn(ctx, i, slot) once for every i in [0, n_chunks) on up to `threads` threads,
   the caller's included (threads <= 0: cnn_get_threads()), and returns when every
   chunk is done. Chunks are claimed one at a time from a shared counter: a thread the
   scheduler has not run yet costs nothing, the others take its chunks. Runs inline
   (slot 0, in order) when threads or n_chunks is 1, from inside a chunk, or while
   another thread of the program is in a call. */
void cnn_parallel_for_n(long n_chunks, int threads, cnn_chunk_fn fn, void *ctx);
static inline void cnn_parallel_for(long n_chunks, cnn_chunk_fn fn, void *ctx)
{
    cnn_parallel_for_n(n_chunks, 0, fn, ctx);
}

/* Loops over ranges: fn(ctx, lo, hi, slot) for consecutive ranges [lo, hi) covering
   [0, n), each at least `grain` long (except the last); the ranges depend only on n and
   grain, never on the thread count. Runs inline, one range, when n < 2 * grain. */
typedef void (*cnn_range_fn)(void *ctx, long lo, long hi, int slot);
void cnn_parallel_range(long n, long grain, int threads, cnn_range_fn fn, void *ctx);

/* Threads the pool runs with for threads <= 0 (cnn_get_threads(), capped at
   CNN_POOL_MAX_THREADS). */
#define CNN_POOL_MAX_THREADS 256
int cnn_pool_threads(void);

/* The thread-count policy of the cpu kernels, the one place it is decided
   (docs/architecture.md, "Threads on a busy machine"): the threads for a loop of `work`
   units, one unit being about one element of an element-wise loop. Below
   CNN_PAR_MIN_WORK units the loop runs on the caller alone (waking and synchronising a
   second thread costs more than it saves: LeNet's small tensors), otherwise on
   cnn_pool_threads(). Kernels whose unit of work costs more or less than an element
   scale it by its weight below. The answer depends only on `work` and the configured
   thread count, never on the machine's load, so a kernel may derive its chunking from
   it and stay deterministic. */
#define CNN_PAR_MIN_WORK 65536.0
/* weights: a GEMM multiply-add (parallel from 1e5 of them) and a multiply-add of the
   thin convolution (from 1e6: its per-thread buffers cost more to fill) */
#define CNN_WORK_GEMM_MAC (CNN_PAR_MIN_WORK / 1e5)
#define CNN_WORK_CONV_MAC (CNN_PAR_MIN_WORK / 1e6)
int cnn_threads_for(double work);
/* The most threads a kernel sizes per-thread scratch for: the processors OpenMP sees (1
   without OpenMP); and the configured count (cnn_get_threads) capped by it, >= 1: the
   threads of a loop that indexes that scratch by thread. */
int cnn_threads_max(void);
int cnn_threads_capped(void);

/* Whether the pool found the machine busy (helpers late for long loops), in which case
   loops run on the pool's own threads instead of the OpenMP team; cnn_pool_reset_load
   forgets it (cnn_set_threads calls it). docs/architecture.md, "Threads on a busy
   machine". */
bool cnn_pool_machine_busy(void);
void cnn_pool_reset_load(void);
/* For tests and benchmarks: 1 runs every loop as on a busy machine (own threads), 0
   as on a quiet one (the OpenMP team), -1 lets the detector choose (the default). */
void cnn_pool_force_busy(int busy);

/* Worker spin time before sleeping, in microseconds (CNN_POOL_SPIN_US overrides the
   default; 0: sleep at once). For benchmarks and tests. */
void cnn_pool_set_spin_us(int us);
#endif

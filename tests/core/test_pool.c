/* core: the thread pool (src/core/pool.c), each case in both modes (the OpenMP team of
   a quiet machine, the own threads of a busy one). Every chunk runs exactly once, on a slot
   below the call's thread count that no other chunk holds at the same time; ranges
   cover [0, n) and depend only on n and grain; per-chunk partials combined in chunk
   order give the same bits for every thread count; nested calls and calls from two
   threads at once run (inline) and finish; the sleeping path (no spinning) loses no
   wake-up over many short loops; a chunk that blocks one thread does not stop the
   others from finishing every other chunk. The one thread-count policy
   (cnn_threads_for): one thread below its threshold, the configured count from it, the
   same answer on a busy machine. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/pool.h"
#include "testutil.h"

#define MAXN 5000

typedef struct {
    _Atomic int hits[MAXN];
    _Atomic int in_use[CNN_POOL_MAX_THREADS];
    _Atomic int bad_slot, overlap;
    int threads;
} count_ctx;

static void count_chunk(void *p, long i, int slot)
{
    count_ctx *c = p;
    if (slot < 0 || slot >= c->threads) {
        atomic_store(&c->bad_slot, 1);
        return;
    }
    if (atomic_exchange(&c->in_use[slot], 1)) atomic_store(&c->overlap, 1);
    atomic_fetch_add(&c->hits[i], 1);
    /* a little work so that chunks overlap in time */
    volatile float s = 0;
    for (int k = 0; k < 200; k++) s += (float)k;
    atomic_store(&c->in_use[slot], 0);
}

static void check_counts(long n, int threads)
{
    static count_ctx c;
    memset(&c, 0, sizeof c);
    c.threads = threads;
    cnn_parallel_for_n(n, threads, count_chunk, &c);
    for (long i = 0; i < n; i++)
        if (atomic_load(&c.hits[i]) != 1) fail_msg("n %ld threads %d: chunk %ld ran %d times", n, threads, i, atomic_load(&c.hits[i]));
    assert_int_equal(atomic_load(&c.bad_slot), 0);
    assert_int_equal(atomic_load(&c.overlap), 0);
}

static void test_every_chunk_once(void **state)
{
    (void)state;
    const long ns[] = {1, 2, 3, 7, 64, 1000, MAXN};
    const int ts[] = {1, 2, 3, 4, 8};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof ts / sizeof *ts; b++) check_counts(ns[a], ts[b]);
    /* many short loops back to back: no chunk lost or run twice between loops (the
       own threads' claim word; on the OpenMP team each loop is a region of its own,
       slow where the cores are oversubscribed) */
    int loops = !cnn_pool_machine_busy() ? 200 : tu_quick() ? 2000 : 20000;
    for (int r = 0; r < loops; r++) check_counts(1 + r % 9, 2 + r % 3);
    cnn_parallel_for_n(0, 2, count_chunk, NULL); /* nothing to do: returns at once */
}

/* The sleeping path: spin 0, so every worker sleeps after each loop and must be woken. */
static void test_no_spin(void **state)
{
    (void)state;
    cnn_pool_set_spin_us(0);
    int loops = !cnn_pool_machine_busy() ? 200 : tu_quick() ? 2000 : 10000;
    for (int r = 0; r < loops; r++) check_counts(2 + r % 5, 2 + r % 2);
    cnn_pool_set_spin_us(-1);
}

typedef struct {
    long n, grain;
    _Atomic long covered;
    long lo[1100], hi[1100];
    _Atomic int count;
} range_ctx_t;

static void record_range(void *p, long lo, long hi, int slot)
{
    range_ctx_t *r = p;
    int k = atomic_fetch_add(&r->count, 1);
    if (k < 1100) {
        r->lo[k] = lo;
        r->hi[k] = hi;
    }
    atomic_fetch_add(&r->covered, hi - lo);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void test_ranges(void **state)
{
    (void)state;
    const long ns[] = {1, 5, 31, 32, 100, 4097, 1000000};
    const long gs[] = {1, 16, 1000};
    static range_ctx_t r;
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof gs / sizeof *gs; b++) {
            long first[1100], count1 = -1;
            for (int t = 1; t <= 4; t++) {
                memset(&r, 0, sizeof r);
                cnn_parallel_range(ns[a], gs[b], t, record_range, &r);
                int k = atomic_load(&r.count);
                assert_true(k >= 1 && k <= 1024);
                assert_int_equal(atomic_load(&r.covered), ns[a]);
                long los[1100];
                for (int i = 0; i < k; i++) {
                    los[i] = r.lo[i];
                    /* each range at least grain long, unless it is the only one */
                    if (k > 1) assert_true(r.hi[i] - r.lo[i] >= gs[b]);
                }
                qsort(los, (size_t)k, sizeof *los, cmp_long);
                /* the same ranges whatever the thread count */
                if (count1 < 0) {
                    count1 = k;
                    memcpy(first, los, sizeof(long) * (size_t)k);
                } else {
                    assert_int_equal(k, count1);
                    assert_memory_equal(los, first, sizeof(long) * (size_t)k);
                }
            }
        }
}

/* A reduction as the kernels do it: one partial per chunk, combined in chunk order. */
typedef struct {
    const float *x;
    long n, chunks;
    float part[64];
} sum_ctx;

static void sum_chunk(void *p, long i, int slot)
{
    sum_ctx *s = p;
    float acc = 0;
    for (long k = s->n * i / s->chunks; k < s->n * (i + 1) / s->chunks; k++) acc += s->x[k];
    s->part[i] = acc;
}

static void test_deterministic_sum(void **state)
{
    (void)state;
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x);
    assert_non_null(x);
    unsigned v = 12345;
    for (long k = 0; k < N; k++) {
        v = v * 1103515245u + 12345u;
        x[k] = (float)((v >> 8) & 0xffff) / 977.0f - 30.0f;
    }
    float want = 0;
    for (int t = 1; t <= 6; t++)
        for (int rep = 0; rep < 20; rep++) {
            sum_ctx s = {.x = x, .n = N, .chunks = 64};
            cnn_parallel_for_n(s.chunks, t, sum_chunk, &s);
            float tot = 0;
            for (int i = 0; i < 64; i++) tot += s.part[i];
            if (t == 1 && rep == 0) want = tot;
            assert_memory_equal(&tot, &want, sizeof tot);
        }
    free(x);
}

/* Nested: a chunk that starts a loop of its own; it runs inline (slot 0, in order). */
typedef struct {
    _Atomic int inner_hits;
    _Atomic int inner_bad;
} nest_ctx;

static void inner_chunk(void *p, long i, int slot)
{
    nest_ctx *c = p;
    if (slot != 0) atomic_store(&c->inner_bad, 1);
    atomic_fetch_add(&c->inner_hits, 1);
}

static void outer_chunk(void *p, long i, int slot)
{
    cnn_parallel_for_n(10, 4, inner_chunk, p);
}

static void test_nested(void **state)
{
    (void)state;
    nest_ctx c;
    atomic_init(&c.inner_hits, 0);
    atomic_init(&c.inner_bad, 0);
    cnn_parallel_for_n(16, 2, outer_chunk, &c);
    assert_int_equal(atomic_load(&c.inner_hits), 160);
    assert_int_equal(atomic_load(&c.inner_bad), 0);
}

/* Two program threads calling at once: one gets the pool, the other runs inline. */
static void *caller_thread(void *arg)
{
    int *ok = arg;
    static count_ctx cs[2];
    count_ctx *c = &cs[*ok];
    *ok = 1;
    for (int r = 0; r < 300; r++) {
        memset(c, 0, sizeof *c);
        c->threads = 3;
        cnn_parallel_for_n(257, 3, count_chunk, c);
        for (int i = 0; i < 257; i++)
            if (atomic_load(&c->hits[i]) != 1) *ok = 0;
        if (atomic_load(&c->bad_slot) || atomic_load(&c->overlap)) *ok = 0;
    }
    return NULL;
}

static void test_two_callers(void **state)
{
    (void)state;
    pthread_t t[2];
    int ok[2] = {0, 1};
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, caller_thread, &ok[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(ok[0], 1);
    assert_int_equal(ok[1], 1);
}

/* A chunk that holds its thread for 300 ms (as a thread whose core another process
   took): the other threads finish every other chunk meanwhile; the call returns when
   that chunk is done. */
typedef struct {
    _Atomic int done;
    _Atomic long blocked_chunk;
    _Atomic int others_before;
} block_ctx;

static void block_chunk(void *p, long i, int slot)
{
    block_ctx *b = p;
    long expect = -1;
    if (atomic_compare_exchange_strong(&b->blocked_chunk, &expect, i)) {
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
        atomic_store(&b->others_before, atomic_load(&b->done));
    }
    atomic_fetch_add(&b->done, 1);
}

static void test_blocked_thread(void **state)
{
    (void)state;
    block_ctx b;
    atomic_init(&b.done, 0);
    atomic_init(&b.blocked_chunk, -1);
    atomic_init(&b.others_before, 0);
    cnn_parallel_for_n(100, 2, block_chunk, &b);
    assert_int_equal(atomic_load(&b.done), 100);
    /* the 99 others ran while the first chunk's thread slept */
    assert_int_equal(atomic_load(&b.others_before), 99);
}

static int quiet_mode(void **state)
{
    (void)state;
    cnn_pool_force_busy(0);
    return 0;
}

static int busy_mode(void **state)
{
    (void)state;
    cnn_pool_force_busy(1);
    return 0;
}

static int auto_mode(void **state)
{
    (void)state;
    cnn_pool_force_busy(-1);
    return 0;
}

/* The mode switch itself. */
static void test_modes(void **state)
{
    (void)state;
    cnn_pool_force_busy(1);
    assert_true(cnn_pool_machine_busy());
    check_counts(100, 3);
    cnn_set_threads(cnn_get_threads()); /* resets the detector, not a forced mode */
    assert_true(cnn_pool_machine_busy());
    cnn_pool_force_busy(0);
    assert_false(cnn_pool_machine_busy());
    check_counts(100, 3);
    cnn_pool_force_busy(-1);
    assert_false(cnn_pool_machine_busy());
}

/* The thread-count policy: thresholds of each kind of work, the configured count,
   never the load. */
static void test_thread_policy(void **state)
{
    (void)state;
    int saved = cnn_get_threads();
    for (int t = 1; t <= 3; t++) {
        cnn_set_threads(t);
        int want = cnn_get_threads(); /* 1 in a build without OpenMP */
        for (int busy = 0; busy <= 1; busy++) {
            cnn_pool_force_busy(busy);
            assert_int_equal(cnn_threads_for(0), 1);
            assert_int_equal(cnn_threads_for(-5), 1);
            assert_int_equal(cnn_threads_for(65535), 1);
            assert_int_equal(cnn_threads_for(65536), want);
            assert_int_equal(cnn_threads_for(1e12), want);
            /* element-wise loops from 64k elements, GEMM from 1e5 multiply-adds, the
               thin convolution from 1e6 */
            assert_int_equal(cnn_threads_for(0.99e5 * CNN_WORK_GEMM_MAC), 1);
            assert_int_equal(cnn_threads_for(1.01e5 * CNN_WORK_GEMM_MAC), want);
            assert_int_equal(cnn_threads_for(0.99e6 * CNN_WORK_CONV_MAC), 1);
            assert_int_equal(cnn_threads_for(1.01e6 * CNN_WORK_CONV_MAC), want);
        }
        cnn_pool_force_busy(-1);
    }
    cnn_set_threads(saved);
}

#define BOTH(f) cmocka_unit_test_setup_teardown(f, quiet_mode, auto_mode), \
                cmocka_unit_test_setup_teardown(f, busy_mode, auto_mode)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_every_chunk_once),
        BOTH(test_no_spin),
        BOTH(test_ranges),
        BOTH(test_deterministic_sum),
        BOTH(test_nested),
        BOTH(test_two_callers),
        BOTH(test_blocked_thread),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_thread_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

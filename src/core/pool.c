/* Parallel loops of the cpu kernels (docs/architecture.md, "Threads on a busy
   machine"). A loop is a count of chunks that threads claim one at a time, so no chunk
   is tied to a thread. It runs one of two ways, chosen by a load detector (further
   down):
   - quiet machine: on the OpenMP team, the one oneDNN uses too, so no second set of
     threads competes for the cores;
   - busy machine: on the library's own threads. The loop is published as one 64-bit
     word, (threads << 32) | chunks left; every thread (the caller first) claims the next chunk with a compare-and-swap, and the
     caller returns when the count of unfinished chunks reaches zero. Nobody waits for
     a thread to arrive: a worker that the scheduler has not run yet, because other
     processes hold the cores, finds no chunk left when it runs and goes back to
     sleep, so a loop costs what the threads that did run need, not a barrier that
     waits for the slowest. Idle workers spin for a bounded time, yielding the core
     to any runnable thread, then sleep on a futex; the caller waits the same way for
     chunks still running elsewhere. */
#include "pool.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <stdbool.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "cnn.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* Own threads' spin before sleeping. They run only on a busy machine, where a thread
   that spins spends the time slice it then lacks for its chunks: LeNet training beside
   six busy processes ran as fast with 0, 50 or 2000 us, so a short spin that bridges
   back-to-back loops. The spinning yields the core to any runnable thread. */
#define DEFAULT_SPIN_US 100

static struct {
    _Atomic uint64_t claim;   /* (threads << 32) | chunks not yet claimed */
    _Atomic uint32_t pending; /* chunks not finished: the caller's futex word */
    _Atomic uint32_t seq;     /* bumped per loop: the workers' futex word */
    _Atomic int sleepers;     /* workers asleep (or about to be) on seq */
    _Atomic int caller_waits; /* the caller is asleep (or about to be) on pending */
    _Atomic int busy;         /* a call is in progress */
    _Atomic int stop;         /* at exit */
    _Atomic int spin_us;
    /* the loop, written by the caller before it publishes claim, read by a worker
       only after it claimed a chunk of that loop (so never while being rewritten) */
    cnn_chunk_fn fn;
    void *ctx;
    long n;
    int nworkers;
    pthread_t tid[CNN_POOL_MAX_THREADS];
} P = {.spin_us = -1};

/* inside a chunk (or a worker): a nested call runs inline */
static _Thread_local int tl_inside;

#ifdef __linux__
static void wait_on(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void wake_on(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
#else
/* elsewhere one mutex and condition variable stand in for the futex */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static void wait_on(_Atomic uint32_t *addr, uint32_t val)
{
    pthread_mutex_lock(&g_mu);
    if (atomic_load(addr) == val) pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

static void wake_on(_Atomic uint32_t *addr, int n)
{
    (void)addr;
    (void)n;
    pthread_mutex_lock(&g_mu);
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}
#endif

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int spin_us(void)
{
    int s = atomic_load_explicit(&P.spin_us, memory_order_relaxed);
    if (s >= 0) return s;
    const char *e = getenv("CNN_POOL_SPIN_US");
    char *end = NULL;
    long v = e && *e ? strtol(e, &end, 10) : -1;
    s = e && *e && !*end && v >= 0 && v <= 1000000 ? (int)v : DEFAULT_SPIN_US;
    atomic_store(&P.spin_us, s);
    return s;
}

void cnn_pool_set_spin_us(int us)
{
    atomic_store(&P.spin_us, us < 0 ? -1 : us);
}

int cnn_pool_threads(void)
{
    int t = cnn_get_threads();
    return t < 1 ? 1 : (t > CNN_POOL_MAX_THREADS ? CNN_POOL_MAX_THREADS : t);
}

int cnn_threads_for(double work)
{
    return work < CNN_PAR_MIN_WORK ? 1 : cnn_pool_threads();
}

/* Claims and runs chunks of the current loop until none is left (or this slot is not
   one of the loop's threads). */
static long run_chunks(int slot)
{
    long ran = 0;
    uint64_t c = atomic_load_explicit(&P.claim, memory_order_acquire);
    for (;;) {
        uint32_t left = (uint32_t)c, threads = (uint32_t)(c >> 32);
        if (left == 0 || (uint32_t)slot >= threads) return ran;
        if (!atomic_compare_exchange_weak_explicit(&P.claim, &c, c - 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        P.fn(P.ctx, P.n - (long)left, slot);
        ran++;
        /* the caller sleeps only when it set caller_waits before reading pending */
        if (atomic_fetch_sub(&P.pending, 1) == 1 && slot != 0 && atomic_load(&P.caller_waits))
            wake_on(&P.pending, 1);
        c = atomic_load_explicit(&P.claim, memory_order_acquire);
    }
}

static bool stats_on(void);
/* CNN_POOL_STATS: where the workers' time goes (wall clock, summed over the workers):
   in chunks; idle while the loop is unfinished but has no chunk left to claim (its
   last chunks run on another thread, typically a caller the scheduler preempted
   inside its chunk); idle between loops (the caller's serial code); asleep. arrivals:
   times a worker looked for chunks of a new loop, empty: of those, found none left. */
static struct {
    _Atomic long long chunk_ns, held_ns, gap_ns, sleep_ns, arrivals, empty;
} WS;
#ifdef __linux__
static _Atomic int W_tid[CNN_POOL_MAX_THREADS]; /* kernel thread ids, for stats_print */
/* a worker's CPU (schedstat, ms) when it ended: pool_stop may join the workers before
   stats_print reads their /proc entries */
static double W_run_ms[CNN_POOL_MAX_THREADS], W_wait_ms[CNN_POOL_MAX_THREADS];
static _Atomic int W_ended[CNN_POOL_MAX_THREADS];
static bool thread_cpu(int tid, double *run_ms, double *wait_ms);
#endif

/* A worker: until a new loop is published, spin (bounded), then sleep. */
static void *worker_main(void *arg)
{
    int slot = (int)(intptr_t)arg;
    tl_inside = 1;
    bool st = stats_on();
#ifdef __linux__
    if (st) atomic_store(&W_tid[slot], (int)syscall(SYS_gettid));
#endif
    uint32_t seen = atomic_load(&P.seq);
    for (;;) {
        long long t = st ? now_ns() : 0;
        long ran = run_chunks(slot);
        if (st) {
            long long t1 = now_ns();
            atomic_fetch_add_explicit(&WS.chunk_ns, t1 - t, memory_order_relaxed);
            atomic_fetch_add_explicit(&WS.arrivals, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&WS.empty, ran == 0, memory_order_relaxed);
            t = t1;
        }
        long long limit = 0;
        int spins = 0;
        for (;;) {
            if (atomic_load_explicit(&P.seq, memory_order_acquire) != seen || atomic_load(&P.stop))
                break;
            if (st) {
                long long t1 = now_ns();
                atomic_fetch_add_explicit(atomic_load(&P.pending) ? &WS.held_ns : &WS.gap_ns, t1 - t,
                                          memory_order_relaxed);
                t = t1;
            }
            cpu_relax();
            if ((++spins & 15) == 0) {
                long long now = now_ns();
                if (!limit) limit = now + (long long)spin_us() * 1000;
                if (now >= limit) { /* a spin of 0 sleeps at once, without the yield */
                    atomic_fetch_add(&P.sleepers, 1);
                    if (atomic_load(&P.seq) == seen && !atomic_load(&P.stop)) wait_on(&P.seq, seen);
                    atomic_fetch_sub(&P.sleepers, 1);
                    limit = 0;
                    if (st) {
                        long long t1 = now_ns();
                        atomic_fetch_add_explicit(&WS.sleep_ns, t1 - now, memory_order_relaxed);
                        t = t1;
                    }
                } else {
                    sched_yield(); /* a runnable thread of any process goes first */
                }
            }
        }
        if (atomic_load(&P.stop)) {
#ifdef __linux__
            if (st && thread_cpu(atomic_load(&W_tid[slot]), &W_run_ms[slot], &W_wait_ms[slot]))
                atomic_store(&W_ended[slot], 1);
#endif
            return NULL;
        }
        seen = atomic_load(&P.seq);
    }
}

static void pool_stop(void)
{
    if (atomic_exchange(&P.busy, 1)) return; /* a loop still running at exit: leave it */
    atomic_store(&P.stop, 1);
    atomic_fetch_add(&P.seq, 1);
    wake_on(&P.seq, INT_MAX);
    for (int i = 1; i <= P.nworkers; i++) pthread_join(P.tid[i], NULL);
    P.nworkers = 0;
}

/* A child of fork has none of the workers: it starts its own when it needs them. */
static void pool_forget(void)
{
    P.nworkers = 0;
    atomic_store(&P.sleepers, 0);
    atomic_store(&P.caller_waits, 0);
    atomic_store(&P.busy, 0);
}

/* Workers 1 .. want-1 exist afterwards, or as many as the system let us start. */
static void ensure_workers(int want)
{
    static int hooks_done;
    if (!hooks_done) hooks_done = atexit(pool_stop) == 0 && pthread_atfork(NULL, NULL, pool_forget) == 0;
    while (P.nworkers + 1 < want) {
        int slot = P.nworkers + 1;
        if (pthread_create(&P.tid[slot], NULL, worker_main, (void *)(intptr_t)slot) != 0) return;
        P.nworkers = slot;
    }
}

/* The caller, for chunks still running on other threads: a short spin (they take
   microseconds on a quiet machine), then sleep (one of them lost its core). */
#define CALLER_SPIN_US 100

static bool wait_done(void)
{
    bool slept = false;
    long long limit = 0;
    int spins = 0, us = spin_us() < CALLER_SPIN_US ? spin_us() : CALLER_SPIN_US;
    while (atomic_load_explicit(&P.pending, memory_order_acquire) != 0) {
        cpu_relax();
        if ((++spins & 15) == 0) {
            long long t = now_ns();
            if (!limit) limit = t + (long long)us * 1000;
            if (t >= limit) break;
            sched_yield();
        }
    }
    for (;;) {
        atomic_store(&P.caller_waits, 1);
        uint32_t v = atomic_load(&P.pending);
        if (v == 0) break;
        wait_on(&P.pending, v);
        slept = true;
    }
    atomic_store(&P.caller_waits, 0);
    return slept;
}

/* The load detector. A loop whose caller worked alone for more than PROBE_US although
   other threads were asked to help means they did not get a core in that time: on a
   quiet machine a spinning worker (OpenMP's or ours) claims its first chunk within
   microseconds. The share of such loops among the long ones (moving average, 1/8 per
   loop, in 1/1024) above BUSY_ON marks the machine busy, below BUSY_OFF quiet again.
   While busy, the loops run on the pool's own threads: an OpenMP region ends in a
   barrier that waits for every thread of the team, a descheduled one included, which
   is what made a step 20-50x slower beside busy processes. On a quiet machine a
   second set of threads beside OpenMP's (which oneDNN uses) would compete for the
   cores, each spinning while the other needs them (MobileNet V2 batch 1 ran 30%
   slower), so the loops then run on the OpenMP team. */
#define PROBE_US 50
#define BUSY_ON 400
#define BUSY_OFF 150
/* CNN_POOL_STATS=1: what the loops cost, printed to stderr at exit (for finding where
   a step's time goes on a busy machine; docs/architecture.md, "Threads on a busy
   machine"). S is written by the caller of a loop only, under P.busy; loops that run
   inline (on any thread, inside other threads' OpenMP regions too) count in S_serial. */
static _Atomic long long S_serial;
static struct {
    long long team, own;         /* loops on the OpenMP team, on own threads */
    long long late, slept;       /* loops the caller ran alone; waits that slept */
    long long run_ns, wait_ns;   /* caller's time in its chunks; waiting after them */
    long long switches;          /* quiet <-> busy */
} S;
static _Atomic int g_stats = -1;

static _Atomic int S_caller_tid; /* the last caller of a loop on the own threads */

#ifdef __linux__
/* A thread's time on a core and waiting for one (runnable), from the kernel's
   schedstat; false when unavailable. */
static bool thread_cpu(int tid, double *run_ms, double *wait_ms)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    unsigned long long run = 0, wait = 0;
    bool ok = fscanf(f, "%llu %llu", &run, &wait) == 2;
    fclose(f);
    *run_ms = run / 1e6;
    *wait_ms = wait / 1e6;
    return ok;
}
#endif

static void stats_print(void)
{
    fprintf(stderr,
            "pool: %lld loops on the team, %lld on own threads, %lld inline; %lld ran by the caller "
            "alone; caller %.1f ms in chunks, %.1f ms waiting for others (%lld waits slept); "
            "%lld mode switches\n",
            S.team, S.own, atomic_load(&S_serial), S.late, S.run_ns / 1e6, S.wait_ns / 1e6, S.slept, S.switches);
    if (!S.own) return;
    fprintf(stderr,
            "pool workers: %.1f ms in chunks, %.1f ms idle while a loop's last chunks ran elsewhere, "
            "%.1f ms idle between loops, %.1f ms asleep (wall, all workers); %lld arrivals at a loop, "
            "%lld found no chunk left\n",
            atomic_load(&WS.chunk_ns) / 1e6, atomic_load(&WS.held_ns) / 1e6, atomic_load(&WS.gap_ns) / 1e6,
            atomic_load(&WS.sleep_ns) / 1e6, atomic_load(&WS.arrivals), atomic_load(&WS.empty));
#ifdef __linux__
    double run, wait, wrun = 0, wwait = 0;
    int tid = atomic_load(&S_caller_tid);
    for (int i = 1; i < CNN_POOL_MAX_THREADS; i++) {
        int w = atomic_load(&W_tid[i]);
        if (atomic_load(&W_ended[i])) {
            run = W_run_ms[i];
            wait = W_wait_ms[i];
        } else if (!w || !thread_cpu(w, &run, &wait)) {
            continue;
        }
        wrun += run; /* a worker the scheduler never ran before this print counts 0 */
        wwait += wait;
    }
    if (tid && thread_cpu(tid, &run, &wait))
        fprintf(stderr,
                "pool threads: caller %.1f ms on a core, %.1f ms waiting for one; workers %.1f ms on a "
                "core, %.1f ms waiting for one\n",
                run, wait, wrun, wwait);
#endif
}

static bool stats_on(void)
{
    int on = atomic_load_explicit(&g_stats, memory_order_relaxed);
    if (on < 0) {
        const char *e = getenv("CNN_POOL_STATS");
        on = e && e[0] == '1' && !e[1];
        int unset = -1;
        if (atomic_compare_exchange_strong(&g_stats, &unset, on) && on) atexit(stats_print);
    }
    return on > 0;
}

static int g_late;     /* moving average of late loops, 0..1024 */
static int g_limited;  /* busy: loops on the own threads */
static int g_forced = -1; /* cnn_pool_force_busy */

static void note_loop(bool late)
{
    if (g_forced >= 0) return;
    g_late += ((late ? 1024 : 0) - g_late) / 8;
    int was = g_limited;
    if (!g_limited && g_late > BUSY_ON)
        g_limited = 1;
    else if (g_limited && g_late < BUSY_OFF)
        g_limited = 0;
    S.switches += was != g_limited;
}

void cnn_pool_reset_load(void)
{
    if (atomic_exchange(&P.busy, 1)) return;
    g_late = 0;
    g_limited = g_forced > 0;
    atomic_store(&P.busy, 0);
}

void cnn_pool_force_busy(int busy)
{
    while (atomic_exchange(&P.busy, 1)) sched_yield();
    g_forced = busy < 0 ? -1 : busy > 0;
    g_late = 0;
    g_limited = g_forced > 0;
    atomic_store(&P.busy, 0);
}

bool cnn_pool_machine_busy(void)
{
    return g_limited != 0;
}

#ifdef _OPENMP
/* Quiet mode: the loop on the OpenMP team, chunks claimed from a counter. The one
   team serves oneDNN's regions and ours alike, so on a quiet machine no second set of
   threads competes for the cores (two pools on two cores slowed MobileNet V2 batch 1
   by 30%: each pool's idle threads spin while the other's need the core). */
typedef struct {
    cnn_chunk_fn fn;
    void *ctx;
    long n;
    _Atomic long next;
    long mine;
    long long t0, t1;
} team_loop;

static void run_on_team(team_loop *L, int threads)
{
#pragma omp parallel num_threads(threads)
    {
        int slot = omp_get_thread_num(), was = tl_inside;
        tl_inside = 1;
        long ran = 0;
        if (slot == 0) L->t0 = now_ns();
        for (;;) {
            long i = atomic_fetch_add_explicit(&L->next, 1, memory_order_relaxed);
            if (i >= L->n) break;
            L->fn(L->ctx, i, slot);
            ran++;
        }
        if (slot == 0) {
            L->t1 = now_ns();
            L->mine = ran;
        }
        tl_inside = was;
    }
}
#endif

void cnn_parallel_for_n(long n_chunks, int threads, cnn_chunk_fn fn, void *ctx)
{
    if (n_chunks <= 0) return;
    if (threads <= 0) threads = cnn_pool_threads();
    if (threads > CNN_POOL_MAX_THREADS) threads = CNN_POOL_MAX_THREADS;
    if (threads > n_chunks) threads = (int)n_chunks;
    static _Atomic int env_read;
    if (!atomic_load_explicit(&env_read, memory_order_relaxed) && !atomic_exchange(&env_read, 1)) {
        /* CNN_POOL_BUSY=0 / 1 fixes the mode, for benchmarks */
        const char *e = getenv("CNN_POOL_BUSY");
        if (e && (e[0] == '0' || e[0] == '1') && !e[1]) cnn_pool_force_busy(e[0] - '0');
    }
    int go = threads > 1 && n_chunks < INT_MAX && !tl_inside && !atomic_exchange(&P.busy, 1);
#ifdef _OPENMP
    if (go && !g_limited) {
        team_loop L = {.fn = fn, .ctx = ctx, .n = n_chunks};
        run_on_team(&L, threads);
        if (L.t1 - L.t0 > PROBE_US * 1000LL) note_loop(L.mine == n_chunks);
        if (stats_on()) {
            S.team++;
            S.late += L.mine == n_chunks;
            S.run_ns += L.t1 - L.t0;
            S.wait_ns += now_ns() - L.t1;
        }
        atomic_store(&P.busy, 0);
        return;
    }
#endif
    if (go) {
        ensure_workers(threads);
        if (P.nworkers < 1) {
            atomic_store(&P.busy, 0);
            go = 0;
        } else if (threads > P.nworkers + 1) {
            threads = P.nworkers + 1;
        }
    }
    if (!go) {
        if (stats_on() && !tl_inside) atomic_fetch_add_explicit(&S_serial, 1, memory_order_relaxed);
        int was = tl_inside;
        tl_inside = 1;
        for (long i = 0; i < n_chunks; i++) fn(ctx, i, 0);
        tl_inside = was;
        return;
    }
    P.fn = fn;
    P.ctx = ctx;
    P.n = n_chunks;
    atomic_store(&P.pending, (uint32_t)n_chunks);
    atomic_store_explicit(&P.claim, ((uint64_t)threads << 32) | (uint64_t)n_chunks,
                          memory_order_release);
    atomic_fetch_add(&P.seq, 1);
    if (atomic_load(&P.sleepers) > 0) wake_on(&P.seq, INT_MAX);
    tl_inside = 1;
    long long t0 = now_ns();
    long mine = run_chunks(0);
    long long t1 = now_ns();
    tl_inside = 0;
    bool slept = wait_done();
    if (t1 - t0 > PROBE_US * 1000LL) note_loop(mine == n_chunks);
    if (stats_on()) {
#ifdef __linux__
        if (!atomic_load_explicit(&S_caller_tid, memory_order_relaxed))
            atomic_store(&S_caller_tid, (int)syscall(SYS_gettid));
#endif
        S.own++;
        S.late += mine == n_chunks;
        S.slept += slept;
        S.run_ns += t1 - t0;
        S.wait_ns += now_ns() - t1;
    }
    atomic_store(&P.busy, 0);
}

typedef struct {
    cnn_range_fn fn;
    void *ctx;
    long n, chunks;
} range_ctx;

static void range_chunk(void *p, long i, int slot)
{
    const range_ctx *r = p;
    r->fn(r->ctx, r->n * i / r->chunks, r->n * (i + 1) / r->chunks, slot);
}

/* at most this many ranges per loop: enough for balance on any thread count we run */
#define MAX_RANGES 1024

void cnn_parallel_range(long n, long grain, int threads, cnn_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    long chunks = n / grain;
    if (chunks > MAX_RANGES) chunks = MAX_RANGES;
    if (chunks < 2) {
        if (stats_on() && !tl_inside) atomic_fetch_add_explicit(&S_serial, 1, memory_order_relaxed);
        fn(ctx, 0, n, 0);
        return;
    }
    range_ctx r = {fn, ctx, n, chunks};
    cnn_parallel_for_n(chunks, threads, range_chunk, &r);
}

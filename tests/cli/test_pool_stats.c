/* CNN_POOL_STATS=1 (docs/architecture.md, "Threads on a busy machine"): a run prints,
   at exit, where its parallel loops went. With the mode fixed (CNN_POOL_BUSY) the loops
   land on the own threads or on the OpenMP team only; without the variable nothing is
   printed. The cpu backend whatever CNN_BACKEND the suite runs with: its kernels are
   the ones on the pool. In busy mode two more lines say where the workers' time went
   and how much CPU the caller and the workers got. No timing assertions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *g_bin;
static char out[1 << 16];

typedef struct {
    long long team, own, serial, alone;
} counts;

/* LeNet training at batch 64 on two threads (loops above the one-thread threshold),
   cpu backend, with CNN_POOL_BUSY=busy; the counts of its "pool:" line. */
static counts run_stats(const char *busy)
{
    int rc = tu_run(out, sizeof out, NULL,
                    "CNN_POOL_STATS=1 CNN_POOL_BUSY=%s CNN_THREADS=2 CNN_BACKEND=cpu %s bench lenet --batch 64 --iters 1 "
                    "--warmup 0 --train --peak 100",
                    busy, g_bin);
    assert_int_equal(rc, 0);
    const char *p = strstr(out, "pool: ");
    if (!p) fail_msg("no pool line in: %s", out);
    counts c;
    int got = sscanf(p, "pool: %lld loops on the team, %lld on own threads, %lld inline; %lld ran by the caller",
                     &c.team, &c.own, &c.serial, &c.alone);
    if (got != 4) fail_msg("pool line not parsed: %.200s", p);
    return c;
}

static void test_busy_mode(void **state)
{
    (void)state;
    counts c = run_stats("1");
    assert_int_equal(c.team, 0);
    assert_true(c.own > 0);
    assert_true(c.serial > 0); /* LeNet's small tensors run inline */
    assert_true(c.alone <= c.own);
    /* the workers' line: where their time went and how often they came to a loop */
    const char *p = strstr(out, "pool workers: ");
    if (!p) fail_msg("no pool workers line in: %s", out);
    double chunk, held, gap, asleep;
    long long arrivals, empty;
    int got = sscanf(p,
                     "pool workers: %lf ms in chunks, %lf ms idle while a loop's last chunks ran elsewhere, "
                     "%lf ms idle between loops, %lf ms asleep (wall, all workers); %lld arrivals at a loop, "
                     "%lld found no chunk left",
                     &chunk, &held, &gap, &asleep, &arrivals, &empty);
    if (got != 6) fail_msg("pool workers line not parsed: %.300s", p);
    assert_true(chunk >= 0 && held >= 0 && gap >= 0 && asleep >= 0);
    /* no lower bound on arrivals: on a loaded machine a worker may first run after the
       print */
    assert_true(arrivals >= 0 && empty >= 0 && empty <= arrivals);
#ifdef __linux__
    double crun, cwait, wrun, wwait;
    p = strstr(out, "pool threads: ");
    if (!p) fail_msg("no pool threads line in: %s", out);
    got = sscanf(p, "pool threads: caller %lf ms on a core, %lf ms waiting for one; workers %lf ms on a core, %lf ms",
                 &crun, &cwait, &wrun, &wwait);
    if (got != 4) fail_msg("pool threads line not parsed: %.300s", p);
    assert_true(crun > 0 && cwait >= 0 && wrun >= 0 && wwait >= 0);
#endif
}

static void test_quiet_mode(void **state)
{
    (void)state;
    counts c = run_stats("0");
#ifdef _OPENMP
    assert_int_equal(c.own, 0);
    assert_true(c.team > 0);
#endif
    assert_true(c.alone <= c.team + c.own);
}

static void test_off_by_default(void **state)
{
    (void)state;
    int rc = tu_run(out, sizeof out, NULL,
                    "env -u CNN_POOL_STATS %s bench lenet --batch 8 --iters 1 --warmup 0 --peak 100", g_bin);
    assert_int_equal(rc, 0);
    assert_null(strstr(out, "pool: "));
}

int main(void)
{
    g_bin = getenv("CNN_BIN");
    if (!g_bin) {
        fprintf(stderr, "CNN_BIN is not set (run through ctest)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_busy_mode),
        cmocka_unit_test(test_quiet_mode),
        cmocka_unit_test(test_off_by_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

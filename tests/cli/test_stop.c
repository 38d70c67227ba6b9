/* Stopping (docs/architecture.md, "Stopping"): SIGTERM mid-training finishes the step,
   saves a complete checkpoint that resumes; stale "<path>.tmp.<pid>" files of dead
   processes are removed at the next save; bad output paths fail before training. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[64];
static const char *g_bin;
static char out[1 << 16];

static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tu_vrun(out, sizeof out, g_dir, 0, fmt, ap);
    va_end(ap);
    return rc;
}

static void be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                          (unsigned char)v};
    fwrite(b, 1, 4, f);
}

static void write_idx(const char *prefix, int n)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", g_dir, prefix);
    FILE *fi = fopen(p, "wb");
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", g_dir, prefix);
    FILE *fl = fopen(p, "wb");
    assert_true(fi && fl);
    be32(fi, 0x803), be32(fi, (uint32_t)n), be32(fi, 28), be32(fi, 28);
    be32(fl, 0x801), be32(fl, (uint32_t)n);
    cnn_rng r;
    cnn_rng_seed(&r, 4);
    unsigned char img[784];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 784; j++) img[j] = (unsigned char)cnn_rng_below(&r, 256);
        unsigned char lab = (unsigned char)cnn_rng_below(&r, 4);
        fwrite(img, 1, 784, fi);
        fwrite(&lab, 1, 1, fl);
    }
    fclose(fi);
    fclose(fl);
}

/* A pid that is certainly not running: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

static bool exists(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return access(p, F_OK) == 0;
}

static void touch(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("partial", f);
    fclose(f);
}

static void test_sigterm_saves_and_resumes(void **state)
{
    (void)state;
    write_idx("train", 2048);
    char stale[128], live[128];
    pid_t dead = dead_pid();
    snprintf(stale, sizeof stale, "ck.safetensors.tmp.%d", (int)dead);
    snprintf(live, sizeof live, "ck.safetensors.tmp.%d", (int)getpid()); /* alive: kept */
    touch(stale);
    touch(live);

    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (chdir(g_dir) != 0) _exit(99);
        dup2(pfd[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        close(pfd[0]);
        execl(g_bin, g_bin, "train", "lenet", "--data", "idx:.", "--epochs", "1000", "--batch", "32",
              "--lr", "0.01", "--out", "ck.safetensors", "--threads", "1", (char *)NULL);
        _exit(98);
    }
    close(pfd[1]);
    /* wait for the table header (training has started), then let it run a moment */
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t k = read(pfd[0], buf + got, sizeof buf - 1 - got);
        if (k <= 0) break;
        got += (size_t)k;
        buf[got] = '\0';
        if (strstr(buf, "img/s")) break;
    }
    assert_non_null(strstr(buf, "img/s"));
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(kill(child, SIGTERM), 0);
    int st = 0;
    /* drain stdout so the child never blocks on a full pipe; keep the stop message */
    for (;;) {
        if (got >= sizeof buf - 1) got = 0;
        ssize_t k = read(pfd[0], buf + got, sizeof buf - 1 - got);
        if (k <= 0) break;
        got += (size_t)k;
        buf[got] = '\0';
    }
    close(pfd[0]);
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 128 + SIGTERM);
    const char *msg = strstr(buf, "stopped at epoch ");
    if (!msg) fail_msg("no stop message in:\n%s", buf);
    assert_non_null(strstr(msg, "checkpoint saved to ck.safetensors"));
    int epoch = atoi(msg + strlen("stopped at epoch "));
    assert_true(epoch >= 1);
    assert_true(exists("ck.safetensors"));
    assert_false(exists(stale)); /* the dead process's temporary is gone */
    assert_true(exists(live));   /* a live process's is not */
    char p[128];
    snprintf(p, sizeof p, "ck.safetensors.tmp.%d", (int)child);
    assert_false(exists(p));

    /* the checkpoint is complete and resumes to the end of the next epoch */
    int rc = run("%s train lenet --data idx:. --epochs %d --batch 32 --lr 0.01 --resume ck.safetensors "
                 "--out ck2.safetensors --quiet --threads 1",
                 g_bin, epoch + 1);
    if (rc != 0) fail_msg("resume failed (%d):\n%s", rc, out);
    assert_true(exists("ck2.safetensors"));
    rc = run("%s eval ck.safetensors --data idx:. --split train --limit 64", g_bin);
    if (rc != 0) fail_msg("eval of the SIGTERM checkpoint failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "accuracy"));
    char rm[128];
    snprintf(rm, sizeof rm, "%s/%s", g_dir, live);
    unlink(rm);
}

static void test_output_paths_checked_first(void **state)
{
    (void)state;
    struct timespec t0, t1;
    const char *bad[][2] = {
        {"--out", "no/such/dir/ck.safetensors"},
        {"--log", "no/such/dir/log.csv"},
        {"--plot", "no/such/dir/p.svg"},
        {"--out", "train-labels-idx1-ubyte/ck.safetensors"}, /* a file, not a directory */
        {"--out", "sub/"},
        /* exists and passes access(W_OK) for root, but no file can be created there */
        {"--out", "/proc/ck.safetensors"},
    };
    run("mkdir -p sub");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = run("%s train lenet --data idx:. --epochs 500 --batch 32 %s %s --quiet --threads 1", g_bin,
                     bad[i][0], bad[i][1]);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (rc != 1 || !strstr(out, bad[i][1] + (bad[i][1][0] == 'n' ? 0 : 0)) || s > 20)
            fail_msg("%s %s: exit %d after %.1f s:\n%s", bad[i][0], bad[i][1], rc, s, out);
        /* no epoch trained */
        assert_null(strstr(out, "\n    1 "));
    }
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("CNN_BIN");
    if (!g_bin) return -1;
    snprintf(g_dir, sizeof g_dir, "/tmp/cnn-stop-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_saves_and_resumes),
        cmocka_unit_test(test_output_paths_checked_first),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

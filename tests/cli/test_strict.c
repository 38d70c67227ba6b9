/* Strict options (docs/architecture.md, "Strict options"): every numeric option and
   environment variable range-checked, no silent wrap or default on garbage, absurd
   sizes refused with what they would need, before anything is allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"

static const char *g_bin;
static char out[1 << 16];

/* Runs a shell command, captures stdout+stderr into out; returns the exit status. */
static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tu_vrun(out, sizeof out, NULL, 0, fmt, ap);
    va_end(ap);
    return rc;
}

/* cmd must exit with status rc (2: usage error, 1: failure) and print `needle`. */
static void expect(int rc, const char *needle, const char *cmd)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int got = run("%s", cmd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (got != rc || !strstr(out, needle) || s > 10.0) {
        print_error("command: %s\nexit %d (want %d), %.1f s, output:\n%s\nwanted: '%s'\n", cmd, got, rc, s,
                    out, needle);
        fail();
    }
}

static void test_numeric_options(void **state)
{
    (void)state;
    char c[512];
#define EXPECT(rc, needle, ...)                  \
    do {                                         \
        snprintf(c, sizeof c, __VA_ARGS__);      \
        expect(rc, needle, c);                   \
    } while (0)
    EXPECT(2, "--width", "%s train lenet --data idx:/nonexistent --width nan", g_bin);
    EXPECT(2, "--width", "%s train lenet --data idx:/nonexistent --width inf", g_bin);
    EXPECT(2, "--width", "%s summary mobilenet_v2 --width -1", g_bin);
    EXPECT(2, "--crop", "%s train lenet --data idx:/nonexistent --crop -5", g_bin);
    EXPECT(2, "--epochs", "%s train lenet --data idx:/nonexistent --epochs 10x", g_bin);
    EXPECT(2, "--epochs", "%s train lenet --data idx:/nonexistent --epochs 0", g_bin);
    EXPECT(2, "--batch", "%s train lenet --data idx:/nonexistent --batch 99999999999", g_bin);
    EXPECT(2, "--batch", "%s train lenet --data idx:/nonexistent --batch ' 5'", g_bin);
    EXPECT(2, "--lr", "%s train lenet --data idx:/nonexistent --lr 1e999", g_bin);
    EXPECT(2, "--lr", "%s train lenet --data idx:/nonexistent --lr -0.1", g_bin);
    EXPECT(2, "--momentum", "%s train lenet --data idx:/nonexistent --momentum 1.5", g_bin);
    EXPECT(2, "--label-smoothing", "%s train lenet --data idx:/nonexistent --label-smoothing nan", g_bin);
    EXPECT(2, "--seed", "%s train lenet --data idx:/nonexistent --seed -3", g_bin);
    EXPECT(2, "--limit", "%s eval x.safetensors --data idx:/nonexistent --limit -1", g_bin);
    EXPECT(2, "--split", "%s eval x.safetensors --data idx:/nonexistent --split bogus", g_bin);
    EXPECT(2, "--iters", "%s bench lenet --iters 0", g_bin);
    EXPECT(2, "--test-ratio", "%s eval x.safetensors --data hsi:x.mat --test-ratio 1", g_bin);
    EXPECT(2, "--classes", "%s summary lenet --classes 2147483647", g_bin);
    EXPECT(2, "--classes", "%s summary lenet --classes 4294967298", g_bin);
    EXPECT(2, "--input", "%s summary lenet --input 1x28x28junk", g_bin);
    EXPECT(2, "--input", "%s summary lenet --input 1x99999999999x28", g_bin);
    EXPECT(2, "--resize", "%s train lenet --data idx:/nonexistent --resize 32x32x", g_bin);
    /* a valid value still works */
    EXPECT(0, "total:", "%s summary lenet --classes 7", g_bin);
}

static void test_threads_and_env(void **state)
{
    (void)state;
    char c[512];
    EXPECT(2, "--threads", "%s summary lenet --threads 0", g_bin);
    EXPECT(2, "--threads", "%s summary lenet --threads -4", g_bin);
    EXPECT(2, "--threads", "%s summary lenet --threads 2x", g_bin);
    EXPECT(2, "--threads", "%s summary lenet --threads 100000", g_bin);
    /* more than the cores: capped, with a note */
    EXPECT(0, "capped to the", "%s summary lenet --threads 4000", g_bin);
    EXPECT(2, "CNN_THREADS", "CNN_THREADS=-1 %s version", g_bin);
    EXPECT(2, "CNN_THREADS", "CNN_THREADS=abc %s summary lenet", g_bin);
    EXPECT(2, "CNN_BACKEND", "CNN_BACKEND=bogus %s version", g_bin);
    EXPECT(0, "backend ref", "CNN_BACKEND=ref %s version", g_bin);
    EXPECT(0, "1 threads", "CNN_THREADS=1 %s version", g_bin);
    /* empty variables are the same as unset */
    EXPECT(0, "cnn ", "CNN_THREADS= CNN_BACKEND= %s version", g_bin);
}

static void test_family_options(void **state)
{
    (void)state;
    char c[512];
    EXPECT(1, "groups", "%s summary shufflenet_v1 --set groups=99999999999", g_bin);
    EXPECT(1, "groups", "%s summary shufflenet_v1 --set groups=abc", g_bin);
    EXPECT(1, "groups", "%s summary shufflenet_v1 --set groups=3.5", g_bin);
    EXPECT(1, "groups", "%s summary shufflenet_v1 --set groups=", g_bin);
    EXPECT(1, "ratio", "%s summary vgg11_d2l --set ratio=4e", g_bin);
    EXPECT(0, "total:", "%s summary shufflenet_v1 --set groups=8", g_bin);
}

/* Absurd sizes: refused before any allocation, saying what they would need. */
static void test_absurd_sizes(void **state)
{
    (void)state;
    char c[512];
    EXPECT(1, "GiB", "%s summary lenet --input 1x100000x100000", g_bin);
    EXPECT(1, "GiB", "%s summary vgg16 --input 3x60000x60000", g_bin);
    EXPECT(1, "GiB", "%s bench lenet --input 1x100000x100000", g_bin);
}

/* The CLI bounds libgomp's spinning unless the user chose a policy. */
static void test_bounded_spin(void **state)
{
    (void)state;
    char c[512];
    EXPECT(0, "GOMP_SPINCOUNT = '10000'",
           "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose %s version", g_bin);
    EXPECT(0, "GOMP_SPINCOUNT = '12345'",
           "env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=12345 OMP_DISPLAY_ENV=verbose %s version", g_bin);
    /* a user's wait policy is left alone: no GOMP_SPINCOUNT of ours */
    EXPECT(0, "cnn ", "env OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose %s version", g_bin);
    assert_null(strstr(out, "GOMP_SPINCOUNT = '10000'"));
}

int main(void)
{
    g_bin = getenv("CNN_BIN");
    if (!g_bin) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_options),
        cmocka_unit_test(test_threads_and_env),
        cmocka_unit_test(test_family_options),
        cmocka_unit_test(test_absurd_sizes),
        cmocka_unit_test(test_bounded_spin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The loader's shuffle is an unbiased Fisher-Yates (docs/architecture.md, "Tests that
   catch planted bugs"): (1) each epoch's order equals a reference Fisher-Yates driven by the same
   generator stream (cnn_rng seeded from (seed, epoch) as the loader documents), for
   several sizes, seeds and epochs; (2) over many epochs the position of every example
   and the successor of every example are uniform (chi-square tests with fixed seeds,
   so the outcome is deterministic). A Sattolo shuffle (no fixed points) fails both; a
   random rotation fails (1) and the successor test of (2). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* The loader's per-epoch seed (docs/architecture.md): splitmix64 finaliser "mix" of
   (mix(seed ^ "SHUFFLE") ^ epoch). */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void reference_order(int n, uint64_t seed, int epoch, int *perm)
{
    for (int i = 0; i < n; i++) perm[i] = i;
    cnn_rng rng;
    cnn_rng_seed(&rng, mix64(mix64(seed ^ 0x53485546464c45ULL) ^ (uint64_t)(uint32_t)epoch));
    for (int i = n - 1; i > 0; i--) { /* Durstenfeld: j uniform in [0, i] */
        int j = (int)cnn_rng_below(&rng, (uint32_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* One float per example: its index; labels = index too. */
static void make_index_data(cnn_dataset *d, int n)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = d->h = d->w = 1;
    d->classes = n;
    d->f32 = malloc(sizeof(float) * (size_t)n);
    d->labels = malloc(sizeof(int32_t) * (size_t)n);
    assert_non_null(d->f32);
    assert_non_null(d->labels);
    for (int i = 0; i < n; i++) {
        d->f32[i] = (float)i;
        d->labels[i] = i;
    }
}

static void loader_order(cnn_loader *l, int n, int epoch, int *order)
{
    TU_OK(cnn_loader_start_epoch(l, epoch));
    int seen = 0;
    for (;;) {
        const float *x, *y;
        int k;
        TU_OK(cnn_loader_next(l, &x, &y, &k));
        if (k == 0) break;
        for (int i = 0; i < k; i++) {
            assert_true(seen < n);
            assert_true(x[i] == y[i]);
            order[seen++] = (int)x[i];
        }
    }
    assert_int_equal(seen, n);
}

static void test_matches_reference(void **state)
{
    (void)state;
    static const int sizes[] = {1, 2, 3, 7, 64, 1000};
    static const uint64_t seeds[] = {0, 1, 42, 0xdeadbeefULL};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int n = sizes[si];
        cnn_dataset d;
        make_index_data(&d, n);
        int *got = malloc(sizeof(int) * (size_t)n), *want = malloc(sizeof(int) * (size_t)n);
        for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
            cnn_loader *l;
            TU_OK(cnn_loader_new(&d, 16, true, false, NULL, seeds[k], &l));
            for (int e = 0; e < 5; e++) {
                loader_order(l, n, e * 7, got);
                reference_order(n, seeds[k], e * 7, want);
                if (memcmp(got, want, sizeof(int) * (size_t)n) != 0)
                    fail_msg("n %d seed %llu epoch %d: the order is not the reference Fisher-Yates's", n,
                             (unsigned long long)seeds[k], e * 7);
            }
            cnn_loader_free(l);
        }
        free(got);
        free(want);
        free(d.f32);
        free(d.labels);
    }
}

/* Chi-square statistic of counts against a uniform expectation. */
static double chi2(const long *count, int cells, double expect)
{
    double s = 0;
    for (int i = 0; i < cells; i++) s += (count[i] - expect) * (count[i] - expect) / expect;
    return s;
}

/* Upper bound for a chi-square with df degrees of freedom that a fair shuffle exceeds
   with probability ~1e-6 (Wilson-Hilferty, z = 4.75). */
static double chi2_limit(int df)
{
    double a = 2.0 / (9.0 * df), z = 4.75;
    double t = 1.0 - a + z * sqrt(a);
    return df * t * t * t;
}

static void test_uniform(void **state)
{
    (void)state;
    enum { N = 6 };
    int epochs = tu_quick() ? 3000 : 12000;
    cnn_dataset d;
    make_index_data(&d, N);
    cnn_loader *l;
    TU_OK(cnn_loader_new(&d, 4, true, false, NULL, 7, &l));
    long pos[N * N] = {0}, next[N * N] = {0};
    int order[N];
    for (int e = 0; e < epochs; e++) {
        loader_order(l, N, e, order);
        for (int k = 0; k < N; k++) pos[order[k] * N + k]++;
        for (int k = 0; k + 1 < N; k++) next[order[k] * N + order[k + 1]]++;
    }
    cnn_loader_free(l);
    /* position of each example: N x N cells, each epochs / N */
    double cp = chi2(pos, N * N, (double)epochs / N), lp = chi2_limit((N - 1) * (N - 1));
    /* successor pairs (a, b), a != b: N (N - 1) cells, each epochs (N - 1) / (N (N - 1)) */
    long pairs[N * (N - 1)];
    int c = 0;
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++)
            if (a != b) pairs[c++] = next[a * N + b];
    double cs = chi2(pairs, c, (double)epochs / N), ls = chi2_limit(c - N);
    printf("  %d epochs of %d: positions chi2 %.1f (limit %.1f), successors chi2 %.1f (limit %.1f)\n",
           epochs, N, cp, lp, cs, ls);
    for (int i = 0; i < N; i++)
        if (pos[i * N + i] == 0) fail_msg("example %d never stays in place (a Sattolo cycle?)", i);
    assert_true(cp < lp);
    assert_true(cs < ls);
    free(d.f32);
    free(d.labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_uniform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

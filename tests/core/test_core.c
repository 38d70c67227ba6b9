/* core: the RNG against values of the reference algorithm (xoshiro256** seeded by
   splitmix64, computed independently in Python), reproducibility, uniform / normal
   moments within statistical bounds, cnn_rng_below's range and balance; tensors;
   shape strings; errors (messages, truncation, thread locality); the allocation
   hook. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void test_rng_reference_values(void **state)
{
    (void)state;
    /* Vigna's xoshiro256** with its state from four splitmix64 outputs of the seed */
    static const uint64_t want0[3] = {0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL,
                                      0x1a5f849d4933e6e0ULL};
    static const uint64_t want42[3] = {0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL,
                                       0xae17533239e499a1ULL};
    cnn_rng r;
    cnn_rng_seed(&r, 0);
    for (int i = 0; i < 3; i++) assert_true(cnn_rng_u64(&r) == want0[i]);
    cnn_rng_seed(&r, 42);
    for (int i = 0; i < 3; i++) assert_true(cnn_rng_u64(&r) == want42[i]);
}

static void test_rng_reproducible(void **state)
{
    (void)state;
    cnn_rng a, b, c;
    cnn_rng_seed(&a, 1234);
    cnn_rng_seed(&b, 1234);
    cnn_rng_seed(&c, 1235);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = cnn_rng_u64(&a), y = cnn_rng_u64(&b), z = cnn_rng_u64(&c);
        assert_true(x == y);
        differ += x != z;
    }
    assert_true(differ > 990); /* a neighbouring seed gives an unrelated stream */
    /* a copied state continues identically (the graph restores its RNG this way) */
    cnn_rng saved = a;
    float u1 = cnn_rng_uniform(&a), n1 = cnn_rng_normal(&a);
    assert_true(cnn_rng_uniform(&saved) == u1);
    assert_true(cnn_rng_normal(&saved) == n1);
}

static void test_uniform_moments(void **state)
{
    (void)state;
    const int n = tu_quick() ? 50000 : 400000;
    cnn_rng r;
    cnn_rng_seed(&r, 7);
    double s = 0, s2 = 0;
    int below_quarter = 0;
    for (int i = 0; i < n; i++) {
        float u = cnn_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        s += u;
        s2 += (double)u * u;
        below_quarter += u < 0.25f;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    /* mean: sd sqrt(1/12 / n); var of U(0,1) is 1/12 with sd sqrt(1/180 / n); 5 sd */
    assert_true(fabs(mean - 0.5) < 5.0 * sqrt(1.0 / 12.0 / n));
    assert_true(fabs(var - 1.0 / 12.0) < 5.0 * sqrt(1.0 / 180.0 / n));
    /* a binomial count, p = 1/4 */
    assert_true(fabs(below_quarter - 0.25 * n) < 5.0 * sqrt(n * 0.25 * 0.75));
}

static void test_normal_moments(void **state)
{
    (void)state;
    const int n = tu_quick() ? 50000 : 400000;
    cnn_rng r;
    cnn_rng_seed(&r, 8);
    double s = 0, s2 = 0, s4 = 0;
    int within1 = 0;
    for (int i = 0; i < n; i++) {
        double x = cnn_rng_normal(&r);
        assert_true(isfinite(x));
        s += x;
        s2 += x * x;
        s4 += x * x * x * x;
        within1 += fabs(x) < 1.0;
    }
    double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n;
    /* N(0,1): sd of the mean 1/sqrt(n), of the variance sqrt(2/n), E x^4 = 3 with
       sd sqrt(96/n); P(|x| < 1) = 0.682689; 5 sd each */
    assert_true(fabs(mean) < 5.0 / sqrt(n));
    assert_true(fabs(var - 1.0) < 5.0 * sqrt(2.0 / n));
    assert_true(fabs(kurt - 3.0) < 5.0 * sqrt(96.0 / n));
    assert_true(fabs(within1 - 0.682689 * n) < 5.0 * sqrt(n * 0.682689 * 0.317311));
}

static void test_rng_below(void **state)
{
    (void)state;
    cnn_rng r;
    cnn_rng_seed(&r, 9);
    assert_int_equal(cnn_rng_below(&r, 0), 0);
    for (int i = 0; i < 100; i++) assert_int_equal(cnn_rng_below(&r, 1), 0);
    /* every bucket of n = 10 is hit about equally: chi-square with 9 degrees of
       freedom stays below 40 (p < 1e-5) */
    enum { K = 10 };
    const int n = 100000;
    int count[K] = {0};
    for (int i = 0; i < n; i++) {
        uint32_t v = cnn_rng_below(&r, K);
        assert_true(v < K);
        count[v]++;
    }
    double chi = 0;
    for (int k = 0; k < K; k++) chi += (count[k] - n / (double)K) * (count[k] - n / (double)K) / (n / (double)K);
    assert_true(chi < 40.0);
    /* a large n reaches its top values */
    uint32_t big = 4000000000u, hi = 0;
    for (int i = 0; i < 10000; i++) {
        uint32_t v = cnn_rng_below(&r, big);
        assert_true(v < big);
        if (v > hi) hi = v;
    }
    assert_true(hi > big / 10 * 9);
}

static void test_tensor(void **state)
{
    (void)state;
    cnn_tensor t;
    TU_OK(cnn_tensor_alloc(&t, 4, (int[]){2, 3, 4, 5}));
    assert_int_equal(t.ndim, 4);
    assert_int_equal(cnn_tensor_numel(&t), 120);
    for (int i = 0; i < 120; i++) assert_true(t.data[i] == 0.0f);
    t.data[119] = 1.0f; /* the whole extent is writable (ASan checks) */
    cnn_tensor_free(&t);
    assert_null(t.data);
    cnn_tensor_free(&t); /* twice is harmless */
    cnn_tensor_free(NULL);

    TU_OK(cnn_tensor_alloc(&t, 0, NULL)); /* a scalar */
    assert_int_equal(cnn_tensor_numel(&t), 1);
    cnn_tensor_free(&t);

    assert_int_equal(cnn_tensor_alloc(&t, CNN_MAX_DIMS + 1, (int[]){1, 1, 1, 1, 1, 1, 1}),
                     CNN_ERR_INVALID_ARG);
    assert_null(t.data);
    assert_non_null(strstr(cnn_error_message(), "7 dimensions"));
    assert_int_equal(cnn_tensor_alloc(&t, 2, (int[]){3, -1}), CNN_ERR_INVALID_ARG);
    assert_null(t.data);
    assert_non_null(strstr(cnn_error_message(), "negative dimension -1"));
}

static void test_shape_str(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(cnn_shape_str(4, (int[]){2, 3, 28, 28}, buf, sizeof buf), "(2, 3, 28, 28)");
    assert_string_equal(cnn_shape_str(1, (int[]){7}, buf, sizeof buf), "(7)");
    assert_string_equal(cnn_shape_str(0, NULL, buf, sizeof buf), "()");
    /* a short buffer truncates and stays terminated */
    char small[8];
    memset(small, 'x', sizeof small);
    cnn_shape_str(4, (int[]){1000, 2000, 3000, 4000}, small, sizeof small);
    assert_true(memchr(small, '\0', sizeof small) != NULL);
    assert_int_equal(strncmp(small, "(1000, ", 7), 0);
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(cnn_set_error(CNN_ERR_SHAPE, "conv2d '%s': %d", "a.b", 5), CNN_ERR_SHAPE);
    assert_string_equal(cnn_error_message(), "conv2d 'a.b': 5");
    cnn_clear_error();
    assert_string_equal(cnn_error_message(), "");
    /* every status has its own name */
    for (int s = CNN_OK; s <= CNN_ERR_INTERRUPTED; s++) {
        assert_string_not_equal(cnn_status_name((cnn_status)s), "unknown error");
        for (int t = CNN_OK; t < s; t++)
            assert_string_not_equal(cnn_status_name((cnn_status)s), cnn_status_name((cnn_status)t));
    }
    assert_string_equal(cnn_status_name(CNN_OK), "ok");
    assert_string_equal(cnn_status_name(CNN_ERR_NOMEM), "out of memory");
    assert_string_equal(cnn_status_name((cnn_status)99), "unknown error");
    /* a long message is truncated, not overflowed */
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    cnn_set_error(CNN_ERR_IO, "%s", big);
    size_t len = strlen(cnn_error_message());
    assert_true(len > 500 && len < 4999);
    free(big);
}

static void *other_thread(void *arg)
{
    (void)arg;
    cnn_set_error(CNN_ERR_IO, "from the other thread");
    return NULL;
}

static void test_error_thread_local(void **state)
{
    (void)state;
    cnn_set_error(CNN_ERR_SHAPE, "mine");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, NULL);
    assert_string_equal(cnn_error_message(), "mine");
}

static void test_alloc_hook(void **state)
{
    (void)state;
    cnn_tensor a, b, c;
    cnn_alloc_fail_after(2);
    assert_int_equal(cnn_alloc_count(), 0);
    TU_OK(cnn_tensor_alloc(&a, 1, (int[]){4}));
    assert_int_equal(cnn_alloc_count(), 1);
    assert_int_equal(cnn_tensor_alloc(&b, 1, (int[]){4}), CNN_ERR_NOMEM);
    assert_null(b.data);
    assert_non_null(strstr(cnn_error_message(), "cannot allocate"));
    TU_OK(cnn_tensor_alloc(&c, 1, (int[]){4})); /* only the k-th fails */
    assert_int_equal(cnn_alloc_count(), 3);
    cnn_alloc_fail_after(0);
    assert_int_equal(cnn_alloc_count(), 0);
    cnn_tensor_free(&a);
    cnn_tensor_free(&c);
    /* with the hook off nothing fails */
    for (int i = 0; i < 10; i++) {
        TU_OK(cnn_tensor_alloc(&a, 1, (int[]){1}));
        cnn_tensor_free(&a);
    }
    assert_int_equal(cnn_alloc_count(), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_reference_values),
        cmocka_unit_test(test_rng_reproducible),
        cmocka_unit_test(test_uniform_moments),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_rng_below),
        cmocka_unit_test(test_tensor),
        cmocka_unit_test(test_shape_str),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_thread_local),
        cmocka_unit_test(test_alloc_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

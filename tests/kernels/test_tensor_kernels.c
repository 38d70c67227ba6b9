/* The cpu backend's general tensor op kernels (src/kernels/cpu/tensor_cpu.c) against
   the reference backend's per-element loops: binary (every op, same-shape, row and
   column broadcasts, both operands broadcast, general strides; both gradients onto a
   non-zero dx), unary (every op), reduce (every op over inner, outer, several and all
   axes, ties for max / min), matmul (stacks with either operand broadcast), pad
   (constant / reflect / edge with crops), slice (positive and negative steps) and
   transpose. Sizes pass the 64k elements at which the cpu kernels start threads, and
   both run with 1 and 2 threads. The op tests check ref itself against naive double
   references (tests/ops). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "testutil.h"

static cnn_rng g_rng;
static const cnn_backend *const cpu = &cnn_backend_cpu, *const ref = &cnn_backend_ref;

/* n floats: uniform in [lo, hi), or a copy of `of` when given */
static float *arr(size_t n, const float *of, float lo, float hi)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    if (of)
        memcpy(p, of, n * sizeof *p);
    else
        tu_fill(p, n, lo, hi, &g_rng);
    return p;
}
#define rnd(n, lo, hi) arr(n, NULL, lo, hi)
#define dup(a, n)      arr(n, a, 0, 0)

static size_t prod(int r, const int *d)
{
    size_t n = 1;
    for (int i = 0; i < r; i++)
        n *= (size_t)d[i];
    return n;
}

/* within float rounding; equal infinities and NaN against NaN count as equal */
static int close_enough(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))) &&
            !tu_close(a + i, b + i, 1, 1e-6f, 1e-5f, what))
            return 0;
    return 1;
}
#define CLOSE(a, b, n, what) assert_true(close_enough(a, b, n, what))

/* ---------------------------------------------------------------- binary */
/* a, b of rank r (1 where broadcast) -> the desc over the broadcast output */
static size_t bin_desc(int r, const int *da, const int *db, cnn_nd_desc *d, size_t *na, size_t *nb)
{
    int64_t sa[CNN_MAX_DIMS], sb[CNN_MAX_DIMS];
    int64_t s = 1, t = 1;
    for (int i = r - 1; i >= 0; i--) {
        sa[i] = s;
        sb[i] = t;
        s *= da[i];
        t *= db[i];
    }
    d->r = r;
    for (int i = 0; i < r; i++) {
        d->dims[i] = da[i] > db[i] ? da[i] : db[i];
        d->st[0][i] = da[i] == 1 ? 0 : sa[i];
        d->st[1][i] = db[i] == 1 ? 0 : sb[i];
    }
    int64_t u = 1;
    for (int i = r - 1; i >= 0; i--) {
        d->st[2][i] = u;
        u *= d->dims[i];
    }
    *na = (size_t)s;
    *nb = (size_t)t;
    return (size_t)u;
}

static void check_binary(int r, const int *da, const int *db)
{
    cnn_nd_desc d;
    size_t na, nb, ny = bin_desc(r, da, db, &d, &na, &nb);
    float *a = rnd(na, 0.5f, 2.0f), *b = rnd(nb, 0.5f, 2.0f);
    for (size_t i = 0; i < na && i < nb; i += 7)
        a[i] = b[i]; /* ties for max / min */
    float *y0 = rnd(ny, 0, 1), *y1 = rnd(ny, 0, 1), *dy = rnd(ny, -1, 1);
    for (int op = CNN_BIN_ADD; op <= CNN_BIN_POW; op++) {
        char what[64];
        snprintf(what, sizeof what, "binary op %d forward", op);
        ref->binary_forward((cnn_binary_op)op, &d, a, b, y0);
        cpu->binary_forward((cnn_binary_op)op, &d, a, b, y1);
        CLOSE(y1, y0, ny, what);
        for (int k = 0; k < 2; k++) {
            size_t nx = k ? nb : na;
            float *g0 = rnd(nx, -1, 1), *g1 = dup(g0, nx);
            ref->binary_backward((cnn_binary_op)op, &d, k, a, b, y0, dy, g0);
            cpu->binary_backward((cnn_binary_op)op, &d, k, a, b, y0, dy, g1);
            snprintf(what, sizeof what, "binary op %d grad of operand %d", op, k);
            CLOSE(g1, g0, nx, what);
            free(g0);
            free(g1);
        }
    }
    free(a), free(b), free(y0), free(y1), free(dy);
}

static void test_binary(void **state)
{
    (void)state;
    check_binary(4, (const int[]){2, 3, 40, 300}, (const int[]){2, 3, 40, 300});
    check_binary(3, (const int[]){4, 64, 300}, (const int[]){1, 64, 1});
    check_binary(3, (const int[]){4, 64, 300}, (const int[]){1, 1, 300});
    check_binary(3, (const int[]){1, 1, 300}, (const int[]){4, 64, 1});
    check_binary(4, (const int[]){4, 1, 5, 7}, (const int[]){4, 6, 1, 7});
}

/* ---------------------------------------------------------------- unary */
static void test_unary(void **state)
{
    (void)state;
    size_t n = 70001;
    float *x = rnd(n, 0.1f, 3.0f), *y0 = rnd(n, 0, 1), *y1 = rnd(n, 0, 1), *dy = rnd(n, -1, 1);
    x[5] = 0.0f; /* abs' at 0 */
    for (int op = CNN_UN_NEG; op <= CNN_UN_RECIPROCAL; op++) {
        ref->unary_forward((cnn_unary_op)op, n, x, y0);
        cpu->unary_forward((cnn_unary_op)op, n, x, y1);
        CLOSE(y1, y0, n, "unary forward");
        float *g0 = rnd(n, -1, 1), *g1 = dup(g0, n);
        ref->unary_backward((cnn_unary_op)op, n, x, y0, dy, g0);
        cpu->unary_backward((cnn_unary_op)op, n, x, y0, dy, g1);
        CLOSE(g1, g0, n, "unary backward");
        free(g0), free(g1);
    }
    free(x), free(y0), free(y1), free(dy);
}

/* ---------------------------------------------------------------- reduce */
static void check_reduce(const bool *mask)
{
    cnn_reduce_desc d = {.r = 4, .dims = {4, 30, 20, 40}};
    memcpy(d.reduced, mask, 4 * sizeof *mask);
    size_t nx = prod(4, d.dims), ny = 1;
    for (int i = 0; i < 4; i++)
        ny *= mask[i] ? 1 : (size_t)d.dims[i];
    float *x = rnd(nx, -1, 1);
    for (size_t i = 0; i < nx; i++)
        x[i] = roundf(x[i] * 4.0f) / 4.0f; /* many ties */
    float *y0 = rnd(ny, 0, 1), *y1 = rnd(ny, 0, 1), *dy = rnd(ny, -1, 1);
    for (int op = CNN_REDUCE_MEAN; op <= CNN_REDUCE_MIN; op++) {
        d.op = (cnn_reduce_op)op;
        ref->reduce_forward(&d, x, y0);
        cpu->reduce_forward(&d, x, y1);
        CLOSE(y1, y0, ny, "reduce forward");
        float *g0 = rnd(nx, -1, 1), *g1 = dup(g0, nx);
        ref->reduce_backward(&d, x, y0, dy, g0);
        cpu->reduce_backward(&d, x, y0, dy, g1);
        CLOSE(g1, g0, nx, "reduce backward");
        free(g0), free(g1);
    }
    free(x), free(y0), free(y1), free(dy);
}

static void test_reduce(void **state)
{
    (void)state;
    check_reduce((const bool[]){false, false, false, true});
    check_reduce((const bool[]){false, true, false, false});
    check_reduce((const bool[]){false, true, false, true});
    check_reduce((const bool[]){false, true, true, true});
    check_reduce((const bool[]){true, true, true, true});
}

/* ---------------------------------------------------------------- matmul */
/* stacks (2, 3); A broadcast along stack dim ba (-1: none), B along bb */
static void check_matmul(int M, int K, int N, int ba, int bb)
{
    cnn_matmul_desc d = {.M = M, .K = K, .N = N, .nb = 2, .stack = {2, 3}, .nstack = 6};
    int64_t sta = (int64_t)M * K, stb = (int64_t)K * N;
    for (int i = 1; i >= 0; i--) {
        d.sa[i] = i == ba ? 0 : sta;
        d.sb[i] = i == bb ? 0 : stb;
        sta *= i == ba ? 1 : d.stack[i];
        stb *= i == bb ? 1 : d.stack[i];
    }
    size_t na = (size_t)sta, nb = (size_t)stb, ny = (size_t)(6 * M * N);
    float *a = rnd(na, -1, 1), *b = rnd(nb, -1, 1), *dy = rnd(ny, -1, 1);
    float *y0 = rnd(ny, 0, 1), *y1 = rnd(ny, 0, 1);
    ref->matmul_forward(&d, a, b, y0);
    cpu->matmul_forward(&d, a, b, y1);
    CLOSE(y1, y0, ny, "matmul forward");
    float *g0 = rnd(na, -1, 1), *g1 = dup(g0, na);
    ref->matmul_backward_a(&d, b, dy, g0);
    cpu->matmul_backward_a(&d, b, dy, g1);
    CLOSE(g1, g0, na, "matmul dA");
    free(g0), free(g1);
    g0 = rnd(nb, -1, 1), g1 = dup(g0, nb);
    ref->matmul_backward_b(&d, a, dy, g0);
    cpu->matmul_backward_b(&d, a, dy, g1);
    CLOSE(g1, g0, nb, "matmul dB");
    free(g0), free(g1), free(a), free(b), free(dy), free(y0), free(y1);
}

static void test_matmul(void **state)
{
    (void)state;
    check_matmul(20, 30, 40, -1, -1);
    check_matmul(20, 30, 40, -1, 0);
    check_matmul(20, 30, 40, 1, -1);
    check_matmul(1, 17, 5, 0, 1);
}

/* ---------------------------------------------------------------- pad */
static void check_pad(cnn_pad_mode mode, const int *in, const int *pads)
{
    cnn_pad_desc d = {.r = 3, .mode = mode, .value = -2.5f};
    size_t idx = 0;
    for (int i = 0; i < 3; i++) {
        d.in[i] = in[i];
        d.pads[i] = pads[i];
        d.pads[3 + i] = pads[3 + i];
        d.out[i] = in[i] + pads[i] + pads[3 + i];
        idx += (size_t)d.out[i];
    }
    size_t nx = prod(3, d.in), ny = prod(3, d.out);
    int64_t *scratch = malloc(idx * sizeof *scratch);
    assert_non_null(scratch);
    float *x = rnd(nx, -1, 1), *y0 = rnd(ny, 0, 1), *y1 = rnd(ny, 0, 1), *dy = rnd(ny, -1, 1);
    ref->pad_forward(&d, x, y0, scratch);
    cpu->pad_forward(&d, x, y1, scratch);
    CLOSE(y1, y0, ny, "pad forward");
    float *g0 = rnd(nx, -1, 1), *g1 = dup(g0, nx);
    ref->pad_backward(&d, dy, g0, scratch);
    cpu->pad_backward(&d, dy, g1, scratch);
    CLOSE(g1, g0, nx, "pad backward");
    free(g0), free(g1), free(x), free(y0), free(y1), free(dy), free(scratch);
}

static void test_pad(void **state)
{
    (void)state;
    for (int m = CNN_PAD_CONSTANT; m <= CNN_PAD_EDGE; m++) {
        check_pad((cnn_pad_mode)m, (const int[]){8, 60, 150}, (const int[]){0, 2, -3, 0, 5, 4});
        check_pad((cnn_pad_mode)m, (const int[]){2, 5, 7}, (const int[]){1, 11, 0, 0, -2, 13});
    }
}

/* ---------------------------------------------------------------- slice, transpose */
static void test_slice(void **state)
{
    (void)state;
    const cnn_slice_desc cases[] = {
        {.outer = 6, .d = 50, .inner = 300, .first = 45, .step = -3, .count = 15},
        {.outer = 6, .d = 50, .inner = 300, .first = 1, .step = 2, .count = 25},
        {.outer = 70000, .d = 3, .inner = 1, .first = 2, .step = 1, .count = 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const cnn_slice_desc *d = &cases[c];
        size_t nx = (size_t)(d->outer * d->d * d->inner),
               ny = (size_t)(d->outer * d->count * d->inner);
        float *x = rnd(nx, -1, 1), *y0 = rnd(ny, 0, 1), *y1 = rnd(ny, 0, 1), *dy = rnd(ny, -1, 1);
        ref->slice_forward(d, x, y0);
        cpu->slice_forward(d, x, y1);
        CLOSE(y1, y0, ny, "slice forward");
        float *g0 = rnd(nx, -1, 1), *g1 = dup(g0, nx);
        ref->slice_backward(d, dy, g0);
        cpu->slice_backward(d, dy, g1);
        CLOSE(g1, g0, nx, "slice backward");
        free(g0), free(g1), free(x), free(y0), free(y1), free(dy);
    }
}

static void check_transpose(const int *dx, const int *perm)
{
    cnn_nd_desc d = {.r = 4};
    int64_t sx[CNN_MAX_DIMS], s = 1;
    for (int i = 3; i >= 0; i--) {
        sx[i] = s;
        s *= dx[i];
    }
    for (int i = 0; i < 4; i++) {
        d.dims[i] = dx[perm[i]];
        d.st[0][i] = sx[perm[i]];
    }
    s = 1;
    for (int i = 3; i >= 0; i--) {
        d.st[1][i] = s;
        s *= d.dims[i];
    }
    size_t n = prod(4, dx);
    float *x = rnd(n, -1, 1), *y0 = rnd(n, 0, 1), *y1 = rnd(n, 0, 1), *dy = rnd(n, -1, 1);
    ref->transpose_forward(&d, x, y0);
    cpu->transpose_forward(&d, x, y1);
    CLOSE(y1, y0, n, "transpose forward");
    float *g0 = rnd(n, -1, 1), *g1 = dup(g0, n);
    ref->transpose_backward(&d, dy, g0);
    cpu->transpose_backward(&d, dy, g1);
    CLOSE(g1, g0, n, "transpose backward");
    free(g0), free(g1), free(x), free(y0), free(y1), free(dy);
}

static void test_transpose(void **state)
{
    (void)state;
    check_transpose((const int[]){4, 30, 20, 30}, (const int[]){0, 3, 1, 2});
    check_transpose((const int[]){4, 30, 20, 30}, (const int[]){0, 2, 1, 3});
    check_transpose((const int[]){3, 1, 5, 2}, (const int[]){3, 2, 1, 0});
}

static int setup(void **state)
{
    (void)state;
    cnn_rng_seed(&g_rng, 1414);
    return 0;
}

int main(void)
{
    int fails = 0;
    for (int t = 1; t <= 2; t++) {
        cnn_set_threads(t);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(test_binary, setup),
            cmocka_unit_test_setup(test_unary, setup),
            cmocka_unit_test_setup(test_reduce, setup),
            cmocka_unit_test_setup(test_matmul, setup),
            cmocka_unit_test_setup(test_pad, setup),
            cmocka_unit_test_setup(test_slice, setup),
            cmocka_unit_test_setup(test_transpose, setup),
        };
        fails += cmocka_run_group_tests(tests, NULL, NULL);
    }
    return tu_exit_status(fails);
}

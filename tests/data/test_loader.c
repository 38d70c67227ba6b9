/* The batch loader (src/data/loader.c, transform.c): every example once per epoch,
   the partial last batch, order as a function of (seed, epoch), augmentation as a
   function of (seed, epoch, example) checked against a naive crop/flip, normalisation,
   resizing, and shutdown mid-epoch. */
#define _XOPEN_SOURCE 700
#include <math.h>

#include "datatest.h"

/* n examples of shape c x h x w (f32): value idx * 1000 + k, label idx % 7. */
static void make_f32(cnn_dataset *d, int n, int c, int h, int w)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->classes = 7;
    size_t m = (size_t)c * h * w;
    d->f32 = malloc(sizeof(float) * n * m);
    d->labels = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) {
        d->labels[i] = i % 7;
        for (size_t k = 0; k < m; k++) d->f32[i * m + k] = (float)(i * 1000 + (int)k);
    }
}

/* Random pixels; label = index (so batches say which example they hold). */
static void make_u8(cnn_dataset *d, int n, int c, int h, int w, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->classes = n;
    size_t m = (size_t)c * h * w;
    d->u8 = malloc(n * m);
    d->labels = malloc(sizeof(int32_t) * n);
    cnn_rng rng;
    cnn_rng_seed(&rng, seed);
    for (size_t i = 0; i < n * m; i++) d->u8[i] = (uint8_t)cnn_rng_below(&rng, 256);
    for (int i = 0; i < n; i++) d->labels[i] = i;
}

/* The test's datasets are malloc'd here, so freed here (cnn_dataset_free uses the
   library allocator, which is malloc underneath, but keep the pairing explicit). */
static void free_ds(cnn_dataset *d)
{
    free(d->u8);
    free(d->f32);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

/* Next batch, failing the test on error; returns its size (0 at the end). */
static int next_batch(cnn_loader *l, const float **x, const float **y)
{
    int n = -1;
    TU_OK(cnn_loader_next(l, x, y, &n));
    return n;
}

/* One epoch's example order (from the f32 values), checking batch sizes and labels. */
static void epoch_order(cnn_loader *l, const cnn_dataset *d, int epoch, int batch, int *order)
{
    TU_OK(cnn_loader_start_epoch(l, epoch));
    size_t m = (size_t)d->c * d->h * d->w;
    int seen = 0, batches = 0;
    for (;;) {
        const float *x, *y;
        int n;
        TU_OK(cnn_loader_next(l, &x, &y, &n));
        if (n == 0) break;
        batches++;
        int expect = d->n - seen < batch ? d->n - seen : batch;
        assert_int_equal(n, expect);
        for (int k = 0; k < n; k++) {
            int idx = (int)(x[k * m] / 1000);
            assert_true(x[k * m + m - 1] == (float)(idx * 1000 + (int)m - 1));
            assert_true(y[k] == (float)d->labels[idx]);
            order[seen++] = idx;
        }
    }
    assert_int_equal(seen, d->n);
    assert_int_equal(batches, cnn_loader_num_batches(l));
    /* ends stay ended */
    const float *x, *y;
    int n = -1;
    TU_OK(cnn_loader_next(l, &x, &y, &n));
    assert_int_equal(n, 0);
}

static void assert_permutation(const int *order, int n)
{
    char *hit = calloc((size_t)n, 1);
    for (int i = 0; i < n; i++) {
        assert_in_range(order[i], 0, n - 1);
        assert_int_equal(hit[order[i]], 0);
        hit[order[i]] = 1;
    }
    free(hit);
}

static void test_epochs(void **state)
{
    (void)state;
    enum { N = 23, B = 5 };
    cnn_dataset d;
    make_f32(&d, N, 2, 3, 2);
    cnn_loader *a, *b, *plain;
    TU_OK(cnn_loader_new(&d, B, true, false, NULL, 42, &a));
    TU_OK(cnn_loader_new(&d, B, true, false, NULL, 42, &b));
    TU_OK(cnn_loader_new(&d, B, false, false, NULL, 42, &plain));
    assert_int_equal(cnn_loader_num_batches(a), 5); /* 4 full + 3 */
    int c, dd, h, w;
    cnn_loader_shape(a, &c, &dd, &h, &w);
    assert_int_equal(c, 2);
    assert_int_equal(dd, 0);
    assert_int_equal(h, 3);
    assert_int_equal(w, 2);

    int o0[N], o1[N], o2[N], p0[N], p1[N], q[N];
    epoch_order(a, &d, 0, B, o0);
    epoch_order(a, &d, 1, B, o1);
    epoch_order(a, &d, 2, B, o2);
    assert_permutation(o0, N);
    assert_permutation(o1, N);
    assert_permutation(o2, N);
    assert_memory_not_equal(o0, o1, sizeof o0);
    assert_memory_not_equal(o1, o2, sizeof o0);
    /* resuming at epoch 2 reproduces epoch 2; repeating epoch 0 reproduces it */
    epoch_order(b, &d, 2, B, p0);
    assert_memory_equal(p0, o2, sizeof o0);
    epoch_order(b, &d, 0, B, p1);
    assert_memory_equal(p1, o0, sizeof o0);
    /* no shuffle: dataset order */
    epoch_order(plain, &d, 3, B, q);
    for (int i = 0; i < N; i++) assert_int_equal(q[i], i);
    cnn_loader_free(a);
    cnn_loader_free(b);
    cnn_loader_free(plain);

    /* another seed, another order */
    TU_OK(cnn_loader_new(&d, B, true, false, NULL, 43, &a));
    epoch_order(a, &d, 0, B, p0);
    assert_memory_not_equal(p0, o0, sizeof o0);
    cnn_loader_free(a);
    /* batch larger than the data set: one partial batch */
    TU_OK(cnn_loader_new(&d, 64, true, false, NULL, 1, &a));
    assert_int_equal(cnn_loader_num_batches(a), 1);
    epoch_order(a, &d, 0, 64, p0);
    assert_permutation(p0, N);
    cnn_loader_free(a);
    free_ds(&d);
}

/* Naive RandomCrop(padding) + flip of one channel-plane set: out[y][x] =
   in[y + oy - pad][(flip ? w-1-x : x) + ox - pad], zero outside. */
static void naive_aug(const float *in, int c, int h, int w, int pad, int oy, int ox, int flip,
                      float *out)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int sy = y + oy - pad, sx = (flip ? w - 1 - x : x) + ox - pad;
                out[(ch * h + y) * w + x] =
                    sy >= 0 && sy < h && sx >= 0 && sx < w ? in[(ch * h + sy) * w + sx] : 0.0f;
            }
}

/* All augmented examples of one epoch, by example index. */
static void epoch_examples(cnn_loader *l, int epoch, int n, size_t m, float *by_idx)
{
    TU_OK(cnn_loader_start_epoch(l, epoch));
    const float *x, *y;
    int k;
    while ((k = next_batch(l, &x, &y)) > 0)
        for (int j = 0; j < k; j++) memcpy(by_idx + (size_t)y[j] * m, x + j * m, m * sizeof(float));
    (void)n;
}

static void test_augment(void **state)
{
    (void)state;
    enum { N = 40, C = 3, H = 6, W = 5, PAD = 2 };
    const size_t m = C * H * W;
    cnn_dataset d;
    make_u8(&d, N, C, H, W, 3);
    cnn_transform t = {.crop_padding = PAD, .hflip = true};
    cnn_loader *a, *b, *noaug;
    TU_OK(cnn_loader_new(&d, 7, true, true, &t, 9, &a));
    TU_OK(cnn_loader_new(&d, 16, false, true, &t, 9, &b)); /* other batching and order */
    TU_OK(cnn_loader_new(&d, 7, true, false, &t, 9, &noaug));
    float *ea = malloc(sizeof(float) * N * m), *eb = malloc(sizeof(float) * N * m),
          *e1 = malloc(sizeof(float) * N * m), *en = malloc(sizeof(float) * N * m);
    epoch_examples(a, 0, N, m, ea);
    epoch_examples(b, 0, N, m, eb);
    epoch_examples(a, 1, N, m, e1);
    epoch_examples(noaug, 0, N, m, en);
    /* a function of (seed, epoch, example), not of batching or order */
    assert_memory_equal(ea, eb, sizeof(float) * N * m);
    assert_memory_not_equal(ea, e1, sizeof(float) * N * m);

    /* each output is one of the (2 pad + 1)^2 x 2 crops/flips; several kinds occur */
    int used[2 * PAD + 1][2 * PAD + 1][2] = {{{0}}};
    float src[m], cand[m];
    for (int i = 0; i < N; i++) {
        for (size_t k = 0; k < m; k++) src[k] = d.u8[i * m + k] / 255.0f;
        TU_ASSERT_CLOSE(en + i * m, src, m, 1e-7f, 0, "no augmentation");
        int found = 0;
        for (int oy = 0; oy <= 2 * PAD && !found; oy++)
            for (int ox = 0; ox <= 2 * PAD && !found; ox++)
                for (int f = 0; f < 2 && !found; f++) {
                    naive_aug(src, C, H, W, PAD, oy, ox, f, cand);
                    if (!memcmp(cand, ea + i * m, sizeof cand)) {
                        found = 1;
                        used[oy][ox][f]++;
                    }
                }
        if (!found) fail_msg("example %d: not a padded crop/flip of its source", i);
    }
    int kinds = 0, flips = 0;
    for (int oy = 0; oy <= 2 * PAD; oy++)
        for (int ox = 0; ox <= 2 * PAD; ox++) {
            kinds += (used[oy][ox][0] > 0) + (used[oy][ox][1] > 0);
            flips += used[oy][ox][1];
        }
    assert_true(kinds >= 10);          /* 40 draws over 50 cases */
    assert_in_range(flips, 8, 32);     /* p = 0.5 over 40 examples */
    cnn_loader_free(a);
    cnn_loader_free(b);
    cnn_loader_free(noaug);
    free(ea);
    free(eb);
    free(e1);
    free(en);
    free_ds(&d);
}

static void test_normalize_resize(void **state)
{
    (void)state;
    cnn_dataset d;
    make_u8(&d, 6, 3, 4, 4, 5);
    cnn_transform t = {.normalize = true, .mean = {0.4914f, 0.4822f, 0.4465f}, .std = {0.247f, 0.243f, 0.261f}};
    cnn_loader *l;
    TU_OK(cnn_loader_new(&d, 4, false, true, &t, 1, &l));
    TU_OK(cnn_loader_start_epoch(l, 0));
    const float *x, *y;
    int n;
    TU_OK(cnn_loader_next(l, &x, &y, &n));
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 16; k++) {
                float want = (d.u8[(i * 3 + c) * 16 + k] / 255.0f - t.mean[c]) / t.std[c];
                assert_float_equal(x[(i * 3 + c) * 16 + k], want, 1e-6);
            }
    TU_OK(cnn_loader_next(l, &x, &y, &n));
    assert_int_equal(n, 2);
    assert_true(y[1] == 5.0f);
    cnn_loader_free(l);
    free_ds(&d);

    /* 28x28 -> 96x96 (Fashion-MNIST into an ImageNet-style model) */
    int nres = tu_quick() ? 3 : 10;
    make_u8(&d, nres, 1, 28, 28, 6);
    cnn_transform r = {.resize_h = 96, .resize_w = 96, .crop_padding = 4, .hflip = true};
    TU_OK(cnn_loader_new(&d, 4, false, false, &r, 1, &l));
    int c, dd, h, w;
    cnn_loader_shape(l, &c, &dd, &h, &w);
    assert_int_equal(c, 1);
    assert_int_equal(dd, 0);
    assert_int_equal(h, 96);
    assert_int_equal(w, 96);
    float src[28 * 28], want[96 * 96];
    TU_OK(cnn_loader_start_epoch(l, 0));
    int seen = 0;
    while ((n = next_batch(l, &x, &y)) > 0)
        for (int i = 0; i < n; i++, seen++) {
            for (int k = 0; k < 28 * 28; k++) src[k] = d.u8[seen * 784 + k] / 255.0f;
            cnn_resize_bilinear(src, 1, 28, 28, want, 96, 96);
            TU_ASSERT_CLOSE(x + i * 96 * 96, want, 96 * 96, 1e-7f, 0, "resized example");
        }
    assert_int_equal(seen, nres);
    cnn_loader_free(l);
    free_ds(&d);
}

/* 3D examples (c, d, h, w): crop/flip per plane, shape kept. */
static void test_3d(void **state)
{
    (void)state;
    cnn_dataset d;
    make_f32(&d, 5, 2, 3, 4);
    d.d = 3; /* examples (2, 3, 3, 4): reinterpret as c=2, d=3, h=3, w=4 */
    d.h = 3;
    d.w = 4;
    free(d.f32);
    size_t m = 2 * 3 * 3 * 4;
    d.f32 = malloc(sizeof(float) * 5 * m);
    for (size_t i = 0; i < 5 * m; i++) d.f32[i] = (float)i;
    cnn_transform t = {.hflip = true};
    cnn_loader *l;
    TU_OK(cnn_loader_new(&d, 5, false, true, &t, 2, &l));
    int c, dd, h, w;
    cnn_loader_shape(l, &c, &dd, &h, &w);
    assert_int_equal(c, 2);
    assert_int_equal(dd, 3);
    assert_int_equal(h, 3);
    assert_int_equal(w, 4);
    TU_OK(cnn_loader_start_epoch(l, 0));
    const float *x, *y;
    int n;
    TU_OK(cnn_loader_next(l, &x, &y, &n));
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++) {
        const float *s = d.f32 + i * m, *o = x + i * m;
        bool flip = o[0] != s[0];
        for (size_t p = 0; p < 2 * 3; p++) /* every (c, d) plane flipped alike */
            for (int yy = 0; yy < 3; yy++)
                for (int xx = 0; xx < 4; xx++)
                    assert_true(o[p * 12 + yy * 4 + xx] == s[p * 12 + yy * 4 + (flip ? 3 - xx : xx)]);
    }
    cnn_loader_free(l);
    free_ds(&d);
}

static void test_lifecycle(void **state)
{
    (void)state;
    cnn_dataset d;
    int n_ex = tu_quick() ? 300 : 2000;
    make_u8(&d, n_ex, 1, 28, 28, 8);
    cnn_transform t = {.crop_padding = 2, .hflip = true, .normalize = true, .mean = {0.5f}, .std = {0.5f}};
    cnn_loader *l;
    const float *x, *y;
    int n;

    /* free without an epoch, and mid-epoch with the worker ahead */
    TU_OK(cnn_loader_new(&d, 32, true, true, &t, 1, &l));
    DT_FAILS(cnn_loader_next(l, &x, &y, &n), CNN_ERR_STATE, "start_epoch");
    cnn_loader_free(l);
    TU_OK(cnn_loader_new(&d, 32, true, true, &t, 1, &l));
    TU_OK(cnn_loader_start_epoch(l, 0));
    TU_OK(cnn_loader_next(l, &x, &y, &n));
    assert_int_equal(n, 32);
    cnn_loader_free(l);

    /* restarting mid-epoch, several epochs: every example once each time */
    TU_OK(cnn_loader_new(&d, 32, true, true, &t, 1, &l));
    TU_OK(cnn_loader_start_epoch(l, 0));
    TU_OK(cnn_loader_next(l, &x, &y, &n));
    TU_OK(cnn_loader_next(l, &x, &y, &n));
    char *hit = malloc((size_t)n_ex);
    for (int e = 0; e < 3; e++) {
        memset(hit, 0, (size_t)n_ex);
        TU_OK(cnn_loader_start_epoch(l, e));
        int total = 0;
        while ((n = next_batch(l, &x, &y)) > 0) {
            for (int i = 0; i < n; i++) {
                int idx = (int)y[i];
                assert_int_equal(hit[idx], 0);
                hit[idx] = 1;
                for (int k = 0; k < 784; k++) assert_true(x[i * 784 + k] >= -1.0f && x[i * 784 + k] <= 1.0f);
            }
            total += n;
        }
        assert_int_equal(total, n_ex);
    }
    free(hit);
    cnn_loader_free(l);
    cnn_loader_free(NULL);

    /* invalid arguments */
    DT_FAILS(cnn_loader_new(&d, 0, true, true, &t, 1, &l), CNN_ERR_INVALID_ARG, "batch 0");
    assert_null(l);
    cnn_transform bad = {.normalize = true, .std = {0.0f}};
    DT_FAILS(cnn_loader_new(&d, 4, true, true, &bad, 1, &l), CNN_ERR_INVALID_ARG, "std[0]");
    cnn_transform neg = {.crop_padding = -1};
    DT_FAILS(cnn_loader_new(&d, 4, true, true, &neg, 1, &l), CNN_ERR_INVALID_ARG, "crop_padding -1");
    cnn_dataset wide;
    make_f32(&wide, 3, 5, 2, 2);
    cnn_transform norm = {.normalize = true, .std = {1, 1, 1, 1}};
    DT_FAILS(cnn_loader_new(&wide, 4, true, true, &norm, 1, &l), CNN_ERR_INVALID_ARG, "at most 4 channels");
    free_ds(&wide);
    cnn_dataset empty = {0};
    DT_FAILS(cnn_loader_new(&empty, 4, true, true, NULL, 1, &l), CNN_ERR_INVALID_ARG, "empty");

    /* allocation failures in turn */
    int failures = 0;
    for (long k = 1; k < 50; k++) {
        cnn_alloc_fail_after(k);
        cnn_status s = cnn_loader_new(&d, 8, true, true, &t, 1, &l);
        cnn_alloc_fail_after(0);
        if (s == CNN_OK) {
            cnn_loader_free(l);
            break;
        }
        assert_int_equal(s, CNN_ERR_NOMEM);
        failures++;
    }
    assert_true(failures >= 5);
    free_ds(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epochs),           cmocka_unit_test(test_augment),
        cmocka_unit_test(test_normalize_resize), cmocka_unit_test(test_3d),
        cmocka_unit_test(test_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

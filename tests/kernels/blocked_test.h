/* Shared by the blocked-kernel tests (test_blocked_pw.c, test_blocked_dw.c,
   test_blocked_stem.c): random tensors, the nChw16c reorder both ways (padded lanes 0)
   and the scalar activations the epilogues are checked against. */
#ifndef CNN_TESTS_BLOCKED_TEST_H
#define CNN_TESTS_BLOCKED_TEST_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

static cnn_rng g_rng; /* each test seeds it */

static inline float *rnd(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    tu_fill(p, n, -1.0f, 1.0f, &g_rng);
    return p;
}

/* (N, C, S) -> (N, ceil(C/16), S, 16), padded lanes 0, and back */
#define CB(c) (((c) + 15) / 16)

static inline void to_blocked(const float *x, int n, int c, size_t s, float *xb)
{
    memset(xb, 0, (size_t)n * CB(c) * 16 * s * sizeof *xb);
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < s; p++)
                xb[(((size_t)i * CB(c) + ch / 16) * s + p) * 16 + ch % 16] = x[((size_t)i * c + ch) * s + p];
}

static inline void from_blocked(const float *xb, int n, int c, size_t s, float *x)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < s; p++)
                x[((size_t)i * c + ch) * s + p] = xb[(((size_t)i * CB(c) + ch / 16) * s + p) * 16 + ch % 16];
}

static inline float clamp06(float v) { return v < 0.0f ? 0.0f : v > 6.0f ? 6.0f : v; }

/* The activations of the cases, scalar, as the epilogue's act function (arg: the
   cnn_act_desc) and for the reference. */
static inline float act1(int act, float v)
{
    switch (act) {
    case CNN_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case CNN_ACT_RELU6: return clamp06(v);
    case CNN_ACT_HARDSWISH: return v * clamp06(v + 3.0f) / 6.0f;
    case CNN_ACT_HARDSIGMOID: return clamp06(v + 3.0f) / 6.0f;
    case CNN_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    default: return v;
    }
}

/* The reference epilogue on y (n, c, s), as far as stage epi: 1 scale and shift per
   channel, 2 plus res, 3 the activation act. */
static inline void ref_epilogue(float *y, int n, int c, size_t s, int epi, const float *sc,
                                const float *sh, const float *res, int act)
{
    for (size_t i = 0; i < (size_t)n * c; i++)
        for (size_t o = 0; o < s; o++) {
            float *v = &y[i * s + o];
            if (epi >= 1) *v = *v * sc[i % (size_t)c] + sh[i % (size_t)c];
            if (epi >= 2) *v = *v + res[i * s + o];
            if (epi >= 3) *v = act1(act, *v);
        }
}

static inline void act_fn(const void *arg, float *y, size_t n)
{
    const cnn_act_desc *a = arg;
    for (size_t i = 0; i < n; i++) y[i] = act1(a->act, y[i]);
}

#endif

/* The fused epilogue entry (docs/architecture.md, "Fusion"), kernel by kernel on both
   backends: every chain of stages (affine, residual add, each activation kind with
   torch's and other parameters) gives the bits of the same backend's standalone
   entries run one after another (bn_forward in eval mode with bn_eval_affine's
   coefficients, add_forward, act_forward), and the cpu epilogue agrees with ref's
   (the oracle) within float rounding. Shapes: planes of 1, odd and vector-multiple
   sizes, and one large enough for the cpu backend's threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels.h"
#include "testutil.h"

static cnn_rng g_rng;

static float *rnd(size_t n, float lo, float hi)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    tu_fill(p, n, lo, hi, &g_rng);
    return p;
}

/* the activations swept, with their parameters */
static const cnn_act_desc g_acts[] = {
    {CNN_ACT_RELU, 0.0f, 0.0f},        {CNN_ACT_RELU6, 0.0f, 0.0f},
    {CNN_ACT_SIGMOID, 0.0f, 0.0f},     {CNN_ACT_TANH, 0.0f, 0.0f},
    {CNN_ACT_HARDSWISH, 0.0f, 0.0f},   {CNN_ACT_HARDSIGMOID, 1.0f / 6.0f, 0.5f},
    {CNN_ACT_HARDSIGMOID, 0.2f, 0.5f}, {CNN_ACT_LEAKY_RELU, 0.01f, 0.0f},
    {CNN_ACT_LEAKY_RELU, 0.3f, 0.0f},  {CNN_ACT_ELU, 1.0f, 0.0f},
    {CNN_ACT_ELU, 0.5f, 0.0f},         {CNN_ACT_CLIP, -INFINITY, INFINITY},
    {CNN_ACT_CLIP, -0.25f, 0.75f},
};
#define N_ACTS ((int)(sizeof g_acts / sizeof g_acts[0]))

/* One case: y (n, c, s) through the stages picked by mask (1 affine, 2 add, 4 act)
   with activation act on backend be; returns the fused result (malloc'd) after
   checking it against the standalone entries bit for bit. */
static float *run_case(const cnn_backend *be, int n, int c, size_t s, int mask,
                       const cnn_act_desc *act, const float *x, const float *other,
                       const cnn_bn_args *bn)
{
    size_t len = (size_t)n * (size_t)c * s;
    float *fused = malloc(len * sizeof *fused), *sep = malloc(len * sizeof *sep);
    float *coef = malloc(2 * (size_t)c * sizeof *coef);
    assert_true(fused && sep && coef);
    memcpy(fused, x, len * sizeof *x);
    cnn_epilogue e = {.n = n, .c = c, .s = s};
    if (mask & 1) {
        cnn_epi_stage *st = &e.st[e.n_stages++];
        st->kind = CNN_EPI_AFFINE;
        st->scale = coef;
        st->shift = coef + c;
        be->bn_eval_affine(bn, st->scale, st->shift);
    }
    if (mask & 2) e.st[e.n_stages++] = (cnn_epi_stage){.kind = CNN_EPI_ADD, .other = other};
    if (mask & 4) e.st[e.n_stages++] = (cnn_epi_stage){.kind = CNN_EPI_ACT, .act = *act};
    be->epilogue(&e, fused);

    /* the same chain as separate ops, in place as an unfused chain runs */
    memcpy(sep, x, len * sizeof *x);
    if (mask & 1) {
        cnn_bn_args a = *bn;
        a.n = n, a.c = c, a.s = s, a.x = sep, a.y = sep;
        be->bn_forward(&a, false);
    }
    if (mask & 2) be->add_forward(sep, other, sep, len);
    if (mask & 4) be->act_forward(act, sep, sep, len);
    if (memcmp(fused, sep, len * sizeof *sep) != 0) {
        size_t i = 0;
        while (fused[i] == sep[i] || (isnan(fused[i]) && isnan(sep[i])))
            i++;
        fail_msg(
            "%s epilogue (%d, %d, %zu) stages %d act %d (%g, %g): [%zu] fused %.9g, separate %.9g",
            be->name, n, c, s, mask, act->act, (double)act->alpha, (double)act->beta, i,
            (double)fused[i], (double)sep[i]);
    }
    free(sep);
    free(coef);
    return fused;
}

static void sweep(int n, int c, size_t s)
{
    size_t len = (size_t)n * (size_t)c * s;
    float *x = rnd(len, -4.0f, 4.0f), *other = rnd(len, -1.0f, 1.0f);
    float *w = rnd((size_t)c, 0.5f, 1.5f), *b = rnd((size_t)c, -0.5f, 0.5f);
    float *rm = rnd((size_t)c, -0.5f, 0.5f), *rv = rnd((size_t)c, 0.5f, 2.0f);
    cnn_bn_args bn = {.n = n,
                      .c = c,
                      .s = s,
                      .eps = 1e-5f,
                      .momentum = 0.1f,
                      .w = w,
                      .b = b,
                      .rmean = rm,
                      .rvar = rv};
    char what[160];
    for (int mask = 1; mask < 8; mask++)
        for (int k = 0; k < ((mask & 4) ? N_ACTS : 1); k++) {
            float *r = run_case(&cnn_backend_ref, n, c, s, mask, &g_acts[k], x, other, &bn);
            float *p = run_case(&cnn_backend_cpu, n, c, s, mask, &g_acts[k], x, other, &bn);
            snprintf(what, sizeof what, "cpu vs ref epilogue (%d, %d, %zu) stages %d act %d", n, c,
                     s, mask, (mask & 4) ? g_acts[k].act : -1);
            /* sigmoid / tanh: vmath.h's polynomials against double libm, a few ulp */
            TU_ASSERT_CLOSE(p, r, len, 1e-6f, 1e-6f, what);
            free(r);
            free(p);
        }
    free(x), free(other), free(w), free(b), free(rm), free(rv);
}

static void test_epilogue_small(void **state)
{
    (void)state;
    sweep(1, 3, 1);  /* 1x1 planes */
    sweep(2, 5, 7);  /* odd planes, no vector multiple */
    sweep(3, 4, 16); /* vector multiples */
}

static void test_epilogue_threaded(void **state)
{
    (void)state;
    sweep(2, 24, 57 * 61); /* past the cpu backend's parallel threshold */
}

/* An empty epilogue changes nothing; stages in another order than planned still run
   in the order given (the backend does not reorder). */
static void test_epilogue_order(void **state)
{
    (void)state;
    const cnn_backend *bes[2] = {&cnn_backend_ref, &cnn_backend_cpu};
    for (int i = 0; i < 2; i++) {
        float y[6] = {-2, -1, 0, 1, 2, 3}, keep[6], one[6] = {1, 1, 1, 1, 1, 1};
        memcpy(keep, y, sizeof y);
        cnn_epilogue e = {.n = 1, .c = 2, .s = 3};
        bes[i]->epilogue(&e, y);
        assert_memory_equal(y, keep, sizeof y);
        /* relu, then + 1: every value >= 1 */
        e.n_stages = 2;
        e.st[0] = (cnn_epi_stage){.kind = CNN_EPI_ACT, .act = {CNN_ACT_RELU, 0, 0}};
        e.st[1] = (cnn_epi_stage){.kind = CNN_EPI_ADD, .other = one};
        bes[i]->epilogue(&e, y);
        const float want[6] = {1, 1, 1, 2, 3, 4};
        assert_memory_equal(y, want, sizeof y);
    }
}

int main(void)
{
    cnn_rng_seed(&g_rng, 77);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epilogue_small),
        cmocka_unit_test(test_epilogue_threaded),
        cmocka_unit_test(test_epilogue_order),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}

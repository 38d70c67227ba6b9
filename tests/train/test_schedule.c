/* LR schedules: constant, step (torch StepLR), cosine (CosineAnnealingLR) against the
   closed forms computed here in double, the linear warm-up, and edge cases. The
   cosine is also checked against torch's recursive form (what the epoch loop of
   CosineAnnealingLR computes) for integer epochs. */
#include <math.h>
#include <stdio.h>

#include "testutil.h"

#define PI 3.14159265358979323846

static void close_to(float got, double want, const char *what, double t)
{
    /* float results of double formulas: a few ulps */
    if (!(fabs(got - want) <= 1e-7 + 1e-6 * fabs(want)))
        fail_msg("%s at t=%g: got %.9g, want %.9g", what, t, (double)got, want);
}

static void test_constant(void **state)
{
    (void)state;
    cnn_schedule s = {.kind = CNN_SCHED_CONSTANT};
    for (int t = 0; t < 50; t += 7)
        close_to(cnn_schedule_lr(&s, 0.1f, (float)t), 0.1f, "constant", t);
    close_to(cnn_schedule_lr(NULL, 0.3f, 5.0f), 0.3f, "NULL schedule", 5);
}

static void test_step(void **state)
{
    (void)state;
    cnn_schedule s = {.kind = CNN_SCHED_STEP, .step_size = 30, .gamma = 0.1f};
    const double want[][2] = {{0, 0.1},   {29, 0.1},   {29.9, 0.1}, {30, 0.01},
                              {59, 0.01}, {60, 0.001}, {95, 0.0001}};
    for (int i = 0; i < 7; i++)
        close_to(cnn_schedule_lr(&s, 0.1f, (float)want[i][0]),
                 (double)0.1f * pow((double)0.1f, floor(want[i][0] / 30)), "step", want[i][0]);
    /* and the table read by a person */
    close_to(cnn_schedule_lr(&s, 0.1f, 60.0f), 0.001, "step table", 60);
    s.gamma = 0.5f;
    s.step_size = 2;
    close_to(cnn_schedule_lr(&s, 1.0f, 7.0f), 0.125, "step gamma 0.5", 7);
    s.gamma = 0.0f; /* default gamma 0.1 */
    close_to(cnn_schedule_lr(&s, 1.0f, 4.5f), 0.01, "step default gamma", 4.5);
    s.step_size = 0; /* no decay */
    close_to(cnn_schedule_lr(&s, 1.0f, 100.0f), 1.0, "step size 0", 100);
}

static void test_cosine(void **state)
{
    (void)state;
    const int T = 20;
    cnn_schedule s = {.kind = CNN_SCHED_COSINE, .total = T, .min_lr = 0.001f};
    const double lr = (double)0.1f, lo = (double)0.001f;
    for (double t = 0; t <= T + 3; t += 0.5) {
        double want = t >= T ? lo : lo + (lr - lo) * (1 + cos(PI * t / T)) / 2;
        close_to(cnn_schedule_lr(&s, 0.1f, (float)t), want, "cosine", t);
    }
    close_to(cnn_schedule_lr(&s, 0.1f, 0.0f), lr, "cosine start", 0);
    close_to(cnn_schedule_lr(&s, 0.1f, (float)T / 2), (lr + lo) / 2, "cosine middle", T / 2.0);
    /* torch's recursive CosineAnnealingLR update for epochs 1..T */
    double eta = lr;
    for (int e = 1; e <= T; e++) {
        eta = (1 + cos(PI * e / T)) / (1 + cos(PI * (e - 1) / T)) * (eta - lo) + lo;
        close_to(cnn_schedule_lr(&s, 0.1f, (float)e), eta, "cosine (torch recursion)", e);
    }
    s.total = 0; /* degenerate: constant */
    close_to(cnn_schedule_lr(&s, 0.1f, 3.0f), lr, "cosine total 0", 3);
}

static void test_warmup(void **state)
{
    (void)state;
    /* lr_t = base(t) * t / warmup for t < warmup */
    cnn_schedule s = {.kind = CNN_SCHED_COSINE, .total = 10, .warmup = 4};
    const double lr = (double)0.2f;
    for (double t = 0; t < 12; t += 0.25) {
        double base = t >= 10 ? 0.0 : lr * (1 + cos(PI * t / 10)) / 2;
        double want = t < 4 ? base * t / 4 : base;
        close_to(cnn_schedule_lr(&s, 0.2f, (float)t), want, "cosine + warm-up", t);
    }
    assert_true(cnn_schedule_lr(&s, 0.2f, 0.0f) == 0.0f);
    cnn_schedule c = {.kind = CNN_SCHED_CONSTANT, .warmup = 5};
    close_to(cnn_schedule_lr(&c, 1.0f, 1.0f), 0.2, "constant + warm-up", 1);
    close_to(cnn_schedule_lr(&c, 1.0f, 2.5f), 0.5, "constant + warm-up", 2.5);
    close_to(cnn_schedule_lr(&c, 1.0f, 5.0f), 1.0, "constant after warm-up", 5);
    /* rising monotonically during warm-up */
    float prev = -1;
    for (int i = 0; i <= 50; i++) {
        float v = cnn_schedule_lr(&c, 1.0f, (float)i / 10);
        assert_true(v > prev);
        prev = v;
    }
    /* negative or NaN t count as 0 */
    assert_true(cnn_schedule_lr(&c, 1.0f, -3.0f) == 0.0f);
    assert_true(cnn_schedule_lr(&c, 1.0f, NAN) == 0.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_warmup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

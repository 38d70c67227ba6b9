/* Learning-rate schedules, evaluated at a (fractional) epoch or step t >= 0.
 *
 *   constant: lr
 *   step:     lr * gamma^floor(t / step_size)           (torch StepLR; gamma 0 = 0.1,
 *             step_size < 1 = no decay)
 *   cosine:   min_lr + (lr - min_lr) * (1 + cos(pi * t / total)) / 2 for t < total,
 *             min_lr after                               (torch CosineAnnealingLR,
 *             closed form; total < 1 = constant lr)
 *
 * Warm-up: for t < warmup the rate above is scaled by t / warmup, so it rises
 * linearly from 0 at t = 0 and meets the base schedule at t = warmup:
 *   lr_t = base(t) * t / warmup   (t < warmup),   lr_t = base(t)   (t >= warmup).
 * The base schedule keeps counting from t = 0 (warm-up does not shift it). */
#include <math.h>

#include "cnn.h"

#define PI 3.14159265358979323846

static double base_rate(const cnn_schedule *s, double lr, double t)
{
    switch (s->kind) {
    case CNN_SCHED_STEP: {
        if (s->step_size < 1) return lr;
        double gamma = s->gamma != 0.0f ? (double)s->gamma : 0.1;
        return lr * pow(gamma, floor(t / (double)s->step_size));
    }
    case CNN_SCHED_COSINE: {
        if (s->total < 1) return lr;
        double lo = (double)s->min_lr;
        if (t >= (double)s->total) return lo;
        return lo + (lr - lo) * (1.0 + cos(PI * t / (double)s->total)) * 0.5;
    }
    case CNN_SCHED_CONSTANT:
    default: return lr;
    }
}

float cnn_schedule_lr(const cnn_schedule *s, float base_lr, float t)
{
    double tt = t > 0.0f ? (double)t : 0.0; /* also maps NaN to 0 */
    if (!s) return base_lr;
    double lr = base_rate(s, (double)base_lr, tt);
    if (s->warmup > 0 && tt < (double)s->warmup) lr *= tt / (double)s->warmup;
    return (float)lr;
}

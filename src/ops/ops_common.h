/* Small helpers several op files share: option resolution and PyTorch's pooling
   output size. */
#ifndef CNN_OPS_COMMON_H
#define CNN_OPS_COMMON_H
#include <stdbool.h>
#include <stddef.h>

#include "cnn.h"

/* An option that may be given per axis (specific), for all axes (general), or not. */
static inline int cnn_opt_pick(int specific, int general, int dflt)
{
    if (specific) return specific;
    if (general) return general;
    return dflt;
}

/* PyTorch's pooling_output_shape: floor (or ceil) of (in + 2p - d(k-1) - 1) / s + 1;
   in ceil mode a last window starting in the right padding is dropped. */
static inline int cnn_pool_out_size(int in, int k, int s, int p, int d, bool ceil_mode)
{
    int num = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1; /* floor division */
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

#endif

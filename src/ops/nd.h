/* N-dimensional helpers of the general tensor ops (binary, transpose, pad, reduce,
   matmul, ...): axis normalisation here; strides and the broadcast iteration their
   kernels use in kernels/nd_iter.h. See docs/architecture.md, "General tensor ops". */
#ifndef CNN_OPS_ND_H
#define CNN_OPS_ND_H
#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "../kernels/nd_iter.h"

/* ONNX / NumPy axis in [-rank, rank) -> [0, rank); -1 when out of range. */
static inline int cnn_nd_axis(int axis, int rank)
{
    if (axis < -rank || axis >= rank) return -1;
    return axis < 0 ? axis + rank : axis;
}

#endif

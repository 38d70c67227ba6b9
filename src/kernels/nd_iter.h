/* N-dimensional iteration shared by the general tensor ops and their kernels:
   row-major strides, and broadcast iteration over coalesced dimensions (up to 3
   operands read or written at strides over one index space). See
   docs/architecture.md, "General tensor ops". */
#ifndef CNN_KERNELS_ND_ITER_H
#define CNN_KERNELS_ND_ITER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cnn.h"

/* Row-major strides in elements. */
static inline void cnn_nd_strides(int ndim, const int *dims, int64_t *st)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

/* Up to 3 operands read or written at strides over one output index space (a stride
   of 0 repeats an element: broadcasting). Adjacent dimensions that are contiguous for
   every operand are merged, so the inner loop is as long as possible. */
#define CNN_ND_OPS 3
typedef struct cnn_nd_iter {
    int r; /* dimensions after merging (>= 1) */
    int64_t d[CNN_MAX_DIMS];
    int64_t st[CNN_ND_OPS][CNN_MAX_DIMS];
    int64_t rows, inner; /* rows = product of d[0..r-2], inner = d[r-1] */
} cnn_nd_iter;

/* dims: the index space (rank r); st[k]: operand k's strides over it (k < nops). */
static inline void cnn_nd_iter_init(cnn_nd_iter *it, int r, const int *dims, int nops,
                                    int64_t st[][CNN_MAX_DIMS])
{
    int m = 0;
    for (int i = 0; i < r; i++) {
        if (dims[i] == 1) continue; /* a size-1 dimension moves nothing */
        bool merge = m > 0;
        for (int k = 0; k < nops && merge; k++)
            if (it->st[k][m - 1] != st[k][i] * dims[i]) merge = false;
        if (merge) {
            it->d[m - 1] *= dims[i];
            for (int k = 0; k < nops; k++)
                it->st[k][m - 1] = st[k][i];
        } else {
            it->d[m] = dims[i];
            for (int k = 0; k < nops; k++)
                it->st[k][m] = st[k][i];
            m++;
        }
    }
    if (m == 0) { /* a single element */
        it->d[0] = 1;
        for (int k = 0; k < nops; k++)
            it->st[k][0] = 0;
        m = 1;
    }
    it->r = m;
    it->inner = it->d[m - 1];
    it->rows = 1;
    for (int i = 0; i < m - 1; i++)
        it->rows *= it->d[i];
}

/* Offsets of operand k at the start of row `row`. */
static inline void cnn_nd_row(const cnn_nd_iter *it, int64_t row, int nops, int64_t *off)
{
    for (int k = 0; k < nops; k++)
        off[k] = 0;
    for (int i = it->r - 2; i >= 0; i--) {
        int64_t c = row % it->d[i];
        row /= it->d[i];
        for (int k = 0; k < nops; k++)
            off[k] += c * it->st[k][i];
    }
}
#endif

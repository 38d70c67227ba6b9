/* Element-wise add and its gradient, plain scalar C (the oracle). */
#include "ref.h"

void cnn_ref_add_forward(const float *a, const float *b, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void cnn_ref_add_backward(const float *dy, float *da, float *db, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dy[i];
        if (db) db[i] += dy[i];
    }
}

/* Dense float32 tensors: shape helpers and owned allocation. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

size_t cnn_tensor_numel(const cnn_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->dims[i];
    return n;
}

const char *cnn_shape_str(int ndim, const int *dims, char *buf, size_t size)
{
    size_t pos = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    pos += (size_t)snprintf(buf + pos, size - pos, "(");
    for (int i = 0; i < ndim && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, i ? ", %d" : "%d", dims[i]);
    if (pos < size) snprintf(buf + pos, size - pos, ")");
    return buf;
}

cnn_status cnn_tensor_alloc(cnn_tensor *t, int ndim, const int *dims)
{
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > CNN_MAX_DIMS)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "tensor: %d dimensions (at most %d)", ndim,
                             CNN_MAX_DIMS);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return cnn_set_error(CNN_ERR_INVALID_ARG, "tensor: negative dimension %d", dims[i]);
        t->dims[i] = dims[i];
    }
    size_t n = cnn_tensor_numel(t);
    t->data = cnn_calloc(n, sizeof(float));
    if (!t->data) return cnn_set_error(CNN_ERR_NOMEM, "tensor: cannot allocate %zu floats", n);
    return CNN_OK;
}

void cnn_tensor_free(cnn_tensor *t)
{
    if (!t) return;
    cnn_free(t->data);
    t->data = NULL;
}

float cnn_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

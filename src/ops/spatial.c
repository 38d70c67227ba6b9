/* Shared by the convolution and pooling ops: see spatial.h. */
#include <stdio.h>

#include "spatial.h"

const char *cnn_dims_str(int nd, const int *v, char *buf, size_t size)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < nd && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, i ? "x%d" : "%d", v[i]);
    return buf;
}

static bool all_at_least(int nd, const int *v, int lo)
{
    for (int i = 0; i < nd; i++)
        if (v[i] < lo) return false;
    return true;
}

cnn_status cnn_spatial_input_check(cnn_node *n, int nd)
{
    const cnn_node *x = n->in[0];
    if (x->out.ndim != nd + 2)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input must be %s, got %s",
                              nd == 3 ? "(N, C, D, H, W)" : "(N, C, H, W)", cnn_node_shape_str(x));
    return CNN_OK;
}

cnn_status cnn_window_check(cnn_node *n, int nd, const int *k, const int *s, const int *d,
                            const int *p)
{
    char b[48];
    if (!all_at_least(nd, k, 1))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "kernel %s must be >= 1 (set .kernel)",
                              cnn_dims_str(nd, k, b, sizeof b));
    if (!all_at_least(nd, s, 1))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "stride %s must be >= 1",
                              cnn_dims_str(nd, s, b, sizeof b));
    if (d && !all_at_least(nd, d, 1))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "dilation %s must be >= 1",
                              cnn_dims_str(nd, d, b, sizeof b));
    if (!all_at_least(nd, p, 0))
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "padding %s must be >= 0",
                              cnn_dims_str(nd, p, b, sizeof b));
    return CNN_OK;
}

void cnn_spatial_set_out(cnn_node *n, int c, int nd, const int *o)
{
    n->out.ndim = nd + 2;
    n->out.dims[0] = n->in[0]->out.dims[0];
    n->out.dims[1] = c;
    for (int i = 0; i < nd; i++) n->out.dims[2 + i] = o[i];
}

/* Convolutions in which every output reads a single kernel tap: a 1x1 (x1) input
   plane with "same" padding, as in the last stage of a ResNet on 32x32 images (3x3,
   padding 1, 1x1 planes). The other taps only ever see padding, so the layer is a
   matrix product with that tap's weights:
     forward          Y (N x C_out) = X (N x C_in) Wt^T + b
     backward-data    dX += dY Wt
     backward-weights dWt += dY^T X, db += column sums of dY
   (Wt: the C_out x C_in weights of the tap, gathered into scratch; a 1x1 kernel's
   weights are Wt as they are). oneDNN's backward kernels visit every tap of such a
   layer: 9x the work for a 3x3 kernel. 1x1 kernels on 1x1 planes (the fully connected
   layers of a squeeze-and-excitation gate) are such layers too: a matrix product
   here, where oneDNN spent more on its call and reorders than on the arithmetic. */
#include "cpu_internal.h"

/* The one tap (index into the kernel volume) every output reads, or -1. */
static long live_tap(const cnn_conv_desc *c)
{
    long t = 0;
    for (int a = 0; a < 3; a++) {
        if (c->in[a] != 1 || c->out[a] != 1 || c->s[a] < 1) return -1;
        /* output 0 reads input i * d - p for tap i: in bounds only for i * d == p */
        if (c->p[a] % c->d[a] != 0) return -1;
        int i = c->p[a] / c->d[a];
        if (i >= c->k[a]) return -1;
        t = t * c->k[a] + i;
    }
    return t;
}

bool cnn_tap_conv_use(const cnn_conv_desc *c)
{
    return c->groups == 1 && live_tap(c) >= 0;
}

static bool one_tap(const cnn_conv_desc *c) { return (long)c->k[0] * c->k[1] * c->k[2] == 1; }

size_t cnn_tap_conv_scratch(const cnn_conv_desc *c)
{
    return ((size_t)c->c_out * (size_t)c->c_in + 16) * sizeof(float);
}

/* Wt (C_out x C_in) <- the live tap of w (C_out, C_in, kD, kH, kW). */
static void gather(const cnn_conv_desc *c, const float *w, float *wt)
{
    size_t kv = (size_t)c->k[0] * c->k[1] * c->k[2], t = (size_t)live_tap(c);
    size_t n = (size_t)c->c_out * c->c_in;
    for (size_t i = 0; i < n; i++) wt[i] = w[i * kv + t];
}

void cnn_tap_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                          float *y, void *scratch)
{
    const float *wt = w;
    if (!one_tap(c)) {
        gather(c, w, scratch);
        wt = scratch;
    }
    cnn_cpu_gemm(0, 1, c->n, c->c_out, c->c_in, 1.0f, x, c->c_in, wt, c->c_in, 0.0f, y, c->c_out);
    if (b)
        for (int n = 0; n < c->n; n++)
            for (int o = 0; o < c->c_out; o++) y[(size_t)n * c->c_out + o] += b[o];
}

void cnn_tap_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w, float *dx,
                                void *scratch)
{
    const float *wt = w;
    if (!one_tap(c)) {
        gather(c, w, scratch);
        wt = scratch;
    }
    cnn_cpu_gemm(0, 0, c->n, c->c_in, c->c_out, 1.0f, dy, c->c_out, wt, c->c_in, 1.0f, dx, c->c_in);
}

void cnn_tap_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                   float *dw, float *db, void *scratch)
{
    float *dwt = scratch;
    cnn_cpu_gemm(1, 0, c->c_out, c->c_in, c->n, 1.0f, dy, c->c_out, x, c->c_in, 0.0f, dwt, c->c_in);
    size_t kv = (size_t)c->k[0] * c->k[1] * c->k[2], t = (size_t)live_tap(c);
    size_t n = (size_t)c->c_out * c->c_in;
    for (size_t i = 0; i < n; i++) dw[i * kv + t] += dwt[i];
    if (db)
        for (int o = 0; o < c->c_out; o++) {
            float s = 0.0f;
            for (int m = 0; m < c->n; m++) s += dy[(size_t)m * c->c_out + o];
            db[o] += s;
        }
}

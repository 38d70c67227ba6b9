/* Reference pooling kernels: one output at a time, taps in (depth, row, column)
   order, as the entries of cnn_backend state them (docs/architecture.md, "Kernels").
   The cpu backend's fast paths give exactly these values and indices. */
#include <math.h>

#include "../../core/core.h"
#include "ref.h"

void cnn_ref_maxpool2d_window(const cnn_pool_desc *d, int i, int j, int win[4])
{
    const int h = d->in[1], w = d->in[2], dh = d->d[1], dw = d->d[2];
    int h0 = i * d->s[1] - d->p[1], w0 = j * d->s[2] - d->p[2];
    int h1 = CNN_MIN(h0 + (d->k[1] - 1) * dh + 1, h);
    int w1 = CNN_MIN(w0 + (d->k[2] - 1) * dw + 1, w);
    while (h0 < 0)
        h0 += dh;
    while (w0 < 0)
        w0 += dw;
    win[0] = h0, win[1] = h1, win[2] = w0, win[3] = w1;
}

void cnn_ref_maxpool2d_at(const cnn_pool_desc *d, const float *x, int i, int j, float *y,
                          int32_t *idx)
{
    const int w = d->in[2], dh = d->d[1], dw = d->d[2];
    int win[4];
    cnn_ref_maxpool2d_window(d, i, j, win);
    const int h0 = win[0], h1 = win[1], w0 = win[2], w1 = win[3];
    float best = -INFINITY;
    /* a window of padding only (possible with dilation) has no argmax: -1 */
    int32_t bi = (h0 < h1 && w0 < w1) ? h0 * w + w0 : -1;
    for (int u = h0; u < h1; u += dh)
        for (int v = w0; v < w1; v += dw) {
            float val = x[u * w + v];
            if (val > best || isnan(val)) {
                best = val;
                bi = u * w + v;
            }
        }
    *y = best;
    *idx = bi;
}

void cnn_ref_maxpool2d_forward(const cnn_pool_desc *d, const float *x, float *y, int32_t *idx)
{
    const int oh = d->out[1], ow = d->out[2];
    const size_t hw = (size_t)d->in[1] * d->in[2], ohw = (size_t)oh * ow;
    for (size_t p = 0; p < d->planes; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                size_t o = p * ohw + (size_t)i * ow + j;
                cnn_ref_maxpool2d_at(d, x + p * hw, i, j, y + o, idx + o);
            }
}

void cnn_ref_maxpool3d_forward(const cnn_pool_desc *d, const float *x, float *y, int32_t *idx)
{
    const int id = d->in[0], ih = d->in[1], iw = d->in[2];
    const int od = d->out[0], oh = d->out[1], ow = d->out[2];
    const size_t vin = (size_t)id * ih * iw, vout = (size_t)od * oh * ow;
    for (size_t p = 0; p < d->planes; p++) {
        const float *xp = x + p * vin;
        float *yp = y + p * vout;
        int32_t *ip = idx + p * vout;
        for (int t = 0; t < od; t++) {
            int d0 = t * d->s[0] - d->p[0], d1 = CNN_MIN(d0 + d->k[0], id);
            d0 = CNN_MAX(d0, 0);
            for (int i = 0; i < oh; i++) {
                int h0 = i * d->s[1] - d->p[1], h1 = CNN_MIN(h0 + d->k[1], ih);
                h0 = CNN_MAX(h0, 0);
                for (int j = 0; j < ow; j++) {
                    int w0 = j * d->s[2] - d->p[2], w1 = CNN_MIN(w0 + d->k[2], iw);
                    w0 = CNN_MAX(w0, 0);
                    /* padding <= kernel/2 and the ceil rule keep every window non-empty */
                    float best = -INFINITY;
                    int32_t bi = (d0 * ih + h0) * iw + w0;
                    for (int c = d0; c < d1; c++)
                        for (int u = h0; u < h1; u++)
                            for (int v = w0; v < w1; v++) {
                                int32_t q = (c * ih + u) * iw + v;
                                float val = xp[q];
                                if (val > best || isnan(val)) {
                                    best = val;
                                    bi = q;
                                }
                            }
                    size_t o = ((size_t)t * oh + i) * ow + j;
                    yp[o] = best;
                    ip[o] = bi;
                }
            }
        }
    }
}

void cnn_ref_maxpool_backward(const cnn_pool_desc *d, const float *dy, const int32_t *idx,
                              float *dx)
{
    const size_t vin = (size_t)d->in[0] * d->in[1] * d->in[2];
    const size_t vout = (size_t)d->out[0] * d->out[1] * d->out[2];
    for (size_t p = 0; p < d->planes; p++)
        for (size_t o = 0; o < vout; o++) {
            int32_t q = idx[p * vout + o];
            if (q >= 0) dx[p * vin + (size_t)q] += dy[p * vout + o];
        }
}

/* Output (i, j)'s window [h0, h1) x [w0, w1) clipped to the input and 1 / divisor
   (0 when the window holds no input element, as PyTorch). */
typedef struct avg_window {
    int h0, h1, w0, w1;
    float inv;
} avg_window;

static avg_window window_of(const cnn_pool_desc *d, int i, int j)
{
    const int h = d->in[1], w = d->in[2];
    avg_window r;
    int h0 = i * d->s[1] - d->p[1], w0 = j * d->s[2] - d->p[2];
    int h1 = CNN_MIN(h0 + d->k[1], h + d->p[1]), w1 = CNN_MIN(w0 + d->k[2], w + d->p[2]);
    int padded = (h1 - h0) * (w1 - w0);
    r.h0 = CNN_MAX(h0, 0);
    r.w0 = CNN_MAX(w0, 0);
    r.h1 = CNN_MIN(h1, h);
    r.w1 = CNN_MIN(w1, w);
    int real = (r.h1 - r.h0) * (r.w1 - r.w0);
    if (r.h0 >= r.h1 || r.w0 >= r.w1) {
        r.h1 = r.h0;
        r.inv = 0.0f;
    } else {
        r.inv = 1.0f / (float)(d->exclude_pad ? real : padded);
    }
    return r;
}

float cnn_ref_avgpool2d_window(const cnn_pool_desc *d, int i, int j, int win[4])
{
    avg_window r = window_of(d, i, j);
    win[0] = r.h0, win[1] = r.h1, win[2] = r.w0, win[3] = r.w1;
    return r.inv;
}

float cnn_ref_avgpool2d_at(const cnn_pool_desc *d, const float *x, int i, int j)
{
    avg_window r = window_of(d, i, j);
    float sum = 0.0f;
    for (int u = r.h0; u < r.h1; u++)
        for (int v = r.w0; v < r.w1; v++)
            sum += x[u * d->in[2] + v];
    return sum * r.inv;
}

void cnn_ref_avgpool2d_at_backward(const cnn_pool_desc *d, float g, int i, int j, float *dx)
{
    avg_window r = window_of(d, i, j);
    float gv = g * r.inv;
    for (int u = r.h0; u < r.h1; u++)
        for (int v = r.w0; v < r.w1; v++)
            dx[u * d->in[2] + v] += gv;
}

void cnn_ref_avgpool2d_forward(const cnn_pool_desc *d, const float *x, float *y)
{
    const int oh = d->out[1], ow = d->out[2];
    const size_t hw = (size_t)d->in[1] * d->in[2], ohw = (size_t)oh * ow;
    for (size_t p = 0; p < d->planes; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                y[p * ohw + (size_t)i * ow + j] = cnn_ref_avgpool2d_at(d, x + p * hw, i, j);
}

void cnn_ref_avgpool2d_backward(const cnn_pool_desc *d, const float *dy, float *dx)
{
    const int oh = d->out[1], ow = d->out[2];
    const size_t hw = (size_t)d->in[1] * d->in[2], ohw = (size_t)oh * ow;
    for (size_t p = 0; p < d->planes; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                cnn_ref_avgpool2d_at_backward(d, dy[p * ohw + (size_t)i * ow + j], i, j,
                                              dx + p * hw);
}

/* PyTorch's adaptive bins: [floor(i*in/out), ceil((i+1)*in/out)). */
static int bin_start(int i, int in, int out)
{
    return (int)((int64_t)i * in / out);
}
static int bin_end(int i, int in, int out)
{
    return (int)(((int64_t)(i + 1) * in + out - 1) / out);
}

void cnn_ref_adaptive_avgpool2d_forward(const cnn_pool_desc *d, const float *x, float *y)
{
    const int h = d->in[1], w = d->in[2], oh = d->out[1], ow = d->out[2];
    for (size_t p = 0; p < d->planes; p++) {
        const float *xp = x + p * h * w;
        float *yp = y + p * oh * ow;
        for (int i = 0; i < oh; i++) {
            int h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
            for (int j = 0; j < ow; j++) {
                int w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
                float sum = 0.0f;
                for (int u = h0; u < h1; u++)
                    for (int v = w0; v < w1; v++)
                        sum += xp[u * w + v];
                yp[i * ow + j] = sum / (float)((h1 - h0) * (w1 - w0));
            }
        }
    }
}

void cnn_ref_adaptive_avgpool2d_backward(const cnn_pool_desc *d, const float *dy, float *dx)
{
    const int h = d->in[1], w = d->in[2], oh = d->out[1], ow = d->out[2];
    for (size_t p = 0; p < d->planes; p++) {
        float *dxp = dx + p * h * w;
        const float *dyp = dy + p * oh * ow;
        for (int i = 0; i < oh; i++) {
            int h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
            for (int j = 0; j < ow; j++) {
                int w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
                float gv = dyp[i * ow + j] / (float)((h1 - h0) * (w1 - w0));
                for (int u = h0; u < h1; u++)
                    for (int v = w0; v < w1; v++)
                        dxp[u * w + v] += gv;
            }
        }
    }
}

void cnn_ref_global_avgpool_forward(size_t planes, size_t hw, const float *x, float *y)
{
    const float inv = 1.0f / (float)hw;
    for (size_t p = 0; p < planes; p++) {
        float sum = 0.0f;
        for (size_t k = 0; k < hw; k++)
            sum += x[p * hw + k];
        y[p] = sum * inv;
    }
}

void cnn_ref_global_avgpool_backward(size_t planes, size_t hw, const float *dy, float *dx)
{
    const float inv = 1.0f / (float)hw;
    for (size_t p = 0; p < planes; p++) {
        float g = dy[p] * inv;
        for (size_t k = 0; k < hw; k++)
            dx[p * hw + k] += g;
    }
}

/* The first maximum of a plane; a NaN wins (and ends the search). */
static size_t plane_argmax(const float *x, size_t hw)
{
    size_t best = 0;
    for (size_t k = 1; k < hw && !isnan(x[best]); k++)
        if (x[k] > x[best] || isnan(x[k])) best = k;
    return best;
}

void cnn_ref_global_maxpool_forward(size_t planes, size_t hw, const float *x, float *y)
{
    for (size_t p = 0; p < planes; p++)
        y[p] = x[p * hw + plane_argmax(x + p * hw, hw)];
}

void cnn_ref_global_maxpool_backward(size_t planes, size_t hw, const float *x, const float *dy,
                                     float *dx)
{
    for (size_t p = 0; p < planes; p++)
        dx[p * hw + plane_argmax(x + p * hw, hw)] += dy[p];
}

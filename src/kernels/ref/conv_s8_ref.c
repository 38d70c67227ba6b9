/* Reference int8 convolution (1-3 spatial dims, any stride/padding/dilation/groups):
   direct loops with an int32 accumulator per output, the oracle for every int8
   kernel (docs/architecture.md, "int8 precision"). Plain C; OpenMP over
   (example, output channel) only, which changes no arithmetic: integer sums are
   exact in any order. */
#include "ref.h"

size_t cnn_ref_conv_s8_scratch(const cnn_conv_desc *c)
{
    (void)c;
    return 0;
}

void cnn_quantize_s8(const float *x, size_t n, float s, int8_t *q)
{
    long chunks = (long)((n + 65535) / 65536);
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (long k = 0; k < chunks; k++) {
        size_t lo = (size_t)k * 65536, hi = lo + 65536 < n ? lo + 65536 : n;
        for (size_t i = lo; i < hi; i++) q[i] = cnn_q8(x[i], s);
    }
}

void cnn_ref_conv_forward_s8(const cnn_conv_desc *c, const int8_t *x, const int8_t *w,
                             const int32_t *b, const float *m, float *y, void *scratch)
{
    (void)scratch;
    int cg = c->c_in / c->groups, og = c->c_out / c->groups;
    size_t in_sp = (size_t)c->in[0] * c->in[1] * c->in[2];
    size_t out_sp = (size_t)c->out[0] * c->out[1] * c->out[2];
    size_t kvol = (size_t)c->k[0] * c->k[1] * c->k[2];
    long jobs = (long)c->n * c->c_out;
#pragma omp parallel for schedule(static)
    for (long job = 0; job < jobs; job++) {
        int n = (int)(job / c->c_out), o = (int)(job % c->c_out), grp = o / og;
        const int8_t *wo = w + (size_t)o * cg * kvol;
        float *yo = y + ((size_t)n * c->c_out + o) * out_sp;
        for (int od = 0; od < c->out[0]; od++)
            for (int oh = 0; oh < c->out[1]; oh++)
                for (int ow = 0; ow < c->out[2]; ow++) {
                    int32_t acc = b ? b[o] : 0;
                    for (int ci = 0; ci < cg; ci++) {
                        const int8_t *xc = x + ((size_t)n * c->c_in + (size_t)grp * cg + ci) * in_sp;
                        const int8_t *wc = wo + (size_t)ci * kvol;
                        for (int kd = 0; kd < c->k[0]; kd++) {
                            int id = od * c->s[0] - c->p[0] + kd * c->d[0];
                            if (id < 0 || id >= c->in[0]) continue;
                            for (int kh = 0; kh < c->k[1]; kh++) {
                                int ih = oh * c->s[1] - c->p[1] + kh * c->d[1];
                                if (ih < 0 || ih >= c->in[1]) continue;
                                for (int kw = 0; kw < c->k[2]; kw++) {
                                    int iw = ow * c->s[2] - c->p[2] + kw * c->d[2];
                                    if (iw < 0 || iw >= c->in[2]) continue;
                                    acc += (int32_t)xc[((size_t)id * c->in[1] + ih) * c->in[2] + iw] *
                                           (int32_t)wc[((size_t)kd * c->k[1] + kh) * c->k[2] + kw];
                                }
                            }
                        }
                    }
                    yo[((size_t)od * c->out[1] + oh) * c->out[2] + ow] = (float)acc * m[o];
                }
    }
}

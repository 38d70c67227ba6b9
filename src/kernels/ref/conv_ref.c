/* Reference convolution (1-3 spatial dims) by im2col + GEMM, one example per thread.
   Plain C; every test trusts it, so it favours clarity over speed. */
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cnn.h"

#include "../../core/pool.h"
#include "ref.h"

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* rows of the column matrix per group, and its columns (output positions) */
static size_t col_rows(const cnn_conv_desc *c)
{
    return (size_t)(c->c_in / c->groups) * (size_t)c->k[0] * (size_t)c->k[1] * (size_t)c->k[2];
}
static size_t col_cols(const cnn_conv_desc *c)
{
    return (size_t)c->out[0] * (size_t)c->out[1] * (size_t)c->out[2];
}
static size_t in_plane(const cnn_conv_desc *c)
{
    return (size_t)c->in[0] * (size_t)c->in[1] * (size_t)c->in[2];
}

size_t cnn_ref_conv_scratch(const cnn_conv_desc *c)
{
    size_t per = col_rows(c) * col_cols(c);
    size_t wsz = (size_t)c->c_out * col_rows(c) + (size_t)c->c_out;
    return (size_t)cnn_threads_max() * (per + wsz) * sizeof(float);
}

/* Forward alone: one column matrix per thread, no weight-gradient partial sums. */
size_t cnn_ref_conv_scratch_forward(const cnn_conv_desc *c)
{
    return (size_t)cnn_threads_max() * col_rows(c) * col_cols(c) * sizeof(float);
}

/* One walk over group g's column matrix col (R, P) of one example, rows (ci, kd, kh,
   kw), columns the output positions: with x, gather x (C_in, D, H, W) into col (0 in
   the padding: im2col); without, scatter-add col into dx (col2im). */
static void col_walk(const cnn_conv_desc *c, int g, const float *x, float *dx, float *col)
{
    int cg = c->c_in / c->groups;
    size_t P = col_cols(c);
    size_t r = 0;
    for (int ci = 0; ci < cg; ci++) {
        size_t plane = (size_t)(g * cg + ci) * in_plane(c);
        for (int kd = 0; kd < c->k[0]; kd++)
            for (int kh = 0; kh < c->k[1]; kh++)
                for (int kw = 0; kw < c->k[2]; kw++, r++) {
                    float *row = col + r * P;
                    size_t q = 0;
                    for (int od = 0; od < c->out[0]; od++) {
                        int id = od * c->s[0] - c->p[0] + kd * c->d[0];
                        for (int oh = 0; oh < c->out[1]; oh++) {
                            int ih = oh * c->s[1] - c->p[1] + kh * c->d[1];
                            for (int ow = 0; ow < c->out[2]; ow++, q++) {
                                int iw = ow * c->s[2] - c->p[2] + kw * c->d[2];
                                bool in = id >= 0 && id < c->in[0] && ih >= 0 && ih < c->in[1] &&
                                          iw >= 0 && iw < c->in[2];
                                size_t at = plane +
                                            ((size_t)id * c->in[1] + (size_t)ih) * c->in[2] +
                                            (size_t)iw;
                                if (x) row[q] = in ? x[at] : 0.0f;
                                else if (in) dx[at] += row[q];
                            }
                        }
                    }
                }
    }
}

static void im2col(const cnn_conv_desc *c, const float *x, int g, float *col)
{
    col_walk(c, g, x, NULL, col);
}

static void col2im(const cnn_conv_desc *c, float *col, int g, float *dx)
{
    col_walk(c, g, NULL, dx, col);
}

void cnn_ref_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                          float *y, void *scratch)
{
    size_t R = col_rows(c), P = col_cols(c);
    size_t per = R * P; /* cnn_ref_conv_scratch_forward's layout */
    int og = c->c_out / c->groups;
#pragma omp parallel for schedule(static) num_threads(cnn_threads_capped())
    for (int n = 0; n < c->n; n++) {
        float *col = (float *)scratch + (size_t)thread_id() * per;
        const float *xn = x + (size_t)n * c->c_in * in_plane(c);
        float *yn = y + (size_t)n * c->c_out * P;
        for (int g = 0; g < c->groups; g++) {
            im2col(c, xn, g, col);
            cnn_ref_gemm(0, 0, og, (int)P, (int)R, 1.0f, w + (size_t)g * og * R, (int)R, col, (int)P,
                         0.0f, yn + (size_t)g * og * P, (int)P);
        }
        if (b)
            for (int o = 0; o < c->c_out; o++)
                for (size_t q = 0; q < P; q++) yn[(size_t)o * P + q] += b[o];
    }
}

void cnn_ref_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w, float *dx,
                                void *scratch)
{
    size_t R = col_rows(c), P = col_cols(c);
    size_t per = R * P + (size_t)c->c_out * R + (size_t)c->c_out;
    int og = c->c_out / c->groups;
#pragma omp parallel for schedule(static) num_threads(cnn_threads_capped())
    for (int n = 0; n < c->n; n++) {
        float *col = (float *)scratch + (size_t)thread_id() * per;
        const float *dyn = dy + (size_t)n * c->c_out * P;
        float *dxn = dx + (size_t)n * c->c_in * in_plane(c);
        for (int g = 0; g < c->groups; g++) {
            /* col (R, P) = W_g^T (R, og) * dy_g (og, P) */
            cnn_ref_gemm(1, 0, (int)R, (int)P, og, 1.0f, w + (size_t)g * og * R, (int)R,
                         dyn + (size_t)g * og * P, (int)P, 0.0f, col, (int)P);
            col2im(c, col, g, dxn);
        }
    }
}

void cnn_ref_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                   float *dw, float *db, void *scratch)
{
    size_t R = col_rows(c), P = col_cols(c);
    size_t per = R * P + (size_t)c->c_out * R + (size_t)c->c_out;
    int og = c->c_out / c->groups;
    int T = cnn_threads_capped();
    if (T > c->n) T = c->n;
    /* each thread accumulates its examples into a private dW/db, summed at the end
       in a fixed order so results do not depend on scheduling */
#pragma omp parallel num_threads(T)
    {
        int t = thread_id();
        float *col = (float *)scratch + (size_t)t * per;
        float *pdw = col + R * P;
        float *pdb = pdw + (size_t)c->c_out * R;
        memset(pdw, 0, ((size_t)c->c_out * R + (size_t)c->c_out) * sizeof(float));
        int nt = 1;
#ifdef _OPENMP
        nt = omp_get_num_threads();
#endif
        for (int n = t; n < c->n; n += nt) {
            const float *xn = x + (size_t)n * c->c_in * in_plane(c);
            const float *dyn = dy + (size_t)n * c->c_out * P;
            for (int g = 0; g < c->groups; g++) {
                im2col(c, xn, g, col);
                /* dW_g (og, R) += dy_g (og, P) * col^T (P, R) */
                cnn_ref_gemm(0, 1, og, (int)R, (int)P, 1.0f, dyn + (size_t)g * og * P, (int)P, col,
                             (int)P, 1.0f, pdw + (size_t)g * og * R, (int)R);
            }
            if (db)
                for (int o = 0; o < c->c_out; o++) {
                    float s = 0.0f;
                    for (size_t q = 0; q < P; q++) s += dyn[(size_t)o * P + q];
                    pdb[o] += s;
                }
        }
    }
    for (int t = 0; t < T; t++) {
        const float *pdw = (const float *)scratch + (size_t)t * per + R * P;
        const float *pdb = pdw + (size_t)c->c_out * R;
        for (size_t i = 0; i < (size_t)c->c_out * R; i++) dw[i] += pdw[i];
        if (db)
            for (int o = 0; o < c->c_out; o++) db[o] += pdb[o];
    }
}

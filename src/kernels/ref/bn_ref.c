/* Batch norm, plain scalar C (the oracle): per channel, two passes in double over the
   n * s values (mean, then the centred sum of squares), PyTorch's formulas as
   include/cnn.h states them. No blocking, no threads: what the cpu backend's
   one-pass blocked sums are tested against. */
#include <math.h>

#include "ref.h"

/* Element k of example i's plane of channel ch. */
#define AT(a, i, ch, k) (((size_t)(i) * (size_t)(a)->c + (size_t)(ch)) * (a)->s + (k))

static size_t count(const cnn_bn_args *a) { return (size_t)a->n * a->s; }

/* mean and sum (x - mean)^2 of channel ch */
static void moments(const cnn_bn_args *a, int ch, double *mean, double *m2)
{
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < a->n; i++)
        for (size_t k = 0; k < a->s; k++) sum += a->x[AT(a, i, ch, k)];
    double mu = sum / (double)count(a);
    for (int i = 0; i < a->n; i++)
        for (size_t k = 0; k < a->s; k++) {
            double d = (double)a->x[AT(a, i, ch, k)] - mu;
            sq += d * d;
        }
    *mean = mu;
    *m2 = sq;
}

static void affine(const cnn_bn_args *a, int ch, float scale, float shift)
{
    for (int i = 0; i < a->n; i++)
        for (size_t k = 0; k < a->s; k++) {
            size_t e = AT(a, i, ch, k);
            a->y[e] = a->x[e] * scale + shift;
        }
}

/* eval: y = x * scale + shift from the running statistics */
static void eval_coef(const cnn_bn_args *a, int c, float *scale, float *shift)
{
    float is = (float)(1.0 / sqrt((double)a->rvar[c] + (double)a->eps));
    *scale = a->w[c] * is;
    *shift = a->b[c] - a->rmean[c] * *scale;
}

void cnn_ref_bn_eval_affine(const cnn_bn_args *a, float *scale, float *shift)
{
    for (int c = 0; c < a->c; c++) eval_coef(a, c, &scale[c], &shift[c]);
}

/* Training statistics of channel c from the batch mean dmu and biased variance var
   over dm values: saved mean / inv_std, running statistics (unbiased variance). */
static void train_stats(const cnn_bn_args *a, int c, double dmu, double var, double dm)
{
    const double eps = a->eps, mom = a->momentum;
    a->mean[c] = (float)dmu;
    a->inv_std[c] = (float)(1.0 / sqrt(var + eps));
    a->rmean[c] = (float)((1.0 - mom) * a->rmean[c] + mom * dmu);
    a->rvar[c] = (float)((1.0 - mom) * a->rvar[c] + mom * var * dm / (dm - 1.0));
}

void cnn_ref_bn_forward(const cnn_bn_args *a, bool training)
{
    for (int c = 0; c < a->c; c++) {
        float scale, shift;
        if (training) {
            double mu, m2, dm = (double)count(a);
            moments(a, c, &mu, &m2);
            train_stats(a, c, mu, m2 / dm, dm);
            scale = a->w[c] * a->inv_std[c];
            shift = a->b[c] - a->mean[c] * scale;
        } else {
            eval_coef(a, c, &scale, &shift);
        }
        affine(a, c, scale, shift);
    }
}

/* sum dy and sum dy (x - mu) is of channel c */
static void grad_sums(const cnn_bn_args *a, int c, float mu, float is, double *sdy, double *sdyxh)
{
    double s1 = 0.0, s2 = 0.0;
    for (int i = 0; i < a->n; i++)
        for (size_t k = 0; k < a->s; k++) {
            size_t e = AT(a, i, c, k);
            s1 += a->dy[e];
            s2 += (double)a->dy[e] * ((double)a->x[e] - mu) * is;
        }
    *sdy = s1;
    *sdyxh = s2;
}

/* dx += w is (dy - mdy - xh mdyxh), xh = (x - mu) is */
static void grad_apply(const cnn_bn_args *a, int c, float mu, float is, double mdy, double mdyxh)
{
    for (int i = 0; i < a->n; i++)
        for (size_t k = 0; k < a->s; k++) {
            size_t e = AT(a, i, c, k);
            double xh = ((double)a->x[e] - mu) * is;
            a->dx[e] += (float)((double)a->w[c] * is * ((double)a->dy[e] - mdy - xh * mdyxh));
        }
}

void cnn_ref_bn_backward(const cnn_bn_args *a, bool training)
{
    double m = (double)count(a);
    for (int c = 0; c < a->c; c++) {
        float mu = training ? a->mean[c] : a->rmean[c];
        float is = training ? a->inv_std[c]
                            : (float)(1.0 / sqrt((double)a->rvar[c] + (double)a->eps));
        double sdy, sdyxh;
        grad_sums(a, c, mu, is, &sdy, &sdyxh);
        if (a->db) a->db[c] += (float)sdy;
        if (a->dw) a->dw[c] += (float)sdyxh;
        /* eval: the statistics are constants, dx = w is dy */
        if (a->dx) grad_apply(a, c, mu, is, training ? sdy / m : 0.0, training ? sdyxh / m : 0.0);
    }
}

void cnn_ref_bn_sync_stats(const cnn_bn_args *a, double *lmean, double *lm2)
{
    for (int c = 0; c < a->c; c++) moments(a, c, &lmean[c], &lm2[c]);
}

void cnn_ref_bn_sync_apply(const cnn_bn_args *a, const double *sum, const double *m2, double M)
{
    for (int c = 0; c < a->c; c++) {
        train_stats(a, c, sum[c] / M, m2[c] / M, M);
        float scale = a->w[c] * a->inv_std[c];
        affine(a, c, scale, a->b[c] - a->mean[c] * scale);
    }
}

void cnn_ref_bn_sync_bwd_sums(const cnn_bn_args *a, double *tot)
{
    for (int c = 0; c < a->c; c++) {
        grad_sums(a, c, a->mean[c], a->inv_std[c], &tot[c], &tot[a->c + c]);
        if (a->db) a->db[c] += (float)tot[c];
        if (a->dw) a->dw[c] += (float)tot[a->c + c];
    }
}

void cnn_ref_bn_sync_bwd_apply(const cnn_bn_args *a, const double *tot, double M)
{
    for (int c = 0; c < a->c; c++)
        grad_apply(a, c, a->mean[c], a->inv_std[c], tot[c] / M, tot[a->c + c] / M);
}

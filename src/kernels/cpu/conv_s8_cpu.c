/* int8 convolutions of the cpu backend (docs/architecture.md, "int8 precision"):
   dense ones as im2col (int8; padding is the value 0, exact because the zero point
   is 0) + oneDNN's int8 GEMM (dnnl_gemm_s8s8s32, VNNI) into int32, then our own
   dequantisation; depthwise ones by an own direct kernel. Integer sums are exact, so
   the result is the reference kernel's bit for bit. oneDNN's int8 GEMM may saturate
   intermediate 16-bit sums on CPUs without VNNI: there the dense path uses our own
   loops instead, as does a build without oneDNN (CNN_WITH_DNNL=OFF). */
#include <stdlib.h>
#include <string.h>

#ifdef CNN_HAVE_DNNL
#include <dnnl.h>
#endif

#include "../../core/clones.h"
#include "../../core/pool.h"
#include "../ref/ref.h"
#include "cpu_internal.h"

#define ALIGN 64
static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

static bool is_dw(const cnn_conv_desc *c)
{
    return c->groups == c->c_in && c->c_in == c->c_out && c->in[0] == 1 && c->k[0] == 1 &&
           c->out[0] == 1;
}

/* Every output reads input pixel = output pixel: no im2col. */
static bool is_pointwise(const cnn_conv_desc *c)
{
    for (int i = 0; i < 3; i++)
        if (c->k[i] != 1 || c->s[i] != 1 || c->p[i] != 0) return false;
    return true;
}

#ifdef CNN_HAVE_DNNL
static bool have_vnni(void)
{
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx512vnni") ? 1 : 0;
    return v == 1;
}
#endif

static size_t kdim(const cnn_conv_desc *c)
{
    return (size_t)(c->c_in / c->groups) * c->k[0] * c->k[1] * c->k[2];
}
static size_t out_sp(const cnn_conv_desc *c) { return (size_t)c->out[0] * c->out[1] * c->out[2]; }

size_t cnn_cpu_conv_s8_scratch(const cnn_conv_desc *c)
{
    size_t v = cnn_vnni_s8_scratch(c);
    if (is_dw(c)) return v;
    size_t og = (size_t)(c->c_out / c->groups), P = out_sp(c);
    size_t col = is_pointwise(c) ? 0 : round_up(kdim(c) * P, ALIGN);
    size_t own = col + round_up(og * P * sizeof(int32_t), ALIGN);
    return own > v ? own : v;
}

/* columns (K, P) of example n, group grp: row (ci, kd, kh, kw), column output pixel */
/* The arguments of one call, for the pool's chunks. */
typedef struct s8_args {
    const cnn_conv_desc *c;
    const int8_t *x, *w;
    int8_t *col;
    const int32_t *acc, *b;
    const float *m;
    float *y;
    size_t og, P;
    int grp;
} s8_args;

#ifdef CNN_HAVE_DNNL
static void im2col_rows(void *arg, long r0, long r1, int slot)
{
    const s8_args *a = arg;
    const cnn_conv_desc *c = a->c;
    int cg = c->c_in / c->groups;
    size_t in_sp = (size_t)c->in[0] * c->in[1] * c->in[2], P = out_sp(c);
    for (long r = r0; r < r1; r++) {
        int kw = (int)(r % c->k[2]), kh = (int)(r / c->k[2] % c->k[1]);
        int kd = (int)(r / ((long)c->k[2] * c->k[1]) % c->k[0]);
        int ci = (int)(r / ((long)c->k[2] * c->k[1] * c->k[0]));
        const int8_t *xc = a->x + ((size_t)a->grp * cg + ci) * in_sp;
        int8_t *dst = a->col + (size_t)r * P;
        for (int od = 0; od < c->out[0]; od++) {
            int id = od * c->s[0] - c->p[0] + kd * c->d[0];
            for (int oh = 0; oh < c->out[1]; oh++) {
                int ih = oh * c->s[1] - c->p[1] + kh * c->d[1];
                int8_t *row = dst + ((size_t)od * c->out[1] + oh) * c->out[2];
                if (id < 0 || id >= c->in[0] || ih < 0 || ih >= c->in[1]) {
                    memset(row, 0, (size_t)c->out[2]);
                    continue;
                }
                const int8_t *xr = xc + ((size_t)id * c->in[1] + ih) * c->in[2];
                for (int ow = 0; ow < c->out[2]; ow++) {
                    int iw = ow * c->s[2] - c->p[2] + kw * c->d[2];
                    row[ow] = (iw >= 0 && iw < c->in[2]) ? xr[iw] : 0;
                }
            }
        }
    }
}

/* columns (K, P) of example n, group grp: row (ci, kd, kh, kw), column output pixel;
   chunks of at least ~64k bytes */
static void im2col_s8(const cnn_conv_desc *c, const int8_t *x, int grp, int8_t *col)
{
    s8_args a = {.c = c, .x = x, .col = col, .grp = grp};
    size_t P = out_sp(c);
    long grain = P >= 65536 ? 1 : (long)(65536 / (P ? P : 1));
    cnn_parallel_range((long)kdim(c), grain, 0, im2col_rows, &a);
}

/* y = (float)(acc + b) * m for og channels of P pixels */
CNN_CLONES
static void dequant_rows(void *arg, long o0, long o1, int slot)
{
    const s8_args *a = arg;
    size_t P = a->P;
    for (long o = o0; o < o1; o++) {
        int32_t bo = a->b ? a->b[o] : 0;
        float mo = a->m[o];
        const int32_t *ac = a->acc + (size_t)o * P;
        float *yo = a->y + (size_t)o * P;
        for (size_t q = 0; q < P; q++) yo[q] = (float)(ac[q] + bo) * mo;
    }
}

static void dequant(const int32_t *acc, size_t og, size_t P, const int32_t *b, const float *m,
                    float *y)
{
    s8_args a = {.acc = acc, .og = og, .P = P, .b = b, .m = m, .y = y};
    long grain = P >= 65536 ? 1 : (long)(65536 / (P ? P : 1));
    cnn_parallel_range((long)og, grain, 0, dequant_rows, &a);
}
#endif

/* Depthwise 2D: one (example, channel) plane per job, output rows in chunks of up to
   256 int32 accumulators; per tap the valid output columns are computed once, so the
   inner loop has no branch. */
CNN_CLONES
static void dw_s8_planes(void *arg, long j0, long j1, int slot)
{
    const s8_args *a = arg;
    const cnn_conv_desc *c = a->c;
    const int8_t *x = a->x, *w = a->w;
    const int32_t *b = a->b;
    const float *m = a->m;
    float *y = a->y;
    int H = c->in[1], W = c->in[2], OH = c->out[1], OW = c->out[2];
    int KH = c->k[1], KW = c->k[2], sh = c->s[1], sw = c->s[2];
    int ph = c->p[1], pw = c->p[2], dh = c->d[1], dw = c->d[2];
    for (long job = j0; job < j1; job++) {
        int ch = (int)(job % c->c_in);
        const int8_t *xp = x + (size_t)job * H * W, *wp = w + (size_t)ch * KH * KW;
        float *yp = y + (size_t)job * OH * OW;
        int32_t bo = b ? b[ch] : 0;
        float mo = m[ch];
        int32_t acc[256];
        for (int oh = 0; oh < OH; oh++)
            for (int ow0 = 0; ow0 < OW; ow0 += 256) {
                int n = OW - ow0 < 256 ? OW - ow0 : 256;
                for (int j = 0; j < n; j++) acc[j] = bo;
                for (int kh = 0; kh < KH; kh++) {
                    int ih = oh * sh - ph + kh * dh;
                    if (ih < 0 || ih >= H) continue;
                    const int8_t *xr = xp + (size_t)ih * W;
                    for (int kw = 0; kw < KW; kw++) {
                        int32_t wv = wp[kh * KW + kw];
                        int off = kw * dw - pw; /* iw = ow * sw + off */
                        /* valid ow: 0 <= ow*sw + off < W */
                        int lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                        int hi = (W - 1 - off) >= 0 ? (W - 1 - off) / sw + 1 : 0;
                        int jlo = lo - ow0 > 0 ? lo - ow0 : 0, jhi = hi - ow0 < n ? hi - ow0 : n;
                        if (sw == 1) {
                            int base = ow0 + off;
                            for (int j = jlo; j < jhi; j++) acc[j] += (int32_t)xr[base + j] * wv;
                        } else {
                            for (int j = jlo; j < jhi; j++)
                                acc[j] += (int32_t)xr[(ow0 + j) * sw + off] * wv;
                        }
                    }
                }
                float *yr = yp + (size_t)oh * OW + ow0;
                for (int j = 0; j < n; j++) yr[j] = (float)acc[j] * mo;
            }
    }
}

static void dw_s8(const cnn_conv_desc *c, const int8_t *x, const int8_t *w, const int32_t *b,
                  const float *m, float *y)
{
    s8_args a = {.c = c, .x = x, .w = w, .b = b, .m = m, .y = y};
    long op = (long)c->out[1] * c->out[2];
    long grain = op >= 16384 ? 1 : 16384 / (op > 0 ? op : 1);
    cnn_parallel_range((long)c->n * c->c_in, grain, 0, dw_s8_planes, &a);
}
/* the paths without VNNI: the epilogue as a pass of its own */
static void forward_plain(const cnn_conv_desc *c, const int8_t *x, const int8_t *w, const int32_t *b,
                          const float *m, float *y, void *scratch);

void cnn_cpu_conv_forward_s8(const cnn_conv_desc *c, const int8_t *x, const int8_t *w,
                             const int32_t *b, const float *m, const cnn_s8_epilogue *ep, float *y,
                             void *scratch)
{
    if (cnn_vnni_s8_use(c)) {
        cnn_vnni_s8_forward(c, x, w, b, m, ep, y, scratch);
        return;
    }
    forward_plain(c, x, w, b, m, y, scratch);
    cnn_s8_epilogue_apply(c, ep, y);
}

static void forward_plain(const cnn_conv_desc *c, const int8_t *x, const int8_t *w, const int32_t *b,
                          const float *m, float *y, void *scratch)
{
    if (is_dw(c)) {
        dw_s8(c, x, w, b, m, y);
        return;
    }
#ifdef CNN_HAVE_DNNL
    if (!have_vnni()) {
        cnn_ref_conv_forward_s8(c, x, w, b, m, NULL, y, scratch);
        return;
    }
    int cg = c->c_in / c->groups, og = c->c_out / c->groups;
    size_t K = kdim(c), P = out_sp(c), in_sp = (size_t)c->in[0] * c->in[1] * c->in[2];
    bool pw = is_pointwise(c);
    int8_t *col = scratch;
    int32_t *acc = (int32_t *)((char *)scratch + (pw ? 0 : round_up(K * P, ALIGN)));
    const int32_t zero = 0;
    for (int n = 0; n < c->n; n++) {
        const int8_t *xn = x + (size_t)n * c->c_in * in_sp;
        for (int grp = 0; grp < c->groups; grp++) {
            const int8_t *bmat = xn + (size_t)grp * cg * in_sp;
            if (!pw) {
                im2col_s8(c, xn, grp, col);
                bmat = col;
            }
            dnnl_status_t st = dnnl_gemm_s8s8s32('N', 'N', 'F', og, (dnnl_dim_t)P, (dnnl_dim_t)K,
                                                 1.0f, w + (size_t)grp * og * K, (dnnl_dim_t)K, 0,
                                                 bmat, (dnnl_dim_t)P, 0, 0.0f, acc, (dnnl_dim_t)P,
                                                 &zero);
            float *yg = y + ((size_t)n * c->c_out + (size_t)grp * og) * P;
            const int32_t *bg = b ? b + (size_t)grp * og : NULL;
            if (st != dnnl_success) {
                /* oneDNN refused: the same integers from the reference loops */
                cnn_conv_desc one = *c;
                one.n = 1;
                one.c_in = cg;
                one.c_out = og;
                one.groups = 1;
                cnn_ref_conv_forward_s8(&one, xn + (size_t)grp * cg * in_sp,
                                        w + (size_t)grp * og * K, bg, m + (size_t)grp * og, NULL, yg,
                                        NULL);
                continue;
            }
            dequant(acc, (size_t)og, P, bg, m + (size_t)grp * og, yg);
        }
    }
#else
    cnn_ref_conv_forward_s8(c, x, w, b, m, NULL, y, scratch);
#endif
}

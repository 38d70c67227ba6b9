/* One table-driven harness for every operator (docs/architecture.md, "Testing
   operators"), as ggml's test-backend-ops and ncnn's test_layer. Each op has a table
   of cases (shapes and options swept: odd sizes, 1x1, batch 1 and > 1, channel counts
   that are and are not multiples of 16, a batch below the built one). Every case:
     1. forward (training and, where the op differs, eval mode) on every compiled-in
        backend against the `ref` backend, within a tolerance scaled by the output's
        magnitude; buffers a forward updates (batch-norm running statistics) too;
     2. backward (input and parameter gradients, dL/dy = random w) on every backend
        against `ref`;
     3. `ref`'s forward against a double-precision oracle written here from the
        operator's definition (PyTorch / ONNX semantics);
     4. a finite-difference check of `ref`'s backward: L = sum(w_i y_i) in double,
        central differences on sampled coordinates (every one of a small tensor, else
        a random sample plus the first and last), a mismatch confirmed at half the
        step before it counts; the input generators keep values away from kinks
        (ReLU at 0, clip bounds, max ties) so that no probe crosses one.
   Prints per op the cases and failures and fails on any failure. One op (or a
   comma-separated list) only: argument 1 or CNN_OPS_ONLY=maxpool2d,binary. Runs at
   one thread unless CNN_THREADS is set. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---------------------------------------------------------------- cases */
enum opk {
    OP_CONV2D, OP_CONV3D, OP_CONVT2D, OP_LINEAR, OP_BN2D, OP_BN3D, OP_ACT, OP_ACT_P,
    OP_MAXPOOL2D, OP_AVGPOOL2D, OP_MAXPOOL3D, OP_ADAPTIVE, OP_GAP, OP_GMP, OP_LRN,
    OP_DROPOUT, OP_SOFTMAX, OP_SOFTMAX_AXIS, OP_CE, OP_ADD, OP_MUL_CHANNEL, OP_MUL_SPATIAL,
    OP_CH_MEAN, OP_CH_MAX, OP_SHUFFLE, OP_CH_SLICE, OP_CONCAT, OP_RESHAPE, OP_FLATTEN,
    OP_BINARY, OP_UNARY, OP_REDUCE, OP_MATMUL, OP_PAD, OP_SLICE, OP_TRANSPOSE, OP_CONSTANT,
    OP_PARAMETER,
};

enum inkind { IN_X = 0, IN_P, IN_C, IN_L }; /* batched input, parameter, constant, labels */
enum fill {
    F_UNIF = 0, /* U(-2, 2) */
    F_POS,      /* U(0.5, 2): log, sqrt, reciprocal, pow base, divisor */
    F_DISTINCT, /* a random permutation on a 0.05 grid: no ties, no probe reorders */
    F_DESC,     /* F_DISTINCT sorted descending in each plane: the first element wins */
    F_AWAY,     /* U(-8, 8) kept 0.05 from the case's kinks */
    F_LOW,      /* integer + U(0.05, 0.45): against F_HIGH, max/min never tie */
    F_HIGH,     /* integer + U(0.55, 0.95) */
    F_LABELS,   /* class ids in [0, p[0]) */
    F_POSBIG,   /* U(0.5, 1.5) as a pow exponent stays moderate */
};

typedef struct hin {
    int kind, fill, ndim;
    int dims[CNN_MAX_DIMS]; /* IN_X: dims[0] is the built (maximum) batch */
} hin;

typedef struct hcase {
    int op;
    const char *group; /* what the report and CNN_OPS_ONLY name */
    char label[128];
    int nin;
    hin in[4];
    int batch;    /* batch to run; 0 = the built one */
    int p[20];    /* integer options (meaning per op) */
    float f[4];   /* float options */
    bool eval;    /* the op differs in eval mode: run eval forward too */
    float kink[4];
    int nkink;
    double tol;    /* backend vs ref, relative to max |ref| */
    double otol;   /* ref vs the double oracle, relative to max |oracle| */
    double fd_eps, fd_tol;
} hcase;

static hcase *g_cases;
static int g_ncases, g_cap;

static hcase *add_case(int op, const char *group)
{
    if (g_ncases == g_cap) {
        g_cap = g_cap ? 2 * g_cap : 256;
        g_cases = realloc(g_cases, (size_t)g_cap * sizeof *g_cases);
        assert_non_null(g_cases);
    }
    hcase *c = &g_cases[g_ncases++];
    memset(c, 0, sizeof *c);
    c->op = op;
    c->group = group;
    c->tol = 1e-5;
    c->otol = 2e-5;
    c->fd_eps = 1e-2;
    c->fd_tol = 2e-3;
    return c;
}

static hin *add_in(hcase *c, int kind, int fill, int ndim, const int *dims)
{
    hin *h = &c->in[c->nin++];
    h->kind = kind;
    h->fill = fill;
    h->ndim = ndim;
    memcpy(h->dims, dims, (size_t)ndim * sizeof(int));
    return h;
}
#define IN(c, kind, fill, ...) \
    add_in((c), (kind), (fill), (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__})

static void label(hcase *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->label, sizeof c->label, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- the tables */
typedef struct tshape {
    int nd, d[CNN_MAX_DIMS];
    bool batched; /* false: an unbatched parameter node (cnn_parameter) */
} tshape;

static hin *add_shape(hcase *c, const tshape *t, int fill)
{
    return add_in(c, t->batched ? IN_X : IN_P, fill, t->nd, t->d);
}

static const char *shape_str(const tshape *t, char *buf, size_t n)
{
    cnn_shape_str(t->nd, t->d, buf, n);
    if (!t->batched) strncat(buf, " unbatched", n - strlen(buf) - 1);
    return buf;
}

static void cases_conv(void)
{
    /* n c h w out k s p d groups no_bias */
    static const int t2[][11] = {
        {2, 3, 7, 9, 4, 3, 1, 1, 1, 1, 0},   /* 3x3 pad 1, odd sizes */
        {1, 16, 6, 6, 16, 3, 1, 1, 1, 1, 0}, /* 16 channels */
        {2, 5, 8, 7, 6, 3, 2, 1, 1, 1, 1},   /* stride 2, no bias */
        {2, 4, 9, 9, 4, 3, 1, 2, 2, 1, 0},   /* dilation 2 */
        {2, 6, 7, 7, 6, 3, 1, 1, 1, 6, 0},   /* depthwise */
        {1, 17, 5, 6, 17, 3, 2, 1, 1, 17, 0}, /* depthwise 17, stride 2 */
        {2, 6, 5, 5, 4, 3, 1, 0, 1, 2, 0},   /* groups 2, no padding */
        {3, 8, 4, 5, 18, 1, 1, 0, 1, 1, 0},  /* 1x1 */
        {1, 3, 1, 1, 5, 1, 1, 0, 1, 1, 0},   /* 1x1 on 1x1 */
        {2, 3, 11, 10, 4, 5, 3, 2, 1, 1, 0}, /* 5x5 stride 3 */
        {2, 16, 5, 5, 32, 1, 2, 0, 1, 1, 1}, /* 1x1 stride 2 (a shortcut) */
    };
    for (size_t i = 0; i < sizeof t2 / sizeof t2[0]; i++) {
        const int *r = t2[i];
        hcase *c = add_case(OP_CONV2D, "conv2d");
        IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3]);
        c->p[0] = r[4], c->p[1] = r[9], c->p[2] = r[10];
        c->p[4] = c->p[5] = r[5], c->p[7] = c->p[8] = r[6];
        c->p[10] = c->p[11] = r[7], c->p[13] = c->p[14] = r[8];
        c->tol = 1e-4;
        label(c, "x(%d,%d,%d,%d) out %d k%d s%d p%d d%d g%d%s", r[0], r[1], r[2], r[3], r[4],
              r[5], r[6], r[7], r[8], r[9], r[10] ? " no bias" : "");
    }
    { /* batch below the built one; rectangular 5x3 kernel, stride 2x1, pad 2x0 */
        hcase *c = add_case(OP_CONV2D, "conv2d");
        IN(c, IN_X, F_UNIF, 3, 4, 9, 7);
        c->batch = 2;
        c->p[0] = 5, c->p[1] = 1, c->p[4] = 5, c->p[5] = 3, c->p[7] = 2, c->p[8] = 1;
        c->p[10] = 2, c->p[11] = 0, c->p[13] = c->p[14] = 1;
        c->tol = 1e-4;
        label(c, "x(3->2,4,9,7) out 5 k5x3 s2x1 p2x0");
    }
    /* depthwise on the cpu backend's row path: kernels above 7, padding beyond "same" */
    static const int tdw[][7] = {{1, 4, 9, 10, 9, 4, 1}, {2, 3, 5, 6, 3, 2, 1}, {1, 5, 6, 7, 3, 2, 2}};
    for (size_t i = 0; i < sizeof tdw / sizeof tdw[0]; i++) {
        const int *r = tdw[i]; /* n c h w k p dilation */
        hcase *c = add_case(OP_CONV2D, "conv2d");
        IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3]);
        c->p[0] = r[1], c->p[1] = r[1], c->p[4] = c->p[5] = r[4], c->p[7] = c->p[8] = 1;
        c->p[10] = c->p[11] = r[5], c->p[13] = c->p[14] = r[6];
        c->tol = 1e-4;
        label(c, "depthwise x(%d,%d,%d,%d) k%d p%d d%d", r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
    }
    /* conv1d as the library builds it (ONNX Conv on 1-D, HybridSN-style): conv2d over
       (N, C, 1, L) with a 1xk kernel */
    static const int t1[][7] = {{2, 3, 11, 4, 3, 1, 1}, {1, 16, 8, 16, 5, 2, 2}, {2, 4, 7, 4, 3, 1, 4}};
    for (size_t i = 0; i < sizeof t1 / sizeof t1[0]; i++) {
        const int *r = t1[i]; /* n c l out k s groups */
        hcase *c = add_case(OP_CONV2D, "conv1d");
        IN(c, IN_X, F_UNIF, r[0], r[1], 1, r[2]);
        c->p[0] = r[3], c->p[1] = r[6], c->p[4] = 1, c->p[5] = r[4], c->p[7] = c->p[8] = r[5];
        c->p[11] = r[4] / 2, c->p[13] = c->p[14] = 1;
        c->tol = 1e-4;
        label(c, "x(%d,%d,1,%d) out %d k1x%d s%d g%d", r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
    }
    /* n c d h w out kd kh kw s p dil groups */
    static const int t3[][13] = {
        {2, 2, 5, 6, 5, 3, 3, 3, 3, 1, 1, 1, 1}, {1, 3, 6, 5, 7, 4, 3, 2, 3, 2, 0, 1, 1},
        {2, 4, 4, 5, 5, 4, 3, 3, 3, 1, 1, 1, 2}, {1, 2, 7, 7, 6, 2, 3, 3, 3, 1, 2, 2, 1},
        {2, 1, 9, 5, 5, 8, 7, 3, 3, 1, 0, 1, 1}, /* HybridSN's first layer, small */
    };
    for (size_t i = 0; i < sizeof t3 / sizeof t3[0]; i++) {
        const int *r = t3[i];
        hcase *c = add_case(OP_CONV3D, "conv3d");
        IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3], r[4]);
        c->p[0] = r[5], c->p[1] = r[12], c->p[3] = r[6], c->p[4] = r[7], c->p[5] = r[8];
        for (int a = 0; a < 3; a++) c->p[6 + a] = r[9], c->p[9 + a] = r[10], c->p[12 + a] = r[11];
        c->tol = 1e-4;
        label(c, "x(%d,%d,%d,%d,%d) out %d k%dx%dx%d s%d p%d d%d g%d", r[0], r[1], r[2], r[3],
              r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12]);
    }
    /* conv3d with different stride / padding / dilation per axis: n c d h w out, then
       (d, h, w) of kernel, stride, padding, dilation */
    static const int t3a[][18] = {
        {1, 2, 7, 6, 6, 3, 3, 3, 3, 2, 1, 1, 1, 0, 2, 1, 1, 1},
        {2, 2, 6, 7, 5, 2, 3, 2, 3, 1, 2, 1, 0, 1, 1, 2, 1, 1},
        {1, 3, 5, 5, 8, 3, 3, 3, 3, 1, 1, 2, 1, 1, 1, 1, 2, 1},
    };
    for (size_t i = 0; i < sizeof t3a / sizeof t3a[0]; i++) {
        const int *r = t3a[i];
        hcase *c = add_case(OP_CONV3D, "conv3d");
        IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3], r[4]);
        c->p[0] = r[5], c->p[1] = 1;
        for (int a = 0; a < 3; a++)
            c->p[3 + a] = r[6 + a], c->p[6 + a] = r[9 + a], c->p[9 + a] = r[12 + a], c->p[12 + a] = r[15 + a];
        c->tol = 1e-4;
        label(c, "x(%d,%d,%d,%d,%d) out %d k%dx%dx%d s%dx%dx%d p%dx%dx%d d%dx%dx%d", r[0], r[1], r[2], r[3],
              r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17]);
    }
    /* n c h w out k s p outpad dil groups */
    static const int tt[][11] = {
        {2, 3, 4, 5, 4, 3, 2, 1, 1, 1, 1}, {1, 4, 3, 3, 2, 2, 2, 0, 0, 1, 1},
        {2, 4, 5, 4, 6, 3, 1, 1, 0, 1, 2}, {1, 2, 4, 4, 3, 3, 2, 0, 0, 2, 1},
        {2, 16, 3, 3, 16, 4, 2, 1, 0, 1, 16},
    };
    for (size_t i = 0; i < sizeof tt / sizeof tt[0]; i++) {
        const int *r = tt[i];
        hcase *c = add_case(OP_CONVT2D, "conv_transpose2d");
        IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3]);
        c->p[0] = r[4], c->p[1] = r[10], c->p[4] = c->p[5] = r[5], c->p[7] = c->p[8] = r[6];
        c->p[10] = c->p[11] = r[7], c->p[13] = c->p[14] = r[9], c->p[15] = r[8];
        c->tol = 1e-4;
        label(c, "x(%d,%d,%d,%d) out %d k%d s%d p%d op%d d%d g%d", r[0], r[1], r[2], r[3], r[4],
              r[5], r[6], r[7], r[8], r[9], r[10]);
    }
    /* linear: n, in dims (c, h, w or features), out, no_bias */
    static const int tl[][6] = {{2, 7, 0, 0, 5, 0}, {1, 16, 0, 0, 16, 0}, {3, 18, 0, 0, 4, 1},
                                {4, 33, 0, 0, 17, 0}, {1, 1, 0, 0, 1, 0}};
    for (size_t i = 0; i < sizeof tl / sizeof tl[0]; i++) {
        const int *r = tl[i];
        hcase *c = add_case(OP_LINEAR, "linear");
        IN(c, IN_X, F_UNIF, r[0], r[1]);
        c->p[0] = r[4], c->p[2] = r[5];
        c->tol = 1e-4;
        label(c, "x(%d,%d) out %d%s", r[0], r[1], r[4], r[5] ? " no bias" : "");
    }
}

static void cases_norm(void)
{
    static const int tb[][4] = {{2, 3, 4, 5}, {4, 16, 3, 3}, {3, 17, 2, 1}, {4, 5, 1, 1}, {8, 2, 1, 1}};
    for (size_t i = 0; i < sizeof tb / sizeof tb[0]; i++)
        for (int m = 0; m < 2; m++) {
            const int *r = tb[i];
            hcase *c = add_case(OP_BN2D, "batchnorm2d");
            IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3]);
            c->eval = true;
            if (m) c->f[0] = 1e-3f, c->f[1] = 0.3f;
            c->otol = 1e-4;
            c->fd_tol = 5e-3;
            label(c, "x(%d,%d,%d,%d)%s", r[0], r[1], r[2], r[3], m ? " eps 1e-3 momentum 0.3" : "");
        }
    { /* a batch below the built one: statistics over the batch that ran */
        hcase *c = add_case(OP_BN2D, "batchnorm2d");
        IN(c, IN_X, F_UNIF, 4, 3, 3, 2);
        c->batch = 2;
        c->eval = true;
        c->otol = 1e-4, c->fd_tol = 5e-3;
        label(c, "x(4->2,3,3,2)");
    }
    static const int t3[][5] = {{2, 3, 3, 4, 2}, {2, 16, 2, 2, 2}, {1, 5, 3, 1, 2}};
    for (size_t i = 0; i < sizeof t3 / sizeof t3[0]; i++) {
        const int *r = t3[i];
        hcase *c = add_case(OP_BN3D, "batchnorm3d");
        IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3], r[4]);
        c->eval = true;
        c->otol = 1e-4, c->fd_tol = 5e-3;
        label(c, "x(%d,%d,%d,%d,%d)", r[0], r[1], r[2], r[3], r[4]);
    }
    /* lrn: n c h w size alpha beta k */
    static const struct { int n, c, h, w, size; float a, b, k; } tl[] = {
        {2, 5, 3, 4, 5, 1e-4f, 0.75f, 1.0f}, {1, 16, 2, 3, 3, 0.5f, 0.75f, 2.0f},
        {2, 7, 3, 3, 4, 1.0f, 0.5f, 1.5f},   {1, 3, 5, 5, 7, 0.9f, 1.0f, 1.0f},
        {2, 1, 2, 2, 1, 0.6f, 0.75f, 1.0f},
    };
    for (size_t i = 0; i < sizeof tl / sizeof tl[0]; i++) {
        hcase *c = add_case(OP_LRN, "lrn");
        IN(c, IN_X, F_UNIF, tl[i].n, tl[i].c, tl[i].h, tl[i].w);
        c->p[0] = tl[i].size, c->f[0] = tl[i].a, c->f[1] = tl[i].b, c->f[2] = tl[i].k;
        c->otol = 1e-5;
        label(c, "x(%d,%d,%d,%d) size %d alpha %g beta %g k %g", tl[i].n, tl[i].c, tl[i].h,
              tl[i].w, tl[i].size, (double)tl[i].a, (double)tl[i].b, (double)tl[i].k);
    }
}

static void cases_activation(void)
{
    static const struct { cnn_act a; const char *name; float k[4]; int nk; } acts[] = {
        {CNN_ACT_RELU, "relu", {0}, 1},
        {CNN_ACT_RELU6, "relu6", {0, 6}, 2},
        {CNN_ACT_SIGMOID, "sigmoid", {0}, 0},
        {CNN_ACT_TANH, "tanh", {0}, 0},
        {CNN_ACT_HARDSWISH, "hardswish", {-3, 3}, 2},
        {CNN_ACT_HARDSIGMOID, "hardsigmoid", {-3, 3}, 2},
    };
    static const int shapes[][4] = {{2, 3, 5, 7}, {1, 16, 4, 4}, {3, 17, 1, 1}, {1, 1, 1, 1}};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int *r = shapes[s];
            hcase *c = add_case(OP_ACT, "activation");
            IN(c, IN_X, F_AWAY, r[0], r[1], r[2], r[3]);
            c->p[0] = (int)acts[a].a;
            memcpy(c->kink, acts[a].k, sizeof c->kink);
            c->nkink = acts[a].nk;
            c->otol = 1e-6;
            label(c, "%s x(%d,%d,%d,%d)", acts[a].name, r[0], r[1], r[2], r[3]);
        }
    /* parametrised: kind, alpha, beta, kinks */
    static const struct { cnn_act a; const char *name; float al, be; float k[2]; int nk; } ap[] = {
        {CNN_ACT_LEAKY_RELU, "leaky_relu", 0.01f, 0, {0}, 1},
        {CNN_ACT_LEAKY_RELU, "leaky_relu", 0.2f, 0, {0}, 1},
        {CNN_ACT_ELU, "elu", 1.0f, 0, {0}, 1},
        {CNN_ACT_ELU, "elu", 0.5f, 0, {0}, 1},
        {CNN_ACT_CLIP, "clip", -1.5f, 2.5f, {-1.5f, 2.5f}, 2},
        {CNN_ACT_CLIP, "clip", 0.0f, 6.0f, {0, 6}, 2},
        {CNN_ACT_HARDSIGMOID, "hardsigmoid", 0.2f, 0.5f, {-2.5f, 2.5f}, 2},
        {CNN_ACT_HARDSIGMOID, "hardsigmoid", 1.0f / 6, 0.5f, {-3, 3}, 2},
        {CNN_ACT_RELU, "relu", 0.3f, 0.7f, {0}, 1}, /* alpha/beta ignored */
        {CNN_ACT_TANH, "tanh", 0.3f, 0.7f, {0}, 0},
    };
    static const int shp[][4] = {{2, 3, 5, 7}, {1, 16, 3, 3}, {2, 1, 1, 1}};
    for (size_t a = 0; a < sizeof ap / sizeof ap[0]; a++)
        for (size_t s = 0; s < sizeof shp / sizeof shp[0]; s++) {
            const int *r = shp[s];
            hcase *c = add_case(OP_ACT_P, "activation_p");
            IN(c, IN_X, F_AWAY, r[0], r[1], r[2], r[3]);
            c->p[0] = (int)ap[a].a, c->f[0] = ap[a].al, c->f[1] = ap[a].be;
            c->kink[0] = ap[a].k[0], c->kink[1] = ap[a].k[1], c->nkink = ap[a].nk;
            c->otol = 1e-6;
            label(c, "%s(%g, %g) x(%d,%d,%d,%d)", ap[a].name, (double)ap[a].al, (double)ap[a].be,
                  r[0], r[1], r[2], r[3]);
        }
    /* dropout: p, shape; train (fixed seed) and eval */
    static const struct { float p; int n, c, h, w; } td[] = {
        {0.5f, 2, 3, 4, 5}, {0.1f, 1, 16, 3, 3}, {0.8f, 3, 17, 1, 1}, {0.0f, 2, 2, 2, 2},
    };
    for (size_t i = 0; i < sizeof td / sizeof td[0]; i++) {
        hcase *c = add_case(OP_DROPOUT, "dropout");
        IN(c, IN_X, F_POS, td[i].n, td[i].c, td[i].h, td[i].w);
        c->f[0] = td[i].p;
        c->eval = true;
        c->otol = 1e-6;
        label(c, "p %g x(%d,%d,%d,%d)", (double)td[i].p, td[i].n, td[i].c, td[i].h, td[i].w);
    }
}

static void cases_pool(void)
{
    /* n c h w kh kw sh sw ph pw dil ceil */
    static const int tm[][12] = {
        {2, 3, 7, 9, 3, 3, 2, 2, 1, 1, 1, 0}, {1, 16, 8, 8, 2, 2, 2, 2, 0, 0, 1, 0},
        {2, 2, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1}, {1, 2, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1},
        {2, 2, 9, 8, 3, 2, 2, 1, 1, 0, 1, 0}, {1, 3, 9, 9, 3, 3, 1, 1, 1, 1, 2, 0},
        {1, 17, 4, 5, 1, 1, 1, 1, 0, 0, 1, 0}, {2, 2, 10, 11, 3, 3, 3, 3, 0, 0, 1, 1},
        {1, 2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof tm / sizeof tm[0]; i++)
        for (int f = 0; f < 2; f++) {
            const int *r = tm[i];
            hcase *c = add_case(OP_MAXPOOL2D, "maxpool2d");
            IN(c, IN_X, f ? F_DESC : F_DISTINCT, r[0], r[1], r[2], r[3]);
            memcpy(c->p, r + 4, 8 * sizeof(int));
            c->otol = 0;
            label(c, "x(%d,%d,%d,%d) k%dx%d s%dx%d p%dx%d d%d%s%s", r[0], r[1], r[2], r[3], r[4],
                  r[5], r[6], r[7], r[8], r[9], r[10], r[11] ? " ceil" : "",
                  f ? " descending" : "");
        }
    /* n c h w kh kw sh sw ph pw ceil exclude_pad */
    static const int ta[][12] = {
        {2, 3, 7, 9, 3, 3, 2, 2, 1, 1, 0, 0}, {2, 2, 8, 6, 2, 2, 2, 2, 0, 0, 0, 0},
        {1, 2, 6, 6, 3, 3, 2, 2, 1, 1, 1, 0}, {1, 2, 5, 5, 2, 2, 2, 2, 1, 1, 1, 0},
        {2, 2, 9, 8, 3, 2, 2, 1, 1, 0, 0, 0}, {2, 2, 10, 11, 3, 3, 3, 3, 0, 0, 1, 0},
        {1, 16, 5, 5, 3, 3, 1, 1, 1, 1, 0, 0}, {1, 2, 11, 8, 5, 3, 3, 2, 2, 1, 1, 0},
        {1, 17, 4, 5, 1, 1, 1, 1, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof ta / sizeof ta[0]; i++)
        for (int ex = 0; ex < 2; ex++) {
            const int *r = ta[i];
            if (ex && r[8] == 0 && r[9] == 0 && !r[10]) continue; /* the same case */
            hcase *c = add_case(OP_AVGPOOL2D, "avgpool2d");
            IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3]);
            memcpy(c->p, r + 4, 7 * sizeof(int));
            c->p[7] = ex;
            label(c, "x(%d,%d,%d,%d) k%dx%d s%dx%d p%dx%d%s%s", r[0], r[1], r[2], r[3], r[4], r[5],
                  r[6], r[7], r[8], r[9], r[10] ? " ceil" : "", ex ? " exclude_pad" : "");
        }
    /* n c d h w kd kh kw sd sh sw pd ph pw ceil */
    static const int t3[][15] = {
        {2, 2, 5, 6, 5, 3, 3, 3, 2, 2, 2, 1, 1, 1, 0}, {1, 3, 4, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0},
        {1, 2, 5, 5, 6, 3, 2, 2, 2, 2, 1, 1, 0, 1, 1}, {2, 16, 2, 3, 3, 1, 3, 3, 1, 1, 1, 0, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof t3 / sizeof t3[0]; i++)
        for (int f = 0; f < 2; f++) {
            const int *r = t3[i];
            hcase *c = add_case(OP_MAXPOOL3D, "maxpool3d");
            IN(c, IN_X, f ? F_DESC : F_DISTINCT, r[0], r[1], r[2], r[3], r[4]);
            memcpy(c->p, r + 5, 10 * sizeof(int));
            c->otol = 0;
            label(c, "x(%d,%d,%d,%d,%d) k%dx%dx%d s%dx%dx%d p%dx%dx%d%s%s", r[0], r[1], r[2],
                  r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
                  r[14] ? " ceil" : "", f ? " descending" : "");
        }
    /* adaptive: n c h w oh ow */
    static const int tad[][6] = {{2, 3, 7, 9, 3, 4}, {1, 16, 6, 6, 6, 6}, {2, 2, 5, 7, 1, 1},
                                 {1, 17, 4, 4, 3, 2}, {1, 2, 3, 3, 5, 4}, {1, 2, 10, 10, 7, 7}};
    for (size_t i = 0; i < sizeof tad / sizeof tad[0]; i++) {
        const int *r = tad[i];
        hcase *c = add_case(OP_ADAPTIVE, "adaptive_avgpool2d");
        IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3]);
        c->p[0] = r[4], c->p[1] = r[5];
        label(c, "x(%d,%d,%d,%d) -> %dx%d", r[0], r[1], r[2], r[3], r[4], r[5]);
    }
    static const int tg[][5] = {{2, 3, 5, 7, 0}, {1, 16, 4, 4, 0}, {3, 17, 1, 1, 0}, {2, 2, 3, 4, 5}};
    for (size_t i = 0; i < sizeof tg / sizeof tg[0]; i++)
        for (int mx = 0; mx < 2; mx++) {
            const int *r = tg[i];
            if (!mx && r[4]) continue; /* global avg pool is 2-D only */
            hcase *c = add_case(mx ? OP_GMP : OP_GAP, mx ? "global_maxpool" : "global_avgpool");
            if (r[4]) IN(c, IN_X, F_DISTINCT, r[0], r[1], r[2], r[3], r[4]);
            else IN(c, IN_X, mx ? F_DISTINCT : F_UNIF, r[0], r[1], r[2], r[3]);
            if (mx) c->otol = 0;
            label(c, "x(%d,%d,%d,%d%s)", r[0], r[1], r[2], r[3], r[4] ? ",5" : "");
        }
}

static void cases_softmax(void)
{
    static const int ts[][4] = {{2, 10, 1, 1}, {3, 16, 2, 3}, {1, 17, 1, 1}, {2, 1, 3, 3}, {2, 5, 4, 4}};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        for (int big = 0; big < 2; big++) {
            const int *r = ts[i];
            if (big && i != 0 && i != 2) continue;
            hcase *c = add_case(OP_SOFTMAX, "softmax");
            IN(c, IN_X, F_UNIF, r[0], r[1], r[2], r[3]);
            c->f[0] = big ? 50.0f : 1.0f; /* inputs scaled: exp overflows unless shifted */
            c->f[1] = big ? 100.0f : 0.0f;
            c->otol = 1e-5;
            c->fd_eps = big ? 1e-3 : 1e-2;
            c->fd_tol = big ? 5e-3 : 2e-3;
            label(c, "x(%d,%d,%d,%d)%s", r[0], r[1], r[2], r[3], big ? " logits near 100, spread 200" : "");
        }
    /* softmax_axis: shape, axis; softmax and log-softmax; large inputs on a few */
    static const struct { tshape t; int axis, big; } ta[] = {
        {{2, {3, 7}, 1}, 1, 1},          {{2, {3, 7}, 1}, -1, 0},         {{4, {2, 3, 4, 5}, 1}, 1, 0},
        {{4, {2, 3, 4, 5}, 1}, 2, 1},    {{4, {2, 3, 4, 5}, 1}, -1, 0},   {{3, {4, 5, 6}, 0}, 0, 0},
        {{3, {4, 5, 6}, 0}, 1, 1},       {{5, {2, 2, 3, 2, 3}, 1}, 3, 0}, {{4, {1, 16, 2, 2}, 1}, 1, 0},
        {{4, {3, 2, 17, 1}, 1}, 2, 0},
    };
    char b1[64];
    for (size_t i = 0; i < sizeof ta / sizeof ta[0]; i++)
        for (int lg = 0; lg < 2; lg++) {
            hcase *c = add_case(OP_SOFTMAX_AXIS, "softmax_axis");
            add_shape(c, &ta[i].t, F_UNIF);
            c->p[0] = ta[i].axis, c->p[1] = lg;
            if (ta[i].big) c->f[0] = 50.0f, c->f[1] = 100.0f;
            c->otol = 1e-5;
            label(c, "%s axis %d%s%s", shape_str(&ta[i].t, b1, sizeof b1), ta[i].axis, lg ? " log" : "",
                  ta[i].big ? " logits near 100, spread 200" : "");
        }
    /* cross entropy: n k smoothing */
    static const struct { int n, k; float ls; } tc[] = {{4, 10, 0}, {3, 17, 0.1f}, {1, 2, 0}, {5, 16, 0.3f}, {2, 1, 0}};
    for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
        hcase *c = add_case(OP_CE, "cross_entropy");
        IN(c, IN_X, F_UNIF, tc[i].n, tc[i].k);
        IN(c, IN_L, F_LABELS, tc[i].n);
        c->p[0] = tc[i].k, c->f[0] = tc[i].ls;
        c->otol = 1e-5;
        label(c, "logits(%d,%d) smoothing %g", tc[i].n, tc[i].k, (double)tc[i].ls);
    }
    { /* a batch below the built one: the mean is over the batch that ran */
        hcase *c = add_case(OP_CE, "cross_entropy");
        IN(c, IN_X, F_UNIF, 4, 6);
        IN(c, IN_L, F_LABELS, 4);
        c->batch = 3, c->p[0] = 6, c->otol = 1e-5;
        label(c, "logits(4->3,6)");
    }
}

static void cases_elementwise(void)
{
    static const tshape sh[] = {{4, {2, 3, 5, 7}, 1}, {4, {1, 16, 4, 4}, 1}, {4, {3, 17, 1, 1}, 1},
                                {4, {1, 1, 1, 1}, 1}, {5, {3, 2, 3, 2, 2}, 1}, {2, {4, 7}, 1}};
    char b1[64], b2[64];
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
        const tshape *t = &sh[i];
        hcase *c = add_case(OP_ADD, "add");
        add_shape(c, t, F_UNIF), add_shape(c, t, F_UNIF);
        c->otol = 1e-6;
        label(c, "%s", shape_str(t, b1, sizeof b1));
    }
    { /* a + a: the gradient doubles */
        hcase *c = add_case(OP_ADD, "add");
        IN(c, IN_X, F_UNIF, 2, 3, 2, 2);
        c->p[0] = 1, c->otol = 1e-6;
        label(c, "x + x (2,3,2,2)");
    }
    /* mul_channel: x, s */
    static const tshape mc[][2] = {
        {{4, {2, 3, 4, 5}, 1}, {4, {2, 3, 1, 1}, 1}}, {{4, {3, 5, 2, 3}, 1}, {2, {3, 5}, 1}},
        {{5, {2, 2, 3, 2, 2}, 1}, {5, {2, 2, 1, 1, 1}, 1}}, {{4, {2, 4, 1, 1}, 1}, {4, {2, 4, 1, 1}, 1}},
        {{4, {1, 16, 3, 3}, 1}, {4, {1, 16, 1, 1}, 1}}, {{4, {2, 17, 2, 1}, 1}, {2, {2, 17}, 1}},
    };
    for (size_t i = 0; i < sizeof mc / sizeof mc[0]; i++) {
        hcase *c = add_case(OP_MUL_CHANNEL, "mul_channel");
        add_shape(c, &mc[i][0], F_UNIF), add_shape(c, &mc[i][1], F_UNIF);
        c->otol = 1e-6;
        label(c, "%s * %s", shape_str(&mc[i][0], b1, sizeof b1), shape_str(&mc[i][1], b2, sizeof b2));
    }
    static const tshape ms[] = {{4, {2, 3, 4, 5}, 1}, {4, {3, 1, 3, 3}, 1}, {5, {2, 3, 2, 3, 2}, 1},
                                {4, {2, 6, 1, 1}, 1}, {4, {1, 16, 2, 3}, 1}};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        hcase *c = add_case(OP_MUL_SPATIAL, "mul_spatial");
        tshape s1 = ms[i];
        s1.d[1] = 1;
        add_shape(c, &ms[i], F_UNIF), add_shape(c, &s1, F_UNIF);
        c->otol = 1e-6;
        label(c, "%s * %s", shape_str(&ms[i], b1, sizeof b1), shape_str(&s1, b2, sizeof b2));
    }
    static const tshape cr[] = {{4, {2, 3, 4, 5}, 1}, {4, {3, 1, 2, 3}, 1}, {5, {2, 4, 2, 3, 2}, 1},
                                {4, {2, 7, 1, 1}, 1}, {3, {2, 5, 6}, 1}, {4, {1, 16, 2, 2}, 1}};
    for (size_t i = 0; i < sizeof cr / sizeof cr[0]; i++)
        for (int mx = 0; mx < 2; mx++) {
            hcase *c = add_case(mx ? OP_CH_MAX : OP_CH_MEAN, "channel_reduce");
            add_shape(c, &cr[i], mx ? F_DISTINCT : F_UNIF);
            c->otol = mx ? 0 : 1e-6;
            label(c, "%s %s", mx ? "max" : "mean", shape_str(&cr[i], b1, sizeof b1));
        }
    /* shuffle: shape, groups */
    static const struct { tshape t; int g; } tsh[] = {
        {{4, {2, 12, 3, 2}, 1}, 1}, {{4, {2, 12, 3, 2}, 1}, 2}, {{4, {2, 12, 3, 2}, 1}, 3},
        {{4, {2, 12, 3, 2}, 1}, 4}, {{4, {2, 12, 3, 2}, 1}, 12}, {{5, {2, 6, 2, 2, 3}, 1}, 3},
        {{4, {3, 8, 1, 1}, 1}, 2}, {{4, {1, 16, 2, 2}, 1}, 4}, {{4, {1, 17, 2, 1}, 1}, 17},
    };
    for (size_t i = 0; i < sizeof tsh / sizeof tsh[0]; i++) {
        hcase *c = add_case(OP_SHUFFLE, "channel_shuffle");
        add_shape(c, &tsh[i].t, F_UNIF);
        c->p[0] = tsh[i].g, c->otol = 0;
        label(c, "%s groups %d", shape_str(&tsh[i].t, b1, sizeof b1), tsh[i].g);
    }
    /* channel slice: shape, start, count */
    static const struct { tshape t; int start, count; } tsl[] = {
        {{4, {2, 8, 3, 2}, 1}, 0, 4}, {{4, {2, 8, 3, 2}, 1}, 4, 4}, {{4, {2, 8, 3, 2}, 1}, 0, 8},
        {{4, {3, 7, 2, 2}, 1}, 2, 3}, {{4, {2, 5, 1, 1}, 1}, 4, 1}, {{5, {2, 6, 2, 2, 2}, 1}, 1, 4},
        {{4, {1, 32, 2, 2}, 1}, 16, 16}, {{4, {2, 17, 1, 1}, 1}, 5, 7},
    };
    for (size_t i = 0; i < sizeof tsl / sizeof tsl[0]; i++) {
        hcase *c = add_case(OP_CH_SLICE, "channel_slice");
        add_shape(c, &tsl[i].t, F_UNIF);
        c->p[0] = tsl[i].start, c->p[1] = tsl[i].count, c->otol = 0;
        label(c, "%s [%d, +%d)", shape_str(&tsl[i].t, b1, sizeof b1), tsl[i].start, tsl[i].count);
    }
    /* concat: rank, n, spatial dims, the inputs' channels, the order (repeats) */
    static const struct { int nd, n, sp[3], nin, ch[3], k, order[5]; } tcc[] = {
        {4, 2, {3, 4, 0}, 1, {3}, 1, {0}},             /* one input: a copy */
        {4, 2, {3, 4, 0}, 2, {2, 5}, 2, {0, 1}},
        {4, 3, {2, 3, 0}, 3, {1, 4, 2}, 3, {2, 0, 1}}, /* out of order */
        {4, 2, {3, 3, 0}, 1, {3}, 2, {0, 0}},          /* concat([a, a]) */
        {4, 2, {2, 2, 0}, 2, {2, 3}, 5, {0, 1, 0, 1, 0}},
        {5, 2, {2, 3, 2}, 2, {3, 2}, 3, {0, 1, 0}},
        {4, 1, {1, 1, 0}, 2, {4, 6}, 2, {0, 1}},
        {4, 1, {2, 2, 0}, 2, {16, 16}, 2, {0, 1}},
        {4, 2, {1, 1, 0}, 3, {5, 17, 1}, 3, {0, 1, 2}},
    };
    for (size_t i = 0; i < sizeof tcc / sizeof tcc[0]; i++) {
        hcase *c = add_case(OP_CONCAT, "concat");
        char what[64] = "";
        for (int k = 0; k < tcc[i].nin; k++) {
            int d[5] = {tcc[i].n, tcc[i].ch[k], tcc[i].sp[0], tcc[i].sp[1], tcc[i].sp[2]};
            add_in(c, IN_X, F_UNIF, tcc[i].nd, d);
        }
        c->p[0] = tcc[i].k;
        for (int k = 0; k < tcc[i].k; k++) {
            c->p[1 + k] = tcc[i].order[k];
            snprintf(what + strlen(what), sizeof what - strlen(what), "%s%d", k ? "," : "", tcc[i].ch[tcc[i].order[k]]);
        }
        c->otol = 0;
        label(c, "%d-D batch %d channels [%s]", tcc[i].nd, tcc[i].n, what);
    }
    /* reshape / flatten */
    {
        hcase *c = add_case(OP_FLATTEN, "reshape");
        IN(c, IN_X, F_UNIF, 2, 3, 4, 5);
        c->otol = 0;
        label(c, "flatten (2,3,4,5)");
        c = add_case(OP_RESHAPE, "reshape");
        IN(c, IN_X, F_UNIF, 3, 16, 2, 2);
        c->p[0] = 3, c->p[1] = 4, c->p[2] = -1, c->p[3] = 8, c->otol = 0;
        label(c, "(3,16,2,2) -> (3,4,-1,8)");
        c = add_case(OP_RESHAPE, "reshape");
        IN(c, IN_X, F_UNIF, 2, 17);
        c->p[0] = 3, c->p[1] = 17, c->p[2] = 1, c->p[3] = 1, c->otol = 0;
        label(c, "(2,17) -> (2,17,1,1)");
    }
}

static void cases_general(void)
{
    char b1[64], b2[64];
    /* binary: NumPy broadcasting, operands batched or unbatched (parameters), a
       constant operand */
    static const struct { tshape a, b; } tb[] = {
        {{3, {3, 4, 5}, 1}, {3, {3, 4, 5}, 1}},
        {{4, {2, 3, 4, 5}, 1}, {3, {3, 1, 1}, 0}},
        {{4, {2, 3, 4, 5}, 1}, {4, {1, 3, 1, 1}, 0}},
        {{4, {2, 3, 4, 5}, 1}, {1, {1}, 0}},
        {{1, {5}, 0}, {4, {2, 3, 4, 5}, 1}},
        {{3, {3, 1, 5}, 0}, {2, {4, 1}, 0}},
        {{4, {2, 3, 1, 5}, 1}, {2, {4, 1}, 0}},
        {{3, {2, 1, 4}, 1}, {3, {2, 3, 1}, 1}},
        {{2, {3, 7}, 1}, {2, {1, 7}, 0}},
        {{4, {2, 3, 4, 5}, 1}, {4, {2, 3, 1, 1}, 1}},
        {{4, {2, 16, 2, 2}, 1}, {1, {2}, 0}},
        {{4, {1, 17, 2, 1}, 1}, {4, {1, 17, 2, 1}, 1}},
    };
    static const struct { cnn_binary_op op; const char *name; } bo[] = {
        {CNN_BIN_ADD, "add"}, {CNN_BIN_SUB, "sub"}, {CNN_BIN_MUL, "mul"}, {CNN_BIN_DIV, "div"},
        {CNN_BIN_MAX, "max"}, {CNN_BIN_MIN, "min"}, {CNN_BIN_POW, "pow"},
    };
    for (size_t i = 0; i < sizeof tb / sizeof tb[0]; i++)
        for (size_t o = 0; o < sizeof bo / sizeof bo[0]; o++) {
            hcase *c = add_case(OP_BINARY, "binary");
            cnn_binary_op op = bo[o].op;
            int fa = F_UNIF, fb = F_UNIF;
            if (op == CNN_BIN_DIV) fb = F_POS;
            if (op == CNN_BIN_MAX || op == CNN_BIN_MIN) fa = F_LOW, fb = F_HIGH;
            if (op == CNN_BIN_POW) fa = F_POS, fb = F_POSBIG;
            add_shape(c, &tb[i].a, fa), add_shape(c, &tb[i].b, fb);
            c->p[0] = (int)op;
            c->otol = 1e-6;
            label(c, "%s %s, %s", bo[o].name, shape_str(&tb[i].a, b1, sizeof b1), shape_str(&tb[i].b, b2, sizeof b2));
        }
    { /* a constant operand */
        hcase *c = add_case(OP_BINARY, "binary");
        IN(c, IN_X, F_UNIF, 3, 17, 1);
        IN(c, IN_C, F_POS, 1, 4);
        c->p[0] = CNN_BIN_MUL, c->otol = 1e-6;
        label(c, "mul (3,17,1), (1,4) constant");
    }
    static const struct { cnn_unary_op op; const char *name; int fill; } uo[] = {
        {CNN_UN_NEG, "neg", F_UNIF}, {CNN_UN_ABS, "abs", F_AWAY}, {CNN_UN_EXP, "exp", F_UNIF},
        {CNN_UN_LOG, "log", F_POS},  {CNN_UN_SQRT, "sqrt", F_POS}, {CNN_UN_RECIPROCAL, "reciprocal", F_POS},
    };
    static const tshape us[] = {{4, {2, 3, 4, 5}, 1}, {4, {1, 17, 1, 1}, 1}, {4, {3, 16, 2, 1}, 1}, {2, {3, 5}, 0}};
    for (size_t o = 0; o < sizeof uo / sizeof uo[0]; o++)
        for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
            hcase *c = add_case(OP_UNARY, "unary");
            add_shape(c, &us[i], uo[o].fill);
            c->p[0] = (int)uo[o].op;
            c->otol = 1e-6;
            label(c, "%s %s", uo[o].name, shape_str(&us[i], b1, sizeof b1));
        }
    /* reduce: shape, axes, keepdims; every op */
    static const struct { tshape t; int naxes, axes[3], keep; } ra[] = {
        {{4, {2, 3, 4, 5}, 1}, 2, {2, 3}, 1}, {{4, {2, 3, 4, 5}, 1}, 2, {-1, -2}, 0},
        {{4, {2, 3, 4, 5}, 1}, 1, {1}, 1},    {{4, {2, 3, 4, 5}, 1}, 1, {2}, 0},
        {{4, {2, 3, 4, 5}, 1}, 0, {0}, 0},    {{3, {3, 4, 5}, 1}, 2, {1, 2}, 1},
        {{3, {3, 4, 5}, 0}, 0, {0}, 0},       {{3, {3, 4, 5}, 0}, 2, {0, 2}, 1},
        {{5, {2, 2, 3, 2, 3}, 1}, 3, {2, 4, 3}, 0}, {{4, {1, 16, 2, 2}, 1}, 1, {1}, 0},
        {{4, {2, 17, 1, 1}, 1}, 3, {1, 2, 3}, 1},
    };
    static const char *rname[] = {"mean", "sum", "max", "min"};
    for (int op = 0; op < 4; op++)
        for (size_t a = 0; a < sizeof ra / sizeof ra[0]; a++) {
            hcase *c = add_case(OP_REDUCE, "reduce");
            add_shape(c, &ra[a].t, op >= 2 ? F_DISTINCT : F_UNIF);
            c->p[0] = op, c->p[1] = ra[a].naxes, c->p[5] = ra[a].keep;
            memcpy(c->p + 2, ra[a].axes, 3 * sizeof(int));
            c->otol = 1e-6;
            label(c, "%s %s axes %d:(%d,%d,%d)%s", rname[op], shape_str(&ra[a].t, b1, sizeof b1),
                  ra[a].naxes, ra[a].axes[0], ra[a].axes[1], ra[a].axes[2], ra[a].keep ? " keepdims" : "");
        }
    /* matmul: NumPy rules, stacks batched on either side, 1-D operands */
    static const struct { tshape a, b; } tm[] = {
        {{2, {3, 4}, 1}, {2, {4, 5}, 0}},          {{3, {2, 3, 4}, 1}, {2, {4, 5}, 0}},
        {{3, {2, 3, 4}, 1}, {3, {2, 4, 5}, 1}},    {{4, {2, 2, 3, 4}, 1}, {3, {2, 4, 5}, 0}},
        {{2, {3, 4}, 0}, {3, {2, 4, 5}, 1}},       {{3, {1, 3, 4}, 0}, {3, {2, 4, 5}, 1}},
        {{3, {2, 3, 4}, 1}, {1, {4}, 0}},          {{1, {4}, 0}, {3, {2, 4, 5}, 1}},
        {{4, {2, 1, 3, 4}, 0}, {3, {5, 4, 2}, 0}}, {{1, {4}, 0}, {1, {4}, 0}},
        {{2, {3, 4}, 1}, {1, {4}, 0}},             {{3, {1, 16, 16}, 1}, {3, {1, 16, 5}, 1}},
        {{2, {3, 17}, 1}, {2, {17, 16}, 0}},
    };
    for (size_t i = 0; i < sizeof tm / sizeof tm[0]; i++) {
        hcase *c = add_case(OP_MATMUL, "matmul");
        add_shape(c, &tm[i].a, F_UNIF), add_shape(c, &tm[i].b, F_UNIF);
        c->tol = 1e-4, c->otol = 1e-5;
        label(c, "%s x %s", shape_str(&tm[i].a, b1, sizeof b1), shape_str(&tm[i].b, b2, sizeof b2));
    }
    { /* a constant operand */
        hcase *c = add_case(OP_MATMUL, "matmul");
        IN(c, IN_X, F_UNIF, 2, 3, 1, 4);
        IN(c, IN_C, F_UNIF, 3, 4, 2);
        c->tol = 1e-4, c->otol = 1e-5;
        label(c, "(2,3,1,4) x (3,4,2) constant");
    }
    /* pad: shape, pads (ONNX order: begins, ends), mode, value */
    static const struct { tshape t; int pads[10]; int mode; float v; } tp[] = {
        {{4, {2, 3, 4, 5}, 1}, {0, 0, 1, 2, 0, 0, 2, 1}, CNN_PAD_CONSTANT, 0.0f},
        {{4, {2, 3, 4, 5}, 1}, {0, 0, 1, 2, 0, 0, 2, 1}, CNN_PAD_REFLECT, 0.0f},
        {{4, {2, 3, 4, 5}, 1}, {0, 0, 1, 2, 0, 0, 2, 1}, CNN_PAD_EDGE, 0.0f},
        {{4, {2, 3, 4, 5}, 1}, {0, 1, -1, 0, 0, 0, 1, -2}, CNN_PAD_CONSTANT, -1.5f},
        {{4, {2, 3, 4, 5}, 1}, {0, 0, -1, 3, 0, 0, 2, -2}, CNN_PAD_REFLECT, 0.0f},
        {{4, {2, 3, 4, 5}, 1}, {0, 2, 0, -1, 0, 1, 0, 4}, CNN_PAD_EDGE, 0.0f},
        {{3, {2, 3, 3}, 1}, {0, 0, 5, 0, 0, 7}, CNN_PAD_REFLECT, 0.0f}, /* longer than the axis */
        {{2, {3, 4}, 0}, {1, 0, 2, 3}, CNN_PAD_CONSTANT, 0.5f},
        {{2, {3, 4}, 0}, {2, -1, 1, 2}, CNN_PAD_REFLECT, 0.0f},
        {{5, {2, 2, 3, 2, 3}, 1}, {0, 0, 1, 1, 1, 0, 1, 0, 0, 2}, CNN_PAD_EDGE, 0.0f},
        {{4, {1, 16, 3, 3}, 1}, {0, 0, -1, 1, 0, 0, 1, -2}, CNN_PAD_CONSTANT, 0.5f},
        {{4, {1, 17, 1, 1}, 1}, {0, 0, 1, 1, 0, 0, 1, 1}, CNN_PAD_EDGE, 0.0f},
    };
    static const char *pm[] = {"constant", "reflect", "edge"};
    for (size_t i = 0; i < sizeof tp / sizeof tp[0]; i++) {
        hcase *c = add_case(OP_PAD, "pad");
        add_shape(c, &tp[i].t, F_UNIF);
        memcpy(c->p, tp[i].pads, 2 * (size_t)tp[i].t.nd * sizeof(int));
        c->p[12] = tp[i].mode, c->f[0] = tp[i].v, c->otol = 0;
        char pads[64] = "";
        for (int k = 0; k < 2 * tp[i].t.nd; k++)
            snprintf(pads + strlen(pads), sizeof pads - strlen(pads), "%s%d", k ? "," : "", tp[i].pads[k]);
        label(c, "%s %s pads %s", pm[tp[i].mode], shape_str(&tp[i].t, b1, sizeof b1), pads);
    }
    /* slice: shape, axis, start, end, step (ONNX clamping, open ends, negative steps) */
    static const struct { tshape t; int axis, start, end, step; } ts[] = {
        {{4, {2, 6, 3, 4}, 1}, 1, 1, 4, 1},        {{4, {2, 6, 3, 4}, 1}, -1, 0, INT_MAX, 2},
        {{4, {2, 6, 3, 4}, 1}, 2, -2, INT_MAX, 1}, {{4, {2, 6, 3, 4}, 1}, 1, INT_MAX, INT_MIN, -1},
        {{4, {2, 6, 3, 4}, 1}, 1, -1, -5, -2},     {{4, {2, 6, 3, 4}, 1}, 3, 10, 1, -1},
        {{3, {3, 7, 2}, 1}, 1, -100, 100, 3},      {{3, {3, 7, 2}, 1}, 1, 2, 3, 10},
        {{2, {5, 4}, 0}, 0, 1, -1, 1},             {{3, {5, 4, 2}, 0}, -3, 4, INT_MIN, -2},
        {{5, {2, 3, 4, 2, 3}, 1}, 2, 1, 3, 1},     {{4, {1, 17, 3, 6}, 1}, 1, 5, 16, 1},
        {{4, {1, 32, 1, 1}, 1}, 1, 0, 16, 1},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        hcase *c = add_case(OP_SLICE, "slice");
        add_shape(c, &ts[i].t, F_UNIF);
        c->p[0] = ts[i].axis, c->p[1] = ts[i].start, c->p[2] = ts[i].end, c->p[3] = ts[i].step;
        c->otol = 0;
        label(c, "%s axis %d [%d:%d:%d]", shape_str(&ts[i].t, b1, sizeof b1), ts[i].axis,
              ts[i].start, ts[i].end, ts[i].step);
    }
    static const struct { tshape t; int perm[5]; } tt[] = {
        {{3, {2, 3, 4}, 1}, {0, 2, 1}},          {{4, {2, 3, 4, 5}, 1}, {0, 3, 1, 2}},
        {{4, {3, 3, 4, 5}, 1}, {0, 2, 3, 1}},    {{4, {2, 3, 4, 5}, 1}, {0, 1, 2, 3}},
        {{3, {3, 4, 5}, 0}, {2, 0, 1}},          {{2, {4, 5}, 0}, {1, 0}},
        {{5, {2, 2, 3, 1, 2}, 1}, {0, 4, 2, 3, 1}}, {{4, {1, 16, 3, 1}, 1}, {0, 2, 3, 1}},
    };
    for (size_t i = 0; i < sizeof tt / sizeof tt[0]; i++) {
        hcase *c = add_case(OP_TRANSPOSE, "transpose");
        add_shape(c, &tt[i].t, F_UNIF);
        memcpy(c->p, tt[i].perm, (size_t)tt[i].t.nd * sizeof(int));
        char perm[32] = "";
        for (int k = 0; k < tt[i].t.nd; k++) snprintf(perm + strlen(perm), sizeof perm - strlen(perm), "%d", tt[i].perm[k]);
        c->otol = 0;
        label(c, "%s perm %s", shape_str(&tt[i].t, b1, sizeof b1), perm);
    }
    {
        hcase *c = add_case(OP_CONSTANT, "constant");
        IN(c, IN_C, F_UNIF, 3, 17, 2);
        c->otol = 0;
        label(c, "(3,17,2)");
        c = add_case(OP_PARAMETER, "parameter");
        IN(c, IN_P, F_UNIF, 16, 3);
        c->otol = 0;
        label(c, "(16,3)");
        c = add_case(OP_PARAMETER, "parameter");
        IN(c, IN_P, F_UNIF, 5);
        c->otol = 0;
        label(c, "(5)");
    }
}

/* Every op also at a batch below the one built (the graph plans for the maximum and
   runs any smaller batch): a copy of its first case with a batched input of batch > 1. */
static void cases_smaller_batch(void)
{
    int n = g_ncases;
    for (int i = 0; i < n; i++) {
        const char *grp = g_cases[i].group;
        int seen = 0, built = 0;
        for (int j = 0; j < g_ncases && !seen; j++) seen = strcmp(g_cases[j].group, grp) == 0 && g_cases[j].batch;
        for (int k = 0; k < g_cases[i].nin; k++)
            if (g_cases[i].in[k].kind == IN_X) built = g_cases[i].in[k].dims[0];
        if (seen || built < 2) continue;
        hcase *c = add_case(0, grp);
        *c = g_cases[i];
        c->batch = built - 1;
        char l[sizeof c->label];
        snprintf(l, sizeof l, "%s", c->label);
        label(c, "%s at batch %d", l, c->batch);
    }
}

/* ---------------------------------------------------------------- inputs */
static int or1(int v) { return v ? v : 1; }

static size_t prod(int n, const int *d)
{
    size_t s = 1;
    for (int i = 0; i < n; i++) s *= (size_t)d[i];
    return s;
}

static int run_batch(const hcase *c)
{
    if (c->batch) return c->batch;
    for (int k = 0; k < c->nin; k++)
        if (c->in[k].kind == IN_X) return c->in[k].dims[0];
    return 1;
}

/* dims of input k at the batch the case runs */
static void in_dims(const hcase *c, int k, int *d)
{
    memcpy(d, c->in[k].dims, sizeof c->in[k].dims);
    if (c->in[k].kind == IN_X || c->in[k].kind == IN_L) d[0] = run_batch(c);
}

static size_t in_numel(const hcase *c, int k)
{
    int d[CNN_MAX_DIMS];
    in_dims(c, k, d);
    return prod(c->in[k].ndim, d);
}

static void shuffle_idx(size_t *p, size_t n, cnn_rng *r)
{
    for (size_t i = 0; i < n; i++) p[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = cnn_rng_below(r, (uint32_t)i), t = p[i - 1];
        p[i - 1] = p[j], p[j] = t;
    }
}

static void gen_input(const hcase *c, int k, float *x, cnn_rng *r)
{
    const hin *h = &c->in[k];
    size_t n = in_numel(c, k);
    switch (h->fill) {
    case F_UNIF: tu_fill(x, n, -2, 2, r); break;
    case F_POS: tu_fill(x, n, 0.5f, 2, r); break;
    case F_POSBIG: tu_fill(x, n, 0.5f, 1.5f, r); break;
    case F_LOW:
    case F_HIGH:
        for (size_t i = 0; i < n; i++)
            x[i] = (float)((int)cnn_rng_below(r, 4) - 2) + (h->fill == F_LOW ? 0.05f : 0.55f) +
                   0.4f * cnn_rng_uniform(r);
        break;
    case F_LABELS:
        for (size_t i = 0; i < n; i++) x[i] = (float)cnn_rng_below(r, (uint32_t)c->p[0]);
        break;
    case F_AWAY:
        tu_fill(x, n, -8, 8, r);
        for (size_t i = 0; i < n; i++)
            for (int q = 0; q < c->nkink; q++)
                if (fabsf(x[i] - c->kink[q]) < 0.05f)
                    x[i] = c->kink[q] + (x[i] < c->kink[q] ? -0.05f : 0.05f);
        if (c->op == OP_UNARY) /* abs: away from 0 */
            for (size_t i = 0; i < n; i++)
                if (fabsf(x[i]) < 0.05f) x[i] = x[i] < 0 ? -0.05f : 0.05f;
        break;
    case F_DISTINCT:
    case F_DESC: {
        size_t *p = malloc(n * sizeof *p);
        shuffle_idx(p, n, r);
        for (size_t i = 0; i < n; i++) x[i] = 0.05f * ((float)p[i] - (float)n / 2);
        if (h->fill == F_DESC) { /* each (n, c) plane sorted descending */
            size_t plane = n / ((size_t)run_batch(c) * (size_t)h->dims[1]);
            for (size_t s = 0; s + plane <= n; s += plane)
                for (size_t i = 1; i < plane; i++) /* insertion sort */
                    for (size_t j = s + i; j > s && x[j] > x[j - 1]; j--) {
                        float t = x[j];
                        x[j] = x[j - 1], x[j - 1] = t;
                    }
        }
        free(p);
        break;
    }
    }
    if ((c->op == OP_SOFTMAX || c->op == OP_SOFTMAX_AXIS) && c->f[0] != 0.0f)
        for (size_t i = 0; i < n; i++) x[i] = x[i] * c->f[0] / 2 + c->f[1];
}

/* ---------------------------------------------------------------- build */
typedef struct hgraph {
    cnn_graph *g;
    cnn_node *in[4], *y;
} hgraph;

static cnn_node *build_op(const hcase *c, cnn_graph *g, cnn_node **x)
{
    const int *p = c->p;
    switch (c->op) {
    case OP_CONV2D:
        return cnn_conv2d(g, x[0], p[0], .name = "op", .groups = p[1], .no_bias = p[2],
                          .kernel_h = p[4], .kernel_w = p[5], .stride_h = p[7], .stride_w = p[8],
                          .padding_h = p[10], .padding_w = p[11], .dilation_h = p[13],
                          .dilation_w = p[14]);
    case OP_CONV3D:
        return cnn_conv3d(g, x[0], p[0], .name = "op", .groups = p[1], .no_bias = p[2],
                          .kernel_d = p[3], .kernel_h = p[4], .kernel_w = p[5], .stride_d = p[6],
                          .stride_h = p[7], .stride_w = p[8], .padding_d = p[9],
                          .padding_h = p[10], .padding_w = p[11], .dilation_d = p[12],
                          .dilation_h = p[13], .dilation_w = p[14]);
    case OP_CONVT2D:
        return cnn_conv_transpose2d(g, x[0], p[0], .name = "op", .groups = p[1],
                                    .no_bias = p[2], .kernel_h = p[4], .kernel_w = p[5],
                                    .stride_h = p[7], .stride_w = p[8], .padding_h = p[10],
                                    .padding_w = p[11], .dilation_h = p[13], .dilation_w = p[14],
                                    .output_padding = p[15]);
    case OP_LINEAR: return cnn_linear(g, x[0], p[0], .name = "op", .no_bias = p[2]);
    case OP_BN2D: return cnn_batchnorm2d(g, x[0], .name = "op", .eps = c->f[0], .momentum = c->f[1]);
    case OP_BN3D: return cnn_batchnorm3d(g, x[0], .name = "op", .eps = c->f[0], .momentum = c->f[1]);
    case OP_ACT: return cnn_activation(g, x[0], (cnn_act)p[0]);
    case OP_ACT_P: return cnn_activation_p(g, x[0], (cnn_act)p[0], c->f[0], c->f[1]);
    case OP_MAXPOOL2D:
        return cnn_maxpool2d(g, x[0], .kernel_h = p[0], .kernel_w = p[1], .stride_h = p[2],
                             .stride_w = p[3], .padding_h = p[4], .padding_w = p[5],
                             .dilation = p[6], .ceil_mode = p[7]);
    case OP_AVGPOOL2D:
        return cnn_avgpool2d(g, x[0], .kernel_h = p[0], .kernel_w = p[1], .stride_h = p[2],
                             .stride_w = p[3], .padding_h = p[4], .padding_w = p[5],
                             .ceil_mode = p[6], .exclude_pad = p[7]);
    case OP_MAXPOOL3D:
        return cnn_maxpool3d(g, x[0], .kernel_d = p[0], .kernel_h = p[1], .kernel_w = p[2],
                             .stride_d = p[3], .stride_h = p[4], .stride_w = p[5],
                             .padding_d = p[6], .padding_h = p[7], .padding_w = p[8],
                             .ceil_mode = p[9]);
    case OP_ADAPTIVE: return cnn_adaptive_avgpool2d(g, x[0], p[0], p[1]);
    case OP_GAP: return cnn_global_avgpool(g, x[0]);
    case OP_GMP: return cnn_global_maxpool(g, x[0]);
    case OP_LRN:
        return cnn_lrn(g, x[0], .size = p[0], .alpha = c->f[0], .beta = c->f[1], .k = c->f[2]);
    case OP_DROPOUT: return cnn_dropout(g, x[0], c->f[0]);
    case OP_SOFTMAX: return cnn_softmax(g, x[0]);
    case OP_SOFTMAX_AXIS: return cnn_softmax_axis(g, x[0], p[0], p[1]);
    case OP_CE: return cnn_cross_entropy(g, x[0], x[1], .label_smoothing = c->f[0]);
    case OP_ADD: return cnn_add(g, x[0], x[p[0] ? 0 : 1]); /* p[0]: x + x */
    case OP_MUL_CHANNEL: return cnn_mul_channel(g, x[0], x[1]);
    case OP_MUL_SPATIAL: return cnn_mul_spatial(g, x[0], x[1]);
    case OP_CH_MEAN: return cnn_channel_mean(g, x[0]);
    case OP_CH_MAX: return cnn_channel_max(g, x[0]);
    case OP_SHUFFLE: return cnn_channel_shuffle(g, x[0], p[0]);
    case OP_CH_SLICE: return cnn_channel_slice(g, x[0], p[0], p[1]);
    case OP_CONCAT: { /* p[0] entries, p[1 + i]: which input (repeats allowed) */
        cnn_node *xs[8];
        for (int i = 0; i < p[0]; i++) xs[i] = x[p[1 + i]];
        return cnn_concat(g, p[0], xs);
    }
    case OP_FLATTEN: return cnn_flatten(g, x[0]);
    case OP_RESHAPE: return cnn_reshape(g, x[0], 3, p + 1);
    case OP_BINARY: return cnn_binary(g, x[0], x[1], (cnn_binary_op)p[0]);
    case OP_UNARY: return cnn_unary(g, x[0], (cnn_unary_op)p[0]);
    case OP_REDUCE: return cnn_reduce(g, x[0], (cnn_reduce_op)p[0], p[1], p + 2, p[5]);
    case OP_MATMUL: return cnn_matmul(g, x[0], x[1]);
    case OP_PAD: return cnn_pad(g, x[0], p, (cnn_pad_mode)p[12], c->f[0]);
    case OP_SLICE: return cnn_slice(g, x[0], p[0], p[1], p[2], p[3]);
    case OP_TRANSPOSE: return cnn_transpose(g, x[0], c->in[0].ndim, p);
    case OP_CONSTANT:
    case OP_PARAMETER: return x[0];
    }
    return NULL;
}

/* The layer as built: cost (params, multiply-adds of one example) and PyTorch's default
   initialisation (conv / linear weight and bias U(-1/sqrt(fan_in), +), fan_in =
   weight.size(1) * kernel elements; batch norm weight 1, bias 0, running mean 0,
   running var 1). Before build_case overwrites the values. */
static int check_layer(const hcase *c, const hgraph *h, char *err, size_t errn)
{
    cnn_cost cost = cnn_node_cost(h->y);
    int64_t params = 0, macs = -1;
    for (int i = 0; i < cnn_graph_num_params(h->g); i++) {
        const cnn_param *pp = cnn_graph_param(h->g, i);
        if (c->op != OP_PARAMETER && pp->name[0] == 'p' && pp->name[1] >= '0' && pp->name[1] <= '3')
            continue; /* an operand's parameter node, not the layer's */
        size_t n = cnn_tensor_numel(&pp->value);
        if (pp->trainable) params += (int64_t)n;
        const char *dot = strrchr(pp->name, '.');
        const char *leaf = dot ? dot + 1 : pp->name;
        bool bn = c->op == OP_BN2D || c->op == OP_BN3D;
        double lo = 0, hi = 0, bound = 0;
        if (bn) {
            lo = hi = strcmp(leaf, "weight") == 0 || strcmp(leaf, "running_var") == 0 ? 1.0 : 0.0;
        } else if (!strcmp(leaf, "weight") || !strcmp(leaf, "bias")) {
            const cnn_param *w = cnn_graph_find_param(h->g, "op.weight");
            if (!w) continue;
            bound = 1.0 / sqrt((double)(cnn_tensor_numel(&w->value) / (size_t)w->value.dims[0]));
            lo = -bound, hi = bound;
        } else {
            continue;
        }
        double mx = 0;
        for (size_t e = 0; e < n; e++) {
            double v = pp->value.data[e];
            mx = fmax(mx, fabs(v));
            if (v < lo || v > hi) {
                snprintf(err, errn, "init: %s[%zu] = %g outside [%g, %g]", pp->name, e, v, lo, hi);
                return 0;
            }
        }
        if (bound > 0 && n >= 20 && mx < 0.7 * bound) {
            snprintf(err, errn, "init: %s spans only %g of the bound %g", pp->name, mx, bound);
            return 0;
        }
    }
    const int *p = c->p, *xd = c->in[0].dims;
    int nd = c->in[0].ndim;
    cnn_tensor y = cnn_node_value(h->y);
    size_t k = (size_t)or1(p[3]) * or1(p[4]) * or1(p[5]), G = (size_t)or1(p[1]);
    switch (c->op) {
    case OP_CONV2D:
    case OP_CONV3D: macs = (int64_t)(cnn_tensor_numel(&y) / (size_t)y.dims[0] * ((size_t)xd[1] / G) * k); break;
    case OP_CONVT2D: macs = (int64_t)(prod(nd - 1, xd + 1) * ((size_t)p[0] / G) * k); break;
    case OP_LINEAR: macs = (int64_t)prod(nd - 1, xd + 1) * p[0]; break;
    case OP_ADAPTIVE: case OP_ADD: case OP_AVGPOOL2D: case OP_MAXPOOL2D: case OP_MAXPOOL3D:
    case OP_BINARY: case OP_CH_MEAN: case OP_CH_MAX: case OP_SHUFFLE: case OP_CH_SLICE:
    case OP_CONCAT: case OP_MUL_CHANNEL: case OP_MUL_SPATIAL: macs = 0; break;
    default: break;
    }
    if (cost.params != params || (macs >= 0 && cost.macs != macs)) {
        snprintf(err, errn, "cost: params %lld, macs %lld; want params %lld, macs %lld", (long long)cost.params,
                 (long long)cost.macs, (long long)params, (long long)macs);
        return 0;
    }
    return 1;
}

/* Builds the case's graph on the current backend, compiles it and gives every
   parameter and buffer its values (the same on every backend). data[k]: input k.
   check: also check_layer. */
static int build_case(const hcase *c, int ci, float *const *data, hgraph *h, char *err, size_t errn,
                      bool check)
{
    memset(h, 0, sizeof *h);
    h->g = cnn_graph_new();
    for (int k = 0; k < c->nin; k++) {
        const hin *in = &c->in[k];
        char name[8];
        snprintf(name, sizeof name, "%c%d", in->kind == IN_P ? 'p' : 'x', k);
        switch (in->kind) {
        case IN_X:
            h->in[k] = cnn_input(h->g, name, in->ndim, in->dims);
            cnn_input_requires_grad(h->in[k]);
            break;
        case IN_P: h->in[k] = cnn_parameter(h->g, name, in->ndim, in->dims, true); break;
        case IN_C: h->in[k] = cnn_constant(h->g, name, in->ndim, in->dims, data[k]); break;
        case IN_L: h->in[k] = cnn_labels(h->g, name, in->dims[0]); break;
        }
    }
    h->y = build_op(c, h->g, h->in);
    if (!h->y || cnn_graph_compile(h->g, 7) != CNN_OK) {
        snprintf(err, errn, "build: %s", cnn_graph_status(h->g) ? cnn_graph_error(h->g) : cnn_error_message());
        return 0;
    }
    cnn_graph_mark_output(h->g, h->y);
    if (check && !check_layer(c, h, err, errn)) return 0;
    cnn_rng r;
    cnn_rng_seed(&r, 1000 + (uint64_t)ci);
    for (int i = 0; i < cnn_graph_num_params(h->g); i++) {
        cnn_param *pp = cnn_graph_param(h->g, i);
        size_t n = cnn_tensor_numel(&pp->value);
        int k = -1;
        if (pp->name[0] == 'p' && pp->name[1] >= '0' && pp->name[1] <= '3' && !pp->name[2])
            k = pp->name[1] - '0';
        if (k >= 0) memcpy(pp->value.data, data[k], n * sizeof(float));
        else if (strstr(pp->name, "running_var")) tu_fill(pp->value.data, n, 0.5f, 1.5f, &r);
        else tu_fill(pp->value.data, n, -1, 1, &r);
    }
    return 1;
}

static int set_inputs(const hcase *c, hgraph *h, float *const *data, char *err, size_t errn)
{
    for (int k = 0; k < c->nin; k++)
        if (c->in[k].kind == IN_X || c->in[k].kind == IN_L)
            if (cnn_graph_set_input(h->g, h->in[k], data[k], run_batch(c)) != CNN_OK) {
                snprintf(err, errn, "set_input %d: %s", k, cnn_error_message());
                return 0;
            }
    return 1;
}

static int forward(hgraph *h, char *err, size_t errn)
{
    cnn_rng_seed(cnn_graph_rng(h->g), 4242); /* dropout: the same mask every pass */
    if (cnn_graph_forward(h->g) != CNN_OK) {
        snprintf(err, errn, "forward: %s", cnn_error_message());
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- results */
enum { MAXT = 16 };
typedef struct hres {
    int nt;
    char name[MAXT][48];
    float *t[MAXT];
    size_t n[MAXT];
} hres;

static void res_add(hres *r, const char *name, const float *x, size_t n)
{
    assert_true(r->nt < MAXT);
    snprintf(r->name[r->nt], sizeof r->name[0], "%s", name);
    r->t[r->nt] = malloc((n ? n : 1) * sizeof(float));
    if (n) memcpy(r->t[r->nt], x, n * sizeof(float));
    r->n[r->nt++] = n;
}

static void res_free(hres *r)
{
    for (int i = 0; i < r->nt; i++) free(r->t[i]);
    r->nt = 0;
}

/* Runs one case on the current backend: forward (eval first when the op differs,
   then training) and backward with dL/dy = w; every output, updated buffer and
   gradient in *out. */
static int run_backend(const hcase *c, int ci, float *const *data, const float *w, size_t nw,
                       hres *out, char *err, size_t errn)
{
    hgraph h;
    int ok = build_case(c, ci, data, &h, err, errn, false);
    for (int mode = c->eval ? 0 : 1; ok && mode < 2; mode++) {
        cnn_graph_set_training(h.g, mode == 1);
        ok = set_inputs(c, &h, data, err, errn) && forward(&h, err, errn);
        if (!ok) break;
        cnn_tensor v = cnn_node_value(h.y);
        res_add(out, mode ? "forward (train)" : "forward (eval)", v.data, cnn_tensor_numel(&v));
        if (mode == 1)
            for (int i = 0; i < cnn_graph_num_params(h.g); i++) {
                cnn_param *pp = cnn_graph_param(h.g, i);
                if (pp->trainable) continue;
                char name[48];
                snprintf(name, sizeof name, "buffer %s", pp->name);
                res_add(out, name, pp->value.data, cnn_tensor_numel(&pp->value));
            }
    }
    if (ok && nw) {
        cnn_tensor v = cnn_node_value(h.y);
        if (cnn_tensor_numel(&v) != nw) {
            snprintf(err, errn, "output has %zu elements, ref's %zu", cnn_tensor_numel(&v), nw);
            ok = 0;
        } else if (cnn_graph_backward_from(h.g, h.y, w) != CNN_OK) {
            snprintf(err, errn, "backward: %s", cnn_error_message());
            ok = 0;
        }
        for (int k = 0; ok && k < c->nin; k++)
            if (c->in[k].kind == IN_X) {
                cnn_tensor gi = cnn_node_grad(h.in[k]);
                char name[48];
                snprintf(name, sizeof name, "d input %d", k);
                res_add(out, name, gi.data, in_numel(c, k));
            }
        for (int i = 0; ok && i < cnn_graph_num_params(h.g); i++) {
            cnn_param *pp = cnn_graph_param(h.g, i);
            if (!pp->trainable) continue;
            char name[48];
            snprintf(name, sizeof name, "d %s", pp->name);
            res_add(out, name, pp->grad.data, cnn_tensor_numel(&pp->grad));
        }
    }
    cnn_graph_free(h.g);
    return ok;
}

/* max |a - b| <= tol * max |b| (and no NaN). */
static int compare(const float *a, const float *b, size_t n, double tol, const char *what,
                   const char *who, char *err, size_t errn)
{
    double scale = 0, worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(a[i]) != isnan(b[i]) || isnan(b[i])) d = INFINITY;
        if (d > worst) worst = d, wi = i;
    }
    if (worst > tol * scale) {
        snprintf(err, errn, "%s: %s [%zu] = %.8g, want %.8g (max |want| %.3g, tolerance %.1e relative)",
                 what, who, wi, (double)a[wi], (double)b[wi], scale, tol);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- oracles
 * Forward of every op in double from its definition (torch.nn / ONNX semantics),
 * from the inputs, the parameters' initial values and the output shape the library
 * reports (shapes are checked by the per-op tests). */
typedef struct octx {
    const hcase *c;
    int nin;
    const float *x[4];
    int xnd[4], xd[4][CNN_MAX_DIMS];
    int np;
    const float *par[8];
    const char *pname[8];
    int ynd, yd[CNN_MAX_DIMS];
    size_t yn;
    const float *yref; /* ref's output: dropout's mask */
    bool train;
    double *y;
    double *buf[8]; /* expected buffer values after a training forward (NULL: none) */
} octx;

static const float *opar(const octx *o, const char *suffix)
{
    size_t ls = strlen(suffix);
    for (int i = 0; i < o->np; i++) {
        size_t l = strlen(o->pname[i]);
        if (l >= ls && strcmp(o->pname[i] + l - ls, suffix) == 0) return o->par[i];
    }
    return NULL;
}

static int opar_index(const octx *o, const char *suffix)
{
    const float *p = opar(o, suffix);
    for (int i = 0; i < o->np; i++)
        if (o->par[i] == p) return i;
    return -1;
}

static void unravel(size_t i, int nd, const int *d, int *idx)
{
    for (int a = nd - 1; a >= 0; a--) {
        idx[a] = (int)(i % (size_t)d[a]);
        i /= (size_t)d[a];
    }
}

static size_t ravel(int nd, const int *d, const int *idx)
{
    size_t i = 0;
    for (int a = 0; a < nd; a++) i = i * (size_t)d[a] + (size_t)idx[a];
    return i;
}

/* spatial extent of an (N, C, ...) tensor as (D, H, W), missing axes 1 */
static void dhw(int nd, const int *d, int *s)
{
    s[0] = nd == 5 ? d[2] : 1;
    s[1] = nd >= 4 ? d[nd - 2] : 1;
    s[2] = nd >= 3 ? d[nd - 1] : 1;
}


static void o_conv(octx *o, bool transposed)
{
    const hcase *c = o->c;
    const float *x = o->x[0], *w = opar(o, ".weight"), *b = c->p[2] ? NULL : opar(o, ".bias");
    int N = o->xd[0][0], C = o->xd[0][1], O = o->yd[1], G = or1(c->p[1]);
    int is[3], os[3], k[3], s[3], pd[3], dl[3];
    dhw(o->xnd[0], o->xd[0], is);
    dhw(o->ynd, o->yd, os);
    for (int a = 0; a < 3; a++)
        k[a] = or1(c->p[3 + a]), s[a] = or1(c->p[6 + a]), pd[a] = c->p[9 + a], dl[a] = or1(c->p[12 + a]);
    int cg = C / G, og = O / G;
    size_t isz = (size_t)is[0] * is[1] * is[2], osz = (size_t)os[0] * os[1] * os[2];
    size_t ksz = (size_t)k[0] * k[1] * k[2];
    for (size_t i = 0; i < o->yn; i++) o->y[i] = b ? b[(i / osz) % (size_t)O] : 0.0;
    for (int n = 0; n < N; n++)
        for (int gi = 0; gi < G; gi++)
            for (int ci = 0; ci < cg; ci++)
                for (int oc = 0; oc < og; oc++)
                    for (int kd = 0; kd < k[0]; kd++)
                        for (int kh = 0; kh < k[1]; kh++)
                            for (int kw = 0; kw < k[2]; kw++) {
                                int cin = gi * cg + ci, co = gi * og + oc;
                                double wv = transposed
                                                ? w[(((size_t)cin * og + oc) * k[0] + kd) * k[1] * k[2] + kh * k[2] + kw]
                                                : w[((size_t)co * cg + ci) * ksz + ((size_t)kd * k[1] + kh) * k[2] + kw];
                                const float *xp = x + ((size_t)n * C + cin) * isz;
                                double *yp = o->y + ((size_t)n * O + co) * osz;
                                if (!transposed) {
                                    for (int od = 0; od < os[0]; od++)
                                        for (int oh = 0; oh < os[1]; oh++)
                                            for (int ow = 0; ow < os[2]; ow++) {
                                                int id = od * s[0] - pd[0] + kd * dl[0];
                                                int ih = oh * s[1] - pd[1] + kh * dl[1];
                                                int iw = ow * s[2] - pd[2] + kw * dl[2];
                                                if (id < 0 || id >= is[0] || ih < 0 || ih >= is[1] ||
                                                    iw < 0 || iw >= is[2])
                                                    continue;
                                                yp[((size_t)od * os[1] + oh) * os[2] + ow] +=
                                                    wv * xp[((size_t)id * is[1] + ih) * is[2] + iw];
                                            }
                                } else {
                                    for (int id = 0; id < is[0]; id++)
                                        for (int ih = 0; ih < is[1]; ih++)
                                            for (int iw = 0; iw < is[2]; iw++) {
                                                int od = id * s[0] - pd[0] + kd * dl[0];
                                                int oh = ih * s[1] - pd[1] + kh * dl[1];
                                                int ow = iw * s[2] - pd[2] + kw * dl[2];
                                                if (od < 0 || od >= os[0] || oh < 0 || oh >= os[1] ||
                                                    ow < 0 || ow >= os[2])
                                                    continue;
                                                yp[((size_t)od * os[1] + oh) * os[2] + ow] +=
                                                    wv * xp[((size_t)id * is[1] + ih) * is[2] + iw];
                                            }
                                }
                            }
}

static void o_linear(octx *o)
{
    const float *w = opar(o, ".weight"), *b = o->c->p[2] ? NULL : opar(o, ".bias");
    int N = o->xd[0][0], O = o->yd[1];
    size_t I = prod(o->xnd[0] - 1, o->xd[0] + 1);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < O; j++) {
            double s = b ? b[j] : 0.0;
            for (size_t i = 0; i < I; i++) s += (double)w[(size_t)j * I + i] * o->x[0][(size_t)n * I + i];
            o->y[(size_t)n * O + j] = s;
        }
}

static void o_batchnorm(octx *o)
{
    const float *x = o->x[0], *w = opar(o, ".weight"), *b = opar(o, ".bias");
    const float *rm = opar(o, ".running_mean"), *rv = opar(o, ".running_var");
    double eps = o->c->f[0] ? o->c->f[0] : 1e-5, mom = o->c->f[1] ? o->c->f[1] : 0.1;
    int N = o->xd[0][0], C = o->xd[0][1];
    size_t S = prod(o->xnd[0] - 2, o->xd[0] + 2), M = (size_t)N * S;
    int im = opar_index(o, ".running_mean"), iv = opar_index(o, ".running_var");
    for (int ch = 0; ch < C; ch++) {
        double mean = 0, var = 0;
        for (int n = 0; n < N; n++)
            for (size_t s = 0; s < S; s++) mean += x[((size_t)n * C + ch) * S + s];
        mean /= (double)M;
        for (int n = 0; n < N; n++)
            for (size_t s = 0; s < S; s++) {
                double d = x[((size_t)n * C + ch) * S + s] - mean;
                var += d * d;
            }
        var /= (double)M;
        if (o->train) {
            o->buf[im][ch] = (1 - mom) * rm[ch] + mom * mean;
            o->buf[iv][ch] = (1 - mom) * rv[ch] + mom * (M > 1 ? var * (double)M / (double)(M - 1) : var);
        } else {
            mean = rm[ch];
            var = rv[ch];
        }
        double is = 1.0 / sqrt(var + eps);
        for (int n = 0; n < N; n++)
            for (size_t s = 0; s < S; s++) {
                size_t e = ((size_t)n * C + ch) * S + s;
                o->y[e] = (x[e] - mean) * is * w[ch] + b[ch];
            }
    }
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static double act(int a, double x, double al, double be, bool p)
{
    switch ((cnn_act)a) {
    case CNN_ACT_RELU: return x > 0 ? x : 0;
    case CNN_ACT_RELU6: return clampd(x, 0, 6);
    case CNN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case CNN_ACT_TANH: return tanh(x);
    case CNN_ACT_HARDSWISH: return x * clampd(x + 3, 0, 6) / 6;
    case CNN_ACT_HARDSIGMOID: return p ? clampd(al * x + be, 0, 1) : clampd(x + 3, 0, 6) / 6;
    case CNN_ACT_LEAKY_RELU: return x > 0 ? x : al * x;
    case CNN_ACT_ELU: return x > 0 ? x : al * (exp(x) - 1);
    case CNN_ACT_CLIP: return clampd(x, al, be);
    default: return NAN;
    }
}

/* window bounds of output position i: start i*s - p, taps at start + t*d */
static void o_maxpool(octx *o, int rank)
{
    const int *p = o->c->p;
    int k[3], s[3], pd[3], dl[3], is[3], os[3];
    dhw(o->xnd[0], o->xd[0], is);
    dhw(o->ynd, o->yd, os);
    for (int a = 0; a < 3; a++) {
        int j = a - (3 - rank); /* 2-D: axis 0 (depth) is absent */
        k[a] = j < 0 ? 1 : p[rank == 2 ? j : a];
        s[a] = j < 0 ? 1 : or1(p[rank == 2 ? 2 + j : 3 + a]);
        pd[a] = j < 0 ? 0 : p[rank == 2 ? 4 + j : 6 + a];
        dl[a] = rank == 2 && j >= 0 ? or1(p[6]) : 1;
        if (rank == 2 && j >= 0 && !p[2 + j]) s[a] = k[a]; /* default stride = kernel */
    }
    size_t planes = (size_t)o->xd[0][0] * o->xd[0][1];
    for (size_t pl = 0; pl < planes; pl++)
        for (int od = 0; od < os[0]; od++)
            for (int oh = 0; oh < os[1]; oh++)
                for (int ow = 0; ow < os[2]; ow++) {
                    double m = -INFINITY;
                    for (int a = 0; a < k[0]; a++)
                        for (int b = 0; b < k[1]; b++)
                            for (int e = 0; e < k[2]; e++) {
                                int id = od * s[0] - pd[0] + a * dl[0], ih = oh * s[1] - pd[1] + b * dl[1];
                                int iw = ow * s[2] - pd[2] + e * dl[2];
                                if (id < 0 || id >= is[0] || ih < 0 || ih >= is[1] || iw < 0 || iw >= is[2])
                                    continue;
                                m = fmax(m, o->x[0][((pl * is[0] + id) * is[1] + ih) * is[2] + iw]);
                            }
                    o->y[((pl * os[0] + od) * os[1] + oh) * os[2] + ow] = m;
                }
}

static void o_avgpool(octx *o)
{
    const int *p = o->c->p;
    int kh = p[0], kw = p[1], sh = or1(p[2]), sw = or1(p[3]), ph = p[4], pw = p[5];
    if (!p[2]) sh = kh;
    if (!p[3]) sw = kw;
    int H = o->xd[0][2], W = o->xd[0][3], OH = o->yd[2], OW = o->yd[3];
    size_t planes = (size_t)o->xd[0][0] * o->xd[0][1];
    for (size_t pl = 0; pl < planes; pl++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                double sum = 0;
                int in_input = 0, in_padded = 0;
                for (int u = 0; u < kh; u++)
                    for (int v = 0; v < kw; v++) {
                        int ih = i * sh - ph + u, iw = j * sw - pw + v;
                        if (ih >= -ph && ih < H + ph && iw >= -pw && iw < W + pw) in_padded++;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        in_input++;
                        sum += o->x[0][(pl * H + ih) * W + iw];
                    }
                o->y[(pl * OH + i) * OW + j] = sum / (p[7] ? in_input : in_padded);
            }
}

static void o_adaptive(octx *o)
{
    int H = o->xd[0][2], W = o->xd[0][3], OH = o->yd[2], OW = o->yd[3];
    size_t planes = (size_t)o->xd[0][0] * o->xd[0][1];
    for (size_t pl = 0; pl < planes; pl++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                int h0 = i * H / OH, h1 = ((i + 1) * H + OH - 1) / OH;
                int w0 = j * W / OW, w1 = ((j + 1) * W + OW - 1) / OW;
                double s = 0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) s += o->x[0][(pl * H + h) * W + w];
                o->y[(pl * OH + i) * OW + j] = s / ((h1 - h0) * (w1 - w0));
            }
}

static void o_global(octx *o, bool mx)
{
    size_t planes = (size_t)o->xd[0][0] * o->xd[0][1], S = prod(o->xnd[0] - 2, o->xd[0] + 2);
    for (size_t pl = 0; pl < planes; pl++) {
        double a = mx ? -INFINITY : 0;
        for (size_t s = 0; s < S; s++) {
            double v = o->x[0][pl * S + s];
            a = mx ? fmax(a, v) : a + v;
        }
        o->y[pl] = mx ? a : a / (double)S;
    }
}

static void o_lrn(octx *o)
{
    const hcase *c = o->c;
    int size = c->p[0], N = o->xd[0][0], C = o->xd[0][1];
    size_t S = prod(2, o->xd[0] + 2);
    double alpha = c->f[0], beta = c->f[1], k = c->f[2];
    for (int n = 0; n < N; n++)
        for (int ch = 0; ch < C; ch++)
            for (size_t s = 0; s < S; s++) {
                double sq = 0;
                for (int q = ch - size / 2; q <= ch + (size - 1) / 2; q++)
                    if (q >= 0 && q < C) {
                        double v = o->x[0][((size_t)n * C + q) * S + s];
                        sq += v * v;
                    }
                size_t e = ((size_t)n * C + ch) * S + s;
                o->y[e] = o->x[0][e] / pow(k + alpha * sq / size, beta);
            }
}

/* softmax of x along `axis` of dims d (log: log-softmax) */
static void o_softmax_along(const float *x, int nd, const int *d, int axis, bool lg, double *y)
{
    size_t inner = prod(nd - axis - 1, d + axis + 1), outer = prod(axis, d), K = (size_t)d[axis];
    for (size_t a = 0; a < outer; a++)
        for (size_t b = 0; b < inner; b++) {
            double m = -INFINITY, s = 0;
            for (size_t k = 0; k < K; k++) m = fmax(m, x[(a * K + k) * inner + b]);
            for (size_t k = 0; k < K; k++) s += exp(x[(a * K + k) * inner + b] - m);
            for (size_t k = 0; k < K; k++) {
                double z = x[(a * K + k) * inner + b] - m;
                y[(a * K + k) * inner + b] = lg ? z - log(s) : exp(z) / s;
            }
        }
}

static void o_cross_entropy(octx *o)
{
    int N = o->xd[0][0], K = o->xd[0][1];
    double ls = o->c->f[0], L = 0;
    double *lp = malloc((size_t)N * K * sizeof *lp);
    o_softmax_along(o->x[0], 2, o->xd[0], 1, true, lp);
    for (int n = 0; n < N; n++) {
        int t = (int)o->x[1][n];
        double mean = 0;
        for (int k = 0; k < K; k++) mean += lp[(size_t)n * K + k];
        L += -(1 - ls) * lp[(size_t)n * K + t] - ls * mean / K;
    }
    o->y[0] = L / N;
    free(lp);
}

/* element (index idx of the output, rank ynd) of an operand broadcast NumPy-style */
static double bcast(const octx *o, int k, const int *idx)
{
    int nd = o->xnd[k], off = o->ynd - nd, j[CNN_MAX_DIMS];
    for (int a = 0; a < nd; a++) j[a] = o->xd[k][a] == 1 ? 0 : idx[a + off];
    return o->x[k][ravel(nd, o->xd[k], j)];
}

static double binop(int op, double a, double b)
{
    switch ((cnn_binary_op)op) {
    case CNN_BIN_ADD: return a + b;
    case CNN_BIN_SUB: return a - b;
    case CNN_BIN_MUL: return a * b;
    case CNN_BIN_DIV: return a / b;
    case CNN_BIN_MAX: return fmax(a, b);
    case CNN_BIN_MIN: return fmin(a, b);
    case CNN_BIN_POW: return pow(a, b);
    }
    return NAN;
}

static double unop(int op, double x)
{
    switch ((cnn_unary_op)op) {
    case CNN_UN_NEG: return -x;
    case CNN_UN_ABS: return fabs(x);
    case CNN_UN_EXP: return exp(x);
    case CNN_UN_LOG: return log(x);
    case CNN_UN_SQRT: return sqrt(x);
    case CNN_UN_RECIPROCAL: return 1.0 / x;
    }
    return NAN;
}

static void o_reduce(octx *o)
{
    const int *p = o->c->p;
    int nd = o->xnd[0], red[CNN_MAX_DIMS] = {0};
    if (p[1] == 0) /* all but the batch of a batched input */
        for (int a = o->c->in[0].kind == IN_X; a < nd; a++) red[a] = 1;
    for (int i = 0; i < p[1]; i++) red[p[2 + i] < 0 ? p[2 + i] + nd : p[2 + i]] = 1;
    int kd[CNN_MAX_DIMS], idx[CNN_MAX_DIMS];
    size_t cnt = 1;
    for (int a = 0; a < nd; a++) {
        kd[a] = red[a] ? 1 : o->xd[0][a];
        if (red[a]) cnt *= (size_t)o->xd[0][a];
    }
    int op = p[0];
    for (size_t i = 0; i < o->yn; i++) o->y[i] = op == 2 ? -INFINITY : (op == 3 ? INFINITY : 0);
    size_t n = prod(nd, o->xd[0]);
    for (size_t i = 0; i < n; i++) {
        unravel(i, nd, o->xd[0], idx);
        for (int a = 0; a < nd; a++)
            if (red[a]) idx[a] = 0;
        double *t = &o->y[ravel(nd, kd, idx)], v = o->x[0][i];
        *t = op == 2 ? fmax(*t, v) : (op == 3 ? fmin(*t, v) : *t + v);
    }
    if (op == 0)
        for (size_t i = 0; i < o->yn; i++) o->y[i] /= (double)cnt;
}

/* NumPy matmul: a 1-D a is (1, K), a 1-D b is (K, 1), the added axis dropped from
   the result (which leaves the element order as it is); leading axes broadcast. */
static void o_matmul(octx *o)
{
    int ad[CNN_MAX_DIMS], bd[CNN_MAX_DIMS], na = o->xnd[0], nb = o->xnd[1];
    memcpy(ad, o->xd[0], sizeof ad);
    memcpy(bd, o->xd[1], sizeof bd);
    if (na == 1) ad[1] = ad[0], ad[0] = 1, na = 2;
    if (nb == 1) bd[1] = 1, nb = 2;
    int M = ad[na - 2], K = ad[na - 1], P = bd[nb - 1];
    int lead = (na > nb ? na : nb) - 2, ld[CNN_MAX_DIMS];
    for (int i = 0; i < lead; i++) {
        int ia = i - (lead - (na - 2)), ib = i - (lead - (nb - 2));
        int da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
        ld[i] = da > db ? da : db;
    }
    size_t L = prod(lead, ld);
    for (size_t l = 0; l < L; l++) {
        int idx[CNN_MAX_DIMS] = {0}, ja[CNN_MAX_DIMS] = {0}, jb[CNN_MAX_DIMS] = {0};
        unravel(l, lead, ld, idx);
        for (int i = 0; i < na - 2; i++) ja[i] = ad[i] == 1 ? 0 : idx[i + lead - (na - 2)];
        for (int i = 0; i < nb - 2; i++) jb[i] = bd[i] == 1 ? 0 : idx[i + lead - (nb - 2)];
        for (int m = 0; m < M; m++)
            for (int q = 0; q < P; q++) {
                double sum = 0;
                for (int k = 0; k < K; k++) {
                    ja[na - 2] = m, ja[na - 1] = k, jb[nb - 2] = k, jb[nb - 1] = q;
                    sum += (double)o->x[0][ravel(na, ad, ja)] * o->x[1][ravel(nb, bd, jb)];
                }
                o->y[(l * M + m) * P + q] = sum;
            }
    }
}

/* reflect by repeated mirroring at -1/2 and n - 1/2 (pads longer than the axis) */
static int reflect(int j, int n)
{
    while (j < 0 || j >= n) j = j < 0 ? -j : 2 * (n - 1) - j;
    return j;
}

static void o_pad(octx *o)
{
    /* crop (negative pads) first, then pad what is left: reflect / edge read the
       cropped borders */
    int nd = o->xnd[0], idx[CNN_MAX_DIMS];
    const int *pads = o->c->p;
    for (size_t i = 0; i < o->yn; i++) {
        unravel(i, o->ynd, o->yd, idx);
        int inside = 1;
        for (int a = 0; a < nd; a++) {
            int lo = pads[a] < 0 ? -pads[a] : 0, hi = o->xd[0][a] - (pads[nd + a] < 0 ? -pads[nd + a] : 0);
            int m = hi - lo, j = idx[a] - (pads[a] > 0 ? pads[a] : 0);
            if (j < 0 || j >= m) {
                if (o->c->p[12] == CNN_PAD_REFLECT) j = reflect(j, m);
                else if (o->c->p[12] == CNN_PAD_EDGE) j = j < 0 ? 0 : m - 1;
                else inside = 0;
            }
            idx[a] = j + lo;
        }
        o->y[i] = inside ? o->x[0][ravel(nd, o->xd[0], idx)] : o->c->f[0];
    }
}

static void o_slice(octx *o)
{
    int nd = o->xnd[0], axis = o->c->p[0] < 0 ? o->c->p[0] + nd : o->c->p[0];
    int n = o->xd[0][axis], st = o->c->p[1], step = o->c->p[3], idx[CNN_MAX_DIMS];
    if (st < 0) st = st < -n ? 0 : st + n; /* as INT_MIN / -100 clamp to the front */
    if (step > 0) st = st > n ? n : st;
    else st = st > n - 1 ? n - 1 : st;
    for (size_t i = 0; i < o->yn; i++) {
        unravel(i, o->ynd, o->yd, idx);
        idx[axis] = st + idx[axis] * step;
        o->y[i] = o->x[0][ravel(nd, o->xd[0], idx)];
    }
}

/* The output shape from the op's definition (PyTorch's / ONNX's formulas). */
static int pool_out(int in, int k, int s, int p, int d, bool ceil_mode)
{
    int span = in + 2 * p - d * (k - 1) - 1;
    int o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--; /* a last window starting in the padding */
    return o;
}

static int slice_len(int n, int start, int end, int step)
{
    if (start < 0) start = start < -n ? 0 : start + n;
    if (end < 0) end = end < -n ? -1 : end + n;
    if (step > 0) {
        start = start > n ? n : start, end = end > n ? n : (end < 0 ? 0 : end);
        return end > start ? (end - start + step - 1) / step : 0;
    }
    start = start > n - 1 ? n - 1 : start, end = end > n - 1 ? n - 1 : end;
    return start > end ? (start - end - step - 1) / -step : 0;
}

static void oshape(const octx *o, int *nd, int *d)
{
    const hcase *c = o->c;
    const int *p = c->p, *x = o->xd[0];
    int xn = o->xnd[0];
    *nd = xn;
    memcpy(d, x, sizeof(int) * CNN_MAX_DIMS);
    switch (c->op) {
    case OP_CONV2D:
    case OP_CONV3D:
    case OP_CONVT2D:
        d[1] = p[0];
        for (int a = 0; a < xn - 2; a++) {
            int ax = 3 - (xn - 2) + a, k = or1(p[3 + ax]), st = or1(p[6 + ax]), pd = p[9 + ax], dl = or1(p[12 + ax]);
            d[2 + a] = c->op == OP_CONVT2D ? (x[2 + a] - 1) * st - 2 * pd + dl * (k - 1) + p[15] + 1
                                           : (x[2 + a] + 2 * pd - dl * (k - 1) - 1) / st + 1;
        }
        break;
    case OP_MAXPOOL2D:
        for (int a = 0; a < 2; a++)
            d[2 + a] = pool_out(x[2 + a], p[a], p[2 + a] ? p[2 + a] : p[a], p[4 + a], or1(p[6]), p[7]);
        break;
    case OP_AVGPOOL2D:
        for (int a = 0; a < 2; a++)
            d[2 + a] = pool_out(x[2 + a], p[a], p[2 + a] ? p[2 + a] : p[a], p[4 + a], 1, p[6]);
        break;
    case OP_MAXPOOL3D:
        for (int a = 0; a < 3; a++)
            d[2 + a] = pool_out(x[2 + a], p[a], p[3 + a] ? p[3 + a] : p[a], p[6 + a], 1, p[9]);
        break;
    case OP_ADAPTIVE: d[2] = p[0], d[3] = p[1]; break;
    case OP_GAP:
    case OP_GMP:
        for (int a = 2; a < xn; a++) d[a] = 1;
        break;
    case OP_CE: *nd = 1, d[0] = 1; break;
    case OP_LINEAR: *nd = 2, d[1] = p[0]; break;
    case OP_CH_MEAN:
    case OP_CH_MAX: d[1] = 1; break;
    case OP_CH_SLICE: d[1] = p[1]; break;
    case OP_CONCAT:
        d[1] = 0;
        for (int e = 0; e < p[0]; e++) d[1] += o->xd[p[1 + e]][1];
        break;
    case OP_FLATTEN: *nd = 2, d[1] = (int)prod(xn - 1, x + 1); break;
    case OP_RESHAPE: {
        *nd = 1 + p[0];
        int known = 1, free_axis = -1;
        for (int a = 0; a < p[0]; a++) {
            d[1 + a] = p[1 + a];
            if (p[1 + a] < 0) free_axis = 1 + a;
            else known *= p[1 + a];
        }
        if (free_axis > 0) d[free_axis] = (int)(prod(xn - 1, x + 1) / (size_t)known);
        break;
    }
    case OP_BINARY:
    case OP_MUL_CHANNEL:
    case OP_MUL_SPATIAL: {
        int n1 = o->xnd[1];
        if (c->op == OP_MUL_CHANNEL) break;
        *nd = xn > n1 ? xn : n1;
        for (int a = 0; a < *nd; a++) {
            int ia = a - (*nd - xn), ib = a - (*nd - n1);
            int da = ia >= 0 ? x[ia] : 1, db = ib >= 0 ? o->xd[1][ib] : 1;
            d[a] = da > db ? da : db;
        }
        break;
    }
    case OP_REDUCE: {
        int red[CNN_MAX_DIMS] = {0}, n = 0;
        if (p[1] == 0)
            for (int a = c->in[0].kind == IN_X; a < xn; a++) red[a] = 1;
        for (int i = 0; i < p[1]; i++) red[p[2 + i] < 0 ? p[2 + i] + xn : p[2 + i]] = 1;
        for (int a = 0; a < xn; a++)
            if (!red[a] || p[5]) d[n++] = red[a] ? 1 : x[a];
        if (n == 0) d[n++] = 1;
        *nd = n;
        break;
    }
    case OP_MATMUL: {
        int na = xn, nb = o->xnd[1], ad[CNN_MAX_DIMS], bd[CNN_MAX_DIMS], n = 0;
        memcpy(ad, x, sizeof ad);
        memcpy(bd, o->xd[1], sizeof bd);
        if (na == 1) ad[1] = ad[0], ad[0] = 1, na = 2;
        if (nb == 1) bd[1] = 1, nb = 2;
        int lead = (na > nb ? na : nb) - 2;
        for (int i = 0; i < lead; i++) {
            int ia = i - (lead - (na - 2)), ib = i - (lead - (nb - 2));
            int da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
            d[n++] = da > db ? da : db;
        }
        if (xn > 1) d[n++] = ad[na - 2];
        if (o->xnd[1] > 1) d[n++] = bd[nb - 1];
        if (n == 0) d[n++] = 1;
        *nd = n;
        break;
    }
    case OP_PAD:
        for (int a = 0; a < xn; a++) d[a] = x[a] + p[a] + p[xn + a];
        break;
    case OP_SLICE: {
        int ax = p[0] < 0 ? p[0] + xn : p[0];
        d[ax] = slice_len(x[ax], p[1], p[2], p[3]);
        break;
    }
    case OP_TRANSPOSE:
        for (int a = 0; a < xn; a++) d[a] = x[p[a]];
        break;
    default: break; /* the input's shape */
    }
}

/* Fills o->y (and o->buf); 0 if the op has no oracle. */
static int oracle(octx *o)
{
    const hcase *c = o->c;
    const float *x = o->x[0];
    int nd = o->xnd[0], idx[CNN_MAX_DIMS], j[CNN_MAX_DIMS];
    size_t n0 = o->nin ? prod(nd, o->xd[0]) : 0;
    switch (c->op) {
    case OP_CONV2D:
    case OP_CONV3D: o_conv(o, false); return 1;
    case OP_CONVT2D: o_conv(o, true); return 1;
    case OP_LINEAR: o_linear(o); return 1;
    case OP_BN2D:
    case OP_BN3D: o_batchnorm(o); return 1;
    case OP_ACT:
    case OP_ACT_P:
        for (size_t i = 0; i < n0; i++) o->y[i] = act(c->p[0], x[i], c->f[0], c->f[1], c->op == OP_ACT_P);
        return 1;
    case OP_MAXPOOL2D: o_maxpool(o, 2); return 1;
    case OP_MAXPOOL3D: o_maxpool(o, 3); return 1;
    case OP_AVGPOOL2D: o_avgpool(o); return 1;
    case OP_ADAPTIVE: o_adaptive(o); return 1;
    case OP_GAP: o_global(o, false); return 1;
    case OP_GMP: o_global(o, true); return 1;
    case OP_LRN: o_lrn(o); return 1;
    case OP_DROPOUT: /* train: each element dropped (0) or kept and scaled by 1/(1-p) */
        for (size_t i = 0; i < n0; i++)
            o->y[i] = !o->train ? x[i] : (o->yref[i] == 0.0f ? 0.0 : x[i] / (1.0 - c->f[0]));
        return 1;
    case OP_SOFTMAX: o_softmax_along(x, nd, o->xd[0], 1, false, o->y); return 1;
    case OP_SOFTMAX_AXIS:
        o_softmax_along(x, nd, o->xd[0], c->p[0] < 0 ? c->p[0] + nd : c->p[0], c->p[1], o->y);
        return 1;
    case OP_CE: o_cross_entropy(o); return 1;
    case OP_ADD:
        for (size_t i = 0; i < n0; i++) o->y[i] = (double)x[i] + o->x[c->p[0] ? 0 : 1][i];
        return 1;
    case OP_MUL_CHANNEL:
    case OP_MUL_SPATIAL:
    case OP_BINARY:
        for (size_t i = 0; i < o->yn; i++) {
            unravel(i, o->ynd, o->yd, idx);
            int op = c->op == OP_BINARY ? c->p[0] : CNN_BIN_MUL;
            double b = o->xnd[1] == 2 && c->op == OP_MUL_CHANNEL /* s: (N, C) */
                           ? o->x[1][(size_t)idx[0] * o->xd[1][1] + idx[1]]
                           : bcast(o, 1, idx);
            o->y[i] = binop(op, bcast(o, 0, idx), b);
        }
        return 1;
    case OP_CH_MEAN:
    case OP_CH_MAX: {
        int N = o->xd[0][0], C = o->xd[0][1];
        size_t S = prod(nd - 2, o->xd[0] + 2);
        for (int n = 0; n < N; n++)
            for (size_t s = 0; s < S; s++) {
                double a = c->op == OP_CH_MAX ? -INFINITY : 0;
                for (int ch = 0; ch < C; ch++) {
                    double v = x[((size_t)n * C + ch) * S + s];
                    a = c->op == OP_CH_MAX ? fmax(a, v) : a + v;
                }
                o->y[(size_t)n * S + s] = c->op == OP_CH_MAX ? a : a / C;
            }
        return 1;
    }
    case OP_SHUFFLE: /* out channel j*g + i is in channel i*(C/g) + j */
    case OP_CH_SLICE:
        for (size_t i = 0; i < o->yn; i++) {
            unravel(i, o->ynd, o->yd, idx);
            int G = c->p[0], C = o->xd[0][1], ch = idx[1];
            idx[1] = c->op == OP_SHUFFLE ? (ch % G) * (C / G) + ch / G : c->p[0] + ch;
            o->y[i] = x[ravel(nd, o->xd[0], idx)];
        }
        return 1;
    case OP_CONCAT:
        for (size_t i = 0; i < o->yn; i++) {
            unravel(i, o->ynd, o->yd, idx);
            int e = 0, ch = idx[1];
            while (e < c->p[0] - 1 && ch >= o->xd[c->p[1 + e]][1]) ch -= o->xd[c->p[1 + e++]][1];
            int src = c->p[1 + e];
            idx[1] = ch;
            o->y[i] = o->x[src][ravel(nd, o->xd[src], idx)];
        }
        return 1;
    case OP_RESHAPE:
    case OP_FLATTEN:
    case OP_CONSTANT:
    case OP_PARAMETER:
        for (size_t i = 0; i < n0; i++) o->y[i] = x[i];
        return 1;
    case OP_UNARY:
        for (size_t i = 0; i < n0; i++) o->y[i] = unop(c->p[0], x[i]);
        return 1;
    case OP_REDUCE: o_reduce(o); return 1;
    case OP_MATMUL: o_matmul(o); return 1;
    case OP_PAD: o_pad(o); return 1;
    case OP_SLICE: o_slice(o); return 1;
    case OP_TRANSPOSE:
        for (size_t i = 0; i < o->yn; i++) {
            unravel(i, o->ynd, o->yd, idx);
            for (int a = 0; a < nd; a++) j[c->p[a]] = idx[a];
            o->y[i] = x[ravel(nd, o->xd[0], j)];
        }
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- checks */
/* Finite differences on ref: central differences of L = sum(w_i y_i) (double) with
   the step actually stored in float; a coordinate fails only when the estimates at
   eps and at eps/2 both disagree with the analytic gradient beyond
   fd_tol * (|numeric| + max |analytic| of the tensor). */
static double fd_loss(const hcase *c, hgraph *h, float *const *data, const float *w, size_t nw,
                      int *ok, double *labs)
{
    char err[256];
    if (!set_inputs(c, h, data, err, sizeof err) || !forward(h, err, sizeof err)) {
        *ok = 0;
        return 0;
    }
    cnn_tensor v = cnn_node_value(h->y);
    double L = 0;
    for (size_t i = 0; i < nw; i++) L += (double)w[i] * v.data[i];
    if (labs) {
        *labs = 0;
        for (size_t i = 0; i < nw; i++) *labs += fabs((double)w[i] * v.data[i]);
    }
    return L;
}

static int fd_check(const hcase *c, hgraph *h, float **data, const float *w, size_t nw,
                    char *err, size_t errn)
{
    cnn_graph_set_training(h->g, true);
    int ok = 1;
    double labs = 0;
    fd_loss(c, h, data, w, nw, &ok, &labs);
    if (!ok || cnn_graph_backward_from(h->g, h->y, w) != CNN_OK) {
        snprintf(err, errn, "fd: backward: %s", cnn_error_message());
        return 0;
    }
    /* targets: batched inputs and trainable parameters (layer weights, IN_P operands) */
    float *val[12], *ana[12];
    size_t n[12];
    char name[12][48];
    int nt = 0;
    for (int k = 0; k < c->nin; k++)
        if (c->in[k].kind == IN_X) {
            cnn_tensor gi = cnn_node_grad(h->in[k]);
            n[nt] = in_numel(c, k);
            val[nt] = data[k];
            ana[nt] = malloc(n[nt] * sizeof(float));
            memcpy(ana[nt], gi.data, n[nt] * sizeof(float));
            snprintf(name[nt++], sizeof name[0], "input %d", k);
        }
    for (int i = 0; i < cnn_graph_num_params(h->g) && nt < 12; i++) {
        cnn_param *pp = cnn_graph_param(h->g, i);
        if (!pp->trainable) continue;
        n[nt] = cnn_tensor_numel(&pp->value);
        val[nt] = pp->value.data;
        ana[nt] = malloc(n[nt] * sizeof(float));
        memcpy(ana[nt], pp->grad.data, n[nt] * sizeof(float));
        snprintf(name[nt++], sizeof name[0], "%s", pp->name);
    }
    cnn_rng r;
    cnn_rng_seed(&r, 77);
    int bad = 0;
    for (int t = 0; t < nt && ok; t++) {
        double gmax = 1e-6;
        for (size_t i = 0; i < n[t]; i++) gmax = fmax(gmax, fabs((double)ana[t][i]));
        size_t probes = n[t] <= 48 ? n[t] : 26;
        for (size_t q = 0; q < probes && ok && !bad; q++) {
            size_t i = n[t] <= 48 ? q : (q == 0 ? 0 : (q == 1 ? n[t] - 1 : cnn_rng_below(&r, (uint32_t)n[t])));
            float saved = val[t][i];
            double num = 0, e0 = 0;
            for (int half = 0; half < 2; half++) {
                double eps = c->fd_eps / (half ? 2 : 1);
                float xp = (float)(saved + eps), xm = (float)(saved - eps);
                val[t][i] = xp;
                double lp = fd_loss(c, h, data, w, nw, &ok, NULL);
                val[t][i] = xm;
                double lm = fd_loss(c, h, data, w, nw, &ok, NULL);
                val[t][i] = saved;
                num = (lp - lm) / ((double)xp - (double)xm);
                double e = fabs(num - ana[t][i]);
                if (!half) e0 = e;
                /* float rounding of the outputs: a few ulp of sum |w_i y_i| over the step */
                double noise = 8 * 6e-8 * labs / ((double)xp - (double)xm);
                if (e <= c->fd_tol * (fabs(num) + gmax) + noise) break;
                if (half) {
                    snprintf(err, errn, "fd: d/d %s [%zu]: analytic %.7g, numeric %.7g (error %.2g at step %g, %.2g at %g; max |analytic| %.3g)",
                             name[t], i, (double)ana[t][i], num, e0, c->fd_eps, e, eps, gmax);
                    bad = 1;
                }
            }
        }
    }
    if (!ok) snprintf(err, errn, "fd: forward failed: %s", cnn_error_message());
    for (int t = 0; t < nt; t++) free(ana[t]);
    return ok && !bad;
}

typedef struct group_stat {
    const char *name;
    int cases, failed;
    double seconds;
} group_stat;

static const char *g_backends[4];
static int g_nbackends;

#include <time.h>
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs every check of case ci; 1 = pass. Failures print the case and what failed. */
static int run_case(int ci)
{
    const hcase *c = &g_cases[ci];
    char err[512] = "";
    int ok = 1;
    float *data[4] = {0};
    cnn_rng r;
    cnn_rng_seed(&r, 500 + (uint64_t)ci);
    for (int k = 0; k < c->nin; k++) {
        /* IN_P / IN_C data are the whole tensor; IN_X at the run batch */
        data[k] = malloc(in_numel(c, k) * sizeof(float));
        gen_input(c, k, data[k], &r);
    }
    hres res[4];
    memset(res, 0, sizeof res);
    float *w = NULL;
    size_t nw = 0;
    double *want = NULL, *buf[8] = {0};

    /* ref: oracle in each mode, then the finite-difference check */
    TU_OK(cnn_set_backend("ref"));
    hgraph h;
    if (!build_case(c, ci, data, &h, err, sizeof err, true)) {
        ok = 0;
        goto done;
    }
    octx o = {.c = c, .nin = c->nin};
    float *par0[8] = {0};
    o.np = cnn_graph_num_params(h.g) < 8 ? cnn_graph_num_params(h.g) : 8;
    for (int i = 0; i < o.np; i++) {
        cnn_param *pp = cnn_graph_param(h.g, i);
        size_t n = cnn_tensor_numel(&pp->value);
        par0[i] = malloc(n * sizeof(float));
        memcpy(par0[i], pp->value.data, n * sizeof(float));
        o.par[i] = par0[i], o.pname[i] = pp->name;
        if (!pp->trainable) o.buf[i] = buf[i] = calloc(n, sizeof(double));
    }
    for (int k = 0; k < c->nin; k++) {
        o.x[k] = data[k];
        o.xnd[k] = c->in[k].ndim;
        in_dims(c, k, o.xd[k]);
    }
    for (int mode = c->eval ? 0 : 1; ok && mode < 2; mode++) {
        cnn_graph_set_training(h.g, mode == 1);
        if (!set_inputs(c, &h, data, err, sizeof err) || !forward(&h, err, sizeof err)) {
            ok = 0;
            break;
        }
        cnn_tensor v = cnn_node_value(h.y);
        o.ynd = v.ndim;
        memcpy(o.yd, v.dims, sizeof o.yd);
        o.yn = cnn_tensor_numel(&v);
        o.yref = v.data;
        o.train = mode == 1;
        free(want);
        int snd, sd[CNN_MAX_DIMS];
        oshape(&o, &snd, sd);
        if (snd != v.ndim || memcmp(sd, v.dims, (size_t)snd * sizeof(int))) {
            char got[96], exp[96];
            snprintf(err, sizeof err, "output shape %s, want %s", cnn_shape_str(v.ndim, v.dims, got, sizeof got),
                     cnn_shape_str(snd, sd, exp, sizeof exp));
            ok = 0;
            break;
        }
        o.y = want = calloc(o.yn, sizeof(double));
        if (!oracle(&o)) continue;
        float *wf = malloc(o.yn * sizeof(float));
        for (size_t i = 0; i < o.yn; i++) wf[i] = (float)want[i];
        ok = compare(v.data, wf, o.yn, c->otol, mode ? "forward (train) vs double oracle" : "forward (eval) vs double oracle",
                     "ref", err, sizeof err);
        free(wf);
        for (int i = 0; ok && mode == 1 && i < o.np; i++) {
            if (!buf[i] || (c->op != OP_BN2D && c->op != OP_BN3D)) continue;
            cnn_param *pp = cnn_graph_param(h.g, i);
            size_t n = cnn_tensor_numel(&pp->value);
            float *bf = malloc(n * sizeof(float));
            for (size_t e = 0; e < n; e++) bf[e] = (float)buf[i][e];
            char what[96];
            snprintf(what, sizeof what, "buffer %s after a training forward vs double oracle", pp->name);
            ok = compare(pp->value.data, bf, n, 1e-5, what, "ref", err, sizeof err);
            free(bf);
        }
    }
    for (int i = 0; i < o.np; i++) free(par0[i]);
    if (ok && c->op != OP_CONSTANT) { /* a constant has no gradient to check */
        cnn_tensor v = cnn_node_value(h.y);
        nw = cnn_tensor_numel(&v);
        w = malloc(nw * sizeof(float));
        cnn_rng wr;
        cnn_rng_seed(&wr, 900 + (uint64_t)ci);
        tu_fill(w, nw, -1, 1, &wr);
    }
    /* every backend against ref: forward, buffers, gradients */
    for (int b = 0; ok && b < g_nbackends; b++) {
        TU_OK(cnn_set_backend(g_backends[b]));
        char e2[400] = "";
        if (!run_backend(c, ci, data, w, nw, &res[b], e2, sizeof e2)) {
            snprintf(err, sizeof err, "backend %s: %s", g_backends[b], e2);
            ok = 0;
            break;
        }
        if (b == 0) continue; /* g_backends[0] is ref */
        if (res[b].nt != res[0].nt) {
            snprintf(err, sizeof err, "backend %s: %d results, ref %d", g_backends[b], res[b].nt, res[0].nt);
            ok = 0;
        }
        for (int t = 0; ok && t < res[0].nt; t++) {
            if (res[b].n[t] != res[0].n[t] || strcmp(res[b].name[t], res[0].name[t])) {
                snprintf(err, sizeof err, "backend %s: %s has %zu elements, ref %zu", g_backends[b],
                         res[b].name[t], res[b].n[t], res[0].n[t]);
                ok = 0;
                break;
            }
            char what[96];
            snprintf(what, sizeof what, "%s vs ref", res[0].name[t]);
            ok = compare(res[b].t[t], res[0].t[t], res[0].n[t], c->tol, what, g_backends[b], err, sizeof err);
        }
    }
    TU_OK(cnn_set_backend("ref"));
    if (ok && c->op != OP_CONSTANT) ok = fd_check(c, &h, data, w, nw, err, sizeof err);
done:
    if (!ok) printf("FAIL %s: %s\n     %s\n", c->group, c->label, err);
    cnn_graph_free(h.g);
    for (int b = 0; b < 4; b++) res_free(&res[b]);
    for (int k = 0; k < c->nin; k++) free(data[k]);
    for (int i = 0; i < 8; i++) free(buf[i]);
    free(want);
    free(w);
    return ok;
}

static int selected(const char *only, const char *group)
{
    if (!only || !*only) return 1;
    size_t l = strlen(group);
    for (const char *s = only; *s;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == l && strncmp(s, group, l) == 0) return 1;
        if (!e) break;
        s = e + 1;
    }
    return 0;
}

static const char *g_only;

static void test_backend_ops(void **state)
{
    (void)state;
    cases_conv();
    cases_norm();
    cases_activation();
    cases_pool();
    cases_softmax();
    cases_elementwise();
    cases_general();
    cases_smaller_batch();
    /* one thread unless CNN_THREADS says otherwise: the cases are small, and on a
       busy machine a second thread waiting at every barrier costs 10x the wall time
       (the kernels' threading has its own tests) */
    if (!getenv("CNN_THREADS")) cnn_set_threads(1);
    /* ref first: the others are compared with it */
    static const char *known[] = {"ref", "cpu"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (cnn_set_backend(known[i]) == CNN_OK) g_backends[g_nbackends++] = known[i];
    assert_true(g_nbackends >= 1 && strcmp(g_backends[0], "ref") == 0);
    printf("backends:");
    for (int b = 0; b < g_nbackends; b++) printf(" %s", g_backends[b]);
    printf("\n");

    group_stat gs[64];
    int ng = 0, total = 0, failed = 0;
    for (int i = 0; i < g_ncases; i++) {
        const hcase *c = &g_cases[i];
        if (!selected(g_only, c->group)) continue;
        int k = 0;
        while (k < ng && strcmp(gs[k].name, c->group)) k++;
        if (k == ng) gs[ng++] = (group_stat){.name = c->group};
        double t0 = now_s();
        int pass = run_case(i);
        gs[k].seconds += now_s() - t0;
        gs[k].cases++, total++;
        if (!pass) gs[k].failed++, failed++;
    }
    printf("%-20s %6s %8s %8s\n", "op", "cases", "failed", "seconds");
    for (int k = 0; k < ng; k++)
        printf("%-20s %6d %8d %8.2f\n", gs[k].name, gs[k].cases, gs[k].failed, gs[k].seconds);
    printf("%-20s %6d %8d\n", "total", total, failed);
    free(g_cases);
    if (g_only && total == 0) fail_msg("no op named '%s' (CNN_OPS_ONLY / argument 1)", g_only);
    assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
    g_only = argc > 1 ? argv[1] : getenv("CNN_OPS_ONLY");
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_backend_ops)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Convolution backward (conv2d, conv3d, conv_transpose2d) against double-precision
   naive loops at ~1e-4, on the backend in use (CNN_BACKEND): dx, dW and db for a fixed
   upstream gradient dy, plus the forward. The op-level gradient checks use central
   differences at eps 1e-2 and tolerate 1e-2 relative, so an error of a few tenths of
   a percent in one gradient passes them; here every value must agree to 1e-4 of the
   tensor's largest magnitude (float32 rounding of these sums is below 1e-6 of it).
   Cases differ in stride, padding and dilation per axis (depth stride != height
   stride in 3-D), use groups, odd sizes and batch 2.

   One relation covers all three ops. A convolution pairs a "small" tensor (the conv's
   output, the transposed conv's input) with a "big" one (the conv's input, the
   transposed conv's output) through weight w (C_small, C_big / groups, kD, kH, kW):
   small[n, cs, i] ~ sum over u, j of big[n, g * Cbg + j, i * s - p + u * d] w[cs, j, u]
   with g = cs / (C_small / groups). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct ccase {
    const char *what;
    int transposed, nd;       /* nd: 2 or 3 spatial axes */
    int n, c_in, c_out, groups;
    int in[3];                /* (D, H, W); D = 1 for 2-D */
    int k[3], s[3], p[3], d[3], op[3];
    bool bias;
} ccase;

static const ccase cases[] = {
    /* what                 T  nd n ci co g  in          k          s          p          d          op */
    {"2d 3x3 plain",        0, 2, 2, 3, 4, 1, {1, 9, 8},  {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}, {0}, true},
    {"2d 5x3 s2x1 p2x0",    0, 2, 2, 4, 6, 2, {1, 11, 7}, {1, 5, 3}, {1, 2, 1}, {0, 2, 0}, {1, 1, 1}, {0}, true},
    {"2d dil 1x2 s1x2",     0, 2, 2, 2, 3, 1, {1, 10, 12},{1, 3, 3}, {1, 1, 2}, {0, 1, 2}, {1, 1, 2}, {0}, false},
    {"2d depthwise s2",     0, 2, 2, 6, 6, 6, {1, 9, 9},  {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}, {0}, true},
    {"3d s2x1x1 p1x0x1",    0, 3, 2, 2, 3, 1, {7, 6, 5},  {3, 3, 3}, {2, 1, 1}, {1, 0, 1}, {1, 1, 1}, {0}, true},
    {"3d s1x2x1 d2x1x1",    0, 3, 2, 3, 4, 1, {9, 7, 6},  {3, 3, 2}, {1, 2, 1}, {0, 1, 0}, {2, 1, 1}, {0}, true},
    {"3d 7x3x3 s3x1x2 g2",  0, 3, 2, 4, 4, 2, {15, 6, 7}, {7, 3, 3}, {3, 1, 2}, {2, 1, 0}, {1, 1, 1}, {0}, false},
    {"t2d 3x3 s2 p1 op1",   1, 2, 2, 4, 3, 1, {1, 5, 6},  {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}, {0, 1, 1}, true},
    {"t2d 4x3 s2x1 g2 d1x2",1, 2, 2, 4, 6, 2, {1, 4, 5},  {1, 4, 3}, {1, 2, 1}, {0, 1, 2}, {1, 1, 2}, {0, 0, 0}, true},
    {"t2d 3x3 s3x2 op2x1",  1, 2, 2, 3, 2, 1, {1, 3, 4},  {1, 3, 3}, {1, 3, 2}, {0, 0, 1}, {1, 1, 1}, {0, 2, 1}, false},
};
#define N_CASES (sizeof cases / sizeof cases[0])

typedef struct geom {
    int cs, cb, ns[3], nb[3]; /* channels and extents of small and big */
} geom;

static geom geometry(const ccase *c)
{
    geom g;
    int io[3];
    for (int a = 0; a < 3; a++) {
        if (c->transposed)
            io[a] = (c->in[a] - 1) * c->s[a] - 2 * c->p[a] + c->d[a] * (c->k[a] - 1) + c->op[a] + 1;
        else
            io[a] = (c->in[a] + 2 * c->p[a] - c->d[a] * (c->k[a] - 1) - 1) / c->s[a] + 1;
    }
    if (c->transposed) {
        g.cs = c->c_in, g.cb = c->c_out;
        memcpy(g.ns, c->in, sizeof g.ns);
        memcpy(g.nb, io, sizeof g.nb);
    } else {
        g.cs = c->c_out, g.cb = c->c_in;
        memcpy(g.ns, io, sizeof g.ns);
        memcpy(g.nb, c->in, sizeof g.nb);
    }
    return g;
}

static size_t vol(const int *e) { return (size_t)e[0] * e[1] * e[2]; }

/* Visits every (small index, big index, weight index) triple of the relation. */
#define FOR_PAIRS(c, G, BODY)                                                                \
    do {                                                                                     \
        int csg = (G).cs / (c)->groups, cbg = (G).cb / (c)->groups;                          \
        size_t vs_ = vol((G).ns), vb_ = vol((G).nb), kv = vol((c)->k);                       \
        for (int n = 0; n < (c)->n; n++)                                                     \
            for (int cs = 0; cs < (G).cs; cs++)                                              \
                for (int j = 0; j < cbg; j++)                                                \
                    for (int i0 = 0; i0 < (G).ns[0]; i0++)                                   \
                        for (int i1 = 0; i1 < (G).ns[1]; i1++)                               \
                            for (int i2 = 0; i2 < (G).ns[2]; i2++)                           \
                                for (int u0 = 0; u0 < (c)->k[0]; u0++)                       \
                                    for (int u1 = 0; u1 < (c)->k[1]; u1++)                   \
                                        for (int u2 = 0; u2 < (c)->k[2]; u2++) {             \
                                            int b0 = i0 * (c)->s[0] - (c)->p[0] + u0 * (c)->d[0]; \
                                            int b1 = i1 * (c)->s[1] - (c)->p[1] + u1 * (c)->d[1]; \
                                            int b2 = i2 * (c)->s[2] - (c)->p[2] + u2 * (c)->d[2]; \
                                            if (b0 < 0 || b0 >= (G).nb[0] || b1 < 0 ||       \
                                                b1 >= (G).nb[1] || b2 < 0 || b2 >= (G).nb[2]) \
                                                continue;                                    \
                                            int cb = (cs / csg) * cbg + j;                   \
                                            size_t si = ((size_t)n * (G).cs + (size_t)cs) * vs_ +\
                                                        ((size_t)i0 * (G).ns[1] + (size_t)i1) * \
                                                            (G).ns[2] + (size_t)i2;          \
                                            size_t bi = ((size_t)n * (G).cb + (size_t)cb) * vb_ +\
                                                        ((size_t)b0 * (G).nb[1] + (size_t)b1) * \
                                                            (G).nb[2] + (size_t)b2;          \
                                            size_t wi = ((size_t)cs * cbg + (size_t)j) * kv + \
                                                        ((size_t)u0 * (c)->k[1] + (size_t)u1) * \
                                                            (c)->k[2] + (size_t)u2;          \
                                            BODY;                                            \
                                        }                                                    \
    } while (0)

/* max |a - b| <= tol * max |b| over the tensor */
static int check(const char *what, const char *name, const float *a, const double *b, size_t n, double tol)
{
    double bmax = 0, dmax = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) bmax = fmax(bmax, fabs(b[i]));
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= dmax)) {
            dmax = isnan(e) ? INFINITY : e;
            worst = i;
        }
    }
    if (dmax <= tol * bmax && bmax > 0) return 0;
    fprintf(stderr, "FAILED %s: %s max|diff| %.3g = %.3g of max|ref| %.3g (at %zu: %.8g vs %.8g)\n", what,
            name, dmax, dmax / bmax, bmax, worst, (double)a[worst], b[worst]);
    return 1;
}

static int run_case(const ccase *c)
{
    geom G = geometry(c);
    size_t vs = vol(G.ns), vb = vol(G.nb);
    int cx = c->transposed ? G.cs : G.cb, cy = c->transposed ? G.cb : G.cs;
    size_t nx = (size_t)c->n * cx * vol(c->in), ny = (size_t)c->n * cy * (c->transposed ? vb : vs);
    size_t nw = (size_t)G.cs * (G.cb / c->groups) * vol(c->k);

    cnn_graph *g = cnn_graph_new();
    cnn_node *x, *y;
    if (c->nd == 2) {
        x = cnn_input(g, "x", 4, (int[]){c->n, c->c_in, c->in[1], c->in[2]});
        cnn_input_requires_grad(x);
        if (c->transposed)
            y = cnn_conv_transpose2d(g, x, c->c_out, .kernel_h = c->k[1], .kernel_w = c->k[2],
                                     .stride_h = c->s[1], .stride_w = c->s[2], .padding_h = c->p[1],
                                     .padding_w = c->p[2], .dilation_h = c->d[1], .dilation_w = c->d[2],
                                     .output_padding_h = c->op[1], .output_padding_w = c->op[2],
                                     .groups = c->groups, .no_bias = !c->bias, .name = "conv");
        else
            y = cnn_conv2d(g, x, c->c_out, .kernel_h = c->k[1], .kernel_w = c->k[2], .stride_h = c->s[1],
                           .stride_w = c->s[2], .padding_h = c->p[1], .padding_w = c->p[2],
                           .dilation_h = c->d[1], .dilation_w = c->d[2], .groups = c->groups,
                           .no_bias = !c->bias, .name = "conv");
    } else {
        x = cnn_input(g, "x", 5, (int[]){c->n, c->c_in, c->in[0], c->in[1], c->in[2]});
        cnn_input_requires_grad(x);
        y = cnn_conv3d(g, x, c->c_out, .kernel_d = c->k[0], .kernel_h = c->k[1], .kernel_w = c->k[2],
                       .stride_d = c->s[0], .stride_h = c->s[1], .stride_w = c->s[2], .padding_d = c->p[0],
                       .padding_h = c->p[1], .padding_w = c->p[2], .dilation_d = c->d[0],
                       .dilation_h = c->d[1], .dilation_w = c->d[2], .groups = c->groups,
                       .no_bias = !c->bias, .name = "conv");
    }
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 7));
    cnn_tensor yv = cnn_node_value(y);
    assert_int_equal(cnn_tensor_numel(&yv), ny);
    cnn_rng rng;
    cnn_rng_seed(&rng, 99);
    float *xv = malloc(nx * sizeof *xv), *dy = malloc(ny * sizeof *dy);
    tu_fill(xv, nx, -1.0f, 1.0f, &rng);
    tu_fill(dy, ny, -1.0f, 1.0f, &rng);
    cnn_param *w = cnn_graph_param(g, 0), *b = c->bias ? cnn_graph_param(g, 1) : NULL;
    assert_int_equal(cnn_tensor_numel(&w->value), nw);
    tu_fill(w->value.data, nw, -1.0f, 1.0f, &rng);
    if (b) tu_fill(b->value.data, (size_t)cy, -1.0f, 1.0f, &rng);
    TU_OK(cnn_graph_set_input(g, x, xv, c->n));
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward_from(g, y, dy));

    /* the reference, in double */
    double *ry = calloc(ny, sizeof *ry), *rdx = calloc(nx, sizeof *rdx), *rdw = calloc(nw, sizeof *rdw);
    double *rdb = calloc((size_t)cy, sizeof *rdb);
    const float *wv = w->value.data;
    if (!c->transposed) { /* x = big, y = small */
        FOR_PAIRS(c, G, {
            ry[si] += (double)xv[bi] * wv[wi];
            rdx[bi] += (double)dy[si] * wv[wi];
            rdw[wi] += (double)dy[si] * xv[bi];
        });
    } else { /* x = small, y = big */
        FOR_PAIRS(c, G, {
            ry[bi] += (double)xv[si] * wv[wi];
            rdx[si] += (double)dy[bi] * wv[wi];
            rdw[wi] += (double)xv[si] * dy[bi];
        });
    }
    size_t per = c->transposed ? vb : vs;
    for (int n = 0; n < c->n; n++)
        for (int o = 0; o < cy; o++)
            for (size_t q = 0; q < per; q++) {
                size_t k = ((size_t)n * cy + (size_t)o) * per + q;
                if (b) ry[k] += b->value.data[o];
                rdb[o] += dy[k];
            }
    const double tol = 1e-4;
    int bad = check(c->what, "forward y", cnn_node_value(y).data, ry, ny, tol);
    bad += check(c->what, "dx", cnn_node_grad(x).data, rdx, nx, tol);
    bad += check(c->what, "dW", w->grad.data, rdw, nw, tol);
    if (b) bad += check(c->what, "db", b->grad.data, rdb, (size_t)cy, tol);
    free(ry), free(rdx), free(rdw), free(rdb), free(xv), free(dy);
    cnn_graph_free(g);
    return bad;
}

static void test_against_double_loops(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t k = 0; k < N_CASES; k++) bad += run_case(&cases[k]);
    printf("  %zu convolution cases, %d mismatches (backend %s)\n", N_CASES, bad,
           getenv("CNN_BACKEND") ? getenv("CNN_BACKEND") : "default");
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_double_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

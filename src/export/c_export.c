/* A graph as one dependency-free C file (DESIGN "export/"; docs/architecture.md,
   "C export"): NAME.h / NAME.c with the weights as const arrays, one static arena
   planned here (values live from their producer to their last consumer; reshapes and
   dropout alias their input, element-wise ops run in place on a dying input), and
   `int NAME_run(const float *input, float *output)` computing the graph at batch 1 in
   eval mode. The generated code is C99, needs only <math.h> (sigmoid / tanh / elu),
   allocates nothing and starts no thread. Each node is generated from its op's
   description (include/cnn/describe.h: its options, the convolution geometry of
   cnn_node_conv, batch norm as the eval affine of cnn_node_eval_affine, int8 state
   from cnn_node_quant_info); an op without a generator is
   CNN_ERR_UNSUPPORTED naming the node. Both files are written to temporary names and
   renamed. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cnn.h"

enum {
    H_CONV = 1 << 0, H_AFFINE = 1 << 1, H_ACT = 1 << 2, H_MAXPOOL = 1 << 3, H_AVGPOOL = 1 << 4,
    H_ADAPTIVE = 1 << 5, H_ADD = 1 << 6, H_COPY = 1 << 7, H_SHUFFLE = 1 << 8, H_MULCH = 1 << 9,
    H_QCONV = 1 << 10, H_GLOBAL = 1 << 11, H_BIN = 1 << 12, H_UNARY = 1 << 13, H_GATHER = 1 << 14,
    H_PAD = 1 << 15, H_REDUCE = 1 << 16, H_MATMUL = 1 << 17, H_SOFTMAX = 1 << 18, H_LRN = 1 << 19,
    H_CONVT = 1 << 20,
};
/* helpers that call <math.h> */
#define H_MATH (H_BIN | H_UNARY | H_SOFTMAX | H_LRN)

typedef enum { K_SKIP, K_INPUT, K_ALIAS, K_INPLACE, K_OWN, K_CONST } kind;

typedef struct xnode {
    kind k;
    int root;       /* node id whose buffer holds the value (input: -1 = the caller's) */
    int last;       /* last consumer (node id) of the value */
    size_t off;     /* arena offset (floats) of a root */
    size_t numel;   /* per example */
} xnode;

typedef struct gen {
    FILE *c;
    unsigned helpers;
    unsigned acts;       /* bit per cnn_act kind used */
    bool int8;           /* int8 nodes as integer kernels */
    size_t weight_bytes;
    size_t qx_bytes;     /* largest quantized input of an int8 node */
    const cnn_node *last; /* the exported output */
    const bool *qdirect; /* by node id: the value is int8 (an int8 node's direct store) */
    bool math;           /* include <math.h> (HUGE_VALF) */
    bool failed;
} gen;

static void out(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(gen *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vfprintf(g->c, fmt, ap) < 0) g->failed = true;
    va_end(ap);
}

static const char *op(const cnn_node *n) { return cnn_node_op(n); }
static bool is(const cnn_node *n, const char *name) { return strcmp(cnn_node_op(n), name) == 0; }

static const cnn_desc_attr *attr(const cnn_node *n, cnn_op_desc *d, const char *key)
{
    cnn_node_describe(n, d);
    return cnn_desc_find(d, key);
}

/* the index of n's input i */
static int in_id(const cnn_node *n, int i) { return cnn_node_index(cnn_node_input(n, i)); }

/* const float array from floats (refuses NaN / Inf) */
static cnn_status emit_array(gen *g, const cnn_node *n, const char *name, const float *v, size_t k)
{
    out(g, "static const float %s[%zu] = {", name, k ? k : 1);
    for (size_t i = 0; i < k; i++) {
        if (!isfinite(v[i]))
            return cnn_node_error(n, CNN_ERR_INVALID_ARG, "value %zu of %s is %g: cannot export",
                                  i, name, (double)v[i]);
        out(g, "%s%.9g", i % 8 ? ", " : (i ? ",\n    " : "\n    "), (double)v[i]);
    }
    out(g, "%s};\n", k ? "\n" : "0");
    g->weight_bytes += (k ? k : 1) * sizeof(float);
    return CNN_OK;
}

static void emit_helpers(gen *g)
{
    if (g->helpers & H_CONV)
        out(g, "/* y = conv(x, w) + b, NCDHW, one example. p: C_in, D, H, W, C_out, D', H', W',\n"
               "   kD, kH, kW, strides, paddings, dilations (3 each), groups */\n"
               "static void conv(const float *x, const float *w, const float *b, float *y, const int *p)\n"
               "{\n"
               "    int ci = p[0], id = p[1], ih = p[2], iw = p[3], co = p[4], od = p[5], oh = p[6], ow = p[7];\n"
               "    int g = p[20], cg = ci / g, og = co / g, o, z, r, c, k, a, q, e;\n"
               "    for (o = 0; o < co; o++)\n"
               "        for (z = 0; z < od; z++)\n"
               "            for (r = 0; r < oh; r++)\n"
               "                for (c = 0; c < ow; c++) {\n"
               "                    float s = b ? b[o] : 0.0f;\n"
               "                    for (k = 0; k < cg; k++) {\n"
               "                        const float *xc = x + (long)((o / og) * cg + k) * id * ih * iw;\n"
               "                        const float *wc = w + ((long)o * cg + k) * p[8] * p[9] * p[10];\n"
               "                        for (a = 0; a < p[8]; a++) {\n"
               "                            int zi = z * p[11] - p[14] + a * p[17];\n"
               "                            if (zi < 0 || zi >= id) continue;\n"
               "                            for (q = 0; q < p[9]; q++) {\n"
               "                                int ri = r * p[12] - p[15] + q * p[18];\n"
               "                                if (ri < 0 || ri >= ih) continue;\n"
               "                                for (e = 0; e < p[10]; e++) {\n"
               "                                    int cc = c * p[13] - p[16] + e * p[19];\n"
               "                                    if (cc < 0 || cc >= iw) continue;\n"
               "                                    s += xc[((long)zi * ih + ri) * iw + cc] * wc[(a * p[9] + q) * p[10] + e];\n"
               "                                }\n"
               "                            }\n"
               "                        }\n"
               "                    }\n"
               "                    y[(((long)o * od + z) * oh + r) * ow + c] = s;\n"
               "                }\n"
               "}\n\n");
    if (g->helpers & H_AFFINE)
        out(g, "/* eval batch norm: y = x * scale + shift per channel (in place allowed) */\n"
               "static void affine(const float *x, const float *sc, const float *sh, float *y, int C, long S)\n"
               "{\n"
               "    int c;\n"
               "    long i;\n"
               "    for (c = 0; c < C; c++)\n"
               "        for (i = 0; i < S; i++) y[c * S + i] = x[c * S + i] * sc[c] + sh[c];\n"
               "}\n\n");
    if (g->helpers & H_ACT) {
        unsigned a = g->acts;
        if (a & (1u << CNN_ACT_RELU6 | 1u << CNN_ACT_HARDSWISH))
            out(g, "static float clamp06(float v)\n"
                   "{\n"
                   "    v = v < 0.0f ? 0.0f : v;\n"
                   "    return v > 6.0f ? 6.0f : v;\n"
                   "}\n\n");
        out(g, "/* activations as cnn_act numbers them (in place allowed) */\n"
               "static void act(int kind, float alpha, float beta, const float *x, float *y, long n)\n"
               "{\n"
               "    long i;\n"
               "    for (i = 0; i < n; i++) {\n"
               "        float v = x[i];\n"
               "        switch (kind) {\n");
        if (a & 1u << CNN_ACT_RELU) out(g, "        case %d: v = v > 0.0f ? v : 0.0f; break;\n", CNN_ACT_RELU);
        if (a & 1u << CNN_ACT_RELU6) out(g, "        case %d: v = clamp06(v); break;\n", CNN_ACT_RELU6);
        if (a & 1u << CNN_ACT_SIGMOID)
            out(g, "        case %d: v = 1.0f / (1.0f + expf(-v)); break;\n", CNN_ACT_SIGMOID);
        if (a & 1u << CNN_ACT_TANH) out(g, "        case %d: v = tanhf(v); break;\n", CNN_ACT_TANH);
        if (a & 1u << CNN_ACT_HARDSWISH)
            out(g, "        case %d: v = v * clamp06(v + 3.0f) / 6.0f; break;\n", CNN_ACT_HARDSWISH);
        if (a & 1u << CNN_ACT_HARDSIGMOID)
            out(g, "        case %d: v = alpha * v + beta; v = v < 0.0f ? 0.0f : v; v = v > 1.0f ? 1.0f : v; break;\n",
                CNN_ACT_HARDSIGMOID);
        if (a & 1u << CNN_ACT_LEAKY_RELU)
            out(g, "        case %d: v = v > 0.0f ? v : v * alpha; break;\n", CNN_ACT_LEAKY_RELU);
        if (a & 1u << CNN_ACT_ELU)
            out(g, "        case %d: v = v > 0.0f ? v : alpha * expm1f(v); break;\n", CNN_ACT_ELU);
        if (a & 1u << CNN_ACT_CLIP)
            out(g, "        case %d: v = v < alpha ? alpha : v; v = v > beta ? beta : v; break;\n", CNN_ACT_CLIP);
        out(g, "        default: break;\n"
               "        }\n"
               "        y[i] = v;\n"
               "    }\n"
               "    (void)alpha;\n"
               "    (void)beta;\n"
               "}\n\n");
    }
    if (g->helpers & H_QCONV)
        out(g, "/* int8 (cnn.c's definition): xq = clamp(round_half_even(x / s), -127, 127), NaN -> 0;\n"
               "   acc = sum xq * w exactly; y = (float)acc * m[o], then y + b[o]; with lohi\n"
               "   stored as int8 for an int8 reader: clamp(round_half_even(y), lohi[0], lohi[1]) */\n"
               "static signed char q8(float x, float s)\n"
               "{\n"
               "    float v = x / s;\n"
               "    if (v != v) return 0;\n"
               "    if (v > 127.0f) v = 127.0f;\n"
               "    if (v < -127.0f) v = -127.0f;\n"
               "    v = (v + 12582912.0f) - 12582912.0f;\n"
               "    return (signed char)(int)v;\n"
               "}\n\n"
               "static signed char qx[%zu];\n\n"
               "static const signed char *q8x(const float *x, float s, long n)\n"
               "{\n"
               "    long i;\n"
               "    for (i = 0; i < n; i++) qx[i] = q8(x[i], s);\n"
               "    return qx;\n"
               "}\n\n"
               "/* p as conv() */\n"
               "static void qconv(const signed char *xq, const signed char *w, const float *m, const float *b,\n"
               "                  float *y, const int *p, const float *lohi)\n"
               "{\n"
               "    int ci = p[0], id = p[1], ih = p[2], iw = p[3], co = p[4], od = p[5], oh = p[6], ow = p[7];\n"
               "    int g = p[20], cg = ci / g, og = co / g, o, z, r, c, k, a, q, e;\n"
               "    for (o = 0; o < co; o++)\n"
               "        for (z = 0; z < od; z++)\n"
               "            for (r = 0; r < oh; r++)\n"
               "                for (c = 0; c < ow; c++) {\n"
               "                    long acc = 0, at = (((long)o * od + z) * oh + r) * ow + c;\n"
               "                    float v;\n"
               "                    for (k = 0; k < cg; k++) {\n"
               "                        const signed char *xc = xq + (long)((o / og) * cg + k) * id * ih * iw;\n"
               "                        const signed char *wc = w + ((long)o * cg + k) * p[8] * p[9] * p[10];\n"
               "                        for (a = 0; a < p[8]; a++) {\n"
               "                            int zi = z * p[11] - p[14] + a * p[17];\n"
               "                            if (zi < 0 || zi >= id) continue;\n"
               "                            for (q = 0; q < p[9]; q++) {\n"
               "                                int ri = r * p[12] - p[15] + q * p[18];\n"
               "                                if (ri < 0 || ri >= ih) continue;\n"
               "                                for (e = 0; e < p[10]; e++) {\n"
               "                                    int cc = c * p[13] - p[16] + e * p[19];\n"
               "                                    if (cc < 0 || cc >= iw) continue;\n"
               "                                    acc += (long)xc[((long)zi * ih + ri) * iw + cc] * wc[(a * p[9] + q) * p[10] + e];\n"
               "                                }\n"
               "                            }\n"
               "                        }\n"
               "                    }\n"
               "                    v = (float)acc * m[o];\n"
               "                    v = v + b[o];\n"
               "                    if (!lohi) {\n"
               "                        y[at] = v;\n"
               "                        continue;\n"
               "                    }\n"
               "                    v = v > lohi[1] ? lohi[1] : v;\n"
               "                    v = v < lohi[0] ? lohi[0] : v;\n"
               "                    ((signed char *)y)[at] = (signed char)(int)((v + 12582912.0f) - 12582912.0f);\n"
               "                }\n"
               "}\n\n",
            g->qx_bytes ? g->qx_bytes : 1);
    if (g->helpers & H_MAXPOOL)
        out(g, "/* p: C, H, W, OH, OW, kH, kW, sH, sW, pH, pW, dH, dW */\n"
               "static void maxpool(const float *x, float *y, const int *p)\n"
               "{\n"
               "    int c, r, q, a, e;\n"
               "    for (c = 0; c < p[0]; c++)\n"
               "        for (r = 0; r < p[3]; r++)\n"
               "            for (q = 0; q < p[4]; q++) {\n"
               "                float m = 0.0f;\n"
               "                int any = 0;\n"
               "                for (a = 0; a < p[5]; a++) {\n"
               "                    int ri = r * p[7] - p[9] + a * p[11];\n"
               "                    if (ri < 0 || ri >= p[1]) continue;\n"
               "                    for (e = 0; e < p[6]; e++) {\n"
               "                        int ci = q * p[8] - p[10] + e * p[12];\n"
               "                        float v;\n"
               "                        if (ci < 0 || ci >= p[2]) continue;\n"
               "                        v = x[((long)c * p[1] + ri) * p[2] + ci];\n"
               "                        if (!any || v > m || v != v) m = v;\n"
               "                        any = 1;\n"
               "                    }\n"
               "                }\n"
               "                y[((long)c * p[3] + r) * p[4] + q] = m;\n"
               "            }\n"
               "}\n\n");
    if (g->helpers & H_AVGPOOL)
        out(g, "/* PyTorch's avg_pool2d. p: C, H, W, OH, OW, kH, kW, sH, sW, pH, pW, exclude_pad */\n"
               "static void avgpool(const float *x, float *y, const int *p)\n"
               "{\n"
               "    int c, r, q, a, e;\n"
               "    for (c = 0; c < p[0]; c++)\n"
               "        for (r = 0; r < p[3]; r++)\n"
               "            for (q = 0; q < p[4]; q++) {\n"
               "                int h0 = r * p[7] - p[9], w0 = q * p[8] - p[10];\n"
               "                int h1 = h0 + p[5] < p[1] + p[9] ? h0 + p[5] : p[1] + p[9];\n"
               "                int w1 = w0 + p[6] < p[2] + p[10] ? w0 + p[6] : p[2] + p[10];\n"
               "                int cnt = (h1 - h0) * (w1 - w0);\n"
               "                float s = 0.0f;\n"
               "                h0 = h0 < 0 ? 0 : h0, w0 = w0 < 0 ? 0 : w0;\n"
               "                h1 = h1 < p[1] ? h1 : p[1], w1 = w1 < p[2] ? w1 : p[2];\n"
               "                if (p[11]) cnt = (h1 - h0) * (w1 - w0);\n"
               "                for (a = h0; a < h1; a++)\n"
               "                    for (e = w0; e < w1; e++) s += x[((long)c * p[1] + a) * p[2] + e];\n"
               "                y[((long)c * p[3] + r) * p[4] + q] = s / (float)cnt;\n"
               "            }\n"
               "}\n\n");
    if (g->helpers & H_ADAPTIVE)
        out(g, "/* adaptive average pooling (global: OH = OW = 1). p: C, H, W, OH, OW */\n"
               "static void adaptive(const float *x, float *y, const int *p)\n"
               "{\n"
               "    int c, r, q, a, e;\n"
               "    for (c = 0; c < p[0]; c++)\n"
               "        for (r = 0; r < p[3]; r++)\n"
               "            for (q = 0; q < p[4]; q++) {\n"
               "                int h0 = r * p[1] / p[3], h1 = ((r + 1) * p[1] + p[3] - 1) / p[3];\n"
               "                int w0 = q * p[2] / p[4], w1 = ((q + 1) * p[2] + p[4] - 1) / p[4];\n"
               "                float s = 0.0f;\n"
               "                for (a = h0; a < h1; a++)\n"
               "                    for (e = w0; e < w1; e++) s += x[((long)c * p[1] + a) * p[2] + e];\n"
               "                y[((long)c * p[3] + r) * p[4] + q] = s / (float)((h1 - h0) * (w1 - w0));\n"
               "            }\n"
               "}\n\n");
    if (g->helpers & H_GLOBAL)
        out(g, "/* global average pooling: the plane's sum in order times 1 / (H W) */\n"
               "static void global_avg(const float *x, float *y, int C, long S)\n"
               "{\n"
               "    int c;\n"
               "    long i;\n"
               "    const float inv = 1.0f / (float)S;\n"
               "    for (c = 0; c < C; c++) {\n"
               "        float s = 0.0f;\n"
               "        for (i = 0; i < S; i++) s += x[c * S + i];\n"
               "        y[c] = s * inv;\n"
               "    }\n"
               "}\n\n");
    if (g->helpers & H_ADD)
        out(g, "static void add(const float *a, const float *b, float *y, long n)\n"
               "{\n"
               "    long i;\n"
               "    for (i = 0; i < n; i++) y[i] = a[i] + b[i];\n"
               "}\n\n");
    if (g->helpers & (H_COPY | H_SHUFFLE))
        out(g, "static void copy(const float *x, float *y, long n)\n"
               "{\n"
               "    long i;\n"
               "    for (i = 0; i < n; i++) y[i] = x[i];\n"
               "}\n\n");
    if (g->helpers & H_SHUFFLE)
        out(g, "/* channel shuffle: out channel j * g + i = in channel i * (C / g) + j */\n"
               "static void shuffle(const float *x, float *y, int C, int g, long S)\n"
               "{\n"
               "    int i, j;\n"
               "    for (i = 0; i < g; i++)\n"
               "        for (j = 0; j < C / g; j++) copy(x + ((long)i * (C / g) + j) * S, y + ((long)j * g + i) * S, S);\n"
               "}\n\n");
    if (g->helpers & H_MULCH)
        out(g, "static void mulch(const float *x, const float *s, float *y, int C, long S)\n"
               "{\n"
               "    int c;\n"
               "    long i;\n"
               "    for (c = 0; c < C; c++)\n"
               "        for (i = 0; i < S; i++) y[c * S + i] = x[c * S + i] * s[c];\n"
               "}\n\n");    if (g->helpers & H_BIN)
        out(g, "/* y = a op b over an index space of rank p[0], dims p[1..r], a's strides\n"
               "   p[r+1..2r], b's p[2r+1..3r] (0: broadcast); op as cnn_binary_op */\n"
               "static void bin(int op, const float *a, const float *b, float *y, const long *p)\n"
               "{\n"
               "    long r = p[0], n = 1, i, k;\n"
               "    for (k = 0; k < r; k++) n *= p[1 + k];\n"
               "    for (i = 0; i < n; i++) {\n"
               "        long rem = i, oa = 0, ob = 0;\n"
               "        float x, v, z;\n"
               "        for (k = r - 1; k >= 0; k--) {\n"
               "            long c = rem %% p[1 + k];\n"
               "            rem /= p[1 + k];\n"
               "            oa += c * p[1 + r + k];\n"
               "            ob += c * p[1 + 2 * r + k];\n"
               "        }\n"
               "        x = a[oa], v = b[ob];\n"
               "        switch (op) {\n"
               "        case 0: z = x + v; break;\n"
               "        case 1: z = x - v; break;\n"
               "        case 2: z = x * v; break;\n"
               "        case 3: z = x / v; break;\n"
               "        case 4: z = (x > v || x != x) ? x : v; break;\n"
               "        case 5: z = (x < v || x != x) ? x : v; break;\n"
               "        default: z = powf(x, v); break;\n"
               "        }\n"
               "        y[i] = z;\n"
               "    }\n"
               "}\n\n");
    if (g->helpers & H_UNARY)
        out(g, "/* op as cnn_unary_op */\n"
               "static void unary(int op, const float *x, float *y, long n)\n"
               "{\n"
               "    long i;\n"
               "    for (i = 0; i < n; i++) {\n"
               "        float v = x[i];\n"
               "        switch (op) {\n"
               "        case 0: v = -v; break;\n"
               "        case 1: v = fabsf(v); break;\n"
               "        case 2: v = expf(v); break;\n"
               "        case 3: v = logf(v); break;\n"
               "        case 4: v = sqrtf(v); break;\n"
               "        default: v = 1.0f / v; break;\n"
               "        }\n"
               "        y[i] = v;\n"
               "    }\n"
               "}\n\n");
    if (g->helpers & H_GATHER)
        out(g, "/* y (contiguous over dims p[2..r+1]) = x[p[1] + sum c_k p[r+2+k]] (transpose, slice) */\n"
               "static void gather(const float *x, float *y, const long *p)\n"
               "{\n"
               "    long r = p[0], n = 1, i, k;\n"
               "    for (k = 0; k < r; k++) n *= p[2 + k];\n"
               "    for (i = 0; i < n; i++) {\n"
               "        long rem = i, o = p[1];\n"
               "        for (k = r - 1; k >= 0; k--) {\n"
               "            o += (rem %% p[2 + k]) * p[2 + r + k];\n"
               "            rem /= p[2 + k];\n"
               "        }\n"
               "        y[i] = x[o];\n"
               "    }\n"
               "}\n\n");
    if (g->helpers & H_PAD)
        out(g, "/* pad: output dims p[1..r], input strides p[r+1..2r], per axis k a source map\n"
               "   m + p[2r+1+k] (input index per output index, -1: the value v) */\n"
               "static void pad(const float *x, float *y, const long *p, const long *m, float v)\n"
               "{\n"
               "    long r = p[0], n = 1, i, k;\n"
               "    for (k = 0; k < r; k++) n *= p[1 + k];\n"
               "    for (i = 0; i < n; i++) {\n"
               "        long rem = i, o = 0, out = 0;\n"
               "        for (k = r - 1; k >= 0; k--) {\n"
               "            long s = m[p[1 + 2 * r + k] + rem %% p[1 + k]];\n"
               "            rem /= p[1 + k];\n"
               "            if (s < 0) out = 1;\n"
               "            o += s * p[1 + r + k];\n"
               "        }\n"
               "        y[i] = out ? v : x[o];\n"
               "    }\n"
               "}\n\n");
    if (g->helpers & H_REDUCE)
        out(g, "/* reduce (op: 0 mean, 1 sum, 2 max, 3 min) over input dims p[1..r], strides\n"
               "   p[r+1..2r], reduced axes p[2r+1+k] != 0, in the library's order: sums in double */\n"
               "static void reduce(int op, const float *x, float *y, const long *p)\n"
               "{\n"
               "    long r = p[0], nk = 1, nr = 1, i, j, k;\n"
               "    for (k = 0; k < r; k++) {\n"
               "        if (p[1 + 2 * r + k]) nr *= p[1 + k];\n"
               "        else nk *= p[1 + k];\n"
               "    }\n"
               "    for (i = 0; i < nk; i++) {\n"
               "        long rem = i, base = 0;\n"
               "        double acc = 0.0;\n"
               "        float m = 0.0f;\n"
               "        for (k = r - 1; k >= 0; k--)\n"
               "            if (!p[1 + 2 * r + k]) {\n"
               "                base += (rem %% p[1 + k]) * p[1 + r + k];\n"
               "                rem /= p[1 + k];\n"
               "            }\n"
               "        m = x[base];\n"
               "        for (j = 0; j < nr; j++) {\n"
               "            long rj = j, o = base;\n"
               "            float v;\n"
               "            for (k = r - 1; k >= 0; k--)\n"
               "                if (p[1 + 2 * r + k]) {\n"
               "                    o += (rj %% p[1 + k]) * p[1 + r + k];\n"
               "                    rj /= p[1 + k];\n"
               "                }\n"
               "            v = x[o];\n"
               "            if (op < 2) acc += v;\n"
               "            else if (m == m && (v != v || (op == 2 ? v > m : v < m))) m = v;\n"
               "        }\n"
               "        y[i] = op == 0 ? (float)(acc / (double)nr) : op == 1 ? (float)acc : m;\n"
               "    }\n"
               "}\n\n");
    if (g->helpers & H_MATMUL)
        out(g, "/* p: stacks, M, K, N, then per stack the offsets of a and b */\n"
               "static void matmul(const float *A, const float *B, float *Y, const long *p)\n"
               "{\n"
               "    long s, i, j, k, M = p[1], K = p[2], N = p[3];\n"
               "    for (s = 0; s < p[0]; s++)\n"
               "        for (i = 0; i < M; i++) {\n"
               "            const float *a = A + p[4 + 2 * s] + i * K, *b = B + p[5 + 2 * s];\n"
               "            float *y = Y + (s * M + i) * N;\n"
               "            for (j = 0; j < N; j++) y[j] = 0.0f;\n"
               "            for (k = 0; k < K; k++)\n"
               "                for (j = 0; j < N; j++) y[j] += a[k] * b[k * N + j];\n"
               "        }\n"
               "}\n\n");
    if (g->helpers & H_SOFTMAX)
        out(g, "/* (log-)softmax over K of (outer, K, S), max-subtracted, the sum in double */\n"
               "static void softmax(const float *x, float *y, long outer, long K, long S, int lg)\n"
               "{\n"
               "    long i, p, k;\n"
               "    for (i = 0; i < outer; i++) {\n"
               "        const float *xi = x + i * K * S;\n"
               "        float *yi = y + i * K * S;\n"
               "        for (p = 0; p < S; p++) {\n"
               "            float m = xi[p];\n"
               "            double sum = 0.0;\n"
               "            for (k = 1; k < K; k++) m = fmaxf(m, xi[k * S + p]);\n"
               "            for (k = 0; k < K; k++) {\n"
               "                float e = expf(xi[k * S + p] - m);\n"
               "                if (!lg) yi[k * S + p] = e;\n"
               "                sum += e;\n"
               "            }\n"
               "            if (lg) {\n"
               "                float ls = (float)log(sum);\n"
               "                for (k = 0; k < K; k++) yi[k * S + p] = (xi[k * S + p] - m) - ls;\n"
               "            } else {\n"
               "                float inv = (float)(1.0 / sum);\n"
               "                for (k = 0; k < K; k++) yi[k * S + p] *= inv;\n"
               "            }\n"
               "        }\n"
               "    }\n"
               "}\n\n");
    if (g->helpers & H_LRN)
        out(g, "/* local response normalisation across C channels of S positions */\n"
               "static void lrn(const float *x, float *y, int C, long S, int size, float alpha, float beta, float k)\n"
               "{\n"
               "    int c, q;\n"
               "    long p;\n"
               "    float scale = alpha / (float)size;\n"
               "    for (c = 0; c < C; c++) {\n"
               "        int lo = c - size / 2 > 0 ? c - size / 2 : 0;\n"
               "        int hi = c + (size - 1) / 2 < C - 1 ? c + (size - 1) / 2 : C - 1;\n"
               "        for (p = 0; p < S; p++) {\n"
               "            float sum = 0.0f;\n"
               "            for (q = lo; q <= hi; q++) sum += x[q * S + p] * x[q * S + p];\n"
               "            y[c * S + p] = x[c * S + p] * powf(k + scale * sum, -beta);\n"
               "        }\n"
               "    }\n"
               "}\n\n");
    if (g->helpers & H_CONVT)
        out(g, "/* transposed 2D convolution (PyTorch's ConvTranspose2d), w (C_in, C_out/g, kH, kW).\n"
               "   p: C_in, H, W, C_out, H', W', kH, kW, sH, sW, pH, pW, dH, dW, groups */\n"
               "static void convt(const float *x, const float *w, const float *b, float *y, const int *p)\n"
               "{\n"
               "    int ci = p[0], h = p[1], wd = p[2], co = p[3], oh = p[4], ow = p[5];\n"
               "    int g = p[14], cg = ci / g, og = co / g, c, o, r, q, a, e;\n"
               "    long i, S = (long)oh * ow;\n"
               "    for (o = 0; o < co; o++)\n"
               "        for (i = 0; i < S; i++) y[o * S + i] = b ? b[o] : 0.0f;\n"
               "    for (c = 0; c < ci; c++)\n"
               "        for (o = 0; o < og; o++) {\n"
               "            int oc = (c / cg) * og + o;\n"
               "            const float *wc = w + ((long)c * og + o) * p[6] * p[7];\n"
               "            for (r = 0; r < h; r++)\n"
               "                for (q = 0; q < wd; q++) {\n"
               "                    float v = x[((long)c * h + r) * wd + q];\n"
               "                    for (a = 0; a < p[6]; a++) {\n"
               "                        int yr = r * p[8] - p[10] + a * p[12];\n"
               "                        if (yr < 0 || yr >= oh) continue;\n"
               "                        for (e = 0; e < p[7]; e++) {\n"
               "                            int yc = q * p[9] - p[11] + e * p[13];\n"
               "                            if (yc < 0 || yc >= ow) continue;\n"
               "                            y[(long)oc * S + (long)yr * ow + yc] += v * wc[a * p[7] + e];\n"
               "                        }\n"
               "                    }\n"
               "                }\n"
               "        }\n"
               "}\n\n");
}

/* a float literal that round-trips: "0.5f", "1.0f", "1e-05f" */
static const char *flit(float v, char *buf, size_t size)
{
    snprintf(buf, size, "%.9g", (double)v);
    if (!strpbrk(buf, ".e")) strncat(buf, ".0", size - strlen(buf) - 1);
    strncat(buf, "f", size - strlen(buf) - 1);
    return buf;
}

static size_t per_ex(const cnn_node *n) { return cnn_node_per_example(n); }

/* spatial size H, W of a 4-D value */
static int dim(const cnn_node *n, int i) { return cnn_node_dim(n, i); }

/* "arena + off", "input" or a constant's array "kN" for node id v */
static const char *ref(const xnode *x, const cnn_node *const *nodes, int v, char *buf, size_t size)
{
    (void)nodes;
    int r = x[v].root;
    if (r < 0) snprintf(buf, size, "input");
    else if (x[r].k == K_CONST) snprintf(buf, size, "k%d", r);
    else snprintf(buf, size, "arena + %zu", x[r].off);
    return buf;
}

/* the dims of n at batch 1 (a batched node's dimension 0 is the batch) */
static int dims1(const cnn_node *n, long *d)
{
    int r = cnn_node_ndim(n);
    for (int i = 0; i < r; i++) d[i] = cnn_node_dim(n, i);
    if (cnn_node_batched(n) && r > 0) d[0] = 1;
    return r;
}

static void strides_of(int r, const long *d, long *st)
{
    long s = 1;
    for (int i = r - 1; i >= 0; i--) {
        st[i] = s;
        s *= d[i];
    }
}

static void emit_longs(gen *g, const char *name, const long *v, size_t k)
{
    out(g, "static const long %s[%zu] = {", name, k ? k : 1);
    for (size_t i = 0; i < k; i++) out(g, "%s%ldL", i % 8 ? ", " : (i ? ",\n    " : "\n    "), v[i]);
    out(g, "%s};\n", k ? "\n" : "0");
}

/* source index of output index o along an axis of d elements padded by `before` (as
   the pad op: -1 for the constant) */
static long pad_src(int mode, long o, long before, long d)
{
    long s = o - before;
    if (s >= 0 && s < d) return s;
    if (mode == CNN_PAD_CONSTANT) return -1;
    if (mode == CNN_PAD_EDGE) return s < 0 ? 0 : d - 1;
    long period = 2 * (d - 1);
    s %= period;
    if (s < 0) s += period;
    return s < d ? s : period - s;
}

static cnn_status check_node(const cnn_node *n)
{
    static const char *ok[] = {"conv2d", "conv3d", "linear", "batchnorm2d", "batchnorm3d",
                               "activation", "maxpool2d", "avgpool2d", "adaptive_avgpool2d",
                               "global_avgpool", "reshape", "dropout", "add", "concat",
                               "channel_shuffle", "channel_slice", "mul_channel", "softmax",
                               "softmax_axis", "lrn", "conv_transpose2d", "binary", "unary",
                               "transpose", "slice", "pad", "reduce", "matmul"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (is(n, ok[i])) {
            if ((is(n, "maxpool2d") || is(n, "avgpool2d") || is(n, "adaptive_avgpool2d") ||
                 is(n, "global_avgpool")) && cnn_node_ndim(n) != 4)
                break;
            return CNN_OK;
        }
    return cnn_node_error(n, CNN_ERR_UNSUPPORTED,
                          "the C exporter has no generator for op '%s' (supported: conv2d/3d, "
                          "linear, batch norm, activations, max/avg/adaptive pooling, add, "
                          "concat, reshape, dropout, channel shuffle/slice, mul_channel, "
                          "softmax, lrn, conv_transpose2d, binary, unary, transpose, slice, "
                          "pad, reduce, matmul)",
                          op(n));
}

/* Plans the arena: roots, aliases, in-place ops, first-fit offsets; returns floats. */
static size_t plan(cnn_node **nodes, const cnn_node *input, int last_id, const bool *folded, xnode *x)
{
    for (int i = 0; i <= last_id; i++) {
        cnn_node *n = nodes[i];
        x[i].numel = per_ex(n);
        x[i].last = i;
        if (n == input) x[i].k = K_INPUT, x[i].root = -1;
        else if (cnn_node_num_inputs(n) == 0 && !cnn_node_batched(n)) x[i].k = K_CONST, x[i].root = i;
        else if (cnn_node_num_inputs(n) == 0) x[i].k = K_SKIP, x[i].root = i;
        else if (is(n, "reshape") || is(n, "dropout") || folded[i]) x[i].k = K_ALIAS, x[i].root = x[in_id(n, 0)].root;
        else x[i].k = K_OWN, x[i].root = i;
    }
    /* last uses by root, through aliases */
    for (int i = 0; i <= last_id; i++)
        for (int j = 0; j < cnn_node_num_inputs(nodes[i]); j++) {
            int r = x[in_id(nodes[i], j)].root;
            if (r >= 0 && x[r].last < i) x[r].last = i;
        }
    x[last_id].last = last_id + 1;
    if (x[last_id].root >= 0) x[x[last_id].root].last = last_id + 1;
    /* element-wise ops on a value whose last use they are: in place */
    for (int i = 0; i <= last_id; i++) {
        cnn_node *n = nodes[i];
        if (x[i].k != K_OWN || !(is(n, "batchnorm2d") || is(n, "batchnorm3d") || is(n, "activation") || is(n, "add")))
            continue;
        int r = x[in_id(n, 0)].root;
        if (r < 0 || x[r].k == K_CONST || x[r].last != i) continue;
        if (is(n, "add") && x[in_id(n, 1)].root == r) continue;
        int mylast = x[i].last;
        x[i].k = K_INPLACE;
        x[i].root = r;
        /* later aliases of i resolve to r */
        for (int j = i + 1; j <= last_id; j++)
            if (x[j].root == i) x[j].root = r;
        x[r].last = mylast > i ? mylast : i;
    }
    /* first fit over roots in order of their producers */
    size_t peak = 0;
    int *live = cnn_malloc((size_t)(last_id + 1) * sizeof *live);
    int n_live = 0;
    if (!live) return 0;
    for (int i = 0; i <= last_id; i++) {
        if (x[i].k != K_OWN) continue;
        int k = 0;
        for (int j = 0; j < n_live; j++)
            if (x[live[j]].last >= i) live[k++] = live[j];
        n_live = k;
        size_t off = 0, size = x[i].numel;
        for (bool moved = true; moved;) {
            moved = false;
            for (int j = 0; j < n_live; j++) {
                const xnode *o = &x[live[j]];
                if (off < o->off + o->numel && o->off < off + size) {
                    off = o->off + o->numel;
                    moved = true;
                }
            }
        }
        x[i].off = off;
        live[n_live++] = i;
        if (off + size > peak) peak = off + size;
    }
    cnn_free(live);
    return peak;
}

/* softmax, lrn, conv_transpose2d and the general tensor ops (binary, unary, transpose,
   slice, pad, reduce, matmul) at batch 1; a: the input's reference, y: the output's */
static cnn_status gen_general(gen *G, cnn_node *n, const xnode *x, cnn_node **nodes, const char *a,
                              const char *y, char *body, size_t bsz, size_t *blen)
{
#define BODY(...) (*blen += (size_t)snprintf(body + *blen, bsz > *blen ? bsz - *blen : 0, __VA_ARGS__))
    char b[64], nm[32], f1[40], f2[40], f3[40];
    cnn_op_desc d;
    const cnn_desc_attr *t;
    int id = cnn_node_index(n);
    long od[CNN_MAX_DIMS], ost[CNN_MAX_DIMS], id_[CNN_MAX_DIMS], ist[CNN_MAX_DIMS];
    long v[4 + 4 * CNN_MAX_DIMS];
    int r = dims1(n, od);
    strides_of(r, od, ost);
    int ri = dims1(cnn_node_input(n, 0), id_);
    strides_of(ri, id_, ist);
    snprintf(nm, sizeof nm, "g%d", id);
    if (is(n, "softmax") || is(n, "softmax_axis")) {
        int ax = 1, lg = 0;
        if (is(n, "softmax_axis")) {
            ax = (int)attr(n, &d, "axis")->i[0];
            lg = (int)attr(n, &d, "log")->i[0];
            if (ax < 0) ax += r;
        }
        long outer = 1, S = 1;
        for (int i = 0; i < ax; i++) outer *= od[i];
        for (int i = ax + 1; i < r; i++) S *= od[i];
        BODY("    softmax(%s, %s, %ld, %ld, %ld, %d);\n", a, y, outer, od[ax], S, lg);
        G->helpers |= H_SOFTMAX;
    } else if (is(n, "lrn")) {
        long S = 1;
        for (int i = 2; i < r; i++) S *= od[i];
        int size = (int)attr(n, &d, "size")->i[0];
        float al = attr(n, &d, "alpha")->f[0], be = attr(n, &d, "beta")->f[0], k = attr(n, &d, "k")->f[0];
        BODY("    lrn(%s, %s, %ld, %ld, %d, %s, %s, %s);\n", a, y, od[1], S, size, flit(al, f1, sizeof f1),
             flit(be, f2, sizeof f2), flit(k, f3, sizeof f3));
        G->helpers |= H_LRN;
    } else if (is(n, "conv_transpose2d")) {
        int k[2], st[2], pd[2], dl[2];
        t = attr(n, &d, "kernel"), k[0] = (int)t->i[0], k[1] = (int)t->i[1];
        t = attr(n, &d, "stride"), st[0] = (int)t->i[0], st[1] = (int)t->i[1];
        t = attr(n, &d, "padding"), pd[0] = (int)t->i[0], pd[1] = (int)t->i[1];
        t = attr(n, &d, "dilation"), dl[0] = (int)t->i[0], dl[1] = (int)t->i[1];
        int groups = (int)attr(n, &d, "groups")->i[0];
        bool bias = attr(n, &d, "bias")->i[0] != 0;
        snprintf(nm, sizeof nm, "w%d", id);
        CNN_CHECK(emit_array(G, n, nm, cnn_node_param_at(n, 0)->value.data, cnn_tensor_numel(&cnn_node_param_at(n, 0)->value)));
        if (bias) {
            snprintf(nm, sizeof nm, "b%d", id);
            CNN_CHECK(emit_array(G, n, nm, cnn_node_param_at(n, 1)->value.data, (size_t)od[1]));
        }
        out(G, "static const int g%d[15] = {%ld, %ld, %ld, %ld, %ld, %ld, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n",
            id, id_[1], id_[2], id_[3], od[1], od[2], od[3], k[0], k[1], st[0], st[1], pd[0], pd[1], dl[0],
            dl[1], groups);
        if (bias) BODY("    convt(%s, w%d, b%d, %s, g%d);\n", a, id, id, y, id);
        else BODY("    convt(%s, w%d, 0, %s, g%d);\n", a, id, y, id);
        G->helpers |= H_CONVT;
    } else if (is(n, "unary")) {
        BODY("    unary(%d, %s, %s, %zu);\n", (int)attr(n, &d, "op")->i[0], a, y, per_ex(n));
        G->helpers |= H_UNARY;
    } else if (is(n, "binary")) {
        v[0] = r;
        for (int i = 0; i < r; i++) v[1 + i] = od[i];
        for (int k = 0; k < 2; k++) {
            long dk[CNN_MAX_DIMS], sk[CNN_MAX_DIMS];
            int rk = dims1(cnn_node_input(n, k), dk), lead = r - rk;
            strides_of(rk, dk, sk);
            for (int i = 0; i < r; i++) v[1 + (k + 1) * r + i] = (i < lead || dk[i - lead] == 1) ? 0 : sk[i - lead];
        }
        emit_longs(G, nm, v, 1 + 3 * (size_t)r);
        ref(x, (const cnn_node *const *)nodes, in_id(n, 1), b, sizeof b);
        BODY("    bin(%d, %s, %s, %s, g%d);\n", (int)attr(n, &d, "op")->i[0], a, b, y, id);
        G->helpers |= H_BIN;
    } else if (is(n, "transpose") || is(n, "slice")) {
        v[0] = r, v[1] = 0;
        for (int i = 0; i < r; i++) v[2 + i] = od[i];
        if (is(n, "transpose")) {
            t = attr(n, &d, "perm");
            for (int i = 0; i < r; i++) v[2 + r + i] = ist[t->i[i]];
        } else {
            int ax = (int)attr(n, &d, "axis")->i[0];
            long start = attr(n, &d, "start")->i[0], step = attr(n, &d, "step")->i[0];
            if (ax < 0) ax += r;
            long dd = id_[ax];
            if (start < 0) start += dd;
            if (step > 0) start = start < 0 ? 0 : start > dd ? dd : start;
            else start = start < 0 ? 0 : start > dd - 1 ? dd - 1 : start;
            for (int i = 0; i < r; i++) v[2 + r + i] = ist[i];
            v[1] = start * ist[ax];
            v[2 + r + ax] = ist[ax] * step;
        }
        emit_longs(G, nm, v, 2 + 2 * (size_t)r);
        BODY("    gather(%s, %s, g%d);\n", a, y, id);
        G->helpers |= H_GATHER;
    } else if (is(n, "pad")) {
        const cnn_desc_attr *pads = attr(n, &d, "pads");
        long pb[CNN_MAX_DIMS];
        for (int i = 0; i < r; i++) pb[i] = pads->i[i];
        int mode = (int)attr(n, &d, "mode")->i[0];
        float val = attr(n, &d, "value")->f[0];
        for (int i = 0; i < 2 * r; i++)
            if (pads->i[i] < 0 && mode != CNN_PAD_CONSTANT)
                return cnn_node_error(n, CNN_ERR_UNSUPPORTED,
                                      "the C exporter does not crop (negative pads) in reflect / edge mode");
        if (val != val) return cnn_node_error(n, CNN_ERR_UNSUPPORTED, "pad value NaN cannot be exported");
        size_t total = 0;
        v[0] = r;
        for (int i = 0; i < r; i++) {
            v[1 + i] = od[i];
            v[1 + r + i] = ist[i];
            v[1 + 2 * r + i] = (long)total;
            total += (size_t)od[i];
        }
        emit_longs(G, nm, v, 1 + 3 * (size_t)r);
        long *map = cnn_malloc(total * sizeof *map);
        if (!map) return cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
        for (int i = 0, off = 0; i < r; off += (int)od[i], i++)
            for (long o = 0; o < od[i]; o++) map[off + o] = pad_src(mode, o, pb[i], id_[i]);
        snprintf(nm, sizeof nm, "m%d", id);
        emit_longs(G, nm, map, total);
        cnn_free(map);
        if (isinf(val)) snprintf(f1, sizeof f1, "%sHUGE_VALF", val < 0 ? "-" : "");
        else flit(val, f1, sizeof f1);
        BODY("    pad(%s, %s, g%d, m%d, %s);\n", a, y, id, id, f1);
        G->helpers |= H_PAD;
        if (isinf(val)) G->math = true;
    } else if (is(n, "reduce")) {
        int opk = (int)attr(n, &d, "op")->i[0];
        t = attr(n, &d, "axes");
        v[0] = ri;
        for (int i = 0; i < ri; i++) {
            v[1 + i] = id_[i];
            v[1 + ri + i] = ist[i];
            v[1 + 2 * ri + i] = 0;
        }
        for (int j = 0; j < t->n; j++) v[1 + 2 * ri + t->i[j]] = 1;
        emit_longs(G, nm, v, 1 + 3 * (size_t)ri);
        BODY("    reduce(%d, %s, %s, g%d);\n", opk, a, y, id);
        G->helpers |= H_REDUCE;
    } else if (is(n, "matmul")) {
        long ad[CNN_MAX_DIMS] = {0}, bd[CNN_MAX_DIMS] = {0}, as[CNN_MAX_DIMS], bs[CNN_MAX_DIMS];
        int ra = dims1(cnn_node_input(n, 0), ad), rb = dims1(cnn_node_input(n, 1), bd);
        if (ra < 1 || rb < 1) return cnn_node_error(n, CNN_ERR_UNSUPPORTED, "matmul of a scalar");
        strides_of(ra, ad, as);
        strides_of(rb, bd, bs);
        long M = ra == 1 ? 1 : ad[ra - 2], K = ad[ra - 1], N = rb == 1 ? 1 : bd[rb - 1];
        int la = ra >= 2 ? ra - 2 : 0, lb = rb >= 2 ? rb - 2 : 0, ls = la > lb ? la : lb;
        long sd[CNN_MAX_DIMS], ns = 1;
        for (int i = 0; i < ls; i++) {
            int ia = i - (ls - la), ib = i - (ls - lb);
            long da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
            sd[i] = da > db ? da : db;
            ns *= sd[i];
        }
        long *pv = cnn_malloc((size_t)(4 + 2 * ns) * sizeof *pv);
        if (!pv) return cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
        pv[0] = ns, pv[1] = M, pv[2] = K, pv[3] = N;
        for (long s2 = 0; s2 < ns; s2++) {
            long rem = s2, oa = 0, ob = 0;
            for (int i = ls - 1; i >= 0; i--) {
                long c = rem % sd[i];
                rem /= sd[i];
                int ia = i - (ls - la), ib = i - (ls - lb);
                if (ia >= 0 && ad[ia] != 1) oa += c * as[ia];
                if (ib >= 0 && bd[ib] != 1) ob += c * bs[ib];
            }
            pv[4 + 2 * s2] = oa, pv[5 + 2 * s2] = ob;
        }
        emit_longs(G, nm, pv, (size_t)(4 + 2 * ns));
        cnn_free(pv);
        ref(x, (const cnn_node *const *)nodes, in_id(n, 1), b, sizeof b);
        BODY("    matmul(%s, %s, %s, g%d);\n", a, b, y, id);
        G->helpers |= H_MATMUL;
    }
#undef BODY
    return CNN_OK;
}

static cnn_status gen_node(gen *G, cnn_node *n, const xnode *x, cnn_node **nodes, char *body, size_t bsz,
                           size_t *blen)
{
    char a[64], b[64], y[64], nm[32];
    cnn_op_desc d;
    int id = cnn_node_index(n);
    ref(x, (const cnn_node *const *)nodes, in_id(n, 0), a, sizeof a);
    ref(x, (const cnn_node *const *)nodes, id, y, sizeof y);
#define BODY(...) (*blen += (size_t)snprintf(body + *blen, bsz > *blen ? bsz - *blen : 0, __VA_ARGS__))
    BODY("    /* %s: %s %s */\n", cnn_node_name(n), op(n), cnn_node_shape_str(n));
    cnn_node_quant q = cnn_node_quant_info(n);
    cnn_conv_desc cd;
    if (G->int8 && q.int8 && cnn_node_conv(n, &cd)) { /* int8 conv2d, conv3d, linear */
        const cnn_conv_desc *c = &cd;
        size_t K = (size_t)(c->c_in / c->groups) * c->k[0] * c->k[1] * c->k[2], W = K * (size_t)c->c_out;
        out(G, "static const signed char qw%d[%zu] = {", id, W);
        for (size_t i = 0; i < W; i++) out(G, "%s%d", i % 16 ? ", " : (i ? ",\n    " : "\n    "), q.weight[i]);
        out(G, "\n};\n");
        G->weight_bytes += W;
        /* the folded multiplier and bias of the library's eval forward with fusion */
        float *mb = cnn_malloc((size_t)c->c_out * 2 * sizeof *mb);
        if (!mb) return cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
        cnn_int8_output io;
        cnn_status st = cnn_node_int8_output(n, G->last, mb, mb + c->c_out, &io);
        snprintf(nm, sizeof nm, "qm%d", id);
        if (st == CNN_OK) st = emit_array(G, n, nm, mb, (size_t)c->c_out);
        snprintf(nm, sizeof nm, "qb%d", id);
        if (st == CNN_OK) st = emit_array(G, n, nm, mb + c->c_out, (size_t)c->c_out);
        cnn_free(mb);
        CNN_CHECK(st);
        out(G, "static const int g%d[21] = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, "
               "%d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n",
            id, c->c_in, c->in[0], c->in[1], c->in[2], c->c_out, c->out[0], c->out[1], c->out[2], c->k[0],
            c->k[1], c->k[2], c->s[0], c->s[1], c->s[2], c->p[0], c->p[1], c->p[2], c->d[0], c->d[1], c->d[2],
            c->groups);
        char fs[40], xs[160], lh[40];
        int xi = in_id(n, 0);
        if (xi >= 0 && G->qdirect[xi]) /* the producer stored our integers */
            snprintf(xs, sizeof xs, "(const signed char *)(%s)", a);
        else
            snprintf(xs, sizeof xs, "q8x(%s, %s, %zu)", a, flit(q.input_scale, fs, sizeof fs),
                     per_ex(cnn_node_input(n, 0)));
        snprintf(lh, sizeof lh, "0");
        if (io.direct) {
            out(G, "static const float qr%d[2] = {%.1f, %.1f};\n", id, (double)io.lo, (double)io.hi);
            snprintf(lh, sizeof lh, "qr%d", id);
        }
        BODY("    qconv(%s, qw%d, qm%d, qb%d, %s, g%d, %s);\n", xs, id, id, id, y, id, lh);
        size_t xb = per_ex(cnn_node_input(n, 0));
        if (xb > G->qx_bytes) G->qx_bytes = xb;
        G->helpers |= H_QCONV;
    } else if (cnn_node_conv(n, &cd)) { /* conv2d, conv3d, linear */
        cnn_conv_desc c = cd;
        snprintf(nm, sizeof nm, "w%d", id);
        CNN_CHECK(emit_array(G, n, nm, cnn_node_param_at(n, 0)->value.data, cnn_tensor_numel(&cnn_node_param_at(n, 0)->value)));
        bool bias = cnn_node_num_params(n) > 1;
        if (bias) {
            snprintf(nm, sizeof nm, "b%d", id);
            CNN_CHECK(emit_array(G, n, nm, cnn_node_param_at(n, 1)->value.data, (size_t)c.c_out));
        }
        out(G->c ? G : G, "static const int g%d[21] = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, "
                          "%d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n",
            id, c.c_in, c.in[0], c.in[1], c.in[2], c.c_out, c.out[0], c.out[1], c.out[2], c.k[0],
            c.k[1], c.k[2], c.s[0], c.s[1], c.s[2], c.p[0], c.p[1], c.p[2], c.d[0], c.d[1], c.d[2],
            c.groups);
        if (bias) BODY("    conv(%s, w%d, b%d, %s, g%d);\n", a, id, id, y, id);
        else BODY("    conv(%s, w%d, 0, %s, g%d);\n", a, id, y, id);
        G->helpers |= H_CONV;
    } else if (is(n, "batchnorm2d") || is(n, "batchnorm3d")) {
        int C = dim(n, 1);
        float *sc = cnn_malloc((size_t)C * 2 * sizeof *sc);
        if (!sc) return cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
        cnn_node_eval_affine(n, sc, sc + C);
        snprintf(nm, sizeof nm, "s%d", id);
        cnn_status s = emit_array(G, n, nm, sc, (size_t)C);
        snprintf(nm, sizeof nm, "t%d", id);
        if (s == CNN_OK) s = emit_array(G, n, nm, sc + C, (size_t)C);
        cnn_free(sc);
        CNN_CHECK(s);
        BODY("    affine(%s, s%d, t%d, %s, %d, %zu);\n", a, id, id, y, C, per_ex(n) / (size_t)C);
        G->helpers |= H_AFFINE;
    } else if (is(n, "activation")) {
        float al = attr(n, &d, "alpha")->f[0], be = attr(n, &d, "beta")->f[0];
        int act = (int)attr(n, &d, "act")->i[0];
        if (!isfinite(al) || !isfinite(be))
            return cnn_node_error(n, CNN_ERR_UNSUPPORTED, "non-finite activation parameters");
        char fa[40], fb[40];
        BODY("    act(%d, %s, %s, %s, %s, %zu);\n", act, flit(al, fa, sizeof fa),
             flit(be, fb, sizeof fb), a, y, per_ex(n));
        G->helpers |= H_ACT;
        G->acts |= 1u << (unsigned)act;
    } else if (is(n, "maxpool2d") || is(n, "avgpool2d")) {
        const cnn_desc_attr *k = attr(n, &d, "kernel");
        int kk[2] = {k->i[0], k->i[1]}, s[2], p[2], dl[2] = {1, 1}, ex = 0;
        const cnn_desc_attr *t = attr(n, &d, "stride");
        s[0] = (int)t->i[0], s[1] = (int)t->i[1];
        t = attr(n, &d, "padding");
        p[0] = (int)t->i[0], p[1] = (int)t->i[1];
        if ((t = attr(n, &d, "dilation"))) dl[0] = (int)t->i[0], dl[1] = (int)t->i[1];
        if ((t = attr(n, &d, "exclude_pad"))) ex = (int)t->i[0];
        const cnn_node *in = cnn_node_input(n, 0);
        bool mx = is(n, "maxpool2d");
        if (mx)
            out(G, "static const int g%d[13] = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n", id,
                dim(in, 1), dim(in, 2), dim(in, 3), dim(n, 2), dim(n, 3), kk[0], kk[1], s[0], s[1], p[0],
                p[1], dl[0], dl[1]);
        else
            out(G, "static const int g%d[12] = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n", id,
                dim(in, 1), dim(in, 2), dim(in, 3), dim(n, 2), dim(n, 3), kk[0], kk[1], s[0], s[1], p[0],
                p[1], ex);
        BODY("    %s(%s, %s, g%d);\n", mx ? "maxpool" : "avgpool", a, y, id);
        G->helpers |= mx ? H_MAXPOOL : H_AVGPOOL;
    } else if (is(n, "global_avgpool")) {
        int C = dim(n, 1);
        BODY("    global_avg(%s, %s, %d, %zu);\n", a, y, C, per_ex(cnn_node_input(n, 0)) / (size_t)C);
        G->helpers |= H_GLOBAL;
    } else if (is(n, "adaptive_avgpool2d")) {
        const cnn_node *in = cnn_node_input(n, 0);
        out(G, "static const int g%d[5] = {%d, %d, %d, %d, %d};\n", id, dim(in, 1), dim(in, 2),
            dim(in, 3), dim(n, 2), dim(n, 3));
        BODY("    adaptive(%s, %s, g%d);\n", a, y, id);
        G->helpers |= H_ADAPTIVE;
    } else if (is(n, "add")) {
        ref(x, (const cnn_node *const *)nodes, in_id(n, 1), b, sizeof b);
        BODY("    add(%s, %s, %s, %zu);\n", a, b, y, per_ex(n));
        G->helpers |= H_ADD;
    } else if (is(n, "concat")) {
        size_t off = 0;
        for (int i = 0; i < cnn_node_num_inputs(n); i++) {
            ref(x, (const cnn_node *const *)nodes, in_id(n, i), b, sizeof b);
            BODY("    copy(%s, %s + %zu, %zu);\n", b, y, off, per_ex(cnn_node_input(n, i)));
            off += per_ex(cnn_node_input(n, i));
        }
        G->helpers |= H_COPY;
    } else if (is(n, "channel_shuffle")) {
        const cnn_desc_attr *t = attr(n, &d, "groups");
        int C = dim(n, 1);
        BODY("    shuffle(%s, %s, %d, %d, %zu);\n", a, y, C, (int)t->i[0], per_ex(n) / (size_t)C);
        G->helpers |= H_SHUFFLE;
    } else if (is(n, "channel_slice")) {
        const cnn_desc_attr *t = attr(n, &d, "start");
        size_t S = per_ex(n) / (size_t)dim(n, 1);
        BODY("    copy(%s + %zu, %s, %zu);\n", a, (size_t)t->i[0] * S, y, per_ex(n));
        G->helpers |= H_COPY;
    } else if (is(n, "mul_channel")) {
        ref(x, (const cnn_node *const *)nodes, in_id(n, 1), b, sizeof b);
        int C = dim(n, 1);
        BODY("    mulch(%s, %s, %s, %d, %zu);\n", a, b, y, C, per_ex(n) / (size_t)C);
        G->helpers |= H_MULCH;
    } else {
        CNN_CHECK(gen_general(G, n, x, nodes, a, y, body, bsz, blen));
    }
#undef BODY
    return CNN_OK;
}

static cnn_status finish(FILE *f, const char *tmp, const char *path, bool failed)
{
    bool ok = !failed && fflush(f) == 0 && ferror(f) == 0;
    if (fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) == 0) return CNN_OK;
    remove(tmp);
    return cnn_set_error(CNN_ERR_IO, "export: cannot write '%s': %s", path, strerror(errno));
}

cnn_status cnn_export_c(cnn_graph *g, cnn_node *input, cnn_node *output, const char *dir,
                        const char *name, bool int8, cnn_c_export_info *info)
{
    if (!g || !input || !output || !dir || !name)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "export: NULL argument");
    if (!cnn_graph_compiled(g)) CNN_CHECK(cnn_graph_compile(g, 0));
    if (!*name || !(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "export: name '%s' is not a C identifier", name);
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return cnn_set_error(CNN_ERR_INVALID_ARG, "export: name '%s' is not a C identifier", name);
    if (cnn_node_num_inputs(input) != 0 || cnn_node_index(output) < cnn_node_index(input))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "export: '%s' is not an input before '%s'",
                             cnn_node_name(input), cnn_node_name(output));
    int last = cnn_node_index(output);
    for (int i = 0; i <= last; i++) {
        cnn_node *n = cnn_graph_node(g, i);
        if (cnn_node_num_inputs(n) == 0) {
            if (n != input && cnn_node_batched(n) && i < last) {
                /* a second input (labels...) is fine only if nothing up to output uses it */
                for (int j = i + 1; j <= last; j++)
                    for (int k = 0; k < cnn_node_num_inputs(cnn_graph_node(g, j)); k++)
                        if (cnn_node_input(cnn_graph_node(g, j), k) == n)
                            return cnn_node_error(cnn_graph_node(g, j), CNN_ERR_UNSUPPORTED,
                                                  "export: uses a second input '%s'", cnn_node_name(n));
            }
            continue;
        }
        CNN_CHECK(check_node(n));
    }
    xnode *x = cnn_calloc((size_t)last + 1, sizeof *x);
    size_t bsz = (size_t)(last + 1) * 512 + 4096, blen = 0;
    char *body = cnn_malloc(bsz);
    cnn_node **nodes = cnn_malloc(((size_t)last + 1) * sizeof *nodes); /* by index */
    if (!x || !body || !nodes) {
        cnn_free(x), cnn_free(body), cnn_free(nodes);
        return cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
    }
    for (int i = 0; i <= last; i++) nodes[i] = cnn_graph_node(g, i);
    /* int8: the batch norms (and with an int8 store the activations) an int8 layer's
       multiply-add computes alias its value; values stored as int8 */
    bool *folded = cnn_calloc((size_t)last + 1, 2 * sizeof *folded), *qdirect = folded + last + 1;
    cnn_status qs = folded ? CNN_OK : cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
    for (int i = 0; int8 && qs == CNN_OK && i <= last; i++) {
        cnn_conv_desc cd;
        if (!cnn_node_quant_info(nodes[i]).int8 || !cnn_node_conv(nodes[i], &cd)) continue;
        float *mb = cnn_malloc((size_t)cd.c_out * 2 * sizeof *mb);
        cnn_int8_output io;
        qs = mb ? cnn_node_int8_output(nodes[i], output, mb, mb + cd.c_out, &io)
                : cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
        cnn_free(mb);
        if (qs != CNN_OK) break;
        qdirect[i] = io.direct;
        for (int j = 0; j < io.n_folded; j++) {
            int f = cnn_node_index(io.folded[j]);
            if (f > last) continue;
            folded[f] = true;
            qdirect[f] = io.direct;
        }
    }
    if (qs != CNN_OK) {
        cnn_free(x), cnn_free(body), cnn_free(nodes), cnn_free(folded);
        return qs;
    }
    size_t arena = plan(nodes, input, last, folded, x);
    char hpath[4096], cpath[4096], htmp[4200], ctmp[4200];
    snprintf(hpath, sizeof hpath, "%s/%s.h", dir, name);
    snprintf(cpath, sizeof cpath, "%s/%s.c", dir, name);
    snprintf(htmp, sizeof htmp, "%s.tmp.%ld", hpath, (long)getpid());
    snprintf(ctmp, sizeof ctmp, "%s.tmp.%ld", cpath, (long)getpid());
    /* weights and geometry go straight to a temporary file; the run body is collected
       in memory and helpers are emitted once known */
    char wtmp[4200];
    snprintf(wtmp, sizeof wtmp, "%s/%s.weights.tmp.%ld", dir, name, (long)getpid());
    if (int8 && !cnn_graph_num_int8(g)) {
        cnn_free(x), cnn_free(body), cnn_free(nodes), cnn_free(folded);
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "export: --int8 needs a quantized model (cnn quantize); this one is float");
    }
    gen G = {.int8 = int8, .last = output, .qdirect = qdirect};
    G.c = fopen(wtmp, "w+");
    cnn_status s = CNN_OK;
    if (!G.c) s = cnn_set_error(CNN_ERR_IO, "export: cannot create '%s': %s", wtmp, strerror(errno));
    for (int i = 0; s == CNN_OK && i <= last; i++) {
        cnn_node *n = nodes[i];
        if (x[i].k == K_SKIP || x[i].k == K_INPUT || x[i].k == K_ALIAS) continue;
        if (x[i].k == K_CONST) { /* a constant or parameter node something reads */
            if (x[i].last <= i) continue;
            char nm[32];
            snprintf(nm, sizeof nm, "k%d", i);
            if (is(n, "parameter")) {
                s = emit_array(&G, n, nm, cnn_node_param_at(n, 0)->value.data, cnn_tensor_numel(&cnn_node_param_at(n, 0)->value));
            } else {
                float *v = cnn_malloc(per_ex(n) * sizeof *v);
                s = v ? cnn_node_data(n, v) : cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
                if (s == CNN_OK) s = emit_array(&G, n, nm, v, per_ex(n));
                cnn_free(v);
            }
            continue;
        }
        if (blen + 1024 > bsz) {
            char *nb = cnn_realloc(body, bsz * 2);
            if (!nb) {
                s = cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
                break;
            }
            body = nb, bsz *= 2;
        }
        s = gen_node(&G, n, x, nodes, body, bsz, &blen);
    }
    size_t in_n = per_ex(input), out_n = per_ex(output);
    if (s == CNN_OK) {
        FILE *h = fopen(htmp, "w");
        if (!h) {
            s = cnn_set_error(CNN_ERR_IO, "export: cannot create '%s': %s", htmp, strerror(errno));
        } else {
            bool bad = fprintf(h,
                               "/* %s: generated by cnn.c's C exporter. Batch 1, eval mode, NC(D)HW\n"
                               "   float input, logits out. No allocation, no threads. */\n"
                               "#ifndef %s_H\n#define %s_H\n\n"
                               "#define %s_INPUT_SIZE %zu\n#define %s_OUTPUT_SIZE %zu\n"
                               "#define %s_ARENA_BYTES %zu\n#define %s_WEIGHT_BYTES %zu\n\n"
                               "/* input: %s_INPUT_SIZE floats, output: %s_OUTPUT_SIZE floats; returns 0 */\n"
                               "int %s_run(const float *input, float *output);\n\n#endif\n",
                               name, name, name, name, in_n, name, out_n, name,
                               arena * sizeof(float), name, G.weight_bytes, name, name, name) < 0;
            s = finish(h, htmp, hpath, bad);
        }
    }
    if (s == CNN_OK) {
        FILE *c = fopen(ctmp, "w");
        if (!c) {
            s = cnn_set_error(CNN_ERR_IO, "export: cannot create '%s': %s", ctmp, strerror(errno));
        } else {
            gen H = {.c = c, .helpers = G.helpers, .acts = G.acts, .qx_bytes = G.qx_bytes};
            out(&H, "/* %s: generated by cnn.c's C exporter from %d graph nodes. C99%s. */\n", name,
                last + 1, int8 ? ", int8 conv/linear layers" : "");
            if ((G.acts & (1u << CNN_ACT_SIGMOID | 1u << CNN_ACT_TANH | 1u << CNN_ACT_ELU)) ||
                (G.helpers & H_MATH) || G.math)
                out(&H, "#include <math.h>\n");
            out(&H, "\n#include \"%s.h\"\n\n", name);
            emit_helpers(&H);
            /* the weights */
            rewind(G.c);
            char buf[65536];
            size_t k;
            while ((k = fread(buf, 1, sizeof buf, G.c)) > 0)
                if (fwrite(buf, 1, k, c) != k) H.failed = true;
            out(&H, "\nstatic float arena[%zu];\n\n", arena ? arena : 1);
            out(&H, "int %s_run(const float *input, float *output)\n{\n", name);
            fwrite(body, 1, blen, c);
            char o[64];
            ref(x, (const cnn_node *const *)nodes, last, o, sizeof o);
            out(&H, "    {\n        const float *r = %s;\n        long i;\n"
                    "        for (i = 0; i < %zu; i++) output[i] = r[i];\n    }\n    return 0;\n}\n",
                o, out_n);
            s = finish(c, ctmp, cpath, H.failed);
            if (s != CNN_OK) remove(hpath);
        }
    }
    if (G.c) fclose(G.c);
    remove(wtmp);
    if (s == CNN_OK && info) {
        info->weight_bytes = G.weight_bytes;
        info->arena_bytes = (arena ? arena : 1) * sizeof(float) + G.qx_bytes;
        info->nodes = last + 1;
    }
    cnn_free(x);
    cnn_free(body);
    cnn_free(nodes);
    cnn_free(folded);
    return s;
}

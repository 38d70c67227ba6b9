/* A graph as one dependency-free C file (DESIGN "export/"; docs/architecture.md,
   "C export"): NAME.h / NAME.c with the weights as const arrays, one static arena
   planned here (values live from their producer to their last consumer; reshapes and
   dropout alias their input, element-wise ops run in place on a dying input), and
   `int NAME_run(const float *input, float *output)` computing the graph at batch 1 in
   eval mode. The generated code is C99, needs only <math.h> (sigmoid / tanh / elu),
   allocates nothing and starts no thread. Each node is generated from its op's
   describe() attributes (the convolution geometry from its int8_conv hook, batch norm
   as the eval affine of cnn_bn_eval_affine); an op without a generator is
   CNN_ERR_UNSUPPORTED naming the node. Both files are written to temporary names and
   renamed. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../graph/graph_internal.h"

enum {
    H_CONV = 1 << 0, H_AFFINE = 1 << 1, H_ACT = 1 << 2, H_MAXPOOL = 1 << 3, H_AVGPOOL = 1 << 4,
    H_ADAPTIVE = 1 << 5, H_ADD = 1 << 6, H_COPY = 1 << 7, H_SHUFFLE = 1 << 8, H_MULCH = 1 << 9,
    H_QCONV = 1 << 10, H_GLOBAL = 1 << 11,
};

typedef enum { K_SKIP, K_INPUT, K_ALIAS, K_INPLACE, K_OWN } kind;

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

static const char *op(const cnn_node *n) { return n->op->name; }
static bool is(const cnn_node *n, const char *name) { return strcmp(n->op->name, name) == 0; }

static const cnn_desc_attr *attr(const cnn_node *n, cnn_op_desc *d, const char *key)
{
    memset(d, 0, sizeof *d);
    if (n->op->describe) n->op->describe(n, d);
    for (int i = 0; i < d->n_attrs; i++)
        if (strcmp(d->attrs[i].key, key) == 0) return &d->attrs[i];
    return NULL;
}

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
               "   acc = b + sum xq * w exactly; y = (float)acc * m[o] */\n"
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
               "/* p as conv(); s: input scale */\n"
               "static void qconv(const float *x, float s, const signed char *w, const long *b, const float *m,\n"
               "                  float *y, const int *p)\n"
               "{\n"
               "    int ci = p[0], id = p[1], ih = p[2], iw = p[3], co = p[4], od = p[5], oh = p[6], ow = p[7];\n"
               "    int g = p[20], cg = ci / g, og = co / g, o, z, r, c, k, a, q, e;\n"
               "    long i, n = (long)ci * id * ih * iw;\n"
               "    for (i = 0; i < n; i++) qx[i] = q8(x[i], s);\n"
               "    for (o = 0; o < co; o++)\n"
               "        for (z = 0; z < od; z++)\n"
               "            for (r = 0; r < oh; r++)\n"
               "                for (c = 0; c < ow; c++) {\n"
               "                    long acc = b ? b[o] : 0;\n"
               "                    for (k = 0; k < cg; k++) {\n"
               "                        const signed char *xc = qx + (long)((o / og) * cg + k) * id * ih * iw;\n"
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
               "                    y[(((long)o * od + z) * oh + r) * ow + c] = (float)acc * m[o];\n"
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
static int dim(const cnn_node *n, int i) { return n->out.dims[i]; }

/* "arena + off" or "input" for node id v */
static const char *ref(const xnode *x, const cnn_node *const *nodes, int v, char *buf, size_t size)
{
    (void)nodes;
    int r = x[v].root;
    if (r < 0) snprintf(buf, size, "input");
    else snprintf(buf, size, "arena + %zu", x[r].off);
    return buf;
}

static cnn_status check_node(const cnn_node *n)
{
    static const char *ok[] = {"conv2d", "conv3d", "linear", "batchnorm2d", "batchnorm3d",
                               "activation", "maxpool2d", "avgpool2d", "adaptive_avgpool2d",
                               "global_avgpool", "reshape", "dropout", "add", "concat",
                               "channel_shuffle", "channel_slice", "mul_channel"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (is(n, ok[i])) {
            if ((is(n, "maxpool2d") || is(n, "avgpool2d") || is(n, "adaptive_avgpool2d") ||
                 is(n, "global_avgpool")) && n->out.ndim != 4)
                break;
            return CNN_OK;
        }
    return cnn_node_error(n, CNN_ERR_UNSUPPORTED,
                          "the C exporter has no generator for op '%s' (supported: conv2d/3d, "
                          "linear, batch norm, activations, max/avg/adaptive pooling, add, "
                          "concat, reshape, dropout, channel shuffle/slice, mul_channel)",
                          op(n));
}

/* Plans the arena: roots, aliases, in-place ops, first-fit offsets; returns floats. */
static size_t plan(cnn_graph *g, const cnn_node *input, int last_id, xnode *x)
{
    cnn_node **nodes = g->nodes;
    for (int i = 0; i <= last_id; i++) {
        cnn_node *n = nodes[i];
        x[i].numel = per_ex(n);
        x[i].last = i;
        if (n == input) x[i].k = K_INPUT, x[i].root = -1;
        else if (n->n_in == 0) x[i].k = K_SKIP, x[i].root = i;
        else if (is(n, "reshape") || is(n, "dropout")) x[i].k = K_ALIAS, x[i].root = x[n->in[0]->id].root;
        else x[i].k = K_OWN, x[i].root = i;
    }
    /* last uses by root, through aliases */
    for (int i = 0; i <= last_id; i++)
        for (int j = 0; j < nodes[i]->n_in; j++) {
            int r = x[nodes[i]->in[j]->id].root;
            if (r >= 0 && x[r].last < i) x[r].last = i;
        }
    x[last_id].last = last_id + 1;
    if (x[last_id].root >= 0) x[x[last_id].root].last = last_id + 1;
    /* element-wise ops on a value whose last use they are: in place */
    for (int i = 0; i <= last_id; i++) {
        cnn_node *n = nodes[i];
        if (x[i].k != K_OWN || !(is(n, "batchnorm2d") || is(n, "batchnorm3d") || is(n, "activation") || is(n, "add")))
            continue;
        int r = x[n->in[0]->id].root;
        if (r < 0 || x[r].last != i) continue;
        if (is(n, "add") && x[n->in[1]->id].root == r) continue;
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

static cnn_status gen_node(gen *G, cnn_node *n, const xnode *x, cnn_node **nodes, char *body, size_t bsz,
                           size_t *blen)
{
    char a[64], b[64], y[64], nm[32];
    cnn_op_desc d;
    int id = n->id;
    ref(x, (const cnn_node *const *)nodes, n->in[0]->id, a, sizeof a);
    ref(x, (const cnn_node *const *)nodes, id, y, sizeof y);
#define BODY(...) (*blen += (size_t)snprintf(body + *blen, bsz > *blen ? bsz - *blen : 0, __VA_ARGS__))
    BODY("    /* %s: %s %s */\n", n->name, op(n), cnn_node_shape_str(n));
    if (n->op->int8_conv && G->int8 && n->q) { /* int8 conv2d, conv3d, linear */
        const cnn_qnode *q = n->q;
        const cnn_conv_desc *c = &q->desc;
        size_t K = (size_t)(c->c_in / c->groups) * c->k[0] * c->k[1] * c->k[2], W = K * (size_t)c->c_out;
        out(G, "static const signed char qw%d[%zu] = {", id, W);
        for (size_t i = 0; i < W; i++) out(G, "%s%d", i % 16 ? ", " : (i ? ",\n    " : "\n    "), q->w[i]);
        out(G, "\n};\n");
        G->weight_bytes += W;
        if (q->b) {
            out(G, "static const long qb%d[%d] = {", id, c->c_out);
            for (int i = 0; i < c->c_out; i++) out(G, "%s%ldL", i % 8 ? ", " : (i ? ",\n    " : "\n    "), (long)q->b[i]);
            out(G, "\n};\n");
            G->weight_bytes += 4 * (size_t)c->c_out;
        }
        snprintf(nm, sizeof nm, "qm%d", id);
        CNN_CHECK(emit_array(G, n, nm, q->m, (size_t)c->c_out));
        out(G, "static const int g%d[21] = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, "
               "%d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n",
            id, c->c_in, c->in[0], c->in[1], c->in[2], c->c_out, c->out[0], c->out[1], c->out[2], c->k[0],
            c->k[1], c->k[2], c->s[0], c->s[1], c->s[2], c->p[0], c->p[1], c->p[2], c->d[0], c->d[1], c->d[2],
            c->groups);
        char fs[40];
        if (q->b) BODY("    qconv(%s, %s, qw%d, qb%d, qm%d, %s, g%d);\n", a, flit(q->in_scale, fs, sizeof fs), id, id, id, y, id);
        else BODY("    qconv(%s, %s, qw%d, 0, qm%d, %s, g%d);\n", a, flit(q->in_scale, fs, sizeof fs), id, id, y, id);
        size_t xb = per_ex(n->in[0]);
        if (xb > G->qx_bytes) G->qx_bytes = xb;
        G->helpers |= H_QCONV;
    } else if (n->op->int8_conv) { /* conv2d, conv3d, linear */
        cnn_conv_desc c;
        n->op->int8_conv(n, &c);
        snprintf(nm, sizeof nm, "w%d", id);
        CNN_CHECK(emit_array(G, n, nm, n->params[0]->value.data, cnn_tensor_numel(&n->params[0]->value)));
        bool bias = n->n_params > 1;
        if (bias) {
            snprintf(nm, sizeof nm, "b%d", id);
            CNN_CHECK(emit_array(G, n, nm, n->params[1]->value.data, (size_t)c.c_out));
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
        cnn_bn_eval_affine(n, sc, sc + C);
        snprintf(nm, sizeof nm, "s%d", id);
        cnn_status s = emit_array(G, n, nm, sc, (size_t)C);
        snprintf(nm, sizeof nm, "t%d", id);
        if (s == CNN_OK) s = emit_array(G, n, nm, sc + C, (size_t)C);
        cnn_free(sc);
        CNN_CHECK(s);
        BODY("    affine(%s, s%d, t%d, %s, %d, %zu);\n", a, id, id, y, C, per_ex(n) / (size_t)C);
        G->helpers |= H_AFFINE;
    } else if (is(n, "activation")) {
        float al = 0.0f, be = 0.0f;
        cnn_activation_params(n, &al, &be);
        if (!isfinite(al) || !isfinite(be))
            return cnn_node_error(n, CNN_ERR_UNSUPPORTED, "non-finite activation parameters");
        char fa[40], fb[40];
        BODY("    act(%d, %s, %s, %s, %s, %zu);\n", (int)cnn_activation_kind(n), flit(al, fa, sizeof fa),
             flit(be, fb, sizeof fb), a, y, per_ex(n));
        G->helpers |= H_ACT;
        G->acts |= 1u << (unsigned)cnn_activation_kind(n);
    } else if (is(n, "maxpool2d") || is(n, "avgpool2d")) {
        const cnn_desc_attr *k = attr(n, &d, "kernel");
        int kk[2] = {k->i[0], k->i[1]}, s[2], p[2], dl[2] = {1, 1}, ex = 0;
        const cnn_desc_attr *t = attr(n, &d, "stride");
        s[0] = (int)t->i[0], s[1] = (int)t->i[1];
        t = attr(n, &d, "padding");
        p[0] = (int)t->i[0], p[1] = (int)t->i[1];
        if ((t = attr(n, &d, "dilation"))) dl[0] = (int)t->i[0], dl[1] = (int)t->i[1];
        if ((t = attr(n, &d, "exclude_pad"))) ex = (int)t->i[0];
        const cnn_node *in = n->in[0];
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
        BODY("    global_avg(%s, %s, %d, %zu);\n", a, y, C, per_ex(n->in[0]) / (size_t)C);
        G->helpers |= H_GLOBAL;
    } else if (is(n, "adaptive_avgpool2d")) {
        const cnn_node *in = n->in[0];
        out(G, "static const int g%d[5] = {%d, %d, %d, %d, %d};\n", id, dim(in, 1), dim(in, 2),
            dim(in, 3), dim(n, 2), dim(n, 3));
        BODY("    adaptive(%s, %s, g%d);\n", a, y, id);
        G->helpers |= H_ADAPTIVE;
    } else if (is(n, "add")) {
        ref(x, (const cnn_node *const *)nodes, n->in[1]->id, b, sizeof b);
        BODY("    add(%s, %s, %s, %zu);\n", a, b, y, per_ex(n));
        G->helpers |= H_ADD;
    } else if (is(n, "concat")) {
        size_t off = 0;
        for (int i = 0; i < n->n_in; i++) {
            ref(x, (const cnn_node *const *)nodes, n->in[i]->id, b, sizeof b);
            BODY("    copy(%s, %s + %zu, %zu);\n", b, y, off, per_ex(n->in[i]));
            off += per_ex(n->in[i]);
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
        ref(x, (const cnn_node *const *)nodes, n->in[1]->id, b, sizeof b);
        int C = dim(n, 1);
        BODY("    mulch(%s, %s, %s, %d, %zu);\n", a, b, y, C, per_ex(n) / (size_t)C);
        G->helpers |= H_MULCH;
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
    if (!g->compiled) CNN_CHECK(cnn_graph_compile(g, 0));
    if (!*name || !(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "export: name '%s' is not a C identifier", name);
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return cnn_set_error(CNN_ERR_INVALID_ARG, "export: name '%s' is not a C identifier", name);
    if (input->n_in != 0 || output->id < input->id)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "export: '%s' is not an input before '%s'",
                             input->name, output->name);
    int last = output->id;
    for (int i = 0; i <= last; i++) {
        cnn_node *n = g->nodes[i];
        if (n->n_in == 0) {
            if (n != input && n->batched && i < last) {
                /* a second input (labels...) is fine only if nothing up to output uses it */
                for (int j = i + 1; j <= last; j++)
                    for (int k = 0; k < g->nodes[j]->n_in; k++)
                        if (g->nodes[j]->in[k] == n)
                            return cnn_node_error(g->nodes[j], CNN_ERR_UNSUPPORTED,
                                                  "export: uses a second input '%s'", n->name);
            }
            continue;
        }
        CNN_CHECK(check_node(n));
    }
    xnode *x = cnn_calloc((size_t)last + 1, sizeof *x);
    size_t bsz = (size_t)(last + 1) * 512 + 4096, blen = 0;
    char *body = cnn_malloc(bsz);
    if (!x || !body) {
        cnn_free(x), cnn_free(body);
        return cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
    }
    size_t arena = plan(g, input, last, x);
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
        cnn_free(x), cnn_free(body);
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "export: --int8 needs a quantized model (cnn quantize); this one is float");
    }
    gen G = {.int8 = int8};
    G.c = fopen(wtmp, "w+");
    cnn_status s = CNN_OK;
    if (!G.c) s = cnn_set_error(CNN_ERR_IO, "export: cannot create '%s': %s", wtmp, strerror(errno));
    for (int i = 0; s == CNN_OK && i <= last; i++) {
        cnn_node *n = g->nodes[i];
        if (x[i].k == K_SKIP || x[i].k == K_INPUT || x[i].k == K_ALIAS) continue;
        if (blen + 1024 > bsz) {
            char *nb = cnn_realloc(body, bsz * 2);
            if (!nb) {
                s = cnn_set_error(CNN_ERR_NOMEM, "export: out of memory");
                break;
            }
            body = nb, bsz *= 2;
        }
        s = gen_node(&G, n, x, g->nodes, body, bsz, &blen);
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
            if (G.acts & (1u << CNN_ACT_SIGMOID | 1u << CNN_ACT_TANH | 1u << CNN_ACT_ELU))
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
            ref(x, (const cnn_node *const *)g->nodes, last, o, sizeof o);
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
    return s;
}

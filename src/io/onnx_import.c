/* ONNX ModelProto -> cnn.c graph, through the public builder API.
 *
 * See docs/architecture.md, "ONNX import". The nodes are visited in topological order
 * (sorted here: files need not be; a cycle is an error). Every ONNX value is either a
 * graph node (batched values: dimension 0 is the batch) or a constant (initializers,
 * Constant nodes and everything computed from constants only: the int64 shape
 * subgraphs torch emits around Reshape are folded here, evaluated with the batch the
 * graph is built for). Operators map to the zoo's own layers wherever the pattern
 * fits (so fusion and the fast kernels apply), and initializers a layer consumes
 * become its parameters, renamed to their ONNX names and started from the file's
 * values (cnn_graph_set_initial). Nodes take their ONNX node names (or their first
 * output's name); helper nodes an operator needs are named "<node>/<what>". */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "onnx_internal.h"

/* ---------------------------------------------------------------- values */
typedef struct ox_val {
    const char *name;
    cnn_node *node;     /* a graph value, or NULL */
    bool is_const;
    cnn_onnx_const c;   /* the constant (owned) */
    const char *init;   /* initializer name when it came from one */
    int producer;       /* index of the producing ONNX node, -1 for inputs/initializers */
    int uses;           /* ONNX node inputs + graph outputs naming it */
    int consumer;       /* the last consumer's node index */
} ox_val;

typedef struct ox_imp {
    cnn_graph *g;
    const char *path;
    Onnx__ModelProto *m;
    const Onnx__GraphProto *gr;
    int64_t opset;
    char dir[4096];
    ox_val *v;
    int nv, cap;
    int *ht;            /* open-addressing hash: value index + 1, 0 empty */
    size_t ht_cap;
    int batch;          /* the batch the graph is built for */
    int file_batch;     /* the first input's fixed batch in the file, 0 if symbolic */
    bool *skip;         /* ONNX nodes computed by an earlier pattern */
    const Onnx__NodeProto *cur;
    int cur_index;
    const char *cur_name;
    cnn_node *named;    /* a pattern's node that takes another ONNX node's name ... */
    const char *named_as;
    int64_t folded;      /* values created by constant folding so far */
    int64_t fold_budget; /* at most this many (docs/limits.md, ONNX) */
} ox_imp;

/* Constant folding creates values the file does not hold (ConstantOfShape, Range,
   Tile of a shape...): a 100-byte file could ask for 2^31 of them. They are bounded by
   2^24 plus the values the file's initializers really hold, so import memory stays
   linear in the input. */
#define OX_FOLD_BASE ((int64_t)1 << 24)

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

static ox_val *find_val(ox_imp *I, const char *name)
{
    if (!name || !I->ht_cap) return NULL;
    for (size_t k = hash_str(name) & (I->ht_cap - 1);; k = (k + 1) & (I->ht_cap - 1)) {
        int e = I->ht[k];
        if (!e) return NULL;
        if (strcmp(I->v[e - 1].name, name) == 0) return &I->v[e - 1];
    }
}

/* Error about the current ONNX node: "<file>: node '<name>' (<Op>, opset N): ...". */
static cnn_status fail(ox_imp *I, cnn_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cnn_status fail(ox_imp *I, cnn_status s, const char *fmt, ...)
{
    char msg[1024];
    CNN_VFORMAT(msg, fmt);
    if (I->cur)
        return cnn_set_error(s, "%s: node '%s' (%s, opset %lld): %s", I->path, I->cur_name,
                             I->cur->op_type ? I->cur->op_type : "?", (long long)I->opset, msg);
    return cnn_set_error(s, "%s: %s", I->path, msg);
}

/* The graph's builder error, as a failure of the current node. */
static cnn_status fail_graph(ox_imp *I)
{
    cnn_status s = cnn_graph_status(I->g);
    return fail(I, s == CNN_OK ? CNN_ERR_STATE : s, "%s", cnn_graph_error(I->g));
}

static cnn_status add_val(ox_imp *I, const char *name, ox_val **out)
{
    if (!name || !*name) return fail(I, CNN_ERR_FORMAT, "a value without a name");
    if (find_val(I, name)) return fail(I, CNN_ERR_FORMAT, "value '%s' is defined twice", name);
    if ((size_t)(I->nv + 1) * 2 > I->ht_cap) {
        size_t cap = I->ht_cap ? I->ht_cap * 2 : 256;
        int *ht = cnn_calloc(cap, sizeof *ht);
        if (!ht) return fail(I, CNN_ERR_NOMEM, "out of memory");
        for (int i = 0; i < I->nv; i++) {
            size_t k = hash_str(I->v[i].name) & (cap - 1);
            while (ht[k]) k = (k + 1) & (cap - 1);
            ht[k] = i + 1;
        }
        cnn_free(I->ht);
        I->ht = ht;
        I->ht_cap = cap;
    }
    if (I->nv == I->cap) {
        int cap = I->cap ? I->cap * 2 : 256;
        ox_val *v = cnn_realloc(I->v, (size_t)cap * sizeof *v);
        if (!v) return fail(I, CNN_ERR_NOMEM, "out of memory");
        I->v = v;
        I->cap = cap;
    }
    ox_val *v = &I->v[I->nv];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->producer = -1;
    v->consumer = -1;
    size_t k = hash_str(name) & (I->ht_cap - 1);
    while (I->ht[k]) k = (k + 1) & (I->ht_cap - 1);
    I->ht[k] = ++I->nv;
    *out = v;
    return CNN_OK;
}

/* ---------------------------------------------------------------- node access */
static const char *in_name(const Onnx__NodeProto *nd, int i)
{
    return i < (int)nd->n_input && nd->input[i] && nd->input[i][0] ? nd->input[i] : NULL;
}

static ox_val *input(ox_imp *I, int i)
{
    return find_val(I, in_name(I->cur, i));
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *nd, const char *name)
{
    for (size_t i = 0; i < nd->n_attribute; i++)
        if (nd->attribute[i]->name && strcmp(nd->attribute[i]->name, name) == 0) return nd->attribute[i];
    return NULL;
}

static int64_t attr_i(const Onnx__NodeProto *nd, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    return a && a->has_i ? a->i : dflt;
}

static float attr_f(const Onnx__NodeProto *nd, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    return a && a->has_f ? a->f : dflt;
}

/* INTS attribute into out (at most max); returns the count, -1 if absent. */
static int attr_ints(const Onnx__NodeProto *nd, const char *name, int64_t *out, int max)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    if (!a) return -1;
    int n = (int)(a->n_ints < (size_t)max ? a->n_ints : (size_t)max);
    for (int i = 0; i < n; i++) out[i] = a->ints[i];
    return (int)a->n_ints > max ? max + 1 : n;
}

static bool attr_s(const Onnx__NodeProto *nd, const char *name, const char *want)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    if (!a || !a->has_s) return strcmp(want, "NOTSET") == 0;
    return a->s.len == strlen(want) && memcmp(a->s.data, want, a->s.len) == 0;
}

/* Shape of a value (graph node: at the built batch). */
static int val_shape(const ox_val *v, int64_t *dims)
{
    if (v->is_const) {
        for (int d = 0; d < v->c.ndim; d++) dims[d] = v->c.dims[d];
        return v->c.ndim;
    }
    cnn_tensor t = cnn_node_value(v->node);
    for (int d = 0; d < t.ndim; d++) dims[d] = t.dims[d];
    return t.ndim;
}

static bool batched(const ox_val *v)
{
    return cnn_node_batched(v->node);
}

/* A constant input as int64 values (converting floats). */
static cnn_status const_ints(ox_imp *I, int i, const char *what, int64_t *out, int max, int *n)
{
    ox_val *v = input(I, i);
    if (!v || !v->is_const)
        return fail(I, CNN_ERR_UNSUPPORTED, "%s (input %d) must be a constant", what, i);
    if (v->c.numel > max) return fail(I, CNN_ERR_UNSUPPORTED, "%s has %lld values (at most %d)", what,
                                      (long long)v->c.numel, max);
    for (int64_t k = 0; k < v->c.numel; k++)
        out[k] = v->c.i ? v->c.i[k] : (int64_t)v->c.f[k];
    *n = (int)v->c.numel;
    return CNN_OK;
}

/* A scalar constant input as float; *present false when the input is omitted. */
static cnn_status const_scalar(ox_imp *I, int i, const char *what, float *out, bool *present)
{
    *present = false;
    if (!in_name(I->cur, i)) return CNN_OK;
    ox_val *v = input(I, i);
    if (!v || !v->is_const || v->c.numel != 1)
        return fail(I, CNN_ERR_UNSUPPORTED, "%s (input %d) must be a constant scalar", what, i);
    *out = v->c.f ? v->c.f[0] : (float)v->c.i[0];
    *present = true;
    return CNN_OK;
}

/* ---------------------------------------------------------------- results */
/* Sets output k of the current node to a graph node. */
static cnn_status set_out_node(ox_imp *I, int k, cnn_node *n)
{
    if (!n) return fail_graph(I);
    if (k >= (int)I->cur->n_output || !I->cur->output[k][0]) return CNN_OK;
    ox_val *v = find_val(I, I->cur->output[k]);
    v->node = n;
    return CNN_OK;
}

static cnn_status set_out_const(ox_imp *I, int k, cnn_onnx_const *c)
{
    if (k >= (int)I->cur->n_output || !I->cur->output[k][0]) {
        cnn_onnx_const_free(c);
        return CNN_OK;
    }
    ox_val *v = find_val(I, I->cur->output[k]);
    v->is_const = true;
    v->c = *c;
    memset(c, 0, sizeof *c);
    return CNN_OK;
}

static cnn_status new_const(ox_imp *I, cnn_onnx_const *c, int ndim, const int64_t *dims, bool is_float)
{
    memset(c, 0, sizeof *c);
    if (ndim > CNN_ONNX_MAX_RANK) return fail(I, CNN_ERR_UNSUPPORTED, "rank %d constant", ndim);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0 || dims[d] > CNN_ONNX_MAX_NUMEL) return fail(I, CNN_ERR_FORMAT, "dimension %lld", (long long)dims[d]);
        c->dims[d] = dims[d];
        n *= dims[d];
        if (n > CNN_ONNX_MAX_NUMEL) return fail(I, CNN_ERR_FORMAT, "constant too large");
    }
    if (n > I->fold_budget - I->folded)
        return fail(I, CNN_ERR_FORMAT,
                    "constant folding would create %lld more values (limit %lld in all for this file)",
                    (long long)n, (long long)I->fold_budget);
    I->folded += n;
    c->ndim = ndim;
    c->numel = n;
    if (is_float) c->f = cnn_calloc((size_t)(n ? n : 1), sizeof *c->f);
    else c->i = cnn_calloc((size_t)(n ? n : 1), sizeof *c->i);
    if (!c->f && !c->i) return fail(I, CNN_ERR_NOMEM, "out of memory");
    return CNN_OK;
}

/* Gives the nodes the current ONNX node created ([first, end)) its name: the node
   holding output 0 is named exactly, helpers "<name>/<op>". Parameter-free nodes
   only: layers with parameters were named at creation. */
static cnn_status name_nodes(ox_imp *I, int first)
{
    ox_val *o = I->cur->n_output ? find_val(I, I->cur->output[0]) : NULL;
    for (int i = first; i < cnn_graph_num_nodes(I->g); i++) {
        cnn_node *n = cnn_graph_node(I->g, i);
        const char *op = cnn_node_op(n);
        if (strcmp(op, "constant") == 0 || strcmp(op, "parameter") == 0) continue;
        char buf[1024];
        if (I->named == n) snprintf(buf, sizeof buf, "%s", I->named_as);
        else if (o && o->node == n) snprintf(buf, sizeof buf, "%s", I->cur_name);
        else snprintf(buf, sizeof buf, "%s/%s", I->cur_name, op);
        size_t len = strlen(buf);
        for (int k = 1; cnn_graph_find(I->g, buf) && cnn_graph_find(I->g, buf) != n; k++)
            snprintf(buf + len, sizeof buf - len, "_%d", k);
        if (cnn_node_set_name(n, buf) != CNN_OK) return fail(I, cnn_error_status(), "%s", cnn_error_message());
    }
    return CNN_OK;
}

/* Renames parameter `index` to the initializer's name (unless that name is taken: a
   tensor shared by two layers) and starts it from data (n values). */
static cnn_status param_from(ox_imp *I, int index, const char *init, const float *data, size_t n)
{
    cnn_param *p = cnn_graph_param(I->g, index);
    if (!p) return fail(I, CNN_ERR_STATE, "parameter %d missing", index);
    if (p->value.ndim >= 0) {
        size_t want = 1;
        for (int d = 0; d < p->value.ndim; d++) want *= (size_t)p->value.dims[d];
        if (want != n)
            return fail(I, CNN_ERR_SHAPE, "initializer '%s' has %zu values, parameter %s needs %zu",
                        init ? init : "?", n, p->name, want);
    }
    if (init && !cnn_graph_find_param(I->g, init)) {
        char *nn = cnn_strdup(init);
        if (!nn) return fail(I, CNN_ERR_NOMEM, "out of memory");
        cnn_free(p->name);
        p->name = nn;
    }
    if (cnn_graph_set_initial(I->g, p->name, data, n) != CNN_OK)
        return fail(I, cnn_graph_status(I->g) ? cnn_graph_status(I->g) : CNN_ERR_STATE, "%s",
                    cnn_error_message());
    return CNN_OK;
}

static const char *init_name(const ox_val *v)
{
    return v->init ? v->init : v->name;
}

/* A float constant's data, or an error naming what it is. */
static cnn_status weight(ox_imp *I, int i, const char *what, ox_val **out)
{
    ox_val *v = input(I, i);
    if (!v || !v->is_const || !v->c.f)
        return fail(I, CNN_ERR_UNSUPPORTED,
                    "%s (input %d '%s') must be a float initializer or constant", what, i,
                    in_name(I->cur, i) ? in_name(I->cur, i) : "");
    *out = v;
    return CNN_OK;
}

/* The data input of a layer: a batched graph value. */
static cnn_status data_in(ox_imp *I, int i, ox_val **out)
{
    ox_val *v = input(I, i);
    if (!v || !v->node)
        return fail(I, CNN_ERR_UNSUPPORTED, "input %d ('%s') must be computed from the graph input",
                    i, in_name(I->cur, i) ? in_name(I->cur, i) : "");
    if (!cnn_node_batched(v->node))
        return fail(I, CNN_ERR_UNSUPPORTED, "input %d ('%s') has no batch dimension", i, v->name);
    *out = v;
    return CNN_OK;
}

/* Any input as a graph node: constants become a trainable parameter under the
   initializer's name (initializers of more than one value) or a fixed constant node;
   made once per value. */
static cnn_status as_node(ox_imp *I, int i, cnn_node **out)
{
    ox_val *v = input(I, i);
    if (!v) return fail(I, CNN_ERR_FORMAT, "input %d is missing", i);
    if (v->node) {
        *out = v->node;
        return CNN_OK;
    }
    if (!v->is_const) return fail(I, CNN_ERR_UNSUPPORTED, "input %d ('%s') has no value", i, v->name);
    if (v->c.ndim > CNN_MAX_DIMS || v->c.numel < 1 || v->c.numel > INT_MAX)
        return fail(I, CNN_ERR_UNSUPPORTED, "constant '%s' of rank %d with %lld values", v->name, v->c.ndim,
                    (long long)v->c.numel);
    int dims[CNN_MAX_DIMS] = {1}, nd = v->c.ndim ? v->c.ndim : 1;
    for (int d = 0; d < v->c.ndim; d++) dims[d] = (int)v->c.dims[d];
    float *tmp = NULL;
    const float *data = v->c.f;
    if (!data) {
        tmp = cnn_malloc((size_t)v->c.numel * sizeof *tmp);
        if (!tmp) return fail(I, CNN_ERR_NOMEM, "out of memory");
        for (int64_t k = 0; k < v->c.numel; k++) tmp[k] = (float)v->c.i[k];
        data = tmp;
    }
    cnn_status s = CNN_OK;
    if (v->init && v->c.f && v->c.numel > 1) {
        int p0 = cnn_graph_num_params(I->g);
        v->node = cnn_parameter(I->g, v->init, nd, dims, true);
        s = v->node ? param_from(I, p0, v->init, data, (size_t)v->c.numel) : fail_graph(I);
    } else {
        v->node = cnn_constant(I->g, v->name, nd, dims, data);
        if (!v->node) s = fail_graph(I);
    }
    cnn_free(tmp);
    *out = v->node;
    return s;
}

/* ONNX axis a (negative counts from the end) as 0..rank-1, or -1 when out of range
   (checked before the conversion to int: 2^32 + 1 must not become axis 1). */
static int norm_axis(int64_t a, int rank)
{
    if (a < -(int64_t)rank || a >= rank) return -1;
    return (int)(a < 0 ? a + rank : a);
}

/* ---------------------------------------------------------------- spatial attributes */
typedef struct ox_window {
    int nd;
    int64_t k[3], s[3], d[3], pb[3], pe[3], op[3];
} ox_window;

/* kernel_shape (or the weight's), strides, dilations, pads or auto_pad for nd
   spatial dims of input dims `in`. */
static cnn_status window(ox_imp *I, int nd, const int64_t *in, const int64_t *kernel, ox_window *w)
{
    memset(w, 0, sizeof *w);
    w->nd = nd;
    int64_t tmp[8];
    int n = attr_ints(I->cur, "kernel_shape", tmp, 8);
    if (n >= 0 && n != nd) return fail(I, CNN_ERR_FORMAT, "kernel_shape has %d values for %d spatial dims", n, nd);
    for (int i = 0; i < nd; i++) w->k[i] = n >= 0 ? tmp[i] : kernel ? kernel[i] : 0;
    if (!kernel && n < 0) return fail(I, CNN_ERR_FORMAT, "no kernel_shape");
    n = attr_ints(I->cur, "strides", tmp, 8);
    if (n >= 0 && n != nd) return fail(I, CNN_ERR_FORMAT, "strides has %d values for %d spatial dims", n, nd);
    for (int i = 0; i < nd; i++) w->s[i] = n >= 0 ? tmp[i] : 1;
    n = attr_ints(I->cur, "dilations", tmp, 8);
    if (n >= 0 && n != nd) return fail(I, CNN_ERR_FORMAT, "dilations has %d values for %d spatial dims", n, nd);
    for (int i = 0; i < nd; i++) w->d[i] = n >= 0 ? tmp[i] : 1;
    n = attr_ints(I->cur, "output_padding", tmp, 8);
    for (int i = 0; i < nd; i++) w->op[i] = n == nd ? tmp[i] : 0;
    for (int i = 0; i < nd; i++)
        if (w->k[i] < 1 || w->s[i] < 1 || w->d[i] < 1 || w->k[i] > INT_MAX / 4 || w->s[i] > INT_MAX / 4 ||
            w->d[i] > INT_MAX / 4)
            return fail(I, CNN_ERR_FORMAT, "kernel %lld, stride %lld, dilation %lld out of range",
                        (long long)w->k[i], (long long)w->s[i], (long long)w->d[i]);
    if (attr_s(I->cur, "auto_pad", "SAME_UPPER") || attr_s(I->cur, "auto_pad", "SAME_LOWER")) {
        bool upper = attr_s(I->cur, "auto_pad", "SAME_UPPER");
        for (int i = 0; i < nd; i++) {
            int64_t o = (in[i] + w->s[i] - 1) / w->s[i];
            int64_t total = (o - 1) * w->s[i] + (w->k[i] - 1) * w->d[i] + 1 - in[i];
            if (total < 0) total = 0;
            w->pb[i] = upper ? total / 2 : total - total / 2;
            w->pe[i] = total - w->pb[i];
        }
    } else if (attr_s(I->cur, "auto_pad", "VALID") || attr_s(I->cur, "auto_pad", "NOTSET")) {
        n = attr_ints(I->cur, "pads", tmp, 8);
        if (n >= 0 && n != 2 * nd) return fail(I, CNN_ERR_FORMAT, "pads has %d values for %d spatial dims", n, nd);
        if (n >= 0 && !attr_s(I->cur, "auto_pad", "VALID"))
            for (int i = 0; i < nd; i++) {
                w->pb[i] = tmp[i];
                w->pe[i] = tmp[nd + i];
            }
    } else {
        return fail(I, CNN_ERR_FORMAT, "unknown auto_pad");
    }
    for (int i = 0; i < nd; i++)
        if (w->pb[i] < 0 || w->pe[i] < 0 || w->pb[i] > INT_MAX / 4 || w->pe[i] > INT_MAX / 4)
            return fail(I, CNN_ERR_FORMAT, "pads out of range");
    return CNN_OK;
}

/* The asymmetric part of a window's pads as an explicit pad node (value fill: 0 before
   a convolution, -inf before a max pool); the window keeps the symmetric part. */
static cnn_status pad_asymmetric(ox_imp *I, cnn_node **x, ox_window *w, float fill)
{
    int rank = w->nd + 2, pads[2 * CNN_MAX_DIMS] = {0};
    bool any = false;
    for (int i = 0; i < w->nd; i++) {
        int64_t m = w->pb[i] < w->pe[i] ? w->pb[i] : w->pe[i];
        pads[2 + i] = (int)(w->pb[i] - m);
        pads[rank + 2 + i] = (int)(w->pe[i] - m);
        any |= w->pb[i] != w->pe[i];
        w->pb[i] = w->pe[i] = m;
    }
    if (!any) return CNN_OK;
    *x = cnn_pad(I->g, *x, pads, CNN_PAD_CONSTANT, fill);
    return *x ? CNN_OK : fail_graph(I);
}

static bool symmetric(const ox_window *w)
{
    for (int i = 0; i < w->nd; i++)
        if (w->pb[i] != w->pe[i]) return false;
    return true;
}

/* ---------------------------------------------------------------- constant folding */
static int64_t cval_i(const cnn_onnx_const *c, int64_t k)
{
    return c->i ? c->i[k] : (int64_t)c->f[k];
}
static double cval_f(const cnn_onnx_const *c, int64_t k)
{
    return c->f ? (double)c->f[k] : (double)c->i[k];
}

/* Broadcast index: the flat index into a (rank ra, dims da) of output position idx. */
static int64_t bcast_index(const cnn_onnx_const *a, int rank, const int64_t *odims, const int64_t *pos)
{
    int64_t k = 0;
    int off = rank - a->ndim;
    for (int d = 0; d < a->ndim; d++) {
        int64_t p = a->dims[d] == 1 ? 0 : pos[off + d];
        k = k * a->dims[d] + p;
    }
    (void)odims;
    return k;
}

/* Element-wise op on constants with NumPy broadcasting; op: + - * / == where(3 inputs). */
static cnn_status fold_elementwise(ox_imp *I, const char *op, int n_in)
{
    cnn_onnx_const *x[3];
    for (int i = 0; i < n_in; i++) x[i] = &input(I, i)->c;
    int rank = 0;
    for (int i = 0; i < n_in; i++) rank = x[i]->ndim > rank ? x[i]->ndim : rank;
    int64_t od[CNN_ONNX_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        od[d] = 1;
        for (int i = 0; i < n_in; i++) {
            int off = rank - x[i]->ndim;
            if (d < off) continue;
            int64_t v = x[i]->dims[d - off];
            if (v != 1 && od[d] != 1 && v != od[d])
                return fail(I, CNN_ERR_SHAPE, "operands do not broadcast");
            if (v != 1) od[d] = v;
        }
    }
    bool is_where = strcmp(op, "Where") == 0, is_eq = strcmp(op, "Equal") == 0;
    bool fl = is_where ? (x[1]->f || x[2]->f) : (!is_eq && (x[0]->f || x[1]->f));
    cnn_onnx_const r;
    CNN_CHECK(new_const(I, &r, rank, od, fl));
    int64_t pos[CNN_ONNX_MAX_RANK] = {0};
    for (int64_t k = 0; k < r.numel; k++) {
        int64_t rem = k;
        for (int d = rank - 1; d >= 0; d--) {
            pos[d] = rem % od[d];
            rem /= od[d];
        }
        int64_t ia = bcast_index(x[0], rank, od, pos), ib = bcast_index(x[1], rank, od, pos);
        if (is_where) {
            int64_t ic = bcast_index(x[2], rank, od, pos);
            bool cond = cval_i(x[0], ia) != 0;
            if (fl) r.f[k] = (float)(cond ? cval_f(x[1], ib) : cval_f(x[2], ic));
            else r.i[k] = cond ? cval_i(x[1], ib) : cval_i(x[2], ic);
        } else if (is_eq) {
            r.i[k] = (x[0]->f || x[1]->f) ? cval_f(x[0], ia) == cval_f(x[1], ib) : cval_i(x[0], ia) == cval_i(x[1], ib);
        } else if (fl) {
            double a = cval_f(x[0], ia), b = cval_f(x[1], ib);
            r.f[k] = (float)(op[0] == 'A' ? a + b : op[0] == 'S' ? a - b : op[0] == 'M' ? a * b : a / b);
        } else {
            int64_t a = cval_i(x[0], ia), b = cval_i(x[1], ib);
            if (op[0] == 'D' && b == 0) {
                cnn_onnx_const_free(&r);
                return fail(I, CNN_ERR_FORMAT, "integer division by zero");
            }
            int64_t v = 0;
            bool over;
            if (op[0] == 'A') over = __builtin_add_overflow(a, b, &v);
            else if (op[0] == 'S') over = __builtin_sub_overflow(a, b, &v);
            else if (op[0] == 'M') over = __builtin_mul_overflow(a, b, &v);
            else if ((over = a == INT64_MIN && b == -1) == false) v = a / b;
            if (over) {
                cnn_onnx_const_free(&r);
                return fail(I, CNN_ERR_FORMAT, "int64 overflow in %s of %lld and %lld", op, (long long)a,
                            (long long)b);
            }
            r.i[k] = v;
        }
    }
    return set_out_const(I, 0, &r);
}

/* Gathers/slices/reshapes constants: the small int64 shape arithmetic of exporters. */
static cnn_status fold(ox_imp *I, const char *op, bool *done)
{
    *done = true;
    const Onnx__NodeProto *nd = I->cur;
    int n_in = (int)nd->n_input;
    cnn_onnx_const r;
    if (strcmp(op, "Constant") == 0) {
        const Onnx__AttributeProto *a = attr(nd, "value");
        if (a && a->t) {
            char what[512];
            snprintf(what, sizeof what, "node '%s' value", I->cur_name);
            CNN_CHECK(cnn_onnx_decode(a->t, I->dir, what, &r));
        } else if ((a = attr(nd, "value_float")) && a->has_f) {
            CNN_CHECK(new_const(I, &r, 0, NULL, true));
            r.f[0] = a->f;
        } else if ((a = attr(nd, "value_int")) && a->has_i) {
            CNN_CHECK(new_const(I, &r, 0, NULL, false));
            r.i[0] = a->i;
        } else if ((a = attr(nd, "value_ints"))) {
            int64_t d = (int64_t)a->n_ints;
            CNN_CHECK(new_const(I, &r, 1, &d, false));
            for (size_t k = 0; k < a->n_ints; k++) r.i[k] = a->ints[k];
        } else if ((a = attr(nd, "value_floats"))) {
            int64_t d = (int64_t)a->n_floats;
            CNN_CHECK(new_const(I, &r, 1, &d, true));
            for (size_t k = 0; k < a->n_floats; k++) r.f[k] = a->floats[k];
        } else {
            return fail(I, CNN_ERR_UNSUPPORTED, "Constant without a tensor, float(s) or int(s) value");
        }
        return set_out_const(I, 0, &r);
    }
    if (strcmp(op, "Shape") == 0) {
        ox_val *x = input(I, 0);
        int64_t dims[CNN_ONNX_MAX_RANK];
        int rank = val_shape(x, dims);
        int64_t start = attr_i(nd, "start", 0), end = attr_i(nd, "end", rank);
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = start < 0 ? 0 : start > rank ? rank : start;
        end = end < start ? start : end > rank ? rank : end;
        int64_t n = end - start;
        CNN_CHECK(new_const(I, &r, 1, &n, false));
        for (int64_t k = 0; k < n; k++) r.i[k] = dims[start + k];
        return set_out_const(I, 0, &r);
    }
    /* the rest need every input constant */
    for (int i = 0; i < n_in; i++)
        if (in_name(nd, i) && !input(I, i)->is_const) {
            *done = false;
            return CNN_OK;
        }
    cnn_onnx_const *x = n_in ? &input(I, 0)->c : NULL;
    if (!x) {
        *done = false;
        return CNN_OK;
    }
    if (strcmp(op, "Identity") == 0 || (strcmp(op, "Cast") == 0)) {
        int64_t to = attr_i(nd, "to", 1);
        bool fl = strcmp(op, "Cast") == 0 ? (to == 1 || to == 10 || to == 11 || to == 16) : x->f != NULL;
        CNN_CHECK(new_const(I, &r, x->ndim, x->dims, fl));
        for (int64_t k = 0; k < x->numel; k++) {
            if (fl) r.f[k] = (float)cval_f(x, k);
            else r.i[k] = to == 9 ? cval_f(x, k) != 0.0 : x->f ? (int64_t)x->f[k] : x->i[k];
        }
        return set_out_const(I, 0, &r);
    }
    if (strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0 || strcmp(op, "Mul") == 0 ||
        strcmp(op, "Div") == 0 || strcmp(op, "Equal") == 0)
        return n_in == 2 ? fold_elementwise(I, op, 2) : fail(I, CNN_ERR_FORMAT, "needs 2 inputs");
    if (strcmp(op, "Where") == 0)
        return n_in == 3 ? fold_elementwise(I, op, 3) : fail(I, CNN_ERR_FORMAT, "needs 3 inputs");
    if (strcmp(op, "Neg") == 0) {
        CNN_CHECK(new_const(I, &r, x->ndim, x->dims, x->f != NULL));
        for (int64_t k = 0; k < x->numel; k++)
            if (x->f) r.f[k] = -x->f[k];
            else r.i[k] = -x->i[k];
        return set_out_const(I, 0, &r);
    }
    if (strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Squeeze") == 0 || strcmp(op, "Reshape") == 0 ||
        strcmp(op, "Flatten") == 0) {
        int64_t dims[CNN_ONNX_MAX_RANK];
        int rank = 0;
        if (op[0] == 'F') {
            int ax = norm_axis(attr_i(nd, "axis", 1), x->ndim);
            int64_t a = 1, b = 1;
            for (int d = 0; d < x->ndim; d++) {
                if (d < ax) a *= x->dims[d];
                else b *= x->dims[d];
            }
            dims[0] = a;
            dims[1] = b;
            rank = 2;
        } else if (op[0] == 'R') {
            int64_t t[CNN_ONNX_MAX_RANK];
            int n;
            CNN_CHECK(const_ints(I, 1, "shape", t, CNN_ONNX_MAX_RANK, &n));
            int64_t known = 1;
            int neg = -1;
            for (int d = 0; d < n; d++) {
                dims[d] = t[d] == 0 && !attr_i(nd, "allowzero", 0) ? (d < x->ndim ? x->dims[d] : 0) : t[d];
                if (dims[d] == -1) neg = d;
                else known *= dims[d];
            }
            if (neg >= 0) dims[neg] = known ? x->numel / known : 0;
            rank = n;
        } else {
            int64_t axes[CNN_ONNX_MAX_RANK];
            int na = 0;
            if (I->opset >= 13 && in_name(nd, 1)) CNN_CHECK(const_ints(I, 1, "axes", axes, CNN_ONNX_MAX_RANK, &na));
            else na = attr_ints(nd, "axes", axes, CNN_ONNX_MAX_RANK);
            if (op[0] == 'U') {
                if (na < 0) return fail(I, CNN_ERR_FORMAT, "Unsqueeze without axes");
                rank = x->ndim + na;
                if (rank > CNN_ONNX_MAX_RANK) return fail(I, CNN_ERR_UNSUPPORTED, "rank %d", rank);
                bool ins[CNN_ONNX_MAX_RANK] = {false};
                for (int k = 0; k < na; k++) {
                    int a = norm_axis(axes[k], rank);
                    if (a < 0) return fail(I, CNN_ERR_FORMAT, "axis %lld out of range", (long long)axes[k]);
                    ins[a] = true;
                }
                for (int d = 0, s = 0; d < rank; d++) dims[d] = ins[d] ? 1 : x->dims[s++];
            } else {
                bool del[CNN_ONNX_MAX_RANK] = {false};
                for (int k = 0; k < na; k++) {
                    int a = norm_axis(axes[k], x->ndim);
                    if (a < 0) return fail(I, CNN_ERR_FORMAT, "axis %lld out of range", (long long)axes[k]);
                    del[a] = true;
                }
                for (int d = 0; d < x->ndim; d++)
                    if (!(na < 0 ? x->dims[d] == 1 : del[d])) dims[rank++] = x->dims[d];
            }
        }
        int64_t total = 1;
        for (int d = 0; d < rank; d++) total *= dims[d];
        if (total != x->numel) return fail(I, CNN_ERR_SHAPE, "cannot reshape %lld values", (long long)x->numel);
        CNN_CHECK(new_const(I, &r, rank, dims, x->f != NULL));
        if (x->f) memcpy(r.f, x->f, (size_t)x->numel * sizeof *x->f);
        else memcpy(r.i, x->i, (size_t)x->numel * sizeof *x->i);
        return set_out_const(I, 0, &r);
    }
    if (strcmp(op, "Gather") == 0) {
        cnn_onnx_const *idx = &input(I, 1)->c;
        int ax = norm_axis(attr_i(nd, "axis", 0), x->ndim);
        if (ax < 0 || ax >= x->ndim || x->ndim + idx->ndim - 1 > CNN_ONNX_MAX_RANK)
            return fail(I, CNN_ERR_FORMAT, "bad axis");
        int64_t dims[CNN_ONNX_MAX_RANK], outer = 1, inner = 1;
        int rank = 0;
        for (int d = 0; d < ax; d++) outer *= (dims[rank++] = x->dims[d]);
        for (int d = 0; d < idx->ndim; d++) dims[rank++] = idx->dims[d];
        for (int d = ax + 1; d < x->ndim; d++) inner *= (dims[rank++] = x->dims[d]);
        CNN_CHECK(new_const(I, &r, rank, dims, x->f != NULL));
        for (int64_t o = 0, k = 0; o < outer; o++)
            for (int64_t j = 0; j < idx->numel; j++) {
                int64_t s = cval_i(idx, j);
                if (s < 0) s += x->dims[ax];
                if (s < 0 || s >= x->dims[ax]) {
                    cnn_onnx_const_free(&r);
                    return fail(I, CNN_ERR_FORMAT, "index %lld out of range", (long long)cval_i(idx, j));
                }
                for (int64_t q = 0; q < inner; q++, k++) {
                    int64_t from = (o * x->dims[ax] + s) * inner + q;
                    if (x->f) r.f[k] = x->f[from];
                    else r.i[k] = x->i[from];
                }
            }
        return set_out_const(I, 0, &r);
    }
    if (strcmp(op, "Concat") == 0) {
        int ax = norm_axis(attr_i(nd, "axis", 0), x->ndim);
        if (x->ndim != 1 || ax != 0) {
            *done = false; /* only the 1-D shape concatenations are folded */
            return CNN_OK;
        }
        int64_t n = 0;
        bool fl = false;
        for (int i = 0; i < n_in; i++) {
            n += input(I, i)->c.numel;
            fl |= input(I, i)->c.f != NULL;
        }
        CNN_CHECK(new_const(I, &r, 1, &n, fl));
        for (int i = 0, k = 0; i < n_in; i++) {
            cnn_onnx_const *c = &input(I, i)->c;
            for (int64_t j = 0; j < c->numel; j++, k++)
                if (fl) r.f[k] = (float)cval_f(c, j);
                else r.i[k] = c->i[j];
        }
        return set_out_const(I, 0, &r);
    }
    if (strcmp(op, "ConstantOfShape") == 0) {
        int64_t dims[CNN_ONNX_MAX_RANK];
        int n;
        CNN_CHECK(const_ints(I, 0, "shape", dims, CNN_ONNX_MAX_RANK, &n));
        const Onnx__AttributeProto *a = attr(nd, "value");
        cnn_onnx_const v = {0};
        if (a && a->t) {
            char what[512];
            snprintf(what, sizeof what, "node '%s' value", I->cur_name);
            CNN_CHECK(cnn_onnx_decode(a->t, I->dir, what, &v));
        }
        bool fl = !a || v.f;
        cnn_status s = new_const(I, &r, n, dims, fl);
        for (int64_t k = 0; s == CNN_OK && k < r.numel; k++)
            if (fl) r.f[k] = v.f && v.numel ? v.f[0] : 0.0f;
            else r.i[k] = v.i && v.numel ? v.i[0] : 0;
        cnn_onnx_const_free(&v);
        CNN_CHECK(s);
        return set_out_const(I, 0, &r);
    }
    if (strcmp(op, "Range") == 0) {
        double st = cval_f(x, 0), lim = cval_f(&input(I, 1)->c, 0), dl = cval_f(&input(I, 2)->c, 0);
        if (dl == 0.0) return fail(I, CNN_ERR_FORMAT, "Range with delta 0");
        double cnt = ceil((lim - st) / dl);
        int64_t n = cnt > 0 ? (int64_t)cnt : 0;
        bool fl = x->f != NULL;
        CNN_CHECK(new_const(I, &r, 1, &n, fl));
        for (int64_t k = 0; k < n; k++)
            if (fl) r.f[k] = (float)(st + (double)k * dl);
            else r.i[k] = x->i[0] + k * input(I, 2)->c.i[0];
        return set_out_const(I, 0, &r);
    }
    if (strcmp(op, "Slice") == 0) {
        int64_t st[CNN_ONNX_MAX_RANK], en[CNN_ONNX_MAX_RANK], axes[CNN_ONNX_MAX_RANK], steps[CNN_ONNX_MAX_RANK];
        int n, ne, na = -1, ns = -1;
        if (I->opset >= 10) {
            CNN_CHECK(const_ints(I, 1, "starts", st, CNN_ONNX_MAX_RANK, &n));
            CNN_CHECK(const_ints(I, 2, "ends", en, CNN_ONNX_MAX_RANK, &ne));
            if (in_name(nd, 3)) CNN_CHECK(const_ints(I, 3, "axes", axes, CNN_ONNX_MAX_RANK, &na));
            if (in_name(nd, 4)) CNN_CHECK(const_ints(I, 4, "steps", steps, CNN_ONNX_MAX_RANK, &ns));
        } else {
            n = attr_ints(nd, "starts", st, CNN_ONNX_MAX_RANK);
            ne = attr_ints(nd, "ends", en, CNN_ONNX_MAX_RANK);
            na = attr_ints(nd, "axes", axes, CNN_ONNX_MAX_RANK);
        }
        if (n < 0 || ne != n || (na >= 0 && na != n) || (ns >= 0 && ns != n))
            return fail(I, CNN_ERR_FORMAT, "starts, ends, axes and steps differ in length");
        int64_t lo[CNN_ONNX_MAX_RANK], step[CNN_ONNX_MAX_RANK], cnt[CNN_ONNX_MAX_RANK];
        for (int d = 0; d < x->ndim; d++) {
            lo[d] = 0;
            step[d] = 1;
            cnt[d] = x->dims[d];
        }
        for (int k = 0; k < n; k++) {
            int d = norm_axis(na >= 0 ? axes[k] : k, x->ndim);
            int64_t sp = ns >= 0 ? steps[k] : 1;
            if (d < 0 || d >= x->ndim || sp == 0) return fail(I, CNN_ERR_FORMAT, "bad axis or step");
            int64_t dim = x->dims[d], a = st[k], b = en[k];
            if (a < 0) a += dim;
            if (b < 0) b += dim;
            if (sp > 0) {
                a = a < 0 ? 0 : a > dim ? dim : a;
                b = b < 0 ? 0 : b > dim ? dim : b;
                cnt[d] = b > a ? (b - a + sp - 1) / sp : 0;
            } else {
                a = a < 0 ? -1 : a > dim - 1 ? dim - 1 : a;
                b = b < -1 ? -1 : b > dim - 1 ? dim - 1 : b;
                cnt[d] = a > b ? (a - b - sp - 1) / -sp : 0;
            }
            lo[d] = a;
            step[d] = sp;
        }
        CNN_CHECK(new_const(I, &r, x->ndim, cnt, x->f != NULL));
        int64_t pos[CNN_ONNX_MAX_RANK] = {0};
        for (int64_t k = 0; k < r.numel; k++) {
            int64_t rem = k, from = 0;
            for (int d = x->ndim - 1; d >= 0; d--) {
                pos[d] = rem % cnt[d];
                rem /= cnt[d];
            }
            for (int d = 0; d < x->ndim; d++) from = from * x->dims[d] + lo[d] + pos[d] * step[d];
            if (x->f) r.f[k] = x->f[from];
            else r.i[k] = x->i[from];
        }
        return set_out_const(I, 0, &r);
    }
    if (strcmp(op, "Transpose") == 0) {
        int64_t perm[CNN_ONNX_MAX_RANK], od[CNN_ONNX_MAX_RANK];
        int n = attr_ints(nd, "perm", perm, CNN_ONNX_MAX_RANK);
        if (n >= 0 && n != x->ndim) return fail(I, CNN_ERR_FORMAT, "perm has %d entries for rank %d", n, x->ndim);
        for (int d = 0; d < x->ndim; d++) {
            if (n < 0) perm[d] = x->ndim - 1 - d;
            if (perm[d] < 0 || perm[d] >= x->ndim) return fail(I, CNN_ERR_FORMAT, "bad perm");
            od[d] = x->dims[perm[d]];
        }
        CNN_CHECK(new_const(I, &r, x->ndim, od, x->f != NULL));
        int64_t pos[CNN_ONNX_MAX_RANK] = {0}, stride[CNN_ONNX_MAX_RANK];
        int64_t sv = 1;
        for (int d = x->ndim - 1; d >= 0; d--) {
            stride[d] = sv;
            sv *= x->dims[d];
        }
        for (int64_t k = 0; k < r.numel; k++) {
            int64_t rem = k, from = 0;
            for (int d = x->ndim - 1; d >= 0; d--) {
                pos[d] = rem % od[d];
                rem /= od[d];
            }
            for (int d = 0; d < x->ndim; d++) from += pos[d] * stride[perm[d]];
            if (x->f) r.f[k] = x->f[from];
            else r.i[k] = x->i[from];
        }
        return set_out_const(I, 0, &r);
    }
    *done = false;
    return CNN_OK;
}

/* ---------------------------------------------------------------- layers */
/* A convolution's inputs: data x (its shape in xd, its rank returned in *rank),
   weight w and the optional bias b (NULL when absent). */
static cnn_status conv_inputs(ox_imp *I, ox_val **x, ox_val **w, ox_val **b, int64_t *xd,
                              int *rank)
{
    *b = NULL;
    CNN_CHECK(data_in(I, 0, x));
    CNN_CHECK(weight(I, 1, "weight", w));
    if (in_name(I->cur, 2)) CNN_CHECK(weight(I, 2, "bias", b));
    *rank = val_shape(*x, xd);
    return CNN_OK;
}

static cnn_status op_conv(ox_imp *I)
{
    ox_val *x, *w, *b;
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank;
    CNN_CHECK(conv_inputs(I, &x, &w, &b, xd, &rank));
    int nd = rank - 2;
    if (nd < 1 || nd > 3 || w->c.ndim != rank)
        return fail(I, CNN_ERR_UNSUPPORTED, "input rank %d, weight rank %d (1-D, 2-D and 3-D convolutions are supported)",
                    rank, w->c.ndim);
    int64_t groups = attr_i(I->cur, "group", 1);
    int64_t out = w->c.dims[0];
    if (groups < 1 || out % groups || xd[1] != w->c.dims[1] * groups || out > INT_MAX)
        return fail(I, CNN_ERR_SHAPE, "weight %lldx%lld with group %lld does not fit %lld input channels",
                    (long long)w->c.dims[0], (long long)w->c.dims[1], (long long)groups, (long long)xd[1]);
    if (b && b->c.numel != out) return fail(I, CNN_ERR_SHAPE, "bias has %lld values for %lld outputs",
                                            (long long)b->c.numel, (long long)out);
    ox_window wd;
    CNN_CHECK(window(I, nd, xd + 2, w->c.dims + 2, &wd));
    cnn_node *in = x->node;
    CNN_CHECK(pad_asymmetric(I, &in, &wd, 0.0f)); /* e.g. SAME_UPPER with an even kernel */
    if (nd == 1) /* 1-D as 2-D with a height of 1 */
        in = cnn_reshape(I->g, in, 3, (int[]){(int)xd[1], 1, (int)xd[2]});
    int p0 = cnn_graph_num_params(I->g);
    cnn_node *y;
    if (nd == 3)
        y = cnn_conv3d(I->g, in, (int)out, .kernel_d = (int)wd.k[0], .kernel_h = (int)wd.k[1],
                       .kernel_w = (int)wd.k[2], .stride_d = (int)wd.s[0], .stride_h = (int)wd.s[1],
                       .stride_w = (int)wd.s[2], .padding_d = (int)wd.pb[0], .padding_h = (int)wd.pb[1],
                       .padding_w = (int)wd.pb[2], .dilation_d = (int)wd.d[0], .dilation_h = (int)wd.d[1],
                       .dilation_w = (int)wd.d[2], .groups = (int)groups, .no_bias = !b);
    else if (nd == 2)
        y = cnn_conv2d(I->g, in, (int)out, .kernel_h = (int)wd.k[0], .kernel_w = (int)wd.k[1],
                       .stride_h = (int)wd.s[0], .stride_w = (int)wd.s[1], .padding_h = (int)wd.pb[0],
                       .padding_w = (int)wd.pb[1], .dilation_h = (int)wd.d[0], .dilation_w = (int)wd.d[1],
                       .groups = (int)groups, .no_bias = !b);
    else
        y = cnn_conv2d(I->g, in, (int)out, .kernel_h = 1, .kernel_w = (int)wd.k[0],
                       .stride_w = (int)wd.s[0], .padding_w = (int)wd.pb[0], .dilation_w = (int)wd.d[0],
                       .groups = (int)groups, .no_bias = !b);
    if (!y) return fail_graph(I);
    CNN_CHECK(param_from(I, p0, init_name(w), w->c.f, (size_t)w->c.numel));
    if (b) CNN_CHECK(param_from(I, p0 + 1, init_name(b), b->c.f, (size_t)b->c.numel));
    if (nd == 1) {
        cnn_tensor t = cnn_node_value(y);
        y = cnn_reshape(I->g, y, 2, (int[]){t.dims[1], t.dims[3]});
    }
    return set_out_node(I, 0, y);
}

static cnn_status op_conv_transpose(ox_imp *I)
{
    ox_val *x, *w, *b;
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank;
    CNN_CHECK(conv_inputs(I, &x, &w, &b, xd, &rank));
    if (rank != 4 || w->c.ndim != 4)
        return fail(I, CNN_ERR_UNSUPPORTED, "input rank %d: 2-D transposed convolutions are supported", rank);
    if (attr(I->cur, "output_shape"))
        return fail(I, CNN_ERR_UNSUPPORTED, "output_shape is not supported (give pads and output_padding)");
    int64_t groups = attr_i(I->cur, "group", 1);
    if (groups < 1 || w->c.dims[0] != xd[1] || xd[1] % groups)
        return fail(I, CNN_ERR_SHAPE, "weight (%lld, ...) with group %lld does not fit %lld input channels",
                    (long long)w->c.dims[0], (long long)groups, (long long)xd[1]);
    int64_t out = w->c.dims[1] * groups;
    if (b && b->c.numel != out) return fail(I, CNN_ERR_SHAPE, "bias has %lld values for %lld outputs",
                                            (long long)b->c.numel, (long long)out);
    if (attr_s(I->cur, "auto_pad", "SAME_UPPER") || attr_s(I->cur, "auto_pad", "SAME_LOWER"))
        return fail(I, CNN_ERR_UNSUPPORTED, "auto_pad SAME is not supported for ConvTranspose");
    ox_window wd;
    CNN_CHECK(window(I, 2, xd + 2, w->c.dims + 2, &wd));
    if (!symmetric(&wd)) return fail(I, CNN_ERR_UNSUPPORTED, "asymmetric pads");
    int p0 = cnn_graph_num_params(I->g);
    cnn_node *y = cnn_conv_transpose2d(I->g, x->node, (int)out, .kernel_h = (int)wd.k[0],
                                       .kernel_w = (int)wd.k[1], .stride_h = (int)wd.s[0], .stride_w = (int)wd.s[1],
                                       .padding_h = (int)wd.pb[0], .padding_w = (int)wd.pb[1],
                                       .output_padding_h = (int)wd.op[0], .output_padding_w = (int)wd.op[1],
                                       .dilation_h = (int)wd.d[0], .dilation_w = (int)wd.d[1],
                                       .groups = (int)groups, .no_bias = !b);
    if (!y) return fail_graph(I);
    CNN_CHECK(param_from(I, p0, init_name(w), w->c.f, (size_t)w->c.numel));
    if (b) CNN_CHECK(param_from(I, p0 + 1, init_name(b), b->c.f, (size_t)b->c.numel));
    return set_out_node(I, 0, y);
}

static cnn_status op_batchnorm(ox_imp *I)
{
    ox_val *x, *p[4];
    CNN_CHECK(data_in(I, 0, &x));
    static const char *what[4] = {"scale", "B", "mean", "var"};
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd);
    for (int i = 0; i < 4; i++) {
        CNN_CHECK(weight(I, i + 1, what[i], &p[i]));
        if (p[i]->c.numel != xd[1])
            return fail(I, CNN_ERR_SHAPE, "%s has %lld values for %lld channels", what[i],
                        (long long)p[i]->c.numel, (long long)xd[1]);
    }
    for (size_t k = 1; k < I->cur->n_output; k++)
        if (I->cur->output[k][0] && find_val(I, I->cur->output[k])->uses)
            return fail(I, CNN_ERR_UNSUPPORTED, "the running statistics outputs are not supported as values");
    float eps = attr_f(I->cur, "epsilon", 1e-5f);
    float momentum = 1.0f - attr_f(I->cur, "momentum", 0.9f); /* ONNX keeps, PyTorch adds */
    cnn_node *in = x->node;
    if (rank == 2 || rank == 3)
        in = cnn_reshape(I->g, in, 3, (int[]){(int)xd[1], 1, rank == 3 ? (int)xd[2] : 1});
    else if (rank != 4 && rank != 5)
        return fail(I, CNN_ERR_UNSUPPORTED, "input rank %d (2 to 5 are supported)", rank);
    int p0 = cnn_graph_num_params(I->g);
    cnn_node *y = rank == 5 ? cnn_batchnorm3d(I->g, in, .eps = eps, .momentum = momentum)
                            : cnn_batchnorm2d(I->g, in, .eps = eps, .momentum = momentum);
    if (!y) return fail_graph(I);
    for (int i = 0; i < 4; i++)
        CNN_CHECK(param_from(I, p0 + i, init_name(p[i]), p[i]->c.f, (size_t)p[i]->c.numel));
    if (rank == 2) y = cnn_flatten(I->g, y);
    else if (rank == 3) y = cnn_reshape(I->g, y, 2, (int[]){(int)xd[1], (int)xd[2]});
    return set_out_node(I, 0, y);
}

/* Gemm / MatMul with a constant right operand as a linear layer. */
static cnn_status op_linear(ox_imp *I, bool gemm)
{
    ox_val *x, *w, *c = NULL;
    CNN_CHECK(data_in(I, 0, &x));
    CNN_CHECK(weight(I, 1, "B", &w));
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd);
    if (rank != 2 || w->c.ndim != 2)
        return fail(I, CNN_ERR_UNSUPPORTED, "A of rank %d and B of rank %d: a (N, K) input times a constant "
                    "matrix is supported for Gemm", rank, w->c.ndim);
    bool ta = gemm && attr_i(I->cur, "transA", 0), tb = gemm && attr_i(I->cur, "transB", 0);
    float alpha = gemm ? attr_f(I->cur, "alpha", 1.0f) : 1.0f, beta = gemm ? attr_f(I->cur, "beta", 1.0f) : 1.0f;
    if (ta) return fail(I, CNN_ERR_UNSUPPORTED, "transA=1 on a batched input");
    int64_t K = tb ? w->c.dims[1] : w->c.dims[0], N = tb ? w->c.dims[0] : w->c.dims[1];
    if (K != xd[1] || N > INT_MAX)
        return fail(I, CNN_ERR_SHAPE, "B (%lld, %lld)%s does not fit an input of %lld features",
                    (long long)w->c.dims[0], (long long)w->c.dims[1], tb ? " transposed" : "", (long long)xd[1]);
    if (gemm && in_name(I->cur, 2)) {
        CNN_CHECK(weight(I, 2, "C", &c));
        if (c->c.numel != N && c->c.numel != 1)
            return fail(I, CNN_ERR_UNSUPPORTED, "C with %lld values: a bias of %lld (or 1) values is supported",
                        (long long)c->c.numel, (long long)N);
    }
    float *wt = cnn_malloc((size_t)(N * K) * sizeof *wt), *bias = c ? cnn_malloc((size_t)N * sizeof *bias) : NULL;
    if (!wt || (c && !bias)) {
        cnn_free(wt);
        cnn_free(bias);
        return fail(I, CNN_ERR_NOMEM, "out of memory");
    }
    for (int64_t o = 0; o < N; o++)
        for (int64_t k = 0; k < K; k++) wt[o * K + k] = alpha * (tb ? w->c.f[o * K + k] : w->c.f[k * N + o]);
    for (int64_t o = 0; c && o < N; o++) bias[o] = beta * c->c.f[c->c.numel == 1 ? 0 : o];
    int p0 = cnn_graph_num_params(I->g);
    cnn_node *y = cnn_linear(I->g, x->node, (int)N, .no_bias = !c);
    cnn_status s = y ? param_from(I, p0, init_name(w), wt, (size_t)(N * K)) : fail_graph(I);
    if (s == CNN_OK && c) s = param_from(I, p0 + 1, init_name(c), bias, (size_t)N);
    cnn_free(wt);
    cnn_free(bias);
    CNN_CHECK(s);
    return set_out_node(I, 0, y);
}

static cnn_status op_pool(ox_imp *I, bool max)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    if (I->cur->n_output > 1 && I->cur->output[1][0] && find_val(I, I->cur->output[1])->uses)
        return fail(I, CNN_ERR_UNSUPPORTED, "the Indices output is not supported");
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd);
    if (rank != 4 && !(max && rank == 5))
        return fail(I, CNN_ERR_UNSUPPORTED, "input rank %d (2-D pooling, and 3-D max pooling, are supported)", rank);
    ox_window w;
    CNN_CHECK(window(I, rank - 2, xd + 2, NULL, &w));
    bool ceil_mode = attr_i(I->cur, "ceil_mode", 0) != 0;
    cnn_node *in = x->node, *y;
    if (!symmetric(&w)) {
        if (!max && attr_i(I->cur, "count_include_pad", 0) == 0)
            return fail(I, CNN_ERR_UNSUPPORTED, "asymmetric pads with count_include_pad=0");
        if (ceil_mode) return fail(I, CNN_ERR_UNSUPPORTED, "asymmetric pads with ceil_mode");
        CNN_CHECK(pad_asymmetric(I, &in, &w, max ? -INFINITY : 0.0f));
    }
    if (rank == 5) {
        if (w.d[0] != 1 || w.d[1] != 1 || w.d[2] != 1)
            return fail(I, CNN_ERR_UNSUPPORTED, "dilated 3-D max pooling");
        y = cnn_maxpool3d(I->g, in, .kernel_d = (int)w.k[0], .kernel_h = (int)w.k[1],
                          .kernel_w = (int)w.k[2], .stride_d = (int)w.s[0], .stride_h = (int)w.s[1],
                          .stride_w = (int)w.s[2], .padding_d = (int)w.pb[0], .padding_h = (int)w.pb[1],
                          .padding_w = (int)w.pb[2], .ceil_mode = ceil_mode);
    } else if (max) {
        if (w.d[0] != w.d[1]) return fail(I, CNN_ERR_UNSUPPORTED, "different dilations per axis");
        y = cnn_maxpool2d(I->g, in, .kernel_h = (int)w.k[0], .kernel_w = (int)w.k[1],
                          .stride_h = (int)w.s[0], .stride_w = (int)w.s[1], .padding_h = (int)w.pb[0],
                          .padding_w = (int)w.pb[1], .dilation = (int)w.d[0], .ceil_mode = ceil_mode);
    } else {
        if (w.d[0] != 1 || w.d[1] != 1) return fail(I, CNN_ERR_UNSUPPORTED, "dilated average pooling");
        y = cnn_avgpool2d(I->g, in, .kernel_h = (int)w.k[0], .kernel_w = (int)w.k[1],
                          .stride_h = (int)w.s[0], .stride_w = (int)w.s[1], .padding_h = (int)w.pb[0],
                          .padding_w = (int)w.pb[1], .ceil_mode = ceil_mode,
                          .exclude_pad = attr_i(I->cur, "count_include_pad", 0) == 0);
    }
    return set_out_node(I, 0, y);
}

/* Reshape of a batched value: the target's first entry must be the batch (the built
   batch, the file's batch, -1 or 0). */
static cnn_status reshape_to(ox_imp *I, ox_val *x, int n, const int64_t *t, cnn_node **out)
{
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd);
    if (n < 1 || n > CNN_MAX_DIMS)
        return fail(I, CNN_ERR_UNSUPPORTED, "target rank %d (1 to %d are supported)", n, CNN_MAX_DIMS);
    int64_t t0 = t[0] == 0 && !attr_i(I->cur, "allowzero", 0) ? xd[0] : t[0];
    if (t0 != -1 && t0 != I->batch && !(I->file_batch > 0 && t0 == I->file_batch))
        return fail(I, CNN_ERR_UNSUPPORTED, "the target's first dimension %lld is not the batch %d "
                    "(reshapes that move the batch are not supported)", (long long)t[0], I->batch);
    int dims[CNN_MAX_DIMS];
    for (int d = 1; d < n; d++) {
        int64_t v = t[d] == 0 && !attr_i(I->cur, "allowzero", 0) ? (d < rank ? xd[d] : 0) : t[d];
        if (v < -1 || v > INT_MAX) return fail(I, CNN_ERR_SHAPE, "target dimension %lld", (long long)v);
        dims[d - 1] = (int)v;
    }
    *out = cnn_reshape(I->g, x->node, n - 1, dims);
    return *out ? CNN_OK : fail_graph(I);
}

/* ShuffleNet's channel shuffle as torch writes it: Reshape (N, g, C/g, H, W) ->
   Transpose (0, 2, 1, 3, 4) -> Reshape (N, C, H, W), each the only use of the last. */
static bool shuffle_pattern(ox_imp *I, ox_val *x, const int64_t *t, int n, int *groups, int *tail)
{
    int64_t xd[CNN_ONNX_MAX_RANK];
    if (val_shape(x, xd) != 4 || n != 5) return false;
    if (t[1] < 1 || t[2] < 1 || t[1] > INT_MAX || t[2] > INT_MAX || t[1] * t[2] != xd[1] || t[3] != xd[2] || t[4] != xd[3]) return false;
    ox_val *r1 = find_val(I, I->cur->output[0]);
    if (!r1 || r1->uses != 1 || r1->consumer < 0) return false;
    const Onnx__NodeProto *tr = I->gr->node[r1->consumer];
    int64_t perm[8];
    if (!tr->op_type || strcmp(tr->op_type, "Transpose") != 0 || tr->n_output < 1 ||
        attr_ints(tr, "perm", perm, 8) != 5 || perm[0] != 0 || perm[1] != 2 || perm[2] != 1 || perm[3] != 3 ||
        perm[4] != 4)
        return false;
    ox_val *t1 = find_val(I, tr->output[0]);
    if (!t1 || t1->uses != 1 || t1->consumer < 0) return false;
    const Onnx__NodeProto *r2 = I->gr->node[t1->consumer];
    if (!r2->op_type || strcmp(r2->op_type, "Reshape") != 0 || r2->n_input < 2) return false;
    ox_val *sh = find_val(I, r2->input[1]);
    if (!sh || !sh->is_const || sh->c.numel != 4 || !sh->c.i) return false;
    const int64_t *s = sh->c.i;
    if ((s[1] != xd[1] && s[1] != -1) || s[2] != xd[2] || s[3] != xd[3]) return false;
    *groups = (int)t[1];
    *tail = t1->consumer;
    return true;
}

static cnn_status op_reshape(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t t[CNN_ONNX_MAX_RANK];
    int n;
    CNN_CHECK(const_ints(I, 1, "shape", t, CNN_ONNX_MAX_RANK, &n));
    int groups, tail;
    if (shuffle_pattern(I, x, t, n, &groups, &tail)) {
        cnn_node *y = cnn_channel_shuffle(I->g, x->node, groups);
        if (!y) return fail_graph(I);
        /* the shuffle is the value of the final Reshape; the Transpose is skipped */
        const Onnx__NodeProto *r2 = I->gr->node[tail];
        find_val(I, r2->output[0])->node = y;
        I->skip[tail] = true;
        I->skip[find_val(I, I->cur->output[0])->consumer] = true;
        return CNN_OK;
    }
    cnn_node *y;
    CNN_CHECK(reshape_to(I, x, n, t, &y));
    return set_out_node(I, 0, y);
}

static cnn_status op_flatten(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd);
    int ax = norm_axis(attr_i(I->cur, "axis", 1), rank);
    if (ax != 1) return fail(I, CNN_ERR_UNSUPPORTED, "axis %d: flattening after the batch (axis 1) is supported", ax);
    return set_out_node(I, 0, cnn_flatten(I->g, x->node));
}

/* mark[a] = true for each of the na axes (ONNX axes of a rank r tensor); the error
   names an axis out of range. */
static cnn_status mark_axes(ox_imp *I, const int64_t *axes, int na, int r, bool *mark)
{
    for (int k = 0; k < na; k++) {
        int a = norm_axis(axes[k], r);
        if (a < 0) return fail(I, CNN_ERR_FORMAT, "axis %lld out of range", (long long)axes[k]);
        mark[a] = true;
    }
    return CNN_OK;
}

/* Squeeze / Unsqueeze of a batched value, as a reshape that keeps the batch. */
static cnn_status op_squeeze(ox_imp *I, bool un)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t xd[CNN_ONNX_MAX_RANK], axes[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd), na = -1;
    if (I->opset >= 13 && in_name(I->cur, 1)) CNN_CHECK(const_ints(I, 1, "axes", axes, CNN_ONNX_MAX_RANK, &na));
    else na = attr_ints(I->cur, "axes", axes, CNN_ONNX_MAX_RANK);
    int64_t t[CNN_ONNX_MAX_RANK];
    int n = 0;
    if (un) {
        if (na < 0) return fail(I, CNN_ERR_FORMAT, "Unsqueeze without axes");
        int nr = rank + na;
        if (nr > CNN_MAX_DIMS) return fail(I, CNN_ERR_UNSUPPORTED, "rank %d", nr);
        bool ins[CNN_ONNX_MAX_RANK] = {false};
        CNN_CHECK(mark_axes(I, axes, na, nr, ins));
        if (ins[0]) return fail(I, CNN_ERR_UNSUPPORTED, "a dimension before the batch");
        for (int d = 0, s = 0; d < nr; d++) t[n++] = ins[d] ? 1 : xd[s++];
    } else {
        bool del[CNN_ONNX_MAX_RANK] = {false};
        CNN_CHECK(mark_axes(I, axes, na, rank, del));
        if (del[0]) return fail(I, CNN_ERR_UNSUPPORTED, "squeezing the batch dimension");
        for (int d = 0; d < rank; d++)
            if (d == 0 || !(na < 0 ? xd[d] == 1 : del[d])) t[n++] = xd[d];
    }
    t[0] = I->batch;
    cnn_node *y;
    CNN_CHECK(reshape_to(I, x, n, t, &y));
    return set_out_node(I, 0, y);
}

static bool near(float a, float b)
{
    return fabsf(a - b) <= 1e-6f * (1.0f + fabsf(b));
}

static cnn_status op_activation(ox_imp *I, const char *op)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    cnn_act act = CNN_ACT_NONE;
    if (strcmp(op, "Relu") == 0) act = CNN_ACT_RELU;
    else if (strcmp(op, "Sigmoid") == 0) act = CNN_ACT_SIGMOID;
    else if (strcmp(op, "Tanh") == 0) act = CNN_ACT_TANH;
    else if (strcmp(op, "HardSwish") == 0) act = CNN_ACT_HARDSWISH;
    else if (strcmp(op, "HardSigmoid") == 0) {
        float a = attr_f(I->cur, "alpha", 0.2f), b = attr_f(I->cur, "beta", 0.5f);
        if (!near(a, 1.0f / 6.0f) || !near(b, 0.5f))
            return set_out_node(I, 0, cnn_activation_p(I->g, x->node, CNN_ACT_HARDSIGMOID, a, b));
        act = CNN_ACT_HARDSIGMOID;
        /* x * HardSigmoid(x), HardSwish as opsets before 14 write it */
        ox_val *o = find_val(I, I->cur->output[0]);
        if (o->uses == 1 && o->consumer >= 0) {
            const Onnx__NodeProto *mul = I->gr->node[o->consumer];
            if (mul->op_type && strcmp(mul->op_type, "Mul") == 0 && mul->n_input == 2 &&
                (strcmp(mul->input[0], x->name) == 0 || strcmp(mul->input[1], x->name) == 0)) {
                cnn_node *y = cnn_hardswish(I->g, x->node);
                if (!y) return fail_graph(I);
                find_val(I, mul->output[0])->node = y;
                I->skip[o->consumer] = true;
                return CNN_OK;
            }
        }
    } else if (strcmp(op, "Clip") == 0) {
        float lo = -INFINITY, hi = INFINITY, v;
        bool has;
        if (I->opset < 11) {
            lo = attr_f(I->cur, "min", -INFINITY);
            hi = attr_f(I->cur, "max", INFINITY);
        } else {
            CNN_CHECK(const_scalar(I, 1, "min", &v, &has));
            if (has) lo = v;
            CNN_CHECK(const_scalar(I, 2, "max", &v, &has));
            if (has) hi = v;
        }
        if (lo == 0.0f && hi == 6.0f) act = CNN_ACT_RELU6;
        else if (lo == 0.0f && isinf(hi) && hi > 0) act = CNN_ACT_RELU;
        else if (isinf(lo) && isinf(hi)) return set_out_node(I, 0, x->node);
        else return set_out_node(I, 0, cnn_activation_p(I->g, x->node, CNN_ACT_CLIP, lo, hi));
    } else if (strcmp(op, "LeakyRelu") == 0) {
        return set_out_node(I, 0, cnn_activation_p(I->g, x->node, CNN_ACT_LEAKY_RELU,
                                                   attr_f(I->cur, "alpha", 0.01f), 0.0f));
    } else if (strcmp(op, "Elu") == 0) {
        return set_out_node(I, 0, cnn_activation_p(I->g, x->node, CNN_ACT_ELU, attr_f(I->cur, "alpha", 1.0f), 0.0f));
    }
    return set_out_node(I, 0, cnn_activation(I->g, x->node, act));
}

/* A scalar constant input of node nd (float), or false. */
static bool node_scalar(ox_imp *I, const Onnx__NodeProto *nd, int i, float *out)
{
    ox_val *v = i < (int)nd->n_input ? find_val(I, nd->input[i]) : NULL;
    if (!v || !v->is_const || v->c.numel != 1) return false;
    *out = v->c.f ? v->c.f[0] : (float)v->c.i[0];
    return true;
}

/* torch writes nn.LocalResponseNorm out: d = x * x, unsqueezed, padded along channels,
   AveragePool (size, 1, 1), reshaped back, * alpha + k, ^ beta, y = x / d. Seen at
   the Mul(x, x): the Div(x, ...) whose divisor's producers (back to this Mul and
   constants only, each value used only inside) hold such a chain becomes cnn_lrn,
   and every node of the chain is skipped. */
static bool lrn_pattern(ox_imp *I, ox_val *x, cnn_status *st)
{
    const Onnx__GraphProto *gr = I->gr;
    int n = (int)gr->n_node, div = -1;
    int64_t xd[CNN_ONNX_MAX_RANK];
    if (val_shape(x, xd) != 4) return false;
    for (int i = 0; i < n && div < 0; i++) {
        const Onnx__NodeProto *nd = gr->node[i];
        if (nd->op_type && strcmp(nd->op_type, "Div") == 0 && nd->n_input == 2 && strcmp(nd->input[0], x->name) == 0)
            div = i;
    }
    if (div < 0) return false;
    bool *in = cnn_calloc((size_t)n, sizeof *in);
    const char **stack = cnn_malloc((size_t)(4 * n + 4) * sizeof *stack);
    bool ok = in && stack;
    int sp = 0;
    if (ok) stack[sp++] = gr->node[div]->input[1];
    while (ok && sp > 0) {
        ox_val *v = find_val(I, stack[--sp]);
        if (!v || v == x) continue; /* x itself: Shape(x) in the reshapes */
        if (v->producer < 0) {
            ok = v->is_const;
            continue;
        }
        if (in[v->producer]) continue;
        in[v->producer] = true;
        if (v->producer == I->cur_index) continue; /* the Mul(x, x) */
        const Onnx__NodeProto *nd = gr->node[v->producer];
        for (size_t k = 0; k < nd->n_input && ok; k++)
            if (in_name(nd, (int)k)) {
                if (sp >= 4 * n) ok = false;
                else stack[sp++] = nd->input[k];
            }
    }
    ok = ok && in[I->cur_index];
    /* the chain's values are used only inside it (and by the Div) */
    for (int i = 0; i < n && ok; i++) {
        if (!in[i]) continue;
        const Onnx__NodeProto *nd = gr->node[i];
        for (size_t k = 0; k < nd->n_output && ok; k++) {
            ox_val *v = nd->output[k][0] ? find_val(I, nd->output[k]) : NULL;
            if (!v || !v->uses) continue;
            int inside = 0;
            for (int j = 0; j < n; j++)
                if (in[j] || j == div)
                    for (size_t q = 0; q < gr->node[j]->n_input; q++)
                        inside += in_name(gr->node[j], (int)q) && strcmp(gr->node[j]->input[q], v->name) == 0;
            ok = inside == v->uses;
        }
    }
    /* size, alpha, k, beta */
    int64_t size = 0;
    float alpha = 0, k = 0, beta = 0;
    bool has_a = false, has_k = false, has_b = false;
    for (int i = 0; i < n && ok; i++) {
        if (!in[i] || i == I->cur_index) continue;
        const Onnx__NodeProto *nd = gr->node[i];
        const char *op = nd->op_type ? nd->op_type : "";
        int64_t ks[3];
        if (strcmp(op, "AveragePool") == 0) {
            ok = attr_ints(nd, "kernel_shape", ks, 3) == 3 && ks[1] == 1 && ks[2] == 1 && !size;
            size = ks[0];
        } else if (strcmp(op, "Mul") == 0) {
            ok = !has_a && (node_scalar(I, nd, 1, &alpha) || node_scalar(I, nd, 0, &alpha));
            has_a = true;
        } else if (strcmp(op, "Add") == 0) {
            ok = !has_k && (node_scalar(I, nd, 1, &k) || node_scalar(I, nd, 0, &k));
            has_k = true;
        } else if (strcmp(op, "Pow") == 0) {
            ok = !has_b && node_scalar(I, nd, 1, &beta);
            has_b = true;
        } else if (strcmp(op, "Div") == 0 || strcmp(op, "Sub") == 0 || strcmp(op, "Conv") == 0 ||
                   strcmp(op, "MaxPool") == 0 || strcmp(op, "Sqrt") == 0 || strcmp(op, "Exp") == 0) {
            ok = false; /* not torch's LRN arithmetic */
        }
    }
    ok = ok && size >= 1 && size % 2 == 1 && has_a && has_k && has_b;
    if (ok) {
        cnn_node *y = cnn_lrn(I->g, x->node, .size = (int)size, .alpha = alpha, .beta = beta, .k = k);
        if (!y) *st = fail_graph(I);
        else {
            find_val(I, gr->node[div]->output[0])->node = y;
            const Onnx__NodeProto *dn = gr->node[div];
            I->named = y;
            I->named_as = dn->name && *dn->name ? dn->name : dn->output[0];
            for (int i = 0; i < n; i++)
                if (in[i] && i != I->cur_index) I->skip[i] = true;
            I->skip[div] = true;
        }
    }
    cnn_free(in);
    cnn_free(stack);
    return ok;
}

static cnn_status op_binary(ox_imp *I, const char *op)
{
    ox_val *a = input(I, 0), *b = input(I, 1);
    if (a && b && a->node && b->node && batched(a) && batched(b)) {
        int64_t ad[CNN_ONNX_MAX_RANK], bd[CNN_ONNX_MAX_RANK];
        int ra = val_shape(a, ad), rb = val_shape(b, bd);
        bool same = ra == rb;
        for (int d = 0; same && d < ra; d++) same = ad[d] == bd[d];
        if (strcmp(op, "Add") == 0 && same) return set_out_node(I, 0, cnn_add(I->g, a->node, b->node));
        cnn_status st = CNN_OK;
        if (strcmp(op, "Mul") == 0 && a == b && lrn_pattern(I, a, &st)) return st;
        if (strcmp(op, "Mul") == 0 && ra == 4 && rb == 4) {
            for (int swap = 0; swap < 2; swap++) {
                ox_val *x = swap ? b : a, *s = swap ? a : b;
                int64_t *xd = swap ? bd : ad, *sd = swap ? ad : bd;
                if (sd[1] == xd[1] && sd[2] == 1 && sd[3] == 1 && (xd[2] != 1 || xd[3] != 1 || !swap))
                    return set_out_node(I, 0, cnn_mul_channel(I->g, x->node, s->node));
                if (sd[1] == 1 && sd[2] == xd[2] && sd[3] == xd[3] && xd[1] != 1)
                    return set_out_node(I, 0, cnn_mul_spatial(I->g, x->node, s->node));
            }
        }
    }
    if (!in_name(I->cur, 0) || !in_name(I->cur, 1) || I->cur->n_input != 2)
        return fail(I, CNN_ERR_FORMAT, "needs two inputs");
    cnn_binary_op bop = strcmp(op, "Add") == 0   ? CNN_BIN_ADD
                        : strcmp(op, "Sub") == 0 ? CNN_BIN_SUB
                        : strcmp(op, "Mul") == 0 ? CNN_BIN_MUL
                        : strcmp(op, "Div") == 0 ? CNN_BIN_DIV
                        : strcmp(op, "Max") == 0 ? CNN_BIN_MAX
                        : strcmp(op, "Min") == 0 ? CNN_BIN_MIN
                                                 : CNN_BIN_POW;
    cnn_node *na, *nb;
    CNN_CHECK(as_node(I, 0, &na));
    CNN_CHECK(as_node(I, 1, &nb));
    return set_out_node(I, 0, cnn_binary(I->g, na, nb, bop));
}

static cnn_status op_reduce(ox_imp *I, cnn_reduce_op op)
{
    bool max = op == CNN_REDUCE_MAX;
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t xd[CNN_ONNX_MAX_RANK], axes[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd), na;
    if ((I->opset >= 18 || (op == CNN_REDUCE_SUM && I->opset >= 13)) && in_name(I->cur, 1))
        CNN_CHECK(const_ints(I, 1, "axes", axes, CNN_ONNX_MAX_RANK, &na));
    else na = attr_ints(I->cur, "axes", axes, CNN_ONNX_MAX_RANK);
    bool keep = attr_i(I->cur, "keepdims", 1) != 0;
    bool ax[CNN_ONNX_MAX_RANK] = {false};
    for (int k = 0; k < na; k++) {
        int a = norm_axis(axes[k], rank);
        if (a < 0 || a >= rank) return fail(I, CNN_ERR_FORMAT, "axis %lld out of range", (long long)axes[k]);
        ax[a] = true;
    }
    if (rank == 4 && na >= 1 && (op == CNN_REDUCE_MEAN || op == CNN_REDUCE_MAX)) {
        if (ax[1] && !ax[2] && !ax[3] && !ax[0] && keep)
            return set_out_node(I, 0, max ? cnn_channel_max(I->g, x->node) : cnn_channel_mean(I->g, x->node));
        if (!max && !ax[0] && !ax[1] && ax[2] && ax[3]) {
            cnn_node *y = cnn_global_avgpool(I->g, x->node);
            return set_out_node(I, 0, keep ? y : cnn_flatten(I->g, y));
        }
    }
    int ia[CNN_ONNX_MAX_RANK];
    for (int k = 0; k < na; k++) ia[k] = norm_axis(axes[k], rank);
    if (na <= 0) {
        if (attr_i(I->cur, "noop_with_empty_axes", 0)) return set_out_node(I, 0, x->node);
        return fail(I, CNN_ERR_UNSUPPORTED, "a reduction over every axis, the batch included");
    }
    return set_out_node(I, 0, cnn_reduce(I->g, x->node, op, na, ia, keep));
}

static cnn_status op_concat(ox_imp *I)
{
    int n = (int)I->cur->n_input;
    cnn_node **xs = cnn_calloc((size_t)(n ? n : 1), sizeof *xs);
    if (!xs) return fail(I, CNN_ERR_NOMEM, "out of memory");
    int rank = 0;
    cnn_status s = CNN_OK;
    for (int i = 0; i < n && s == CNN_OK; i++) {
        ox_val *v;
        s = data_in(I, i, &v);
        if (s == CNN_OK) {
            int64_t d[CNN_ONNX_MAX_RANK];
            rank = val_shape(v, d);
            xs[i] = v->node;
        }
    }
    if (s == CNN_OK && norm_axis(attr_i(I->cur, "axis", 1), rank) != 1)
        s = fail(I, CNN_ERR_UNSUPPORTED, "axis %lld: concatenation over channels (axis 1) is supported",
                 (long long)attr_i(I->cur, "axis", 1));
    if (s == CNN_OK) s = set_out_node(I, 0, cnn_concat(I->g, n, xs));
    cnn_free(xs);
    return s;
}

static cnn_status op_split(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t xd[CNN_ONNX_MAX_RANK], sp[64];
    int rank = val_shape(x, xd), ns = -1;
    int ax = norm_axis(attr_i(I->cur, "axis", 0), rank);
    if (ax != 1) return fail(I, CNN_ERR_UNSUPPORTED, "axis %d: splitting channels (axis 1) is supported", ax);
    int nout = (int)I->cur->n_output;
    if (nout > 64) return fail(I, CNN_ERR_UNSUPPORTED, "%d outputs", nout);
    if (I->opset >= 13 && in_name(I->cur, 1)) CNN_CHECK(const_ints(I, 1, "split", sp, 64, &ns));
    else if (I->opset < 13) ns = attr_ints(I->cur, "split", sp, 64);
    if (ns < 0) {
        int64_t per = (xd[1] + nout - 1) / nout;
        for (int k = 0; k < nout; k++) sp[k] = k < nout - 1 ? per : xd[1] - per * (nout - 1);
        ns = nout;
    }
    if (ns != nout) return fail(I, CNN_ERR_FORMAT, "%d split sizes for %d outputs", ns, nout);
    int64_t start = 0;
    for (int k = 0; k < nout; k++) {
        if (sp[k] < 1 || start + sp[k] > xd[1])
            return fail(I, CNN_ERR_SHAPE, "split sizes do not fit %lld channels", (long long)xd[1]);
        cnn_node *y = cnn_channel_slice(I->g, x->node, (int)start, (int)sp[k]);
        CNN_CHECK(set_out_node(I, k, y));
        start += sp[k];
    }
    if (start != xd[1]) return fail(I, CNN_ERR_SHAPE, "split sizes add up to %lld of %lld channels",
                                    (long long)start, (long long)xd[1]);
    return CNN_OK;
}

static cnn_status op_slice(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t xd[CNN_ONNX_MAX_RANK], st[8], en[8], axes[8], steps[8];
    int rank = val_shape(x, xd), n, na = -1, nst = -1;
    if (I->opset >= 10) {
        CNN_CHECK(const_ints(I, 1, "starts", st, 8, &n));
        int ne;
        CNN_CHECK(const_ints(I, 2, "ends", en, 8, &ne));
        if (ne != n) return fail(I, CNN_ERR_FORMAT, "starts and ends differ in length");
        if (in_name(I->cur, 3)) CNN_CHECK(const_ints(I, 3, "axes", axes, 8, &na));
        if (in_name(I->cur, 4)) CNN_CHECK(const_ints(I, 4, "steps", steps, 8, &nst));
    } else {
        n = attr_ints(I->cur, "starts", st, 8);
        if (n < 0 || attr_ints(I->cur, "ends", en, 8) != n) return fail(I, CNN_ERR_FORMAT, "starts / ends");
        na = attr_ints(I->cur, "axes", axes, 8);
    }
    if ((na >= 0 && na != n) || (nst >= 0 && nst != n))
        return fail(I, CNN_ERR_FORMAT, "starts, ends, axes and steps differ in length");
    if (n == 1 && norm_axis(na >= 0 ? axes[0] : 0, rank) == 1 && (nst < 0 || steps[0] == 1)) {
        /* channels with step 1: the zoo's channel_slice */
        int64_t s = st[0] < 0 ? st[0] + xd[1] : st[0], e = en[0] < 0 ? en[0] + xd[1] : en[0];
        s = s < 0 ? 0 : s > xd[1] ? xd[1] : s;
        e = e < 0 ? 0 : e > xd[1] ? xd[1] : e;
        if (e <= s) return fail(I, CNN_ERR_SHAPE, "empty slice [%lld, %lld)", (long long)s, (long long)e);
        return set_out_node(I, 0, cnn_channel_slice(I->g, x->node, (int)s, (int)(e - s)));
    }
    cnn_node *y = x->node;
    for (int k = 0; k < n && y; k++) {
        int ax = norm_axis(na >= 0 ? axes[k] : k, rank);
        int64_t step = nst >= 0 ? steps[k] : 1;
        int a = st[k] > INT_MAX ? INT_MAX : st[k] < INT_MIN ? INT_MIN : (int)st[k];
        int b = en[k] > INT_MAX ? INT_MAX : en[k] < INT_MIN ? INT_MIN : (int)en[k];
        if (step == 0 || step > INT_MAX || step < -INT_MAX) return fail(I, CNN_ERR_FORMAT, "step %lld", (long long)step);
        y = cnn_slice(I->g, y, ax, a, b, (int)step);
    }
    return set_out_node(I, 0, y);
}

static cnn_status op_transpose(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t xd[CNN_ONNX_MAX_RANK], perm[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd);
    int n = attr_ints(I->cur, "perm", perm, CNN_ONNX_MAX_RANK);
    int p[CNN_MAX_DIMS];
    if (n >= 0 && n != rank) return fail(I, CNN_ERR_FORMAT, "perm has %d entries for rank %d", n, rank);
    for (int d = 0; d < rank; d++) p[d] = n >= 0 ? (int)perm[d] : rank - 1 - d;
    return set_out_node(I, 0, cnn_transpose(I->g, x->node, rank, p));
}

static cnn_status op_dropout(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    float p = 0.5f, v;
    bool has;
    if (I->opset < 12) p = attr_f(I->cur, "ratio", 0.5f);
    else {
        CNN_CHECK(const_scalar(I, 1, "ratio", &v, &has));
        if (has) p = v;
    }
    if (I->cur->n_output > 1 && I->cur->output[1][0] && find_val(I, I->cur->output[1])->uses)
        return fail(I, CNN_ERR_UNSUPPORTED, "the mask output is not supported");
    return set_out_node(I, 0, cnn_dropout(I->g, x->node, p));
}

static cnn_status op_softmax(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd);
    int ax = norm_axis(attr_i(I->cur, "axis", I->opset >= 13 ? -1 : 1), rank);
    bool log = strcmp(I->cur->op_type, "LogSoftmax") == 0;
    if (ax == 1 && rank == 2 && !log) return set_out_node(I, 0, cnn_softmax(I->g, x->node));
    if (I->opset < 13 && ax != rank - 1) /* before 13: over all axes from ax, flattened */
        return fail(I, CNN_ERR_UNSUPPORTED, "axis %d of a rank-%d input before opset 13 (the last axis, or "
                    "rank 2, is supported)", ax, rank);
    return set_out_node(I, 0, cnn_softmax_axis(I->g, x->node, ax, log));
}

static cnn_status op_lrn(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t size = attr_i(I->cur, "size", 0);
    if (size < 1 || size % 2 == 0 || size > 4096)
        return fail(I, CNN_ERR_UNSUPPORTED, "size %lld (odd sizes, where ONNX's window is PyTorch's, are supported)",
                    (long long)size);
    return set_out_node(I, 0, cnn_lrn(I->g, x->node, .size = (int)size,
                                      .alpha = attr_f(I->cur, "alpha", 1e-4f),
                                      .beta = attr_f(I->cur, "beta", 0.75f), .k = attr_f(I->cur, "bias", 1.0f)));
}

static cnn_status op_global_avgpool(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t xd[CNN_ONNX_MAX_RANK];
    if (val_shape(x, xd) != 4) return fail(I, CNN_ERR_UNSUPPORTED, "input rank must be 4");
    return set_out_node(I, 0, cnn_global_avgpool(I->g, x->node));
}

static cnn_status op_pad(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    int64_t pads[2 * CNN_ONNX_MAX_RANK];
    int n;
    if (I->opset >= 11) CNN_CHECK(const_ints(I, 1, "pads", pads, 2 * CNN_ONNX_MAX_RANK, &n));
    else n = attr_ints(I->cur, "pads", pads, 2 * CNN_ONNX_MAX_RANK);
    bool zero = true;
    for (int k = 0; k < n; k++) zero &= pads[k] == 0;
    if (zero) return set_out_node(I, 0, x->node); /* torch writes these before pools */
    /* AvgPool2d(padding, count_include_pad=True) as torch writes it: a zero Pad of H
       and W (same before and after) whose only use is an unpadded AveragePool */
    float value = 0.0f;
    bool has = false;
    if (I->opset >= 11) CNN_CHECK(const_scalar(I, 2, "constant_value", &value, &has));
    else value = attr_f(I->cur, "value", 0.0f);
    ox_val *o = find_val(I, I->cur->output[0]);
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank = val_shape(x, xd);
    bool constant = !attr(I->cur, "mode") || attr_s(I->cur, "mode", "constant");
    if (rank == 4 && n == 8 && value == 0.0f && constant && pads[0] == 0 &&
        pads[1] == 0 && pads[4] == 0 && pads[5] == 0 && pads[2] == pads[6] && pads[3] == pads[7] &&
        o->uses == 1 && o->consumer >= 0) {
        const Onnx__NodeProto *pool = I->gr->node[o->consumer];
        int64_t pp[8];
        int np = attr_ints(pool, "pads", pp, 8);
        bool unpadded = np < 0 || (np == 4 && !pp[0] && !pp[1] && !pp[2] && !pp[3]);
        int64_t k[2], st[2] = {1, 1};
        int ns = attr_ints(pool, "strides", st, 2);
        if (ns >= 0 && ns != 2) return fail(I, CNN_ERR_FORMAT, "the pool's strides");
        if (pool->op_type && strcmp(pool->op_type, "AveragePool") == 0 && unpadded &&
            attr_ints(pool, "kernel_shape", k, 2) == 2 && !attr_i(pool, "ceil_mode", 0) &&
            (!attr(pool, "auto_pad") || attr_s(pool, "auto_pad", "NOTSET")) &&
            pool->n_output >= 1) {
            cnn_node *y = cnn_avgpool2d(I->g, x->node, .kernel_h = (int)k[0], .kernel_w = (int)k[1],
                                        .stride_h = (int)st[0], .stride_w = (int)st[1],
                                        .padding_h = (int)pads[2], .padding_w = (int)pads[3]);
            if (!y) return fail_graph(I);
            find_val(I, pool->output[0])->node = y;
            I->skip[o->consumer] = true;
            return CNN_OK;
        }
    }
    (void)has;
    if (n != 2 * rank) return fail(I, CNN_ERR_FORMAT, "%d pads for rank %d", n, rank);
    cnn_pad_mode mode = attr_s(I->cur, "mode", "reflect") ? CNN_PAD_REFLECT
                        : attr_s(I->cur, "mode", "edge") ? CNN_PAD_EDGE
                                                         : CNN_PAD_CONSTANT;
    if (mode == CNN_PAD_CONSTANT && !constant)
        return fail(I, CNN_ERR_UNSUPPORTED, "pad mode (constant, reflect and edge are supported)");
    int ip[2 * CNN_MAX_DIMS];
    for (int k = 0; k < n; k++) {
        if (pads[k] > INT_MAX / 4 || pads[k] < -(INT_MAX / 4)) return fail(I, CNN_ERR_FORMAT, "pad %lld", (long long)pads[k]);
        ip[k] = (int)pads[k];
    }
    return set_out_node(I, 0, cnn_pad(I->g, x->node, ip, mode, value));
}

static cnn_status op_identity(ox_imp *I)
{
    ox_val *x = input(I, 0);
    if (strcmp(I->cur->op_type, "Cast") == 0) {
        int64_t to = attr_i(I->cur, "to", 1);
        if (to != 1) return fail(I, CNN_ERR_UNSUPPORTED, "a cast of graph values to type %lld (float only)", (long long)to);
    }
    if (!x || !x->node) return fail(I, CNN_ERR_UNSUPPORTED, "input must be a graph value");
    return set_out_node(I, 0, x->node);
}

/* Compositions of the general ops, for operators with no layer of their own. */
static cnn_node *scalar_node(ox_imp *I, const char *what, float v)
{
    char name[600];
    snprintf(name, sizeof name, "%s/%s", I->cur_name, what);
    return cnn_constant(I->g, name, 1, (int[]){1}, &v);
}

/* PRelu: max(x, 0) + slope * min(x, 0), slope a (trainable) initializer. */
static cnn_status op_prelu(ox_imp *I)
{
    cnn_node *x, *slope;
    CNN_CHECK(as_node(I, 0, &x));
    CNN_CHECK(as_node(I, 1, &slope));
    cnn_node *zero = scalar_node(I, "zero", 0.0f);
    cnn_node *pos = cnn_binary(I->g, x, zero, CNN_BIN_MAX), *neg = cnn_binary(I->g, x, zero, CNN_BIN_MIN);
    return set_out_node(I, 0, cnn_binary(I->g, pos, cnn_binary(I->g, slope, neg, CNN_BIN_MUL), CNN_BIN_ADD));
}

/* Softplus log(1 + exp(x)); Softsign x / (1 + |x|). */
static cnn_status op_soft(ox_imp *I)
{
    cnn_node *x;
    CNN_CHECK(as_node(I, 0, &x));
    cnn_node *one = scalar_node(I, "one", 1.0f);
    if (strcmp(I->cur->op_type, "Softplus") == 0)
        return set_out_node(I, 0, cnn_unary(I->g, cnn_binary(I->g, cnn_unary(I->g, x, CNN_UN_EXP), one, CNN_BIN_ADD),
                                            CNN_UN_LOG));
    return set_out_node(I, 0, cnn_binary(I->g, x, cnn_binary(I->g, cnn_unary(I->g, x, CNN_UN_ABS), one, CNN_BIN_ADD),
                                         CNN_BIN_DIV));
}

/* LayerNormalization over the axes from `axis` on: (x - mean) / sqrt(var + eps) *
   scale + bias; outputs 1 and 2 are the mean and 1 / sqrt(var + eps). */
static cnn_status op_layernorm(ox_imp *I)
{
    ox_val *xv;
    CNN_CHECK(data_in(I, 0, &xv));
    int64_t xd[CNN_ONNX_MAX_RANK];
    int rank = val_shape(xv, xd);
    int ax = norm_axis(attr_i(I->cur, "axis", -1), rank);
    if (ax < 1 || ax >= rank) return fail(I, CNN_ERR_UNSUPPORTED, "axis %d (the batch may not be normalised)", ax);
    int axes[CNN_MAX_DIMS], na = 0;
    for (int d = ax; d < rank; d++) axes[na++] = d;
    cnn_node *x = xv->node, *scale, *bias = NULL;
    CNN_CHECK(as_node(I, 1, &scale));
    if (in_name(I->cur, 2)) CNN_CHECK(as_node(I, 2, &bias));
    cnn_node *mean = cnn_reduce(I->g, x, CNN_REDUCE_MEAN, na, axes, true);
    cnn_node *c = cnn_binary(I->g, x, mean, CNN_BIN_SUB);
    cnn_node *var = cnn_reduce(I->g, cnn_binary(I->g, c, c, CNN_BIN_MUL), CNN_REDUCE_MEAN, na, axes, true);
    cnn_node *den = cnn_unary(I->g, cnn_binary(I->g, var, scalar_node(I, "epsilon", attr_f(I->cur, "epsilon", 1e-5f)),
                                               CNN_BIN_ADD), CNN_UN_SQRT);
    cnn_node *y = cnn_binary(I->g, cnn_binary(I->g, c, den, CNN_BIN_DIV), scale, CNN_BIN_MUL);
    if (bias) y = cnn_binary(I->g, y, bias, CNN_BIN_ADD);
    CNN_CHECK(set_out_node(I, 0, y));
    CNN_CHECK(set_out_node(I, 1, mean));
    return I->cur->n_output > 2 && I->cur->output[2][0] ? set_out_node(I, 2, cnn_unary(I->g, den, CNN_UN_RECIPROCAL))
                                                         : CNN_OK;
}

/* ---------------------------------------------------------------- dispatch */
typedef struct ox_op {
    const char *name;
    cnn_status (*fn)(ox_imp *I);
} ox_op;

static cnn_status do_relu(ox_imp *I) { return op_activation(I, I->cur->op_type); }
static cnn_status do_maxpool(ox_imp *I) { return op_pool(I, true); }
static cnn_status do_avgpool(ox_imp *I) { return op_pool(I, false); }
static cnn_status do_gemm(ox_imp *I) { return op_linear(I, true); }
/* MatMul: (N, K) x constant (K, M) as a linear layer, NumPy matmul otherwise. */
static cnn_status do_matmul(ox_imp *I)
{
    ox_val *a = input(I, 0), *b = input(I, 1);
    if (a && b && batched(a) && b->is_const && b->c.f && b->c.ndim == 2) {
        int64_t ad[CNN_ONNX_MAX_RANK];
        if (val_shape(a, ad) == 2) return op_linear(I, false);
    }
    cnn_node *na, *nb;
    CNN_CHECK(as_node(I, 0, &na));
    CNN_CHECK(as_node(I, 1, &nb));
    return set_out_node(I, 0, cnn_matmul(I->g, na, nb));
}

static cnn_status do_unary(ox_imp *I)
{
    const char *op = I->cur->op_type;
    cnn_unary_op u = strcmp(op, "Neg") == 0          ? CNN_UN_NEG
                     : strcmp(op, "Abs") == 0        ? CNN_UN_ABS
                     : strcmp(op, "Exp") == 0        ? CNN_UN_EXP
                     : strcmp(op, "Log") == 0        ? CNN_UN_LOG
                     : strcmp(op, "Sqrt") == 0       ? CNN_UN_SQRT
                                                     : CNN_UN_RECIPROCAL;
    cnn_node *x;
    CNN_CHECK(as_node(I, 0, &x));
    return set_out_node(I, 0, cnn_unary(I->g, x, u));
}

static cnn_status do_global_maxpool(ox_imp *I)
{
    ox_val *x;
    CNN_CHECK(data_in(I, 0, &x));
    return set_out_node(I, 0, cnn_global_maxpool(I->g, x->node));
}
static cnn_status do_binary(ox_imp *I) { return op_binary(I, I->cur->op_type); }
static cnn_status do_rmean(ox_imp *I) { return op_reduce(I, CNN_REDUCE_MEAN); }
static cnn_status do_rmax(ox_imp *I) { return op_reduce(I, CNN_REDUCE_MAX); }
static cnn_status do_rmin(ox_imp *I) { return op_reduce(I, CNN_REDUCE_MIN); }
static cnn_status do_rsum(ox_imp *I) { return op_reduce(I, CNN_REDUCE_SUM); }
static cnn_status do_squeeze(ox_imp *I) { return op_squeeze(I, false); }
static cnn_status do_unsqueeze(ox_imp *I) { return op_squeeze(I, true); }
static cnn_status do_const_only(ox_imp *I)
{
    return fail(I, CNN_ERR_UNSUPPORTED, "supported on constants (shape computations) only");
}

static const ox_op g_ops[] = {
    {"Conv", op_conv},
    {"ConvTranspose", op_conv_transpose},
    {"BatchNormalization", op_batchnorm},
    {"Relu", do_relu},
    {"Clip", do_relu},
    {"Sigmoid", do_relu},
    {"Tanh", do_relu},
    {"HardSigmoid", do_relu},
    {"HardSwish", do_relu},
    {"Softmax", op_softmax},
    {"MaxPool", do_maxpool},
    {"AveragePool", do_avgpool},
    {"GlobalAveragePool", op_global_avgpool},
    {"LRN", op_lrn},
    {"Gemm", do_gemm},
    {"MatMul", do_matmul},
    {"Flatten", op_flatten},
    {"Reshape", op_reshape},
    {"Concat", op_concat},
    {"Split", op_split},
    {"Slice", op_slice},
    {"Add", do_binary},
    {"Mul", do_binary},
    {"Sub", do_binary},
    {"Div", do_binary},
    {"ReduceMean", do_rmean},
    {"ReduceMax", do_rmax},
    {"ReduceMin", do_rmin},
    {"ReduceSum", do_rsum},
    {"Transpose", op_transpose},
    {"LeakyRelu", do_relu},
    {"Elu", do_relu},
    {"Max", do_binary},
    {"Min", do_binary},
    {"Pow", do_binary},
    {"Dropout", op_dropout},
    {"Identity", op_identity},
    {"Pad", op_pad},
    {"Cast", op_identity},
    {"Squeeze", do_squeeze},
    {"Unsqueeze", do_unsqueeze},
    {"Shape", do_const_only},
    {"Gather", do_const_only},
    {"Constant", do_const_only},
    {"ConstantOfShape", do_const_only},
    {"Range", do_const_only},
    {"Equal", do_const_only},
    {"Where", do_const_only},
    {"Neg", do_unary},
    {"Abs", do_unary},
    {"Exp", do_unary},
    {"Log", do_unary},
    {"Sqrt", do_unary},
    {"Reciprocal", do_unary},
    {"GlobalMaxPool", do_global_maxpool},
    {"PRelu", op_prelu},
    {"Softplus", op_soft},
    {"Softsign", op_soft},
    {"LayerNormalization", op_layernorm},
    {"LogSoftmax", op_softmax},
};
#define N_OPS (int)(sizeof g_ops / sizeof g_ops[0])

static cnn_status unsupported(ox_imp *I)
{
    char list[1024];
    size_t pos = 0;
    for (int i = 0; i < N_OPS && pos < sizeof list - 40; i++)
        pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s%s", i ? ", " : "", g_ops[i].name);
    return fail(I, CNN_ERR_UNSUPPORTED, "unsupported operator%s%s (supported: %s)",
                I->cur->domain && *I->cur->domain ? " in domain " : "",
                I->cur->domain ? I->cur->domain : "", list);
}

static cnn_status run_node(ox_imp *I)
{
    const char *op = I->cur->op_type ? I->cur->op_type : "";
    const char *dom = I->cur->domain ? I->cur->domain : "";
    if (*dom && strcmp(dom, "ai.onnx") != 0) return unsupported(I);
    bool done;
    CNN_CHECK(fold(I, op, &done));
    if (done) return CNN_OK;
    for (int i = 0; i < N_OPS; i++)
        if (strcmp(g_ops[i].name, op) == 0) {
            int first = cnn_graph_num_nodes(I->g);
            I->named = NULL;
            CNN_CHECK(g_ops[i].fn(I));
            return name_nodes(I, first);
        }
    return unsupported(I);
}

/* ---------------------------------------------------------------- graph */
/* Graph inputs: dimension 0 is the batch; symbolic dims of the first input come
   from the options (channels, then depth/height/width from the end). */
static cnn_status make_inputs(ox_imp *I, const cnn_onnx_import_opts *o, cnn_node **first)
{
    *first = NULL;
    for (size_t i = 0; i < I->gr->n_input; i++) {
        const Onnx__ValueInfoProto *vi = I->gr->input[i];
        if (!vi->name || !*vi->name) return fail(I, CNN_ERR_FORMAT, "graph input %zu has no name", i);
        ox_val *v = find_val(I, vi->name);
        if (v && v->is_const) continue; /* IR < 4 lists initializers as inputs too */
        const Onnx__TypeProto *tp = vi->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
            return fail(I, CNN_ERR_UNSUPPORTED, "graph input '%s' is not a tensor", vi->name);
        char tb[32];
        if (tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return fail(I, CNN_ERR_UNSUPPORTED, "graph input '%s' has type %s (float inputs are supported)",
                        vi->name, cnn_onnx_type_name(tp->tensor_type->elem_type, tb, sizeof tb));
        const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
        if (!sh) return fail(I, CNN_ERR_UNSUPPORTED, "graph input '%s' has no shape", vi->name);
        int rank = (int)sh->n_dim;
        if (rank < 2 || rank > CNN_MAX_DIMS)
            return fail(I, CNN_ERR_UNSUPPORTED, "graph input '%s' has rank %d (2 to %d are supported)", vi->name,
                        rank, CNN_MAX_DIMS);
        bool is_first = *first == NULL;
        int want[CNN_MAX_DIMS] = {0};
        const char *wname[CNN_MAX_DIMS] = {0};
        if (is_first && o) {
            want[1] = o->channels;
            wname[1] = "channels";
            if (rank >= 3) want[rank - 1] = o->width, wname[rank - 1] = "width";
            if (rank >= 4) want[rank - 2] = o->height, wname[rank - 2] = "height";
            if (rank >= 5) want[rank - 3] = o->depth, wname[rank - 3] = "depth";
        }
        int dims[CNN_MAX_DIMS];
        int64_t per = 1;
        for (int d = 0; d < rank; d++) {
            const Onnx__TensorShapeProto__Dimension *dm = sh->dim[d];
            bool fixed = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            if (d == 0) {
                if (fixed && is_first) I->file_batch = dm->dim_value > 0 && dm->dim_value <= INT_MAX ? (int)dm->dim_value : 0;
                dims[0] = I->batch;
                continue;
            }
            int64_t dv;
            if (fixed) {
                dv = dm->dim_value;
                if (want[d] > 0 && want[d] != dv)
                    return fail(I, CNN_ERR_SHAPE, "graph input '%s' has a fixed dimension %d of %lld, the "
                                "options ask %s %d", vi->name, d, (long long)dv, wname[d], want[d]);
            } else if (want[d] > 0) {
                dv = want[d];
            } else {
                return fail(I, CNN_ERR_SHAPE, "graph input '%s': dimension %d ('%s') is symbolic; give it "
                            "with the input size (--input)%s", vi->name, d,
                            dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && dm->dim_param
                                ? dm->dim_param : "?",
                            is_first ? "" : " (only the first input's can be given)");
            }
            if (dv < 1 || dv > (1 << 24))
                return fail(I, CNN_ERR_SHAPE, "graph input '%s': dimension %d is %lld (huge or not positive)",
                            vi->name, d, (long long)dv);
            per *= dv;
            if (per > ((int64_t)1 << 31) / I->batch)
                return fail(I, CNN_ERR_SHAPE, "graph input '%s' is too large (more than 2^31 elements)", vi->name);
            dims[d] = (int)dv;
        }
        ox_val *nv;
        CNN_CHECK(add_val(I, vi->name, &nv));
        nv->node = cnn_input(I->g, vi->name, rank, dims);
        if (!nv->node) return fail_graph(I);
        if (!*first) *first = nv->node;
    }
    if (!*first) return fail(I, CNN_ERR_FORMAT, "the graph has no (non-initializer) input");
    return CNN_OK;
}

/* Kahn's algorithm over the node list; a cycle (or a node waiting on a value nothing
   produces) is reported by name. */
static cnn_status topo_order(ox_imp *I, int *order)
{
    const Onnx__GraphProto *gr = I->gr;
    int n = (int)gr->n_node;
    int *wait = cnn_calloc((size_t)(n ? n : 1), sizeof *wait);
    int *queue = order;
    if (!wait) return fail(I, CNN_ERR_NOMEM, "out of memory");
    /* producer of each value: v->producer, set by the caller */
    int head = 0, tail = 0;
    for (int i = 0; i < n; i++) {
        const Onnx__NodeProto *nd = gr->node[i];
        for (size_t k = 0; k < nd->n_input; k++) {
            ox_val *v = find_val(I, in_name(nd, (int)k));
            if (v && v->producer >= 0) wait[i]++;
        }
        if (!wait[i]) queue[tail++] = i;
    }
    while (head < tail) {
        int i = queue[head++];
        const Onnx__NodeProto *nd = gr->node[i];
        for (size_t k = 0; k < nd->n_output; k++) {
            if (!nd->output[k][0]) continue;
            for (int j = 0; j < n; j++) {
                const Onnx__NodeProto *c = gr->node[j];
                for (size_t q = 0; q < c->n_input; q++)
                    if (in_name(c, (int)q) && strcmp(c->input[q], nd->output[k]) == 0 && --wait[j] == 0)
                        queue[tail++] = j;
            }
        }
    }
    cnn_status s = CNN_OK;
    if (tail < n) {
        for (int i = 0; i < n; i++)
            if (wait[i] > 0) {
                const Onnx__NodeProto *nd = gr->node[i];
                I->cur = nd;
                I->cur_name = nd->name && *nd->name ? nd->name : nd->n_output ? nd->output[0] : "?";
                s = fail(I, CNN_ERR_FORMAT, "the graph has a cycle through this node");
                I->cur = NULL;
                break;
            }
    }
    cnn_free(wait);
    return s;
}

static cnn_status import(ox_imp *I, const cnn_onnx_import_opts *o, cnn_node **input_out, cnn_node **output_out)
{
    const Onnx__GraphProto *gr = I->gr;
    /* initializers */
    for (size_t i = 0; i < gr->n_initializer; i++) {
        const Onnx__TensorProto *t = gr->initializer[i];
        if (!t->name || !*t->name) return fail(I, CNN_ERR_FORMAT, "initializer %zu has no name", i);
        if (find_val(I, t->name)) return fail(I, CNN_ERR_FORMAT, "initializer '%s' is defined twice", t->name);
        ox_val *v;
        CNN_CHECK(add_val(I, t->name, &v));
        char what[600];
        snprintf(what, sizeof what, "%s: initializer '%s'", I->path, t->name);
        CNN_CHECK(cnn_onnx_decode(t, I->dir, what, &v->c));
        v->is_const = true;
        v->init = t->name;
    }
    if (gr->n_sparse_initializer) return fail(I, CNN_ERR_UNSUPPORTED, "sparse initializers are not supported");
    CNN_CHECK(make_inputs(I, o, input_out));
    /* node outputs, then every input must name something */
    for (size_t i = 0; i < gr->n_node; i++) {
        const Onnx__NodeProto *nd = gr->node[i];
        I->cur = nd;
        I->cur_name = nd->name && *nd->name ? nd->name : nd->n_output && nd->output[0] ? nd->output[0] : "?";
        for (size_t k = 0; k < nd->n_output; k++) {
            if (!nd->output[k] || !nd->output[k][0]) continue;
            ox_val *v;
            CNN_CHECK(add_val(I, nd->output[k], &v));
            v->producer = (int)i;
        }
    }
    for (size_t i = 0; i < gr->n_node; i++) {
        const Onnx__NodeProto *nd = gr->node[i];
        I->cur = nd;
        I->cur_name = nd->name && *nd->name ? nd->name : nd->n_output ? nd->output[0] : "?";
        for (size_t k = 0; k < nd->n_input; k++) {
            const char *nm = in_name(nd, (int)k);
            if (!nm) continue;
            ox_val *v = find_val(I, nm);
            if (!v)
                return fail(I, CNN_ERR_FORMAT, "input '%s' is not a graph input, an initializer or "
                            "any node's output (missing initializer?)", nm);
            v->uses++;
            v->consumer = (int)i;
        }
    }
    I->cur = NULL;
    for (size_t i = 0; i < gr->n_output; i++) {
        ox_val *v = gr->output[i]->name ? find_val(I, gr->output[i]->name) : NULL;
        if (!v) return fail(I, CNN_ERR_FORMAT, "graph output '%s' is not computed by the graph",
                            gr->output[i]->name ? gr->output[i]->name : "");
        v->uses++;
    }
    if (!gr->n_output) return fail(I, CNN_ERR_FORMAT, "the graph has no output");
    int n = (int)gr->n_node;
    int *order = cnn_malloc((size_t)(n ? n : 1) * sizeof *order);
    I->skip = cnn_calloc((size_t)(n ? n : 1), sizeof *I->skip);
    if (!order || !I->skip) {
        cnn_free(order);
        return fail(I, CNN_ERR_NOMEM, "out of memory");
    }
    cnn_status s = topo_order(I, order);
    for (int k = 0; k < n && s == CNN_OK; k++) {
        int i = order[k];
        if (I->skip[i]) continue;
        const Onnx__NodeProto *nd = gr->node[i];
        I->cur = nd;
        I->cur_index = i;
        I->cur_name = nd->name && *nd->name ? nd->name : nd->n_output ? nd->output[0] : "?";
        s = run_node(I); /* a consumer of a value left unset fails in data_in */
    }
    cnn_free(order);
    I->cur = NULL;
    CNN_CHECK(s);
    /* outputs: the first is marked last so cnn_graph_output() returns it */
    for (int i = (int)gr->n_output - 1; i >= 0; i--) {
        ox_val *v = find_val(I, gr->output[i]->name);
        if (!cnn_node_batched(v->node))
            return fail(I, CNN_ERR_UNSUPPORTED, "graph output '%s' does not depend on the input", v->name);
        cnn_graph_mark_output(I->g, v->node);
        if (cnn_graph_status(I->g) != CNN_OK) return fail_graph(I);
        if (i == 0) *output_out = v->node;
    }
    return CNN_OK;
}

cnn_status cnn_onnx_import(cnn_graph *g, const char *path, const cnn_onnx_import_opts *o, cnn_node **input,
                           cnn_node **output)
{
    if (!g || !path) return cnn_set_error(CNN_ERR_INVALID_ARG, "onnx import: graph or path is NULL");
    if (cnn_graph_num_nodes(g)) return cnn_set_error(CNN_ERR_STATE, "%s: the graph is not empty", path);
    if (o && (o->batch < 0 || o->channels < 0 || o->depth < 0 || o->height < 0 || o->width < 0))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: negative import option", path);
    ox_imp I = {.g = g, .path = path, .batch = o && o->batch > 0 ? o->batch : 1};
    CNN_CHECK(cnn_onnx_read(path, &I.m, &I.opset, I.dir, sizeof I.dir));
    I.gr = I.m->graph;
    I.fold_budget = OX_FOLD_BASE;
    for (size_t i = 0; I.gr && i < I.gr->n_initializer; i++) {
        /* (an initializer with bad dims is refused when it is decoded; here it only
           must not overflow) */
        const Onnx__TensorProto *t = I.gr->initializer[i];
        int64_t n = 1;
        for (size_t d = 0; d < t->n_dims && n > 0; d++)
            n = t->dims[d] < 0 || t->dims[d] > CNN_ONNX_MAX_NUMEL ? 0 : n * t->dims[d];
        if (n > 0 && n <= CNN_ONNX_MAX_NUMEL) I.fold_budget += n;
    }
    cnn_node *in = NULL, *out = NULL;
    cnn_status s = import(&I, o, &in, &out);
    for (int i = 0; i < I.nv; i++) cnn_onnx_const_free(&I.v[i].c);
    cnn_free(I.v);
    cnn_free(I.ht);
    cnn_free(I.skip);
    onnx__model_proto__free_unpacked(I.m, NULL);
    if (s != CNN_OK) return s;
    if (input) *input = in;
    if (output) *output = out;
    return CNN_OK;
}

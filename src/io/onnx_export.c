/* ONNX export: a cnn.c graph as an ONNX model (opset 17, IR 8), written with the
 * protobuf-c code generated from Debian's onnx.proto (docs/architecture.md, "ONNX").
 *
 * Every node the exported output depends on becomes one ONNX node named after it (a
 * few ops need helper nodes, named "<node>::<what>"); its value is the ONNX value of
 * the same name. Parameters and buffers become initializers under their own names
 * (the PyTorch state_dict keys), batch-norm running statistics included, so weights
 * move between cnn.c, PyTorch and ONNX without a mapping table. The graph input keeps
 * its name with a symbolic batch dimension "N"; the output is the model's logits
 * (a cross-entropy loss at the end is left out). Each op's options come from its
 * describe() hook (docs/architecture.md, "Operators": the describe keys).
 *
 * Nothing is written on failure: the model goes to "<path>.tmp.<pid>", is flushed and
 * fsync'ed, then renamed over path. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn.h"
#include "onnx/onnx.pb-c.h"

#define EXPORT_OPSET 17
#define EXPORT_IR_VERSION 8 /* ONNX 1.12's */

typedef struct ex {
    cnn_graph *g;
    void **allocs; /* everything allocated for the message, freed at the end */
    size_t n_allocs, cap_allocs;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    Onnx__ValueInfoProto **inputs;
    size_t n_inputs, cap_inputs;
    const char **vname; /* ONNX value name of each cnn node (by id) */
    cnn_status st;      /* first error (its message is set) */
} ex;

/* ---------------------------------------------------------------- allocation */
static void *ex_alloc(ex *e, size_t bytes)
{
    if (e->st != CNN_OK) return NULL;
    if (e->n_allocs == e->cap_allocs) {
        size_t cap = e->cap_allocs ? 2 * e->cap_allocs : 256;
        void **p = cnn_realloc(e->allocs, cap * sizeof *p);
        if (!p) goto oom;
        e->allocs = p;
        e->cap_allocs = cap;
    }
    void *p = cnn_calloc(1, bytes ? bytes : 1);
    if (!p) goto oom;
    e->allocs[e->n_allocs++] = p;
    return p;
oom:
    e->st = cnn_set_error(CNN_ERR_NOMEM, "onnx export: out of memory");
    return NULL;
}

static char *ex_str(ex *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static char *ex_str(ex *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = len >= 0 ? ex_alloc(e, (size_t)len + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Appends p to a growing array of pointers. */
static bool ex_push(ex *e, void ***arr, size_t *n, size_t *cap, void *p)
{
    if (!p || e->st != CNN_OK) return false;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        void **a = cnn_realloc(*arr, c * sizeof *a);
        if (!a) {
            e->st = cnn_set_error(CNN_ERR_NOMEM, "onnx export: out of memory");
            return false;
        }
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
    return true;
}

static cnn_status ex_fail(ex *e, const cnn_node *n, cnn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static cnn_status ex_fail(ex *e, const cnn_node *n, cnn_status s, const char *fmt, ...)
{
    char msg[512];
    CNN_VFORMAT(msg, fmt);
    if (e->st == CNN_OK)
        e->st = cnn_set_error(s, "onnx export: %s '%s': %s", cnn_node_op(n), cnn_node_name(n), msg);
    return e->st;
}

/* ---------------------------------------------------------------- nodes */
/* A node op_type(inputs) -> output; inputs[i] NULL or "" = an omitted optional one. */
static Onnx__NodeProto *ex_node(ex *e, const char *op_type, const char *name, int n_in,
                                const char *const *in, const char *out)
{
    Onnx__NodeProto *p = ex_alloc(e, sizeof *p);
    char **ins = ex_alloc(e, (size_t)(n_in > 0 ? n_in : 1) * sizeof *ins);
    char **outs = ex_alloc(e, sizeof *outs);
    if (!p || !ins || !outs) return NULL;
    onnx__node_proto__init(p);
    for (int i = 0; i < n_in; i++) ins[i] = (char *)(in[i] ? in[i] : "");
    outs[0] = (char *)out;
    p->n_input = (size_t)n_in;
    p->input = ins;
    p->n_output = 1;
    p->output = outs;
    p->name = (char *)name;
    p->op_type = (char *)op_type;
    if (!ex_push(e, (void ***)&e->nodes, &e->n_nodes, &e->cap_nodes, p)) return NULL;
    return p;
}

static Onnx__AttributeProto *ex_attr(ex *e, Onnx__NodeProto *p, const char *name,
                                     Onnx__AttributeProto__AttributeType type)
{
    if (!p) return NULL;
    Onnx__AttributeProto *a = ex_alloc(e, sizeof *a);
    Onnx__AttributeProto **arr = ex_alloc(e, (p->n_attribute + 1) * sizeof *arr);
    if (!a || !arr) return NULL;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    if (p->n_attribute) memcpy(arr, p->attribute, p->n_attribute * sizeof *arr);
    arr[p->n_attribute++] = a;
    p->attribute = arr; /* the old array stays in the arena */
    return a;
}

static void attr_int(ex *e, Onnx__NodeProto *p, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ex_attr(e, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return;
    a->has_i = 1;
    a->i = v;
}

static void attr_float(ex *e, Onnx__NodeProto *p, const char *name, float v)
{
    Onnx__AttributeProto *a = ex_attr(e, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a) return;
    a->has_f = 1;
    a->f = v;
}

static void attr_ints(ex *e, Onnx__NodeProto *p, const char *name, int n, const int64_t *v)
{
    Onnx__AttributeProto *a = ex_attr(e, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *vals = ex_alloc(e, (size_t)(n > 0 ? n : 1) * sizeof *vals);
    if (!a || !vals) return;
    memcpy(vals, v, (size_t)n * sizeof *vals);
    a->n_ints = (size_t)n;
    a->ints = vals;
}

static void attr_string(ex *e, Onnx__NodeProto *p, const char *name, const char *s)
{
    Onnx__AttributeProto *a = ex_attr(e, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (!a) return;
    a->has_s = 1;
    a->s.data = (uint8_t *)s;
    a->s.len = strlen(s);
}

/* ---------------------------------------------------------------- initializers */
/* A float32 initializer; data is referenced, not copied (it must outlive the write). */
static const char *ex_init_f32(ex *e, const char *name, int ndim, const int *dims, const float *data)
{
    Onnx__TensorProto *t = ex_alloc(e, sizeof *t);
    int64_t *d = ex_alloc(e, (size_t)(ndim > 0 ? ndim : 1) * sizeof *d);
    if (!t || !d || !name) return NULL;
    onnx__tensor_proto__init(t);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        d[i] = dims[i];
        numel *= (size_t)dims[i];
    }
    t->n_dims = (size_t)ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->name = (char *)name;
    t->has_raw_data = 1; /* little-endian, as ONNX's raw_data (checked at export) */
    t->raw_data.data = (uint8_t *)data;
    t->raw_data.len = numel * sizeof(float);
    if (!ex_push(e, (void ***)&e->inits, &e->n_inits, &e->cap_inits, t)) return NULL;
    return name;
}

/* A float scalar (0-d) initializer, owned by the arena. */
static const char *ex_init_scalar(ex *e, const char *name, float v)
{
    float *x = ex_alloc(e, sizeof *x);
    if (!x) return NULL;
    *x = v;
    return ex_init_f32(e, name, 0, NULL, x);
}

/* A 1-D int64 initializer (shapes, axes, pads), copied. */
static const char *ex_init_i64(ex *e, const char *name, int n, const int64_t *v)
{
    Onnx__TensorProto *t = ex_alloc(e, sizeof *t);
    int64_t *d = ex_alloc(e, sizeof *d);
    int64_t *vals = ex_alloc(e, (size_t)(n > 0 ? n : 1) * sizeof *vals);
    if (!t || !d || !vals || !name) return NULL;
    onnx__tensor_proto__init(t);
    memcpy(vals, v, (size_t)n * sizeof *vals);
    d[0] = n;
    t->n_dims = 1;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->name = (char *)name;
    t->n_int64_data = (size_t)n;
    t->int64_data = vals;
    if (!ex_push(e, (void ***)&e->inits, &e->n_inits, &e->cap_inits, t)) return NULL;
    return name;
}

static const char *ex_param(ex *e, const cnn_param *p)
{
    /* a parameter shared by two nodes (cnn_apply_shared) is one initializer */
    for (size_t i = 0; i < e->n_inits; i++)
        if (e->inits[i]->name == p->name) return p->name;
    return ex_init_f32(e, p->name, p->value.ndim, p->value.dims, p->value.data);
}

/* ---------------------------------------------------------------- value infos */
/* dims of a value; dim 0 symbolic ("N") when batched. */
static Onnx__ValueInfoProto *ex_value_info(ex *e, const char *name, const cnn_node *n)
{
    Onnx__ValueInfoProto *v = ex_alloc(e, sizeof *v);
    Onnx__TypeProto *tp = ex_alloc(e, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ex_alloc(e, sizeof *tt);
    Onnx__TensorShapeProto *sh = ex_alloc(e, sizeof *sh);
    int nd = cnn_node_ndim(n);
    Onnx__TensorShapeProto__Dimension **dims = ex_alloc(e, (size_t)(nd > 0 ? nd : 1) * sizeof *dims);
    if (!v || !tp || !tt || !sh || !dims) return NULL;
    for (int i = 0; i < nd; i++) {
        Onnx__TensorShapeProto__Dimension *d = ex_alloc(e, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0 && cnn_node_batched(n)) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = cnn_node_dim(n, i);
        }
        dims[i] = d;
    }
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)nd;
    sh->dim = dims;
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    onnx__type_proto__init(tp);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    onnx__value_info_proto__init(v);
    v->name = (char *)name;
    v->type = tp;
    return v;
}

/* ---------------------------------------------------------------- ops */
static const cnn_desc_attr *need(ex *e, const cnn_node *n, const cnn_op_desc *d, const char *key)
{
    const cnn_desc_attr *a = cnn_desc_find(d, key);
    if (!a) ex_fail(e, n, CNN_ERR_UNSUPPORTED, "describe() lists no \"%s\"", key);
    return a;
}

static int64_t desc_int(const cnn_op_desc *d, const char *key, int64_t dflt)
{
    const cnn_desc_attr *a = cnn_desc_find(d, key);
    if (!a || a->n < 1) return dflt;
    return a->is_float ? (int64_t)a->f[0] : a->i[0];
}

static float desc_float(const cnn_op_desc *d, const char *key, float dflt)
{
    const cnn_desc_attr *a = cnn_desc_find(d, key);
    if (!a || a->n < 1) return dflt;
    return a->is_float ? a->f[0] : (float)a->i[0];
}

/* kernel_shape / strides / dilations / pads (begins then ends) of a conv or pool. */
static bool window_attrs(ex *e, Onnx__NodeProto *p, const cnn_node *n, const cnn_op_desc *d,
                         bool dilations)
{
    const cnn_desc_attr *k = need(e, n, d, "kernel"), *s = need(e, n, d, "stride"),
                        *pad = need(e, n, d, "padding");
    if (!k || !s || !pad) return false;
    int64_t pads[2 * CNN_DESC_MAX_VALUES];
    for (int i = 0; i < pad->n; i++) pads[i] = pads[pad->n + i] = pad->i[i];
    attr_ints(e, p, "kernel_shape", k->n, k->i);
    attr_ints(e, p, "strides", s->n, s->i);
    attr_ints(e, p, "pads", 2 * pad->n, pads);
    const cnn_desc_attr *dil = cnn_desc_find(d, "dilation");
    if (dil && dilations) attr_ints(e, p, "dilations", dil->n, dil->i);
    if (dil && !dilations)
        for (int i = 0; i < dil->n; i++)
            if (dil->i[i] != 1) {
                ex_fail(e, n, CNN_ERR_UNSUPPORTED, "dilation %lld: ONNX %s has no dilations",
                        (long long)dil->i[i], p->op_type);
                return false;
            }
    return true;
}

/* Reshape of x to (batch, dims...) (batch written as -1, so any batch runs). */
static void reshape_to(ex *e, const char *name, const char *x, int nd, const int64_t *dims,
                       const char *out)
{
    int64_t shape[CNN_MAX_DIMS + 1];
    shape[0] = -1;
    for (int i = 0; i < nd; i++) shape[i + 1] = dims[i];
    const char *sh = ex_init_i64(e, ex_str(e, "%s::shape", name), nd + 1, shape);
    ex_node(e, "Reshape", name, 2, (const char *[]){x, sh}, out);
}

/* The adaptive average pool (PyTorch's bins) where ONNX has no op for it: the bins as
   a (H*W, oh*ow) averaging matrix, Reshape - MatMul - Reshape. */
static void adaptive_matmul(ex *e, const cnn_node *n, const char *x, const char *out)
{
    const cnn_node *in = cnn_node_input(n, 0);
    int C = cnn_node_dim(in, 1), H = cnn_node_dim(in, 2), W = cnn_node_dim(in, 3);
    int oh = cnn_node_dim(n, 2), ow = cnn_node_dim(n, 3);
    float *m = ex_alloc(e, (size_t)H * W * oh * ow * sizeof *m);
    if (!m) return;
    for (int i = 0; i < oh; i++) {
        int h0 = (i * H) / oh, h1 = ((i + 1) * H + oh - 1) / oh;
        for (int j = 0; j < ow; j++) {
            int w0 = (j * W) / ow, w1 = ((j + 1) * W + ow - 1) / ow;
            float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
            for (int h = h0; h < h1; h++)
                for (int w = w0; w < w1; w++) m[((size_t)h * W + w) * oh * ow + (size_t)i * ow + j] = inv;
        }
    }
    const char *nm = cnn_node_name(n);
    const char *mat = ex_init_f32(e, ex_str(e, "%s::bins", nm), 2, (const int[]){H * W, oh * ow}, m);
    const char *flat = ex_str(e, "%s::flat", nm), *prod = ex_str(e, "%s::matmul", nm);
    reshape_to(e, flat, x, 2, (const int64_t[]){C, (int64_t)H * W}, flat);
    ex_node(e, "MatMul", nm, 2, (const char *[]){flat, mat}, prod);
    reshape_to(e, ex_str(e, "%s::unflat", nm), prod, 3, (const int64_t[]){C, oh, ow}, out);
}

static void export_activation(ex *e, const cnn_node *n, const cnn_op_desc *d, const char *x,
                              const char *out)
{
    int64_t act = desc_int(d, "act", -1);
    const char *nm = cnn_node_name(n);
    Onnx__NodeProto *p;
    switch ((cnn_act)act) {
    case CNN_ACT_RELU: ex_node(e, "Relu", nm, 1, &x, out); return;
    case CNN_ACT_SIGMOID: ex_node(e, "Sigmoid", nm, 1, &x, out); return;
    case CNN_ACT_TANH: ex_node(e, "Tanh", nm, 1, &x, out); return;
    case CNN_ACT_HARDSWISH: ex_node(e, "HardSwish", nm, 1, &x, out); return;
    case CNN_ACT_HARDSIGMOID:
        p = ex_node(e, "HardSigmoid", nm, 1, &x, out);
        attr_float(e, p, "alpha", desc_float(d, "alpha", 1.0f / 6.0f));
        attr_float(e, p, "beta", desc_float(d, "beta", 0.5f));
        return;
    case CNN_ACT_LEAKY_RELU:
        p = ex_node(e, "LeakyRelu", nm, 1, &x, out);
        attr_float(e, p, "alpha", desc_float(d, "alpha", 0.01f));
        return;
    case CNN_ACT_ELU:
        p = ex_node(e, "Elu", nm, 1, &x, out);
        attr_float(e, p, "alpha", desc_float(d, "alpha", 1.0f));
        return;
    case CNN_ACT_RELU6:
    case CNN_ACT_CLIP: {
        bool r6 = act == CNN_ACT_RELU6;
        const char *lo = ex_init_scalar(e, ex_str(e, "%s::min", nm), r6 ? 0.0f : desc_float(d, "alpha", -INFINITY));
        const char *hi = ex_init_scalar(e, ex_str(e, "%s::max", nm), r6 ? 6.0f : desc_float(d, "beta", INFINITY));
        ex_node(e, "Clip", nm, 3, (const char *[]){x, lo, hi}, out);
        return;
    }
    default: ex_fail(e, n, CNN_ERR_UNSUPPORTED, "activation kind %lld has no ONNX export", (long long)act);
    }
}

static const char *const BINARY_OPS[] = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"};
static const char *const UNARY_OPS[] = {"Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal"};
static const char *const REDUCE_OPS[] = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"};
static const char *const PAD_MODES[] = {"constant", "reflect", "edge"};

/* The ONNX value name of n's input i. */
static const char *in_name(const ex *e, const cnn_node *n, int i)
{
    return e->vname[cnn_node_index(cnn_node_input(n, i))];
}

/* One cnn node as ONNX node(s) producing e->vname[its index]. */
static void export_node(ex *e, const cnn_node *n)
{
    const char *op = cnn_node_op(n), *nm = cnn_node_name(n), *out = e->vname[cnn_node_index(n)];
    const char *x = cnn_node_num_inputs(n) > 0 ? in_name(e, n, 0) : NULL;
    int n_in = cnn_node_num_inputs(n);
    const cnn_node *in0 = cnn_node_input(n, 0);
    cnn_op_desc d;
    cnn_node_describe(n, &d);
    Onnx__NodeProto *p;

    if (!strcmp(op, "conv2d") || !strcmp(op, "conv3d") || !strcmp(op, "conv_transpose2d")) {
        bool tr = !strcmp(op, "conv_transpose2d");
        const char *w = ex_param(e, cnn_node_param_at(n, 0));
        const char *b = desc_int(&d, "bias", 0) ? ex_param(e, cnn_node_param_at(n, 1)) : NULL;
        p = ex_node(e, tr ? "ConvTranspose" : "Conv", nm, b ? 3 : 2, (const char *[]){x, w, b}, out);
        if (!window_attrs(e, p, n, &d, true)) return;
        attr_int(e, p, "group", desc_int(&d, "groups", 1));
        const cnn_desc_attr *op_pad = cnn_desc_find(&d, "output_padding");
        if (tr && op_pad) attr_ints(e, p, "output_padding", op_pad->n, op_pad->i);
    } else if (!strcmp(op, "batchnorm2d") || !strcmp(op, "batchnorm3d")) {
        const char *in[5] = {x};
        for (int i = 0; i < 4; i++) in[i + 1] = ex_param(e, cnn_node_param_at(n, i));
        p = ex_node(e, "BatchNormalization", nm, 5, in, out);
        attr_float(e, p, "epsilon", desc_float(&d, "eps", 1e-5f));
        /* ONNX: running = running * momentum + batch * (1 - momentum); torch the reverse */
        attr_float(e, p, "momentum", 1.0f - desc_float(&d, "momentum", 0.1f));
    } else if (!strcmp(op, "maxpool2d") || !strcmp(op, "maxpool3d")) {
        p = ex_node(e, "MaxPool", nm, 1, &x, out);
        if (!window_attrs(e, p, n, &d, true)) return;
        attr_int(e, p, "ceil_mode", desc_int(&d, "ceil_mode", 0));
    } else if (!strcmp(op, "avgpool2d")) {
        p = ex_node(e, "AveragePool", nm, 1, &x, out);
        if (!window_attrs(e, p, n, &d, false)) return;
        attr_int(e, p, "ceil_mode", desc_int(&d, "ceil_mode", 0));
        attr_int(e, p, "count_include_pad", !desc_int(&d, "exclude_pad", 0));
    } else if (!strcmp(op, "global_avgpool")) {
        ex_node(e, "GlobalAveragePool", nm, 1, &x, out);
    } else if (!strcmp(op, "adaptive_avgpool2d")) {
        int H = cnn_node_dim(in0, 2), W = cnn_node_dim(in0, 3), oh = cnn_node_dim(n, 2), ow = cnn_node_dim(n, 3);
        if (oh == 1 && ow == 1) {
            ex_node(e, "GlobalAveragePool", nm, 1, &x, out);
        } else if (H % oh == 0 && W % ow == 0) { /* equal bins: an ordinary average pool */
            p = ex_node(e, "AveragePool", nm, 1, &x, out);
            attr_ints(e, p, "kernel_shape", 2, (const int64_t[]){H / oh, W / ow});
            attr_ints(e, p, "strides", 2, (const int64_t[]){H / oh, W / ow});
        } else if (H == 1 && W == 1) { /* every bin is the one value: a broadcast */
            float *ones = ex_alloc(e, (size_t)oh * ow * sizeof *ones);
            if (!ones) return;
            for (int i = 0; i < oh * ow; i++) ones[i] = 1.0f;
            const char *o1 = ex_init_f32(e, ex_str(e, "%s::ones", nm), 4, (const int[]){1, 1, oh, ow}, ones);
            ex_node(e, "Mul", nm, 2, (const char *[]){x, o1}, out);
        } else {
            adaptive_matmul(e, n, x, out);
        }
    } else if (!strcmp(op, "lrn")) {
        p = ex_node(e, "LRN", nm, 1, &x, out);
        attr_int(e, p, "size", desc_int(&d, "size", 1));
        attr_float(e, p, "alpha", desc_float(&d, "alpha", 1e-4f));
        attr_float(e, p, "beta", desc_float(&d, "beta", 0.75f));
        attr_float(e, p, "bias", desc_float(&d, "k", 1.0f));
    } else if (!strcmp(op, "activation")) {
        export_activation(e, n, &d, x, out);
    } else if (!strcmp(op, "softmax")) {
        p = ex_node(e, "Softmax", nm, 1, &x, out);
        attr_int(e, p, "axis", 1);
    } else if (!strcmp(op, "softmax_axis")) {
        p = ex_node(e, desc_int(&d, "log", 0) ? "LogSoftmax" : "Softmax", nm, 1, &x, out);
        attr_int(e, p, "axis", desc_int(&d, "axis", 1));
    } else if (!strcmp(op, "reshape")) {
        const cnn_desc_attr *dims = need(e, n, &d, "dims");
        if (!dims) return;
        if (dims->n == 1) {
            p = ex_node(e, "Flatten", nm, 1, &x, out);
            attr_int(e, p, "axis", 1);
        } else {
            reshape_to(e, nm, x, dims->n, dims->i, out);
        }
    } else if (!strcmp(op, "concat")) {
        const char *in[256];
        if (n_in > 256) {
            ex_fail(e, n, CNN_ERR_UNSUPPORTED, "%d inputs (at most 256 exported)", n_in);
            return;
        }
        for (int i = 0; i < n_in; i++) in[i] = in_name(e, n, i);
        p = ex_node(e, "Concat", nm, n_in, in, out);
        attr_int(e, p, "axis", 1);
    } else if (!strcmp(op, "add")) {
        ex_node(e, "Add", nm, 2, (const char *[]){x, in_name(e, n, 1)}, out);
    } else if (!strcmp(op, "mul_channel") || !strcmp(op, "mul_spatial")) {
        ex_node(e, "Mul", nm, 2, (const char *[]){x, in_name(e, n, 1)}, out);
    } else if (!strcmp(op, "channel_mean") || !strcmp(op, "channel_max")) {
        p = ex_node(e, !strcmp(op, "channel_mean") ? "ReduceMean" : "ReduceMax", nm, 1, &x, out);
        attr_ints(e, p, "axes", 1, (const int64_t[]){1});
        attr_int(e, p, "keepdims", 1);
    } else if (!strcmp(op, "channel_shuffle")) {
        /* Reshape (N, g, C/g, *) - Transpose (0, 2, 1, ...) - Reshape (N, C, *), as torch
           writes it (importers recognise the pattern) */
        int64_t gr = desc_int(&d, "groups", 1), dims[CNN_MAX_DIMS + 1];
        int nd = cnn_node_ndim(n);
        dims[0] = gr;
        dims[1] = cnn_node_dim(n, 1) / gr;
        for (int i = 2; i < nd; i++) dims[i] = cnn_node_dim(n, i);
        const char *v1 = ex_str(e, "%s::split", nm), *v2 = ex_str(e, "%s::transpose", nm);
        reshape_to(e, v1, x, nd, dims, v1);
        int64_t perm[CNN_MAX_DIMS + 1] = {0, 2, 1};
        for (int i = 3; i <= nd; i++) perm[i] = i;
        p = ex_node(e, "Transpose", v2, 1, &v1, v2);
        attr_ints(e, p, "perm", nd + 1, perm);
        for (int i = 1; i < nd; i++) dims[i - 1] = cnn_node_dim(n, i);
        reshape_to(e, nm, v2, nd - 1, dims, out);
    } else if (!strcmp(op, "channel_slice")) {
        int64_t st = desc_int(&d, "start", 0), cnt = desc_int(&d, "count", 0);
        const char *s0 = ex_init_i64(e, ex_str(e, "%s::starts", nm), 1, &st);
        int64_t end = st + cnt;
        const char *s1 = ex_init_i64(e, ex_str(e, "%s::ends", nm), 1, &end);
        const char *ax = ex_init_i64(e, ex_str(e, "%s::axes", nm), 1, (const int64_t[]){1});
        ex_node(e, "Slice", nm, 4, (const char *[]){x, s0, s1, ax}, out);
    } else if (!strcmp(op, "dropout")) {
        const char *r = ex_init_scalar(e, ex_str(e, "%s::ratio", nm), desc_float(&d, "p", 0.5f));
        ex_node(e, "Dropout", nm, 2, (const char *[]){x, r}, out);
    } else if (!strcmp(op, "linear")) {
        const char *xi = x;
        if (cnn_node_ndim(in0) != 2) {
            xi = ex_str(e, "%s::flatten", nm);
            p = ex_node(e, "Flatten", xi, 1, &x, xi);
            attr_int(e, p, "axis", 1);
        }
        const char *w = ex_param(e, cnn_node_param_at(n, 0));
        const char *b = desc_int(&d, "bias", 0) ? ex_param(e, cnn_node_param_at(n, 1)) : NULL;
        p = ex_node(e, "Gemm", nm, b ? 3 : 2, (const char *[]){xi, w, b}, out);
        attr_int(e, p, "transB", 1);
    } else if (!strcmp(op, "global_maxpool")) {
        ex_node(e, "GlobalMaxPool", nm, 1, &x, out);
    } else if (!strcmp(op, "binary")) {
        int64_t k = desc_int(&d, "op", -1);
        if (k < 0 || k >= (int64_t)(sizeof BINARY_OPS / sizeof *BINARY_OPS)) {
            ex_fail(e, n, CNN_ERR_UNSUPPORTED, "binary op %lld has no ONNX export", (long long)k);
            return;
        }
        ex_node(e, BINARY_OPS[k], nm, 2, (const char *[]){x, in_name(e, n, 1)}, out);
    } else if (!strcmp(op, "unary")) {
        int64_t k = desc_int(&d, "op", -1);
        if (k < 0 || k >= (int64_t)(sizeof UNARY_OPS / sizeof *UNARY_OPS)) {
            ex_fail(e, n, CNN_ERR_UNSUPPORTED, "unary op %lld has no ONNX export", (long long)k);
            return;
        }
        ex_node(e, UNARY_OPS[k], nm, 1, &x, out);
    } else if (!strcmp(op, "matmul")) {
        ex_node(e, "MatMul", nm, 2, (const char *[]){x, in_name(e, n, 1)}, out);
    } else if (!strcmp(op, "transpose")) {
        const cnn_desc_attr *perm = need(e, n, &d, "perm");
        if (!perm) return;
        p = ex_node(e, "Transpose", nm, 1, &x, out);
        attr_ints(e, p, "perm", perm->n, perm->i);
    } else if (!strcmp(op, "slice")) {
        int64_t v[4] = {desc_int(&d, "start", 0), desc_int(&d, "end", INT64_MAX),
                        desc_int(&d, "axis", 0), desc_int(&d, "step", 1)};
        /* INT_MAX / INT_MIN (open ends of the builder) mean the same to ONNX */
        const char *s0 = ex_init_i64(e, ex_str(e, "%s::starts", nm), 1, &v[0]);
        const char *s1 = ex_init_i64(e, ex_str(e, "%s::ends", nm), 1, &v[1]);
        const char *ax = ex_init_i64(e, ex_str(e, "%s::axes", nm), 1, &v[2]);
        const char *sp = ex_init_i64(e, ex_str(e, "%s::steps", nm), 1, &v[3]);
        ex_node(e, "Slice", nm, 5, (const char *[]){x, s0, s1, ax, sp}, out);
    } else if (!strcmp(op, "pad")) {
        const cnn_desc_attr *pads = need(e, n, &d, "pads");
        if (!pads) return;
        int64_t mode = desc_int(&d, "mode", 0);
        if (mode < 0 || mode > 2) {
            ex_fail(e, n, CNN_ERR_UNSUPPORTED, "pad mode %lld has no ONNX export", (long long)mode);
            return;
        }
        const char *pv = ex_init_i64(e, ex_str(e, "%s::pads", nm), pads->n, pads->i);
        const char *cv = ex_init_scalar(e, ex_str(e, "%s::value", nm), desc_float(&d, "value", 0.0f));
        p = ex_node(e, "Pad", nm, 3, (const char *[]){x, pv, cv}, out);
        attr_string(e, p, "mode", PAD_MODES[mode]);
    } else if (!strcmp(op, "reduce")) {
        int64_t k = desc_int(&d, "op", -1);
        if (k < 0 || k >= (int64_t)(sizeof REDUCE_OPS / sizeof *REDUCE_OPS)) {
            ex_fail(e, n, CNN_ERR_UNSUPPORTED, "reduce op %lld has no ONNX export", (long long)k);
            return;
        }
        const cnn_desc_attr *axes = cnn_desc_find(&d, "axes");
        int64_t all[CNN_MAX_DIMS];
        int na = axes ? axes->n : 0;
        if (na == 0) { /* all but the batch of a batched node */
            for (int i = cnn_node_batched(in0) ? 1 : 0; i < cnn_node_ndim(in0); i++) all[na++] = i;
        } else {
            memcpy(all, axes->i, (size_t)na * sizeof *all);
        }
        int64_t keep = desc_int(&d, "keepdims", 1);
        if (k == 1) { /* ReduceSum takes its axes as an input since opset 13 */
            const char *ax = ex_init_i64(e, ex_str(e, "%s::axes", nm), na, all);
            p = ex_node(e, "ReduceSum", nm, 2, (const char *[]){x, ax}, out);
        } else {
            p = ex_node(e, REDUCE_OPS[k], nm, 1, &x, out);
            attr_ints(e, p, "axes", na, all);
        }
        attr_int(e, p, "keepdims", keep);
    } else if (!strcmp(op, "cross_entropy") || !strcmp(op, "labels")) {
        ex_fail(e, n, CNN_ERR_UNSUPPORTED,
                "a loss is not exported: export the logits (the loss's first input)");
    } else {
        ex_fail(e, n, CNN_ERR_UNSUPPORTED, "operator '%s' has no ONNX export", op);
    }
}

/* ---------------------------------------------------------------- writing */
typedef struct file_buffer {
    ProtobufCBuffer base;
    FILE *fp;
    bool ok;
} file_buffer;

static void file_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    file_buffer *f = (file_buffer *)b;
    if (f->ok && len && fwrite(data, 1, len, f->fp) != len) f->ok = false;
}

static cnn_status write_model(const Onnx__ModelProto *m, const char *path)
{
    size_t plen = strlen(path);
    char *tmp = cnn_malloc(plen + 32);
    if (!tmp) return cnn_set_error(CNN_ERR_NOMEM, "onnx export: %s: out of memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    cnn_status s = CNN_OK;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        s = cnn_set_error(CNN_ERR_IO, "onnx export: %s: cannot create '%s': %s", path, tmp,
                          strerror(errno));
        cnn_free(tmp);
        return s;
    }
    file_buffer fb = {.base = {.append = file_append}, .fp = fp, .ok = true};
    protobuf_c_message_pack_to_buffer(&m->base, &fb.base);
    bool ok = fb.ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    int err = errno;
    if (fclose(fp) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok)
        s = cnn_set_error(CNN_ERR_IO, "onnx export: %s: write failed: %s", path, strerror(err));
    else if (rename(tmp, path) != 0)
        s = cnn_set_error(CNN_ERR_IO, "onnx export: %s: cannot rename '%s' over it: %s", path, tmp,
                          strerror(errno));
    if (s != CNN_OK) remove(tmp);
    cnn_free(tmp);
    return s;
}

/* The node exported as the output: o->output, else the graph's output, or the logits
   when that is a loss. */
static cnn_node *pick_output(cnn_graph *g, const cnn_onnx_export_opts *o)
{
    cnn_node *out = o && o->output ? o->output : cnn_graph_output(g);
    if (out && !strcmp(cnn_node_op(out), "cross_entropy")) out = cnn_node_input(out, 0);
    return out;
}

cnn_status cnn_onnx_export(cnn_graph *g, const char *path, const cnn_onnx_export_opts *o)
{
    if (!g || !path || !*path)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "onnx export: %s is NULL or empty", g ? "path" : "graph");
    if (cnn_graph_status(g) != CNN_OK)
        return cnn_set_error(cnn_graph_status(g), "onnx export: the graph has an error: %s",
                             cnn_graph_error(g));
    int n_nodes = cnn_graph_num_nodes(g);
    if (n_nodes == 0) return cnn_set_error(CNN_ERR_INVALID_ARG, "onnx export: the graph is empty");
    {
        uint32_t one = 1; /* raw_data is little-endian */
        unsigned char first;
        memcpy(&first, &one, 1);
        if (first != 1)
            return cnn_set_error(CNN_ERR_UNSUPPORTED, "onnx export: big-endian hosts are not supported");
    }
    cnn_node *outn = pick_output(g, o);
    if (!outn || cnn_graph_node(g, cnn_node_index(outn)) != outn)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "onnx export: the output node is not in this graph");
    cnn_status s;
    if (!cnn_graph_compiled(g) && (s = cnn_graph_compile(g, 0)) != CNN_OK) return s;

    ex e = {.g = g};
    bool *needed = cnn_calloc((size_t)n_nodes, sizeof *needed);
    e.vname = cnn_calloc((size_t)n_nodes, sizeof *e.vname);
    Onnx__ValueInfoProto *outvi = NULL;
    if (!needed || !e.vname) {
        e.st = cnn_set_error(CNN_ERR_NOMEM, "onnx export: out of memory");
        goto done;
    }
    /* what the output depends on (ids are topological: consumers after producers) */
    int out_id = cnn_node_index(outn);
    needed[out_id] = true;
    for (int i = out_id; i >= 0; i--)
        if (needed[i]) {
            const cnn_node *n = cnn_graph_node(g, i);
            for (int j = 0; j < cnn_node_num_inputs(n); j++) needed[cnn_node_index(cnn_node_input(n, j))] = true;
        }
    for (int i = 0; i <= out_id && e.st == CNN_OK; i++) {
        const cnn_node *n = cnn_graph_node(g, i);
        if (!needed[i]) continue;
        const char *op = cnn_node_op(n), *nm = cnn_node_name(n);
        if (!strcmp(op, "input")) {
            e.vname[i] = nm;
            ex_push(&e, (void ***)&e.inputs, &e.n_inputs, &e.cap_inputs, ex_value_info(&e, nm, n));
        } else if (!strcmp(op, "parameter")) {
            e.vname[i] = ex_param(&e, cnn_node_param_at(n, 0));
        } else if (!strcmp(op, "constant")) {
            float *buf = ex_alloc(&e, cnn_node_per_example(n) * sizeof *buf);
            if (!buf) break;
            cnn_status fs = cnn_node_data(n, buf);
            if (fs != CNN_OK) {
                ex_fail(&e, n, fs, "constant: %s", cnn_error_message());
                break;
            }
            cnn_tensor v = cnn_node_value(n);
            e.vname[i] = ex_init_f32(&e, nm, v.ndim, v.dims, buf);
        } else {
            e.vname[i] = nm;
            export_node(&e, n);
        }
    }
    if (e.st != CNN_OK) goto done;
    outvi = ex_value_info(&e, e.vname[out_id], outn);
    Onnx__ValueInfoProto **outs = ex_alloc(&e, sizeof *outs);
    Onnx__GraphProto *gp = ex_alloc(&e, sizeof *gp);
    Onnx__OperatorSetIdProto *ops = ex_alloc(&e, sizeof *ops);
    Onnx__OperatorSetIdProto **opsv = ex_alloc(&e, sizeof *opsv);
    if (!outvi || !outs || !gp || !ops || !opsv || e.st != CNN_OK) goto done;
    outs[0] = outvi;
    onnx__graph_proto__init(gp);
    gp->name = (char *)(o && o->graph_name ? o->graph_name : "cnn");
    gp->n_node = e.n_nodes;
    gp->node = e.nodes;
    gp->n_initializer = e.n_inits;
    gp->initializer = e.inits;
    gp->n_input = e.n_inputs;
    gp->input = e.inputs;
    gp->n_output = 1;
    gp->output = outs;
    onnx__operator_set_id_proto__init(ops);
    ops->domain = "";
    ops->has_version = 1;
    ops->version = EXPORT_OPSET;
    opsv[0] = ops;
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    m.has_ir_version = 1;
    m.ir_version = EXPORT_IR_VERSION;
    m.n_opset_import = 1;
    m.opset_import = opsv;
    m.producer_name = "cnn.c";
    m.producer_version = CNN_VERSION;
    m.graph = gp;
    e.st = write_model(&m, path);
done:
    for (size_t i = 0; i < e.n_allocs; i++) cnn_free(e.allocs[i]);
    cnn_free(e.allocs);
    cnn_free(e.nodes);
    cnn_free(e.inits);
    cnn_free(e.inputs);
    cnn_free(e.vname);
    cnn_free(needed);
    return e.st;
}
